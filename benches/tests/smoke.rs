//! End-to-end smoke tests of `roomcast-bench`: tiny scenarios (a few clients, about a
//! second) against an in-process reference server (`--target`) and a spawned floor
//! server (`--spawn`), and against deliberately broken floors to show that lost,
//! duplicated and reordered deliveries are counted. Nothing here asserts speed.

use std::net::SocketAddr;
use std::process::Command;

use benches::report::Figures;
use reference_server::{Config, Server};

const SECRET: &str = "bench-smoke-secret";

fn bench(args: &[&str], env: &[(&str, &str)]) -> Vec<Vec<Figures>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roomcast-bench"));
    cmd.args(args).args([
        "--jwt-secret",
        SECRET,
        "--json",
        "--quiet",
        "--duration",
        "1",
    ]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("roomcast-bench runs");
    assert!(
        out.status.success(),
        "roomcast-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "roomcast-bench printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn clean_fanout(f: &Figures) {
    assert_eq!(f.connect_failures, 0, "{f:?}");
    assert!(f.accepted > 0 && f.deliveries > 0, "{f:?}");
    assert_eq!((f.lost, f.duplicated, f.reordered), (0, 0, 0), "{f:?}");
    assert!(f.latency_ms.is_some(), "{f:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_measures_a_running_reference_server_through_target() {
    let server = Server::bind(Config::with_secret(SECRET.as_bytes()))
        .await
        .expect("reference server binds");
    let addr: SocketAddr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = rx.await;
    }));
    let target = format!("http://{addr}");
    let pid = std::process::id().to_string();
    let runs = tokio::task::spawn_blocking(move || {
        bench(
            &[
                "--target",
                &target,
                "--server-pid",
                &pid,
                "--scenarios",
                "fanout-1x5-max,fanout-2x3-r40,idle-5,handshake-6",
            ],
            &[],
        )
    })
    .await
    .unwrap();
    let _ = tx.send(());
    let _ = task.await;
    assert_eq!(runs.len(), 1);
    let figs = &runs[0];
    assert_eq!(figs.len(), 4, "{figs:?}");
    clean_fanout(&figs[0]);
    clean_fanout(&figs[1]);
    assert!(
        figs[0].server_cpu_us_per_delivery.is_some(),
        "{:?}",
        figs[0]
    );
    assert_eq!(figs[2].connect_failures, 0, "{:?}", figs[2]);
    assert!(figs[2].rss_per_conn_kb.is_some(), "{:?}", figs[2]);
    assert_eq!(figs[3].connect_failures, 0, "{:?}", figs[3]);
    assert_eq!(
        figs[3].handshake_ms.map(|l| l.count),
        Some(6),
        "{:?}",
        figs[3]
    );
}

#[test]
fn bench_spawns_a_server_and_compares_side_by_side() {
    let floor = env!("CARGO_BIN_EXE_roomcast-floor");
    let runs = bench(
        &[
            "--spawn",
            floor,
            "--spawn",
            floor,
            "--label",
            "a",
            "--label",
            "b",
            "--scenarios",
            "fanout-2x4-max",
        ],
        &[],
    );
    assert_eq!(runs.len(), 2);
    for run in &runs {
        clean_fanout(&run[0]);
    }
    assert_eq!(
        (runs[0][0].server.as_str(), runs[1][0].server.as_str()),
        ("a", "b")
    );
}

#[test]
fn bench_counts_what_a_broken_server_loses_duplicates_and_reorders() {
    let floor = env!("CARGO_BIN_EXE_roomcast-floor");
    for (fault, what) in [
        ("drop", "lost"),
        ("duplicate", "duplicated"),
        ("reorder", "reordered"),
    ] {
        let runs = bench(
            &["--spawn", floor, "--scenarios", "fanout-1x3-r200"],
            &[("ROOMCAST_FLOOR_FAULT", fault)],
        );
        let f = &runs[0][0];
        let n = match what {
            "lost" => f.lost,
            "duplicated" => f.duplicated,
            _ => f.reordered,
        };
        assert!(
            n > 0,
            "fault {fault}: expected {what} deliveries, got {f:?}"
        );
    }
}
