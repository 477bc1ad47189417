//! Archive encryption with age (https://age-encryption.org): the whole archive is one age file,
//! encrypted to a passphrase (scrypt) or to X25519 recipients, in 64 KiB authenticated chunks, so
//! it streams in constant memory and a truncated file fails to decrypt. Open it by hand with
//! `age -d -i key.txt backup.zip.age > backup.zip` (or `age -d` and the passphrase).
//!
//! Keys and passphrases come from files or the environment, never the command line.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::str::FromStr;

use age::secrecy::SecretString;
use sha2::{Digest, Sha256};

use reshifter_format::error::{Error, Kind, Result};

/// Environment variable holding a passphrase.
pub const PASSPHRASE_ENV: &str = "RESHIFTER_PASSPHRASE";
/// Environment variable naming an age identity file.
pub const IDENTITY_ENV: &str = "RESHIFTER_IDENTITY_FILE";

/// The first bytes of every age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1";

/// Where the encryption key comes from.
#[derive(Debug, Clone, Default)]
pub struct KeyArgs {
    /// File whose first line is the passphrase.
    pub passphrase_file: Option<PathBuf>,
    /// age public keys (`age1...`) to encrypt to.
    pub recipients: Vec<String>,
    /// Files of age public keys, one per line.
    pub recipients_files: Vec<PathBuf>,
    /// age identity files (private keys) to decrypt with.
    pub identity_files: Vec<PathBuf>,
    /// Take the passphrase from RESHIFTER_PASSPHRASE.
    pub passphrase_env: bool,
}

fn read_passphrase(path: &std::path::Path) -> Result<SecretString> {
    let text = reshifter_format::io::read_option_text("the passphrase file", path)?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.is_empty() {
        return Err(Error::new(Kind::Usage, format!("the passphrase file {} is empty", path.display())));
    }
    Ok(SecretString::from(line))
}

fn env_passphrase() -> Option<SecretString> {
    std::env::var(PASSPHRASE_ENV).ok().filter(|p| !p.is_empty()).map(SecretString::from)
}

impl KeyArgs {
    /// True when the user asked for encryption.
    pub fn encrypts(&self) -> bool {
        self.passphrase_file.is_some()
            || !self.recipients.is_empty()
            || !self.recipients_files.is_empty()
            || self.passphrase_env
    }

