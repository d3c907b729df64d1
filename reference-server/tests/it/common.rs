//! Test support: an in-process server on 127.0.0.1:0, a raw Engine.IO/Socket.IO
//! WebSocket client, a raw HTTP/1.1 client and token minting. The wire is real TCP.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reference_server::{Config, Server};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The HS256 secret of test servers.
pub const SECRET: &[u8] = b"integration-test-secret";
/// Default wait for an expected frame.
pub const WAIT: Duration = Duration::from_secs(3);

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A test configuration (HS256 with [`SECRET`]).
pub fn config() -> Config {
    Config::with_secret(SECRET)
}

/// A server running in this process; stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics: std::sync::Arc<reference_server::metrics::Metrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with `config` (bound to 127.0.0.1:0).
    pub async fn start(mut config: Config) -> TestServer {
        config.bind = "127.0.0.1:0".parse().unwrap();
        let server = Server::bind(config).await.expect("server binds");
        let addr = server.local_addr();
        let metrics = server.metrics();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            metrics,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Starts a server with the default test configuration.
    pub async fn default() -> TestServer {
        Self::start(config()).await
    }

    /// Requests a graceful shutdown and waits for `run_until` to return.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("server stops within 10 s")
                .unwrap();
        }
    }

    /// A WebSocket URL on this server: `ws://127.0.0.1:port{path}?{query}`.
    pub fn ws_url(&self, path: &str, query: &str) -> String {
        format!("ws://{}{path}?{query}", self.addr)
    }

    /// The URL of the server origin.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's `sockets_connected` gauge.
    pub fn sockets_connected(&self) -> i64 {
        self.metrics
            .sockets_connected
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits (up to 5 s) until the server counts `n` connected sockets; panics with `why`.
    pub async fn wait_sockets(&self, n: i64, why: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.sockets_connected() != n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{why}: the server counts {} connected sockets, expected {n}",
                self.sockets_connected()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// An HS256 token with these claims, signed with `secret`.
pub fn token_with(secret: &[u8], claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

/// An HS256 token with these claims.
pub fn token(claims: Value) -> String {
    token_with(SECRET, &claims)
}

/// A client token for `user` in `org` valid for an hour.
pub fn client_token(user: &str, org: &str) -> String {
    token(json!({"sub": user, "organizationId": org, "exp": now() + 3600}))
}

/// A publish token (scope realtime:publish), optionally bound to `org`.
pub fn service_token(org: Option<&str>) -> String {
    let mut c = json!({"sub": "svc", "scope": "realtime:publish", "exp": now() + 3600});
    if let Some(o) = org {
        c["organizationId"] = json!(o);
    }
    token(c)
}

/// The repository root (the parent of `reference-server/`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("reference-server has a parent directory")
        .to_path_buf()
}

/// Path of a file under `fixtures/keys`.
pub fn key_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/keys")
        .join(name)
}

/// What a client read.
#[derive(Debug, PartialEq)]
pub enum Got {
    Text(String),
    Binary(Vec<u8>),
    Closed(Option<CloseFrame>),
    Timeout,
}

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A raw Engine.IO WebSocket client.
pub struct Ws {
    pub inner: Stream,
    /// Answer server pings `2` with `3` and hide them.
    pub auto_pong: bool,
    /// The open packet's JSON.
    pub open: Value,
}

impl Ws {
    /// Opens `/socket.io/?EIO=4&transport=websocket` (plus `extra_query`) with `headers`,
    /// and reads the open packet.
    pub async fn open(addr: SocketAddr, extra_query: &str, headers: &[(&str, &str)]) -> Ws {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket{extra_query}");
        let mut ws = Self::raw(&url, headers).await.expect("websocket upgrade");
        let first = ws.next_msg(WAIT).await;
        let Got::Text(t) = first else {
            panic!("expected the open packet, got {first:?}")
        };
        assert!(t.starts_with('0'), "first frame is the open packet: {t}");
        ws.open = serde_json::from_str(&t[1..]).unwrap();
        ws
    }

    /// A WebSocket to any URL, without reading anything.
    pub async fn raw(url: &str, headers: &[(&str, &str)]) -> Result<Ws, String> {
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let (inner, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Ws {
            inner,
            auto_pong: true,
            open: Value::Null,
        })
    }

    pub async fn send(&mut self, text: &str) {
        self.inner
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    /// Sends, ignoring errors (for connections the server may already have closed).
    pub async fn try_send(&mut self, text: &str) -> bool {
        self.inner
            .send(Message::Text(text.to_owned().into()))
            .await
            .is_ok()
    }

    pub async fn send_binary(&mut self, b: Vec<u8>) {
        self.inner
            .send(Message::Binary(b.into()))
            .await
            .expect("send binary");
    }

    /// The next message within `wait` (pings answered and hidden with `auto_pong`).
    pub async fn next_msg(&mut self, wait: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame(left).await {
                Got::Text(t) if self.auto_pong && t == "2" => {
                    let _ = self.inner.send(Message::Text("3".into())).await;
                }
                other => return other,
            }
        }
    }

    /// The next data frame within `wait` exactly as sent, Engine.IO pings included and
    /// not answered (WebSocket pings and pongs are skipped).
    pub async fn next_frame(&mut self, wait: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) | Ok(Some(Err(_))) => return Got::Closed(None),
                Ok(Some(Ok(Message::Text(t)))) => return Got::Text(t.as_str().to_owned()),
                Ok(Some(Ok(Message::Binary(b)))) => return Got::Binary(b.to_vec()),
                Ok(Some(Ok(Message::Close(f)))) => return Got::Closed(f),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next text frame; panics on anything else.
    pub async fn text(&mut self) -> String {
        match self.next_msg(WAIT).await {
            Got::Text(t) => t,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Waits until the server closes the connection (close frame or EOF); returns the
    /// close frame. Text frames before the close are returned in the vector.
    pub async fn closed_within(
        &mut self,
        wait: Duration,
    ) -> (Vec<String>, Option<Option<CloseFrame>>) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_msg(left).await {
                Got::Text(t) => seen.push(t),
                Got::Binary(_) => {}
                Got::Closed(f) => return (seen, Some(f)),
                Got::Timeout => return (seen, None),
            }
        }
    }

    /// Asserts the server closes the connection within `wait`.
    pub async fn assert_closed(&mut self, wait: Duration) -> Vec<String> {
        let (seen, closed) = self.closed_within(wait).await;
        assert!(closed.is_some(), "connection still open; frames: {seen:?}");
        seen
    }

    /// Asserts no text frame (other than pings) arrives within `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        match self.next_msg(wait).await {
            Got::Timeout => {}
            other => panic!("expected silence, got {other:?}"),
        }
    }

    /// Sends a Socket.IO CONNECT with `auth` on `/` and returns the reply frame.
    pub async fn connect_raw(&mut self, auth: Option<Value>) -> String {
        match auth {
            Some(a) => self.send(&format!("40{a}")).await,
            None => self.send("40").await,
        }
        self.text().await
    }

    /// Reads the next event frame: `(name, args after the name)`.
    pub async fn event(&mut self) -> (String, Vec<Value>) {
        let t = self.text().await;
        parse_event(&t).unwrap_or_else(|| panic!("expected an event, got {t}"))
    }

    /// Emits `name` with `args`; with `ack`, waits for and returns the ack value.
    pub async fn emit(&mut self, name: &str, args: Vec<Value>, ack: Option<u64>) -> Option<Value> {
        let mut all = vec![json!(name)];
        all.extend(args);
        let arr = Value::Array(all);
        match ack {
            Some(id) => {
                self.send(&format!("42{id}{arr}")).await;
                loop {
                    let t = self.text().await;
                    if let Some((got, v)) = parse_ack(&t) {
                        assert_eq!(got, id, "ack id");
                        return Some(v);
                    }
                    // An event may precede the ack; the tests that care read it explicitly.
                }
            }
            None => {
                self.send(&format!("42{arr}")).await;
                None
            }
        }
    }

    /// Waits for an event named `name`, skipping others; panics on timeout.
    pub async fn wait_event(&mut self, name: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_msg(left).await {
                Got::Text(t) => {
                    if let Some((n, args)) = parse_event(&t) {
                        if n == name {
                            return args.into_iter().next().unwrap_or(Value::Null);
                        }
                    }
                }
                other => panic!("waiting for {name}, got {other:?}"),
            }
        }
    }
}

