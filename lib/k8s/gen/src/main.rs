//! reshifter-k8s-gen: the Kubernetes schema of reshifter's object codec
//! (`lib/k8s/src/codec/schema.rs`), generated from the API definitions themselves — the
//! `generated.proto` files of kubernetes/api, apimachinery, apiextensions-apiserver and
//! kube-aggregator, releases 1.33 to 1.36 and the development branch (`../shared/k8s-api`) —
//! parsed with protox-parse, no protoc.
//!
//! Messages are the union of the releases, the newest definition winning (an etcd written by an
//! older API server holds kinds later releases dropped). Every reference is by name; the output
//! is one message per block and one field per line, so that a change of Kubernetes is a diff a
//! reviewer can read. Nothing is guessed: a field whose JSON name or embedding is not
//! established by the rules below fails the generation, naming it.
//!
//! ```text
//! cargo run --manifest-path lib/k8s/gen/Cargo.toml               # write lib/k8s/src/codec/schema.rs
//! cargo run --manifest-path lib/k8s/gen/Cargo.toml -- --check   # exit 1 when it differs (CI)
//! ```
//!
//! JSON names: go-to-protobuf names a field after its JSON tag, except in the few places listed
//! in [`JSON_NAMES`]. Embedded Go structs (`json:",inline"`), whose fields are written in the
//! parent's JSON object, are a protobuf field like any other: [`INLINE`] lists them, and a
//! message-typed field named after its type that neither [`INLINE`] nor [`NOT_INLINE`] lists is
//! refused, because it may be one.

#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorProto};

/// The releases read, oldest first: a newer definition of a message replaces an older one.
const RELEASES: &[&str] = &["v1.33.13", "v1.34.10", "v1.35.7", "v1.36.3", "main-2026-07"];

/// Where the file goes, from the repository's root.
const OUT: &str = "lib/k8s/src/codec/schema.rs";

/// Fields whose JSON name is not their protobuf name: (message, field) → JSON name.
const JSON_NAMES: &[(&str, &str, &str)] = &[
    ("JSONSchemaProps", "ref", "$ref"),
    ("JSONSchemaProps", "schema", "$schema"),
    ("JSONSchemaProps", "xKubernetesPreserveUnknownFields", "x-kubernetes-preserve-unknown-fields"),
    ("JSONSchemaProps", "xKubernetesEmbeddedResource", "x-kubernetes-embedded-resource"),
    ("JSONSchemaProps", "xKubernetesIntOrString", "x-kubernetes-int-or-string"),
    ("JSONSchemaProps", "xKubernetesListMapKeys", "x-kubernetes-list-map-keys"),
    ("JSONSchemaProps", "xKubernetesListType", "x-kubernetes-list-type"),
    ("JSONSchemaProps", "xKubernetesMapType", "x-kubernetes-map-type"),
    ("JSONSchemaProps", "xKubernetesValidations", "x-kubernetes-validations"),
    // apiextensions v1beta1 named the column's path in capitals; v1 says jsonPath.
    ("CustomResourceColumnDefinition", "JSONPath", "JSONPath"),
    // FieldsV1's one field is read as the JSON it holds (a special form): its name never shows.
    ("FieldsV1", "Raw", "Raw"),
    // Fields whose protobuf name is the Go name (`protobuf:"...,name=Port"`): the JSON tag says.
    ("DaemonEndpoint", "Port", "Port"),
    ("MutatingWebhookConfiguration", "Webhooks", "webhooks"),
    ("ValidatingWebhookConfiguration", "Webhooks", "webhooks"),
    ("Validation", "Expression", "expression"),
    ("Variable", "Name", "name"),
    ("Variable", "Expression", "expression"),
    // Go names of initialisms lower-cased by their first letter only (`APIGroup` → `aPIGroup`).
    ("BoundObjectReference", "uID", "uid"),
    ("IngressClassParametersReference", "aPIGroup", "apiGroup"),
    // The array member of a union the codec writes as the array itself: its name never shows.
    ("JSONSchemaPropsOrArray", "jSONSchemas", "jSONSchemas"),
];

