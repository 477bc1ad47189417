//! node-stats: what a files stream holds, at a glance — every certificate (subject, issuer,
//! SANs, expiry and days left, the CA in the stream that signed it, the key that matches it),
//! every private and public key (which certificate or public key pairs with it), every
//! kubeconfig (servers, users, client-certificate expiry) — and warnings: expired, expiring
//! within `--warn-days`, keys without a certificate, certificates no CA in the stream signed.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use x509_parser::der_parser::{self, ber::BerObjectContent};
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

use reshifter_format::error::{Error, Kind, Result};
use reshifter_format::files::{FileKind, FilesReader};
use reshifter_format::io::open_input;

/// node-stats' options (`Default`: stdin, text, warnings under 30 days).
#[derive(Debug, Clone, clap::Args)]
pub struct StatsOptions {
    /// Files stream to read (default: stdin)
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,

    /// Warn about certificates that expire within N days
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub warn_days: i64,

    /// Judge expiry at TIME (RFC 3339, e.g. 2027-06-01T00:00:00Z) instead of now
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions { input: None, json: false, warn_days: 30, at: None }
    }
}

/// One certificate.
#[derive(Debug, Clone, Serialize)]
pub struct Cert {
    pub path: String,
    /// Its place in a bundle (0 for the first or only one).
    pub index: usize,
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Whole days until not-after (negative: since).
    pub days_left: i64,
    pub expired: bool,
    pub ca: bool,
    /// The certificate in the stream whose key signed it (`self` for a self-signed one).
    pub signed_by: Option<String>,
    /// The private key in the stream that matches it.
    pub key: Option<String>,
}

/// One private or public key.
#[derive(Debug, Clone, Serialize)]
pub struct Key {
    pub path: String,
    pub private: bool,
    pub algorithm: String,
    /// Certificates with this key.
    pub certificates: Vec<String>,
    /// The other half of a key pair without certificate (sa.key and sa.pub).
    pub pairs_with: Option<String>,
}

/// A kubeconfig's user.
#[derive(Debug, Clone, Serialize)]
pub struct KubeUser {
    pub name: String,
    /// The client certificate's subject, expiry and signer (embedded or named by path).
    pub certificate: Option<Cert>,
    pub token: bool,
}

/// One kubeconfig.
#[derive(Debug, Clone, Serialize)]
pub struct Kubeconfig {
    pub path: String,
    pub servers: Vec<String>,
    pub users: Vec<KubeUser>,
}

/// The report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub root: String,
    pub host: Option<String>,
    pub at: String,
    pub files: u64,
    pub certificates: Vec<Cert>,
    pub keys: Vec<Key>,
    pub kubeconfigs: Vec<Kubeconfig>,
    pub warnings: Vec<String>,
}

/// At most this many certificates and keys are examined, holding at most this many bytes of
/// certificates and kubeconfigs (a hostile stream of many PEM files cannot make the report's
/// memory grow without bound).
const MAX_ITEMS: usize = 10_000;
const MAX_HELD: usize = 64 << 20;

/// A public key's identity: an RSA modulus (leading zeros removed) or an EC point, with the
/// algorithm.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum KeyId {
    Rsa(Vec<u8>),
    Ec(Vec<u8>),
}

impl KeyId {
    fn algorithm(&self) -> String {
        match self {
            KeyId::Rsa(n) => format!("RSA {}", n.len() * 8),
            KeyId::Ec(p) => format!("EC ({} byte point)", p.len()),
        }
    }
}

fn strip_zeros(b: &[u8]) -> Vec<u8> {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b[i..].to_vec()
}

