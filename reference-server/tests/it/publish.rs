//! PUB: the HTTP publish API.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

async fn post(srv: &TestServer, headers: &[(&str, &str)], body: &[u8]) -> HttpResp {
    request(srv.addr, "POST", "/v1/publish", headers, body).await
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn assert_error(r: &HttpResp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let v = r.json();
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    assert_eq!(v["error"].as_object().unwrap().len(), 2, "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"].is_string());
}

#[tokio::test]
async fn pub_1_publish_answers_202_with_event_id_room_and_timestamp() {
    let srv = TestServer::default().await;
    let r = publish(
        srv.addr,
        &service_token(None),
        &json!({"room":"org:acme:site:s1","type":"dashboard:summaryUpdated","payload":{"open":3}}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let v = r.json();
    let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["eventId", "room", "timestamp"]);
    assert_eq!(v["room"], "org:acme:site:s1");
}

#[tokio::test]
async fn pub_2_accepted_event_reaches_every_socket_once() {
    let srv = TestServer::default().await;
    let mut socks = Vec::new();
    for u in ["u1", "u2", "u3", "u4"] {
        let mut s = connect(srv.addr, &client_token(u, "acme")).await;
        s.ws.emit("subscribe:site", vec![json!("s1")], Some(1))
            .await;
        socks.push(s);
    }
    let body = publish_ok(srv.addr, "org:acme:site:s1", "a:b", json!(1)).await;
    for s in &mut socks {
        let (_, args) = s.ws.event().await;
        assert_eq!(args[0]["eventId"], body["eventId"]);
        s.ws.assert_silent(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn pub_3_the_202_body_has_what_subscribers_see() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let body = publish_ok(srv.addr, "org:acme:user:u1", "a:b", json!({"k":1})).await;
    let (_, args) = s.ws.event().await;
    assert_eq!(args[0]["eventId"], body["eventId"]);
    assert_eq!(args[0]["timestamp"], body["timestamp"]);
}

#[tokio::test]
async fn pub_4_publishes_through_one_instance_are_delivered_in_order() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    for i in 0..30 {
        publish_ok(srv.addr, "org:acme", "seq:n", json!(i)).await;
    }
    for i in 0..30 {
        let (_, args) = s.ws.event().await;
        assert_eq!(args[0]["payload"], i);
    }
}

#[tokio::test]
async fn pub_5_missing_payload_is_delivered_as_null() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let r = publish(
        srv.addr,
        &service_token(None),
        &json!({"room":"org:acme","type":"lobby:room_list"}),
    )
    .await;
    assert_eq!(r.status, 202);
    let (_, args) = s.ws.event().await;
    assert_eq!(args[0]["payload"], Value::Null);
    assert!(args[0].as_object().unwrap().contains_key("payload"));
}

#[tokio::test]
async fn pub_6_publish_to_an_empty_room_is_202() {
    let srv = TestServer::default().await;
    publish_ok(srv.addr, "org:nobody:site:x", "a:b", json!(1)).await;
}

#[tokio::test]
async fn pub_7_unknown_body_keys_are_ignored() {
    let srv = TestServer::default().await;
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    let r = publish(
        srv.addr,
        &service_token(None),
        &json!({"room":"org:acme","type":"a:b","payload":1,"extra":{"x":1},"eventId":"x"}),
    )
    .await;
    assert_eq!(r.status, 202);
    let (_, args) = s.ws.event().await;
    assert_eq!(args[0].as_object().unwrap().len(), 4);
    assert_ne!(args[0]["eventId"], "x");
}

#[tokio::test]
async fn pub_8_missing_bearer_is_401() {
    let srv = TestServer::default().await;
    let body = br#"{"room":"org:acme","type":"lobby:room_list","payload":[]}"#;
    let r = post(&srv, &[("Content-Type", "application/json")], body).await;
    assert_error(&r, 401, "AUTH_FAILED");
    assert_eq!(
        r.json()["error"]["message"],
        "Authentication token required"
    );
    let r = post(
        &srv,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Basic abc"),
        ],
        body,
    )
    .await;
    assert_error(&r, 401, "AUTH_FAILED");
}

#[tokio::test]
async fn pub_9_invalid_publish_token_is_401() {
    let srv = TestServer::default().await;
    let body = br#"{"room":"org:acme","type":"a:b"}"#;
    for t in [
        "garbage".to_owned(),
        token_with(
            b"wrong",
            &json!({"scope":"realtime:publish","exp":now()+60}),
        ),
        token(json!({"scope":"realtime:publish","exp":now()-1})),
        token(json!({"scope":"realtime:publish"})),
        token(json!({"scope":"realtime:publish","exp":now()+60,"nbf":now()+30})),
    ] {
        let r = post(
            &srv,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &bearer(&t)),
            ],
            body,
        )
        .await;
        assert_error(&r, 401, "AUTH_FAILED");
    }
}

