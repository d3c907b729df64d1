//! WIRE-23: the reference server's `--socketio-compliance` mode, checked over raw
//! sockets case by case the way the official `socketio/socket.io-protocol` and
//! `socketio/engine.io-protocol` `test-suite/`s do (our own tests of the same cases;
//! no upstream code is used): Engine.IO handshake, heartbeat, close, upgrade and the
//! raw echo at `/engine.io/`; Socket.IO CONNECT on `/` and `/custom` with the `auth`
//! emit, unknown namespaces, DISCONNECT, `message-back` (binary attachments included),
//! `message-with-ack`, `emit-with-ack`, and invalid packets closing the connection.
//!
//! The server runs in-process on 127.0.0.1:0 with [`Config::compliance`] (pingInterval
//! 300 ms, pingTimeout 200 ms, maxPayload 1 000 000, connectTimeout 1 000 ms).
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reference_server::{Config, Server};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The suite's heartbeat settings.
const PING_INTERVAL: u64 = 300;
const PING_TIMEOUT: u64 = 200;
/// Wait for one expected frame or response.
const WAIT: Duration = Duration::from_secs(3);

/// An in-process compliance-mode server; stopped on drop.
struct Compliance {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Compliance {
    async fn start() -> Compliance {
        let mut config = Config::compliance();
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = Server::bind(config).await.expect("compliance server binds");
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        Compliance {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    fn ws_url(&self, path: &str, query: &str) -> String {
        format!("ws://{}{path}?{query}", self.addr)
    }
}

impl Drop for Compliance {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------- raw HTTP

/// An HTTP answer; `status` 0 means the server closed the connection without one.
#[derive(Debug)]
struct Http {
    status: u16,
    body: String,
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
async fn http(addr: SocketAddr, method: &str, target: &str, body: Option<&str>) -> Http {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n",
            b.len()
        ));
    } else if method != "GET" {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("\r\n");
    if let Some(b) = body {
        req.push_str(b);
    }
    let mut s = TcpStream::connect(addr).await.expect("TCP connect");
    if s.write_all(req.as_bytes()).await.is_err() {
        return Http {
            status: 0,
            body: String::new(),
        };
    }
    let mut buf = Vec::new();
    match tokio::time::timeout(WAIT, s.read_to_end(&mut buf)).await {
        Err(_) => panic!("no HTTP answer within {WAIT:?} to {method} {target}"),
        Ok(Err(_)) if buf.is_empty() => {
            return Http {
                status: 0,
                body: String::new(),
            }
        }
        Ok(_) => {}
    }
    parse_http(&buf)
}

/// Parses a response with a Content-Length or chunked body.
fn parse_http(buf: &[u8]) -> Http {
    let text = String::from_utf8_lossy(buf);
    let Some((head, rest)) = text.split_once("\r\n\r\n") else {
        return Http {
            status: 0,
            body: String::new(),
        };
    };
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        let mut out = String::new();
        let mut r = rest;
        while let Some((size, after)) = r.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            r = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        rest.to_owned()
    };
    Http { status, body }
}

/// Opens a polling session on `path` and returns its sid.
async fn polling_session(addr: SocketAddr, path: &str) -> String {
    let r = http(
        addr,
        "GET",
        &format!("{path}?EIO=4&transport=polling"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "polling handshake: {r:?}");
    let open: Value =
        serde_json::from_str(r.body.strip_prefix('0').unwrap_or("")).unwrap_or_else(|e| {
            panic!(
                "polling handshake body is not 0{{json}} ({e}): {:?}",
                r.body
            )
        });
    open["sid"]
        .as_str()
        .unwrap_or_else(|| panic!("no sid in {open}"))
        .to_owned()
}

fn poll_target(path: &str, sid: &str) -> String {
    format!("{path}?EIO=4&transport=polling&sid={sid}")
}

/// Checks an open packet's JSON as the suites do.
fn assert_open_packet(text: &str, upgrades: &[&str]) {
    let json = text
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("open packet starts with 0: {text:?}"));
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("open JSON ({e}): {json}"));
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("open is an object: {v}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
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
        "open packet keys: {v}"
    );
    assert!(v["sid"].is_string(), "sid is a string: {v}");
    assert_eq!(v["upgrades"], serde_json::json!(upgrades), "upgrades: {v}");
    assert_eq!(v["pingInterval"], PING_INTERVAL, "pingInterval: {v}");
    assert_eq!(v["pingTimeout"], PING_TIMEOUT, "pingTimeout: {v}");
    assert_eq!(v["maxPayload"], 1_000_000, "maxPayload: {v}");
}

// ---------------------------------------------------------------- raw WebSocket

type Stream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What a WebSocket read returned.
#[derive(Debug, PartialEq)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    Closed,
    Timeout,
}

