//! `cargo xtask bench [--quick] [--target URL | --spawn CMD] [-- ARGS…]`: builds the
//! load generator and the servers in release and runs `roomcast-bench` side by side
//! against the reference server (in-memory), the Node peer (`fixtures/peers/node`, when
//! `npm ci` has run there), the socketioxide peer (`benches/peers/socketioxide`, when
//! built) and the bare floor writer — or only against `--target URL` / `--spawn CMD`.
//! With two CPUs or more, the servers run on CPU 0 and the generator on CPU 1
//! (`taskset`). The markdown table goes to stdout; see `BENCHMARKS.md`.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _};

use crate::cargo_cmd;
use crate::conformance::{shell_quote, target_dir};
use crate::test_cmd::which;

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BenchArgs {
    quick: bool,
    target: Option<String>,
    spawn: Option<String>,
    extra: Vec<String>,
}

pub(crate) fn parse_args(args: &[String]) -> anyhow::Result<BenchArgs> {
    let mut out = BenchArgs::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => out.quick = true,
            "--target" => out.target = Some(it.next().context("--target needs a URL")?.clone()),
            "--spawn" => out.spawn = Some(it.next().context("--spawn needs a command")?.clone()),
            "--" => out.extra.extend(it.by_ref().cloned()),
            other => {
                bail!("unexpected argument {other:?} (pass roomcast-bench's own flags after --)")
            }
        }
    }
    if out.target.is_some() && out.spawn.is_some() {
        bail!("give --target or --spawn, not both");
    }
    Ok(out)
}

/// A server of the default side-by-side set: label and command.
pub(crate) struct Peer {
    label: &'static str,
    cmd: Option<String>,
    why_not: String,
}

/// The default set, in table order (the first is the one ratios are against).
fn peers(root: &Path, release: &Path) -> Vec<Peer> {
    let quote = |p: &Path| shell_quote(&p.to_string_lossy());
    let node_dir = root.join("fixtures/peers/node");
    let node = if which("node").is_none() {
        Err("node is not on PATH".to_owned())
    } else if !node_dir.join("node_modules").is_dir() {
        Err("run `cargo xtask prereqs` (npm ci in fixtures/peers/node) first".to_owned())
    } else {
        Ok(format!("node {}", quote(&node_dir.join("server.js"))))
    };
    let sioxide = root.join("benches/peers/socketioxide/target/release/roomcast-socketioxide");
    let sioxide = if sioxide.is_file() {
        Ok(quote(&sioxide))
    } else {
        Err("not built: cargo build --release --manifest-path benches/peers/socketioxide/Cargo.toml".to_owned())
    };
    let peer = |label, r: Result<String, String>| match r {
        Ok(cmd) => Peer {
            label,
            cmd: Some(cmd),
            why_not: String::new(),
        },
        Err(why_not) => Peer {
            label,
            cmd: None,
            why_not,
        },
    };
    vec![
        peer(
            "roomcast-server",
            Ok(quote(&release.join("roomcast-server"))),
        ),
        peer("node socket.io", node),
        peer("socketioxide", sioxide),
        peer("floor", Ok(quote(&release.join("roomcast-floor")))),
    ]
}

/// The `roomcast-bench` arguments for one run.
pub(crate) fn bench_args(
    args: &BenchArgs,
    peers: &[(String, String)],
    pin_server: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &args.target {
        out.extend([
            "--target".to_owned(),
            t.clone(),
            "--label".to_owned(),
            "target".to_owned(),
        ]);
    } else if let Some(s) = &args.spawn {
        out.extend([
            "--spawn".to_owned(),
            s.clone(),
            "--label".to_owned(),
            "spawned".to_owned(),
        ]);
    } else {
        for (label, cmd) in peers {
            out.extend([
                "--spawn".to_owned(),
                cmd.clone(),
                "--label".to_owned(),
                label.clone(),
            ]);
        }
    }
    if args.target.is_none() {
        if let Some(cpus) = pin_server {
            out.extend(["--pin-server".to_owned(), cpus.to_owned()]);
        }
    }
    if args.quick {
        out.push("--quick".to_owned());
    }
    out.extend(args.extra.iter().cloned());
    out
}

pub(crate) fn run(root: &Path, rest: &[String]) -> anyhow::Result<ExitCode> {
    let args = parse_args(rest)?;
    eprintln!("==> cargo build --release -p benches -p reference-server --bins");
    let st = cargo_cmd(root)
        .args([
            "build",
            "--release",
            "-p",
            "benches",
            "-p",
            "reference-server",
            "--bins",
        ])
        .status()
        .context("cannot run cargo build")?;
    if !st.success() {
        bail!("the release build failed ({st})");
    }
    let release = target_dir(root).join("release");
    let bench = release.join("roomcast-bench");
    let mut chosen = Vec::new();
    if args.target.is_none() && args.spawn.is_none() {
        for p in peers(root, &release) {
            match p.cmd {
                Some(cmd) => chosen.push((p.label.to_owned(), cmd)),
                None => eprintln!("xtask bench: skipping {}: {}", p.label, p.why_not),
            }
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pin = which("taskset").is_some() && cpus >= 2;
    let bench_args = bench_args(&args, &chosen, pin.then_some("0"));
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "1"]).arg(&bench);
        c
    } else {
        eprintln!("xtask bench: not pinning (needs taskset and 2 CPUs); figures are noisier");
        Command::new(&bench)
    };
    cmd.args(&bench_args)
        .arg("--jwt-secret-file")
        .arg(root.join("fixtures/keys/hs256.secret"))
        .current_dir(root);
    eprintln!("==> {cmd:?}");
    let st = cmd
        .status()
        .with_context(|| format!("cannot start {}", bench.display()))?;
    Ok(if st.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments_parse_and_pass_the_rest_through() {
        let a = parse_args(&strings(&["--quick", "--", "--duration", "5"])).unwrap();
        assert!(a.quick);
        assert_eq!(a.extra, ["--duration", "5"]);
        assert!(parse_args(&strings(&["--target", "u", "--spawn", "c"])).is_err());
        assert!(parse_args(&strings(&["--bogus"])).is_err());
        assert!(parse_args(&strings(&["--target"])).is_err());
    }

    #[test]
    fn the_default_set_runs_side_by_side_pinned() {
        let a = parse_args(&strings(&["--quick"])).unwrap();
        let peers = vec![
            ("ref".to_owned(), "/r/roomcast-server".to_owned()),
            ("floor".to_owned(), "/r/roomcast-floor".to_owned()),
        ];
        assert_eq!(
            bench_args(&a, &peers, Some("0")),
            strings(&[
                "--spawn",
                "/r/roomcast-server",
                "--label",
                "ref",
                "--spawn",
                "/r/roomcast-floor",
                "--label",
                "floor",
                "--pin-server",
                "0",
                "--quick"
            ])
        );
    }

    #[test]
    fn a_target_replaces_the_default_set_and_is_not_pinned() {
        let a = parse_args(&strings(&["--target", "ws://h:1/socket.io/"])).unwrap();
        let peers = vec![("ref".to_owned(), "x".to_owned())];
        assert_eq!(
            bench_args(&a, &peers, Some("0")),
            strings(&["--target", "ws://h:1/socket.io/", "--label", "target"])
        );
        assert_eq!(shell_quote("/a b/x"), "'/a b/x'");
    }
}
