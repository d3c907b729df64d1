//! `cargo xtask test`: the README's test command, also what CI runs (`.ci/run`).
//!
//! Steps, each announced with a `==> step` line and timed:
//!
//! 1. prerequisites — `redis-server`, `node`/`npm`, `chromium`, `python3` (with
//!    `venv`) on PATH (installed with apt-get when missing and running as root),
//!    `npm ci` in every Node fixture with a `package-lock.json` whose
//!    `node_modules` is missing or stale, and the python-socketio fixture's
//!    `install.sh` (its own `.venv`, from PyPI).
//!    Whatever cannot be installed is named with the command that installs it,
//!    and the step fails: nothing is skipped silently.
//! 2. `cargo test --workspace --no-fail-fast`, streamed, then one closing line
//!    `cargo test total: N passed, N failed, N ignored` summed over libtest's `test result:` lines.
//! 3. `npm test` in each Node fixture (the `socket.io-client` driver's self-test
//!    against a real `socket.io` server; the Node peer's smoke, fault and Redis
//!    tests), streamed; node's TAP `# pass` / `# fail` lines are added to the totals.
//! 4. `spec-check --strict` (see [`STRICT_IN_TEST`]): every MUST and SHOULD of
//!    the spec has a test or a harness check, and no test names an unknown ID.
//! 5. `cargo fmt --all --check`.
//! 6. `cargo clippy --workspace --all-targets -- -D warnings`.
//!
//! The first failing step stops the run; the step durations are printed at the end,
//! and the very last line is `TOTAL: N passed, N failed, N skipped` over cargo's and
//! node's tests together.

use std::cell::Cell;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::{cargo_cmd, spec_check};

/// Whether `cargo xtask test` runs `spec-check --strict` (a MUST or SHOULD
/// without a test fails). On since the conformance-harness issue gave every
/// MUST and SHOULD a check (issue 4, item 8); a new requirement now needs its
/// test in the same change.
pub(crate) const STRICT_IN_TEST: bool = true;

/// Node fixtures whose dependencies `npm ci` installs.
const NODE_FIXTURES: [&str; 2] = [NODE_CLIENT_FIXTURE, "fixtures/peers/node"];

/// The `socket.io-client` driver fixture (the conformance run's real client).
const NODE_CLIENT_FIXTURE: &str = "fixtures/clients/node";

/// The python-socketio client fixture's idempotent installer (a venv with pinned packages).
const PYTHON_INSTALL: &str = "fixtures/clients/python/install.sh";

/// Executable names accepted as "chromium" (the first is what apt installs on Debian).
const CHROMIUM_NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

struct Step {
    name: &'static str,
    elapsed: Duration,
    ok: bool,
}

