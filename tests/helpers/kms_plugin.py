#!/usr/bin/python3
"""A KMS v1 plugin (gRPC service v1beta1.KeyManagementService: Version, Encrypt, Decrypt, as
k8s.io/kms defines it) on a unix socket, for tests, with Debian's python3-grpcio. It wraps data
keys with AES-GCM under its own key (KEK_B64). Messages are encoded here by hand.

    kms_plugin.py SOCKET KEK_B64      # prints "ready" when it serves
"""
import base64
import os
import sys
from concurrent import futures

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


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


def parse(b):
    """Length-delimited fields only (all this API has): {tag: bytes}."""
    out, i = {}, 0
    while i < len(b):
        key, shift = 0, 0
        while True:
            c = b[i]; i += 1
            key |= (c & 0x7F) << shift; shift += 7
            if c < 0x80:
                break
        n, shift = 0, 0
        while True:
            c = b[i]; i += 1
            n |= (c & 0x7F) << shift; shift += 7
            if c < 0x80:
                break
        out[key >> 3] = b[i:i + n]
        i += n
    return out


def main():
    socket, kek = sys.argv[1], base64.b64decode(sys.argv[2])
    calls = {"n": 0}

    def version(req, ctx):
        return field(1, b"v1beta1") + field(2, b"test-kms") + field(3, b"0.1")

    def decrypt(req, ctx):
        calls["n"] += 1
        cipher = parse(req).get(2, b"")
        try:
            plain = AESGCM(kek).decrypt(cipher[:12], cipher[12:], None)
        except Exception:
            ctx.abort(grpc.StatusCode.INVALID_ARGUMENT, "not a data key of this plugin")
        return field(1, plain)

    def encrypt(req, ctx):
        nonce = os.urandom(12)
        return field(1, nonce + AESGCM(kek).encrypt(nonce, parse(req).get(2, b""), None))

    h = grpc.method_handlers_generic_handler("v1beta1.KeyManagementService", {
        "Version": grpc.unary_unary_rpc_method_handler(version),
        "Decrypt": grpc.unary_unary_rpc_method_handler(decrypt),
        "Encrypt": grpc.unary_unary_rpc_method_handler(encrypt),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((h,))
    server.add_insecure_port("unix:" + socket)
    server.start()
    print("ready", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
