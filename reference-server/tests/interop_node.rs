//! Real-client interop: the Node `socket.io-client` 4.8 driver
//! (`fixtures/clients/node/driver.js`) against the reference server. Needs `node` and
//! `npm ci` in `fixtures/clients/node` (`cargo xtask test` does it); without them these
//! tests FAIL with a message saying so — they never pass silently.

#[path = "it/common.rs"]
mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/clients/node")
}

fn schema(name: &str) -> jsonschema::Validator {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/schemas")
        .join(name);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    jsonschema::validator_for(&v).unwrap_or_else(|e| panic!("schema {name}: {e}"))
}

fn assert_valid(name: &str, instance: &Value) {
    let v = schema(name);
    let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{instance} does not validate against {name}: {errors:?}"
    );
}

/// The driver process (killed on drop) and its event lines.
struct Driver {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    backlog: Vec<Value>,
}

impl Driver {
    async fn start() -> Driver {
        let dir = fixture_dir();
        let node_ok = std::process::Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            node_ok,
            "`node` is not installed or not on PATH: the Node interop tests need Node.js (run `cargo xtask test`, which reports what it could not install)"
        );
        assert!(
            dir.join("node_modules/socket.io-client").is_dir(),
            "{}/node_modules is missing: run `npm ci` in fixtures/clients/node (cargo xtask test does)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("driver.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node driver.js");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut d = Driver {
            _child: child,
            stdin,
            lines,
            backlog: Vec::new(),
        };
        d.wait(|e| e["ev"] == "ready").await;
        d
    }

    async fn send(&mut self, cmd: Value) {
        let mut line = cmd.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The first event matching `pred` (earlier non-matching events are kept).
    async fn wait(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "driver event not seen within 10 s; backlog: {:?}",
                        self.backlog
                    )
                })
                .unwrap()
                .expect("driver exited");
            let ev: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("driver line {line}: {e}"));
            assert_ne!(ev["ev"], "error", "driver error: {ev}");
            if pred(&ev) {
                return ev;
            }
            self.backlog.push(ev);
        }
    }

    async fn event(&mut self, id: &str, name: &str) -> Value {
        let ev = self
            .wait(|e| e["ev"] == "event" && e["id"] == id && e["name"] == name)
            .await;
        ev["args"][0].clone()
    }

    async fn connect(&mut self, id: &str, srv: &TestServer, opts: Value) -> Value {
        self.send(json!({"cmd":"connect","id":id,"url":srv.url(),"opts":opts}))
            .await;
        self.wait(|e| (e["ev"] == "connect" || e["ev"] == "connect_error") && e["id"] == id)
            .await
    }

    async fn emit_ack(&mut self, id: &str, event: &str, args: Value) -> Value {
        let ack_id = format!("{id}-{event}");
        self.send(
            json!({"cmd":"emit","id":id,"event":event,"args":args,"ack":true,"ackId":ack_id}),
        )
        .await;
        let ev = self
            .wait(|e| {
                (e["ev"] == "ack" || e["ev"] == "ack_timeout") && e["ackId"] == ack_id.as_str()
            })
            .await;
        assert_eq!(ev["ev"], "ack", "{ev}");
        ev["args"][0].clone()
    }
}

async fn subscribe_publish_receive(d: &mut Driver, srv: &TestServer, id: &str, org: &str) {
    let ack = d.emit_ack(id, "subscribe:site", json!(["s1"])).await;
    assert_valid("subscribe-ack.json", &ack);
    assert_eq!(
        ack,
        json!({"ok": true, "room": format!("org:{org}:site:s1")})
    );
    let accepted = publish_ok(
        srv.addr,
        &format!("org:{org}:site:s1"),
        "dashboard:summaryUpdated",
        json!({"open": 3}),
    )
    .await;
    assert_valid("publish-accepted.json", &accepted);
    let env = d.event(id, "dashboard:summaryUpdated").await;
    assert_valid("envelope.json", &env);
    assert_eq!(env["eventId"], accepted["eventId"]);
    assert_eq!(env["timestamp"], accepted["timestamp"]);
    assert_eq!(env["payload"], json!({"open": 3}));
}

#[tokio::test]
async fn wire_15_node_client_websocket_only_connects_subscribes_and_receives() {
    let srv = TestServer::default().await;
    let mut d = Driver::start().await;
    let ev = d
        .connect(
            "c1",
            &srv,
            json!({"transports":["websocket"],"auth":{"token": client_token("u1","acme")}}),
        )
        .await;
    assert_eq!(ev["ev"], "connect", "{ev}");
    assert_eq!(ev["transport"], "websocket");
    let connected = d.event("c1", "system:connected").await;
    assert_valid("system-connected.json", &connected);
    assert_eq!(connected["payload"]["sid"], ev["socketId"]);
    subscribe_publish_receive(&mut d, &srv, "c1", "acme").await;
    let pong = d.emit_ack("c1", "system:ping", json!([])).await;
    assert_valid("ping-ack.json", &pong);
    d.send(json!({"cmd":"disconnect","id":"c1"})).await;
    d.wait(|e| e["ev"] == "disconnect" && e["id"] == "c1").await;
}

