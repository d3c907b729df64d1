//! Checks of the OPS group: health, readiness, metrics, logs, configuration.

use super::common::{expect_marker, publish_marker, subscribe};
use crate::check;
use crate::ctx::{ensure, ensure_json, CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::runner::CheckDef;
use crate::spawn::{Instance, SpawnError};
use crate::tokens::{self, client_claims, now_secs};
use serde_json::{json, Value};
use std::time::Duration;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "OPS-1", Must, "GET /healthz answers 200 while the process serves", ops_1),
    check!(id: "OPS-2", Must, feature: "redis", "/healthz stays 200 during a Redis outage", ops_2),
    check!(id: "OPS-3", Must, "GET /readyz reflects readiness", ops_3),
    check!(id: "OPS-4", Must, "GET /metrics serves Prometheus text", ops_4),
    check!(id: "OPS-5", Should, "/metrics has the minimum metric families", ops_5),
    check!(id: "OPS-6", Should, "roomcast_sockets_connected tracks connects and disconnects", ops_6),
    check!(id: "OPS-7", Must, "The spawn contract: PORT, JWT_SECRET, REDIS_URL", ops_7),
    check!(id: "OPS-8", Should, "Further settings by flag and environment", ops_8),
    check!(id: "OPS-9", Must, "Invalid configuration fails at start", ops_9),
    check!(id: "OPS-10", Should, "The connection lifecycle is logged as structured records", ops_10),
    check!(id: "OPS-11", Must, "Tokens are never logged", ops_11),
];

async fn ops_1(ctx: Ctx) -> CheckResult {
    let r = ctx.http("GET", "/healthz", &[], None).await?;
    ensure(
        r.status == 200,
        "/healthz",
        "200",
        format!("{} {}", r.status, r.text()),
    )
}

async fn ops_2(ctx: Ctx) -> CheckResult {
    super::fan::ops_2_outage(&ctx).await
}

async fn ops_3(ctx: Ctx) -> CheckResult {
    let r = ctx.http("GET", "/readyz", &[], None).await?;
    ensure(
        r.status == 200,
        "/readyz of a started standalone instance",
        "200",
        format!("{} {}", r.status, r.text()),
    )?;
    // during shutdown: 503 (or no answer at all once the listener is closed);
    // without --spawn that half is a SKIP, and a private instance that did not
    // start is an ERROR: neither is a PASS of the shutdown half
    let mut inst = ctx.private_instance(&[]).await.map_err(|e| CheckFailure {
        message: format!("/readyz answered 200; the shutdown half: {}", e.message),
        ..e
    })?;
    let pctx = ctx.with_target(&inst.base);
    let (c, _) = pctx.connect(&pctx.uniq("org"), &pctx.uniq("u")).await?;
    inst.sigterm();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = crate::http::request(
        &ctx.tr,
        "GET",
        &format!("{}/readyz", inst.base),
        &[],
        None,
        Duration::from_millis(500),
    )
    .await;
    drop(c);
    let _ = inst.wait_exit(Duration::from_secs(1)).await;
    inst.stop().await;
    match r {
        Ok(r) => ensure(r.status == 503, "/readyz during shutdown", "503", r.status),
        Err(_) => Ok(()),
    }
}

async fn metrics(ctx: &Ctx) -> Result<(String, String), CheckFailure> {
    let r = ctx.http("GET", "/metrics", &[], None).await?;
    ensure(r.status == 200, "/metrics", "200", r.status)?;
    Ok((r.header("content-type").unwrap_or("").to_string(), r.text()))
}

/// The value of an unlabelled sample.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn ops_4(ctx: Ctx) -> CheckResult {
    let (ct, text) = metrics(&ctx).await?;
    let ctl = ct.to_ascii_lowercase().replace(' ', "");
    ensure(
        ctl.starts_with("text/plain") && ctl.contains("version=0.0.4"),
        "Content-Type of /metrics",
        "text/plain; version=0.0.4",
        &ct,
    )?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix('#') {
            let kw = rest.split_whitespace().next().unwrap_or("");
            ensure(
                matches!(kw, "TYPE" | "HELP") || !rest.starts_with(' '),
                "a comment line is malformed",
                "# TYPE|HELP name ...",
                line,
            )?;
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        let value = line.rsplit(' ').next().unwrap_or("");
        let value_ok = value.parse::<f64>().is_ok()
            || ["NaN", "+Inf", "-Inf"].contains(&value)
            || line.split_whitespace().count() >= 3;
        ensure(
            valid_name && value_ok,
            "a sample line is not Prometheus text",
            "name{labels} value",
            line,
        )?;
    }
    Ok(())
}

