//! The floor of the side-by-side table: the least a server can do for the benchmark's
//! subset of the contract, on the same stack as the reference server (hyper 1 +
//! tokio-tungstenite). WebSocket transport only; the Engine.IO open packet; a CONNECT
//! whose token is *decoded but not verified* (no signature check: this is a floor, not
//! a server); the organization room; `system:connected`; `POST /v1/publish` (token not
//! checked either) that encodes each event once and queues the same bytes to every
//! member, whose writer drains its whole queue per flush (as few syscalls as the queue
//! allows). No pings, no limits, no polling. Never deploy it.
//!
//! `ROOMCAST_FLOOR_FAULT=drop|duplicate|reorder` breaks it on purpose (every 7th
//! publish is not delivered / delivered twice / held back until the next one), so that
//! tests show the load generator's loss, duplicate and reorder counts are real.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use protocol::roomcast::envelope::Envelope;
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::timestamp::Timestamp;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

type Queue = mpsc::Sender<Utf8Bytes>;

/// A deliberate bug, for the load generator's own honesty tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every 7th publish reaches no one (but is answered 202).
    Drop,
    /// Every 7th publish is delivered twice.
    Duplicate,
    /// Every 7th publish is delivered after the next one.
    Reorder,
}

impl Fault {
    /// Parses `drop`, `duplicate` or `reorder`.
    pub fn parse(s: &str) -> Option<Fault> {
        match s {
            "drop" => Some(Fault::Drop),
            "duplicate" => Some(Fault::Duplicate),
            "reorder" => Some(Fault::Reorder),
            _ => None,
        }
    }
}

/// Rooms and their members' outbound queues.
#[derive(Default)]
pub struct Floor {
    rooms: Mutex<HashMap<String, HashMap<u64, Queue>>>,
    next_id: AtomicU64,
    fault: Option<Fault>,
    publishes: AtomicU64,
    held: Mutex<Option<(String, Utf8Bytes)>>,
}

/// Outbound queue per socket, in packets (the reference server's default too).
const QUEUE: usize = 1024;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn envelope(event_type: &str, payload: Value) -> Option<Envelope> {
    Some(Envelope {
        event_id: uuid::Uuid::new_v4(),
        event_type: EventType::parse(event_type).ok()?,
        timestamp: Timestamp::from_millis(now_ms()),
        payload,
    })
}

/// `organizationId` and user id of a JWT's payload, read without verifying it.
pub fn unverified_identity(token: &str) -> Option<(String, String)> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let org = claims.get("organizationId")?.as_str()?.to_owned();
    let user = claims
        .get("userId")
        .or_else(|| claims.get("sub"))?
        .as_str()?
        .to_owned();
    Some((org, user))
}

impl Floor {
    /// A floor server, optionally broken on purpose.
    pub fn new(fault: Option<Fault>) -> Floor {
        Floor {
            fault,
            ..Floor::default()
        }
    }

    fn deliver(&self, room: &str, frame: &Utf8Bytes) {
        if let Some(members) = self
            .rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(room)
        {
            for q in members.values() {
                let _ = q.try_send(frame.clone());
            }
        }
    }

