#!/usr/bin/python3
"""A KMS plugin for tests, with Debian's python3-grpcio and python3-cryptography: one process
serves both plugin APIs of k8s.io/kms on a unix socket, v1beta1.KeyManagementService (Version,
Encrypt, Decrypt) and v2.KeyManagementService (Status, Encrypt, Decrypt). It wraps data keys and
seeds with AES-GCM under its own key (KEK_B64). Messages are encoded here by hand.

    kms_plugin.py SOCKET KEK_B64 [LOG]              # prints "ready" when it serves

With LOG, each call appends its service and method to that file (one line each), so a test can
count what a client asked.

It is also the independent implementation the KMS v2 value format is checked against:

    kms_plugin.py seal-v2 KEK_B64 ETCD_KEY TYPE NAME < plaintext > value    # TYPE 0 or 1
    kms_plugin.py open-v2 KEK_B64 ETCD_KEY < value > plaintext

as the API server writes and reads `k8s:enc:kms:v2:<NAME>:` + EncryptedObject (TYPE 0: the
data key wrapped; TYPE 1: a seed wrapped, the key HKDF-SHA256-expanded from it). With
KMS_V2_SECRET_HEX set, that data key or seed is used and wrapped the same way each time, as the
API server reuses one for many values.
"""
import base64
import hashlib
import os
import sys
from concurrent import futures

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(tag, data):
    return varint(tag << 3 | 2) + varint(len(data)) + data


def read_varint(b, i):
    n, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return n, i


def parse(b):
    """Varint and length-delimited fields: {tag: [values]}."""
    out, i = {}, 0
    while i < len(b):
        key, i = read_varint(b, i)
        if key & 7 == 0:
            v, i = read_varint(b, i)
        else:
            n, i = read_varint(b, i)
            v = b[i:i + n]
            i += n
        out.setdefault(key >> 3, []).append(v)
    return out


def first(fields, tag, default=b""):
    return fields.get(tag, [default])[0]


def key_id(kek):
    return "key-" + hashlib.sha256(kek).hexdigest()[:8]


def wrap(kek, secret):
    nonce = hashlib.sha256(secret).digest()[:12] if "KMS_V2_SECRET_HEX" in os.environ else os.urandom(12)
    return nonce + AESGCM(kek).encrypt(nonce, secret, None)


def unwrap(kek, wrapped):
    return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], None)


def derive(seed, info):
    return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=info).derive(seed)


def seal_v2(kek, etcd_key, kind, name, plain):
    nonce = os.urandom(12)
    fixed = os.environ.get("KMS_V2_SECRET_HEX")
    if kind == 0:
        dek = bytes.fromhex(fixed) if fixed else os.urandom(32)
        data = nonce + AESGCM(dek).encrypt(nonce, plain, etcd_key)
        source = wrap(kek, dek)
    else:
        seed, info = bytes.fromhex(fixed) if fixed else os.urandom(32), os.urandom(32)
        data = info + nonce + AESGCM(derive(seed, info)).encrypt(nonce, plain, etcd_key)
        source = wrap(kek, seed)
    obj = field(1, data) + field(2, key_id(kek).encode()) + field(3, source)
    obj += field(4, field(1, b"kms.example.com/note") + field(2, b"test"))
    if kind == 1:
        obj += varint(5 << 3) + varint(1)
    return b"k8s:enc:kms:v2:" + name.encode() + b":" + obj


def open_v2(kek, etcd_key, value):
    assert value.startswith(b"k8s:enc:kms:v2:")
    rest = value[len(b"k8s:enc:kms:v2:"):]
    obj = parse(rest[rest.index(b":") + 1:])
    data, kind = first(obj, 1), first(obj, 5, 0)
    secret = unwrap(kek, first(obj, 3))
    if kind == 1:
        info, data = data[:32], data[32:]
        secret = derive(secret, info)
    return AESGCM(secret).decrypt(data[:12], data[12:], etcd_key)


def serve(socket, kek, log=None):
    import grpc

    def logged(name, method):
        def call(req, ctx):
            if log:
                with open(log, "a") as f:
                    f.write(name + "\n")
            return method(req, ctx)
        return call

    def abort_unless(ok, ctx):
        if not ok:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "not a data key of this plugin")

    def v1_version(req, ctx):
        return field(1, b"v1beta1") + field(2, b"test-kms") + field(3, b"0.1")

    def v1_decrypt(req, ctx):
        try:
            plain = unwrap(kek, first(parse(req), 2))
        except Exception:
            abort_unless(False, ctx)
        return field(1, plain)

    def v1_encrypt(req, ctx):
        return field(1, wrap(kek, first(parse(req), 2)))

    def v2_status(req, ctx):
        return field(1, b"v2") + field(2, b"ok") + field(3, key_id(kek).encode())

    def v2_decrypt(req, ctx):
        try:
            plain = unwrap(kek, first(parse(req), 1))
        except Exception:
            abort_unless(False, ctx)
        return field(1, plain)

    def v2_encrypt(req, ctx):
        wrapped = wrap(kek, first(parse(req), 1))
        return field(1, wrapped) + field(2, key_id(kek).encode()) + field(3, field(1, b"kms.example.com/note") + field(2, b"by-plugin"))

    def unary(method):
        return grpc.unary_unary_rpc_method_handler(logged(method.__name__, method))
    v1 = grpc.method_handlers_generic_handler("v1beta1.KeyManagementService", {
        "Version": unary(v1_version), "Decrypt": unary(v1_decrypt), "Encrypt": unary(v1_encrypt),
    })
    v2 = grpc.method_handlers_generic_handler("v2.KeyManagementService", {
        "Status": unary(v2_status), "Decrypt": unary(v2_decrypt), "Encrypt": unary(v2_encrypt),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((v1, v2))
    server.add_insecure_port("unix:" + socket)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


def main():
    if sys.argv[1] == "seal-v2":
        kek, etcd_key, kind, name = base64.b64decode(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4]), sys.argv[5]
        sys.stdout.buffer.write(seal_v2(kek, etcd_key, kind, name, sys.stdin.buffer.read()))
    elif sys.argv[1] == "open-v2":
        kek, etcd_key = base64.b64decode(sys.argv[2]), sys.argv[3].encode()
        sys.stdout.buffer.write(open_v2(kek, etcd_key, sys.stdin.buffer.read()))
    else:
        serve(sys.argv[1], base64.b64decode(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)


if __name__ == "__main__":
    main()
