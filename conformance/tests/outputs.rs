//! The machine-readable outputs, read by real consumers: JUnit XML by an XML
//! parser, JSON by serde_json, the HTML report by headless Chromium.

mod common;

use common::{harness, require_node_peer, NODE_FEATURES};
use std::process::Command;

/// A run with failures in it: the Node peer with upper-case eventIds, ENV group.
fn failing_run(format: &str, extra: &[&str]) -> common::Run {
    require_node_peer();
    let mut args = vec![
        "--spawn",
        "node fixtures/peers/node/server.js",
        "--features",
        NODE_FEATURES,
        "--filter",
        "ENV",
        "--format",
        format,
    ];
    args.extend_from_slice(extra);
    harness(&args, &[("ROOMCAST_FAULT", "uppercase-eventid")])
}

#[test]
fn junit_output_is_valid_xml_with_one_suite_per_group() {
    let run = failing_run("junit", &[]);
    assert_eq!(
        run.code,
        Some(1),
        "a run with FAILs exits 1\n{}",
        run.stderr
    );
    let doc = roxmltree::Document::parse(&run.stdout)
        .unwrap_or_else(|e| panic!("JUnit does not parse: {e}\n{}", run.stdout));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1, "only the ENV group ran");
    let env = suites[0];
    assert_eq!(env.attribute("name"), Some("ENV"));
    let cases: Vec<_> = env
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 17);
    assert_eq!(env.attribute("tests"), Some("17"));
    assert!(cases
        .iter()
        .all(|c| c.attribute("name").is_some_and(|n| n.starts_with("ENV-"))));
    let env3 = cases
        .iter()
        .find(|c| c.attribute("name").is_some_and(|n| n.starts_with("ENV-3 ")))
        .expect("ENV-3 testcase");
    let failure = env3
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("ENV-3 has a <failure>");
    assert!(failure.attribute("message").is_some_and(|m| !m.is_empty()));
    let body = failure.text().unwrap_or("");
    assert!(
        body.contains("requirement:") && body.contains("transcript:"),
        "failure body: {body}"
    );
    let failures = env
        .attribute("failures")
        .and_then(|f| f.parse::<usize>().ok())
        .unwrap_or(0);
    assert_eq!(
        failures,
        cases
            .iter()
            .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
            .count()
    );
}

#[test]
fn json_output_carries_verdicts_requirements_and_transcripts() {
    let run = failing_run("json", &[]);
    let v = run.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["summary"]["total"], 17);
    let results = v["results"].as_array().expect("results");
    let env3 = results
        .iter()
        .find(|r| r["id"] == "ENV-3")
        .expect("ENV-3 result");
    assert_eq!(env3["verdict"], "FAIL");
    assert_eq!(env3["level"], "MUST");
    assert!(env3["requirement"]
        .as_str()
        .is_some_and(|t| t.contains("UUID")));
    assert!(env3["transcript"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(env3["transcript"][0]["ms"].is_u64());
    let passes = results.iter().filter(|r| r["verdict"] == "PASS").count() as u64;
    assert_eq!(v["summary"]["pass"].as_u64(), Some(passes));
}

#[test]
fn html_report_renders_the_matrix_in_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let html = dir.path().join("report.html");
    let html_s = html.to_string_lossy().into_owned();
    let run = failing_run("human", &["--report", &html_s]);
    assert!(html.exists(), "no report written\n{}", run.stderr);
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().map(|o| o.status.success()).unwrap_or(false))
        .expect("headless Chromium is not installed (chromium, chromium-browser or google-chrome on PATH)");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--dump-dom",
        ])
        .arg(format!("file://{html_s}"))
        .output()
        .expect("chromium could not be started");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("id=\"matrix\""),
        "no matrix in the DOM:\n{dom}"
    );
    assert!(
        dom.contains("id=\"req-ENV-3\" data-verdict=\"FAIL\""),
        "ENV-3 is not shown as FAIL"
    );
    assert!(
        dom.contains("id=\"req-ENV-1\" data-verdict=\"PASS\""),
        "ENV-1 is not shown as PASS"
    );
    assert!(
        dom.contains("id=\"req-FAN-1\" data-verdict=\"NOTCHECKED\""),
        "unchecked requirements are not listed"
    );
    // the counts are computed by the page's script from the matrix rows: only a
    // browser that ran it shows numbers there
    let fails = dom.matches("data-verdict=\"FAIL\"><td>").count();
    assert!(fails > 0);
    let cell = format!("id=\"count-FAIL\" data-verdict=\"FAIL\">{fails}</td>");
    assert!(
        dom.contains(&cell),
        "the FAIL count cell does not show {fails}:\n{}",
        dom.lines().find(|l| l.contains("count-FAIL")).unwrap_or("")
    );
    assert!(dom.contains("NOT CONFORMANT"));
}

