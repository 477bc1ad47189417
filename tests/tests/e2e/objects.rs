//! Kubernetes objects as JSON in the stream (issue 13): kv-decode, jq, kv-encode, against a real
//! etcd and the kubernetes/api fixtures (../shared/fixtures/k8s-testdata).

use std::path::PathBuf;

use reshifter_e2e::{Etcd, records, sh, sh_input, tmp};
use reshifter_format::{Header, Record, StreamWriter};
use serde_json::{Value, json};

fn fixture(name: &str) -> (Vec<u8>, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/k8s-testdata");
    let pb = std::fs::read(dir.join(format!("{name}.pb"))).unwrap();
    let json = serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    (pb, json)
}

fn stream(values: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut h = Header::new("test");
    h.prefixes = vec!["/registry/".into()];
    h.complete = true;
    let mut w = StreamWriter::new(Vec::new(), &h).unwrap();
    for (i, (k, v)) in values.iter().enumerate() {
        let rev = 10 + i as i64;
        w.write(&Record {
            key: k.as_bytes().to_vec(),
            value: v.clone(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            lease: 0,
        })
        .unwrap();
    }
    w.finish().unwrap().0
}

fn objects(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"].is_null())
        .map(|v| v["object"].clone())
        .collect()
}

#[test]
fn objects_are_kubectls_json_and_everything_else_passes() {
    let (svc, svc_json) = fixture("core.v1.Service");
    let (lease, _) = fixture("coordination.k8s.io.v1.Lease");
    let cr = br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"default"},"spec":{"size":3}}
"#.to_vec();
    let mut cbor = vec![0xd9, 0xd9, 0xf7];
    // {"apiVersion": "example.com/v1", "kind": "Gadget"} in CBOR, written by hand.
    cbor.extend_from_slice(b"\xa2\x6aapiVersion\x6eexample.com/v1\x64kind\x66Gadget");
    let input = stream(&[
        ("/registry/example.com/gadgets/default/g", cbor),
        ("/registry/example.com/widgets/default/w", cr),
        ("/registry/leases/kube-node-lease/n1", lease),
        ("/registry/pods/default/q", b"k8s\0\x0a\x05broken".to_vec()),
        ("/registry/ranges/serviceips", b"10.96.0.0/12".to_vec()),
        ("/registry/services/specs/default/s", svc),
    ]);
    let o = sh_input("kv-decode", &input);
    o.ok();
    assert_eq!(
        o.stderr,
        "kv-decode: key \"/registry/pods/default/q\": not decoded: bad protobuf in the runtime.Unknown envelope\n\
         kv-decode: 6 keys: 4 objects decoded (2 protobuf, 1 JSON, 1 CBOR), 1 not decodable, 0 encrypted (no \
         --encryption-config opens them), 1 other ("
            .to_string()
            + o.stderr.split(" other (").nth(1).unwrap()
    );
    let objs = objects(&o.stdout);
    assert_eq!(
        objs[0],
        json!({"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"resourceVersion": "10"}})
    );
    assert_eq!(objs[1]["spec"], json!({"size": 3}));
    assert_eq!(objs[1]["metadata"]["resourceVersion"], json!("11"));
    assert_eq!(objs[2]["kind"], json!("Lease"));
    assert_eq!((objs[3].clone(), objs[4].clone()), (Value::Null, Value::Null));
    // The Service is its JSON twin, but for resourceVersion, which the API server fills from
    // the key's mod_revision (the fixture stores a made-up one).
    let mut want = svc_json;
    want["metadata"]["resourceVersion"] = json!("15");
    assert_eq!(reshifter_k8s::codec::without_zeros(&objs[5]), reshifter_k8s::codec::without_zeros(&want));
    // Records, header claims and digests are the input's: the trailer is the same line.
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().last(), String::from_utf8_lossy(&input).lines().last());
    assert_eq!(records(&input).len(), 6);

    // --strict: the first value that cannot be decoded is an error.
    let o = sh_input("kv-decode --strict > /dev/null", &input);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            3,
            "kv-decode: key \"/registry/pods/default/q\": not decoded: bad protobuf in the runtime.Unknown envelope (--strict)\n"
        )
    );

    // Unchanged objects go back byte for byte: the stream is the input again.
    let o = sh_input("kv-decode -q | jq -c . | kv-encode", &input);
    o.ok();
    assert_eq!(o.stdout, input);
    assert!(
        o.stderr.starts_with(
            "kv-encode: 6 keys: 4 objects, 0 edited and written into their values, 4 kept byte for byte ("
        ),
        "{}",
        o.stderr
    );

    // Any other tool refuses a decoded stream: an edit there would be lost.
    for tool in ["kv-filter --resource pods", "archive-pack", "etcd-load --dry-run --endpoints 127.0.0.1:1", "kv-stats"]
    {
        let o = sh_input(&format!("kv-decode -q | {tool} > /dev/null"), &input);
        assert_eq!(o.code, 3, "{tool}: {}", o.stderr);
        assert!(o.stderr.contains(": line 2: record has kv-decode's object field: pipe the stream through kv-encode first (it writes edited objects into their values and removes the field)"), "{tool}: {}", o.stderr);
    }
}

