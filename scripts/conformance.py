#!/usr/bin/env python3
"""An independent validator of the reshifter stream and archive formats, written from
docs/FORMAT.md alone (it shares no code with the Rust tools). The tests run it over every tool's
output, so that the spec and the code cannot drift apart.

    scripts/conformance.py stream FILE|-      a stream (format 1 or 2; a keyspace, delta or files stream)
    scripts/conformance.py archive FILE       a native ZIP archive (not encrypted) of either kind

Exit 0 and one summary line on stdout when the input conforms; exit 1 and the first violation on
stderr otherwise. Canonical checks (what our writers must do, beyond what readers must accept)
are on: plain bytes as `key`/`value`, base64 otherwise, fields in the documented order.
"""

import base64
import hashlib
import json
import re
import struct
import subprocess
import sys
import zipfile
import zlib

HEX = re.compile(r"^[0-9a-f]{64}$")
LEASE = re.compile(r"^[0-9a-fA-F]{1,16}$")
RECORD_FIELDS = ["key", "key_b64", "create_revision", "mod_revision", "version", "lease", "object", "object_sha256", "value",
                 "value_b64"]
MAX_VALUE = 64 << 20
MAX_LINE = 96 << 20


class Bad(Exception):
    pass


def u64(n):
    return struct.pack("<Q", n)


def i64(n):
    return struct.pack("<q", n)


def s(b):
    return u64(len(b)) + b


def lease_num(text):
    """A lease id (hex) as the signed 64-bit number the digests use."""
    n = int(text, 16)
    return n - (1 << 64) if n >= 1 << 63 else n


def is_plain(b):
    if any(c < 0x20 and c not in (0x09, 0x0A, 0x0D) for c in b):
        return False
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def claims_sha256(h):
    prefixes = h.get("prefixes") or [""]
    d = hashlib.sha256()
    d.update(s(b"reshifter header claims"))
    d.update(u64(h["format"]))
    d.update(i64(h.get("revision", 0)))
    d.update(bytes([1 if h.get("sorted") else 0, 1 if h.get("complete") else 0]))
    d.update(u64(len(prefixes)))
    for p in prefixes:
        d.update(s(p.encode()))
    leases = h.get("leases", [])
    d.update(u64(len(leases)))
    for l in leases:
        d.update(i64(lease_num(l["id"])) + i64(l["ttl"]) + i64(l["granted_ttl"]))
    d.update(s(h.get("cluster_id", "").encode()))
    if h.get("kind") == "delta":
        d.update(s(b"delta"))
    if h.get("api") == "v2":
        d.update(s(b"v2"))
    if h.get("kind") == "files":
        d.update(s(b"files") + s(h.get("root", "").encode()))
    return d.hexdigest()


def check_header(h):
    if h.get("type") != "header":
        raise Bad("line 1: not a header")
    for f in ("format", "tool", "time"):
        if f not in h:
            raise Bad(f"line 1: header without {f}")
    if h["format"] not in (1, 2):
        raise Bad(f"line 1: format {h['format']} unknown")
    if h.get("api", "v3") not in ("v2", "v3"):
        raise Bad(f"line 1: api {h['api']!r} unknown")
    if h.get("kind", "full") not in ("full", "delta", "files"):
        raise Bad(f"line 1: kind {h['kind']!r} unknown")
    if h.get("kind") == "files":
        if h["format"] != 2 or h.get("sorted") is not True:
            raise Bad("line 1: a files header must be format 2 and sorted")
        if not str(h.get("root", "")).startswith("/"):
            raise Bad("line 1: a files header must give its root, an absolute path")
    elif h.get("kind") == "delta":
        if h["format"] != 2 or h.get("sorted"):
            raise Bad("line 1: a delta header must be format 2 and not sorted")
    elif h["format"] == 2 and h.get("sorted") is not True:
        raise Bad("line 1: a format-2 header must be sorted")
    if not isinstance(h.get("prefixes", []), list):
        raise Bad("line 1: prefixes is not a list")
    for l in h.get("leases", []):
        if not LEASE.match(l.get("id", "")):
            raise Bad(f"line 1: lease id {l.get('id')!r}")
    if h.get("revision", 0) < 0:
        raise Bad("line 1: negative revision")


