//! `roomcast-conformance`: the command-line front of the harness.
//!
//! Exit codes: 0 nothing FAILed; 1 at least one FAIL (or a stale expected
//! failure); 2 usage, configuration or spawn error; 3 no FAIL, but ERRORs (the
//! harness's own setup kept checks from running) and no `--allow-errors`;
//! 130 interrupted (SIGINT or SIGTERM) after stopping every spawned process.
#![forbid(unsafe_code)]

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use conformance::config::{self, Args};
use conformance::runner::{self, RunOptions, Summary};
use conformance::spawn::{Cluster, SpawnSpec};
use conformance::tokens::{Alg, Keys, Minter};
use conformance::{checks, report, spec, RunConfig};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    let code = match rt.block_on(real_main(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    };
    rt.shutdown_timeout(Duration::from_millis(200));
    std::process::exit(code);
}

fn read_keys(a: &Args, spawn_secret: Option<&str>) -> Result<Keys> {
    let mut keys = Keys::default();
    if let Some(s) = &a.jwt_secret {
        keys.hs256_secret = Some(s.as_bytes().to_vec());
    }
    if let Some(f) = &a.jwt_secret_file {
        keys.hs256_secret =
            Some(std::fs::read(f).with_context(|| format!("--jwt-secret-file {}", f.display()))?);
    }
    if keys.hs256_secret.is_none() {
        keys.hs256_secret = spawn_secret.map(|s| s.as_bytes().to_vec());
    }
    if keys.hs256_secret.is_some() {
        keys.primary = Some(Alg::Hs256);
    }
    let read_pair = |alg: Alg,
                     priv_path: &std::path::Path,
                     pub_path: Option<&std::path::Path>,
                     keys: &mut Keys|
     -> Result<()> {
        let p = std::fs::read(priv_path)
            .with_context(|| format!("private key {}", priv_path.display()))?;
        let q = match pub_path {
            Some(pp) => {
                Some(std::fs::read(pp).with_context(|| format!("public key {}", pp.display()))?)
            }
            None => None,
        };
        match alg {
            Alg::Rs256 => keys.rs256 = Some((p, q)),
            Alg::Es256 => keys.es256 = Some((p, q)),
            Alg::Hs256 => keys.hs256_secret = Some(p),
        }
        Ok(())
    };
    if let Some(pk) = &a.jwt_private_key {
        let alg = a
            .jwt_alg
            .as_deref()
            .map(|s| Alg::parse(s).with_context(|| format!("--jwt-alg {s}: use RS256 or ES256")))
            .transpose()?
            .context("--jwt-private-key needs --jwt-alg RS256|ES256")?;
        read_pair(alg, pk, a.jwt_public_key.as_deref(), &mut keys)?;
        keys.primary = Some(alg);
    }
    for e in &a.extra_keys {
        let mut parts = e.splitn(3, ':');
        let alg = parts
            .next()
            .and_then(Alg::parse)
            .with_context(|| format!("--extra-key {e}: ALG:PRIV[:PUB]"))?;
        let p = parts
            .next()
            .with_context(|| format!("--extra-key {e}: missing private key"))?;
        let q = parts.next();
        read_pair(
            alg,
            std::path::Path::new(p),
            q.map(std::path::Path::new),
            &mut keys,
        )?;
    }
    if keys.primary.is_none() {
        bail!("no key material: give --jwt-secret, --jwt-secret-file or --jwt-private-key with --jwt-alg (or --spawn, which makes a secret)");
    }
    Ok(keys)
}

