//! Checks of the FAN group: several instances behind one Redis.
//!
//! With `--spawn`, each check provisions its own `redis-server` and two
//! instances sharing it (so outages can be staged); without it, FAN-1..4 use
//! the first two `--target`s, which must share one Redis.

use super::common::{
    accepted_id, event_id_of, expect_marker, next_marker, publish_marker, recv_envelope, subscribe,
    MARKER,
};
use crate::check;
use crate::client::WsClient;
use crate::ctx::{ensure, ensure_json, CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::redis::RedisServer;
use crate::runner::CheckDef;
use crate::spawn::Instance;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "FAN-1", Must, feature: "redis", "A published event reaches every socket of its room on every instance", fan_1),
    check!(id: "FAN-2", Must, feature: "redis", "Each socket receives a clustered event exactly once", fan_2),
    check!(id: "FAN-3", Must, feature: "redis", "Clustered delivery happens within the bound", fan_3),
    check!(id: "FAN-4", Should, feature: "redis", "Order holds across instances", fan_4),
    check!(id: "FAN-5", Must, "Without Redis one instance fans out in memory", fan_5),
    check!(id: "FAN-6", Must, "Standalone start logs a warning", fan_6),
    check!(id: "FAN-7", Must, feature: "redis", "Sockets stay connected while Redis is down", fan_7),
    check!(id: "FAN-8", Must, feature: "redis", "/readyz answers 503 while Redis is down", fan_8),
    check!(id: "FAN-9", Must, feature: "redis", "Publishes answer 503 while Redis is down", fan_9),
    check!(id: "FAN-10", Must, feature: "redis", "Delivery resumes by itself when Redis returns", fan_10),
    check!(id: "FAN-11", May, feature: "recovery", "Connection-state recovery across instances", fan_11),
];

/// Two contexts, one per instance of one cluster, and what to stop afterwards.
struct Cluster {
    ctxs: Vec<Ctx>,
    owned: Option<(RedisServer, Vec<Instance>)>,
}

impl Cluster {
    async fn new(ctx: &Ctx) -> Result<Cluster, CheckFailure> {
        if ctx.cfg.spawn.is_some() {
            // as many instances as --instances, at least two
            let n = ctx.cfg.targets.len().max(2);
            let (redis, insts) = ctx.private_cluster(n).await?;
            let ctxs = insts.iter().map(|i| ctx.with_target(&i.base)).collect();
            return Ok(Cluster {
                ctxs,
                owned: Some((redis, insts)),
            });
        }
        if ctx.cfg.targets.len() < 2 {
            return Err(CheckFailure::skip(
                "needs two instances of one cluster: give --target twice (or --spawn)",
            ));
        }
        let ctxs = ctx
            .cfg
            .targets
            .iter()
            .take(2)
            .map(|t| ctx.with_target(t))
            .collect();
        Ok(Cluster { ctxs, owned: None })
    }

    fn at(&self, i: usize) -> &Ctx {
        &self.ctxs[i % self.ctxs.len()]
    }

    fn len(&self) -> usize {
        self.ctxs.len()
    }

    fn redis(&mut self) -> Result<&mut RedisServer, CheckFailure> {
        self.owned.as_mut().map(|(r, _)| r).ok_or_else(|| {
            CheckFailure::skip("needs a Redis the harness controls: run the harness with --spawn")
        })
    }

    async fn stop(self) {
        if let Some((mut redis, insts)) = self.owned {
            futures_util::future::join_all(insts.into_iter().map(Instance::stop)).await;
            redis.down().await;
        }
    }
}

/// One socket per instance in the same site room: (sockets, org, room).
///
/// No pause follows the subscribe acks: a subscription is effective across the
/// cluster at its ack (FAN-1), so a publish right after it must reach it.
async fn members(cl: &Cluster) -> Result<(Vec<WsClient>, String, String), CheckFailure> {
    let org = cl.at(0).uniq("org");
    let room = format!("org:{org}:site:s1");
    let mut socks = Vec::new();
    for i in 0..cl.len() {
        let (mut c, _) = cl
            .at(i)
            .connect(&org, &cl.at(i).uniq(&format!("u{i}")))
            .await?;
        subscribe(&mut c, "site", "s1", &room).await?;
        socks.push(c);
    }
    Ok((socks, org, room))
}