class Digests:
    def __init__(self):
        self.count = 0
        self.bytes = 0
        self.content = hashlib.sha256()
        self.meta = hashlib.sha256()

    def add(self, key, value_sha, value_len, cr, mr, ver, lease):
        self.count += 1
        self.bytes += len(key) + value_len
        self.content.update(s(key) + value_sha)
        self.meta.update(s(key) + i64(cr) + i64(mr) + i64(ver) + i64(lease))

    def check(self, h, t, where):
        if t.get("type") != "trailer":
            raise Bad(f"{where}: the last line is not a trailer")
        if t["count"] != self.count:
            raise Bad(f"{where}: trailer count {t['count']} != {self.count}")
        if t["bytes"] != self.bytes:
            raise Bad(f"{where}: trailer bytes {t['bytes']} != {self.bytes}")
        for f, d in (("sha256", self.content), ("meta_sha256", self.meta)):
            if not HEX.match(t.get(f, "")):
                raise Bad(f"{where}: {f} is not 64 lowercase hex digits")
            if t[f] != d.hexdigest():
                raise Bad(f"{where}: {f} does not match the records")
        if h["format"] >= 2:
            if t.get("header_sha256") != claims_sha256(h):
                raise Bad(f"{where}: header_sha256 does not match the header's claims")


def field_bytes(rec, name, n):
    if (name in rec) == (name + "_b64" in rec):
        raise Bad(f"line {n}: exactly one of {name} and {name}_b64 is required")
    if name in rec:
        b = rec[name].encode("utf-8", "surrogatepass")
        if not is_plain(b):
            raise Bad(f"line {n}: {name} is not plain: a writer must use {name}_b64")
        return b
    b = base64.b64decode(rec[name + "_b64"], validate=True)
    if is_plain(b):
        raise Bad(f"line {n}: {name}_b64 holds plain bytes: a writer must use {name}")
    return b


def within(key, prefixes):
    return not prefixes or any(key.startswith(p.encode()) for p in prefixes)


def check_object_digest(line, rec, value, n):
    """kv-decode's object_sha256: SHA-256 of the value's SHA-256 and the object's text as written
    (from after `"object":` to `,"object_sha256":"`)."""
    if "object_sha256" not in rec:
        return
    if "object" not in rec:
        raise Bad(f"line {n}: object_sha256 without object")
    start = line.index(b',"object":') + len(b',"object":')
    end = line.rindex(b',"object_sha256":"')
    want = hashlib.sha256(hashlib.sha256(value).digest() + line[start:end]).hexdigest()
    if rec["object_sha256"] != want:
        raise Bad(f"line {n}: object_sha256 does not match the object and the value")


def check_record(rec, n, h):
    keys = list(rec.keys())
    for k in keys:
        if k not in RECORD_FIELDS:
            raise Bad(f"line {n}: unknown field {k}")
    if keys != sorted(keys, key=RECORD_FIELDS.index):
        raise Bad(f"line {n}: fields out of the documented order")
    if "object" in rec and not (isinstance(rec["object"], dict) and isinstance(rec["object"].get("apiVersion"), str)
                                and isinstance(rec["object"].get("kind"), str)):
        raise Bad(f"line {n}: object is not a Kubernetes object (apiVersion and kind)")
    key = field_bytes(rec, "key", n)
    value = field_bytes(rec, "value", n)
    if not key:
        raise Bad(f"line {n}: empty key")
    if len(value) > MAX_VALUE:
        raise Bad(f"line {n}: value over 64 MiB")
    for f in ("create_revision", "mod_revision", "version"):
        if not isinstance(rec.get(f), int) or rec[f] < 0:
            raise Bad(f"line {n}: {f} missing or negative")
    lease = 0
    if "lease" in rec:
        if not LEASE.match(rec["lease"]):
            raise Bad(f"line {n}: lease {rec['lease']!r}")
        lease = lease_num(rec["lease"])
    if not within(key, h.get("prefixes")):
        raise Bad(f"line {n}: key outside the header's prefixes")
    return key, value, lease