    /// Wrap `out` so that everything written to it is encrypted.
    pub fn encryptor(&self) -> Result<age::Encryptor> {
        let mut recipients: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
        let mut keys: Vec<String> = self.recipients.clone();
        for f in &self.recipients_files {
            let text = reshifter_format::io::read_option_text("the recipients file", f)?;
            keys.extend(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from));
        }
        for k in &keys {
            let r = age::x25519::Recipient::from_str(k)
                .map_err(|e| Error::new(Kind::Usage, format!("{k:?} is not an age recipient (age1...): {e}")))?;
            recipients.push(Box::new(r));
        }
        let passphrase = match &self.passphrase_file {
            Some(p) => Some(read_passphrase(p)?),
            None if self.passphrase_env => Some(env_passphrase().ok_or_else(|| {
                Error::new(
                    Kind::Usage,
                    format!("--encrypt needs a key: set {PASSPHRASE_ENV}, or pass --passphrase-file or --recipient"),
                )
            })?),
            None => None,
        };
        match (passphrase, recipients.is_empty()) {
            (Some(_), false) => Err(Error::new(Kind::Usage, "use either a passphrase or recipients, not both")),
            (Some(p), true) => Ok(age::Encryptor::with_user_passphrase(p)),
            (None, false) => {
                age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                    .map_err(|e| Error::new(Kind::Usage, format!("cannot encrypt to these recipients: {e}")))
            }
            (None, true) => Err(Error::new(Kind::Usage, "no encryption key given")),
        }
    }

    /// Decrypt an age stream with the identities or passphrase given (files, then environment).
    /// An end record after the age file is checked and dropped; read errors say whether the
    /// encrypted archive was cut short (exit 4) or damaged (exit 5).
    pub fn decrypt<R: BufRead + Send + 'static>(&self, input: R) -> Result<Box<dyn Read + Send>> {
        let input = std::io::BufReader::with_capacity(reshifter_format::io::BUF_SIZE, EndStripper::new(input));
        let decryptor = age::Decryptor::new_buffered(input).map_err(|e| decrypt_error(&e))?;
        let mut identities: Vec<Box<dyn age::Identity>> = Vec::new();
        let mut files = self.identity_files.clone();
        if files.is_empty()
            && let Some(p) = std::env::var_os(IDENTITY_ENV).filter(|v| !v.is_empty())
        {
            files.push(PathBuf::from(p));
        }
        if decryptor.is_scrypt() {
            let passphrase = match &self.passphrase_file {
                Some(p) => Some(read_passphrase(p)?),
                None => env_passphrase(),
            };
            let Some(p) = passphrase else {
                return Err(Error::new(
                    Kind::Usage,
                    format!(
                        "the archive is encrypted with a passphrase: pass --passphrase-file FILE or set {PASSPHRASE_ENV}"
                    ),
                ));
            };
            identities.push(Box::new(age::scrypt::Identity::new(p)));
        } else {
            for f in &files {
                let bytes = reshifter_format::io::read_option_file("the identity file", f)?;
                let file = age::IdentityFile::from_buffer(&bytes[..]).map_err(|e| {
                    Error::with_source(Kind::Usage, format!("cannot read the identity file {}", f.display()), e)
                })?;
                let ids = file
                    .into_identities()
                    .map_err(|e| Error::new(Kind::Usage, format!("bad identity file {}: {e}", f.display())))?;
                identities.extend(ids);
            }
            if identities.is_empty() {
                return Err(Error::new(
                    Kind::Usage,
                    format!(
                        "the archive is encrypted to age recipients: pass --identity-file FILE or set {IDENTITY_ENV}"
                    ),
                ));
            }
        }
        let reader = decryptor.decrypt(identities.iter().map(|i| i.as_ref())).map_err(|e| decrypt_error(&e))?;
        Ok(Box::new(AgeErrors(reader)))
    }
}

/// Turns the I/O errors of age's reader into errors with the right kind: a file cut short is
/// truncated, a chunk that fails its authentication is damaged.
struct AgeErrors<R>(R);

impl<R: Read> Read for AgeErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            if e.get_ref().is_some_and(|i| i.is::<Error>()) {
                return e;
            }
            let err = match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    Error::new(Kind::Truncated, "the encrypted archive is truncated: it is incomplete")
                }
                _ => Error::new(Kind::Integrity, format!("the encrypted archive is damaged: {e}")),
            };
            std::io::Error::new(e.kind(), err)
        })
    }
}

fn decrypt_error(e: &age::DecryptError) -> Error {
    use age::DecryptError as D;
    match e {
        D::NoMatchingKeys | D::DecryptionFailed | D::KeyDecryptionFailed | D::InvalidMac => Error::new(
            Kind::Integrity,
            "cannot decrypt the archive: wrong passphrase or identity (or the archive was altered)",
        ),
        D::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::new(Kind::Truncated, "the encrypted archive is truncated")
        }
        other => Error::new(Kind::BadInput, format!("cannot decrypt the archive: {other}")),
    }
}

