//! AUTH: JWT at the Socket.IO CONNECT.

use std::time::Duration;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reference_server::Config;
use serde_json::{json, Value};

use crate::common::*;

fn reason(reply: &str) -> String {
    let e = connect_error(reply).unwrap_or_else(|| panic!("expected CONNECT_ERROR, got {reply}"));
    e["data"]["reason"].as_str().unwrap().to_owned()
}

async fn try_connect(srv: &TestServer, auth: Value) -> String {
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    ws.connect_raw(Some(auth)).await
}

async fn reason_for(srv: &TestServer, claims: Value) -> String {
    reason(&try_connect(srv, json!({"token": token(claims)})).await)
}

fn exp() -> i64 {
    now() + 3600
}

#[tokio::test]
async fn auth_1_token_from_the_connect_payload() {
    let srv = TestServer::default().await;
    let s = connect(srv.addr, &client_token("u1", "acme")).await;
    assert_eq!(s.connected["payload"]["userId"], "u1");
    // Other keys of the payload are ignored.
    let reply = try_connect(&srv, json!({"token": client_token("u1", "acme"), "x": 1})).await;
    assert!(connect_sid(&reply).is_some(), "{reply}");
}

#[tokio::test]
async fn auth_2_token_from_the_bearer_header() {
    let srv = TestServer::default().await;
    let auth = format!("Bearer {}", client_token("u2", "acme"));
    let mut ws = Ws::open(srv.addr, "", &[("Authorization", &auth)]).await;
    let reply = ws.connect_raw(None).await;
    assert!(connect_sid(&reply).is_some(), "{reply}");
    let (_, args) = ws.event().await;
    assert_eq!(args[0]["payload"]["userId"], "u2");
}

#[tokio::test]
async fn auth_3_cookie_token_only_when_enabled() {
    let cookie = format!("a=b; accessToken={}", client_token("u3", "acme"));
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, "", &[("Cookie", &cookie)]).await;
    assert_eq!(reason(&ws.connect_raw(None).await), "missing_token");
    let mut cfg = config();
    cfg.token_sources.cookie = true;
    let srv = TestServer::start(cfg).await;
    let mut ws = Ws::open(srv.addr, "", &[("Cookie", &cookie)]).await;
    assert!(connect_sid(&ws.connect_raw(None).await).is_some());
}

#[tokio::test]
async fn auth_4_query_token_only_when_enabled() {
    let q = format!("&token={}", client_token("u4", "acme"));
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, &q, &[]).await;
    assert_eq!(reason(&ws.connect_raw(None).await), "missing_token");
    let mut cfg = config();
    cfg.token_sources.query = true;
    let srv = TestServer::start(cfg).await;
    let mut ws = Ws::open(srv.addr, &q, &[]).await;
    assert!(connect_sid(&ws.connect_raw(None).await).is_some());
}

#[tokio::test]
async fn auth_5_sources_are_tried_in_order() {
    let mut cfg = config();
    cfg.token_sources.cookie = true;
    cfg.token_sources.query = true;
    let srv = TestServer::start(cfg).await;
    let header = format!("Bearer {}", client_token("from-header", "acme"));
    let cookie = format!("accessToken={}", client_token("from-cookie", "acme"));
    let query = format!("&token={}", client_token("from-query", "acme"));
    let user_of = |ws: Ws| async move {
        let mut ws = ws;
        let _ = ws.text().await;
        let (_, args) = ws.event().await;
        args[0]["payload"]["userId"].as_str().unwrap().to_owned()
    };
    let mut ws = Ws::open(
        srv.addr,
        &query,
        &[("Authorization", &header), ("Cookie", &cookie)],
    )
    .await;
    ws.send(&format!(
        "40{}",
        json!({"token": client_token("from-auth", "acme")})
    ))
    .await;
    assert_eq!(user_of(ws).await, "from-auth");
    let mut ws = Ws::open(
        srv.addr,
        &query,
        &[("Authorization", &header), ("Cookie", &cookie)],
    )
    .await;
    ws.send("40{}").await;
    assert_eq!(user_of(ws).await, "from-header");
    let mut ws = Ws::open(srv.addr, &query, &[("Cookie", &cookie)]).await;
    ws.send("40").await;
    assert_eq!(user_of(ws).await, "from-cookie");
    let mut ws = Ws::open(srv.addr, &query, &[]).await;
    ws.send("40").await;
    assert_eq!(user_of(ws).await, "from-query");
}

