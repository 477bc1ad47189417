//! JSON → protobuf, by the schema: fields in tag order, map entries sorted by key, repeated
//! numbers unpacked — the layout Kubernetes' own (gogo-protobuf) encoder writes.
//!
//! The JSON is read through serde, from its text or from a [`Value`] alike, and written straight
//! into one buffer: a message's fields go in as pieces in the order the JSON has them, and are
//! laid out in tag order (embedded Go structs as the messages they are) when the message ends.
//! Nothing is built from the text but the bytes.

mod layout;
mod read;
mod values;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::{CodecError, FieldType, Message, message_for};
use crate::pb::k8s_envelope;
use layout::{Enc, Order};
use read::{One, TopSeed};

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