fn spki_id(spki: &SubjectPublicKeyInfo) -> Option<KeyId> {
    match spki.parsed().ok()? {
        PublicKey::RSA(k) => Some(KeyId::Rsa(strip_zeros(k.modulus))),
        PublicKey::EC(p) => Some(KeyId::Ec(p.data().to_vec())),
        _ => None,
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";

/// The public half of a private key: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`, when
/// it carries its public point, as openssl and kubeadm write it) or PKCS#8 (`PRIVATE KEY`)
/// holding either.
fn private_key_id(label: &str, der: &[u8]) -> Option<KeyId> {
    let (_, obj) = der_parser::parse_der(der).ok()?;
    let seq = obj.as_sequence().ok()?;
    match label {
        "RSA PRIVATE KEY" => Some(KeyId::Rsa(strip_zeros(seq.get(1)?.as_slice().ok()?))),
        "EC PRIVATE KEY" => seq.iter().skip(2).find_map(|item| match &item.content {
            BerObjectContent::Unknown(any) if any.tag().0 == 1 => {
                let (_, bits) = der_parser::parse_der(any.data).ok()?;
                Some(KeyId::Ec(bits.as_slice().ok()?.to_vec()))
            }
            BerObjectContent::Tagged(_, tag, inner) if tag.0 == 1 => Some(KeyId::Ec(inner.as_slice().ok()?.to_vec())),
            _ => None,
        }),
        "PRIVATE KEY" => {
            let alg = seq.get(1)?.as_sequence().ok()?.first()?.as_oid().ok()?.to_id_string();
            let inner = seq.get(2)?.as_slice().ok()?;
            match alg.as_str() {
                OID_RSA => private_key_id("RSA PRIVATE KEY", inner),
                OID_EC => private_key_id("EC PRIVATE KEY", inner),
                _ => None,
            }
        }
        _ => None,
    }
}

fn rfc3339(t: i64) -> String {
    // X.509 times end with the year 9999; humantime writes no later.
    let d = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.clamp(0, 253_402_300_799) as u64);
    humantime::format_rfc3339_seconds(d).to_string()
}

fn general_name(g: &GeneralName) -> String {
    match g {
        GeneralName::DNSName(d) => format!("DNS:{d}"),
        GeneralName::IPAddress(b) if b.len() == 4 => {
            format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]))
        }
        GeneralName::IPAddress(b) if b.len() == 16 => {
            let a: [u8; 16] = (*b).try_into().unwrap_or([0; 16]);
            format!("IP:{}", std::net::Ipv6Addr::from(a))
        }
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        other => format!("{other:?}"),
    }
}

/// A certificate as the report gives it (signer and key filled in later).
fn describe(path: &str, index: usize, c: &X509Certificate, now: i64) -> Cert {
    let not_after = c.validity().not_after.timestamp();
    let sans = match c.subject_alternative_name() {
        Ok(Some(ext)) => ext.value.general_names.iter().map(general_name).collect(),
        _ => Vec::new(),
    };
    Cert {
        path: path.to_string(),
        index,
        subject: c.subject().to_string(),
        issuer: c.issuer().to_string(),
        sans,
        not_before: rfc3339(c.validity().not_before.timestamp()),
        not_after: rfc3339(not_after),
        days_left: (not_after - now) / 86_400,
        expired: not_after < now,
        ca: c.is_ca(),
        signed_by: None,
        key: None,
    }
}

/// What was read of the stream: certificates as DER (parsed again for signatures), keys.
#[derive(Default)]
struct Found {
    certs: Vec<(String, usize, Vec<u8>)>,
    private: Vec<(String, Option<KeyId>)>,
    public: Vec<(String, KeyId)>,
    kubeconfigs: Vec<(String, serde_yaml_ng::Value)>,
    links: BTreeMap<String, String>,
    skipped: u64,
    held: usize,
}

impl Found {
    fn file(&mut self, path: &str, content: &[u8]) {
        if content.windows(11).any(|w| w == b"-----BEGIN ") {
            for (i, pem) in Pem::iter_from_buffer(content).flatten().enumerate() {
                if self.certs.len() + self.private.len() + self.public.len() >= MAX_ITEMS
                    || self.held + pem.contents.len() > MAX_HELD
                {
                    self.skipped += 1;
                    continue;
                }
                match pem.label.as_str() {
                    "CERTIFICATE" => {
                        self.held += pem.contents.len();
                        self.certs.push((path.to_string(), i, pem.contents))
                    }
                    l @ ("RSA PRIVATE KEY" | "EC PRIVATE KEY" | "PRIVATE KEY") => {
                        self.private.push((path.to_string(), private_key_id(l, &pem.contents)))
                    }
                    "PUBLIC KEY" => {
                        if let Some(id) =
                            SubjectPublicKeyInfo::from_der(&pem.contents).ok().and_then(|(_, s)| spki_id(&s))
                        {
                            self.public.push((path.to_string(), id));
                        }
                    }
                    _ => {}
                }
            }
        } else if content.len() < 1 << 20
            && (content.starts_with(b"apiVersion") || content.windows(12).any(|w| w == b"kind: Config"))
            && let Ok(doc) = serde_yaml_ng::from_slice::<serde_yaml_ng::Value>(content)
            && doc["kind"].as_str() == Some("Config")
        {
            if self.kubeconfigs.len() >= MAX_ITEMS || self.held + content.len() > MAX_HELD {
                self.skipped += 1;
                return;
            }
            self.held += content.len();
            self.kubeconfigs.push((path.to_string(), doc));
        }
    }
}