struct Ws {
    inner: Stream,
}

impl Ws {
    /// Opens a WebSocket; `Err` with the reason when the handshake is refused.
    async fn connect(url: &str) -> Result<Ws, String> {
        match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await {
            Err(_) => Err("WebSocket handshake timed out".into()),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok((inner, _))) => Ok(Ws { inner }),
        }
    }

    /// Opens a WebSocket that must succeed.
    async fn open(url: &str) -> Ws {
        Ws::connect(url)
            .await
            .unwrap_or_else(|e| panic!("WebSocket to {url} refused: {e}"))
    }

    async fn send(&mut self, text: &str) {
        self.inner
            .send(Message::Text(text.to_owned().into()))
            .await
            .unwrap_or_else(|e| panic!("send {text:?}: {e}"));
    }

    async fn send_binary(&mut self, b: &[u8]) {
        self.inner
            .send(Message::Binary(b.to_vec().into()))
            .await
            .unwrap_or_else(|e| panic!("send binary: {e}"));
    }

    /// The next frame exactly as sent (pings included).
    async fn next(&mut self, wait: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    return Got::Closed
                }
                Ok(Some(Ok(Message::Text(t)))) => return Got::Text(t.as_str().to_owned()),
                Ok(Some(Ok(Message::Binary(b)))) => return Got::Binary(b.to_vec()),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next frame that is not an Engine.IO ping; pings are answered (as the
    /// suites' `waitForPackets` ignores them, and a live client pongs).
    async fn next_data(&mut self) -> Got {
        loop {
            match self.next(WAIT).await {
                Got::Text(t) if t == "2" => self.send("3").await,
                other => return other,
            }
        }
    }

    /// The next non-ping text frame; panics on anything else.
    async fn text(&mut self, what: &str) -> String {
        match self.next_data().await {
            Got::Text(t) => t,
            other => panic!("expected {what}, got {other:?}"),
        }
    }

    /// Asserts the server closes the connection within `wait` (pings are not answered).
    async fn assert_closed(&mut self, wait: Duration, why: &str) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Got::Closed => return,
                Got::Timeout => {
                    panic!("{why}: connection still open after {wait:?}; frames: {seen:?}")
                }
                other => seen.push(other),
            }
        }
    }
}

/// `ws://…/socket.io/?EIO=4&transport=websocket`, open packet read.
async fn sio_ws(s: &Compliance) -> Ws {
    let mut ws = Ws::open(&s.ws_url("/socket.io/", "EIO=4&transport=websocket")).await;
    let open = ws.text("the open packet").await;
    assert_open_packet(&open, &[]);
    ws
}

/// Like the suite's `initSocketIOConnection`: open, CONNECT to `/`, read the CONNECT
/// reply and the `auth` event.
async fn sio_connected(s: &Compliance) -> Ws {
    let mut ws = sio_ws(s).await;
    ws.send("40").await;
    let reply = ws.text("the CONNECT reply").await;
    assert!(reply.starts_with("40{"), "CONNECT reply: {reply}");
    let auth = ws.text("the auth event").await;
    assert_eq!(auth, r#"42["auth",{}]"#);
    ws
}

/// Checks a CONNECT reply holds exactly `sid` (a string).
fn assert_connect_reply(reply: &str, prefix: &str) {
    let json = reply
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("CONNECT reply starts with {prefix}: {reply}"));
    let v: Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("CONNECT reply JSON ({e}): {reply}"));
    let keys: Vec<&String> = v
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["sid"], "the CONNECT reply holds only sid: {reply}");
    assert!(
        v["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "sid: {reply}"
    );
}

