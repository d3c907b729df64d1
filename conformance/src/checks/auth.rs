//! Checks of the AUTH group: JWT at the Socket.IO CONNECT.

use super::auth_tokens::{
    claim_checked_on_every_path, identity_smuggling, refused_on_every_path, refused_with_reason,
    Forgery,
};
use super::common::{
    accept, accept_claims, alg_ctx, claims, expect_marker, publish_marker, reject, reject_claims,
    reject_token, silence,
};
use crate::check;
use crate::client::OpenOptions;
use crate::ctx::{ensure, ensure_json, CheckFailure, CheckResult, Ctx, WITNESS_SETTINGS};
use crate::expect;
use crate::runner::CheckDef;
use crate::tokens::{self, now_secs, Alg};
use serde_json::{json, Value};
use std::time::Duration;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "AUTH-1", Must, "Token from the CONNECT auth payload", auth_1),
    check!(id: "AUTH-2", Must, feature: "bearer-header", "Token from the Authorization Bearer header", auth_2),
    check!(id: "AUTH-3", Must, feature: "cookie-auth", "Token from the accessToken cookie", auth_3),
    check!(id: "AUTH-4", Must, feature: "query-auth", "Token from the token query parameter", auth_4),
    check!(id: "AUTH-5", Must, "Token sources are tried in a fixed order", auth_5),
    check!(id: "AUTH-6", Must, feature: "bearer-header", "An invalid auth.token does not fall back to the header", auth_6),
    check!(id: "AUTH-7", Must, "A non-Bearer Authorization header is ignored", auth_7),
    check!(id: "AUTH-8", Must, "No token fails with missing_token", auth_8),
    check!(id: "AUTH-9", Must, "A non-string token fails with invalid_token", auth_9),
    check!(id: "AUTH-10", Must, "A token that is not a compact JWS fails with invalid_token", auth_10),
    check!(id: "AUTH-11", Must, "A bad signature fails with invalid_token", auth_11),
    check!(id: "AUTH-12", Must, "HS256 tokens are verified with the shared secret", auth_12),
    check!(id: "AUTH-13", Must, feature: "rs256", "RS256 tokens are verified with a PEM public key", auth_13),
    check!(id: "AUTH-14", Must, feature: "es256", "ES256 tokens are verified with a PEM public key", auth_14),
    check!(id: "AUTH-15", Must, "alg none is rejected", auth_15),
    check!(id: "AUTH-16", Must, "Algorithms not configured are rejected", auth_16),
    check!(id: "AUTH-17", Must, feature: "rs256", "Algorithm confusion is rejected", auth_17),
    check!(id: "AUTH-18", Must, "The user id comes from userId", auth_18),
    check!(id: "AUTH-19", Must, "Without userId the user id comes from sub", auth_19),
    check!(id: "AUTH-20", Must, "An invalid userId fails without falling back to sub", auth_20),
    check!(id: "AUTH-21", Must, "No user id fails with invalid_claims", auth_21),
    check!(id: "AUTH-22", Must, "organizationId is required", auth_22),
    check!(id: "AUTH-23", Must, "User and organization ids follow the id grammar", auth_23),
    check!(id: "AUTH-24", Must, "Numeric ids are rejected", auth_24),
    check!(id: "AUTH-25", Must, "role and email are optional strings", auth_25),
    check!(id: "AUTH-26", Must, "A missing or non-numeric exp fails with invalid_claims", auth_26),
    check!(id: "AUTH-27", Must, "An expired token fails with token_expired", auth_27),
    check!(id: "AUTH-28", Must, "A future nbf fails with invalid_token", auth_28),
    check!(id: "AUTH-29", Must, "iss is checked when configured", auth_29),
    check!(id: "AUTH-30", Must, "aud is checked when configured", auth_30),
    check!(id: "AUTH-31", Must, "Leeway is configurable and 0 by default", auth_31),
    check!(id: "AUTH-32", Must, "Auth failures have exactly one CONNECT_ERROR shape", auth_32),
    check!(id: "AUTH-33", Must, "A failed CONNECT joins nothing and delivers nothing", auth_33),
    check!(id: "AUTH-34", May, "The connection stays open for a retry CONNECT", auth_34),
    check!(id: "AUTH-35", Must, "No namespace connected within connectTimeout closes the connection", auth_35),
    check!(id: "AUTH-40", Must, "The cookie and query token sources are off by default", auth_40),
];

fn header(name: &str, value: String) -> OpenOptions {
    OpenOptions {
        query: None,
        headers: vec![(name.to_string(), value)],
        ..OpenOptions::default()
    }
}