def check_stream(data):
    if not data.endswith(b"\n"):
        raise Bad("the stream does not end with a newline")
    lines = data[:-1].split(b"\n")
    if any(len(l) > MAX_LINE for l in lines):
        raise Bad("a line over 96 MiB")
    objs = [json.loads(l.rstrip(b"\r")) for l in lines]
    if len(objs) < 2:
        raise Bad("a stream needs a header and a trailer")
    h = objs[0]
    check_header(h)
    if h.get("kind") == "files":
        d = check_files(h, objs[1:-1], 2)
        d.check(h, objs[-1], f"line {len(objs)}")
        return f"files stream: {d.count} entries, {d.bytes} bytes under {h['root']}"
    if h.get("kind") == "delta":
        d, last = check_events(h, objs[1:-1], 2)
        d.check(h, objs[-1], last, f"line {len(objs)}")
        return f"delta stream: {d.count} events after revision {h.get('revision', 0)} to {objs[-1]['end_revision']}"
    d = Digests()
    prev = None
    for n, rec in enumerate(objs[1:-1], start=2):
        if "type" in rec:
            raise Bad(f"line {n}: a frame line among the records")
        key, value, lease = check_record(rec, n, h)
        check_object_digest(lines[n - 1], rec, value, n)
        if h.get("sorted") and prev is not None and key <= prev:
            raise Bad(f"line {n}: key not above the one before (order or duplicate)")
        prev = key
        d.add(key, hashlib.sha256(value).digest(), len(value), rec["create_revision"], rec["mod_revision"],
              rec["version"], lease)
    d.check(h, objs[-1], f"line {len(objs)}")
    return f"stream: format {h['format']}, {d.count} records, {d.bytes} bytes, complete={bool(h.get('complete'))}"


EVENT_FIELDS = ["op"] + [f for f in RECORD_FIELDS if f not in ("object", "object_sha256")]


class DeltaDigests:
    """The digests of a delta stream (FORMAT.md, "Delta streams")."""

    def __init__(self):
        self.count = 0
        self.bytes = 0
        self.content = hashlib.sha256()
        self.meta = hashlib.sha256()

    def add(self, op, key, value, cr, mr, ver, lease):
        self.count += 1
        self.bytes += len(key) + len(value)
        self.content.update(bytes([op]) + s(key) + (hashlib.sha256(value).digest() if op == 1 else b""))
        self.meta.update(bytes([op]) + s(key) + i64(cr) + i64(mr) + i64(ver) + i64(lease))

    def check(self, h, t, last_rev, where):
        if t.get("type") != "trailer":
            raise Bad(f"{where}: the last line is not a trailer")
        end = t.get("end_revision")
        if not isinstance(end, int) or end < h.get("revision", 0) or end < last_rev:
            raise Bad(f"{where}: end_revision missing, or before the start or the last event")
        meta = self.meta.copy()
        leases = t.get("leases", [])
        meta.update(s(b"end") + i64(end) + u64(len(leases)))
        for l in leases:
            if not LEASE.match(l.get("id", "")):
                raise Bad(f"{where}: lease id {l.get('id')!r}")
            meta.update(i64(lease_num(l["id"])) + i64(l["ttl"]) + i64(l["granted_ttl"]))
        if (t["count"], t["bytes"]) != (self.count, self.bytes):
            raise Bad(f"{where}: trailer count or bytes do not match the events")
        if t["sha256"] != self.content.hexdigest() or t["meta_sha256"] != meta.hexdigest():
            raise Bad(f"{where}: sha256 or meta_sha256 do not match the events and end claims")
        if t.get("header_sha256") != claims_sha256(h):
            raise Bad(f"{where}: header_sha256 does not match the header's claims")


def check_event(ev, n, h, last_rev):
    keys = list(ev.keys())
    for k in keys:
        if k not in EVENT_FIELDS:
            raise Bad(f"line {n}: unknown field {k}")
    if keys != sorted(keys, key=EVENT_FIELDS.index):
        raise Bad(f"line {n}: fields out of the documented order")
    key = field_bytes(ev, "key", n)
    rev = ev.get("mod_revision")
    if not isinstance(rev, int) or rev <= h.get("revision", 0) or rev < last_rev:
        raise Bad(f"line {n}: mod_revision not after the start, or out of revision order")
    if not within(key, h.get("prefixes")):
        raise Bad(f"line {n}: key outside the header's prefixes")
    if ev["op"] == "delete":
        if set(keys) - {"op", "key", "key_b64", "mod_revision"}:
            raise Bad(f"line {n}: a delete has only op, key and mod_revision")
        return 2, key, b"", 0, rev, 0, 0
    if ev["op"] != "put":
        raise Bad(f"line {n}: op {ev['op']!r}")
    value = field_bytes(ev, "value", n)
    cr, ver = ev.get("create_revision"), ev.get("version")
    if not isinstance(cr, int) or not 1 <= cr <= rev or not isinstance(ver, int) or ver < 1:
        raise Bad(f"line {n}: create_revision or version")
    lease = lease_num(ev["lease"]) if "lease" in ev else 0
    return 1, key, value, cr, rev, ver, lease