/// Runs every step; the exit code is non-zero when any step fails.
pub(crate) fn run(root: &Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut steps: Vec<Step> = Vec::new();
    let strict = STRICT_IN_TEST;
    let test_totals: Cell<Option<Totals>> = Cell::new(None);
    let node_totals: Cell<Option<Totals>> = Cell::new(None);
    let plan: [(&'static str, &dyn Fn() -> anyhow::Result<()>); 6] = [
        ("prerequisites", &|| prerequisites(root)),
        ("cargo test --workspace", &|| cargo_test(root, &test_totals)),
        ("npm test (Node fixtures)", &|| {
            node_tests(root, &node_totals)
        }),
        (
            if strict {
                "spec-check --strict"
            } else {
                "spec-check"
            },
            &|| spec(root, strict),
        ),
        ("cargo fmt --all --check", &|| {
            status(
                cargo_cmd(root).args(["fmt", "--all", "--check"]),
                "cargo fmt --all --check",
            )
            .context("the diffs are above; `cargo fmt --all` fixes them")
        }),
        (
            "cargo clippy --workspace --all-targets -- -D warnings",
            &|| {
                status(
                    cargo_cmd(root).args([
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ]),
                    "cargo clippy",
                )
            },
        ),
    ];
    let total = plan.len();
    let mut failure = None;
    for (i, (name, step)) in plan.iter().enumerate() {
        println!("\n==> [{}/{total}] {name}", i + 1);
        let _ = std::io::stdout().flush();
        let t = Instant::now();
        let result = step();
        let elapsed = t.elapsed();
        steps.push(Step {
            name,
            elapsed,
            ok: result.is_ok(),
        });
        if let Err(err) = result {
            failure = Some((name, err));
            break;
        }
        println!("==> {name}: ok ({})", secs(elapsed));
    }

    println!("\n==> durations");
    for s in &steps {
        println!(
            "  {:<56} {:>8}  {}",
            s.name,
            secs(s.elapsed),
            if s.ok { "ok" } else { "FAILED" }
        );
    }
    for (name, _) in plan.iter().skip(steps.len()) {
        println!("  {name:<56} {:>8}  not run", "-");
    }
    println!("  {:<56} {:>8}", "total", secs(started.elapsed()));
    let cargo = test_totals.get().unwrap_or_default();
    let node = node_totals.get().unwrap_or_default();
    let all = cargo.plus(node);
    println!(
        "  tests: cargo {} passed, {} failed, {} ignored; node {} passed, {} failed, {} skipped",
        cargo.passed, cargo.failed, cargo.ignored, node.passed, node.failed, node.ignored
    );
    let code = match failure {
        None => {
            println!("\nxtask test: all {total} steps passed");
            ExitCode::SUCCESS
        }
        Some((name, err)) => {
            eprintln!("\nxtask test: FAILED at step {name:?}: {err:#}");
            ExitCode::FAILURE
        }
    };
    // The closing line CI reads: cargo's and node's tests together.
    println!(
        "TOTAL: {} passed, {} failed, {} skipped",
        all.passed, all.failed, all.ignored
    );
    Ok(code)
}

/// `cargo xtask prereqs`: step 1 alone.
pub(crate) fn prereqs_only(root: &Path) -> anyhow::Result<ExitCode> {
    prerequisites(root)?;
    println!("prerequisites: ok");
    Ok(ExitCode::SUCCESS)
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// Runs `cmd` with inherited output; an error when it cannot start or exits non-zero.
fn status(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let st = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !st.success() {
        bail!("{what} exited with {st}");
    }
    Ok(())
}

fn spec(root: &Path, strict: bool) -> anyhow::Result<()> {
    let code = spec_check::run(root, strict)?;
    if code != ExitCode::SUCCESS {
        bail!("spec-check reported failures (listed above)");
    }
    Ok(())
}

// ---------------------------------------------------------------- prerequisites

/// Finds an executable on PATH.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The effective uid is 0 (read from /proc, falling back to `id -u`).
fn is_root() -> bool {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("Uid:")) {
            // Uid: real effective saved fs
            return line.split_whitespace().nth(2) == Some("0");
        }
    }
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// apt-get, run at most one `update` per process.
struct Apt {
    updated: bool,
    usable: bool,
}

impl Apt {
    fn new() -> Apt {
        Apt {
            updated: false,
            usable: is_root() && which("apt-get").is_some(),
        }
    }

    fn install(&mut self, packages: &[&str]) -> anyhow::Result<()> {
        if !self.usable {
            bail!("not running as root with apt-get available");
        }
        if !self.updated {
            println!("    $ apt-get update");
            self.updated = true;
            let mut update = Command::new("apt-get");
            update
                .arg("update")
                .env("DEBIAN_FRONTEND", "noninteractive");
            if let Err(err) = status(&mut update, "apt-get update") {
                // The package lists on disk may still do; the install says if not.
                eprintln!("    warning: {err:#}");
            }
        }
        println!("    $ apt-get install -y {}", packages.join(" "));
        status(
            Command::new("apt-get")
                .args(["install", "-y"])
                .args(packages)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install",
        )
    }
}

/// A tool the tests need: found on PATH, or installed through apt-get.
fn ensure_tool(
    apt: &mut Apt,
    names: &[&str],
    packages: &[&str],
    why: &str,
    missing: &mut Vec<String>,
) {
    if let Some(p) = names.iter().find_map(|n| which(n)) {
        println!("  found {:<14} {}", names[0], p.display());
        return;
    }
    println!("  missing {} ({why}); installing", names[0]);
    let result = apt.install(packages);
    match (result, names.iter().find_map(|n| which(n))) {
        (Ok(()), Some(p)) => println!("  installed {} -> {}", names[0], p.display()),
        (Ok(()), None) => missing.push(format!(
            "{}: apt-get installed {} but {} is still not on PATH",
            names[0],
            packages.join(" "),
            names.join(" / ")
        )),
        (Err(err), _) => missing.push(format!(
            "{} ({why}): could not install ({err:#}); install it with `sudo apt-get install -y {}`",
            names[0],
            packages.join(" ")
        )),
    }
}

/// `python3` with `venv`/`ensurepip` (Debian's `python3-venv`), then the fixture's
/// `install.sh`, which creates its `.venv` from PyPI unless it is up to date.
fn python_fixture(root: &Path, apt: &mut Apt, missing: &mut Vec<String>) {
    let why = "the python-socketio client fixture";
    ensure_tool(
        apt,
        &["python3"],
        &["python3", "python3-venv"],
        why,
        missing,
    );
    if which("python3").is_none() {
        return;
    }
    let has_venv = || {
        Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_venv() {
        println!("  missing python3 venv/ensurepip ({why}); installing");
        if let Err(err) = apt.install(&["python3-venv"]) {
            missing.push(format!(
                "python3-venv ({why}): could not install ({err:#}); install it with `sudo apt-get install -y python3-venv`"
            ));
            return;
        }
        if !has_venv() {
            missing.push(format!(
                "python3-venv ({why}): installed, but `python3 -m venv` still lacks ensurepip"
            ));
            return;
        }
    }
    println!("  {PYTHON_INSTALL}");
    let t = Instant::now();
    match status(
        Command::new("bash")
            .arg(root.join(PYTHON_INSTALL))
            .current_dir(root),
        PYTHON_INSTALL,
    ) {
        Ok(()) => println!("  {PYTHON_INSTALL}: done ({})", secs(t.elapsed())),
        Err(err) => missing.push(format!("{why}: {err:#} (it needs python3 >= 3.9 and PyPI)")),
    }
}

/// `node_modules` is missing or older than `package-lock.json`.
fn node_modules_stale(dir: &Path) -> bool {
    let mtime = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lock = mtime(dir.join("package-lock.json"));
    // npm ci writes node_modules/.package-lock.json last; fall back to the folder itself.
    let installed = mtime(dir.join("node_modules/.package-lock.json"))
        .or_else(|| mtime(dir.join("node_modules")));
    match (installed, lock) {
        (None, _) => true,
        (Some(installed), Some(lock)) => installed < lock,
        (Some(_), None) => false,
    }
}

fn prerequisites(root: &Path) -> anyhow::Result<()> {
    let mut apt = Apt::new();
    let mut missing = Vec::new();
    ensure_tool(
        &mut apt,
        &["redis-server"],
        &["redis-server"],
        "cluster and fan-out tests",
        &mut missing,
    );
    let node_dirs: Vec<&str> = NODE_FIXTURES
        .iter()
        .copied()
        .filter(|d| root.join(d).join("package.json").is_file())
        .collect();
    if !node_dirs.is_empty() {
        ensure_node(&mut apt, &mut missing);
    }
    ensure_tool(
        &mut apt,
        &CHROMIUM_NAMES,
        &["chromium"],
        "the HTML report and browser-bundle tests",
        &mut missing,
    );
    if root.join(PYTHON_INSTALL).is_file() {
        python_fixture(root, &mut apt, &mut missing);
    }
    npm_ci(root, &node_dirs, &mut missing);
    report_missing(&missing, "the tests need them; nothing is skipped")
}

/// What `cargo xtask conformance` needs before its checks run: the
/// `socket.io-client` driver's `node_modules` (WIRE-15, WIRE-17) and the
/// python-socketio driver's venv (WIRE-16), installed the same way as by
/// `cargo xtask test`. Whatever cannot be installed is named with the command
/// that installs it, and no check is run.
pub(crate) fn conformance_prerequisites(root: &Path) -> anyhow::Result<()> {
    let mut apt = Apt::new();
    let mut missing = Vec::new();
    let node_dirs: Vec<&str> = [NODE_CLIENT_FIXTURE]
        .into_iter()
        .filter(|d| root.join(d).join("package.json").is_file())
        .collect();
    if !node_dirs.is_empty() {
        ensure_node(&mut apt, &mut missing);
    }
    if root.join(PYTHON_INSTALL).is_file() {
        python_fixture(root, &mut apt, &mut missing);
    }
    npm_ci(root, &node_dirs, &mut missing);
    report_missing(
        &missing,
        "the real-client checks WIRE-15/16/17 need them; no check was run",
    )
}

/// `node` and `npm` on PATH (apt-get installs them when it can).
fn ensure_node(apt: &mut Apt, missing: &mut Vec<String>) {
    ensure_tool(
        apt,
        &["node", "nodejs"],
        &["nodejs", "npm"],
        "Node fixtures",
        missing,
    );
    ensure_tool(apt, &["npm"], &["npm"], "Node fixtures", missing);
}

/// `npm ci` in each of `dirs` whose `node_modules` is missing or stale.
fn npm_ci(root: &Path, dirs: &[&str], missing: &mut Vec<String>) {
    let npm_ok = which("npm").is_some();
    for &d in dirs {
        let dir = root.join(d);
        if !dir.join("package-lock.json").is_file() {
            missing.push(format!(
                "{d}: has package.json but no package-lock.json; run `npm install` there and commit the lock file"
            ));
            continue;
        }
        if !node_modules_stale(&dir) {
            println!("  {d}: node_modules up to date");
            continue;
        }
        if !npm_ok {
            missing.push(format!(
                "{d}: node_modules missing; needs npm (`npm ci` in {d})"
            ));
            continue;
        }
        println!("  {d}: $ npm ci --no-audit --no-fund");
        let t = Instant::now();
        match status(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm ci",
        ) {
            Ok(()) => println!("  {d}: npm ci done ({})", secs(t.elapsed())),
            Err(err) => missing.push(format!(
                "{d}: `npm ci --no-audit --no-fund` failed: {err:#}"
            )),
        }
    }
}

/// Ok when nothing is missing; otherwise lists what is, and fails.
fn report_missing(missing: &[String], why: &str) -> anyhow::Result<()> {
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("\nMissing prerequisites ({why}):");
    for m in missing {
        eprintln!("  - {m}");
    }
    bail!("{} prerequisite(s) missing", missing.len())
}

// ---------------------------------------------------------------- cargo test

/// libtest's per-binary totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// Number of `test result:` lines (test binaries and doc-test runs).
    pub suites: u64,
}

impl Totals {
    /// The sum of two totals.
    pub(crate) fn plus(self, o: Totals) -> Totals {
        Totals {
            passed: self.passed + o.passed,
            failed: self.failed + o.failed,
            ignored: self.ignored + o.ignored,
            suites: self.suites + o.suites,
        }
    }

    /// Adds one line if it is a summary line of node's TAP reporter (`# pass N`,
    /// `# fail N`, `# skipped N`, `# todo N`); returns whether it was. A `# pass`
    /// line counts as one suite.
    pub(crate) fn add_tap_line(&mut self, line: &str) -> bool {
        let Some(rest) = line.trim().strip_prefix("# ") else {
            return false;
        };
        let Some((key, n)) = rest.split_once(' ') else {
            return false;
        };
        let Ok(n) = n.trim().parse::<u64>() else {
            return false;
        };
        match key {
            "pass" => {
                self.passed += n;
                self.suites += 1;
            }
            "fail" => self.failed += n,
            "skipped" | "todo" => self.ignored += n,
            _ => return false,
        }
        true
    }

    /// Adds one line if it is a libtest `test result:` line; returns whether it was.
    pub(crate) fn add_line(&mut self, line: &str) -> bool {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            return false;
        };
        let field = |name: &str| -> Option<u64> {
            rest.split([';', '.'])
                .map(str::trim)
                .find_map(|part| part.strip_suffix(name).and_then(|n| n.trim().parse().ok()))
        };
        let (Some(passed), Some(failed)) = (field(" passed"), field(" failed")) else {
            return false;
        };
        self.passed += passed;
        self.failed += failed;
        self.ignored += field(" ignored").unwrap_or(0);
        self.suites += 1;
        true
    }
}

