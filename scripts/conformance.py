#!/usr/bin/env python3
"""An independent validator of the reshifter stream and archive formats, written from
docs/FORMAT.md alone (it shares no code with the Rust tools). The tests run it over every tool's
output, so that the spec and the code cannot drift apart.

    scripts/conformance.py stream FILE|-      a stream (format 1 or 2)
    scripts/conformance.py archive FILE       a native ZIP archive (not encrypted)

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
RECORD_FIELDS = ["key", "key_b64", "create_revision", "mod_revision", "version", "lease", "value", "value_b64"]
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
    return d.hexdigest()


def check_header(h):
    if h.get("type") != "header":
        raise Bad("line 1: not a header")
    for f in ("format", "tool", "time"):
        if f not in h:
            raise Bad(f"line 1: header without {f}")
    if h["format"] not in (1, 2):
        raise Bad(f"line 1: format {h['format']} unknown")
    if h["format"] == 2 and h.get("sorted") is not True:
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


def check_record(rec, n, h):
    keys = list(rec.keys())
    for k in keys:
        if k not in RECORD_FIELDS:
            raise Bad(f"line {n}: unknown field {k}")
    if keys != sorted(keys, key=RECORD_FIELDS.index):
        raise Bad(f"line {n}: fields out of the documented order")
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
    d = Digests()
    prev = None
    for n, rec in enumerate(objs[1:-1], start=2):
        if "type" in rec:
            raise Bad(f"line {n}: a frame line among the records")
        key, value, lease = check_record(rec, n, h)
        if h.get("sorted") and prev is not None and key <= prev:
            raise Bad(f"line {n}: key not above the one before (order or duplicate)")
        prev = key
        d.add(key, hashlib.sha256(value).digest(), len(value), rec["create_revision"], rec["mod_revision"],
              rec["version"], lease)
    d.check(h, objs[-1], f"line {len(objs)}")
    return f"stream: format {h['format']}, {d.count} records, {d.bytes} bytes, complete={bool(h.get('complete'))}"


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
    return f"archive: format {h['format']}, {d.count} entries, {d.bytes} bytes"


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
