//! The benchmark scenarios and how each one runs against a [`Subject`]:
//!
//! - `fanout-RxC-max` / `fanout-RxC-rN`: R rooms (organizations `bench-0…`) of C clients
//!   each; publishes at the highest rate the clients keep up with (closed loop: a room
//!   gets a new event only while fewer than `window` of its accepted events are still
//!   undelivered to its slowest client) or at N events/s in total on a fixed schedule
//!   (latency measured from the intended send time: coordinated omission corrected).
//! - `idle-N`: N connected, idle sockets (answering pings); server memory per socket.
//! - `handshake-N`: N JWT handshakes, `--concurrency` in flight; rate and latency.
//!
//! Every client checks its deliveries by the sequence numbers in the payloads (see
//! [`crate::seq_track`]); every figure is taken from this run alone.

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use futures_util::StreamExt as _;
use hdrhistogram::Histogram;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::os;
use crate::publisher::{Outcome, Publisher};
use crate::report::{Figures, Latency};
use crate::seq_track::{SeqSet, SeqTracker};
use crate::subject::Subject;
use crate::token::Minter;
use crate::wire_client::{self, bench_event, is_ping, Ws};

/// A scenario, parsed from its name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scenario {
    /// Fan-out to `rooms` rooms of `per_room` clients.
    Fanout {
        /// Rooms (one organization each).
        rooms: usize,
        /// Clients per room.
        per_room: usize,
        /// `None`: max rate (closed loop); `Some(r)`: r events/s in total.
        rate: Option<f64>,
    },
    /// Idle connections.
    Idle {
        /// How many.
        conns: usize,
    },
    /// A handshake storm.
    Handshake {
        /// How many handshakes.
        conns: usize,
    },
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Scenario, String> {
        let bad = || {
            format!(
                "unknown scenario {s:?}; expected fanout-ROOMSxCLIENTS-max, fanout-ROOMSxCLIENTS-rRATE, idle-N or handshake-N"
            )
        };
        let num = |t: &str| t.parse::<usize>().ok().filter(|&n| n > 0);
        let parts: Vec<&str> = s.split('-').collect();
        match parts.as_slice() {
            ["fanout", shape, rate] => {
                let (r, c) = shape.split_once('x').ok_or_else(bad)?;
                let rate = match *rate {
                    "max" => None,
                    r => Some(
                        r.strip_prefix('r')
                            .and_then(|n| n.parse::<f64>().ok())
                            .filter(|&n| n > 0.0)
                            .ok_or_else(bad)?,
                    ),
                };
                Ok(Scenario::Fanout {
                    rooms: num(r).ok_or_else(bad)?,
                    per_room: num(c).ok_or_else(bad)?,
                    rate,
                })
            }
            ["idle", n] => Ok(Scenario::Idle {
                conns: num(n).ok_or_else(bad)?,
            }),
            ["handshake", n] => Ok(Scenario::Handshake {
                conns: num(n).ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scenario::Fanout {
                rooms,
                per_room,
                rate: None,
            } => write!(f, "fanout-{rooms}x{per_room}-max"),
            Scenario::Fanout {
                rooms,
                per_room,
                rate: Some(r),
            } => write!(f, "fanout-{rooms}x{per_room}-r{r}"),
            Scenario::Idle { conns } => write!(f, "idle-{conns}"),
            Scenario::Handshake { conns } => write!(f, "handshake-{conns}"),
        }
    }
}

impl Scenario {
    /// How many sockets the scenario holds at once.
    pub fn connections(&self) -> usize {
        match *self {
            Scenario::Fanout {
                rooms, per_room, ..
            } => rooms * per_room,
            Scenario::Idle { conns } | Scenario::Handshake { conns } => conns,
        }
    }
}

/// The scenario sets of `--scenarios quick|full|default`.
pub fn preset(name: &str) -> Option<Vec<Scenario>> {
    let names: &[&str] = match name {
        "quick" => &[
            "idle-2000",
            "handshake-2000",
            "fanout-1x1000-max",
            "fanout-1x1000-r100",
            "fanout-1x1000-r300",
            "fanout-100x100-max",
        ],
        "default" => &[
            "idle-10000",
            "handshake-10000",
            "fanout-1x1000-max",
            "fanout-1x1000-r20",
            "fanout-1x1000-r100",
            "fanout-1x1000-r300",
            "fanout-100x100-max",
            "fanout-100x100-r3000",
        ],
        "full" => {
            let mut full = preset("default")?;
            full.insert(1, Scenario::Idle { conns: 100_000 });
            return Some(full);
        }
        _ => return None,
    };
    Some(
        names
            .iter()
            .map(|n| n.parse().expect("preset names parse"))
            .collect(),
    )
}

/// Settings shared by every scenario of a run.
pub struct RunConfig {
    /// How long a fan-out scenario publishes.
    pub duration: Duration,
    /// Handshakes in flight while connecting.
    pub concurrency: usize,
    /// Max-rate window: accepted events of a room not yet delivered to its slowest client.
    pub window: u64,
    /// Publishing HTTP connections (at most one per room).
    pub publishers: usize,
    /// How long one handshake may take.
    pub connect_timeout: Duration,
    /// How long to wait for deliveries after the last publish.
    pub drain_timeout: Duration,
    /// Token minter.
    pub minter: Arc<Minter>,
    /// Where progress lines go (stderr), or nowhere.
    pub progress: bool,
    /// The open-file limit in force (this process's; spawned servers inherit it).
    pub fd_limit: u64,
}

/// Latency histograms record microseconds, from 1 µs to 1 h, 2 significant digits
/// (1 % resolution; small enough to keep one per client).
fn new_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

/// The loopback source address of connection `i` of `total`: past 20 000 connections,
/// they are spread over 127.0.0.2, 127.0.0.3, … so that no source runs out of ports.
fn source_for(i: usize, total: usize, server: IpAddr) -> Option<IpAddr> {
    const PER_SOURCE: usize = 20_000;
    if total <= PER_SOURCE || !server.is_loopback() || !server.is_ipv4() {
        return None;
    }
    let sources = total.div_ceil(PER_SOURCE);
    Some(IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        2 + (i % sources) as u8,
    )))
}

