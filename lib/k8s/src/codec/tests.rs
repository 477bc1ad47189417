//! Kubernetes' JSON special cases, one test each, on bytes built by hand.

use serde_json::{Value, json};

use super::*;
use crate::pb::{Msg, k8s_envelope};

fn object(api: &str, kind: &str, m: &Msg) -> Value {
    let (v, report) = decode_object(&k8s_envelope(api, kind, &m.clone().into_bytes())).unwrap();
    assert_eq!(report.unknown_fields, 0);
    v
}

/// JSON → protobuf → JSON gives the same JSON.
fn round_trip(v: Value) -> Vec<u8> {
    let b = encode_object(&v).unwrap();
    assert_eq!(decode_object(&b).unwrap().0, v);
    b
}

fn meta(name: &str) -> Msg {
    let mut m = Msg::new();
    m.str(1, name);
    m
}

#[test]
fn envelope_names_the_kind_and_bytes_are_base64() {
    let mut entry = Msg::new();
    entry.str(1, "k").bytes(2, b"\x00\xff");
    let mut s = Msg::new();
    s.msg(1, &meta("db")).msg(2, &entry).str(3, "Opaque");
    let v = object("v1", "Secret", &s);
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"k": "AP8="}, "type": "Opaque"})
    );
    round_trip(v);
}

#[test]
fn time_is_rfc3339_seconds_utc_and_a_zero_time_is_null() {
    let mut t = Msg::new();
    t.int(1, 1_009_846_861).int(2, 999);
    let mut m = meta("x");
    m.msg(8, &t).msg(9, &Msg::new());
    let v = object("v1", "ConfigMap", Msg::new().msg(1, &m));
    assert_eq!(v["metadata"]["creationTimestamp"], json!("2002-01-01T01:01:01Z"));
    assert_eq!(v["metadata"]["deletionTimestamp"], Value::Null);
    // The null goes back as an empty message, as Go writes a zero Time.
    let b = round_trip(v);
    assert!(b.windows(2).any(|w| w == [0x4a, 0x00]));
    let err =
        encode_object(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"creationTimestamp": "soon"}}));
    assert_eq!(err.unwrap_err().to_string(), "metadata.creationTimestamp: expected an RFC 3339 time");
}

#[test]
fn micro_time_keeps_microseconds() {
    let mut t = Msg::new();
    t.int(1, 1_009_846_861).int(2, 3_000);
    let mut spec = Msg::new();
    spec.str(1, "me").int(2, 15).msg(3, &t);
    let v = object("coordination.k8s.io/v1", "Lease", Msg::new().msg(1, &meta("l")).msg(2, &spec));
    assert_eq!(
        v["spec"],
        json!({"holderIdentity": "me", "leaseDurationSeconds": 15, "acquireTime": "2002-01-01T01:01:01.000003Z"})
    );
    round_trip(v);
}

#[test]
fn duration_is_go_text() {
    // No stored kind has a Duration since metrics.k8s.io (never in etcd) left the schema: the
    // message itself, as the codec reads it inside any object.
    let mut d = Msg::new();
    d.int(1, 90_500_000_000);
    let m = message_for("meta.k8s.io/v1", "Duration").unwrap();
    let (v, _) = decode_message(m, &d.clone().into_bytes()).unwrap();
    assert_eq!(v, json!("1m30.5s"));
    assert_eq!(encode_message(m, &v).unwrap(), d.into_bytes());
}

#[test]
fn quantity_is_its_string_and_int_or_string_is_either() {
    let v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}]}});
    let b = round_trip(v);
    assert!(b.windows(4).any(|w| w == b"500m"));
    // A number is accepted for a Quantity (as the API server does) and kept as its text.
    let n = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"resources": {"limits": {"cpu": 2}}}]}});
    let (back, _) = decode_object(&encode_object(&n).unwrap()).unwrap();
    assert_eq!(back["spec"]["containers"][0]["resources"]["limits"]["cpu"], json!("2"));

    for port in [json!(8080), json!("http")] {
        let v = json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": port}]}});
        round_trip(v);
    }
    let mut ios = Msg::new();
    ios.int(1, 1).int(2, 0).str(3, "web");
    let mut port = Msg::new();
    port.int(3, 80).msg(4, &ios);
    let v = object("v1", "Service", Msg::new().msg(2, Msg::new().msg(1, &port)));
    assert_eq!(v["spec"]["ports"][0], json!({"port": 80, "targetPort": "web"}));
}

