//! Checks of the LIFE group: token expiry, refresh, disconnect, shutdown.

use super::common::{expect_marker, next_marker, publish_marker, subscribe};
use crate::check;
use crate::client::{ClientError, OpenOptions, WsClient};
use crate::ctx::{ensure, ensure_json, CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::runner::CheckDef;
use crate::tokens::{client_claims, now_secs};
use protocol::socketio::PacketData;
use serde_json::{json, Value};
use std::time::Duration;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "LIFE-1", Must, "An expiring socket gets system:error TOKEN_EXPIRED", life_1),
    check!(id: "LIFE-2", Must, "An expired socket is disconnected and its connection closed", life_2),
    check!(id: "LIFE-3", Must, feature: "refresh", "auth:refresh replaces the token", life_3),
    check!(id: "LIFE-4", Must, feature: "refresh", "A refreshed socket outlives its old exp", life_4),
    check!(id: "LIFE-5", Must, feature: "refresh", "Refresh requires the same user and organization", life_5),
    check!(id: "LIFE-6", Must, feature: "refresh", "A failed refresh is acked with AUTH_FAILED and the socket stays", life_6),
    check!(id: "LIFE-7", Must, feature: "refresh", "A failed refresh without an ack is a system:error", life_7),
    check!(id: "LIFE-8", Must, "After a disconnect nothing is delivered and memberships are gone", life_8),
    check!(id: "LIFE-9", Must, "A client DISCONNECT leaves all rooms", life_9),
    check!(id: "LIFE-10", Must, "SIGTERM stops accepting connections", life_10),
    check!(id: "LIFE-11", Must, "SIGTERM closes transports so that clients reconnect elsewhere", life_11),
    check!(id: "LIFE-12", Must, "SIGTERM exits within 10 s with status 0", life_12),
];

/// A socket whose token expires `secs` from now: (client, org, user, exp).
async fn expiring(ctx: &Ctx, secs: i64) -> Result<(WsClient, String, String, i64), CheckFailure> {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let mut c = client_claims(&org, &user);
    let exp = now_secs() + secs;
    c.insert("exp".into(), json!(exp));
    let t = ctx.minter.sign(&c)?;
    let (cl, _) = ctx.connect_token(&t).await?;
    Ok((cl, org, user, exp))
}

fn ms_until(exp_secs: i64, extra_ms: i64) -> Duration {
    let d = exp_secs * 1000 + extra_ms - expect::now_ms();
    Duration::from_millis(d.max(0) as u64)
}

/// Waits for `system:error` with `code` (other events fail the check).
async fn expect_system_error(c: &mut WsClient, code: &str, within: Duration) -> CheckResult {
    let p = c
        .next_sio_within(within, &format!("system:error {code}"))
        .await?;
    match p.data {
        PacketData::Event { args, .. } if args.first() == Some(&json!("system:error")) => {
            let env = args.get(1).cloned().unwrap_or(Value::Null);
            ensure_json(
                "system:error code",
                &json!(code),
                env.pointer("/payload/code").unwrap_or(&Value::Null),
            )
        }
        other => Err(CheckFailure::fail(format!("expected system:error {code}"))
            .actual(format!("{other:?}"))),
    }
}

async fn life_1(ctx: Ctx) -> CheckResult {
    let (mut c, _, _, exp) = expiring(&ctx, 2).await?;
    expect_system_error(&mut c, "TOKEN_EXPIRED", ms_until(exp, 1500)).await?;
    c.close().await;
    Ok(())
}

async fn life_2(ctx: Ctx) -> CheckResult {
    let (mut c, _, _, exp) = expiring(&ctx, 2).await?;
    let (seen, close) = c
        .wait_closed(ms_until(exp, 1000 + 400))
        .await
        .map_err(|e| {
            CheckFailure::fail("the expired socket's connection was not closed within 1 s of exp")
                .expected("41 then the connection closed")
                .actual(e)
        })?;
    let disconnect = seen
        .iter()
        .any(|p| matches!(p.data, PacketData::Disconnect));
    ensure(
        disconnect,
        "no Socket.IO DISCONNECT before the close",
        "41",
        format!("{seen:?} then {close}"),
    )
}

