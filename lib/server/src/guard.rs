//! The one place that decides whether a request is served, before any handler runs:
//!
//! 1. `Host` must name this server: an IP address, `localhost`, or a `--server-name` (a page
//!    on a rebound DNS name carries its own name there, so it is refused: DNS rebinding).
//! 2. Except for the UI's files and `/healthz`, a cross-site request is refused, whatever its
//!    method and content type: a foreign `Origin`, or `Sec-Fetch-Site` other than same-origin or
//!    none. A page elsewhere can send a form or text/plain POST without asking (a CORS-simple
//!    request); it never reaches a handler here.
//! 3. Then the bearer token (scheme in any case), on every route that reads etcd or a backup or
//!    makes the server connect anywhere: all but the UI's files, `/healthz`, and `/metrics` with
//!    `--public-metrics`. A download ticket (made by `POST /v1/backup/{id}/link` with the token)
//!    stands for the token on that one download, once, for a minute.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State as Ax};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::State;

/// How long a download ticket is good for.
const TICKET_LIFE: Duration = Duration::from_secs(60);
/// Tickets outstanding at most (older ones are dropped first).
const TICKETS_MAX: usize = 256;

/// Compare two strings in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Routes anyone may fetch: the UI's files (no data in them) and the health check.
fn is_public(path: &str, public_metrics: bool) -> bool {
    path == "/" || path.starts_with("/ui/") || path == "/healthz" || (public_metrics && path == "/metrics")
}

/// The host part of a `Host` header value (without the port; IPv6 in brackets kept).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

/// True when `host` (a Host header) names this server.
pub fn host_allowed(host: &str, names: &[String]) -> bool {
    let h = host_name(host.trim());
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>().is_ok()
        || h.eq_ignore_ascii_case("localhost")
        || names.iter().any(|n| n.eq_ignore_ascii_case(h))
}

/// Why a request is cross-site, if it is: its `Origin` is not this server's own (scheme and
/// Host), or the browser says it comes from another site.
pub fn cross_site(headers: &HeaderMap, tls: bool) -> Option<String> {
    let text = |h| headers.get(h).map(|v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site.as_str(), "same-origin" | "none")
    {
        return Some(format!("Sec-Fetch-Site: {site}"));
    }
    let origin = text(header::ORIGIN.as_str())?;
    let own = text(header::HOST.as_str()).map(|h| format!("{}://{h}", if tls { "https" } else { "http" }));
    match own {
        Some(own) if origin.eq_ignore_ascii_case(&own) => None,
        _ => Some(format!("Origin {origin}")),
    }
}

/// The bearer token of an `Authorization` header (the scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// One-use download tickets: ticket → (the path it opens, when it was made).
#[derive(Default)]
pub struct Tickets(Mutex<HashMap<String, (String, Instant)>>);

impl Tickets {
    /// A new ticket for `path`.
    pub fn issue(&self, path: &str) -> std::io::Result<String> {
        let mut raw = [0u8; 24];
        getrandom::fill(&mut raw).map_err(std::io::Error::other)?;
        let t = hex::encode(raw);
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, (_, at)| at.elapsed() < TICKET_LIFE);
        if m.len() >= TICKETS_MAX
            && let Some(oldest) = m.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(t.clone(), (path.to_string(), Instant::now()));
        Ok(t)
    }

    /// Use a ticket for `path`: true once, within its life.
    fn redeem(&self, ticket: &str, path: &str) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match m.remove(ticket) {
            Some((p, at)) => p == path && at.elapsed() < TICKET_LIFE,
            None => false,
        }
    }
}

/// The ticket of a query string (`ticket=...`).
fn ticket_of(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|kv| kv.strip_prefix("ticket="))
}

fn refuse(status: StatusCode, text: String) -> Response {
    let mut r = (status, format!("{text}\n")).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// The gate every request passes.
pub async fn gate(Ax(s): Ax<std::sync::Arc<State>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let headers = req.headers();
    if let Some(host) = headers.get(header::HOST) {
        let host = String::from_utf8_lossy(host.as_bytes());
        if !host_allowed(&host, &s.opts.server_name) {
            s.log(&format!("refused {} {path}: Host {host} is not a name of this server", req.method()));
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "Host {host} is not a name of this server: reach it by IP address or localhost, or start it \
                     with --server-name {}",
                    host_name(&host)
                ),
            );
        }
    }
    if is_public(&path, s.opts.public_metrics) {
        return next.run(req).await;
    }
    if let Some(why) = cross_site(headers, s.tls) {
        s.log(&format!("refused {} {path}: a cross-site request ({why})", req.method()));
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "cross-site request refused ({why}): use this server's own page, or a client that is not a browser"
            ),
        );
    }
    if let Some(token) = &s.token {
        let by_token = bearer(headers).is_some_and(|g| same(g, token));
        let by_ticket = !by_token
            && req.method() == axum::http::Method::GET
            && ticket_of(req.uri().query()).is_some_and(|t| s.tickets.redeem(t, &path));
        if !by_token && !by_ticket {
            s.log(&format!("refused {} {path}: no valid bearer token", req.method()));
            return refuse(StatusCode::UNAUTHORIZED, "this route needs Authorization: Bearer <token>".into());
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        let names = vec!["backup.example.com".to_string()];
        for ok in ["127.0.0.1:8080", "[::1]:8080", "localhost:8080", "LOCALHOST", "10.1.2.3", "Backup.Example.com:443"]
        {
            assert!(host_allowed(ok, &names), "{ok}");
        }
        for bad in ["rebind.attacker.example", "rebind.attacker.example:8080", "localhost.attacker.example", ""] {
            assert!(!host_allowed(bad, &names), "{bad}");
        }
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert_eq!(cross_site(&h(&[("host", "127.0.0.1:8080")]), false), None);
        assert_eq!(cross_site(&h(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]), false), None);
        assert!(cross_site(&h(&[("host", "127.0.0.1:8080"), ("origin", "https://127.0.0.1:8080")]), false).is_some());
        assert!(cross_site(&h(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:9")]), false).is_some());
        assert!(cross_site(&h(&[("host", "127.0.0.1:8080"), ("origin", "null")]), false).is_some());
        assert!(cross_site(&h(&[("origin", "http://127.0.0.1:8080")]), false).is_some());
        assert!(cross_site(&h(&[("sec-fetch-site", "cross-site")]), false).is_some());
        assert!(cross_site(&h(&[("sec-fetch-site", "same-site")]), false).is_some());
        assert_eq!(cross_site(&h(&[("sec-fetch-site", "same-origin")]), false), None);
        let a = h(&[("authorization", "bearer abc ")]);
        assert_eq!(bearer(&a), Some("abc"));
        assert_eq!(bearer(&h(&[("authorization", "Basic abc")])), None);
    }

    #[test]
    fn tickets_open_one_path_once() {
        let t = Tickets::default();
        let a = t.issue("/v1/backup/1").unwrap();
        assert_eq!(a.len(), 48);
        assert!(!t.redeem(&a, "/v1/backup/2"), "another path");
        let a = t.issue("/v1/backup/1").unwrap();
        assert!(t.redeem(&a, "/v1/backup/1"));
        assert!(!t.redeem(&a, "/v1/backup/1"), "once");
    }
}