def check_events(h, lines, first_line):
    """Event lines (parsed), numbered from `first_line`: their digests and last revision."""
    d = DeltaDigests()
    last = 0
    for n, ev in enumerate(lines, start=first_line):
        if "type" in ev:
            raise Bad(f"line {n}: a frame line among the events")
        op, key, value, cr, rev, ver, lease = check_event(ev, n, h, last)
        last = rev
        d.add(op, key, value, cr, rev, ver, lease)
    return d, last


FILE_FIELDS = ["path", "path_b64", "kind", "mode", "uid", "gid", "user", "group", "mtime", "mtime_nsec", "size",
               "value", "value_b64", "target", "target_b64"]
FILE_KINDS = {"file": 1, "dir": 2, "symlink": 3}


class FilesDigests(Digests):
    """The digests of a files stream (FORMAT.md, "Files streams")."""

    def add_file(self, path, content, kind, f, target):
        self.count += 1
        self.bytes += len(path) + len(content)
        self.content.update(s(path) + hashlib.sha256(content).digest())
        u32 = lambda n: struct.pack("<I", n)
        self.meta.update(s(path) + bytes([FILE_KINDS[kind]]) + u32(int(f["mode"], 8)) + u32(f["uid"]) + u32(f["gid"])
                         + s(f.get("user", "").encode()) + s(f.get("group", "").encode()) + i64(f["mtime"])
                         + u32(f.get("mtime_nsec", 0)) + s(target))


def check_files(h, lines, first_line):
    """Entry lines (parsed), numbered from `first_line`: their digests."""
    d = FilesDigests()
    prev = None
    for n, f in enumerate(lines, start=first_line):
        if "type" in f:
            raise Bad(f"line {n}: a frame line among the entries")
        keys = list(f.keys())
        if any(k not in FILE_FIELDS for k in keys) or keys != sorted(keys, key=FILE_FIELDS.index):
            raise Bad(f"line {n}: unknown fields or fields out of the documented order")
        path = field_bytes(f, "path", n)
        parts = path.split(b"/")
        if path.startswith(b"/") or b"\0" in path or len(path) > 4096 or len(parts) > 64 or \
                any(c in (b"", b".", b"..") for c in parts):
            raise Bad(f"line {n}: path {path!r} is not a relative path inside the root")
        if prev is not None and path <= prev:
            raise Bad(f"line {n}: path not above the one before (order or duplicate)")
        prev = path
        if not within(path, h.get("prefixes")):
            raise Bad(f"line {n}: path outside the header's prefixes")
        kind = f["kind"]
        if kind not in FILE_KINDS:
            raise Bad(f"line {n}: kind {kind!r} is not carried")
        if not re.fullmatch(r"[0-7]{4}", f["mode"]) or not 0 <= f.get("mtime_nsec", 0) < 10**9:
            raise Bad(f"line {n}: mode or mtime_nsec")
        content, target = b"", b""
        has = lambda name: name in f or name + "_b64" in f
        if kind == "file":
            if has("target") or "size" not in f:
                raise Bad(f"line {n}: a file has size and value, no target")
            content = field_bytes(f, "value", n)
            if f["size"] != len(content) or f["size"] > 64 << 20:
                raise Bad(f"line {n}: size does not match the content, or is over 64 MiB")
        elif kind == "symlink":
            if has("value") or "size" in f:
                raise Bad(f"line {n}: a symlink has a target, no value or size")
            target = field_bytes(f, "target", n)
            if not target.startswith(b"/"):
                depth = len(parts) - 1
                for c in target.split(b"/"):
                    depth += {b"": 0, b".": 0, b"..": -1}.get(c, 1)
                    if depth < 0:
                        raise Bad(f"line {n}: symlink {path!r} points out of the root")
        elif has("value") or has("target") or "size" in f:
            raise Bad(f"line {n}: a directory has no value, size or target")
        d.add_file(path, content, kind, f, target)
    return d