/// Parses `42["name", ...]` (namespace `/`) or `42/nsp,[...]`.
pub fn parse_event(t: &str) -> Option<(String, Vec<Value>)> {
    let rest = t.strip_prefix("42")?;
    let rest = if rest.starts_with('/') {
        &rest[rest.find(',')? + 1..]
    } else {
        rest
    };
    let json_start = rest.find('[')?;
    if !rest[..json_start].chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: Vec<Value> = serde_json::from_str(&rest[json_start..]).ok()?;
    let mut it = v.into_iter();
    let name = it.next()?.as_str()?.to_owned();
    Some((name, it.collect()))
}

/// Parses `43<id>[value]` → `(id, value)`.
pub fn parse_ack(t: &str) -> Option<(u64, Value)> {
    let rest = t.strip_prefix("43")?;
    let rest = if rest.starts_with('/') {
        &rest[rest.find(',')? + 1..]
    } else {
        rest
    };
    let json_start = rest.find('[')?;
    let id: u64 = rest[..json_start].parse().ok()?;
    let v: Vec<Value> = serde_json::from_str(&rest[json_start..]).ok()?;
    Some((id, v.into_iter().next().unwrap_or(Value::Null)))
}

/// A connected Socket.IO socket on `/`.
pub struct Sock {
    pub ws: Ws,
    pub sid: String,
    pub connected: Value,
}

/// Opens a WebSocket, CONNECTs with `token` and reads the CONNECT reply and
/// `system:connected`.
pub async fn connect(addr: SocketAddr, token: &str) -> Sock {
    let mut ws = Ws::open(addr, "", &[]).await;
    let reply = ws.connect_raw(Some(json!({ "token": token }))).await;
    let sid =
        connect_sid(&reply).unwrap_or_else(|| panic!("expected a CONNECT reply, got {reply}"));
    let (name, args) = ws.event().await;
    assert_eq!(name, "system:connected");
    Sock {
        ws,
        sid,
        connected: args.into_iter().next().unwrap(),
    }
}

