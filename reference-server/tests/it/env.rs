//! ENV: event names and the envelope.

use std::collections::HashSet;
use std::time::Duration;

use protocol::roomcast::envelope::Envelope;
use serde_json::{json, Value};

use crate::common::*;

fn strict(env: &Value) -> Envelope {
    Envelope::from_json_strict(env).unwrap_or_else(|e| panic!("strict envelope: {e:?}: {env}"))
}

#[tokio::test]
async fn env_1_server_events_are_named_by_type_with_one_envelope() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    publish_ok(
        srv.addr,
        "org:acme",
        "dashboard:summaryUpdated",
        json!({"open":3}),
    )
    .await;
    let t = s.ws.text().await;
    assert!(
        t.starts_with(r#"42["dashboard:summaryUpdated",{"#),
        "no ack id: {t}"
    );
    let (name, args) = parse_event(&t).unwrap();
    assert_eq!(args.len(), 1);
    assert_eq!(args[0]["type"], name);
}

#[tokio::test]
async fn env_2_the_envelope_has_exactly_four_keys() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let mut keys: Vec<_> = s.connected.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["eventId", "payload", "timestamp", "type"]);
    publish_ok(srv.addr, "org:acme", "a:b", json!([1])).await;
    let (_, args) = s.ws.event().await;
    strict(&args[0]);
}

#[tokio::test]
async fn env_3_event_id_is_a_lowercase_uuid_v4() {
    let srv = TestServer::default().await;
    let s = connect(srv.addr, &client_token("u1", "acme")).await;
    let id = s.connected["eventId"].as_str().unwrap();
    let re = regex_lite(id);
    assert!(re, "{id}");
    assert_eq!(strict(&s.connected).event_id.get_version_num(), 4);
}

fn regex_lite(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    lens == [8, 4, 4, 4, 12]
        && id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        && parts[2].starts_with('4')
        && parts[3].starts_with(['8', '9', 'a', 'b'])
}

#[tokio::test]
async fn env_4_each_event_has_its_own_event_id() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let s2 = connect(srv.addr, &client_token("u2", "acme")).await;
    let mut ids = HashSet::new();
    ids.insert(s.connected["eventId"].as_str().unwrap().to_owned());
    ids.insert(s2.connected["eventId"].as_str().unwrap().to_owned());
    for i in 0..5 {
        publish_ok(srv.addr, "org:acme:user:u1", "a:b", json!(i)).await;
        let (_, args) = s.ws.event().await;
        ids.insert(args[0]["eventId"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 7);
}

#[tokio::test]
async fn env_5_timestamp_is_utc_with_milliseconds_and_z() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let before = now() * 1000 - 1000;
    publish_ok(srv.addr, "org:acme", "a:b", json!(null)).await;
    let (_, args) = s.ws.event().await;
    let ts = args[0]["timestamp"].as_str().unwrap();
    assert_eq!(ts.len(), 24, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    let parsed = protocol::roomcast::timestamp::Timestamp::parse_iso(ts).unwrap();
    assert!(
        parsed.0 >= before && parsed.0 <= now() * 1000 + 2000,
        "{ts} is now"
    );
}

#[tokio::test]
async fn env_6_payload_is_any_json_value_unchanged() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    for p in [
        json!({"a":[1,{"b":null}]}),
        json!([1, "x"]),
        json!("s"),
        json!(1.5),
        json!(true),
        json!(null),
        json!("ünï\u{1e}code"),
    ] {
        publish_ok(srv.addr, "org:acme", "a:b", p.clone()).await;
        let (_, args) = s.ws.event().await;
        assert_eq!(args[0]["payload"], p);
    }
}

#[tokio::test]
async fn env_7_one_event_has_one_id_and_timestamp_everywhere() {
    let srv = TestServer::default().await;
    let mut socks = Vec::new();
    for u in ["u1", "u2", "u3"] {
        socks.push(connect(srv.addr, &client_token(u, "acme")).await);
    }
    let body = publish_ok(srv.addr, "org:acme", "a:b", json!(1)).await;
    for s in &mut socks {
        let (_, args) = s.ws.event().await;
        assert_eq!(args[0]["eventId"], body["eventId"]);
        assert_eq!(args[0]["timestamp"], body["timestamp"]);
    }
}