/// Embedded Go structs (`json:",inline"`): (message, field) whose fields the parent's JSON holds.
const INLINE: &[(&str, &str)] = &[
    ("ConfigMapEnvSource", "localObjectReference"),
    ("ConfigMapKeySelector", "localObjectReference"),
    ("ConfigMapProjection", "localObjectReference"),
    ("ConfigMapVolumeSource", "localObjectReference"),
    ("SecretEnvSource", "localObjectReference"),
    ("SecretKeySelector", "localObjectReference"),
    ("SecretProjection", "localObjectReference"),
    ("EphemeralContainer", "ephemeralContainerCommon"),
    ("PersistentVolumeSpec", "persistentVolumeSource"),
    ("Probe", "handler"),
    ("Volume", "volumeSource"),
    ("IngressRule", "ingressRuleValue"),
    ("NamedRuleWithOperations", "ruleWithOperations"),
    ("RuleWithOperations", "rule"),
    ("DeviceAllocationConfiguration", "deviceConfiguration"),
    ("DeviceClaimConfiguration", "deviceConfiguration"),
    ("DeviceClassConfiguration", "deviceConfiguration"),
];

/// Field names that are named after their message type and are ordinary fields (their JSON is
/// nested), wherever they appear; checked against the OpenAPI of the releases when listed.
const NOT_INLINE: &[&str] = &[
    "affinity",
    "aggregationRule",
    "appArmorProfile",
    "applyConfiguration",
    "capabilities",
    "deleteOptions",
    "disruptionMode",
    "fieldsV1",
    "labelSelector",
    "lifecycle",
    "limitResponse",
    "matchResources",
    "modifyVolumeStatus",
    "nodeAffinity",
    "nodeSelector",
    "nonResourceAttributes",
    "overhead",
    "paramKind",
    "paramRef",
    "podAffinity",
    "podAffinityTerm",
    "podAntiAffinity",
    "podFailurePolicy",
    "podSignature",
    "preconditions",
    "quantity",
    "resourceAttributes",
    "roleRef",
    "scheduling",
    "scopeSelector",
    "seccompProfile",
    "securityContext",
    "sessionAffinityConfig",
    "shardInfo",
    "status",
    "successPolicy",
    "time",
    "typeChecking",
    "typeMeta",
    "uncountedTerminatedPods",
    "userInfo",
    "verbs",
    "volumeStatus",
    "webhookClientConfig",
];

/// The API group of each package directory (`k8s.io/api/<dir>/<version>`); a directory missing
/// here fails the generation rather than getting a guessed group.
const GROUPS: &[(&str, &str)] = &[
    ("admission", "admission.k8s.io"),
    ("admissionregistration", "admissionregistration.k8s.io"),
    ("apidiscovery", "apidiscovery.k8s.io"),
    ("apiserverinternal", "internal.apiserver.k8s.io"),
    ("apps", "apps"),
    ("authentication", "authentication.k8s.io"),
    ("authorization", "authorization.k8s.io"),
    ("autoscaling", "autoscaling"),
    ("batch", "batch"),
    ("certificates", "certificates.k8s.io"),
    ("coordination", "coordination.k8s.io"),
    ("core", ""),
    ("discovery", "discovery.k8s.io"),
    ("events", "events.k8s.io"),
    ("extensions", "extensions"),
    ("flowcontrol", "flowcontrol.apiserver.k8s.io"),
    ("imagepolicy", "imagepolicy.k8s.io"),
    ("lifecycle", "lifecycle.k8s.io"),
    ("networking", "networking.k8s.io"),
    ("node", "node.k8s.io"),
    ("policy", "policy"),
    ("rbac", "rbac.authorization.k8s.io"),
    ("resource", "resource.k8s.io"),
    ("scheduling", "scheduling.k8s.io"),
    ("storage", "storage.k8s.io"),
    ("storagemigration", "storagemigration.k8s.io"),
];

/// Packages outside k8s.io/api that hold kinds: package prefix → API group.
const OTHER_GROUPS: &[(&str, &str)] = &[
    ("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.", "apiextensions.k8s.io"),
    ("k8s.io.kube_aggregator.pkg.apis.apiregistration.", "apiregistration.k8s.io"),
    ("k8s.io.apimachinery.pkg.apis.meta.", "meta.k8s.io"),
];

/// One field as the schema holds it.
#[derive(Clone, Debug, PartialEq)]
struct FieldDef {
    tag: i32,
    name: String,
    repeated: bool,
    ty: Type,
    /// Resolved full name of a message-typed field.
    type_name: Option<String>,
}