    /// Serves HTTP/1.1 connections from `listener` forever.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let floor = Arc::clone(&self);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let floor = Arc::clone(&floor);
                    async move { Ok::<_, Infallible>(floor.route(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    }

    async fn route(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz" | "/readyz") => reply(StatusCode::OK, "ok".into()),
            (&Method::POST, "/v1/publish") => self.publish(req).await,
            (&Method::GET, "/socket.io/") => self.upgrade(req),
            _ => reply(StatusCode::NOT_FOUND, "not found".into()),
        }
    }

    async fn publish(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let Ok(body) = req.into_body().collect().await else {
            return reply(StatusCode::BAD_REQUEST, "bad body".into());
        };
        let Ok(v) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
            return reply(StatusCode::BAD_REQUEST, "bad json".into());
        };
        let (Some(room), Some(ty)) = (v["room"].as_str(), v["type"].as_str()) else {
            return reply(StatusCode::BAD_REQUEST, "room and type required".into());
        };
        let Some(env) = envelope(ty, v.get("payload").cloned().unwrap_or(Value::Null)) else {
            return reply(StatusCode::BAD_REQUEST, "bad type".into());
        };
        let frame = Utf8Bytes::from(env.encode_event_message("/"));
        let nth = self.publishes.fetch_add(1, Relaxed) % 7 == 6;
        match self.fault {
            Some(Fault::Drop) if nth => {}
            Some(Fault::Duplicate) if nth => {
                self.deliver(room, &frame);
                self.deliver(room, &frame);
            }
            Some(Fault::Reorder) if nth => {
                *self.held.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((room.to_owned(), frame));
            }
            _ => {
                self.deliver(room, &frame);
                let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some((r, f)) = held {
                    self.deliver(&r, &f);
                }
            }
        }
        let body = json!({"eventId": env.event_id_string(), "room": room, "timestamp": env.timestamp.to_iso()});
        let mut r = reply(StatusCode::ACCEPTED, body.to_string().into());
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("valid header"),
        );
        r
    }

    fn upgrade(self: Arc<Self>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return reply(StatusCode::BAD_REQUEST, "websocket only".into());
        };
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let config = WebSocketConfig::default().read_buffer_size(1024);
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                self.socket(ws).await;
            }
        });
        let mut r = reply(StatusCode::SWITCHING_PROTOCOLS, Bytes::new());
        let h = r.headers_mut();
        h.insert(header::UPGRADE, "websocket".parse().expect("valid header"));
        h.insert(header::CONNECTION, "Upgrade".parse().expect("valid header"));
        h.insert(
            header::SEC_WEBSOCKET_ACCEPT,
            accept.parse().expect("valid header"),
        );
        r
    }

    async fn socket<S>(&self, mut ws: WebSocketStream<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let id = self.next_id.fetch_add(1, Relaxed);
        let sid = format!("floor{id:015}");
        let open = format!(
            r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}}"#
        );
        if ws.send(Message::text(open)).await.is_err() {
            return;
        }
        // Wait for the CONNECT (`40{"token":…}`).
        let (org, user) = loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let Some(auth) = t.as_str().strip_prefix("40") else {
                        continue;
                    };
                    let token = serde_json::from_str::<Value>(auth)
                        .ok()
                        .and_then(|v| v["token"].as_str().map(str::to_owned));
                    match token.as_deref().and_then(unverified_identity) {
                        Some(who) => break who,
                        None => {
                            let _ = ws
                                .send(Message::text(r#"44{"message":"Invalid or expired token","data":{"code":"AUTH_FAILED","reason":"invalid_token"}}"#))
                                .await;
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => return,
            }
        };
        let room = format!("org:{org}");
        let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
        self.rooms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(room.clone())
            .or_default()
            .insert(id, tx);
        let connected = envelope(
            "system:connected",
            json!({"sid": sid, "userId": user, "organizationId": org, "rooms": [room, format!("org:{org}:user:{user}")]}),
        )
        .map(|e| e.encode_event_message("/"))
        .unwrap_or_default();
        let (mut sink, mut stream) = ws.split();
        let hello = async {
            sink.feed(Message::text(format!(r#"40{{"sid":"{sid}"}}"#)))
                .await?;
            sink.send(Message::text(connected)).await
        };
        if hello.await.is_ok() {
            let writer = async {
                while let Some(first) = rx.recv().await {
                    if sink.feed(Message::Text(first)).await.is_err() {
                        return;
                    }
                    while let Ok(more) = rx.try_recv() {
                        if sink.feed(Message::Text(more)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            };
            let reader = async {
                while let Some(Ok(m)) = stream.next().await {
                    if m.is_close() {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = writer => {}
                _ = reader => {}
            }
        }
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = rooms.get_mut(&room) {
            m.remove(&id);
            if m.is_empty() {
                rooms.remove(&room);
            }
        }
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_read_from_the_token_payload() {
        let t = crate::token::Minter::new(b"s").client("acme", "u1");
        assert_eq!(unverified_identity(&t), Some(("acme".into(), "u1".into())));
        assert_eq!(unverified_identity("a.b.c"), None);
        assert_eq!(unverified_identity("nodots"), None);
    }
}