#[tokio::test]
async fn auth_6_invalid_auth_token_does_not_fall_back_to_the_header() {
    let srv = TestServer::default().await;
    let header = format!("Bearer {}", client_token("u1", "acme"));
    let mut ws = Ws::open(srv.addr, "", &[("Authorization", &header)]).await;
    let reply = ws.connect_raw(Some(json!({"token": "not-a-jwt"}))).await;
    assert_eq!(reason(&reply), "invalid_token");
}

#[tokio::test]
async fn auth_7_non_bearer_authorization_is_ignored() {
    let srv = TestServer::default().await;
    let basic = format!("Basic {}", client_token("u1", "acme"));
    let mut ws = Ws::open(srv.addr, "", &[("Authorization", &basic)]).await;
    assert_eq!(reason(&ws.connect_raw(None).await), "missing_token");
}

#[tokio::test]
async fn auth_8_no_token_is_missing_token() {
    let srv = TestServer::default().await;
    let expected = json!({"message":"Authentication token required","data":{"code":"AUTH_FAILED","reason":"missing_token"}});
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    assert_eq!(
        connect_error(&ws.connect_raw(None).await),
        Some(expected.clone())
    );
    assert_eq!(
        connect_error(&try_connect(&srv, json!({})).await),
        Some(expected.clone())
    );
    assert_eq!(
        connect_error(&try_connect(&srv, json!({"token": ""})).await),
        Some(expected)
    );
}

#[tokio::test]
async fn auth_9_non_string_token_is_invalid_token() {
    let srv = TestServer::default().await;
    for t in [json!(42), json!({}), json!(null), json!(["x"])] {
        let reply = try_connect(&srv, json!({ "token": t })).await;
        assert!(reply.starts_with("44{"), "{reply}");
        assert_eq!(
            connect_error(&reply).unwrap(),
            json!({"message":"Invalid or expired token","data":{"code":"AUTH_FAILED","reason":"invalid_token"}})
        );
    }
}

#[tokio::test]
async fn auth_10_not_a_compact_jws_is_invalid_token() {
    let srv = TestServer::default().await;
    for t in [
        "not-a-jwt",
        "a.b.c",
        "x.y",
        "....",
        "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig",
    ] {
        assert_eq!(
            reason(&try_connect(&srv, json!({ "token": t })).await),
            "invalid_token",
            "{t}"
        );
    }
}

#[tokio::test]
async fn auth_11_bad_signature_is_invalid_token() {
    let srv = TestServer::default().await;
    let t = token_with(
        b"another-secret",
        &json!({"sub":"u1","organizationId":"acme","exp":exp()}),
    );
    assert_eq!(
        reason(&try_connect(&srv, json!({ "token": t })).await),
        "invalid_token"
    );
    // A tampered payload with the original signature.
    let good = client_token("u1", "acme");
    let parts: Vec<&str> = good.split('.').collect();
    use base64::Engine;
    let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"sub":"admin","organizationId":"acme","exp":exp()}).to_string());
    let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
    assert_eq!(
        reason(&try_connect(&srv, json!({ "token": forged })).await),
        "invalid_token"
    );
}

#[tokio::test]
async fn auth_12_hs256_with_the_shared_secret_is_accepted() {
    let srv = TestServer::default().await;
    let reply = try_connect(&srv, json!({"token": client_token("u1", "acme")})).await;
    assert!(connect_sid(&reply).is_some(), "{reply}");
}

