//! Tidy checks that run under `cargo test` (after rust-analyzer's `xtask/src/tidy.rs`).
//!
//! - every `.rs` file of the workspace crates starts with a `//!` doc comment;
//! - **Architecture Invariant:** `conformance` never depends on `reference-server`;
//! - **Architecture Invariant:** `protocol` does no I/O and has no clock;
//! - **Architecture Invariant:** the sans-io files of the reference server (listed) name
//!   no tokio, hyper or tungstenite and read no clock;
//! - **Architecture Invariant:** the modules of `reference-server/src` import one-way
//!   (no cycle);
//! - ARCHITECTURE.md's code map names every `src` file of every crate;
//! - the reference server writes no literal Engine.IO frame (`"2"`, `"3probe"`, `"6"`);
//! - test-only crates are not runtime dependencies.

use crate::project_root;
use crate::spec_check::rust_files;

/// The workspace crates whose sources tidy checks.
const CRATES: [&str; 5] = [
    "protocol",
    "reference-server",
    "conformance",
    "benches",
    "xtask",
];

/// The first non-blank line is a `//!` doc comment.
fn starts_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with("//!"))
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let root = project_root();
    let files = rust_files(&root, &CRATES).unwrap();
    assert!(
        files.len() >= CRATES.len(),
        "found only {} .rs files under {}",
        files.len(),
        root.display()
    );
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !starts_with_module_doc(&std::fs::read_to_string(f).unwrap()))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "these files do not start with a `//!` doc comment saying what they are for:\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn module_doc_detection() {
    assert!(starts_with_module_doc("//! Doc.\nfn main() {}\n"));
    assert!(starts_with_module_doc("\n\n   //! Indented doc.\n"));
    assert!(!starts_with_module_doc("// plain comment\n//! doc\n"));
    assert!(!starts_with_module_doc(
        "#![forbid(unsafe_code)]\n//! doc\n"
    ));
    assert!(!starts_with_module_doc("/// item doc\nfn f() {}\n"));
    assert!(!starts_with_module_doc(""));
}

/// Dependency names declared in any dependency table of a `Cargo.toml`, read textually:
/// `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]`, their `target.'cfg'.`
/// forms, dotted tables (`[dependencies.foo]`) and renames (`bar = { package = "foo" }`).
fn declared_dependencies(manifest: &str) -> Vec<String> {
    const TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let is_dep_table = |header: &str| {
        TABLES
            .iter()
            .any(|t| header == *t || header.ends_with(&format!(".{t}")))
    };
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
    let mut deps = Vec::new();
    let mut in_deps = false;
    let mut in_dotted_dep = false;
    for raw in manifest.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let header = header.trim();
            in_deps = is_dep_table(header);
            in_dotted_dep = false;
            // [dependencies.foo] / [target.'cfg(unix)'.dev-dependencies.foo]
            if !in_deps {
                for t in TABLES {
                    if let Some((before, name)) = header.rsplit_once(&format!("{t}.")) {
                        if before.is_empty() || before.ends_with('.') {
                            deps.push(unquote(name));
                            in_dotted_dep = true;
                        }
                    }
                }
            }
            continue;
        }
        if !in_deps {
            if !in_dotted_dep {
                continue;
            }
            if let Some(pkg) = line
                .strip_prefix("package")
                .and_then(|l| l.trim_start().strip_prefix('='))
            {
                // `package = "foo"` inside a dotted dependency table
                deps.push(unquote(pkg));
            }
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            // `foo.workspace = true` declares foo
            deps.push(unquote(key.split('.').next().unwrap_or(key)));
            if let Some(pos) = value.find("package") {
                let rest = value[pos + "package".len()..].trim_start();
                if let Some(rest) = rest.strip_prefix('=') {
                    let name: String = rest
                        .trim_start()
                        .trim_start_matches('"')
                        .chars()
                        .take_while(|c| *c != '"')
                        .collect();
                    deps.push(name);
                }
            }
        }
    }
    deps
}

#[test]
fn architecture_invariant_conformance_does_not_depend_on_reference_server() {
    let manifest = std::fs::read_to_string(project_root().join("conformance/Cargo.toml")).unwrap();
    let deps = declared_dependencies(&manifest);
    assert!(
        deps.iter().any(|d| d == "protocol"),
        "parser sanity: conformance depends on protocol: {deps:?}"
    );
    assert!(
        !deps.iter().any(|d| d == "reference-server" || d == "reference_server"),
        "conformance/Cargo.toml depends on reference-server; the harness must start servers as processes: {deps:?}"
    );
}

