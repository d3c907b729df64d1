//! `roomcast-bench`: the fan-out load generator. Points at any Roomcast server — ones it
//! starts (`--spawn CMD`, repeatable for a side-by-side run) or a running one
//! (`--target URL`) — runs the scenarios, prints progress on stderr and a markdown
//! table (or `--json`) on stdout. See `BENCHMARKS.md`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use benches::report::{self, Figures};
use benches::scenario::{self, RunConfig, Scenario};
use benches::subject::{SpawnOptions, Subject};
use benches::token::Minter;
use clap::Parser;

/// Fan-out benchmarks against any Roomcast server.
#[derive(Parser, Debug)]
#[command(name = "roomcast-bench", version)]
struct Args {
    /// A running instance: `ws://host:port/socket.io/` or `http://host:port` (repeat
    /// for several instances of one cluster).
    #[arg(long, value_name = "URL")]
    target: Vec<String>,
    /// With --target: where to publish (default: each target's /v1/publish).
    #[arg(long, value_name = "URL")]
    publish_url: Option<String>,
    /// With --target: the server's pid, for its CPU and memory figures (repeatable).
    #[arg(long, value_name = "PID")]
    server_pid: Vec<u32>,
    /// A command that starts one instance (run as `sh -c 'exec CMD'` with PORT,
    /// JWT_SECRET and, with --redis, REDIS_URL). Repeat to compare servers in one run.
    #[arg(long, value_name = "CMD")]
    spawn: Vec<String>,
    /// Names of the servers, in the order of --target (first) and --spawn.
    #[arg(long, value_name = "NAME")]
    label: Vec<String>,
    /// Instances per spawned server.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Start a redis-server for the spawned instances and set REDIS_URL.
    #[arg(long)]
    redis: bool,
    /// Pin spawned servers, and the redis-server of `--redis`, to these CPUs (`taskset -c CPUS`);
    /// pin this tool with taskset.
    #[arg(long, value_name = "CPUS")]
    pin_server: Option<String>,
    /// The HS256 secret the server verifies client tokens with.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// A file holding the HS256 secret.
    #[arg(long, value_name = "FILE")]
    jwt_secret_file: Option<PathBuf>,
    /// Scenarios: a preset (quick, default, full) or a comma-separated list of
    /// fanout-RxC-max, fanout-RxC-rEVENTS_PER_S, idle-N, handshake-N.
    #[arg(long, default_value = "default")]
    scenarios: String,
    /// The quick preset with 2 s fan-outs (well under a minute per server).
    #[arg(long)]
    quick: bool,
    /// Seconds each fan-out scenario publishes.
    #[arg(long)]
    duration: Option<f64>,
    /// Handshakes in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Max-rate window: undelivered accepted events per room before publishing waits.
    #[arg(long, default_value_t = 32)]
    window: u64,
    /// Publishing HTTP connections.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Socket.IO path.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// Profile namespace.
    #[arg(long, default_value = "/")]
    namespace: String,
    /// Print JSON instead of markdown on stdout.
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn secret(args: &Args) -> anyhow::Result<String> {
    if let Some(s) = &args.jwt_secret {
        return Ok(s.clone());
    }
    let path = match &args.jwt_secret_file {
        Some(p) => p.clone(),
        None => {
            let rel = PathBuf::from("fixtures/keys/hs256.secret");
            let in_repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(&rel);
            if rel.is_file() {
                rel
            } else if in_repo.is_file() {
                in_repo
            } else {
                bail!("no JWT secret: pass --jwt-secret or --jwt-secret-file");
            }
        }
    };
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .trim()
        .to_owned())
}

fn scenarios(args: &Args) -> anyhow::Result<Vec<Scenario>> {
    let name = if args.quick && args.scenarios == "default" {
        "quick"
    } else {
        args.scenarios.as_str()
    };
    if let Some(p) = scenario::preset(name) {
        return Ok(p);
    }
    name.split(',')
        .map(|s| s.trim().parse::<Scenario>().map_err(anyhow::Error::msg))
        .collect()
}

async fn run_one(s: Scenario, subject: &Subject, cfg: &RunConfig) -> Figures {
    if let Some(why) = too_many_sockets(s, cfg.fd_limit) {
        eprintln!("[{} {s}] skipped: {why}", subject.label);
        return failed(s, &subject.label, &anyhow::anyhow!("skipped: {why}"));
    }
    match scenario::run(s, subject, cfg).await {
        Ok(f) => f,
        Err(e) => {
            eprintln!("[{} {s}] failed: {e:#}", subject.label);
            failed(s, &subject.label, &e)
        }
    }
}

