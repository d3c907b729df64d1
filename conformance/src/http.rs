//! A small HTTP/1.1 client on hyper that records every exchange in the
//! check's transcript. One TCP connection per request, no pooling, no
//! redirects: the harness wants to see exactly what the server answered.

use crate::transcript::{Dir, Transcript};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tokio::net::TcpStream;

/// Errors of one HTTP exchange.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL could not be used.
    #[error("bad url {0}")]
    Url(String),
    /// TCP connect failed.
    #[error("connect to {0} failed: {1}")]
    Connect(String, std::io::Error),
    /// The exchange failed at the HTTP level.
    #[error("http error: {0}")]
    Http(String),
    /// No answer within the timeout.
    #[error("no answer within {0} ms")]
    Timeout(u64),
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl HttpResponse {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Splits an `http://host:port/path?q` URL into `host:port` and path-and-query.
pub fn split_url(url: &str) -> Result<(String, String), HttpError> {
    let uri: http::Uri = url.parse().map_err(|_| HttpError::Url(url.to_string()))?;
    let scheme = uri.scheme_str().unwrap_or("http");
    if scheme != "http" && scheme != "ws" {
        return Err(HttpError::Url(format!(
            "{url} (only http:// and ws:// targets are supported; put TLS in front of the harness, not behind it)"
        )));
    }
    let auth = uri
        .authority()
        .ok_or_else(|| HttpError::Url(url.to_string()))?;
    let host = auth.host();
    let port = auth.port_u16().unwrap_or(80);
    let pq = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    Ok((format!("{host}:{port}"), pq.to_string()))
}

/// Sends one request and reads the whole response.
pub async fn request(
    tr: &Transcript,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Bytes>,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let chan = tr.channel("http");
    let (addr, pq) = split_url(url)?;
    let mut summary = format!("{method} {pq}");
    for (k, v) in headers {
        let shown = if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie") {
            let cut: String = v.chars().take(24).collect();
            format!("{cut}…")
        } else {
            (*v).to_string()
        };
        summary.push_str(&format!(" [{k}: {shown}]"));
    }
    if let Some(b) = &body {
        summary.push_str(&format!(" {}", String::from_utf8_lossy(b)));
    }
    tr.push(Dir::Sent, &chan, summary);
    let fut = async {
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| HttpError::Connect(addr.clone(), e))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut b = http::Request::builder().method(method).uri(pq.as_str());
        b = b.header("host", addr.as_str());
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(body.clone().unwrap_or_default()))
            .map_err(|e| HttpError::Http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| HttpError::Http(e.to_string()))?
            .to_bytes();
        Ok::<_, HttpError>(HttpResponse {
            status,
            headers,
            body,
        })
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(r)) => {
            let ct = r.header("content-type").unwrap_or("-").to_string();
            tr.push(
                Dir::Recv,
                &chan,
                format!("{} [content-type: {ct}] {}", r.status, r.text()),
            );
            Ok(r)
        }
        Ok(Err(e)) => {
            tr.push(Dir::Note, &chan, format!("error: {e}"));
            Err(e)
        }
        Err(_) => {
            let e = HttpError::Timeout(timeout.as_millis() as u64);
            tr.push(Dir::Note, &chan, format!("error: {e}"));
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_address_and_path() {
        let (a, p) = split_url("http://127.0.0.1:8080/v1/publish?x=1").unwrap();
        assert_eq!(a, "127.0.0.1:8080");
        assert_eq!(p, "/v1/publish?x=1");
        assert_eq!(split_url("ws://h/").unwrap().0, "h:80");
        assert!(split_url("https://h/").is_err());
    }
}
