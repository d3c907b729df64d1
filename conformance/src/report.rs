//! Output formats: the human summary, JSON, JUnit XML (as GitHub and GitLab
//! render it) and the self-contained HTML report.

use crate::runner::{group_rank, Outcome, Summary, Verdict, GROUPS};
use crate::spec;
use serde_json::json;
use std::fmt::Write as _;

/// Run-level facts printed with every format.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Targets checked.
    pub targets: Vec<String>,
    /// Declared features.
    pub features: Vec<String>,
    /// Wall time of the run in ms.
    pub duration_ms: u64,
    /// Seed.
    pub seed: u64,
    /// `--strict`.
    pub strict: bool,
    /// `--allow-errors`: ERRORs do not fail the run.
    pub allow_errors: bool,
}

impl RunInfo {
    /// Whether the run passes (exit 0) with these outcomes.
    pub fn passes(&self, s: &Summary) -> bool {
        s.no_failure() && (self.allow_errors || s.error == 0)
    }
}

/// How much of the spec a run checked, and why the rest was not.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Coverage {
    /// Requirements of the spec (the groups of [`GROUPS`]).
    pub requirements: usize,
    /// Requirements a check ran to a verdict on (PASS, FAIL, WARN, XFAIL, STALE).
    pub checked: usize,
    /// Requirements not checked, counted per reason, largest first.
    pub not_checked: Vec<NotChecked>,
}

/// A reason requirements were not checked, and how many.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NotChecked {
    /// `feature not declared`, `needs --spawn`, `key material missing`,
    /// `ERROR`, `not applicable` (the check says why), `not selected` (`--filter`)
    /// or `no check` (the spec has the requirement, this harness no check for it).
    pub reason: String,
    /// Requirements.
    pub count: usize,
}

/// Why a requirement got no verdict, from its outcome (`None`: no check ran:
/// `has_check` tells a check left out by `--filter` from a requirement that
/// has no check at all).
pub fn not_checked_reason(o: Option<&Outcome>, has_check: bool) -> Option<&'static str> {
    let Some(o) = o else {
        return Some(if has_check {
            "not selected"
        } else {
            "no check"
        });
    };
    match o.verdict {
        Verdict::Error => Some("ERROR"),
        Verdict::Skip => {
            let m = o.message.as_deref().unwrap_or("");
            Some(if m.starts_with("feature `") || m.contains("declare `") {
                "feature not declared"
            } else if m.contains("--spawn") {
                "needs --spawn"
            } else if m.contains("key") || m.contains("cannot mint") {
                "key material missing"
            } else {
                "not applicable"
            })
        }
        _ => None,
    }
}

impl Coverage {
    /// The coverage of `outcomes` over the spec's requirements.
    pub fn of(outcomes: &[Outcome]) -> Coverage {
        let mut c = Coverage::default();
        let mut reasons: std::collections::BTreeMap<&str, usize> = Default::default();
        let registered = crate::checks::all();
        for r in spec::requirements()
            .iter()
            .filter(|r| GROUPS.contains(&r.group()))
        {
            c.requirements += 1;
            let has_check = registered.iter().any(|d| d.id == r.id);
            match not_checked_reason(outcomes.iter().find(|o| o.id == r.id), has_check) {
                None => c.checked += 1,
                Some(why) => *reasons.entry(why).or_default() += 1,
            }
        }
        let mut v: Vec<NotChecked> = reasons
            .into_iter()
            .map(|(k, n)| NotChecked {
                reason: k.to_string(),
                count: n,
            })
            .collect();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
        c.not_checked = v;
        c
    }

    /// `131 of 167 checked; 36 not checked (30 feature not declared, 6 needs --spawn)`.
    pub fn sentence(&self) -> String {
        let missing: usize = self.not_checked.iter().map(|n| n.count).sum();
        let mut t = format!("{} of {} checked", self.checked, self.requirements);
        if missing > 0 {
            let why: Vec<String> = self
                .not_checked
                .iter()
                .map(|n| format!("{} {}", n.count, n.reason))
                .collect();
            let _ = write!(t, "; {missing} not checked ({})", why.join(", "));
        }
        t
    }
}