struct Connected {
    sockets: Vec<Option<Ws>>,
    handshake_us: Histogram<u32>,
    failures: usize,
    first_error: Option<String>,
    elapsed: Duration,
}

/// Connects one client per `(instance, organization, user)`, `concurrency` at a time.
async fn connect_many(
    subject: &Subject,
    who: Vec<(usize, String, String)>,
    cfg: &RunConfig,
    read_buffer: usize,
    label: &str,
) -> Connected {
    let total = who.len();
    let tokens: Vec<String> = who
        .iter()
        .map(|(_, org, user)| cfg.minter.client(org, user))
        .collect();
    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(total);
    for (i, ((inst, _, _), token)) in who.into_iter().zip(tokens).enumerate() {
        let ep = subject.endpoints[inst % subject.endpoints.len()].clone();
        let source = source_for(i, total, ep.addr.ip());
        let sem = Arc::clone(&sem);
        let limit = cfg.connect_timeout;
        handles.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            let t = Instant::now();
            let r = wire_client::connect(
                &ep,
                source,
                &token,
                wire_client::ws_config(read_buffer),
                limit,
            )
            .await;
            (r, t.elapsed())
        }));
    }
    let mut out = Connected {
        sockets: Vec::with_capacity(total),
        handshake_us: new_histogram(),
        failures: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    let mut last_report = Instant::now();
    for (done, h) in handles.into_iter().enumerate() {
        match h.await {
            Ok((Ok(ws), took)) => {
                out.handshake_us
                    .saturating_record(took.as_micros().max(1) as u64);
                out.sockets.push(Some(ws));
            }
            Ok((Err(e), _)) => {
                out.failures += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
                out.sockets.push(None);
            }
            Err(e) => {
                out.failures += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
                out.sockets.push(None);
            }
        }
        if cfg.progress && last_report.elapsed() > Duration::from_secs(1) {
            last_report = Instant::now();
            eprintln!(
                "{:6.1}s [{label}]   connected {}/{total}",
                elapsed(),
                done + 1
            );
        }
    }
    out.elapsed = start.elapsed();
    out
}

/// Seconds since the first progress line, for the progress output.
pub fn elapsed() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Runs one scenario and returns its figures.
pub async fn run(
    scenario: Scenario,
    subject: &Subject,
    cfg: &RunConfig,
) -> anyhow::Result<Figures> {
    let label = format!("{} {scenario}", subject.label);
    if cfg.progress {
        eprintln!("{:6.1}s [{label}] start", elapsed());
    }
    let mut fig = match scenario {
        Scenario::Fanout {
            rooms,
            per_room,
            rate,
        } => fanout(rooms, per_room, rate, subject, cfg, &label).await?,
        Scenario::Idle { conns } => idle(conns, subject, cfg, &label).await?,
        Scenario::Handshake { conns } => handshake(conns, subject, cfg, &label).await?,
    };
    fig.scenario = scenario.to_string();
    fig.server = subject.label.clone();
    if cfg.progress {
        eprintln!("{:6.1}s [{label}] done: {}", elapsed(), fig.summary());
    }
    Ok(fig)
}