#[derive(Clone, Debug)]
struct MessageDef {
    fields: Vec<FieldDef>,
    /// A `map<K, V>` entry (its key is field 1, its value field 2).
    map_entry: bool,
    /// A Go slice type given a message of its own (`+protobuf.nullable=true`, one repeated field
    /// `items`: ExtraValue, Verbs): its JSON is the array.
    items: bool,
    /// The release its definition comes from.
    release: &'static str,
}

type Messages = BTreeMap<String, MessageDef>;

/// One line on stderr, under the generator's name: what it says is diagnostics, not data, and a
/// closed stderr does not stop it.
fn say(msg: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "reshifter-k8s-gen: {msg}");
}

fn fail(msg: String) -> ! {
    say(msg);
    std::process::exit(2)
}

/// Every `generated.proto` under `dir`, sorted.
fn protos(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            protos(&p, out);
        } else if p.file_name().is_some_and(|n| n == "generated.proto") {
            out.push(p);
        }
    }
}

/// The messages of one file (nested ones under their parent's name), types unresolved, with the
/// comment before each top-level message.
fn collect(file: &FileDescriptorProto, into: &mut Vec<(String, DescriptorProto, String)>) {
    fn walk(prefix: &str, m: &DescriptorProto, comment: &str, into: &mut Vec<(String, DescriptorProto, String)>) {
        let full = format!("{prefix}.{}", m.name());
        for n in &m.nested_type {
            walk(&full, n, "", into);
        }
        into.push((full, m.clone(), comment.to_string()));
    }
    let comment = |i: usize| -> String {
        let Some(info) = &file.source_code_info else { return String::new() };
        info.location
            .iter()
            .find(|l| l.path == [4, i as i32])
            .map(|l| {
                let mut c: Vec<String> = l.leading_detached_comments.clone();
                c.extend(l.leading_comments.clone());
                c.join("\n")
            })
            .unwrap_or_default()
    };
    for (i, m) in file.message_type.iter().enumerate() {
        walk(file.package(), m, &comment(i), into);
    }
}

/// The full name a type reference means, by protobuf's scoping: innermost scope first.
fn resolve(name: &str, scope: &str, known: &BTreeSet<String>) -> Option<String> {
    if let Some(abs) = name.strip_prefix('.') {
        return known.contains(abs).then(|| abs.to_string());
    }
    let mut s = scope.to_string();
    loop {
        let candidate = if s.is_empty() { name.to_string() } else { format!("{s}.{name}") };
        if known.contains(&candidate) {
            return Some(candidate);
        }
        match s.rfind('.') {
            Some(i) => s.truncate(i),
            None if !s.is_empty() => s.clear(),
            None => return None,
        }
    }
}

