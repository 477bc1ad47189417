//! Kubernetes objects between the protobuf kube-apiserver stores (`k8s\0` + runtime.Unknown)
//! and their JSON form (as `kubectl get -o json` shows them), driven by a generated schema of
//! every built-in message ([`schema`], from the crates k8s-pb and k8s-openapi).
//!
//! Kubernetes' JSON special cases: Time (RFC 3339, seconds) and MicroTime (microseconds) in UTC;
//! Duration as Go prints it (`1h2m3s`); Quantity as its string; IntOrString as the int or the
//! string; RawExtension, FieldsV1 and apiextensions' JSON inlined as the JSON they hold; the
//! JSONSchemaPropsOr* unions as their one member; ExtraValue and Verbs as arrays; bytes as
//! base64; int64 as JSON numbers. apiVersion and kind come from the envelope.

mod decode;
mod encode;
#[rustfmt::skip]
mod schema;
pub(crate) mod time;

use serde_json::Value;

pub use decode::{Decoded, decode_message, decode_object};
pub use encode::{encode_message, encode_object};

/// A field's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Str,
    I32,
    I64,
    Bool,
    Bytes,
    F64,
    /// A message, by index in [`schema::MESSAGES`].
    Msg(u16),
    /// A message embedded in Go with `json:",inline"`: its fields are written in the parent.
    Inline(u16),
    /// `map<string, V>`.
    MapOf(&'static Kind),
}

/// One field of a message.
#[derive(Debug)]
pub struct Field {
    pub tag: u32,
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
}

/// A message: its full name (the k8s-pb module path) and fields by tag.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// A kind that is a resource (from k8s-pb).
#[derive(Debug)]
pub struct Resource {
    pub message: u16,
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

/// Why a value could not be decoded or encoded (never its content).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    #[error("not a Kubernetes protobuf value (no k8s\\0 envelope)")]
    NotProtobuf,
    #[error("no built-in kind {0} (custom resources are stored as JSON)")]
    UnknownKind(String),
    #[error("bad protobuf in {0}")]
    Wire(&'static str),
    #[error("{0}")]
    Json(String),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("decodes to more than {} MiB", MAX_DECODED >> 20)]
    TooLarge,
    #[error("{path}: {inner}")]
    At { path: String, inner: Box<CodecError> },
}

impl CodecError {
    /// The error inside field `name` (paths read `spec.template.metadata`).
    pub fn within(self, name: &str) -> CodecError {
        match self {
            CodecError::At { path, inner } => CodecError::At { path: format!("{name}.{path}"), inner },
            e => CodecError::At { path: name.to_string(), inner: Box::new(e) },
        }
    }
}

/// How deep messages may nest (hostile input cannot recurse without bound).
pub const MAX_DEPTH: usize = 64;

/// How much a value may decode to (the toolkit's one bound, for JSON and protobuf alike):
/// protobuf is terse — an empty message is two bytes — so without a bound an 8 MiB value
/// decodes to hundreds of MiB.
pub use reshifter_format::json::MAX_DECODED;

/// What one decoded field costs against [`MAX_DECODED`], beside its text.
const FIELD_COST: usize = reshifter_format::json::NODE_COST;

/// All messages.
pub fn messages() -> &'static [Message] {
    schema::MESSAGES
}

/// Every built-in resource (kind, apiVersion, plural, message).
pub fn resources() -> &'static [Resource] {
    schema::RESOURCES
}

/// The message of `kind` in `api_version` (`v1`, `apps/v1`, `rbac.authorization.k8s.io/v1`).
pub fn message_for(api_version: &str, kind: &str) -> Option<u16> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let key = match group {
        "" => "core",
        "internal.apiserver.k8s.io" => "apiserverinternal",
        g => g.split('.').next().unwrap_or(g),
    };
    let find = |pkg_key: &str, ver: &str| {
        schema::MESSAGES.iter().position(|m| {
            let mut parts = m.name.rsplit('.');
            let (n, v, k) = (parts.next(), parts.next(), parts.next());
            n.is_some_and(|n| n.eq_ignore_ascii_case(kind)) && v == Some(ver) && k == Some(pkg_key)
        })
    };
    // Kinds of meta/v1 (Status, DeleteOptions, WatchEvent ...) are registered in every group.
    find(key, version).or_else(|| find("meta", "v1")).map(|i| i as u16)
}

/// The message's short name (`Time`, `ObjectMeta`).
fn short(m: &Message) -> &'static str {
    m.name.rsplit('.').next().unwrap_or(m.name)
}

/// Messages with a JSON form of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    /// RawExtension, FieldsV1, apiextensions' JSON: `raw` (field 1) is JSON.
    RawJson,
    /// ExtraValue, Verbs: `items` (field 1) as an array.
    Items,
    /// JSONSchemaPropsOrArray: schema (1) or an array (2).
    OrArray,
    /// JSONSchemaPropsOrBool: allows (1) or schema (2).
    OrBool,
    /// JSONSchemaPropsOrStringArray: schema (1) or strings (2).
    OrStringArray,
}

fn special(m: &Message) -> Option<Special> {
    let meta = m.name.starts_with("apimachinery.");
    Some(match short(m) {
        "Time" if meta => Special::Time,
        "MicroTime" if meta => Special::MicroTime,
        "Duration" if meta => Special::Duration,
        "Quantity" if meta => Special::Quantity,
        "IntOrString" if meta => Special::IntOrString,
        "RawExtension" | "FieldsV1" if meta => Special::RawJson,
        "Json" if m.name.starts_with("apiextensions_apiserver.") => Special::RawJson,
        "ExtraValue" => Special::Items,
        "Verbs" if meta => Special::Items,
        "JsonSchemaPropsOrArray" => Special::OrArray,
        "JsonSchemaPropsOrBool" => Special::OrBool,
        "JsonSchemaPropsOrStringArray" => Special::OrStringArray,
        _ => return None,
    })
}

/// The equality used to compare decoded objects with Kubernetes' own JSON: fields whose value
/// is null, "", 0, false, {} or [] (after the same rule inside them) are left out on both sides,
/// because Go writes zero values of fields without `omitempty` (`"creationTimestamp": null`)
/// that protobuf does not carry.
pub fn without_zeros(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::String(s) if s.is_empty() => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::Array(a) => {
            let items: Vec<Value> = a.iter().map(|x| without_zeros(x).unwrap_or(Value::Null)).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(o) => {
            let m: serde_json::Map<String, Value> =
                o.iter().filter_map(|(k, x)| without_zeros(x).map(|x| (k.clone(), x))).collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests;
