//! `roomcast-soak`: a bounded soak of one spawned implementation on loopback (issue 11).
//! For the first 80 % of `--minutes` it drives, side by side, well-behaved clients (20
//! WebSocket sockets in one organization room receiving a numbered event every 100 ms),
//! fuzzed Socket.IO frames on short-lived connections, trickled request bodies (20 at a
//! time, one byte per segment) and bursts of Engine.IO handshakes; the last 20 % is
//! quiet (normal traffic only). It samples the process's resident memory and open
//! descriptors every 5 s and `/healthz` every 100 ms, and ends with a summary: RSS
//! over time, `/healthz` p50/p99/max, descriptors, and the deliveries of the
//! well-behaved clients (every event published must reach every one of them).
//!
//! `cargo xtask soak --minutes N` builds the release binaries and runs this against
//! the reference server. Exit status 1 when a delivery was lost, `/healthz` p99 was
//! 50 ms or more, or the RSS after the quiet phase is more than 32 MiB above its level
//! before the attack.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use conformance::attack;
use conformance::client::{OpenOptions, WsClient};
use conformance::spawn::{Instance, SpawnSpec};
use conformance::tokens::{client_claims, hs256_with_secret, publisher_claims};
use conformance::transcript::Transcript;
use rand::Rng;
use serde_json::{json, Value};

#[derive(Debug, Parser)]
#[command(
    name = "roomcast-soak",
    about = "Bounded soak of one spawned implementation on loopback"
)]
struct Args {
    /// Shell command that starts the implementation (PORT and JWT_SECRET are set).
    #[arg(long)]
    spawn: String,
    /// File holding the HS256 secret handed to the instance.
    #[arg(long)]
    jwt_secret_file: std::path::PathBuf,
    /// Length of the soak in minutes (1 to 30).
    #[arg(long, default_value_t = 5)]
    minutes: u64,
    /// Well-behaved clients.
    #[arg(long, default_value_t = 20)]
    clients: usize,
    /// Instead of the soak, run the repros of issue 11's holes (each on a fresh
    /// instance) and print their figures.
    #[arg(long)]
    repro: bool,
}

const NSP: &str = "/";
const PATH: &str = "/socket.io/";

/// One RSS / descriptor sample.
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
    phase: &'static str,
}

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    let args = Args::parse();
    if !(1..=30).contains(&args.minutes) {
        bail!("--minutes must be between 1 and 30");
    }
    let secret = std::fs::read_to_string(&args.jwt_secret_file)
        .with_context(|| format!("cannot read {}", args.jwt_secret_file.display()))?
        .trim()
        .to_string();
    let spec = SpawnSpec {
        cmd: args.spawn.clone(),
        env: Vec::new(),
        ready_timeout: Duration::from_secs(30),
        redis_url: None,
        namespace: None,
        jwt_secret: secret.clone(),
        env_remove: Vec::new(),
    };
    if args.repro {
        return repro(&spec, secret.as_bytes()).await;
    }
    let inst = Instance::start(&spec)
        .await
        .context("the instance did not start")?;
    let Some(pid) = inst.pid() else {
        inst.stop().await;
        bail!("the instance's pid is unknown");
    };
    let result = soak(&args, &inst, pid, secret.as_bytes()).await;
    inst.stop().await;
    result
}

