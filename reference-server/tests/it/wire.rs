//! WIRE: Engine.IO v4 / Socket.IO v5 transport.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn wire_1_websocket_at_socket_io_path_sends_the_open_packet_first() {
    let srv = TestServer::default().await;
    let ws = Ws::open(srv.addr, "", &[]).await;
    assert!(ws.open["sid"].is_string());
    // Another path opens nothing.
    let r = Ws::raw(
        &format!("ws://{}/other/?EIO=4&transport=websocket", srv.addr),
        &[],
    )
    .await;
    assert!(r.is_err());
    let r = get(srv.addr, "/nope").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn wire_2_open_packet_has_exactly_the_five_keys() {
    let mut cfg = config();
    cfg.ping_interval = Duration::from_millis(1234);
    cfg.ping_timeout = Duration::from_millis(567);
    cfg.max_payload = 4321;
    let srv = TestServer::start(cfg).await;
    let ws = Ws::open(srv.addr, "", &[]).await;
    assert_open_keys(&ws.open);
    assert_eq!(ws.open["pingInterval"], 1234);
    assert_eq!(ws.open["pingTimeout"], 567);
    assert_eq!(ws.open["maxPayload"], 4321);
}

#[tokio::test]
async fn wire_3_direct_websocket_offers_no_upgrades() {
    let srv = TestServer::default().await;
    let ws = Ws::open(srv.addr, "", &[]).await;
    assert_eq!(ws.open["upgrades"], json!([]));
}

#[tokio::test]
async fn wire_4_server_pings_and_a_ponging_client_stays() {
    let mut cfg = config();
    cfg.ping_interval = Duration::from_millis(100);
    cfg.ping_timeout = Duration::from_millis(100);
    let srv = TestServer::start(cfg).await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.auto_pong = false;
    for _ in 0..5 {
        assert_eq!(s.ws.text().await, "2");
        s.ws.send("3").await;
    }
    let ack = s.ws.emit("system:ping", vec![], Some(1)).await.unwrap();
    assert_eq!(ack["pong"], true);
}

#[tokio::test]
async fn wire_5_a_missed_pong_closes_the_connection_and_leaves_rooms() {
    let mut cfg = config();
    cfg.ping_interval = Duration::from_millis(100);
    cfg.ping_timeout = Duration::from_millis(100);
    let srv = TestServer::start(cfg).await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.auto_pong = false;
    assert_eq!(s.ws.text().await, "2");
    s.ws.assert_closed(Duration::from_secs(2)).await;
    // The org room is empty again: a publish reaches nobody.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = srv
        .metrics
        .events_delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    publish_ok(srv.addr, "org:acme", "a:b", json!(1)).await;
    let after = srv
        .metrics
        .events_delivered
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(before, after);
}

#[tokio::test]
async fn wire_6_unsupported_eio_version_is_400_code_5() {
    let srv = TestServer::default().await;
    for q in [
        "EIO=3&transport=websocket",
        "transport=polling",
        "EIO=5&transport=polling",
    ] {
        let r = assert_handshake_error(&srv, q, 5, "Unsupported protocol version").await;
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
    }
}

/// GETs the handshake with query `q` and expects 400 with the Engine.IO error body.
async fn assert_handshake_error(srv: &TestServer, q: &str, code: u8, message: &str) -> HttpResp {
    let r = get(srv.addr, &format!("/socket.io/?{q}")).await;
    assert_eq!(r.status, 400, "{q}");
    assert_eq!(r.json(), json!({"code": code, "message": message}), "{q}");
    r
}

#[tokio::test]
async fn wire_7_unknown_transport_is_400_code_0() {
    let srv = TestServer::default().await;
    for q in [
        "EIO=4&transport=carrier-pigeon",
        "EIO=4",
        "EIO=3&transport=webtransport",
    ] {
        assert_handshake_error(&srv, q, 0, "Transport unknown").await;
    }
}

#[tokio::test]
async fn wire_8_unknown_session_id_is_400_code_1() {
    let srv = TestServer::default().await;
    for q in [
        "EIO=4&transport=polling&sid=nope",
        "EIO=4&transport=websocket&sid=nope",
    ] {
        assert_handshake_error(&srv, q, 1, "Session ID unknown").await;
    }
}

