//! Snapshot-checked shapes: the redacted messages of every target are
//! compared against the same golden files, `fixtures/golden/*.snap` (insta).
//! Regenerate after a deliberate change with
//! `INSTA_UPDATE=always cargo test -p conformance --test golden golden_shapes_of_the_reference_server`.

mod common;

use common::{harness, reference_server, require_node_peer, root};
use serde_json::Value;
use std::collections::BTreeMap;

fn shapes_of(spawn: &str) -> BTreeMap<String, Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("shapes.json");
    let f = file.to_string_lossy().into_owned();
    let run = harness(&["--spawn", spawn, "--dump-shapes", &f], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    serde_json::from_str(&std::fs::read_to_string(&file).expect("shapes file"))
        .expect("shapes JSON")
}

fn assert_golden(shapes: BTreeMap<String, Value>) {
    assert!(shapes.len() >= 25, "only {} shapes", shapes.len());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("fixtures/golden"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| {
        for (name, v) in &shapes {
            insta::assert_json_snapshot!(name.as_str(), v);
        }
    });
}

#[test]
fn golden_shapes_of_the_reference_server() {
    let bin = reference_server();
    assert_golden(shapes_of(&bin.to_string_lossy()));
}

#[test]
fn golden_shapes_of_the_node_peer() {
    require_node_peer();
    assert_golden(shapes_of("node fixtures/peers/node/server.js"));
}

#[test]
fn harness_golden_flag_compares_and_catches_a_difference() {
    require_node_peer();
    let ok = harness(
        &[
            "--spawn",
            "node fixtures/peers/node/server.js",
            "--filter",
            "ENV-1",
            "--golden",
            "fixtures/golden",
        ],
        &[],
    );
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert!(
        ok.stderr.contains("golden shapes: all match"),
        "{}",
        ok.stderr
    );
    let bad = harness(
        &[
            "--spawn",
            "node fixtures/peers/node/server.js",
            "--filter",
            "ENV-1",
            "--golden",
            "fixtures/golden",
        ],
        &[("ROOMCAST_FAULT", "extra-envelope-key")],
    );
    assert_eq!(bad.code, Some(1), "{}", bad.stderr);
    assert!(bad.stderr.contains("published_envelope"), "{}", bad.stderr);
}
