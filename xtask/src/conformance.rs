//! `cargo xtask conformance [ARGS…]`: the README's main command.
//!
//! Installs what the real-client checks need (the `socket.io-client` driver's
//! `node_modules`, the python-socketio venv; see
//! [`crate::test_cmd::conformance_prerequisites`]) or stops naming the install
//! command, builds `reference-server` and `conformance` (debug), then runs
//! `roomcast-conformance --spawn <roomcast-server> --jwt-secret-file fixtures/keys/hs256.secret`
//! with the reference server's optional features and RS256/ES256 test keys
//! (see [`harness_args`]), then `ARGS…`, and exits with the harness's exit code.
//! With `--target URL` among ARGS it checks that running implementation
//! instead: only the harness is built, and ARGS are passed on unchanged.
//! `--cluster` adds `--instances 3` and the `redis` feature: the harness provisions a
//! `redis-server` and the three instances form one cluster. If the harness binary does not
//! offer `--spawn` yet, it says that the harness is not built yet and fails;
//! it never reports a pass it did not get.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _};

use crate::cargo_cmd;

/// The optional features of the spec's conformance profiles that the reference
/// server implements, so `cargo xtask conformance` checks them too (the harness
/// SKIPs requirements of undeclared features). `redis` is declared by `--cluster`
/// (see [`CLUSTER_ARGS`]); `recovery` is not implemented.
pub(crate) const REFERENCE_FEATURES: &str =
    "polling,bearer-header,cookie-auth,query-auth,refresh,rs256,es256";

/// `cargo xtask conformance --cluster`: three instances on a Redis the harness
/// provisions (it does so for `--instances` > 1 with the `redis` feature), every check.
pub(crate) const CLUSTER_INSTANCES: &str = "3";

/// The arguments passed to `roomcast-conformance`; kept in one place so the
/// harness's flags can be followed here in one edit.
///
/// `--spawn` takes a shell command (the harness runs `sh -c CMD`), so the
/// server's path is quoted when it needs to be. The reference server's features
/// and the RS256/ES256 test keys are declared unless ARGS bring their own
/// `--features`, `--extra-key` or `--config`.
pub(crate) fn harness_args(root: &Path, server: &Path, extra: &[String]) -> Vec<OsString> {
    if targets_given(extra) {
        // an implementation that is already running: ARGS say everything
        return extra.iter().map(OsString::from).collect();
    }
    let keys = root.join("fixtures/keys");
    let mut args: Vec<OsString> = vec![
        "--spawn".into(),
        shell_quote(&server.to_string_lossy()).into(),
        "--jwt-secret-file".into(),
        keys.join("hs256.secret").into_os_string(),
    ];
    let given = |flag: &str| {
        extra
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    };
    let cluster = extra.iter().any(|a| a == "--cluster");
    if !given("--features") && !given("--config") {
        let features = if cluster {
            format!("{REFERENCE_FEATURES},redis")
        } else {
            REFERENCE_FEATURES.to_owned()
        };
        args.extend(["--features".into(), features.into()]);
    }
    if cluster && !given("--instances") {
        args.extend(["--instances".into(), CLUSTER_INSTANCES.into()]);
    }
    if !given("--extra-key") && !given("--config") {
        for alg in ["RS256", "ES256"] {
            let lower = alg.to_ascii_lowercase();
            let private = keys.join(format!("{lower}-private.pem"));
            let public = keys.join(format!("{lower}-public.pem"));
            args.push("--extra-key".into());
            args.push(format!("{alg}:{}:{}", private.display(), public.display()).into());
        }
    }
    args.extend(
        extra
            .iter()
            .filter(|a| *a != "--cluster")
            .map(OsString::from),
    );
    args
}

/// `--target URL` among ARGS: check an implementation that is already
/// running, without building or spawning the reference server.
fn targets_given(extra: &[String]) -> bool {
    extra
        .iter()
        .any(|a| a == "--target" || a.starts_with("--target="))
}

/// Quotes `s` for `sh -c` unless it is made of safe characters only.
pub(crate) fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The cargo target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

