#!/usr/bin/env python3
"""Generate lib/k8s/src/codec/schema.rs: the wire schema of every built-in Kubernetes protobuf
message, with the JSON name of each field.

    scripts/gen-k8s-schema.py            # fetches the two crates with cargo, writes the file

Read from two published crates (crates.io), nothing copied from Kubernetes itself:
- k8s-pb (prost types of every built-in kind): messages, field tags, wire types, message types,
  repeated and map fields, and which kinds are resources;
- k8s-openapi (serde types): the JSON name of each field ("podIPs", "hostIP"), because prost's
  snake_case names are lossy (`podIPs` and `podIps` both become `pod_ips`).
A field is matched to its JSON name by message and by its name with case and underscores
removed; a field k8s-openapi does not have gets the name the other messages use for it, or
lowerCamelCase.
"""

import glob
import os
import re
import subprocess
import sys
import tarfile
import tempfile

K8S_PB = ("k8s-pb", "0.9.0")
K8S_OPENAPI = ("k8s-openapi", "0.29.0", "v1_37")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "lib", "k8s", "src", "codec", "schema.rs")


def fetch(work):
    """The two crates' sources, unpacked from cargo's download cache."""
    proj = os.path.join(work, "fetch")
    os.makedirs(os.path.join(proj, "src"))
    with open(os.path.join(proj, "Cargo.toml"), "w") as f:
        f.write(f'[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\n'
                f'{K8S_PB[0]} = "={K8S_PB[1]}"\n{K8S_OPENAPI[0]} = {{ version = "={K8S_OPENAPI[1]}", features = ["latest"] }}\n')
    open(os.path.join(proj, "src", "lib.rs"), "w").close()
    subprocess.run(["cargo", "fetch", "--manifest-path", os.path.join(proj, "Cargo.toml")], check=True)
    home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    dirs = []
    for name, ver, *_ in (K8S_PB, K8S_OPENAPI):
        crate = glob.glob(os.path.join(home, "registry", "cache", "*", f"{name}-{ver}.crate"))[0]
        with tarfile.open(crate) as t:
            t.extractall(work, filter="data")
        dirs.append(os.path.join(work, f"{name}-{ver}"))
    return dirs


def norm(s):
    return s.replace("_", "").lower()