/// Why a scenario cannot run under this open-file limit (which spawned servers inherit).
fn too_many_sockets(s: Scenario, limit: u64) -> Option<String> {
    let need = s.connections() as u64 + 256;
    (need > limit).then(|| {
        format!(
            "needs {need} open files, the limit is {limit} and cannot be raised (hard limit; raise `ulimit -Hn` as root)"
        )
    })
}

fn failed(s: Scenario, label: &str, e: &anyhow::Error) -> Figures {
    Figures {
        scenario: s.to_string(),
        server: label.to_owned(),
        notes: vec![format!("failed: {e:#}")],
        ..Figures::default()
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |s| s.trim().to_owned());
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} CPUs (this tool may use {}), Linux {}",
        benches::os::usable_cpus(),
        kernel.trim()
    )
}

async fn run(args: Args) -> anyhow::Result<Vec<Vec<Figures>>> {
    let list = scenarios(&args)?;
    let secret = secret(&args)?;
    let max_conns = list.iter().map(Scenario::connections).max().unwrap_or(0) as u64;
    let limit = benches::os::raise_fd_limit(2 * max_conns + 4096);
    if limit < max_conns + 1024 && !args.quiet {
        eprintln!(
            "roomcast-bench: warning: the open-file limit is {limit}, below the {max_conns} connections of the largest scenario"
        );
    }
    let cfg = RunConfig {
        duration: Duration::from_secs_f64(args.duration.unwrap_or(if args.quick {
            3.0
        } else {
            10.0
        })),
        concurrency: args.concurrency,
        window: args.window,
        publishers: args.publishers,
        connect_timeout: Duration::from_secs(20),
        drain_timeout: Duration::from_secs(if args.quick { 2 } else { 5 }),
        minter: Arc::new(Minter::new(secret.as_bytes())),
        progress: !args.quiet,
        fd_limit: limit,
    };
    let mut labels = args.label.iter();
    let mut runs = Vec::new();
    let mut subjects: Vec<(String, Option<String>)> = Vec::new();
    if !args.target.is_empty() {
        subjects.push((
            labels.next().cloned().unwrap_or_else(|| "target".into()),
            None,
        ));
    }
    for (i, cmd) in args.spawn.iter().enumerate() {
        let label = labels
            .next()
            .cloned()
            .unwrap_or_else(|| format!("spawn{}", i + 1));
        subjects.push((label, Some(cmd.clone())));
    }
    if subjects.is_empty() {
        bail!("nothing to measure: pass --target URL or --spawn CMD");
    }
    let opts = SpawnOptions {
        instances: args.instances.max(1),
        redis: args.redis,
        secret: secret.clone(),
        pin: args.pin_server.clone(),
        path: args.path.clone(),
        namespace: args.namespace.clone(),
    };
    for (label, cmd) in subjects {
        let mut figs = Vec::new();
        match &cmd {
            None => {
                let subject = Subject::target(
                    &label,
                    &args.target,
                    args.publish_url.as_deref(),
                    args.server_pid.clone(),
                    &args.namespace,
                )
                .await?;
                for s in &list {
                    figs.push(run_one(*s, &subject, &cfg).await);
                }
            }
            Some(cmd) => {
                // A fresh server per scenario: no scenario inherits another's heap,
                // connections or warm caches.
                for s in &list {
                    if !args.quiet {
                        eprintln!(
                            "{:6.1}s [{label}] starting {cmd:?} ×{}",
                            scenario::elapsed(),
                            opts.instances
                        );
                    }
                    let (o, l, c) = (opts.clone(), label.clone(), cmd.clone());
                    match tokio::task::spawn_blocking(move || Subject::spawn(&l, &c, &o)).await? {
                        Ok(subject) => figs.push(run_one(*s, &subject, &cfg).await),
                        Err(e) => {
                            eprintln!("[{label}] cannot start: {e:#}");
                            figs.push(failed(*s, &label, &e));
                        }
                    }
                }
            }
        }
        runs.push(figs);
    }
    Ok(runs)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(benches::os::usable_cpus())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roomcast-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let runs = match rt.block_on(run(args)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("roomcast-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    rt.shutdown_timeout(Duration::from_secs(1));
    if json {
        match serde_json::to_string_pretty(&runs) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("roomcast-bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("Machine: {}\n\nCommand: `{command_line}`\n", machine());
        for figs in runs.iter().filter(|r| !r.is_empty()) {
            println!("### {}\n\n{}", figs[0].server, report::table(figs));
        }
        let present: Vec<Vec<Figures>> = runs.into_iter().filter(|r| !r.is_empty()).collect();
        if present.len() > 1 {
            println!("### Side by side\n\n{}", report::side_by_side(&present));
        }
    }
    ExitCode::SUCCESS
}
