//! The model-based property test, run through the binary: a correct server
//! passes (token expiry included), a faulty one fails with a shrunk sequence
//! and a seed that replays it.

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
    // ROOMCAST_MODEL_DEBUG prints every case: the passing run must have
    // exercised a token expiry, not only the cheaper transitions
    let run = harness(
        &["--spawn", &cmd, "--model-cases", "25", "--seed", "11"],
        &[("ROOMCAST_MODEL_DEBUG", "1")],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("model: 25 cases passed (seed 11)"),
        "{}",
        run.stderr
    );
    let expiries = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("case: ") && l.contains("ConnectShortLived"))
        .filter(|l| l.contains(", Expire,") || l.ends_with(", Expire]"))
        .count();
    assert!(
        expiries > 0,
        "no case of the passing run expired a token:\n{}",
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

#[test]
fn model_catches_a_socket_whose_token_never_expires() {
    require_node_peer();
    let args = [
        "--spawn",
        "node fixtures/peers/node/server.js",
        "--model-cases",
        "60",
        "--seed",
        "3",
    ];
    let run = harness(&args, &[("ROOMCAST_FAULT", "no-expiry-disconnect")]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("--seed 3"),
        "no replay seed printed:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no system:error TOKEN_EXPIRED"),
        "the failure is not the missing expiry:\n{}",
        run.stderr
    );
    let seq = minimal(&run.stderr);
    let steps: Vec<&str> = seq.lines().skip(1).map(str::trim).collect();
    assert!(
        steps
            .first()
            .is_some_and(|s| s.starts_with("ConnectShortLived"))
            && steps.last() == Some(&"Expire"),
        "the minimal sequence does not show the bug:\n{}",
        run.stderr
    );
}