#[test]
fn raw_extension_is_inlined_json_or_an_embedded_object() {
    let mut raw = Msg::new();
    raw.bytes(
        1,
        br#"{"kind": "X",
        "spec": {"n": 1}}"#,
    );
    let v = object("apps/v1", "ControllerRevision", Msg::new().msg(1, &meta("r")).msg(2, &raw).int(3, 1 << 40));
    assert_eq!(v["data"], json!({"kind": "X", "spec": {"n": 1}}));
    // int64 is a JSON number, not proto3's string.
    assert_eq!(v["revision"], json!(1_099_511_627_776_i64));
    round_trip(v);

    let inner = k8s_envelope("v1", "ConfigMap", &Msg::new().msg(1, &meta("cm")).clone().into_bytes());
    let mut raw = Msg::new();
    raw.bytes(1, &inner);
    let v = object("apps/v1", "ControllerRevision", Msg::new().msg(2, &raw));
    assert_eq!(v["data"], json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}}));

    let mut raw = Msg::new();
    raw.bytes(1, b"\x01not json");
    let err =
        decode_object(&k8s_envelope("apps/v1", "ControllerRevision", &Msg::new().msg(2, &raw).clone().into_bytes()));
    assert_eq!(
        err.unwrap_err().to_string(),
        "data: k8s.io.apimachinery.pkg.runtime.RawExtension: not valid JSON: expected value at line 1 column 1"
    );
}

#[test]
fn managed_fields_and_crd_schemas_are_inlined_json() {
    let v = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "crd", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
        "spec": {"group": "example.com", "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object", "default": {"a": [1, 2]}, "additionalProperties": false,
            "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                "items": {"type": "string"}, "required": ["a"]}}}}}]}});
    round_trip(v);
}

#[test]
fn embedded_go_structs_are_inlined() {
    let v = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "env": [{"name": "E",
        "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}],
        "livenessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 3}}],
        "volumes": [{"name": "v", "emptyDir": {}}]}});
    round_trip(v);
}

#[test]
fn unknown_fields_are_kept_where_they_were_and_written_back() {
    // A Secret with a field number 99 no release defines, and one inside its metadata.
    let mut m = meta("a");
    m.int(77, 5);
    let mut s = Msg::new();
    s.msg(1, &m).str(99, "from a newer Kubernetes");
    let wire = k8s_envelope("v1", "Secret", &s.into_bytes());
    let (v, report) = decode_object(&wire).unwrap();
    assert_eq!((report.unknown_fields, report.unkept_fields), (2, 0));
    assert_eq!(
        v,
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "a", "$unknownFields": [{"number": 77, "raw": "6AQF"}]},
            "$unknownFields": [{"number": 99, "raw": "mgYXZnJvbSBhIG5ld2VyIEt1YmVybmV0ZXM="}]})
    );
    // Written back byte for byte, and after an edit still there.
    assert_eq!(encode_object(&v).unwrap(), wire);
    let mut edited = v.clone();
    edited["metadata"]["labels"] = json!({"e": "1"});
    let (again, report) = decode_object(&encode_object(&edited).unwrap()).unwrap();
    assert_eq!((again, report.unknown_fields), (edited, 2));
}

#[test]
fn unknown_fields_the_json_cannot_hold_are_counted_as_unkept() {
    // Inside a Time (its JSON is a string) and inside an embedded struct (its fields join the
    // parent's JSON object).
    let mut t = Msg::new();
    t.int(1, 1_009_846_861).int(40, 1);
    let mut probe_handler = Msg::new();
    probe_handler.int(60, 1);
    let mut probe = Msg::new();
    probe.msg(1, &probe_handler);
    let mut c = Msg::new();
    c.str(1, "c").msg(10, &probe);
    let mut spec = Msg::new();
    spec.msg(2, &c);
    let mut pod = Msg::new();
    pod.msg(1, meta("p").msg(8, &t)).msg(2, &spec);
    let (v, report) = decode_object(&k8s_envelope("v1", "Pod", &pod.into_bytes())).unwrap();
    assert_eq!((report.unknown_fields, report.unkept_fields), (2, 2));
    assert_eq!(v["metadata"]["creationTimestamp"], json!("2002-01-01T01:01:01Z"));
    assert!(!v.to_string().contains("$unknownFields"), "{v}");
}

#[test]
fn unknown_json_fields_and_damaged_kept_fields_are_refused() {
    let err = encode_object(&json!({"apiVersion": "v1", "kind": "Secret", "spec": {}})).unwrap_err();
    assert_eq!(err.to_string(), "spec is not a field of k8s.io.api.core.v1.Secret");
    let err = encode_object(&json!({"apiVersion": "example.com/v1", "kind": "Widget"})).unwrap_err();
    assert_eq!(err, CodecError::UnknownKind("Widget of example.com/v1".into()));
    assert_eq!(decode_object(b"{\"kind\":\"Pod\"}").unwrap_err(), CodecError::NotProtobuf);
    for (kept, why) in [
        (json!("x"), "$unknownFields: expected an array of {\"number\", \"raw\"}"),
        (json!([{"number": 99}]), "$unknownFields: each entry is {\"number\": N, \"raw\": \"<base64>\"}"),
        // Field 98's bytes under number 99; two fields in one entry; a field cut short.
        (
            json!([{"number": 99, "raw": "kAYB"}]),
            "$unknownFields: the entry of field 99 is not one whole field of that number",
        ),
        (
            json!([{"number": 99, "raw": "mAYBmAYB"}]),
            "$unknownFields: the entry of field 99 is not one whole field of that number",
        ),
        (
            json!([{"number": 99, "raw": "mgYF"}]),
            "$unknownFields: the entry of field 99 is not one whole field of that number",
        ),
    ] {
        let err = encode_object(&json!({"apiVersion": "v1", "kind": "Secret", "$unknownFields": kept})).unwrap_err();
        assert_eq!(err.to_string(), why);
    }
}

