//! LIFE: heartbeat, token expiry and refresh, disconnect, shutdown.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::*;

fn short_token(user: &str, secs: i64) -> (String, i64) {
    let exp = now() + secs;
    (
        token(json!({"sub": user, "organizationId": "acme", "exp": exp})),
        exp,
    )
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn life_1_expiring_socket_gets_token_expired() {
    let srv = TestServer::default().await;
    let (t, _) = short_token("u1", 2);
    let mut s = connect(srv.addr, &t).await;
    let seen = s.ws.assert_closed(Duration::from_secs(4)).await;
    let err = seen
        .iter()
        .find_map(|f| parse_event(f).filter(|(n, _)| n == "system:error"))
        .unwrap_or_else(|| panic!("no system:error in {seen:?}"));
    assert_eq!(
        err.1[0]["payload"],
        json!({"code":"TOKEN_EXPIRED","message":"Token expired"})
    );
}

#[tokio::test]
async fn life_2_expired_socket_is_disconnected_and_closed_in_time() {
    let srv = TestServer::default().await;
    let (t, exp) = short_token("u1", 2);
    let mut s = connect(srv.addr, &t).await;
    let seen = s.ws.assert_closed(Duration::from_secs(4)).await;
    let closed_at = unix_ms();
    let i = seen
        .iter()
        .position(|f| f.starts_with("42[\"system:error\""))
        .unwrap();
    assert_eq!(seen.get(i + 1).map(String::as_str), Some("41"), "{seen:?}");
    assert!(closed_at >= exp * 1000 - 50, "not before exp");
    assert!(closed_at <= exp * 1000 + 1000, "within 1 s of exp");
}

#[tokio::test]
async fn life_3_auth_refresh_replaces_the_token() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let exp = now() + 7200;
    let t = token(json!({"sub":"u1","organizationId":"acme","exp":exp}));
    let ack =
        s.ws.emit("auth:refresh", vec![json!({"token": t})], Some(9))
            .await
            .unwrap();
    assert_eq!(ack, json!({"ok": true, "exp": exp}));
}

#[tokio::test]
async fn life_4_refreshed_socket_outlives_its_old_exp() {
    let srv = TestServer::default().await;
    let (t, old_exp) = short_token("u1", 1);
    let mut s = connect(srv.addr, &t).await;
    s.ws.emit("subscribe:site", vec![json!("s1")], Some(1))
        .await;
    let (t2, new_exp) = short_token("u1", 3);
    let ack =
        s.ws.emit("auth:refresh", vec![json!({"token": t2})], Some(2))
            .await
            .unwrap();
    assert_eq!(ack["ok"], true);
    // Past the old exp it is still connected and still in its rooms.
    let wait = (old_exp * 1000 + 300 - unix_ms()).max(0) as u64;
    s.ws.assert_silent(Duration::from_millis(wait)).await;
    let body = publish_ok(srv.addr, "org:acme:site:s1", "a:b", json!(1)).await;
    let (_, args) = s.ws.event().await;
    assert_eq!(args[0]["eventId"], body["eventId"]);
    // And disconnected at the new one.
    let seen = s.ws.assert_closed(Duration::from_secs(5)).await;
    assert!(unix_ms() >= new_exp * 1000 - 50);
    assert!(seen.iter().any(|f| f.contains("TOKEN_EXPIRED")), "{seen:?}");
}

#[tokio::test]
async fn life_5_refresh_requires_the_same_user_and_organization() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    for (u, o) in [("u2", "acme"), ("u1", "globex")] {
        let t = client_token(u, o);
        let ack =
            s.ws.emit("auth:refresh", vec![json!({"token": t})], Some(3))
                .await
                .unwrap();
        assert_eq!(ack["error"]["reason"], "invalid_claims");
    }
}

#[tokio::test]
async fn life_6_failed_refresh_is_acked_and_the_socket_stays() {
    let srv = TestServer::default().await;
    let (t, _) = short_token("u1", 2);
    let mut s = connect(srv.addr, &t).await;
    let expired = token(json!({"sub":"u1","organizationId":"acme","exp":now()-1}));
    s.ws.send(&format!(
        "4210{}",
        json!(["auth:refresh", {"token": expired}])
    ))
    .await;
    let (id, ack) = parse_ack(&s.ws.text().await).unwrap();
    assert_eq!(id, 10);
    assert_eq!(
        ack,
        json!({"ok":false,"error":{"code":"AUTH_FAILED","message":"Invalid or expired token","reason":"token_expired"}})
    );
    let ack =
        s.ws.emit("auth:refresh", vec![json!({})], Some(11))
            .await
            .unwrap();
    assert_eq!(ack["error"]["reason"], "missing_token");
    assert_eq!(
        s.ws.emit("system:ping", vec![], Some(12)).await.unwrap()["pong"],
        true
    );
    // The old exp still applies.
    let seen = s.ws.assert_closed(Duration::from_secs(4)).await;
    assert!(seen.iter().any(|f| f.contains("TOKEN_EXPIRED")));
}