/// The verdict word of a run: NOT CONFORMANT (a FAIL or STALE), INCOMPLETE
/// (no FAIL, but ERRORs: requirements the harness could not check), or CONFORMANT.
pub fn verdict_word(s: &Summary) -> &'static str {
    if !s.no_failure() {
        "NOT CONFORMANT"
    } else if s.error > 0 {
        "INCOMPLETE"
    } else {
        "CONFORMANT"
    }
}

/// The verdict line: `CONFORMANT: 155 of 167 checked; 12 not checked (…)`.
pub fn verdict_line(outcomes: &[Outcome]) -> String {
    let s = Summary::of(outcomes);
    let mut line = format!(
        "{}: {}",
        verdict_word(&s),
        Coverage::of(outcomes).sentence()
    );
    if s.error > 0 {
        let _ = write!(
            line,
            " — {} ERROR{}: the harness's own setup kept {} from running (see each ERROR's fix)",
            s.error,
            if s.error == 1 { "" } else { "S" },
            if s.error == 1 { "a check" } else { "checks" }
        );
    }
    line
}

fn indent(s: &str, pad: &str) -> String {
    s.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One progress line (stderr).
pub fn progress_line(o: &Outcome) -> String {
    let extra = match o.verdict {
        Verdict::Pass => String::new(),
        _ => format!(" — {}", o.message.as_deref().unwrap_or("")),
    };
    let extra: String = extra.chars().take(160).collect();
    format!(
        "{:<5} {:<8} {:<6} {} ({} ms){extra}",
        o.verdict.as_str(),
        o.id,
        o.level.as_str(),
        o.title,
        o.duration_ms
    )
}

/// The human report: details of everything not passing, then the table.
pub fn human(outcomes: &[Outcome], info: &RunInfo) -> String {
    let mut out = String::new();
    for o in outcomes.iter().filter(|o| {
        matches!(
            o.verdict,
            Verdict::Fail | Verdict::Error | Verdict::Warn | Verdict::Stale | Verdict::Xfail
        )
    }) {
        let _ = writeln!(
            out,
            "──── {} {} ({}) {}",
            o.verdict.as_str(),
            o.id,
            o.level.as_str(),
            o.title
        );
        if !o.requirement.is_empty() {
            let _ = writeln!(out, "  requirement:\n{}", indent(&o.requirement, "    │ "));
        }
        if let Some(m) = &o.message {
            let _ = writeln!(out, "  failure:  {m}");
        }
        if let Some(e) = &o.expected {
            let _ = writeln!(out, "  expected: {e}");
        }
        if let Some(a) = &o.actual {
            let _ = writeln!(out, "  actual:   {a}");
        }
        if !o.transcript.is_empty() {
            let _ = writeln!(out, "  transcript:");
            for e in &o.transcript {
                let _ = writeln!(out, "    {e}");
            }
        }
        let _ = writeln!(out);
    }
    let skipped: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.verdict == Verdict::Skip)
        .collect();
    if !skipped.is_empty() {
        let _ = writeln!(out, "Skipped:");
        for o in skipped {
            let _ = writeln!(
                out,
                "  SKIP {:<8} {}",
                o.id,
                o.message.as_deref().unwrap_or("")
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{}", table_row("group", None));
    let mut groups: Vec<&str> = outcomes.iter().map(|o| o.group).collect();
    groups.sort_by_key(|g| group_rank(g));
    groups.dedup();
    for g in groups {
        let os: Vec<Outcome> = outcomes.iter().filter(|o| o.group == g).cloned().collect();
        let _ = writeln!(out, "{}", table_row(g, Some(&Summary::of(&os))));
    }
    let s = Summary::of(outcomes);
    let _ = writeln!(out, "{}", table_row("all", Some(&s)));
    let _ = writeln!(
        out,
        "\n{}\n{} checks in {:.1} s against {} (seed {}){}{}",
        verdict_line(outcomes),
        s.total,
        info.duration_ms as f64 / 1000.0,
        info.targets.join(", "),
        info.seed,
        if info.strict { ", strict" } else { "" },
        if info.allow_errors && s.error > 0 {
            ", --allow-errors: the ERRORs do not fail the run"
        } else {
            ""
        }
    );
    out
}

/// One row of the human table: the header (`s` = None) or a group's counts.
fn table_row(name: &str, s: Option<&Summary>) -> String {
    let mut row = format!("{name:<6} ");
    match s {
        None => {
            let _ = write!(row, "{:>5}", "total");
            for v in Verdict::ALL {
                let _ = write!(row, " {:>5}", v.as_str().to_ascii_lowercase());
            }
        }
        Some(s) => {
            let _ = write!(row, "{:>5}", s.total);
            for v in Verdict::ALL {
                let _ = write!(row, " {:>5}", s.count(v));
            }
        }
    }
    row
}

/// `--repeat N`: each check's verdicts over the runs, and its flake rate (the
/// share of runs whose verdict differs from the check's most frequent one).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Repeat {
    /// Runs.
    pub runs: usize,
    /// Wall time of all runs in ms.
    pub duration_ms: u64,
    /// One row per check, in spec order.
    pub checks: Vec<RepeatRow>,
}

/// One check over the repeated runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepeatRow {
    /// Requirement id.
    pub id: &'static str,
    /// Count per verdict (only verdicts seen).
    pub counts: std::collections::BTreeMap<&'static str, usize>,
    /// Runs with another verdict than the most frequent one, over runs.
    pub flake_rate: f64,
    /// The first message of a run that did not PASS or SKIP.
    pub example: Option<String>,
}

impl Repeat {
    /// Tallies the runs.
    pub fn of(runs: &[Vec<Outcome>], duration_ms: u64) -> Repeat {
        let mut checks: Vec<RepeatRow> = Vec::new();
        for o in runs.iter().flatten() {
            let row = match checks.iter().position(|r| r.id == o.id) {
                Some(i) => &mut checks[i],
                None => {
                    checks.push(RepeatRow {
                        id: o.id,
                        counts: Default::default(),
                        flake_rate: 0.0,
                        example: None,
                    });
                    checks.last_mut().expect("just pushed")
                }
            };
            *row.counts.entry(o.verdict.as_str()).or_default() += 1;
            if row.example.is_none() && !matches!(o.verdict, Verdict::Pass | Verdict::Skip) {
                row.example = o.message.clone();
            }
        }
        for r in &mut checks {
            let total: usize = r.counts.values().sum();
            let top = r.counts.values().copied().max().unwrap_or(0);
            r.flake_rate = if total == 0 {
                0.0
            } else {
                (total - top) as f64 / total as f64
            };
        }
        Repeat {
            runs: runs.len(),
            duration_ms,
            checks,
        }
    }

    /// Checks with more than one verdict over the runs.
    pub fn flaky(&self) -> usize {
        self.checks.iter().filter(|r| r.counts.len() > 1).count()
    }

    /// Whether every run passed (no FAIL, STALE, or ERROR unless allowed).
    pub fn all_pass(&self, allow_errors: bool) -> bool {
        self.checks.iter().all(|r| {
            r.counts.keys().all(|v| match *v {
                "FAIL" | "STALE" => false,
                "ERROR" => allow_errors,
                _ => true,
            })
        })
    }

    /// The human report: the checks that were not always PASS or always SKIP, then totals.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let notable: Vec<&RepeatRow> = self
            .checks
            .iter()
            .filter(|r| {
                r.counts.len() > 1
                    || !r.counts.contains_key("PASS") && !r.counts.contains_key("SKIP")
            })
            .collect();
        if !notable.is_empty() {
            let _ = writeln!(out, "{:<8} {:>6}  verdicts", "check", "flake");
            for r in notable {
                let counts: Vec<String> =
                    r.counts.iter().map(|(v, n)| format!("{v} {n}")).collect();
                let _ = writeln!(
                    out,
                    "{:<8} {:>5.1}%  {}{}",
                    r.id,
                    r.flake_rate * 100.0,
                    counts.join(", "),
                    r.example
                        .as_deref()
                        .map(|m| format!(" — {}", m.chars().take(160).collect::<String>()))
                        .unwrap_or_default()
                );
            }
        }
        let _ = writeln!(
            out,
            "{} runs of {} checks in {:.1} s: {} flaky check{} (a check is flaky when its verdict differs between runs)",
            self.runs,
            self.checks.len(),
            self.duration_ms as f64 / 1000.0,
            self.flaky(),
            if self.flaky() == 1 { "" } else { "s" }
        );
        out
    }

    /// The JSON report.
    pub fn json(&self) -> String {
        let v = json!({
            "tool": "roomcast-conformance",
            "repeat": self,
            "flaky": self.flaky(),
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

/// The JSON report.
pub fn json(outcomes: &[Outcome], info: &RunInfo) -> String {
    let v = json!({
        "tool": "roomcast-conformance",
        "version": env!("CARGO_PKG_VERSION"),
        "spec": "roomcast-v1",
        "targets": info.targets,
        "features": info.features,
        "seed": info.seed,
        "strict": info.strict,
        "duration_ms": info.duration_ms,
        "allow_errors": info.allow_errors,
        "summary": Summary::of(outcomes),
        "verdict": verdict_word(&Summary::of(outcomes)),
        "verdict_line": verdict_line(outcomes),
        "coverage": Coverage::of(outcomes),
        "ok": info.passes(&Summary::of(outcomes)),
        "results": outcomes,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

/// Escapes text for an XML attribute or text node, dropping characters XML 1.0 forbids.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

fn cdata(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if ((c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
                || c == '\u{fffe}'
                || c == '\u{ffff}'
            {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    format!("<![CDATA[{}]]>", clean.replace("]]>", "]]]]><![CDATA[>"))
}

fn details_text(o: &Outcome) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{} ({}) {}", o.id, o.level.as_str(), o.title);
    if !o.requirement.is_empty() {
        let _ = writeln!(t, "requirement:\n{}\n", indent(&o.requirement, "  "));
    }
    if let Some(m) = &o.message {
        let _ = writeln!(t, "failure:  {m}");
    }
    if let Some(e) = &o.expected {
        let _ = writeln!(t, "expected: {e}");
    }
    if let Some(a) = &o.actual {
        let _ = writeln!(t, "actual:   {a}");
    }
    if !o.transcript.is_empty() {
        let _ = writeln!(t, "transcript:");
        for e in &o.transcript {
            let _ = writeln!(t, "  {e}");
        }
    }
    t
}

/// The JUnit XML report: one testsuite per group.
pub fn junit(outcomes: &[Outcome], info: &RunInfo) -> String {
    let s = Summary::of(outcomes);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"roomcast-conformance\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        s.total,
        s.fail + s.stale,
        s.error,
        s.skip + s.xfail,
        info.duration_ms as f64 / 1000.0
    );
    for g in GROUPS.iter().copied().chain(["OTHER"]) {
        let os: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.group == g || (g == "OTHER" && !GROUPS.contains(&o.group)))
            .collect();
        if os.is_empty() {
            continue;
        }
        let owned: Vec<Outcome> = os.iter().map(|o| (*o).clone()).collect();
        let gs = Summary::of(&owned);
        let time: u64 = os.iter().map(|o| o.duration_ms).sum();
        let _ = writeln!(
            x,
            "  <testsuite name=\"{g}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
            gs.total,
            gs.fail + gs.stale,
            gs.error,
            gs.skip + gs.xfail,
            time as f64 / 1000.0
        );
        for o in os {
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"roomcast.{}\" time=\"{:.3}\"",
                xml_escape(&format!("{} {}", o.id, o.title)),
                g,
                o.duration_ms as f64 / 1000.0
            );
            match o.verdict {
                Verdict::Pass => x.push_str("/>\n"),
                Verdict::Fail | Verdict::Stale => {
                    let _ = writeln!(
                        x,
                        ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                        xml_escape(o.message.as_deref().unwrap_or("failed")),
                        o.level.as_str(),
                        cdata(&details_text(o))
                    );
                }
                Verdict::Error => {
                    let _ = writeln!(
                        x,
                        ">\n      <error message=\"{}\" type=\"harness-setup\">{}</error>\n    </testcase>",
                        xml_escape(o.message.as_deref().unwrap_or("harness setup error")),
                        cdata(&details_text(o))
                    );
                }
                Verdict::Skip | Verdict::Xfail => {
                    let msg = match o.verdict {
                        Verdict::Xfail => {
                            format!("expected failure: {}", o.message.as_deref().unwrap_or(""))
                        }
                        _ => o.message.clone().unwrap_or_default(),
                    };
                    let _ = writeln!(
                        x,
                        ">\n      <skipped message=\"{}\"/>\n      <system-out>{}</system-out>\n    </testcase>",
                        xml_escape(&msg),
                        cdata(&details_text(o))
                    );
                }
                Verdict::Warn => {
                    let _ = writeln!(
                        x,
                        ">\n      <system-out>{}</system-out>\n    </testcase>",
                        cdata(&format!("WARN (SHOULD not met)\n{}", details_text(o)))
                    );
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// The self-contained HTML report with the per-requirement matrix.
pub fn html(outcomes: &[Outcome], info: &RunInfo) -> String {
    let s = Summary::of(outcomes);
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Roomcast v1 conformance report</title>\n<style>\n");
    h.push_str("body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f4f4f4}\n");
    h.push_str(".v{font-weight:bold;text-align:center}.v-PASS{background:#c8f0c8}.v-FAIL{background:#f6b3b3}.v-WARN{background:#ffe39a}.v-SKIP{background:#e4e4e4}.v-XFAIL{background:#d9c8f0}.v-STALE{background:#f6b3b3}.v-ERROR{background:#f3c38b}.v-NOTCHECKED{background:#fff;color:#888}\n");
    h.push_str("pre{background:#f8f8f8;padding:.5em;overflow:auto;font-size:12px}details{margin:.3em 0}.banner{font-size:1.4em;padding:.4em;display:inline-block}\n</style></head><body>\n");
    let _ = writeln!(
        h,
        "<h1>Roomcast v1 conformance</h1>\n<p class=\"banner v-{}\" id=\"overall\">{}</p>",
        match verdict_word(&s) {
            "CONFORMANT" => "PASS",
            "INCOMPLETE" => "ERROR",
            _ => "FAIL",
        },
        xml_escape(&verdict_line(outcomes))
    );
    let _ = writeln!(
        h,
        "<p>Targets: <code>{}</code> · features: <code>{}</code> · {} checks in {:.1} s · seed {}{}{}</p>",
        xml_escape(&info.targets.join(", ")),
        xml_escape(&info.features.join(",")),
        s.total,
        info.duration_ms as f64 / 1000.0,
        info.seed,
        if info.strict { " · strict" } else { "" },
        if info.allow_errors { " · --allow-errors" } else { "" }
    );
    let _ = writeln!(
        h,
        "<p id=\"coverage\">{}</p>",
        xml_escape(&Coverage::of(outcomes).sentence())
    );
    // per-group counts first, then what failed or could not run
    h.push_str("<h2>Groups</h2>\n<table id=\"groups\"><tr><th>group</th><th>total</th>");
    for v in Verdict::ALL {
        let _ = write!(h, "<th>{}</th>", v.as_str());
    }
    h.push_str("</tr>\n");
    for g in GROUPS.iter().copied().chain(["all"]) {
        let os: Vec<Outcome> = outcomes
            .iter()
            .filter(|o| g == "all" || o.group == g)
            .cloned()
            .collect();
        if os.is_empty() {
            continue;
        }
        let gs = Summary::of(&os);
        let _ = write!(h, "<tr id=\"group-{g}\"><td>{g}</td><td>{}</td>", gs.total);
        for v in Verdict::ALL {
            let n = gs.count(v);
            let class = if n > 0 {
                format!(" class=\"v v-{}\"", v.as_str())
            } else {
                String::new()
            };
            let _ = write!(h, "<td{class} data-verdict=\"{}\">{n}</td>", v.as_str());
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| o.verdict.fails_run()).collect();
    if !bad.is_empty() {
        h.push_str("<h2>Failures and errors</h2>\n<ul id=\"failures\">\n");
        for o in bad {
            let _ = writeln!(
                h,
                "<li><span class=\"v v-{v}\">{v}</span> <a href=\"#d-{id}\">{id}</a> {} — {}</li>",
                xml_escape(o.title),
                xml_escape(o.message.as_deref().unwrap_or("")),
                v = o.verdict.as_str(),
                id = o.id
            );
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Requirements</h2>\n<table id=\"summary\"><tr>");
    for v in Verdict::ALL {
        let _ = write!(h, "<th>{}</th>", v.as_str());
    }
    h.push_str("</tr><tr>");
    for v in Verdict::ALL.map(Verdict::as_str) {
        let _ = write!(
            h,
            "<td class=\"v v-{v}\" id=\"count-{v}\" data-verdict=\"{v}\"></td>"
        );
    }
    h.push_str("</tr></table>\n<table id=\"matrix\"><thead><tr><th>ID</th><th>level</th><th>requirement</th><th>feature</th><th>verdict</th><th>not checked because</th><th>ms</th></tr></thead><tbody>\n");
    let registered = crate::checks::all();
    let mut ids: Vec<(usize, u32, String)> = spec::requirements()
        .iter()
        .filter(|r| GROUPS.contains(&r.group()))
        .map(|r| {
            (
                group_rank(r.group()),
                r.id.split('-')
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                r.id.clone(),
            )
        })
        .collect();
    for o in outcomes {
        if !ids.iter().any(|(_, _, i)| i == o.id) {
            ids.push((
                group_rank(o.group),
                o.id.split('-')
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                o.id.to_string(),
            ));
        }
    }
    ids.sort();
    for (_, _, id) in &ids {
        let o = outcomes.iter().find(|o| o.id == id);
        let req = spec::find(id);
        let (verdict, ms) = match o {
            Some(o) => (o.verdict.as_str().to_string(), o.duration_ms.to_string()),
            None => ("NOTCHECKED".to_string(), String::new()),
        };
        let title = req
            .map(|r| r.title.clone())
            .or_else(|| o.map(|o| o.title.to_string()))
            .unwrap_or_default();
        let level = req
            .map(|r| r.level.as_str())
            .or_else(|| o.map(|o| o.level.as_str()))
            .unwrap_or("");
        let feature = o
            .and_then(|o| o.feature)
            .or(req.and_then(|r| r.feature.as_deref()))
            .unwrap_or("");
        let why = not_checked_reason(o, registered.iter().any(|d| d.id == id)).unwrap_or("");
        let shown = if verdict == "NOTCHECKED" {
            "not checked"
        } else {
            verdict.as_str()
        };
        let _ = writeln!(
            h,
            "<tr id=\"req-{id}\" data-verdict=\"{verdict}\"><td><a href=\"#d-{id}\">{id}</a></td><td>{level}</td><td>{}</td><td>{}</td><td class=\"v v-{verdict}\">{shown}</td><td>{why}</td><td>{ms}</td></tr>",
            xml_escape(&title),
            xml_escape(feature)
        );
    }
    h.push_str("</tbody></table>\n<h2>Details</h2>\n");
    // failures and errors first, then the rest in spec order
    let mut details: Vec<&Outcome> = outcomes.iter().collect();
    details.sort_by_key(|o| !o.verdict.fails_run());
    for o in details {
        let open = if o.verdict.fails_run() { " open" } else { "" };
        let _ = writeln!(
            h,
            "<details id=\"d-{}\"{open}><summary><span class=\"v v-{}\">{}</span> {} ({}) {}</summary>",
            o.id,
            o.verdict.as_str(),
            o.verdict.as_str(),
            o.id,
            o.level.as_str(),
            xml_escape(o.title)
        );
        if !o.requirement.is_empty() {
            let _ = writeln!(
                h,
                "<blockquote>{}</blockquote>",
                xml_escape(&o.requirement).replace('\n', "<br>")
            );
        }
        if let Some(m) = &o.message {
            let _ = writeln!(h, "<p><b>failure:</b> {}</p>", xml_escape(m));
        }
        if let Some(e) = &o.expected {
            let _ = writeln!(h, "<p><b>expected:</b> <code>{}</code></p>", xml_escape(e));
        }
        if let Some(a) = &o.actual {
            let _ = writeln!(h, "<p><b>actual:</b> <code>{}</code></p>", xml_escape(a));
        }
        if !o.transcript.is_empty() {
            h.push_str("<pre class=\"transcript\">");
            for e in &o.transcript {
                let _ = writeln!(h, "{}", xml_escape(&e.to_string()));
            }
            h.push_str("</pre>");
        }
        h.push_str("</details>\n");
    }
    // counts are filled in by the page itself from the matrix rows, so a
    // browser that renders the page proves the matrix is what it counts
    h.push_str("<script>\nfor (const v of ['PASS','FAIL','ERROR','WARN','SKIP','XFAIL','STALE']) {\n  const n = document.querySelectorAll('#matrix tr[data-verdict=\"' + v + '\"]').length;\n  document.getElementById('count-' + v).textContent = String(n);\n}\n</script>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Level;
    use crate::transcript::{Dir, Entry};

    fn sample() -> Vec<Outcome> {
        let base = Outcome {
            id: "AUTH-3",
            group: "AUTH",
            title: "Expired <tokens>",
            level: Level::Must,
            feature: None,
            verdict: Verdict::Fail,
            duration_ms: 12,
            message: Some("accepted ]]> expired".into()),
            expected: Some("CONNECT_ERROR".into()),
            actual: Some("CONNECT".into()),
            requirement: "text".into(),
            transcript: vec![Entry {
                ms: 1,
                dir: Dir::Sent,
                chan: "ws#1".into(),
                text: "40{\"token\":\"\u{1}\"}".into(),
            }],
        };
        vec![
            base.clone(),
            Outcome {
                id: "ROOM-1",
                group: "ROOM",
                verdict: Verdict::Pass,
                message: None,
                ..base.clone()
            },
            Outcome {
                id: "WIRE-9",
                group: "WIRE",
                verdict: Verdict::Skip,
                ..base
            },
        ]
    }

    fn info() -> RunInfo {
        RunInfo {
            targets: vec!["http://x".into()],
            features: vec![],
            duration_ms: 5,
            seed: 1,
            strict: false,
            allow_errors: false,
        }
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = junit(&sample(), &info());
        assert!(
            x.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""),
            "{x}"
        );
        assert!(x.contains("Expired &lt;tokens&gt;"));
        assert!(x.contains("]]]]><![CDATA[>"));
        assert!(!x.contains('\u{1}'));
    }

    #[test]
    fn json_has_summary_and_results() {
        let v: serde_json::Value = serde_json::from_str(&json(&sample(), &info())).unwrap();
        assert_eq!(v["summary"]["fail"], 1);
        assert_eq!(v["ok"], false);
        assert_eq!(v["results"][0]["verdict"], "FAIL");
    }

    #[test]
    fn coverage_counts_each_requirement_once_with_the_reason_it_was_not_checked() {
        let mut os = sample();
        os[2].message = Some("feature `polling` not declared (add it)".into());
        os.push(Outcome {
            id: "OPS-3",
            group: "OPS",
            verdict: Verdict::Error,
            message: Some("the private instance did not start; fix: x".into()),
            ..os[1].clone()
        });
        let c = Coverage::of(&os);
        let in_groups = spec::requirements()
            .iter()
            .filter(|r| GROUPS.contains(&r.group()))
            .count();
        assert_eq!(c.requirements, in_groups);
        assert_eq!(c.checked, 2, "AUTH-3 FAIL and ROOM-1 PASS");
        let reason = |r: &str| {
            c.not_checked
                .iter()
                .find(|n| n.reason == r)
                .map(|n| n.count)
        };
        assert_eq!(reason("feature not declared"), Some(1));
        assert_eq!(reason("ERROR"), Some(1));
        let unchecked = reason("not selected").unwrap_or(0) + reason("no check").unwrap_or(0);
        assert_eq!(unchecked, c.requirements - 4);
        let line = verdict_line(&os);
        assert!(
            line.starts_with(&format!(
                "NOT CONFORMANT: 2 of {} checked; ",
                c.requirements
            )),
            "{line}"
        );
        assert!(line.contains("1 ERROR:"), "{line}");
        let ok = vec![os[1].clone()];
        assert!(verdict_line(&ok).starts_with("CONFORMANT: 1 of "));
        let errs = vec![os[1].clone(), os[3].clone()];
        assert!(verdict_line(&errs).starts_with("INCOMPLETE: 1 of "));
        let x = junit(&errs, &info());
        assert!(
            x.contains("errors=\"1\"") && x.contains("<error message=\"the private instance"),
            "{x}"
        );
    }

    #[test]
    fn repeat_counts_verdicts_and_flake_rates() {
        let a = sample();
        let mut b = sample();
        b[0].verdict = Verdict::Pass;
        let r = Repeat::of(&[a.clone(), b, a], 10);
        assert_eq!(r.runs, 3);
        assert_eq!(r.flaky(), 1);
        let auth3 = r.checks.iter().find(|c| c.id == "AUTH-3").unwrap();
        assert_eq!(auth3.counts.get("FAIL"), Some(&2));
        assert!((auth3.flake_rate - 1.0 / 3.0).abs() < 1e-9);
        assert!(!r.all_pass(false));
        assert!(r.human().contains("3 runs of 3 checks"), "{}", r.human());
    }

    #[test]
    fn human_lists_failure_details_and_table() {
        let h = human(&sample(), &info());
        assert!(h.contains("FAIL AUTH-3 (MUST)"));
        assert!(h.contains("expected: CONNECT_ERROR"));
        assert!(h.contains("NOT CONFORMANT"));
    }
}