// ================================================================ Engine.IO: handshake

#[tokio::test]
async fn wire_23_eio_polling_handshake_opens_a_session() {
    let s = Compliance::start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let r = http(
            s.addr,
            "GET",
            &format!("{path}?EIO=4&transport=polling"),
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_open_packet(&r.body, &["websocket"]);
    }
}

#[tokio::test]
async fn wire_23_eio_polling_handshake_rejects_bad_eio_transport_and_method() {
    let s = Compliance::start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        for (method, query) in [
            ("GET", "transport=polling"),
            ("GET", "EIO=abc&transport=polling"),
            ("GET", "EIO=4"),
            ("GET", "EIO=4&transport=abc"),
            ("POST", "EIO=4&transport=polling"),
            ("PUT", "EIO=4&transport=polling"),
        ] {
            let r = http(s.addr, method, &format!("{path}?{query}"), None).await;
            assert_eq!(r.status, 400, "{method} {path}?{query}: {r:?}");
        }
    }
}

#[tokio::test]
async fn wire_23_eio_websocket_handshake_opens_a_session() {
    let s = Compliance::start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let mut ws = Ws::open(&s.ws_url(path, "EIO=4&transport=websocket")).await;
        let open = ws.text("the open packet").await;
        assert_open_packet(&open, &[]);
    }
}

#[tokio::test]
async fn wire_23_eio_websocket_handshake_rejects_bad_eio_and_transport() {
    let s = Compliance::start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        for query in [
            "transport=websocket",
            "EIO=abc&transport=websocket",
            "EIO=4",
            "EIO=4&transport=abc",
        ] {
            // Refused at the HTTP upgrade, or accepted and closed before any open packet.
            if let Ok(mut ws) = Ws::connect(&s.ws_url(path, query)).await {
                let got = ws.next(WAIT).await;
                assert_eq!(got, Got::Closed, "{path}?{query} must not open a session");
            }
        }
    }
}

// ================================================================ Engine.IO: heartbeat

#[tokio::test]
async fn wire_23_eio_polling_heartbeat_ping_pong() {
    let s = Compliance::start().await;
    let sid = polling_session(s.addr, "/socket.io/").await;
    for round in 0..3 {
        let poll = http(s.addr, "GET", &poll_target("/socket.io/", &sid), None).await;
        assert_eq!(
            (poll.status, poll.body.as_str()),
            (200, "2"),
            "ping {round}: {poll:?}"
        );
        let push = http(s.addr, "POST", &poll_target("/socket.io/", &sid), Some("3")).await;
        assert_eq!(push.status, 200, "pong {round}: {push:?}");
    }
}

#[tokio::test]
async fn wire_23_eio_polling_ping_timeout_closes_the_session() {
    let s = Compliance::start().await;
    let sid = polling_session(s.addr, "/socket.io/").await;
    tokio::time::sleep(Duration::from_millis(PING_INTERVAL + PING_TIMEOUT + 300)).await;
    let poll = http(s.addr, "GET", &poll_target("/socket.io/", &sid), None).await;
    assert_eq!(
        poll.status, 400,
        "the session is gone after a missed pong: {poll:?}"
    );
}

#[tokio::test]
async fn wire_23_eio_websocket_heartbeat_ping_pong() {
    let s = Compliance::start().await;
    let mut ws = Ws::open(&s.ws_url("/socket.io/", "EIO=4&transport=websocket")).await;
    let open = ws.next(WAIT).await;
    assert!(
        matches!(&open, Got::Text(t) if t.starts_with('0')),
        "open: {open:?}"
    );
    for round in 0..3 {
        let got = ws.next(WAIT).await;
        assert_eq!(got, Got::Text("2".into()), "ping {round}");
        ws.send("3").await;
    }
}

#[tokio::test]
async fn wire_23_eio_websocket_ping_timeout_closes_the_session() {
    let s = Compliance::start().await;
    let mut ws = Ws::open(&s.ws_url("/socket.io/", "EIO=4&transport=websocket")).await;
    ws.assert_closed(Duration::from_secs(3), "no pong").await;
}

// ================================================================ Engine.IO: close

