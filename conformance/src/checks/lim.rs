//! Checks of the LIM group: limits, bad input, slow consumers.

use super::common::{expect_marker, publish_marker, subscribe};
use crate::attack::rss_kib;
use crate::check;
use crate::client::OpenOptions;
use crate::ctx::{ensure, CheckFailure, CheckResult, Ctx};
use crate::polling::PollSession;
use crate::runner::CheckDef;
use bytes::Bytes;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "LIM-1", Must, "A WebSocket message above maxPayload closes the connection", lim_1),
    check!(id: "LIM-2", Must, feature: "polling", "A polling POST above maxPayload is refused", lim_2),
    check!(id: "LIM-3", Must, "A malformed Socket.IO packet closes the connection", lim_3),
    check!(id: "LIM-4", Must, "Invalid JSON in a packet closes the connection", lim_4),
    check!(id: "LIM-5", Must, "An unknown Engine.IO packet type closes the connection", lim_5),
    check!(id: "LIM-6", Must, "An unknown Socket.IO packet type closes the connection", lim_6),
    check!(id: "LIM-7", Must, "A reserved event name from the client closes the connection", lim_7),
    check!(id: "LIM-8", Must, "Binary where none is expected closes the connection", lim_8),
    check!(id: "LIM-9", Must, "More than 10 attachments closes the connection", lim_9),
    check!(id: "LIM-10", Must, "Bad input never harms other connections or the process", lim_10),
    check!(id: "LIM-11", Must, "A client that stops reading is dropped when its queue is full", lim_11),
    check!(id: "LIM-12", Must, "A slow consumer does not slow the others", lim_12),
    check!(id: "LIM-13", Must, "Memory stays bounded with slow consumers", lim_13),
];