#[test]
fn dependency_tables_are_read_textually() {
    let manifest = r#"
[package]
name = "conformance"

[dependencies]
protocol.workspace = true
anyhow = "1"

[dev-dependencies]
server = { package = "reference-server", path = "../reference-server" }

[target.'cfg(unix)'.build-dependencies]
cc = "1"

[dependencies.tokio]
version = "1"

[features]
default = []
"#;
    let deps = declared_dependencies(manifest);
    for name in [
        "protocol",
        "anyhow",
        "server",
        "reference-server",
        "cc",
        "tokio",
    ] {
        assert!(
            deps.iter().any(|d| d == name),
            "{name} not found in {deps:?}"
        );
    }
    assert!(
        !deps.iter().any(|d| d == "default" || d == "name"),
        "{deps:?}"
    );
    let dotted = declared_dependencies(
        "[dev-dependencies.rs]\npackage = \"reference-server\"\npath = \"x\"\n",
    );
    assert!(
        dotted.contains(&"reference-server".to_owned()),
        "{dotted:?}"
    );
}

/// Crates that would give `protocol` sockets, a runtime or a clock.
const IO_CRATES: [&str; 8] = [
    "tokio",
    "mio",
    "async-std",
    "hyper",
    "tungstenite",
    "tokio-tungstenite",
    "redis",
    "socket2",
];
/// `file:line: pattern` for every non-comment line of the `.rs` files at `paths` (files,
/// or folders read whole) that contains one of `patterns`; with `skip_tests`, a file's
/// trailing `#[cfg(test)] mod tests` is not read.
fn lines_containing(
    root: &std::path::Path,
    paths: &[&str],
    patterns: &[&str],
    skip_tests: bool,
) -> Vec<String> {
    let mut offenders = Vec::new();
    let mut files = rust_files(root, paths).unwrap();
    files.extend(paths.iter().map(|p| root.join(p)).filter(|p| p.is_file()));
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let code = if skip_tests {
            text.split("#[cfg(test)]\nmod tests").next().unwrap_or("")
        } else {
            &text
        };
        for (i, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(p) = patterns.iter().find(|p| line.contains(*p)) {
                offenders.push(format!(
                    "{}:{}: {p}",
                    f.strip_prefix(root).unwrap_or(&f).display(),
                    i + 1
                ));
            }
        }
    }
    offenders
}

/// Source patterns that read the clock or open sockets.
const IO_PATTERNS: [&str; 7] = [
    "SystemTime::now",
    "Instant::now",
    "now_utc()",
    "now_local()",
    "std::net",
    "TcpStream",
    "UdpSocket",
];