fn pem_config(public: &str, alg: &str) -> Config {
    let mut cfg = config();
    cfg.jwt.secret = None;
    cfg.jwt.public_keys_pem = vec![std::fs::read(key_path(public)).unwrap()];
    cfg.jwt.algorithms = vec![alg.to_owned()];
    cfg
}

fn signed(alg: Algorithm, private: &str, claims: &Value) -> String {
    let pem = std::fs::read(key_path(private)).unwrap();
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        _ => EncodingKey::from_ec_pem(&pem).unwrap(),
    };
    encode(&Header::new(alg), claims, &key).unwrap()
}

#[tokio::test]
async fn auth_13_rs256_with_a_pem_public_key_is_accepted() {
    let srv = TestServer::start(pem_config("rs256-public.pem", "RS256")).await;
    let t = signed(
        Algorithm::RS256,
        "rs256-private.pem",
        &json!({"sub":"u1","organizationId":"acme","exp":exp()}),
    );
    assert!(connect_sid(&try_connect(&srv, json!({ "token": t })).await).is_some());
}

#[tokio::test]
async fn auth_14_es256_with_a_pem_public_key_is_accepted() {
    let srv = TestServer::start(pem_config("es256-public.pem", "ES256")).await;
    let t = signed(
        Algorithm::ES256,
        "es256-private.pem",
        &json!({"sub":"u1","organizationId":"acme","exp":exp()}),
    );
    assert!(connect_sid(&try_connect(&srv, json!({ "token": t })).await).is_some());
    // An RS256 token is not accepted by an ES256-only server.
    let rs = signed(
        Algorithm::RS256,
        "rs256-private.pem",
        &json!({"sub":"u1","organizationId":"acme","exp":exp()}),
    );
    assert_eq!(
        reason(&try_connect(&srv, json!({ "token": rs })).await),
        "invalid_token"
    );
}

#[tokio::test]
async fn auth_15_alg_none_is_rejected() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let srv = TestServer::default().await;
    let claims = b64.encode(json!({"sub":"u1","organizationId":"acme","exp":exp()}).to_string());
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
    ] {
        let h = b64.encode(header);
        for t in [format!("{h}.{claims}."), format!("{h}.{claims}.c2ln")] {
            assert_eq!(
                reason(&try_connect(&srv, json!({ "token": t })).await),
                "invalid_token"
            );
        }
    }
}

#[tokio::test]
async fn auth_16_algorithms_not_configured_are_rejected() {
    let srv = TestServer::default().await;
    let claims = json!({"sub":"u1","organizationId":"acme","exp":exp()});
    for alg in [Algorithm::HS512, Algorithm::HS384] {
        let t = encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            reason(&try_connect(&srv, json!({ "token": t })).await),
            "invalid_token"
        );
    }
}

#[tokio::test]
async fn auth_17_algorithm_confusion_is_rejected() {
    let srv = TestServer::start(pem_config("rs256-public.pem", "RS256")).await;
    let public = std::fs::read(key_path("rs256-public.pem")).unwrap();
    let t = token_with(
        &public,
        &json!({"sub":"u1","organizationId":"acme","exp":exp()}),
    );
    assert_eq!(
        reason(&try_connect(&srv, json!({ "token": t })).await),
        "invalid_token"
    );
}

#[tokio::test]
async fn auth_18_user_id_comes_from_user_id() {
    let srv = TestServer::default().await;
    let t =
        token(json!({"userId":"from-claim","sub":"from-sub","organizationId":"acme","exp":exp()}));
    let s = connect(srv.addr, &t).await;
    assert_eq!(s.connected["payload"]["userId"], "from-claim");
}

