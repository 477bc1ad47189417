//! JSON → protobuf, by the schema: fields in tag order, map entries sorted by key, repeated
//! numbers unpacked — the layout Kubernetes' own (gogo-protobuf) encoder writes.
//!
//! The JSON is read through serde, from its text or from a [`Value`] alike, and written straight
//! into one buffer: a message's fields go in as pieces in the order the JSON has them, and are
//! laid out in tag order (embedded Go structs as the messages they are) when the message ends.
//! Nothing is built from the text but the bytes.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::time::{parse_duration, parse_time};
use super::{CodecError, FieldType, MAX_DEPTH, Message, Special, UNKNOWN_FIELDS, message_for, special};
use crate::pb::k8s_envelope;

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
    let mut enc = Enc::new(Some((api, kind)), false);
    let r = TopSeed { enc: &mut enc, m }.deserialize(v);
    let raw = enc.finish(r)?;
    Ok(k8s_envelope(api, kind, &raw))
}

/// JSON as the protobuf bytes of message `m`.
pub fn encode_message(m: &'static Message, v: &Value) -> Result<Vec<u8>> {
    let mut enc = Enc::new(None, false);
    let r = One { enc: &mut enc, ty: FieldType::Msg(m), tag: 1, order: Order::field(1), depth: 0, direct: false }
        .deserialize(v);
    // The message's bytes: `One` leaves its key and length to the message it is in.
    enc.finish(r)
}

/// What [`encode_text`] read beside the encoding.
#[derive(Debug)]
pub struct TextEncoded {
    /// The value: `k8s\0` + runtime.Unknown.
    pub value: Vec<u8>,
    /// `metadata.name` and `metadata.namespace` as given (`None`: not given).
    pub name: Option<String>,
    pub namespace: Option<String>,
    /// A number past the integers a double holds exactly was read: a JSON tool may have rounded it.
    pub big_number: bool,
}

/// An object's JSON text (as kv-decode writes it, perhaps edited), read without building it, as
/// kube-apiserver stores `kind` of `api_version` in protobuf: the text's apiVersion and kind must
/// be those; `metadata.resourceVersion` is left out (the API server does not store it).
pub fn encode_text(api_version: &str, kind: &str, text: &[u8]) -> Result<TextEncoded> {
    let m =
        message_for(api_version, kind).ok_or_else(|| CodecError::UnknownKind(format!("{kind} of {api_version}")))?;
    let mut enc = Enc::new(Some((api_version, kind)), true);
    let mut de = serde_json::Deserializer::from_slice(text);
    let r = TopSeed { enc: &mut enc, m }.deserialize(&mut de).and_then(|()| de.end());
    let (name, namespace, big_number, typed) = (enc.name.take(), enc.namespace.take(), enc.big, enc.typed);
    let raw = enc.finish(r)?;
    if typed != 2 {
        return Err(json_err("the object has no apiVersion or kind"));
    }
    Ok(TextEncoded { value: k8s_envelope(api_version, kind, &raw), name, namespace, big_number })
}

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn key(buf: &mut Vec<u8>, tag: u32, wire: u8) {
    varint(buf, (u64::from(tag) << 3) | u64::from(wire));
}

/// Where a piece goes in its message: the tags of the embedded structs it is inside (outermost
/// first), then its own; unknown fields go last.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Order {
    tags: [u32; 4],
    /// How many of `tags` are embedded structs' (the rest is the field's own tag, then zeros).
    groups: u8,
}

impl Order {
    fn field(tag: u32) -> Self {
        Order { tags: [tag, 0, 0, 0], groups: 0 }
    }
    const LAST: Order = Order { tags: [u32::MAX; 4], groups: 0 };
}

/// How many embedded structs deep a field may be, plus one.
const fn order_slots() -> usize {
    4
}

/// A field's bytes in the buffer; `wrap` is the tag to put with a length before them (a message).
#[derive(Clone, Copy, Debug)]
struct Piece {
    order: Order,
    start: usize,
    end: usize,
    wrap: u32,
}

impl Piece {
    fn size(&self) -> usize {
        let n = self.end - self.start;
        if self.wrap == 0 { n } else { varint_len(u64::from(self.wrap) << 3) + varint_len(n as u64) + n }
    }
}

