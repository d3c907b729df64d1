//! ROOM: room names, automatic rooms, subscriptions.

use std::time::Duration;

use serde_json::json;

use crate::common::*;

async fn receives(s: &mut Sock, srv: &TestServer, room: &str) -> bool {
    let body = publish_ok(srv.addr, room, "probe:check", json!(room)).await;
    match s.ws.next_msg(Duration::from_millis(400)).await {
        Got::Text(t) => {
            let (name, args) = parse_event(&t).unwrap();
            assert_eq!(name, "probe:check");
            assert_eq!(args[0]["eventId"], body["eventId"]);
            true
        }
        Got::Timeout => false,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn room_1_site_and_unit_ids_follow_the_grammar() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    for id in ["a", "A-Z_0-9", &"x".repeat(64)] {
        let ack =
            s.ws.emit("subscribe:site", vec![json!(id)], Some(1))
                .await
                .unwrap();
        assert_eq!(ack["ok"], true, "{id}");
    }
    for id in ["", "a b", "a:b", "é", &"x".repeat(65)] {
        let ack =
            s.ws.emit("subscribe:unit", vec![json!(id)], Some(2))
                .await
                .unwrap();
        assert_eq!(ack["error"]["code"], "INVALID_ID", "{id}");
    }
}

#[tokio::test]
async fn room_2_room_names_have_four_forms() {
    let srv = TestServer::default().await;
    for room in [
        "org:acme",
        "org:acme:site:s1",
        "org:acme:unit:u1",
        "org:acme:user:u1",
    ] {
        publish_ok(srv.addr, room, "a:b", json!(null)).await;
    }
    for room in [
        "acme",
        "org:acme:floor:1",
        "org:acme:site",
        "site:s1",
        "org:acme:site:s1:x",
        "org::site:s",
    ] {
        let r = publish(
            srv.addr,
            &service_token(None),
            &json!({"room": room, "type": "a:b"}),
        )
        .await;
        assert_eq!(r.status, 400, "{room}");
        assert_eq!(r.json()["error"]["code"], "INVALID_ROOM");
    }
}

#[tokio::test]
async fn room_3_subscription_organization_comes_from_the_token() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let ack =
        s.ws.emit("subscribe:site", vec![json!("other:site:s1")], Some(1))
            .await
            .unwrap();
    assert_eq!(ack["error"]["code"], "INVALID_ID");
    let ack =
        s.ws.emit("subscribe:site", vec![json!("s1")], Some(2))
            .await
            .unwrap();
    assert_eq!(ack["room"], "org:acme:site:s1");
    assert!(!receives(&mut s, &srv, "org:other:site:s1").await);
    assert!(receives(&mut s, &srv, "org:acme:site:s1").await);
}

#[tokio::test]
async fn room_4_connected_socket_is_in_its_organization_room() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    assert!(receives(&mut s, &srv, "org:acme").await);
}

#[tokio::test]
async fn room_5_connected_socket_is_in_its_user_room() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    assert!(receives(&mut s, &srv, "org:acme:user:u1").await);
    assert!(!receives(&mut s, &srv, "org:acme:user:u2").await);
}

#[tokio::test]
async fn room_6_subscribe_site_joins_the_site_room() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    assert!(!receives(&mut s, &srv, "org:acme:site:s1").await);
    s.ws.send(r#"421["subscribe:site","s1"]"#).await;
    assert_eq!(
        s.ws.text().await,
        r#"431[{"ok":true,"room":"org:acme:site:s1"}]"#
    );
    assert!(receives(&mut s, &srv, "org:acme:site:s1").await);
}

#[tokio::test]
async fn room_7_subscribe_unit_joins_the_unit_room() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(r#"422["subscribe:unit","unit-7"]"#).await;
    assert_eq!(
        s.ws.text().await,
        r#"432[{"ok":true,"room":"org:acme:unit:unit-7"}]"#
    );
    assert!(receives(&mut s, &srv, "org:acme:unit:unit-7").await);
}