#[tokio::test]
async fn auth_19_without_user_id_it_comes_from_sub() {
    let srv = TestServer::default().await;
    let s = connect(
        srv.addr,
        &token(json!({"sub":"from-sub","organizationId":"acme","exp":exp()})),
    )
    .await;
    assert_eq!(s.connected["payload"]["userId"], "from-sub");
}

#[tokio::test]
async fn auth_20_invalid_user_id_does_not_fall_back_to_sub() {
    let srv = TestServer::default().await;
    for bad in [json!("a b"), json!(7), json!(""), json!(null)] {
        let r = reason_for(
            &srv,
            json!({"userId": bad, "sub":"ok","organizationId":"acme","exp":exp()}),
        )
        .await;
        assert_eq!(r, "invalid_claims");
    }
}

#[tokio::test]
async fn auth_21_no_user_id_is_invalid_claims() {
    let srv = TestServer::default().await;
    assert_eq!(
        reason_for(&srv, json!({"organizationId":"acme","exp":exp()})).await,
        "invalid_claims"
    );
    assert_eq!(
        reason_for(
            &srv,
            json!({"sub":"x:y","organizationId":"acme","exp":exp()})
        )
        .await,
        "invalid_claims"
    );
}

#[tokio::test]
async fn auth_22_organization_id_is_required() {
    let srv = TestServer::default().await;
    assert_eq!(
        reason_for(&srv, json!({"sub":"u1","exp":exp()})).await,
        "invalid_claims"
    );
}

#[tokio::test]
async fn auth_23_ids_follow_the_grammar() {
    let srv = TestServer::default().await;
    for org in ["acme:evil", "", "a b", &"x".repeat(65)] {
        let r = reason_for(&srv, json!({"sub":"u1","organizationId":org,"exp":exp()})).await;
        assert_eq!(r, "invalid_claims", "{org}");
    }
    let ok = json!({"sub":"U_1-x","organizationId":"A-b_9","exp":exp()});
    assert!(connect_sid(&try_connect(&srv, json!({"token": token(ok)})).await).is_some());
}

#[tokio::test]
async fn auth_24_numeric_ids_are_rejected() {
    let srv = TestServer::default().await;
    assert_eq!(
        reason_for(
            &srv,
            json!({"userId":42,"organizationId":"acme","exp":exp()})
        )
        .await,
        "invalid_claims"
    );
    assert_eq!(
        reason_for(&srv, json!({"sub":"u1","organizationId":7,"exp":exp()})).await,
        "invalid_claims"
    );
}

#[tokio::test]
async fn auth_25_role_and_email_are_optional_strings() {
    let srv = TestServer::default().await;
    let s = connect(
        srv.addr,
        &token(json!({"sub":"u1","organizationId":"acme","exp":exp(),"role":"op","email":"a@b.c"})),
    )
    .await;
    assert_eq!(s.connected["payload"]["role"], "op");
    assert!(s.connected["payload"].get("email").is_none());
    for claims in [
        json!({"sub":"u1","organizationId":"acme","exp":exp(),"role":5}),
        json!({"sub":"u1","organizationId":"acme","exp":exp(),"email":{}}),
    ] {
        assert_eq!(reason_for(&srv, claims).await, "invalid_claims");
    }
}

#[tokio::test]
async fn auth_26_missing_or_non_numeric_exp_is_invalid_claims() {
    let srv = TestServer::default().await;
    assert_eq!(
        reason_for(&srv, json!({"sub":"u1","organizationId":"acme"})).await,
        "invalid_claims"
    );
    assert_eq!(
        reason_for(
            &srv,
            json!({"sub":"u1","organizationId":"acme","exp":"9999999999"})
        )
        .await,
        "invalid_claims"
    );
}

