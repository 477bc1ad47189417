//! Request bodies: JSON under any content type, as ReShifter's server read them.
//!
//! ReShifter's web UI posts JSON with jQuery's default `application/x-www-form-urlencoded`, and
//! its CronJob with `curl -d`, which sends the same. Such a request is also one a page on another
//! site can make without asking (a CORS-simple request); those never get here — the gate
//! ([`crate::guard`]) refuses every cross-site request first — so the body is read as JSON
//! whatever its content type says.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::api::ApiError;

/// A JSON body, whatever the content type (an empty body is `{}`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            let text = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the request body is too large: a JSON object of a few fields is expected".to_string()
            } else {
                format!("cannot read the request body: {e}")
            };
            ApiError::new(status, text).into_response()
        })?;
        let text = if bytes.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { &bytes[..] };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, format!("the request body is not the JSON object expected: {e}"))
                .into_response()
        })
    }
}
