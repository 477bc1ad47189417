//! Reading JSON into the encoder through serde: objects as their messages' fields, arrays as
//! repeated fields, maps as entries, and the messages that have a JSON form of their own.

use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::super::time::{parse_duration, parse_time};
use super::super::{CodecError, Field, FieldType, MAX_DEPTH, Message, Special, UNKNOWN_FIELDS, special};
use super::json_err;
use super::layout::{Enc, Order, Piece, key, order_slots, varint};
use super::values::{Name, Scalar, big_in, unknown_fields};

/// A visitor's methods for the scalars it does not take: each refuses with `$why`, never naming
/// the value (it may be a secret).
macro_rules! refuse_scalars {
    ($this:ident, $enc:expr, $why:expr) => {
        fn visit_bool<E: serde::de::Error>($this, _: bool) -> std::result::Result<(), E> {
            Err($enc.fail(json_err($why)))
        }
        fn visit_i64<E: serde::de::Error>($this, _: i64) -> std::result::Result<(), E> {
            Err($enc.fail(json_err($why)))
        }
        fn visit_u64<E: serde::de::Error>($this, _: u64) -> std::result::Result<(), E> {
            Err($enc.fail(json_err($why)))
        }
        fn visit_f64<E: serde::de::Error>($this, _: f64) -> std::result::Result<(), E> {
            Err($enc.fail(json_err($why)))
        }
        fn visit_str<E: serde::de::Error>($this, _: &str) -> std::result::Result<(), E> {
            Err($enc.fail(json_err($why)))
        }
    };
}

/// The top level of an object: its message's fields, apiVersion and kind.
pub(super) struct TopSeed<'e, 'a> {
    pub(super) enc: &'e mut Enc<'a>,
    pub(super) m: &'static Message,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<(), A::Error> {
        fields(self.enc, self.m, map, 0, Level::Top)
    }
}

/// Which object a message's fields are read from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    TopMetadata,
    Inner,
}

