//! The harness's own wire client: raw Engine.IO v4 / Socket.IO v5 over a
//! WebSocket, built on the `protocol` codec but with strict expectations of
//! its own, able to send anything (raw text and binary frames, malformed
//! packets, oversized frames). Every frame goes into the check's transcript.
//!
//! ```text
//!  check ──emit/send_text──▶ sink ─────────────▶ server
//!  check ◀──recv/expect_*── mpsc ◀── reader task ◀┘  (answers pings itself
//!                                                    unless auto-pong is off)
//! ```

use crate::transcript::{Dir, Transcript};
use bytes::Bytes;
use futures_util::stream::{SplitSink, StreamExt};
use futures_util::SinkExt;
use protocol::engineio::{self, WsFrame};
use protocol::socketio::{self, PacketData};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Errors of the wire client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The WebSocket could not be opened.
    #[error("websocket handshake failed: {0}")]
    Handshake(String),
    /// Nothing arrived within the step timeout.
    #[error("timed out after {ms} ms waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The timeout.
        ms: u64,
    },
    /// The connection closed.
    #[error("connection closed ({0}) while waiting for {1}")]
    Closed(CloseInfo, String),
    /// The server sent something the client did not expect.
    #[error("{0}")]
    Unexpected(String),
    /// Sending failed.
    #[error("send failed: {0}")]
    Send(String),
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// WebSocket close code, when a close frame was received.
    pub code: Option<u16>,
    /// Close reason or transport error text.
    pub reason: String,
}

impl std::fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(c) => write!(f, "close frame {c} {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

/// Something the reader task saw.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// The Engine.IO open packet, as raw JSON text.
    Open(String),
    /// An Engine.IO ping from the server (already answered when auto-pong is on).
    Ping(String),
    /// An Engine.IO packet other than open/ping/message (noop, close, pong, upgrade).
    Engine(String),
    /// A decoded Socket.IO packet.
    Sio(socketio::Packet),
    /// A frame that did not decode.
    Invalid(String),
    /// The connection ended.
    Closed(CloseInfo),
}

/// Options for opening a WebSocket.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Extra query string (without leading `&`), e.g. `token=...`.
    pub query: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// A small TCP receive buffer (for slow-consumer checks).
    pub recv_buffer: Option<u32>,
}

/// A raw Engine.IO/Socket.IO WebSocket connection.
pub struct WsClient {
    chan: String,
    tr: Transcript,
    sink: Arc<Mutex<SplitSink<Ws, Message>>>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    buffered: VecDeque<Incoming>,
    auto_pong: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    /// The open packet's JSON.
    pub open: Value,
    /// Namespace used by the convenience methods.
    pub nsp: String,
    next_ack: u64,
    step: Duration,
    closed: Option<CloseInfo>,
    /// Connection-state recovery is declared: an event may carry its recovery
    /// offset (a string) after the envelope (ENV-1, FAN-11).
    pub recovery_offsets: bool,
}

/// Turns `http://h:p` into `ws://h:p`.
pub fn ws_base(base: &str) -> String {
    if let Some(r) = base.strip_prefix("http://") {
        format!("ws://{r}")
    } else if let Some(r) = base.strip_prefix("https://") {
        format!("wss://{r}")
    } else {
        base.to_string()
    }
}

impl WsClient {
    /// Opens `ws://…{path}?EIO=4&transport=websocket` and waits for the open packet.
    pub async fn open(
        tr: &Transcript,
        base: &str,
        path: &str,
        nsp: &str,
        opts: &OpenOptions,
        step: Duration,
    ) -> Result<WsClient, ClientError> {
        let mut url = format!(
            "{}{}?EIO=4&transport=websocket",
            ws_base(base).trim_end_matches('/'),
            path
        );
        if let Some(q) = &opts.query {
            url.push('&');
            url.push_str(q);
        }
        let mut c = Self::open_url(tr, &url, nsp, opts, step).await?;
        let first = c.next_incoming(step, "the Engine.IO open packet").await?;
        match first {
            Incoming::Open(raw) => {
                c.open = serde_json::from_str(&raw).map_err(|e| {
                    ClientError::Unexpected(format!("open packet is not JSON ({e}): {raw}"))
                })?;
                Ok(c)
            }
            other => Err(ClientError::Unexpected(format!(
                "expected the open packet first, got {other:?}"
            ))),
        }
    }