/// Counts and hashes what passes through it.
pub struct Counted<W: Write> {
    inner: W,
    size: u64,
    hash: Sha256,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.size += n as u64;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Where pack writes: straight through, or through age (then, optionally, followed by an end
/// record, see [`end_record`]).
pub enum ArchiveOut<W: Write> {
    Plain(W),
    Age(age::stream::StreamWriter<Counted<W>>, bool),
}

impl<W: Write> ArchiveOut<W> {
    /// `with_end_record`: append an end record after the age file (for a pipe).
    pub fn new(out: W, keys: &KeyArgs, with_end_record: bool) -> Result<Self> {
        if !keys.encrypts() {
            return Ok(ArchiveOut::Plain(out));
        }
        let enc = keys.encryptor()?;
        let tally = Counted { inner: out, size: 0, hash: Sha256::new() };
        Ok(ArchiveOut::Age(enc.wrap_output(tally)?, with_end_record))
    }

    /// Finish encryption (the final chunk), write the end record if asked, and hand back the
    /// output.
    pub fn finish(self) -> std::io::Result<W> {
        match self {
            ArchiveOut::Plain(w) => Ok(w),
            ArchiveOut::Age(w, end) => {
                let t = w.finish()?;
                let mut out = t.inner;
                if end {
                    out.write_all(&end_record(t.size, &t.hash.finalize().into()))?;
                }
                Ok(out)
            }
        }
    }
}

/// What starts the end record that archive-pack writes after an age file sent down a pipe.
pub const END_TAG: &[u8] = b"RESHIFTER-END ";

/// The end record (docs/FORMAT.md, "Encryption"): `RESHIFTER-END <size> <sha256>\n` after an
/// age file of `size` bytes. age's own format cannot tell, without the key, a file cut at a
/// chunk boundary from a whole one; the record is written only once the age file is complete,
/// so s3-push (which holds no key) uploads nothing a failed archive-pack left, and strips it.
pub fn end_record(size: u64, sha: &[u8; 32]) -> Vec<u8> {
    format!("RESHIFTER-END {size} {}\n", hex::encode(sha)).into_bytes()
}

/// The longest end record.
pub const END_MAX: usize = 14 + 20 + 1 + 64 + 1;

/// If `tail` (the last bytes of an input of `total` bytes) ends with an end record that fits
/// the input: the record's length and the SHA-256 (hex) it gives for the age file before it.
pub fn find_end_record(tail: &[u8], total: u64) -> Option<(usize, String)> {
    let body = tail.strip_suffix(b"\n")?;
    let at = memchr::memmem::rfind(body, END_TAG)?;
    let rec_len = tail.len() - at;
    let text = std::str::from_utf8(&body[at + END_TAG.len()..]).ok()?;
    let (size, sha) = text.split_once(' ')?;
    let size: u64 = size.parse().ok()?;
    let valid_sha = sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    (valid_sha && size + rec_len as u64 == total).then(|| (rec_len, sha.to_string()))
}

/// Reads an age file that may be followed by an end record: passes the age bytes through and, at
/// the end, checks the record (size and SHA-256) and drops it. Without a record the input is
/// passed through whole.
pub struct EndStripper<R: Read> {
    inner: R,
    held: Vec<u8>,
    total: u64,
    hash: Sha256,
    done: bool,
}

impl<R: Read> EndStripper<R> {
    pub fn new(inner: R) -> Self {
        EndStripper { inner, held: Vec::with_capacity(2 * END_MAX), total: 0, hash: Sha256::new(), done: false }
    }
}

impl<R: Read> Read for EndStripper<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            // Release what can no longer be part of a record.
            if self.held.len() > END_MAX || (self.done && !self.held.is_empty()) {
                let keep = if self.done { 0 } else { END_MAX };
                let n = (self.held.len() - keep).min(buf.len());
                buf[..n].copy_from_slice(&self.held[..n]);
                self.hash.update(&self.held[..n]);
                self.held.drain(..n);
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.done = true;
                if let Some((rec_len, sha)) = find_end_record(&self.held, self.total) {
                    let age_len = self.held.len() - rec_len;
                    let mut h = self.hash.clone();
                    h.update(&self.held[..age_len]);
                    if hex::encode(h.finalize()) != sha {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            Error::new(
                                Kind::Integrity,
                                "the encrypted archive does not match its end record: it is damaged",
                            ),
                        ));
                    }
                    self.held.truncate(age_len);
                }
                continue;
            }
            self.total += n as u64;
            self.held.extend_from_slice(&chunk[..n]);
        }
    }
}

impl<W: Write> Write for ArchiveOut<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            ArchiveOut::Plain(w) => w.write(buf),
            ArchiveOut::Age(w, _) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            ArchiveOut::Plain(w) => w.write_all(buf),
            ArchiveOut::Age(w, _) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            ArchiveOut::Plain(w) => w.flush(),
            ArchiveOut::Age(w, _) => w.flush(),
        }
    }
}
