//! Checks of the ENV group: event names and the envelope.

use super::common::{accepted_id, expect_marker, publish_marker, recv_envelope, subscribe};
use crate::check;
use crate::client::WsClient;
use crate::ctx::{ensure, ensure_json, CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::runner::CheckDef;
use protocol::socketio::PacketData;
use serde_json::{json, Value};

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "ENV-1", Must, "Server events are named by type and carry one envelope", env_1),
    check!(id: "ENV-2", Must, "The envelope has exactly four keys", env_2),
    check!(id: "ENV-3", Must, "eventId is a lowercase UUID v4", env_3),
    check!(id: "ENV-4", Must, "Each event has its own eventId", env_4),
    check!(id: "ENV-5", Must, "timestamp is UTC with milliseconds and Z", env_5),
    check!(id: "ENV-6", Must, "payload is any JSON value", env_6),
    check!(id: "ENV-7", Must, "One event has one eventId and timestamp everywhere", env_7),
    check!(id: "ENV-8", Must, "Event types follow domain:action", env_8),
    check!(id: "ENV-9", Must, "Event types are at most 64 characters", env_9),
    check!(id: "ENV-10", Must, "system and auth are reserved for the server", env_10),
    check!(id: "ENV-11", Must, "system:connected follows a successful CONNECT", env_11),
    check!(id: "ENV-12", Must, "system:connected sid is the Socket.IO socket id", env_12),
    check!(id: "ENV-13", Must, "system:connected rooms are exactly the automatic rooms", env_13),
    check!(id: "ENV-14", Must, "role is omitted without a role claim and email is never echoed", env_14),
    check!(id: "ENV-15", Must, "system:error payload is exactly code and message", env_15),
    check!(id: "ENV-16", Must, "system:ping with an ack is answered pong", env_16),
    check!(id: "ENV-17", Must, "system:ping without an ack gets a system:pong event", env_17),
];

async fn member(ctx: &Ctx) -> Result<(WsClient, String, String, Value), CheckFailure> {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let (c, env) = ctx.connect(&org, &user).await?;
    Ok((c, org, user, env))
}

/// Every kind of server event the harness can provoke, as raw envelopes:
/// system:connected, a published event, system:error, system:pong.
async fn sample_envelopes(ctx: &Ctx) -> Result<Vec<(String, Value)>, CheckFailure> {
    let (mut c, org, _, connected) = member(ctx).await?;
    let mut out = vec![("system:connected".to_string(), connected)];
    ctx.publish_ok(
        &format!("org:{org}"),
        "dashboard:summaryUpdated",
        json!({"open": 3}),
    )
    .await?;
    out.push((
        "dashboard:summaryUpdated".into(),
        c.expect_event("dashboard:summaryUpdated").await?,
    ));
    c.emit("subscribe:site", vec![json!("bad id")]).await?;
    out.push(("system:error".into(), c.expect_event("system:error").await?));
    c.emit("system:ping", vec![]).await?;
    out.push(("system:pong".into(), c.expect_event("system:pong").await?));
    c.close().await;
    Ok(out)
}

async fn env_1(ctx: Ctx) -> CheckResult {
    let (mut c, org, _, _) = member(&ctx).await?;
    ctx.publish_ok(
        &format!("org:{org}"),
        "dashboard:summaryUpdated",
        json!({"open": 3}),
    )
    .await?;
    let p = c.next_sio("the published event").await?;
    match &p.data {
        PacketData::Event { args, ack } => {
            ensure(
                ack.is_none(),
                "a server event carries an ack id",
                "no ack id",
                format!("{ack:?}"),
            )?;
            // with connection-state recovery, Socket.IO 4.8 appends the
            // event's offset (a string) to every broadcast (FAN-11)
            let recovery_offset = ctx.has_feature("recovery")
                && args.len() == 3
                && args.get(2).is_some_and(Value::is_string);
            ensure(
                args.len() == 2 || recovery_offset,
                "the EVENT does not have exactly two elements",
                if ctx.has_feature("recovery") {
                    "[name, envelope] or [name, envelope, offset string]"
                } else {
                    "[name, envelope]"
                },
                Value::Array(args.clone()),
            )?;
            let name = args.first().cloned().unwrap_or(Value::Null);
            let ty = args
                .get(1)
                .and_then(|e| e.get("type"))
                .cloned()
                .unwrap_or(Value::Null);
            ensure_json("event name equals the envelope's type", &ty, &name)?;
            ensure_json("event name", &json!("dashboard:summaryUpdated"), &name)?;
        }
        other => {
            return Err(
                CheckFailure::fail("the server sent something else than an EVENT")
                    .expected("EVENT")
                    .actual(format!("{other:?}")),
            )
        }
    }
    c.close().await;
    Ok(())
}