#[tokio::test]
async fn room_8_unsubscribe_site_leaves_the_site_room() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.emit("subscribe:site", vec![json!("s1")], Some(1))
        .await;
    assert!(receives(&mut s, &srv, "org:acme:site:s1").await);
    s.ws.send(r#"423["unsubscribe:site","s1"]"#).await;
    assert_eq!(
        s.ws.text().await,
        r#"433[{"ok":true,"room":"org:acme:site:s1"}]"#
    );
    assert!(!receives(&mut s, &srv, "org:acme:site:s1").await);
}

#[tokio::test]
async fn room_9_unsubscribe_unit_leaves_the_unit_room() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.emit("subscribe:unit", vec![json!("u9")], Some(1))
        .await;
    let ack =
        s.ws.emit("unsubscribe:unit", vec![json!("u9")], Some(2))
            .await
            .unwrap();
    assert_eq!(ack, json!({"ok": true, "room": "org:acme:unit:u9"}));
    assert!(!receives(&mut s, &srv, "org:acme:unit:u9").await);
}

#[tokio::test]
async fn room_10_invalid_id_is_invalid_id_and_changes_nothing() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(r#"424["subscribe:site","bad id"]"#).await;
    let (id, ack) = parse_ack(&s.ws.text().await).unwrap();
    assert_eq!(id, 4);
    assert_eq!(ack["ok"], false);
    assert_eq!(ack["error"]["code"], "INVALID_ID");
    assert!(ack["error"]["message"].is_string());
    assert_eq!(ack["error"].as_object().unwrap().len(), 2);
    for args in [
        vec![],
        vec![json!(5)],
        vec![json!(null)],
        vec![json!({"id":"s1"})],
    ] {
        let ack = s.ws.emit("unsubscribe:site", args, Some(5)).await.unwrap();
        assert_eq!(ack["error"]["code"], "INVALID_ID");
    }
}

#[tokio::test]
async fn room_11_the_subscription_limit_is_enforced() {
    let mut cfg = config();
    cfg.max_subscriptions = 3;
    let srv = TestServer::start(cfg).await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    for id in ["a", "b", "c"] {
        assert_eq!(
            s.ws.emit("subscribe:site", vec![json!(id)], Some(1))
                .await
                .unwrap()["ok"],
            true
        );
    }
    let ack =
        s.ws.emit("subscribe:unit", vec![json!("d")], Some(2))
            .await
            .unwrap();
    assert_eq!(ack["error"]["code"], "LIMIT_EXCEEDED");
    assert!(!receives(&mut s, &srv, "org:acme:unit:d").await);
}

#[tokio::test]
async fn room_12_the_limit_counts_site_and_unit_only() {
    let mut cfg = config();
    cfg.max_subscriptions = 2;
    let srv = TestServer::start(cfg).await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    // A fresh socket holds exactly `limit` subscriptions besides its two automatic rooms.
    assert_eq!(
        s.ws.emit("subscribe:site", vec![json!("a")], Some(1))
            .await
            .unwrap()["ok"],
        true
    );
    assert_eq!(
        s.ws.emit("subscribe:unit", vec![json!("b")], Some(2))
            .await
            .unwrap()["ok"],
        true
    );
    let ack =
        s.ws.emit("subscribe:unit", vec![json!("c")], Some(3))
            .await
            .unwrap();
    assert_eq!(ack["error"]["code"], "LIMIT_EXCEEDED");
    // Unsubscribing frees a slot.
    s.ws.emit("unsubscribe:site", vec![json!("a")], Some(4))
        .await;
    assert_eq!(
        s.ws.emit("subscribe:unit", vec![json!("c")], Some(5))
            .await
            .unwrap()["ok"],
        true
    );
}