#[tokio::test]
async fn wire_9_handshake_by_post_is_400_code_2() {
    let srv = TestServer::default().await;
    let r = request(
        srv.addr,
        "POST",
        "/socket.io/?EIO=4&transport=polling",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"code":2,"message":"Bad handshake method"}));
}

#[tokio::test]
async fn wire_10_profile_on_a_configurable_namespace() {
    let mut cfg = config();
    cfg.namespace = "/rt".into();
    let srv = TestServer::start(cfg).await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    let t = client_token("u1", "acme");
    ws.send(&format!("40/rt,{}", json!({"token": t}))).await;
    let reply = ws.text().await;
    let body: Value = serde_json::from_str(reply.strip_prefix("40/rt,").unwrap()).unwrap();
    let sid = body["sid"].as_str().unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "only sid: {body}");
    assert_ne!(
        sid,
        ws.open["sid"].as_str().unwrap(),
        "socket id is not the engine sid"
    );
    let ev = ws.text().await;
    assert!(ev.starts_with("42/rt,[\"system:connected\""), "{ev}");
}

#[tokio::test]
async fn wire_11_connect_to_another_namespace_is_invalid_namespace() {
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    ws.send(&format!(
        "40/admin,{}",
        json!({"token": client_token("u1", "acme")})
    ))
    .await;
    assert_eq!(
        ws.text().await,
        r#"44/admin,{"message":"Invalid namespace"}"#
    );
    // The connection stays open: the profile namespace still connects.
    let reply = ws
        .connect_raw(Some(json!({"token": client_token("u1", "acme")})))
        .await;
    assert!(connect_sid(&reply).is_some(), "{reply}");
}

