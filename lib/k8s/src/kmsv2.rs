//! KMS v2's stored format (k8s.io/apiserver storage/value/encrypt/envelope/kmsv2): a value is
//! `k8s:enc:kms:v2:<provider>:` followed directly by a protobuf `EncryptedObject`:
//!
//! | field | number | meaning |
//! |---|---|---|
//! | encryptedData | 1 | the AES-GCM payload |
//! | keyID | 2 | the KMS key id at write time (UTF-8) |
//! | encryptedDEKSource | 3 | what the plugin decrypts: a data key (type 0) or a seed (type 1) |
//! | annotations | 4 | `map<string, bytes>`, passed back to the plugin |
//! | encryptedDEKSourceType | 5 | 0 AES_GCM_KEY (absent = 0), 1 HKDF_SHA256_XNONCE_AES_GCM_SEED |
//!
//! Type 0: the plugin's answer is the AES-256 key; encryptedData = nonce (12) ‖ ciphertext ‖
//! tag (16). Type 1 (what 1.29 and later write): the answer is a seed; the key is
//! HKDF-SHA256-Expand(seed, info = the first 32 bytes of encryptedData, 32 bytes), and
//! encryptedData = info (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16). Either way the full etcd key
//! is the authenticated data. Values are written in type 1, with one seed per process.

use aes_gcm::aead::OsRng;
use aes_gcm::aead::rand_core::RngCore;

use crate::atrest::{AtRestError, gcm_open, gcm_seal};
use crate::kms::{Kms, map_entries};
use crate::pb::{Msg, Value, field_bytes, fields};

/// Type 0: the plugin's answer is the data key.
const AES_GCM_KEY: u64 = 0;
/// Type 1: the plugin's answer is a seed the data key is derived from.
const HKDF_SEED: u64 = 1;

/// The length of the info that prefixes type 1's payload.
const INFO: usize = 32;

/// An `EncryptedObject`, parsed and checked.
struct Encrypted<'a> {
    data: &'a [u8],
    key_id: String,
    source: &'a [u8],
    annotations: Vec<(String, Vec<u8>)>,
    source_type: u64,
}

/// Parse an `EncryptedObject`: why not, when it is not one.
fn parse(body: &[u8]) -> Result<Encrypted<'_>, &'static str> {
    let f = fields(body).ok_or("not a KMS v2 EncryptedObject")?;
    let data = field_bytes(&f, 1).filter(|d| !d.is_empty()).ok_or("no encrypted data")?;
    let key_id =
        String::from_utf8(field_bytes(&f, 2).unwrap_or_default().to_vec()).map_err(|_| "a key id that is not UTF-8")?;
    let source = field_bytes(&f, 3).filter(|s| !s.is_empty()).ok_or("no encrypted data key source")?;
    let annotations = map_entries(&f, 4).ok_or("malformed annotations")?;
    let source_type = f
        .iter()
        .find_map(|(n, v)| match v {
            Value::Varint(t) if *n == 5 => Some(*t),
            _ => None,
        })
        .unwrap_or(AES_GCM_KEY);
    Ok(Encrypted { data, key_id, source, annotations, source_type })
}

/// HKDF-SHA256, expand only (no extract step, no salt): the data key of a type 1 value.
pub fn derive_key(seed: &[u8], info: &[u8]) -> [u8; 32] {
    let hk = hkdf::Hkdf::<sha2::Sha256>::from_prk(seed).expect("a seed of at least 32 bytes");
    let mut key = [0u8; 32];
    hk.expand(info, &mut key).expect("32 bytes is a valid length");
    key
}

/// The AES-GCM payload of a value, opened with the plugin's answer for its type.
pub fn open_payload(source_type: u64, answer: &[u8], etcd_key: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
    match source_type {
        AES_GCM_KEY => {
            if answer.len() != 32 {
                return Err(format!("the plugin's data key has {} bytes, not 32", answer.len()));
            }
            gcm_open(answer, etcd_key, data).ok_or_else(|| "the payload does not decrypt".to_string())
        }
        HKDF_SEED => {
            if answer.len() < 32 {
                return Err(format!("the plugin's seed has {} bytes, fewer than 32", answer.len()));
            }
            let (info, rest) = data.split_at_checked(INFO).ok_or("the payload is shorter than its info")?;
            gcm_open(&derive_key(answer, info), etcd_key, rest)
                .ok_or_else(|| "the payload does not decrypt".to_string())
        }
        other => Err(format!("data key source type {other}, which no Kubernetes writes")),
    }
}

