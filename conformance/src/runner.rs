//! The libtest-like runner: filters the registry, runs checks concurrently
//! (bounded by `--jobs`), applies feature skips, levels, `--strict` and the
//! expected-failures list, and produces one [`Outcome`] per check.

use crate::ctx::{CheckFailure, Ctx, FailureKind, RunConfig};
use crate::spec::{self, Level};
use crate::tokens::Minter;
use crate::transcript::{Entry, Transcript};
use serde::Serialize;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The future a check returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), CheckFailure>> + Send>>;

/// One registered check.
#[derive(Clone, Copy)]
pub struct CheckDef {
    /// The requirement id, `AUTH-3`.
    pub id: &'static str,
    /// Short title (the spec's heading is printed too).
    pub title: &'static str,
    /// The requirement's level, as in the spec.
    pub level: Level,
    /// The optional feature the requirement belongs to.
    pub feature: Option<&'static str>,
    /// The check itself.
    pub run: fn(Ctx) -> CheckFuture,
}

impl std::fmt::Debug for CheckDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckDef")
            .field("id", &self.id)
            .field("level", &self.level)
            .field("feature", &self.feature)
            .finish()
    }
}

impl CheckDef {
    /// The group prefix.
    pub fn group(&self) -> &'static str {
        self.id.split('-').next().unwrap_or("")
    }

    /// The numeric part of the id (for sorting).
    pub fn number(&self) -> u32 {
        self.id
            .split('-')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// Verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// Passed.
    Pass,
    /// A MUST failed (or a SHOULD under `--strict`).
    Fail,
    /// A SHOULD or MAY failed.
    Warn,
    /// Not run, with a reason.
    Skip,
    /// Failed, but listed in `--expected-failures`.
    Xfail,
    /// Listed in `--expected-failures` but passed: the list is stale.
    Stale,
    /// Not run because of the harness's own setup (what is missing and the
    /// fix are in the message): neither PASS nor FAIL of the requirement.
    Error,
}

impl Verdict {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "WARN",
            Verdict::Skip => "SKIP",
            Verdict::Xfail => "XFAIL",
            Verdict::Stale => "STALE",
            Verdict::Error => "ERROR",
        }
    }

    /// Whether this verdict fails the run (an ERROR does unless `--allow-errors`).
    pub fn fails_run(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::Stale | Verdict::Error)
    }

    /// Every verdict, in the order reports list them.
    pub const ALL: [Verdict; 7] = [
        Verdict::Pass,
        Verdict::Fail,
        Verdict::Error,
        Verdict::Warn,
        Verdict::Skip,
        Verdict::Xfail,
        Verdict::Stale,
    ];
}

/// The result of one check.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Requirement id.
    pub id: &'static str,
    /// Group.
    pub group: &'static str,
    /// Check title.
    pub title: &'static str,
    /// Level.
    pub level: Level,
    /// Feature, if optional.
    pub feature: Option<&'static str>,
    /// Verdict.
    pub verdict: Verdict,
    /// Wall time in ms.
    pub duration_ms: u64,
    /// Failure or skip message.
    pub message: Option<String>,
    /// Expected value.
    pub expected: Option<String>,
    /// Actual value.
    pub actual: Option<String>,
    /// The spec's text of the requirement.
    pub requirement: String,
    /// The transcript (kept for failures, warnings and xfails).
    pub transcript: Vec<Entry>,
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Filters (substring of id or title, or id prefix); empty = all.
    pub filters: Vec<String>,
    /// Concurrency.
    pub jobs: usize,
    /// SHOULD failures FAIL.
    pub strict: bool,
    /// Expected failures.
    pub expected_failures: BTreeSet<String>,
    /// Keep transcripts of passing checks too.
    pub keep_all_transcripts: bool,
}

/// Whether a check is selected by the filters.
pub fn selected(def: &CheckDef, filters: &[String]) -> bool {
    if filters.is_empty() {
        return true;
    }
    filters.iter().any(|f| {
        let up = f.to_ascii_uppercase();
        let is_id = up.split_once('-').is_some_and(|(g, n)| {
            !g.is_empty() && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
        });
        if is_id {
            def.id == up
        } else if GROUPS.contains(&up.as_str()) {
            def.group() == up
        } else {
            def.id.contains(&up)
                || def
                    .title
                    .to_ascii_lowercase()
                    .contains(&f.to_ascii_lowercase())
        }
    })
}

/// Reads an expected-failures file: one id per line, `#` comments.
pub fn parse_expected_failures(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.to_string())
        .collect()
}

