//! Checks of the ROOM group: room names, automatic rooms, subscriptions.

use super::common::{expect_marker, publish_marker, recv_envelope, subscribe, subscribe_many};
use crate::check;
use crate::client::WsClient;
use crate::ctx::{ensure, CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::runner::CheckDef;
use serde_json::{json, Value};

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "ROOM-1", Must, "Site and unit ids follow the id grammar", room_1),
    check!(id: "ROOM-2", Must, "Room names have four forms, organization first", room_2),
    check!(id: "ROOM-3", Must, "The organization of a subscription comes from the token", room_3),
    check!(id: "ROOM-4", Must, "A connected socket is in its organization room", room_4),
    check!(id: "ROOM-5", Must, "A connected socket is in its user room", room_5),
    check!(id: "ROOM-6", Must, "subscribe:site joins the site room", room_6),
    check!(id: "ROOM-7", Must, "subscribe:unit joins the unit room", room_7),
    check!(id: "ROOM-8", Must, "unsubscribe:site leaves the site room", room_8),
    check!(id: "ROOM-9", Must, "unsubscribe:unit leaves the unit room", room_9),
    check!(id: "ROOM-10", Must, "An invalid id is answered INVALID_ID", room_10),
    check!(id: "ROOM-11", Must, "The subscription limit is enforced with LIMIT_EXCEEDED", room_11),
    check!(id: "ROOM-12", Must, "The limit counts site and unit subscriptions only", room_12),
    check!(id: "ROOM-13", Must, "Resubscribing at the limit is ok", room_13),
    check!(id: "ROOM-14", Must, "Subscribing twice is ok and delivers once", room_14),
    check!(id: "ROOM-15", Must, "Unsubscribing from a room not held is ok", room_15),
    check!(id: "ROOM-16", Must, "Unknown client events are answered UNKNOWN_EVENT", room_16),
    check!(id: "ROOM-17", Must, "Without an ack, errors come as system:error", room_17),
    check!(id: "ROOM-18", Must, "Extra arguments are ignored", room_18),
    check!(id: "ROOM-19", Must, "Events reach the members of their room only", room_19),
];

/// A connected socket of a fresh organization: (client, org, user).
async fn member(ctx: &Ctx) -> Result<(WsClient, String, String), CheckFailure> {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let (c, _) = ctx.connect(&org, &user).await?;
    Ok((c, org, user))
}

/// Publishes into `room` and expects `c` to receive it as the next event.
async fn delivered(ctx: &Ctx, c: &mut WsClient, room: &str) -> CheckResult {
    let ty = "test:delivered";
    let b = ctx.publish_ok(room, ty, json!({ "room": room })).await?;
    let env = recv_envelope(c, ty).await?;
    ensure(
        Some(env.event_id.as_str()) == b.get("eventId").and_then(Value::as_str),
        format!("the event published into {room} did not arrive"),
        b,
        env.event_id,
    )
}

/// Publishes into `room`, then a marker into `org:{org}`: `c` must see only the marker.
async fn not_delivered(
    ctx: &Ctx,
    c: &mut WsClient,
    room: &str,
    org: &str,
    what: &str,
) -> CheckResult {
    ctx.publish_ok(room, "test:forbidden", json!({ "room": room }))
        .await?;
    let m = publish_marker(ctx, &format!("org:{org}")).await?;
    expect_marker(c, &m, what).await
}

async fn room_1(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    let long64: String = format!("{}{}", "A-z_9", "x".repeat(64))
        .chars()
        .take(64)
        .collect();
    for kind in ["site", "unit"] {
        for id in [long64.as_str(), "s_1-B"] {
            subscribe(&mut c, kind, id, &format!("org:{org}:{kind}:{id}")).await?;
        }
        let long65 = "y".repeat(65);
        for bad in ["a b", "a:b", "", long65.as_str(), "é", "a/b"] {
            let args = c
                .emit_ack(&format!("subscribe:{kind}"), vec![json!(bad)])
                .await?;
            expect::ack_err(&args, "INVALID_ID")?;
        }
    }
    c.close().await;
    Ok(())
}