async fn env_2(ctx: Ctx) -> CheckResult {
    for (ty, v) in sample_envelopes(&ctx).await? {
        expect::envelope(&v, Some(&ty)).map_err(|e| CheckFailure {
            message: format!("{ty}: {}", e.message),
            ..e
        })?;
    }
    Ok(())
}

async fn env_3(ctx: Ctx) -> CheckResult {
    for (ty, v) in sample_envelopes(&ctx).await? {
        let id = v.get("eventId").and_then(Value::as_str).unwrap_or("");
        ensure(
            expect::is_uuid_v4_lower(id),
            format!("{ty}: eventId is not a lowercase UUID v4"),
            "lowercase UUID v4",
            id,
        )?;
    }
    Ok(())
}

async fn env_4(ctx: Ctx) -> CheckResult {
    let mut ids = Vec::new();
    for (_, v) in sample_envelopes(&ctx)
        .await?
        .into_iter()
        .chain(sample_envelopes(&ctx).await?)
    {
        ids.push(
            v.get("eventId")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        );
    }
    let (mut c, org, _, _) = member(&ctx).await?;
    for i in 0..3 {
        let b = ctx
            .publish_ok(&format!("org:{org}"), "test:same", json!(i))
            .await?;
        ids.push(accepted_id(&b));
        c.expect_event("test:same").await?;
    }
    c.close().await;
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    ensure(
        sorted.len() == ids.len(),
        "two distinct events share an eventId",
        "distinct ids",
        ids.join(", "),
    )
}

async fn env_5(ctx: Ctx) -> CheckResult {
    let before = expect::now_ms();
    for (ty, v) in sample_envelopes(&ctx).await? {
        let ts = v.get("timestamp").and_then(Value::as_str).unwrap_or("");
        let Some(ms) = expect::parse_iso_ms(ts) else {
            return Err(
                CheckFailure::fail(format!("{ty}: timestamp is not toISOString form"))
                    .expected("YYYY-MM-DDTHH:MM:SS.sssZ")
                    .actual(ts),
            );
        };
        let after = expect::now_ms();
        ensure(
            ms >= before - 2000 && ms <= after + 2000,
            format!("{ty}: timestamp is not the time of the event"),
            format!("between {before} and {after} ms (±2 s clock skew)"),
            format!("{ts} = {ms} ms"),
        )?;
    }
    Ok(())
}

async fn env_6(ctx: Ctx) -> CheckResult {
    let (mut c, org, _, _) = member(&ctx).await?;
    let payloads = [
        json!({"a": [1, 2, {"b": null}], "ü": "✓ \"quoted\" \\ \u{1}"}),
        json!([1, "two", 3.5, false]),
        json!("a string"),
        json!(-12.25),
        json!(12345678901234_i64),
        json!(true),
        Value::Null,
        json!({}),
    ];
    for p in payloads {
        ctx.publish_ok(&format!("org:{org}"), "test:payload", p.clone())
            .await?;
        let e = recv_envelope(&mut c, "test:payload").await?;
        ensure_json("payload delivered unchanged", &p, &e.payload)?;
    }
    c.close().await;
    Ok(())
}

async fn env_7(ctx: Ctx) -> CheckResult {
    let org = ctx.uniq("org");
    let mut clients = Vec::new();
    for i in 0..3 {
        let (mut c, _) = ctx.connect(&org, &ctx.uniq(&format!("u{i}"))).await?;
        subscribe(&mut c, "site", "s1", &format!("org:{org}:site:s1")).await?;
        clients.push(c);
    }
    let b = ctx
        .publish_ok(
            &format!("org:{org}:site:s1"),
            "test:everywhere",
            json!({"n": 1}),
        )
        .await?;
    for c in clients.iter_mut() {
        let e = recv_envelope(c, "test:everywhere").await?;
        ensure_json(
            "eventId equals the 202's",
            b.get("eventId").unwrap_or(&Value::Null),
            &json!(e.event_id),
        )?;
        ensure_json(
            "timestamp equals the 202's",
            b.get("timestamp").unwrap_or(&Value::Null),
            &json!(e.timestamp),
        )?;
    }
    for c in clients {
        c.close().await;
    }
    Ok(())
}

async fn env_8(ctx: Ctx) -> CheckResult {
    let (mut c, org, _, _) = member(&ctx).await?;
    for ty in [
        "dashboard:summaryUpdated",
        "lobby:room_list",
        "a1_b2:x_Y9",
        "x:y",
    ] {
        ctx.publish_ok(&format!("org:{org}"), ty, json!(null))
            .await?;
        recv_envelope(&mut c, ty).await?;
    }
    let token = ctx.minter.publisher(None)?;
    for ty in [
        "Dash:x", "dash:X", "a_:b", "_a:b", "dash", "a:b:c", "a-b:c", "a:b-c", "1a:b", ":b", "a:",
        "a b:c",
    ] {
        let r = ctx
            .publish(
                &token,
                &json!({"room": format!("org:{org}"), "type": ty, "payload": null}),
            )
            .await?;
        expect::http_error(&r, 400, "INVALID_TYPE").map_err(|e| CheckFailure {
            message: format!("type {ty:?}: {}", e.message),
            ..e
        })?;
    }
    let m = publish_marker(&ctx, &format!("org:{org}")).await?;
    expect_marker(&mut c, &m, "a refused type was delivered").await?;
    c.close().await;
    Ok(())
}