#[tokio::test]
async fn room_13_resubscribing_at_the_limit_is_ok() {
    let mut cfg = config();
    cfg.max_subscriptions = 1;
    let srv = TestServer::start(cfg).await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.emit("subscribe:site", vec![json!("a")], Some(1)).await;
    let ack =
        s.ws.emit("subscribe:site", vec![json!("a")], Some(2))
            .await
            .unwrap();
    assert_eq!(ack, json!({"ok": true, "room": "org:acme:site:a"}));
}

#[tokio::test]
async fn room_14_subscribing_twice_delivers_once() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    for id in [1, 2] {
        let ack =
            s.ws.emit("subscribe:site", vec![json!("s1")], Some(id))
                .await
                .unwrap();
        assert_eq!(ack["ok"], true);
    }
    assert!(receives(&mut s, &srv, "org:acme:site:s1").await);
    s.ws.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn room_15_unsubscribing_from_a_room_not_held_is_ok() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let ack =
        s.ws.emit("unsubscribe:site", vec![json!("never")], Some(1))
            .await
            .unwrap();
    assert_eq!(ack, json!({"ok": true, "room": "org:acme:site:never"}));
}

#[tokio::test]
async fn room_16_unknown_events_are_unknown_event() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(r#"426["chat:send","hi"]"#).await;
    let (_, ack) = parse_ack(&s.ws.text().await).unwrap();
    assert_eq!(ack["ok"], false);
    assert_eq!(ack["error"]["code"], "UNKNOWN_EVENT");
    s.ws.send(r#"427[42,"numeric name"]"#).await;
    let (_, ack) = parse_ack(&s.ws.text().await).unwrap();
    assert_eq!(ack["error"]["code"], "UNKNOWN_EVENT");
    // Still connected.
    assert_eq!(
        s.ws.emit("system:ping", vec![], Some(8)).await.unwrap()["pong"],
        true
    );
}

#[tokio::test]
async fn room_17_without_an_ack_errors_come_as_system_error() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let mut other = connect(srv.addr, &client_token("u2", "acme")).await;
    for (frame, code) in [
        (r#"42["subscribe:site","bad id"]"#, "INVALID_ID"),
        (r#"42["nope:x"]"#, "UNKNOWN_EVENT"),
    ] {
        s.ws.send(frame).await;
        let (name, args) = s.ws.event().await;
        assert_eq!(name, "system:error");
        assert_eq!(args[0]["type"], "system:error");
        assert_eq!(args[0]["payload"]["code"], code);
    }
    // A success without an ack is silent, and the error went to that socket only.
    s.ws.send(r#"42["subscribe:site","s1"]"#).await;
    s.ws.assert_silent(Duration::from_millis(200)).await;
    other.ws.assert_silent(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn room_18_extra_arguments_are_ignored() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(r#"427["subscribe:site","s1",{"ignored":true}]"#)
        .await;
    assert_eq!(
        s.ws.text().await,
        r#"437[{"ok":true,"room":"org:acme:site:s1"}]"#
    );
}

#[tokio::test]
async fn room_19_events_reach_the_members_of_their_room_only() {
    let srv = TestServer::default().await;
    let mut a = connect(srv.addr, &client_token("u1", "acme")).await;
    let mut b = connect(srv.addr, &client_token("u2", "acme")).await;
    let mut c = connect(srv.addr, &client_token("u1", "globex")).await;
    a.ws.emit("subscribe:site", vec![json!("s1")], Some(1))
        .await;
    c.ws.emit("subscribe:site", vec![json!("s1")], Some(1))
        .await;
    let body = publish_ok(srv.addr, "org:acme:site:s1", "x:y", json!(1)).await;
    let got = a.ws.wait_event("x:y").await;
    assert_eq!(got["eventId"], body["eventId"]);
    b.ws.assert_silent(Duration::from_millis(300)).await;
    c.ws.assert_silent(Duration::from_millis(100)).await;
    publish_ok(srv.addr, "org:acme", "x:y", json!(2)).await;
    a.ws.wait_event("x:y").await;
    b.ws.wait_event("x:y").await;
    c.ws.assert_silent(Duration::from_millis(200)).await;
}
