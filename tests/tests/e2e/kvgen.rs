//! kv-gen's values against real Kubernetes encodings (../shared/fixtures/k8s-testdata, read in
//! place): the same `k8s\0` + runtime.Unknown envelope, and field numbers and wire types that
//! real objects use, level by level.

use std::collections::BTreeSet;
use std::path::PathBuf;

use reshifter_e2e::{records, sh};
use reshifter_k8s::pb::{Value, field_bytes, fields, k8s_unwrap};

fn fixtures() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/k8s-testdata");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is not present", p.display());
        None
    }
}

/// (field number, wire type) pairs of a message.
fn shape(msg: &[u8]) -> BTreeSet<(u32, u8)> {
    fields(msg)
        .expect("protobuf")
        .iter()
        .map(|(n, v)| {
            let wt = match v {
                Value::Varint(_) => 0,
                Value::Fixed64(_) => 1,
                Value::Bytes(_) => 2,
                Value::Fixed32(_) => 5,
            };
            (*n, wt)
        })
        .collect()
}

/// Check that `ours` uses only field numbers with the wire types that `real` uses.
fn subset(what: &str, ours: &[u8], real: &[u8]) {
    let (o, r) = (shape(ours), shape(real));
    let extra: Vec<_> = o.difference(&r).collect();
    assert!(extra.is_empty(), "{what}: fields {extra:?} are not in the real object's {r:?}");
}

fn sub(msg: &[u8], n: u32) -> &[u8] {
    field_bytes(&fields(msg).unwrap(), n).unwrap_or_else(|| panic!("field {n}"))
}

#[test]
fn generated_objects_have_the_structure_of_real_ones() {
    let Some(dir) = fixtures() else { return };
    let out = sh("kv-gen --objects 3000 --seed 9");
    out.ok();
    let recs = records(&out.stdout);
    let kinds = [
        ("v1", "Pod", "core.v1.Pod.pb"),
        ("apps/v1", "Deployment", "apps.v1.Deployment.pb"),
        ("apps/v1", "ReplicaSet", "apps.v1.ReplicaSet.pb"),
        ("batch/v1", "Job", "batch.v1.Job.pb"),
        ("v1", "Service", "core.v1.Service.pb"),
        ("v1", "Endpoints", "core.v1.Endpoints.pb"),
        ("v1", "ConfigMap", "core.v1.ConfigMap.pb"),
        ("v1", "Secret", "core.v1.Secret.pb"),
        ("v1", "Event", "core.v1.Event.pb"),
        ("v1", "ServiceAccount", "core.v1.ServiceAccount.pb"),
        ("v1", "Namespace", "core.v1.Namespace.pb"),
        ("v1", "Node", "core.v1.Node.pb"),
        ("coordination.k8s.io/v1", "Lease", "coordination.k8s.io.v1.Lease.pb"),
        ("rbac.authorization.k8s.io/v1", "Role", "rbac.authorization.k8s.io.v1.Role.pb"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding", "rbac.authorization.k8s.io.v1.RoleBinding.pb"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", "rbac.authorization.k8s.io.v1.ClusterRole.pb"),
        ("discovery.k8s.io/v1", "EndpointSlice", "discovery.k8s.io.v1.EndpointSlice.pb"),
        ("apps/v1", "ControllerRevision", "apps.v1.ControllerRevision.pb"),
        ("scheduling.k8s.io/v1", "PriorityClass", "scheduling.k8s.io.v1.PriorityClass.pb"),
    ];
    for (api, kind, file) in kinds {
        let real_value = std::fs::read(dir.join(file)).unwrap_or_else(|_| panic!("fixture {file}"));
        let (rapi, rkind, real) = k8s_unwrap(&real_value).expect("fixture envelope");
        assert_eq!((rapi, rkind), (api, kind), "{file}");
        let ours_value = &recs
            .iter()
            .find(|r| k8s_unwrap(&r.value).is_some_and(|(a, k, _)| a == api && k == kind))
            .unwrap_or_else(|| panic!("kv-gen wrote no {api} {kind}"))
            .value;
        // The envelope: typeMeta, raw, contentEncoding, contentType — as kube-apiserver writes it.
        subset(&format!("{kind} envelope"), &ours_value[4..], &real_value[4..]);
        assert_eq!(shape(&ours_value[4..]), shape(&real_value[4..]), "{kind} envelope fields");
        let (_, _, ours) = k8s_unwrap(ours_value).unwrap();
        subset(&format!("{kind} object"), ours, real);
        subset(&format!("{kind} metadata"), sub(ours, 1), sub(real, 1));
        if kind == "Pod" {
            subset("PodSpec", sub(ours, 2), sub(real, 2));
            subset("Container", sub(sub(ours, 2), 2), sub(sub(real, 2), 2));
            subset("PodStatus", sub(ours, 3), sub(real, 3));
        }
        if matches!(kind, "Deployment" | "ReplicaSet" | "Job") {
            subset(&format!("{kind}Spec"), sub(ours, 2), sub(real, 2));
            let tmpl = if kind == "Job" { 6 } else { 3 };
            subset(&format!("{kind} pod template"), sub(sub(ours, 2), tmpl), sub(sub(real, 2), tmpl));
            subset(&format!("{kind} pod spec"), sub(sub(sub(ours, 2), tmpl), 2), sub(sub(sub(real, 2), tmpl), 2));
        }
    }
}

#[test]
fn secrets_encrypted_at_rest_and_leased_events() {
    let out = sh("kv-gen --objects 2000 --seed 2");
    out.ok();
    let recs = records(&out.stdout);
    let secrets: Vec<_> = recs.iter().filter(|r| r.key.starts_with(b"/registry/secrets/")).collect();
    let enc = secrets.iter().filter(|r| r.value.starts_with(b"k8s:enc:aescbc:v1:key1:")).count();
    assert!(enc > secrets.len() / 4 && enc < secrets.len() * 3 / 4, "{enc} of {}", secrets.len());
    let events: Vec<_> = recs.iter().filter(|r| r.key.starts_with(b"/registry/events/")).collect();
    assert!(!events.is_empty() && events.iter().all(|r| r.lease != 0));
    let crs = recs.iter().filter(|r| r.key.starts_with(b"/registry/cert-manager.io/")).count();
    assert!(crs > 0);
    assert!(
        recs.iter().filter(|r| r.key.starts_with(b"/registry/cert-manager.io/")).all(|r| r.value.starts_with(b"{"))
    );
}