async fn env_9(ctx: Ctx) -> CheckResult {
    let (mut c, org, _, _) = member(&ctx).await?;
    let t64 = format!("test:{}", "a".repeat(59));
    let t65 = format!("test:{}", "a".repeat(60));
    ctx.publish_ok(&format!("org:{org}"), &t64, json!(null))
        .await?;
    recv_envelope(&mut c, &t64).await?;
    let token = ctx.minter.publisher(None)?;
    let r = ctx
        .publish(
            &token,
            &json!({"room": format!("org:{org}"), "type": t65, "payload": null}),
        )
        .await?;
    expect::http_error(&r, 400, "INVALID_TYPE")?;
    c.close().await;
    Ok(())
}

async fn env_10(ctx: Ctx) -> CheckResult {
    let (mut c, org, _, _) = member(&ctx).await?;
    let token = ctx.minter.publisher(None)?;
    for ty in [
        "system:connected",
        "system:error",
        "auth:refresh",
        "system:anything",
    ] {
        let r = ctx
            .publish(
                &token,
                &json!({"room": format!("org:{org}"), "type": ty, "payload": {}}),
            )
            .await?;
        expect::http_error(&r, 400, "RESERVED_TYPE")?;
    }
    let m = publish_marker(&ctx, &format!("org:{org}")).await?;
    expect_marker(&mut c, &m, "a reserved type was delivered").await?;
    // a domain that merely starts like a reserved one is not reserved
    ctx.publish_ok(&format!("org:{org}"), "systems:x", json!(1))
        .await?;
    recv_envelope(&mut c, "systems:x").await?;
    c.close().await;
    Ok(())
}

/// Connects by hand: returns (client, CONNECT reply payload, system:connected envelope).
async fn connect_raw(
    ctx: &Ctx,
    claims: &serde_json::Map<String, Value>,
) -> Result<(WsClient, Value, Value), CheckFailure> {
    let t = ctx.minter.sign(claims)?;
    let mut c = ctx.open().await?;
    let nsp = ctx.nsp().to_string();
    let reply = c.connect_ns(&nsp, Some(json!({ "token": t }))).await?;
    let reply = reply.map_err(|e| CheckFailure::fail("valid token refused").actual(e))?;
    let p = c
        .next_sio("system:connected right after the CONNECT reply")
        .await?;
    let env = match p.data {
        PacketData::Event {
            mut args,
            ack: None,
        } if (args.len() == 2
            || (c.recovery_offsets && args.len() == 3 && args[2].is_string()))
            && args.first() == Some(&json!("system:connected")) =>
        {
            args.remove(1)
        }
        other => {
            return Err(CheckFailure::fail(
                "the first packet after the CONNECT reply is not system:connected",
            )
            .expected("42[\"system:connected\",{...}]")
            .actual(format!("{other:?}")))
        }
    };
    Ok((c, reply, env))
}

async fn env_11(ctx: Ctx) -> CheckResult {
    let (org, user) = (ctx.uniq("org"), ctx.uniq("u"));
    let mut claims = crate::tokens::client_claims(&org, &user);
    claims.insert("role".into(), json!("operator"));
    let (c, reply, env) = connect_raw(&ctx, &claims).await?;
    expect::envelope(&env, Some("system:connected"))?;
    expect::schema("system-connected.json", "system:connected", &env)?;
    let want = json!({
        "sid": reply.get("sid").cloned().unwrap_or(Value::Null),
        "userId": user,
        "organizationId": org,
        "role": "operator",
        "rooms": [format!("org:{org}"), format!("org:{org}:user:{user}")],
    });
    ensure_json(
        "system:connected payload",
        &want,
        env.get("payload").unwrap_or(&Value::Null),
    )?;
    c.close().await;
    Ok(())
}

async fn env_12(ctx: Ctx) -> CheckResult {
    let claims = crate::tokens::client_claims(&ctx.uniq("org"), &ctx.uniq("u"));
    let (c, reply, env) = connect_raw(&ctx, &claims).await?;
    let sid = reply.get("sid").cloned().unwrap_or(Value::Null);
    ensure(
        sid.is_string(),
        "the CONNECT reply has no sid",
        "{\"sid\":\"...\"}",
        &reply,
    )?;
    ensure_json(
        "payload.sid equals the CONNECT reply's sid",
        &sid,
        env.pointer("/payload/sid").unwrap_or(&Value::Null),
    )?;
    let eio = c.open.get("sid").cloned().unwrap_or(Value::Null);
    ensure(
        sid != eio,
        "payload.sid is the Engine.IO session id",
        "the Socket.IO socket id",
        &sid,
    )?;
    c.close().await;
    Ok(())
}