async fn ops_5(ctx: Ctx) -> CheckResult {
    let (_, text) = metrics(&ctx).await?;
    for (name, ty) in [
        ("roomcast_sockets_connected", "gauge"),
        ("roomcast_auth_failures_total", "counter"),
        ("roomcast_publish_requests_total", "counter"),
        ("roomcast_events_delivered_total", "counter"),
        ("roomcast_slow_consumer_disconnects_total", "counter"),
    ] {
        let want = format!("# TYPE {name} {ty}");
        ensure(
            text.lines().any(|l| l.trim() == want),
            format!("/metrics lacks the family {name}"),
            &want,
            "not found",
        )?;
    }
    // labels after traffic: an auth failure with its reason, a publish with its status
    let (_, _, mut c) = (0, 0, client_claims(&ctx.uniq("org"), &ctx.uniq("u")));
    c.insert("exp".into(), json!(now_secs() - 60));
    let t = ctx.minter.sign(&c)?;
    let (cl, _) = ctx
        .try_connect(Some(json!({ "token": t })), &Default::default())
        .await?;
    cl.close().await;
    ctx.publish_ok(&format!("org:{}", ctx.uniq("org")), "test:metric", json!(1))
        .await?;
    let (_, text) = metrics(&ctx).await?;
    ensure(
        text.contains("roomcast_auth_failures_total{") && text.contains("reason=\"token_expired\""),
        "auth failures are not labelled by reason",
        "roomcast_auth_failures_total{reason=\"token_expired\"} N",
        "missing",
    )?;
    ensure(
        text.lines().any(|l| {
            l.starts_with("roomcast_publish_requests_total{") && l.contains("status=\"202\"")
        }),
        "publish requests are not labelled by status",
        "roomcast_publish_requests_total{status=\"202\"} N",
        "missing",
    )?;
    // The counters count what their "meaning" says: a delivery to a socket raises
    // roomcast_events_delivered_total (a mutant of the reference server that never
    // counted survived the family check). Other checks only add to it.
    let before = sample(&text, "roomcast_events_delivered_total").unwrap_or(0.0);
    let org = ctx.uniq("org");
    let (mut cl, _) = ctx.connect(&org, &ctx.uniq("u")).await?;
    let m = publish_marker(&ctx, &format!("org:{org}")).await?;
    expect_marker(&mut cl, &m, "the socket of the organization").await?;
    cl.close().await;
    let (_, text) = metrics(&ctx).await?;
    let after = sample(&text, "roomcast_events_delivered_total").unwrap_or(0.0);
    ensure(
        after >= before + 1.0,
        "roomcast_events_delivered_total did not count a delivered envelope",
        format!("at least {}", before + 1.0),
        after,
    )?;
    slow_consumer_counted(&ctx).await
}

/// OPS-5's `roomcast_slow_consumer_disconnects_total` counts the sockets dropped
/// per LIM-11 (a mutant of the reference server that never counted them survived):
/// after LIM-11's scenario on a private instance, it is at least 1.
async fn slow_consumer_counted(ctx: &Ctx) -> CheckResult {
    if ctx.cfg.spawn.is_none() {
        return Ok(()); // a shared target's counter may already be anything
    }
    let (qctx, inst, n) = super::lim::queue_ctx(ctx).await?;
    let r = async {
        let o = super::lim::slow_consumer(&qctx, n).await?;
        if !o.slow_dropped {
            return Ok(()); // LIM-11 reports that
        }
        let (_, text) = metrics(&qctx).await?;
        let dropped = sample(&text, "roomcast_slow_consumer_disconnects_total").unwrap_or(0.0);
        ensure(
            dropped >= 1.0,
            "roomcast_slow_consumer_disconnects_total did not count a slow consumer dropped per LIM-11",
            "at least 1",
            dropped,
        )
    }
    .await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn ops_6(ctx: Ctx) -> CheckResult {
    let inst = ctx.private_instance(&[]).await?;
    let pctx = ctx.with_target(&inst.base);
    let r = async {
        let read = || async {
            metrics(&pctx)
                .await
                .map(|(_, t)| sample(&t, "roomcast_sockets_connected"))
        };
        let before = read()
            .await?
            .ok_or_else(|| CheckFailure::fail("no roomcast_sockets_connected sample"))?;
        let (c, _) = pctx.connect(&pctx.uniq("org"), &pctx.uniq("u")).await?;
        let during = read().await?.unwrap_or(-1.0);
        ensure(
            during == before + 1.0,
            "the gauge did not rise by one on CONNECT",
            before + 1.0,
            during,
        )?;
        c.close().await;
        let mut after = during;
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            after = read().await?.unwrap_or(-1.0);
            if after == before {
                break;
            }
        }
        ensure(
            after == before,
            "the gauge did not fall by one on disconnect",
            before,
            after,
        )
    }
    .await;
    inst.stop().await;
    r
}