/// CPU and wall clock at one moment, for the server and for this process.
struct Mark {
    at: Instant,
    server: Option<Duration>,
    own: Option<Duration>,
    server_wait: Option<Duration>,
    own_wait: Option<Duration>,
}

/// What a [`Mark`] measured up to now.
struct Since {
    wall: f64,
    /// Server CPU seconds.
    server_cpu: Option<f64>,
    /// Load generator CPU, % of its usable CPUs.
    load_pct: Option<f64>,
    /// Share of the wall time the server's and the generator's threads waited for a
    /// CPU, % (the larger of the two).
    wait_pct: Option<f64>,
}

impl Mark {
    fn now(subject: &Subject) -> Mark {
        Mark {
            at: Instant::now(),
            server: subject.cpu_time(),
            own: os::own_cpu_time(),
            server_wait: subject.run_delay(),
            own_wait: os::run_delay(std::process::id()),
        }
    }

    fn since(&self, subject: &Subject) -> Since {
        let end = Mark::now(subject);
        let wall = end.at.duration_since(self.at).as_secs_f64();
        let delta = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64()),
            _ => None,
        };
        let load_pct = delta(self.own, end.own)
            .filter(|_| wall > 0.0)
            .map(|c| c / wall / os::usable_cpus() as f64 * 100.0);
        let waits = [
            delta(self.server_wait, end.server_wait),
            delta(self.own_wait, end.own_wait),
        ];
        let wait_pct = waits
            .into_iter()
            .flatten()
            .map(|w| w / wall.max(1e-9) * 100.0)
            .reduce(f64::max);
        Since {
            wall,
            server_cpu: delta(self.server, end.server),
            load_pct,
            wait_pct,
        }
    }
}

/// The load generator counts as saturated above this share of its CPUs.
const LOAD_BOUND_PCT: f64 = 90.0;

/// A run counts as contended when the server's or the generator's threads waited for a
/// CPU for more than this share of the wall time (other processes had the CPUs).
const CONTENDED_PCT: f64 = 10.0;

struct ClientOut {
    room: usize,
    tracker: SeqTracker,
    latency_us: Histogram<u32>,
    closed_early: bool,
}

