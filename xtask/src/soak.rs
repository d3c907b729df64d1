//! `cargo xtask soak [--minutes N]`: builds the reference server and `roomcast-soak` in
//! release and runs a bounded soak (fuzzed frames, trickled bodies, handshake floods and
//! normal traffic) against a freshly spawned reference server on loopback; see
//! `conformance/src/bin/roomcast-soak.rs` for what it measures and when it fails.

use std::process::{Command, ExitCode};

use anyhow::{bail, Context};

use crate::cargo_cmd;
use crate::conformance::target_dir;

pub(crate) fn run(root: &std::path::Path, rest: &[String]) -> anyhow::Result<ExitCode> {
    let mut minutes = "5".to_string();
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minutes" => {
                minutes = it.next().context("--minutes needs a value")?.clone();
            }
            other => bail!("unexpected argument {other:?} (usage: cargo xtask soak [--minutes N])"),
        }
    }
    println!("==> cargo build --release -p reference-server -p conformance --bins");
    let st = cargo_cmd(root)
        .args([
            "build",
            "--release",
            "-p",
            "reference-server",
            "-p",
            "conformance",
            "--bins",
        ])
        .status()
        .context("cannot run cargo build")?;
    if !st.success() {
        bail!("the release build failed ({st})");
    }
    let bin = target_dir(root).join("release");
    let server = bin.join("roomcast-server");
    let soak = bin.join("roomcast-soak");
    let secret = root.join("fixtures/keys/hs256.secret");
    println!("==> {} --minutes {minutes}", soak.display());
    let st = Command::new(&soak)
        .arg("--spawn")
        .arg(crate::conformance::shell_quote(&server.to_string_lossy()))
        .arg("--jwt-secret-file")
        .arg(&secret)
        .arg("--minutes")
        .arg(&minutes)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run {}", soak.display()))?;
    Ok(if st.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