#[tokio::test]
async fn env_8_event_types_follow_domain_action() {
    let srv = TestServer::default().await;
    for ok in ["dashboard:summaryUpdated", "lobby:room_list", "a1_b2:x_Y9"] {
        publish_ok(srv.addr, "org:acme", ok, json!(null)).await;
    }
    for bad in [
        "noaction", "Upper:x", "a:", ":b", "a-b:c", "a:b:c", "a__b:c", "a: b", "1a:b",
    ] {
        let r = publish(
            srv.addr,
            &service_token(None),
            &json!({"room":"org:acme","type":bad}),
        )
        .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["error"]["code"], "INVALID_TYPE", "{bad}");
    }
}

#[tokio::test]
async fn env_9_event_types_are_at_most_64_characters() {
    let srv = TestServer::default().await;
    let ok = format!("a:{}", "b".repeat(62));
    publish_ok(srv.addr, "org:acme", &ok, json!(null)).await;
    let long = format!("a:{}", "b".repeat(63));
    let r = publish(
        srv.addr,
        &service_token(None),
        &json!({"room":"org:acme","type":long}),
    )
    .await;
    assert_eq!(r.json()["error"]["code"], "INVALID_TYPE");
}

#[tokio::test]
async fn env_10_system_and_auth_are_reserved() {
    let srv = TestServer::default().await;
    for t in ["system:connected", "system:anything", "auth:refresh"] {
        let r = publish(
            srv.addr,
            &service_token(None),
            &json!({"room":"org:acme","type":t}),
        )
        .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["error"]["code"], "RESERVED_TYPE");
    }
    publish_ok(srv.addr, "org:acme", "systems:x", json!(null)).await;
}

#[tokio::test]
async fn env_11_system_connected_follows_the_connect_reply() {
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    let t = token(json!({"sub":"u1","organizationId":"acme","role":"operator","exp":now()+60}));
    let reply = ws.connect_raw(Some(json!({ "token": t }))).await;
    assert!(reply.starts_with("40{"));
    let (name, args) = ws.event().await;
    assert_eq!(name, "system:connected");
    let p = &args[0]["payload"];
    let mut keys: Vec<_> = p.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["organizationId", "role", "rooms", "sid", "userId"]);
    assert_eq!(p["role"], "operator");
    strict(&args[0]);
}

#[tokio::test]
async fn env_12_system_connected_sid_is_the_socket_id() {
    let srv = TestServer::default().await;
    let s = connect(srv.addr, &client_token("u1", "acme")).await;
    assert_eq!(s.connected["payload"]["sid"], s.sid);
    assert_ne!(s.ws.open["sid"], json!(s.sid));
}

#[tokio::test]
async fn env_13_rooms_are_exactly_the_automatic_rooms() {
    let srv = TestServer::default().await;
    let s = connect(srv.addr, &client_token("u7", "acme")).await;
    assert_eq!(
        s.connected["payload"]["rooms"],
        json!(["org:acme", "org:acme:user:u7"])
    );
}

#[tokio::test]
async fn env_14_role_omitted_without_claim_and_email_never_echoed() {
    let srv = TestServer::default().await;
    let t =
        token(json!({"sub":"u1","organizationId":"acme","email":"u1@acme.test","exp":now()+60}));
    let s = connect(srv.addr, &t).await;
    let p = s.connected["payload"].as_object().unwrap();
    assert!(!p.contains_key("role"));
    assert!(!p.contains_key("email"));
    assert!(!s.connected.to_string().contains("u1@acme.test"));
}

#[tokio::test]
async fn env_15_system_error_payload_is_exactly_code_and_message() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(r#"42["subscribe:unit",""]"#).await;
    let (name, args) = s.ws.event().await;
    assert_eq!(name, "system:error");
    let env = strict(&args[0]);
    assert_eq!(env.event_type.as_str(), "system:error");
    let p = args[0]["payload"].as_object().unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p["code"], "INVALID_ID");
    assert!(p["message"].is_string());
}

#[tokio::test]
async fn env_16_system_ping_with_ack_is_answered_pong() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(r#"428["system:ping","ignored"]"#).await;
    let (id, v) = parse_ack(&s.ws.text().await).unwrap();
    assert_eq!(id, 8);
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(v["pong"], true);
    protocol::roomcast::timestamp::Timestamp::parse_iso(v["timestamp"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn env_17_system_ping_without_ack_gets_system_pong() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.send(r#"42["system:ping"]"#).await;
    let (name, args) = s.ws.event().await;
    assert_eq!(name, "system:pong");
    strict(&args[0]);
    assert_eq!(args[0]["payload"]["pong"], true);
    assert!(args[0]["payload"]["timestamp"].is_string());
    s.ws.assert_silent(Duration::from_millis(100)).await;
}