#[tokio::test]
async fn auth_27_expired_token_is_token_expired() {
    let srv = TestServer::default().await;
    let reply = try_connect(
        &srv,
        json!({"token": token(json!({"sub":"u1","organizationId":"acme","exp":now()-60}))}),
    )
    .await;
    assert_eq!(
        connect_error(&reply).unwrap(),
        json!({"message":"Invalid or expired token","data":{"code":"AUTH_FAILED","reason":"token_expired"}})
    );
    // exp == now is expired too (exp + leeway <= now).
    assert_eq!(
        reason_for(
            &srv,
            json!({"sub":"u1","organizationId":"acme","exp":now()})
        )
        .await,
        "token_expired"
    );
}

#[tokio::test]
async fn auth_28_future_nbf_is_invalid_token() {
    let srv = TestServer::default().await;
    assert_eq!(
        reason_for(
            &srv,
            json!({"sub":"u1","organizationId":"acme","exp":exp(),"nbf":now()+60})
        )
        .await,
        "invalid_token"
    );
    assert_eq!(
        reason_for(
            &srv,
            json!({"sub":"u1","organizationId":"acme","exp":exp(),"nbf":"soon"})
        )
        .await,
        "invalid_claims"
    );
    let ok = json!({"sub":"u1","organizationId":"acme","exp":exp(),"nbf":now()-1});
    assert!(connect_sid(&try_connect(&srv, json!({"token": token(ok)})).await).is_some());
}

#[tokio::test]
async fn auth_29_issuer_is_checked_when_configured() {
    let mut cfg = config();
    cfg.jwt.issuer = Some("https://issuer.example".into());
    let srv = TestServer::start(cfg).await;
    let base = json!({"sub":"u1","organizationId":"acme","exp":exp()});
    assert_eq!(reason_for(&srv, base.clone()).await, "invalid_claims");
    let mut wrong = base.clone();
    wrong["iss"] = json!("https://other");
    assert_eq!(reason_for(&srv, wrong).await, "invalid_claims");
    let mut ok = base;
    ok["iss"] = json!("https://issuer.example");
    assert!(connect_sid(&try_connect(&srv, json!({"token": token(ok)})).await).is_some());
    // Unconfigured, iss is ignored.
    let srv = TestServer::default().await;
    let any = json!({"sub":"u1","organizationId":"acme","exp":exp(),"iss":"whatever"});
    assert!(connect_sid(&try_connect(&srv, json!({"token": token(any)})).await).is_some());
}

#[tokio::test]
async fn auth_30_audience_is_checked_when_configured() {
    let mut cfg = config();
    cfg.jwt.audience = Some("roomcast".into());
    let srv = TestServer::start(cfg).await;
    let with = |aud: Value| json!({"sub":"u1","organizationId":"acme","exp":exp(),"aud":aud});
    assert_eq!(
        reason_for(&srv, with(json!("other"))).await,
        "invalid_claims"
    );
    assert_eq!(
        reason_for(&srv, with(json!(["a", "b"]))).await,
        "invalid_claims"
    );
    assert_eq!(
        reason_for(
            &srv,
            json!({"sub":"u1","organizationId":"acme","exp":exp()})
        )
        .await,
        "invalid_claims"
    );
    for aud in [json!("roomcast"), json!(["x", "roomcast"])] {
        assert!(
            connect_sid(&try_connect(&srv, json!({"token": token(with(aud))})).await).is_some()
        );
    }
}

#[tokio::test]
async fn auth_31_leeway_is_configurable_and_zero_by_default() {
    let srv = TestServer::default().await;
    let just_expired = json!({"sub":"u1","organizationId":"acme","exp":now()-1});
    assert_eq!(
        reason_for(&srv, just_expired.clone()).await,
        "token_expired"
    );
    let mut cfg = config();
    cfg.jwt.leeway_secs = 30;
    let srv = TestServer::start(cfg).await;
    assert!(connect_sid(&try_connect(&srv, json!({"token": token(just_expired)})).await).is_some());
    let nbf_soon = json!({"sub":"u1","organizationId":"acme","exp":exp(),"nbf":now()+10});
    assert!(connect_sid(&try_connect(&srv, json!({"token": token(nbf_soon)})).await).is_some());
}