#[tokio::test]
async fn wire_23_eio_polling_close_packet_ends_pending_poll_with_noop() {
    let s = Compliance::start().await;
    let sid = polling_session(s.addr, "/socket.io/").await;
    let addr = s.addr;
    let target = poll_target("/socket.io/", &sid);
    let pending = {
        let target = target.clone();
        tokio::spawn(async move { http(addr, "GET", &target, None).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let push = http(s.addr, "POST", &target, Some("1")).await;
    assert_eq!(push.status, 200, "POST of the close packet: {push:?}");
    let poll = pending.await.expect("poll task");
    assert_eq!(
        (poll.status, poll.body.as_str()),
        (200, "6"),
        "the pending GET ends with a noop packet `6` when the client closes: {poll:?}"
    );
    let after = http(s.addr, "GET", &target, None).await;
    assert_eq!(after.status, 400, "the session is closed: {after:?}");

    // Without a pending GET: once the POST of `1` is answered, the sid is unknown.
    let sid = polling_session(s.addr, "/engine.io/").await;
    let target = poll_target("/engine.io/", &sid);
    let push = http(s.addr, "POST", &target, Some("1")).await;
    assert_eq!(push.status, 200, "POST of the close packet: {push:?}");
    let after = http(s.addr, "GET", &target, None).await;
    assert_eq!(
        after.status, 400,
        "the session is closed once the close packet is acknowledged: {after:?}"
    );
}

#[tokio::test]
async fn wire_23_eio_websocket_close_packet_closes_the_connection() {
    let s = Compliance::start().await;
    let mut ws = sio_ws(&s).await;
    ws.send("1").await;
    ws.assert_closed(WAIT, "after the close packet 1").await;
}

// ================================================================ Engine.IO: upgrade

#[tokio::test]
async fn wire_23_eio_upgrade_from_polling_to_websocket() {
    let s = Compliance::start().await;
    // Engine.IO suite variant (/engine.io/, echo): probe, noop to the poll, upgrade, echo.
    let sid = polling_session(s.addr, "/engine.io/").await;
    let mut ws = Ws::open(&s.ws_url(
        "/engine.io/",
        &format!("EIO=4&transport=websocket&sid={sid}"),
    ))
    .await;
    ws.send("2probe").await;
    assert_eq!(
        ws.next(WAIT).await,
        Got::Text("3probe".into()),
        "probe answer"
    );
    let poll = http(s.addr, "GET", &poll_target("/engine.io/", &sid), None).await;
    assert_eq!(
        (poll.status, poll.body.as_str()),
        (200, "6"),
        "a poll during the upgrade gets a noop: {poll:?}"
    );
    ws.send("5").await;
    ws.send("4hello").await;
    assert_eq!(
        ws.next_data().await,
        Got::Text("4hello".into()),
        "echo over the upgraded WebSocket"
    );

    // Socket.IO suite variant: probe, upgrade, then a Socket.IO CONNECT over the WebSocket.
    let sid = polling_session(s.addr, "/socket.io/").await;
    let mut ws = Ws::open(&s.ws_url(
        "/socket.io/",
        &format!("EIO=4&transport=websocket&sid={sid}"),
    ))
    .await;
    ws.send("2probe").await;
    assert_eq!(
        ws.next(WAIT).await,
        Got::Text("3probe".into()),
        "probe answer"
    );
    ws.send("5").await;
    ws.send("40").await;
    let reply = ws.text("the CONNECT reply").await;
    assert_connect_reply(&reply, "40");
    assert_eq!(ws.text("the auth event").await, r#"42["auth",{}]"#);
}

#[tokio::test]
async fn wire_23_eio_polling_after_upgrade_is_refused() {
    let s = Compliance::start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let sid = polling_session(s.addr, path).await;
        let mut ws =
            Ws::open(&s.ws_url(path, &format!("EIO=4&transport=websocket&sid={sid}"))).await;
        ws.send("2probe").await;
        ws.send("5").await;
        assert_eq!(
            ws.next(WAIT).await,
            Got::Text("3probe".into()),
            "{path}: probe answer"
        );
        let poll = http(s.addr, "GET", &poll_target(path, &sid), None).await;
        assert_eq!(
            poll.status, 400,
            "{path}: polling after the upgrade: {poll:?}"
        );
        if path == "/engine.io/" {
            ws.send("4hello").await;
            assert_eq!(
                ws.next_data().await,
                Got::Text("4hello".into()),
                "the WebSocket still works"
            );
        }
    }
}

#[tokio::test]
async fn wire_23_eio_second_websocket_on_upgraded_sid_is_accepted_then_closed() {
    let s = Compliance::start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let sid = polling_session(s.addr, path).await;
        let url = s.ws_url(path, &format!("EIO=4&transport=websocket&sid={sid}"));
        let mut ws = Ws::open(&url).await;
        ws.send("2probe").await;
        ws.send("5").await;
        assert_eq!(
            ws.next(WAIT).await,
            Got::Text("3probe".into()),
            "{path}: probe answer"
        );
        // The suites open the second WebSocket with the `ws` client and wait for its
        // `close` event: the handshake must succeed (101) and the server then closes it.
        // An HTTP error instead of the 101 is an unhandled `error` in the suite.
        let mut second = Ws::connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "{path}: a second WebSocket on an upgraded sid must be accepted (101) and then \
                 closed, as engine.io does; the handshake was refused: {e}"
            )
        });
        second
            .assert_closed(WAIT, "the second WebSocket on the sid")
            .await;
        if path == "/engine.io/" {
            ws.send("4hello").await;
            assert_eq!(
                ws.next_data().await,
                Got::Text("4hello".into()),
                "the first WebSocket still works"
            );
        }
    }
}