#[test]
fn edits_go_back_into_each_encoding_and_bad_edits_are_refused() {
    // A Service (every field of the fixture is in the codec's schema).
    let (pod, _) = fixture("core.v1.Service");
    let cr = br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":3}}
"#
    .to_vec();
    let mut cbor = vec![0xd9, 0xd9, 0xf7];
    cbor.extend_from_slice(b"\xa2\x6aapiVersion\x6eexample.com/v1\x64kind\x66Gadget");
    let input = stream(&[
        ("/registry/example.com/gadgets/default/g", cbor),
        ("/registry/example.com/widgets/default/w", cr),
        ("/registry/services/specs/default/p", pod),
    ]);
    let edit = r#"kv-decode -q | jq -c '.object.metadata.labels.edited = "yes"' | kv-encode"#;
    let o = sh_input(edit, &input);
    o.ok();
    assert!(
        o.stderr.starts_with(
            "kv-encode: 3 keys: 3 objects, 3 edited and written into their values, 0 kept byte for byte ("
        ),
        "{}",
        o.stderr
    );
    let out = records(&o.stdout);
    assert!(out[0].value.starts_with(&[0xd9, 0xd9, 0xf7]));
    assert_eq!(out[1].value, b"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"labels\":{\"edited\":\"yes\"},\"name\":\"w\"},\"spec\":{\"size\":3}}\n");
    assert!(out[2].value.starts_with(b"k8s\0"));
    // Decoded again, each has the label; the trailer was recomputed and the header says why.
    let again = sh_input("kv-decode -q", &o.stdout);
    again.ok();
    for obj in objects(&again.stdout) {
        assert_eq!(obj["metadata"]["labels"]["edited"], json!("yes"));
    }
    let h: Value = serde_json::from_str(o.stdout_str().lines().next().unwrap()).unwrap();
    assert_eq!(h["history"], json!(["kv-decode", "kv-encode: edited objects written into their values"]));
    assert_eq!(h["complete"], json!(true));

    for (jq, err) in [
        (
            ".object.spec.bogus = 1",
            "kv-encode: key \"/registry/services/specs/default/p\": cannot write the edited object: spec: bogus is not a field of k8s.io.api.core.v1.ServiceSpec\n",
        ),
        (
            ".object.spec.ports[0].port = \"80\"",
            "kv-encode: key \"/registry/services/specs/default/p\": cannot write the edited object: spec.ports.port: expected a 32-bit integer\n",
        ),
        (
            ".object.kind = \"Pod\"",
            "kv-encode: key \"/registry/services/specs/default/p\": cannot write the edited object: its kind was changed from \"Service\" to \"Pod\": a key holds one kind\n",
        ),
        (
            ".object.metadata.creationTimestamp = \"tomorrow\"",
            "kv-encode: key \"/registry/services/specs/default/p\": cannot write the edited object: metadata.creationTimestamp: expected an RFC 3339 time\n",
        ),
    ] {
        let o = sh_input(
            &format!(
                "kv-decode -q | jq -c 'if .key == \"/registry/services/specs/default/p\" then {jq} else . end' | kv-encode -o out.ndjson"
            ),
            &input,
        );
        assert_eq!((o.code, o.stderr.as_str()), (3, err), "{jq}");
        assert!(!std::path::Path::new("out.ndjson").exists());
    }
    // Fields newer than the schema are kept in the decoded object (`$unknownFields`) and go
    // back with the edit; left unchanged, the value passes byte for byte.
    // (A Pod with two fields no release defines: numbers 9001 and 9002 of the Pod message.)
    let (pod, _) = fixture("core.v1.Pod");
    let (api, kind, raw) = reshifter_k8s::pb::k8s_unwrap(&pod).unwrap();
    let mut raw = raw.to_vec();
    raw.extend_from_slice(&[0xc8, 0xb2, 0x04, 0x01, 0xd0, 0xb2, 0x04, 0x02]);
    let newer = reshifter_k8s::pb::k8s_envelope(api, kind, &raw);
    let input = stream(&[("/registry/pods/default/p", newer)]);
    let o = sh_input("kv-decode", &input);
    assert_eq!(
        o.stderr.lines().next(),
        Some("kv-decode: key \"/registry/pods/default/p\": 2 fields newer than the schema, 2 kept in $unknownFields")
    );
    let o = sh_input(
        "kv-decode -q | jq -c '.object.metadata.labels.edited = \"yes\"' | kv-encode -q | kv-decode -q | jq -c 'select(.key) | [.object.metadata.labels.edited, .object[\"$unknownFields\"]]'",
        &input,
    );
    o.ok();
    assert_eq!(
        o.stdout,
        b"[\"yes\",[{\"number\":9001,\"raw\":\"yLIEAQ==\"},{\"number\":9002,\"raw\":\"0LIEAg==\"}]]\n"
    );
    // Selectors judge it on the fields they know, and say so.
    let o = sh_input("kv-filter -l 'x!=y' > /dev/null", &input);
    o.ok();
    assert!(
        o.stderr.contains(
            "1 of 1 keys kept, 1 judged by selectors on the fields the schema knows (their values hold newer ones too)"
        ),
        "{}",
        o.stderr
    );
    // One inside a Time cannot be kept in the JSON (a string): that object is not written back.
    let mut time = reshifter_k8s::pb::Msg::new();
    time.int(1, 1_009_846_861).int(40, 1);
    let mut meta = reshifter_k8s::pb::Msg::new();
    meta.str(1, "q").str(3, "default").msg(8, &time);
    let mut q = reshifter_k8s::pb::Msg::new();
    q.msg(1, &meta);
    let in_time =
        stream(&[("/registry/pods/default/q", reshifter_k8s::pb::k8s_envelope("v1", "Pod", &q.into_bytes()))]);
    let o = sh_input("kv-decode -q | jq -c '.object.metadata.labels.edited = \"yes\"' | kv-encode", &in_time);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (
            3,
            "kv-encode: key \"/registry/pods/default/q\": cannot write the edited object: its value has 1 field newer than the codec's schema (Kubernetes 1.33 to 1.36) where the decoded object cannot keep it (inside a Time, Quantity or embedded struct): writing the edited object would lose it\n"
        )
    );
    let o = sh_input("kv-decode -q | kv-encode -q", &in_time);
    o.ok();
    assert_eq!(o.stdout, in_time);
    let o = sh_input("kv-decode -q | kv-encode -q", &input);
    o.ok();
    assert_eq!(o.stdout, input);
    // A truncated decoded stream leaves nothing.
    let t = tmp();
    let p = t.path().join("out.ndjson");
    let o = sh_input(&format!("kv-decode -q | head -n 2 | kv-encode -o {}", p.display()), &input);
    assert_eq!(o.code, 4, "{}", o.stderr);
    assert!(!p.exists());
    // Cut inside a record's line (inside its object).
    let o = sh_input(&format!("kv-decode -q | head -c 3000 | kv-encode -o {}", p.display()), &input);
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (4, "kv-encode: line 2: stream ends in the middle of a line: the input is truncated\n")
    );
    assert!(!p.exists());
    // Anything after the trailer.
    let o = sh_input(&format!("kv-decode -q | sed '$p' | kv-encode -o {}", p.display()), &input);
    assert_eq!((o.code, o.stderr.as_str()), (3, "kv-encode: line 4: data after the trailer\n"));
    assert!(!p.exists());
}