#[tokio::test]
async fn wire_17_node_client_default_transports_poll_then_upgrade() {
    let srv = TestServer::default().await;
    let mut d = Driver::start().await;
    d.send(json!({"cmd":"connect","id":"p1","url":srv.url(),"opts":{"auth":{"token": client_token("u1","acme")}}}))
        .await;
    let open = d.wait(|e| e["ev"] == "open" && e["id"] == "p1").await;
    assert_eq!(open["transport"], "polling");
    let ev = d
        .wait(|e| (e["ev"] == "connect" || e["ev"] == "connect_error") && e["id"] == "p1")
        .await;
    assert_eq!(ev["ev"], "connect", "{ev}");
    let up = d.wait(|e| e["ev"] == "upgrade" && e["id"] == "p1").await;
    assert_eq!(up["transport"], "websocket");
    d.event("p1", "system:connected").await;
    subscribe_publish_receive(&mut d, &srv, "p1", "acme").await;
}

#[tokio::test]
async fn auth_32_node_client_sees_connect_error_with_code_and_reason() {
    let srv = TestServer::default().await;
    let mut d = Driver::start().await;
    let expired = token(json!({"sub":"u1","organizationId":"acme","exp": now() - 10}));
    let ev = d
        .connect(
            "e1",
            &srv,
            json!({"transports":["websocket"],"auth":{"token": expired}}),
        )
        .await;
    assert_eq!(ev["ev"], "connect_error", "{ev}");
    assert_eq!(ev["message"], "Invalid or expired token");
    assert_eq!(
        ev["data"],
        json!({"code":"AUTH_FAILED","reason":"token_expired"})
    );
    let ev = d
        .connect("e2", &srv, json!({"transports":["websocket"]}))
        .await;
    assert_eq!(ev["data"]["reason"], "missing_token");
    assert_valid(
        "connect-error.json",
        &json!({"message": ev["message"], "data": ev["data"]}),
    );
}

#[tokio::test]
async fn life_3_node_client_refreshes_its_token() {
    let srv = TestServer::default().await;
    let mut d = Driver::start().await;
    d.connect(
        "r1",
        &srv,
        json!({"transports":["websocket"],"auth":{"token": client_token("u1","acme")}}),
    )
    .await;
    let exp = now() + 7200;
    let fresh = token(json!({"sub":"u1","organizationId":"acme","exp": exp}));
    let ack = d
        .emit_ack("r1", "auth:refresh", json!([{"token": fresh}]))
        .await;
    assert_valid("refresh-ack.json", &ack);
    assert_eq!(ack, json!({"ok": true, "exp": exp}));
    let other = client_token("u2", "acme");
    let ack = d
        .emit_ack("r1", "auth:refresh", json!([{"token": other}]))
        .await;
    assert_valid("refresh-ack.json", &ack);
    assert_eq!(ack["error"]["reason"], "invalid_claims");
}

#[tokio::test]
async fn life_2_node_client_is_disconnected_at_expiry() {
    let srv = TestServer::default().await;
    let mut d = Driver::start().await;
    let t = token(json!({"sub":"u1","organizationId":"acme","exp": now() + 2}));
    let ev = d
        .connect(
            "x1",
            &srv,
            json!({"transports":["websocket"],"auth":{"token": t}}),
        )
        .await;
    assert_eq!(ev["ev"], "connect", "{ev}");
    let err = d.event("x1", "system:error").await;
    assert_valid("system-error.json", &err);
    assert_eq!(err["payload"]["code"], "TOKEN_EXPIRED");
    let ev = d.wait(|e| e["ev"] == "disconnect" && e["id"] == "x1").await;
    assert_eq!(ev["reason"], "io server disconnect");
}

#[tokio::test]
async fn life_2_node_client_over_polling_gets_the_error_then_the_disconnect() {
    let srv = TestServer::default().await;
    let mut d = Driver::start().await;
    let t = token(json!({"sub":"u1","organizationId":"acme","exp": now() + 2}));
    let ev = d
        .connect(
            "x2",
            &srv,
            json!({"transports":["polling"],"auth":{"token": t}}),
        )
        .await;
    assert_eq!(ev["ev"], "connect", "{ev}");
    assert_eq!(ev["transport"], "polling");
    let err = d.event("x2", "system:error").await;
    assert_eq!(err["payload"]["code"], "TOKEN_EXPIRED");
    let ev = d.wait(|e| e["ev"] == "disconnect" && e["id"] == "x2").await;
    assert_eq!(ev["reason"], "io server disconnect");
}

/// LIFE-11: a stock socket.io-client (default reconnection, no code of its own) behind a
/// load balancer is connected to instance B shortly after instance A shuts down (the
/// graceful shutdown that SIGTERM runs): A closes the transport without `41`, which
/// socket.io-client reports as "transport close" and reconnects after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn life_11_node_client_reconnects_to_another_instance_after_shutdown() {
    let a = TestServer::default().await;
    let b = TestServer::default().await;
    let lb = Failover::start(vec![a.addr, b.addr]).await;
    let mut d = Driver::start().await;
    let token = client_token("u1", "acme");
    d.send(json!({"cmd":"connect","id":"c1","url":lb.url(),
                  "opts":{"auth":{"token":token},"reconnection":true}}))
        .await;
    let first = d
        .wait(|e| (e["ev"] == "connect" || e["ev"] == "connect_error") && e["id"] == "c1")
        .await;
    assert_eq!(first["ev"], "connect", "{first}");
    a.wait_sockets(1, "the client is on A").await;
    a.shutdown().await;
    let gone = d.wait(|e| e["ev"] == "disconnect" && e["id"] == "c1").await;
    assert_ne!(gone["reason"], "io server disconnect", "{gone}");
    let again = d.wait(|e| e["ev"] == "connect" && e["id"] == "c1").await;
    assert_ne!(again["socketId"], first["socketId"], "{again}");
    b.wait_sockets(1, "the client reconnected to B").await;
}