/// A path named on the node (absolute, or relative to a kubeconfig's directory) as the stream
/// holds it, symlinks in the stream followed.
fn in_stream(found: &Found, named: &str, from_dir: &str) -> String {
    let mut p = if let Some(abs) = named.strip_prefix('/') { abs.to_string() } else { format!("{from_dir}/{named}") };
    for _ in 0..40 {
        match found.links.get(&p) {
            Some(t) if t.starts_with('/') => p = t.trim_start_matches('/').to_string(),
            Some(t) => {
                let dir = p.rsplit_once('/').map_or("", |(d, _)| d).to_string();
                p = normalize(&format!("{dir}/{t}"));
            }
            None => break,
        }
    }
    p
}

fn normalize(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

fn parse_at(at: Option<&str>) -> Result<i64> {
    let t = match at {
        None => std::time::SystemTime::now(),
        Some(s) => humantime::parse_rfc3339_weak(s)
            .map_err(|e| Error::new(Kind::Usage, format!("--at {s:?} is not an RFC 3339 time: {e}")))?,
    };
    Ok(t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}

/// The most signatures checked for one report (a hostile stream of many certificates with one
/// subject cannot make the search quadratic).
const MAX_TRIES: usize = 100_000;

/// A certificate's name in the report: its path, and its place in a bundle after the first.
fn name(p: &str, i: usize) -> String {
    if i == 0 { p.to_string() } else { format!("{p}#{i}") }
}

/// What the report looks up, each by its key, in stream order (the first match wins): CAs by
/// subject, private and public keys and certificates by public key, certificates by path.
struct Index<'a> {
    parsed: &'a [(String, usize, X509Certificate<'a>)],
    by_subject: HashMap<&'a [u8], Vec<usize>>,
    cert_keys: Vec<Option<KeyId>>,
    certs_of: HashMap<KeyId, Vec<String>>,
    private: HashMap<&'a KeyId, &'a str>,
    public: HashMap<&'a KeyId, &'a str>,
    by_path: HashMap<&'a str, usize>,
    tries: Cell<usize>,
}

impl<'a> Index<'a> {
    fn new(parsed: &'a [(String, usize, X509Certificate<'a>)], found: &'a Found) -> Self {
        let mut ix = Index {
            parsed,
            by_subject: HashMap::new(),
            cert_keys: parsed.iter().map(|(_, _, c)| spki_id(c.public_key())).collect(),
            certs_of: HashMap::new(),
            private: HashMap::new(),
            public: HashMap::new(),
            by_path: HashMap::new(),
            tries: Cell::new(0),
        };
        for (n, (p, i, c)) in parsed.iter().enumerate() {
            ix.by_subject.entry(c.subject().as_raw()).or_default().push(n);
            if *i == 0 {
                ix.by_path.entry(p.as_str()).or_insert(n);
            }
            if let Some(id) = &ix.cert_keys[n] {
                ix.certs_of.entry(id.clone()).or_default().push(name(p, *i));
            }
        }
        for (p, id) in &found.private {
            if let Some(id) = id {
                ix.private.entry(id).or_insert(p.as_str());
            }
        }
        for (p, id) in &found.public {
            ix.public.entry(id).or_insert(p.as_str());
        }
        ix
    }

    /// The first certificate in the stream whose subject is `c`'s issuer and whose key verifies
    /// `c`'s signature.
    fn signer(&self, c: &X509Certificate) -> Option<String> {
        self.by_subject.get(c.issuer().as_raw())?.iter().find_map(|&n| {
            self.tries.set(self.tries.get() + 1);
            if self.tries.get() > MAX_TRIES {
                return None;
            }
            let (p, i, ca) = &self.parsed[n];
            c.verify_signature(Some(ca.public_key())).is_ok().then(|| name(p, *i))
        })
    }
}

