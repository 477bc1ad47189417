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

use crate::error::{Error, Kind, Result};

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

fn read_passphrase(path: &PathBuf) -> Result<SecretString> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::with_source(Kind::Usage, format!("cannot read the passphrase file {}", path.display()), e)
    })?;
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
            let text = std::fs::read_to_string(f).map_err(|e| {
                Error::with_source(Kind::Usage, format!("cannot read the recipients file {}", f.display()), e)
            })?;
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
    pub fn decrypt<R: BufRead + Send + 'static>(&self, input: R) -> Result<Box<dyn Read + Send>> {
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
                let file = age::IdentityFile::from_file(f.display().to_string()).map_err(|e| {
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
        Ok(Box::new(reader))
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

/// Where pack writes: straight through, or through age.
pub enum Sink<W: Write> {
    Plain(W),
    Age(age::stream::StreamWriter<W>),
}

impl<W: Write> Sink<W> {
    pub fn new(out: W, keys: &KeyArgs) -> Result<Self> {
        if !keys.encrypts() {
            return Ok(Sink::Plain(out));
        }
        let enc = keys.encryptor()?;
        Ok(Sink::Age(enc.wrap_output(out)?))
    }

    /// Finish encryption (the final chunk) and hand back the output.
    pub fn finish(self) -> std::io::Result<W> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Age(w) => w.finish(),
        }
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Age(w) => w.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(buf),
            Sink::Age(w) => w.write_all(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Age(w) => w.flush(),
        }
    }
}
