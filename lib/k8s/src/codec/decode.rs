//! Protobuf → JSON, by the schema.

use serde_json::{Map, Number, Value};

use super::time::{format_duration, format_time};
use super::{CodecError, Kind, MAX_DEPTH, Message, Special, message_for, schema, special};
use crate::pb::{K8S_MAGIC, k8s_unwrap};

type Result<T> = std::result::Result<T, CodecError>;

/// One field's payload on the wire.
#[derive(Clone, Copy)]
pub(super) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(#[allow(dead_code)] u32),
    Len(&'a [u8]),
}

/// The fields of a message, in wire order.
pub(super) struct Fields<'a>(pub(super) &'a [u8]);

fn varint(b: &mut &[u8]) -> Option<u64> {
    let mut r = 0u64;
    for shift in (0..64).step_by(7) {
        let (&c, rest) = b.split_first()?;
        *b = rest;
        r |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return Some(r);
        }
    }
    None
}

impl<'a> Iterator for Fields<'a> {
    type Item = Option<(u32, Wire<'a>)>;

    /// `Some(None)` when the bytes are not protobuf.
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let mut b = self.0;
        let item = (|| {
            let key = varint(&mut b)?;
            let tag = u32::try_from(key >> 3).ok().filter(|t| *t > 0)?;
            let w = match key & 7 {
                0 => Wire::Varint(varint(&mut b)?),
                1 => {
                    let (x, rest) = b.split_at_checked(8)?;
                    b = rest;
                    Wire::Fixed64(u64::from_le_bytes(x.try_into().ok()?))
                }
                2 => {
                    let n = usize::try_from(varint(&mut b)?).ok()?;
                    let (x, rest) = b.split_at_checked(n)?;
                    b = rest;
                    Wire::Len(x)
                }
                5 => {
                    let (x, rest) = b.split_at_checked(4)?;
                    b = rest;
                    Wire::Fixed32(u32::from_le_bytes(x.try_into().ok()?))
                }
                _ => return None,
            };
            Some((tag, w))
        })();
        self.0 = if item.is_some() { b } else { &[] };
        Some(item)
    }
}

/// What decoding met besides the fields it turned into JSON.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Fields the schema does not know (a Kubernetes newer than k8s-pb's): skipped, so the JSON
    /// lacks them and encoding it again would lose them.
    pub unknown_fields: u64,
}

/// A Kubernetes protobuf value (`k8s\0` + runtime.Unknown) as the JSON object the API serves:
/// apiVersion and kind from the envelope, then the object's fields.
pub fn decode_object(value: &[u8]) -> Result<(Value, Decoded)> {
    let mut cx = Decoded::default();
    let v = decode_object_at(value, 0, &mut cx)?;
    Ok((v, cx))
}

fn decode_object_at(value: &[u8], depth: usize, cx: &mut Decoded) -> Result<Value> {
    if !value.starts_with(K8S_MAGIC) {
        return Err(CodecError::NotProtobuf);
    }
    let (api, kind, raw) = k8s_unwrap(value).ok_or(CodecError::Wire("the runtime.Unknown envelope"))?;
    let m = message_for(api, kind).ok_or_else(|| CodecError::UnknownKind(format!("{kind} of {api}")))?;
    let mut v = message(m, raw, depth, cx)?;
    if let Value::Object(o) = &mut v {
        o.insert("apiVersion".into(), Value::String(api.into()));
        o.insert("kind".into(), Value::String(kind.into()));
    }
    Ok(v)
}

/// The protobuf bytes of message `m` (an index in the schema) as JSON.
pub fn decode_message(m: u16, bytes: &[u8]) -> Result<(Value, Decoded)> {
    let mut cx = Decoded::default();
    let v = message(m, bytes, 0, &mut cx)?;
    Ok((v, cx))
}

fn message(m: u16, b: &[u8], depth: usize, cx: &mut Decoded) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    let msg = schema::MESSAGES.get(usize::from(m)).ok_or(CodecError::Wire("the schema"))?;
    let mut out = Map::new();
    for item in Fields(b) {
        let (tag, w) = item.ok_or(CodecError::Wire(msg.name))?;
        // Fields the schema does not know (newer Kubernetes) are skipped, as Go's decoder does.
        let Some(f) = msg.fields.iter().find(|f| f.tag == tag) else {
            cx.unknown_fields += 1;
            continue;
        };
        let at = |e: CodecError| e.within(f.json);
        if let Kind::MapOf(vk) = f.kind {
            let Wire::Len(entry) = w else { return Err(CodecError::Wire(msg.name)) };
            let (k, v) = map_entry(vk, entry, depth, msg.name, cx).map_err(at)?;
            match out.entry(f.json).or_insert_with(|| Value::Object(Map::new())) {
                Value::Object(o) => o.insert(k, v),
                _ => None,
            };
        } else if f.repeated {
            let slot = out.entry(f.json).or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = slot else { continue };
            match (f.kind, w) {
                // Packed numbers (proto3 writers) are accepted too.
                (Kind::I32 | Kind::I64 | Kind::Bool | Kind::F64, Wire::Len(mut p)) => {
                    while !p.is_empty() {
                        let one = if f.kind == Kind::F64 {
                            let (x, rest) = p.split_at_checked(8).ok_or(CodecError::Wire(msg.name))?;
                            p = rest;
                            Wire::Fixed64(u64::from_le_bytes(x.try_into().map_err(|_| CodecError::Wire(msg.name))?))
                        } else {
                            Wire::Varint(varint(&mut p).ok_or(CodecError::Wire(msg.name))?)
                        };
                        items.push(scalar(f.kind, one, depth, msg.name, cx).map_err(at)?);
                    }
                }
                _ => items.push(scalar(f.kind, w, depth, msg.name, cx).map_err(at)?),
            }
        } else if let (Kind::Inline(i), Wire::Len(sub)) = (f.kind, w) {
            if let Value::Object(o) = message(i, sub, depth + 1, cx)? {
                out.extend(o);
            }
        } else {
            out.insert(f.json.into(), scalar(f.kind, w, depth, msg.name, cx).map_err(at)?);
        }
    }
    match special(msg) {
        Some(s) => shape(s, msg, out, b.is_empty(), depth, cx),
        None => Ok(Value::Object(out)),
    }
}

