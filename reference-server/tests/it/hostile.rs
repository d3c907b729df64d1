//! Hostile clients (issue 11): slow and trickled bodies, overlapping POSTs, handshake
//! floods, abandoned handshakes, CONNECT retries and cross-site cookie requests
//! (LIM-14 … LIM-19, AUTH-36). Timings are configured short; no test asserts speed.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// Sends the head of a POST with `Content-Length: len` and `first` body bytes.
async fn start_post(addr: std::net::SocketAddr, path: &str, len: usize, first: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(first).await.unwrap();
    s
}

/// Reads until the peer closes or `wait` passes; `None` on timeout.
async fn read_until_close(s: &mut TcpStream, wait: Duration) -> Option<HttpResp> {
    let mut buf = Vec::new();
    match tokio::time::timeout(wait, s.read_to_end(&mut buf)).await {
        Ok(_) => Some(parse_http(&buf)),
        Err(_) => None,
    }
}

fn short_bodies() -> reference_server::Config {
    let mut cfg = config();
    cfg.limits.body_timeout = Duration::from_millis(1500);
    cfg.limits.body_grace = Duration::from_millis(300);
    cfg
}

#[tokio::test]
async fn lim_14_a_stalled_polling_post_is_cut_with_408_and_its_session_ends() {
    let srv = TestServer::start(short_bodies()).await;
    let (sid, _) = polling_open(srv.addr).await;
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let mut s = start_post(srv.addr, &path, 100, b"4x").await;
    let r = read_until_close(&mut s, Duration::from_secs(10))
        .await
        .expect("the stalled POST is cut");
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(
        srv.metrics
            .body_timeouts
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // the session is gone
    let r = polling_get(srv.addr, &sid).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn lim_14_a_trickled_publish_body_is_cut_with_request_timeout() {
    let srv = TestServer::start(short_bodies()).await;
    let auth = format!("Bearer {}", service_token(None));
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let head = format!(
        "POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // one byte every 50 ms: 20 bytes/s, far below the minimum rate
    let trickle = async {
        for _ in 0..400 {
            if s.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), trickle).await;
    let r = read_until_close(&mut s, Duration::from_secs(10))
        .await
        .expect("the trickled body is cut");
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "REQUEST_TIMEOUT");
}

#[tokio::test]
async fn lim_14_a_polling_post_does_not_outlive_its_session() {
    let mut cfg = config();
    cfg.limits.body_timeout = Duration::from_secs(60);
    cfg.limits.body_min_rate = 0;
    cfg.ping_interval = Duration::from_millis(200);
    cfg.ping_timeout = Duration::from_millis(200);
    let srv = TestServer::start(cfg).await;
    let (sid, _) = polling_open(srv.addr).await;
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    // nobody answers the pings: the session ends at the ping timeout
    let mut s = start_post(srv.addr, &path, 100, b"4x").await;
    let r = read_until_close(&mut s, Duration::from_secs(10)).await;
    assert!(r.is_some(), "the POST outlived its session");
}

#[tokio::test]
async fn lim_15_a_complete_body_split_in_many_segments_is_read_whole() {
    let srv = TestServer::default().await;
    let (sid, _) = polling_open(srv.addr).await;
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let body = b"40{\"token\":\"x\"}";
    let mut s = start_post(srv.addr, &path, body.len(), b"").await;
    for b in body {
        s.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let r = parse_http(&buf[..n]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, "ok");
}

#[tokio::test]
async fn lim_16_a_second_concurrent_post_is_refused_and_closes_the_session() {
    let srv = TestServer::default().await;
    let (sid, _) = polling_open(srv.addr).await;
    let path = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let mut first = start_post(srv.addr, &path, 100, b"4x").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = polling_post(srv.addr, &sid, "40").await;
    assert_eq!(r.status, 400, "{}", r.body);
    // the first POST ends with its session
    assert!(read_until_close(&mut first, Duration::from_secs(5))
        .await
        .is_some());
    let r = polling_get(srv.addr, &sid).await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn lim_17_pending_sessions_are_capped_with_503_and_retry_after() {
    let mut cfg = config();
    cfg.limits.max_pending_per_ip = 3;
    let srv = TestServer::start(cfg).await;
    let mut sids = Vec::new();
    for _ in 0..3 {
        sids.push(polling_open(srv.addr).await.0);
    }
    let r = get(srv.addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let mut ws = Ws::raw(
        &format!("ws://{}/socket.io/?EIO=4&transport=websocket", srv.addr),
        &[],
    )
    .await;
    assert!(ws.is_err(), "a WebSocket handshake is refused too");
    let text = get(srv.addr, "/metrics").await.body;
    assert!(
        text.contains("roomcast_handshakes_refused_total{cap=\"source\"} 2"),
        "{text}"
    );
    assert!(text.contains("roomcast_pending_sessions 3"), "{text}");
    // a connected namespace frees the slot
    let tok = client_token("u1", "acme");
    let r = polling_post(
        srv.addr,
        &sids[0],
        &format!("40{}", json!({ "token": tok })),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = polling_get(srv.addr, &sids[0]).await;
    assert!(r.body.starts_with("40"), "{}", r.body);
    ws = Ws::raw(
        &format!("ws://{}/socket.io/?EIO=4&transport=websocket", srv.addr),
        &[],
    )
    .await;
    assert!(ws.is_ok(), "a slot is free again");
}

#[tokio::test]
async fn lim_18_an_abandoned_polling_handshake_is_closed_early() {
    let mut cfg = config();
    cfg.limits.first_poll_timeout = Duration::from_millis(300);
    let srv = TestServer::start(cfg).await;
    let (abandoned, _) = polling_open(srv.addr).await;
    let (kept, _) = polling_open(srv.addr).await;
    let r = polling_post(srv.addr, &kept, "6").await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let r = polling_get(srv.addr, &abandoned).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["code"], 1);
    let text = get(srv.addr, "/metrics").await.body;
    assert!(
        text.contains("roomcast_abandoned_sessions_total 1"),
        "{text}"
    );
    assert!(text.contains("roomcast_pending_sessions 1"), "{text}");
}

#[tokio::test]
async fn lim_19_failed_connects_close_the_connection_after_the_limit() {
    let mut cfg = config();
    cfg.limits.max_connect_failures = 3;
    let srv = TestServer::start(cfg).await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    for _ in 0..2 {
        let reply = ws.connect_raw(Some(json!({"token": "nope"}))).await;
        assert!(connect_error(&reply).is_some(), "{reply}");
    }
    let reply = ws.connect_raw(Some(json!({"token": "nope"}))).await;
    assert!(
        connect_error(&reply).is_some(),
        "the last failure is answered: {reply}"
    );
    ws.assert_closed(WAIT).await;
    // AUTH-34: below the limit a retry still succeeds
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    let _ = ws.connect_raw(Some(json!({"token": "nope"}))).await;
    let reply = ws
        .connect_raw(Some(json!({"token": client_token("u1", "acme")})))
        .await;
    assert!(connect_sid(&reply).is_some(), "{reply}");
}

#[tokio::test]
async fn auth_36_cookie_requests_from_a_foreign_origin_are_refused() {
    let mut cfg = config();
    cfg.token_sources.cookie = true;
    cfg.cors_origins = vec!["https://app.example".to_owned()];
    let srv = TestServer::start(cfg).await;
    let cookie = format!("accessToken={}", client_token("victim", "acme"));
    let ws_url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", srv.addr);
    let evil = Ws::raw(
        &ws_url,
        &[("Cookie", &cookie), ("Origin", "https://evil.example")],
    )
    .await;
    let err = evil.err().expect("no socket for a foreign origin");
    assert!(err.contains("403"), "{err}");
    let r = request(
        srv.addr,
        "GET",
        "/socket.io/?EIO=4&transport=polling",
        &[("Cookie", &cookie), ("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], 4);
    // the allowed origin, and a request without Origin, still authenticate by cookie
    for headers in [
        vec![
            ("Cookie", cookie.as_str()),
            ("Origin", "https://app.example"),
        ],
        vec![("Cookie", cookie.as_str())],
    ] {
        let mut ws = Ws::raw(&ws_url, &headers).await.expect("allowed");
        let _ = ws.text().await;
        let reply = ws.connect_raw(None).await;
        assert!(connect_sid(&reply).is_some(), "{reply}");
    }
    // a foreign origin without a cookie is not this rule's business
    let mut ws = Ws::raw(&ws_url, &[("Origin", "https://evil.example")])
        .await
        .expect("no cookie: allowed");
    let _ = ws.text().await;
    let reply = ws.connect_raw(None).await;
    assert_eq!(
        connect_error(&reply).unwrap()["data"]["reason"],
        "missing_token"
    );
}