/// Expects the `system:connected` payload `p` to name `user` as its `userId`.
fn ensure_user(what: &str, user: &Value, p: &Value) -> CheckResult {
    ensure_json(what, user, p.get("userId").unwrap_or(&Value::Null))
}

async fn auth_1(ctx: Ctx) -> CheckResult {
    let (_, user, c) = claims(&ctx);
    let t = ctx.minter.sign(&c)?;
    let (cl, p) = accept(
        &ctx,
        Some(json!({ "token": t, "extra": "ignored" })),
        &OpenOptions::default(),
    )
    .await?;
    cl.close().await;
    ensure_user("system:connected names the token's user", &json!(user), &p)?;
    identity_from_token_only(&ctx).await
}

/// Publishes one event of type `ty` into each automatic room of `user` in `org`.
async fn publish_to_auto_rooms(ctx: &Ctx, org: &str, user: &str, ty: &str) -> CheckResult {
    for (i, room) in [format!("org:{org}"), format!("org:{org}:user:{user}")]
        .iter()
        .enumerate()
    {
        ctx.publish_ok(room, ty, json!(i + 1)).await?;
    }
    Ok(())
}

/// AUTH-1: the identity comes from the token only. Every place beside it that
/// a client controls names another organization and user; the socket must be
/// the token's (in `system:connected` and in the rooms it receives from).
async fn identity_from_token_only(ctx: &Ctx) -> CheckResult {
    let (org, user, c) = claims(ctx);
    let t = ctx.minter.sign(&c)?;
    let (other_org, other_user) = (ctx.uniq("other-org"), ctx.uniq("other-u"));
    for (what, auth, opts) in identity_smuggling(&t, &other_org, &other_user) {
        let (mut cl, p) = accept(ctx, Some(auth), &opts).await?;
        let r = async {
            let want = json!({
                "userId": user,
                "organizationId": org,
                "rooms": [format!("org:{org}"), format!("org:{org}:user:{user}")],
            });
            let mut rooms = p.get("rooms").cloned().unwrap_or(Value::Null);
            if let Some(a) = rooms.as_array_mut() {
                // either order (ENV-13)
                a.sort_by_key(|r| r.as_str().map(str::len).unwrap_or(0));
            }
            let got = json!({
                "userId": p.get("userId"),
                "organizationId": p.get("organizationId"),
                "rooms": rooms,
            });
            ensure_json(
                &format!("with {what}, the identity is the token's"),
                &want,
                &got,
            )?;
            ensure(
                p.get("role").is_none(),
                format!("with {what}, a role appears that the token does not have"),
                "no role",
                &p,
            )?;
            // an auth:refresh naming the other identity beside a valid token changes nothing either
            if ctx.has_feature("refresh") {
                let again = ctx.minter.sign(&c)?;
                let ack = cl
                    .emit_ack(
                        "auth:refresh",
                        vec![json!({ "token": again, "organizationId": other_org, "userId": other_user })],
                    )
                    .await?;
                ensure_json(
                    "auth:refresh with organizationId and userId beside the token: ok",
                    &json!(true),
                    ack.first().and_then(|a| a.get("ok")).unwrap_or(&Value::Null),
                )?;
            }
            // the rooms are the token's too: the other organization's events do not arrive
            publish_to_auto_rooms(ctx, &other_org, &other_user, "test:smuggled").await?;
            let m = publish_marker(ctx, &format!("org:{org}:user:{user}")).await?;
            expect_marker(&mut cl, &m, &format!("with {what}")).await
        }
        .await;
        cl.close().await;
        r?;
    }
    Ok(())
}

async fn auth_2(ctx: Ctx) -> CheckResult {
    let (_, user, c) = claims(&ctx);
    let t = ctx.minter.sign(&c)?;
    let (cl, p) = accept(&ctx, None, &header("authorization", format!("Bearer {t}"))).await?;
    cl.close().await;
    ensure_user("the header's user is connected", &json!(user), &p)?;
    // the scheme is case-insensitive, and an auth payload without token falls through to the header
    let (cl, _) = accept(
        &ctx,
        Some(json!({ "other": 1 })),
        &header("authorization", format!("bearer {t}")),
    )
    .await?;
    cl.close().await;
    Ok(())
}

