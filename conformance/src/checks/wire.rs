//! Checks of the WIRE group: Engine.IO v4 / Socket.IO v5 transport.

use super::common::{event_id_of, next_marker, publish_marker, recv_envelope, subscribe};
use crate::check;
use crate::client::{Incoming, OpenOptions, WsClient};
use crate::ctx::{ensure, ensure_json, CheckFailure, CheckResult, Ctx};
use crate::driver;
use crate::expect;
use crate::polling::{self, PollSession};
use crate::runner::CheckDef;
use protocol::engineio::Packet as Eio;
use protocol::socketio::{self, PacketData};
use serde_json::{json, Value};
use std::time::Duration;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "WIRE-1", Must, "WebSocket transport at /socket.io/ with EIO=4", wire_1),
    check!(id: "WIRE-2", Must, "Open packet carries exactly the five standard keys", wire_2),
    check!(id: "WIRE-3", Must, "A direct WebSocket offers no upgrades", wire_3),
    check!(id: "WIRE-4", Must, "The server pings and the client pongs", wire_4),
    check!(id: "WIRE-5", Must, "A missed pong closes the connection", wire_5),
    check!(id: "WIRE-6", Must, "Unsupported EIO version answers 400 code 5", wire_6),
    check!(id: "WIRE-7", Must, "Unknown transport answers 400 code 0", wire_7),
    check!(id: "WIRE-8", Must, "Unknown session id answers 400 code 1", wire_8),
    check!(id: "WIRE-9", Must, "A handshake by another method than GET answers 400 code 2", wire_9),
    check!(id: "WIRE-10", Must, "The profile is served on one configurable namespace", wire_10),
    check!(id: "WIRE-11", Must, "CONNECT to another namespace gets \"Invalid namespace\"", wire_11),
    check!(id: "WIRE-12", Must, "With a custom namespace, \"/\" is not served", wire_12),
    check!(id: "WIRE-13", Must, "A packet for a namespace that is not connected closes the connection", wire_13),
    check!(id: "WIRE-14", Should, "A second CONNECT to a connected namespace closes the connection", wire_14),
    check!(id: "WIRE-15", Must, "Node socket.io-client 4.x works unchanged", wire_15),
    check!(id: "WIRE-16", Must, "python-socketio works unchanged", wire_16),
    check!(id: "WIRE-17", Must, feature: "polling", "The browser bundle with default options works", wire_17),
    check!(id: "WIRE-18", Must, feature: "polling", "Long-polling handshake offers the websocket upgrade", wire_18),
    check!(id: "WIRE-19", Must, feature: "polling", "Long-polling payloads use the record separator", wire_19),
    check!(id: "WIRE-20", Must, feature: "polling", "Polling upgrades to WebSocket with the probe exchange", wire_20),
    check!(id: "WIRE-21", Must, feature: "polling", "Polling on an upgraded session is refused", wire_21),
    check!(id: "WIRE-22", Must, feature: "polling", "A second concurrent GET closes the session", wire_22),
    check!(id: "WIRE-23", Must, "The reference server passes the upstream protocol test suite", wire_23),
];

fn sio_url(ctx: &Ctx, query: &str) -> String {
    format!(
        "{}{}?{query}",
        ctx.target().trim_end_matches('/'),
        ctx.cfg.path
    )
}

/// Expects an Engine.IO handshake error: 400, JSON body `{code, message}` with this code.
async fn eio_error(ctx: &Ctx, method: &str, query: &str, code: u64) -> CheckResult {
    eio_error_with(ctx, method, query, code, &[], "").await
}

