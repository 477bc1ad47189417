//! Kubernetes objects in a stream's values: opening a value as the object it holds (protobuf,
//! JSON or CBOR, decrypted first when an EncryptionConfiguration is given) and writing an edited
//! object back in the encoding it came in. kv-decode, kv-encode and kv-filter's selectors use it.

use reshifter_format::json::{self, JsonError, MAX_DEPTH};
use reshifter_k8s::atrest::{self, AtRest};

use crate::atrest::ApiServer;
use reshifter_k8s::codec::{self, CodecError};
pub use reshifter_k8s::value::{CBOR_MAGIC, Encoding};
use serde_json::{Map, Value};

/// The digest kv-decode writes beside an object (`object_sha256`): SHA-256 of the value's own
/// SHA-256 followed by the object's JSON text as written. kv-encode keeps a value whose object
/// text still has it without decoding anything: the object is the one decoded from this value,
/// unedited.
pub fn object_digest(value_sha256: &[u8; 32], object_json: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(value_sha256);
    h.update(object_json);
    h.finalize().into()
}

/// A value opened as an object.
#[derive(Debug)]
pub struct Opened {
    pub encoding: Encoding,
    pub object: Value,
    /// Fields the codec's schema does not know (a newer Kubernetes): kept in the object under
    /// `$unknownFields`, written back from there.
    pub unknown_fields: u64,
    /// Of those, the ones the object cannot hold (inside Time, Quantity ... or an embedded
    /// struct): an edited object would lose them.
    pub unkept_fields: u64,
    /// The at-rest envelope (provider, key name) the value was encrypted in.
    pub sealed: Option<(String, String)>,
    /// JSON values as the API server writes them end in a newline.
    pub newline: bool,
}

/// What a value is.
#[derive(Debug)]
pub enum Outcome {
    Object(Box<Opened>),
    /// Not a Kubernetes object (a lease, a range allocation, a non-Kubernetes key).
    NotObject,
    /// Encrypted at rest, and no EncryptionConfiguration given that opens it.
    Encrypted,
    /// It claims to be an object but cannot be read: why (never its content).
    Failed(String),
}

/// Open `value` (the value of etcd key `key`, written at `mod_revision`) as the object it holds,
/// with `metadata.resourceVersion` filled from `mod_revision` as the API server does.
pub fn open(key: &[u8], value: &[u8], mod_revision: i64, api: &ApiServer) -> Outcome {
    let (plain, sealed);
    if let Some((provider, _, name, _)) = atrest::envelope(value) {
        let Some(cfg) = api.at_rest() else { return Outcome::Encrypted };
        match cfg.open(key, value) {
            Some(Ok(p)) => plain = p,
            Some(Err(e)) => return Outcome::Failed(e.to_string()),
            None => return Outcome::Encrypted,
        }
        sealed = Some((provider.to_string(), name.to_string()));
    } else {
        plain = Vec::new();
        sealed = None;
    }
    let bytes = if sealed.is_some() { &plain[..] } else { value };
    // Under an object's key, JSON that does not parse is a damaged object, not another program's.
    let object_key = api.roots.parse(key).is_some_and(|k| !k.name.is_empty());
    let mut opened = match decode(bytes, object_key) {
        Ok(Some(o)) => o,
        Ok(None) => return Outcome::NotObject,
        Err(e) => return Outcome::Failed(e),
    };
    opened.sealed = sealed;
    set_resource_version(&mut opened.object, mod_revision);
    Outcome::Object(Box::new(opened))
}

/// Decode plaintext bytes; `Ok(None)` when they are not an object.
fn decode(b: &[u8], object_key: bool) -> Result<Option<Opened>, String> {
    let opened = |encoding, object, report: (u64, u64)| Opened {
        encoding,
        object,
        unknown_fields: report.0,
        unkept_fields: report.1,
        sealed: None,
        newline: b.ends_with(b"\n"),
    };
    match Encoding::of(b) {
        Encoding::Protobuf => {
            let (object, report) = codec::decode_object(b).map_err(|e| e.to_string())?;
            Ok(Some(opened(Encoding::Protobuf, object, (report.unknown_fields, report.unkept_fields))))
        }
        Encoding::Cbor => {
            let object: Value = ciborium::de::from_reader_with_recursion_limit(&b[CBOR_MAGIC.len()..], MAX_DEPTH)
                .map_err(|e| format!("bad CBOR: {e}"))?;
            Ok(is_object(&object).then(|| opened(Encoding::Cbor, object, (0, 0))))
        }
        // JSON that does not parse, or is not an object with apiVersion and kind, is some
        // other program's value.
        Encoding::Json => match json::parse::<Value>(b) {
            Ok(object) => Ok(is_object(&object).then(|| opened(Encoding::Json, object, (0, 0)))),
            Err(e @ (JsonError::TooDeep(_) | JsonError::TooLarge)) => Err(e.to_string()),
            Err(e) if object_key => Err(format!("{e} (truncated or damaged)")),
            Err(_) => Ok(None),
        },
        Encoding::Encrypted | Encoding::Other => Ok(None),
    }
}