async fn fanout_client(
    mut ws: Ws,
    room: usize,
    progress: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
    epoch: Instant,
) -> ClientOut {
    let mut out = ClientOut {
        room,
        tracker: SeqTracker::default(),
        latency_us: new_histogram(),
        closed_early: false,
    };
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let s = t.as_str();
                    if let Some(p) = bench_event(s) {
                        let now = epoch.elapsed().as_nanos() as u64;
                        out.latency_us.saturating_record((now.saturating_sub(p.t) / 1000).max(1));
                        if out.tracker.record(p.seq) {
                            progress.fetch_add(1, Relaxed);
                        }
                    } else if is_ping(s) {
                        let _ = futures_util::SinkExt::send(&mut ws, Message::text("3")).await;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    out.closed_early = true;
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    if out.closed_early {
        // A client that is gone no longer holds back the max-rate window.
        progress.store(u64::MAX, Relaxed);
    }
    out
}

/// At a fixed rate, publishing stops this long after the schedule's end even if
/// scheduled events remain (they are counted as abandoned; the run is not sustained).
const GIVE_UP_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct PubOut {
    abandoned: u64,
    accepted: Vec<(usize, SeqSet)>,
    published: u64,
    rejected: u64,
    first_rejection: Option<String>,
    error: Option<String>,
}

/// Publishes into `rooms` until `deadline`: closed loop (`rate: None`) or on a fixed
/// schedule of `rate` events/s starting at `t0`.
#[allow(clippy::too_many_arguments)]
async fn publisher_task(
    mut publisher: Publisher,
    rooms: Vec<usize>,
    progress: Arc<Vec<Vec<Arc<AtomicU64>>>>,
    rate: Option<f64>,
    window: u64,
    t0: Instant,
    deadline: Instant,
    epoch: Instant,
) -> PubOut {
    let mut out = PubOut {
        accepted: rooms.iter().map(|&r| (r, SeqSet::default())).collect(),
        ..PubOut::default()
    };
    let mut next_seq = vec![0u64; rooms.len()];
    let names: Vec<String> = rooms.iter().map(|r| format!("org:bench-{r}")).collect();
    let mut m: u64 = 0;
    loop {
        let (slot, intended) = match rate {
            Some(rate) => {
                let intended = t0 + Duration::from_secs_f64(m as f64 / rate);
                if intended >= deadline {
                    break;
                }
                if Instant::now() > deadline + GIVE_UP_AFTER {
                    // The server cannot take the schedule: stop instead of publishing
                    // the backlog for minutes (the latency already shows it).
                    out.abandoned = ((deadline - t0).as_secs_f64() * rate) as u64 - m;
                    break;
                }
                tokio::time::sleep_until(intended.into()).await;
                ((m % rooms.len() as u64) as usize, intended)
            }
            None => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                // The next room (round robin from m) whose window has room.
                let open = (0..rooms.len())
                    .map(|k| ((m as usize) + k) % rooms.len())
                    .find(|&slot| {
                        let slowest = progress[rooms[slot]]
                            .iter()
                            .map(|p| p.load(Relaxed))
                            .min()
                            .unwrap_or(u64::MAX);
                        out.accepted[slot].1.len() < slowest.saturating_add(window)
                    });
                match open {
                    Some(slot) => {
                        m = slot as u64;
                        (slot, now)
                    }
                    None => {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                        continue;
                    }
                }
            }
        };
        m += 1;
        let seq = next_seq[slot];
        next_seq[slot] += 1;
        let t_ns = intended.duration_since(epoch).as_nanos() as u64;
        out.published += 1;
        match publisher.publish(&names[slot], seq, t_ns).await {
            Ok(Outcome::Accepted(_)) => {
                out.accepted[slot].1.insert(seq);
            }
            Ok(Outcome::Rejected(status, body)) => {
                out.rejected += 1;
                out.first_rejection
                    .get_or_insert_with(|| format!("{status} {body}"));
            }
            Err(e) => {
                out.error = Some(format!("{e:#}"));
                break;
            }
        }
    }
    out
}

