//! Checks of the FAULT group: one fault scenario per requirement, staged on a
//! private cluster (its own `redis-server` and as many instances as
//! `--instances`) under sustained traffic, and judged by [`crate::history`].
//!
//! ```text
//!  publisher per instance ──POST /v1/publish──▶ instance i ──Redis──▶ every instance
//!  poller per instance ─────GET /readyz───────▶                          │
//!  4 sockets per instance ◀──────────────── events ◀─────────────────────┘
//!          │ recorded: publishes, receive logs, membership, readiness
//!          ▼
//!  fault (scenario) ─▶ recovery ─▶ drain ─▶ history::check + readiness + crashes
//! ```
//!
//! Scenarios run one at a time (they are timing-sensitive and each starts a
//! cluster); each prints its history table on stderr.

use super::common::subscribe;
use crate::check;
use crate::client::{ClientError, Incoming, WsClient};
use crate::ctx::{CheckFailure, CheckResult, Ctx};
use crate::history::{self, Bounds, Change, Publish, Receive, SocketLog};
use crate::redis::{RedisMode, RedisServer};
use crate::runner::CheckDef;
use crate::spawn::{Instance, SpawnSpec};
use crate::transcript::Transcript;
use bytes::Bytes;
use protocol::socketio::PacketData;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The checks of this group.
pub const CHECKS: &[CheckDef] = &[
    check!(id: "FAULT-1", Must, feature: "redis", "Nothing accepted is lost when Redis restarts", fault_1),
    check!(id: "FAULT-2", Must, feature: "redis", "Nothing accepted is lost when the Redis connections are killed", fault_2),
    check!(id: "FAULT-3", Must, feature: "redis", "Readiness and delivery survive a Redis that stops answering", fault_3),
    check!(id: "FAULT-4", Must, feature: "redis", "The cluster keeps delivering when an instance dies", fault_4),
    check!(id: "FAULT-5", Must, feature: "redis", "Nothing accepted is lost in a rolling restart", fault_5),
    check!(id: "FAULT-6", Must, feature: "redis", "Instances started while Redis is down become ready when it comes up", fault_6),
];

/// How long after the recovery delivery must have resumed (the spec's resume bound).
pub const RESUME_MS: u64 = 5000;
/// Pause between two publishes of one instance's publisher.
const PUBLISH_EVERY: Duration = Duration::from_millis(20);
/// Pause between two readiness probes of one instance.
const PROBE_EVERY: Duration = Duration::from_millis(100);
/// The event type of the traffic.
const TYPE: &str = "test:fault";

/// One scenario at a time: each starts a cluster and measures timing.
static SERIAL: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    RedisRestart,
    ClientKill,
    RedisPause,
    InstanceKill,
    RollingRestart,
    RedisLateStart,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::RedisRestart => "redis SIGKILL + restart with AOF",
            Scenario::ClientKill => "CLIENT KILL one subscriber, then TYPE pubsub, then normal",
            Scenario::RedisPause => "redis SIGSTOP beyond the bound, SIGCONT",
            Scenario::InstanceKill => "one instance SIGKILLed",
            Scenario::RollingRestart => "rolling restart (SIGTERM, start again)",
            Scenario::RedisLateStart => "redis down while the instances start",
        }
    }

    /// Whether the harness must own Redis (kill, pause, restart it, or kill its clients).
    fn controls_redis(self) -> bool {
        !matches!(self, Scenario::InstanceKill | Scenario::RollingRestart)
    }

    /// Whether readiness must be 503 during the fault window.
    fn redis_unavailable(self) -> bool {
        matches!(
            self,
            Scenario::RedisRestart | Scenario::RedisPause | Scenario::RedisLateStart
        )
    }
}

async fn fault_1(ctx: Ctx) -> CheckResult {
    run(ctx, Scenario::RedisRestart).await
}

async fn fault_2(ctx: Ctx) -> CheckResult {
    run(ctx, Scenario::ClientKill).await
}

async fn fault_3(ctx: Ctx) -> CheckResult {
    run(ctx, Scenario::RedisPause).await
}

async fn fault_4(ctx: Ctx) -> CheckResult {
    run(ctx, Scenario::InstanceKill).await
}

