//! JSON values the encoder reads whole: names, scalars, and the unknown fields kept by kv-decode.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::super::CodecError;
use super::json_err;
use super::layout::EXACT;

type Result<T> = std::result::Result<T, CodecError>;

/// A map key or an object's field name, borrowed from the text where it can be.
pub(super) struct Name<'de>(pub(super) Cow<'de, str>);

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
pub(super) enum Scalar<'de> {
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
    pub(super) fn int(&self) -> Option<i64> {
        match *self {
            Scalar::U(n) => i64::try_from(n).ok(),
            Scalar::I(n) => Some(n),
            _ => None,
        }
    }

    pub(super) fn float(&self) -> Option<f64> {
        match *self {
            Scalar::U(n) => Some(n as f64),
            Scalar::I(n) => Some(n as f64),
            Scalar::F(n) => Some(n),
            _ => None,
        }
    }

    /// The number's JSON text (as serde_json writes it).
    pub(super) fn number_text(&self) -> Option<String> {
        match *self {
            Scalar::U(n) => Some(n.to_string()),
            Scalar::I(n) => Some(n.to_string()),
            Scalar::F(n) => serde_json::Number::from_f64(n).map(|n| n.to_string()),
            _ => None,
        }
    }
}

/// Every number in `v` past a double's exact integers.
pub(super) fn big_in(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(|f| f.abs() >= EXACT),
        Value::Array(a) => a.iter().any(big_in),
        Value::Object(o) => o.values().any(big_in),
        _ => false,
    }
}

/// The fields a newer Kubernetes wrote, back as they were on the wire (after the known ones:
/// protobuf readers take fields in any order).
pub(super) fn unknown_fields(v: &Value, out: &mut Vec<u8>) -> Result<()> {
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