/// Ctrl-C (SIGINT) or SIGTERM (a cancelled CI job).
async fn interrupted() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// `--env-name SPEC=YOURS` pairs; the spec's name must be one the harness gives.
fn env_names(pairs: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut m = std::collections::BTreeMap::new();
    for kv in pairs {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
            .with_context(|| format!("--env-name {kv}: use SPEC_NAME=YOUR_NAME, e.g. ROOMCAST_PING_INTERVAL_MS=MY_PING_MS"))?;
        m.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(m)
}

fn random_secret() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

async fn real_main(mut args: Args) -> Result<i32> {
    if let Some(cfg) = args.config.clone() {
        args = config::merge_file(args, &cfg)?;
    }
    let defs = checks::all();
    let problems =
        spec::verify_registry(defs.iter().map(|d| (d.id, d.level)), spec::requirements());
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("registry error: {p}");
        }
        bail!("the check registry disagrees with spec/roomcast-v1.md");
    }
    if args.list {
        let mut out = std::io::stdout().lock();
        for d in defs.iter().filter(|d| runner::selected(d, &args.filters)) {
            let _ = writeln!(
                out,
                "{:<8} {:<6} {:<14} {}",
                d.id,
                d.level.as_str(),
                d.feature.unwrap_or("-"),
                d.title
            );
        }
        return Ok(0);
    }
    if !args.filters.is_empty()
        && args.model_cases.is_none()
        && args.dump_shapes.is_none()
        && !defs.iter().any(|d| runner::selected(d, &args.filters))
    {
        // A CI gate whose filter matches nothing would otherwise report a
        // vacuous CONFORMANT; that is a usage error, not a pass.
        eprintln!(
            "error: --filter {} selects no check; `--list` shows the check ids and titles",
            args.filters.join(", ")
        );
        return Ok(2);
    }
    let format = args.format.clone().unwrap_or_else(|| "human".into());
    if !["human", "json", "junit"].contains(&format.as_str()) {
        bail!("--format {format}: use human, json or junit");
    }
    let namespace = args.namespace.clone().unwrap_or_else(|| "/".into());
    let path = args.path.clone().unwrap_or_else(|| "/socket.io/".into());
    let step = Duration::from_millis(args.timeout_ms.unwrap_or(2000));
    let seed = args.seed.unwrap_or_else(rand::random);
    let expected_failures = match &args.expected_failures {
        Some(f) => runner::parse_expected_failures(
            &std::fs::read_to_string(f)
                .with_context(|| format!("--expected-failures {}", f.display()))?,
        ),
        None => BTreeSet::new(),
    };

    let mut spawn_spec = None;
    let spawn_secret = match (&args.spawn, &args.jwt_secret) {
        (Some(_), Some(s)) => Some(s.clone()),
        (Some(_), None) if args.jwt_secret_file.is_none() => Some(random_secret()),
        (Some(_), None) => args
            .jwt_secret_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok()),
        _ => None,
    };
    let keys = read_keys(&args, spawn_secret.as_deref())?;
    let mut cluster = None;
    let mut provisioned_redis: Option<conformance::redis::RedisServer> = None;
    let mut targets = args.targets.clone();
    if let Some(cmd) = &args.spawn {
        let mut env = Vec::new();
        for kv in &args.env {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--env {kv}: use KEY=VALUE"))?;
            env.push((k.to_string(), v.to_string()));
        }
        // Several instances declaring `redis` and no --redis-url: one cluster on a Redis
        // the harness provisions (stopped when the harness ends; killed on drop).
        let wants_redis = args.instances.unwrap_or(1) > 1
            && args
                .features
                .iter()
                .flat_map(|f| f.split(','))
                .any(|f| f.trim() == "redis");
        let redis_url = match &args.redis_url {
            Some(u) => Some(u.clone()),
            None if wants_redis => {
                let program = args.redis_server.as_deref().unwrap_or("redis-server");
                let r = conformance::redis::RedisServer::start(program)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("cannot provision Redis for the instances: {e}")
                    })?;
                eprintln!("provisioned {program} at {} for the instances", r.url());
                let url = r.url();
                provisioned_redis = Some(r);
                Some(url)
            }
            None => None,
        };
        let spec = SpawnSpec {
            cmd: cmd.clone(),
            env,
            ready_timeout: Duration::from_millis(args.ready_timeout_ms.unwrap_or(30_000)),
            redis_url,
            namespace: (namespace != "/").then(|| namespace.clone()),
            jwt_secret: spawn_secret.clone().unwrap_or_default(),
            env_remove: Vec::new(),
        };
        eprintln!(
            "spawning {} instance(s): {cmd}",
            args.instances.unwrap_or(1)
        );
        let c = Cluster::start(&spec, args.instances.unwrap_or(1)).await?;
        targets = c.instances.iter().map(|i| i.base.clone()).collect();
        for i in &c.instances {
            eprintln!("  instance ready at {}", i.base);
        }
        cluster = Some(c);
        spawn_spec = Some(spec);
    }
    if targets.is_empty() {
        bail!("no target: give --target URL (repeatable) or --spawn 'CMD'");
    }
    let publish_url = args.publish_url.clone().unwrap_or_else(|| {
        targets
            .first()
            .map(|t| t.replacen("ws://", "http://", 1))
            .unwrap_or_default()
    });
    let features: BTreeSet<String> = args
        .features
        .iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    let cfg = Arc::new(RunConfig {
        targets: targets.clone(),
        publish_url,
        path,
        namespace,
        features: features.clone(),
        step,
        seed,
        logs: cluster
            .as_ref()
            .map(|c| c.instances.iter().map(|i| i.log.clone()).collect())
            .unwrap_or_default(),
        spawn: spawn_spec,
        spawn_secret,
        node_driver: args
            .node_driver
            .clone()
            .or_else(|| {
                Some("fixtures/clients/node/driver.js".into())
                    .filter(|p: &std::path::PathBuf| p.exists())
            })
            .map(|p| p.to_string_lossy().into_owned()),
        redis_server: args
            .redis_server
            .clone()
            .unwrap_or_else(|| "redis-server".into()),
        env_names: env_names(&args.env_names)?,
        redis: conformance::redis::resolve_mode(
            args.redis.as_deref(),
            args.redis_server.as_deref().unwrap_or("redis-server"),
            conformance::redis::docker_reachable(),
        )
        .map_err(anyhow::Error::msg)?,
        python_driver: {
            let script = args
                .python_driver
                .clone()
                .unwrap_or_else(|| "fixtures/clients/python/driver.py".into());
            let venv = script.parent().map(|d| d.join(".venv/bin/python"));
            let py = venv
                .filter(|p| p.exists())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| "python3".into());
            script
                .exists()
                .then(|| (py, script.to_string_lossy().into_owned()))
        },
    });
    let minter = Arc::new(Minter::new(keys));

    if let Some(path) = &args.dump_shapes {
        let ctx = conformance::Ctx {
            cfg: cfg.clone(),
            tr: conformance::transcript::Transcript::new(),
            minter: minter.clone(),
            id: "SHAPES",
        };
        let r = conformance::shapes::collect(&ctx).await;
        if let Some(c) = cluster.take() {
            c.stop().await;
        }
        let shapes = r.map_err(|e| {
            anyhow::anyhow!(
                "collecting shapes failed: {} {:?} {:?}",
                e.message,
                e.expected,
                e.actual
            )
        })?;
        std::fs::write(path, serde_json::to_string_pretty(&shapes)?)
            .with_context(|| format!("--dump-shapes {}", path.display()))?;
        eprintln!("{} shapes written to {}", shapes.len(), path.display());
        return Ok(0);
    }
    if let Some(cases) = args.model_cases {
        let r = conformance::model::run(cfg.clone(), minter.clone(), cases).await;
        if let Some(c) = cluster.take() {
            c.stop().await;
        }
        return match r {
            Ok(()) => {
                eprintln!("model: {cases} cases passed (seed {seed})");
                Ok(0)
            }
            Err(e) => {
                eprintln!("model: FAILED: {e}");
                Ok(1)
            }
        };
    }

    let opts = RunOptions {
        filters: args.filters.clone(),
        jobs: args.jobs.unwrap_or(4),
        strict: args.strict,
        expected_failures,
        keep_all_transcripts: args.verbose,
    };
    let start = Instant::now();
    eprintln!(
        "running {} checks against {} (seed {seed}, jobs {})",
        defs.iter()
            .filter(|d| runner::selected(d, &opts.filters))
            .count(),
        targets.join(", "),
        opts.jobs
    );
    if let Some(n) = args.repeat.filter(|n| *n > 1) {
        let repeated = repeat(&defs, cfg.clone(), minter.clone(), &opts, n);
        let Some((runs, elapsed)) = until_interrupted(repeated, cluster.take()).await else {
            return Ok(130);
        };
        let r = report::Repeat::of(&runs, elapsed.as_millis() as u64);
        let text = match format.as_str() {
            "json" => r.json(),
            _ => r.human(),
        };
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        return Ok(if r.flaky() == 0 && r.all_pass(args.allow_errors) {
            0
        } else {
            1
        });
    }
    let minter2 = minter.clone();
    let mut pending: std::collections::BTreeMap<&str, (usize, usize, usize)> =
        std::collections::BTreeMap::new();
    for d in defs.iter().filter(|d| runner::selected(d, &opts.filters)) {
        pending.entry(d.group()).or_default().0 += 1;
    }
    let run = runner::run(&defs, cfg.clone(), minter, &opts, move |o| {
        eprintln!("{}", report::progress_line(o));
        if let Some((total, done, bad)) = pending.get_mut(o.group) {
            *done += 1;
            if o.verdict.fails_run() {
                *bad += 1;
            }
            if done == total {
                eprintln!(
                    "── {} done: {total} checks, {} failing or ERROR",
                    o.group, bad
                );
            }
        }
    });
    let golden = async {
        let dir = args.golden.clone()?;
        let ctx = conformance::Ctx {
            cfg: cfg.clone(),
            tr: conformance::transcript::Transcript::new(),
            minter: minter2.clone(),
            id: "GOLDEN",
        };
        Some(match conformance::shapes::collect(&ctx).await {
            Ok(shapes) => conformance::shapes::compare(&shapes, &dir),
            Err(e) => vec![format!("collecting shapes failed: {}", e.message)],
        })
    };
    let run = async { (run.await, golden.await) };
    let Some((outcomes, golden_diffs)) = until_interrupted(run, cluster.take()).await else {
        return Ok(130);
    };
    if let Some(mut r) = provisioned_redis.take() {
        r.down().await;
    }
    let info = report::RunInfo {
        targets,
        features: features.into_iter().collect(),
        duration_ms: start.elapsed().as_millis() as u64,
        seed,
        strict: args.strict,
        allow_errors: args.allow_errors,
    };
    let text = match format.as_str() {
        "json" => report::json(&outcomes, &info),
        "junit" => report::junit(&outcomes, &info),
        _ => report::human(&outcomes, &info),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    if let Some(path) = &args.report {
        std::fs::write(path, report::html(&outcomes, &info))
            .with_context(|| format!("--report {}", path.display()))?;
        eprintln!("HTML report written to {}", path.display());
    }
    let mut golden_ok = true;
    if let Some(diffs) = &golden_diffs {
        if diffs.is_empty() {
            eprintln!(
                "golden shapes: all match {}",
                args.golden
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        } else {
            golden_ok = false;
            eprintln!(
                "golden shapes: {} differ from {}:",
                diffs.len(),
                args.golden
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
            for d in diffs {
                eprintln!("  {d}");
            }
        }
    }
    let s = Summary::of(&outcomes);
    if format != "human" {
        eprintln!(
            "{} pass, {} fail, {} error, {} warn, {} skip, {} xfail, {} stale in {:.1} s\n{}",
            s.pass,
            s.fail,
            s.error,
            s.warn,
            s.skip,
            s.xfail,
            s.stale,
            info.duration_ms as f64 / 1000.0,
            report::verdict_line(&outcomes)
        );
    }
    Ok(exit_code(&s, &info, golden_ok))
}

/// Runs `work`, then stops the spawned instances; `None` when interrupted
/// first (the instances are stopped then too).
async fn until_interrupted<T>(
    work: impl std::future::Future<Output = T>,
    cluster: Option<Cluster>,
) -> Option<T> {
    let r = tokio::select! {
        r = work => Some(r),
        _ = interrupted() => {
            eprintln!("interrupted: stopping spawned instances");
            None
        }
    };
    if let Some(c) = cluster {
        c.stop().await;
    }
    r
}

/// `--repeat N`: the selection N times, one after the other, against the same
/// instances; progress shows what did not PASS.
async fn repeat(
    defs: &[runner::CheckDef],
    cfg: Arc<RunConfig>,
    minter: Arc<Minter>,
    opts: &RunOptions,
    n: u32,
) -> (Vec<Vec<runner::Outcome>>, Duration) {
    let start = Instant::now();
    let mut runs = Vec::new();
    for i in 1..=n {
        let t = Instant::now();
        let outcomes = runner::run(defs, cfg.clone(), minter.clone(), opts, |o| {
            if !matches!(o.verdict, runner::Verdict::Pass | runner::Verdict::Skip) {
                eprintln!("run {i}/{n}: {}", report::progress_line(o));
            }
        })
        .await;
        let s = Summary::of(&outcomes);
        eprintln!(
            "run {i}/{n}: {} pass, {} fail, {} error, {} warn, {} skip in {:.1} s",
            s.pass,
            s.fail,
            s.error,
            s.warn,
            s.skip,
            t.elapsed().as_secs_f64()
        );
        runs.push(outcomes);
    }
    (runs, start.elapsed())
}

/// 1 for a FAIL, STALE or golden difference; 3 for ERRORs alone (unless
/// `--allow-errors`); else 0.
fn exit_code(s: &Summary, info: &report::RunInfo, golden_ok: bool) -> i32 {
    if !s.no_failure() || !golden_ok {
        1
    } else if !info.passes(s) {
        3
    } else {
        0
    }
}