    /// Opens a WebSocket to a full URL without waiting for anything.
    pub async fn open_url(
        tr: &Transcript,
        url: &str,
        nsp: &str,
        opts: &OpenOptions,
        step: Duration,
    ) -> Result<WsClient, ClientError> {
        let chan = tr.channel("ws");
        tr.push(Dir::Note, &chan, format!("open {}", redact_query(url)));
        let mut req = url
            .into_client_request()
            .map_err(|e| ClientError::Handshake(e.to_string()))?;
        for (k, v) in &opts.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| ClientError::Handshake(e.to_string()))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| ClientError::Handshake(e.to_string()))?;
            req.headers_mut().insert(name, value);
        }
        let connect = async {
            match opts.recv_buffer {
                None => tokio_tungstenite::connect_async(req).await,
                Some(size) => {
                    let host = req.uri().host().unwrap_or("127.0.0.1").to_string();
                    let port = req.uri().port_u16().unwrap_or(80);
                    let addr = tokio::net::lookup_host((host.as_str(), port))
                        .await
                        .map_err(tokio_tungstenite::tungstenite::Error::Io)?
                        .next()
                        .ok_or_else(|| {
                            tokio_tungstenite::tungstenite::Error::Io(std::io::Error::other(
                                "no address",
                            ))
                        })?;
                    let sock = if addr.is_ipv4() {
                        tokio::net::TcpSocket::new_v4()
                    } else {
                        tokio::net::TcpSocket::new_v6()
                    }
                    .map_err(tokio_tungstenite::tungstenite::Error::Io)?;
                    sock.set_recv_buffer_size(size)
                        .map_err(tokio_tungstenite::tungstenite::Error::Io)?;
                    let stream = sock
                        .connect(addr)
                        .await
                        .map_err(tokio_tungstenite::tungstenite::Error::Io)?;
                    tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream)).await
                }
            }
        };
        let (ws, _resp) = match tokio::time::timeout(step, connect).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                let msg = match &e {
                    tokio_tungstenite::tungstenite::Error::Http(r) => {
                        let body = r
                            .body()
                            .as_ref()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default();
                        format!("HTTP {} {body}", r.status())
                    }
                    other => other.to_string(),
                };
                tr.push(Dir::Note, &chan, format!("handshake failed: {msg}"));
                return Err(ClientError::Handshake(msg));
            }
            Err(_) => {
                tr.push(Dir::Note, &chan, "handshake timed out");
                return Err(ClientError::Timeout {
                    what: "the WebSocket handshake".into(),
                    ms: step.as_millis() as u64,
                });
            }
        };
        let (sink, stream) = ws.split();
        let sink = Arc::new(Mutex::new(sink));
        let (tx, rx) = mpsc::unbounded_channel();
        let auto_pong = Arc::new(AtomicBool::new(true));
        let paused = Arc::new(AtomicBool::new(false));
        tokio::spawn(reader(
            stream,
            tx,
            sink.clone(),
            auto_pong.clone(),
            paused.clone(),
            tr.clone(),
            chan.clone(),
        ));
        Ok(WsClient {
            chan,
            tr: tr.clone(),
            sink,
            rx,
            buffered: VecDeque::new(),
            auto_pong,
            paused,
            open: Value::Null,
            nsp: nsp.to_string(),
            next_ack: 1,
            step,
            closed: None,
            recovery_offsets: false,
        })
    }

    /// The transcript channel name of this connection.
    pub fn chan(&self) -> &str {
        &self.chan
    }

    /// The step timeout.
    pub fn step(&self) -> Duration {
        self.step
    }

    /// Whether the reader answers server pings (on by default).
    pub fn set_auto_pong(&self, on: bool) {
        self.auto_pong.store(on, Ordering::SeqCst);
    }

    /// Stops (or resumes) reading from the socket: a client that stops reading.
    pub fn set_paused(&self, on: bool) {
        self.tr.note(format!(
            "{} reading on {}",
            if on { "stop" } else { "resume" },
            self.chan
        ));
        self.paused.store(on, Ordering::SeqCst);
    }

    /// Sends a raw WebSocket text frame.
    pub async fn send_text(&self, s: impl Into<String>) -> Result<(), ClientError> {
        let s = s.into();
        self.tr.push(Dir::Sent, &self.chan, &s);
        self.sink
            .lock()
            .await
            .send(Message::text(s))
            .await
            .map_err(|e| ClientError::Send(e.to_string()))
    }

    /// Sends a raw WebSocket binary frame.
    pub async fn send_binary(&self, b: Bytes) -> Result<(), ClientError> {
        self.tr
            .push(Dir::Sent, &self.chan, format!("<binary {} bytes>", b.len()));
        self.sink
            .lock()
            .await
            .send(Message::binary(b))
            .await
            .map_err(|e| ClientError::Send(e.to_string()))
    }

    /// Sends a Socket.IO packet (text frame plus binary attachments).
    pub async fn send_sio(&self, p: &socketio::Packet) -> Result<(), ClientError> {
        let enc = p.encode();
        match engineio::Packet::Message(enc.text).encode_ws() {
            WsFrame::Text(t) => self.send_text(t).await?,
            WsFrame::Binary(b) => self.send_binary(b).await?,
        }
        for a in enc.attachments {
            self.send_binary(a).await?;
        }
        Ok(())
    }

    /// Sends a Socket.IO CONNECT with this auth payload.
    pub async fn send_connect(&self, nsp: &str, auth: Option<Value>) -> Result<(), ClientError> {
        self.send_sio(&socketio::Packet {
            nsp: nsp.to_string(),
            data: PacketData::Connect(auth),
        })
        .await
    }

    /// Sends CONNECT and waits for the reply: `Ok(payload)` for CONNECT,
    /// `Err(payload)` for CONNECT_ERROR.
    pub async fn connect_ns(
        &mut self,
        nsp: &str,
        auth: Option<Value>,
    ) -> Result<Result<Value, Value>, ClientError> {
        self.send_connect(nsp, auth).await?;
        let p = self.next_sio("the CONNECT or CONNECT_ERROR reply").await?;
        if p.nsp != nsp {
            return Err(ClientError::Unexpected(format!(
                "reply for namespace {:?}, expected {nsp:?}: {p:?}",
                p.nsp
            )));
        }
        match p.data {
            PacketData::Connect(v) => Ok(Ok(v.unwrap_or(Value::Null))),
            PacketData::ConnectError(v) => Ok(Err(v)),
            other => Err(ClientError::Unexpected(format!(
                "expected CONNECT or CONNECT_ERROR, got {other:?}"
            ))),
        }
    }

    /// Emits an event without an ack.
    pub async fn emit(&self, name: &str, args: Vec<Value>) -> Result<(), ClientError> {
        self.send_sio(&socketio::Packet::event(&self.nsp, name, args, None))
            .await
    }

    /// Emits an event with an ack id and returns that id (does not wait).
    pub async fn emit_with_ack_id(
        &mut self,
        name: &str,
        args: Vec<Value>,
    ) -> Result<u64, ClientError> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_sio(&socketio::Packet::event(&self.nsp, name, args, Some(id)))
            .await?;
        Ok(id)
    }

    /// Emits an event with an ack and waits for the ack's arguments.
    pub async fn emit_ack(
        &mut self,
        name: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, ClientError> {
        let id = self.emit_with_ack_id(name, args).await?;
        self.wait_ack(id).await
    }

    /// Waits for the ACK with this id; other packets stay buffered in order.
    pub async fn wait_ack(&mut self, id: u64) -> Result<Vec<Value>, ClientError> {
        // look in the buffer first
        let pos = self.buffered.iter().position(|i| is_ack(i, id));
        if let Some(pos) = pos {
            if let Some(Incoming::Sio(p)) = self.buffered.remove(pos) {
                return Ok(ack_args(p));
            }
        }
        let deadline = tokio::time::Instant::now() + self.step;
        let mut stash = Vec::new();
        let res = loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break Err(ClientError::Timeout {
                    what: format!("the ack {id}"),
                    ms: self.step.as_millis() as u64,
                });
            }
            match tokio::time::timeout(deadline - now, self.rx.recv()).await {
                Err(_) => continue,
                Ok(None) => {
                    break Err(ClientError::Closed(
                        self.closed_info(),
                        format!("the ack {id}"),
                    ))
                }
                Ok(Some(i)) => {
                    if is_ack(&i, id) {
                        if let Incoming::Sio(p) = i {
                            break Ok(ack_args(p));
                        }
                    }
                    if let Incoming::Closed(c) = &i {
                        self.closed = Some(c.clone());
                        stash.push(i.clone());
                        break Err(ClientError::Closed(c.clone(), format!("the ack {id}")));
                    }
                    if !matches!(i, Incoming::Ping(_)) {
                        stash.push(i);
                    }
                }
            }
        };
        self.buffered.extend(stash);
        res
    }

    fn closed_info(&self) -> CloseInfo {
        self.closed.clone().unwrap_or(CloseInfo {
            code: None,
            reason: "reader ended".into(),
        })
    }

    /// The next thing received (buffer first), skipping pings, within `timeout`.
    pub async fn next_incoming(
        &mut self,
        timeout: Duration,
        what: &str,
    ) -> Result<Incoming, ClientError> {
        if let Some(i) = self.buffered.pop_front() {
            if let Incoming::Closed(c) = &i {
                self.closed = Some(c.clone());
            }
            return Ok(i);
        }
        if let Some(c) = &self.closed {
            return Err(ClientError::Closed(c.clone(), what.to_string()));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    what: what.to_string(),
                    ms: timeout.as_millis() as u64,
                });
            }
            match tokio::time::timeout(deadline - now, self.rx.recv()).await {
                Err(_) => continue,
                Ok(None) => return Err(ClientError::Closed(self.closed_info(), what.to_string())),
                Ok(Some(Incoming::Ping(_))) => continue,
                Ok(Some(i)) => {
                    if let Incoming::Closed(c) = &i {
                        self.closed = Some(c.clone());
                    }
                    return Ok(i);
                }
            }
        }
    }

    /// The next Socket.IO packet within the step timeout; anything else is an error.
    pub async fn next_sio(&mut self, what: &str) -> Result<socketio::Packet, ClientError> {
        loop {
            match self.next_incoming(self.step, what).await? {
                Incoming::Sio(p) => return Ok(p),
                Incoming::Engine(_) => continue,
                Incoming::Closed(c) => return Err(ClientError::Closed(c, what.to_string())),
                other => {
                    return Err(ClientError::Unexpected(format!(
                        "expected a Socket.IO packet ({what}), got {other:?}"
                    )))
                }
            }
        }
    }

    /// The next Socket.IO packet within `timeout`.
    pub async fn next_sio_within(
        &mut self,
        timeout: Duration,
        what: &str,
    ) -> Result<socketio::Packet, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = tokio::time::Instant::now();
            let left = deadline.saturating_duration_since(now);
            match self.next_incoming(left, what).await? {
                Incoming::Sio(p) => return Ok(p),
                Incoming::Engine(_) => continue,
                Incoming::Closed(c) => return Err(ClientError::Closed(c, what.to_string())),
                other => {
                    return Err(ClientError::Unexpected(format!(
                        "expected a Socket.IO packet ({what}), got {other:?}"
                    )))
                }
            }
        }
    }

    /// The next EVENT packet: its name and arguments. Any other Socket.IO packet is an error.
    pub async fn next_event(&mut self, what: &str) -> Result<(String, Vec<Value>), ClientError> {
        let p = self.next_sio(what).await?;
        if p.nsp != self.nsp {
            return Err(ClientError::Unexpected(format!(
                "expected {what} on namespace {:?}, got a packet for {:?}",
                self.nsp, p.nsp
            )));
        }
        match p.data {
            PacketData::Event { mut args, .. } => {
                if args.is_empty() {
                    return Err(ClientError::Unexpected("EVENT without a name".into()));
                }
                let name = args.remove(0);
                match name {
                    Value::String(s) => Ok((s, args)),
                    other => Err(ClientError::Unexpected(format!(
                        "EVENT name is not a string: {other}"
                    ))),
                }
            }
            other => Err(ClientError::Unexpected(format!(
                "expected {what}, got {other:?}"
            ))),
        }
    }

    /// The next EVENT must be `name` with exactly one argument; returns that argument.
    pub async fn expect_event(&mut self, name: &str) -> Result<Value, ClientError> {
        let what = format!("the event {name}");
        let (got, mut args) = self.next_event(&what).await?;
        if got != name {
            return Err(ClientError::Unexpected(format!(
                "expected the event {name:?} next, got {got:?} {}",
                Value::Array(args)
            )));
        }
        if self.recovery_offsets && args.len() == 2 && args[1].is_string() {
            args.pop(); // the recovery offset
        }
        if args.len() != 1 {
            return Err(ClientError::Unexpected(format!(
                "event {name:?} carries {} arguments, expected exactly one (the envelope)",
                args.len()
            )));
        }
        Ok(args.remove(0))
    }

    /// Nothing but pings may arrive for `window`; returns what did arrive otherwise.
    pub async fn expect_silence(&mut self, window: Duration) -> Result<(), Incoming> {
        if let Some(i) = self
            .buffered
            .iter()
            .find(|i| !matches!(i, Incoming::Engine(_)))
        {
            return Err(i.clone());
        }
        let deadline = tokio::time::Instant::now() + window;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(());
            }
            match tokio::time::timeout(deadline - now, self.rx.recv()).await {
                Err(_) => return Ok(()),
                Ok(None) => return Ok(()),
                Ok(Some(Incoming::Ping(_))) | Ok(Some(Incoming::Engine(_))) => continue,
                Ok(Some(i)) => {
                    if let Incoming::Closed(c) = &i {
                        self.closed = Some(c.clone());
                        return Ok(());
                    }
                    self.buffered.push_back(i.clone());
                    return Err(i);
                }
            }
        }
    }

    /// Waits until the connection closes; returns every Socket.IO packet seen
    /// before the close and how it closed.
    pub async fn wait_closed(
        &mut self,
        timeout: Duration,
    ) -> Result<(Vec<socketio::Packet>, CloseInfo), ClientError> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(c) = &self.closed {
                if self.buffered.is_empty() {
                    return Ok((seen, c.clone()));
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout {
                    what: "the connection to close".into(),
                    ms: timeout.as_millis() as u64,
                });
            }
            match self
                .next_incoming(deadline - now, "the connection to close")
                .await
            {
                Ok(Incoming::Sio(p)) => seen.push(p),
                Ok(Incoming::Closed(c)) => return Ok((seen, c)),
                Ok(_) => continue,
                Err(ClientError::Closed(c, _)) => return Ok((seen, c)),
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the connection is known to be closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Closes the WebSocket from our side (close frame, then the TCP connection).
    pub async fn close(self) {
        self.tr.push(Dir::Sent, &self.chan, "<close>");
        let mut sink = self.sink.lock().await;
        let _ = sink.close().await;
        let _ = tokio::time::timeout(Duration::from_millis(200), sink.flush()).await;
    }
}

