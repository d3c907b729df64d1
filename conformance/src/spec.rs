//! The Roomcast v1 specification, embedded at compile time.
//!
//! The harness prints each failing requirement's own text from here, and
//! [`verify_registry`] proves that every registered check names a requirement
//! that exists in the spec with the same level.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The spec's Markdown source, as compiled into this binary.
pub const SPEC_TEXT: &str = include_str!("../../spec/roomcast-v1.md");

/// An RFC 2119 requirement level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// MUST: a failure FAILs the run.
    Must,
    /// SHOULD: a failure is a WARN (a FAIL under `--strict`).
    Should,
    /// MAY: optional behaviour.
    May,
}

impl Level {
    /// Parses `MUST`, `SHOULD` or `MAY`.
    pub fn parse(s: &str) -> Option<Level> {
        match s {
            "MUST" => Some(Level::Must),
            "SHOULD" => Some(Level::Should),
            "MAY" => Some(Level::May),
            _ => None,
        }
    }

    /// The keyword as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One requirement of the spec.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    /// `AUTH-3`.
    pub id: String,
    /// Its level.
    pub level: Level,
    /// The heading's title.
    pub title: String,
    /// The body text under the heading, up to the next heading.
    pub text: String,
    /// The optional feature named by a `Feature:` line, if any.
    pub feature: Option<String>,
}

impl Requirement {
    /// The group prefix (`AUTH` of `AUTH-3`).
    pub fn group(&self) -> &str {
        self.id.split('-').next().unwrap_or("")
    }
}

/// Parses every `### ID (LEVEL) Title` heading of a spec text.
pub fn parse(text: &str) -> Vec<Requirement> {
    let mut out: Vec<Requirement> = Vec::new();
    let mut current: Option<Requirement> = None;
    for line in text.lines() {
        if let Some(req) = parse_heading(line) {
            if let Some(done) = current.take() {
                out.push(finish(done));
            }
            current = Some(req);
        } else if line.starts_with('#') {
            if let Some(done) = current.take() {
                out.push(finish(done));
            }
        } else if let Some(req) = current.as_mut() {
            req.text.push_str(line);
            req.text.push('\n');
            if req.feature.is_none() {
                req.feature = feature_of(line);
            }
        }
    }
    if let Some(done) = current.take() {
        out.push(finish(done));
    }
    out
}

fn finish(mut r: Requirement) -> Requirement {
    r.text = r.text.trim().to_string();
    r
}

/// `### AUTH-3 (MUST) Expired tokens are rejected`.
fn parse_heading(line: &str) -> Option<Requirement> {
    let rest = line.strip_prefix("### ")?;
    let (id, rest) = rest.split_once(' ')?;
    let (group, num) = id.split_once('-')?;
    if group.is_empty()
        || !group.chars().all(|c| c.is_ascii_uppercase())
        || num.is_empty()
        || !num.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let rest = rest.strip_prefix('(')?;
    let (level, title) = rest.split_once(") ")?;
    Some(Requirement {
        id: id.to_string(),
        level: Level::parse(level)?,
        title: title.trim().to_string(),
        text: String::new(),
        feature: None,
    })
}

/// A `Feature: polling` line (Markdown decoration tolerated).
fn feature_of(line: &str) -> Option<String> {
    let cleaned: String = line.chars().filter(|c| *c != '*' && *c != '_').collect();
    let idx = cleaned.find("Feature:")?;
    let word: String = cleaned[idx + "Feature:".len()..]
        .trim()
        .trim_start_matches('`')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    (!word.is_empty()).then_some(word)
}

/// The embedded spec, parsed once.
pub fn requirements() -> &'static [Requirement] {
    static REQS: std::sync::OnceLock<Vec<Requirement>> = std::sync::OnceLock::new();
    REQS.get_or_init(|| parse(SPEC_TEXT))
}

/// The requirement with this id in the embedded spec.
pub fn find(id: &str) -> Option<&'static Requirement> {
    requirements().iter().find(|r| r.id == id)
}

/// A mismatch between the check registry and the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryProblem {
    /// A check names an id the spec does not have.
    UnknownId(String),
    /// A check's level differs from the spec's.
    LevelMismatch {
        /// The id.
        id: String,
        /// Level in the check definition.
        check: Level,
        /// Level in the spec.
        spec: Level,
    },
    /// Two checks share one id.
    Duplicate(String),
}

impl fmt::Display for RegistryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryProblem::UnknownId(id) => {
                write!(f, "check {id} names no requirement of the spec")
            }
            RegistryProblem::LevelMismatch { id, check, spec } => {
                write!(
                    f,
                    "check {id} is registered as {check} but the spec says {spec}"
                )
            }
            RegistryProblem::Duplicate(id) => write!(f, "check {id} is registered twice"),
        }
    }
}

/// Checks every `(id, level)` pair against the given requirements.
pub fn verify_registry<'a>(
    checks: impl IntoIterator<Item = (&'a str, Level)>,
    reqs: &[Requirement],
) -> Vec<RegistryProblem> {
    let by_id: BTreeMap<&str, &Requirement> = reqs.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for (id, level) in checks {
        if !seen.insert(id) {
            problems.push(RegistryProblem::Duplicate(id.to_string()));
        }
        match by_id.get(id) {
            None => problems.push(RegistryProblem::UnknownId(id.to_string())),
            Some(r) if r.level != level => problems.push(RegistryProblem::LevelMismatch {
                id: id.to_string(),
                check: level,
                spec: r.level,
            }),
            Some(_) => {}
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Spec\n## AUTH\n### AUTH-1 (MUST) Token in the CONNECT payload\nThe token is read.\n\nFeature: `bearer-header`\n### AUTH-2 (SHOULD) Bearer header\nText two.\n## Other\nnot part\n### bad heading\n";

    #[test]
    fn headings_and_bodies_are_parsed() {
        let r = parse(SAMPLE);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].id, "AUTH-1");
        assert_eq!(r[0].level, Level::Must);
        assert_eq!(r[0].title, "Token in the CONNECT payload");
        assert!(r[0].text.starts_with("The token is read."));
        assert_eq!(r[0].feature.as_deref(), Some("bearer-header"));
        assert_eq!(r[1].text, "Text two.");
        assert_eq!(r[1].group(), "AUTH");
    }

    #[test]
    fn registry_problems_are_found() {
        let r = parse(SAMPLE);
        let p = verify_registry(
            [
                ("AUTH-1", Level::Must),
                ("AUTH-2", Level::Must),
                ("AUTH-9", Level::Must),
                ("AUTH-1", Level::Must),
            ],
            &r,
        );
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(matches!(p[0], RegistryProblem::LevelMismatch { .. }));
        assert_eq!(p[1], RegistryProblem::UnknownId("AUTH-9".into()));
        assert_eq!(p[2], RegistryProblem::Duplicate("AUTH-1".into()));
    }

    #[test]
    fn embedded_spec_has_requirements() {
        assert!(
            requirements().len() > 20,
            "spec/roomcast-v1.md has too few requirements"
        );
    }
}