/// Applies level, strictness and the expected-failures list to a raw result.
pub fn classify(
    def: &CheckDef,
    raw: &Result<(), CheckFailure>,
    strict: bool,
    expected: &BTreeSet<String>,
) -> Verdict {
    let listed = expected.contains(def.id);
    match raw {
        Ok(()) if listed => Verdict::Stale,
        Ok(()) => Verdict::Pass,
        Err(f) if f.kind == FailureKind::Skipped => Verdict::Skip,
        Err(f) if f.kind == FailureKind::Error => Verdict::Error,
        Err(_) if listed => Verdict::Xfail,
        Err(_) => match def.level {
            Level::Must => Verdict::Fail,
            _ if strict => Verdict::Fail,
            _ => Verdict::Warn,
        },
    }
}

/// Runs the selected checks and reports each outcome to `progress` as it completes.
pub async fn run(
    defs: &[CheckDef],
    cfg: Arc<RunConfig>,
    minter: Arc<Minter>,
    opts: &RunOptions,
    mut progress: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let sem = Arc::new(tokio::sync::Semaphore::new(opts.jobs.max(1)));
    let mut set = tokio::task::JoinSet::new();
    let mut outcomes = Vec::new();
    // a check gets this long in total, whatever its steps do; a FAULT scenario
    // waits for the ones before it (they run one at a time) and stages a fault
    let budget = Duration::from_secs(20).max(cfg.step * 8);
    let fault_budget = Duration::from_secs(240).max(cfg.step * 60);
    for def in defs.iter().copied().filter(|d| selected(d, &opts.filters)) {
        if let Some(feat) = def.feature {
            if !cfg.features.contains(feat) {
                let raw = Err(CheckFailure::skip(format!(
                    "feature `{feat}` not declared (add it to --features to check it)"
                )));
                let o = outcome(&def, raw, 0, Vec::new(), opts);
                progress(&o);
                outcomes.push(o);
                continue;
            }
        }
        let sem = sem.clone();
        let cfg = cfg.clone();
        let minter = minter.clone();
        // the memory checks of floods run alone: they would slow the others' timings
        let permits = if crate::checks::hostile::RUN_ALONE.contains(&def.id) {
            opts.jobs.max(1) as u32
        } else {
            1
        };
        set.spawn(async move {
            let _permit = sem.acquire_many_owned(permits).await;
            let tr = Transcript::new();
            let ctx = Ctx {
                cfg,
                tr: tr.clone(),
                minter,
                id: def.id,
            };
            let start = Instant::now();
            // the floods that run alone have no time bound of their own: on a
            // loaded (or niced) machine they need more than a light check's budget
            let budget = if def.group() == "FAULT" {
                fault_budget
            } else if crate::checks::hostile::RUN_ALONE.contains(&def.id) {
                budget * 3
            } else {
                budget
            };
            let fut = (def.run)(ctx);
            let handle = tokio::spawn(fut);
            let abort = handle.abort_handle();
            let raw = match tokio::time::timeout(budget, handle).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) if e.is_panic() => {
                    let p = e.into_panic();
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    Err(CheckFailure::error(
                        format!(
                            "the check panicked (a harness bug, not the implementation's): {msg}"
                        ),
                        "report it with the seed and this transcript",
                    ))
                }
                Ok(Err(e)) => Err(CheckFailure::fail(format!("the check was cancelled: {e}"))),
                Err(_) => {
                    abort.abort();
                    Err(CheckFailure::fail(format!(
                        "the check did not finish within {} ms",
                        budget.as_millis()
                    )))
                }
            };
            (def, raw, start.elapsed().as_millis() as u64, tr)
        });
    }
    while let Some(joined) = set.join_next().await {
        let Ok((def, raw, ms, tr)) = joined else {
            continue;
        };
        let o = outcome(&def, raw, ms, tr.entries(), opts);
        progress(&o);
        outcomes.push(o);
    }
    outcomes.sort_by(|a, b| {
        group_rank(a.group)
            .cmp(&group_rank(b.group))
            .then(num(a.id).cmp(&num(b.id)))
    });
    outcomes
}