/// A token source that must be off by default and on once `env=true`.
async fn optional_source(ctx: Ctx, env: &str, opts_for: fn(&str) -> OpenOptions) -> CheckResult {
    let (_, user, c) = claims(&ctx);
    let t = ctx.minter.sign(&c)?;
    if ctx.cfg.spawn.is_none() {
        // the operator enabled the source on the target
        let (cl, p) = accept(&ctx, None, &opts_for(&t)).await?;
        cl.close().await;
        return ensure_user("the source's user is connected", &json!(user), &p);
    }
    // spawned with defaults: the source must be off
    reject(&ctx, None, &opts_for(&t), "missing_token")
        .await
        .map_err(|e| CheckFailure {
            message: format!("the source must be off by default: {}", e.message),
            ..e
        })?;
    let inst = ctx.private_instance(&[(env, "true")]).await?;
    let pctx = ctx.with_target(&inst.base);
    let r = accept(&pctx, None, &opts_for(&t)).await;
    // A value with broken `%` escapes and a `+` is an invalid token (AUTH-10),
    // whether or not the source is percent-decoded, never a hang or a crash (a
    // mutant of the reference server that looped on it survived).
    let malformed = match &r {
        Ok(_) => reject(&pctx, None, &opts_for("%zz+%"), "invalid_token").await,
        Err(_) => Ok(()),
    };
    inst.stop().await;
    malformed.map_err(|e| CheckFailure {
        message: format!("the source enabled, value \"%zz+%\": {}", e.message),
        ..e
    })?;
    let (cl, p) = r?;
    cl.close().await;
    ensure_user("the source's user is connected", &json!(user), &p)
}

async fn auth_3(ctx: Ctx) -> CheckResult {
    optional_source(ctx, "ROOMCAST_AUTH_COOKIE", |t| {
        header("cookie", format!("theme=dark; accessToken={t}"))
    })
    .await
}

async fn auth_4(ctx: Ctx) -> CheckResult {
    // A query parameter's value is percent-decoded (URL standard): the first `.`
    // of the token is sent as `%2E` (a mutant of the reference server that
    // misread `%XX` survived a plain token).
    optional_source(ctx, "ROOMCAST_AUTH_QUERY", |t| OpenOptions {
        query: Some(format!("token={}", t.replacen('.', "%2E", 1))),
        ..OpenOptions::default()
    })
    .await
}

async fn auth_5(ctx: Ctx) -> CheckResult {
    // auth.token first: with every other source carrying another user's valid token
    let (org, user_a, ca) = claims(&ctx);
    let ta = ctx.minter.sign(&ca)?;
    let tb = ctx.minter.client(&org, &ctx.uniq("other"))?;
    let mut opts = OpenOptions::default();
    if ctx.has_feature("bearer-header") {
        opts.headers
            .push(("authorization".into(), format!("Bearer {tb}")));
    }
    if ctx.has_feature("cookie-auth") {
        opts.headers
            .push(("cookie".into(), format!("accessToken={tb}")));
    }
    if ctx.has_feature("query-auth") {
        opts.query = Some(format!("token={tb}"));
    }
    let (cl, p) = accept(&ctx, Some(json!({ "token": ta })), &opts).await?;
    cl.close().await;
    ensure_user(
        "auth.token wins over every other source",
        &json!(user_a),
        &p,
    )?;
    // then the header over cookie and query
    if ctx.has_feature("bearer-header")
        && (ctx.has_feature("cookie-auth") || ctx.has_feature("query-auth"))
    {
        let mut opts = opts.clone();
        opts.headers.retain(|(k, _)| k != "authorization");
        opts.headers
            .push(("authorization".into(), format!("Bearer {ta}")));
        let (cl, p) = accept(&ctx, None, &opts).await?;
        cl.close().await;
        ensure_user(
            "the Bearer header wins over cookie and query",
            &json!(user_a),
            &p,
        )?;
    }
    Ok(())
}

async fn auth_6(ctx: Ctx) -> CheckResult {
    let (_, _, c) = claims(&ctx);
    let good = ctx.minter.sign(&c)?;
    let bad = tokens::tamper(&good);
    reject(
        &ctx,
        Some(json!({ "token": bad })),
        &header("authorization", format!("Bearer {good}")),
        "invalid_token",
    )
    .await
}

async fn auth_7(ctx: Ctx) -> CheckResult {
    let (_, _, c) = claims(&ctx);
    let good = ctx.minter.sign(&c)?;
    reject(
        &ctx,
        None,
        &header("authorization", format!("Basic {good}")),
        "missing_token",
    )
    .await?;
    reject(
        &ctx,
        None,
        &header("authorization", "Basic dXNlcjpwYXNz".into()),
        "missing_token",
    )
    .await
}

async fn auth_8(ctx: Ctx) -> CheckResult {
    reject(&ctx, None, &OpenOptions::default(), "missing_token").await?;
    reject(
        &ctx,
        Some(json!({})),
        &OpenOptions::default(),
        "missing_token",
    )
    .await?;
    reject(
        &ctx,
        Some(json!({ "token": "" })),
        &OpenOptions::default(),
        "missing_token",
    )
    .await
}

