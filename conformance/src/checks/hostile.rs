//! Checks of hostile clients (issue 11), in the LIM and AUTH groups by ID: slow and
//! trickled bodies, overlapping POSTs, handshake floods, CONNECT retries, and
//! cross-site cookie requests, `exp` horizons, scope splitting and abandoned polling
//! handshakes. The memory checks read the resident memory of a private
//! spawned instance from `/proc`; against a URL they SKIP.

use super::common::{accept_claims, claims, reject_claims};
use crate::attack::{self, host_port};
use crate::check;
use crate::client::OpenOptions;
use crate::ctx::{ensure, CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::http::HttpResponse;
use crate::polling::PollSession;
use crate::runner::CheckDef;
use crate::tokens::{now_secs, publisher_claims};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The AUTH checks of this file (registered after the AUTH group's table).
pub const AUTH_CHECKS: &[CheckDef] = &[
    check!(id: "AUTH-36", Must, feature: "cookie-auth", "Cookie-authenticated requests from a foreign Origin are refused", auth_36),
    check!(id: "AUTH-38", Should, "An exp beyond a horizon fails with invalid_claims", auth_38),
    check!(id: "AUTH-39", Must, "scope is split on spaces only", auth_39),
];

/// The LIM checks of this file (registered after the LIM group's table).
pub const LIM_CHECKS: &[CheckDef] = &[
    check!(id: "LIM-14", Must, "A request body is read within a deadline and at a minimum rate", lim_14),
    check!(id: "LIM-15", Must, "The memory of a body is bounded by the bytes received", lim_15),
    check!(id: "LIM-16", Must, feature: "polling", "One polling POST at a time per session", lim_16),
    check!(id: "LIM-17", Must, "Sessions without a connected namespace are bounded", lim_17),
    check!(id: "LIM-18", Should, feature: "polling", "An abandoned polling handshake is closed early", lim_18),
    check!(id: "LIM-19", Should, "Failed CONNECTs per connection are limited", lim_19),
];

/// Checks that flood a private instance and read its memory, or time its
/// deliveries under a flood: the runner gives them the whole machine (no other
/// check runs meanwhile).
pub const RUN_ALONE: &[&str] = &["LIM-11", "LIM-12", "LIM-13", "LIM-15", "LIM-17"];

/// The deadline LIM-14 allows at most (the check's own budget is 20 s).
const BODY_DEADLINE_MAX: Duration = Duration::from_secs(15);

/// The path and query of a polling session's URL (for raw TCP requests).
fn session_path(s: &PollSession) -> String {
    let url = s.url();
    url.split_once("://")
        .and_then(|(_, r)| r.split_once('/'))
        .map(|(_, p)| format!("/{p}"))
        .unwrap_or_default()
}

/// Where a trickled body goes: a polling POST of a fresh session (feature `polling`)
/// or `/v1/publish` with a publisher token.
async fn body_target(
    ctx: &Ctx,
) -> Result<(String, Vec<(&'static str, String)>, usize), CheckFailure> {
    if ctx.has_feature("polling") {
        let path = session_path(&PollSession::handshake(ctx, &[]).await?);
        return Ok((
            path,
            vec![("Content-Type", "text/plain;charset=UTF-8".into())],
            100_000,
        ));
    }
    let token = ctx.minter.publisher(None)?;
    Ok((
        "/v1/publish".into(),
        vec![
            ("Content-Type", "application/json".into()),
            ("Authorization", format!("Bearer {token}")),
        ],
        60_000,
    ))
}

async fn lim_14(ctx: Ctx) -> CheckResult {
    let (path, headers, _) = body_target(&ctx).await?;
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let addr = host_port(ctx.target());
    ctx.tr.note(format!(
        "POST {path} declaring 2000 bytes, sent one byte every 250 ms (4 bytes/s)"
    ));
    let end = attack::trickle_post(
        &addr,
        &path,
        &headers,
        2000,
        Duration::from_millis(250),
        BODY_DEADLINE_MAX + Duration::from_secs(2),
    )
    .await
    .map_err(|e| CheckFailure::fail(format!("cannot reach the target: {e}")))?;
    ctx.tr.note(format!("{end:?}"));
    match end.cut_after {
        Some(after) if after <= BODY_DEADLINE_MAX + Duration::from_secs(1) => {
            if end.status.is_some_and(|s| s < 400) {
                return Err(
                    CheckFailure::fail("an incomplete body was answered as a success")
                        .expected("408 (or the connection closed)")
                        .actual(format!("{:?} after {after:?}", end.status)),
                );
            }
            if end.status != Some(408) {
                ctx.tr
                    .note(format!("cut with {:?}, not 408 (allowed)", end.status));
            }
            Ok(())
        }
        _ => Err(CheckFailure::fail("a trickled body was not cut")
            .expected(format!(
                "an answer (408) or a close within {} s",
                BODY_DEADLINE_MAX.as_secs()
            ))
            .actual(format!(
                "still reading after {} s ({} bytes sent)",
                BODY_DEADLINE_MAX.as_secs() + 2,
                end.sent
            ))),
    }
}

/// Growth of resident memory LIM-15 tolerates while 20 bodies trickle.
const TRICKLE_GROWTH_MAX_MIB: u64 = 20;

async fn lim_15(ctx: Ctx) -> CheckResult {
    let inst = ctx.private_instance(&[]).await?;
    let Some(pid) = inst.pid() else {
        inst.stop().await;
        return Err(CheckFailure::skip("the private instance's pid is unknown"));
    };
    let pctx = ctx.with_target(&inst.base);
    let r = trickle_twenty(&pctx, pid).await;
    inst.stop().await;
    let (before, peak, cut) = r?;
    ctx.tr.note(format!(
        "RSS {} KiB before, peak {} KiB while 20 bodies trickled one byte per 2 ms; {cut} of 20 cut",
        before, peak
    ));
    let grown = peak.saturating_sub(before) / 1024;
    ensure(
        grown < TRICKLE_GROWTH_MAX_MIB,
        "resident memory grew with the segments of trickled bodies",
        format!("< {TRICKLE_GROWTH_MAX_MIB} MiB growth"),
        format!("{grown} MiB"),
    )
}

/// 20 trickled bodies against the private instance `pid`: `(rss before, peak rss,
/// bodies cut)`, sampled every 200 ms for at most 8 s; ends early once the growth
/// passes the bound (no need to exhaust the machine to FAIL).
async fn trickle_twenty(ctx: &Ctx, pid: u32) -> Result<(u64, u64, usize), CheckFailure> {
    let before = attack::rss_kib(pid)
        .ok_or_else(|| CheckFailure::skip("cannot read the instance's RSS from /proc"))?;
    let addr = host_port(ctx.target());
    let mut runs = Vec::new();
    for _ in 0..20 {
        let (path, headers, len) = body_target(ctx).await?;
        let addr = addr.clone();
        runs.push(tokio::spawn(async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            attack::trickle_post(
                &addr,
                &path,
                &headers,
                len,
                Duration::from_millis(2),
                Duration::from_secs(8),
            )
            .await
        }));
    }
    let mut peak = before;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(8) && !runs.iter().all(|r| r.is_finished()) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(attack::rss_kib(pid).unwrap_or(0));
        if peak.saturating_sub(before) / 1024 >= TRICKLE_GROWTH_MAX_MIB {
            break;
        }
    }
    let mut cut = 0;
    for r in runs {
        if r.is_finished() {
            if let Ok(Ok(end)) = r.await {
                cut += usize::from(end.cut_after.is_some());
            }
        } else {
            r.abort();
        }
    }
    Ok((before, peak, cut))
}

async fn lim_16(ctx: Ctx) -> CheckResult {
    let s = PollSession::handshake(&ctx, &[]).await?;
    let path = session_path(&s);
    let addr = host_port(ctx.target());
    // the first POST stays open: 100 bytes declared, one sent every 100 ms
    let first = tokio::spawn(async move {
        attack::trickle_post(
            &addr,
            &path,
            &[("Content-Type", "text/plain;charset=UTF-8")],
            100,
            Duration::from_millis(100),
            Duration::from_secs(6),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    ctx.tr
        .note("a second POST on the sid while the first is being read");
    let r = s.post_raw(&ctx, "6".to_string()).await;
    first.abort();
    let r = r?;
    ensure(
        r.status >= 400,
        "a second concurrent POST on one sid was accepted",
        "400 (or 500) and the session closed",
        format!("{} {}", r.status, r.text()),
    )
}

/// How many handshakes LIM-17 sends at most before it expects a 503.
const FLOOD_MAX: usize = 20_000;
/// Growth of resident memory LIM-17 tolerates during the flood.
const FLOOD_GROWTH_MAX_MIB: u64 = 64;

async fn lim_17(ctx: Ctx) -> CheckResult {
    if !ctx.has_feature("polling") {
        return Err(CheckFailure::skip(
            "the handshake flood uses polling handshakes: declare the polling feature",
        ));
    }
    let inst = ctx.private_instance(&[]).await?;
    let Some(pid) = inst.pid() else {
        inst.stop().await;
        return Err(CheckFailure::skip("the private instance's pid is unknown"));
    };
    let before = attack::rss_kib(pid);
    let addr = host_port(&inst.base);
    let end = attack::handshake_flood(
        &addr,
        &ctx.cfg.path,
        FLOOD_MAX,
        8,
        Duration::from_secs(60),
        true,
    )
    .await;
    let after = attack::rss_kib(pid);
    inst.stop().await;
    ctx.tr.note(format!(
        "flood: {end:?}; RSS {before:?} KiB -> {after:?} KiB"
    ));
    if end.refused == 0 {
        return Err(CheckFailure::fail("a handshake flood was never refused")
            .expected(format!(
                "503 with Retry-After before {FLOOD_MAX} pending sessions"
            ))
            .actual(format!(
                "{} handshakes accepted in {:?} ({} other answers)",
                end.accepted, end.elapsed, end.other
            )));
    }
    if !end.retry_after {
        return Err(
            CheckFailure::fail("the 503 of a full server has no Retry-After")
                .expected("503 with Retry-After")
                .actual("503 without Retry-After"),
        );
    }
    let (Some(b), Some(a)) = (before, after) else {
        return Err(CheckFailure::skip(
            "cannot read the instance's RSS from /proc",
        ));
    };
    let grown = a.saturating_sub(b) / 1024;
    ensure(
        grown < FLOOD_GROWTH_MAX_MIB,
        "memory ran away before the flood was refused",
        format!("< {FLOOD_GROWTH_MAX_MIB} MiB growth"),
        format!("{grown} MiB after {} accepted handshakes", end.accepted),
    )
}

/// LIM-19's bound: the connection closes after at most this many failed CONNECTs.
const CONNECT_FAILURES_MAX: usize = 10;

async fn lim_19(ctx: Ctx) -> CheckResult {
    let mut c = ctx.open().await?;
    let nsp = ctx.nsp().to_string();
    for i in 1..=CONNECT_FAILURES_MAX + 1 {
        match c
            .connect_ns(&nsp, Some(json!({ "token": "not-a-jwt" })))
            .await
        {
            Ok(Err(_)) => {}
            Ok(Ok(_)) => {
                return Err(CheckFailure::fail("an invalid token connected").actual(i));
            }
            Err(_) if c.is_closed() || i > 1 => {
                ctx.tr
                    .note(format!("closed after {} failed CONNECTs", i - 1));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
    match c.wait_closed(ctx.step()).await {
        Ok(_) => Ok(()),
        Err(_) => Err(CheckFailure::fail("failed CONNECTs are not limited")
            .expected(format!(
                "the connection closed after at most {CONNECT_FAILURES_MAX} failed CONNECTs"
            ))
            .actual(format!(
                "still open after {} failures",
                CONNECT_FAILURES_MAX + 1
            ))),
    }
}

const EVIL_ORIGIN: &str = "https://evil.example";

async fn auth_36(ctx: Ctx) -> CheckResult {
    if ctx.cfg.spawn.is_none() {
        return cross_site(&ctx).await;
    }
    let inst = ctx
        .private_instance(&[("ROOMCAST_AUTH_COOKIE", "true")])
        .await?;
    let pctx = ctx.with_target(&inst.base);
    let r = cross_site(&pctx).await;
    inst.stop().await;
    r
}

/// The victim's cookie on a WebSocket (and a polling handshake) from a foreign Origin.
async fn cross_site(ctx: &Ctx) -> CheckResult {
    let victim = ctx.uniq("victim");
    let token = ctx.minter.client(&ctx.uniq("org"), &victim)?;
    let cookie = format!("accessToken={token}");
    let nsp = ctx.nsp().to_string();
    // control: the cookie authenticates without an Origin (else nothing is shown here)
    let control = OpenOptions {
        headers: vec![("cookie".into(), cookie.clone())],
        ..OpenOptions::default()
    };
    let mut c = ctx.open_at(0, &control).await?;
    let ok = c.connect_ns(&nsp, None).await?;
    c.close().await;
    if ok.is_err() {
        return Err(CheckFailure::fail(
            "the accessToken cookie does not authenticate at all (see AUTH-3)",
        )
        .actual(format!("{ok:?}")));
    }
    let evil = OpenOptions {
        headers: vec![
            ("cookie".into(), cookie.clone()),
            ("origin".into(), EVIL_ORIGIN.into()),
        ],
        ..OpenOptions::default()
    };
    ctx.tr.note(format!(
        "WebSocket with the victim's cookie and Origin {EVIL_ORIGIN}"
    ));
    match ctx.open_at(0, &evil).await {
        Err(e) => ctx.tr.note(format!("refused: {}", e.message)),
        Ok(mut c) => {
            let r = c.connect_ns(&nsp, None).await;
            c.close().await;
            if let Ok(Ok(v)) = r {
                return Err(CheckFailure::fail(
                    "cross-site WebSocket hijacking: a foreign Origin got a socket with the victim's cookie",
                )
                .expected("403 before the upgrade")
                .actual(format!("CONNECT {v}")));
            }
            ctx.tr
                .note("the upgrade was accepted but the cookie did not authenticate");
        }
    }
    if ctx.has_feature("polling") {
        let headers = [("cookie", cookie.as_str()), ("origin", EVIL_ORIGIN)];
        let url = crate::polling::url(ctx.target(), &ctx.cfg.path, None);
        let r = ctx.http("GET", &url, &headers, None).await?;
        if r.status == 200 {
            let open: Value =
                serde_json::from_str(r.text().get(1..).unwrap_or("")).unwrap_or_default();
            let sid = open.get("sid").and_then(Value::as_str).unwrap_or("");
            let s = crate::polling::url(ctx.target(), &ctx.cfg.path, Some(sid));
            let connect = if nsp == "/" {
                "40".to_string()
            } else {
                format!("40{nsp},")
            };
            ctx.http("POST", &s, &headers, Some(connect.into_bytes().into()))
                .await?;
            let got = ctx.http("GET", &s, &headers, None).await?.text();
            if got.starts_with("40") {
                return Err(CheckFailure::fail(
                    "a polling session from a foreign Origin was authenticated by the victim's cookie",
                )
                .expected("403 before the handshake")
                .actual(got));
            }
        }
    }
    Ok(())
}

/// An `exp` far beyond any sane horizon: 100 years from now.
const FAR_EXP_SECS: i64 = 100 * 365 * 86_400;

/// AUTH-38's `exp` values beyond the horizon: now + 100 years, and `1e308`.
fn far_exps() -> [Value; 2] {
    [json!(now_secs() + FAR_EXP_SECS), json!(1e308)]
}

/// Publishes to a fresh room with a publisher token carrying these claims.
async fn publish_with(ctx: &Ctx, cl: &Map<String, Value>) -> Result<HttpResponse, CheckFailure> {
    let t = ctx.minter.sign(cl)?;
    let room = format!("org:{}", ctx.uniq("org"));
    ctx.publish(
        &t,
        &json!({"room": room, "type": "test:claims", "payload": {"k": 1}}),
    )
    .await
}

/// Expects `202` (the positive controls of AUTH-38 and AUTH-39).
fn ensure_accepted(what: &str, r: &HttpResponse) -> CheckResult {
    ensure(
        r.status == 202,
        format!("{what} was not accepted (control)"),
        "202",
        format!("{} {}", r.status, r.text()),
    )
}

/// Prefixes a failure's message with the case that produced it.
fn case(what: String) -> impl FnOnce(CheckFailure) -> CheckFailure {
    move |e| CheckFailure {
        message: format!("{what}: {}", e.message),
        ..e
    }
}

async fn auth_38(ctx: Ctx) -> CheckResult {
    // controls: a token valid for one hour connects and publishes
    let (_, _, mut c) = claims(&ctx);
    c.insert("exp".into(), json!(now_secs() + 3600));
    accept_claims(&ctx, &c)
        .await
        .map_err(case("client exp now + 1 h".into()))?;
    let mut cl = publisher_claims(None);
    cl.insert("exp".into(), json!(now_secs() + 3600));
    ensure_accepted(
        "a publish token with exp now + 1 h",
        &publish_with(&ctx, &cl).await?,
    )?;
    for exp in far_exps() {
        let (_, _, mut c) = claims(&ctx);
        c.insert("exp".into(), exp.clone());
        reject_claims(&ctx, &c, "invalid_claims")
            .await
            .map_err(case(format!("client exp {exp}")))?;
        cl.insert("exp".into(), exp.clone());
        let r = publish_with(&ctx, &cl).await?;
        expect::http_error(&r, 401, "AUTH_FAILED").map_err(case(format!("publisher exp {exp}")))?;
    }
    Ok(())
}

async fn auth_39(ctx: Ctx) -> CheckResult {
    // control: space-separated scopes with realtime:publish among them are accepted
    let mut cl = publisher_claims(None);
    cl.insert("scope".into(), json!("a realtime:publish"));
    ensure_accepted(
        "scope \"a realtime:publish\"",
        &publish_with(&ctx, &cl).await?,
    )?;
    for scope in ["realtime:publish\n", "a\trealtime:publish"] {
        cl.insert("scope".into(), json!(scope));
        let r = publish_with(&ctx, &cl).await?;
        expect::http_error(&r, 403, "FORBIDDEN").map_err(case(format!("scope {scope:?}")))?;
    }
    Ok(())
}

/// How long after a polling handshake without a follow-up request LIM-18 expects the
/// session to be gone (the spec's reference is 10 s).
const FIRST_POLL_BOUND: Duration = Duration::from_secs(12);

/// How long LIM-18's probe GET may take: a live session holds it as a long-poll.
const FIRST_POLL_PROBE: Duration = Duration::from_secs(3);

async fn lim_18(ctx: Ctx) -> CheckResult {
    let s = PollSession::handshake(&ctx, &[]).await?;
    let ms = |k: &str| s.open.get(k).and_then(Value::as_u64).unwrap_or(0);
    let heartbeat = Duration::from_millis(ms("pingInterval") + ms("pingTimeout"));
    if heartbeat <= FIRST_POLL_BOUND + FIRST_POLL_PROBE {
        return Err(CheckFailure::skip(format!(
            "pingInterval + pingTimeout is {} ms: the heartbeat alone closes the session within LIM-18's bound",
            heartbeat.as_millis()
        )));
    }
    ctx.tr.note(format!(
        "no request after the handshake; probing the sid after {} s",
        FIRST_POLL_BOUND.as_secs()
    ));
    tokio::time::sleep(FIRST_POLL_BOUND).await;
    let r = crate::http::request(&ctx.tr, "GET", &s.url(), &[], None, FIRST_POLL_PROBE).await;
    let expected = format!(
        "400 {{\"code\":1,...}} (unknown session) {} s after the handshake",
        FIRST_POLL_BOUND.as_secs()
    );
    match r {
        Err(_) => Err(
            CheckFailure::fail("an abandoned polling handshake is still open")
                .expected(expected)
                .actual("the GET was held as a long-poll of a live session"),
        ),
        Ok(r) => {
            let code = r.json().and_then(|b| b.get("code").cloned());
            ensure(
                r.status == 400 && code == Some(json!(1)),
                "an abandoned polling handshake is still open",
                expected,
                format!("{} {}", r.status, r.text()),
            )
        }
    }
}