/// The encoding under way.
struct Enc<'a> {
    buf: Vec<u8>,
    pieces: Vec<Piece>,
    /// Fields given in the messages under way (a field given twice is refused).
    seen: Vec<*const super::Field>,
    /// Map entries under way: the key's bytes and the entry's.
    entries: Vec<(usize, usize, usize, usize)>,
    err: Option<CodecError>,
    /// apiVersion and kind the object's must be.
    top: Option<(&'a str, &'a str)>,
    /// Reading text for kv-encode: `metadata.resourceVersion` left out, `metadata.name` and
    /// `namespace` kept aside (null refused).
    text: bool,
    name: Option<String>,
    namespace: Option<String>,
    /// How many of apiVersion and kind were given.
    typed: u8,
    big: bool,
    /// What the encoding cost so far, as decoding counts it (see [`super::MAX_DECODED`]): a text
    /// of a few bytes per field must not become a buffer and pieces many times its size.
    cost: usize,
}

/// The largest integer a double holds exactly.
const EXACT: f64 = 9_007_199_254_740_992.0;

impl<'a> Enc<'a> {
    fn new(top: Option<(&'a str, &'a str)>, text: bool) -> Self {
        Enc {
            buf: Vec::with_capacity(4096),
            pieces: Vec::new(),
            seen: Vec::new(),
            entries: Vec::new(),
            err: None,
            top,
            text,
            name: None,
            namespace: None,
            typed: 0,
            big: false,
            cost: 0,
        }
    }

    /// Record `e` and give serde an error to unwind with.
    fn fail<E: serde::de::Error>(&mut self, e: CodecError) -> E {
        self.err = Some(e);
        E::custom("")
    }

    /// An error unwinding through field `name`: its path grows.
    fn within<E: fmt::Display>(&mut self, e: E, name: &str) -> E {
        let inner = self.err.take().unwrap_or_else(|| CodecError::Json(e.to_string()));
        self.err = Some(inner.within(name));
        e
    }

    /// The bytes, or the error the encoding ended in.
    fn finish<E: fmt::Display>(mut self, r: std::result::Result<(), E>) -> Result<Vec<u8>> {
        match r {
            Ok(()) => Ok(std::mem::take(&mut self.buf)),
            Err(e) => Err(self.err.take().unwrap_or_else(|| CodecError::Json(e.to_string()))),
        }
    }

    fn number(&mut self, f: f64) {
        self.big |= f.abs() >= EXACT;
    }

    fn push(&mut self, order: Order, start: usize, wrap: u32) {
        self.cost = self.cost.saturating_add(super::FIELD_COST + self.buf.len() - start);
        self.pieces.push(Piece { order, start, end: self.buf.len(), wrap });
    }

    /// Stop once the encoding costs more than a decoded object may.
    fn bounded<E: serde::de::Error>(&mut self) -> std::result::Result<(), E> {
        if self.cost > super::MAX_DECODED {
            return Err(self.fail(CodecError::TooLarge));
        }
        Ok(())
    }

    /// A scalar field's key and value as one piece.
    fn scalar(&mut self, order: Order, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.buf.len();
        write(&mut self.buf);
        self.push(order, start, 0);
    }

    /// Lay the pieces from `base` on (all written after `start`) out in tag order at `start`.
    fn assemble(&mut self, base: usize, start: usize) {
        let pieces = &mut self.pieces[base..];
        let in_place = {
            let mut at = start;
            let mut prev = None;
            pieces.iter().all(|p| {
                let ok = p.wrap == 0 && p.order.groups == 0 && p.start == at && prev.is_none_or(|o| o <= p.order);
                at = p.end;
                prev = Some(p.order);
                ok
            }) && at == self.buf.len()
        };
        if !in_place {
            pieces.sort_by_key(|p| p.order);
            let out = self.buf.len();
            let n = self.pieces.len();
            emit(&mut self.buf, &self.pieces[base..n], 0);
            self.buf.copy_within(out.., start);
            let len = self.buf.len() - out;
            self.buf.truncate(start + len);
        }
        self.pieces.truncate(base);
    }
}