#[test]
fn expected_failures_gate_xfail_and_stale() {
    require_node_peer();
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("known.txt");
    std::fs::write(&list, "# known gap\nPUB-1  # answers 200\n").expect("write");
    let l = list.to_string_lossy().into_owned();
    let args = [
        "--spawn",
        "node fixtures/peers/node/server.js",
        "--filter",
        "PUB-1",
        "--format",
        "json",
        "--expected-failures",
        &l,
    ];
    let known = harness(&args, &[("ROOMCAST_FAULT", "publish-200")]);
    assert_eq!(known.with_verdict("XFAIL").len(), 1, "{}", known.stdout);
    assert_eq!(
        known.code,
        Some(0),
        "a listed failure does not fail the run\n{}",
        known.stderr
    );
    let fixed = harness(&args, &[]);
    assert_eq!(fixed.with_verdict("STALE").len(), 1, "{}", fixed.stdout);
    assert_eq!(fixed.code, Some(1), "a stale entry fails the run");
}

#[test]
fn config_file_holds_the_options() {
    require_node_peer();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("roomcast.toml");
    std::fs::write(
        &cfg,
        "spawn = \"node fixtures/peers/node/server.js\"\nfeatures = [\"refresh\"]\nfilters = [\"LIFE-3\", \"ENV-16\"]\nformat = \"json\"\ntimeout-ms = 3000\n",
    )
    .expect("write");
    let run = harness(&["--config", &cfg.to_string_lossy()], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let v = run.json();
    assert_eq!(v["summary"]["total"], 2);
    assert_eq!(v["summary"]["pass"], 2, "{}", run.stdout);
}

#[test]
fn a_filter_that_selects_no_check_is_a_usage_error() {
    // No target is needed: the empty selection is refused before anything starts.
    let run = harness(
        &["--target", "ws://127.0.0.1:9", "--filter", "NO-SUCH-CHECK"],
        &[],
    );
    assert_eq!(run.code, Some(2), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("selects no check"),
        "stderr: {}",
        run.stderr
    );
    assert!(!run.stdout.contains("CONFORMANT"), "stdout: {}", run.stdout);
}

/// A driver that exits before its `ready` event: WIRE-15 and WIRE-17 are
/// ERRORs (the harness's setup), never FAILs of the implementation.
#[test]
fn a_missing_driver_is_an_error_in_every_format_and_fails_the_run() {
    require_node_peer();
    let dir = tempfile::tempdir().expect("tempdir");
    let driver = dir.path().join("driver.js");
    std::fs::write(
        &driver,
        "throw new Error('Cannot find module socket.io-client');\n",
    )
    .expect("write");
    let d = driver.to_string_lossy().into_owned();
    let html = dir.path().join("report.html");
    let h = html.to_string_lossy().into_owned();
    let args = |format: &'static str| {
        vec![
            "--spawn",
            "node fixtures/peers/node/server.js",
            "--features",
            "polling",
            "--filter",
            "WIRE-15",
            "--filter",
            "WIRE-17",
            "--filter",
            "WIRE-1",
            "--node-driver",
            &d,
            "--format",
            format,
            "--report",
            &h,
        ]
    };
    let run = harness(&args("json"), &[]);
    assert_eq!(run.code, Some(3), "ERRORs alone exit 3\n{}", run.stderr);
    let v = run.json();
    assert_eq!(v["summary"]["error"], 2, "{}", run.stdout);
    assert_eq!(v["summary"]["fail"], 0, "{}", run.stdout);
    assert_eq!(v["summary"]["pass"], 1, "{}", run.stdout);
    assert_eq!(v["verdict"], "INCOMPLETE");
    assert_eq!(v["ok"], false);
    let errors = run.with_verdict("ERROR");
    assert!(
        errors
            .iter()
            .all(|(_, _, m)| m.contains("Cannot find module") && m.contains("npm ci")),
        "an ERROR says what is missing and how to fix it: {errors:?}"
    );
    assert!(v["verdict_line"]
        .as_str()
        .is_some_and(|l| l.starts_with("INCOMPLETE: 1 of ")));
    let page = std::fs::read_to_string(&html).expect("the HTML report");
    assert!(page.contains("id=\"req-WIRE-15\" data-verdict=\"ERROR\""));
    assert!(
        page.contains("id=\"failures\""),
        "failures and errors are listed first"
    );

    let run = harness(&args("junit"), &[]);
    let doc = roxmltree::Document::parse(&run.stdout).expect("JUnit parses");
    assert_eq!(doc.root_element().attribute("errors"), Some("2"));
    assert_eq!(doc.root_element().attribute("failures"), Some("0"));
    let errs = doc
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .count();
    assert_eq!(errs, 2, "{}", run.stdout);

    let mut allowed = args("human");
    allowed.push("--allow-errors");
    let run = harness(&allowed, &[]);
    assert_eq!(run.code, Some(0), "--allow-errors\n{}", run.stderr);
    assert!(run.stdout.contains("INCOMPLETE: 1 of "), "{}", run.stdout);
    assert!(run.stdout.contains("2 ERRORS"), "{}", run.stdout);
}