/// A JSON field of message `m`: directly, or through the embedded structs (their tags, outermost
/// first).
fn find(m: &'static Message, k: &str, path: &mut Vec<u32>) -> Option<&'static Field> {
    for f in m.fields {
        match f.ty {
            FieldType::Inline(i) => {
                path.push(f.tag);
                if let Some(found) = find(i, k, path) {
                    return Some(found);
                }
                path.pop();
            }
            _ if f.json == k => return Some(f),
            _ => {}
        }
    }
    None
}

/// The fields of message `m` from a JSON object, laid out in tag order at the end of the buffer.
fn fields<'de, A: MapAccess<'de>>(
    enc: &mut Enc,
    m: &'static Message,
    mut map: A,
    depth: usize,
    level: Level,
) -> std::result::Result<(), A::Error> {
    if depth > MAX_DEPTH {
        return Err(enc.fail(CodecError::TooDeep));
    }
    let (base, start, seen) = (enc.pieces.len(), enc.buf.len(), enc.seen.len());
    let mut path = Vec::new();
    while let Some(Name(k)) = map.next_key::<Name>()? {
        enc.bounded()?;
        if level == Level::Top && (k == "apiVersion" || k == "kind") {
            let Scalar::Str(given) = map.next_value::<Scalar>()? else {
                return Err(enc.fail(json_err(&format!("the object's {k} is not a string"))));
            };
            let want = enc.top.map(|(api, kind)| if k == "kind" { kind } else { api });
            if want.is_some_and(|w| w != given) {
                return Err(enc.fail(json_err(&format!("the object's {k} is not the value's"))));
            }
            enc.typed += 1;
            continue;
        }
        if k == UNKNOWN_FIELDS {
            let v: Value = map.next_value()?;
            let at = enc.buf.len();
            if let Err(e) = unknown_fields(&v, &mut enc.buf) {
                return Err(enc.fail(e.within(UNKNOWN_FIELDS)));
            }
            enc.push(Order::LAST, at, 0);
            continue;
        }
        if level == Level::TopMetadata && enc.text && k == "resourceVersion" {
            map.next_value::<IgnoredAny>()?;
            continue;
        }
        path.clear();
        let Some(f) = find(m, &k, &mut path) else {
            return Err(enc.fail(json_err(&format!("{k} is not a field of {}", m.name))));
        };
        if enc.seen[seen..].contains(&(f as *const _)) {
            return Err(enc.fail(json_err(&format!("{k} is given twice"))));
        }
        if path.len() >= order_slots() {
            return Err(enc.fail(json_err(&format!("{k} is in structs embedded too deep"))));
        }
        enc.seen.push(f);
        let mut order = Order { tags: [0; 4], groups: path.len() as u8 };
        order.tags[..path.len()].copy_from_slice(&path);
        order.tags[path.len()] = f.tag;
        let capture = level == Level::TopMetadata && enc.text && (k == "name" || k == "namespace");
        let inner = if level == Level::Top && k == "metadata" { Level::TopMetadata } else { Level::Inner };
        let seed = FieldSeed { enc: &mut *enc, f, order, depth: depth + path.len(), level: inner, capture };
        if let Err(e) = map.next_value_seed(seed) {
            return Err(enc.within(e, f.json));
        }
    }
    enc.seen.truncate(seen);
    enc.assemble(base, start);
    Ok(())
}

/// One field of a message, as given (null, an array, an object or one value).
struct FieldSeed<'e, 'a> {
    enc: &'e mut Enc<'a>,
    f: &'static Field,
    order: Order,
    depth: usize,
    level: Level,
    capture: bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        let FieldSeed { enc, f, order, depth, level, capture } = self;
        match f.ty {
            FieldType::MapOf(vk) => d.deserialize_any(MapField { enc, vk: *vk, tag: f.tag, order, depth }),
            _ if f.repeated => d.deserialize_any(Repeated { enc, ty: f.ty, tag: f.tag, order, depth }),
            FieldType::Str if capture => {
                let s = Scalar::deserialize(d)?;
                match s {
                    Scalar::Str(s) => {
                        enc.scalar(order, |b| {
                            key(b, f.tag, 2);
                            varint(b, s.len() as u64);
                            b.extend_from_slice(s.as_bytes());
                        });
                        let slot = if f.json == "name" { &mut enc.name } else { &mut enc.namespace };
                        *slot = Some(s.into_owned());
                        Ok(())
                    }
                    Scalar::Null => Err(enc.fail(json_err("is null: kept aside as it is"))),
                    _ => Err(enc.fail(json_err("expected a string"))),
                }
            }
            FieldType::Msg(m) if level == Level::TopMetadata && special(m).is_none() => {
                let start = enc.buf.len();
                d.deserialize_any(MsgValue { enc: &mut *enc, m, depth: depth + 1, level })?;
                enc.push(order, start, f.tag);
                Ok(())
            }
            ty => One { enc, ty, tag: f.tag, order, depth, direct: true }.deserialize(d),
        }
    }
}

/// A repeated field: its items in order, each a field of its own (null: none).
struct Repeated<'e, 'a> {
    enc: &'e mut Enc<'a>,
    ty: FieldType,
    tag: u32,
    order: Order,
    depth: usize,
}

impl<'de> Visitor<'de> for Repeated<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> std::result::Result<(), A::Error> {
        let Repeated { enc, ty, tag, order, depth } = self;
        while items.next_element_seed(One { enc: &mut *enc, ty, tag, order, depth, direct: false })?.is_some() {
            enc.bounded()?;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        Err(self.enc.fail(json_err("expected an array")))
    }
    refuse_scalars!(self, self.enc, "expected an array");
}

/// A `map<string, V>` field: one entry message per key (key = 1, value = 2), sorted by key.
struct MapField<'e, 'a> {
    enc: &'e mut Enc<'a>,
    vk: FieldType,
    tag: u32,
    order: Order,
    depth: usize,
}

impl<'de> Visitor<'de> for MapField<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<(), A::Error> {
        let MapField { enc, vk, tag, order, depth } = self;
        let first = enc.entries.len();
        while let Some(Name(k)) = map.next_key::<Name>()? {
            enc.bounded()?;
            let (base, start) = (enc.pieces.len(), enc.buf.len());
            enc.scalar(Order::field(1), |b| {
                key(b, 1, 2);
                varint(b, k.len() as u64);
                b.extend_from_slice(k.as_bytes());
            });
            let key_at = enc.buf.len() - k.len();
            let seed = One { enc: &mut *enc, ty: vk, tag: 2, order: Order::field(2), depth, direct: false };
            if let Err(e) = map.next_value_seed(seed) {
                return Err(enc.within(e, &k));
            }
            enc.assemble(base, start);
            enc.entries.push((key_at, key_at + k.len(), start, enc.buf.len()));
        }
        // Sorted by key, as Go writes them; a key given twice is refused.
        let buf = &enc.buf;
        enc.entries[first..].sort_by(|a, b| buf[a.0..a.1].cmp(&buf[b.0..b.1]));
        let twice = enc.entries[first..].windows(2).any(|w| buf[w[0].0..w[0].1] == buf[w[1].0..w[1].1]);
        if twice {
            return Err(enc.fail(json_err("a key is given twice")));
        }
        for i in first..enc.entries.len() {
            let (_, _, start, end) = enc.entries[i];
            enc.pieces.push(Piece { order, start, end, wrap: tag });
        }
        enc.entries.truncate(first);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        Err(self.enc.fail(json_err("expected an object")))
    }
    refuse_scalars!(self, self.enc, "expected an object");
}