/// A Kubernetes object: a JSON object with string apiVersion and kind.
fn is_object(v: &Value) -> bool {
    v.get("apiVersion").is_some_and(Value::is_string) && v.get("kind").is_some_and(Value::is_string)
}

fn set_resource_version(v: &mut Value, rev: i64) {
    if let Value::Object(o) = v {
        let meta = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = meta {
            m.insert("resourceVersion".into(), Value::String(rev.to_string()));
        }
    }
}

/// Why an edited object cannot be written back.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("{0}")]
    Codec(#[from] CodecError),
    #[error(
        "its value has {0} field{s} newer than the codec's schema (Kubernetes 1.33 to 1.36) where the decoded object cannot keep {them} (inside a Time, Quantity or embedded struct): writing the edited object would lose {them}",
        s = if *.0 == 1 { "" } else { "s" },
        them = if *.0 == 1 { "it" } else { "them" }
    )]
    Newer(u64),
    #[error("{0}")]
    Other(String),
}

/// The value for `object` (edited) in the encoding and at-rest envelope `was` came in.
/// `metadata.resourceVersion` is removed: the API server does not store it.
pub fn encode(key: &[u8], was: &Opened, mut object: Value, at_rest: Option<&AtRest>) -> Result<Vec<u8>, EncodeError> {
    if was.unkept_fields > 0 {
        return Err(EncodeError::Newer(was.unkept_fields));
    }
    if let Some(Value::Object(m)) = object.get_mut("metadata") {
        m.remove("resourceVersion");
    }
    if !is_object(&object) {
        return Err(EncodeError::Other("the object has no apiVersion or kind".into()));
    }
    // The key names what it holds (`/registry/pods/<namespace>/<name>`), in one version: an
    // object of another kind, name, namespace or version there is never the one read back.
    for (field, why) in [
        ("kind", "a key holds one kind"),
        ("apiVersion", "the key holds the version the API server stores; kubectl converts versions"),
    ] {
        if object.get(field) != was.object.get(field) {
            return Err(EncodeError::Other(format!(
                "its {field} was changed from {} to {}: {why}",
                was.object[field], object[field]
            )));
        }
    }
    for field in ["name", "namespace"] {
        let (old, new) = (was.object.get("metadata").and_then(|m| m.get(field)), object["metadata"].get(field));
        if old != new {
            return Err(EncodeError::Other(format!(
                "its metadata.{field} was changed from {} to {}: the key names the object, so it would be read back \
                 under its old {field} (create a new object with kubectl instead)",
                old.unwrap_or(&Value::Null),
                new.unwrap_or(&Value::Null)
            )));
        }
    }
    let plain = match was.encoding {
        Encoding::Protobuf => codec::encode_object(&object)?,
        Encoding::Json => {
            let mut v = serde_json::to_vec(&object).map_err(|e| EncodeError::Other(e.to_string()))?;
            if was.newline {
                v.push(b'\n');
            }
            v
        }
        Encoding::Cbor => {
            let mut v = CBOR_MAGIC.to_vec();
            ciborium::into_writer(&object, &mut v).map_err(|e| EncodeError::Other(e.to_string()))?;
            v
        }
        // Never opened as an object.
        Encoding::Encrypted | Encoding::Other => {
            return Err(EncodeError::Other("its value was not an object".into()));
        }
    };
    match (&was.sealed, at_rest) {
        (None, _) => Ok(plain),
        (Some((provider, name)), Some(cfg)) => {
            cfg.seal_as(provider, name, key, &plain).map_err(|e| EncodeError::Other(e.to_string()))
        }
        (Some(_), None) => Err(EncodeError::Other("it was encrypted and no --encryption-config is given".into())),
    }
}