async fn ops_7(ctx: Ctx) -> CheckResult {
    if ctx.cfg.spawn.is_none() {
        return Err(CheckFailure::skip(
            "the spawn contract is checked with --spawn only",
        ));
    }
    // the instance answered /healthz on PORT (readiness), and verifies HS256 with JWT_SECRET
    let (c, _) = ctx.connect(&ctx.uniq("org"), &ctx.uniq("u")).await?;
    c.close().await;
    ctx.publish_ok(
        &format!("org:{}", ctx.uniq("org")),
        "test:contract",
        json!(1),
    )
    .await?;
    let bad = tokens::sign_hmac(
        jsonwebtoken::Algorithm::HS256,
        b"definitely-not-the-secret",
        &client_claims("o", "u"),
    )?;
    super::common::reject_token(&ctx, &bad, "invalid_token").await
    // REDIS_URL clustering is the FAN group's
}

async fn ops_8(ctx: Ctx) -> CheckResult {
    // the names themselves are the requirement: no --env-name mapping here
    let inst = ctx
        .private_instance_spec_names(&[
            ("ROOMCAST_PING_INTERVAL_MS", "4321"),
            ("ROOMCAST_PING_TIMEOUT_MS", "3210"),
            ("ROOMCAST_MAX_PAYLOAD", "54321"),
            ("ROOMCAST_SUBSCRIPTION_LIMIT", "2"),
            ("ROOMCAST_NAMESPACE", "/cfg"),
            ("NAMESPACE", "/cfg"),
        ])
        .await?;
    let mut pctx = ctx.with_target(&inst.base);
    let mut cfg = (*pctx.cfg).clone();
    cfg.namespace = "/cfg".into();
    pctx.cfg = std::sync::Arc::new(cfg);
    let r = async {
        let org = pctx.uniq("org");
        let (mut c, _) = pctx.connect(&org, &pctx.uniq("u")).await?;
        for (k, v) in [
            ("pingInterval", 4321),
            ("pingTimeout", 3210),
            ("maxPayload", 54321),
        ] {
            ensure_json(
                &format!("{k} from ROOMCAST_*"),
                &json!(v),
                c.open.get(k).unwrap_or(&Value::Null),
            )?;
        }
        subscribe(&mut c, "site", "a", &format!("org:{org}:site:a")).await?;
        subscribe(&mut c, "site", "b", &format!("org:{org}:site:b")).await?;
        let args = c.emit_ack("subscribe:site", vec![json!("c")]).await?;
        expect::ack_err(&args, "LIMIT_EXCEEDED")?;
        c.close().await;
        Ok(())
    }
    .await;
    inst.stop().await;
    r
}