async fn fanout(
    rooms: usize,
    per_room: usize,
    rate: Option<f64>,
    subject: &Subject,
    cfg: &RunConfig,
    label: &str,
) -> anyhow::Result<Figures> {
    let total = rooms * per_room;
    let n_inst = subject.endpoints.len();
    let who = (0..total)
        .map(|i| {
            (
                i % n_inst,
                format!("bench-{}", i / per_room),
                format!("u{i}"),
            )
        })
        .collect();
    if cfg.progress {
        eprintln!("{:6.1}s [{label}] connecting {total} clients", elapsed());
    }
    let conn = connect_many(subject, who, cfg, 64 * 1024, label).await;
    if conn.failures == total {
        bail!(
            "no client could connect: {}",
            conn.first_error.unwrap_or_default()
        );
    }
    let epoch = Instant::now();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut room_progress: Vec<Vec<Arc<AtomicU64>>> = vec![Vec::new(); rooms];
    let mut clients = Vec::with_capacity(total);
    for (i, ws) in conn.sockets.into_iter().enumerate() {
        let Some(ws) = ws else { continue };
        let room = i / per_room;
        let p = Arc::new(AtomicU64::new(0));
        room_progress[room].push(Arc::clone(&p));
        clients.push(tokio::spawn(fanout_client(
            ws,
            room,
            p,
            stop_rx.clone(),
            epoch,
        )));
    }
    let room_progress = Arc::new(room_progress);

    // Publishers: room r goes through publisher r % P, which talks to instance p % n.
    let n_pub = cfg.publishers.clamp(1, rooms);
    let token = cfg.minter.publisher();
    let mut pubs = Vec::with_capacity(n_pub);
    for p in 0..n_pub {
        let url = &subject.publish[p % subject.publish.len()];
        pubs.push(Publisher::connect(url, &token).await?);
    }
    let mark = Mark::now(subject);
    let t0 = Instant::now() + Duration::from_millis(5);
    let deadline = t0 + cfg.duration;
    let mut tasks = Vec::with_capacity(n_pub);
    for (p, publisher) in pubs.into_iter().enumerate() {
        let mine: Vec<usize> = (p..rooms).step_by(n_pub).collect();
        let share = rate.map(|r| r * mine.len() as f64 / rooms as f64);
        tasks.push(tokio::spawn(publisher_task(
            publisher,
            mine,
            Arc::clone(&room_progress),
            share,
            cfg.window,
            t0,
            deadline,
            epoch,
        )));
    }
    let mut accepted: Vec<SeqSet> = vec![SeqSet::default(); rooms];
    let (mut published, mut rejected, mut abandoned) = (0u64, 0u64, 0u64);
    let mut notes = Vec::new();
    for t in tasks {
        let out = t.await?;
        abandoned += out.abandoned;
        published += out.published;
        rejected += out.rejected;
        for (r, set) in out.accepted {
            accepted[r] = set;
        }
        if let Some(r) = out.first_rejection {
            notes.push(format!("publish rejected: {r}"));
        }
        if let Some(e) = out.error {
            notes.push(format!("publisher stopped: {e}"));
        }
    }
    // Drain: until every live client has every accepted event of its room, or timeout.
    let drain_start = Instant::now();
    loop {
        let behind = room_progress
            .iter()
            .enumerate()
            .any(|(r, ps)| ps.iter().any(|p| p.load(Relaxed) < accepted[r].len()));
        if !behind || drain_start.elapsed() > cfg.drain_timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let lag = Instant::now().saturating_duration_since(deadline);
    let Since {
        wall,
        server_cpu,
        load_pct,
        wait_pct,
    } = mark.since(subject);
    let _ = stop_tx.send(true);

    let mut fig = Figures {
        clients: total,
        connect_failures: conn.failures,
        published,
        accepted: accepted.iter().map(SeqSet::len).sum(),
        rejected,
        duration_s: wall,
        target_events_per_s: rate,
        cpu_wait_pct: wait_pct,
        contended: wait_pct.is_some_and(|w| w > CONTENDED_PCT),
        ..Figures::default()
    };
    if let Some(e) = conn.first_error {
        notes.push(format!("connect failed: {e}"));
    }
    let mut latency = new_histogram();
    for c in clients {
        let c = c.await?;
        latency.add(&c.latency_us).ok();
        fig.deliveries += c.tracker.deliveries;
        fig.duplicated += c.tracker.duplicated;
        fig.reordered += c.tracker.reordered;
        let lost = c.tracker.lost(&accepted[c.room]);
        fig.lost += lost;
        if lost > 0 {
            fig.clients_with_loss += 1;
        }
        if c.closed_early {
            fig.disconnected += 1;
        }
    }
    fig.deliveries_per_s = Some(fig.deliveries as f64 / wall);
    fig.events_per_s = Some(fig.accepted as f64 / wall);
    fig.latency_ms = Latency::of(&latency);
    if let Some(cpu) = server_cpu {
        fig.server_cpu_pct = Some(cpu / wall * 100.0);
        if fig.deliveries > 0 {
            fig.server_cpu_us_per_delivery = Some(cpu * 1e6 / fig.deliveries as f64);
        }
    }
    fig.load_cpu_pct = load_pct;
    fig.load_bound = load_pct.is_some_and(|p| p >= LOAD_BOUND_PCT);
    if rate.is_some() {
        // Kept up: every scheduled event was published and delivered within a short
        // lag after the schedule's end.
        let allowed = Duration::from_secs(1).max(cfg.duration / 10);
        fig.sustained = Some(abandoned == 0 && lag <= allowed);
        if abandoned > 0 {
            notes.push(format!("{abandoned} scheduled events abandoned"));
        }
    }
    fig.notes = notes;
    Ok(fig)
}

/// `(instance, organization, user)` for `conns` clients spread over the instances and
/// 100 organizations (scenarios that publish nothing).
fn spread(conns: usize, subject: &Subject, user_prefix: &str) -> Vec<(usize, String, String)> {
    let n_inst = subject.endpoints.len();
    (0..conns)
        .map(|i| {
            (
                i % n_inst,
                format!("bench-{}", i % 100),
                format!("{user_prefix}{i}"),
            )
        })
        .collect()
}

async fn idle(
    conns: usize,
    subject: &Subject,
    cfg: &RunConfig,
    label: &str,
) -> anyhow::Result<Figures> {
    let who = spread(conns, subject, "idle");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = subject.rss();
    if cfg.progress {
        eprintln!(
            "{:6.1}s [{label}] connecting {conns} idle clients",
            elapsed()
        );
    }
    let conn = connect_many(subject, who, cfg, 1024, label).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut held = Vec::with_capacity(conns);
    let mut connected = 0usize;
    for ws in conn.sockets.into_iter().flatten() {
        connected += 1;
        held.push(tokio::spawn(idle_client(ws, stop_rx.clone())));
    }
    // Let the server settle (allocations after the last handshake, lazy buffers).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = subject.rss();
    let mut dropped = 0usize;
    let _ = stop_tx.send(true);
    for h in held {
        if h.await.unwrap_or(true) {
            dropped += 1;
        }
    }
    let mut fig = Figures {
        clients: conns,
        connect_failures: conn.failures,
        disconnected: dropped,
        duration_s: conn.elapsed.as_secs_f64(),
        handshakes_per_s: Some(connected as f64 / conn.elapsed.as_secs_f64()),
        ..Figures::default()
    };
    if let (Some(a), Some(b)) = (rss_before, rss_after) {
        fig.server_rss_mb = Some(b as f64 / 1e6);
        if connected > 0 {
            fig.rss_per_conn_kb = Some((b as f64 - a as f64) / connected as f64 / 1024.0);
        }
    }
    if let Some(e) = conn.first_error {
        fig.notes.push(format!("connect failed: {e}"));
    }
    Ok(fig)
}

/// Holds an idle socket, answering pings; returns whether the server closed it first.
async fn idle_client(mut ws: Ws, mut stop: watch::Receiver<bool>) -> bool {
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => return false,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) if is_ping(t.as_str()) => {
                    let _ = futures_util::SinkExt::send(&mut ws, Message::text("3")).await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return true,
                Some(Ok(_)) => {}
            },
        }
    }
}

