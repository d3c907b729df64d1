//! The model-based property test, run through the binary: a correct server
//! passes, a faulty one fails with a shrunk sequence and a seed that replays it.

mod common;

use common::{harness, reference_server, require_node_peer};

fn minimal(stderr: &str) -> String {
    stderr
        .split("minimal failing sequence")
        .nth(1)
        .unwrap_or("")
        .lines()
        .take_while(|l| !l.starts_with("replay"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn model_passes_the_reference_server() {
    let bin = reference_server();
    let cmd = bin.to_string_lossy().into_owned();
    let run = harness(
        &["--spawn", &cmd, "--model-cases", "25", "--seed", "11"],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("model: 25 cases passed (seed 11)"),
        "{}",
        run.stderr
    );
}

#[test]
fn model_shrinks_a_fault_to_a_replayable_sequence() {
    require_node_peer();
    let args = [
        "--spawn",
        "node fixtures/peers/node/server.js",
        "--model-cases",
        "60",
        "--seed",
        "3",
    ];
    let env = [("ROOMCAST_FAULT", "unsubscribe-noop")];
    let first = harness(&args, &env);
    assert_eq!(first.code, Some(1), "{}", first.stderr);
    assert!(
        first.stderr.contains("--seed 3"),
        "no replay seed printed:\n{}",
        first.stderr
    );
    let seq = minimal(&first.stderr);
    assert!(
        seq.contains("Unsubscribe") && seq.contains("Publish"),
        "the minimal sequence does not show the bug:\n{}",
        first.stderr
    );
    // the same seed finds the same minimal sequence
    let again = harness(&args, &env);
    assert_eq!(
        minimal(&again.stderr),
        seq,
        "the seed does not replay the failure"
    );
}