async fn auth_9(ctx: Ctx) -> CheckResult {
    for t in [json!(42), json!({ "jwt": "x" }), Value::Null] {
        reject(
            &ctx,
            Some(json!({ "token": t })),
            &OpenOptions::default(),
            "invalid_token",
        )
        .await?;
    }
    Ok(())
}

async fn auth_10(ctx: Ctx) -> CheckResult {
    for t in ["not-a-jwt", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "..."] {
        reject_token(&ctx, t, "invalid_token").await?;
    }
    Ok(())
}

async fn auth_11(ctx: Ctx) -> CheckResult {
    let (_, _, c) = claims(&ctx);
    let good = ctx.minter.sign(&c)?;
    reject_token(&ctx, &tokens::tamper(&good), "invalid_token").await?;
    let wrong = tokens::sign_hmac(
        jsonwebtoken::Algorithm::HS256,
        b"not-the-configured-secret-0123456789",
        &c,
    )?;
    reject_token(&ctx, &wrong, "invalid_token").await?;
    // claims swapped under a valid signature
    let (_, _, other) = claims(&ctx);
    reject_token(&ctx, &tokens::swap_claims(&good, &other), "invalid_token").await?;
    // every forgery of the primary algorithm on every token path (CONNECT,
    // auth:refresh, publish); RS256 and ES256 get theirs in AUTH-13 and AUTH-14
    refused_on_every_path(&ctx, ctx.minter.primary(), &Forgery::all()).await
}

async fn auth_12(ctx: Ctx) -> CheckResult {
    if !ctx.minter.has(Alg::Hs256) {
        return Err(CheckFailure::skip("no HS256 secret given (--jwt-secret)"));
    }
    let (_, user, c) = claims(&ctx);
    let t = ctx.minter.sign_with(Alg::Hs256, &c)?;
    let (cl, p) = accept(&ctx, Some(json!({ "token": t })), &OpenOptions::default()).await?;
    cl.close().await;
    ensure_user("HS256 token accepted", &json!(user), &p)
}

async fn alg_accepted(ctx: Ctx, alg: Alg) -> CheckResult {
    let (actx, inst) = alg_ctx(&ctx, alg).await?;
    let (_, user, c) = claims(&actx);
    let t = actx.minter.sign_with(alg, &c)?;
    let r = async {
        let (cl, p) = accept(&actx, Some(json!({ "token": t })), &OpenOptions::default()).await?;
        cl.close().await;
        ensure_json(
            &format!("{} token accepted", alg.as_str()),
            &json!(user),
            p.get("userId").unwrap_or(&Value::Null),
        )?;
        // verified with the configured public key only, on every token path
        refused_on_every_path(&actx, alg, &Forgery::all()).await
    }
    .await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn auth_13(ctx: Ctx) -> CheckResult {
    alg_accepted(ctx, Alg::Rs256).await
}

async fn auth_14(ctx: Ctx) -> CheckResult {
    alg_accepted(ctx, Alg::Es256).await
}

async fn auth_15(ctx: Ctx) -> CheckResult {
    let (_, _, c) = claims(&ctx);
    let none = tokens::alg_none(&c);
    reject_token(&ctx, &none, "invalid_token").await?;
    // with a signature part, and with other spellings
    let good = ctx.minter.sign(&c)?;
    let sig = good.rsplit('.').next().unwrap_or("");
    reject_token(&ctx, &format!("{none}{sig}"), "invalid_token").await?;
    use base64::Engine as _;
    let h =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"None","typ":"JWT"}"#);
    let body = none.split('.').nth(1).unwrap_or("");
    reject_token(&ctx, &format!("{h}.{body}."), "invalid_token").await?;
    // and on the other token paths (auth:refresh, publish)
    refused_on_every_path(&ctx, ctx.minter.primary(), &[Forgery::AlgNone]).await
}