/// On every instance, sockets that must not get the events of `org`'s site s1:
/// a member of `org` outside the site, and a member of another organization in
/// its own site s1. Returns them with the room each is in (for markers).
async fn outsiders(cl: &Cluster, org: &str) -> Result<Vec<(WsClient, String)>, CheckFailure> {
    let other = cl.at(0).uniq("other");
    let mut out = Vec::new();
    for i in 0..cl.len() {
        let (c, _) = cl
            .at(i)
            .connect(org, &cl.at(i).uniq(&format!("n{i}")))
            .await?;
        out.push((c, format!("org:{org}")));
        let (mut c, _) = cl
            .at(i)
            .connect(&other, &cl.at(i).uniq(&format!("o{i}")))
            .await?;
        let room = format!("org:{other}:site:s1");
        subscribe(&mut c, "site", "s1", &room).await?;
        out.push((c, room));
    }
    Ok(out)
}

/// Publishes one marker through every instance into each outsider's room; the
/// next events of each outsider must be exactly those markers (PUB-4 puts a
/// marker after everything published earlier through the same instance).
async fn expect_only_markers(cl: &Cluster, outs: &mut [(WsClient, String)]) -> CheckResult {
    let mut rooms: Vec<String> = outs.iter().map(|(_, r)| r.clone()).collect();
    rooms.sort();
    rooms.dedup();
    let mut ids = Vec::new();
    for via in 0..cl.len() {
        for r in &rooms {
            ids.push(publish_marker(cl.at(via), r).await?);
        }
    }
    for (i, (c, room)) in outs.iter_mut().enumerate() {
        for _ in 0..cl.len() {
            let (name, args) = c.next_event("a marker").await?;
            let id = event_id_of(&args);
            ensure(
                name == MARKER && ids.iter().any(|m| m == id),
                format!(
                    "a socket outside the room (instance {}, in {room}) received an event of the room",
                    i / 2
                ),
                format!("only the markers {MARKER}"),
                format!("{name} {}", Value::Array(args.clone())),
            )?;
        }
    }
    Ok(())
}

/// Names the receiving instance and the publishing one in a failure.
fn on_instance(i: usize, via: usize) -> impl FnOnce(CheckFailure) -> CheckFailure {
    move |e| CheckFailure {
        message: format!("socket on instance {i}, published via {via}: {}", e.message),
        ..e
    }
}

/// Runs `f` on a fresh cluster and stops it afterwards.
macro_rules! with_cluster {
    ($ctx:expr, |$cl:ident| $body:expr) => {{
        #[allow(unused_mut)]
        let mut $cl = Cluster::new(&$ctx).await?;
        let r: CheckResult = async { $body }.await;
        $cl.stop().await;
        r
    }};
}

async fn fan_1(ctx: Ctx) -> CheckResult {
    with_cluster!(ctx, |cl| {
        let (mut socks, org, room) = members(&cl).await?;
        let mut outs = outsiders(&cl, &org).await?;
        for via in 0..cl.len() {
            let b = cl
                .at(via)
                .publish_ok(&room, "test:clustered", json!({ "via": via }))
                .await?;
            for (i, s) in socks.iter_mut().enumerate() {
                let e = recv_envelope(s, "test:clustered")
                    .await
                    .map_err(on_instance(i, via))?;
                ensure_json(
                    &format!("eventId on instance {i}, published via {via}"),
                    b.get("eventId").unwrap_or(&Value::Null),
                    &json!(e.event_id),
                )?;
                // one event has one timestamp everywhere (ENV-7), also across instances
                ensure_json(
                    &format!("timestamp on instance {i}, published via {via}"),
                    b.get("timestamp").unwrap_or(&Value::Null),
                    &json!(e.timestamp),
                )?;
            }
        }
        expect_only_markers(&cl, &mut outs).await?;
        // the members are in the organization room too: they got those markers
        for (i, s) in socks.iter_mut().enumerate() {
            for _ in 0..cl.len() {
                let (name, _) = s.next_event("a marker").await?;
                ensure(
                    name == MARKER,
                    format!("socket on instance {i}: an event arrived twice"),
                    MARKER,
                    &name,
                )?;
            }
        }
        // an unsubscribe takes effect across the cluster at its ack: through
        // instance 0, a marker into the room, then one into the organization
        let last = socks.len() - 1;
        let args = socks[last]
            .emit_ack("unsubscribe:site", vec![json!("s1")])
            .await?;
        expect::ack_ok(&args, &room)?;
        let m = publish_marker(cl.at(0), &room).await?;
        let m2 = publish_marker(cl.at(0), &format!("org:{org}")).await?;
        for (i, s) in socks.iter_mut().enumerate() {
            if i == last {
                expect_marker(
                    s,
                    &m2,
                    &format!("socket on instance {i} after unsubscribe:site"),
                )
                .await?;
            } else {
                next_marker(s, &m, &format!("socket on instance {i}")).await?;
                expect_marker(s, &m2, &format!("socket on instance {i}")).await?;
            }
        }
        for s in socks {
            s.close().await;
        }
        for (c, _) in outs {
            c.close().await;
        }
        Ok(())
    })
}