async fn env_13(ctx: Ctx) -> CheckResult {
    let (c, org, user, env) = member(&ctx).await?;
    // exactly these two, in either order (the organization room first is a SHOULD)
    let mut rooms = env
        .pointer("/payload/rooms")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(a) = rooms.as_array_mut() {
        a.sort_by_key(|r| r.as_str().map(str::len).unwrap_or(0));
    }
    ensure_json(
        "rooms are exactly the two automatic rooms",
        &json!([format!("org:{org}"), format!("org:{org}:user:{user}")]),
        &rooms,
    )?;
    c.close().await;
    Ok(())
}

async fn env_14(ctx: Ctx) -> CheckResult {
    let mut claims = crate::tokens::client_claims(&ctx.uniq("org"), &ctx.uniq("u"));
    claims.insert("email".into(), json!("u1@example.com"));
    let (c, _, env) = connect_raw(&ctx, &claims).await?;
    let p = env.get("payload").cloned().unwrap_or(Value::Null);
    ensure(
        p.get("role").is_none(),
        "role present without a role claim",
        "no role key",
        &p,
    )?;
    ensure(p.get("email").is_none(), "email echoed", "no email key", &p)?;
    c.close().await;
    claims.insert("role".into(), json!("admin"));
    let (c, _, env) = connect_raw(&ctx, &claims).await?;
    let p = env.get("payload").cloned().unwrap_or(Value::Null);
    ensure(p.get("email").is_none(), "email echoed", "no email key", &p)?;
    ensure_json(
        "role echoed",
        &json!("admin"),
        p.get("role").unwrap_or(&Value::Null),
    )?;
    c.close().await;
    Ok(())
}

async fn env_15(ctx: Ctx) -> CheckResult {
    let (mut c, _, _, _) = member(&ctx).await?;
    c.emit("subscribe:unit", vec![json!("bad id")]).await?;
    let v = c.expect_event("system:error").await?;
    expect::envelope(&v, Some("system:error"))?;
    expect::schema("system-error.json", "system:error", &v)?;
    let p = v.get("payload").cloned().unwrap_or(Value::Null);
    let keys: Vec<&String> = p
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    ensure(
        keys.len() == 2
            && p.get("code").is_some()
            && p.pointer("/message").is_some_and(Value::is_string),
        "payload is not exactly {code, message}",
        "{code, message}",
        &p,
    )?;
    ensure_json(
        "code",
        &json!("INVALID_ID"),
        p.get("code").unwrap_or(&Value::Null),
    )?;
    c.close().await;
    Ok(())
}

async fn env_16(ctx: Ctx) -> CheckResult {
    let (mut c, _, _, _) = member(&ctx).await?;
    for args in [vec![], vec![json!("ignored"), json!({"x": 1})]] {
        let before = expect::now_ms();
        let ack = c.emit_ack("system:ping", args).await?;
        let [a] = ack.as_slice() else {
            return Err(
                CheckFailure::fail("the ping ack does not have exactly one argument")
                    .actual(Value::Array(ack)),
            );
        };
        expect::schema("ping-ack.json", "the ping ack", a)?;
        let ts = a.get("timestamp").and_then(Value::as_str).unwrap_or("");
        let ms = expect::parse_iso_ms(ts).ok_or_else(|| {
            CheckFailure::fail("ping ack timestamp is not toISOString").actual(ts)
        })?;
        ensure(
            (ms - before).abs() < 5000,
            "ping ack timestamp is not the server time",
            "now",
            ts,
        )?;
    }
    c.close().await;
    Ok(())
}

async fn env_17(ctx: Ctx) -> CheckResult {
    let (mut c, _, _, _) = member(&ctx).await?;
    c.emit("system:ping", vec![json!("ignored")]).await?;
    let v = c.expect_event("system:pong").await?;
    expect::envelope(&v, Some("system:pong"))?;
    expect::schema("system-pong.json", "system:pong", &v)?;
    ensure(
        v.pointer("/payload/pong") == Some(&json!(true)),
        "payload.pong",
        "true",
        &v,
    )?;
    let ts = v
        .pointer("/payload/timestamp")
        .and_then(Value::as_str)
        .unwrap_or("");
    ensure(
        expect::parse_iso_ms(ts).is_some(),
        "payload.timestamp is not toISOString",
        "YYYY-MM-DDTHH:MM:SS.sssZ",
        ts,
    )?;
    c.close().await;
    Ok(())
}
