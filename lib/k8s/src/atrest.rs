//! Kubernetes' encryption at rest, offline: the API server's EncryptionConfiguration
//! (apiserver.config.k8s.io/v1) read from its YAML, and its value formats.
//!
//! An encrypted value is `k8s:enc:<provider>:v1:<key name>:` followed by (checked against
//! k8s.io/apiserver's storage/value/encrypt):
//! - aescbc: IV (16) ‖ AES-CBC with PKCS#7 padding, no authenticated data;
//! - aesgcm: nonce (12) ‖ AES-GCM ciphertext ‖ tag (16), the full etcd key as authenticated data
//!   (so the value is bound to its key);
//! - secretbox: nonce (24) ‖ NaCl secretbox (Poly1305 tag (16) ‖ XSalsa20 ciphertext);
//! - kms v1 (`k8s:enc:kms:v1:<name>:`): a big-endian u16 length, the data key as the KMS plugin
//!   wrapped it, then the value under that key with AES-GCM (the etcd key as authenticated data;
//!   AES-CBC from older API servers). Opened through the plugin named by the provider's
//!   `endpoint` (or `RESHIFTER_KMS_SOCKET`), see [`crate::kms`];
//! - kms v2 (`k8s:enc:kms:v2:<name>:`): a protobuf EncryptedObject whose data key source the
//!   provider's v2 plugin opens, see [`crate::kmsv2`].
//!
//! Writing a kms value goes through the provider's plugin (its Encrypt, once per process); a
//! kms provider without an `endpoint` cannot be written.
//!
//! Keys come from the file only; errors name the provider, the key name and the etcd key, never
//! a value or a secret.

use std::collections::HashMap;
use std::path::Path;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{AeadInPlace, KeyInit, OsRng};
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
use serde::Deserialize;

use crate::kms::KmsApi;

/// What can go wrong with encryption at rest.
#[derive(Debug, thiserror::Error)]
pub enum AtRestError {
    #[error("{0}")]
    Config(String),
    #[error("encrypted with {provider} key {name:?}, which the encryption config does not hold")]
    UnknownKey { provider: String, name: String },
    #[error("cannot decrypt: kms provider {name:?} needs its KMS plugin (the data key is wrapped by it)")]
    Kms { name: String },
    #[error("does not decrypt with {provider} key {name:?}: a different key under that name, or a damaged value")]
    Damaged { provider: String, name: String },
    #[error("cannot encrypt with kms provider {name:?} offline: it needs its KMS plugin")]
    KmsWrite { name: String },
    #[error("cannot decrypt with kms provider {name:?}: {why}")]
    KmsPlugin { name: String, why: String },
    #[error("does not decrypt with kms provider {name:?} (KMS v2): {why}")]
    KmsV2Damaged { name: String, why: String },
    #[error(
        "kms provider {name:?} is configured with apiVersion {configured} but the value was written by KMS {written}: give the provider the apiVersion its plugin speaks"
    )]
    KmsApi { name: String, configured: &'static str, written: &'static str },
}

type Result<T> = std::result::Result<T, AtRestError>;

/// The prefix of every encrypted value.
pub const ENC_PREFIX: &[u8] = b"k8s:enc:";

/// An encrypted value's envelope: provider, format version, key name and the bytes after it.
pub fn envelope(value: &[u8]) -> Option<(&str, &str, &str, &[u8])> {
    let rest = value.strip_prefix(ENC_PREFIX)?;
    let mut parts = rest.splitn(4, |&b| b == b':');
    let provider = std::str::from_utf8(parts.next()?).ok()?;
    let version = std::str::from_utf8(parts.next()?).ok()?;
    let name = std::str::from_utf8(parts.next()?).ok()?;
    let body = parts.next()?;
    Some((provider, version, name, body))
}