async fn fan_2(ctx: Ctx) -> CheckResult {
    with_cluster!(ctx, |cl| {
        let (mut socks, _, room) = members(&cl).await?;
        // under load: a burst through every instance, each publish sent when
        // the one before it through that instance was answered
        const BURST: usize = 15;
        let bursts = (0..cl.len()).map(|via| {
            let c = cl.at(via).clone();
            let room = room.clone();
            async move {
                let mut ids = Vec::new();
                for n in 0..BURST {
                    let b = c
                        .publish_ok(&room, "test:once", json!({ "via": via, "n": n }))
                        .await?;
                    ids.push(accepted_id(&b));
                }
                Ok::<_, CheckFailure>(ids)
            }
        });
        let mut per_via = Vec::new();
        for r in futures_util::future::join_all(bursts).await {
            per_via.push(r?);
        }
        for (i, s) in socks.iter_mut().enumerate() {
            let mut seen: Vec<String> = Vec::new();
            for _ in 0..BURST * cl.len() {
                let e = recv_envelope(s, "test:once").await?;
                ensure(
                    !seen.contains(&e.event_id),
                    format!("socket on instance {i}: the same event arrived twice"),
                    "each eventId once",
                    &e.event_id,
                )?;
                seen.push(e.event_id);
            }
            // PUB-4 holds in a cluster: through one instance, in publish order
            for (via, ids) in per_via.iter().enumerate() {
                let got: Vec<&String> = seen.iter().filter(|id| ids.contains(id)).collect();
                let want: Vec<&String> = ids.iter().collect();
                ensure(
                    got == want,
                    format!("socket on instance {i}: events published through instance {via} arrived out of order (PUB-4 in a cluster)"),
                    format!("{want:?}"),
                    format!("{got:?}"),
                )?;
            }
        }
        let quiet = futures_util::future::join_all(
            socks
                .iter_mut()
                .map(|s| s.expect_silence(Duration::from_millis(1000))),
        )
        .await;
        for q in quiet {
            q.map_err(|i| {
                CheckFailure::fail("a duplicate within the quiet window").actual(format!("{i:?}"))
            })?;
        }
        for s in socks {
            s.close().await;
        }
        Ok(())
    })
}

async fn fan_3(ctx: Ctx) -> CheckResult {
    with_cluster!(ctx, |cl| {
        let (mut socks, _, room) = members(&cl).await?;
        let mut worst = Duration::ZERO;
        // through every instance in turn, to every other instance
        for n in 0..2 * cl.len() {
            let via = n % cl.len();
            cl.at(via).publish_ok(&room, "test:timed", json!(n)).await?;
            let t0 = Instant::now();
            for (i, s) in socks.iter_mut().enumerate() {
                recv_envelope(s, "test:timed")
                    .await
                    .map_err(on_instance(i, via))?;
                if i != via {
                    worst = worst.max(t0.elapsed());
                }
            }
        }
        ensure(
            worst <= ctx.step(),
            "delivery to another instance exceeded the bound",
            format!("≤ {} ms after the 202", ctx.step().as_millis()),
            format!("{} ms", worst.as_millis()),
        )?;
        for s in socks {
            s.close().await;
        }
        Ok(())
    })
}