/// The size of `pieces` laid out from group level `level` on.
fn size(pieces: &[Piece], level: usize) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < pieces.len() {
        let p = pieces[i];
        if usize::from(p.order.groups) > level {
            let j = group_end(pieces, i, level);
            let inner = size(&pieces[i..j], level + 1);
            n += varint_len(u64::from(p.order.tags[level]) << 3) + varint_len(inner as u64) + inner;
            i = j;
        } else {
            n += p.size();
            i += 1;
        }
    }
    n
}

/// The end of the run of pieces from `i` in the same embedded struct at `level`.
fn group_end(pieces: &[Piece], i: usize, level: usize) -> usize {
    let tag = pieces[i].order.tags[level];
    let mut j = i;
    while j < pieces.len() && usize::from(pieces[j].order.groups) > level && pieces[j].order.tags[level] == tag {
        j += 1;
    }
    j
}

/// Write `pieces` (sorted) at the end of `buf`, embedded structs as messages.
fn emit(buf: &mut Vec<u8>, pieces: &[Piece], level: usize) {
    let mut i = 0;
    while i < pieces.len() {
        let p = pieces[i];
        if usize::from(p.order.groups) > level {
            let j = group_end(pieces, i, level);
            key(buf, p.order.tags[level], 2);
            varint(buf, size(&pieces[i..j], level + 1) as u64);
            emit(buf, &pieces[i..j], level + 1);
            i = j;
        } else {
            if p.wrap != 0 {
                key(buf, p.wrap, 2);
                varint(buf, (p.end - p.start) as u64);
            }
            buf.extend_from_within(p.start..p.end);
            i += 1;
        }
    }
}

/// A map key or an object's field name, borrowed from the text where it can be.
struct Name<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Name<'de>, E> {
                Ok(Name(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Name<'de>, E> {
                Ok(Name(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON value where a scalar is expected (arrays and objects only as what they are).
enum Scalar<'de> {
    Null,
    Bool(bool),
    U(u64),
    I(i64),
    F(f64),
    Str(Cow<'de, str>),
    Array,
    Object,
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, b: bool) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::U(n))
            }
            fn visit_i64<E>(self, n: i64) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::I(n))
            }
            fn visit_f64<E>(self, n: f64) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::F(n))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> std::result::Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(s.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Scalar<'de>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> std::result::Result<Scalar<'de>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        d.deserialize_any(V)
    }
}

impl Scalar<'_> {
    /// The number as an i64, if it is an integer that fits.
    fn int(&self) -> Option<i64> {
        match *self {
            Scalar::U(n) => i64::try_from(n).ok(),
            Scalar::I(n) => Some(n),
            _ => None,
        }
    }

    fn float(&self) -> Option<f64> {
        match *self {
            Scalar::U(n) => Some(n as f64),
            Scalar::I(n) => Some(n as f64),
            Scalar::F(n) => Some(n),
            _ => None,
        }
    }

    /// The number's JSON text (as serde_json writes it).
    fn number_text(&self) -> Option<String> {
        match *self {
            Scalar::U(n) => Some(n.to_string()),
            Scalar::I(n) => Some(n.to_string()),
            Scalar::F(n) => serde_json::Number::from_f64(n).map(|n| n.to_string()),
            _ => None,
        }
    }
}

/// Every number in `v` past a double's exact integers.
fn big_in(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| f.abs() >= EXACT),
        Value::Array(a) => a.iter().any(big_in),
        Value::Object(o) => o.values().any(big_in),
        _ => false,
    }
}

/// The top level of an object: its message's fields, apiVersion and kind.
struct TopSeed<'e, 'a> {
    enc: &'e mut Enc<'a>,
    m: &'static Message,
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
fn find(m: &'static Message, k: &str, path: &mut Vec<u32>) -> Option<&'static super::Field> {
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
    f: &'static super::Field,
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
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an array")))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an array")))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an array")))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an array")))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an array")))
    }
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
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an object")))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an object")))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an object")))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an object")))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<(), E> {
        Err(self.enc.fail(json_err("expected an object")))
    }
}