#[tokio::test]
async fn pub_10_publish_token_organization_must_match_the_grammar() {
    let srv = TestServer::default().await;
    for org in [json!("a:b"), json!(5), json!("")] {
        let t = token(json!({"scope":"realtime:publish","exp":now()+60,"organizationId":org}));
        let r = publish(srv.addr, &t, &json!({"room":"org:acme","type":"a:b"})).await;
        assert_error(&r, 401, "AUTH_FAILED");
    }
}

#[tokio::test]
async fn pub_11_the_publish_scope_is_required() {
    let srv = TestServer::default().await;
    for scope in [
        None,
        Some("realtime:read"),
        Some("realtime:publisher other"),
    ] {
        let mut c = json!({"exp": now() + 60});
        if let Some(s) = scope {
            c["scope"] = json!(s);
        }
        let r = publish(
            srv.addr,
            &token(c),
            &json!({"room":"org:acme","type":"a:b"}),
        )
        .await;
        assert_error(&r, 403, "FORBIDDEN");
    }
    let t = token(json!({"scope":"a realtime:publish b","exp":now()+60}));
    assert_eq!(
        publish(srv.addr, &t, &json!({"room":"org:acme","type":"a:b"}))
            .await
            .status,
        202
    );
}

#[tokio::test]
async fn pub_12_scope_as_a_json_array_is_not_accepted() {
    let srv = TestServer::default().await;
    let t = token(json!({"scope":["realtime:publish"],"exp":now()+60}));
    let r = publish(srv.addr, &t, &json!({"room":"org:acme","type":"a:b"})).await;
    assert_error(&r, 403, "FORBIDDEN");
}

#[tokio::test]
async fn pub_13_organization_token_publishes_only_into_its_organization() {
    let srv = TestServer::default().await;
    let t = service_token(Some("acme"));
    assert_eq!(
        publish(
            srv.addr,
            &t,
            &json!({"room":"org:acme:site:s1","type":"a:b"})
        )
        .await
        .status,
        202
    );
    let r = publish(
        srv.addr,
        &t,
        &json!({"room":"org:globex:site:s1","type":"a:b"}),
    )
    .await;
    assert_error(&r, 403, "FORBIDDEN");
}

#[tokio::test]
async fn pub_14_token_without_organization_publishes_anywhere() {
    let srv = TestServer::default().await;
    let t = service_token(None);
    for room in ["org:acme", "org:globex:unit:u", "org:x:user:y"] {
        assert_eq!(
            publish(srv.addr, &t, &json!({"room":room,"type":"a:b"}))
                .await
                .status,
            202
        );
    }
}

#[tokio::test]
async fn pub_15_body_not_a_json_object_is_invalid_json() {
    let srv = TestServer::default().await;
    let auth = bearer(&service_token(None));
    for body in [&b"{"[..], b"[1]", b"\"s\"", b"null", b"", b"{\"room\":1}x"] {
        let r = post(
            &srv,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            body,
        )
        .await;
        assert_error(&r, 400, "INVALID_JSON");
    }
}

#[tokio::test]
async fn pub_16_invalid_room_is_invalid_room() {
    let srv = TestServer::default().await;
    for body in [
        json!({"type":"a:b"}),
        json!({"room":5,"type":"a:b"}),
        json!({"room":"org:acme:floor:1","type":"a:b"}),
    ] {
        let r = publish(srv.addr, &service_token(None), &body).await;
        assert_error(&r, 400, "INVALID_ROOM");
    }
}

#[tokio::test]
async fn pub_17_invalid_type_is_invalid_type() {
    let srv = TestServer::default().await;
    let long = format!("a:{}", "b".repeat(63));
    for body in [
        json!({"room":"org:acme"}),
        json!({"room":"org:acme","type":7}),
        json!({"room":"org:acme","type":"Bad"}),
        json!({"room":"org:acme","type":long}),
    ] {
        let r = publish(srv.addr, &service_token(None), &body).await;
        assert_error(&r, 400, "INVALID_TYPE");
    }
}

#[tokio::test]
async fn pub_18_reserved_type_is_reserved_type() {
    let srv = TestServer::default().await;
    let r = publish(
        srv.addr,
        &service_token(None),
        &json!({"room":"org:acme","type":"system:x"}),
    )
    .await;
    assert_error(&r, 400, "RESERVED_TYPE");
    let r = publish(
        srv.addr,
        &service_token(None),
        &json!({"room":"org:acme","type":"auth:x"}),
    )
    .await;
    assert_error(&r, 400, "RESERVED_TYPE");
}

#[tokio::test]
async fn pub_19_other_methods_are_405_with_allow_post() {
    let srv = TestServer::default().await;
    for m in ["GET", "PUT", "DELETE", "PATCH"] {
        let r = request(srv.addr, m, "/v1/publish", &[], b"").await;
        assert_error(&r, 405, "METHOD_NOT_ALLOWED");
        assert_eq!(r.header("allow"), Some("POST"));
    }
}