#[test]
fn architecture_invariant_protocol_does_no_io_and_has_no_clock() {
    let root = project_root();
    let manifest = std::fs::read_to_string(root.join("protocol/Cargo.toml")).unwrap();
    // Only [dependencies]: tests may use anything.
    let runtime_section = manifest.split("[dev-dependencies]").next().unwrap_or("");
    let deps = declared_dependencies(runtime_section);
    let bad: Vec<&String> = deps
        .iter()
        .filter(|d| IO_CRATES.contains(&d.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "protocol depends on I/O crates {bad:?}; it is sans-io"
    );

    let offenders = lines_containing(&root, &["protocol/src"], &IO_PATTERNS, false);
    assert!(
        offenders.is_empty(),
        "protocol/src reads the clock or opens sockets (time and bytes are passed in):\n  {}",
        offenders.join("\n  ")
    );
}

/// The sans-io core of the reference server, file by file, and the codec it drives: the
/// state machines, the rules, token checks, limits, the envelope, compliance mode's
/// handlers, settings and metrics. The I/O shell (server, engine, driver, publish,
/// fan-out, body, clock, ...) passes them bytes and the time.
const SANS_IO_SOURCES: [&str; 10] = [
    "protocol/src",
    "reference-server/src/namespace_gate.rs",
    "reference-server/src/timers.rs",
    "reference-server/src/rules.rs",
    "reference-server/src/auth.rs",
    "reference-server/src/limits.rs",
    "reference-server/src/envelope.rs",
    "reference-server/src/compliance.rs",
    "reference-server/src/config.rs",
    "reference-server/src/metrics.rs",
];

/// What a sans-io source never names: a runtime, an HTTP or WebSocket stack, a clock.
const SANS_IO_FORBIDDEN: [&str; 5] = [
    "tokio",
    "hyper",
    "tungstenite",
    "Instant::now",
    "SystemTime::now",
];

#[test]
fn architecture_invariant_the_sans_io_core_names_no_runtime_and_reads_no_clock() {
    let root = project_root();
    let missing: Vec<&&str> = SANS_IO_SOURCES
        .iter()
        .filter(|p| !root.join(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "SANS_IO_SOURCES names files that do not exist (renamed? update the list): {missing:?}"
    );
    let offenders = lines_containing(&root, &SANS_IO_SOURCES, &SANS_IO_FORBIDDEN, true);
    assert!(
        offenders.is_empty(),
        "the sans-io core names tokio/hyper/tungstenite or reads a clock (time is passed \
         in; the I/O shell does the rest):\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn sans_io_check_sees_a_runtime_and_a_clock_read() {
    let dir = std::env::temp_dir().join(format!("roomcast-tidy-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let file = dir.join("src/timers.rs");
    std::fs::write(
        &file,
        "//! Doc.\n// tokio in a comment is fine\nuse tokio::time::sleep;\n\
         fn f() { let _ = std::time::Instant::now(); }\n\
         #[cfg(test)]\nmod tests {\n    fn t() { std::time::Instant::now(); }\n}\n",
    )
    .unwrap();
    let found = lines_containing(&dir, &["src/timers.rs"], &SANS_IO_FORBIDDEN, true);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        found,
        ["src/timers.rs:3: tokio", "src/timers.rs:4: Instant::now"],
        "{found:?}"
    );
}

#[test]
fn protocol_manifest_check_sees_runtime_dependencies() {
    let deps = declared_dependencies(
        "[dependencies]\ntokio.workspace = true\n[dev-dependencies]\nproptest = \"1\"\n",
    );
    assert_eq!(deps, ["tokio", "proptest"]);
    let runtime = declared_dependencies("[dependencies]\ntokio.workspace = true\n");
    assert!(
        runtime.iter().any(|d| IO_CRATES.contains(&d.as_str())),
        "{runtime:?}"
    );
}

/// The top-level module a file of `reference-server/src` defines (`hub.rs` → `hub`,
/// `x/mod.rs` and `x/y.rs` → `x`); `None` for the crate roots.
fn module_of(rel: &std::path::Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_string_lossy();
    let name = first.strip_suffix(".rs").unwrap_or(&first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// The modules a source text names through `crate::x` (also `use crate::{x, y::z}`),
/// up to its `#[cfg(test)]` unit tests, which are not part of the layering.
fn crate_references(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let code: String = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        let prev = code[..i].chars().next_back();
        if prev.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `reference_server::crate::` never occurs; `my_crate::` is not ours
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::{c, d}}`: the names at depth 0 of the group.
            let mut depth = 0usize;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        out.insert(ident(&group[j..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty() && m != "self");
    out
}

/// Every cycle (as `a -> b -> a`) found by a depth-first walk of `graph`.
fn import_cycles(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Vec<String> {
    fn walk(
        node: &str,
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = stack.iter().position(|m| m == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            cycles.push(cycle.join(" -> "));
            return;
        }
        if done.contains(node) {
            return;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            walk(next, graph, stack, done, cycles);
        }
        stack.pop();
        done.insert(node.to_string());
    }
    let mut cycles = Vec::new();
    let mut done = std::collections::BTreeSet::new();
    for node in graph.keys() {
        walk(node, graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    cycles
}

#[test]
fn architecture_invariant_reference_server_modules_have_no_import_cycle() {
    let root = project_root();
    let src = root.join("reference-server/src");
    let mut graph = std::collections::BTreeMap::<String, std::collections::BTreeSet<String>>::new();
    for f in rust_files(&root, &["reference-server/src"]).unwrap() {
        let Some(module) = module_of(f.strip_prefix(&src).unwrap()) else {
            continue;
        };
        let text = std::fs::read_to_string(&f).unwrap();
        let refs = crate_references(&text);
        let entry = graph.entry(module.clone()).or_default();
        entry.extend(refs.into_iter().filter(|m| *m != module));
    }
    assert!(graph.len() > 5, "read only {graph:?}");
    let cycles = import_cycles(&graph);
    assert!(
        cycles.is_empty(),
        "import cycles between reference-server/src modules (layers must be one-way):\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn import_cycle_check_sees_grouped_uses_and_cycles() {
    let refs = crate_references(
        "//! Doc.\nuse crate::{a, b::{C, D}};\n// crate::commented\nfn f() { crate::c::g(); }\n\
         #[cfg(test)]\nmod tests { use crate::z; }\n",
    );
    assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    let graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .iter()
        .map(|(x, y)| (x.to_string(), [y.to_string()].into()))
        .collect();
    assert_eq!(import_cycles(&graph), ["a -> b -> c -> a"]);
    let ok = [("a", "b"), ("b", "c")]
        .iter()
        .map(|(x, y)| (x.to_string(), [y.to_string()].into()))
        .collect();
    assert!(import_cycles(&ok).is_empty());
}

/// The text of ARCHITECTURE.md's `### \`name\`` section (up to the next heading of that
/// level or above).
fn architecture_section<'a>(doc: &'a str, name: &str) -> Option<&'a str> {
    let start = doc.find(&format!("### `{name}`"))?;
    let rest = &doc[start..];
    let body_start = rest.find('\n').map_or(rest.len(), |i| i + 1);
    let end = [
        rest[body_start..].find("\n### "),
        rest[body_start..].find("\n## "),
    ]
    .into_iter()
    .flatten()
    .min()
    .map_or(rest.len(), |i| body_start + i);
    Some(&rest[..end])
}

#[test]
fn architecture_code_map_names_every_src_file() {
    let root = project_root();
    let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for krate in CRATES {
        let Some(section) = architecture_section(&doc, krate) else {
            missing.push(format!("the section \"### `{krate}`\""));
            continue;
        };
        let src = root.join(krate).join("src");
        for f in rust_files(&root, &[&format!("{krate}/src")]).unwrap() {
            let rel = f
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if !section.contains(&rel) {
                missing.push(format!("{krate}/src/{rel}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map (the crate's `### \\`crate\\`` section, by its path \
         under src/) does not name:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn architecture_section_stops_at_the_next_heading() {
    let doc = "## Code map\n### `a`\nx.rs\n## Other\n### `b`\ny.rs\n";
    assert_eq!(architecture_section(doc, "a"), Some("### `a`\nx.rs"));
    assert_eq!(architecture_section(doc, "b"), Some("### `b`\ny.rs\n"));
    assert_eq!(architecture_section(doc, "c"), None);
}

/// Crates that only tests use, per workspace crate: they belong in `[dev-dependencies]`.
/// (`time` is a runtime dependency of `conformance`, whose expectations parse RFC 3339;
/// it is test-only in `protocol`, which has no clock.)
const TEST_ONLY_CRATES: [(&str, &[&str]); 5] = [
    ("protocol", &["insta", "proptest", "time"]),
    ("reference-server", &["insta", "proptest"]),
    ("conformance", &["insta"]),
    ("benches", &["insta"]),
    ("xtask", &["insta"]),
];

#[test]
fn test_only_crates_are_not_runtime_dependencies() {
    let root = project_root();
    let mut bad = Vec::new();
    for (krate, test_only) in TEST_ONLY_CRATES {
        let manifest = std::fs::read_to_string(root.join(krate).join("Cargo.toml")).unwrap();
        // The tables before [dev-dependencies]: [dependencies] (and [features] etc.).
        let runtime = manifest.split("[dev-dependencies]").next().unwrap_or("");
        for dep in declared_dependencies(runtime) {
            if test_only.contains(&dep.as_str()) {
                bad.push(format!("{krate}: {dep}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "test-only crates declared as runtime dependencies (move them to \
         [dev-dependencies]):\n  {}",
        bad.join("\n  ")
    );
}

/// String literals that are whole Engine.IO frames (or a frame's type prefix): the server
/// writes those through `protocol::engineio::Packet`'s encoders instead.
const LITERAL_ENGINE_FRAMES: [&str; 9] = [
    "\"1\"",
    "\"2\"",
    "\"3\"",
    "\"5\"",
    "\"6\"",
    "\"2probe\"",
    "\"3probe\"",
    "format!(\"4",
    "push('4')",
];

#[test]
fn reference_server_writes_engine_io_frames_through_protocol() {
    let root = project_root();
    let offenders = lines_containing(
        &root,
        &["reference-server/src"],
        &LITERAL_ENGINE_FRAMES,
        true,
    );
    assert!(
        offenders.is_empty(),
        "literal Engine.IO frames in reference-server/src (use protocol::engineio::Packet):\n  {}",
        offenders.join("\n  ")
    );
}