fn num(id: &str) -> u32 {
    id.split('-')
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Order of groups in the spec.
pub const GROUPS: [&str; 10] = [
    "WIRE", "AUTH", "ROOM", "ENV", "PUB", "FAN", "LIFE", "LIM", "OPS", "FAULT",
];

/// Position of a group in [`GROUPS`].
pub fn group_rank(g: &str) -> usize {
    GROUPS.iter().position(|x| *x == g).unwrap_or(GROUPS.len())
}

fn outcome(
    def: &CheckDef,
    raw: Result<(), CheckFailure>,
    ms: u64,
    transcript: Vec<Entry>,
    opts: &RunOptions,
) -> Outcome {
    let verdict = classify(def, &raw, opts.strict, &opts.expected_failures);
    let requirement = spec::find(def.id)
        .map(|r| r.text.clone())
        .unwrap_or_default();
    let (message, expected, actual) = match raw {
        Ok(()) if verdict == Verdict::Stale => (
            Some("listed in --expected-failures but passes now: remove it from the list".into()),
            None,
            None,
        ),
        Ok(()) => (None, None, None),
        Err(f) => (Some(f.message), f.expected, f.actual),
    };
    let keep = opts.keep_all_transcripts || !matches!(verdict, Verdict::Pass | Verdict::Skip);
    Outcome {
        id: def.id,
        group: def.group(),
        title: def.title,
        level: def.level,
        feature: def.feature,
        verdict,
        duration_ms: ms,
        message,
        expected,
        actual,
        requirement,
        transcript: if keep { transcript } else { Vec::new() },
    }
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    /// Total checks.
    pub total: usize,
    /// PASS.
    pub pass: usize,
    /// FAIL.
    pub fail: usize,
    /// WARN.
    pub warn: usize,
    /// SKIP.
    pub skip: usize,
    /// XFAIL.
    pub xfail: usize,
    /// STALE.
    pub stale: usize,
    /// ERROR.
    pub error: usize,
}

impl Summary {
    /// Counts outcomes.
    pub fn of(outcomes: &[Outcome]) -> Summary {
        let mut s = Summary {
            total: outcomes.len(),
            ..Summary::default()
        };
        for o in outcomes {
            match o.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Fail => s.fail += 1,
                Verdict::Warn => s.warn += 1,
                Verdict::Skip => s.skip += 1,
                Verdict::Xfail => s.xfail += 1,
                Verdict::Stale => s.stale += 1,
                Verdict::Error => s.error += 1,
            }
        }
        s
    }

    /// Whether the run passes (exit 0): no FAIL, no STALE, no ERROR.
    pub fn ok(&self) -> bool {
        self.no_failure() && self.error == 0
    }

    /// No FAIL and no STALE (ERRORs aside).
    pub fn no_failure(&self) -> bool {
        self.fail == 0 && self.stale == 0
    }

    /// The count of one verdict.
    pub fn count(&self, v: Verdict) -> usize {
        match v {
            Verdict::Pass => self.pass,
            Verdict::Fail => self.fail,
            Verdict::Warn => self.warn,
            Verdict::Skip => self.skip,
            Verdict::Xfail => self.xfail,
            Verdict::Stale => self.stale,
            Verdict::Error => self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop(_: Ctx) -> CheckFuture {
        Box::pin(async { Ok(()) })
    }

    const AUTH3: CheckDef = CheckDef {
        id: "AUTH-3",
        title: "Expired tokens are rejected",
        level: Level::Must,
        feature: None,
        run: noop,
    };
    const AUTH12: CheckDef = CheckDef {
        id: "AUTH-12",
        level: Level::Should,
        ..AUTH3
    };

    #[test]
    fn filters_match_ids_prefixes_and_titles() {
        let f = |s: &str| vec![s.to_string()];
        assert!(selected(&AUTH3, &f("AUTH")));
        assert!(selected(&AUTH3, &f("auth-3")));
        assert!(!selected(&AUTH12, &f("AUTH-1")));
        assert!(selected(&AUTH12, &f("AUTH-12")));
        assert!(selected(&AUTH3, &f("expired")));
        assert!(!selected(&AUTH3, &f("ROOM")));
        assert!(selected(&AUTH3, &[]));
    }

    #[test]
    fn verdicts_follow_level_strictness_and_expected_failures() {
        let none = BTreeSet::new();
        let fail = Err(CheckFailure::fail("x"));
        assert_eq!(classify(&AUTH3, &Ok(()), false, &none), Verdict::Pass);
        assert_eq!(classify(&AUTH3, &fail, false, &none), Verdict::Fail);
        assert_eq!(classify(&AUTH12, &fail, false, &none), Verdict::Warn);
        assert_eq!(classify(&AUTH12, &fail, true, &none), Verdict::Fail);
        assert_eq!(
            classify(&AUTH3, &Err(CheckFailure::skip("s")), false, &none),
            Verdict::Skip
        );
        let listed: BTreeSet<String> = ["AUTH-3".to_string()].into();
        assert_eq!(classify(&AUTH3, &fail, false, &listed), Verdict::Xfail);
        assert_eq!(classify(&AUTH3, &Ok(()), false, &listed), Verdict::Stale);
        assert!(Verdict::Stale.fails_run() && !Verdict::Xfail.fails_run());
        let error = Err(CheckFailure::error("no driver", "npm ci"));
        assert_eq!(classify(&AUTH3, &error, false, &none), Verdict::Error);
        assert_eq!(classify(&AUTH12, &error, true, &listed), Verdict::Error);
        assert!(Verdict::Error.fails_run());
    }

    #[test]
    fn expected_failures_file_ignores_comments() {
        let s = parse_expected_failures("# known gaps\nAUTH-3  # slow\n\n  ROOM-2\n");
        assert_eq!(s.into_iter().collect::<Vec<_>>(), vec!["AUTH-3", "ROOM-2"]);
    }
}