#[tokio::test]
async fn pub_20_body_above_the_limit_is_413() {
    let mut cfg = config();
    cfg.publish_max_body = 200;
    let srv = TestServer::start(cfg).await;
    let auth = bearer(&service_token(None));
    let mk = |len: usize| {
        let base = r#"{"room":"org:acme","type":"a:b","payload":""}"#;
        let pad = "x".repeat(len - base.len());
        format!(r#"{{"room":"org:acme","type":"a:b","payload":"{pad}"}}"#)
    };
    let exact = mk(200);
    assert_eq!(exact.len(), 200);
    let h = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    assert_eq!(post(&srv, &h, exact.as_bytes()).await.status, 202);
    let r = post(&srv, &h, mk(201).as_bytes()).await;
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
    // Also without a Content-Length (chunked).
    let big = mk(500);
    let raw = format!(
        "POST /v1/publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let r = http_raw(srv.addr, raw.as_bytes()).await;
    assert_error(&r, 413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn pub_21_non_json_content_type_is_415() {
    let srv = TestServer::default().await;
    let auth = bearer(&service_token(None));
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let r = post(
            &srv,
            &[("Content-Type", ct), ("Authorization", &auth)],
            br#"{"room":"org:acme","type":"a:b"}"#,
        )
        .await;
        assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    }
}

#[tokio::test]
async fn pub_22_missing_content_type_is_415() {
    let srv = TestServer::default().await;
    let auth = bearer(&service_token(None));
    let r = post(
        &srv,
        &[("Authorization", &auth)],
        br#"{"room":"org:acme","type":"a:b"}"#,
    )
    .await;
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn pub_23_json_with_a_charset_is_accepted() {
    let srv = TestServer::default().await;
    let auth = bearer(&service_token(None));
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
    ] {
        let r = post(
            &srv,
            &[("Content-Type", ct), ("Authorization", &auth)],
            br#"{"room":"org:acme","type":"a:b"}"#,
        )
        .await;
        assert_eq!(r.status, 202, "{ct}");
    }
}

#[tokio::test]
async fn pub_24_publish_that_cannot_fan_out_is_503() {
    // Standalone, fan-out is unavailable only while the server shuts down: a publish
    // sent then must not be answered 202.
    let srv = TestServer::default().await;
    let addr = srv.addr;
    let mut s = connect(addr, &client_token("u1", "acme")).await;
    // Keep one HTTP connection open, start the shutdown, then publish on it.
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stop = tokio::spawn(srv.shutdown());
    s.ws.closed_within(Duration::from_secs(3)).await;
    let body = r#"{"room":"org:acme","type":"a:b"}"#;
    let req = format!(
        "POST /v1/publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{body}",
        service_token(None),
        body.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = conn.write_all(req.as_bytes()).await;
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.read_to_end(&mut buf)).await;
    let r = parse_http(&buf);
    assert_ne!(r.status, 202, "no 202 during shutdown");
    if r.status != 0 {
        assert_error(&r, 503, "UNAVAILABLE");
    }
    stop.await.unwrap();
}

#[tokio::test]
async fn pub_25_checks_apply_in_order_with_exact_error_bodies() {
    let srv = TestServer::default().await;
    let no_scope = bearer(&token(json!({"exp":now()+60})));
    // Token beats Content-Type; scope beats Content-Type; Content-Type beats size/JSON.
    let r = post(&srv, &[("Content-Type", "text/plain")], b"x").await;
    assert_error(&r, 401, "AUTH_FAILED");
    let r = post(
        &srv,
        &[("Content-Type", "text/plain"), ("Authorization", &no_scope)],
        b"x",
    )
    .await;
    assert_error(&r, 403, "FORBIDDEN");
    let auth = bearer(&service_token(Some("acme")));
    let r = post(
        &srv,
        &[("Content-Type", "text/plain"), ("Authorization", &auth)],
        b"x",
    )
    .await;
    assert_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    let h = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    // Room before type, type before reserved, reserved before organization.
    let r = post(&srv, &h, br#"{"room":"bad","type":"Bad"}"#).await;
    assert_error(&r, 400, "INVALID_ROOM");
    let r = post(&srv, &h, br#"{"room":"org:globex","type":"Bad"}"#).await;
    assert_error(&r, 400, "INVALID_TYPE");
    let r = post(&srv, &h, br#"{"room":"org:globex","type":"system:x"}"#).await;
    assert_error(&r, 400, "RESERVED_TYPE");
    let r = post(&srv, &h, br#"{"room":"org:globex","type":"a:b"}"#).await;
    assert_error(&r, 403, "FORBIDDEN");
}

#[tokio::test]
async fn pub_26_unknown_paths_are_404_not_found() {
    let srv = TestServer::default().await;
    for p in ["/", "/v1", "/v1/publish/x", "/socket.io.js"] {
        let r = get(srv.addr, p).await;
        assert_error(&r, 404, "NOT_FOUND");
    }
}