#[tokio::test]
async fn life_7_failed_refresh_without_ack_is_a_system_error() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(&format!("42{}", json!(["auth:refresh", {"token": "bad"}])))
        .await;
    let (name, args) = s.ws.event().await;
    assert_eq!(name, "system:error");
    assert_eq!(args[0]["payload"]["code"], "AUTH_FAILED");
    assert_eq!(
        s.ws.emit("system:ping", vec![], Some(1)).await.unwrap()["pong"],
        true
    );
}

#[tokio::test]
async fn life_8_after_a_disconnect_nothing_is_delivered_and_rooms_are_gone() {
    let srv = TestServer::default().await;
    let t = client_token("u1", "acme");
    let mut s = connect(srv.addr, &t).await;
    s.ws.emit("subscribe:site", vec![json!("s1")], Some(1))
        .await;
    assert_eq!(srv.metrics.sockets_connected.load(Relaxed), 1);
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(3);
    while srv.metrics.sockets_connected.load(Relaxed) != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(srv.metrics.sockets_connected.load(Relaxed), 0);
    assert_eq!(
        srv.metrics.rooms.load(Relaxed),
        0,
        "every membership is gone"
    );
    // A reconnect starts with the automatic rooms only.
    let mut s = connect(srv.addr, &t).await;
    publish_ok(srv.addr, "org:acme:site:s1", "a:b", json!(1)).await;
    s.ws.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn life_9_client_disconnect_leaves_all_rooms() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.emit("subscribe:unit", vec![json!("x")], Some(1)).await;
    assert_eq!(srv.metrics.rooms.load(Relaxed), 3);
    s.ws.send("41").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(srv.metrics.rooms.load(Relaxed), 0);
    assert_eq!(srv.metrics.sockets_connected.load(Relaxed), 0);
    publish_ok(srv.addr, "org:acme:unit:x", "a:b", json!(1)).await;
    s.ws.assert_silent(Duration::from_millis(200)).await;
}

/// The server binary, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_binary() -> (Proc, std::net::SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roomcast-server"))
        .args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("roomcast-server listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (Proc(child), addr)
}

fn sigterm(p: &Proc) {
    let ok = Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn wait_exit(p: &mut Proc, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(st) = p.0.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn life_10_sigterm_stops_accepting_connections() {
    let (mut p, addr) = spawn_binary();
    let mut s = connect(addr, &client_token("u1", "acme")).await;
    sigterm(&p);
    s.ws.closed_within(Duration::from_secs(5)).await;
    let refused = tokio::net::TcpStream::connect(addr).await.is_err()
        || Ws::raw(
            &format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
            &[],
        )
        .await
        .is_err();
    assert!(refused, "a new connection after SIGTERM is not served");
    assert!(wait_exit(&mut p, Duration::from_secs(10)).is_some());
}

#[tokio::test]
async fn life_11_sigterm_closes_the_transport_without_41_so_clients_reconnect() {
    let (mut p, addr) = spawn_binary();
    let mut s = connect(addr, &client_token("u1", "acme")).await;
    let (sid, _) = polling_open(addr).await;
    let pending = tokio::spawn(async move { polling_get(addr, &sid).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    sigterm(&p);
    let (seen, closed) = s.ws.closed_within(Duration::from_secs(5)).await;
    assert!(
        !seen.iter().any(|f| f.starts_with("41") || f == "1"),
        "no Socket.IO DISCONNECT and no Engine.IO close on shutdown: {seen:?}"
    );
    let frame = closed.expect("closed").expect("a close frame, not a reset");
    assert_eq!(frame.code, CloseCode::Away, "{frame:?}");
    // the pending poll: the session ends with 400 Session ID unknown, not a `1`
    let r = pending.await.unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["code"], 1, "{}", r.body);
    wait_exit(&mut p, Duration::from_secs(10));
}

#[tokio::test]
async fn life_12_sigterm_exits_within_10_s_with_status_0() {
    let (mut p, addr) = spawn_binary();
    let _s = connect(addr, &client_token("u1", "acme")).await;
    let started = Instant::now();
    sigterm(&p);
    let st = wait_exit(&mut p, Duration::from_secs(10)).expect("exited within 10 s");
    assert!(st.success(), "{st:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