/// Open a KMS v2 value's body (after `k8s:enc:kms:v2:<name>:`) through provider `name`'s plugin.
pub(crate) fn open(kms: &Kms, name: &str, etcd_key: &[u8], body: &[u8]) -> Result<Vec<u8>, AtRestError> {
    let damaged = |why: &str| AtRestError::KmsV2Damaged { name: name.to_string(), why: why.to_string() };
    let e = parse(body).map_err(damaged)?;
    if !matches!(e.source_type, AES_GCM_KEY | HKDF_SEED) {
        return Err(damaged(&format!("data key source type {}, which no Kubernetes writes", e.source_type)));
    }
    let answer = kms
        .decrypt_v2(e.source, &e.key_id, &e.annotations)
        .map_err(|why| AtRestError::KmsPlugin { name: name.to_string(), why })?;
    open_payload(e.source_type, &answer, etcd_key, e.data).map_err(|why| damaged(&why))
}

/// Encrypt `plain` for `etcd_key` as the API server's KMS v2 provider `name` writes it (type 1,
/// the seed made once and wrapped by the plugin's Encrypt once).
pub(crate) fn seal(kms: &Kms, name: &str, etcd_key: &[u8], plain: &[u8]) -> Result<Vec<u8>, AtRestError> {
    let (seed, wrapped) = kms.writer().map_err(|why| AtRestError::KmsPlugin { name: name.to_string(), why })?;
    let mut info = [0u8; INFO];
    OsRng.fill_bytes(&mut info);
    let mut data = info.to_vec();
    data.extend_from_slice(&gcm_seal(&derive_key(&seed, &info), etcd_key, plain));
    let mut obj = Msg::new();
    obj.bytes(1, &data).str(2, &wrapped.key_id).bytes(3, &wrapped.ciphertext).map(4, &wrapped.annotations);
    obj.int(5, HKDF_SEED as i64);
    let mut out = format!("k8s:enc:kms:v2:{name}:").into_bytes();
    out.extend_from_slice(&obj.into_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    // The apiserver's AES test vectors (../shared/facts/kms-v2.md), authenticated data "bamboo".
    #[test]
    fn the_apiservers_vectors_open() {
        let gcm = hex("9f27c8fcea8a58c467d8e437dbf2d85955f9b4bd912f4ef967d788a0cb07797dac0a3f0a0845605ca85ac8562b4ae1");
        assert_eq!(gcm_open(b"snorlax_awesomes", b"bamboo", &gcm).unwrap(), b"pandas are the best");
        let seed = hex("5d40323a820ff95561675e3b95e81867c5fdd561d35a88a2d08b08aa9d4fcf5c");
        let stored = hex(
            "2442759e33945fbad709db577a0f037fd8a709fc76979b8942209debcecb9d57efe3d6ff6a1ef6ee9a5003b9833b3043cec1e47b35175b151107a8d2416b0e296bbf66b5d102fcefdf9a78f293d271",
        );
        assert_eq!(
            derive_key(&seed, &stored[..32]).to_vec(),
            hex("6e58b7659c304b0c382f42f16bd700465def1dead80bf6f1bf1d52073bdb0c00")
        );
        assert_eq!(open_payload(HKDF_SEED, &seed, b"bamboo", &stored).unwrap(), b"pandas are the best");
        // Another authenticated data (another etcd key) does not open it.
        assert!(open_payload(HKDF_SEED, &seed, b"bambo0", &stored).is_err());
        assert_eq!(
            open_payload(HKDF_SEED, &seed[..31], b"bamboo", &stored).unwrap_err(),
            "the plugin's seed has 31 bytes, fewer than 32"
        );
        assert_eq!(
            open_payload(AES_GCM_KEY, b"snorlax_awesomes", b"bamboo", &gcm).unwrap_err(),
            "the plugin's data key has 16 bytes, not 32"
        );
    }

    #[test]
    fn encrypted_objects_parse_and_damage_is_named() {
        let mut m = Msg::new();
        m.bytes(1, b"data").str(2, "key-1").bytes(3, b"wrapped").map(4, &[("a", b"b")]).int(5, 1);
        let b = m.into_bytes();
        let e = parse(&b).unwrap();
        assert_eq!((e.data, e.key_id.as_str(), e.source, e.source_type), (&b"data"[..], "key-1", &b"wrapped"[..], 1));
        assert_eq!(e.annotations, [("a".to_string(), b"b".to_vec())]);
        let mut m = Msg::new();
        m.bytes(1, b"data").bytes(2, b"\xff").bytes(3, b"w");
        assert_eq!(parse(&m.into_bytes()).err(), Some("a key id that is not UTF-8"));
        let mut m = Msg::new();
        m.bytes(1, b"data").str(2, "k");
        assert_eq!(parse(&m.into_bytes()).err(), Some("no encrypted data key source"));
        assert_eq!(parse(b"\xff\xff").err(), Some("not a KMS v2 EncryptedObject"));
    }
}