async fn room_2(ctx: Ctx) -> CheckResult {
    let token = ctx.minter.publisher(None)?;
    let org = ctx.uniq("org");
    for room in [
        format!("org:{org}"),
        format!("org:{org}:site:s1"),
        format!("org:{org}:unit:u-7"),
        format!("org:{org}:user:u_1"),
    ] {
        let r = ctx
            .publish(
                &token,
                &json!({"room": room, "type": "test:form", "payload": null}),
            )
            .await?;
        ensure(
            r.status == 202,
            format!("a valid room name {room} was refused"),
            "202",
            format!("{} {}", r.status, r.text()),
        )?;
    }
    for room in [
        format!("org:{org}:floor:1"),
        org.clone(),
        "org:".to_string(),
        format!("org:{org}:site:"),
        format!("org:{org}:site:s1:unit:u1"),
        format!("site:s1:org:{org}"),
        format!("ORG:{org}"),
        format!("org:{org}:site:s 1"),
    ] {
        let r = ctx
            .publish(
                &token,
                &json!({"room": room, "type": "test:form", "payload": null}),
            )
            .await?;
        expect::http_error(&r, 400, "INVALID_ROOM")?;
    }
    Ok(())
}

async fn room_3(ctx: Ctx) -> CheckResult {
    let (mut a, org_a, _) = member(&ctx).await?;
    let (mut b, org_b, _) = member(&ctx).await?;
    for bad in [
        format!("{org_b}:site:s1"),
        format!("org:{org_b}:site:s1"),
        "other:site:s1".to_string(),
    ] {
        let args = a.emit_ack("subscribe:site", vec![json!(bad)]).await?;
        expect::ack_err(&args, "INVALID_ID")?;
    }
    subscribe(&mut a, "site", "s1", &format!("org:{org_a}:site:s1")).await?;
    subscribe(&mut b, "site", "s1", &format!("org:{org_b}:site:s1")).await?;
    delivered(&ctx, &mut a, &format!("org:{org_a}:site:s1")).await?;
    not_delivered(
        &ctx,
        &mut b,
        &format!("org:{org_a}:site:s1"),
        &org_b,
        "a socket of another organization",
    )
    .await?;
    a.close().await;
    b.close().await;
    Ok(())
}

async fn room_4(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    delivered(&ctx, &mut c, &format!("org:{org}")).await?;
    c.close().await;
    Ok(())
}

async fn room_5(ctx: Ctx) -> CheckResult {
    let (mut c, org, user) = member(&ctx).await?;
    let (mut other, _) = ctx.connect(&org, &ctx.uniq("u2")).await?;
    delivered(&ctx, &mut c, &format!("org:{org}:user:{user}")).await?;
    not_delivered(
        &ctx,
        &mut other,
        &format!("org:{org}:user:{user}"),
        &org,
        "another user's socket",
    )
    .await?;
    c.close().await;
    other.close().await;
    Ok(())
}

async fn join_and_receive(ctx: Ctx, kind: &str) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    let id = ctx.uniq(kind);
    let room = format!("org:{org}:{kind}:{id}");
    subscribe(&mut c, kind, &id, &room).await?;
    delivered(&ctx, &mut c, &room).await?;
    c.close().await;
    Ok(())
}

async fn room_6(ctx: Ctx) -> CheckResult {
    join_and_receive(ctx, "site").await
}

async fn room_7(ctx: Ctx) -> CheckResult {
    join_and_receive(ctx, "unit").await
}

async fn leave(ctx: Ctx, kind: &str) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    let id = ctx.uniq(kind);
    let room = format!("org:{org}:{kind}:{id}");
    subscribe(&mut c, kind, &id, &room).await?;
    delivered(&ctx, &mut c, &room).await?;
    let args = c
        .emit_ack(&format!("unsubscribe:{kind}"), vec![json!(id)])
        .await?;
    expect::ack_ok(&args, &room)?;
    not_delivered(&ctx, &mut c, &room, &org, "after unsubscribe").await?;
    c.close().await;
    Ok(())
}

async fn room_8(ctx: Ctx) -> CheckResult {
    leave(ctx, "site").await
}

async fn room_9(ctx: Ctx) -> CheckResult {
    leave(ctx, "unit").await
}

