//! `roomcast-server`: the Roomcast v1 reference server binary. Parses flags and
//! environment, prints `roomcast-server listening on http://ADDR` once bound, serves
//! until SIGTERM / SIGINT, then disconnects every socket and exits 0.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reference_server::config::ENV_ALIASES;
use reference_server::fd_limit;
use reference_server::{Args, Server};
use serde_json::json;
use tracing::{info, warn};

fn apply_env_aliases() {
    for (alias, canonical) in ENV_ALIASES {
        if std::env::var_os(canonical).is_none() {
            if let Some(v) = std::env::var_os(alias) {
                // Single-threaded at this point (before the runtime starts).
                std::env::set_var(canonical, v);
            }
        }
    }
}

fn init_logs() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Dependencies log raw frames and headers at debug/trace (the CONNECT auth payload
    // holds a token): capped whatever RUST_LOG says, so that tokens are never logged.
    for quiet in [
        "tungstenite=info",
        "tokio_tungstenite=info",
        "hyper=info",
        "hyper_util=info",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    info!(event = "signal", "shutdown requested");
}

fn dev_tokens(secret: &[u8]) -> anyhow::Result<(String, String)> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 24 * 3600;
    let key = EncodingKey::from_secret(secret);
    let client = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "dev-user", "organizationId": "dev-org", "role": "developer", "exp": exp}),
        &key,
    )?;
    let service = encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "dev-service", "scope": "realtime:publish", "exp": exp}),
        &key,
    )?;
    Ok((client, service))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dev = args.dev;
    let dev_secret = if dev && args.jwt_secret.is_none() && args.jwt_public_key_file.is_empty() {
        let bytes: [u8; 32] = rand::random();
        Some(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    } else {
        None
    };
    let config = args
        .into_config(dev_secret.as_deref().map(str::as_bytes))
        .map_err(|e| anyhow::anyhow!(e))?;
    let compliance = config.compliance;
    let clustered = config.redis.is_some();
    let namespace = config.namespace.clone();
    let server = Server::bind(config).await.context("cannot start")?;
    let addr = server.local_addr();
    let mut out = std::io::stdout().lock();
    writeln!(out, "roomcast-server listening on http://{addr}")?;
    if compliance {
        writeln!(out, "Socket.IO compliance mode: namespaces / and /custom, no authentication, Engine.IO echo at /engine.io/")?;
    }
    if let Some(secret) = &dev_secret {
        let (client, service) = dev_tokens(secret.as_bytes())?;
        writeln!(
            out,
            "\nDevelopment mode (throw-away HS256 secret, tokens valid 24 h)."
        )?;
        writeln!(out, "JWT_SECRET={secret}")?;
        writeln!(
            out,
            "\nClient token (user dev-user, organization dev-org):\n{client}"
        )?;
        writeln!(out, "\nService token (scope realtime:publish):\n{service}")?;
        writeln!(
            out,
            "\nConnect:  io(\"http://{addr}{}\", {{ auth: {{ token: \"<client token>\" }} }})",
            if namespace == "/" {
                ""
            } else {
                namespace.as_str()
            }
        )?;
        writeln!(
            out,
            "Publish:  curl -i -X POST http://{addr}/v1/publish -H 'Authorization: Bearer {service}' -H 'Content-Type: application/json' -d '{{\"room\":\"org:dev-org\",\"type\":\"demo:hello\",\"payload\":{{\"hello\":\"world\"}}}}'"
        )?;
    }
    out.flush()?;
    drop(out);
    if !compliance && !clustered {
        warn!(
            event = "standalone",
            "REDIS_URL is not set: in-memory fan-out, single instance"
        );
    }
    server.run_until(shutdown_signal()).await;
    Ok(())
}

/// Raises the open-file soft limit to the hard limit (one descriptor per connection)
/// and logs both.
fn raise_fd_limit() {
    let show = |l: Option<u64>| l.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
    match fd_limit::raise_to_hard() {
        Ok(l) => info!(
            event = "fd_limit",
            soft_before = show(l.soft_before).as_str(),
            soft = show(l.soft).as_str(),
            hard = show(l.hard).as_str(),
            "open-file limit: soft raised to the hard limit"
        ),
        Err((e, l)) => warn!(
            event = "fd_limit",
            error = %e,
            soft = show(l.soft).as_str(),
            hard = show(l.hard).as_str(),
            "cannot raise the open-file soft limit; connections beyond it will be refused"
        ),
    }
}

fn main() -> ExitCode {
    apply_env_aliases();
    let args = Args::parse();
    init_logs();
    raise_fd_limit();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("roomcast-server: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(run(args));
    rt.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomcast-server: {e:#}");
            ExitCode::from(2)
        }
    }
}
