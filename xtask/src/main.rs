//! Project automation for Roomcast, run as `cargo xtask <command>`.
//!
//! A plain binary crate with few dependencies (see rust-analyzer's `xtask`):
//!
//! - `cargo xtask test` — the README's test command: installs what the tests
//!   need, then runs every test, `spec-check`, `cargo fmt --check` and clippy.
//! - `cargo xtask spec-check [--strict]` — cross-references the requirement IDs
//!   of `spec/roomcast-v1.md` with the IDs that tests and harness checks name.
//! - `cargo xtask conformance [ARGS…]` — builds the reference server and the
//!   harness, and runs the harness against a freshly spawned reference server.
//! - `cargo xtask bench [--quick] [--target URL | --spawn CMD] [-- ARGS…]` — builds in
//!   release and runs the `roomcast-bench` load generator side by side against the
//!   reference server, the Node peer, the socketioxide peer (if built) and a bare floor.
//!
//! - `cargo xtask mutants [FILE…]` — mutation testing of the reference server's rule
//!   files with the conformance harness as the oracle (`cargo-mutants`, issue 9).
//! - `cargo xtask soak [--minutes N]` — release build, then a bounded soak of the
//!   reference server under hostile traffic (`roomcast-soak`, issue 11).
//!
//! The `tidy` module holds checks that run under `cargo test` (every `.rs` file
//! starts with a `//!` doc, the architecture invariants hold).

#![forbid(unsafe_code)]

mod bench;
mod conformance;
mod mutants;
mod soak;
mod spec_check;
mod test_cmd;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test                    install prerequisites, then run all tests, spec-check, fmt and clippy
  prereqs                 only step 1 of `test`: find or install redis-server, node/npm, chromium; npm ci
  spec-check [--strict]   cross-reference spec requirement IDs with the tests that name them
  conformance [--cluster] [ARGS...]
                          build the reference server and the harness, run the harness against it
                          (ARGS are passed on to roomcast-conformance); --cluster: three
                          instances on a Redis the harness provisions, feature `redis` declared
  bench [--quick] [--target URL | --spawn CMD] [-- ARGS...]
                          release build, then roomcast-bench side by side: reference server,
                          Node peer, socketioxide peer (if built), bare floor (see BENCHMARKS.md)
  mutants [FILE...] [--in-place] [--full] [-- CARGO_MUTANTS_ARGS...]
                          cargo-mutants over the reference server's rule files (default:
                          rules.rs auth.rs publish.rs session.rs hub.rs), the conformance
                          harness against each mutated roomcast-server as the oracle;
                          slow, not in CI (see conformance/README.md)
  soak [--minutes N]      release build, then roomcast-soak: fuzzed frames, trickled bodies,
                          handshake floods and normal traffic against a spawned reference
                          server; reports RSS, descriptors, /healthz p99, lost deliveries
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "test" => {
            if let Some(extra) = rest.first() {
                eprintln!("xtask test: unexpected argument {extra:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
            test_cmd::run(&project_root())
        }
        "prereqs" => test_cmd::prereqs_only(&project_root()),
        "spec-check" => {
            let mut strict = false;
            for arg in rest {
                match arg.as_str() {
                    "--strict" => strict = true,
                    other => {
                        eprintln!("xtask spec-check: unexpected argument {other:?}\n\n{USAGE}");
                        return ExitCode::from(2);
                    }
                }
            }
            spec_check::run(&project_root(), strict)
        }
        "conformance" => conformance::run(&project_root(), rest),
        "bench" => bench::run(&project_root(), rest),
        "soak" => soak::run(&project_root(), rest),
        "mutants" => mutants::run(&project_root(), rest),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("xtask: unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask {command}: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `cargo` that runs us (set by cargo for `cargo run`), else `cargo` on PATH.
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// A `cargo` command rooted at the workspace, with `CARGO_BUILD_JOBS=2` unless set.
pub(crate) fn cargo_cmd(root: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(cargo());
    cmd.current_dir(root);
    if std::env::var_os("CARGO_BUILD_JOBS").is_none() {
        cmd.env("CARGO_BUILD_JOBS", "2");
    }
    cmd
}