async fn refresh(c: &mut WsClient, token: Value) -> Result<Value, CheckFailure> {
    let ack = c.emit_ack("auth:refresh", vec![token]).await?;
    let [a] = ack.as_slice() else {
        return Err(
            CheckFailure::fail("the refresh ack does not have one argument")
                .actual(Value::Array(ack)),
        );
    };
    expect::schema("refresh-ack.json", "the refresh ack", a)?;
    Ok(a.clone())
}

/// Expects the failed refresh ack for `reason`: exactly `{ok, error: {code,
/// message, reason}}`; the message is any non-empty string (LIFE-6: its text
/// SHOULD be the CONNECT_ERROR's, clients key on `code` and `reason`).
fn ensure_refused(what: &str, reason: &str, got: &Value) -> CheckResult {
    let want = failed_ack(reason);
    let mut got = got.clone();
    let readable = got
        .pointer("/error/message")
        .and_then(Value::as_str)
        .is_some_and(|m| !m.is_empty());
    if readable {
        got["error"]["message"] = want["error"]["message"].clone();
    }
    ensure_json(what, &want, &got)
}

fn failed_ack(reason: &str) -> Value {
    let msg = if reason == "missing_token" {
        "Authentication token required"
    } else {
        "Invalid or expired token"
    };
    json!({"ok": false, "error": {"code": "AUTH_FAILED", "message": msg, "reason": reason}})
}

async fn life_3(ctx: Ctx) -> CheckResult {
    let (mut c, org, user, _) = expiring(&ctx, 60).await?;
    let mut cl = client_claims(&org, &user);
    let new_exp = now_secs() + 7200;
    cl.insert("exp".into(), json!(new_exp));
    let t = ctx.minter.sign(&cl)?;
    let a = refresh(&mut c, json!({ "token": t })).await?;
    ensure_json("refresh ack", &json!({"ok": true, "exp": new_exp}), &a)?;
    // the CONNECT's presence rule (AUTH-9): no token is missing_token,
    // a present non-string token is invalid_token
    for (bad, reason) in [
        (json!("just-a-string"), "missing_token"),
        (json!({}), "missing_token"),
        (json!({"token": ""}), "missing_token"),
        (json!({"token": 5}), "invalid_token"),
        (json!({"token": null}), "invalid_token"),
        (json!({"token": ["x"]}), "invalid_token"),
    ] {
        let a = refresh(&mut c, bad.clone()).await?;
        ensure_refused(&format!("refresh with {bad}"), reason, &a)?;
    }
    c.close().await;
    Ok(())
}

async fn life_4(ctx: Ctx) -> CheckResult {
    let (mut c, org, user, old_exp) = expiring(&ctx, 2).await?;
    subscribe(&mut c, "site", "s1", &format!("org:{org}:site:s1")).await?;
    let mut cl = client_claims(&org, &user);
    let new_exp = old_exp + 2;
    cl.insert("exp".into(), json!(new_exp));
    let a = refresh(&mut c, json!({ "token": ctx.minter.sign(&cl)? })).await?;
    ensure_json("refresh ack", &json!({"ok": true, "exp": new_exp}), &a)?;
    // past the old exp (+1 s for the LIFE-2 grace): still connected, rooms unchanged
    tokio::time::sleep(ms_until(old_exp, 1100)).await;
    let m = publish_marker(&ctx, &format!("org:{org}:site:s1")).await?;
    next_marker(&mut c, &m, "the refreshed socket")
        .await
        .map_err(|e| CheckFailure {
            message: format!("after the old exp: {}", e.message),
            ..e
        })?;
    // and expired at the new exp
    expect_system_error(&mut c, "TOKEN_EXPIRED", ms_until(new_exp, 1500)).await?;
    c.close().await;
    Ok(())
}