// ================================================================ Engine.IO: echo messages (/engine.io/)

#[tokio::test]
async fn wire_23_eio_polling_echo_text_and_binary_payloads() {
    let s = Compliance::start().await;
    for body in [
        "4hello",
        "4test1\u{1e}4test2\u{1e}4test3",
        "4hello\u{1e}bAQIDBA==",
    ] {
        let sid = polling_session(s.addr, "/engine.io/").await;
        let push = http(
            s.addr,
            "POST",
            &poll_target("/engine.io/", &sid),
            Some(body),
        )
        .await;
        assert_eq!(
            (push.status, push.body.as_str()),
            (200, "ok"),
            "POST {body:?}: {push:?}"
        );
        let poll = http(s.addr, "GET", &poll_target("/engine.io/", &sid), None).await;
        assert_eq!(
            (poll.status, poll.body.as_str()),
            (200, body),
            "echo of {body:?}"
        );
    }
}

#[tokio::test]
async fn wire_23_eio_polling_invalid_packet_closes_the_session() {
    let s = Compliance::start().await;
    let sid = polling_session(s.addr, "/engine.io/").await;
    let push = http(
        s.addr,
        "POST",
        &poll_target("/engine.io/", &sid),
        Some("abc"),
    )
    .await;
    // The suite accepts a 400 or a connection closed without an answer.
    assert!(push.status == 400 || push.status == 0, "POST abc: {push:?}");
    let poll = http(s.addr, "GET", &poll_target("/engine.io/", &sid), None).await;
    assert_eq!(poll.status, 400, "the session is closed: {poll:?}");
}