#[test]
fn a_restore_with_an_edit_made_in_jq_lands_in_etcd() {
    let src = Etcd::start();
    sh(&format!("kv-gen --objects 300 --seed 3 | etcd-load -q {}", src.flags())).ok();
    let dump = sh(&format!("etcd-dump -q {}", src.flags()));
    dump.ok();
    // resourceVersion is each key's mod_revision, as the API server serves it.
    let o = sh_input(
        "kv-decode -q | jq -c 'select(.object) | [.mod_revision, .object.metadata.resourceVersion]'",
        &dump.stdout,
    );
    o.ok();
    let pairs = o.json_lines();
    assert!(pairs.len() > 250, "{}", pairs.len());
    assert!(pairs.iter().all(|p| p[1].as_str() == Some(p[0].to_string().as_str())));

    let dst = Etcd::start();
    let o = sh_input(
        &format!(
            "kv-decode -q | jq -c 'if .object.kind == \"Deployment\" then .object.spec.replicas = 0 else . end' \
             | kv-encode -q | etcd-load -q {}",
            dst.flags()
        ),
        &dump.stdout,
    );
    o.ok();
    let o = sh(&format!(
        "etcd-dump -q {} | kv-decode -q | jq -c 'select(.object.kind == \"Deployment\") | .object.spec.replicas' | sort | uniq -c",
        dst.flags()
    ));
    o.ok();
    let counts = o.stdout_str();
    assert_eq!(counts.lines().count(), 1, "{counts}");
    assert!(counts.trim().ends_with(" 0"), "{counts}");
}