/// One bad input: a text frame, on a connected socket or a bare connection.
#[derive(Clone, Copy)]
enum Bad {
    /// Sent after a successful CONNECT (namespace prefix added for a custom namespace).
    Connected(&'static str),
    /// Sent on a fresh Engine.IO connection, before any CONNECT.
    Bare(&'static str),
    /// A binary frame on a connected socket.
    Binary,
}

fn with_ns(ctx: &Ctx, frame: &str) -> String {
    // insert "/ns," after the two type digits of a Socket.IO message when the namespace is custom
    if ctx.nsp() == "/" || !frame.starts_with('4') || frame.len() < 2 {
        return frame.to_string();
    }
    let (head, rest) = frame.split_at(2);
    if rest.starts_with(|c: char| c.is_ascii_digit() && head.ends_with('5')) {
        return frame.to_string();
    }
    format!("{head}{},{rest}", ctx.nsp())
}

/// Sends the bad input and expects that connection to close.
async fn closes(ctx: &Ctx, bad: Bad) -> CheckResult {
    let (mut c, desc) = match bad {
        Bad::Connected(f) => {
            let (c, _) = ctx.connect(&ctx.uniq("org"), &ctx.uniq("u")).await?;
            let f = with_ns(ctx, f);
            c.send_text(f.clone()).await?;
            (c, f)
        }
        Bad::Bare(f) => {
            let c = ctx.open().await?;
            c.send_text(f).await?;
            (c, f.to_string())
        }
        Bad::Binary => {
            let (c, _) = ctx.connect(&ctx.uniq("org"), &ctx.uniq("u")).await?;
            c.send_binary(Bytes::from_static(b"\x01\x02\x03")).await?;
            (c, "<binary frame>".to_string())
        }
    };
    let step = c.step();
    c.wait_closed(step).await.map(|_| ()).map_err(|e| {
        CheckFailure::fail(format!("{desc} did not close the connection"))
            .expected("the server closes that connection")
            .actual(e)
    })
}

async fn all_close(ctx: Ctx, bads: &[Bad]) -> CheckResult {
    for b in bads {
        closes(&ctx, *b).await?;
    }
    Ok(())
}

async fn lim_1(ctx: Ctx) -> CheckResult {
    let (mut c, _) = ctx.connect(&ctx.uniq("org"), &ctx.uniq("u")).await?;
    let max = c
        .open
        .get("maxPayload")
        .and_then(Value::as_u64)
        .unwrap_or(1_000_000) as usize;
    if max > 16_000_000 {
        return Err(CheckFailure::skip(format!(
            "maxPayload {max} is too large to exceed in a check"
        )));
    }
    let pad = "x".repeat(max + 16);
    let ns = if ctx.nsp() == "/" {
        String::new()
    } else {
        format!("{},", ctx.nsp())
    };
    c.send_text(format!("42{ns}[\"system:ping\",\"{pad}\"]"))
        .await?;
    let (_, close) = c.wait_closed(ctx.step() * 2).await.map_err(|e| {
        CheckFailure::fail("a message above maxPayload did not close the connection").actual(e)
    })?;
    if close.code != Some(1009) {
        ctx.tr
            .note(format!("close code is not 1009 (SHOULD): {close}"));
    }
    Ok(())
}

async fn lim_2(ctx: Ctx) -> CheckResult {
    let s = PollSession::handshake(&ctx, &[]).await?;
    let max = s
        .open
        .get("maxPayload")
        .and_then(Value::as_u64)
        .unwrap_or(1_000_000) as usize;
    let body = format!("4{}", "x".repeat(max + 16));
    let r = s.post_raw(&ctx, body).await?;
    ensure(
        matches!(r.status, 413 | 400),
        "a polling POST above maxPayload was not refused",
        "413 (or 400)",
        format!("{} {}", r.status, r.text()),
    )
}

async fn lim_3(ctx: Ctx) -> CheckResult {
    all_close(
        ctx,
        &[
            Bad::Connected("42{}"),
            Bad::Connected("42[]"),
            Bad::Bare("40\"token\""),
            Bad::Connected("41{\"reason\":\"bye\"}"),
        ],
    )
    .await
}

async fn lim_4(ctx: Ctx) -> CheckResult {
    all_close(
        ctx,
        &[
            Bad::Connected("42[\"subscribe:site\""),
            Bad::Connected("42abc[...]"),
            Bad::Connected("421[\"subscribe:site\",\"s1\"]]"),
        ],
    )
    .await
}

async fn lim_5(ctx: Ctx) -> CheckResult {
    all_close(
        ctx,
        &[
            Bad::Connected("9"),
            Bad::Connected("x42[\"subscribe:site\",\"s1\"]"),
        ],
    )
    .await
}

async fn lim_6(ctx: Ctx) -> CheckResult {
    all_close(ctx, &[Bad::Connected("47"), Bad::Connected("4abc")]).await
}

async fn lim_7(ctx: Ctx) -> CheckResult {
    all_close(
        ctx,
        &[
            Bad::Connected("42[\"connect\"]"),
            Bad::Connected("42[\"disconnect\",\"bye\"]"),
            Bad::Connected("423[\"newListener\",\"x\"]"),
        ],
    )
    .await
}

async fn lim_8(ctx: Ctx) -> CheckResult {
    all_close(ctx, &[Bad::Binary]).await
}

async fn lim_9(ctx: Ctx) -> CheckResult {
    all_close(
        ctx,
        &[Bad::Connected(
            "4511-[\"x\",{\"_placeholder\":true,\"num\":0}]",
        )],
    )
    .await
}

async fn lim_10(ctx: Ctx) -> CheckResult {
    let org = ctx.uniq("org");
    let (mut by, _) = ctx.connect(&org, &ctx.uniq("bystander")).await?;
    subscribe(&mut by, "site", "s1", &format!("org:{org}:site:s1")).await?;
    let bads = [
        Bad::Connected("42{}"),
        Bad::Connected("42[\"subscribe:site\""),
        Bad::Connected("9"),
        Bad::Connected("47"),
        Bad::Connected("42[\"connect\"]"),
        Bad::Binary,
        Bad::Connected("4511-[\"x\",{\"_placeholder\":true,\"num\":0}]"),
        Bad::Bare("40\"token\""),
        Bad::Bare("\u{0}\u{1}garbage"),
    ];
    let results = futures_util::future::join_all(bads.iter().map(|b| closes(&ctx, *b))).await;
    let _ = results; // each bad input's own verdict belongs to its own requirement
                     // the bystander still works: an ack, a delivery, and the process still serves
    let pong = by.emit_ack("system:ping", vec![]).await?;
    ensure(
        !pong.is_empty(),
        "the bystander lost its acks",
        "a ping ack",
        Value::Array(pong),
    )?;
    let m = publish_marker(&ctx, &format!("org:{org}:site:s1")).await?;
    expect_marker(&mut by, &m, "the bystander").await?;
    let h = ctx.http("GET", "/healthz", &[], None).await?;
    ensure(
        h.status == 200,
        "the process stopped serving",
        "200",
        h.status,
    )?;
    by.close().await;
    Ok(())
}

/// The slow-consumer scenario: one client stops reading, events of ~16 KiB are
/// published into its room; returns (slow was dropped, every event reached the
/// fast one, the worst latency of one event from its publish to its receipt).
pub(super) struct SlowOutcome {
    pub(super) slow_dropped: bool,
    fast_all: bool,
    fast_detail: String,
    /// The worst latency of one accepted event (publish request sent → received
    /// by the reading client), and that event's number.
    worst: (Duration, usize),
}

pub(super) async fn slow_consumer(ctx: &Ctx, events: usize) -> Result<SlowOutcome, CheckFailure> {
    let org = ctx.uniq("org");
    let room = format!("org:{org}:site:s1");
    let token = ctx.token(&org, &ctx.uniq("slow"))?;
    let opts = OpenOptions {
        recv_buffer: Some(4096),
        ..OpenOptions::default()
    };
    let mut slow = ctx.open_at(0, &opts).await?;
    let nsp = ctx.nsp().to_string();
    slow.connect_ns(&nsp, Some(json!({ "token": token })))
        .await?
        .map_err(|e| CheckFailure::fail("slow client refused").actual(e))?;
    slow.expect_event("system:connected").await?;
    subscribe(&mut slow, "site", "s1", &room).await?;
    let (mut fast, _) = ctx.connect(&org, &ctx.uniq("fast")).await?;
    subscribe(&mut fast, "site", "s1", &room).await?;
    slow.set_paused(true);
    let token = ctx.minter.publisher(None)?;
    let pad = "p".repeat(16 * 1024);
    // when each publish request was sent, by event number (read by the reader)
    let sent_at = std::sync::Arc::new(std::sync::Mutex::new(vec![None::<Instant>; events]));
    // publish with a few concurrent publishers while the fast client reads
    let quiet_tr = crate::transcript::Transcript::new();
    let publish_all = {
        let ctx = ctx.clone();
        let room = room.clone();
        let sent_at = sent_at.clone();
        async move {
            let mut sent = Vec::new();
            let mut i = 0;
            while i < events {
                let batch: Vec<_> = (i..(i + 8).min(events))
                    .map(|n| {
                        let url = format!("{}/v1/publish", ctx.cfg.publish_url.trim_end_matches('/'));
                        let body = json!({"room": room, "type": "test:flood", "payload": {"n": n, "pad": pad}}).to_string();
                        let auth = format!("Bearer {token}");
                        let tr = quiet_tr.clone();
                        let step = ctx.step();
                        let sent_at = sent_at.clone();
                        async move {
                            sent_at.lock().expect("sent_at")[n] = Some(Instant::now());
                            let r = crate::http::request(&tr, "POST", &url, &[("content-type", "application/json"), ("authorization", &auth)], Some(Bytes::from(body)), step * 5).await;
                            (n, r.map(|r| r.status).unwrap_or(0))
                        }
                    })
                    .collect();
                sent.extend(futures_util::future::join_all(batch).await);
                i += 8;
            }
            sent
        }
    };
    let reader = async {
        // (event number, latency) of every flood event received
        let mut got: Vec<(usize, Duration)> = Vec::new();
        while got.len() < events {
            match fast.next_event("the flood").await {
                Ok((name, args)) if name == "test:flood" => {
                    let now = Instant::now();
                    let n = args
                        .first()
                        .and_then(|e| e.pointer("/payload/n"))
                        .and_then(Value::as_u64)
                        .map_or(usize::MAX, |n| n as usize);
                    let at = sent_at.lock().expect("sent_at").get(n).copied().flatten();
                    got.push((n, at.map_or(Duration::ZERO, |t| now.duration_since(t))));
                }
                Ok(_) => continue,
                Err(e) => return (got, Some(e.to_string())),
            }
        }
        (got, None)
    };
    let (sent, (got, err)) = tokio::join!(publish_all, reader);
    let accepted = sent.iter().filter(|(_, s)| *s == 202).count();
    ctx.tr.note(format!(
        "published {events} events of 16 KiB: {accepted} accepted; the fast client got {}",
        got.len()
    ));
    let worst = got.iter().map(|&(n, l)| (l, n)).max().unwrap_or_default();
    slow.set_paused(false);
    let slow_closed = slow.wait_closed(ctx.step() * 3).await;
    let slow_dropped = match &slow_closed {
        Ok((seen, _)) => seen.len() < accepted,
        Err(_) => false,
    };
    ctx.tr.note(format!(
        "slow client after resuming: {}",
        match &slow_closed {
            Ok((seen, c)) => format!("closed ({c}) after {} more packets", seen.len()),
            Err(e) => format!("{e}"),
        }
    ));
    fast.close().await;
    Ok(SlowOutcome {
        slow_dropped,
        fast_all: got.len() == accepted && err.is_none(),
        fast_detail: format!(
            "{} of {accepted} accepted events{}",
            got.len(),
            err.map(|e| format!(" ({e})")).unwrap_or_default()
        ),
        worst,
    })
}

/// A context with a small outbound queue when spawning, and how many events overflow it.
pub(super) async fn queue_ctx(
    ctx: &Ctx,
) -> Result<(Ctx, Option<crate::spawn::Instance>, usize), CheckFailure> {
    if ctx.cfg.spawn.is_some() {
        let inst = ctx
            .private_instance(&[
                ("ROOMCAST_OUTBOUND_QUEUE", "64"),
                ("ROOMCAST_MAX_QUEUE", "64"),
            ])
            .await?;
        return Ok((ctx.with_target(&inst.base), Some(inst), 600));
    }
    Ok((ctx.clone(), None, 1500))
}

async fn lim_11(ctx: Ctx) -> CheckResult {
    let (qctx, inst, n) = queue_ctx(&ctx).await?;
    let r = slow_consumer(&qctx, n).await;
    if let Some(i) = inst {
        i.stop().await;
    }
    let o = r?;
    ensure(
        o.slow_dropped,
        "the client that stopped reading was not dropped",
        "disconnected once its queue was full",
        "it stayed connected / received everything",
    )
}

async fn lim_12(ctx: Ctx) -> CheckResult {
    let (qctx, inst, n) = queue_ctx(&ctx).await?;
    let r = slow_consumer(&qctx, n).await;
    if let Some(i) = inst {
        i.stop().await;
    }
    let o = r?;
    ensure(
        o.fast_all,
        "the reading client missed events while another stalled",
        "every accepted event, each within the bound",
        o.fast_detail,
    )?;
    // the latency of each event, from its publish request to its receipt: a
    // server that holds the room's deliveries while one socket is stalled
    // delivers everything, but late
    let (worst, n) = o.worst;
    ctx.tr.note(format!(
        "worst latency: event {n} after {} ms",
        worst.as_millis()
    ));
    ensure(
        worst <= ctx.step(),
        "the reading client got events late while another stalled",
        format!(
            "every event within the delivery bound of {} ms of its publish",
            ctx.step().as_millis()
        ),
        format!("event {n} after {} ms", worst.as_millis()),
    )
}

/// LIM-13's publishing: rounds of events of 32 KiB to the organization of
/// three stalled clients, with an RSS sample of the instance after each.
const MEM_ROUNDS: usize = 4;
const MEM_EVENTS_PER_ROUND: usize = 152;
const MEM_EVENT_KIB: u64 = 48;

async fn lim_13(ctx: Ctx) -> CheckResult {
    let inst = ctx
        .private_instance(&[
            ("ROOMCAST_OUTBOUND_QUEUE", "64"),
            ("ROOMCAST_MAX_QUEUE", "64"),
        ])
        .await?;
    let Some(pid) = inst.pid() else {
        inst.stop().await;
        return Err(CheckFailure::skip("the private instance's pid is unknown"));
    };
    let pctx = ctx.with_target(&inst.base);
    let before = rss_kib(pid);
    let r = async {
        // three stalled consumers: unbounded buffering would hold every event
        let mut stalled = Vec::new();
        let org = pctx.uniq("org");
        for i in 0..3 {
            let opts = OpenOptions { recv_buffer: Some(4096), ..OpenOptions::default() };
            let mut c = pctx.open_at(0, &opts).await?;
            let token = pctx.token(&org, &format!("stall{i}"))?;
            let nsp = pctx.nsp().to_string();
            c.connect_ns(&nsp, Some(json!({ "token": token }))).await?.map_err(|e| CheckFailure::fail("refused").actual(e))?;
            c.expect_event("system:connected").await?;
            c.set_paused(true);
            stalled.push(c);
        }
        let token = pctx.minter.publisher(None)?;
        let pad = "m".repeat(MEM_EVENT_KIB as usize * 1024);
        let url = format!("{}/v1/publish", pctx.cfg.publish_url.trim_end_matches('/'));
        let quiet = crate::transcript::Transcript::new();
        let mut samples = Vec::new();
        for round in 0..MEM_ROUNDS {
            for chunk in 0..(MEM_EVENTS_PER_ROUND / 8) {
                let batch = (0..8).map(|k| {
                    let n = (round * MEM_EVENTS_PER_ROUND) + chunk * 8 + k;
                    let body = json!({"room": format!("org:{org}"), "type": "test:mem", "payload": {"n": n, "pad": pad}}).to_string();
                    let auth = format!("Bearer {token}");
                    let (url, quiet) = (url.clone(), quiet.clone());
                    async move { crate::http::request(&quiet, "POST", &url, &[("content-type", "application/json"), ("authorization", &auth)], Some(Bytes::from(body)), Duration::from_secs(10)).await }
                });
                futures_util::future::join_all(batch).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            samples.push(rss_kib(pid));
        }
        drop(stalled);
        Ok::<_, CheckFailure>(samples)
    }
    .await;
    inst.stop().await;
    let samples = r?;
    let (Some(b), Some(samples)) = (before, samples.into_iter().collect::<Option<Vec<u64>>>())
    else {
        return Err(CheckFailure::skip(
            "cannot read the instance's RSS from /proc",
        ));
    };
    let mib = |k: u64| k / 1024;
    let first = samples[0];
    let last = samples.iter().copied().max().unwrap_or(first);
    ctx.tr.note(format!(
        "RSS {} MiB before, then after each round of {MEM_EVENTS_PER_ROUND} × {MEM_EVENT_KIB} KiB to 3 stalled clients: {:?} MiB",
        mib(b),
        samples.iter().map(|&k| mib(k)).collect::<Vec<_>>()
    ));
    let grown = mib(last.saturating_sub(b));
    ensure(
        grown < 96,
        "memory grew with the events published to stalled clients",
        "< 96 MiB growth in all",
        format!("{grown} MiB"),
    )?;
    // bounded: after the first round (the stalled clients' queues are full,
    // or they were dropped) memory does not keep growing with the events;
    // holding them would add the rounds' bytes
    let later_kib = (MEM_ROUNDS - 1) as u64 * MEM_EVENTS_PER_ROUND as u64 * MEM_EVENT_KIB;
    let later = last.saturating_sub(first);
    ensure(
        later * 2 < later_kib,
        "memory keeps growing with the number of events published",
        format!(
            "flat after the first round: < {} MiB more while {} MiB more were published",
            later_kib / 2 / 1024,
            later_kib / 1024
        ),
        format!("{} MiB more (samples above)", mib(later)),
    )
}