async fn fan_4(ctx: Ctx) -> CheckResult {
    with_cluster!(ctx, |cl| {
        let (mut socks, _, room) = members(&cl).await?;
        let mut ids = Vec::new();
        for n in 0..10 {
            let b = cl
                .at(n % cl.len())
                .publish_ok(&room, "test:order", json!(n))
                .await?;
            ids.push(b.get("eventId").cloned().unwrap_or(Value::Null));
        }
        for (i, s) in socks.iter_mut().enumerate() {
            for (n, id) in ids.iter().enumerate() {
                let e = recv_envelope(s, "test:order").await?;
                ensure(
                    json!(e.event_id) == *id,
                    format!("socket on instance {i}: event {n} out of order"),
                    id,
                    &e.event_id,
                )?;
            }
        }
        for s in socks {
            s.close().await;
        }
        Ok(())
    })
}

async fn fan_5(ctx: Ctx) -> CheckResult {
    // standalone: a private instance without REDIS_URL when spawning, else the target
    let inst =
        if ctx
            .cfg
            .spawn
            .as_ref()
            .is_some_and(|s| s.redis_url.is_some())
        {
            let mut spec = ctx
                .cfg
                .spawn
                .clone()
                .ok_or_else(|| CheckFailure::fail("spawn"))?;
            spec.redis_url = None;
            Some(Instance::start(&spec).await.map_err(|e| {
                CheckFailure::fail(format!("standalone instance did not start: {e}"))
            })?)
        } else {
            None
        };
    let sctx = inst
        .as_ref()
        .map(|i| ctx.with_target(&i.base))
        .unwrap_or_else(|| ctx.clone());
    let r = async {
        let org = sctx.uniq("org");
        let (mut a, _) = sctx.connect(&org, &sctx.uniq("a")).await?;
        let (mut b, _) = sctx.connect(&org, &sctx.uniq("b")).await?;
        let bb = sctx
            .publish_ok(&format!("org:{org}"), "test:standalone", json!(1))
            .await?;
        for c in [&mut a, &mut b] {
            let e = recv_envelope(c, "test:standalone").await?;
            ensure_json(
                "standalone eventId",
                bb.get("eventId").unwrap_or(&Value::Null),
                &json!(e.event_id),
            )?;
        }
        let r = sctx.http("GET", "/readyz", &[], None).await?;
        ensure(
            r.status == 200,
            "/readyz of a standalone instance",
            "200",
            r.status,
        )?;
        a.close().await;
        b.close().await;
        Ok(())
    }
    .await;
    if let Some(i) = inst {
        i.stop().await;
    }
    r
}

async fn fan_6(ctx: Ctx) -> CheckResult {
    let Some(spec) = ctx.cfg.spawn.clone() else {
        return Err(CheckFailure::skip(
            "the start-up log is checked with --spawn only",
        ));
    };
    let mut spec = spec;
    spec.redis_url = None;
    let inst = Instance::start(&spec)
        .await
        .map_err(|e| CheckFailure::fail(format!("standalone instance did not start: {e}")))?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = inst.log.lines();
    inst.stop().await;
    let warning = lines.iter().find(|l| {
        let low = l.to_ascii_lowercase();
        low.contains("warn")
            && (low.contains("redis") || low.contains("in-memory") || low.contains("single"))
    });
    ensure(
        warning.is_some(),
        "no warning about standalone in-memory fan-out at start",
        "a WARN record mentioning REDIS_URL / in-memory / single instance",
        lines
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(" | "),
    )
}

/// A cluster with one socket on each instance, Redis stopped afterwards.
async fn outage(ctx: &Ctx) -> Result<(Cluster, Vec<WsClient>, String, String), CheckFailure> {
    let mut cl = Cluster::new(ctx).await?;
    if cl.owned.is_none() {
        cl.stop().await;
        return Err(CheckFailure::skip(
            "needs a Redis the harness controls: run the harness with --spawn",
        ));
    }
    let (socks, org, room) = members(&cl).await?;
    ctx.tr.note("stop Redis");
    cl.redis()?.down().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok((cl, socks, org, room))
}

