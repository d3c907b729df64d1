//! HTTP responses the server writes: [`Resp`], plain and JSON-error bodies, and the
//! 408 of a body that was too slow.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

use crate::shared::Shared;

/// An HTTP response with a full body.
pub(crate) type Resp = Response<Full<Bytes>>;

/// A response with a body and content type.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The publish-style JSON error `{"error":{"code","message"}}`.
pub(crate) fn json_error(
    status: StatusCode,
    code: protocol::roomcast::codes::ErrorCode,
    message: &str,
) -> Resp {
    let body = protocol::roomcast::codes::http_error_body(code, message).to_string();
    respond(status, "application/json", body)
}

/// 408 and `Connection: close` for a body that was too slow (LIM-14).
pub(crate) fn body_timeout(shared: &Shared, mut r: Resp) -> Resp {
    shared.metrics.body_timeouts.fetch_add(1, Relaxed);
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}