/// Read every release; the union of their messages, the newest definition winning.
fn read_all(api: &Path) -> Messages {
    let mut raw: BTreeMap<String, (DescriptorProto, &'static str, String)> = BTreeMap::new();
    for release in RELEASES {
        let dir = api.join(release);
        let mut files = Vec::new();
        protos(&dir, &mut files);
        if files.is_empty() {
            fail(format!("no generated.proto under {}: is ../shared/k8s-api there?", dir.display()));
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_else(|e| fail(format!("{}: {e}", f.display())));
            let name = f.strip_prefix(&dir).unwrap_or(&f).display().to_string();
            let parsed = protox_parse::parse(&name, &text).unwrap_or_else(|e| fail(format!("{}: {e}", f.display())));
            let mut found = Vec::new();
            collect(&parsed, &mut found);
            for (full, m, comment) in found {
                // apimachinery's test group is no API a cluster serves.
                if !full.starts_with("k8s.io.apimachinery.pkg.apis.testapigroup.") {
                    raw.insert(full, (m, release, comment));
                }
            }
        }
    }
    let known: BTreeSet<String> = raw.keys().cloned().collect();
    let mut out = Messages::new();
    for (full, (m, release, comment)) in &raw {
        let mut fields = Vec::new();
        for f in &m.field {
            let ty = f.r#type();
            let type_name = if matches!(ty, Type::Message | Type::Enum) || f.type_name.is_some() {
                let t = f.type_name();
                Some(
                    resolve(t, full, &known)
                        .unwrap_or_else(|| fail(format!("{full}.{}: the type {t} is defined in no release", f.name()))),
                )
            } else {
                None
            };
            // protox-parse leaves a named type's kind open until resolution: a known name is a
            // message (the Kubernetes API defines no enums).
            let ty = if type_name.is_some() { Type::Message } else { ty };
            fields.push(FieldDef {
                tag: f.number(),
                name: f.name().to_string(),
                repeated: f.label() == Label::Repeated,
                ty,
                type_name,
            });
        }
        fields.sort_by_key(|f| f.tag);
        let map_entry = m.options.as_ref().is_some_and(|o| o.map_entry());
        let items = comment.contains("+protobuf.nullable=true")
            && matches!(fields.as_slice(), [f] if f.name == "items" && f.repeated);
        out.insert(full.clone(), MessageDef { fields, map_entry, items, release });
    }
    out
}

fn short(full: &str) -> &str {
    full.rsplit('.').next().unwrap_or(full)
}

/// The identifier of a message's static: the package after `k8s.io`, then the name.
fn ident(full: &str) -> String {
    let rest = full.strip_prefix("k8s.io.").unwrap_or(full);
    let mut out = String::new();
    let mut prev_lower = false;
    for c in rest.chars() {
        if c == '.' || c == '-' || c == '_' {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        } else if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c);
            prev_lower = false;
        } else {
            out.push(c.to_ascii_uppercase());
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

fn lower_camel(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// The field's JSON name, or why it cannot be established.
fn json_name(msg: &str, f: &FieldDef) -> Result<String, String> {
    if let Some((_, _, j)) = JSON_NAMES.iter().find(|(m, n, _)| *m == short(msg) && *n == f.name) {
        return Ok(j.to_string());
    }
    // A Go name rather than a JSON tag: capitalized, or an initialism lower-cased by its first
    // letter only (`aPIGroup`, `xKubernetesListType`).
    let odd = f.name.contains('_')
        || f.name.starts_with(|c: char| !c.is_ascii_lowercase())
        || f.name[1..].starts_with(|c: char| c.is_ascii_uppercase());
    if odd {
        return Err(format!(
            "{msg}.{}: cannot establish its JSON name (not a lowerCamel JSON tag): add it to JSON_NAMES",
            f.name
        ));
    }
    Ok(f.name.clone())
}

/// Whether a field is an embedded Go struct, or why that cannot be established.
fn inline(msg: &str, f: &FieldDef) -> Result<bool, String> {
    if INLINE.iter().any(|(m, n)| *m == short(msg) && *n == f.name) {
        return Ok(true);
    }
    if NOT_INLINE.contains(&f.name.as_str()) {
        return Ok(false);
    }
    let named_after_type =
        f.type_name.as_deref().is_some_and(|t| !f.repeated && lower_camel(short(t)) == f.name && f.ty == Type::Message);
    if named_after_type {
        return Err(format!(
            "{msg}.{} is named after its type: an embedded Go struct? add it to INLINE or NOT_INLINE",
            f.name
        ));
    }
    Ok(false)
}

/// The Rust expression of a field's kind.
fn kind(msgs: &Messages, f: &FieldDef, inline: bool) -> Result<String, String> {
    let scalar = |t: Type| -> Option<&'static str> {
        Some(match t {
            Type::String => "FieldType::Str",
            Type::Int32 => "FieldType::I32",
            Type::Int64 => "FieldType::I64",
            Type::Bool => "FieldType::Bool",
            Type::Bytes => "FieldType::Bytes",
            Type::Double => "FieldType::F64",
            _ => return None,
        })
    };
    if let Some(k) = scalar(f.ty) {
        return Ok(k.to_string());
    }
    let t = f.type_name.as_deref().ok_or_else(|| format!("field {} has type {:?}", f.name, f.ty))?;
    let m = &msgs[t];
    if m.map_entry {
        let value = m.fields.iter().find(|v| v.tag == 2).ok_or_else(|| format!("{t}: a map entry without value"))?;
        let key = m.fields.iter().find(|v| v.tag == 1).ok_or_else(|| format!("{t}: a map entry without key"))?;
        if key.ty != Type::String {
            return Err(format!("{t}: a map whose keys are not strings"));
        }
        return Ok(format!("FieldType::MapOf(&{})", kind(msgs, value, false)?));
    }
    Ok(format!("FieldType::{}(&{})", if inline { "Inline" } else { "Msg" }, ident(t)))
}

/// The API version of a package that holds kinds (`apps/v1`, `v1`), if it does.
fn api_version(package: &str) -> Result<Option<String>, String> {
    if let Some(rest) = package.strip_prefix("k8s.io.api.") {
        let (dir, version) = rest.split_once('.').ok_or_else(|| format!("package {package}"))?;
        let group = GROUPS.iter().find(|(d, _)| *d == dir).map(|(_, g)| *g).ok_or_else(|| {
            format!("package {package}: the API group of k8s.io/api/{dir} is not known: add it to GROUPS")
        })?;
        return Ok(Some(if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }));
    }
    for (prefix, group) in OTHER_GROUPS {
        if let Some(version) = package.strip_prefix(prefix) {
            return Ok(Some(format!("{group}/{version}")));
        }
    }
    Ok(None)
}

fn generate(msgs: &Messages) -> Result<String, Vec<String>> {
    let mut errors = Vec::new();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// Generated by reshifter-k8s-gen (lib/k8s/gen) from the Kubernetes API definitions,\n\
         // the generated.proto files of {} (../shared/k8s-api), the newest\n\
         // definition of each message winning. Do not edit: change the generator and run it again (CI runs it with\n\
         // --check).\n",
        RELEASES.join(", ")
    );
    out.push_str("use super::{Field, FieldType, Message};\n");
    let mut kinds: Vec<(String, String, String)> = Vec::new();
    let mut used_inline = BTreeSet::new();
    for (full, m) in msgs {
        if m.map_entry {
            continue;
        }
        let _ = writeln!(out, "\n/// From {}.", m.release);
        let _ = writeln!(out, "pub static {}: Message = Message {{", ident(full));
        let _ = writeln!(out, "    name: \"{full}\",");
        if m.items {
            out.push_str("    items: true,\n");
        } else {
            out.push_str("    items: false,\n");
        }
        if m.fields.is_empty() {
            out.push_str("    fields: &[],\n");
        } else {
            out.push_str("    fields: &[\n");
            for f in &m.fields {
                let line = json_name(full, f).and_then(|json| {
                    let inl = inline(full, f)?;
                    if inl {
                        used_inline.insert((short(full).to_string(), f.name.clone()));
                    }
                    let k = kind(msgs, f, inl)?;
                    // A map is a repeated field of entries on the wire, one JSON object.
                    let repeated = f.repeated && !k.starts_with("FieldType::MapOf");
                    Ok(format!(
                        "        Field {{ tag: {}, json: \"{json}\", ty: {k}, repeated: {repeated} }},\n",
                        f.tag
                    ))
                });
                match line {
                    Ok(l) => out.push_str(&l),
                    Err(e) => errors.push(e),
                }
            }
            out.push_str("    ],\n");
        }
        out.push_str("};\n");
        let package = &full[..full.len() - short(full).len() - 1];
        match api_version(package) {
            Ok(Some(api)) => kinds.push((api, short(full).to_string(), ident(full))),
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    for (m, n) in INLINE {
        if !used_inline.contains(&(m.to_string(), n.to_string())) {
            errors.push(format!("INLINE lists {m}.{n}, which no release defines: remove it"));
        }
    }
    kinds.sort();
    out.push_str(
        "\n/// Every message of an API group by (apiVersion, kind), sorted: what a value's envelope names.\n\
         pub static KINDS: &[(&str, &str, &Message)] = &[\n",
    );
    for (api, kind, id) in &kinds {
        let _ = writeln!(out, "    (\"{api}\", \"{kind}\", &{id}),");
    }
    out.push_str("];\n");
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    let mut api = root.join("../shared/k8s-api");
    let mut check = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => check = true,
            "--api" => api = PathBuf::from(args.next().unwrap_or_else(|| fail("--api needs a directory".into()))),
            other => fail(format!("unknown argument {other:?} (--check, --api DIR)")),
        }
    }
    let msgs = read_all(&api);
    let text = match generate(&msgs) {
        Ok(t) => t,
        Err(errors) => {
            for e in &errors {
                say(e);
            }
            say(format_args!("{} fields cannot be established; nothing written", errors.len()));
            return ExitCode::from(2);
        }
    };
    let out = root.join(OUT);
    let count = msgs.values().filter(|m| !m.map_entry).count();
    if check {
        let now = std::fs::read_to_string(&out).unwrap_or_default();
        if now != text {
            say(format_args!(
                "{OUT} is not what the API definitions give: run cargo run --manifest-path lib/k8s/gen/Cargo.toml"
            ));
            return ExitCode::from(1);
        }
        say(format_args!("{OUT} is current ({count} messages)"));
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::write(&out, text) {
        fail(format!("cannot write {}: {e}", out.display()));
    }
    say(format_args!("{count} messages from {} releases -> {OUT}", RELEASES.len()));
    ExitCode::SUCCESS
}
