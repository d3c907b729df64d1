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
            Verdict::Fail | Verdict::Warn | Verdict::Stale | Verdict::Xfail
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
    let _ = writeln!(
        out,
        "{:<6} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "group", "total", "pass", "fail", "warn", "skip", "xfail", "stale"
    );
    let mut groups: Vec<&str> = outcomes.iter().map(|o| o.group).collect();
    groups.sort_by_key(|g| group_rank(g));
    groups.dedup();
    for g in groups {
        let os: Vec<Outcome> = outcomes.iter().filter(|o| o.group == g).cloned().collect();
        let s = Summary::of(&os);
        let _ = writeln!(
            out,
            "{:<6} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
            g, s.total, s.pass, s.fail, s.warn, s.skip, s.xfail, s.stale
        );
    }
    let s = Summary::of(outcomes);
    let _ = writeln!(
        out,
        "{:<6} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5} {:>5}",
        "all", s.total, s.pass, s.fail, s.warn, s.skip, s.xfail, s.stale
    );
    let _ = writeln!(
        out,
        "\n{} — {} checks in {:.1} s against {} (seed {}){}",
        if s.ok() {
            "CONFORMANT"
        } else {
            "NOT CONFORMANT"
        },
        s.total,
        info.duration_ms as f64 / 1000.0,
        info.targets.join(", "),
        info.seed,
        if info.strict { ", strict" } else { "" }
    );
    out
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
        "summary": Summary::of(outcomes),
        "ok": Summary::of(outcomes).ok(),
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
        "<testsuites name=\"roomcast-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        s.total,
        s.fail + s.stale,
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
            "  <testsuite name=\"{g}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"{:.3}\">",
            gs.total,
            gs.fail + gs.stale,
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
    h.push_str(".v{font-weight:bold;text-align:center}.v-PASS{background:#c8f0c8}.v-FAIL{background:#f6b3b3}.v-WARN{background:#ffe39a}.v-SKIP{background:#e4e4e4}.v-XFAIL{background:#d9c8f0}.v-STALE{background:#f6b3b3}.v-NOTCHECKED{background:#fff;color:#888}\n");
    h.push_str("pre{background:#f8f8f8;padding:.5em;overflow:auto;font-size:12px}details{margin:.3em 0}.banner{font-size:1.4em;padding:.4em;display:inline-block}\n</style></head><body>\n");
    let _ = writeln!(
        h,
        "<h1>Roomcast v1 conformance</h1>\n<p class=\"banner v-{}\" id=\"overall\">{}</p>",
        if s.ok() { "PASS" } else { "FAIL" },
        if s.ok() {
            "CONFORMANT"
        } else {
            "NOT CONFORMANT"
        }
    );
    let _ = writeln!(
        h,
        "<p>Targets: <code>{}</code> · features: <code>{}</code> · {} checks in {:.1} s · seed {}{}</p>",
        xml_escape(&info.targets.join(", ")),
        xml_escape(&info.features.join(",")),
        s.total,
        info.duration_ms as f64 / 1000.0,
        info.seed,
        if info.strict { " · strict" } else { "" }
    );
    h.push_str("<table id=\"summary\"><tr><th>PASS</th><th>FAIL</th><th>WARN</th><th>SKIP</th><th>XFAIL</th><th>STALE</th></tr><tr>");
    for v in ["PASS", "FAIL", "WARN", "SKIP", "XFAIL", "STALE"] {
        let _ = write!(
            h,
            "<td class=\"v v-{v}\" id=\"count-{v}\" data-verdict=\"{v}\"></td>"
        );
    }
    h.push_str("</tr></table>\n<h2>Requirements</h2>\n<table id=\"matrix\"><thead><tr><th>ID</th><th>level</th><th>requirement</th><th>feature</th><th>verdict</th><th>ms</th></tr></thead><tbody>\n");
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
        let shown = if verdict == "NOTCHECKED" {
            "not checked"
        } else {
            verdict.as_str()
        };
        let _ = writeln!(
            h,
            "<tr id=\"req-{id}\" data-verdict=\"{verdict}\"><td><a href=\"#d-{id}\">{id}</a></td><td>{level}</td><td>{}</td><td>{}</td><td class=\"v v-{verdict}\">{shown}</td><td>{ms}</td></tr>",
            xml_escape(&title),
            xml_escape(feature)
        );
    }
    h.push_str("</tbody></table>\n<h2>Details</h2>\n");
    for o in outcomes {
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
    h.push_str("<script>\nfor (const v of ['PASS','FAIL','WARN','SKIP','XFAIL','STALE']) {\n  const n = document.querySelectorAll('#matrix tr[data-verdict=\"' + v + '\"]').length;\n  document.getElementById('count-' + v).textContent = String(n);\n}\n</script>\n</body></html>\n");
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
        }
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = junit(&sample(), &info());
        assert!(
            x.contains("tests=\"3\" failures=\"1\" skipped=\"1\""),
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
    fn human_lists_failure_details_and_table() {
        let h = human(&sample(), &info());
        assert!(h.contains("FAIL AUTH-3 (MUST)"));
        assert!(h.contains("expected: CONNECT_ERROR"));
        assert!(h.contains("NOT CONFORMANT"));
    }
}