async fn auth_16(ctx: Ctx) -> CheckResult {
    let Some(secret) = ctx.minter.keys().hs256_secret.clone() else {
        return Err(CheckFailure::skip(
            "needs the HS256 secret to sign an HS512/HS384 token with it",
        ));
    };
    let (_, _, c) = claims(&ctx);
    for alg in [
        jsonwebtoken::Algorithm::HS512,
        jsonwebtoken::Algorithm::HS384,
    ] {
        let t = tokens::sign_hmac(alg, &secret, &c)?;
        reject_token(&ctx, &t, "invalid_token").await?;
    }
    // and on the other token paths (auth:refresh, publish)
    let others = [
        Forgery::OtherHmac(jsonwebtoken::Algorithm::HS512, secret.clone()),
        Forgery::OtherHmac(jsonwebtoken::Algorithm::HS384, secret.clone()),
    ];
    refused_on_every_path(&ctx, Alg::Hs256, &others).await?;
    // an asymmetric algorithm that is not configured on the main target: a
    // spawned instance has JWT_SECRET only; a running one, what it declares
    for (alg, feature) in [(Alg::Rs256, "rs256"), (Alg::Es256, "es256")] {
        if (ctx.cfg.spawn.is_some() || !ctx.has_feature(feature)) && ctx.minter.has(alg) {
            let t = ctx.minter.sign_with(alg, &c)?;
            reject_token(&ctx, &t, "invalid_token").await?;
        }
    }
    Ok(())
}

async fn auth_17(ctx: Ctx) -> CheckResult {
    let public = ctx
        .minter
        .keys()
        .rs256
        .as_ref()
        .and_then(|(_, p)| p.clone());
    let Some(public) = public else {
        return Err(CheckFailure::skip(
            "needs the RS256 public key (--jwt-public-key or --extra-key RS256:PRIV:PUB)",
        ));
    };
    let (actx, inst) = alg_ctx(&ctx, Alg::Rs256).await?;
    let (_, _, c) = claims(&actx);
    let r = async {
        let forged = tokens::hs256_with_secret(&public, &c)?;
        reject_token(&actx, &forged, "invalid_token").await?;
        // also with the PEM's trailing newline stripped, as some libraries normalise it
        let trimmed: Vec<u8> = String::from_utf8_lossy(&public)
            .trim_end()
            .as_bytes()
            .to_vec();
        let forged = tokens::hs256_with_secret(&trimmed, &c)?;
        reject_token(&actx, &forged, "invalid_token").await?;
        // and on the other token paths (auth:refresh, publish)
        let confusions = [
            Forgery::Confusion(public.clone()),
            Forgery::Confusion(trimmed),
        ];
        refused_on_every_path(&actx, Alg::Hs256, &confusions).await
    }
    .await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn auth_18(ctx: Ctx) -> CheckResult {
    let (_, user, mut c) = claims(&ctx);
    c.insert("sub".into(), json!(ctx.uniq("sub")));
    let p = accept_claims(&ctx, &c).await?;
    ensure_user("user id is userId, not sub", &json!(user), &p)
}

async fn auth_19(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.remove("userId");
    let sub = ctx.uniq("sub");
    c.insert("sub".into(), json!(sub));
    let p = accept_claims(&ctx, &c).await?;
    ensure_user("user id is sub", &json!(sub), &p)
}

async fn auth_20(ctx: Ctx) -> CheckResult {
    for bad in [json!("bad id"), json!("a:b"), json!(42), json!("")] {
        let (_, _, mut c) = claims(&ctx);
        c.insert("userId".into(), bad);
        c.insert("sub".into(), json!(ctx.uniq("sub")));
        reject_claims(&ctx, &c, "invalid_claims").await?;
    }
    Ok(())
}

async fn auth_21(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.remove("userId");
    reject_claims(&ctx, &c, "invalid_claims").await?;
    c.insert("sub".into(), json!("not valid:sub"));
    reject_claims(&ctx, &c, "invalid_claims").await
}

async fn auth_22(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.remove("organizationId");
    reject_claims(&ctx, &c, "invalid_claims").await
}

async fn auth_23(ctx: Ctx) -> CheckResult {
    let long = "a".repeat(65);
    for (k, v) in [
        ("organizationId", "acme:evil"),
        ("organizationId", ""),
        ("organizationId", "org with space"),
        ("organizationId", long.as_str()),
        ("userId", long.as_str()),
        ("userId", "u/1"),
    ] {
        let (_, _, mut c) = claims(&ctx);
        c.insert(k.into(), json!(v));
        reject_claims(&ctx, &c, "invalid_claims").await?;
    }
    // the longest valid ids are accepted
    let (_, _, mut c) = claims(&ctx);
    let max_org = format!("{}{}", ctx.uniq("o"), "x".repeat(64))
        .chars()
        .take(64)
        .collect::<String>();
    c.insert("organizationId".into(), json!(max_org));
    accept_claims(&ctx, &c).await.map(|_| ())
}

async fn auth_24(ctx: Ctx) -> CheckResult {
    for (k, v) in [("userId", json!(42)), ("organizationId", json!(7))] {
        let (_, _, mut c) = claims(&ctx);
        c.insert(k.into(), v);
        reject_claims(&ctx, &c, "invalid_claims").await?;
    }
    Ok(())
}

async fn auth_25(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.insert("role".into(), json!("operator"));
    c.insert("email".into(), json!("u1@example.com"));
    let p = accept_claims(&ctx, &c).await?;
    ensure(
        p.get("email").is_none(),
        "email is echoed in system:connected",
        "no email key",
        &p,
    )?;
    for (k, v) in [
        ("role", json!(5)),
        ("email", json!(true)),
        ("role", json!(["admin"])),
    ] {
        let (_, _, mut c) = claims(&ctx);
        c.insert(k.into(), v);
        reject_claims(&ctx, &c, "invalid_claims").await?;
    }
    Ok(())
}

async fn auth_26(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.remove("exp");
    reject_claims(&ctx, &c, "invalid_claims").await?;
    c.insert("exp".into(), json!((now_secs() + 600).to_string()));
    reject_claims(&ctx, &c, "invalid_claims").await
}

async fn auth_27(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.insert("exp".into(), json!(now_secs() - 60));
    reject_claims(&ctx, &c, "token_expired").await?;
    // and on the other token paths (auth:refresh, publish)
    let mut set = serde_json::Map::new();
    set.insert("exp".into(), json!(now_secs() - 60));
    let expired = [Forgery::Claims("an exp one minute ago", set)];
    refused_with_reason(&ctx, ctx.minter.primary(), &expired, "token_expired").await
}

async fn auth_28(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.insert("nbf".into(), json!(now_secs() + 3600));
    reject_claims(&ctx, &c, "invalid_token").await?;
    c.insert("nbf".into(), json!("soon"));
    reject_claims(&ctx, &c, "invalid_claims").await?;
    // a past nbf is fine
    c.insert("nbf".into(), json!(now_secs() - 10));
    accept_claims(&ctx, &c).await?;
    // a future nbf on the other token paths (auth:refresh, publish)
    let mut set = serde_json::Map::new();
    set.insert("nbf".into(), json!(now_secs() + 3600));
    let early = [Forgery::Claims("an nbf one hour ahead", set)];
    refused_on_every_path(&ctx, ctx.minter.primary(), &early).await
}

/// Checks `claim` against a private instance configured with `env=value`;
/// the unconfigured half runs on the main target.
async fn configured_claim(ctx: Ctx, claim: &str, env: &str) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.insert(claim.into(), json!("anything-goes"));
    accept_claims(&ctx, &c).await.map_err(|e| CheckFailure {
        message: format!("unconfigured, {claim} must be ignored: {}", e.message),
        ..e
    })?;
    let want = ctx.uniq(claim);
    let inst = ctx
        .private_instance(&[(env, &want)])
        .await
        .map_err(|e| CheckFailure {
            message: format!("the unconfigured half passed; {}", e.message),
            ..e
        })?;
    let pctx = ctx.with_target(&inst.base);
    let r = async {
        let (_, _, mut c) = claims(&pctx);
        reject_claims(&pctx, &c, "invalid_claims").await?;
        c.insert(claim.into(), json!("someone-else"));
        reject_claims(&pctx, &c, "invalid_claims").await?;
        c.insert(claim.into(), json!(want));
        accept_claims(&pctx, &c).await?;
        if claim == "aud" {
            c.insert(claim.into(), json!(["other", want]));
            accept_claims(&pctx, &c).await?;
            c.insert(claim.into(), json!(["other", "more"]));
            reject_claims(&pctx, &c, "invalid_claims").await?;
        }
        // "a token" is every token: auth:refresh and publish check it too
        claim_checked_on_every_path(&pctx, claim, &want).await
    }
    .await;
    inst.stop().await;
    r
}

