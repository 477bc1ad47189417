//! Listening: plain HTTP, or HTTPS with rustls. Bounded whatever clients do: at most
//! `--max-connections` served at once (more are answered 503 and closed), a request's headers
//! and a TLS handshake must arrive within `--client-timeout`, and so must each part of a body;
//! a connection idle that long is closed. A signal stops taking connections and lets the
//! requests in flight finish.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::{State, api};
use reshifter_format::error::{Error, Kind, Result};

/// How long requests in flight may take to finish after a signal.
const DRAIN: Duration = Duration::from_secs(30);

/// The rustls configuration of --tls-cert/--tls-key.
fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: String| Error::new(Kind::Usage, format!("{what}: {e}"));
    let cert_pem = reshifter_format::io::read_option_file("--tls-cert", cert)?;
    let key_pem = reshifter_format::io::read_option_file("--tls-key", key)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(&format!("--tls-cert {}", cert.display()), e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(&format!("--tls-key {}", key.display()), e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("--tls-cert/--tls-key", e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A request body whose every part must arrive within `idle` of the previous one.
fn idle_limited(body: Body, idle: Duration) -> Body {
    let stream = futures::stream::unfold(Some(body.into_data_stream()), move |state| async move {
        let mut s = state?;
        match tokio::time::timeout(idle, s.next()).await {
            Ok(Some(item)) => Some((item, Some(s))),
            Ok(None) => None,
            Err(_) => Some((
                Err(axum::Error::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("the client sent nothing for {} s", idle.as_secs()),
                ))),
                None,
            )),
        }
    });
    Body::from_stream(stream)
}

/// Serve one connection (plain or TLS) until it ends.
async fn connection<I: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: I,
    app: axum::Router,
    idle: Duration,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut app = app.clone();
        async move { tower::Service::call(&mut app, req.map(|b| idle_limited(Body::new(b), idle))).await }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(idle);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let _ = watcher.watch(conn.into_owned()).await;
}

/// Serve until a signal.
pub async fn serve(state: Arc<State>) -> Result<()> {
    let app = api::router(state.clone());
    let addr = state.opts.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::with_source(Kind::Usage, format!("cannot listen on {addr}"), e))?;
    let stop = reshifter_format::signals::cancelled();
    let tls = match (&state.opts.tls_cert, &state.opts.tls_key) {
        (Some(c), Some(k)) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(tls_config(c, k)?))),
        _ => None,
    };
    state.log(&format!(
        "listening on {}://{addr}, store {}{}{}",
        if tls.is_some() { "https" } else { "http" },
        state.store.display(),
        if state.token.is_some() { "" } else { ", no token (loopback only)" },
        if state.opts.read_only { ", read-only" } else { "" }
    ));
    let idle = state.opts.client_timeout;
    let slots = Arc::new(Semaphore::new(state.opts.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut full_logged = false;
    loop {
        let (mut tcp, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !full_logged {
                state.log(&format!(
                    "{} connections open: new ones are refused (--max-connections)",
                    state.opts.max_connections
                ));
                full_logged = true;
            }
            let plain = tls.is_none();
            tokio::spawn(async move {
                if plain {
                    let busy = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 24\r\n\
                                Retry-After: 5\r\n\r\ntoo many connections now\n";
                    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.write_all(busy.as_bytes())).await;
                }
                let _ = tcp.shutdown().await;
            });
            continue;
        };
        full_logged = false;
        let (app, watcher, tls) = (app.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(tcp, app, idle, watcher).await,
                Some(acceptor) => {
                    if let Ok(Ok(stream)) = tokio::time::timeout(idle, acceptor.accept(tcp)).await {
                        connection(stream, app, idle, watcher).await;
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    Ok(())
}