/// Read the stream and make the report.
pub fn report(o: &StatsOptions) -> Result<Report> {
    let now = parse_at(o.at.as_deref())?;
    let mut r = FilesReader::new(open_input(o.input.as_deref())?)?;
    let mut rep = Report {
        root: r.header().root.clone().unwrap_or_default(),
        host: r.header().host.clone(),
        at: rfc3339(now),
        ..Report::default()
    };
    let mut found = Found::default();
    while let Some(e) = r.next_entry()? {
        let path = String::from_utf8_lossy(&e.path).into_owned();
        match e.kind {
            FileKind::File => {
                rep.files += 1;
                found.file(&path, &e.content);
            }
            FileKind::Symlink => {
                found.links.insert(path, String::from_utf8_lossy(&e.target).into_owned());
            }
            FileKind::Dir => {}
        }
    }
    let parsed: Vec<(String, usize, X509Certificate)> = found
        .certs
        .iter()
        .filter_map(|(p, i, der)| X509Certificate::from_der(der).ok().map(|(_, c)| (p.clone(), *i, c)))
        .collect();
    let ix = Index::new(&parsed, &found);
    for (n, (p, i, c)) in parsed.iter().enumerate() {
        let mut cert = describe(p, *i, c, now);
        cert.signed_by = ix.signer(c).map(|s| if s == name(p, *i) { "self".into() } else { s });
        cert.key = ix.cert_keys[n].as_ref().and_then(|id| ix.private.get(id)).map(|kp| kp.to_string());
        rep.certificates.push(cert);
    }
    for (p, id) in &found.private {
        let certificates = id.as_ref().and_then(|id| ix.certs_of.get(id)).cloned().unwrap_or_default();
        let pairs_with = id.as_ref().and_then(|id| ix.public.get(id)).map(|pp| pp.to_string());
        let algorithm = id.as_ref().map_or("unknown (its public half cannot be read)".into(), KeyId::algorithm);
        if id.is_some() && certificates.is_empty() && pairs_with.is_none() {
            rep.warnings.push(format!("{p}: a private key that matches no certificate or public key in the stream"));
        }
        rep.keys.push(Key { path: p.clone(), private: true, algorithm, certificates, pairs_with });
    }
    for (p, id) in &found.public {
        let pairs_with = ix.private.get(id).map(|kp| kp.to_string());
        if pairs_with.is_none() {
            rep.warnings.push(format!("{p}: a public key whose private key is not in the stream"));
        }
        rep.keys.push(Key {
            path: p.clone(),
            private: false,
            algorithm: id.algorithm(),
            certificates: Vec::new(),
            pairs_with,
        });
    }
    for (p, doc) in &found.kubeconfigs {
        rep.kubeconfigs.push(kubeconfig(p, doc, &found, &ix, now));
    }
    if ix.tries.get() > MAX_TRIES {
        rep.warnings.push(format!(
            "signatures past the first {MAX_TRIES} tries were not checked: their certificates name no signer"
        ));
    }
    warn(&mut rep, o.warn_days, found.skipped);
    Ok(rep)
}

fn kubeconfig(p: &str, doc: &serde_yaml_ng::Value, found: &Found, ix: &Index, now: i64) -> Kubeconfig {
    let dir = p.rsplit_once('/').map_or("", |(d, _)| d);
    let servers = doc["clusters"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|c| c["cluster"]["server"].as_str().map(str::to_string))
        .collect();
    let mut users = Vec::new();
    for u in doc["users"].as_sequence().into_iter().flatten() {
        let user = &u["user"];
        let certificate = if let Some(data) = user["client-certificate-data"].as_str() {
            let pem = base64_simd::STANDARD.decode_to_vec(data.trim().as_bytes()).unwrap_or_default();
            Pem::iter_from_buffer(&pem).flatten().find(|x| x.label == "CERTIFICATE").and_then(|x| {
                let (_, c) = X509Certificate::from_der(&x.contents).ok()?;
                let mut d = describe(&format!("{p} (client-certificate-data)"), 0, &c, now);
                d.signed_by = ix.signer(&c);
                Some(d)
            })
        } else if let Some(named) = user["client-certificate"].as_str() {
            let at = in_stream(found, named, dir);
            ix.by_path.get(at.as_str()).map(|&n| {
                let (cp, _, c) = &ix.parsed[n];
                let mut d = describe(cp, 0, c, now);
                d.signed_by = ix.signer(c);
                d
            })
        } else {
            None
        };
        users.push(KubeUser {
            name: u["name"].as_str().unwrap_or("").to_string(),
            certificate,
            token: user["token"].is_string() || user["tokenFile"].is_string(),
        });
    }
    Kubeconfig { path: p.to_string(), servers, users }
}

fn warn(rep: &mut Report, warn_days: i64, skipped: u64) {
    let mut w = Vec::new();
    let client_certs = rep.kubeconfigs.iter().flat_map(|k| k.users.iter().filter_map(|u| u.certificate.as_ref()));
    let mut seen = std::collections::BTreeSet::new();
    for c in rep.certificates.iter().chain(client_certs) {
        if !seen.insert((c.path.clone(), c.index)) {
            continue;
        }
        let at = if c.index == 0 { c.path.clone() } else { format!("{}#{}", c.path, c.index) };
        if c.expired {
            w.push(format!("{at}: EXPIRED on {} ({} days ago)", c.not_after, -c.days_left));
        } else if c.days_left < warn_days {
            w.push(format!("{at}: expires on {} (in {} days)", c.not_after, c.days_left));
        }
        if c.signed_by.is_none() {
            w.push(format!("{at}: signed by no certificate in the stream (issuer {})", c.issuer));
        }
    }
    if skipped > 0 {
        w.push(format!(
            "{skipped} more PEM blocks or kubeconfigs were not examined (more than {MAX_ITEMS}, or {} MiB)",
            MAX_HELD >> 20
        ));
    }
    w.append(&mut rep.warnings);
    rep.warnings = w;
}