#[test]
fn selectors_pick_what_jq_picks_on_the_decoded_objects() {
    let t = tmp();
    let p = t.path().display();
    sh(&format!("kv-gen --objects 3000 --seed 5 --encryption-config-out {p}/enc.yaml -o {p}/g.ndjson")).ok();
    for (flags, jq) in [
        (
            "-l 'app.kubernetes.io/name in (web-0,db-0),app.kubernetes.io/part-of!=web-suite'",
            r#"select(.object.metadata.labels["app.kubernetes.io/name"] | . == "web-0" or . == "db-0") | select(.object.metadata.labels["app.kubernetes.io/part-of"] != "web-suite")"#,
        ),
        (
            "-l '!app.kubernetes.io/part-of' --resource pods",
            r#"select(.object.kind == "Pod" and (.object.metadata.labels["app.kubernetes.io/part-of"] == null))"#,
        ),
        (
            "--field-selector 'status.phase=Running,metadata.namespace!=kube-system'",
            r#"select(.object.status.phase == "Running" and .object.metadata.namespace != "kube-system")"#,
        ),
        (
            "--field-selector metadata.ownerReferences.kind=ReplicaSet",
            r#"select(any(.object.metadata.ownerReferences[]?; .kind == "ReplicaSet"))"#,
        ),
    ] {
        let ours = sh(&format!(
            "kv-filter -q --encryption-config {p}/enc.yaml {flags} {p}/g.ndjson | kv-stats --json | jq .total.keys"
        ));
        ours.ok();
        let theirs =
            sh(&format!("kv-decode -q --encryption-config {p}/enc.yaml {p}/g.ndjson | jq -c '{jq} | .key' | wc -l"));
        theirs.ok();
        let n: u64 = ours.stdout_str().trim().parse().unwrap();
        assert!(n > 10, "{flags}: {n}");
        assert_eq!(n.to_string(), theirs.stdout_str().trim(), "{flags}");
    }
    // Without the EncryptionConfiguration, encrypted Secrets cannot be judged: named, counted, left out.
    let o = sh(&format!("kv-filter -l app.kubernetes.io/name=web-0 --resource secrets {p}/g.ndjson > /dev/null"));
    o.ok();
    assert!(
        o.stderr.contains(": encrypted at rest: give --encryption-config to select it: left out\n"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains(" left out because the selector could not be applied ("), "{}", o.stderr);
    let o = sh(&format!("kv-filter -l 'app in web' {p}/g.ndjson"));
    assert_eq!(
        (o.code, o.stderr.as_str()),
        (2, "kv-filter: bad selector: \"app in web\": expected a set of values in parentheses\n")
    );
}

#[test]
fn edited_secrets_are_encrypted_again_with_their_key() {
    let t = tmp();
    let p = t.path().display();
    sh(&format!("kv-gen --objects 2000 --seed 4 --encryption-config-out {p}/enc.yaml -o {p}/g.ndjson")).ok();
    let edit = format!(
        "kv-decode -q --encryption-config {p}/enc.yaml {p}/g.ndjson \
         | jq -c 'if .object.kind == \"Secret\" then .object.data.extra = \"c2VjcmV0\" else . end' \
         | kv-encode --encryption-config {p}/enc.yaml -o {p}/e.ndjson"
    );
    let o = sh(&edit);
    o.ok();
    // Still encrypted with aescbc key1 (kv-stats opens every one), and each has the new entry.
    let before =
        sh(&format!("kv-stats --json --encryption-config {p}/enc.yaml {p}/g.ndjson | jq -c .encodings.decrypted"));
    let after =
        sh(&format!("kv-stats --json --encryption-config {p}/enc.yaml {p}/e.ndjson | jq -c .encodings.decrypted"));
    assert_eq!(before.ok().stdout_str().split("\"bytes\"").next(), after.ok().stdout_str().split("\"bytes\"").next());
    let o = sh(&format!(
        "kv-decode -q --encryption-config {p}/enc.yaml {p}/e.ndjson | jq -r 'select(.object.kind == \"Secret\") | .object.data.extra' | sort | uniq -c"
    ));
    let lines = o.ok().stdout_str();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.trim().ends_with(" c2VjcmV0"), "{lines}");
    // Without the config an edited encrypted object cannot be written.
    let o = sh(&format!(
        "kv-decode -q --encryption-config {p}/enc.yaml {p}/g.ndjson | jq -c 'if .object.kind == \"Secret\" then .object.data.extra = \"eA==\" else . end' | kv-encode > /dev/null"
    ));
    assert_eq!(o.code, 3);
    assert!(
        o.stderr.ends_with(": its value is encrypted at rest: give the --encryption-config kv-decode had\n"),
        "{}",
        o.stderr
    );
}