async fn must_fail_to_start(
    ctx: &Ctx,
    env: &[(&str, &str)],
    remove: &[&str],
    setting: &str,
) -> CheckResult {
    let Some(spec) = &ctx.cfg.spawn else {
        return Err(CheckFailure::skip(
            "configuration errors are checked with --spawn only",
        ));
    };
    let mut spec = spec.clone();
    for (k, v) in env {
        spec.env.retain(|(ek, _)| ek != k);
        spec.env.push((k.to_string(), v.to_string()));
    }
    spec.env_remove = remove.iter().map(|s| s.to_string()).collect();
    if remove.contains(&"JWT_SECRET") {
        spec.jwt_secret = String::new();
    }
    spec.ready_timeout = Duration::from_secs(10);
    ctx.tr
        .note(format!("start with {env:?}, without {remove:?}"));
    match Instance::start_with(&spec, remove).await {
        Ok(i) => {
            i.stop().await;
            Err(CheckFailure::fail(format!(
                "the implementation started with an invalid {setting}"
            ))
            .expected("a non-zero exit at start")
            .actual("it became ready"))
        }
        Err(SpawnError::Exited { status, log, .. }) => {
            ctx.tr.note(format!("exited: {status}; output: {log}"));
            ensure(
                status != "exit status: 0",
                "exited with status 0",
                "non-zero",
                &status,
            )?;
            ensure(
                log.contains(setting),
                format!("the message does not name {setting}"),
                setting,
                log,
            )
        }
        Err(e) => Err(CheckFailure::fail(format!("did not fail at start: {e}"))),
    }
}

async fn ops_9(ctx: Ctx) -> CheckResult {
    must_fail_to_start(
        &ctx,
        &[],
        &["JWT_SECRET", "JWT_PUBLIC_KEY_FILE"],
        "JWT_SECRET",
    )
    .await?;
    must_fail_to_start(
        &ctx,
        &[
            ("JWT_PUBLIC_KEY_FILE", "/nonexistent/roomcast.pem"),
            ("JWT_ALGORITHMS", "RS256"),
        ],
        &[],
        "JWT_PUBLIC_KEY_FILE",
    )
    .await?;
    must_fail_to_start(&ctx, &[("JWT_ALGORITHMS", "XX999")], &[], "JWT_ALGORITHMS").await
}

async fn ops_10(ctx: Ctx) -> CheckResult {
    let inst = ctx.private_instance(&[]).await?;
    let pctx = ctx.with_target(&inst.base);
    let user = pctx.uniq("loguser");
    let org = pctx.uniq("org");
    let r = async {
        let (c, env) = pctx.connect(&org, &user).await?;
        let sid = env
            .pointer("/payload/sid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        c.close().await;
        let mut cl = client_claims(&org, &pctx.uniq("u"));
        cl.insert("exp".into(), json!(now_secs() - 60));
        super::common::reject_claims(&pctx, &cl, "token_expired").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let lines = inst.log.lines();
        let json_lines: Vec<Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(Value::is_object)
            .collect();
        ensure(
            !json_lines.is_empty(),
            "no structured (JSON lines) log records",
            "JSON objects, one per line",
            inst.log.tail(5),
        )?;
        let connect = json_lines
            .iter()
            .filter(|v| v.to_string().contains(&user))
            .count();
        ensure(
            connect >= 2,
            "connect and disconnect are not logged with the user id",
            format!("≥ 2 records naming {user}"),
            connect,
        )?;
        ensure(
            json_lines.iter().any(|v| v.to_string().contains(&sid)),
            "no record carries the socket id",
            &sid,
            inst.log.tail(8),
        )?;
        ensure(
            json_lines
                .iter()
                .any(|v| v.to_string().contains("token_expired")),
            "the auth failure is not logged with its reason",
            "a record with token_expired",
            inst.log.tail(8),
        )
    }
    .await;
    inst.stop().await;
    r
}

async fn ops_11(ctx: Ctx) -> CheckResult {
    let inst = ctx
        .private_instance(&[("LOG_LEVEL", "trace"), ("RUST_LOG", "trace")])
        .await?;
    let pctx = ctx.with_target(&inst.base);
    let org = pctx.uniq("org");
    let user = pctx.uniq("u");
    let mut tokens_used: Vec<String> = Vec::new();
    let r = async {
        let good = pctx.minter.client(&org, &user)?;
        tokens_used.push(good.clone());
        let (mut c, _) = pctx.connect_token(&good).await?;
        if pctx.has_feature("refresh") {
            let t = pctx.minter.client(&org, &user)?;
            tokens_used.push(t.clone());
            let _ = c
                .emit_ack("auth:refresh", vec![json!({ "token": t })])
                .await;
            let bad = tokens::tamper(&pctx.minter.client(&org, &user)?);
            tokens_used.push(bad.clone());
            let _ = c
                .emit_ack("auth:refresh", vec![json!({ "token": bad })])
                .await;
        }
        c.close().await;
        let mut cl = client_claims(&org, &user);
        cl.insert("exp".into(), json!(now_secs() - 60));
        let expired = pctx.minter.sign(&cl)?;
        tokens_used.push(expired.clone());
        super::common::reject_token(&pctx, &expired, "token_expired").await?;
        let tampered = tokens::tamper(&good);
        tokens_used.push(tampered.clone());
        super::common::reject_token(&pctx, &tampered, "invalid_token").await?;
        let p = pctx.minter.publisher(None)?;
        tokens_used.push(p.clone());
        pctx.publish(
            &p,
            &json!({"room": format!("org:{org}"), "type": "test:log", "payload": 1}),
        )
        .await?;
        let bp = tokens::tamper(&p);
        tokens_used.push(bp.clone());
        pctx.publish(
            &bp,
            &json!({"room": format!("org:{org}"), "type": "test:log", "payload": 1}),
        )
        .await?;
        let answers = error_answers(&pctx, &org, &user, &mut tokens_used).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, metrics_text) = metrics(&pctx).await?;
        let logs = inst.log.lines().join("\n");
        for t in &tokens_used {
            let sig = t.rsplit('.').next().unwrap_or("");
            for (what, hay) in [
                ("log", &logs),
                ("/metrics", &metrics_text),
                ("error responses", &answers),
            ] {
                ensure(
                    !hay.contains(t.as_str()),
                    format!("a token appears in the {what}"),
                    "no token",
                    format!("{}…", &t[..t.len().min(24)]),
                )?;
                ensure(
                    sig.len() < 16 || !hay.contains(sig),
                    format!("a token's signature appears in the {what}"),
                    "no signature",
                    sig,
                )?;
            }
        }
        Ok(())
    }
    .await;
    inst.stop().await;
    r
}

