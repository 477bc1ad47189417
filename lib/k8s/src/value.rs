//! What a value the API server stored is, from its first bytes: the one classification that
//! kv-stats counts by and kv-decode and kv-encode open and write by.

use crate::atrest;
use crate::pb::K8S_MAGIC;

/// CBOR's self-describe tag, which the API server's CBOR serializer writes first.
pub const CBOR_MAGIC: &[u8] = &[0xd9, 0xd9, 0xf7];

/// How a value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `k8s\0` + runtime.Unknown.
    Protobuf,
    /// JSON: a value that starts (after white space) with `{` or `[`.
    Json,
    /// CBOR, with the self-describe tag.
    Cbor,
    /// Encrypted at rest: `k8s:enc:<provider>:<version>:<key name>:` (see [`atrest::envelope`]).
    Encrypted,
    /// Anything else (leases, IP ranges, other programs' values).
    Other,
}

impl Encoding {
    /// The encoding of `value`.
    pub fn of(value: &[u8]) -> Encoding {
        if value.starts_with(K8S_MAGIC) {
            Encoding::Protobuf
        } else if value.starts_with(CBOR_MAGIC) {
            Encoding::Cbor
        } else if atrest::envelope(value).is_some() {
            Encoding::Encrypted
        } else {
            match value.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{' | b'[') => Encoding::Json,
                _ => Encoding::Other,
            }
        }
    }

    /// What kv-decode and kv-stats call it.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "JSON",
            Encoding::Cbor => "CBOR",
            Encoding::Encrypted => "encrypted",
            Encoding::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Encoding;

    #[test]
    fn each_encoding_by_its_first_bytes() {
        for (v, e) in [
            (&b"k8s\0\n\x0c\n\x02v1\x12\x03Pod"[..], Encoding::Protobuf),
            (b"k8s:enc:aescbc:v1:key1:\x00\xff", Encoding::Encrypted),
            (b"k8s:enc:kms:v2:vault:\x0a", Encoding::Encrypted),
            (b" {\"kind\":\"X\"}", Encoding::Json),
            (b"[1]", Encoding::Json),
            (b"\xd9\xd9\xf7\xa1", Encoding::Cbor),
            (b"plain", Encoding::Other),
            (b"", Encoding::Other),
            // A prefix without a provider, version and key name is not an envelope.
            (b"k8s:enc:", Encoding::Other),
        ] {
            assert_eq!(Encoding::of(v), e, "{v:?}");
        }
    }
}
