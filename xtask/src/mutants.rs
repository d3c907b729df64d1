//! `cargo xtask mutants [FILE…] [--in-place] [--full] [-- CARGO_MUTANTS_ARGS…]`:
//! mutation testing of the reference server's rule files with the conformance
//! harness as the oracle (issue 9, item 7).
//!
//! For each FILE of `reference-server/src` (default: [`RULE_FILES`]), it runs
//! `cargo mutants -f reference-server/src/FILE --jobs 1` with the test command
//! `cargo test -p reference-server --test mutants_oracle -- --ignored`: that test
//! (`reference-server/tests/mutants_oracle.rs`) runs `roomcast-conformance --spawn
//! <the mutated roomcast-server>` with the arguments of `cargo xtask conformance`
//! (see [`crate::conformance::harness_args`]), `--strict`, and the `--filter`s of
//! the file ([`filters`]; `--full` runs every check). A mutant the harness does
//! not FAIL (or ERROR) survives. The harness is built once, before any mutation,
//! so the `conformance` crate never depends on `reference-server`.
//!
//! Results go to `$CARGO_TARGET_DIR/mutants/<file stem>/mutants.out` (never
//! committed). Too slow for CI; see `conformance/README.md` for the scores.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context as _};

use crate::cargo_cmd;
use crate::conformance::{harness_args, target_dir};

/// The rule files of `reference-server/src` mutated by default. `session.rs` (the
/// Socket.IO namespace state machine) is taken as `namespace_gate.rs`, its later
/// name, when only that one exists, and the other way round.
pub(crate) const RULE_FILES: [&str; 5] =
    ["rules.rs", "auth.rs", "publish.rs", "session.rs", "hub.rs"];

/// The harness groups that exercise a rule file: a mutant of the file is
/// judged by these checks only, which keeps a mutant's run short. `--full`
/// judges by every check.
pub(crate) fn filters(file: &str) -> &'static [&'static str] {
    match file {
        "rules.rs" => &["ROOM", "LIFE", "ENV"],
        "auth.rs" => &["AUTH", "LIFE", "PUB"],
        "publish.rs" => &["PUB", "ENV"],
        "session.rs" | "namespace_gate.rs" => &["WIRE", "AUTH", "LIM", "LIFE"],
        "engine_session.rs" => &["WIRE", "LIM", "LIFE"],
        "hub.rs" => &["ROOM", "PUB", "ENV", "LIFE", "LIM", "OPS"],
        _ => &[],
    }
}

/// The arguments of the oracle's harness run, after `--spawn <server>`.
pub(crate) fn oracle_args(root: &Path, file: &str, full: bool) -> Vec<String> {
    // harness_args starts with `--spawn <server>`; the oracle names its own build
    let args = harness_args(root, Path::new("roomcast-server"), &[]);
    let mut args: Vec<String> = args[2..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.push("--strict".into());
    if !full {
        for f in filters(file) {
            args.extend(["--filter".to_owned(), (*f).to_owned()]);
        }
    }
    args
}

/// `["a","b"]`, for `ROOMCAST_MUTANTS_ARGS`.
pub(crate) fn json_array(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            let mut q = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => q.push_str("\\\""),
                    '\\' => q.push_str("\\\\"),
                    c if (c as u32) < 0x20 => q.push_str(&format!("\\u{:04x}", c as u32)),
                    c => q.push(c),
                }
            }
            q.push('"');
            q
        })
        .collect();
    format!("[{}]", quoted.join(","))
}

/// The file name to mutate: `session.rs` and `namespace_gate.rs` stand for each other.
fn resolve(root: &Path, file: &str) -> anyhow::Result<String> {
    let name = file.trim_start_matches("reference-server/src/");
    let src = root.join("reference-server/src");
    if src.join(name).is_file() {
        return Ok(name.to_owned());
    }
    // the Socket.IO namespace state machine was `session.rs` before it was renamed
    for (old, new) in [
        ("session.rs", "namespace_gate.rs"),
        ("namespace_gate.rs", "session.rs"),
    ] {
        if name == old && src.join(new).is_file() {
            return Ok(new.to_owned());
        }
    }
    bail!("reference-server/src/{name} does not exist")
}

