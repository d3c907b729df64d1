//! `cargo xtask spec-check`: ties requirement IDs in the spec to the tests that name them.
//!
//! The spec (`spec/roomcast-v1.md`) declares each requirement with a heading
//! `### AUTH-3 (MUST) Expired tokens are rejected`, optionally followed by a
//! `Feature: <name>` line for requirements of an optional conformance profile.
//! A Rust test names the requirement it checks in its function name
//! (`fn auth_3_expired_token_is_rejected()`); a harness check carries a field
//! `id: "AUTH-3"`. This module parses both, prints a coverage table, lists the
//! requirements without tests and fails on a test naming an ID the spec lacks
//! (and, with `--strict`, on a MUST or SHOULD without a test).
//!
//! `xtask/` itself is not scanned: its unit tests below hold sample source text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::LazyLock;

use anyhow::Context as _;
use regex::Regex;

/// The spec file, relative to the workspace root.
pub(crate) const SPEC_PATH: &str = "spec/roomcast-v1.md";

/// Folders (relative to the workspace root) whose `*.rs` files are scanned.
pub(crate) const SCANNED_DIRS: [&str; 4] =
    ["protocol", "reference-server", "conformance", "benches"];

/// The requirement groups of the spec, in spec order.
pub(crate) const GROUPS: [&str; 10] = [
    "WIRE", "AUTH", "ROOM", "ENV", "PUB", "FAN", "LIFE", "LIM", "OPS", "FAULT",
];

static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^### ([A-Z]+-[0-9]+) \((MUST|SHOULD|MAY)\) (.+)$").unwrap());
/// A heading that starts like a requirement but does not follow the convention.
static NEAR_HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#{1,6}\s*[A-Z]+-[0-9]+\b").unwrap());
static FEATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:[-*]\s+)?[*_]{0,2}Feature:?[*_]{0,2}:?\s*(.+?)\s*$").unwrap()
});
static TEST_FN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"fn\s+((wire|auth|room|env|pub|fan|life|lim|ops|fault)_(\d+)(?:_\w*)?)\s*[(<]")
        .unwrap()
});
static CHECK_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\bid:\s*"([A-Z]+-\d+)""#).unwrap());

/// RFC 2119 level of a requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Must,
    Should,
    May,
}

impl Level {
    fn parse(s: &str) -> Option<Level> {
        match s {
            "MUST" => Some(Level::Must),
            "SHOULD" => Some(Level::Should),
            "MAY" => Some(Level::May),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

/// One requirement heading of the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Requirement {
    pub id: String,
    pub level: Level,
    pub title: String,
    pub feature: Option<String>,
    pub line: usize,
}

/// A place in the sources that names a requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    pub id: String,
    pub file: String,
    pub line: usize,
    /// `fn auth_3_…` or `check AUTH-3`.
    pub what: String,
}

/// Parses the spec's requirement headings; errors are problems of the spec itself.
pub(crate) fn parse_spec(text: &str) -> (Vec<Requirement>, Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut reqs: Vec<Requirement> = Vec::new();
    let mut errors = Vec::new();
    let mut in_fence = false;
    for (idx, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        if line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let Some(caps) = HEADING.captures(line) else {
            if NEAR_HEADING.is_match(line) {
                errors.push(format!(
                    "{SPEC_PATH}:{}: heading looks like a requirement but does not match \
                     `### GROUP-N (MUST|SHOULD|MAY) Title`: {line}",
                    idx + 1
                ));
            }
            continue;
        };
        let id = caps[1].to_owned();
        let group = id.split('-').next().unwrap_or_default();
        if !GROUPS.contains(&group) {
            errors.push(format!(
                "{SPEC_PATH}:{}: {id}: unknown group {group} (groups: {})",
                idx + 1,
                GROUPS.join(" ")
            ));
        }
        if let Some(first) = reqs.iter().find(|r| r.id == id) {
            errors.push(format!(
                "{SPEC_PATH}:{}: {id} declared twice (first at line {})",
                idx + 1,
                first.line
            ));
            continue;
        }
        let level = Level::parse(&caps[2]).unwrap_or(Level::May);
        let feature = lines[idx + 1..]
            .iter()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| FEATURE.captures(l))
            .map(|c| {
                c[1].trim_matches(|ch: char| ch == '`' || ch == '.' || ch == '*')
                    .to_owned()
            })
            .filter(|f| !f.is_empty());
        reqs.push(Requirement {
            id,
            level,
            title: caps[3].trim().to_owned(),
            feature,
            line: idx + 1,
        });
    }
    (reqs, errors)
}