/// An edited object's value, from its JSON text alone, for a protobuf value whose JSON shows all
/// it holds (no field unknown to the schema, no Time with nanoseconds): the text is read
/// straight into the encoding (no tree is built, the value is not decoded) and compared with
/// the value's bytes. `Some(None)`: the same bytes (the value stands); `Some(Some(v))`: the new
/// value, sealed again as it was. `None` when the text cannot be judged this way — another
/// encoding, a number past a double's exact range (perhaps rounded), another name, namespace,
/// kind or version, anything the codec refuses: [`open`], [`reconcile`] and [`encode`] judge
/// it and say why.
pub fn encode_text(key: &[u8], value: &[u8], text: &[u8], api: &ApiServer) -> Option<Option<Vec<u8>>> {
    let (opened, sealed);
    let plain = match atrest::envelope(value) {
        Some((provider, _, name, _)) => {
            opened = api.at_rest()?.open(key, value)?.ok()?;
            sealed = Some((provider, name));
            &opened[..]
        }
        None => {
            sealed = None;
            value
        }
    };
    if Encoding::of(plain) != Encoding::Protobuf || codec::hidden_fields(plain).ok()? != 0 {
        return None;
    }
    let (api_version, kind) = reshifter_k8s::pb::k8s_unwrap_type(plain)?;
    let given = codec::encode_text(api_version, kind, text).ok()?;
    let (name, namespace) = codec::stored_name(plain).ok()?;
    if given.big_number
        || given.name.as_deref().map(str::as_bytes) != name
        || given.namespace.as_deref().map(str::as_bytes) != namespace
    {
        return None;
    }
    if given.value == plain {
        return Some(None);
    }
    match sealed {
        None => Some(Some(given.value)),
        Some((provider, name)) => api.at_rest()?.seal_as(provider, name, key, &given.value).ok().map(Some),
    }
}

/// The largest integer a double holds exactly: past it, a JSON tool that reads numbers as
/// doubles (Debian's jq 1.6) rounds.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// Compare an object as given (after jq) with the one its value holds, in one walk: numbers in
/// `given` that equal `was`'s once both are rounded to a double (what jq 1.6 makes of
/// `9007199254740993` or `18446744073709551615`) are given back their exact value — rounding is
/// not an edit. `Ok(true)` when the two are then equal. A number changed to a value past a
/// double's exact range is refused (`Err` names the field): it may have been rounded on the way,
/// and writing it would change it. Nothing is allocated unless a field is refused.
pub fn reconcile(was: &Value, given: &mut Value) -> Result<bool, String> {
    reconcile_at(was, given).map_err(|(path, why)| format!("{} {why}", show_path(&path)))
}

/// Why a field was refused, and its path (innermost first, filled in on the way out).
type Refused = (Vec<String>, String);

fn at(key: impl FnOnce() -> String) -> impl FnOnce(Refused) -> Refused {
    move |(mut path, why)| {
        path.push(key());
        (path, why)
    }
}

/// A field path as jq writes it, from the innermost part first: `spec.list[3].max`.
fn show_path(path: &[String]) -> String {
    let mut out = String::new();
    for p in path.iter().rev() {
        if !p.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(p);
    }
    out
}

fn reconcile_at(was: &Value, given: &mut Value) -> Result<bool, Refused> {
    match (was, given) {
        (Value::Number(a), g @ Value::Number(_)) => {
            let b = g.as_number().cloned().unwrap_or_else(|| a.clone());
            if *a == b {
                return Ok(true);
            }
            let (fa, fb) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            if fa == fb {
                *g = Value::Number(a.clone());
                return Ok(true);
            }
            if fb.abs() >= EXACT {
                return Err((
                    Vec::new(),
                    format!(
                        "was changed to {b}, past the integers a double holds exactly: a JSON tool may have rounded it \
                         (Debian's jq 1.6 does); write it with a tool that keeps integers (jq 1.7)"
                    ),
                ));
            }
            Ok(false)
        }
        (Value::Object(a), Value::Object(b)) => {
            let mut equal = a.len() == b.len();
            for (k, v) in b.iter_mut() {
                equal &= match a.get(k) {
                    Some(w) => reconcile_at(w, v).map_err(at(|| k.clone()))?,
                    None => check_exact(v).map(|()| false).map_err(at(|| k.clone()))?,
                };
            }
            Ok(equal)
        }
        (Value::Array(a), Value::Array(b)) => {
            let mut equal = a.len() == b.len();
            for (i, v) in b.iter_mut().enumerate() {
                equal &= match a.get(i) {
                    Some(w) => reconcile_at(w, v).map_err(at(|| format!("[{i}]")))?,
                    None => check_exact(v).map(|()| false).map_err(at(|| format!("[{i}]")))?,
                };
            }
            Ok(equal)
        }
        (w, g) => {
            check_exact(g)?;
            Ok(*w == *g)
        }
    }
}