async fn auth_29(ctx: Ctx) -> CheckResult {
    configured_claim(ctx, "iss", "JWT_ISSUER").await
}

async fn auth_30(ctx: Ctx) -> CheckResult {
    configured_claim(ctx, "aud", "JWT_AUDIENCE").await
}

async fn auth_31(ctx: Ctx) -> CheckResult {
    let (_, _, mut c) = claims(&ctx);
    c.insert("exp".into(), json!(now_secs() - 1));
    reject_claims(&ctx, &c, "token_expired")
        .await
        .map_err(|e| CheckFailure {
            message: format!(
                "with the default leeway 0, exp one second ago: {}",
                e.message
            ),
            ..e
        })?;
    let mut env = vec![("JWT_LEEWAY_SECS", "30")];
    env.extend(WITNESS_SETTINGS.iter().map(|(k, v, _)| (*k, *v)));
    let inst = ctx.private_instance(&env).await.map_err(|e| CheckFailure {
        message: format!("the default-leeway half passed; {}", e.message),
        ..e
    })?;
    let pctx = ctx.with_target(&inst.base);
    let r = async {
        let (_, _, mut c) = claims(&pctx);
        c.insert("exp".into(), json!(now_secs() - 5));
        if let Err(e) = accept_claims(&pctx, &c).await {
            // refused as with leeway 0: unapplied setting (ERROR) or broken leeway (FAIL)
            return Err(ctx
                .unless_unapplied(&inst.base, ("JWT_LEEWAY_SECS", "30"), e)
                .await);
        }
        c.insert("exp".into(), json!(now_secs() - 60));
        reject_claims(&pctx, &c, "token_expired").await?;
        c.insert("exp".into(), json!(now_secs() + 600));
        c.insert("nbf".into(), json!(now_secs() + 10));
        accept_claims(&pctx, &c).await?;
        leeway_defers_expiry(&pctx, &mut c, 30).await
    }
    .await;
    inst.stop().await;
    r
}

