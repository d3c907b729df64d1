//! The oracle of `cargo xtask mutants` (issue 9, item 7): runs the conformance
//! harness against THIS build of `roomcast-server`, so that `cargo-mutants`, which
//! rebuilds this package with one mutation applied, learns whether the harness
//! notices the mutation. The harness is not a dependency of this package (and the
//! `conformance` crate never depends on this one): `cargo xtask mutants` builds
//! `roomcast-conformance` once, before any mutation, and names it here through the
//! environment:
//!
//! - `ROOMCAST_MUTANTS_HARNESS`: the `roomcast-conformance` binary;
//! - `ROOMCAST_MUTANTS_ARGS`: a JSON array of its arguments after
//!   `--spawn <this build's roomcast-server>` (the keys and features
//!   `cargo xtask conformance` uses, and the `--filter`s of the mutated file);
//! - `ROOMCAST_MUTANTS_ROOT`: the directory to run it in (the checkout's root,
//!   where `fixtures/clients` has its installed drivers).
//!
//! The test is `#[ignore]`d: `cargo test` and CI never run it.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::Command;

fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this oracle is run by `cargo xtask mutants`, not by hand")
    })
}

#[test]
#[ignore = "mutation-testing oracle, run by `cargo xtask mutants`"]
fn conformance_harness_passes_this_build() {
    let harness = required("ROOMCAST_MUTANTS_HARNESS");
    let args: Vec<String> = serde_json::from_str(&required("ROOMCAST_MUTANTS_ARGS"))
        .expect("ROOMCAST_MUTANTS_ARGS is a JSON array of strings");
    let root = std::env::var_os("ROOMCAST_MUTANTS_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")));
    let server = env!("CARGO_BIN_EXE_roomcast-server");
    let out = Command::new(&harness)
        .arg("--spawn")
        .arg(format!("'{}'", server.replace('\'', r"'\''")))
        .args(&args)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot start {harness}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // the verdicts that are not PASS or SKIP, and the summary, say what killed the mutant
    let verdicts: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            ["FAIL", "ERROR", "WARN", "STALE", "CONFORMANT", "INCOMPLETE"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect();
    assert!(
        out.status.success(),
        "roomcast-conformance exited with {}:\n{}\n--- stderr (tail) ---\n{}",
        out.status,
        verdicts.join("\n"),
        tail(&String::from_utf8_lossy(&out.stderr), 40),
    );
    println!("{}", verdicts.join("\n"));
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