/// One occurrence of a field: a scalar, or a message (null: an empty message, as Go writes a
/// zero struct). `direct`: the field's own value (not an item or a map value), where null is
/// no value.
pub(super) struct One<'e, 'a> {
    pub(super) enc: &'e mut Enc<'a>,
    pub(super) ty: FieldType,
    pub(super) tag: u32,
    pub(super) order: Order,
    pub(super) depth: usize,
    pub(super) direct: bool,
}

impl<'de> DeserializeSeed<'de> for One<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        let One { enc, ty, tag, order, depth, direct } = self;
        if let FieldType::Msg(m) = ty {
            let start = enc.buf.len();
            if special(m) == Some(Special::RawJson) {
                raw_json(enc, d, depth)?;
            } else {
                d.deserialize_any(MsgValue { enc: &mut *enc, m, depth: depth + 1, level: Level::Inner })?;
            }
            enc.push(order, start, tag);
            return Ok(());
        }
        let s = Scalar::deserialize(d)?;
        if let Some(f) = s.float() {
            enc.number(f);
        }
        if direct && matches!(s, Scalar::Null) {
            return Ok(());
        }
        let start = enc.buf.len();
        if let Err(e) = scalar(&mut enc.buf, ty, tag, s) {
            return Err(enc.fail(e));
        }
        enc.push(order, start, 0);
        Ok(())
    }
}

/// A RawExtension, FieldsV1 or apiextensions JSON: its one field (raw) is the JSON, as text.
/// From text it is parsed within the bounds every decoded object has (a tree for it alone).
fn raw_json<'de, D: Deserializer<'de>>(enc: &mut Enc, d: D, depth: usize) -> std::result::Result<(), D::Error> {
    let v = if enc.text {
        let raw = <&serde_json::value::RawValue>::deserialize(d)?;
        enc.cost = enc.cost.saturating_add(raw.get().len());
        enc.bounded()?;
        match reshifter_format::json::parse::<Value>(raw.get().as_bytes()) {
            Ok(v) => v,
            Err(e) => return Err(enc.fail(json_err(&e.to_string()))),
        }
    } else {
        Value::deserialize(d)?
    };
    if v.is_null() {
        return Ok(());
    }
    if depth + 1 > MAX_DEPTH {
        return Err(enc.fail(CodecError::TooDeep));
    }
    enc.big |= big_in(&v);
    let raw = serde_json::to_vec(&v).map_err(|e| enc.fail(json_err(&e.to_string())))?;
    key(&mut enc.buf, 1, 2);
    varint(&mut enc.buf, raw.len() as u64);
    enc.buf.extend_from_slice(&raw);
    Ok(())
}

/// A scalar field `tag` of type `ty` with value `s` (not null where it is the field's own).
fn scalar(b: &mut Vec<u8>, ty: FieldType, tag: u32, s: Scalar) -> std::result::Result<(), CodecError> {
    match (ty, s) {
        (FieldType::Str, Scalar::Str(s)) => {
            key(b, tag, 2);
            varint(b, s.len() as u64);
            b.extend_from_slice(s.as_bytes());
        }
        (FieldType::Str, _) => return Err(json_err("expected a string")),
        (FieldType::Bytes, Scalar::Str(s)) => {
            let v =
                base64_simd::STANDARD.decode_to_vec(s.as_bytes()).map_err(|_| json_err("expected a base64 string"))?;
            key(b, tag, 2);
            varint(b, v.len() as u64);
            b.extend_from_slice(&v);
        }
        (FieldType::Bytes, _) => return Err(json_err("expected a base64 string")),
        (FieldType::I32, s) => {
            let n = s.int().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| json_err("expected a 32-bit integer"))?;
            key(b, tag, 0);
            varint(b, i64::from(n) as u64);
        }
        (FieldType::I64, s) => {
            let n = s.int().ok_or_else(|| json_err("expected an integer"))?;
            key(b, tag, 0);
            varint(b, n as u64);
        }
        (FieldType::Bool, Scalar::Bool(v)) => {
            key(b, tag, 0);
            varint(b, u64::from(v));
        }
        (FieldType::Bool, _) => return Err(json_err("expected true or false")),
        (FieldType::F64, s) => {
            let f = s.float().ok_or_else(|| json_err("expected a number"))?;
            key(b, tag, 1);
            b.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        (FieldType::MapOf(_) | FieldType::Inline(_) | FieldType::Msg(_), _) => {
            return Err(json_err("a map or embedded message inside a map"));
        }
    }
    Ok(())
}