pub(crate) fn run(root: &Path, rest: &[String]) -> anyhow::Result<ExitCode> {
    let (own, passthrough) = match rest.iter().position(|a| a == "--") {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let mut files = Vec::new();
    let (mut in_place, mut full) = (false, false);
    for a in own {
        match a.as_str() {
            "--in-place" => in_place = true,
            "--full" => full = true,
            f if f.starts_with('-') => bail!("unexpected option {f:?}"),
            f => files.push(resolve(root, f)?),
        }
    }
    if files.is_empty() {
        for f in RULE_FILES {
            files.push(resolve(root, f)?);
        }
    }
    let version = Command::new(crate::cargo())
        .args(["mutants", "--version"])
        .output();
    if !matches!(&version, Ok(o) if o.status.success()) {
        bail!(
            "cargo-mutants is not installed; install it with\n  \
             CARGO_BUILD_JOBS=1 cargo install cargo-mutants --locked"
        );
    }
    println!("==> prerequisites of the real-client checks (driver node_modules, python venv)");
    crate::test_cmd::conformance_prerequisites(root)?;
    println!("==> cargo build -p conformance --bins (the oracle's harness, built once)");
    let st = cargo_cmd(root)
        .args(["build", "-p", "conformance", "--bins"])
        .status()
        .context("cannot run cargo build")?;
    if !st.success() {
        bail!("building the harness failed ({st})");
    }
    let target = target_dir(root);
    let harness = target.join("debug/roomcast-conformance");
    let mut failed = false;
    for file in &files {
        let out = target.join("mutants").join(file.trim_end_matches(".rs"));
        std::fs::create_dir_all(&out)?;
        let args = oracle_args(root, file, full);
        let mut cmd = cargo_cmd(root);
        cmd.arg("mutants")
            // one build dir (cargo-mutants refuses --jobs with --in-place, which is one)
            .args(if in_place {
                &["--in-place"][..]
            } else {
                &["--jobs", "1", "--gitignore=true"][..]
            })
            .arg("-f")
            .arg(format!("reference-server/src/{file}"))
            .arg("--output")
            .arg(&out)
            .args(["--cargo-arg=--test=mutants_oracle"])
            .args(passthrough)
            .args(["--", "--", "--ignored", "--nocapture"])
            // the build dir copy must reuse this target dir, not start an empty one
            .env("CARGO_TARGET_DIR", &target)
            .env("ROOMCAST_MUTANTS_HARNESS", &harness)
            .env("ROOMCAST_MUTANTS_ARGS", json_array(&args))
            .env("ROOMCAST_MUTANTS_ROOT", root);
        println!(
            "==> {file}: harness {}, results in {}",
            args.join(" "),
            out.display()
        );
        let start = std::time::Instant::now();
        let st = cmd.status().context("cannot run cargo mutants")?;
        println!(
            "==> {file}: cargo mutants exited with {st} after {:.0} s",
            start.elapsed().as_secs_f64()
        );
        // 0: every mutant caught; 2: some missed; 3: timeouts; 4: baseline failed
        failed |= !st.success();
    }
    if !in_place {
        // a copy's build wrote its (mutated) binary to the shared target dir
        let _ = cargo_cmd(root)
            .args(["build", "-p", "reference-server", "--bins"])
            .status();
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_file_has_filters_and_the_oracle_args_carry_them() {
        for f in RULE_FILES
            .iter()
            .chain(&["namespace_gate.rs", "engine_session.rs"])
        {
            assert!(!filters(f).is_empty(), "{f}");
        }
        let a = oracle_args(Path::new("/r"), "rules.rs", false);
        assert!(!a.contains(&"--spawn".to_owned()), "{a:?}");
        assert!(a.contains(&"--strict".to_owned()), "{a:?}");
        assert_eq!(a.iter().filter(|x| *x == "--filter").count(), 3, "{a:?}");
        let full = oracle_args(Path::new("/r"), "rules.rs", true);
        assert!(!full.contains(&"--filter".to_owned()), "{full:?}");
    }

    #[test]
    fn json_array_escapes_quotes_backslashes_and_controls() {
        let items = ["a b".to_owned(), "q\"\\".to_owned(), "\n".to_owned()];
        assert_eq!(json_array(&items), r#"["a b","q\"\\","\u000a"]"#);
        assert_eq!(json_array(&[]), "[]");
    }
}
