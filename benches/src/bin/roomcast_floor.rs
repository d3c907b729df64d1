//! `roomcast-floor`: the bare tokio-tungstenite writer that gives the floor of the
//! side-by-side benchmark (see [`benches::floor`]). Listens on `127.0.0.1:$PORT`
//! (default 3000); verifies no token. For benchmarks only.
//! `ROOMCAST_FLOOR_FAULT=drop|duplicate|reorder` breaks it on purpose (honesty tests).

use std::sync::Arc;

use anyhow::Context as _;
use benches::floor::{Fault, Floor};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse().context("PORT must be a port number"))
        .transpose()?
        .unwrap_or(3000);
    let fault = match std::env::var("ROOMCAST_FLOOR_FAULT") {
        Ok(f) => Some(Fault::parse(&f).with_context(|| {
            format!("unknown ROOMCAST_FLOOR_FAULT {f:?} (drop, duplicate, reorder)")
        })?),
        Err(_) => None,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    println!(
        "roomcast-floor listening on http://{}",
        listener.local_addr()?
    );
    Arc::new(Floor::new(fault)).serve(listener).await;
    Ok(())
}