async fn poll_status(
    ctx: &Ctx,
    path: &str,
    want: u16,
    within: Duration,
) -> Result<u16, CheckFailure> {
    let deadline = Instant::now() + within;
    let mut last = 0;
    while Instant::now() < deadline {
        if let Ok(r) = crate::http::request(
            &ctx.tr,
            "GET",
            &format!("{}{path}", ctx.target()),
            &[],
            None,
            Duration::from_millis(500),
        )
        .await
        {
            last = r.status;
            if r.status == want {
                return Ok(last);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(last)
}

async fn fan_7(ctx: Ctx) -> CheckResult {
    let (cl, mut socks, _, _) = outage(&ctx).await?;
    let r = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        for (i, s) in socks.iter_mut().enumerate() {
            let ack = s.emit_ack("system:ping", vec![]).await.map_err(|e| {
                CheckFailure::fail(format!(
                    "socket on instance {i} lost during the Redis outage: {e}"
                ))
            })?;
            ensure(
                !ack.is_empty(),
                "no ping ack during the outage",
                "a ping ack",
                Value::Array(ack),
            )?;
        }
        Ok(())
    }
    .await;
    cl.stop().await;
    r
}

async fn fan_8(ctx: Ctx) -> CheckResult {
    let (cl, _socks, _, _) = outage(&ctx).await?;
    let r = async {
        for i in 0..2 {
            let got = poll_status(cl.at(i), "/readyz", 503, Duration::from_secs(5)).await?;
            ensure(
                got == 503,
                format!("/readyz of instance {i} during the Redis outage"),
                "503",
                got,
            )?;
            let h = poll_status(cl.at(i), "/healthz", 200, Duration::from_secs(1)).await?;
            ensure(h == 200, "/healthz during the outage", "200", h)?;
        }
        Ok(())
    }
    .await;
    cl.stop().await;
    r
}

async fn publish_refused_while_down(ctx: &Ctx) -> CheckResult {
    let (cl, _socks, org, _) = outage(ctx).await?;
    let r = async {
        let token = ctx.minter.publisher(None)?;
        poll_status(cl.at(0), "/readyz", 503, Duration::from_secs(5)).await?;
        let resp = cl
            .at(0)
            .publish(
                &token,
                &json!({"room": format!("org:{org}"), "type": "test:down", "payload": 1}),
            )
            .await?;
        expect::http_error(&resp, 503, "UNAVAILABLE")
    }
    .await;
    cl.stop().await;
    r
}

async fn fan_9(ctx: Ctx) -> CheckResult {
    publish_refused_while_down(&ctx).await
}

/// PUB-24: the 503 half, staged with a Redis outage.
pub async fn pub_24_outage(ctx: &Ctx) -> CheckResult {
    publish_refused_while_down(ctx).await
}

/// OPS-2: /healthz during a Redis outage.
pub async fn ops_2_outage(ctx: &Ctx) -> CheckResult {
    let (cl, _socks, _, _) = outage(ctx).await?;
    let r = async {
        poll_status(cl.at(0), "/readyz", 503, Duration::from_secs(5)).await?;
        let h = poll_status(cl.at(0), "/healthz", 200, Duration::from_secs(1)).await?;
        ensure(h == 200, "/healthz during the Redis outage", "200", h)
    }
    .await;
    cl.stop().await;
    r
}

async fn fan_10(ctx: Ctx) -> CheckResult {
    let (mut cl, mut socks, org, room) = outage(&ctx).await?;
    let r = async {
        ctx.tr.note("restart Redis on the same port");
        cl.redis()?.up().await.map_err(CheckFailure::fail)?;
        for i in 0..2 {
            let got = poll_status(cl.at(i), "/readyz", 200, Duration::from_secs(15)).await?;
            ensure(
                got == 200,
                format!("/readyz of instance {i} after Redis returned"),
                "200 without a restart",
                got,
            )?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = cl.at(0).publish_ok(&room, "test:resumed", json!(1)).await?;
        for s in socks.iter_mut() {
            let e = recv_envelope(s, "test:resumed").await?;
            ensure_json(
                "resumed eventId",
                b.get("eventId").unwrap_or(&Value::Null),
                &json!(e.event_id),
            )?;
        }
        let m = publish_marker(cl.at(1), &format!("org:{org}")).await?;
        for s in socks.iter_mut() {
            next_marker(s, &m, "after the resume").await?;
        }
        Ok(())
    }
    .await;
    cl.stop().await;
    r
}

async fn fan_11(_ctx: Ctx) -> CheckResult {
    Err(CheckFailure::skip(
        "connection-state recovery is not checked by this version of the harness",
    ))
}
