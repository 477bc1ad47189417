//! Listening: plain HTTP, or HTTPS with rustls; a signal stops taking connections.

use std::sync::Arc;

use crate::{State, api};
use reshifter_format::error::{Error, Kind, Result};

/// The rustls configuration of --tls-cert/--tls-key.
fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: String| Error::new(Kind::Usage, format!("{what}: {e}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(&format!("cannot read --tls-cert {}", cert.display()), e.to_string()))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad("--tls-cert", e.to_string()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(&format!("cannot read --tls-key {}", key.display()), e.to_string()))?;
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
    let Some(acceptor) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .map_err(|e| Error::with_source(Kind::Failure, "the server failed", e));
    };
    loop {
        let (tcp, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = stop.cancelled() => return Ok(()),
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else { return };
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let mut app = app.clone();
                async move { tower::Service::call(&mut app, req.map(axum::body::Body::new)).await }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