PLAIN_PATH = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-")


def encode_segment(seg):
    if seg == b"":
        return "%"
    if seg == b".":
        return "%2E"
    if seg == b"..":
        return "%2E%2E"
    if seg == b"content":
        return "%63ontent"
    return "".join(chr(c) if c in PLAIN_PATH else "%%%02X" % c for c in seg)


def path_of(key):
    root, rest = ("kv", key[1:]) if key.startswith(b"/") else ("kv%", key)
    path = root + "/" + "/".join(encode_segment(x) for x in rest.split(b"/")) + "/content"
    if len(path.encode()) > 4096:
        return "kv-long/" + hashlib.sha256(key).hexdigest() + "/content"
    return path


def local_extra(f, info):
    """The extra field of an entry's local header (the spec puts our metadata there only)."""
    f.seek(info.header_offset)
    head = f.read(30)
    if head[:4] != b"PK\x03\x04":
        raise Bad(f"{info.filename}: no local header")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    f.seek(info.header_offset + 30 + name_len)
    return f.read(extra_len)


def meta_of(extra, name):
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i:i + 4])
        body = extra[i + 4:i + 4 + size]
        if tag == 0x7372:
            if body[0] != 1 or len(body) < 1 + 32 + 32:
                raise Bad(f"{name}: metadata version {body[0]} or size {len(body)}")
            cr, mr, ver, lease = struct.unpack("<qqqq", body[1:33])
            return cr, mr, ver, lease, body[33:65]
        i += 4 + size
    raise Bad(f"{name}: no 0x7372 metadata in its local header")


def read_entry(z, raw, info):
    """An entry's data; zstd (method 93) through the zstd command, which Python lacks."""
    if info.compress_type != 93:
        return z.read(info)
    raw.seek(info.header_offset)
    head = raw.read(30)
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    raw.seek(info.header_offset + 30 + name_len + extra_len)
    packed = raw.read(info.compress_size)
    out = subprocess.run(["zstd", "-dcq"], input=packed, capture_output=True, check=True).stdout
    if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
        raise Bad(f"{info.filename}: zstd data does not match its size or CRC-32")
    return out


