//! `--redis` provisioning of the FAULT group where no Docker engine is
//! reachable (this repository's CI and development machines): `--redis docker`
//! SKIPs every scenario with the reason and the fix, never FAILs, and the
//! run exits 0.

mod common;

use common::{harness, reference_server, Run};

/// The FAULT checks matching `filter` with `--redis docker` against a
/// 2-instance reference cluster, with `DOCKER_HOST` set to `docker_host`.
fn docker_run(filter: &str, docker_host: &str) -> Run {
    let bin = reference_server();
    let cmd = bin.to_string_lossy().into_owned();
    harness(
        &[
            "--spawn",
            cmd.as_str(),
            "--instances",
            "2",
            "--features",
            "redis",
            "--redis",
            "docker",
            "--filter",
            filter,
            "--format",
            "json",
        ],
        &[("DOCKER_HOST", docker_host)],
    )
}

#[test]
fn fault_group_with_redis_docker_and_no_engine_skips_with_the_fix() {
    // an engine that is not there, whatever this machine has
    let run = docker_run("FAULT", "unix:///nonexistent/roomcast/docker.sock");
    let skips = run.with_verdict("SKIP");
    let ids: Vec<&str> = skips.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["FAULT-1", "FAULT-2", "FAULT-3", "FAULT-4", "FAULT-5", "FAULT-6"],
        "every FAULT scenario SKIPs\n{}",
        run.stdout
    );
    for (id, _, message) in &skips {
        assert!(
            message.contains("--redis docker") && message.contains("--redis process"),
            "{id}'s SKIP names the cause and the fix: {message}"
        );
    }
    assert!(run.with_verdict("FAIL").is_empty(), "{}", run.stdout);
    assert!(run.with_verdict("ERROR").is_empty(), "{}", run.stdout);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// Built with the `docker` feature, against an engine address where none
/// answers: the scenarios are ERRORs (the harness's own setup failed) naming
/// the engine and `--redis process`, never FAILs.
#[cfg(feature = "docker")]
#[test]
fn fault_group_with_an_engine_that_does_not_answer_is_an_error() {
    let run = docker_run("FAULT-4", "tcp://127.0.0.1:1");
    let errors = run.with_verdict("ERROR");
    assert_eq!(errors.len(), 1, "{}", run.stdout);
    assert!(
        errors[0].2.contains("Docker engine") && errors[0].2.contains("--redis process"),
        "{}",
        errors[0].2
    );
    assert!(run.with_verdict("FAIL").is_empty(), "{}", run.stdout);
    assert_eq!(run.code, Some(3), "ERRORs alone exit 3\n{}", run.stderr);
}