async fn room_10(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    let long = "z".repeat(65);
    for ev in [
        "subscribe:site",
        "subscribe:unit",
        "unsubscribe:site",
        "unsubscribe:unit",
    ] {
        let cases: Vec<Vec<Value>> = vec![
            vec![],
            vec![json!(42)],
            vec![json!("")],
            vec![json!(long)],
            vec![json!("a:b")],
            vec![json!("bad id")],
            vec![Value::Null],
            vec![json!({ "id": "s1" })],
        ];
        for args in cases {
            let ack = c.emit_ack(ev, args).await?;
            expect::ack_err(&ack, "INVALID_ID")?;
        }
    }
    // and nothing changed: "a:b" did not join anything odd, the org room still works alone
    not_delivered(
        &ctx,
        &mut c,
        &format!("org:{org}:site:a"),
        &org,
        "after rejected subscribes",
    )
    .await?;
    c.close().await;
    Ok(())
}

/// Subscribes 50 sites and 50 units (the default limit of 100); every ack must be ok.
async fn fill_to_limit(ctx: &Ctx, c: &mut WsClient, org: &str) -> CheckResult {
    let _ = ctx;
    for kind in ["site", "unit"] {
        let ids: Vec<String> = (0..50).map(|i| format!("{kind}{i}")).collect();
        let acks = subscribe_many(c, kind, &ids).await?;
        for (id, a) in ids.iter().zip(acks) {
            expect::ack_ok(&a, &format!("org:{org}:{kind}:{id}")).map_err(|e| CheckFailure {
                message: format!(
                    "subscription {kind} {id} below the limit of 100 was refused: {}",
                    e.message
                ),
                ..e
            })?;
        }
    }
    Ok(())
}

async fn room_11(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    fill_to_limit(&ctx, &mut c, &org).await?;
    for kind in ["unit", "site"] {
        let args = c
            .emit_ack(&format!("subscribe:{kind}"), vec![json!("over-the-limit")])
            .await?;
        expect::ack_err(&args, "LIMIT_EXCEEDED")?;
    }
    not_delivered(
        &ctx,
        &mut c,
        &format!("org:{org}:unit:over-the-limit"),
        &org,
        "a refused subscription joined its room",
    )
    .await?;
    c.close().await;
    Ok(())
}

async fn room_12(ctx: Ctx) -> CheckResult {
    let (mut c, org, user) = member(&ctx).await?;
    fill_to_limit(&ctx, &mut c, &org).await?;
    // the automatic rooms still work and were not displaced
    delivered(&ctx, &mut c, &format!("org:{org}:user:{user}")).await?;
    delivered(&ctx, &mut c, &format!("org:{org}:unit:unit49")).await?;
    c.close().await;
    Ok(())
}

async fn room_13(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    fill_to_limit(&ctx, &mut c, &org).await?;
    subscribe(&mut c, "site", "site7", &format!("org:{org}:site:site7")).await?;
    subscribe(&mut c, "unit", "unit0", &format!("org:{org}:unit:unit0")).await?;
    c.close().await;
    Ok(())
}

async fn room_14(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    let room = format!("org:{org}:site:twice");
    subscribe(&mut c, "site", "twice", &room).await?;
    subscribe(&mut c, "site", "twice", &room).await?;
    delivered(&ctx, &mut c, &room).await?;
    let m = publish_marker(&ctx, &format!("org:{org}")).await?;
    expect_marker(&mut c, &m, "a second copy of the event").await?;
    c.close().await;
    Ok(())
}

async fn room_15(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    for kind in ["site", "unit"] {
        let args = c
            .emit_ack(&format!("unsubscribe:{kind}"), vec![json!("never")])
            .await?;
        expect::ack_ok(&args, &format!("org:{org}:{kind}:never"))?;
    }
    c.close().await;
    Ok(())
}

async fn room_16(ctx: Ctx) -> CheckResult {
    let (mut c, _, _) = member(&ctx).await?;
    for (i, name) in [
        json!("chat:send"),
        json!("subscribe:floor"),
        json!("system:connected"),
        json!(42),
    ]
    .into_iter()
    .enumerate()
    {
        let id = 900 + i as u64;
        let p = protocol::socketio::Packet {
            nsp: c.nsp.clone(),
            data: protocol::socketio::PacketData::Event {
                args: vec![name, json!("hi")],
                ack: Some(id),
            },
        };
        c.send_sio(&p).await?;
        let args = c.wait_ack(id).await?;
        expect::ack_err(&args, "UNKNOWN_EVENT")?;
    }
    // still open
    let pong = c.emit_ack("system:ping", vec![]).await?;
    ensure(
        !pong.is_empty(),
        "the connection did not keep working after unknown events",
        "a ping ack",
        Value::Array(pong),
    )?;
    c.close().await;
    Ok(())
}