/// AUTH-31 with LIFE-2 ("within 1 s of `exp + leeway`"): on an instance with
/// `leeway` seconds, a socket accepted inside the leeway is not expired at once,
/// and is expired within 1 s of `exp + leeway`. (Found by mutation testing: a
/// server that applied the leeway at CONNECT but not to the expiry timer passed.)
async fn leeway_defers_expiry(
    pctx: &Ctx,
    c: &mut serde_json::Map<String, Value>,
    leeway: i64,
) -> CheckResult {
    let exp = now_secs() - leeway + 3;
    c.remove("nbf");
    c.insert("exp".into(), json!(exp));
    let t = pctx.minter.sign(c)?;
    let (mut s, _) = accept(pctx, Some(json!({ "token": t })), &OpenOptions::default()).await?;
    let until = |extra_ms: i64| {
        Duration::from_millis(((exp + leeway) * 1000 + extra_ms - expect::now_ms()).max(0) as u64)
    };
    // quiet until 1 s before exp + leeway
    if let Err(got) = s.expect_silence(until(-1000)).await {
        return Err(CheckFailure::fail(format!(
            "a socket accepted inside the {leeway} s leeway (exp {} s ago) was not left alone until exp + leeway",
            leeway - 3
        ))
        .expected("nothing until exp + leeway, then TOKEN_EXPIRED")
        .actual(format!("{got:?}")));
    }
    ensure(
        !s.is_closed(),
        "a socket accepted inside the leeway was closed before exp + leeway",
        "open until exp + leeway",
        "closed",
    )?;
    s.wait_closed(until(1400)).await.map_err(|e| {
        CheckFailure::fail("the socket was not expired within 1 s of exp + leeway (LIFE-2)")
            .expected("TOKEN_EXPIRED, 41, then the connection closed")
            .actual(e)
    })?;
    Ok(())
}

async fn auth_32(ctx: Ctx) -> CheckResult {
    reject(
        &ctx,
        Some(json!({})),
        &OpenOptions::default(),
        "missing_token",
    )
    .await?;
    let (_, _, mut c) = claims(&ctx);
    c.insert("exp".into(), json!(now_secs() - 60));
    reject_claims(&ctx, &c, "token_expired").await?;
    // a bad signature on an expired token: claims are examined only after the signature
    let expired = ctx.minter.sign(&c)?;
    reject_token(&ctx, &tokens::tamper(&expired), "invalid_token").await?;
    reject_token(&ctx, &tokens::alg_none(&c), "invalid_token").await?;
    let (_, _, mut c) = claims(&ctx);
    c.remove("organizationId");
    reject_claims(&ctx, &c, "invalid_claims").await?;
    // the CONNECT_ERROR is on the profile namespace (checked by connect_ns) and validates (checked by reject)
    Ok(())
}

async fn auth_33(ctx: Ctx) -> CheckResult {
    let (org, user, mut c) = claims(&ctx);
    c.insert("exp".into(), json!(now_secs() - 60));
    let t = ctx.minter.sign(&c)?;
    let (mut cl, reply) = ctx
        .try_connect(Some(json!({ "token": t })), &OpenOptions::default())
        .await?;
    expect::connect_error(&reply, "token_expired")?;
    publish_to_auto_rooms(&ctx, &org, &user, "test:afterRejected").await?;
    let r = silence(&mut cl, 700, "after a CONNECT_ERROR").await;
    cl.close().await;
    r
}