#[tokio::test]
async fn wire_23_eio_polling_duplicate_poll_closes_the_session() {
    let s = Compliance::start().await;
    let sid = polling_session(s.addr, "/engine.io/").await;
    let addr = s.addr;
    let target = poll_target("/engine.io/", &sid);
    let first = {
        let target = target.clone();
        tokio::spawn(async move { http(addr, "GET", &target, None).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = http(s.addr, "GET", &format!("{target}&t=burst"), None).await;
    let first = first.await.expect("first poll task");
    assert_eq!(
        (first.status, first.body.as_str()),
        (200, "1"),
        "the first poll ends with close: {first:?}"
    );
    assert!(
        second.status == 400 || second.status == 500,
        "the duplicate poll: {second:?}"
    );
    let after = http(s.addr, "GET", &target, None).await;
    assert_eq!(after.status, 400, "the session is closed: {after:?}");
}

#[tokio::test]
async fn wire_23_eio_websocket_echo_text_and_binary() {
    let s = Compliance::start().await;
    let mut ws = Ws::open(&s.ws_url("/engine.io/", "EIO=4&transport=websocket")).await;
    let open = ws.text("the open packet").await;
    assert_open_packet(&open, &[]);
    ws.send("4hello").await;
    assert_eq!(ws.next_data().await, Got::Text("4hello".into()));
    ws.send_binary(&[1, 2, 3, 4]).await;
    assert_eq!(ws.next_data().await, Got::Binary(vec![1, 2, 3, 4]));
}

#[tokio::test]
async fn wire_23_eio_websocket_invalid_packet_closes_the_connection() {
    let s = Compliance::start().await;
    let mut ws = Ws::open(&s.ws_url("/engine.io/", "EIO=4&transport=websocket")).await;
    let _open = ws.text("the open packet").await;
    ws.send("abc").await;
    ws.assert_closed(WAIT, "after the invalid packet abc").await;
}

// ================================================================ Socket.IO: connect

#[tokio::test]
async fn wire_23_sio_connect_to_main_and_custom_namespace_emits_auth() {
    let s = Compliance::start().await;
    for (send, prefix, auth) in [
        ("40", "40", r#"42["auth",{}]"#),
        (
            r#"40{"token":"123"}"#,
            "40",
            r#"42["auth",{"token":"123"}]"#,
        ),
        ("40/custom,", "40/custom,", r#"42/custom,["auth",{}]"#),
        (
            r#"40/custom,{"token":"abc"}"#,
            "40/custom,",
            r#"42/custom,["auth",{"token":"abc"}]"#,
        ),
    ] {
        let mut ws = sio_ws(&s).await;
        ws.send(send).await;
        let reply = ws.text("the CONNECT reply").await;
        assert_connect_reply(&reply, prefix);
        let got = ws.text("the auth event").await;
        assert_eq!(got, auth, "after CONNECT {send}");
    }
}

#[tokio::test]
async fn wire_23_sio_unknown_namespace_is_refused() {
    let s = Compliance::start().await;
    let mut ws = sio_ws(&s).await;
    ws.send("40/random").await;
    assert_eq!(
        ws.text("the CONNECT_ERROR").await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
}

#[tokio::test]
async fn wire_23_sio_invalid_handshake_closes_the_connection() {
    let s = Compliance::start().await;
    let mut ws = sio_ws(&s).await;
    ws.send("4abc").await;
    ws.assert_closed(WAIT, "after 4abc as the first packet")
        .await;
}

#[tokio::test]
async fn wire_23_sio_no_handshake_closes_the_connection() {
    let s = Compliance::start().await;
    let mut ws = sio_ws(&s).await;
    // connectTimeout is 1 000 ms; pings are answered so only the missing CONNECT counts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next(left).await {
            Got::Closed => break,
            Got::Text(t) if t == "2" => ws.send("3").await,
            Got::Timeout => panic!("no CONNECT within connectTimeout must close the connection"),
            other => panic!("unexpected frame before the close: {other:?}"),
        }
    }
}

// ================================================================ Socket.IO: disconnect

#[tokio::test]
async fn wire_23_sio_disconnect_from_main_namespace() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send("41").await;
    // The suite expects the next frame to be the next ping: nothing is sent back.
    assert_eq!(
        ws.next(WAIT).await,
        Got::Text("2".into()),
        "after 41 only pings follow"
    );
}

#[tokio::test]
async fn wire_23_sio_connect_then_disconnect_custom_namespace() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send("40/custom").await;
    let reply = ws.text("the /custom CONNECT reply").await;
    assert_connect_reply(&reply, "40/custom,");
    assert_eq!(
        ws.text("the /custom auth event").await,
        r#"42/custom,["auth",{}]"#
    );
    ws.send("41/custom").await;
    ws.send(r#"42["message","message to main namespace"]"#)
        .await;
    assert_eq!(
        ws.text("message-back").await,
        r#"42["message-back","message to main namespace"]"#,
        "the main namespace still works after leaving /custom"
    );
}

// ================================================================ Socket.IO: messages

#[tokio::test]
async fn wire_23_sio_message_back_plain_text() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(
        ws.text("message-back").await,
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );
}

#[tokio::test]
async fn wire_23_sio_message_back_with_binary_attachments() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.send_binary(&[1, 2, 3]).await;
    ws.send_binary(&[4, 5, 6]).await;
    assert_eq!(
        ws.next_data().await,
        Got::Text(
            r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
                .into()
        )
    );
    assert_eq!(ws.next_data().await, Got::Binary(vec![1, 2, 3]));
    assert_eq!(ws.next_data().await, Got::Binary(vec![4, 5, 6]));
}

#[tokio::test]
async fn wire_23_sio_message_with_ack_plain_text() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)
        .await;
    assert_eq!(ws.text("the ack").await, r#"43456[1,"2",{"3":[false]}]"#);
}

