//! JSON → protobuf, by the schema: fields in tag order, map entries sorted by key, repeated
//! numbers unpacked — the layout Kubernetes' own (gogo-protobuf) encoder writes.

use serde_json::Value;

use super::time::{parse_duration, parse_time};
use super::{CodecError, FieldType, MAX_DEPTH, Message, Special, message_for, special};
use crate::pb::{Msg, k8s_envelope};

type Result<T> = std::result::Result<T, CodecError>;

fn json_err(what: &str) -> CodecError {
    CodecError::Json(what.into())
}

/// A JSON object with apiVersion and kind as kube-apiserver stores it in protobuf
/// (`k8s\0` + runtime.Unknown). Fields the schema does not know are refused (they would be lost).
pub fn encode_object(v: &Value) -> Result<Vec<u8>> {
    let o = v.as_object().ok_or_else(|| json_err("the object is not a JSON object"))?;
    let api = o.get("apiVersion").and_then(Value::as_str).ok_or_else(|| json_err("the object has no apiVersion"))?;
    let kind = o.get("kind").and_then(Value::as_str).ok_or_else(|| json_err("the object has no kind"))?;
    let m = message_for(api, kind).ok_or_else(|| CodecError::UnknownKind(format!("{kind} of {api}")))?;
    let mut out = Msg::new();
    fields(m, o, &mut out, 0, true)?;
    Ok(k8s_envelope(api, kind, &out.into_bytes()))
}

/// JSON as the protobuf bytes of message `m`.
pub fn encode_message(m: &'static Message, v: &Value) -> Result<Vec<u8>> {
    let mut out = Msg::new();
    message(m, v, &mut out, 0)?;
    Ok(out.into_bytes())
}

fn message(m: &'static Message, v: &Value, out: &mut Msg, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    if let Some(s) = special(m) {
        return shaped(s, m, v, out, depth);
    }
    let o = v.as_object().ok_or_else(|| json_err("expected an object"))?;
    fields(m, o, out, depth, false)
}

fn fields(
    m: &'static Message,
    o: &serde_json::Map<String, Value>,
    out: &mut Msg,
    depth: usize,
    top: bool,
) -> Result<()> {
    let msg = m;
    for k in o.keys() {
        let known = has_field(m, k) || k == super::UNKNOWN_FIELDS || (top && (k == "apiVersion" || k == "kind"));
        if !known {
            return Err(json_err(&format!("{k} is not a field of {}", msg.name)));
        }
    }
    for f in msg.fields {
        if let FieldType::Inline(i) = f.ty {
            // The embedded message's fields, taken from this object.
            let mine: serde_json::Map<String, Value> =
                o.iter().filter(|(k, _)| has_field(i, k)).map(|(k, v)| (k.clone(), v.clone())).collect();
            if !mine.is_empty() {
                let mut sub = Msg::new();
                fields(i, &mine, &mut sub, depth + 1, false)?;
                out.msg(f.tag, &sub);
            }
            continue;
        }
        let Some(v) = o.get(f.json) else { continue };
        let at = |e: CodecError| e.within(f.json);
        if v.is_null() {
            // Go writes a message field that is not a pointer even when zero (a zero Time is
            // null in JSON and an empty message in protobuf).
            if let (FieldType::Msg(_), false) = (f.ty, f.repeated) {
                out.msg(f.tag, &Msg::new());
            }
            continue;
        }
        match f.ty {
            FieldType::MapOf(vk) => {
                let entries = v.as_object().ok_or_else(|| at(json_err("expected an object")))?;
                // BTreeMap order: keys sorted, as Go writes them.
                for (k, x) in entries {
                    let mut e = Msg::new();
                    e.str(1, k);
                    one(*vk, 2, x, &mut e, depth).map_err(|e| at(e.within(k)))?;
                    out.msg(f.tag, &e);
                }
            }
            _ if f.repeated => {
                let items = v.as_array().ok_or_else(|| at(json_err("expected an array")))?;
                for x in items {
                    one(f.ty, f.tag, x, out, depth).map_err(at)?;
                }
            }
            _ => one(f.ty, f.tag, v, out, depth).map_err(at)?,
        }
    }
    if let Some(unknown) = o.get(super::UNKNOWN_FIELDS) {
        unknown_fields(unknown, out).map_err(|e| e.within(super::UNKNOWN_FIELDS))?;
    }
    Ok(())
}

/// The fields a newer Kubernetes wrote, back as they were on the wire (after the known ones:
/// protobuf readers take fields in any order).
fn unknown_fields(v: &Value, out: &mut Msg) -> Result<()> {
    let entries = v.as_array().ok_or_else(|| json_err("expected an array of {\"number\", \"raw\"}"))?;
    for e in entries {
        let number = e.get("number").and_then(Value::as_u64);
        let raw = e.get("raw").and_then(Value::as_str).and_then(|r| base64_simd::STANDARD.decode_to_vec(r).ok());
        let (Some(number), Some(raw)) = (number, raw) else {
            return Err(json_err("each entry is {\"number\": N, \"raw\": \"<base64>\"}"));
        };
        // The raw bytes must be one whole field of that number, nothing more.
        let mut it = crate::pb::FieldIter(&raw);
        match (it.next(), it.next()) {
            (Some(Some((tag, _))), None) if u64::from(tag) == number => out.raw(&raw),
            _ => return Err(json_err(&format!("the entry of field {number} is not one whole field of that number"))),
        };
    }
    Ok(())
}