#[test]
fn jq_16_rounding_is_not_an_edit_and_renames_are_refused() {
    // A custom resource with integers past a double's exact range, through Debian's jq 1.6:
    // unchanged, the stream comes back byte for byte.
    let cr = br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"default","generation":9007199254740993},"spec":{"max":18446744073709551615,"list":[9007199254740993,1]}}
"#
    .to_vec();
    let (svc, _) = fixture("core.v1.Service");
    let input = stream(&[("/registry/example.com/widgets/default/w", cr), ("/registry/services/specs/default/s", svc)]);
    let o = sh_input("kv-decode | jq -c . | kv-encode", &input);
    o.ok();
    assert_eq!(o.stdout, input, "untouched objects keep their bytes");
    // A real edit elsewhere keeps the exact integers of the untouched fields.
    let o = sh_input(
        "kv-decode | jq -c 'if .object.kind == \"Widget\" then .object.spec.color = \"red\" else . end' | kv-encode",
        &input,
    );
    o.ok();
    let value = String::from_utf8(records(&o.stdout)[0].value.clone()).unwrap();
    assert!(
        value.contains("18446744073709551615") && value.contains("9007199254740993") && value.contains("\"red\""),
        "{value}"
    );
    // An edit to a number past a double's range is refused, naming the field.
    let o = sh_input(
        "kv-decode | jq -c 'if .object.kind == \"Widget\" then .object.spec.max = 18446744073709550000 else . end' \
         | kv-encode",
        &input,
    );
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("spec.max was changed to"), "{}", o.stderr);
    // Renames and another version are refused, naming key and field.
    for (edit, field) in [
        (".object.metadata.name = \"other\"", "metadata.name"),
        (".object.metadata.namespace = \"kube-system\"", "metadata.namespace"),
        (".object.apiVersion = \"example.com/v2\"", "apiVersion"),
    ] {
        let script = format!("kv-decode | jq -c 'if .object.kind == \"Widget\" then {edit} else . end' | kv-encode");
        let o = sh_input(&script, &input);
        assert_eq!(o.code, 3, "{edit}: {}", o.stderr);
        assert!(
            o.stderr.contains("key \"/registry/example.com/widgets/default/w\"")
                && o.stderr.contains(&format!("its {field} was changed from")),
            "{}",
            o.stderr
        );
    }
}