/// A message's value: an object of its fields, or the JSON form of its own (see [`Special`]);
/// null is the empty message. Written at the end of the buffer (the caller wraps it).
struct MsgValue<'e, 'a> {
    enc: &'e mut Enc<'a>,
    m: &'static Message,
    depth: usize,
    level: Level,
}

impl MsgValue<'_, '_> {
    fn not_its_form<E: serde::de::Error>(self) -> E {
        let why = match special(self.m) {
            Some(_) => format!("not the JSON form of {}", self.m.name),
            None => "expected an object".to_string(),
        };
        self.enc.fail(json_err(&why))
    }

    fn check_depth<E: serde::de::Error>(&mut self) -> std::result::Result<(), E> {
        if self.depth > MAX_DEPTH {
            return Err(self.enc.fail(CodecError::TooDeep));
        }
        Ok(())
    }

    /// The schema message of a JSONSchemaPropsOr* union's `schema` (or `jSONSchemas`) member.
    fn member<E: serde::de::Error>(&mut self, json: &str) -> std::result::Result<&'static Message, E> {
        match self.m.fields.iter().find(|f| f.json == json).map(|f| f.ty) {
            Some(FieldType::Msg(i)) => Ok(i),
            _ => Err(self.enc.fail(CodecError::Wire(self.m.name))),
        }
    }

    /// A string for the messages whose JSON form is one.
    fn text<E: serde::de::Error>(mut self, t: &str) -> std::result::Result<(), E> {
        self.check_depth()?;
        let b = &mut self.enc.buf;
        match special(self.m) {
            Some(s @ (Special::Time | Special::MicroTime)) => {
                let Some((secs, nanos)) = parse_time(t) else {
                    return Err(self.enc.fail(json_err("expected an RFC 3339 time")));
                };
                // Kubernetes keeps whole seconds in Time (its JSON has no fraction).
                key(b, 1, 0);
                varint(b, secs as u64);
                if s == Special::MicroTime {
                    key(b, 2, 0);
                    varint(b, i64::from(nanos) as u64);
                }
            }
            Some(Special::Duration) => {
                let Some(d) = parse_duration(t) else {
                    return Err(self.enc.fail(json_err("expected a duration such as 1h2m3s")));
                };
                key(b, 1, 0);
                varint(b, d as u64);
            }
            Some(Special::Quantity) => {
                key(b, 1, 2);
                varint(b, t.len() as u64);
                b.extend_from_slice(t.as_bytes());
            }
            Some(Special::IntOrString) => {
                // type = 1 (string), intVal = 0, then strVal's key.
                b.extend_from_slice(&[0x08, 0x01, 0x10, 0x00, 0x1a]);
                varint(b, t.len() as u64);
                b.extend_from_slice(t.as_bytes());
            }
            _ => return Err(self.not_its_form()),
        }
        Ok(())
    }

    fn number<E: serde::de::Error>(mut self, n: Scalar) -> std::result::Result<(), E> {
        self.check_depth()?;
        if let Some(f) = n.float() {
            self.enc.number(f);
        }
        match special(self.m) {
            Some(Special::Quantity) => {
                let Some(t) = n.number_text() else { return Err(self.not_its_form()) };
                let b = &mut self.enc.buf;
                key(b, 1, 2);
                varint(b, t.len() as u64);
                b.extend_from_slice(t.as_bytes());
            }
            Some(Special::IntOrString) => {
                let Some(v) = n.int().and_then(|n| i32::try_from(n).ok()) else {
                    return Err(self.enc.fail(json_err("expected a 32-bit integer")));
                };
                let b = &mut self.enc.buf;
                // type = 0 (int), then intVal's key; strVal empty after it.
                b.extend_from_slice(&[0x08, 0x00, 0x10]);
                varint(b, i64::from(v) as u64);
                b.extend_from_slice(&[0x1a, 0x00]);
            }
            _ => return Err(self.not_its_form()),
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for MsgValue<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "the JSON form of {}", self.m.name)
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Ok(())
    }
    fn visit_str<E: serde::de::Error>(self, t: &str) -> std::result::Result<(), E> {
        self.text(t)
    }
    fn visit_u64<E: serde::de::Error>(self, n: u64) -> std::result::Result<(), E> {
        self.number(Scalar::U(n))
    }
    fn visit_i64<E: serde::de::Error>(self, n: i64) -> std::result::Result<(), E> {
        self.number(Scalar::I(n))
    }
    fn visit_f64<E: serde::de::Error>(self, n: f64) -> std::result::Result<(), E> {
        self.number(Scalar::F(n))
    }
    fn visit_bool<E: serde::de::Error>(mut self, v: bool) -> std::result::Result<(), E> {
        self.check_depth()?;
        if special(self.m) != Some(Special::OrBool) {
            return Err(self.not_its_form());
        }
        // allows (field 1, a varint).
        self.enc.buf.extend_from_slice(&[0x08, u8::from(v)]);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut items: A) -> std::result::Result<(), A::Error> {
        self.check_depth()?;
        let (tag, ty) = match special(self.m) {
            Some(Special::Items) => (1, FieldType::Str),
            Some(Special::OrStringArray) => (2, FieldType::Str),
            Some(Special::OrArray) => (2, FieldType::Msg(self.member("jSONSchemas")?)),
            _ => return Err(self.not_its_form()),
        };
        let (enc, depth) = (self.enc, self.depth);
        let (base, start) = (enc.pieces.len(), enc.buf.len());
        let order = Order::field(tag);
        if let FieldType::Msg(m) = ty {
            // Each a schema (null is not one).
            while let Some(()) = items.next_element_seed(Item { enc: &mut *enc, m, tag, depth })? {
                enc.bounded()?;
            }
        } else {
            while items.next_element_seed(One { enc: &mut *enc, ty, tag, order, depth, direct: false })?.is_some() {
                enc.bounded()?;
            }
        }
        enc.assemble(base, start);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> std::result::Result<(), A::Error> {
        match special(self.m) {
            None => fields(self.enc, self.m, map, self.depth, self.level),
            Some(s @ (Special::OrArray | Special::OrStringArray | Special::OrBool)) => {
                self.check_depth()?;
                let schema = self.member("schema")?;
                let enc = self.enc;
                let (base, start) = (enc.pieces.len(), enc.buf.len());
                // The schema is the union's field 1, or 2 in OrBool after `allows` (1).
                let tag = if s == Special::OrBool {
                    enc.scalar(Order::field(1), |b| b.extend_from_slice(&[0x08, 0x01]));
                    2
                } else {
                    1
                };
                let at = enc.buf.len();
                fields(&mut *enc, schema, map, self.depth + 1, Level::Inner)?;
                enc.push(Order::field(tag), at, tag);
                enc.assemble(base, start);
                Ok(())
            }
            _ => Err(self.not_its_form()),
        }
    }
}

/// One schema in a JSONSchemaPropsOrArray's array: an object, pushed as a piece.
struct Item<'e, 'a> {
    enc: &'e mut Enc<'a>,
    m: &'static Message,
    tag: u32,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Item<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        let Item { enc, m, tag, depth } = self;
        let start = enc.buf.len();
        d.deserialize_any(NotNull(MsgValue { enc: &mut *enc, m, depth: depth + 1, level: Level::Inner }))?;
        enc.push(Order::field(tag), start, tag);
        Ok(())
    }
}

/// A message value where null is not one.
struct NotNull<'e, 'a>(MsgValue<'e, 'a>);

impl<'de> Visitor<'de> for NotNull<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<(), A::Error> {
        self.0.visit_map(map)
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<(), E> {
        Err(self.0.enc.fail(json_err("expected an object")))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<(), A::Error> {
        Err(self.0.enc.fail(json_err("expected an object")))
    }
    refuse_scalars!(self, self.0.enc, "expected an object");
}