async fn auth_34(ctx: Ctx) -> CheckResult {
    let (mut cl, reply) = ctx.try_connect(None, &OpenOptions::default()).await?;
    expect::connect_error(&reply, "missing_token")?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    if cl.is_closed() {
        ctx.tr
            .note("the connection was closed after the CONNECT_ERROR (allowed)");
        return Ok(());
    }
    let t = ctx.token(&ctx.uniq("org"), &ctx.uniq("u"))?;
    let nsp = ctx.nsp().to_string();
    match cl.connect_ns(&nsp, Some(json!({ "token": t }))).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(CheckFailure::fail("retry CONNECT with a valid token refused").actual(e))
        }
        Err(crate::client::ClientError::Closed(..)) => {
            ctx.tr.note("closed before the retry (allowed)");
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    }
    cl.expect_event("system:connected").await?;
    cl.close().await;
    Ok(())
}

async fn auth_35(ctx: Ctx) -> CheckResult {
    let mut env = vec![("ROOMCAST_CONNECT_TIMEOUT_MS", "500")];
    env.extend(WITNESS_SETTINGS.iter().map(|(k, v, _)| (*k, *v)));
    let inst = ctx.private_instance(&env).await?;
    let pctx = ctx.with_target(&inst.base);
    let r = async {
        // the lower bound: a connection that sends its CONNECT at half the
        // timeout is served (connectTimeout is the time a client is given)
        let mut late = pctx.open().await?;
        let opened = tokio::time::Instant::now();
        // one connection that never sends CONNECT, one whose CONNECT is refused:
        // neither has a namespace, both are closed once connectTimeout passes
        let mut idle = pctx.open().await?;
        let (mut refused, reply) = pctx
            .try_connect(
                Some(json!({ "token": "not-a-jwt" })),
                &OpenOptions::default(),
            )
            .await?;
        expect::connect_error(&reply, "invalid_token")?;
        tokio::time::sleep_until(opened + Duration::from_millis(250)).await;
        let token = pctx.token(&pctx.uniq("org"), &pctx.uniq("u"))?;
        let nsp = pctx.nsp().to_string();
        let served = late.connect_ns(&nsp, Some(json!({ "token": token }))).await;
        if !matches!(served, Ok(Ok(_))) {
            return Err(CheckFailure::fail(
                "a connection was closed (or refused) before connectTimeout passed",
            )
            .expected(
                "a CONNECT sent 250 ms after opening is answered (ROOMCAST_CONNECT_TIMEOUT_MS=500)",
            )
            .actual(format!("{served:?}")));
        }
        late.close().await;
        // 500 ms, plus slack for a loaded machine; the default (45 s) is far beyond
        let bound = Duration::from_millis(1500);
        let deadline = opened + bound;
        for (c, what) in [
            (&mut idle, "that never sent CONNECT"),
            (&mut refused, "whose CONNECT was refused"),
        ] {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            c.wait_closed(left).await.map_err(|e| {
                CheckFailure::fail(format!(
                    "a connection {what} stayed open past connectTimeout"
                ))
                .expected(format!(
                    "closed within {} ms of opening (ROOMCAST_CONNECT_TIMEOUT_MS=500)",
                    bound.as_millis()
                ))
                .actual(e)
            })?;
        }
        Ok(())
    }
    .await;
    let r = match r {
        Err(e) => Err(ctx
            .unless_unapplied(&inst.base, ("ROOMCAST_CONNECT_TIMEOUT_MS", "500"), e)
            .await),
        ok => ok,
    };
    inst.stop().await;
    r
}

/// AUTH-40 binds every implementation: the cookie and query sources must not
/// authenticate unless enabled by configuration. Against a spawned instance
/// (defaults) both are tried; against a running target, a source whose
/// feature is declared may have been enabled by its operator and is not tried.
async fn auth_40(ctx: Ctx) -> CheckResult {
    let (_, _, c) = claims(&ctx);
    let t = ctx.minter.sign(&c)?;
    let sources = [
        (
            "cookie-auth",
            "the accessToken cookie",
            header("cookie", format!("accessToken={t}")),
        ),
        (
            "query-auth",
            "the token query parameter",
            OpenOptions {
                query: Some(format!("token={t}")),
                ..OpenOptions::default()
            },
        ),
    ];
    let mut tried = 0;
    for (feature, what, opts) in sources {
        if ctx.cfg.spawn.is_none() && ctx.has_feature(feature) {
            ctx.tr.note(format!(
                "{what}: feature {feature} declared on a running target (may be enabled there)"
            ));
            continue;
        }
        tried += 1;
        reject(&ctx, None, &opts, "missing_token")
            .await
            .map_err(|e| CheckFailure {
                message: format!(
                    "{what} must not be a token source by default: {}",
                    e.message
                ),
                ..e
            })?;
    }
    if tried == 0 {
        return Err(CheckFailure::skip(
            "both sources are declared on a running target; run with --spawn to check their defaults",
        ));
    }
    Ok(())
}