#[test]
fn objects_nest_as_deep_as_the_api_server_allows_and_deeper_ones_are_named() {
    // A custom resource nested 200 and 9,990 levels (the API server takes up to 10,000), one
    // nested 10,001, and one cut short: the first two decode, select and write back exactly; the
    // others are named and counted, and fail --strict.
    let cr = |depth: usize| {
        format!(
            "{{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{{\"name\":\"w{depth}\",\"namespace\":\"default\",\"labels\":{{\"app\":\"deep\"}}}},\"spec\":{}1{}}}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
        .into_bytes()
    };
    let cut = br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"cut"#.to_vec();
    let ok = stream(&[
        ("/registry/example.com/widgets/default/w0200", cr(200)),
        ("/registry/example.com/widgets/default/w9990", cr(9990)),
    ]);
    let o = sh_input("kv-decode | kv-encode", &ok);
    assert_eq!(o.ok().stdout, ok, "decoded and written back byte for byte");
    let o = sh_input("kv-filter -q -l app=deep | jq -c 'select(.key) | .key'", &ok);
    assert_eq!(o.ok().stdout_str().lines().count(), 2);
    let bad = stream(&[
        ("/registry/example.com/widgets/default/cut", cut),
        // The object around the spec is one level more: 10,001 in all.
        ("/registry/example.com/widgets/default/w10001", cr(10_000)),
    ]);
    let o = sh_input("kv-decode > /dev/null", &bad);
    o.ok();
    assert!(
        o.stderr.contains("key \"/registry/example.com/widgets/default/cut\": not decoded: not valid JSON: ")
            && o.stderr.contains(
                "key \"/registry/example.com/widgets/default/w10001\": not decoded: nested 10001 levels deep, \
                 deeper than the 10000 the API server reads"
            )
            && o.stderr.contains("2 not decodable"),
        "{}",
        o.stderr
    );
    let o = sh_input("kv-decode --strict > /dev/null", &bad);
    assert_eq!(o.code, 3, "{}", o.stderr);
    let o = sh_input("kv-filter -l app=deep > /dev/null", &bad);
    o.ok();
    assert!(o.stderr.contains("nested 10001 levels deep") && o.stderr.contains("not valid JSON"), "{}", o.stderr);
}

/// A protobuf varint.
fn varint(mut n: usize, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[test]
fn a_terse_value_that_decodes_to_hundreds_of_mib_is_refused_in_bounded_memory() {
    // An 8 MiB Pod of 4 million empty containers (two bytes each): it decoded to ~200 MB.
    let mut spec = Vec::new();
    for _ in 0..(4 << 20) {
        spec.extend_from_slice(&[0x12, 0x00]);
    }
    let mut pod = vec![0x12];
    varint(spec.len(), &mut pod);
    pod.extend_from_slice(&spec);
    let mut value = b"k8s\0".to_vec();
    let type_meta = b"\x0a\x02v1\x12\x03Pod";
    value.push(0x0a);
    varint(type_meta.len(), &mut value);
    value.extend_from_slice(type_meta);
    value.push(0x12);
    varint(pod.len(), &mut value);
    value.extend_from_slice(&pod);
    let input = stream(&[("/registry/pods/default/huge", value)]);
    let d = tmp();
    std::fs::write(d.path().join("in.ndjson"), &input).unwrap();
    let o = sh(&format!("/usr/bin/time -f 'rss %M' kv-decode {}/in.ndjson > /dev/null", d.path().display()));
    o.ok();
    assert!(o.stderr.contains("not decoded: spec: decodes to more than 128 MiB"), "{}", o.stderr);
    let rss: u64 = o.stderr.lines().find_map(|l| l.strip_prefix("rss ")).unwrap().trim().parse().unwrap();
    assert!(rss < 400_000, "kv-decode held {rss} KiB");
    let o = sh(&format!("kv-decode --strict {}/in.ndjson > /dev/null", d.path().display()));
    assert_eq!(o.code, 3, "{}", o.stderr);
}

/// The span of kv-decode's `"object":…,"object_sha256":"…"` in a decoded record line.
fn object_span(line: &str) -> std::ops::Range<usize> {
    let start = line.find(",\"object\":").unwrap();
    let digest = line.rfind(",\"object_sha256\":\"").unwrap();
    start..digest + ",\"object_sha256\":\"".len() + 65
}

/// kv-decode writes beside each object the digest that lets kv-encode keep it without decoding:
/// SHA-256 of the value's SHA-256 and the object's text. It proves an object unedited only for
/// the value it was decoded from, and only while its text is the one kv-decode wrote.
#[test]
fn an_objects_digest_proves_it_unedited_only_for_its_own_value() {
    let (svc, _) = fixture("core.v1.Service");
    let (cm, _) = fixture("core.v1.ConfigMap");
    let input = stream(&[("/registry/configmaps/default/a", cm.clone()), ("/registry/services/specs/default/s", svc)]);
    let decoded = sh_input("kv-decode -q", &input).ok().stdout_str().to_string();
    let lines: Vec<&str> = decoded.lines().collect();
    let (cm_line, svc_line) = (lines[1], lines[2]);
    let digest = |l: &str| -> String {
        let v: Value = serde_json::from_str(l).unwrap();
        v["object_sha256"].as_str().unwrap().to_string()
    };
    assert_eq!(digest(cm_line).len(), 64);
    assert_ne!(digest(cm_line), digest(svc_line));

    // Another record's object with its digest: the digest does not hold for this value, so the
    // object is compared the long way and refused as what it is (another kind under this key).
    let swapped = format!(
        "{}{}{}",
        &svc_line[..object_span(svc_line).start],
        &cm_line[object_span(cm_line)],
        &svc_line[object_span(svc_line).end..]
    );
    let edited = decoded.replacen(svc_line, &swapped, 1);
    let o = sh_input("kv-encode", edited.as_bytes());
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("its kind was changed from \"Service\" to \"ConfigMap\""), "{}", o.stderr);

    // An edit that keeps the digest is still an edit.
    let o = sh_input(
        "kv-decode -q | jq -c 'if .object.kind == \"ConfigMap\" then .object.data.added = \"x\" else . end' | kv-encode -q | kv-decode -q | jq -r 'select(.object.kind == \"ConfigMap\") | .object.data.added'",
        &input,
    );
    assert_eq!(o.ok().stdout_str(), "x\n");

    // Without the digest (a tool that dropped it) the long way finds nothing changed; a digest
    // left without its object (the object deleted) is dropped with it: nothing to write back.
    for script in
        ["kv-decode -q | jq -c 'del(.object_sha256)' | kv-encode", "kv-decode -q | jq -c 'del(.object)' | kv-encode"]
    {
        let o = sh_input(script, &input);
        assert_eq!(o.ok().stdout, input, "{script}");
    }
    // Every other reader refuses the digest as it refuses the object.
    let o = sh_input("kv-decode -q | jq -c 'del(.object)' | kv-stats", &input);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("record has kv-decode's object field"), "{}", o.stderr);
}