/// Runs `cmd` with its stdout piped: every line is echoed and handed to `on_line`.
/// Returns the exit status once the process has ended.
fn stream_lines(
    cmd: &mut Command,
    what: &str,
    mut on_line: impl FnMut(&str),
) -> anyhow::Result<ExitStatus> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
            if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                break;
            }
            buf.clear();
        }
    });
    let mut out = std::io::stdout();
    let mut handle = |line: String| {
        on_line(&line);
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    };
    let exit = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => handle(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break child.wait()?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(st) = child.try_wait()? {
                    break st;
                }
            }
        }
    };
    // The process has exited; take what is left, but do not wait forever on a pipe
    // that a process leaked by a test still holds open.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => handle(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("warning: a process started by {what} still holds its stdout open (a leaked child?)");
                break;
            }
        }
    }
    Ok(exit)
}

/// `npm test` in every Node fixture, summed from node's TAP summary lines.
fn node_tests(root: &Path, out_totals: &Cell<Option<Totals>>) -> anyhow::Result<()> {
    let mut all = Totals::default();
    for dir in NODE_FIXTURES {
        println!("--> npm test in {dir}");
        let mut t = Totals::default();
        let exit = stream_lines(
            Command::new("npm").arg("test").current_dir(root.join(dir)),
            &format!("npm test in {dir}"),
            |line| {
                t.add_tap_line(line);
            },
        )?;
        all = all.plus(t);
        out_totals.set(Some(all));
        if !exit.success() || t.failed > 0 {
            bail!("npm test in {dir} exited with {exit} ({} failed)", t.failed);
        }
        if t.passed == 0 {
            bail!("npm test in {dir} printed no `# pass N` line: no test ran");
        }
    }
    Ok(())
}

