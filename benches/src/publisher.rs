//! The benchmark's publisher: `POST /v1/publish` over one keep-alive HTTP/1.1
//! connection (hyper's low-level client), one request at a time, so that publishes of a
//! room are ordered (PUB-4). The payload carries the room's sequence number and the
//! intended send time that receivers measure latency from.

use std::net::SocketAddr;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpStream;

/// Where to publish: the server's address and the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishUrl {
    /// Host and port.
    pub addr: SocketAddr,
    /// The path, `/v1/publish` by default.
    pub path: String,
}

impl PublishUrl {
    /// Parses `http://host:port[/path]`; the path defaults to `/v1/publish`.
    pub async fn parse(url: &str) -> anyhow::Result<PublishUrl> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("invalid publish URL {url:?}"))?;
        if uri.scheme_str() != Some("http") {
            bail!("the publish URL must be http://host:port[/path], got {url:?}");
        }
        let addr = resolve(&uri).await?;
        let path = match uri.path() {
            "" | "/" => "/v1/publish".to_owned(),
            p => p.to_owned(),
        };
        Ok(PublishUrl { addr, path })
    }
}

/// The socket address of a URL's host and port (80 by default).
pub async fn resolve(uri: &http::Uri) -> anyhow::Result<SocketAddr> {
    let host = uri.host().context("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))
}

/// The outcome of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 202 with this eventId.
    Accepted(String),
    /// Any other status, with the start of the body.
    Rejected(u16, String),
}

#[derive(Deserialize)]
struct Accepted {
    #[serde(rename = "eventId")]
    event_id: String,
}

/// One publishing HTTP connection.
pub struct Publisher {
    sender: SendRequest<Full<Bytes>>,
    url: PublishUrl,
    auth: HeaderValue,
    host: HeaderValue,
}

impl Publisher {
    /// Opens the connection.
    pub async fn connect(url: &PublishUrl, token: &str) -> anyhow::Result<Publisher> {
        let stream = TcpStream::connect(url.addr)
            .await
            .with_context(|| format!("cannot connect to the publish endpoint {}", url.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Publisher {
            sender,
            url: url.clone(),
            auth: HeaderValue::from_str(&format!("Bearer {token}"))?,
            host: HeaderValue::from_str(&url.addr.to_string())?,
        })
    }

    /// Publishes one benchmark event (`bench:tick`) into `room`.
    pub async fn publish(&mut self, room: &str, seq: u64, t_ns: u64) -> anyhow::Result<Outcome> {
        let body = publish_body(room, seq, t_ns);
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.url.path.as_str())
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        self.sender
            .ready()
            .await
            .context("the publish connection closed")?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .context("publish request failed")?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if status == StatusCode::ACCEPTED {
            let a: Accepted = serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "202 without an eventId: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })?;
            Ok(Outcome::Accepted(a.event_id))
        } else {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            Ok(Outcome::Rejected(status.as_u16(), text))
        }
    }
}

/// The publish body of one benchmark event.
pub fn publish_body(room: &str, seq: u64, t_ns: u64) -> String {
    format!(r#"{{"room":"{room}","type":"bench:tick","payload":{{"seq":{seq},"t":{t_ns}}}}}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_a_publish_request_whose_payload_the_client_reads_back() {
        let body = publish_body("org:bench-3", 12, 345);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["room"], "org:bench-3");
        assert_eq!(v["type"], "bench:tick");
        let frame = format!(
            r#"42["bench:tick",{{"eventId":"e","type":"bench:tick","timestamp":"t","payload":{}}}]"#,
            v["payload"]
        );
        let p = crate::wire_client::bench_event(&frame).unwrap();
        assert_eq!((p.seq, p.t), (12, 345));
    }

    #[tokio::test]
    async fn publish_urls_default_to_v1_publish() {
        let u = PublishUrl::parse("http://127.0.0.1:3000").await.unwrap();
        assert_eq!(u.path, "/v1/publish");
        assert_eq!(u.addr, "127.0.0.1:3000".parse().unwrap());
        let u = PublishUrl::parse("http://127.0.0.1:3000/api/publish")
            .await
            .unwrap();
        assert_eq!(u.path, "/api/publish");
        assert!(PublishUrl::parse("ws://127.0.0.1:3000").await.is_err());
    }
}
