//! LIM: limits, bad input, slow consumers.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::*;

async fn closes_after(frames: &[&str]) {
    let srv = TestServer::default().await;
    for f in frames {
        let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
        s.ws.send(f).await;
        let (seen, closed) = s.ws.closed_within(WAIT).await;
        assert!(
            closed.is_some(),
            "{f:?} did not close the connection: {seen:?}"
        );
    }
}

#[tokio::test]
async fn lim_1_websocket_message_above_max_payload_closes_with_1009() {
    let mut cfg = config();
    cfg.max_payload = 1000;
    let srv = TestServer::start(cfg).await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let big = format!("42[\"subscribe:site\",\"{}\"]", "x".repeat(2000));
    s.ws.send(&big).await;
    let (_, closed) = s.ws.closed_within(WAIT).await;
    let frame = closed.expect("closed").expect("close frame");
    assert_eq!(frame.code, CloseCode::Size);
    // A message at the limit is fine.
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let arg = "x".repeat(1000 - r#"42["nope:x",""]"#.len());
    s.ws.send(&format!("42[\"nope:x\",\"{arg}\"]")).await;
    let (name, _) = s.ws.event().await;
    assert_eq!(name, "system:error");
}

#[tokio::test]
async fn lim_2_polling_post_above_max_payload_is_refused_and_closes() {
    let mut cfg = config();
    cfg.max_payload = 1000;
    let srv = TestServer::start(cfg).await;
    let (sid, _) = polling_open(srv.addr).await;
    let r = polling_post(srv.addr, &sid, &"4".repeat(1001)).await;
    assert!(r.status == 413 || r.status == 400, "{r:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = polling_get(srv.addr, &sid).await;
    assert!(r.status == 400 || r.body == "1", "session closed: {r:?}");
}

#[tokio::test]
async fn lim_3_malformed_socket_io_packet_closes() {
    closes_after(&[
        "4abc",
        "42{}",
        r#"42abc["subscribe:site","s1"]"#,
        "40[]",
        r#"43["x"]"#,
        "41{}",
    ])
    .await;
}

#[tokio::test]
async fn lim_4_invalid_json_closes() {
    closes_after(&[r#"42["subscribe:site""#, r#"42["a",}"#, r#"421["x"]junk"#]).await;
}

#[tokio::test]
async fn lim_5_unknown_engine_io_packet_type_closes() {
    closes_after(&["7", "x", "9hello", "", "1junk"]).await;
}

#[tokio::test]
async fn lim_6_unknown_socket_io_packet_type_closes() {
    closes_after(&["47", "48[\"a\"]", "4"]).await;
}

#[tokio::test]
async fn lim_7_reserved_event_names_close() {
    let frames: Vec<String> = [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ]
    .iter()
    .map(|n| format!("42[\"{n}\"]"))
    .collect();
    let refs: Vec<&str> = frames.iter().map(String::as_str).collect();
    closes_after(&refs).await;
}

#[tokio::test]
async fn lim_8_unexpected_binary_closes() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send_binary(vec![1, 2, 3]).await;
    s.ws.assert_closed(WAIT).await;
    // Before any CONNECT too.
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    ws.send_binary(vec![0]).await;
    ws.assert_closed(WAIT).await;
}

#[tokio::test]
async fn lim_9_more_than_ten_attachments_closes() {
    closes_after(&[r#"4511-["a",{"_placeholder":true,"num":0}]"#]).await;
}

#[tokio::test]
async fn lim_10_bad_input_never_harms_other_connections() {
    let srv = TestServer::default().await;
    let mut good = connect(srv.addr, &client_token("good", "acme")).await;
    good.ws
        .emit("subscribe:site", vec![json!("s1")], Some(1))
        .await;
    for bad in ["4abc", "7", r#"42["connect"]"#, "47", r#"42["a""#] {
        let mut s = connect(srv.addr, &client_token("bad", "acme")).await;
        s.ws.send(bad).await;
        s.ws.assert_closed(WAIT).await;
    }
    let mut raw = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    use tokio::io::AsyncWriteExt;
    raw.write_all(b"GARBAGE \x00\xff\r\n\r\n").await.unwrap();
    drop(raw);
    let body = publish_ok(srv.addr, "org:acme:site:s1", "a:b", json!(1)).await;
    let (_, args) = good.ws.event().await;
    assert_eq!(args[0]["eventId"], body["eventId"]);
    assert_eq!(
        good.ws.emit("system:ping", vec![], Some(2)).await.unwrap()["pong"],
        true
    );
    assert_eq!(get(srv.addr, "/healthz").await.status, 200);
}

/// A socket that stops reading: CONNECTed over a raw WebSocket that is never polled.
async fn stalled_socket(srv: &TestServer) -> Ws {
    connect(srv.addr, &client_token("slow", "acme")).await.ws
}

#[tokio::test]
async fn lim_11_a_client_that_stops_reading_is_dropped() {
    let mut cfg = config();
    cfg.outbound_queue = 8;
    let srv = TestServer::start(cfg).await;
    let _slow = stalled_socket(&srv).await;
    let payload = "y".repeat(60_000);
    for _ in 0..400 {
        publish_ok(srv.addr, "org:acme", "load:x", json!(payload)).await;
        if srv.metrics.slow_consumers_dropped.load(Relaxed) > 0 {
            break;
        }
    }
    assert_eq!(
        srv.metrics.slow_consumers_dropped.load(Relaxed),
        1,
        "dropped once"
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    while srv.metrics.sockets_connected.load(Relaxed) != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        srv.metrics.sockets_connected.load(Relaxed),
        0,
        "disconnected"
    );
}

#[tokio::test]
async fn lim_12_a_slow_consumer_does_not_slow_the_others() {
    let mut cfg = config();
    cfg.outbound_queue = 8;
    let srv = TestServer::start(cfg).await;
    let _slow = stalled_socket(&srv).await;
    let mut fast = connect(srv.addr, &client_token("fast", "acme")).await;
    let payload = "z".repeat(60_000);
    for i in 0..200 {
        publish_ok(
            srv.addr,
            "org:acme",
            "load:x",
            json!({"i": i, "p": payload}),
        )
        .await;
        let (_, args) = fast.ws.event().await;
        assert_eq!(args[0]["payload"]["i"], i, "every event, in order");
    }
    assert_eq!(srv.metrics.slow_consumers_dropped.load(Relaxed), 1);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

#[tokio::test]
async fn lim_13_memory_stays_bounded_with_slow_consumers() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roomcast-server"))
        .args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", std::str::from_utf8(SECRET).unwrap())
        .env("ROOMCAST_OUTBOUND_QUEUE", "32")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let child = Kill(child);
    let addr: std::net::SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let pid = child.0.id();
    let payload = "m".repeat(20_000);
    // Warm up, then measure while several stalled clients are connected.
    for _ in 0..50 {
        publish_ok(addr, "org:acme", "load:x", json!(payload)).await;
    }
    let mut stalled = Vec::new();
    for i in 0..4 {
        stalled.push(
            connect(addr, &client_token(&format!("s{i}"), "acme"))
                .await
                .ws,
        );
    }
    let before = rss_kib(pid);
    for _ in 0..2000 {
        publish_ok(addr, "org:acme", "load:x", json!(payload)).await;
    }
    let after = rss_kib(pid);
    // 2 000 events of 20 kB is 40 MB per client; the bounded queues hold at most
    // 32 frames each, so the growth stays far below that.
    assert!(
        after.saturating_sub(before) < 24 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}