fn is_ack(i: &Incoming, id: u64) -> bool {
    matches!(i, Incoming::Sio(p) if matches!(&p.data, PacketData::Ack { ack, .. } | PacketData::BinaryAck { ack, .. } if *ack == id))
}

fn ack_args(p: socketio::Packet) -> Vec<Value> {
    match p.data {
        PacketData::Ack { args, .. } | PacketData::BinaryAck { args, .. } => args,
        _ => Vec::new(),
    }
}

/// Hides token values in a URL's query for the transcript.
pub fn redact_query(url: &str) -> String {
    match url.find("token=") {
        Some(i) => {
            let end = url[i..].find('&').map(|e| i + e).unwrap_or(url.len());
            let tok = &url[i + 6..end];
            let cut: String = tok.chars().take(16).collect();
            format!("{}token={cut}…{}", &url[..i], &url[end..])
        }
        None => url.to_string(),
    }
}

async fn reader(
    mut stream: futures_util::stream::SplitStream<Ws>,
    tx: mpsc::UnboundedSender<Incoming>,
    sink: Arc<Mutex<SplitSink<Ws, Message>>>,
    auto_pong: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    tr: Transcript,
    chan: String,
) {
    let mut decoder = socketio::Decoder::new();
    let close = loop {
        if paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let Some(msg) = stream.next().await else {
            break CloseInfo {
                code: None,
                reason: "stream ended".into(),
            };
        };
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                break CloseInfo {
                    code: None,
                    reason: e.to_string(),
                }
            }
        };
        match msg {
            Message::Text(t) => {
                let t = t.as_str().to_string();
                tr.push(Dir::Recv, &chan, &t);
                match engineio::Packet::decode_text(&t) {
                    Ok(engineio::Packet::Open(_)) => {
                        let _ = tx.send(Incoming::Open(t.get(1..).unwrap_or("").to_string()));
                    }
                    Ok(engineio::Packet::Ping(data)) => {
                        if auto_pong.load(Ordering::SeqCst) {
                            let pong = engineio::Packet::Pong(data.clone()).encode_text();
                            tr.push(Dir::Sent, &chan, &pong);
                            let _ = sink.lock().await.send(Message::text(pong)).await;
                        }
                        let _ = tx.send(Incoming::Ping(data));
                    }
                    Ok(engineio::Packet::Message(m)) => match decoder.decode_text(&m) {
                        Ok(Some(p)) => {
                            let _ = tx.send(Incoming::Sio(p));
                        }
                        Ok(None) => {}
                        Err(e) => {
                            let _ = tx.send(Incoming::Invalid(format!("{e}: {m}")));
                        }
                    },
                    Ok(other) => {
                        let _ = tx.send(Incoming::Engine(format!("{other:?}")));
                    }
                    Err(e) => {
                        let _ = tx.send(Incoming::Invalid(format!("{e}: {t}")));
                    }
                }
            }
            Message::Binary(b) => {
                tr.push(Dir::Recv, &chan, format!("<binary {} bytes>", b.len()));
                match decoder.decode_binary(b) {
                    Ok(Some(p)) => {
                        let _ = tx.send(Incoming::Sio(p));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = tx.send(Incoming::Invalid(format!("binary: {e}")));
                    }
                }
            }
            Message::Close(f) => {
                let info = match f {
                    Some(f) => CloseInfo {
                        code: Some(u16::from(f.code)),
                        reason: f.reason.as_str().to_string(),
                    },
                    None => CloseInfo {
                        code: None,
                        reason: "close frame without code".into(),
                    },
                };
                break info;
            }
            _ => {}
        }
    };
    tr.push(Dir::Note, &chan, format!("closed: {close}"));
    let _ = tx.send(Incoming::Closed(close));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_in_query_is_redacted() {
        let u = redact_query("ws://h/socket.io/?EIO=4&token=abcdefghijklmnopqrstuvwxyz&x=1");
        assert!(u.contains("token=abcdefghijklmnop…&x=1"), "{u}");
        assert!(!u.contains("qrstuvwxyz"));
    }

    #[test]
    fn http_bases_become_ws() {
        assert_eq!(ws_base("http://127.0.0.1:1"), "ws://127.0.0.1:1");
        assert_eq!(ws_base("ws://x"), "ws://x");
    }
}