def check_archive(path):
    z = zipfile.ZipFile(path)
    raw = open(path, "rb")
    infos = z.infolist()
    if not infos or infos[0].filename != "reshifter/header.json":
        raise Bad("the first entry is not reshifter/header.json")
    node_note = ""
    names = [i.filename for i in infos]
    if "reshifter/node/header.json" in names:
        at = names.index("reshifter/node/header.json")
        node, infos = infos[at:], infos[:at]
        if node[-1].filename != "reshifter/node/manifest.ndjson":
            raise Bad("the last entry is not reshifter/node/manifest.ndjson")
        node_line = read_entry(z, raw, node[0])
        nh = json.loads(node_line)
        check_header(nh)
        if nh.get("kind") != "files":
            raise Bad("reshifter/node/header.json is not a files stream's header")
        nm = read_entry(z, raw, node[-1]).decode().split("\n")
        if nm[-1] != "" or nm[0].encode() != node_line:
            raise Bad("the node manifest does not start with its header or end with a newline")
        node_note = "; node files: " + check_delta_archive(z, raw, nh, node[1:-1], nm[:-1], "reshifter/node/files")
    if infos[-1].filename != "reshifter/manifest.ndjson":
        raise Bad("the last entry is not reshifter/manifest.ndjson")
    header_line = read_entry(z, raw, infos[0])
    h = json.loads(header_line)
    check_header(h)
    manifest = read_entry(z, raw, infos[-1]).decode().split("\n")
    if manifest[-1] != "":
        raise Bad("the manifest does not end with a newline")
    manifest = manifest[:-1]
    if manifest[0].encode() != header_line:
        raise Bad("the manifest's first line is not the header entry")
    entries = infos[1:-1]
    if h.get("kind") in ("delta", "files"):
        if node_note:
            raise Bad("node files ride with a keyspace archive only")
        return check_delta_archive(z, raw, h, entries, manifest)
    d = Digests()
    prev = None
    ei = 0
    for n, line in enumerate(manifest[1:-1], start=2):
        m = json.loads(line)
        key = base64.b64decode(m["key_b64"]) if "key_b64" in m else m["key"].encode("utf-8", "surrogatepass")
        if ("key" in m) != is_plain(key):
            raise Bad(f"manifest line {n}: key/key_b64 not canonical")
        if m["path"] != path_of(key):
            raise Bad(f"manifest line {n}: path {m['path']!r} is not the spec's path of its key")
        if m["path"].startswith("kv-long/"):
            key_entry = entries[ei]
            ei += 1
            if key_entry.filename != m["path"][:-len("content")] + "key" or read_entry(z, raw, key_entry) != key:
                raise Bad(f"manifest line {n}: no kv-long key entry before {m['path']}")
        e = entries[ei]
        ei += 1
        if e.filename != m["path"]:
            raise Bad(f"manifest line {n}: entry {e.filename!r} where {m['path']!r} was listed")
        if h.get("sorted") and prev is not None and key <= prev:
            raise Bad(f"manifest line {n}: key order")
        prev = key
        if not within(key, h.get("prefixes")):
            raise Bad(f"manifest line {n}: key outside the prefixes")
        cr, mr, ver, lease, sha = meta_of(local_extra(raw, e), e.filename)
        if (cr, mr, ver) != (m["create_revision"], m["mod_revision"], m["version"]):
            raise Bad(f"{e.filename}: revisions differ from the manifest")
        if lease != (lease_num(m["lease"]) if "lease" in m else 0):
            raise Bad(f"{e.filename}: lease differs from the manifest")
        if sha.hex() != m["sha256"] or e.file_size != m["size"]:
            raise Bad(f"{e.filename}: sha256 or size differ from the manifest")
        if e.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, 93):
            raise Bad(f"{e.filename}: compression method {e.compress_type}")
        if hashlib.sha256(read_entry(z, raw, e)).digest() != sha:
            raise Bad(f"{e.filename}: data does not match its SHA-256")
        d.add(key, sha, m["size"], cr, mr, ver, lease)
    if ei != len(entries):
        raise Bad(f"{len(entries) - ei} entries not in the manifest")
    d.check(h, json.loads(manifest[-1]), "manifest trailer")
    return f"archive: format {h['format']}, {d.count} entries, {d.bytes} bytes{node_note}"


def check_delta_archive(z, raw, h, entries, manifest, chunks=None):
    """A delta or files archive: chunk entries reshifter/<delta|files>/<8 digits>.ndjson of whole
    body lines, listed in the manifest with path, size and sha256 between header and trailer."""
    if len(manifest) != len(entries) + 2:
        raise Bad("the manifest does not list one line per chunk")
    body = b""
    for n, (e, line) in enumerate(zip(entries, manifest[1:-1])):
        want = f"{chunks or 'reshifter/' + h['kind']}/{n:08}.ndjson"
        m = json.loads(line)
        data = read_entry(z, raw, e)
        if e.filename != want or m["path"] != want:
            raise Bad(f"chunk {n} is {e.filename!r}, listed as {m['path']!r}, not {want!r}")
        if m["size"] != len(data) or m["sha256"] != hashlib.sha256(data).hexdigest():
            raise Bad(f"{want}: size or sha256 differ from the manifest")
        if not data.endswith(b"\n"):
            raise Bad(f"{want}: does not end at a line end")
        body += data
    lines = [json.loads(l) for l in body[:-1].split(b"\n")] if body else []
    if h["kind"] == "files":
        d = check_files(h, lines, 2)
        d.check(h, json.loads(manifest[-1]), "manifest trailer")
        return f"files archive: {len(entries)} chunks, {d.count} entries"
    d, last = check_events(h, lines, 2)
    d.check(h, json.loads(manifest[-1]), last, "manifest trailer")
    return f"delta archive: {len(entries)} chunks, {d.count} events"


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("stream", "archive"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, path = sys.argv[1:]
    try:
        if kind == "stream":
            data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
            print(check_stream(data))
        else:
            print(check_archive(path))
    except (Bad, ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile, subprocess.CalledProcessError) as e:
        print(f"conformance: {path}: {type(e).__name__ if not isinstance(e, Bad) else 'violation'}: {e}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