/// A new number past a double's exact range (nothing to compare it with) is refused too.
fn check_exact(v: &Value) -> Result<(), Refused> {
    match v {
        Value::Number(n) if n.is_f64() && n.as_f64().is_some_and(|f| f.abs() >= EXACT && f.fract() == 0.0) => Err((
            Vec::new(),
            format!("is {n}, past the integers a double holds exactly: a JSON tool may have rounded it"),
        )),
        Value::Object(m) => m.iter().try_for_each(|(k, v)| check_exact(v).map_err(at(|| k.clone()))),
        Value::Array(a) => a.iter().enumerate().try_for_each(|(i, v)| check_exact(v).map_err(at(|| format!("[{i}]")))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reshifter_k8s::pb::{Msg, k8s_envelope};
    use serde_json::json;

    #[test]
    fn an_objects_text_is_judged_alone_only_when_its_value_shows_everything() {
        let api = ApiServer::default();
        let key = b"/registry/configmaps/default/c";
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": "default", "creationTimestamp": "2002-01-01T01:01:01Z"},
            "data": {"k": "v"}});
        let value = codec::encode_object(&object).unwrap();
        // Fields in another order, resourceVersion given: the same bytes, the value stands.
        let text = br#"{"data":{"k":"v"},"metadata":{"resourceVersion":"9","creationTimestamp":"2002-01-01T01:01:01Z","namespace":"default","name":"c"},"kind":"ConfigMap","apiVersion":"v1"}"#;
        assert_eq!(encode_text(key, &value, text, &api), Some(None));
        // Edited: the bytes the object encodes to.
        let mut edited = object.clone();
        edited["metadata"]["labels"] = json!({"a": "b"});
        let written = encode_text(key, &value, &serde_json::to_vec(&edited).unwrap(), &api);
        assert_eq!(written, Some(Some(codec::encode_object(&edited).unwrap())));
        // Renamed, retyped, a number past 2^53, a field the schema lacks, not JSON: the long way.
        for other in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "default"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c", "namespace": "default"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default",
                "generation": 9_007_199_254_740_993_u64}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "x": 1}),
        ] {
            assert_eq!(encode_text(key, &value, &serde_json::to_vec(&other).unwrap(), &api), None, "{other}");
        }
        assert_eq!(encode_text(key, &value, b"{\"apiVersion\":", &api), None);
        // A Time with nanoseconds (its JSON shows seconds): the long way, which keeps the value.
        let mut t = Msg::new();
        t.int(1, 1_009_846_861).int(2, 999);
        let mut meta = Msg::new();
        meta.str(1, "c").str(3, "default").msg(8, &t);
        let value = k8s_envelope("v1", "ConfigMap", &Msg::new().msg(1, &meta).clone().into_bytes());
        let text = br#"{"metadata":{"resourceVersion":"9","creationTimestamp":"2002-01-01T01:01:01Z","namespace":"default","name":"c"},"kind":"ConfigMap","apiVersion":"v1"}"#;
        assert_eq!(encode_text(key, &value, text, &api), None);
        let Outcome::Object(was) = open(key, &value, 9, &api) else { panic!() };
        let mut given: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(reconcile(&was.object, &mut given), Ok(true));
    }

    #[test]
    fn json_and_cbor_objects_open_and_write_back() {
        let v = br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":3}}
"#;
        let Outcome::Object(o) = open(b"/registry/example.com/widgets/default/w", v, 42, &ApiServer::default()) else {
            panic!()
        };
        assert_eq!((o.encoding, o.object["metadata"]["resourceVersion"].as_str()), (Encoding::Json, Some("42")));
        assert_eq!(encode(b"k", &o, o.object.clone(), None).unwrap(), v.to_vec());

        let mut cbor = CBOR_MAGIC.to_vec();
        ciborium::into_writer(
            &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"n": [1, "a"]}}),
            &mut cbor,
        )
        .unwrap();
        let Outcome::Object(o) = open(b"k", &cbor, 7, &ApiServer::default()) else { panic!() };
        assert_eq!(o.encoding, Encoding::Cbor);
        assert_eq!(o.object["spec"]["n"], json!([1, "a"]));
        assert_eq!(encode(b"k", &o, o.object.clone(), None).unwrap(), cbor);

        for other in [&b"10.0.0.0/24"[..], b"{\"not\":\"k8s\"}", b"{broken", b""] {
            assert!(matches!(open(b"k", other, 1, &ApiServer::default()), Outcome::NotObject), "{other:?}");
        }
        assert!(matches!(open(b"k", b"k8s:enc:aescbc:v1:key1:xxxx", 1, &ApiServer::default()), Outcome::Encrypted));
        assert!(matches!(open(b"k", b"k8s\0\x0a\x02", 1, &ApiServer::default()), Outcome::Failed(_)));
    }
}
