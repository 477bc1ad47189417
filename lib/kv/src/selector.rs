//! kubectl's label and field selectors, on the objects a stream's values hold (decoded as
//! kv-decode decodes them).
//!
//! Label selectors: `app=web`, `app==web`, `tier!=db`, `env in (prod,staging)`, `env notin (dev)`,
//! `app` (has the label), `!app` (has not), joined by commas (all must hold), as kubectl reads them.
//!
//! Field selectors: `PATH=VALUE`, `PATH==VALUE`, `PATH!=VALUE` joined by commas, where PATH is any
//! dotted path into the object (`metadata.name`, `status.phase`, `spec.nodeName`,
//! `metadata.ownerReferences.kind`) — a superset of the fields the API server allows per kind.
//! A missing field is the empty string (`spec.nodeName=` selects unscheduled pods), numbers and
//! booleans compare as their JSON text, and a path through a list holds when any element's value
//! equals (`=`), or when none does (`!=`).

use serde_json::Value;

/// Why a selector cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct SelectorError(String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Label {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldReq {
    path: Vec<String>,
    value: String,
    equal: bool,
}

/// Label and field selectors together (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: Vec<Label>,
    fields: Vec<FieldReq>,
}

/// Split at commas outside parentheses.
fn split_top(s: &str) -> Result<Vec<&str>, SelectorError> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(SelectorError(format!("unbalanced parentheses in {s:?}")));
        }
    }
    if depth != 0 {
        return Err(SelectorError(format!("unbalanced parentheses in {s:?}")));
    }
    out.push(&s[start..]);
    if s.trim().is_empty() {
        // An empty selector selects everything, as kubectl's does.
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = out.into_iter().map(str::trim).collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(SelectorError(format!("{s:?}: an empty requirement (a comma too many)")));
    }
    Ok(parts)
}

/// A label value as the API server takes it: empty, or up to 63 characters of letters, digits,
/// `-`, `_` and `.`, starting and ending with a letter or digit.
fn label_value(v: &str, whole: &str) -> Result<String, SelectorError> {
    let b = v.as_bytes();
    let ok = v.is_empty()
        || (v.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if ok { Ok(v.to_string()) } else { Err(SelectorError(format!("{whole:?}: {v:?} is not a label value"))) }
}

fn label_key(k: &str, whole: &str) -> Result<String, SelectorError> {
    let ok = !k.is_empty()
        && k.len() <= 317
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok { Ok(k.to_string()) } else { Err(SelectorError(format!("{whole:?}: {k:?} is not a label key"))) }
}

fn set(rest: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError(format!("{whole:?}: expected a set of values in parentheses")))?;
    if inner.trim().is_empty() {
        return Err(SelectorError(format!("{whole:?}: the set of values is empty")));
    }
    inner
        .split(',')
        .map(|v| match v.trim() {
            "" => Err(SelectorError(format!("{whole:?}: an empty value in the set"))),
            v => label_value(v, whole),
        })
        .collect()
}

fn parse_label(req: &str) -> Result<Label, SelectorError> {
    if let Some(k) = req.strip_prefix('!') {
        return Ok(Label::Absent(label_key(k.trim(), req)?));
    }
    for (op, ne) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = req.split_once(op) {
            let (k, v) = (label_key(k.trim(), req)?, label_value(v.trim(), req)?);
            return Ok(if ne { Label::Ne(k, v) } else { Label::Eq(k, v) });
        }
    }
    let mut words = req.splitn(2, char::is_whitespace);
    let key = label_key(words.next().unwrap_or(""), req)?;
    let rest = words.next().unwrap_or("").trim_start();
    if rest.is_empty() {
        return Ok(Label::Exists(key));
    }
    if let Some(r) = rest.strip_prefix("notin") {
        return Ok(Label::NotIn(key, set(r, req)?));
    }
    if let Some(r) = rest.strip_prefix("in") {
        return Ok(Label::In(key, set(r, req)?));
    }
    Err(SelectorError(format!("{req:?}: expected =, ==, !=, in (...), notin (...), KEY or !KEY")))
}

fn parse_field(req: &str) -> Result<FieldReq, SelectorError> {
    for (op, equal) in [("!=", false), ("==", true), ("=", true)] {
        if let Some((p, v)) = req.split_once(op) {
            let path: Vec<String> = p.trim().split('.').map(String::from).collect();
            if path.iter().any(String::is_empty) {
                return Err(SelectorError(format!("{req:?}: {:?} is not a field path", p.trim())));
            }
            if v.contains(['=', '!']) {
                return Err(SelectorError(format!("{req:?}: more than one operator")));
            }
            return Ok(FieldReq { path, value: v.trim().to_string(), equal });
        }
    }
    Err(SelectorError(format!("{req:?}: expected FIELD=VALUE, FIELD==VALUE or FIELD!=VALUE")))
}