async fn fault_5(ctx: Ctx) -> CheckResult {
    run(ctx, Scenario::RollingRestart).await
}

async fn fault_6(ctx: Ctx) -> CheckResult {
    run(ctx, Scenario::RedisLateStart).await
}

/// One instance slot: the instance running there now and its history.
struct Slot {
    inst: Option<Instance>,
    /// Stopped or killed on purpose: its exit is no crash.
    retired: Vec<Instance>,
    killed: bool,
}

/// A readiness sample: (slot, ms, status or None for no answer).
type Sample = (usize, u64, Option<u16>);

/// A staged cluster under traffic.
struct Stage {
    ctx: Ctx,
    /// A context whose transcript takes the traffic (not shown in reports).
    quiet: Ctx,
    t0: Instant,
    spec: SpawnSpec,
    /// The Redis the harness owns (None with `--redis URL`).
    redis: Option<RedisServer>,
    slots: Vec<Slot>,
    bases: Arc<RwLock<Vec<String>>>,
    orgs: [String; 2],
    sockets: Vec<Arc<Mutex<SocketLog>>>,
    readers: Vec<JoinHandle<()>>,
    stop_readers: Arc<AtomicBool>,
    publishes: Arc<Mutex<Vec<Publish>>>,
    stop_traffic: Arc<AtomicBool>,
    traffic: Vec<JoinHandle<()>>,
    samples: Arc<Mutex<Vec<Sample>>>,
    seq: Arc<AtomicU64>,
}

fn ms_since(t0: Instant) -> u64 {
    t0.elapsed().as_millis() as u64
}

/// The four rooms of the traffic: two sites of org A, one of org B with the same id.
fn rooms(orgs: &[String; 2]) -> [String; 3] {
    [
        format!("org:{}:site:s1", orgs[0]),
        format!("org:{}:site:s2", orgs[0]),
        format!("org:{}:site:s1", orgs[1]),
    ]
}

impl Stage {
    async fn new(ctx: &Ctx, sc: Scenario) -> Result<Stage, CheckFailure> {
        let Some(spec) = ctx.cfg.spawn.clone() else {
            return Err(CheckFailure::skip(
                "needs --spawn: the harness starts, kills and restarts the instances",
            ));
        };
        let n = ctx.cfg.targets.len();
        if n < 2 {
            return Err(CheckFailure::skip(format!(
                "needs a cluster: run with --spawn CMD --instances 2 or more (got {n})"
            )));
        }
        let t0 = Instant::now();
        let (redis, url) = match &ctx.cfg.redis {
            RedisMode::DockerUnavailable(reason) => return Err(CheckFailure::skip(reason.clone())),
            RedisMode::Url(u) if sc.controls_redis() => {
                return Err(CheckFailure::skip(format!(
                    "this scenario kills, pauses or restarts Redis (or kills its clients): it needs a Redis of its own, not --redis {u}"
                )))
            }
            RedisMode::Url(u) => (None, u.clone()),
            mode @ (RedisMode::Process | RedisMode::Docker) => {
                let mut r = RedisServer::stopped_for(
                    mode,
                    &ctx.cfg.redis_server,
                    sc == Scenario::RedisRestart,
                )
                .map_err(|e| fail("provisioning Redis", e))?;
                if sc != Scenario::RedisLateStart {
                    r.up()
                        .await
                        .map_err(|e| fail("provisioning Redis", e))?;
                }
                let u = r.url();
                (Some(r), u)
            }
        };
        let mut spec = spec;
        spec.redis_url = Some(url.clone());
        ctx.tr.note(format!(
            "scenario: {}; {n} instances on {}{}",
            sc.name(),
            url,
            if sc == Scenario::RedisRestart {
                " (AOF)"
            } else {
                ""
            }
        ));
        let starts = (0..n).map(|_| {
            if sc == Scenario::RedisLateStart {
                futures_util::future::Either::Left(Instance::start_unready(&spec))
            } else {
                futures_util::future::Either::Right(Instance::start(&spec))
            }
        });
        let mut slots = Vec::new();
        let mut failed = None;
        for r in futures_util::future::join_all(starts).await {
            match r {
                Ok(i) => slots.push(Slot {
                    inst: Some(i),
                    retired: Vec::new(),
                    killed: false,
                }),
                Err(e) => failed = Some(e),
            }
        }
        if let Some(e) = failed {
            for s in slots {
                if let Some(i) = s.inst {
                    i.stop().await;
                }
            }
            // Redis that stopped answering is the harness's setup, not the
            // implementation's failure to start
            if let Some(r) = redis.as_ref().filter(|_| sc != Scenario::RedisLateStart) {
                if let Err(down) = r.command(&["PING"]).await {
                    return Err(fail(
                        "the provisioned Redis stopped answering while the instances started",
                        format!("{down}; instance: {e}"),
                    ));
                }
            }
            return Err(CheckFailure::fail(format!(
                "a cluster instance did not start: {e}"
            )));
        }
        let bases = slots
            .iter()
            .map(|s| s.inst.as_ref().map(|i| i.base.clone()).unwrap_or_default())
            .collect();
        let mut quiet = ctx.clone();
        quiet.tr = Transcript::new();
        let orgs = [ctx.uniq("a"), ctx.uniq("b")];
        Ok(Stage {
            ctx: ctx.clone(),
            quiet,
            t0,
            spec,
            redis,
            slots,
            bases: Arc::new(RwLock::new(bases)),
            orgs,
            sockets: Vec::new(),
            readers: Vec::new(),
            stop_readers: Arc::new(AtomicBool::new(false)),
            publishes: Arc::new(Mutex::new(Vec::new())),
            stop_traffic: Arc::new(AtomicBool::new(false)),
            traffic: Vec::new(),
            samples: Arc::new(Mutex::new(Vec::new())),
            seq: Arc::new(AtomicU64::new(1)),
        })
    }