/// True for values whose encryption binds them to their etcd key (aesgcm, kms): moving such a
/// value to another key makes it undecryptable.
pub fn binds_key(value: &[u8]) -> bool {
    matches!(envelope(value), Some(("aesgcm" | "kms", ..)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Cipher {
    Cbc,
    Gcm,
    Secretbox,
}

impl Cipher {
    fn name(self) -> &'static str {
        match self {
            Cipher::Cbc => "aescbc",
            Cipher::Gcm => "aesgcm",
            Cipher::Secretbox => "secretbox",
        }
    }
}

/// One provider of a rule, in the config's order.
#[derive(Clone, Debug)]
enum Provider {
    /// The first key (by order) is the one that writes.
    Keys(Cipher, Vec<String>),
    Identity,
    Kms(String),
}

#[derive(Clone, Debug)]
struct Rule {
    resources: Vec<String>,
    providers: Vec<Provider>,
}

/// A loaded EncryptionConfiguration.
pub struct AtRest {
    rules: Vec<Rule>,
    keys: HashMap<(Cipher, String), Vec<u8>>,
    /// KMS plugins (v1 and v2) by provider name (those with an endpoint).
    kms: HashMap<String, crate::kms::Kms>,
    /// Where keys' resources are read from (the API server's `--etcd-prefix`).
    roots: crate::Roots,
}

impl std::fmt::Debug for AtRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AtRest({} rules, {} keys)", self.rules.len(), self.keys.len())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    kind: Option<String>,
    #[serde(default)]
    resources: Vec<ResourceConfig>,
}

#[derive(Deserialize)]
struct ResourceConfig {
    resources: Vec<String>,
    providers: Vec<ProviderConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderConfig {
    aescbc: Option<KeysConfig>,
    aesgcm: Option<KeysConfig>,
    secretbox: Option<KeysConfig>,
    identity: Option<serde::de::IgnoredAny>,
    kms: Option<KmsConfig>,
}

#[derive(Deserialize)]
struct KeysConfig {
    keys: Vec<KeyConfig>,
}

#[derive(Deserialize)]
struct KeyConfig {
    name: String,
    secret: String,
}

#[derive(Deserialize)]
struct KmsConfig {
    name: String,
    /// `v1` (the default) or `v2`: the plugin API the provider speaks.
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    endpoint: Option<String>,
    /// Go's duration syntax (`3s`), as kube-apiserver reads it.
    timeout: Option<String>,
}

impl KmsConfig {
    fn api(&self) -> Result<crate::kms::KmsApi> {
        match self.api_version.as_deref() {
            None | Some("v1") => Ok(crate::kms::KmsApi::V1),
            Some("v2") => Ok(crate::kms::KmsApi::V2),
            Some(v) => Err(config_err(format!("kms provider {:?}: apiVersion {v:?}: expected v1 or v2", self.name))),
        }
    }

    fn timeout(&self) -> Result<std::time::Duration> {
        match &self.timeout {
            None => Ok(crate::kms::DEFAULT_TIMEOUT),
            Some(t) => match crate::codec::time::parse_duration(t) {
                Some(ns) if ns > 0 => Ok(std::time::Duration::from_nanos(ns as u64)),
                _ => Err(config_err(format!("kms provider {:?}: timeout {t:?} is not a positive duration", self.name))),
            },
        }
    }
}

/// How deep an EncryptionConfiguration may nest (it needs six levels): a YAML parser takes
/// time that grows fast with nesting, so a hostile file is refused before it is parsed.
const MAX_NESTING: usize = 32;

/// Refuse flow collections (`[`, `{`) nested deeper than [`MAX_NESTING`] and block indentation
/// deeper than 4 × that, outside quotes and comments.
fn check_nesting(text: &str) -> Result<()> {
    let too_deep = || {
        config_err(format!("the config nests deeper than {MAX_NESTING} levels: it is not an EncryptionConfiguration"))
    };
    let mut depth = 0usize;
    for line in text.lines() {
        let indent = line.len() - line.trim_start_matches([' ', '-']).len();
        if indent > 4 * MAX_NESTING {
            return Err(too_deep());
        }
        let mut quote: Option<char> = None;
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(too_deep());
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

fn config_err(m: impl Into<String>) -> AtRestError {
    AtRestError::Config(m.into())
}

impl AtRest {
    /// The config as an API server started with these roots (its `--etcd-prefix`) applies it:
    /// which resource a key holds decides the provider values are written with.
    pub fn under(mut self, roots: crate::Roots) -> AtRest {
        self.roots = roots;
        self
    }

    /// Read an EncryptionConfiguration file.
    pub fn load(path: &Path) -> Result<AtRest> {
        let text = reshifter_format::io::read_option_text("the encryption config", path)
            .map_err(|e| config_err(e.to_string()))?;
        let mut at_rest =
            AtRest::parse(&text).map_err(|e| config_err(format!("encryption config {}: {e}", path.display())))?;
        // The plugin's socket where it is on this machine, when not where the config says.
        if let Some(socket) = std::env::var_os("RESHIFTER_KMS_SOCKET") {
            let socket = socket.to_string_lossy().into_owned();
            for kms in at_rest.kms.values_mut() {
                *kms = crate::kms::Kms::new(&socket, kms.timeout(), kms.api()).map_err(config_err)?;
            }
        }
        Ok(at_rest)
    }

    /// Parse an EncryptionConfiguration (YAML or JSON).
    pub fn parse(text: &str) -> Result<AtRest> {
        check_nesting(text)?;
        // serde_yaml_ng's messages quote no scalar values, so a secret never reaches them.
        let file: ConfigFile = serde_yaml_ng::from_str(text).map_err(|e| config_err(e.to_string()))?;
        match file.kind.as_deref() {
            Some("EncryptionConfiguration" | "EncryptionConfig") => {}
            other => return Err(config_err(format!("kind {other:?}: expected EncryptionConfiguration"))),
        }
        let mut keys = HashMap::new();
        let mut rules = Vec::new();
        let mut kms = HashMap::new();
        for rc in file.resources {
            let mut providers = Vec::new();
            for p in rc.providers {
                let set = [
                    p.aescbc.is_some(),
                    p.aesgcm.is_some(),
                    p.secretbox.is_some(),
                    p.identity.is_some(),
                    p.kms.is_some(),
                ];
                if set.iter().filter(|x| **x).count() != 1 {
                    return Err(config_err("each provider entry names exactly one provider"));
                }
                let with_keys = [(Cipher::Cbc, p.aescbc), (Cipher::Gcm, p.aesgcm), (Cipher::Secretbox, p.secretbox)];
                let provider = match with_keys.into_iter().find_map(|(c, k)| k.map(|k| (c, k))) {
                    Some((c, kc)) => Provider::Keys(c, add_keys(&mut keys, c, kc)?),
                    None if p.identity.is_some() => Provider::Identity,
                    None => {
                        let k = p.kms.expect("one provider is set");
                        let api = k.api()?;
                        if let Some(endpoint) = &k.endpoint {
                            let plugin = crate::kms::Kms::new(endpoint, k.timeout()?, api).map_err(config_err)?;
                            kms.insert(k.name.clone(), plugin);
                        }
                        Provider::Kms(k.name)
                    }
                };
                providers.push(provider);
            }
            rules.push(Rule { resources: rc.resources, providers });
        }
        Ok(AtRest { rules, keys, kms, roots: crate::Roots::default() })
    }

    /// Open a value: `None` when it is not encrypted; the plaintext; or why not (never the value).
    pub fn open(&self, etcd_key: &[u8], value: &[u8]) -> Option<Result<Vec<u8>>> {
        let (provider, version, name, body) = envelope(value)?;
        Some(match (provider, version) {
            ("kms", "v1") => self.plugin(name, KmsApi::V1).and_then(|k| open_kms_v1(k, name, etcd_key, body)),
            ("kms", "v2") => self.plugin(name, KmsApi::V2).and_then(|k| crate::kmsv2::open(k, name, etcd_key, body)),
            _ => self.open_body(provider, name, etcd_key, body),
        })
    }

    /// Provider `name`'s plugin, which must speak the API the value was written with.
    fn plugin(&self, name: &str, written: KmsApi) -> Result<&crate::kms::Kms> {
        let kms = self.kms.get(name).ok_or_else(|| AtRestError::Kms { name: name.to_string() })?;
        if kms.api() != written {
            return Err(AtRestError::KmsApi {
                name: name.to_string(),
                configured: kms.api().name(),
                written: written.name(),
            });
        }
        Ok(kms)
    }

    fn open_body(&self, provider: &str, name: &str, etcd_key: &[u8], body: &[u8]) -> Result<Vec<u8>> {
        let cipher = match provider {
            "aescbc" => Cipher::Cbc,
            "aesgcm" => Cipher::Gcm,
            "secretbox" => Cipher::Secretbox,
            "kms" => return Err(AtRestError::Kms { name: name.to_string() }),
            other => return Err(AtRestError::UnknownKey { provider: other.to_string(), name: name.to_string() }),
        };
        let damaged = || AtRestError::Damaged { provider: provider.to_string(), name: name.to_string() };
        let key = self
            .keys
            .get(&(cipher, name.to_string()))
            .ok_or_else(|| AtRestError::UnknownKey { provider: provider.to_string(), name: name.to_string() })?;
        decrypt(cipher, key, etcd_key, body).ok_or_else(damaged)
    }

    /// Encrypt `plain` as `provider`'s key `name` would, for `etcd_key` (re-encrypting a moved
    /// value under the key it had).
    pub fn seal_as(&self, provider: &str, name: &str, etcd_key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let cipher = match provider {
            "aescbc" => Cipher::Cbc,
            "aesgcm" => Cipher::Gcm,
            "secretbox" => Cipher::Secretbox,
            _ => return self.seal_kms(name, etcd_key, plain),
        };
        let key = self
            .keys
            .get(&(cipher, name.to_string()))
            .ok_or_else(|| AtRestError::UnknownKey { provider: provider.to_string(), name: name.to_string() })?;
        Ok(seal(cipher, name, key, etcd_key, plain))
    }

    /// Encrypt `plain` for `etcd_key` with the first provider the config gives its resource, as
    /// the API server would write it: `None` when that is identity (or no rule names it).
    pub fn seal_for(&self, etcd_key: &[u8], plain: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.writer(etcd_key) {
            None | Some(Provider::Identity) => Ok(None),
            Some(Provider::Kms(name)) => self.seal_kms(name, etcd_key, plain).map(Some),
            Some(Provider::Keys(c, names)) => {
                let name = &names[0];
                let key = &self.keys[&(*c, name.clone())];
                Ok(Some(seal(*c, name, key, etcd_key, plain)))
            }
        }
    }

    /// Encrypt as kms provider `name` writes (v1 or v2, as its plugin speaks), through its plugin.
    fn seal_kms(&self, name: &str, etcd_key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let kms = self.kms.get(name).ok_or_else(|| AtRestError::KmsWrite { name: name.to_string() })?;
        match kms.api() {
            KmsApi::V1 => seal_kms_v1(kms, name, etcd_key, plain),
            KmsApi::V2 => crate::kmsv2::seal(kms, name, etcd_key, plain),
        }
    }

    /// Whether the config encrypts (with a first provider other than identity) this key's resource.
    pub fn encrypts(&self, etcd_key: &[u8]) -> bool {
        matches!(self.writer(etcd_key), Some(Provider::Keys(..) | Provider::Kms(_)))
    }

    /// The first provider of the first rule naming the key's resource (the API server's order).
    fn writer(&self, etcd_key: &[u8]) -> Option<&Provider> {
        let (resource, group) = self.roots.resource_group(etcd_key)?;
        self.rules
            .iter()
            .find(|r| r.resources.iter().any(|p| matches_resource(p, &resource, &group)))
            .and_then(|r| r.providers.first())
    }
}

fn add_keys(keys: &mut HashMap<(Cipher, String), Vec<u8>>, c: Cipher, kc: KeysConfig) -> Result<Vec<String>> {
    if kc.keys.is_empty() {
        return Err(config_err(format!("{}: no keys", c.name())));
    }
    let mut names = Vec::new();
    for k in kc.keys {
        let secret = base64_simd::STANDARD
            .decode_to_vec(k.secret.trim().as_bytes())
            .map_err(|_| config_err(format!("{} key {:?}: its secret is not base64", c.name(), k.name)))?;
        let ok = match c {
            Cipher::Cbc | Cipher::Gcm => matches!(secret.len(), 16 | 24 | 32),
            Cipher::Secretbox => secret.len() == 32,
        };
        if !ok {
            return Err(config_err(format!(
                "{} key {:?}: a secret of {} bytes (aescbc/aesgcm take 16, 24 or 32, secretbox 32)",
                c.name(),
                k.name,
                secret.len()
            )));
        }
        if let Some(old) = keys.get(&(c, k.name.clone()))
            && *old != secret
        {
            return Err(config_err(format!("{} key {:?} is given twice with different secrets", c.name(), k.name)));
        }
        keys.insert((c, k.name.clone()), secret);
        names.push(k.name);
    }
    Ok(names)
}

macro_rules! by_aes_size {
    ($key:expr, |$k:ident: $t:ident| $body:expr) => {
        match $key.len() {
            16 => {
                type $t = aes::Aes128;
                let $k = $key;
                $body
            }
            24 => {
                type $t = aes::Aes192;
                let $k = $key;
                $body
            }
            _ => {
                type $t = aes::Aes256;
                let $k = $key;
                $body
            }
        }
    };
}

fn decrypt(c: Cipher, key: &[u8], etcd_key: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    match c {
        Cipher::Cbc => {
            if body.len() < 32 || !body.len().is_multiple_of(16) {
                return None;
            }
            let (iv, ct) = body.split_at(16);
            by_aes_size!(key, |k: A| {
                cbc::Decryptor::<A>::new_from_slices(k, iv).ok()?.decrypt_padded_vec_mut::<Pkcs7>(ct).ok()
            })
        }
        Cipher::Gcm => {
            if body.len() < 12 + 16 {
                return None;
            }
            let (nonce, rest) = body.split_at(12);
            let (ct, tag) = rest.split_at(rest.len() - 16);
            let mut buf = ct.to_vec();
            let ok = by_aes_size!(key, |k: A| {
                let g = aes_gcm::AesGcm::<A, aes_gcm::aead::consts::U12>::new_from_slice(k).ok()?;
                g.decrypt_in_place_detached(nonce.into(), etcd_key, &mut buf, tag.into()).is_ok()
            });
            ok.then_some(buf)
        }
        Cipher::Secretbox => {
            if body.len() < 24 + 16 {
                return None;
            }
            let (nonce, rest) = body.split_at(24);
            let (tag, ct) = rest.split_at(16);
            let mut buf = ct.to_vec();
            let b = crypto_secretbox::XSalsa20Poly1305::new_from_slice(key).ok()?;
            b.decrypt_in_place_detached(nonce.into(), b"", &mut buf, tag.into()).ok()?;
            Some(buf)
        }
    }
}

/// KMS v1: a big-endian u16 length, the data key as the plugin wrapped it, then the value
/// encrypted with that key by AES-GCM with the etcd key as authenticated data (AES-CBC by older
/// API servers).
fn open_kms_v1(kms: &crate::kms::Kms, name: &str, etcd_key: &[u8], body: &[u8]) -> Result<Vec<u8>> {
    let damaged = || AtRestError::Damaged { provider: "kms".to_string(), name: name.to_string() };
    let (len, rest) = body.split_at_checked(2).ok_or_else(damaged)?;
    let (wrapped, data) =
        rest.split_at_checked(usize::from(u16::from_be_bytes([len[0], len[1]]))).ok_or_else(damaged)?;
    let dek = kms.decrypt(wrapped).map_err(|why| AtRestError::KmsPlugin { name: name.to_string(), why })?;
    decrypt(Cipher::Gcm, &dek, etcd_key, data).or_else(|| decrypt(Cipher::Cbc, &dek, b"", data)).ok_or_else(damaged)
}

/// Encrypt as a KMS v1 provider writes: one data key per process, wrapped by the plugin once.
fn seal_kms_v1(kms: &crate::kms::Kms, name: &str, etcd_key: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
    let (dek, wrapped) = kms.writer().map_err(|why| AtRestError::KmsPlugin { name: name.to_string(), why })?;
    let len = u16::try_from(wrapped.ciphertext.len()).map_err(|_| AtRestError::KmsPlugin {
        name: name.to_string(),
        why: format!("the plugin wrapped the data key in {} bytes, more than KMS v1 stores", wrapped.ciphertext.len()),
    })?;
    let mut out = format!("k8s:enc:kms:v1:{name}:").into_bytes();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&wrapped.ciphertext);
    out.extend_from_slice(&gcm_seal(&dek, etcd_key, plain));
    Ok(out)
}

/// AES-GCM (12-byte nonce, 16-byte tag) of `nonce ‖ ciphertext ‖ tag` with authenticated data
/// `aad`; `None` when it does not open.
pub(crate) fn gcm_open(key: &[u8], aad: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    decrypt(Cipher::Gcm, key, aad, body)
}

/// `nonce ‖ ciphertext ‖ tag` of `plain` under AES-GCM with a random nonce.
pub(crate) fn gcm_seal(key: &[u8], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let mut buf = plain.to_vec();
    let tag = by_aes_size!(key, |k: A| {
        aes_gcm::AesGcm::<A, aes_gcm::aead::consts::U12>::new_from_slice(k)
            .expect("key size checked")
            .encrypt_in_place_detached((&nonce).into(), aad, &mut buf)
            .expect("a value under 64 GiB")
    });
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    out.extend_from_slice(&tag);
    out
}

fn seal(c: Cipher, name: &str, key: &[u8], etcd_key: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut out = format!("k8s:enc:{}:v1:{name}:", c.name()).into_bytes();
    match c {
        Cipher::Cbc => {
            let mut iv = [0u8; 16];
            OsRng.fill_bytes(&mut iv);
            out.extend_from_slice(&iv);
            let ct = by_aes_size!(key, |k: A| {
                cbc::Encryptor::<A>::new_from_slices(k, &iv)
                    .expect("key and IV sizes checked")
                    .encrypt_padded_vec_mut::<Pkcs7>(plain)
            });
            out.extend_from_slice(&ct);
        }
        Cipher::Gcm => out.extend_from_slice(&gcm_seal(key, etcd_key, plain)),
        Cipher::Secretbox => {
            let mut nonce = [0u8; 24];
            OsRng.fill_bytes(&mut nonce);
            let mut buf = plain.to_vec();
            let tag = crypto_secretbox::XSalsa20Poly1305::new_from_slice(key)
                .expect("key size checked")
                .encrypt_in_place_detached((&nonce).into(), b"", &mut buf)
                .expect("a value under 256 GiB");
            out.extend_from_slice(&nonce);
            out.extend_from_slice(&tag);
            out.extend_from_slice(&buf);
        }
    }
    out
}

/// Built-in resources stored without their API group in the key, and their group.
const GROUPS: &[(&str, &str)] = &[
    ("deployments", "apps"),
    ("replicasets", "apps"),
    ("daemonsets", "apps"),
    ("statefulsets", "apps"),
    ("controllerrevisions", "apps"),
    ("jobs", "batch"),
    ("cronjobs", "batch"),
    ("horizontalpodautoscalers", "autoscaling"),
    ("ingresses", "networking.k8s.io"),
    ("ingressclasses", "networking.k8s.io"),
    ("networkpolicies", "networking.k8s.io"),
    ("ipaddresses", "networking.k8s.io"),
    ("servicecidrs", "networking.k8s.io"),
    ("poddisruptionbudgets", "policy"),
    ("podsecuritypolicy", "policy"),
    ("roles", "rbac.authorization.k8s.io"),
    ("rolebindings", "rbac.authorization.k8s.io"),
    ("clusterroles", "rbac.authorization.k8s.io"),
    ("clusterrolebindings", "rbac.authorization.k8s.io"),
    ("storageclasses", "storage.k8s.io"),
    ("volumeattachments", "storage.k8s.io"),
    ("csidrivers", "storage.k8s.io"),
    ("csinodes", "storage.k8s.io"),
    ("csistoragecapacities", "storage.k8s.io"),
    ("leases", "coordination.k8s.io"),
    ("priorityclasses", "scheduling.k8s.io"),
    ("certificatesigningrequests", "certificates.k8s.io"),
    ("mutatingwebhookconfigurations", "admissionregistration.k8s.io"),
    ("validatingwebhookconfigurations", "admissionregistration.k8s.io"),
    ("validatingadmissionpolicies", "admissionregistration.k8s.io"),
    ("validatingadmissionpolicybindings", "admissionregistration.k8s.io"),
    ("endpointslices", "discovery.k8s.io"),
    ("flowschemas", "flowcontrol.apiserver.k8s.io"),
    ("prioritylevelconfigurations", "flowcontrol.apiserver.k8s.io"),
    ("runtimeclasses", "node.k8s.io"),
];

/// The API group of a built-in resource stored without its group ("" for the core group).
pub(crate) fn group_of(resource: &str) -> &'static str {
    GROUPS.iter().find(|(r, _)| *r == resource).map_or("", |(_, g)| g)
}

/// A config's resource pattern: `secrets`, `deployments.apps`, `*.apps`, `*.` (the core group),
/// `*.*` (everything).
fn matches_resource(pattern: &str, resource: &str, group: &str) -> bool {
    match pattern.split_once('.') {
        None => group.is_empty() && pattern == resource,
        Some(("*", "*")) => true,
        Some(("*", g)) => g == group,
        Some((r, g)) => r == resource && g == group,
    }
}

/// An aescbc value with a given IV (for generators that must be deterministic, as kv-gen).
pub fn aescbc_with_iv(name: &str, key: &[u8; 32], iv: [u8; 16], plain: &[u8]) -> Vec<u8> {
    let mut out = format!("k8s:enc:aescbc:v1:{name}:").into_bytes();
    out.extend_from_slice(&iv);
    let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(key, &iv)
        .expect("32-byte key, 16-byte IV")
        .encrypt_padded_vec_mut::<Pkcs7>(plain);
    out.extend_from_slice(&ct);
    out
}

/// An EncryptionConfiguration whose first provider for `resources` is aescbc key `name`.
pub fn aescbc_config(resources: &[&str], name: &str, key: &[u8]) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [{}]\n  \
         providers:\n  - aescbc:\n      keys:\n      - name: {name}\n        secret: {}\n  - identity: {{}}\n",
        resources.join(", "),
        base64_simd::STANDARD.encode_to_string(key)
    )
}