#[tokio::test]
async fn wire_12_with_a_custom_namespace_root_is_not_served() {
    let mut cfg = config();
    cfg.namespace = "/rt".into();
    let srv = TestServer::start(cfg).await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    ws.send("40").await;
    assert_eq!(ws.text().await, r#"44{"message":"Invalid namespace"}"#);
}

#[tokio::test]
async fn wire_13_packet_for_an_unconnected_namespace_closes() {
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    ws.send(r#"42/other,["subscribe:site","s1"]"#).await;
    let seen = ws.assert_closed(WAIT).await;
    assert!(seen.iter().all(|f| !f.contains("system:error")), "{seen:?}");
    // Before the profile CONNECT succeeded, too.
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    ws.send(r#"42["subscribe:site","s1"]"#).await;
    ws.assert_closed(WAIT).await;
}

#[tokio::test]
async fn wire_14_second_connect_closes_the_connection() {
    let srv = TestServer::default().await;
    let t = client_token("u1", "acme");
    let mut s = connect(srv.addr, &t).await;
    s.ws.send(&format!("40{}", json!({"token": t}))).await;
    s.ws.assert_closed(WAIT).await;
}

#[tokio::test]
async fn wire_18_polling_handshake_offers_websocket() {
    let srv = TestServer::default().await;
    let (_sid, open) = polling_open(srv.addr).await;
    assert_eq!(open["upgrades"], json!(["websocket"]));
    assert_eq!(open["pingInterval"], 25000);
}

#[tokio::test]
async fn wire_19_polling_payloads_use_the_record_separator() {
    let srv = TestServer::default().await;
    let (sid, _) = polling_open(srv.addr).await;
    let body = format!(
        "40{}\u{1e}421[\"subscribe:site\",\"s1\"]",
        json!({"token": client_token("u1", "acme")})
    );
    let r = polling_post(srv.addr, &sid, &body).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    // One GET returns everything queued, joined by \x1e.
    let mut frames = Vec::new();
    while frames.len() < 3 {
        let r = polling_get(srv.addr, &sid).await;
        assert_eq!(r.status, 200);
        frames.extend(r.body.split('\u{1e}').map(str::to_owned));
    }
    assert!(frames[0].starts_with("40{\"sid\""), "{frames:?}");
    assert!(
        frames[1].starts_with("42[\"system:connected\""),
        "{frames:?}"
    );
    assert_eq!(frames[2], r#"431[{"ok":true,"room":"org:acme:site:s1"}]"#);
    // Binary packets travel as b + base64 (here: an unexpected one, which closes).
    let (sid2, _) = polling_open(srv.addr).await;
    let r = polling_post(srv.addr, &sid2, "bAQID").await;
    assert_eq!(r.status, 200);
    let r = polling_get(srv.addr, &sid2).await;
    assert!(r.body == "1" || r.status == 400, "{r:?}");
}

#[tokio::test]
async fn wire_20_polling_upgrades_with_the_probe_exchange() {
    let srv = TestServer::default().await;
    let (sid, _) = polling_open(srv.addr).await;
    let body = format!("40{}", json!({"token": client_token("u1", "acme")}));
    polling_post(srv.addr, &sid, &body).await;
    let r = polling_get(srv.addr, &sid).await;
    assert!(r.body.starts_with("40"), "{}", r.body);
    // A pending GET is answered with a noop during the upgrade.
    let addr = srv.addr;
    let sid2 = sid.clone();
    let pending = tokio::spawn(async move { polling_get(addr, &sid2).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        srv.addr
    );
    let mut ws = Ws::raw(&url, &[]).await.unwrap();
    ws.send("2probe").await;
    assert_eq!(ws.text().await, "3probe");
    let r = pending.await.unwrap();
    // The GET may have carried the queued system:connected first; then a later one the noop.
    if r.body != "6" {
        assert!(r.body.contains("system:connected"), "{}", r.body);
        let r = polling_get(srv.addr, &sid).await;
        assert_eq!(r.body, "6");
    }
    ws.send("5").await;
    let ack = ws
        .emit("subscribe:unit", vec![json!("u7")], Some(3))
        .await
        .unwrap();
    assert_eq!(ack, json!({"ok": true, "room": "org:acme:unit:u7"}));
}

#[tokio::test]
async fn wire_21_polling_on_an_upgraded_session_is_refused() {
    let srv = TestServer::default().await;
    let (sid, _) = polling_open(srv.addr).await;
    let url = format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        srv.addr
    );
    let mut ws = Ws::raw(&url, &[]).await.unwrap();
    ws.send("2probe").await;
    assert_eq!(ws.text().await, "3probe");
    ws.send("5").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = polling_get(srv.addr, &sid).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 3);
    // A second WebSocket on the sid is closed at once.
    if let Ok(mut second) = Ws::raw(&url, &[]).await {
        second.assert_closed(WAIT).await;
    }
    // The WebSocket session continues.
    let reply = ws
        .connect_raw(Some(json!({"token": client_token("u1", "acme")})))
        .await;
    assert!(connect_sid(&reply).is_some(), "{reply}");
}

#[tokio::test]
async fn wire_22_second_concurrent_get_closes_the_session() {
    let srv = TestServer::default().await;
    let (sid, _) = polling_open(srv.addr).await;
    let addr = srv.addr;
    let sid2 = sid.clone();
    let first = tokio::spawn(async move { polling_get(addr, &sid2).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = polling_get(srv.addr, &sid).await;
    assert_eq!(second.status, 400);
    let first = first.await.unwrap();
    assert_eq!(first.body, "1", "the pending GET gets a close packet");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = polling_get(srv.addr, &sid).await;
    assert_eq!(r.json()["code"], 1, "the session is gone");
}

#[tokio::test]
async fn cors_allows_configured_origins_on_polling_and_preflight() {
    let mut cfg = config();
    cfg.cors_origins = vec!["https://app.example".into()];
    let srv = TestServer::start(cfg).await;
    let path = "/socket.io/?EIO=4&transport=polling";
    let r = request(
        srv.addr,
        "GET",
        path,
        &[("Origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let r = request(
        srv.addr,
        "GET",
        path,
        &[("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = request(
        srv.addr,
        "OPTIONS",
        "/v1/publish",
        &[
            ("Origin", "https://app.example"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    // Without configured origins no CORS header is sent.
    let srv = TestServer::default().await;
    let r = request(
        srv.addr,
        "GET",
        path,
        &[("Origin", "https://app.example")],
        b"",
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), None);
}