async fn handshake(
    conns: usize,
    subject: &Subject,
    cfg: &RunConfig,
    label: &str,
) -> anyhow::Result<Figures> {
    let who = spread(conns, subject, "hs");
    if cfg.progress {
        eprintln!(
            "{:6.1}s [{label}] {conns} handshakes, {} in flight",
            elapsed(),
            cfg.concurrency
        );
    }
    let mark = Mark::now(subject);
    let conn = connect_many(subject, who, cfg, 1024, label).await;
    let Since {
        server_cpu,
        load_pct,
        wait_pct,
        ..
    } = mark.since(subject);
    let ok = conns - conn.failures;
    let secs = conn.elapsed.as_secs_f64();
    let mut fig = Figures {
        clients: conns,
        connect_failures: conn.failures,
        duration_s: secs,
        handshakes_per_s: Some(ok as f64 / secs),
        handshake_ms: Latency::of(&conn.handshake_us),
        load_cpu_pct: load_pct,
        load_bound: load_pct.is_some_and(|p| p >= LOAD_BOUND_PCT),
        server_cpu_pct: server_cpu.map(|c| c / secs * 100.0),
        cpu_wait_pct: wait_pct,
        contended: wait_pct.is_some_and(|w| w > CONTENDED_PCT),
        ..Figures::default()
    };
    if let Some(e) = conn.first_error {
        fig.notes.push(format!("connect failed: {e}"));
    }
    drop(conn.sockets);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(fig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_names_round_trip() {
        for name in [
            "fanout-1x1000-max",
            "fanout-100x100-r3000",
            "fanout-1x10-r2.5",
            "idle-100000",
            "handshake-64",
        ] {
            let s: Scenario = name.parse().unwrap();
            assert_eq!(s.to_string(), name);
        }
        assert_eq!(
            "fanout-2x3-max".parse::<Scenario>().unwrap().connections(),
            6
        );
        for bad in [
            "fanout-1x0-max",
            "fanout-1-max",
            "fanout-1x1-r0",
            "idle",
            "idle-x",
            "storm-3",
        ] {
            assert!(bad.parse::<Scenario>().is_err(), "{bad}");
        }
    }

    #[test]
    fn presets_parse() {
        for p in ["quick", "default", "full"] {
            assert!(!preset(p).unwrap().is_empty());
        }
        assert!(preset("nope").is_none());
    }

    #[test]
    fn many_connections_spread_over_loopback_sources() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(source_for(5, 10_000, lo), None);
        let a = source_for(0, 100_000, lo).unwrap();
        let b = source_for(1, 100_000, lo).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            source_for(5, 100_000, lo),
            Some("127.0.0.2".parse().unwrap())
        );
        assert_eq!(source_for(5, 100_000, "10.0.0.1".parse().unwrap()), None);
    }
}
