//! The codec against Kubernetes' own round-trip fixtures (../shared/fixtures/k8s-testdata: every
//! built-in kind as stored in etcd, `.pb` with the `k8s\0` envelope, and the same object as
//! `.json`): each `.pb` decodes to JSON equal to its twin (under `without_zeros`, see there), and
//! re-encodes to protobuf that decodes to the same JSON.

use std::path::PathBuf;

use reshifter_k8s::codec::{decode_object, encode_object, encode_text, without_zeros};
use serde_json::Value;

fn fixtures() -> Vec<(String, Vec<u8>, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/k8s-testdata");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pb") {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let json: Value = serde_json::from_slice(&std::fs::read(p.with_extension("json")).unwrap()).unwrap();
            out.push((name, std::fs::read(&p).unwrap(), json));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether every field of `small` is in `big` with the same value.
fn contains(big: &Value, small: &Value) -> bool {
    match (big, small) {
        (Value::Object(b), Value::Object(s)) => s.iter().all(|(k, v)| b.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(b), Value::Array(s)) => b.len() == s.len() && b.iter().zip(s).all(|(x, y)| contains(x, y)),
        _ => big == small,
    }
}

/// Where two JSON values first differ (for the failure message).
fn first_difference(a: &Value, b: &Value, path: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (p, q) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                if p != q {
                    return first_difference(p, q, &format!("{path}.{k}"));
                }
            }
            String::new()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                if p != q {
                    return first_difference(p, q, &format!("{path}[{i}]"));
                }
            }
            String::new()
        }
        _ => format!("{path}: {a} vs {b}"),
    }
}

#[test]
fn every_fixture_decodes_to_its_json_twin_and_round_trips() {
    let all = fixtures();
    assert!(all.len() >= 150, "{} fixtures", all.len());
    let (mut ok, mut unknown, mut failed, mut newer) = (0, Vec::new(), Vec::new(), Vec::new());
    for (name, pb, json) in &all {
        let (decoded, report) = match decode_object(pb) {
            Ok(v) => v,
            Err(reshifter_k8s::codec::CodecError::UnknownKind(_)) => {
                unknown.push(name.clone());
                continue;
            }
            Err(e) => {
                failed.push(format!("{name}: {e}"));
                continue;
            }
        };
        let (want, got) = (without_zeros(json), without_zeros(&decoded));
        if want != got {
            // Fields newer than the schema are skipped and counted; what was decoded must
            // still be the twin's.
            if report.unknown_fields > 0 && contains(want.as_ref().unwrap(), got.as_ref().unwrap()) {
                let (w, g) = (want.as_ref().unwrap(), got.as_ref().unwrap());
                newer.push(format!("{name} ({} fields, e.g. {})", report.unknown_fields, first_difference(g, w, "")));
            } else {
                failed.push(format!("{name}: {}", first_difference(got.as_ref().unwrap(), want.as_ref().unwrap(), "")));
                continue;
            }
        }
        let again = encode_object(&decoded).map_err(|e| format!("{name}: encode: {e}"));
        match again.and_then(|b| decode_object(&b).map(|x| x.0).map_err(|e| format!("{name}: decode again: {e}"))) {
            Ok(v) if v == decoded => ok += 1,
            Ok(v) => failed.push(format!("{name}: round trip: {}", first_difference(&v, &decoded, ""))),
            Err(e) => failed.push(e),
        }
    }
    eprintln!("{ok} fixtures decode and round-trip; kinds not known: {unknown:?}; with newer fields: {newer:?}");
    assert!(failed.is_empty(), "{} of {} failed:\n{}", failed.len(), all.len(), failed.join("\n"));
    // Every kind is known (the schema holds releases 1.33 to 1.36 and the development branch the
    // fixtures come from), and no field is newer than the schema; the one exception is a
    // WatchEvent whose envelope names no kind (its apiVersion and kind are empty).
    assert_eq!(unknown, ["core.v1.WatchEvent"]);
    assert!(newer.is_empty(), "{newer:?}");
    assert_eq!(ok, all.len() - 1);
}

/// `v` as JSON text with every object's fields in reverse order.
fn reversed(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().rev().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                reversed(x, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                reversed(x, out);
            }
            out.push(']');
        }
        x => out.push_str(&x.to_string()),
    }
}

/// kv-encode reads an edited object's text without building it (`encode_text`): for every
/// fixture the bytes are those `encode_object` writes for the object, whatever the order of
/// its fields, and the name and namespace are the object's.
#[test]
fn every_fixture_encodes_the_same_from_its_text() {
    let (mut n, mut exact) = (0, 0);
    for (name, pb, _) in fixtures() {
        let Ok((mut decoded, _)) = decode_object(&pb) else { continue };
        if let Some(m) = decoded.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let want = encode_object(&decoded).unwrap();
        exact += usize::from(want == pb);
        let (api, kind) = (decoded["apiVersion"].as_str().unwrap(), decoded["kind"].as_str().unwrap());
        let mut back = String::new();
        reversed(&decoded, &mut back);
        for text in [serde_json::to_vec(&decoded).unwrap(), back.into_bytes()] {
            let got = encode_text(api, kind, &text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(got.value == want, "{name}: {}", String::from_utf8_lossy(&text));
            let meta = |f: &str| decoded["metadata"].get(f).and_then(Value::as_str).map(str::to_string);
            assert_eq!((got.name, got.namespace), (meta("name"), meta("namespace")), "{name}");
        }
        n += 1;
    }
    eprintln!("{n} fixtures encode the same from their text; {exact} of them to the very bytes stored");
    assert!(n >= 150, "{n}");
}