async fn soak(
    args: &Args,
    inst: &Instance,
    pid: u32,
    secret: &[u8],
) -> anyhow::Result<std::process::ExitCode> {
    let total = Duration::from_secs(args.minutes * 60);
    let attack_for = total.mul_f64(0.8);
    let base = inst.base.clone();
    let addr = attack::host_port(&base);
    let lifetime = i64::try_from(args.minutes * 60 + 600).unwrap_or(3600);
    let sign = |mut claims: serde_json::Map<String, Value>| {
        claims.insert(
            "exp".into(),
            json!(conformance::tokens::now_secs() + lifetime),
        );
        hs256_with_secret(secret, &claims)
    };
    // well-behaved clients
    let org = format!("soak{}", rand::rng().random_range(1000..9999));
    let received: Arc<Vec<Mutex<BTreeSet<u64>>>> = Arc::new(
        (0..args.clients)
            .map(|_| Mutex::new(BTreeSet::new()))
            .collect(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for i in 0..args.clients {
        let tr = Transcript::new();
        let mut c = WsClient::open(
            &tr,
            &base,
            PATH,
            NSP,
            &OpenOptions::default(),
            Duration::from_secs(5),
        )
        .await
        .context("a well-behaved client could not open")?;
        let token = sign(client_claims(&org, &format!("u{i}")))?;
        match c.connect_ns(NSP, Some(json!({ "token": token }))).await? {
            Ok(_) => {}
            Err(e) => bail!("a well-behaved client was refused: {e}"),
        }
        let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match c
                    .next_sio_within(Duration::from_millis(500), "an event")
                    .await
                {
                    Ok(p) => {
                        if let protocol::socketio::PacketData::Event { args, .. } = p.data {
                            if args.first().and_then(Value::as_str) == Some("soak:tick") {
                                if let Some(n) = args
                                    .get(1)
                                    .and_then(|e| e.pointer("/payload/n"))
                                    .and_then(Value::as_u64)
                                {
                                    if let Some(set) = received.get(i) {
                                        set.lock().unwrap_or_else(|e| e.into_inner()).insert(n);
                                    }
                                }
                            }
                        }
                    }
                    Err(conformance::client::ClientError::Timeout { .. }) => {}
                    Err(e) => {
                        eprintln!("client u{i} ended: {e}");
                        return;
                    }
                }
            }
            c.close().await;
        }));
    }
    let start = Instant::now();
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (published, stop, base) = (Arc::clone(&published), Arc::clone(&stop), base.clone());
        let token = sign(publisher_claims(None))?;
        let org = org.clone();
        tokio::spawn(async move {
            let tr = Transcript::new();
            let url = format!("{base}/v1/publish");
            let auth = format!("Bearer {token}");
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let body =
                    json!({"room": format!("org:{org}"), "type": "soak:tick", "payload": {"n": n}});
                let r = conformance::http::request(
                    &tr,
                    "POST",
                    &url,
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &auth),
                    ],
                    Some(body.to_string().into()),
                    Duration::from_secs(5),
                )
                .await;
                match r {
                    Ok(r) if r.status == 202 => {
                        n += 1;
                        published.store(n, Ordering::Relaxed);
                    }
                    Ok(r) => eprintln!("publish answered {}", r.status),
                    Err(e) => eprintln!("publish failed: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // /healthz latency
    let latencies = Arc::new(Mutex::new(Vec::<u64>::new()));
    let health_failures = Arc::new(AtomicU64::new(0));
    let health = {
        let (latencies, failures, stop) = (
            Arc::clone(&latencies),
            Arc::clone(&health_failures),
            Arc::clone(&stop),
        );
        let url = format!("{base}/healthz");
        tokio::spawn(async move {
            let tr = Transcript::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match conformance::http::request(
                    &tr,
                    "GET",
                    &url,
                    &[],
                    None,
                    Duration::from_secs(5),
                )
                .await
                {
                    Ok(r) if r.status == 200 => latencies
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(t.elapsed().as_micros() as u64),
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // attacks
    let attacking = Arc::new(AtomicBool::new(true));
    let fuzz_frames = Arc::new(AtomicU64::new(0));
    let fuzzer = {
        let (attacking, frames, base) = (
            Arc::clone(&attacking),
            Arc::clone(&fuzz_frames),
            base.clone(),
        );
        tokio::spawn(async move {
            while attacking.load(Ordering::Relaxed) {
                let tr = Transcript::new();
                let Ok(c) = WsClient::open(
                    &tr,
                    &base,
                    PATH,
                    NSP,
                    &OpenOptions::default(),
                    Duration::from_secs(5),
                )
                .await
                else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                for _ in 0..50 {
                    if c.send_text(fuzz_frame()).await.is_err() {
                        break;
                    }
                    frames.fetch_add(1, Ordering::Relaxed);
                }
                c.close().await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let trickles = Arc::new(AtomicU64::new(0));
    let trickler = {
        let (attacking, count, addr, base) = (
            Arc::clone(&attacking),
            Arc::clone(&trickles),
            addr.clone(),
            base.clone(),
        );
        tokio::spawn(async move {
            while attacking.load(Ordering::Relaxed) {
                let runs = spawn_trickles(&base, &addr, 100_000, Duration::from_secs(15)).await;
                for r in runs {
                    if let Ok(Ok(_)) = r.await {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let handshakes = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let flooder = {
        let (attacking, ok, refused, addr) = (
            Arc::clone(&attacking),
            Arc::clone(&handshakes),
            Arc::clone(&refused),
            addr.clone(),
        );
        tokio::spawn(async move {
            while attacking.load(Ordering::Relaxed) {
                let end =
                    attack::handshake_flood(&addr, PATH, 5_000, 8, Duration::from_secs(20), false)
                        .await;
                ok.fetch_add(end.accepted as u64, Ordering::Relaxed);
                refused.fetch_add(end.refused as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    };
    // sampling
    let mut samples = Vec::new();
    let before = attack::rss_kib(pid).unwrap_or(0);
    println!(
        "soak: {} min against {base} (pid {pid}); attacks for {} s, then quiet",
        args.minutes,
        attack_for.as_secs()
    );
    println!(
        "{:>6}  {:>9}  {:>5}  {:>9}  {:>10}  {:>8}  {:>8}  phase",
        "t(s)", "RSS(MiB)", "fds", "published", "handshakes", "refused", "trickles"
    );
    while start.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if start.elapsed() >= attack_for && attacking.swap(false, Ordering::Relaxed) {
            println!("-- attacks stop");
        }
        let phase = if attacking.load(Ordering::Relaxed) {
            "attack"
        } else {
            "quiet"
        };
        let s = Sample {
            at: start.elapsed(),
            rss_kib: attack::rss_kib(pid).unwrap_or(0),
            fds: attack::fd_count(pid).unwrap_or(0),
            phase,
        };
        println!(
            "{:>6}  {:>9.1}  {:>5}  {:>9}  {:>10}  {:>8}  {:>8}  {}",
            s.at.as_secs(),
            s.rss_kib as f64 / 1024.0,
            s.fds,
            published.load(Ordering::Relaxed),
            handshakes.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
            trickles.load(Ordering::Relaxed),
            s.phase
        );
        samples.push(s);
    }
    attacking.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let _ = publisher.await;
    // the last events get the delivery bound to arrive
    tokio::time::sleep(Duration::from_secs(2)).await;
    for r in readers {
        let _ = r.await;
    }
    let _ = health.await;
    for t in [fuzzer, trickler, flooder] {
        t.abort();
    }
    let published = published.load(Ordering::Relaxed);
    let mut lost = 0u64;
    for (i, set) in received.iter().enumerate() {
        let set = set.lock().unwrap_or_else(|e| e.into_inner());
        let missing = (0..published).filter(|n| !set.contains(n)).count() as u64;
        if missing > 0 {
            eprintln!("client u{i}: {missing} of {published} events missing");
        }
        lost += missing;
    }
    let mut lat = latencies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let peak = samples.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let end_of_attack = samples
        .iter()
        .rfind(|s| s.phase == "attack")
        .map_or(0, |s| s.rss_kib);
    let last = samples.last().map_or(0, |s| s.rss_kib);
    let max_fds = samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let last_fds = samples.last().map_or(0, |s| s.fds);
    println!("\nsummary");
    println!(
        "  RSS MiB: before {:.1}, peak {:.1}, end of attacks {:.1}, end {:.1}",
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        end_of_attack as f64 / 1024.0,
        last as f64 / 1024.0
    );
    println!("  descriptors: max {max_fds}, end {last_fds}");
    println!(
        "  /healthz: {} probes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, failures {}",
        lat.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        health_failures.load(Ordering::Relaxed)
    );
    println!(
        "  attacks: {} fuzzed frames, {} trickled bodies, {} handshakes accepted, {} refused (503)",
        fuzz_frames.load(Ordering::Relaxed),
        trickles.load(Ordering::Relaxed),
        handshakes.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    println!(
        "  deliveries: {published} events x {} clients, {lost} lost",
        args.clients
    );
    let flat = last.saturating_sub(before) / 1024 <= 32;
    let healthy = pct(0.99) < 50.0 && health_failures.load(Ordering::Relaxed) == 0;
    let ok = lost == 0 && healthy && flat;
    println!(
        "{}: lost {lost}, /healthz p99 {:.1} ms (< 50), RSS after the quiet phase {:+.1} MiB from before (<= 32)",
        if ok { "SOAK OK" } else { "SOAK FAILED" },
        pct(0.99),
        (last as f64 - before as f64) / 1024.0
    );
    Ok(if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    })
}

/// A polling handshake at `base`: the path and query of the new session, or `None`
/// when it was refused.
async fn polling_session(base: &str) -> Option<String> {
    let tr = Transcript::new();
    let url = format!("{base}{PATH}?EIO=4&transport=polling");
    let r = conformance::http::request(&tr, "GET", &url, &[], None, Duration::from_secs(5))
        .await
        .ok()?;
    let open: Value = serde_json::from_str(r.text().get(1..).unwrap_or("")).ok()?;
    let sid = open.get("sid")?.as_str()?;
    Some(format!("{PATH}?EIO=4&transport=polling&sid={sid}"))
}

/// Starts up to 20 polling sessions, each trickling a `bytes`-long POST body one byte
/// every 2 ms for at most `limit`; a session whose handshake was refused is left out.
async fn spawn_trickles(
    base: &str,
    addr: &str,
    bytes: usize,
    limit: Duration,
) -> Vec<tokio::task::JoinHandle<std::io::Result<attack::TrickleEnd>>> {
    let mut runs = Vec::new();
    for _ in 0..20 {
        let Some(path) = polling_session(base).await else {
            continue;
        };
        let addr = addr.to_owned();
        runs.push(tokio::spawn(async move {
            attack::trickle_post(
                &addr,
                &path,
                &[("Content-Type", "text/plain")],
                bytes,
                Duration::from_millis(2),
                limit,
            )
            .await
        }));
    }
    runs
}

/// MiB from KiB.
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The repros of issue 11, each against a fresh instance; prints one line per hole.
async fn repro(spec: &SpawnSpec, secret: &[u8]) -> anyhow::Result<std::process::ExitCode> {
    // 1. 20 connections trickling polling POST bodies, one byte per segment every 2 ms,
    //    for 30 s (stopped early above 512 MiB of growth)
    let inst = Instance::start(spec).await?;
    let pid = inst.pid().context("pid")?;
    let addr = attack::host_port(&inst.base);
    let before = attack::rss_kib(pid).unwrap_or(0);
    let runs = spawn_trickles(&inst.base, &addr, 900_000, Duration::from_secs(30)).await;
    anyhow::ensure!(runs.len() == 20, "the polling handshake was refused");
    let t = Instant::now();
    let mut peak = before;
    while t.elapsed() < Duration::from_secs(30) && !runs.iter().all(|r| r.is_finished()) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        peak = peak.max(attack::rss_kib(pid).unwrap_or(0));
        if peak.saturating_sub(before) > 512 * 1024 {
            break;
        }
    }
    let mut cut = 0;
    let mut sent = 0;
    for r in runs {
        if r.is_finished() {
            if let Ok(Ok(e)) = r.await {
                cut += usize::from(e.cut_after.is_some());
                sent += e.sent;
            }
        } else {
            r.abort();
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "trickle-20: RSS {:.1} -> peak {:.1} MiB (+{:.1}) in {:.1} s, {cut}/20 cut, {sent} bytes sent by the cut ones; RSS 2 s later {:.1} MiB",
        mib(before), mib(peak), mib(peak.saturating_sub(before)), t.elapsed().as_secs_f64(), mib(attack::rss_kib(pid).unwrap_or(0))
    );
    inst.stop().await;

    // 2. 2 000 trickling POSTs (polling, pending cap raised so that 2 000 sessions exist),
    //    one byte every 100 ms, watched for 40 s
    let mut big = spec.clone();
    big.env
        .push(("ROOMCAST_MAX_PENDING_PER_IP".into(), "5000".into()));
    big.env
        .push(("ROOMCAST_FIRST_POLL_TIMEOUT_MS".into(), "60000".into()));
    let inst = Instance::start(&big).await?;
    let pid = inst.pid().context("pid")?;
    let addr = attack::host_port(&inst.base);
    let fds_before = attack::fd_count(pid).unwrap_or(0);
    let mut paths = Vec::new();
    let tr = Transcript::new();
    for _ in 0..2000 {
        if let Some(path) = polling_session(&inst.base).await {
            paths.push(path);
        }
    }
    let t = Instant::now();
    let runs: Vec<_> = paths
        .into_iter()
        .map(|path| {
            let addr = addr.clone();
            tokio::spawn(async move {
                attack::trickle_post(
                    &addr,
                    &path,
                    &[("Content-Type", "text/plain")],
                    10_000,
                    Duration::from_millis(100),
                    Duration::from_secs(40),
                )
                .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fds_during = attack::fd_count(pid).unwrap_or(0);
    let mut last_cut = Duration::ZERO;
    let (mut cut, mut open) = (0, 0);
    let n = runs.len();
    for r in runs {
        match r.await {
            Ok(Ok(TrickleEndView {
                cut_after: Some(a), ..
            })) => {
                cut += 1;
                last_cut = last_cut.max(a);
            }
            _ => open += 1,
        }
    }
    let fds_after = attack::fd_count(pid).unwrap_or(0);
    let health = conformance::http::request(
        &tr,
        "GET",
        &format!("{}/healthz", inst.base),
        &[],
        None,
        Duration::from_secs(5),
    )
    .await
    .map(|r| r.status);
    println!(
        "trickle-2000: {n} POSTs; {cut} cut (last after {:.1} s), {open} still open after 40 s; server fds {fds_before} before, {fds_during} during, {fds_after} after; /healthz {health:?}; {:.1} s in all",
        last_cut.as_secs_f64(), t.elapsed().as_secs_f64()
    );
    inst.stop().await;

    // 3. 150 000 polling handshakes over 8 keep-alive connections
    let inst = Instance::start(spec).await?;
    let pid = inst.pid().context("pid")?;
    let before = attack::rss_kib(pid).unwrap_or(0);
    let end = attack::handshake_flood(
        &attack::host_port(&inst.base),
        PATH,
        150_000,
        8,
        Duration::from_secs(180),
        false,
    )
    .await;
    let after = attack::rss_kib(pid).unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(12)).await;
    let later = attack::rss_kib(pid).unwrap_or(0);
    let metrics = conformance::http::request(
        &tr,
        "GET",
        &format!("{}/metrics", inst.base),
        &[],
        None,
        Duration::from_secs(5),
    )
    .await
    .map(|r| {
        r.text()
            .lines()
            .filter(|l| {
                l.starts_with("roomcast_handshakes_refused_total{")
                    || l.starts_with("roomcast_pending_sessions ")
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
    .unwrap_or_default();
    println!(
        "flood-150000: {} accepted, {} refused (503, Retry-After {}), {} other in {:.1} s; RSS {:.1} -> {:.1} MiB, {:.1} MiB 12 s later; {metrics}",
        end.accepted, end.refused, end.retry_after, end.other, end.elapsed.as_secs_f64(), mib(before), mib(after), mib(later)
    );
    inst.stop().await;

    // 4. the victim's cookie on a WebSocket from a foreign Origin
    let mut cookie = spec.clone();
    cookie
        .env
        .push(("ROOMCAST_AUTH_COOKIE".into(), "true".into()));
    cookie
        .env
        .push(("ROOMCAST_CORS_ORIGINS".into(), "https://app.example".into()));
    let inst = Instance::start(&cookie).await?;
    let token = hs256_with_secret(secret, &client_claims("acme", "victim"))?;
    let opts = OpenOptions {
        headers: vec![
            ("cookie".into(), format!("accessToken={token}")),
            ("origin".into(), "https://evil.example".into()),
        ],
        ..OpenOptions::default()
    };
    let outcome =
        match WsClient::open(&tr, &inst.base, PATH, NSP, &opts, Duration::from_secs(5)).await {
            Err(e) => format!("upgrade refused: {e}"),
            Ok(mut c) => match c.connect_ns(NSP, None).await {
                Ok(Ok(v)) => format!("HIJACKED: the victim's socket connected ({v})"),
                other => format!("upgrade accepted, CONNECT refused: {other:?}"),
            },
        };
    println!("cookie-foreign-origin: {outcome}");
    inst.stop().await;
    Ok(std::process::ExitCode::SUCCESS)
}

use attack::TrickleEnd as TrickleEndView;

/// One fuzzed text frame: a valid frame mutated, or random bytes.
fn fuzz_frame() -> String {
    const SEEDS: [&str; 8] = [
        "40",
        "42[\"subscribe:site\",\"s1\"]",
        "451-[\"x\",{\"_placeholder\":true,\"num\":0}]",
        "2probe",
        "43[\"a\"]",
        "40{\"token\":\"x\"}",
        "41",
        "42/ns,1[\"e\",{}]",
    ];
    let mut rng = rand::rng();
    let mut s: Vec<u8> = SEEDS[rng.random_range(0..SEEDS.len())].as_bytes().to_vec();
    for _ in 0..rng.random_range(0..6) {
        let i = rng.random_range(0..=s.len());
        match rng.random_range(0..3) {
            0 => s.insert(i, rng.random_range(0x20..0x7f)),
            1 if i < s.len() => {
                s.remove(i);
            }
            _ if i < s.len() => s[i] = rng.random_range(0x20..0x7f),
            _ => {}
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}