def openapi_names(src):
    """(module path, struct norm) -> {field norm: json name}; and field norm -> json name overall."""
    per, overall = {}, {}
    base = os.path.join(src, "src", K8S_OPENAPI[2])
    for path in glob.glob(os.path.join(base, "**", "*.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(path), base).replace(os.sep, ".")
        text = open(path).read()
        for m in re.finditer(r"^pub struct (\w+)", text, re.M):
            names = {}
            for f in re.finditer(r'"([A-Za-z0-9$_\-]+)" => Field::Key_(\w+),', text):
                names[norm(f.group(2))] = f.group(1)
                overall.setdefault(norm(f.group(2)), f.group(1))
            per[(rel, norm(m.group(1)))] = names
    return per, overall


ATTR = re.compile(r"#\[prost\((.*?)\)\]", re.S)


def parse_pb(src):
    """Messages: {full name: [(tag, rust name, kind, repeated, type ref, map value kind)]}, and
    resources: [(full name, apiVersion, kind, plural)]."""
    messages, resources = {}, []
    base = os.path.join(src, "src")
    for path in sorted(glob.glob(os.path.join(base, "**", "mod.rs"), recursive=True)):
        mod = os.path.relpath(os.path.dirname(path), base).replace(os.sep, ".")
        text = open(path).read()
        for m in re.finditer(r"^pub struct (\w+) \{(?:\}|\n(.*?)^\})", text, re.M | re.S):
            name, body = m.group(1), m.group(2) or ""
            fields = []
            for a in re.finditer(r"#\[prost\((.*?)\)\]\s*pub (?:r#)?(\w+):\s*(.*?),\n(?=\s*(?:///|#\[|pub |$))", body, re.S):
                attr, rust, ty = a.group(1), a.group(2), " ".join(a.group(3).split())
                doc = doc_word(body[:a.start()])
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                repeated = "repeated" in attr
                mp = re.search(r'(?:btree_)?map = "(\w+), (\w+)"', attr)
                if mp:
                    kind, value = "map", mp.group(2)
                    args = [x for x in ty[ty.index("<") + 1:ty.rindex(">")].split(",") if x.strip()]
                    if len(args) < 2:
                        sys.exit(f"{mod}.{name}.{rust}: map type {ty!r}")
                    ref = resolve(mod, args[1].strip()) if value == "message" else None
                else:
                    kind = attr.split(",")[0].strip()
                    kind = "bytes" if kind.startswith("bytes") else kind
                    value = None
                    ref = resolve(mod, inner(ty)) if kind == "message" else None
                fields.append((tag, rust, kind, repeated, ref, value, doc))
            messages[f"{mod}.{name}"] = fields
        for r in re.finditer(r"impl crate::Resource for (\w+) \{\n\s*const API_VERSION: &'static str = \"([^\"]*)\";"
                             r".*?const KIND: &'static str = \"([^\"]*)\";\s*const URL_PATH_SEGMENT: &'static str = \"([^\"]*)\"",
                             text, re.S):
            resources.append((f"{mod}.{r.group(1)}", r.group(2), r.group(3), r.group(4)))
    return messages, resources


def doc_word(before):
    """The first word of the doc comment just before a field (Kubernetes' comments mostly start
    with the field's JSON name: "insecureSkipTLSVerifyBackend indicates ...")."""
    lines = before.rstrip().split("\n")
    docs = []
    while lines and lines[-1].strip().startswith("///"):
        docs.append(lines.pop().strip()[3:].strip())
    words = docs[-1].split() if docs else []
    return words[0].rstrip(".,:") if words else ""


def inner(ty):
    """The message type inside Option<...>, Vec<...>, Box<...>."""
    ty = ty.replace(" ", "").replace(",>", ">")
    while True:
        m = re.match(r"^(?:::core::option::Option|::prost::alloc::vec::Vec|::prost::alloc::boxed::Box)<(.*)>$", ty)
        if not m:
            return ty
        ty = m.group(1)


def resolve(mod, ty):
    ty = ty.replace(" ", "").strip(">")
    parts = mod.split(".")
    segs = ty.split("::")
    if segs[0] == "crate":
        return ".".join(segs[1:])
    while segs and segs[0] == "super":
        parts = parts[:-1]
        segs = segs[1:]
    return ".".join(parts + segs)


def lower_camel(rust):
    p = rust.split("_")
    return p[0] + "".join(x[:1].upper() + x[1:] for x in p[1:])


def main():
    with tempfile.TemporaryDirectory() as work:
        pb_src, oa_src = fetch(work)
        per, overall = openapi_names(oa_src)
        messages, resources = parse_pb(pb_src)
    names = sorted(messages)
    index = {n: i for i, n in enumerate(names)}
    kinds = {"string": "Str", "int32": "I32", "int64": "I64", "bool": "Bool", "bytes": "Bytes", "double": "F64",
             "message": "Msg"}
    out = [
        "// Generated by scripts/gen-k8s-schema.py from the crates k8s-pb %s (message layouts) and" % K8S_PB[1],
        "// k8s-openapi %s (%s, JSON field names). Do not edit." % (K8S_OPENAPI[1], K8S_OPENAPI[2]),
        "",
        "use super::{Field, Kind, Message, Resource};",
        "",
        "pub static MESSAGES: &[Message] = &[",
    ]
    unmatched = 0
    inlined = []

    def sub_names(ref):
        return {norm(f[1]) for f in messages.get(ref, [])}

    # Types embedded in messages k8s-openapi knows (their fields appear in the parent's JSON)...
    embedded_types = set()
    for n in names:
        jn = per.get(tuple(n.rsplit(".", 1)[:1]) + (norm(n.rsplit(".", 1)[1]),), {})
        for tag, rust, kind, repeated, ref, value, doc in messages[n]:
            if jn and kind == "message" and not repeated and norm(rust) not in jn and sub_names(ref) & set(jn):
                embedded_types.add(ref.rsplit(".", 1)[1])
                # An embedded message's fields are named in its parent.
                key = (ref.rsplit(".", 1)[0], norm(ref.rsplit(".", 1)[1]))
                per.setdefault(key, {})
                for k, v in jn.items():
                    per[key].setdefault(k, v)

    def embedded(n, rust, ref, jn):
        if jn:
            return bool(sub_names(ref) & set(jn))
        # ... and, in messages it does not know, fields named after such a type.
        t = ref.rsplit(".", 1)[1]
        return t in embedded_types and norm(rust) == norm(t)
    for n in names:
        mod, struct = n.rsplit(".", 1)
        jn = per.get((mod, norm(struct)), {})
        fields = []
        for tag, rust, kind, repeated, ref, value, doc in sorted(messages[n]):
            json = jn.get(norm(rust))
            if json is None and kind == "message" and not repeated and embedded(n, rust, ref, jn):
                # A Go struct embedded with `json:",inline"`: its fields are the parent's.
                json = lower_camel(rust)
                kind = "inline"
            # Comments that start with the field's JSON name ("insecureSkipTLSVerifyBackend
            # indicates ...") name it; a capital first letter is the Go name or a sentence.
            named = doc if norm(doc) == norm(rust) and doc[:1].islower() else None
            json = json or named or overall.get(norm(rust))
            if json is None:
                unmatched += 1
                json = lower_camel(rust)
            if kind == "map":
                k = "Map(%s)" % ("Kind::Msg(%d)" % index[ref] if value == "message" else "Kind::" + kinds[value])
                k = k.replace("Map(Kind::", "MapOf(&Kind::")
            elif kind in ("message", "inline"):
                if ref not in index:
                    sys.exit(f"{n}.{rust}: unknown message {ref}")
                k = "%s(%d)" % ("Msg" if kind == "message" else "Inline", index[ref])
                if kind == "inline":
                    inlined.append(f"{n}.{json}")
            else:
                k = kinds[kind]
            fields.append('Field { tag: %d, json: "%s", kind: Kind::%s, repeated: %s }' % (tag, json, k, "true" if repeated else "false"))
        out.append('    Message { name: "%s", fields: &[%s] },' % (n, ", ".join(fields)))
    out.append("];")
    out.append("")
    out.append("pub static RESOURCES: &[Resource] = &[")
    for full, api, kind, plural in sorted(resources):
        out.append('    Resource { message: %d, api_version: "%s", kind: "%s", plural: "%s" },' % (index[full], api, kind, plural))
    out.append("];")
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print("inline: " + ", ".join(inlined), file=sys.stderr)
    print(f"gen-k8s-schema: {len(names)} messages, {len(resources)} resources, {unmatched} fields named by fallback -> {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