fn map_entry(vk: &Kind, b: &[u8], depth: usize, name: &'static str, cx: &mut Decoded) -> Result<(String, Value)> {
    let (mut k, mut v) = (String::new(), None);
    for item in Fields(b) {
        match item.ok_or(CodecError::Wire(name))? {
            (1, Wire::Len(s)) => k = String::from_utf8_lossy(s).into_owned(),
            (2, w) => v = Some(scalar(*vk, w, depth, name, cx)?),
            _ => {}
        }
    }
    let v = match v {
        Some(v) => v,
        None => scalar(*vk, zero_wire(*vk), depth, name, cx)?,
    };
    Ok((k, v))
}

fn zero_wire(k: Kind) -> Wire<'static> {
    match k {
        Kind::I32 | Kind::I64 | Kind::Bool => Wire::Varint(0),
        Kind::F64 => Wire::Fixed64(0),
        _ => Wire::Len(&[]),
    }
}

fn scalar(k: Kind, w: Wire, depth: usize, name: &'static str, cx: &mut Decoded) -> Result<Value> {
    let bad = || CodecError::Wire(name);
    Ok(match (k, w) {
        (Kind::Str, Wire::Len(s)) => Value::String(String::from_utf8_lossy(s).into_owned()),
        (Kind::Bytes, Wire::Len(s)) => Value::String(base64_simd::STANDARD.encode_to_string(s)),
        (Kind::I32, Wire::Varint(v)) => Value::from(v as i64 as i32),
        (Kind::I64, Wire::Varint(v)) => Value::from(v as i64),
        (Kind::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (Kind::F64, Wire::Fixed64(v)) => float(f64::from_bits(v)),
        (Kind::Msg(m), Wire::Len(b)) => message(m, b, depth + 1, cx)?,
        _ => return Err(bad()),
    })
}

/// A double as Go's encoding/json writes it: integral values without a fraction.
fn float(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// The JSON form of a message that has its own (see [`Special`]).
fn shape(
    s: Special,
    msg: &Message,
    mut f: Map<String, Value>,
    empty: bool,
    depth: usize,
    cx: &mut Decoded,
) -> Result<Value> {
    let int = |f: &Map<String, Value>, k: &str| f.get(k).and_then(Value::as_i64).unwrap_or(0);
    Ok(match s {
        Special::Time | Special::MicroTime if empty => Value::Null,
        Special::Time | Special::MicroTime => {
            let nanos = i32::try_from(int(&f, "nanos")).unwrap_or(0);
            let t = format_time(int(&f, "seconds"), nanos, s == Special::MicroTime);
            Value::String(t.ok_or(CodecError::Wire(msg.name))?)
        }
        Special::Duration => Value::String(format_duration(int(&f, "duration"))),
        Special::Quantity => f.remove("string").unwrap_or_else(|| Value::String("0".into())),
        Special::IntOrString if int(&f, "type") == 1 => {
            f.remove("strVal").unwrap_or_else(|| Value::String(String::new()))
        }
        Special::IntOrString => f.remove("intVal").unwrap_or_else(|| Value::from(0)),
        Special::RawJson => {
            let raw = match f.get("raw") {
                Some(Value::String(b64)) => {
                    base64_simd::STANDARD.decode_to_vec(b64).map_err(|_| CodecError::Wire(msg.name))?
                }
                _ => Vec::new(),
            };
            if raw.is_empty() {
                Value::Null
            } else if raw.starts_with(K8S_MAGIC) {
                // An embedded object stored as protobuf.
                decode_object_at(&raw, depth + 1, cx)?
            } else {
                serde_json::from_slice(&raw)
                    .map_err(|_| CodecError::Json(format!("{} holds bytes that are not JSON", msg.name)))?
            }
        }
        Special::Items => f.remove("items").unwrap_or_else(|| Value::Array(Vec::new())),
        Special::OrArray => match f.remove("jSonSchemas") {
            Some(a @ Value::Array(_)) => a,
            _ => f.remove("schema").unwrap_or(Value::Null),
        },
        Special::OrBool => match f.remove("schema") {
            Some(v) => v,
            None => f.remove("allows").unwrap_or(Value::Bool(false)),
        },
        Special::OrStringArray => match f.remove("property") {
            Some(a @ Value::Array(_)) => a,
            _ => f.remove("schema").unwrap_or(Value::Null),
        },
    })
}