async fn life_5(ctx: Ctx) -> CheckResult {
    let (mut c, org, user, _) = expiring(&ctx, 60).await?;
    for (o, u) in [
        (org.clone(), ctx.uniq("other")),
        (ctx.uniq("orgx"), user.clone()),
    ] {
        let t = ctx.minter.sign(&client_claims(&o, &u))?;
        let a = refresh(&mut c, json!({ "token": t })).await?;
        ensure_refused(&format!("refresh as {u} of {o}"), "invalid_claims", &a)?;
    }
    c.close().await;
    Ok(())
}

async fn life_6(ctx: Ctx) -> CheckResult {
    let (mut c, org, user, exp) = expiring(&ctx, 3).await?;
    let mut cl = client_claims(&org, &user);
    cl.insert("exp".into(), json!(now_secs() - 1));
    let a = refresh(&mut c, json!({ "token": ctx.minter.sign(&cl)? })).await?;
    ensure_refused("failed refresh ack", "token_expired", &a)?;
    let a = refresh(&mut c, json!({ "token": "not-a-jwt" })).await?;
    ensure_refused("failed refresh ack", "invalid_token", &a)?;
    // the socket stays
    let pong = c.emit_ack("system:ping", vec![]).await?;
    ensure(
        !pong.is_empty(),
        "the socket did not stay after a failed refresh",
        "a ping ack",
        Value::Array(pong),
    )?;
    // and the old exp still applies
    expect_system_error(&mut c, "TOKEN_EXPIRED", ms_until(exp, 1500)).await?;
    c.close().await;
    Ok(())
}

async fn life_7(ctx: Ctx) -> CheckResult {
    let (mut c, _, _, _) = expiring(&ctx, 60).await?;
    c.emit("auth:refresh", vec![json!({ "token": "not-a-jwt" })])
        .await?;
    expect_system_error(&mut c, "AUTH_FAILED", ctx.step()).await?;
    let pong = c.emit_ack("system:ping", vec![]).await?;
    ensure(
        !pong.is_empty(),
        "the socket did not stay",
        "a ping ack",
        Value::Array(pong),
    )?;
    c.close().await;
    Ok(())
}

/// A fresh connection of the same user must start with the automatic rooms only.
async fn fresh_start(ctx: &Ctx, org: &str, user: &str) -> CheckResult {
    let (mut c, env) = ctx.connect(org, user).await?;
    ensure_json(
        "a reconnect starts with the two automatic rooms",
        &json!([format!("org:{org}"), format!("org:{org}:user:{user}")]),
        env.pointer("/payload/rooms").unwrap_or(&Value::Null),
    )?;
    ctx.publish_ok(&format!("org:{org}:site:s1"), "test:stale", json!(1))
        .await?;
    let m = publish_marker(ctx, &format!("org:{org}")).await?;
    expect_marker(&mut c, &m, "an event of a room held before the disconnect").await?;
    c.close().await;
    Ok(())
}

async fn life_8(ctx: Ctx) -> CheckResult {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let (mut c, _) = ctx.connect(&org, &user).await?;
    subscribe(&mut c, "site", "s1", &format!("org:{org}:site:s1")).await?;
    c.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    fresh_start(&ctx, &org, &user).await
}

