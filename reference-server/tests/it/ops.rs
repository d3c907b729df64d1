//! OPS: health, readiness, metrics, logs, configuration.

use std::io::{BufRead, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn ops_1_healthz_answers_200() {
    let srv = TestServer::default().await;
    let r = get(srv.addr, "/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
}

#[tokio::test]
async fn ops_3_readyz_reflects_readiness() {
    let srv = TestServer::default().await;
    assert_eq!(get(srv.addr, "/readyz").await.status, 200);
}

#[tokio::test]
async fn ops_4_metrics_serve_prometheus_text() {
    let srv = TestServer::default().await;
    let r = get(srv.addr, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    for line in r.body.lines() {
        assert!(
            line.starts_with('#') || line.split_whitespace().count() == 2,
            "{line}"
        );
    }
}

#[tokio::test]
async fn ops_5_metrics_have_the_minimum_families() {
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    ws.connect_raw(None).await;
    let r = get(srv.addr, "/metrics").await;
    for fam in [
        "# TYPE roomcast_sockets_connected gauge",
        "# TYPE roomcast_auth_failures_total counter",
        "# TYPE roomcast_publish_requests_total counter",
        "# TYPE roomcast_events_delivered_total counter",
        "# TYPE roomcast_slow_consumer_disconnects_total counter",
        "roomcast_auth_failures_total{reason=\"missing_token\"} 1",
    ] {
        assert!(r.body.contains(fam), "missing {fam}");
    }
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

#[tokio::test]
async fn ops_6_sockets_connected_tracks_connects_and_disconnects() {
    let srv = TestServer::default().await;
    let m = || async {
        metric(
            &get(srv.addr, "/metrics").await.body,
            "roomcast_sockets_connected",
        )
    };
    assert_eq!(m().await, 0.0);
    let a = connect(srv.addr, &client_token("u1", "acme")).await;
    let mut b = connect(srv.addr, &client_token("u2", "acme")).await;
    assert_eq!(m().await, 2.0);
    b.ws.send("41").await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(m().await, 1.0);
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(m().await, 0.0);
    publish_ok(srv.addr, "org:acme", "a:b", json!(1)).await;
    let body = get(srv.addr, "/metrics").await.body;
    assert_eq!(
        metric(&body, "roomcast_publish_requests_total{status=\"202\"}"),
        1.0
    );
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_roomcast-server"));
    for (k, _) in std::env::vars() {
        if k.starts_with("JWT_") || k.starts_with("ROOMCAST_") || k == "PORT" || k == "REDIS_URL" {
            c.env_remove(k);
        }
    }
    c
}

/// The child's stderr, drained by a thread (a full pipe would block the server).
struct Logs(std::thread::JoinHandle<String>);

fn start(mut cmd: Command) -> (Proc, std::net::SocketAddr, Logs) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let stderr = Logs(std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    }));
    let addr = line
        .trim()
        .strip_prefix("roomcast-server listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .parse()
        .unwrap();
    (Proc(child), addr, stderr)
}

#[tokio::test]
async fn ops_7_spawn_contract_port_and_jwt_secret() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = bin();
    cmd.env("PORT", port.to_string())
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap());
    let (_p, addr, _e) = start(cmd);
    assert_eq!(addr.port(), port);
    assert!(addr.ip().is_unspecified(), "binds every interface: {addr}");
    let local: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    connect(local, &client_token("u1", "acme")).await;
    assert_eq!(get(local, "/healthz").await.status, 200);
    publish_ok(local, "org:acme", "a:b", json!(1)).await;
}

