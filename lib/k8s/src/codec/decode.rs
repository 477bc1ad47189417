//! Protobuf → JSON, by the schema.

use serde_json::{Map, Number, Value};

use super::time::{format_duration, format_time};
use super::{CodecError, FieldType, MAX_DEPTH, Message, Special, message_for, special};
use crate::pb::{FieldIter, K8S_MAGIC, Value as Wire, k8s_unwrap, read_varint};

type Result<T> = std::result::Result<T, CodecError>;

/// What decoding met besides the fields it turned into JSON.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Fields the schema does not know (a Kubernetes newer than its definitions): kept in the
    /// JSON under [`super::UNKNOWN_FIELDS`] as they were on the wire, and written back from there.
    pub unknown_fields: u64,
    /// Of those, the ones the JSON cannot hold (inside a message that has a JSON form of its own,
    /// Time, Quantity ...; or inside an embedded struct): encoding the JSON again would lose them.
    pub unkept_fields: u64,
    /// What the object decoded so far costs (see [`super::MAX_DECODED`]).
    pub cost: usize,
}

impl Decoded {
    fn charge(&mut self, bytes: usize) -> Result<()> {
        self.cost = self.cost.saturating_add(super::FIELD_COST + bytes);
        if self.cost > super::MAX_DECODED {
            return Err(CodecError::TooLarge);
        }
        Ok(())
    }
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

/// The protobuf bytes of message `m` as JSON.
pub fn decode_message(m: &'static Message, bytes: &[u8]) -> Result<(Value, Decoded)> {
    let mut cx = Decoded::default();
    let v = message(m, bytes, 0, &mut cx)?;
    Ok((v, cx))
}

fn message(msg: &'static Message, b: &[u8], depth: usize, cx: &mut Decoded) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    let shaped = special(msg);
    if shaped == Some(Special::RawJson) {
        // Its one field is JSON (or an object): read from the wire, not through base64.
        return shape(Special::RawJson, msg, Map::new(), b, depth, cx);
    }
    let mut out = Map::new();
    let mut unknown: Vec<Value> = Vec::new();
    let mut rest = b;
    loop {
        let mut it = FieldIter(rest);
        let Some(item) = it.next() else { break };
        let raw = &rest[..rest.len() - it.0.len()];
        rest = it.0;
        let (tag, w) = item.ok_or(CodecError::Wire(msg.name))?;
        cx.charge(raw.len())?;
        // A field the schema does not know (a newer Kubernetes): kept as it was on the wire.
        let Some(f) = msg.fields.iter().find(|f| f.tag == tag) else {
            cx.unknown_fields += 1;
            let mut field = Map::new();
            field.insert("number".into(), Value::from(tag));
            field.insert("raw".into(), Value::String(base64_simd::STANDARD.encode_to_string(raw)));
            unknown.push(Value::Object(field));
            continue;
        };
        let at = |e: CodecError| e.within(f.json);
        if let FieldType::MapOf(vk) = f.ty {
            let Wire::Bytes(entry) = w else { return Err(CodecError::Wire(msg.name)) };
            let (k, v) = map_entry(vk, entry, depth, msg.name, cx).map_err(at)?;
            match out.entry(f.json).or_insert_with(|| Value::Object(Map::new())) {
                Value::Object(o) => o.insert(k, v),
                _ => None,
            };
        } else if f.repeated {
            let slot = out.entry(f.json).or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = slot else { continue };
            match (f.ty, w) {
                // Packed numbers (proto3 writers) are accepted too.
                (FieldType::I32 | FieldType::I64 | FieldType::Bool | FieldType::F64, Wire::Bytes(mut p)) => {
                    while !p.is_empty() {
                        let one = if f.ty == FieldType::F64 {
                            let (x, rest) = p.split_at_checked(8).ok_or(CodecError::Wire(msg.name))?;
                            p = rest;
                            Wire::Fixed64(u64::from_le_bytes(x.try_into().map_err(|_| CodecError::Wire(msg.name))?))
                        } else {
                            Wire::Varint(read_varint(&mut p).ok_or(CodecError::Wire(msg.name))?)
                        };
                        cx.charge(0)?;
                        items.push(scalar(f.ty, one, depth, msg.name, cx).map_err(at)?);
                    }
                }
                _ => items.push(scalar(f.ty, w, depth, msg.name, cx).map_err(at)?),
            }
        } else if let (FieldType::Inline(i), Wire::Bytes(sub)) = (f.ty, w) {
            if let Value::Object(mut o) = message(i, sub, depth + 1, cx)? {
                // The embedded struct's fields join the parent's; its unknown ones cannot say
                // whose they are there.
                if let Some(Value::Array(lost)) = o.remove(super::UNKNOWN_FIELDS) {
                    cx.unkept_fields += lost.len() as u64;
                }
                out.extend(o);
            }
        } else {
            out.insert(f.json.into(), scalar(f.ty, w, depth, msg.name, cx).map_err(at)?);
        }
    }
    match shaped {
        Some(s) => {
            cx.unkept_fields += unknown.len() as u64;
            shape(s, msg, out, b, depth, cx)
        }
        None => {
            if !unknown.is_empty() {
                out.insert(super::UNKNOWN_FIELDS.into(), Value::Array(unknown));
            }
            Ok(Value::Object(out))
        }
    }
}

fn map_entry(vk: &FieldType, b: &[u8], depth: usize, name: &'static str, cx: &mut Decoded) -> Result<(String, Value)> {
    let (mut k, mut v) = (String::new(), None);
    for item in FieldIter(b) {
        match item.ok_or(CodecError::Wire(name))? {
            (1, Wire::Bytes(s)) => k = String::from_utf8_lossy(s).into_owned(),
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

fn zero_wire(k: FieldType) -> Wire<'static> {
    match k {
        FieldType::I32 | FieldType::I64 | FieldType::Bool => Wire::Varint(0),
        FieldType::F64 => Wire::Fixed64(0),
        _ => Wire::Bytes(&[]),
    }
}

fn scalar(k: FieldType, w: Wire, depth: usize, name: &'static str, cx: &mut Decoded) -> Result<Value> {
    let bad = || CodecError::Wire(name);
    Ok(match (k, w) {
        (FieldType::Str, Wire::Bytes(s)) => {
            cx.charge(s.len())?;
            Value::String(String::from_utf8_lossy(s).into_owned())
        }
        (FieldType::Bytes, Wire::Bytes(s)) => {
            cx.charge(s.len() * 4 / 3)?;
            Value::String(base64_simd::STANDARD.encode_to_string(s))
        }
        (FieldType::I32, Wire::Varint(v)) => Value::from(v as i64 as i32),
        (FieldType::I64, Wire::Varint(v)) => Value::from(v as i64),
        (FieldType::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (FieldType::F64, Wire::Fixed64(v)) => float(f64::from_bits(v)),
        (FieldType::Msg(m), Wire::Bytes(b)) => message(m, b, depth + 1, cx)?,
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
    wire: &[u8],
    depth: usize,
    cx: &mut Decoded,
) -> Result<Value> {
    let empty = wire.is_empty();
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
            // `raw` (field 1), its last occurrence winning as for any field.
            let mut raw: &[u8] = b"";
            for item in FieldIter(wire) {
                match item.ok_or(CodecError::Wire(msg.name))? {
                    (1, Wire::Bytes(r)) => raw = r,
                    (1, _) => return Err(CodecError::Wire(msg.name).within("raw")),
                    _ => cx.unknown_fields += 1,
                }
            }
            if raw.is_empty() {
                Value::Null
            } else if raw.starts_with(K8S_MAGIC) {
                // An embedded object stored as protobuf.
                decode_object_at(raw, depth + 1, cx)?
            } else {
                reshifter_format::json::parse(raw).map_err(|e| CodecError::Json(format!("{}: {e}", msg.name)))?
            }
        }
        Special::Items => f.remove("items").unwrap_or_else(|| Value::Array(Vec::new())),
        Special::OrArray => match f.remove("jSONSchemas") {
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

/// How many things in a Kubernetes protobuf value its JSON does not show, found without
/// decoding it: fields the schema does not know (wherever they are) and the nanoseconds of a
/// Time (its JSON has whole seconds). An object without them writes back as it reads.
pub fn hidden_fields(value: &[u8]) -> Result<u64> {
    let mut n = 0;
    hidden_in_object(value, 0, &mut n)?;
    Ok(n)
}

fn hidden_in_object(value: &[u8], depth: usize, n: &mut u64) -> Result<()> {
    let (api, kind, raw) = k8s_unwrap(value).ok_or(CodecError::Wire("the runtime.Unknown envelope"))?;
    let m = message_for(api, kind).ok_or_else(|| CodecError::UnknownKind(format!("{kind} of {api}")))?;
    hidden_in(m, raw, depth, n)
}

fn hidden_in(msg: &'static Message, b: &[u8], depth: usize, n: &mut u64) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(CodecError::TooDeep);
    }
    let shaped = special(msg);
    // An IntOrString shows one of its values: the other must be its zero.
    let (mut int_or_string, mut int_val, mut str_val) = (0, 0, false);
    for item in FieldIter(b) {
        let (tag, w) = item.ok_or(CodecError::Wire(msg.name))?;
        let Some(f) = msg.fields.iter().find(|f| f.tag == tag) else {
            *n += 1;
            continue;
        };
        match (shaped, f.ty, w) {
            (Some(Special::Time), _, Wire::Varint(nanos)) if tag == 2 => *n += u64::from(nanos != 0),
            (Some(Special::IntOrString), _, w) => match (tag, w) {
                (1, Wire::Varint(t)) => int_or_string = t,
                (2, Wire::Varint(v)) => int_val = v,
                (3, Wire::Bytes(s)) => str_val = !s.is_empty(),
                _ => {}
            },
            (Some(Special::RawJson), _, Wire::Bytes(raw)) if raw.starts_with(K8S_MAGIC) => {
                hidden_in_object(raw, depth + 1, n)?;
            }
            (_, FieldType::Msg(m) | FieldType::Inline(m), Wire::Bytes(sub)) => hidden_in(m, sub, depth + 1, n)?,
            (_, FieldType::MapOf(vk), Wire::Bytes(entry)) => {
                // An entry is its key (1) and value (2); anything else in it is not shown.
                for item in FieldIter(entry) {
                    match (item.ok_or(CodecError::Wire(msg.name))?, vk) {
                        ((2, Wire::Bytes(sub)), FieldType::Msg(m)) => hidden_in(m, sub, depth + 1, n)?,
                        ((1 | 2, _), _) => {}
                        _ => *n += 1,
                    }
                }
            }
            _ => {}
        }
    }
    if shaped == Some(Special::IntOrString) {
        *n += u64::from(if int_or_string == 1 { int_val != 0 } else { str_val });
    }
    Ok(())
}

/// An object's `metadata.name` and `metadata.namespace` as stored (`None`: not there).
pub type StoredName<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// `metadata.name` and `metadata.namespace` of a Kubernetes protobuf value, read without
/// decoding it.
pub fn stored_name(value: &[u8]) -> Result<StoredName<'_>> {
    let (api, kind, raw) = k8s_unwrap(value).ok_or(CodecError::Wire("the runtime.Unknown envelope"))?;
    let m = message_for(api, kind).ok_or_else(|| CodecError::UnknownKind(format!("{kind} of {api}")))?;
    let last = |m: &Message, b: &[u8], json: &str| -> Result<Option<(&'static super::Field, usize, usize)>> {
        let Some(f) = m.fields.iter().find(|f| f.json == json) else { return Ok(None) };
        let mut found = None;
        let mut rest = b;
        while !rest.is_empty() {
            let mut it = FieldIter(rest);
            let (tag, w) = it.next().flatten().ok_or(CodecError::Wire(m.name))?;
            if let (true, Wire::Bytes(x)) = (tag == f.tag, w) {
                let at = x.as_ptr() as usize - b.as_ptr() as usize;
                found = Some((f, at, at + x.len()));
            }
            rest = it.0;
        }
        Ok(found)
    };
    let Some((meta, s, e)) = last(m, raw, "metadata")? else { return Ok((None, None)) };
    let FieldType::Msg(om) = meta.ty else { return Ok((None, None)) };
    let b = &raw[s..e];
    let name = last(om, b, "name")?.map(|(_, s, e)| &b[s..e]);
    let namespace = last(om, b, "namespace")?.map(|(_, s, e)| &b[s..e]);
    Ok((name, namespace))
}