/// The headers of a WebSocket upgrade request (RFC 6455 §4.1).
const UPGRADE_HEADERS: [(&str, &str); 4] = [
    ("Connection", "Upgrade"),
    ("Upgrade", "websocket"),
    ("Sec-WebSocket-Version", "13"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

/// Like [`eio_error`], but as a WebSocket upgrade request: the error must be the
/// same JSON 400 there, not a 101 or an HTML page (stock engine.io gets this wrong).
async fn eio_upgrade_error(ctx: &Ctx, query: &str, code: u64) -> CheckResult {
    eio_error_with(
        ctx,
        "GET",
        query,
        code,
        &UPGRADE_HEADERS,
        " (WebSocket upgrade)",
    )
    .await
}

async fn eio_error_with(
    ctx: &Ctx,
    method: &str,
    query: &str,
    code: u64,
    headers: &[(&str, &str)],
    how: &str,
) -> CheckResult {
    let r = ctx
        .http(method, &sio_url(ctx, query), headers, None)
        .await?;
    let body = r.json().unwrap_or(Value::Null);
    ensure(
        r.status == 400 && body.get("code") == Some(&json!(code)),
        format!("{method} ?{query}{how} is not refused with code {code}"),
        format!("400 {{\"code\":{code},...}}"),
        format!("{} {}", r.status, r.text()),
    )?;
    expect::schema("eio-error.json", "the Engine.IO error body", &body)
}

/// Expects the connection to be closed (by the server) within the step timeout.
async fn closed(c: &mut WsClient, what: &str) -> CheckResult {
    let step = c.step();
    match c.wait_closed(step).await {
        Ok(_) => Ok(()),
        Err(e) => Err(
            CheckFailure::fail(format!("{what}: the connection was not closed"))
                .expected("the server closes the connection")
                .actual(e),
        ),
    }
}

async fn wire_1(ctx: Ctx) -> CheckResult {
    let c = ctx.open().await?;
    expect::schema("eio-open.json", "the open packet", &c.open)?;
    c.close().await;
    let url = format!(
        "{}/not-socket-io/?EIO=4&transport=websocket",
        crate::client::ws_base(ctx.target()).trim_end_matches('/')
    );
    match WsClient::open_url(&ctx.tr, &url, "/", &OpenOptions::default(), ctx.step()).await {
        Ok(c) => {
            c.close().await;
            Err(CheckFailure::fail("a WebSocket opened on another path")
                .expected("no upgrade (404)")
                .actual(url))
        }
        Err(_) => Ok(()),
    }
}

async fn wire_2(ctx: Ctx) -> CheckResult {
    let c = ctx.open().await?;
    let open = c.open.clone();
    c.close().await;
    expect::schema("eio-open.json", "the open packet", &open)?;
    let keys: Vec<&String> = open
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    ensure(
        keys.len() == 5,
        "the open packet does not have exactly five keys",
        "sid, upgrades, pingInterval, pingTimeout, maxPayload",
        &open,
    )?;
    if ctx.cfg.spawn.is_some() {
        for (k, v) in [
            ("pingInterval", 25000),
            ("pingTimeout", 20000),
            ("maxPayload", 1_000_000),
        ] {
            ensure_json(
                &format!("{k} (spawned with defaults)"),
                &json!(v),
                open.get(k).unwrap_or(&Value::Null),
            )?;
        }
    }
    Ok(())
}

async fn wire_3(ctx: Ctx) -> CheckResult {
    let c = ctx.open().await?;
    let open = c.open.clone();
    c.close().await;
    ensure_json(
        "upgrades on a direct WebSocket",
        &json!([]),
        open.get("upgrades").unwrap_or(&Value::Null),
    )
}

/// A context whose target pings at most every `interval` ms (pingTimeout
/// `timeout`): the target itself when its pingInterval is that short, else a
/// private instance.
async fn fast_ping(
    ctx: &Ctx,
    interval: u64,
    timeout: u64,
) -> Result<(Ctx, Option<crate::spawn::Instance>), CheckFailure> {
    let c = ctx.open().await?;
    let open = c.open.clone();
    c.close().await;
    let current = open
        .get("pingInterval")
        .and_then(Value::as_u64)
        .unwrap_or(25000);
    if current <= interval {
        return Ok((ctx.clone(), None));
    }
    let (interval, timeout) = (interval.to_string(), timeout.to_string());
    let inst = ctx
        .private_instance(&[
            ("ROOMCAST_PING_INTERVAL_MS", &interval),
            ("ROOMCAST_PING_TIMEOUT_MS", &timeout),
        ])
        .await?;
    // a setting the instance did not apply is an ERROR, not a slow heartbeat
    let applied = ctx
        .verify_open_settings(
            &inst.base,
            &[
                ("ROOMCAST_PING_INTERVAL_MS", &interval, "pingInterval"),
                ("ROOMCAST_PING_TIMEOUT_MS", &timeout, "pingTimeout"),
            ],
        )
        .await;
    if let Err(e) = applied {
        inst.stop().await;
        return Err(e);
    }
    Ok((ctx.with_target(&inst.base), Some(inst)))
}

async fn wire_4(ctx: Ctx) -> CheckResult {
    // 1 s: a client (this harness) that reads a ping late delays the next one on
    // a server that schedules pings from pongs; at 1 s that noise stays well
    // inside the ±25 % both bounds allow
    let (pctx, inst) = fast_ping(&ctx, 1000, 1000).await?;
    let r = async {
        let (mut c, _) = pctx.connect(&pctx.uniq("org"), &pctx.uniq("u")).await?;
        let interval = c
            .open
            .get("pingInterval")
            .and_then(Value::as_u64)
            .unwrap_or(1000);
        let window = Duration::from_millis(interval * 5 + 200);
        let mut pings = 0;
        let deadline = tokio::time::Instant::now() + window;
        while tokio::time::Instant::now() < deadline {
            match c.expect_silence(Duration::from_millis(50)).await {
                Ok(()) => {}
                Err(i) => {
                    return Err(
                        CheckFailure::fail("unexpected packet while waiting for pings")
                            .actual(format!("{i:?}")),
                    )
                }
            }
            let _ = &mut pings;
        }
        let at: Vec<u64> = pctx
            .tr
            .entries()
            .iter()
            .filter(|e| {
                e.chan == c.chan() && e.dir == crate::transcript::Dir::Recv && e.text == "2"
            })
            .map(|e| e.ms)
            .collect();
        pings = at.len();
        ensure(
            pings >= 3,
            "the server does not ping every pingInterval",
            format!("≥ 3 pings in {} ms", window.as_millis()),
            pings,
        )?;
        // both bounds: the gap between pings is the interval, not 1.5x (or 0.5x) of
        // it. A loaded machine only delays timers, so the shortest gap is the one
        // closest to the server's own schedule (the median drifted up under load)
        let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let shortest = gaps.iter().copied().min().unwrap_or(0);
        ensure(
            shortest * 4 >= interval * 3 && shortest * 4 <= interval * 5,
            "the server pings at another interval than its pingInterval",
            format!(
                "a shortest gap between pings of {interval} ms ± 25 % (pingInterval {interval})"
            ),
            format!("{shortest} ms (gaps {gaps:?})"),
        )?;
        let ack = c.emit_ack("system:ping", vec![]).await?;
        ensure(
            !ack.is_empty() && !c.is_closed(),
            "a client answering every ping was dropped",
            "still connected",
            format!("{ack:?}"),
        )?;
        c.close().await;
        Ok(())
    }
    .await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn wire_5(ctx: Ctx) -> CheckResult {
    let (pctx, inst) = fast_ping(&ctx, 300, 400).await?;
    let r = async {
        let org = pctx.uniq("org");
        let (mut silent, _) = pctx.connect(&org, &pctx.uniq("u")).await?;
        let (mut alive, _) = pctx.connect(&org, &pctx.uniq("u2")).await?;
        silent.set_auto_pong(false);
        let t = silent
            .open
            .get("pingInterval")
            .and_then(Value::as_u64)
            .unwrap_or(300)
            + silent
                .open
                .get("pingTimeout")
                .and_then(Value::as_u64)
                .unwrap_or(400);
        match silent
            .wait_closed(Duration::from_millis(t * 2 + 1000))
            .await
        {
            Ok(_) => {}
            Err(e) => {
                return Err(
                    CheckFailure::fail("a client that misses pongs stays connected")
                        .expected(format!("closed within ~{t} ms"))
                        .actual(e),
                )
            }
        }
        let m = publish_marker(&pctx, &format!("org:{org}")).await?;
        next_marker(&mut alive, &m, "the answering client").await?;
        alive.close().await;
        Ok(())
    }
    .await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn wire_6(ctx: Ctx) -> CheckResult {
    eio_error(&ctx, "GET", "EIO=3&transport=websocket", 5).await?;
    eio_error(&ctx, "GET", "transport=websocket", 5).await?;
    eio_error(&ctx, "GET", "EIO=5&transport=websocket", 5).await?;
    let url = format!(
        "{}{}?EIO=3&transport=websocket",
        crate::client::ws_base(ctx.target()),
        ctx.cfg.path
    );
    if let Ok(c) = WsClient::open_url(&ctx.tr, &url, "/", &OpenOptions::default(), ctx.step()).await
    {
        c.close().await;
        return Err(CheckFailure::fail("a WebSocket with EIO=3 was upgraded")
            .expected("400")
            .actual("101"));
    }
    Ok(())
}

async fn wire_7(ctx: Ctx) -> CheckResult {
    eio_error(&ctx, "GET", "EIO=4&transport=carrier-pigeon", 0).await?;
    eio_error(&ctx, "GET", "EIO=4", 0).await?;
    eio_upgrade_error(&ctx, "EIO=4&transport=carrier-pigeon", 0).await?;
    if !ctx.has_feature("polling") {
        eio_error(&ctx, "GET", "EIO=4&transport=polling", 0).await?;
    }
    Ok(())
}

async fn wire_8(ctx: Ctx) -> CheckResult {
    eio_error(&ctx, "GET", "EIO=4&transport=websocket&sid=nope", 1).await?;
    eio_upgrade_error(&ctx, "EIO=4&transport=websocket&sid=nope", 1).await?;
    if ctx.has_feature("polling") {
        eio_error(&ctx, "GET", "EIO=4&transport=polling&sid=nope", 1).await?;
    }
    Ok(())
}

async fn wire_9(ctx: Ctx) -> CheckResult {
    let t = if ctx.has_feature("polling") {
        "polling"
    } else {
        "websocket"
    };
    eio_error(&ctx, "POST", &format!("EIO=4&transport={t}"), 2).await?;
    eio_error(&ctx, "PUT", &format!("EIO=4&transport={t}"), 2).await
}

async fn check_profile_connect(pctx: &Ctx) -> CheckResult {
    let token = pctx.token(&pctx.uniq("org"), &pctx.uniq("u"))?;
    let mut c = pctx.open().await?;
    let nsp = pctx.nsp().to_string();
    let reply = c.connect_ns(&nsp, Some(json!({ "token": token }))).await?;
    let reply = reply
        .map_err(|e| CheckFailure::fail("CONNECT to the profile namespace refused").actual(e))?;
    let keys: Vec<&String> = reply
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    // with connection-state recovery, Socket.IO 4.8 adds the private session id `pid`
    let with_pid =
        pctx.has_feature("recovery") && keys == ["pid", "sid"] && reply["pid"].is_string();
    ensure(
        keys == ["sid"] || with_pid,
        "the CONNECT reply is not exactly {\"sid\"}",
        if pctx.has_feature("recovery") {
            "{\"sid\":\"...\"} or, with recovery, {\"sid\":\"...\",\"pid\":\"...\"}"
        } else {
            "{\"sid\":\"...\"}"
        },
        &reply,
    )?;
    ensure(
        reply.get("sid") != c.open.get("sid"),
        "the CONNECT reply's sid is the Engine.IO sid",
        "a distinct socket id",
        &reply,
    )?;
    c.close().await;
    Ok(())
}

async fn custom_ns(ctx: &Ctx) -> Result<(Ctx, Option<crate::spawn::Instance>), CheckFailure> {
    if ctx.nsp() != "/" {
        return Ok((ctx.clone(), None));
    }
    let inst = ctx
        .private_instance(&[("ROOMCAST_NAMESPACE", "/rt"), ("NAMESPACE", "/rt")])
        .await?;
    let mut p = ctx.with_target(&inst.base);
    let mut cfg = (*p.cfg).clone();
    cfg.namespace = "/rt".into();
    p.cfg = std::sync::Arc::new(cfg);
    Ok((p, Some(inst)))
}

async fn wire_10(ctx: Ctx) -> CheckResult {
    check_profile_connect(&ctx).await?;
    let (pctx, inst) = match custom_ns(&ctx).await {
        Ok(x) => x,
        Err(e) => {
            return Err(CheckFailure {
                message: format!("the default namespace passed; {}", e.message),
                ..e
            })
        }
    };
    let r = check_profile_connect(&pctx).await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn invalid_ns(ctx: &Ctx, c: &mut WsClient, nsp: &str, auth: Option<Value>) -> CheckResult {
    let reply = c.connect_ns(nsp, auth).await?;
    match reply {
        Err(p) => {
            ensure_json(
                &format!("CONNECT_ERROR for {nsp}"),
                &json!({"message": "Invalid namespace"}),
                &p,
            )?;
            expect::schema("connect-error.json", "the CONNECT_ERROR", &p)
        }
        Ok(v) => {
            let _ = ctx;
            Err(CheckFailure::fail(format!("CONNECT to {nsp} was accepted"))
                .expected("44 Invalid namespace")
                .actual(v))
        }
    }
}

async fn wire_11(ctx: Ctx) -> CheckResult {
    let token = ctx.token(&ctx.uniq("org"), &ctx.uniq("u"))?;
    let mut c = ctx.open().await?;
    invalid_ns(&ctx, &mut c, "/admin", Some(json!({ "token": token }))).await?;
    // the Engine.IO connection stays open: the profile namespace still connects on it
    let nsp = ctx.nsp().to_string();
    let r = c.connect_ns(&nsp, Some(json!({ "token": token }))).await?;
    r.map_err(|e| {
        CheckFailure::fail("the connection did not stay usable after Invalid namespace").actual(e)
    })?;
    c.close().await;
    Ok(())
}

async fn wire_12(ctx: Ctx) -> CheckResult {
    let (pctx, inst) = custom_ns(&ctx).await?;
    let r = async {
        let token = pctx.token(&pctx.uniq("org"), &pctx.uniq("u"))?;
        let mut c = pctx.open().await?;
        invalid_ns(&pctx, &mut c, "/", None).await?;
        c.close().await;
        let mut c = pctx.open().await?;
        invalid_ns(&pctx, &mut c, "/", Some(json!({ "token": token }))).await?;
        c.close().await;
        Ok(())
    }
    .await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn wire_13(ctx: Ctx) -> CheckResult {
    let other = if ctx.nsp() == "/other" {
        "/else"
    } else {
        "/other"
    };
    let mut c = ctx.open().await?;
    c.send_text(format!("42{other},[\"subscribe:site\",\"s1\"]"))
        .await?;
    closed(&mut c, "an EVENT for an unconnected namespace").await?;
    let mut c = ctx.open().await?;
    let ns_prefix = if ctx.nsp() == "/" {
        String::new()
    } else {
        format!("{},", ctx.nsp())
    };
    c.send_text(format!("42{ns_prefix}[\"subscribe:site\",\"s1\"]"))
        .await?;
    let step = c.step();
    match c.wait_closed(step).await {
        Ok((seen, _)) => ensure(
            seen.is_empty(),
            "packets were sent before closing (no socket exists)",
            "nothing",
            format!("{seen:?}"),
        ),
        Err(e) => Err(
            CheckFailure::fail("an EVENT before CONNECT did not close the connection").actual(e),
        ),
    }?;
    // Not only EVENTs: an ACK before CONNECT closes too (a mutant of the reference
    // server that ignored non-EVENT packets of unconnected namespaces survived).
    let mut c = ctx.open().await?;
    c.send_text(format!("43{ns_prefix}1[]")).await?;
    closed(&mut c, "an ACK before CONNECT").await?;
    // After the client's DISCONNECT the namespace is not connected any more (a
    // mutant of the reference server that forgot the DISCONNECT survived).
    let (mut c, _) = ctx.connect(&ctx.uniq("org"), &ctx.uniq("u")).await?;
    c.send_text(format!("41{ns_prefix}")).await?;
    c.send_text(format!("42{ns_prefix}[\"subscribe:site\",\"s1\"]"))
        .await?;
    closed(
        &mut c,
        "an EVENT after the client's DISCONNECT of the namespace",
    )
    .await
}

async fn wire_14(ctx: Ctx) -> CheckResult {
    let (mut c, _) = ctx.connect(&ctx.uniq("org"), &ctx.uniq("u")).await?;
    let token = ctx.token(&ctx.uniq("org"), &ctx.uniq("u"))?;
    let nsp = ctx.nsp().to_string();
    c.send_connect(&nsp, Some(json!({ "token": token.clone() })))
        .await?;
    closed(&mut c, "a second CONNECT").await?;
    // Once the client's DISCONNECT has left the namespace, no socket of the
    // connection is connected to it: a CONNECT connects again (a mutant of the
    // reference server that forgot the DISCONNECT and closed here survived).
    let (mut c, _) = ctx.connect(&ctx.uniq("org"), &ctx.uniq("u")).await?;
    let ns_prefix = if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    };
    c.send_text(format!("41{ns_prefix}")).await?;
    let reply = c.connect_ns(&nsp, Some(json!({ "token": token }))).await?;
    ensure(
        reply.is_ok(),
        "a CONNECT after the client's own DISCONNECT was refused",
        "a CONNECT reply",
        format!("{reply:?}"),
    )?;
    c.expect_event("system:connected").await?;
    c.close().await;
    Ok(())
}

async fn wire_15(ctx: Ctx) -> CheckResult {
    let Some(script) = ctx.cfg.node_driver.clone() else {
        return Err(CheckFailure::error(
            "the Node client driver was not found",
            driver::install_hint("node"),
        ));
    };
    driver::scenario(
        &ctx,
        "node",
        &[&script],
        json!({"transports": ["websocket"]}),
    )
    .await
}

async fn wire_16(ctx: Ctx) -> CheckResult {
    let Some((py, script)) = ctx.cfg.python_driver.clone() else {
        return Err(CheckFailure::error(
            "the python-socketio driver was not found",
            driver::install_hint("python"),
        ));
    };
    driver::scenario(
        &ctx,
        &py,
        &["-u", &script],
        json!({"transports": ["websocket"]}),
    )
    .await
}

async fn wire_17(ctx: Ctx) -> CheckResult {
    let Some(script) = ctx.cfg.node_driver.clone() else {
        return Err(CheckFailure::error(
            "the Node client driver was not found",
            driver::install_hint("node"),
        ));
    };
    driver::scenario(&ctx, "node", &[&script], json!({})).await
}

async fn wire_18(ctx: Ctx) -> CheckResult {
    let s = PollSession::handshake(&ctx, &[]).await?;
    expect::schema("eio-open.json", "the polling open packet", &s.open)?;
    ensure_json(
        "upgrades offered on polling",
        &json!(["websocket"]),
        s.open.get("upgrades").unwrap_or(&Value::Null),
    )
}

/// Polls until `n` Socket.IO-carrying messages arrived (or the step times out).
async fn poll_messages(ctx: &Ctx, s: &PollSession, n: usize) -> Result<Vec<String>, CheckFailure> {
    let mut msgs = Vec::new();
    let deadline = tokio::time::Instant::now() + ctx.step() * 2;
    while msgs.len() < n && tokio::time::Instant::now() < deadline {
        let (status, packets, text) = s.get(ctx).await?;
        ensure(
            status == 200,
            "a polling GET failed",
            "200",
            format!("{status} {text}"),
        )?;
        for p in packets {
            if let Eio::Message(m) = p {
                msgs.push(m);
            }
        }
    }
    Ok(msgs)
}

/// Each polling message decoded as one whole Socket.IO text packet.
fn sio_packets(msgs: &[String]) -> Result<Vec<socketio::Packet>, CheckFailure> {
    msgs.iter()
        .map(|m| match socketio::Decoder::new().decode_text(m) {
            Ok(Some(p)) => Ok(p),
            other => Err(
                CheckFailure::fail("a polling message is not one whole Socket.IO packet")
                    .expected("one text packet per record")
                    .actual(format!("{m:?}: {other:?}")),
            ),
        })
        .collect()
}

async fn wire_19(ctx: Ctx) -> CheckResult {
    let s = PollSession::handshake(&ctx, &[]).await?;
    let org = ctx.uniq("org");
    let token = ctx.token(&org, &ctx.uniq("u"))?;
    let ns = if ctx.nsp() == "/" {
        String::new()
    } else {
        format!("{},", ctx.nsp())
    };
    s.post(
        &ctx,
        &[Eio::Message(format!("0{ns}{}", json!({ "token": token })))],
    )
    .await?;
    let msgs = poll_messages(&ctx, &s, 2).await?;
    ensure(
        msgs.first()
            .is_some_and(|m| m.starts_with(&format!("0{ns}{{"))),
        "first message is not the CONNECT reply",
        "0{\"sid\":...}",
        format!("{msgs:?}"),
    )?;
    // two packets in one POST, joined by \x1e (after the CONNECT succeeded: an EVENT
    // sent before that would be a packet for an unconnected namespace, WIRE-13)
    s.post(
        &ctx,
        &[
            Eio::Message(format!("2{ns}1[\"subscribe:site\",\"s1\"]")),
            Eio::Message(format!("2{ns}2[\"system:ping\"]")),
        ],
    )
    .await?;
    let msgs = poll_messages(&ctx, &s, 2).await?;
    // exactly the two acks, each once (in either order: acks of two events
    // are not ordered), each a whole Socket.IO packet of its own
    let acks = sio_packets(&msgs)?;
    let by_id = |id: u64| {
        acks.iter()
            .filter(|p| {
                p.nsp == ctx.nsp() && matches!(&p.data, PacketData::Ack { ack, .. } if *ack == id)
            })
            .count()
    };
    ensure(
        acks.len() == 2 && by_id(1) == 1 && by_id(2) == 1,
        "the two packets of one POST were not answered by exactly two acks",
        format!("3{ns}1[…] and 3{ns}2[…], once each"),
        format!("{msgs:?}"),
    )?;
    ensure(
        msgs.iter().any(|m| {
            m.starts_with(&format!("3{ns}1["))
                && m.contains(&format!("\"room\":\"org:{org}:site:s1\""))
        }),
        "no subscribe ack over polling",
        format!("3{ns}1[{{\"ok\":true,...}}]"),
        format!("{msgs:?}"),
    )?;
    ensure(
        msgs.iter()
            .any(|m| m.starts_with(&format!("3{ns}2[")) && m.contains("pong")),
        "no ping ack over polling",
        format!("3{ns}2[{{\"pong\":true,...}}]"),
        format!("{msgs:?}"),
    )?;
    // a published event arrives by GET, as an EVENT packet of the namespace
    let b = ctx
        .publish_ok(&format!("org:{org}:site:s1"), "test:polled", json!(1))
        .await?;
    let msgs = poll_messages(&ctx, &s, 1).await?;
    let id = b.get("eventId").and_then(Value::as_str).unwrap_or("?");
    let events = sio_packets(&msgs)?;
    ensure(
        events.len() == 1
            && events.iter().all(|p| {
                p.nsp == ctx.nsp()
                    && matches!(&p.data, PacketData::Event { args, ack: None }
                        if args.first() == Some(&json!("test:polled")) && event_id_of(&args[1..]) == id)
            }),
        "published event not received over polling",
        format!("2{ns}[\"test:polled\",{{\"eventId\":\"{id}\",…}}]"),
        format!("{msgs:?}"),
    )?;
    // binary packets are b + base64 in a payload: a well-formed round trip of the codec
    let enc = protocol::engineio::payload::encode(&[
        Eio::Message("2".into()),
        Eio::Binary(bytes::Bytes::from_static(b"\x01\x02")),
    ]);
    ensure(
        enc == "42\x1ebAQI=",
        "harness codec check",
        "42\\x1ebAQI=",
        &enc,
    )
}

async fn upgraded(ctx: &Ctx) -> Result<(PollSession, WsClient, String), CheckFailure> {
    let s = PollSession::handshake(ctx, &[]).await?;
    let org = ctx.uniq("org");
    let token = ctx.token(&org, &ctx.uniq("u"))?;
    let ns = if ctx.nsp() == "/" {
        String::new()
    } else {
        format!("{},", ctx.nsp())
    };
    s.post(
        ctx,
        &[Eio::Message(format!("0{ns}{}", json!({ "token": token })))],
    )
    .await?;
    let msgs = poll_messages(ctx, &s, 2).await?;
    ensure(
        msgs.len() >= 2,
        "CONNECT over polling failed",
        "CONNECT reply and system:connected",
        format!("{msgs:?}"),
    )?;
    // a pending GET during the upgrade
    let pending = {
        let s2 = s.clone();
        let c2 = ctx.clone();
        tokio::spawn(async move { s2.get(&c2).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let url = format!(
        "{}{}?EIO=4&transport=websocket&sid={}",
        crate::client::ws_base(ctx.target()),
        ctx.cfg.path,
        s.sid
    );
    let mut ws = WsClient::open_url(
        &ctx.tr,
        &url,
        ctx.nsp(),
        &OpenOptions::default(),
        ctx.step(),
    )
    .await?;
    ws.recovery_offsets = ctx.has_feature("recovery");
    ws.send_text("2probe").await?;
    match ws.next_incoming(ctx.step(), "3probe").await? {
        Incoming::Engine(e) if e == r#"Pong("probe")"# => {}
        other => {
            return Err(CheckFailure::fail("the probe was not answered 3probe")
                .expected("3probe")
                .actual(format!("{other:?}")))
        }
    }
    let got = tokio::time::timeout(ctx.step(), pending)
        .await
        .map_err(|_| {
            CheckFailure::fail("the pending GET was not answered during the upgrade")
                .expected("6 (noop)")
        })?
        .map_err(|e| CheckFailure::fail(format!("pending GET task: {e}")))??;
    ensure(
        got.0 == 200 && matches!(got.1.as_slice(), [Eio::Noop]),
        "the pending GET was not answered with a noop",
        "200 6",
        format!("{} {}", got.0, got.2),
    )?;
    ws.send_text("5").await?;
    // a round trip over the WebSocket: the server has processed the upgrade
    // packet before anything else is tried on the session
    let ack = ws.emit_ack("system:ping", vec![]).await?;
    ensure(
        !ack.is_empty(),
        "no ping ack over the upgraded WebSocket",
        "a ping ack",
        format!("{ack:?}"),
    )?;
    Ok((s, ws, org))
}

async fn wire_20(ctx: Ctx) -> CheckResult {
    let (_, mut ws, org) = upgraded(&ctx).await?;
    ctx.publish_ok(&format!("org:{org}"), "test:upgraded", json!(1))
        .await?;
    recv_envelope(&mut ws, "test:upgraded").await?;
    ws.close().await;
    Ok(())
}

async fn wire_21(ctx: Ctx) -> CheckResult {
    let (s, mut ws, org) = upgraded(&ctx).await?;
    // a GET and a POST on the sid: both refused with code 3 (or 1), and the
    // POST's packets are not read
    let (status, _, text) = s.get(&ctx).await?;
    refused_on_upgraded("a polling GET", status, &text)?;
    let r = s
        .post_raw(&ctx, "42[\"subscribe:site\",\"via-polling\"]")
        .await?;
    refused_on_upgraded("a polling POST", r.status, &r.text())?;
    let ack = ws.emit_ack("system:ping", vec![]).await?;
    ensure(
        !ack.is_empty(),
        "the WebSocket session did not continue",
        "a ping ack",
        format!("{ack:?}"),
    )?;
    subscribe(&mut ws, "unit", "u1", &format!("org:{org}:unit:u1")).await?;
    ws.close().await;
    Ok(())
}

/// A polling request on an upgraded session: 400 with the JSON code 3 ("Bad request") or 1.
fn refused_on_upgraded(what: &str, status: u16, text: &str) -> CheckResult {
    let code = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("code").and_then(Value::as_u64));
    ensure(
        status == 400 && matches!(code, Some(1 | 3)),
        format!("{what} on an upgraded session was not refused"),
        "400 {\"code\":3,…} (or code 1)",
        format!("{status} {text}"),
    )
}

async fn wire_22(ctx: Ctx) -> CheckResult {
    let s = PollSession::handshake(&ctx, &[]).await?;
    let first = {
        let (s2, c2) = (s.clone(), ctx.clone());
        tokio::spawn(async move { s2.get(&c2).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (status, _, text) = s.get(&ctx).await?;
    ensure(
        status == 400,
        "a second concurrent GET was not refused",
        "400",
        format!("{status} {text}"),
    )?;
    // the session is closed: the pending GET ends too (a close packet, or 400)
    let pending = tokio::time::timeout(ctx.step(), first).await;
    ensure(
        matches!(pending, Ok(Ok(Ok(_)))),
        "the pending GET was not ended after the second GET",
        format!(
            "the first GET answered within {} ms (the session is closed)",
            ctx.step().as_millis()
        ),
        format!("{pending:?}"),
    )?;
    // the session is closed: a later request on the sid is refused
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = ctx
        .http(
            "GET",
            &polling::url(ctx.target(), &ctx.cfg.path, Some(&s.sid)),
            &[],
            None,
        )
        .await?;
    ensure(
        r.status == 400,
        "the session was not closed after the second GET",
        "400 on the sid",
        format!("{} {}", r.status, r.text()),
    )
}

async fn wire_23(_ctx: Ctx) -> CheckResult {
    Err(CheckFailure::skip(
        "binds the reference server only: its compliance mode is checked by the upstream socket.io-protocol test-suite, not by this harness",
    ))
}