impl Selector {
    /// Parse kubectl's `-l` and `--field-selector` texts (each may be repeated: all must hold).
    pub fn new(labels: &[String], fields: &[String]) -> Result<Selector, SelectorError> {
        let mut s = Selector::default();
        for l in labels {
            for req in split_top(l)? {
                s.labels.push(parse_label(req)?);
            }
        }
        for f in fields {
            for req in split_top(f)? {
                s.fields.push(parse_field(req)?);
            }
        }
        Ok(s)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Does the object hold every requirement?
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|m| m.get(k)).and_then(Value::as_str);
        let labels_hold = self.labels.iter().all(|r| match r {
            Label::Eq(k, v) => label(k) == Some(v.as_str()),
            Label::Ne(k, v) => label(k) != Some(v.as_str()),
            Label::In(k, vs) => label(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Label::NotIn(k, vs) => label(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            Label::Exists(k) => label(k).is_some(),
            Label::Absent(k) => label(k).is_none(),
        });
        labels_hold
            && self.fields.iter().all(|f| {
                let mut found = Vec::new();
                values_at(object, &f.path, &mut found);
                let any = found.contains(&f.value);
                if f.equal { any } else { !any }
            })
    }
}

/// The text of every value at `path` (through lists), "" when a field is missing.
fn values_at(v: &Value, path: &[String], out: &mut Vec<String>) {
    match (v, path.split_first()) {
        (Value::Array(items), Some(_)) => items.iter().for_each(|x| values_at(x, path, out)),
        (Value::Object(o), Some((first, rest))) => match o.get(first) {
            Some(x) => values_at(x, rest, out),
            None => out.push(String::new()),
        },
        (_, Some(_)) | (Value::Null, None) => out.push(String::new()),
        (Value::String(s), None) => out.push(s.clone()),
        (Value::Array(items), None) => items.iter().for_each(|x| values_at(x, &[], out)),
        (other, None) => out.push(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(l: &str, f: &str) -> Selector {
        let v = |s: &str| if s.is_empty() { vec![] } else { vec![s.to_string()] };
        Selector::new(&v(l), &v(f)).unwrap()
    }

    #[test]
    fn label_selectors_as_kubectl_reads_them() {
        let web = json!({"metadata": {"labels": {"app": "web", "tier": "front", "env": "prod"}}});
        let db = json!({"metadata": {"labels": {"app": "db", "tier": "db"}}});
        let none = json!({"metadata": {}});
        for (s, want) in [
            ("app=web", [true, false, false]),
            ("app==web,tier!=db", [true, false, false]),
            ("tier!=db", [true, false, true]),
            ("env in (prod, staging)", [true, false, false]),
            ("env notin (prod)", [false, true, true]),
            ("app", [true, true, false]),
            ("!env", [false, true, true]),
            ("app in (web,db),!env", [false, true, false]),
        ] {
            let s = sel(s, "");
            assert_eq!([s.matches(&web), s.matches(&db), s.matches(&none)], want, "{s:?}");
        }
        for bad in [
            "app in prod",
            "a b c",
            "=x",
            "env in (a",
            "ke y=1",
            "a notin ()",
            "a in (x,)",
            "a=b,",
            ",a=b",
            "a=b,,c=d",
            "a==b==c",
            "a=-x",
            "a=x y",
        ] {
            assert!(Selector::new(&[bad.into()], &[]).is_err(), "{bad}");
        }
        assert_eq!(
            Selector::new(&["app ~ web".into()], &[]).unwrap_err().to_string(),
            "\"app ~ web\": expected =, ==, !=, in (...), notin (...), KEY or !KEY"
        );
        assert!(Selector::new(&["".into()], &[]).unwrap().is_empty(), "an empty selector selects everything");
        for bad in ["a==b==c", "a=b,", "a!=b=c"] {
            assert!(Selector::new(&[], &[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors_by_path_through_lists() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default",
            "ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]},
            "spec": {"replicas": 3, "hostNetwork": false}, "status": {"phase": "Running"}});
        for (s, want) in [
            ("metadata.name=p", true),
            ("metadata.name=p,status.phase==Running", true),
            ("status.phase!=Running", false),
            ("spec.nodeName=", true),
            ("spec.nodeName!=", false),
            ("metadata.ownerReferences.kind=ReplicaSet", true),
            ("metadata.ownerReferences.kind!=ReplicaSet", false),
            ("metadata.ownerReferences.kind=Job", false),
            ("spec.replicas=3", true),
            ("spec.hostNetwork=false", true),
        ] {
            assert_eq!(sel("", s).matches(&pod), want, "{s}");
        }
        assert_eq!(
            Selector::new(&[], &["metadata..name=x".into()]).unwrap_err().to_string(),
            "\"metadata..name=x\": \"metadata..name\" is not a field path"
        );
    }
}