#[test]
fn hostile_bytes_end_in_errors_not_panics() {
    // A schema nested 200 levels deep (JSONSchemaProps.not).
    let mut inner = Msg::new();
    for _ in 0..200 {
        let mut outer = Msg::new();
        outer.msg(28, &inner);
        inner = outer;
    }
    let m = message_for("apiextensions.k8s.io/v1", "JSONSchemaProps").unwrap();
    let err = decode_message(m, &inner.into_bytes()).unwrap_err().to_string();
    assert!(err.starts_with("not.not.") && err.ends_with("not: nested deeper than 64 levels"), "{err}");
    // Every prefix of a real object, and bytes flipped one at a time.
    let good =
        encode_object(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"a": "b"}},
        "spec": {"ports": [{"port": 80, "targetPort": "web"}], "clusterIP": "10.0.0.1"}}))
        .unwrap();
    for n in 0..good.len() {
        let _ = decode_object(&good[..n]);
        let mut bad = good.clone();
        bad[n] ^= 0xff;
        let _ = decode_object(&bad);
    }
}

#[test]
fn hidden_fields_are_counted_without_decoding() {
    // Two unknown fields (one inside metadata), the nanoseconds of a Time, one inside a Time.
    let mut t = Msg::new();
    t.int(1, 1_009_846_861).int(2, 999);
    let mut m = meta("a");
    m.int(77, 5).msg(8, &t);
    let mut s = Msg::new();
    s.msg(1, &m).str(99, "newer");
    assert_eq!(hidden_fields(&k8s_envelope("v1", "Secret", &s.into_bytes())), Ok(3));
    let mut t = Msg::new();
    t.int(1, 1_009_846_861).int(40, 1);
    let mut pod = Msg::new();
    pod.msg(1, meta("p").msg(8, &t));
    assert_eq!(hidden_fields(&k8s_envelope("v1", "Pod", &pod.into_bytes())), Ok(1));
    // An IntOrString holding both values, a map entry with a third field.
    let mut ios = Msg::new();
    ios.int(1, 0).int(2, 80).str(3, "http");
    let mut port = Msg::new();
    port.int(3, 80).msg(4, &ios);
    let svc = Msg::new().msg(2, Msg::new().msg(1, &port)).clone().into_bytes();
    assert_eq!(hidden_fields(&k8s_envelope("v1", "Service", &svc)), Ok(1));
    let mut entry = Msg::new();
    entry.str(1, "k").str(2, "v").int(3, 1);
    let cm = Msg::new().msg(2, &entry).clone().into_bytes();
    assert_eq!(hidden_fields(&k8s_envelope("v1", "ConfigMap", &cm)), Ok(1));
    // What the codec writes has none.
    let clean = encode_object(&json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "creationTimestamp": "2002-01-01T01:01:01Z", "labels": {"a": "b"}}, "data": {"k": "v"}}))
    .unwrap();
    assert_eq!(hidden_fields(&clean), Ok(0));
    assert!(hidden_fields(b"k8s\0\x0a\x05").is_err());
}

#[test]
fn a_text_of_many_tiny_fields_is_refused_in_bounded_memory() {
    // 1.1 million empty ports: 3.3 MB of text, each a message (what decoding counts 128 bytes
    // for): refused before the pieces and the buffer grow past the bound.
    let mut text = String::from(r#"{"apiVersion":"v1","kind":"Service","spec":{"ports":["#);
    text.push_str(&vec!["{}"; 1_100_000].join(","));
    text.push_str("]}}");
    let err = encode_text("v1", "Service", text.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), format!("spec.ports: decodes to more than {} MiB", MAX_DECODED >> 20));
    // A tenth of it is written.
    let mut text = String::from(r#"{"apiVersion":"v1","kind":"Service","spec":{"ports":["#);
    text.push_str(&vec!["{}"; 110_000].join(","));
    text.push_str("]}}");
    assert_eq!(encode_text("v1", "Service", text.as_bytes()).unwrap().value.len(), 220_031);
}