/// kv-encode holds its output until it knows which header it gets: an edit met only past what
/// it holds (16 MiB) is written behind the edited header all the same, to a file and to a pipe;
/// with nothing edited the stream comes back byte for byte both ways.
#[test]
fn an_edit_met_late_in_a_long_stream_gets_the_edited_header() {
    let d = tmp();
    let dir = d.path().display();
    sh(&format!("kv-gen --objects 4000 --seed 3 -o {dir}/g.ndjson && kv-decode -q {dir}/g.ndjson -o {dir}/d.ndjson"))
        .ok();
    assert!(std::fs::metadata(d.path().join("d.ndjson")).unwrap().len() > 20 << 20);
    // The last object gets a finalizer.
    sh(&format!(
        "n=$(grep -n '\"object\":{{' {dir}/d.ndjson | tail -1 | cut -d: -f1) && \
         sed \"${{n}}s/\\\"metadata\\\":{{/\\\"metadata\\\":{{\\\"finalizers\\\":[\\\"late\\\"],/\" {dir}/d.ndjson > {dir}/e.ndjson"
    ))
    .ok();
    let to_file = sh(&format!("kv-encode {dir}/e.ndjson -o {dir}/f.ndjson"));
    to_file.ok();
    assert!(to_file.stderr.contains(" objects, 1 edited and written into their values, "), "{}", to_file.stderr);
    let piped = sh(&format!("kv-encode -q < {dir}/e.ndjson > {dir}/p.ndjson"));
    piped.ok();
    let (file, pipe) =
        (std::fs::read(d.path().join("f.ndjson")).unwrap(), std::fs::read(d.path().join("p.ndjson")).unwrap());
    assert!(file == pipe, "a file and a pipe got different streams");
    let h: Value = serde_json::from_slice(file.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(h["history"], json!(["kv-decode", "kv-encode: edited objects written into their values"]));
    sh(&format!("kv-filter -q {dir}/f.ndjson -o /dev/null")).ok();
    let last = objects(&sh(&format!("kv-decode -q {dir}/f.ndjson")).stdout).pop().unwrap();
    assert_eq!(last["metadata"]["finalizers"][0], json!("late"));
    // Nothing edited: the stream as it was before kv-decode.
    sh(&format!("kv-encode -q {dir}/d.ndjson -o {dir}/u.ndjson && cmp {dir}/g.ndjson {dir}/u.ndjson")).ok();
    sh(&format!("kv-encode -q < {dir}/d.ndjson | cmp {dir}/g.ndjson -")).ok();
}