#[tokio::test]
async fn ops_8_further_settings_by_environment() {
    let mut cmd = bin();
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("ROOMCAST_NAMESPACE", "/rt")
        .env("ROOMCAST_PING_INTERVAL_MS", "1234")
        .env("ROOMCAST_PING_TIMEOUT_MS", "567")
        .env("ROOMCAST_MAX_PAYLOAD", "4321")
        .env("ROOMCAST_SUBSCRIPTION_LIMIT", "1")
        .env("ROOMCAST_AUTH_QUERY", "true");
    let (_p, addr, _e) = start(cmd);
    let q = format!("&token={}", client_token("u1", "acme"));
    let mut ws = Ws::open(addr, &q, &[]).await;
    assert_eq!(ws.open["pingInterval"], 1234);
    assert_eq!(ws.open["pingTimeout"], 567);
    assert_eq!(ws.open["maxPayload"], 4321);
    ws.send("40/rt,").await;
    assert!(ws.text().await.starts_with("40/rt,{"));
    let _ = ws.text().await;
    ws.send(r#"42/rt,1["subscribe:site","a"]"#).await;
    assert!(ws.text().await.starts_with("43/rt,1[{\"ok\":true"));
    ws.send(r#"42/rt,2["subscribe:site","b"]"#).await;
    assert!(ws.text().await.contains("LIMIT_EXCEEDED"));
}

fn exits_with_message(cmd: &mut Command, needle: &str) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr does not name {needle}: {err}");
}

#[test]
fn ops_9_invalid_configuration_fails_at_start() {
    exits_with_message(bin().args(["--bind", "127.0.0.1:0"]), "JWT_SECRET");
    exits_with_message(
        bin()
            .args(["--bind", "127.0.0.1:0"])
            .env("JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem"),
        "JWT_PUBLIC_KEY_FILE",
    );
    exits_with_message(
        bin()
            .args(["--bind", "127.0.0.1:0"])
            .env("JWT_SECRET", "s")
            .env("JWT_ALGORITHMS", "HS999"),
        "JWT_ALGORITHMS",
    );
    exits_with_message(
        bin()
            .args(["--bind", "127.0.0.1:0"])
            .env("JWT_SECRET", "s")
            .env("REDIS_URL", "http://127.0.0.1:1"),
        "REDIS_URL",
    );
}

fn read_logs(p: Proc, stderr: Logs) -> String {
    drop(p);
    stderr.0.join().unwrap()
}

#[tokio::test]
async fn ops_10_lifecycle_is_logged_as_structured_records() {
    let mut cmd = bin();
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap());
    let (p, addr, stderr) = start(cmd);
    let mut s = connect(addr, &client_token("u1", "acme")).await;
    s.ws.send("41").await;
    let mut ws = Ws::open(addr, "", &[]).await;
    ws.connect_raw(None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = read_logs(p, stderr);
    let records: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |ev: &str| {
        records
            .iter()
            .find(|r| r["fields"]["event"] == ev)
            .unwrap_or_else(|| panic!("no {ev} record in {logs}"))
            .clone()
    };
    let c = find("connect");
    assert_eq!(c["fields"]["user_id"], "u1");
    assert_eq!(c["fields"]["organization_id"], "acme");
    assert_eq!(c["fields"]["sid"], s.sid);
    let d = find("disconnect");
    assert!(d["fields"]["reason"].is_string());
    assert_eq!(d["fields"]["sid"], s.sid);
    assert_eq!(find("auth_failed")["fields"]["reason"], "missing_token");
    find("standalone");
}

#[tokio::test]
async fn ops_11_tokens_are_never_logged() {
    let mut cmd = bin();
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("RUST_LOG", "trace")
        .env("ROOMCAST_AUTH_QUERY", "true");
    let (p, addr, stderr) = start(cmd);
    let good = client_token("u1", "acme");
    let expired = token(json!({"sub":"u1","organizationId":"acme","exp":now()-5}));
    let service = service_token(None);
    let mut s = connect(addr, &good).await;
    s.ws.emit("auth:refresh", vec![json!({"token": expired})], Some(1))
        .await;
    let bearer = format!("Bearer {expired}");
    let mut ws = Ws::open(
        addr,
        &format!("&token={expired}"),
        &[("Authorization", &bearer)],
    )
    .await;
    ws.connect_raw(Some(json!({"token": expired}))).await;
    publish_ok(addr, "org:acme", "a:b", json!(1)).await;
    publish(addr, &expired, &json!({"room":"org:acme","type":"a:b"})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = read_logs(p, stderr);
    assert!(logs.lines().count() > 3, "trace logging produced records");
    for t in [&good, &expired, &service] {
        let sig = t.rsplit('.').next().unwrap();
        let leak: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(sig))
            .map(|l| l.get(..160).unwrap_or(l))
            .collect();
        assert!(
            leak.is_empty(),
            "a token signature appears in the logs: {leak:?}"
        );
        let claims = t.split('.').nth(1).unwrap();
        assert!(!logs.contains(claims), "a token body appears in the logs");
    }
}

#[tokio::test]
async fn dev_mode_prints_a_client_token_and_a_service_token_that_work() {
    let mut child = bin()
        .args(["--dev", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _p = Proc(child);
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let addr: std::net::SocketAddr = first
        .strip_prefix("roomcast-server listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    assert!(addr.ip().is_loopback(), "--dev binds 127.0.0.1");
    let mut client = None;
    let mut service = None;
    let mut next_is = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        match next_is.take() {
            Some("client") => client = Some(line.clone()),
            Some("service") => service = Some(line.clone()),
            _ => {}
        }
        if line.starts_with("Client token") {
            next_is = Some("client");
        } else if line.starts_with("Service token") {
            next_is = Some("service");
        } else if line.starts_with("Publish:") {
            assert!(line.contains("curl"));
            break;
        }
    }
    let (client, service) = (client.unwrap(), service.unwrap());
    let mut s = connect(addr, &client).await;
    assert_eq!(s.connected["payload"]["organizationId"], "dev-org");
    let r = publish(
        addr,
        &service,
        &json!({"room":"org:dev-org","type":"demo:hello","payload":{"hello":"world"}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let (name, args) = s.ws.event().await;
    assert_eq!(name, "demo:hello");
    assert_eq!(args[0]["payload"], json!({"hello":"world"}));
}

#[tokio::test]
async fn fan_5_without_redis_one_instance_fans_out_in_memory() {
    let mut cmd = bin();
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap());
    let (_p, addr, _e) = start(cmd);
    let mut a = connect(addr, &client_token("u1", "acme")).await;
    let mut b = connect(addr, &client_token("u2", "acme")).await;
    let body = publish_ok(addr, "org:acme", "a:b", json!(1)).await;
    for s in [&mut a, &mut b] {
        let (_, args) = s.ws.event().await;
        assert_eq!(args[0]["eventId"], body["eventId"]);
    }
    assert_eq!(get(addr, "/readyz").await.status, 200);
}

#[tokio::test]
async fn fan_6_standalone_start_logs_a_warning() {
    let mut cmd = bin();
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap());
    let (p, _addr, stderr) = start(cmd);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = read_logs(p, stderr);
    let warning = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["fields"]["event"] == "standalone")
        .unwrap_or_else(|| panic!("no standalone warning in {logs}"));
    assert_eq!(warning["level"], "WARN");
    let msg = warning["fields"]["message"].as_str().unwrap();
    assert!(
        msg.contains("in-memory") && msg.contains("single instance"),
        "{msg}"
    );
}

#[tokio::test]
async fn ops_8_boolean_settings_accept_true_false_and_1_0() {
    for (value, enabled) in [("false", false), ("0", false), ("true", true), ("1", true)] {
        let mut cmd = bin();
        cmd.args(["--bind", "127.0.0.1:0"])
            .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
            .env("ROOMCAST_AUTH_QUERY", value);
        let (_p, addr, _e) = start(cmd);
        let q = format!("&token={}", client_token("u1", "acme"));
        let mut ws = Ws::open(addr, &q, &[]).await;
        let reply = ws.connect_raw(None).await;
        assert_eq!(
            connect_sid(&reply).is_some(),
            enabled,
            "ROOMCAST_AUTH_QUERY={value}: {reply}"
        );
    }
}