fn cargo_test(root: &Path, out_totals: &Cell<Option<Totals>>) -> anyhow::Result<()> {
    let mut totals = Totals::default();
    let exit = stream_lines(
        cargo_cmd(root).args(["test", "--workspace", "--no-fail-fast"]),
        "cargo test",
        |line| {
            totals.add_line(line);
        },
    )?;
    out_totals.set(Some(totals));
    println!(
        "\ncargo test total: {} passed, {} failed, {} ignored ({} test result lines)",
        totals.passed, totals.failed, totals.ignored, totals.suites
    );
    if !exit.success() {
        bail!(
            "cargo test exited with {exit} ({} failed tests)",
            totals.failed
        );
    }
    if totals.failed > 0 {
        bail!("{} test(s) failed", totals.failed);
    }
    if totals.suites == 0 {
        bail!("cargo test printed no `test result:` line");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn touch(p: &Path, t: SystemTime) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(p)
            .unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn test_result_lines_are_summed() {
        let mut t = Totals::default();
        let lines = [
            "running 3 tests",
            "test a ... ok",
            "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "test result: FAILED. 10 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s",
            "   Doc-tests protocol",
            "test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
            "test result: nonsense",
        ];
        let counted = lines.iter().filter(|l| t.add_line(l)).count();
        assert_eq!(counted, 3);
        assert_eq!(
            t,
            Totals {
                passed: 13,
                failed: 2,
                ignored: 1,
                suites: 3
            }
        );
    }

    #[test]
    fn node_tap_summary_lines_are_summed() {
        let mut t = Totals::default();
        let lines = [
            "ok 1 - connects",
            "# tests 7",
            "# suites 0",
            "# pass 5",
            "# fail 1",
            "# skipped 1",
            "# todo 0",
            "# duration_ms 120.5",
            "# pass many",
        ];
        let counted = lines.iter().filter(|l| t.add_tap_line(l)).count();
        assert_eq!(counted, 4);
        assert_eq!(
            t,
            Totals {
                passed: 5,
                failed: 1,
                ignored: 1,
                suites: 1
            }
        );
    }

    #[test]
    fn node_modules_staleness_follows_the_lock_file() {
        let dir = std::env::temp_dir().join(format!("xtask-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let now = SystemTime::now();
        touch(&dir.join("package-lock.json"), now);
        assert!(node_modules_stale(&dir), "no node_modules yet");
        std::fs::create_dir_all(dir.join("node_modules")).unwrap();
        touch(
            &dir.join("node_modules/.package-lock.json"),
            now - Duration::from_secs(60),
        );
        assert!(
            node_modules_stale(&dir),
            "installed before the lock changed"
        );
        touch(
            &dir.join("node_modules/.package-lock.json"),
            now + Duration::from_secs(60),
        );
        assert!(!node_modules_stale(&dir), "installed after the lock");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn which_finds_sh_but_not_nonsense() {
        assert!(which("sh").is_some());
        assert!(which("no-such-tool-roomcast-xtask").is_none());
    }
}