/// OPS-11's error answers: refused tokens of every kind on every path, and
/// everything the server answered them (CONNECT_ERROR, publish error bodies,
/// refresh acks, the `system:error` and disconnect of an expiring socket),
/// joined into one text to search for the tokens it records in `used`.
async fn error_answers(
    ctx: &Ctx,
    org: &str,
    user: &str,
    used: &mut Vec<String>,
) -> Result<String, CheckFailure> {
    let mut out = Vec::new();
    let good = ctx.minter.client(org, user)?;
    let mut expired = client_claims(org, user);
    expired.insert("exp".into(), json!(now_secs() - 60));
    let mut no_org = client_claims(org, user);
    no_org.remove("organizationId");
    // a string that is no JWS (echoed as "bad token: …" by careless servers), and real tokens
    let refused = vec![
        format!("roomcast-leak-probe-{}", ctx.uniq("p")),
        tokens::tamper(&good),
        ctx.minter.sign(&expired)?,
        ctx.minter.sign(&no_org)?,
    ];
    let body = json!({"room": format!("org:{org}"), "type": "test:log", "payload": 1});
    for t in &refused {
        used.push(t.clone());
        let (c, reply) = ctx
            .try_connect(Some(json!({ "token": t })), &Default::default())
            .await?;
        c.close().await;
        out.push(format!("{reply:?}"));
        let r = ctx.publish(t, &body).await?;
        out.push(format!("{} {:?} {}", r.status, r.headers, r.text()));
    }
    let mut short = client_claims(org, user);
    // three seconds: at least two whole seconds to connect on a loaded machine
    short.insert("exp".into(), json!(now_secs() + 3));
    let short = ctx.minter.sign(&short)?;
    used.push(short.clone());
    let (mut c, _) = ctx.connect_token(&short).await?;
    if ctx.has_feature("refresh") {
        for t in &refused {
            let ack = c
                .emit_ack("auth:refresh", vec![json!({ "token": t })])
                .await?;
            out.push(Value::Array(ack).to_string());
        }
    }
    // the expiry: system:error, the DISCONNECT and the close, whatever their reasons say
    let end = tokio::time::Instant::now() + Duration::from_secs(7);
    loop {
        let left = end.saturating_duration_since(tokio::time::Instant::now());
        match c.next_incoming(left, "the expiry").await {
            Ok(crate::client::Incoming::Closed(info)) => {
                out.push(format!("{info:?}"));
                break;
            }
            Ok(i) => out.push(format!("{i:?}")),
            Err(_) => break,
        }
    }
    c.close().await;
    Ok(out.join("\n"))
}