async fn life_9(ctx: Ctx) -> CheckResult {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let (mut c, _) = ctx.connect(&org, &user).await?;
    subscribe(&mut c, "site", "s1", &format!("org:{org}:site:s1")).await?;
    let nsp = c.nsp.clone();
    c.send_sio(&protocol::socketio::Packet {
        nsp,
        data: PacketData::Disconnect,
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    ctx.publish_ok(&format!("org:{org}:site:s1"), "test:after", json!(1))
        .await?;
    ctx.publish_ok(&format!("org:{org}"), "test:after", json!(2))
        .await?;
    if let Err(i) = c.expect_silence(Duration::from_millis(500)).await {
        return Err(
            CheckFailure::fail("an event was delivered after the client DISCONNECT")
                .expected("nothing")
                .actual(format!("{i:?}")),
        );
    }
    c.close().await;
    fresh_start(&ctx, &org, &user).await
}

/// Starts a private instance with one connected socket, then sends SIGTERM.
async fn terminated(ctx: &Ctx) -> Result<(crate::spawn::Instance, Ctx, WsClient), CheckFailure> {
    let inst = ctx.private_instance(&[]).await?;
    let pctx = ctx.with_target(&inst.base);
    let (c, _) = pctx.connect(&pctx.uniq("org"), &pctx.uniq("u")).await?;
    ctx.tr.note("SIGTERM");
    inst.sigterm();
    Ok((inst, pctx, c))
}

async fn life_10(ctx: Ctx) -> CheckResult {
    let (inst, pctx, c) = terminated(&ctx).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = async {
        let token = pctx.token(&pctx.uniq("org"), &pctx.uniq("u"))?;
        if let Ok(mut n) = crate::client::WsClient::open(
            &pctx.tr,
            pctx.target(),
            &pctx.cfg.path,
            pctx.nsp(),
            &Default::default(),
            pctx.step(),
        )
        .await
        {
            let nsp = pctx.nsp().to_string();
            if let Ok(Ok(_)) = n.connect_ns(&nsp, Some(json!({ "token": token }))).await {
                return Err(CheckFailure::fail("a new socket connected after SIGTERM")
                    .expected("refused")
                    .actual("CONNECT reply"));
            }
        }
        let t = pctx.minter.publisher(None)?;
        if let Ok(r) = pctx
            .publish(
                &t,
                &json!({"room": "org:x", "type": "test:late", "payload": 1}),
            )
            .await
        {
            ensure(
                r.status != 202,
                "a publish was accepted after SIGTERM",
                "refused (503 or no connection)",
                r.status,
            )?;
        }
        Ok(())
    }
    .await;
    drop(c);
    inst.stop().await;
    r
}

async fn life_11(ctx: Ctx) -> CheckResult {
    let (inst, _pctx, mut c) = terminated(&ctx).await?;
    let r = match c.wait_closed(Duration::from_secs(10)).await {
        Ok((seen, close)) => {
            let disconnect = seen
                .iter()
                .any(|p| matches!(p.data, PacketData::Disconnect));
            ensure(
                !disconnect,
                "a Socket.IO DISCONNECT (41) on SIGTERM: socket.io-client reports it as 'io server disconnect' and does not reconnect",
                "no 41, a close frame 1001 (or 1000)",
                format!("{seen:?} then {close}"),
            )
            .and_then(|_| {
                ensure(
                    matches!(close.code, Some(1000 | 1001)),
                    "the WebSocket was not closed with a close frame 1000/1001",
                    "close frame 1001 (or 1000)",
                    &close,
                )
            })
        }
        Err(ClientError::Timeout { .. }) => Err(CheckFailure::fail(
            "the socket was not disconnected within 10 s of SIGTERM",
        )),
        Err(e) => Err(e.into()),
    };
    inst.stop().await;
    r?;
    reconnects_elsewhere(&ctx).await
}

/// LIFE-11 with a real socket.io-client (default reconnection, no code of its own)
/// behind a balancer in front of instances A and B: A gets SIGTERM; the client must be
/// connected to B within 5 s.
async fn reconnects_elsewhere(ctx: &Ctx) -> CheckResult {
    let Some(script) = ctx.cfg.node_driver.clone() else {
        return Err(CheckFailure::fail("the Node client driver was not found: give --node-driver fixtures/clients/node/driver.js (after npm ci); LIFE-11 checks that a real socket.io-client reconnects"));
    };
    let a = ctx.private_instance(&[]).await?;
    let b = match ctx.private_instance(&[]).await {
        Ok(b) => b,
        Err(e) => {
            a.stop().await;
            return Err(e);
        }
    };
    let r = async {
        let lb = crate::balancer::Failover::start(vec![a.port, b.port])
            .await
            .map_err(|e| CheckFailure::fail(format!("cannot start the test balancer: {e}")))?;
        ctx.tr.note(format!(
            "balancer {} in front of A {} and B {}",
            lb.url(),
            a.base,
            b.base
        ));
        let mut d = crate::driver::Driver::start(ctx, "node", &[&script]).await?;
        // on failure the transcript shows where the balancer sent each connection
        let explain = |lb: &crate::balancer::Failover, e: CheckFailure| {
            ctx.tr.note(format!("balancer: {}", lb.log().join("; ")));
            e
        };
        let r = async {
            let token = ctx.token(&ctx.uniq("org"), &ctx.uniq("u"))?;
            d.send(
                json!({"cmd": "connect", "id": "c1", "url": lb.url(), "nsp": ctx.nsp(),
                          "opts": {"auth": {"token": token}, "reconnection": true}}),
            )
            .await?;
            let t = Duration::from_secs(10);
            d.wait(|v| v["ev"] == "connect", t, "connect through the balancer")
                .await?;
            ctx.tr.note("SIGTERM instance A");
            a.sigterm();
            let gone = d
                .wait(
                    |v| v["ev"] == "disconnect",
                    t,
                    "the disconnect after SIGTERM",
                )
                .await?;
            ensure(
                gone["reason"] != "io server disconnect",
                "socket.io-client was told 'io server disconnect' (a 41): it does not reconnect",
                "a transport close",
                &gone["reason"],
            )?;
            d.wait(
                |v| v["ev"] == "connect",
                Duration::from_secs(5),
                "a reconnect to instance B within 5 s of losing A",
            )
            .await?;
            Ok(())
        }
        .await
        .map_err(|e| explain(&lb, e));
        d.stop().await;
        r
    }
    .await;
    if r.is_err() {
        ctx.tr
            .note(format!("instance A's last output:\n{}", a.log.tail(15)));
    }
    a.stop().await;
    b.stop().await;
    r
}

async fn life_12(ctx: Ctx) -> CheckResult {
    let mut inst = ctx.private_instance(&[]).await?;
    let pctx = ctx.with_target(&inst.base);
    let r = async {
        // clients that do not cooperate in the shutdown: one that stopped
        // reading (it never answers the close frame), a bare Engine.IO
        // connection, and a TCP connection with half an HTTP request; next to
        // one that reads
        let (reading, _) = pctx.connect(&pctx.uniq("org"), &pctx.uniq("u")).await?;
        let opts = OpenOptions {
            recv_buffer: Some(4096),
            ..OpenOptions::default()
        };
        let mut stalled = pctx.open_at(0, &opts).await?;
        let token = pctx.token(&pctx.uniq("org"), &pctx.uniq("u"))?;
        let nsp = pctx.nsp().to_string();
        stalled
            .connect_ns(&nsp, Some(json!({ "token": token })))
            .await?
            .map_err(|e| CheckFailure::fail("the CONNECT was refused").actual(e))?;
        stalled.expect_event("system:connected").await?;
        stalled.set_paused(true);
        let bare = pctx.open().await?;
        let addr = inst.base.trim_start_matches("http://").to_string();
        let mut half = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|e| CheckFailure::fail(format!("connect {addr}: {e}")))?;
        tokio::io::AsyncWriteExt::write_all(&mut half, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .map_err(|e| CheckFailure::fail(format!("write: {e}")))?;
        ctx.tr
            .note("SIGTERM (a reading socket, a stalled one, a bare connection, half a request)");
        inst.sigterm();
        let start = std::time::Instant::now();
        let status = inst.wait_exit(Duration::from_secs(11)).await;
        let took = start.elapsed();
        drop((reading, stalled, bare, half));
        match status {
            None => Err(
                CheckFailure::fail("the process did not exit within 10 s of SIGTERM")
                    .expected("exit within 10 s, whatever the clients do")
                    .actual("still running after 11 s"),
            ),
            Some(s) => ensure(
                took <= Duration::from_secs(10),
                "exit took longer than 10 s",
                "≤ 10 s",
                format!("{} ms", took.as_millis()),
            )
            .and_then(|_| {
                ensure(
                    s == "exit status: 0",
                    "exit status after SIGTERM is not 0",
                    "exit status: 0",
                    &s,
                )
            }),
        }
    }
    .await;
    inst.stop().await;
    r
}
