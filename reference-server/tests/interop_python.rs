//! WIRE-16: the unpatched `python-socketio` 5.x client works against the reference
//! server. The tests spawn `fixtures/clients/python/driver.py` (real python-socketio,
//! driven with the Node driver's JSON-lines protocol) against an in-process server on
//! 127.0.0.1:0, publish over HTTP with a service token, and check what the client saw.
//!
//! Prerequisite: `fixtures/clients/python/install.sh` (creates `.venv`). Without it the
//! tests FAIL with that instruction; they never skip.
#![forbid(unsafe_code)]

#[path = "it/common.rs"]
mod common;

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{client_token, now, publish_ok, repo_root, token, Failover, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long to wait for one expected driver event.
const WAIT: Duration = Duration::from_secs(10);

/// A running `driver.py`; killed on drop.
struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pending: VecDeque<Value>,
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Driver {
    /// Spawns the python driver and waits for `ready`. Panics with the install
    /// instruction when the venv is missing.
    async fn spawn() -> Driver {
        let dir = repo_root().join("fixtures/clients/python");
        let python = dir.join(".venv/bin/python");
        assert!(
            python.exists(),
            "prerequisite missing: {} does not exist. Run fixtures/clients/python/install.sh \
             (creates the venv with the pinned python-socketio); this test never skips",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg("-u")
            .arg(dir.join("driver.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        let mut d = Driver {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            pending: VecDeque::new(),
            seen: Vec::new(),
            stderr,
        };
        let ready = d.expect("driver ready", |e| e["ev"] == "ready").await;
        assert!(
            ready["client"]
                .as_str()
                .is_some_and(|v| v.starts_with("5.")),
            "python-socketio 5.x expected, driver reports {ready}"
        );
        d
    }

    async fn send(&mut self, cmd: Value) {
        let line = format!("{cmd}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("driver stdin closed ({e}); stderr: {}", self.stderr()));
        self.stdin.flush().await.expect("flush driver stdin");
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The first event (queued or new) matching `pred`; others stay queued. Panics
    /// after [`WAIT`] with everything seen so far.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pred) {
            return self.pending.remove(i).expect("index in range");
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.lines.next_line()).await;
            let line = match next {
                Err(_) => panic!(
                    "timeout waiting for {what}\nevents seen: {:#?}\ndriver stderr: {}",
                    self.seen,
                    self.stderr()
                ),
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) | Ok(Err(_)) => panic!(
                    "driver exited while waiting for {what}\nevents seen: {:#?}\ndriver stderr: {}",
                    self.seen,
                    self.stderr()
                ),
            };
            let ev: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("driver printed a non-JSON line ({e}): {line}"));
            assert_ne!(
                ev["ev"], "error",
                "driver reported an error while waiting for {what}: {ev}"
            );
            self.seen.push(ev.clone());
            if pred(&ev) {
                return ev;
            }
            self.pending.push_back(ev);
        }
    }

    /// Waits for `{"ev":"pong","req":tag}`: every earlier command was processed.
    async fn barrier(&mut self, tag: &str) {
        self.send(json!({"cmd": "ping", "req": tag})).await;
        self.expect("ping barrier", |e| e["ev"] == "pong" && e["req"] == tag)
            .await;
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn is(ev: &Value, kind: &str, id: &str) -> bool {
    ev["ev"] == kind && ev["id"] == id
}

/// Checks a received envelope against the publish answer.
fn assert_envelope(env: &Value, published: &Value, ty: &str, payload: &Value) {
    let obj = env
        .as_object()
        .unwrap_or_else(|| panic!("envelope is not an object: {env}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["eventId", "payload", "timestamp", "type"],
        "envelope keys: {env}"
    );
    assert_eq!(
        env["eventId"], published["eventId"],
        "eventId of {env} vs publish answer {published}"
    );
    assert_eq!(
        env["timestamp"], published["timestamp"],
        "timestamp of {env} vs {published}"
    );
    assert_eq!(env["type"], ty, "type: {env}");
    assert_eq!(&env["payload"], payload, "payload: {env}");
}

/// Connects `id`, waits for `connect` and `system:connected`, returns the connect event.
async fn connect_ok(d: &mut Driver, s: &TestServer, id: &str, opts: Value) -> Value {
    d.send(json!({"cmd": "connect", "id": id, "url": s.url(), "nsp": "/", "opts": opts}))
        .await;
    let connect = d
        .expect("connect", |e| {
            (e["ev"] == "connect" || e["ev"] == "connect_error") && e["id"] == id
        })
        .await;
    assert_eq!(connect["ev"], "connect", "connect failed: {connect}");
    let sid = connect["socketId"].as_str().unwrap_or_default().to_owned();
    assert!(!sid.is_empty(), "connect without socketId: {connect}");
    let hello = d
        .expect("system:connected", |e| {
            is(e, "event", id) && e["name"] == "system:connected"
        })
        .await;
    assert_eq!(
        hello["args"][0]["payload"]["sid"],
        sid.as_str(),
        "system:connected: {hello}"
    );
    assert_eq!(
        hello["args"][0]["payload"]["userId"], "u1",
        "system:connected: {hello}"
    );
    connect
}

/// Emits with an ack and returns the ack's first argument.
async fn emit_ack(d: &mut Driver, id: &str, event: &str, arg: &str, ack_id: &str) -> Value {
    d.send(
        json!({"cmd": "emit", "id": id, "event": event, "args": [arg], "ack": true,
                  "ackId": ack_id, "timeoutMs": 5000}),
    )
    .await;
    let ack = d
        .expect(&format!("ack of {event}"), |e| {
            (e["ev"] == "ack" || e["ev"] == "ack_timeout") && e["id"] == id && e["ackId"] == ack_id
        })
        .await;
    assert_eq!(ack["ev"], "ack", "no ack for {event}: {ack}");
    ack["args"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_16_python_socketio_client_works_unchanged() {
    let s = TestServer::default().await;
    let mut d = Driver::spawn().await;
    let tok = client_token("u1", "acme");

    // WebSocket transport, auth={"token": ...}.
    let connect = connect_ok(
        &mut d,
        &s,
        "c1",
        json!({"auth": {"token": tok}, "transports": ["websocket"]}),
    )
    .await;
    assert_eq!(connect["transport"], "websocket", "{connect}");
    let open = d.expect("open", |e| is(e, "open", "c1")).await;
    assert_eq!(open["transport"], "websocket", "{open}");
    s.wait_sockets(1, "after the python connect").await;

    // Subscribe with an ack.
    let ack = emit_ack(&mut d, "c1", "subscribe:site", "s1", "a1").await;
    assert_eq!(ack, json!({"ok": true, "room": "org:acme:site:s1"}));

    // A server event that the client acknowledges by return value (system:ping round trip).
    let pong = emit_ack(&mut d, "c1", "system:ping", "x", "p1").await;
    assert_eq!(pong["pong"], true, "system:ping ack: {pong}");

    // An event published over HTTP arrives with the published id and timestamp.
    let payload = json!({"temp": 21.5, "tags": ["a", "b"], "nested": {"ok": true}});
    let published = publish_ok(s.addr, "org:acme:site:s1", "site:updated", payload.clone()).await;
    let ev = d
        .expect("published site:updated", |e| {
            is(e, "event", "c1") && e["name"] == "site:updated"
        })
        .await;
    assert_eq!(
        ev["args"].as_array().map(Vec::len),
        Some(1),
        "one argument: {ev}"
    );
    assert_envelope(&ev["args"][0], &published, "site:updated", &payload);
    assert!(
        ev.get("replyId").is_none(),
        "a broadcast asks for no ack: {ev}"
    );

    // Client-side disconnect reaches the server.
    d.send(json!({"cmd": "disconnect", "id": "c1"})).await;
    let disc = d.expect("disconnect", |e| is(e, "disconnect", "c1")).await;
    assert_eq!(disc["reason"], "io client disconnect", "{disc}");
    s.wait_sockets(0, "after the python disconnect").await;
    d.barrier("end").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_16_python_default_transports_poll_then_upgrade() {
    let s = TestServer::default().await;
    let mut d = Driver::spawn().await;
    let tok = client_token("u1", "acme");

    // No `transports`: python-engineio opens with long-polling and upgrades.
    connect_ok(&mut d, &s, "p1", json!({"auth": {"token": tok}})).await;
    let open = d.expect("open", |e| is(e, "open", "p1")).await;
    assert_eq!(open["transport"], "polling", "{open}");
    let up = d.expect("upgrade", |e| is(e, "upgrade", "p1")).await;
    assert_eq!(up["transport"], "websocket", "{up}");
    d.send(json!({"cmd": "state", "id": "p1"})).await;
    let st = d.expect("state", |e| is(e, "state", "p1")).await;
    assert_eq!(st["transport"], "websocket", "{st}");
    assert_eq!(st["connected"], true, "{st}");

    let ack = emit_ack(&mut d, "p1", "subscribe:unit", "u-7", "a1").await;
    assert_eq!(ack, json!({"ok": true, "room": "org:acme:unit:u-7"}));
    let payload = json!([1, 2, 3]);
    let published = publish_ok(s.addr, "org:acme:unit:u-7", "unit:moved", payload.clone()).await;
    let ev = d
        .expect("published unit:moved", |e| {
            is(e, "event", "p1") && e["name"] == "unit:moved"
        })
        .await;
    assert_envelope(&ev["args"][0], &published, "unit:moved", &payload);

    d.send(json!({"cmd": "disconnect", "id": "p1"})).await;
    d.expect("disconnect", |e| is(e, "disconnect", "p1")).await;
    s.wait_sockets(0, "after the python disconnect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_16_python_auth_failure_gives_connect_error_data() {
    let s = TestServer::default().await;
    let mut d = Driver::spawn().await;
    let expired = token(json!({"sub": "u1", "organizationId": "acme", "exp": now() - 60}));
    let mut forged = client_token("u1", "acme");
    forged.push('x');
    let cases = [
        (
            "e1",
            json!({}),
            "missing_token",
            "Authentication token required",
            json!(["websocket"]),
        ),
        (
            "e2",
            json!({"token": expired}),
            "token_expired",
            "Invalid or expired token",
            json!(["websocket"]),
        ),
        (
            "e3",
            json!({"token": forged}),
            "invalid_token",
            "Invalid or expired token",
            json!(["polling", "websocket"]),
        ),
    ];
    for (id, auth, reason, message, transports) in cases {
        d.send(json!({"cmd": "connect", "id": id, "url": s.url(),
                      "opts": {"auth": auth, "transports": transports}}))
            .await;
        let e = d
            .expect(&format!("connect_error {reason}"), |e| {
                (e["ev"] == "connect_error" || e["ev"] == "connect") && e["id"] == id
            })
            .await;
        assert_eq!(e["ev"], "connect_error", "{reason}: {e}");
        assert_eq!(e["message"], message, "{reason}: {e}");
        assert_eq!(
            e["data"],
            json!({"code": "AUTH_FAILED", "reason": reason}),
            "{e}"
        );
    }
    d.barrier("after failures").await;
    assert!(
        !d.seen.iter().any(|e| e["ev"] == "event"),
        "no event may reach a refused socket: {:#?}",
        d.seen
    );
    assert_eq!(
        s.sockets_connected(),
        0,
        "a refused CONNECT never counts as connected"
    );
}

/// LIFE-11: python-socketio with its default reconnection, behind a load balancer, is
/// connected to instance B shortly after instance A shuts down (what SIGTERM runs): A
/// closes the transport without `41` or an Engine.IO close, after which
/// python-socketio reconnects by itself. Both transports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn life_11_python_client_reconnects_to_another_instance_after_shutdown() {
    for transports in [json!(["websocket"]), json!(["polling"])] {
        let a = TestServer::default().await;
        let b = TestServer::default().await;
        let lb = Failover::start(vec![a.addr, b.addr]).await;
        let mut d = Driver::spawn().await;
        let token = client_token("u1", "acme");
        d.send(
            json!({"cmd": "connect", "id": "c1", "url": lb.url(), "nsp": "/",
                      "opts": {"auth": {"token": token}, "reconnection": true,
                               "transports": transports}}),
        )
        .await;
        let first = d
            .expect("connect", |e| {
                (e["ev"] == "connect" || e["ev"] == "connect_error") && e["id"] == "c1"
            })
            .await;
        assert_eq!(first["ev"], "connect", "{transports}: {first}");
        a.wait_sockets(1, "the client is on A").await;
        a.shutdown().await;
        d.expect("disconnect", |e| is(e, "disconnect", "c1")).await;
        let again = d.expect("a reconnect", |e| is(e, "connect", "c1")).await;
        assert_ne!(
            again["socketId"], first["socketId"],
            "{transports}: {again}"
        );
        b.wait_sockets(1, "the client reconnected to B").await;
    }
}