/// Marks, per line, whether it lies inside a `#[cfg(test)]` item (`mod tests { … }`).
///
/// A small lexer: braces are counted outside comments, string, raw string and
/// char literals; `#[cfg(test)]` opens a region at the next `{` (a `;` first
/// cancels it, as in `#[cfg(test)] use …;`).
pub(crate) fn cfg_test_lines(text: &str) -> Vec<bool> {
    let chars: Vec<char> = text.chars().collect();
    let line_count = text.lines().count().max(1);
    let mut marks = vec![false; line_count];
    let (mut i, mut line, mut depth) = (0usize, 0usize, 0usize);
    let mut pending = false;
    let mut region: Option<usize> = None; // depth at which the region closes
    let at = |i: usize, pat: &str| {
        pat.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        if region.is_some() && line < line_count {
            marks[line] = true;
        }
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            i += 2;
            while i < chars.len() && !at(i, "*/") {
                if chars[i] == '\n' {
                    line += 1;
                    if region.is_some() && line < line_count {
                        marks[line] = true;
                    }
                }
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (chars.get(i + 1) == Some(&'"') || chars.get(i + 1) == Some(&'#'))
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'))
        {
            // raw string r"..." / r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                i += 1;
                continue;
            }
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            j += 1;
            while j < chars.len() && !at(j, &close) {
                if chars[j] == '\n' {
                    line += 1;
                    if region.is_some() && line < line_count {
                        marks[line] = true;
                    }
                }
                j += 1;
            }
            i = j + close.chars().count();
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if chars.get(i) == Some(&'\n') {
                    line += 1;
                    if region.is_some() && line < line_count {
                        marks[line] = true;
                    }
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' {
            // char literal ('x', '\n', '\u{..}') or a lifetime ('a)
            if chars.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' && chars[i] != '\n' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if at(i, "#[cfg(test)]") {
            pending = true;
            i += "#[cfg(test)]".len();
        } else if c == '{' {
            if pending && region.is_none() {
                region = Some(depth);
                if line < line_count {
                    marks[line] = true;
                }
            }
            pending = false;
            depth += 1;
            i += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            if region == Some(depth) {
                region = None;
            }
            i += 1;
        } else {
            if c == ';' {
                pending = false;
            }
            i += 1;
        }
    }
    marks
}

/// Whether a whole file is test code: integration tests (`tests/`) and out-of-line
/// `tests.rs` modules.
fn is_test_file(file: &str) -> bool {
    let file = file.replace('\\', "/");
    file.contains("/tests/")
        || file.starts_with("tests/")
        || file.ends_with("/tests.rs")
        || file == "tests.rs"
}

/// Finds requirement references in one source file: test fn names and harness check ids.
///
/// Lines whose code starts with `//` (comments, doc comments) are skipped. A check
/// id (`id: "AUTH-3"`) counts only in non-test code: inside `#[cfg(test)]` items and
/// test files it is sample data of a unit test, not a registered check.
pub(crate) fn scan_source(file: &str, text: &str) -> Vec<Reference> {
    let mut refs = Vec::new();
    let test_file = is_test_file(file);
    let in_test = cfg_test_lines(text);
    for (idx, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let check_ids_count = !test_file && !in_test.get(idx).copied().unwrap_or(false);
        for caps in TEST_FN.captures_iter(line) {
            refs.push(Reference {
                id: format!("{}-{}", caps[2].to_ascii_uppercase(), &caps[3]),
                file: file.to_owned(),
                line: idx + 1,
                what: format!("fn {}", &caps[1]),
            });
        }
        for caps in CHECK_ID.captures_iter(line).filter(|_| check_ids_count) {
            refs.push(Reference {
                id: caps[1].to_owned(),
                file: file.to_owned(),
                line: idx + 1,
                what: format!("check {}", &caps[1]),
            });
        }
    }
    refs
}

/// A harness check registered with `id: "AUTH-3"` and implemented by a function
/// `auth_3…` in the same file is one check, not two: the function is folded into
/// the registration (`check AUTH-3 (fn auth_3)`).
fn merge_check_bodies(refs: &mut Vec<Reference>) {
    let mut i = 0;
    while i < refs.len() {
        let is_fn = refs[i].what.starts_with("fn ");
        let check = refs.iter().position(|c| {
            c.what.starts_with("check ") && c.file == refs[i].file && !c.what.contains("(fn ")
        });
        match (is_fn, check) {
            (true, Some(c)) => {
                let body = refs.remove(i);
                let c = if c > i { c - 1 } else { c };
                refs[c].what = format!("{} ({})", refs[c].what, body.what);
            }
            _ => i += 1,
        }
    }
}

/// The result of cross-referencing the spec with the sources.
#[derive(Debug)]
pub(crate) struct Report {
    pub requirements: Vec<Requirement>,
    /// Requirement id → the references that name it.
    pub covered: BTreeMap<String, Vec<Reference>>,
    /// References whose id the spec does not declare.
    pub unknown: Vec<Reference>,
    pub spec_errors: Vec<String>,
}

impl Report {
    pub(crate) fn new(spec_text: &str, refs: Vec<Reference>) -> Report {
        let (requirements, spec_errors) = parse_spec(spec_text);
        let known: BTreeSet<&str> = requirements.iter().map(|r| r.id.as_str()).collect();
        let mut covered: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
        let mut unknown = Vec::new();
        for r in refs {
            if known.contains(r.id.as_str()) {
                covered.entry(r.id.clone()).or_default().push(r);
            } else {
                unknown.push(r);
            }
        }
        for refs in covered.values_mut() {
            merge_check_bodies(refs);
        }
        Report {
            requirements,
            covered,
            unknown,
            spec_errors,
        }
    }

    /// Requirements of `level` that no test names.
    pub(crate) fn uncovered(&self, level: Level) -> Vec<&Requirement> {
        self.requirements
            .iter()
            .filter(|r| r.level == level && !self.covered.contains_key(&r.id))
            .collect()
    }

    /// Reasons this report fails the check; empty means pass.
    pub(crate) fn failures(&self, strict: bool) -> Vec<String> {
        let mut out = self.spec_errors.clone();
        if self.requirements.is_empty() {
            out.push(format!("{SPEC_PATH} declares no requirements"));
        }
        for r in &self.unknown {
            out.push(format!(
                "{}:{}: {} names {}, which {SPEC_PATH} does not declare",
                r.file, r.line, r.what, r.id
            ));
        }
        if strict {
            for level in [Level::Must, Level::Should] {
                let missing = self.uncovered(level);
                if !missing.is_empty() {
                    let ids: Vec<&str> = missing.iter().map(|r| r.id.as_str()).collect();
                    out.push(format!(
                        "--strict: {} {} requirement(s) without tests: {}",
                        ids.len(),
                        level.as_str(),
                        ids.join(" ")
                    ));
                }
            }
        }
        out
    }

    /// The human-readable coverage table, the gaps and a summary line.
    pub(crate) fn render(&self) -> String {
        let mut s = String::new();
        let feature_w = self
            .requirements
            .iter()
            .filter_map(|r| r.feature.as_ref().map(String::len))
            .max()
            .unwrap_or(0)
            .max("FEATURE".len());
        let _ = writeln!(
            s,
            "{:<9} {:<6} {:<feature_w$} {:>5}  WHERE",
            "ID", "LEVEL", "FEATURE", "TESTS"
        );
        for r in &self.requirements {
            let refs = self.covered.get(&r.id).map(Vec::as_slice).unwrap_or(&[]);
            let feature = r.feature.as_deref().unwrap_or("-");
            let first = refs
                .first()
                .map(|x| format!("{}:{} {}", x.file, x.line, x.what))
                .unwrap_or_else(|| "-".to_owned());
            let _ = writeln!(
                s,
                "{:<9} {:<6} {:<feature_w$} {:>5}  {first}",
                r.id,
                r.level.as_str(),
                feature,
                refs.len()
            );
            for x in refs.iter().skip(1) {
                let _ = writeln!(
                    s,
                    "{:<9} {:<6} {:<feature_w$} {:>5}  {}:{} {}",
                    "", "", "", "", x.file, x.line, x.what
                );
            }
        }
        let _ = writeln!(s, "\nRequirements without tests:");
        let mut any_gap = false;
        for level in [Level::Must, Level::Should, Level::May] {
            let missing = self.uncovered(level);
            if missing.is_empty() {
                continue;
            }
            any_gap = true;
            let _ = writeln!(s, "  {} ({}):", level.as_str(), missing.len());
            for r in missing {
                let feature = r
                    .feature
                    .as_deref()
                    .map(|f| format!(" [feature: {f}]"))
                    .unwrap_or_default();
                let _ = writeln!(s, "    {:<9} {}{feature}", r.id, r.title);
            }
        }
        if !any_gap {
            let _ = writeln!(s, "  none");
        }
        if !self.unknown.is_empty() {
            let _ = writeln!(s, "\nTests naming IDs the spec does not declare:");
            for r in &self.unknown {
                let _ = writeln!(s, "  {}:{}: {} -> {}", r.file, r.line, r.what, r.id);
            }
        }
        if !self.spec_errors.is_empty() {
            let _ = writeln!(s, "\nProblems in {SPEC_PATH}:");
            for e in &self.spec_errors {
                let _ = writeln!(s, "  {e}");
            }
        }
        let count = |l: Level| self.requirements.iter().filter(|r| r.level == l).count();
        let covered = self
            .requirements
            .iter()
            .filter(|r| self.covered.contains_key(&r.id))
            .count();
        let _ = writeln!(
            s,
            "\nspec-check: {} requirements ({} MUST, {} SHOULD, {} MAY), {} with tests; \
             without tests: {} MUST, {} SHOULD, {} MAY; {} reference(s) to unknown IDs",
            self.requirements.len(),
            count(Level::Must),
            count(Level::Should),
            count(Level::May),
            covered,
            self.uncovered(Level::Must).len(),
            self.uncovered(Level::Should).len(),
            self.uncovered(Level::May).len(),
            self.unknown.len(),
        );
        s
    }
}

/// All `*.rs` files under the scanned folders, skipping `target/` and `node_modules/`.
pub(crate) fn rust_files(root: &Path, dirs: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = dirs
        .iter()
        .map(|d| root.join(d))
        .filter(|p| p.is_dir())
        .collect();
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                if name != "target" && name != "node_modules" && !name.starts_with('.') {
                    stack.push(path);
                }
            } else if file_type.is_file() && name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Builds the report for the workspace at `root`.
pub(crate) fn report(root: &Path) -> anyhow::Result<Report> {
    let spec_path = root.join(SPEC_PATH);
    let spec = std::fs::read_to_string(&spec_path)
        .with_context(|| format!("cannot read {} (the spec is required)", spec_path.display()))?;
    let mut refs = Vec::new();
    for file in rust_files(root, &SCANNED_DIRS)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let rel = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned();
        refs.extend(scan_source(&rel, &text));
    }
    Ok(Report::new(&spec, refs))
}