    fn ms(&self) -> u64 {
        ms_since(self.t0)
    }

    fn note(&self, text: impl AsRef<str>) {
        self.ctx
            .tr
            .note(format!("[{} ms] {}", self.ms(), text.as_ref()));
    }

    fn base(&self, slot: usize) -> String {
        self.bases
            .read()
            .map(|b| b.get(slot).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Connects the sockets of one instance: a1 (org A, sites s1 and s2),
    /// a2 (org A, s1), a3 (org A, no site: a non-member), b1 (org B, its s1).
    async fn connect_sockets(&mut self, slot: usize, round: usize) -> CheckResult {
        let base = self.base(slot);
        let cx = self.quiet.with_target(&base);
        let plan: [(&str, usize, &[&str]); 4] = [
            ("a1", 0, &["s1", "s2"]),
            ("a2", 0, &["s1"]),
            ("a3", 0, &[]),
            ("b1", 1, &["s1"]),
        ];
        for (name, org_i, sites) in plan {
            let org = self.orgs[org_i].clone();
            let user = self.ctx.uniq(name);
            let (mut c, _) = cx.connect(&org, &user).await.map_err(|e| CheckFailure {
                message: format!("{name} on instance {slot}: {}", e.message),
                ..e
            })?;
            let mut log = SocketLog {
                name: if round == 0 {
                    format!("{name}@i{slot}")
                } else {
                    format!("{name}@i{slot}r{round}")
                },
                instance: slot,
                org: org.clone(),
                changes: vec![(self.ms(), Change::Connected)],
                received: Vec::new(),
            };
            for site in sites {
                let room = format!("org:{org}:site:{site}");
                subscribe(&mut c, "site", site, &room).await?;
                log.changes.push((self.ms(), Change::Joined(room)));
            }
            let log = Arc::new(Mutex::new(log));
            self.sockets.push(log.clone());
            self.readers.push(tokio::spawn(read_events(
                c,
                log,
                self.t0,
                self.stop_readers.clone(),
            )));
        }
        Ok(())
    }

    /// Starts one publisher and one readiness poller per slot.
    fn start_traffic(&mut self) -> Result<(), CheckFailure> {
        let token = self.ctx.minter.publisher(None)?;
        let rooms = rooms(&self.orgs);
        for slot in 0..self.slots.len() {
            let (bases, pubs, stop, seq, tr) = (
                self.bases.clone(),
                self.publishes.clone(),
                self.stop_traffic.clone(),
                self.seq.clone(),
                self.quiet.tr.clone(),
            );
            let (token, rooms, t0, step) = (token.clone(), rooms.clone(), self.t0, self.ctx.step());
            self.traffic.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let base = bases.read().map(|b| b[slot].clone()).unwrap_or_default();
                    if base.is_empty() {
                        tokio::time::sleep(PUBLISH_EVERY).await;
                        continue;
                    }
                    let n = seq.fetch_add(1, Ordering::SeqCst);
                    let room = rooms[(n as usize) % rooms.len()].clone();
                    let body =
                        json!({"room": room, "type": TYPE, "payload": {"seq": n, "via": slot}});
                    let auth = format!("Bearer {token}");
                    let sent = ms_since(t0);
                    let r = crate::http::request(
                        &tr,
                        "POST",
                        &format!("{base}/v1/publish"),
                        &[
                            ("content-type", "application/json"),
                            ("authorization", &auth),
                        ],
                        Some(Bytes::from(body.to_string())),
                        step,
                    )
                    .await;
                    let answered = ms_since(t0);
                    let (status, event_id, answered) = match r {
                        Ok(resp) => (
                            Some(resp.status),
                            resp.json().and_then(|v| {
                                v.get("eventId").and_then(Value::as_str).map(str::to_string)
                            }),
                            Some(answered),
                        ),
                        Err(_) => (None, None, None),
                    };
                    if let Ok(mut p) = pubs.lock() {
                        p.push(Publish {
                            seq: n,
                            instance: slot,
                            room,
                            sent,
                            answered,
                            status,
                            event_id,
                        });
                    }
                    tokio::time::sleep(PUBLISH_EVERY).await;
                }
            }));
            let (bases, samples, stop, tr) = (
                self.bases.clone(),
                self.samples.clone(),
                self.stop_traffic.clone(),
                self.quiet.tr.clone(),
            );
            let t0 = self.t0;
            self.traffic.push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let base = bases.read().map(|b| b[slot].clone()).unwrap_or_default();
                    if !base.is_empty() {
                        let r = crate::http::request(
                            &tr,
                            "GET",
                            &format!("{base}/readyz"),
                            &[],
                            None,
                            Duration::from_millis(500),
                        )
                        .await;
                        let at = ms_since(t0);
                        if let Ok(mut s) = samples.lock() {
                            s.push((slot, at, r.ok().map(|r| r.status)));
                        }
                    }
                    tokio::time::sleep(PROBE_EVERY).await;
                }
            }));
        }
        Ok(())
    }

    fn publishes(&self) -> Vec<Publish> {
        self.publishes.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn socket_logs(&self) -> Vec<SocketLog> {
        self.sockets
            .iter()
            .filter_map(|s| s.lock().ok().map(|l| l.clone()))
            .collect()
    }

    fn live_slots(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|i| !self.slots[*i].killed)
            .collect()
    }

    /// Waits until every live slot answered a publish sent after `since` with 202,
    /// or until `until` ms.
    async fn wait_accepting(&self, since: u64, until: u64) {
        while self.ms() < until {
            let ps = self.publishes();
            let ok = self.live_slots().iter().all(|s| {
                ps.iter()
                    .any(|p| p.instance == *s && p.sent >= since && p.accepted())
            });
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops everything and removes the cluster.
    async fn teardown(mut self) {
        self.stop_traffic.store(true, Ordering::SeqCst);
        self.stop_readers.store(true, Ordering::SeqCst);
        for t in self.traffic.drain(..) {
            t.abort();
        }
        for r in self.readers.drain(..) {
            r.abort();
        }
        if let Some(r) = self.redis.as_mut() {
            let _ = r.signal("CONT").await;
            r.down().await;
        }
        let mut stops = Vec::new();
        for s in self.slots.drain(..) {
            stops.extend(s.inst);
        }
        futures_util::future::join_all(stops.into_iter().map(Instance::stop)).await;
    }
}

/// Records the `test:` events a socket receives until stopped or closed.
async fn read_events(
    mut c: WsClient,
    log: Arc<Mutex<SocketLog>>,
    t0: Instant,
    stop: Arc<AtomicBool>,
) {
    let nsp = c.nsp.clone();
    while !stop.load(Ordering::SeqCst) {
        match c
            .next_incoming(Duration::from_millis(200), "traffic events")
            .await
        {
            Ok(Incoming::Sio(p)) if p.nsp == nsp => {
                let at = ms_since(t0);
                if let PacketData::Event { args, .. } = p.data {
                    let name = args.first().and_then(Value::as_str).unwrap_or("");
                    if !name.starts_with("test:") {
                        continue;
                    }
                    let env = args.get(1).cloned().unwrap_or(Value::Null);
                    let s = |k: &str| env.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    let r = Receive {
                        event_id: s("eventId"),
                        ty: name.to_string(),
                        timestamp: s("timestamp"),
                        seq: env
                            .get("payload")
                            .and_then(|p| p.get("seq"))
                            .and_then(Value::as_u64),
                        at,
                    };
                    if let Ok(mut l) = log.lock() {
                        l.received.push(r);
                    }
                }
            }
            Ok(Incoming::Closed(_)) | Err(ClientError::Closed(..)) => {
                if let Ok(mut l) = log.lock() {
                    l.changes.push((ms_since(t0), Change::Disconnected));
                }
                return;
            }
            _ => {}
        }
    }
    c.close().await;
}

/// Runs one scenario, serialized with the other FAULT scenarios.
async fn run(ctx: Ctx, sc: Scenario) -> CheckResult {
    let _turn = SERIAL
        .acquire()
        .await
        .map_err(|e| CheckFailure::fail(format!("harness: {e}")))?;
    let started = Instant::now();
    let mut st = Stage::new(&ctx, sc).await?;
    let r = stage(&mut st, sc).await;
    st.teardown().await;
    ctx.tr.note(format!(
        "scenario took {} ms",
        started.elapsed().as_millis()
    ));
    r
}

async fn stage(st: &mut Stage, sc: Scenario) -> CheckResult {
    let bound = st.ctx.step().as_millis() as u64;
    let fault_start_at_spawn = st.ms();
    for slot in 0..st.slots.len() {
        st.connect_sockets(slot, 0).await?;
    }
    st.note(format!(
        "{} sockets connected and subscribed; traffic starts",
        st.sockets.len()
    ));
    st.start_traffic()?;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (start, recovered) = inject(st, sc, bound, fault_start_at_spawn).await?;
    st.note(format!("fault window {start}..{recovered} ms"));
    // traffic goes on until every instance accepts again, then one more second
    st.wait_accepting(recovered, recovered + RESUME_MS + 500)
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    st.stop_traffic.store(true, Ordering::SeqCst);
    for t in st.traffic.drain(..) {
        let _ = t.await;
    }
    let last = st.ms();
    st.note("traffic stopped; draining");
    let bounds = Bounds {
        delivery_ms: bound,
        fault: Some((start, recovered)),
        resume_ms: RESUME_MS,
    };
    // drain: until nothing required is missing (then a quiet window for
    // duplicates), at most until the last deadline
    let publishes = st.publishes();
    let last_deadline = publishes
        .iter()
        .filter(|p| p.accepted())
        .map(|p| bounds.deadline(p))
        .max()
        .unwrap_or(last)
        .max(last);
    loop {
        let r = history::check(&publishes, &st.socket_logs(), &bounds);
        if r.count(history::Anomaly::Lost) == 0 || st.ms() > last_deadline + 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    st.stop_readers.store(true, Ordering::SeqCst);
    for r in st.readers.drain(..) {
        let _ = r.await;
    }
    judge(st, sc, &bounds, start, recovered)
}

/// Stages the fault; returns the fault window `(start, recovered)` in ms.
async fn inject(
    st: &mut Stage,
    sc: Scenario,
    bound: u64,
    spawned_at: u64,
) -> Result<(u64, u64), CheckFailure> {
    let mut owned = st.redis.take();
    let r = inject_with(st, sc, bound, spawned_at, owned.as_mut()).await;
    st.redis = owned;
    r
}

async fn inject_with(
    st: &mut Stage,
    sc: Scenario,
    bound: u64,
    spawned_at: u64,
    redis: Option<&mut RedisServer>,
) -> Result<(u64, u64), CheckFailure> {
    let mut unused;
    let redis = match redis {
        Some(r) => r,
        None if sc.controls_redis() => {
            return Err(CheckFailure::skip("this scenario needs a Redis of its own"))
        }
        // the scenarios that do not touch Redis get a handle they never use
        None => {
            unused = RedisServer::stopped(&st.ctx.cfg.redis_server, false)
                .map_err(|e| fail("redis", e))?;
            &mut unused
        }
    };
    match sc {
        Scenario::RedisRestart => {
            let start = st.ms();
            st.note("SIGKILL redis");
            redis.down().await;
            tokio::time::sleep(Duration::from_millis(bound + 1500)).await;
            st.note("restart redis on the same port (AOF)");
            // the recovery is when the restart begins: a /readyz 200 answered
            // while Redis starts is no lie (and the resume bound is no looser)
            let recovered = st.ms();
            redis.up().await.map_err(|e| fail("redis restart", e))?;
            Ok((start, recovered))
        }
        Scenario::ClientKill => {
            // one instance's subscriber alone (the others keep publishing), then
            // every subscriber connection, then every normal connection
            let start = st.ms();
            // four times, a different subscriber each time where there are several
            for round in 0..4usize {
                let list = redis
                    .command(&["CLIENT", "LIST", "TYPE", "pubsub"])
                    .await
                    .map_err(|e| fail("CLIENT LIST TYPE pubsub", e))?;
                let ids: Vec<String> = list
                    .lines()
                    .filter_map(|l| l.split(' ').find_map(|kv| kv.strip_prefix("id=")))
                    .map(str::to_string)
                    .collect();
                let Some(id) = ids.get(round % ids.len().max(1)) else {
                    st.note("no pubsub client (the implementation does not use pub/sub)");
                    break;
                };
                let r = redis
                    .command(&["CLIENT", "KILL", "ID", id])
                    .await
                    .map_err(|e| fail("CLIENT KILL ID", e))?;
                st.note(format!(
                    "CLIENT KILL ID {id} (one subscriber connection): {r}"
                ));
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            for kind in ["pubsub", "normal"] {
                let r = redis
                    .command(&["CLIENT", "KILL", "TYPE", kind])
                    .await
                    .map_err(|e| fail(&format!("CLIENT KILL TYPE {kind}"), e))?;
                st.note(format!("CLIENT KILL TYPE {kind}: {r}"));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok((start, st.ms()))
        }
        Scenario::RedisPause => {
            let start = st.ms();
            st.note("SIGSTOP redis");
            redis.signal("STOP").await.map_err(|e| fail("SIGSTOP", e))?;
            tokio::time::sleep(Duration::from_millis(bound + 2500)).await;
            // the recovery is taken before SIGCONT: an instance may answer
            // /readyz 200 before `kill -CONT` returns
            let recovered = st.ms();
            redis.signal("CONT").await.map_err(|e| fail("SIGCONT", e))?;
            st.note("SIGCONT redis");
            Ok((start, recovered))
        }
        Scenario::InstanceKill => {
            let victim = st.slots.len() - 1;
            let start = st.ms();
            st.note(format!("SIGKILL instance {victim}"));
            if let Ok(mut b) = st.bases.write() {
                b[victim] = String::new();
            }
            let slot = &mut st.slots[victim];
            slot.killed = true;
            if let Some(i) = slot.inst.take() {
                i.sigkill();
                slot.retired.push(i);
            }
            Ok((start, start))
        }
        Scenario::RollingRestart => {
            let start = st.ms();
            for slot in 0..st.slots.len() {
                let Some(mut old) = st.slots[slot].inst.take() else {
                    continue;
                };
                st.note(format!("SIGTERM instance {slot}"));
                old.sigterm();
                let exit = old.wait_exit(Duration::from_secs(12)).await;
                st.note(format!("instance {slot} exited: {exit:?}"));
                if let Ok(mut b) = st.bases.write() {
                    b[slot] = String::new();
                }
                st.slots[slot].retired.push(old);
                let new = Instance::start(&st.spec).await.map_err(|e| {
                    CheckFailure::fail(format!(
                        "the successor of instance {slot} did not start: {e}"
                    ))
                })?;
                st.note(format!("instance {slot} started again at {}", new.base));
                if let Ok(mut b) = st.bases.write() {
                    b[slot] = new.base.clone();
                }
                st.slots[slot].inst = Some(new);
                st.connect_sockets(slot, 1).await?;
            }
            Ok((start, st.ms()))
        }
        Scenario::RedisLateStart => {
            tokio::time::sleep(Duration::from_millis(bound + 1500)).await;
            st.note("start redis");
            let recovered = st.ms(); // as in RedisRestart
            redis.up().await.map_err(|e| fail("redis start", e))?;
            Ok((spawned_at, recovered))
        }
    }
}

/// A step of the harness itself failed (not the implementation's fault): ERROR.
fn fail(what: &str, e: String) -> CheckFailure {
    CheckFailure::error(
        format!("the harness could not stage the fault ({what}: {e})"),
        "check that redis-server runs here (--redis-server PROGRAM), or with --redis docker that the Docker engine runs, and rerun",
    )
}

/// Applies the fault invariants to what was recorded.
fn judge(st: &mut Stage, sc: Scenario, bounds: &Bounds, start: u64, recovered: u64) -> CheckResult {
    let mut problems = Vec::new();
    // 1. no instance crashed
    for (i, s) in st.slots.iter_mut().enumerate() {
        if let Some(inst) = s.inst.as_mut() {
            if let Some(status) = inst.exited() {
                problems.push(format!(
                    "instance {i} exited ({status}); last output: {}",
                    inst.log.tail(14).replace('\n', " | ")
                ));
            }
        }
    }
    // 2. readiness
    let samples = st.samples.lock().map(|s| s.clone()).unwrap_or_default();
    let bound = bounds.delivery_ms;
    for slot in st.live_slots() {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.0 == slot).collect();
        if sc.redis_unavailable() {
            let from = start + bound + 1000;
            if let Some(s) = mine
                .iter()
                .find(|s| s.1 >= from && s.1 < recovered && s.2 == Some(200))
            {
                problems.push(format!(
                    "readiness lied: /readyz of instance {slot} answered 200 at {} ms, while Redis was unavailable ({start}..{recovered} ms)",
                    s.1
                ));
            }
        }
        let back = mine
            .iter()
            .find(|s| s.1 >= recovered && s.2 == Some(200))
            .map(|s| s.1);
        match back {
            Some(t) if t <= recovered + RESUME_MS => {}
            Some(t) => problems.push(format!(
                "/readyz of instance {slot} answered 200 only {} ms after the recovery (bound {RESUME_MS} ms)",
                t - recovered
            )),
            None => problems.push(format!(
                "/readyz of instance {slot} never answered 200 after the recovery at {recovered} ms"
            )),
        }
    }
    // 5. every live instance accepts publishes again within the resume bound
    let publishes = st.publishes();
    for slot in st.live_slots() {
        let ok = publishes.iter().any(|p| {
            p.instance == slot
                && p.sent >= recovered
                && p.accepted()
                && p.answered.is_some_and(|a| a <= recovered + RESUME_MS)
        });
        if !ok {
            let last = publishes
                .iter()
                .rev()
                .find(|p| p.instance == slot && p.sent >= recovered)
                .map(|p| format!("{:?}", p.status))
                .unwrap_or_else(|| "no publish".into());
            problems.push(format!(
                "instance {slot} accepted no publish (202) within {RESUME_MS} ms of the recovery; last answer {last}"
            ));
        }
    }
    // 3, 4, 5: the history
    let logs = st.socket_logs();
    let report = history::check(&publishes, &logs, bounds);
    if !report.clean() {
        problems.push(format!("history: {}", report.summary()));
    }
    let table = report.to_string();
    eprintln!(
        "── {} ({}): {}\n{}",
        st.ctx.id,
        sc.name(),
        report.summary(),
        table.trim_end()
    );
    for line in table.lines() {
        st.ctx.tr.note(line);
    }
    for p in &problems {
        st.note(format!("PROBLEM: {p}"));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(CheckFailure::fail(format!(
        "{}: {}{}",
        sc.name(),
        problems[0],
        if problems.len() > 1 {
            format!(" (and {} more problems)", problems.len() - 1)
        } else {
            String::new()
        }
    ))
    .expected("the fault invariants: no crash, truthful /readyz, every 202 delivered once and in order, nothing foreign, resume within 5 s")
    .actual(format!("{}\n{}", problems.join("\n"), table.trim_end())))
}