/// A new random key for a config (base64), for tests and `kv-rekey` examples.
pub fn random_secret() -> String {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    base64_simd::STANDARD.encode_to_string(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(provider: &str, secret: &str) -> AtRest {
        AtRest::parse(&format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n\
             - resources: [secrets, '*.apps']\n  providers:\n  - {provider}:\n      keys:\n      - name: k1\n        \
             secret: {secret}\n  - identity: {{}}\n"
        ))
        .unwrap()
    }

    #[test]
    fn every_cipher_round_trips_and_aesgcm_binds_the_key() {
        for (p, bytes) in [("aescbc", 32), ("aesgcm", 16), ("aesgcm", 32), ("secretbox", 32)] {
            let secret = base64_simd::STANDARD.encode_to_string(vec![7u8; bytes]);
            let c = config(p, &secret);
            let key = b"/registry/secrets/default/s";
            let sealed = c.seal_for(key, b"k8s\0plain").unwrap().unwrap();
            assert!(sealed.starts_with(format!("k8s:enc:{p}:v1:k1:").as_bytes()));
            assert_eq!(c.open(key, &sealed).unwrap().unwrap(), b"k8s\0plain");
            let moved = c.open(b"/registry/secrets/other/s", &sealed).unwrap();
            assert_eq!(moved.is_err(), p == "aesgcm", "{p}");
            assert_eq!(binds_key(&sealed), p == "aesgcm");
            let mut cut = sealed.clone();
            cut.truncate(sealed.len() - 1);
            assert!(c.open(key, &cut).unwrap().is_err());
        }
    }

    #[test]
    fn resources_match_as_the_api_server_matches_them() {
        let c = config("aescbc", &random_secret());
        assert!(c.encrypts(b"/registry/secrets/a/b"));
        assert!(c.encrypts(b"/registry/deployments/a/b"));
        assert!(!c.encrypts(b"/registry/configmaps/a/b"));
        assert!(!c.encrypts(b"/registry/apiextensions.k8s.io/customresourcedefinitions/x"));
        assert!(matches_resource("*.*", "widgets", "example.com"));
        assert!(matches_resource("*.", "configmaps", ""));
        assert!(!matches_resource("*.", "deployments", "apps"));
        assert!(matches_resource("widgets.example.com", "widgets", "example.com"));
    }

    #[test]
    fn deeply_nested_configs_are_refused_before_parsing() {
        let started = std::time::Instant::now();
        let flow = format!("kind: EncryptionConfiguration\nresources: {}", "[".repeat(100_000));
        let e = AtRest::parse(&flow).unwrap_err().to_string();
        assert!(e.contains("nests deeper than 32 levels"), "{e}");
        let block: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i * 2))).collect();
        assert!(AtRest::parse(&block).unwrap_err().to_string().contains("nests deeper"));
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        // Quoted brackets and comments are not nesting.
        assert!(
            check_nesting("a: \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\" # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n")
                .is_ok()
        );
    }

    #[test]
    fn errors_name_the_key_never_the_secret() {
        let secret = random_secret();
        let c = config("aescbc", &secret);
        let e = c.open(b"/k", b"k8s:enc:aescbc:v1:other:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx").unwrap().unwrap_err();
        assert_eq!(e.to_string(), "encrypted with aescbc key \"other\", which the encryption config does not hold");
        // KMS v1 and v2 without a plugin endpoint in the config.
        let e = c.open(b"/k", b"k8s:enc:kms:v2:vault:xyz").unwrap().unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot decrypt: kms provider \"vault\" needs its KMS plugin (the data key is wrapped by it)"
        );
        // A v2 value, a provider configured as v1: said, before any call.
        let v1 = AtRest::parse(
            "kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms:\n      name: vault\n      endpoint: unix:///nonexistent.sock\n",
        )
        .unwrap();
        let e = v1.open(b"/k", b"k8s:enc:kms:v2:vault:xyz").unwrap().unwrap_err();
        assert_eq!(
            e.to_string(),
            "kms provider \"vault\" is configured with apiVersion v1 but the value was written by KMS v2: give the provider the apiVersion its plugin speaks"
        );
        let e = AtRest::parse(
            "kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - kms:\n      apiVersion: v3\n      name: vault\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "kms provider \"vault\": apiVersion \"v3\": expected v1 or v2");
        // KMS v1 without a plugin endpoint in the config.
        let e = c.open(b"/k", b"k8s:enc:kms:v1:vault:xyz").unwrap().unwrap_err();
        assert!(e.to_string().contains("kms provider \"vault\" needs its KMS plugin"));
        let e = AtRest::parse(&format!(
            "kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      \
             keys:\n      - name: k\n        secret: {}\n",
            &secret[..20]
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(!e.contains(&secret[..20]), "{e}");
        assert!(c.open(b"/k", b"plain").is_none());
    }
}