/// Whether JSON field `k` belongs to message `m` (directly or through an embedded message).
fn has_field(m: &Message, k: &str) -> bool {
    m.fields.iter().any(|f| match f.ty {
        FieldType::Inline(i) => has_field(i, k),
        _ => f.json == k,
    })
}

fn one(k: FieldType, tag: u32, v: &Value, out: &mut Msg, depth: usize) -> Result<()> {
    match k {
        FieldType::Str => out.str(tag, v.as_str().ok_or_else(|| json_err("expected a string"))?),
        FieldType::Bytes => {
            let s = v.as_str().ok_or_else(|| json_err("expected a base64 string"))?;
            let b = base64_simd::STANDARD.decode_to_vec(s).map_err(|_| json_err("expected a base64 string"))?;
            out.bytes(tag, &b)
        }
        FieldType::I32 => {
            let n =
                v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| json_err("expected a 32-bit integer"))?;
            out.int(tag, i64::from(n))
        }
        FieldType::I64 => out.int(tag, v.as_i64().ok_or_else(|| json_err("expected an integer"))?),
        FieldType::Bool => out.bool(tag, v.as_bool().ok_or_else(|| json_err("expected true or false"))?),
        FieldType::F64 => out.fixed64(tag, v.as_f64().ok_or_else(|| json_err("expected a number"))?.to_bits()),
        // A zero Time (null) inside a map or list.
        FieldType::Msg(_) if v.is_null() => out.msg(tag, &Msg::new()),
        FieldType::Msg(m) => {
            let mut sub = Msg::new();
            message(m, v, &mut sub, depth + 1)?;
            out.msg(tag, &sub)
        }
        FieldType::MapOf(_) | FieldType::Inline(_) => return Err(json_err("a map or embedded message inside a map")),
    };
    Ok(())
}

/// Messages with a JSON form of their own, back to their fields.
fn shaped(s: Special, m: &'static Message, v: &Value, out: &mut Msg, depth: usize) -> Result<()> {
    let name = m.name;
    let field = |json: &str| m.fields.iter().find(|f| f.json == json);
    let sub = |json: &str| match field(json).map(|f| f.ty) {
        Some(FieldType::Msg(i)) => Ok(i),
        _ => Err(CodecError::Wire(name)),
    };
    match (s, v) {
        (Special::Time | Special::MicroTime, Value::String(t)) => {
            let (secs, nanos) = parse_time(t).ok_or_else(|| json_err("expected an RFC 3339 time"))?;
            // Kubernetes keeps whole seconds in Time (its JSON has no fraction).
            out.int(1, secs);
            if s == Special::MicroTime {
                out.int(2, i64::from(nanos));
            }
        }
        (Special::Duration, Value::String(d)) => {
            out.int(1, parse_duration(d).ok_or_else(|| json_err("expected a duration such as 1h2m3s"))?);
        }
        (Special::Quantity, Value::String(q)) => {
            out.str(1, q);
        }
        (Special::Quantity, Value::Number(n)) => {
            out.str(1, &n.to_string());
        }
        (Special::IntOrString, Value::Number(n)) => {
            let n =
                n.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| json_err("expected a 32-bit integer"))?;
            out.int(1, 0).int(2, i64::from(n)).str(3, "");
        }
        (Special::IntOrString, Value::String(x)) => {
            out.int(1, 1).int(2, 0).str(3, x);
        }
        (Special::RawJson, x) => {
            let raw = serde_json::to_vec(x).map_err(|e| json_err(&e.to_string()))?;
            out.bytes(1, &raw);
        }
        (Special::Items, Value::Array(items)) => {
            for x in items {
                out.str(1, x.as_str().ok_or_else(|| json_err("expected a string"))?);
            }
        }
        (Special::OrArray, Value::Array(items)) => {
            let i = sub("jSONSchemas")?;
            for x in items {
                let mut e = Msg::new();
                message(i, x, &mut e, depth + 1)?;
                out.msg(2, &e);
            }
        }
        (Special::OrArray | Special::OrStringArray, x @ Value::Object(_)) => {
            let mut e = Msg::new();
            message(sub("schema")?, x, &mut e, depth + 1)?;
            out.msg(1, &e);
        }
        (Special::OrBool, Value::Bool(b)) => {
            out.bool(1, *b);
        }
        (Special::OrBool, x @ Value::Object(_)) => {
            let mut e = Msg::new();
            message(sub("schema")?, x, &mut e, depth + 1)?;
            out.bool(1, true).msg(2, &e);
        }
        (Special::OrStringArray, Value::Array(items)) => {
            for x in items {
                out.str(2, x.as_str().ok_or_else(|| json_err("expected a string"))?);
            }
        }
        _ => return Err(json_err(&format!("not the JSON form of {name}"))),
    }
    Ok(())
}