/// Runs the check, printing the table; `Ok(FAILURE)` when the check fails.
pub(crate) fn run(root: &Path, strict: bool) -> anyhow::Result<ExitCode> {
    let report = report(root)?;
    print!("{}", report.render());
    let failures = report.failures(strict);
    if failures.is_empty() {
        println!("spec-check{}: ok", if strict { " --strict" } else { "" });
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "spec-check{}: FAILED",
            if strict { " --strict" } else { "" }
        );
        for f in &failures {
            eprintln!("  {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "\
# Roomcast v1

## AUTH

### AUTH-1 (MUST) A token in the CONNECT auth payload is accepted
Text.

### AUTH-3 (MUST) Expired tokens are rejected

### AUTH-31 (SHOULD) Something else

### WIRE-2 (MAY) Long-polling transport

Feature: `polling`

```text
### AUTH-99 (MUST) inside a code fence, not a heading
```
";

    fn ids(refs: &[Reference]) -> Vec<&str> {
        refs.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn spec_headings_are_parsed_with_level_title_and_feature() {
        let (reqs, errors) = parse_spec(SPEC);
        assert!(errors.is_empty(), "{errors:?}");
        let got: Vec<(&str, Level, Option<&str>)> = reqs
            .iter()
            .map(|r| (r.id.as_str(), r.level, r.feature.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("AUTH-1", Level::Must, None),
                ("AUTH-3", Level::Must, None),
                ("AUTH-31", Level::Should, None),
                ("WIRE-2", Level::May, Some("polling")),
            ]
        );
        assert_eq!(reqs[1].title, "Expired tokens are rejected");
        assert_eq!(reqs[1].line, 8);
    }

    #[test]
    fn feature_line_variants_are_recognised() {
        for line in [
            "Feature: polling",
            "**Feature:** `polling`",
            "- Feature: polling.",
            "*Feature*: polling",
        ] {
            let spec = format!("### WIRE-2 (SHOULD) Polling\n{line}\n");
            let (reqs, errors) = parse_spec(&spec);
            assert!(errors.is_empty());
            assert_eq!(reqs[0].feature.as_deref(), Some("polling"), "line {line:?}");
        }
        let (reqs, _) = parse_spec("### WIRE-2 (SHOULD) Polling\nThe server features a thing.\n");
        assert_eq!(reqs[0].feature, None);
    }

    #[test]
    fn malformed_duplicate_and_unknown_group_headings_are_spec_errors() {
        let (reqs, errors) = parse_spec(
            "### AUTH-1 (MUST) One\n### AUTH-1 (SHOULD) Again\n### AUTH-2 (must) lower case\n### FOO-1 (MAY) Unknown group\n",
        );
        assert_eq!(reqs.len(), 2, "{reqs:?}");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("AUTH-1 declared twice"));
        assert!(errors[1].contains("does not match"));
        assert!(errors[2].contains("unknown group FOO"));
    }

    #[test]
    fn test_function_names_map_to_ids() {
        let src = "\
#[test]
fn auth_3_expired_token_is_rejected() {}
#[tokio::test]
async fn wire_12_open_packet() {}
fn auth_31() {}
fn lim_4_generic<T>() {}
fn pub_2_x ( ) {}
";
        let refs = scan_source("a.rs", src);
        assert_eq!(
            ids(&refs),
            vec!["AUTH-3", "WIRE-12", "AUTH-31", "LIM-4", "PUB-2"]
        );
        assert_eq!(refs[0].line, 2);
        assert_eq!(refs[0].what, "fn auth_3_expired_token_is_rejected");
        assert_eq!(refs[0].file, "a.rs");
    }

    #[test]
    fn auth_31_is_not_counted_as_auth_3() {
        let refs = scan_source("a.rs", "fn auth_31_something() {}\nfn auth_310() {}\n");
        assert_eq!(ids(&refs), vec!["AUTH-31", "AUTH-310"]);
        let report = Report::new(SPEC, refs);
        assert!(!report.covered.contains_key("AUTH-3"));
        assert_eq!(report.covered["AUTH-31"].len(), 1);
        assert_eq!(ids(&report.unknown), vec!["AUTH-310"]);
    }

    #[test]
    fn non_requirement_names_and_comments_are_ignored() {
        let src = "\
fn auth_header() {}
fn authenticate_3() {}
fn my_auth_3_helper() {}
fn wire() {}
// fn auth_3_commented_out() {}
/// id: \"AUTH-3\" in a doc comment
let s = \"fn room_1\";
";
        assert_eq!(ids(&scan_source("a.rs", src)), Vec::<&str>::new());
    }

    #[test]
    fn harness_check_ids_are_found() {
        let src =
            "Check { id: \"AUTH-3\", level: Must },\n    id:\"WIRE-10\",\n valid: \"AUTH-4\"\n";
        let refs = scan_source("c.rs", src);
        assert_eq!(ids(&refs), vec!["AUTH-3", "WIRE-10"]);
        assert_eq!(refs[1].line, 2);
        assert_eq!(refs[1].what, "check WIRE-10");
    }

    #[test]
    fn check_ids_in_unit_tests_are_sample_data_but_test_fns_count() {
        let src = r##"
const REAL: CheckDef = CheckDef { id: "AUTH-1", title: "}{ not a brace", run: |_| '{' };

#[cfg(test)]
use something;

fn lifetimes<'a>(s: &'a str) -> &'a str { s }

#[cfg(test)]
mod tests {
    const SAMPLE: CheckDef = CheckDef { id: "AUTH-3", raw: r"}", more: r#"{"a":"}"}"#, c: '}' };
    /* } */
    #[test]
    fn auth_31_counted() {}
}

const AFTER: CheckDef = CheckDef { id: "WIRE-2" };
"##;
        let refs = scan_source("conformance/src/runner.rs", src);
        let got: Vec<(&str, &str)> = refs
            .iter()
            .map(|r| (r.id.as_str(), r.what.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("AUTH-1", "check AUTH-1"),
                ("AUTH-31", "fn auth_31_counted"),
                ("WIRE-2", "check WIRE-2")
            ]
        );
        let marks = cfg_test_lines(src);
        let marked: Vec<usize> = marks
            .iter()
            .enumerate()
            .filter(|(_, m)| **m)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            marked,
            (9..=14).collect::<Vec<_>>(),
            "`mod tests {{` through its `}}`"
        );
    }

    #[test]
    fn check_ids_in_test_files_do_not_count() {
        let src = "fn auth_3_x() {}\nlet c = Check { id: \"AUTH-1\" };\n";
        assert_eq!(
            ids(&scan_source("conformance/tests/cli.rs", src)),
            vec!["AUTH-3"]
        );
        assert_eq!(
            ids(&scan_source("conformance/src/checks/tests.rs", src)),
            vec!["AUTH-3"]
        );
        assert_eq!(
            ids(&scan_source("conformance/src/checks/auth.rs", src)),
            vec!["AUTH-3", "AUTH-1"]
        );
    }

    #[test]
    fn a_check_and_its_body_in_one_file_count_once() {
        let mut refs = scan_source(
            "conformance/src/checks/auth.rs",
            "const C: CheckDef = CheckDef { id: \"AUTH-3\" };\nfn auth_3(ctx: Ctx) {}\n",
        );
        refs.extend(scan_source(
            "reference-server/tests/it/auth.rs",
            "fn auth_3_expired() {}\n",
        ));
        let report = Report::new(SPEC, refs);
        let whats: Vec<&str> = report.covered["AUTH-3"]
            .iter()
            .map(|r| r.what.as_str())
            .collect();
        assert_eq!(whats, vec!["check AUTH-3 (fn auth_3)", "fn auth_3_expired"]);
    }

    #[test]
    fn unknown_ids_fail_the_check_with_file_and_line() {
        let mut refs = scan_source("p.rs", "fn auth_3_ok() {}\n\nfn room_7_missing() {}\n");
        refs.extend(scan_source("c.rs", "id: \"OPS-9\""));
        let report = Report::new(SPEC, refs);
        assert_eq!(ids(&report.unknown), vec!["ROOM-7", "OPS-9"]);
        let failures = report.failures(false);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(
            failures[0].starts_with("p.rs:3: fn room_7_missing names ROOM-7"),
            "{}",
            failures[0]
        );
        assert!(
            failures[1].starts_with("c.rs:1: check OPS-9 names OPS-9"),
            "{}",
            failures[1]
        );
    }

    #[test]
    fn strict_fails_on_must_and_should_gaps_but_not_may() {
        let all = scan_source(
            "p.rs",
            "fn auth_1_a() {}\nfn auth_3_b() {}\nfn auth_31_c() {}\n",
        );
        let report = Report::new(SPEC, all);
        assert!(report.failures(false).is_empty());
        assert!(
            report.failures(true).is_empty(),
            "WIRE-2 is a MAY: {:?}",
            report.failures(true)
        );

        let partial = scan_source("p.rs", "fn auth_1_a() {}\n");
        let report = Report::new(SPEC, partial);
        assert!(report.failures(false).is_empty());
        let strict = report.failures(true);
        assert_eq!(strict.len(), 2, "{strict:?}");
        assert!(strict[0].contains("AUTH-3") && strict[0].contains("1 MUST"));
        assert!(strict[1].contains("AUTH-31") && strict[1].contains("1 SHOULD"));
    }

    #[test]
    fn render_lists_tests_and_gaps_by_level() {
        let report = Report::new(
            SPEC,
            scan_source("p.rs", "fn auth_3_b() {}\nfn auth_3_c() {}\n"),
        );
        let out = report.render();
        assert!(out.contains("p.rs:1 fn auth_3_b"), "{out}");
        assert!(out.contains("p.rs:2 fn auth_3_c"), "{out}");
        let gaps = out.split("Requirements without tests:").nth(1).unwrap();
        assert!(
            gaps.contains("MUST (1):") && gaps.contains("AUTH-1"),
            "{gaps}"
        );
        assert!(
            gaps.contains("SHOULD (1):") && gaps.contains("AUTH-31"),
            "{gaps}"
        );
        assert!(
            gaps.contains("MAY (1):") && gaps.contains("[feature: polling]"),
            "{gaps}"
        );
        assert!(
            out.contains("4 requirements (2 MUST, 1 SHOULD, 1 MAY), 1 with tests"),
            "{out}"
        );
    }

    #[test]
    fn an_empty_spec_fails() {
        let report = Report::new("# nothing here\n", Vec::new());
        assert_eq!(report.failures(false).len(), 1);
    }
}
