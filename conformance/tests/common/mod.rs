//! Helpers for the harness's own workspace tests: run the harness binary,
//! locate the implementations it is pointed at.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shared target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The reference server binary, built (or brought up to date) first.
pub fn reference_server() -> PathBuf {
    // Built once per test process, also when a binary exists: a stale one left by an
    // older checkout would otherwise be tested (and blamed) instead of this source.
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "reference-server",
                "--bin",
                "roomcast-server",
            ])
            .current_dir(root())
            .status()
            .expect("cargo build -p reference-server could not be started");
        assert!(status.success(), "building the reference server failed");
    });
    let bin = target_dir().join("debug").join("roomcast-server");
    assert!(bin.exists(), "{} is missing after the build", bin.display());
    bin
}

/// Fails with a clear message unless `node` runs and the peer's node_modules exist.
pub fn require_node_peer() {
    let ok = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "node is not installed: these tests need Node.js 18+ on PATH"
    );
    let nm = root().join("fixtures/peers/node/node_modules");
    assert!(
        nm.exists(),
        "{} is missing: run `npm ci` in fixtures/peers/node",
        nm.display()
    );
}

/// Output of one harness run.
pub struct Run {
    /// Exit code.
    pub code: Option<i32>,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Run {
    /// stdout parsed as the JSON report.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "the JSON report does not parse ({e}):\n{}\n--- stderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The IDs of the FAILed requirements.
    pub fn failed_ids(&self) -> Vec<String> {
        self.with_verdict("FAIL")
            .into_iter()
            .map(|(id, _, _)| id)
            .collect()
    }

    /// Every result with this verdict: (id, level, message).
    pub fn with_verdict(&self, verdict: &str) -> Vec<(String, String, String)> {
        let v = self.json();
        v["results"]
            .as_array()
            .expect("results is an array")
            .iter()
            .filter(|r| r["verdict"] == verdict)
            .map(|r| {
                (
                    r["id"].as_str().unwrap_or("").to_string(),
                    r["level"].as_str().unwrap_or("").to_string(),
                    r["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

/// At most this many harness runs at once within one test binary: the
/// machine has two cores, and a starved harness measures starved timings.
const MAX_RUNS: usize = 2;
static RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static FREED: std::sync::Condvar = std::sync::Condvar::new();

struct Slot;

impl Slot {
    fn take() -> Slot {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_RUNS {
            n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        FREED.notify_one();
    }
}

/// Runs the harness binary from the workspace root with `args` and extra environment.
pub fn harness(args: &[&str], env: &[(&str, &str)]) -> Run {
    let _slot = Slot::take();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcast-conformance"));
    cmd.args(args).current_dir(root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("the harness binary could not be started");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The flags that declare the reference server's features and its keys.
pub const REFERENCE_FLAGS: &[&str] = &[
    "--features",
    "polling,bearer-header,cookie-auth,query-auth,refresh,rs256,es256",
    "--extra-key",
    "RS256:fixtures/keys/rs256-private.pem:fixtures/keys/rs256-public.pem",
    "--extra-key",
    "ES256:fixtures/keys/es256-private.pem:fixtures/keys/es256-public.pem",
];

/// The Node peer's features (`redis`: the harness provisions `redis-server` for FAN;
/// `cookie-auth`, `query-auth`: those sources are switched on by a private instance, which
/// AUTH-3, AUTH-4 and AUTH-36 need; `rs256`, `es256`: private instances get the public
/// key of [`NODE_KEYS`], which AUTH-13, AUTH-14 and AUTH-17 need).
pub const NODE_FEATURES: &str =
    "polling,bearer-header,refresh,redis,cookie-auth,query-auth,rs256,es256";

/// The key material the harness mints RS256 and ES256 tokens with for the Node peer.
pub const NODE_KEYS: &[&str] = &[
    "--extra-key",
    "RS256:fixtures/keys/rs256-private.pem:fixtures/keys/rs256-public.pem",
    "--extra-key",
    "ES256:fixtures/keys/es256-private.pem:fixtures/keys/es256-public.pem",
];

/// The harness arguments that spawn the Node peer with its features and keys, JSON output.
pub fn node_peer_args() -> Vec<&'static str> {
    let mut args = vec![
        "--spawn",
        "node fixtures/peers/node/server.js",
        "--features",
        NODE_FEATURES,
        "--format",
        "json",
    ];
    args.extend_from_slice(NODE_KEYS);
    args
}
