//! Where the server may connect: the etcd endpoints and S3 remotes of its own configuration.
//! A request may choose among them (ReShifter's API names an endpoint and a remote per request),
//! never add to them: the server's etcd and S3 credentials go only where the operator said.

use reshifter_format::redact;

/// An etcd endpoint or S3 remote reduced to what identifies the peer: scheme, host (lower
/// case), port (the scheme's default when not given). `None` when it is not a URL we connect to.
fn peer(url: &str, default_scheme: &str) -> Option<(String, String, u16)> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => (default_scheme.to_string(), url),
    };
    let port_default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') || authority.is_empty() {
        // Credentials in the URL are never ours to use.
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => port_default,
            None => return None,
        };
        (format!("[{}]", h.to_ascii_lowercase()), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), p.parse().ok()?),
            None => (authority.to_ascii_lowercase(), port_default),
        }
    };
    let path = &rest[authority.len()..];
    if !(path.is_empty() || path == "/") {
        return None;
    }
    Some((scheme, host, port))
}

/// The endpoints or remotes the server may connect to, as configured.
#[derive(Debug, Clone)]
pub struct Allowed {
    /// What the operator wrote (used to connect), and its peer.
    list: Vec<(String, (String, String, u16))>,
    /// The scheme of a value without one: http for etcd, https for S3 (ReShifter's host:port).
    default_scheme: &'static str,
    /// "etcd endpoint" or "S3 remote", for messages.
    what: &'static str,
    /// The flag that adds one, for messages.
    flag: &'static str,
}

/// A request named a peer the server is not configured for.
#[derive(Debug)]
pub struct NotAllowed(pub String);

impl Allowed {
    /// The etcd endpoints: `--etcd` (each of a comma-separated list) and `--allow-endpoint`.
    pub fn endpoints(etcd: &str, extra: &[String]) -> Allowed {
        Allowed::new(
            std::iter::once(etcd).chain(extra.iter().map(String::as_str)),
            "http",
            "etcd endpoint",
            "--allow-endpoint",
        )
    }

    /// The S3 remotes: `--remote` and `--allow-remote`.
    pub fn remotes(remote: Option<&str>, extra: &[String]) -> Allowed {
        Allowed::new(remote.into_iter().chain(extra.iter().map(String::as_str)), "https", "S3 remote", "--allow-remote")
    }

    fn new<'a>(
        values: impl Iterator<Item = &'a str>,
        default_scheme: &'static str,
        what: &'static str,
        flag: &'static str,
    ) -> Allowed {
        let list = values
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .filter_map(|v| peer(v, default_scheme).map(|p| (v.to_string(), p)))
            .collect();
        Allowed { list, default_scheme, what, flag }
    }

    /// The configured value a request's `given` names (each member of a comma-separated list
    /// must be configured), or why it is refused. The configured spelling is what the server
    /// connects to, so a request cannot smuggle anything in through its own spelling.
    pub fn choose(&self, given: &str) -> Result<String, NotAllowed> {
        let mut chosen = Vec::new();
        for part in given.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let found = peer(part, self.default_scheme).and_then(|p| self.list.iter().find(|(_, q)| *q == p));
            match found {
                Some((configured, _)) => chosen.push(configured.clone()),
                None => {
                    return Err(NotAllowed(format!(
                        "{} {} is not one this server is configured for: the server connects only to its own \
                         (start it with {} {})",
                        self.what,
                        redact::urls(part),
                        self.flag,
                        redact::urls(part)
                    )));
                }
            }
        }
        if chosen.is_empty() {
            return Err(NotAllowed(format!("no {} given", self.what)));
        }
        Ok(chosen.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_peers_are_chosen_in_their_configured_spelling() {
        let a = Allowed::endpoints("http://127.0.0.1:2379", &["https://etcd.example:2379".into()]);
        assert_eq!(a.choose("http://127.0.0.1:2379/").unwrap(), "http://127.0.0.1:2379");
        assert_eq!(a.choose("127.0.0.1:2379").unwrap(), "http://127.0.0.1:2379");
        assert_eq!(a.choose("HTTPS://ETCD.example:2379").unwrap(), "https://etcd.example:2379");
        for bad in [
            "http://127.0.0.1:2380",
            "https://127.0.0.1:2379",
            "http://user:pw@127.0.0.1:2379",
            "http://127.0.0.1:2379/x",
            "http://127.0.0.1:2379,http://10.0.0.1:2379",
            "unix:///run/etcd.sock",
            "",
        ] {
            assert!(a.choose(bad).is_err(), "{bad}");
        }
        let e = a.choose("http://u:secret@10.0.0.9:1").unwrap_err().0;
        assert!(!e.contains("secret") && e.contains("--allow-endpoint"), "{e}");
        let r = Allowed::remotes(Some("s3.example.com:9000"), &[]);
        assert_eq!(r.choose("https://s3.example.com:9000").unwrap(), "s3.example.com:9000");
        assert!(r.choose("http://s3.example.com:9000").is_err());
        assert!(Allowed::remotes(None, &[]).choose("s3.example.com").is_err());
    }
}
