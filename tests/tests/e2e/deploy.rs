//! The deployment: Kubernetes manifests against the Kubernetes schemas, and the container image
//! built from Debian's packages with the tools in it.

use reshifter_e2e::{sh, tmp};

fn root() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").display().to_string()
}

#[test]
fn manifests_match_the_kubernetes_schemas() {
    let r = root();
    let o = sh(&format!("cd {r} && scripts/check-manifests.sh"));
    o.ok();
    // The check can fail: a misspelled field is refused.
    let dir = tmp();
    let bad = dir.path().join("bad.yaml");
    let text =
        std::fs::read_to_string(format!("{r}/deploy/cronjob.yaml")).unwrap().replace("backoffLimit", "backofLimit");
    std::fs::write(&bad, text).unwrap();
    let o = sh(&format!("cd {r} && scripts/check-manifests.sh {}", bad.display()));
    assert_eq!(o.code, 1);
    assert!(
        o.stdout_str().contains("'backofLimit' was unexpected") || o.stderr.contains("'backofLimit' was unexpected")
    );
    // The README's CronJob is the one in deploy/.
    let readme = std::fs::read_to_string(format!("{r}/README.md")).unwrap();
    let cron = std::fs::read_to_string(format!("{r}/deploy/cronjob.yaml")).unwrap();
    let pipeline: Vec<&str> =
        cron.lines().skip_while(|l| !l.contains("node-dump --root")).take_while(|l| !l.contains("envFrom:")).collect();
    assert_eq!(pipeline.len(), 9);
    for l in pipeline {
        assert!(readme.contains(l.trim()), "README shows deploy/cronjob.yaml's pipeline: {l}");
    }
}

#[test]
fn the_image_holds_the_tools_and_bash() {
    let r = root();
    let o = sh(&format!("cd {r} && scripts/image.sh --no-build"));
    o.ok();
    assert!(o.stdout_str().contains("image: reshifter:0.1.0 built ("), "{}", o.stdout_str());
    // Run the tools from the image's own files, as its user, with its PATH.
    let o = sh("export STORAGE_DRIVER=vfs; c=$(buildah from -q reshifter:0.1.0) && m=$(buildah mount $c) && \
        chroot --userspec=65532:65532 $m /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin /bin/bash -o pipefail -c \
          'kv-gen --objects 50 --seed 3 | kv-filter -q --resource secrets | archive-pack -q | archive-unpack -q | kv-stats --json | head -c 1; echo; s3-push --version; id -u'; \
        rc=$?; buildah umount $c >/dev/null; buildah rm $c >/dev/null; \
        buildah inspect --format '{{.OCIv1.Config.User}} {{.OCIv1.Config.Cmd}}' reshifter:0.1.0; exit $rc");
    o.ok();
    assert_eq!(o.stdout_str(), format!("{{\ns3-push {}\n65532\n65532:65532 [/bin/bash]", env!("CARGO_PKG_VERSION")));
}