/// One occurrence of a field: a scalar, or a message (null: an empty message, as Go writes a
/// zero struct). `direct`: the field's own value (not an item or a map value), where null is
/// no value.
struct One<'e, 'a> {
    enc: &'e mut Enc<'a>,
    ty: FieldType,
    tag: u32,
    order: Order,
    depth: usize,
    direct: bool,
}

impl<'de> DeserializeSeed<'de> for One<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        let One { enc, ty, tag, order, depth, direct } = self;
        if let FieldType::Msg(m) = ty {
            let start = enc.buf.len();
            if special(m) == Some(Special::RawJson) {
                // Its one field (raw) is the JSON, as text. From text, it is parsed within the
                // bounds every decoded object has (a tree is built for it alone).
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
                if !v.is_null() {
                    if depth + 1 > MAX_DEPTH {
                        return Err(enc.fail(CodecError::TooDeep));
                    }
                    enc.big |= big_in(&v);
                    let raw = serde_json::to_vec(&v).map_err(|e| enc.fail(json_err(&e.to_string())))?;
                    key(&mut enc.buf, 1, 2);
                    varint(&mut enc.buf, raw.len() as u64);
                    enc.buf.extend_from_slice(&raw);
                }
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
        let b = &mut enc.buf;
        match (ty, s) {
            (FieldType::Str, Scalar::Str(s)) => {
                key(b, tag, 2);
                varint(b, s.len() as u64);
                b.extend_from_slice(s.as_bytes());
            }
            (FieldType::Str, _) => return Err(enc.fail(json_err("expected a string"))),
            (FieldType::Bytes, Scalar::Str(s)) => {
                let Ok(v) = base64_simd::STANDARD.decode_to_vec(s.as_bytes()) else {
                    return Err(enc.fail(json_err("expected a base64 string")));
                };
                key(b, tag, 2);
                varint(b, v.len() as u64);
                b.extend_from_slice(&v);
            }
            (FieldType::Bytes, _) => return Err(enc.fail(json_err("expected a base64 string"))),
            (FieldType::I32, s) => {
                let Some(n) = s.int().and_then(|n| i32::try_from(n).ok()) else {
                    return Err(enc.fail(json_err("expected a 32-bit integer")));
                };
                key(b, tag, 0);
                varint(b, i64::from(n) as u64);
            }
            (FieldType::I64, s) => {
                let Some(n) = s.int() else { return Err(enc.fail(json_err("expected an integer"))) };
                key(b, tag, 0);
                varint(b, n as u64);
            }
            (FieldType::Bool, Scalar::Bool(v)) => {
                key(b, tag, 0);
                varint(b, u64::from(v));
            }
            (FieldType::Bool, _) => return Err(enc.fail(json_err("expected true or false"))),
            (FieldType::F64, s) => {
                let Some(f) = s.float() else { return Err(enc.fail(json_err("expected a number"))) };
                key(b, tag, 1);
                b.extend_from_slice(&f.to_bits().to_le_bytes());
            }
            (FieldType::MapOf(_) | FieldType::Inline(_), _) => {
                return Err(enc.fail(json_err("a map or embedded message inside a map")));
            }
            (FieldType::Msg(_), _) => unreachable!("messages are written above"),
        }
        enc.push(order, start, 0);
        Ok(())
    }
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
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> std::result::Result<(), E> {
        Err(self.0.enc.fail(json_err("expected an object")))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> std::result::Result<(), E> {
        Err(self.0.enc.fail(json_err("expected an object")))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> std::result::Result<(), E> {
        Err(self.0.enc.fail(json_err("expected an object")))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> std::result::Result<(), E> {
        Err(self.0.enc.fail(json_err("expected an object")))
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> std::result::Result<(), E> {
        Err(self.0.enc.fail(json_err("expected an object")))
    }
}

/// The fields a newer Kubernetes wrote, back as they were on the wire (after the known ones:
/// protobuf readers take fields in any order).
fn unknown_fields(v: &Value, out: &mut Vec<u8>) -> Result<()> {
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
            (Some(Some((tag, _))), None) if u64::from(tag) == number => out.extend_from_slice(&raw),
            _ => return Err(json_err(&format!("the entry of field {number} is not one whole field of that number"))),
        };
    }
    Ok(())
}