async fn room_17(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    let (mut other, _) = ctx.connect(&org, &ctx.uniq("u2")).await?;
    c.emit("subscribe:site", vec![json!("bad id")]).await?;
    let e = recv_envelope(&mut c, "system:error").await?;
    ensure(
        e.payload.get("code") == Some(&json!("INVALID_ID")),
        "system:error code",
        "INVALID_ID",
        &e.payload,
    )?;
    c.emit("chat:send", vec![json!("x")]).await?;
    let e = recv_envelope(&mut c, "system:error").await?;
    ensure(
        e.payload.get("code") == Some(&json!("UNKNOWN_EVENT")),
        "system:error code",
        "UNKNOWN_EVENT",
        &e.payload,
    )?;
    // a successful one without ack is silent
    c.emit("subscribe:site", vec![json!("fine")]).await?;
    let m = publish_marker(&ctx, &format!("org:{org}")).await?;
    expect_marker(&mut c, &m, "a successful subscribe without ack").await?;
    // the other socket saw none of the errors
    expect_marker(&mut other, &m, "system:error went to another socket").await?;
    c.close().await;
    other.close().await;
    Ok(())
}

async fn room_18(ctx: Ctx) -> CheckResult {
    let (mut c, org, _) = member(&ctx).await?;
    let args = c
        .emit_ack(
            "subscribe:site",
            vec![json!("s1"), json!({ "ignored": true }), json!(5)],
        )
        .await?;
    expect::ack_ok(&args, &format!("org:{org}:site:s1"))?;
    let args = c
        .emit_ack("unsubscribe:site", vec![json!("s1"), json!("extra")])
        .await?;
    expect::ack_ok(&args, &format!("org:{org}:site:s1"))?;
    c.close().await;
    Ok(())
}

async fn room_19(ctx: Ctx) -> CheckResult {
    let (mut a1, org_a, _) = member(&ctx).await?;
    let (mut a2, _) = ctx.connect(&org_a, &ctx.uniq("u2")).await?;
    let (mut b1, org_b, _) = member(&ctx).await?;
    // same site id and same user id in both organizations
    subscribe(
        &mut a1,
        "site",
        "shared",
        &format!("org:{org_a}:site:shared"),
    )
    .await?;
    subscribe(
        &mut b1,
        "site",
        "shared",
        &format!("org:{org_b}:site:shared"),
    )
    .await?;
    let room = format!("org:{org_a}:site:shared");
    // one publish into the site room: a1 only
    let b = ctx.publish_ok(&room, "test:site", json!(1)).await?;
    let id = b.get("eventId").cloned().unwrap_or(Value::Null);
    let e = recv_envelope(&mut a1, "test:site").await?;
    ensure(json!(e.event_id) == id, "site event id", &id, &e.event_id)?;
    let ma = publish_marker(&ctx, &format!("org:{org_a}")).await?;
    let mb = publish_marker(&ctx, &format!("org:{org_b}")).await?;
    expect_marker(&mut a1, &ma, "a second copy on the member").await?;
    expect_marker(
        &mut a2,
        &ma,
        "a socket of the organization not in the site room",
    )
    .await?;
    expect_marker(
        &mut b1,
        &mb,
        "a socket of another organization with the same site id",
    )
    .await?;
    // the organization room reaches both members of A and not B
    let b = ctx
        .publish_ok(&format!("org:{org_a}"), "test:orgwide", json!(1))
        .await?;
    let id = b.get("eventId").cloned().unwrap_or(Value::Null);
    for c in [&mut a1, &mut a2] {
        let e = recv_envelope(c, "test:orgwide").await?;
        ensure(
            json!(e.event_id) == id,
            "org-wide event id",
            &id,
            &e.event_id,
        )?;
    }
    let m = publish_marker(&ctx, &format!("org:{org_b}")).await?;
    expect_marker(&mut b1, &m, "an event of another organization").await?;
    for c in [a1, a2, b1] {
        c.close().await;
    }
    Ok(())
}
