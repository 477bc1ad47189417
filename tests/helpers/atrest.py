#!/usr/bin/python3
"""Kubernetes' encryption-at-rest value formats, written independently of reshifter (from
k8s.io/apiserver's storage/value/encrypt) with Debian's python3-cryptography and python3-nacl,
to check reshifter's against.

    atrest.py seal PROVIDER NAME SECRET_B64 ETCD_KEY < plaintext > value
    atrest.py open SECRET_B64 ETCD_KEY < value > plaintext

`seal kms NAME KEK_B64 ETCD_KEY` writes KMS v1's envelope: a fresh data key wraps the value
(AES-GCM, the etcd key as authenticated data) and is itself wrapped as kms_plugin.py wraps data
keys (AES-GCM under the plugin's KEK): big-endian u16 length, the wrapped key, the value.
"""
import base64
import os
import sys

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import nacl.secret


def seal(provider, name, key, etcd_key, data):
    prefix = f"k8s:enc:{provider}:v1:{name}:".encode()
    if provider == "aescbc":
        iv = os.urandom(16)
        p = padding.PKCS7(128).padder()
        padded = p.update(data) + p.finalize()
        e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return prefix + iv + e.update(padded) + e.finalize()
    if provider == "aesgcm":
        nonce = os.urandom(12)
        return prefix + nonce + AESGCM(key).encrypt(nonce, data, etcd_key)
    if provider == "secretbox":
        return prefix + bytes(nacl.secret.SecretBox(key).encrypt(data, os.urandom(24)))
    if provider == "kms":
        dek, n1, n2 = os.urandom(32), os.urandom(12), os.urandom(12)
        wrapped = n2 + AESGCM(key).encrypt(n2, dek, None)
        return prefix + len(wrapped).to_bytes(2, "big") + wrapped + n1 + AESGCM(dek).encrypt(n1, data, etcd_key)
    raise SystemExit(f"unknown provider {provider}")


def open_(key, etcd_key, value):
    parts = value.split(b":", 5)
    provider, body = parts[2].decode(), parts[5]
    if provider == "aescbc":
        d = Cipher(algorithms.AES(key), modes.CBC(body[:16])).decryptor()
        padded = d.update(body[16:]) + d.finalize()
        u = padding.PKCS7(128).unpadder()
        return u.update(padded) + u.finalize()
    if provider == "aesgcm":
        return AESGCM(key).decrypt(body[:12], body[12:], etcd_key)
    if provider == "secretbox":
        return nacl.secret.SecretBox(key).decrypt(body)
    raise SystemExit(f"unknown provider {provider}")


if __name__ == "__main__":
    data = sys.stdin.buffer.read()
    if sys.argv[1] == "seal":
        out = seal(sys.argv[2], sys.argv[3], base64.b64decode(sys.argv[4]), sys.argv[5].encode(), data)
    else:
        out = open_(base64.b64decode(sys.argv[2]), sys.argv[3].encode(), data)
    sys.stdout.buffer.write(out)