#[tokio::test]
async fn auth_32_every_failure_has_the_one_connect_error_shape() {
    let srv = TestServer::default().await;
    let cases = [
        json!({}),
        json!({"token": 1}),
        json!({"token": "x"}),
        json!({"token": token(json!({"sub":"u1","organizationId":"acme","exp":now()-5}))}),
        json!({"token": token(json!({"sub":"u1","exp":exp()}))}),
    ];
    for auth in cases {
        let reply = try_connect(&srv, auth).await;
        let e = connect_error(&reply).unwrap();
        let obj = e.as_object().unwrap();
        assert_eq!(obj.len(), 2, "{e}");
        assert_eq!(e["data"].as_object().unwrap().len(), 2, "{e}");
        assert_eq!(e["data"]["code"], "AUTH_FAILED");
        let r = e["data"]["reason"].as_str().unwrap();
        let m = if r == "missing_token" {
            "Authentication token required"
        } else {
            "Invalid or expired token"
        };
        assert_eq!(e["message"], m);
    }
}

#[tokio::test]
async fn auth_33_failed_connect_joins_nothing_and_delivers_nothing() {
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    let t = token(json!({"sub":"u1","organizationId":"acme","exp":now()-5}));
    let reply = ws.connect_raw(Some(json!({ "token": t }))).await;
    assert!(connect_error(&reply).is_some());
    publish_ok(srv.addr, "org:acme", "a:b", json!(1)).await;
    publish_ok(srv.addr, "org:acme:user:u1", "a:b", json!(1)).await;
    ws.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn auth_34_connection_stays_open_for_a_retry() {
    let srv = TestServer::default().await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    assert_eq!(reason(&ws.connect_raw(None).await), "missing_token");
    let reply = ws
        .connect_raw(Some(json!({"token": client_token("u1", "acme")})))
        .await;
    assert!(connect_sid(&reply).is_some(), "{reply}");
    let (name, _) = ws.event().await;
    assert_eq!(name, "system:connected");
}

#[tokio::test]
async fn auth_35_no_namespace_within_connect_timeout_closes() {
    let mut cfg = config();
    cfg.connect_timeout = Duration::from_millis(300);
    let srv = TestServer::start(cfg).await;
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    let started = std::time::Instant::now();
    ws.assert_closed(Duration::from_secs(3)).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A failed CONNECT does not stop the timer.
    let mut ws = Ws::open(srv.addr, "", &[]).await;
    let _ = ws.connect_raw(None).await;
    ws.assert_closed(Duration::from_secs(3)).await;
    // A connected socket outlives it.
    let mut s = connect(srv.addr, &client_token("u1", "acme")).await;
    s.ws.assert_silent(Duration::from_millis(600)).await;
}

#[tokio::test]
async fn auth_14_es256_next_to_rs256_with_two_key_files() {
    let mut cfg = config();
    cfg.jwt.secret = None;
    cfg.jwt.public_keys_pem = vec![
        std::fs::read(key_path("rs256-public.pem")).unwrap(),
        std::fs::read(key_path("es256-public.pem")).unwrap(),
    ];
    cfg.jwt.algorithms = vec!["RS256".into(), "ES256".into()];
    let srv = TestServer::start(cfg).await;
    let claims = json!({"sub":"u1","organizationId":"acme","exp":exp()});
    for t in [
        signed(Algorithm::ES256, "es256-private.pem", &claims),
        signed(Algorithm::RS256, "rs256-private.pem", &claims),
    ] {
        assert!(connect_sid(&try_connect(&srv, json!({ "token": t })).await).is_some());
    }
    let public = std::fs::read(key_path("rs256-public.pem")).unwrap();
    let confused = token_with(&public, &claims);
    assert_eq!(
        reason(&try_connect(&srv, json!({ "token": confused })).await),
        "invalid_token"
    );
}