#[tokio::test]
async fn wire_23_sio_message_with_ack_binary_attachments() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.send_binary(&[1, 2, 3]).await;
    ws.send_binary(&[4, 5, 6]).await;
    assert_eq!(
        ws.next_data().await,
        Got::Text(r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#.into())
    );
    assert_eq!(ws.next_data().await, Got::Binary(vec![1, 2, 3]));
    assert_eq!(ws.next_data().await, Got::Binary(vec![4, 5, 6]));
}

/// Parses `42<id>[...]` on `/` → `(id, args)`.
fn event_with_ack(t: &str) -> Option<(u64, Vec<Value>)> {
    let rest = t.strip_prefix("42")?;
    let json_start = rest.find('[')?;
    let id = rest.get(..json_start)?.parse().ok()?;
    let args = serde_json::from_str(rest.get(json_start..)?).ok()?;
    Some((id, args))
}

#[tokio::test]
async fn wire_23_sio_emit_with_ack_round_trip() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"42["emit-with-ack",1,"2",{"3":[true]}]"#).await;
    // The server emits emit-with-ack to the client, asking for an ack ...
    let ask = ws.text("the server's emit-with-ack").await;
    let (id, args) = event_with_ack(&ask)
        .unwrap_or_else(|| panic!("expected 42<ackId>[\"emit-with-ack\",...], got {ask}"));
    assert_eq!(
        serde_json::Value::Array(args),
        serde_json::json!(["emit-with-ack", 1, "2", {"3": [true]}]),
        "the server emits the client's arguments: {ask}"
    );
    // ... and emits emit-with-ack again with the arguments of the client's ack.
    ws.send(&format!(r#"43{id}[4,"five",{{"6":null}}]"#)).await;
    assert_eq!(
        ws.text("emit-with-ack with the ack's arguments").await,
        r#"42["emit-with-ack",4,"five",{"6":null}]"#
    );
}

#[tokio::test]
async fn wire_23_sio_emit_with_ack_binary_round_trip() {
    let s = Compliance::start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"451-["emit-with-ack",{"_placeholder":true,"num":0}]"#)
        .await;
    ws.send_binary(&[7, 8, 9]).await;
    let ask = ws.text("the server's binary emit-with-ack").await;
    let rest = ask
        .strip_prefix("451-")
        .unwrap_or_else(|| panic!("expected 451-<ackId>[...], got {ask}"));
    let json_start = rest.find('[').unwrap_or_else(|| panic!("no JSON in {ask}"));
    let id: u64 = rest[..json_start]
        .parse()
        .unwrap_or_else(|_| panic!("the server asks for an ack: {ask}"));
    assert_eq!(
        &rest[json_start..],
        r#"["emit-with-ack",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(ws.next_data().await, Got::Binary(vec![7, 8, 9]));
    ws.send(&format!(r#"461-{id}[{{"_placeholder":true,"num":0}}]"#))
        .await;
    ws.send_binary(&[10, 11]).await;
    assert_eq!(
        ws.next_data().await,
        Got::Text(r#"451-["emit-with-ack",{"_placeholder":true,"num":0}]"#.into())
    );
    assert_eq!(ws.next_data().await, Got::Binary(vec![10, 11]));
}

#[tokio::test]
async fn wire_23_sio_invalid_packets_close_the_connection() {
    let s = Compliance::start().await;
    for bad in [
        "4abc",
        "42{}",
        r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#,
    ] {
        let mut ws = sio_connected(&s).await;
        ws.send(bad).await;
        ws.assert_closed(WAIT, &format!("after {bad}")).await;
    }
}
