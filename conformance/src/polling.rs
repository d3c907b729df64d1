//! A raw Engine.IO long-polling client: handshake, POST of packets, GET of
//! payloads, all recorded in the transcript.

use crate::ctx::{CheckFailure, Ctx};
use crate::http::HttpResponse;
use bytes::Bytes;
use protocol::engineio::{self, payload};
use serde_json::Value;

/// A polling session.
#[derive(Debug, Clone)]
pub struct PollSession {
    /// Base URL of the instance.
    pub base: String,
    /// Engine.IO path.
    pub path: String,
    /// Session id.
    pub sid: String,
    /// The open packet's JSON.
    pub open: Value,
}

/// `{base}{path}?EIO=4&transport=polling[&sid=..]`.
pub fn url(base: &str, path: &str, sid: Option<&str>) -> String {
    let mut u = format!(
        "{}{}?EIO=4&transport=polling",
        base.trim_end_matches('/'),
        path
    );
    if let Some(s) = sid {
        u.push_str("&sid=");
        u.push_str(s);
    }
    u
}

impl PollSession {
    /// The polling handshake; fails unless it answers 200 with an open packet.
    pub async fn handshake(
        ctx: &Ctx,
        headers: &[(&str, &str)],
    ) -> Result<PollSession, CheckFailure> {
        let base = ctx.target().to_string();
        let path = ctx.cfg.path.clone();
        let r = ctx
            .http("GET", &url(&base, &path, None), headers, None)
            .await?;
        if r.status != 200 {
            return Err(CheckFailure::fail("polling handshake refused")
                .expected("200 with the open packet")
                .actual(format!("{} {}", r.status, r.text())));
        }
        let packets = payload::decode(&r.text()).map_err(|e| {
            CheckFailure::fail(format!("handshake body does not decode: {e}")).actual(r.text())
        })?;
        let Some(engineio::Packet::Open(_)) = packets.first() else {
            return Err(
                CheckFailure::fail("handshake body does not start with the open packet")
                    .actual(r.text()),
            );
        };
        let text = r.text();
        let first = text.split(payload::SEPARATOR).next().unwrap_or("");
        let open: Value = serde_json::from_str(first.get(1..).unwrap_or("")).unwrap_or(Value::Null);
        let sid = open
            .get("sid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok(PollSession {
            base,
            path,
            sid,
            open,
        })
    }

    /// The session URL.
    pub fn url(&self) -> String {
        url(&self.base, &self.path, Some(&self.sid))
    }

    /// POSTs a raw body.
    pub async fn post_raw(
        &self,
        ctx: &Ctx,
        body: impl Into<Bytes>,
    ) -> Result<HttpResponse, CheckFailure> {
        ctx.http(
            "POST",
            &self.url(),
            &[("content-type", "text/plain;charset=UTF-8")],
            Some(body.into()),
        )
        .await
    }

    /// POSTs Engine.IO packets (text form) joined by the record separator; expects `200 ok`.
    pub async fn post(&self, ctx: &Ctx, packets: &[engineio::Packet]) -> Result<(), CheckFailure> {
        let r = self.post_raw(ctx, payload::encode(packets)).await?;
        if r.status != 200 || r.text() != "ok" {
            return Err(CheckFailure::fail("polling POST not answered 200 ok")
                .expected("200 ok")
                .actual(format!("{} {}", r.status, r.text())));
        }
        Ok(())
    }

    /// One GET; returns the decoded packets (a GET may wait up to the ping interval).
    pub async fn get(
        &self,
        ctx: &Ctx,
    ) -> Result<(u16, Vec<engineio::Packet>, String), CheckFailure> {
        let r = ctx.http("GET", &self.url(), &[], None).await?;
        let text = r.text();
        if r.status != 200 {
            return Ok((r.status, Vec::new(), text));
        }
        let p = payload::decode(&text).map_err(|e| {
            CheckFailure::fail(format!("polling body does not decode: {e}")).actual(&text)
        })?;
        Ok((r.status, p, text))
    }
}
