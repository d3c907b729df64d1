//! Reading HTTP request bodies (polling POST, `/v1/publish`) against hostile senders:
//! the bytes are copied into one contiguous buffer as they arrive, so the memory held is
//! bounded by the bytes received, not by the TCP segments that carried them (each chunk
//! hyper hands over pins its whole read buffer); the read has a byte limit, a deadline
//! and a minimum data rate ([`Limits::body_wait_until`]), and it ends when `cancel`
//! completes (the session it belongs to is gone).

use std::future::Future;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::limits::Limits;

/// A body that could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Above the limit.
    TooLarge,
    /// The connection failed.
    Io,
    /// Not complete within the deadline, or slower than the minimum rate.
    Slow,
    /// The request's session ended while the body was read.
    Cancelled,
}

/// At most this much is reserved up front from a declared `Content-Length` (a declared
/// length costs nothing to send).
const RESERVE_MAX: usize = 16 * 1024;

/// Reads `body` (declared length `declared`, if any) into one buffer of at most `limit`
/// bytes.
pub(crate) async fn read_body(
    mut body: Incoming,
    declared: Option<u64>,
    limit: usize,
    limits: &Limits,
    cancel: impl Future<Output = ()>,
) -> Result<Bytes, BodyError> {
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let start = tokio::time::Instant::now();
    let reserve = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit));
    let mut buf = Vec::with_capacity(reserve.min(RESERVE_MAX));
    let mut cancel = std::pin::pin!(cancel);
    loop {
        let wait_until = start + limits.body_wait_until(buf.len());
        let frame = tokio::select! {
            biased;
            _ = &mut cancel => return Err(BodyError::Cancelled),
            _ = tokio::time::sleep_until(wait_until) => return Err(BodyError::Slow),
            f = body.frame() => f,
        };
        match frame {
            None => break,
            Some(Err(_)) => return Err(BodyError::Io),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(BodyError::TooLarge);
                    }
                    // Copy and drop the chunk: it shares hyper's read buffer.
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    buf.shrink_to_fit();
    Ok(Bytes::from(buf))
}

/// The declared `Content-Length` of a request.
pub(crate) fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}