/// The sid of a `40{"sid":..}` reply.
pub fn connect_sid(reply: &str) -> Option<String> {
    let v: Value = serde_json::from_str(reply.strip_prefix("40")?).ok()?;
    v.get("sid")?.as_str().map(str::to_owned)
}

/// The payload of a `44{...}` CONNECT_ERROR.
pub fn connect_error(reply: &str) -> Option<Value> {
    let rest = reply.strip_prefix("44")?;
    let rest = if rest.starts_with('/') {
        &rest[rest.find(',')? + 1..]
    } else {
        rest
    };
    serde_json::from_str(rest).ok()
}

/// An HTTP response read by [`http_raw`].
#[derive(Debug)]
pub struct HttpResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("JSON body: {e}: {}", self.body))
    }
}

/// Sends raw request bytes (the caller writes `Connection: close`) and reads the
/// whole response; status 0 when the server closed the connection without one.
pub async fn http_raw(addr: SocketAddr, request: &[u8]) -> HttpResp {
    let mut s = TcpStream::connect(addr).await.unwrap();
    if s.write_all(request).await.is_err() {
        return parse_http(b"");
    }
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("response within 10 s")
        .ok();
    parse_http(&buf)
}

pub fn parse_http(buf: &[u8]) -> HttpResp {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpResp {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A request with `Connection: close`.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    http_raw(addr, &bytes).await
}

pub async fn get(addr: SocketAddr, path: &str) -> HttpResp {
    request(addr, "GET", path, &[], b"").await
}

/// `POST /v1/publish` with a Bearer token and a JSON body.
pub async fn publish(addr: SocketAddr, token: &str, body: &Value) -> HttpResp {
    let auth = format!("Bearer {token}");
    request(
        addr,
        "POST",
        "/v1/publish",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
    .await
}

/// Publishes and asserts 202.
pub async fn publish_ok(addr: SocketAddr, room: &str, ty: &str, payload: Value) -> Value {
    let r = publish(
        addr,
        &service_token(None),
        &json!({"room": room, "type": ty, "payload": payload}),
    )
    .await;
    assert_eq!(r.status, 202, "publish answered {}: {}", r.status, r.body);
    r.json()
}

/// Asserts an open packet's JSON is an object with exactly the five keys of WIRE-2.
pub fn assert_open_keys(open: &Value) {
    let mut keys: Vec<&str> = open
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "maxPayload",
            "pingInterval",
            "pingTimeout",
            "sid",
            "upgrades"
        ],
        "open packet keys: {open}"
    );
}

/// Polling helpers: handshake → sid.
pub async fn polling_open(addr: SocketAddr) -> (String, Value) {
    polling_open_at(addr, "/socket.io/").await
}

/// A polling handshake on `path` (`/socket.io/`, `/engine.io/`): the sid and the open
/// packet's JSON.
pub async fn polling_open_at(addr: SocketAddr, path: &str) -> (String, Value) {
    let r = get(addr, &format!("{path}?EIO=4&transport=polling")).await;
    assert_eq!(r.status, 200, "polling handshake: {r:?}");
    let open: Value = serde_json::from_str(r.body.strip_prefix('0').unwrap_or(""))
        .unwrap_or_else(|e| panic!("polling handshake body is not 0{{json}} ({e}): {r:?}"));
    let sid = open["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("no sid in {open}"));
    (sid.to_owned(), open)
}

/// The polling URL of session `sid` on `path`.
pub fn polling_target(path: &str, sid: &str) -> String {
    format!("{path}?EIO=4&transport=polling&sid={sid}")
}

/// A POST with a `text/plain` body (what Engine.IO clients send).
pub async fn post_text(addr: SocketAddr, target: &str, body: &str) -> HttpResp {
    request(
        addr,
        "POST",
        target,
        &[("Content-Type", "text/plain;charset=UTF-8")],
        body.as_bytes(),
    )
    .await
}

pub async fn polling_post(addr: SocketAddr, sid: &str, body: &str) -> HttpResp {
    post_text(addr, &polling_target("/socket.io/", sid), body).await
}

pub async fn polling_get(addr: SocketAddr, sid: &str) -> HttpResp {
    get(addr, &polling_target("/socket.io/", sid)).await
}

/// A TCP front for several instances, as a load balancer is: each new connection goes
/// to the first backend that accepts it (an instance that got SIGTERM stops accepting,
/// so reconnects land on the next one). Stopped on drop.
pub struct Failover {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Failover {
    pub async fn start(backends: Vec<SocketAddr>) -> Failover {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let backends = backends.clone();
                tokio::spawn(async move {
                    for b in backends {
                        if let Ok(mut out) = TcpStream::connect(b).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            return;
                        }
                    }
                });
            }
        });
        Failover { addr, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Failover {
    fn drop(&mut self) {
        self.task.abort();
    }
}