fn text(rep: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} files from {}{} at {}",
        rep.files,
        if rep.root.is_empty() { "?" } else { &rep.root },
        rep.host.as_deref().map(|h| format!(" on {h}")).unwrap_or_default(),
        rep.at
    )?;
    writeln!(out, "\ncertificates: {}", rep.certificates.len())?;
    for c in &rep.certificates {
        cert_text(c, out, "  ")?;
    }
    writeln!(out, "\nkeys: {}", rep.keys.len())?;
    for k in &rep.keys {
        let what = if k.private { "private" } else { "public" };
        let mut with: Vec<String> = k.certificates.clone();
        with.extend(k.pairs_with.iter().map(|p| format!("pairs with {p}")));
        let with = if with.is_empty() { "-".to_string() } else { with.join(", ") };
        writeln!(out, "  {}  {what} {}  {with}", k.path, k.algorithm)?;
    }
    writeln!(out, "\nkubeconfigs: {}", rep.kubeconfigs.len())?;
    for k in &rep.kubeconfigs {
        writeln!(out, "  {}  server {}", k.path, if k.servers.is_empty() { "-".into() } else { k.servers.join(", ") })?;
        for u in &k.users {
            match &u.certificate {
                Some(c) => writeln!(
                    out,
                    "    user {}: {} until {} ({}), signed by {}",
                    u.name,
                    c.subject,
                    c.not_after,
                    left(c),
                    c.signed_by.as_deref().unwrap_or("-")
                )?,
                None if u.token => writeln!(out, "    user {}: token", u.name)?,
                None => writeln!(out, "    user {}: no client certificate in the stream", u.name)?,
            }
        }
    }
    writeln!(out, "\nwarnings: {}", rep.warnings.len())?;
    for w in &rep.warnings {
        writeln!(out, "  {w}")?;
    }
    Ok(())
}

fn left(c: &Cert) -> String {
    if c.expired { format!("EXPIRED {} days ago", -c.days_left) } else { format!("{} days left", c.days_left) }
}

fn cert_text(c: &Cert, out: &mut dyn Write, pad: &str) -> std::io::Result<()> {
    let at = if c.index == 0 { c.path.clone() } else { format!("{}#{}", c.path, c.index) };
    writeln!(out, "{pad}{at}{}", if c.ca { "  (CA)" } else { "" })?;
    writeln!(out, "{pad}  subject    {}", c.subject)?;
    writeln!(out, "{pad}  issuer     {}  signed by {}", c.issuer, c.signed_by.as_deref().unwrap_or("-"))?;
    if !c.sans.is_empty() {
        writeln!(out, "{pad}  SANs       {}", c.sans.join(", "))?;
    }
    writeln!(out, "{pad}  not after  {} ({})", c.not_after, left(c))?;
    writeln!(out, "{pad}  key        {}", c.key.as_deref().unwrap_or("-"))
}

/// Run node-stats: the report on `out`.
pub fn stats(o: StatsOptions, out: &mut dyn Write) -> Result<Report> {
    let rep = report(&o)?;
    if o.json {
        serde_json::to_writer(&mut *out, &rep)?;
        writeln!(out)?;
    } else {
        text(&rep, out)?;
    }
    out.flush()?;
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Stats {
        #[command(flatten)]
        o: StatsOptions,
    }

    #[test]
    fn the_default_is_the_tools() {
        assert_eq!(format!("{:?}", StatsOptions::default()), format!("{:?}", Stats::parse_from(["t"]).o));
    }

    #[test]
    fn paths_follow_links_in_the_stream() {
        let mut f = Found::default();
        f.links.insert("var/lib/kubelet/pki/current.pem".into(), "/var/lib/kubelet/pki/c-2026.pem".into());
        assert_eq!(
            in_stream(&f, "/var/lib/kubelet/pki/current.pem", "etc/kubernetes"),
            "var/lib/kubelet/pki/c-2026.pem"
        );
        assert_eq!(in_stream(&f, "pki/ca.crt", "etc/kubernetes"), "etc/kubernetes/pki/ca.crt");
    }
}