pub(crate) fn run(root: &Path, extra: &[String]) -> anyhow::Result<ExitCode> {
    println!("==> prerequisites of the real-client checks (driver node_modules, python venv)");
    crate::test_cmd::conformance_prerequisites(root)?;
    let own_target = targets_given(extra);
    let build: &[&str] = if own_target {
        &["build", "-p", "conformance", "--bins"]
    } else {
        &[
            "build",
            "-p",
            "reference-server",
            "-p",
            "conformance",
            "--bins",
        ]
    };
    println!("==> cargo {}", build.join(" "));
    let st = cargo_cmd(root)
        .args(build)
        .status()
        .context("cannot run cargo build")?;
    if !st.success() {
        bail!("building the harness failed ({st})");
    }
    let bin = target_dir(root).join("debug");
    let server = bin.join("roomcast-server");
    let harness = bin.join("roomcast-conformance");
    let built: &[&PathBuf] = if own_target {
        &[&harness]
    } else {
        &[&server, &harness]
    };
    for p in built {
        if !p.is_file() {
            bail!("{} was not built", p.display());
        }
    }

    // The harness is written in parallel with this command: probe before trusting it.
    let help = Command::new(&harness)
        .arg("--help")
        .output()
        .with_context(|| format!("cannot start {}", harness.display()))?;
    let help_text = format!(
        "{}{}",
        String::from_utf8_lossy(&help.stdout),
        String::from_utf8_lossy(&help.stderr)
    );
    if !help_text.contains("--spawn") {
        eprintln!(
            "xtask conformance: the conformance harness is not built yet: `{} --help` does not offer --spawn.\n\
             No checks were run; this is not a pass.",
            harness.display()
        );
        return Ok(ExitCode::FAILURE);
    }

    let args = harness_args(root, &server, extra);
    println!(
        "==> {} {}",
        harness.display(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let st = Command::new(&harness)
        .args(&args)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot start {}", harness.display()))?;
    match st.code() {
        Some(0) => Ok(ExitCode::SUCCESS),
        Some(code) => {
            eprintln!("xtask conformance: roomcast-conformance exited with code {code}");
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1).max(1)))
        }
        None => {
            eprintln!("xtask conformance: roomcast-conformance was killed by a signal ({st})");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn harness_arguments_spawn_the_reference_server_with_the_test_keys_and_its_features() {
        let args = harness_args(
            Path::new("/repo"),
            Path::new("/repo/target/debug/roomcast-server"),
            &["--format".to_owned(), "json".to_owned()],
        );
        assert_eq!(
            strings(args),
            [
                "--spawn",
                "/repo/target/debug/roomcast-server",
                "--jwt-secret-file",
                "/repo/fixtures/keys/hs256.secret",
                "--features",
                REFERENCE_FEATURES,
                "--extra-key",
                "RS256:/repo/fixtures/keys/rs256-private.pem:/repo/fixtures/keys/rs256-public.pem",
                "--extra-key",
                "ES256:/repo/fixtures/keys/es256-private.pem:/repo/fixtures/keys/es256-public.pem",
                "--format",
                "json",
            ]
        );
    }

    #[test]
    fn own_features_keys_or_config_replace_the_defaults() {
        let server = Path::new("/r/roomcast-server");
        let own = |extra: &[&str]| {
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            strings(harness_args(Path::new("/r"), server, &extra))
        };
        let a = own(&["--features=polling"]);
        assert!(!a.contains(&REFERENCE_FEATURES.to_owned()), "{a:?}");
        assert_eq!(a.iter().filter(|x| *x == "--extra-key").count(), 2, "{a:?}");
        let a = own(&["--extra-key", "RS256:k.pem"]);
        assert_eq!(a.iter().filter(|x| *x == "--extra-key").count(), 1, "{a:?}");
        assert!(a.contains(&REFERENCE_FEATURES.to_owned()), "{a:?}");
        let a = own(&["--config", "roomcast.toml"]);
        assert_eq!(a[4..], ["--config", "roomcast.toml"], "{a:?}");
    }

    #[test]
    fn a_target_runs_the_harness_against_it_with_the_arguments_unchanged() {
        let extra: Vec<String> = ["--target", "http://127.0.0.1:3000", "--jwt-secret", "s"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let args = strings(harness_args(Path::new("/r"), Path::new("/r/srv"), &extra));
        assert_eq!(args, extra);
        assert!(targets_given(&["--target=http://x".to_owned()]));
        assert!(!targets_given(&["--targets".to_owned()]));
    }

    #[test]
    fn cluster_declares_redis_and_spawns_three_instances() {
        let extra = [
            "--cluster".to_owned(),
            "--filter".to_owned(),
            "FAN".to_owned(),
        ];
        let a = strings(harness_args(
            Path::new("/r"),
            Path::new("/r/roomcast-server"),
            &extra,
        ));
        assert!(a.contains(&format!("{REFERENCE_FEATURES},redis")), "{a:?}");
        let i = a
            .iter()
            .position(|x| x == "--instances")
            .expect("--instances");
        assert_eq!(a[i + 1], CLUSTER_INSTANCES);
        assert!(!a.contains(&"--cluster".to_owned()), "{a:?}");
        assert_eq!(a[a.len() - 2..], ["--filter", "FAN"]);
        let plain = strings(harness_args(Path::new("/r"), Path::new("/r/s"), &[]));
        assert!(!plain
            .iter()
            .any(|x| x.contains("redis") || x == "--instances"));
    }

    #[test]
    fn spawn_paths_are_quoted_for_the_shell_when_needed() {
        assert_eq!(
            shell_quote("/repo/target/debug/roomcast-server"),
            "/repo/target/debug/roomcast-server"
        );
        assert_eq!(
            shell_quote("/my repo/roomcast-server"),
            "'/my repo/roomcast-server'"
        );
        assert_eq!(shell_quote("/it's/x"), r"'/it'\''s/x'");
        let args = harness_args(
            Path::new("/a b"),
            Path::new("/a b/target/debug/roomcast-server"),
            &[],
        );
        assert_eq!(args[1], "'/a b/target/debug/roomcast-server'");
        assert_eq!(args[3], "/a b/fixtures/keys/hs256.secret");
    }
}
