//! FAN, PUB-24 and OPS-2 over real `redis-server` processes on free ports: several
//! in-process instances share one Redis; faults are staged on the real process
//! (`CLIENT KILL`, SIGSTOP/SIGCONT, SIGKILL and a restart with AOF, start with Redis
//! down). Every event answered 202 must reach every socket exactly once, in the order
//! the 202s were given.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use reference_server::config::RedisConfig;
use serde_json::json;

use crate::common::*;

/// A `redis-server` on a free port, with AOF in a temporary directory; killed on drop.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Redis {
    /// Starts redis-server on a free port.
    fn start() -> Redis {
        let mut r = Redis::reserve();
        r.up();
        r
    }

    /// A port and directory, no process yet (start-up with Redis down).
    fn reserve() -> Redis {
        Redis {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on its port with AOF on (`appendfsync always`: an
    /// acknowledged append is on disk) and waits until it answers.
    fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok()
                    && s.read(&mut buf).is_ok_and(|n| n > 0)
                    && buf.starts_with(b"+PONG")
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        panic!("redis-server did not answer on {}", self.port);
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let ok = Command::new("kill")
                .args([&format!("-{sig}"), &c.id().to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill -{sig}");
        }
    }

    /// SIGKILL and reap (an outage, not a shutdown).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs one command on a fresh connection.
    async fn cmd(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query_async(&mut conn).await.unwrap()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.signal("CONT");
        self.kill();
    }
}

/// `n` instances on `url`.
async fn cluster(url: &str, n: usize) -> Vec<TestServer> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut c = config();
        c.redis = Some(RedisConfig::new(url));
        c.shutdown_grace = Duration::from_secs(1);
        out.push(TestServer::start(c).await);
    }
    out
}

/// Polls `path` until it answers `status`; panics after `within`.
async fn wait_status(addr: SocketAddr, path: &str, status: u16, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let got = get(addr, path).await.status;
        if got == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} of {addr} answered {got}, expected {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn all_ready(servers: &[TestServer]) {
    for s in servers {
        wait_status(s.addr, "/readyz", 200, Duration::from_secs(15)).await;
    }
}

/// One socket per instance, all in `org:{org}`.
async fn members(servers: &[TestServer], org: &str) -> Vec<Sock> {
    let mut socks = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        socks.push(connect(s.addr, &client_token(&format!("u{i}"), org)).await);
    }
    socks
}

/// Publishes `n` events of type `test:seq` one after the other, round-robin over
/// `addrs`, every `pause`; returns the eventIds answered 202, in answer order, and
/// every eventId refused (503).
async fn publish_series(
    addrs: Vec<SocketAddr>,
    room: String,
    n: usize,
    pause: Duration,
) -> (Vec<String>, usize) {
    let token = service_token(None);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for i in 0..n {
        let addr = addrs[i % addrs.len()];
        let r = publish(
            addr,
            &token,
            &json!({"room": room, "type": "test:seq", "payload": i}),
        )
        .await;
        match r.status {
            202 => accepted.push(r.json()["eventId"].as_str().unwrap().to_owned()),
            503 => {
                assert_eq!(r.json()["error"]["code"], "UNAVAILABLE", "{}", r.body);
                refused += 1;
            }
            other => panic!("publish answered {other}: {}", r.body),
        }
        tokio::time::sleep(pause).await;
    }
    (accepted, refused)
}

/// Reads `test:seq` eventIds until `quiet` passes without one.
async fn drain(sock: &mut Sock, quiet: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    loop {
        match sock.ws.next_msg(quiet).await {
            Got::Text(t) => {
                if let Some((name, args)) = parse_event(&t) {
                    if name == "test:seq" {
                        ids.push(args[0]["eventId"].as_str().unwrap().to_owned());
                    }
                }
            }
            Got::Timeout => return ids,
            other => panic!("socket lost: {other:?}"),
        }
    }
}

/// Every accepted event arrived exactly once, in the order of the 202s; nothing
/// arrived twice, and nothing answered 503 arrived at all (PUB-24: an append whose
/// answer was lost is settled before the publish is answered).
fn assert_exactly_once_in_order(who: &str, got: &[String], accepted: &[String]) {
    let mut seen = std::collections::HashSet::new();
    for id in got {
        assert!(seen.insert(id), "{who}: {id} arrived twice");
    }
    let acc: std::collections::HashSet<&String> = accepted.iter().collect();
    let refused: Vec<&String> = got.iter().filter(|id| !acc.contains(id)).collect();
    assert!(
        refused.is_empty(),
        "{who}: events that were not answered 202 arrived: {refused:?}"
    );
    let delivered_accepted: Vec<&String> = got.iter().filter(|id| acc.contains(id)).collect();
    let missing: Vec<&String> = accepted.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{who}: {} of {} accepted events never arrived: {missing:?}",
        missing.len(),
        accepted.len()
    );
    assert_eq!(
        delivered_accepted,
        accepted.iter().collect::<Vec<_>>(),
        "{who}: order differs from the order of the 202s"
    );
}

async fn check_all(socks: &mut [Sock], accepted: &[String]) {
    for (i, s) in socks.iter_mut().enumerate() {
        let got = drain(s, Duration::from_millis(1500)).await;
        assert_exactly_once_in_order(&format!("socket on instance {i}"), &got, accepted);
    }
}

/// Runs a fault in the middle of a publish series over all instances.
async fn series_across<F, Fut>(
    servers: &[TestServer],
    socks: &mut [Sock],
    org: &str,
    fault: F,
) -> usize
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let addrs: Vec<SocketAddr> = servers.iter().map(|s| s.addr).collect();
    let series = tokio::spawn(publish_series(
        addrs,
        format!("org:{org}"),
        60,
        Duration::from_millis(40),
    ));
    tokio::time::sleep(Duration::from_millis(800)).await;
    fault().await;
    let (accepted, refused) = series.await.unwrap();
    all_ready(servers).await;
    // and one more after recovery, through every instance
    let mut accepted = accepted;
    for s in servers {
        let b = publish_ok(s.addr, &format!("org:{org}"), "test:seq", json!("after")).await;
        accepted.push(b["eventId"].as_str().unwrap().to_owned());
    }
    assert!(
        accepted.len() > 10,
        "too few events accepted: {}",
        accepted.len()
    );
    check_all(socks, &accepted).await;
    refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_2_exactly_once_in_one_order_across_three_instances() {
    let redis = Redis::start();
    let servers = cluster(&redis.url(), 3).await;
    all_ready(&servers).await;
    let mut socks = members(&servers, "fan2").await;
    let addrs = servers.iter().map(|s| s.addr).collect();
    let (accepted, refused) = publish_series(addrs, "org:fan2".into(), 30, Duration::ZERO).await;
    assert_eq!(refused, 0);
    check_all(&mut socks, &accepted).await;
    // FAN-2 on the publishing instance too: its own sockets got one copy (above); the
    // delivered counter agrees: 30 events × 1 socket on each instance
    for s in &servers {
        assert_eq!(s.metrics.events_delivered.load(Relaxed), 30);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_10_client_kill_normal_and_pubsub_lose_no_accepted_event() {
    let redis = Redis::start();
    let servers = cluster(&redis.url(), 2).await;
    all_ready(&servers).await;
    let mut socks = members(&servers, "kill").await;
    series_across(&servers, &mut socks, "kill", || async {
        redis.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
        redis.cmd(&["CLIENT", "KILL", "TYPE", "normal"]).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.cmd(&["CLIENT", "KILL", "TYPE", "normal"]).await;
    })
    .await;
    let reconnects: u64 = servers
        .iter()
        .map(|s| s.metrics.redis_reconnects.load(Relaxed))
        .sum();
    assert!(reconnects >= 2, "reconnects counted: {reconnects}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_24_redis_paused_answers_503_and_loses_no_accepted_event() {
    let redis = Redis::start();
    let servers = cluster(&redis.url(), 2).await;
    all_ready(&servers).await;
    let mut socks = members(&servers, "pause").await;
    series_across(&servers, &mut socks, "pause", || async {
        redis.signal("STOP");
        // a paused Redis keeps its TCP connections open: readiness must still turn
        // red (the delivery probe stops coming back)
        for s in &servers {
            wait_status(s.addr, "/readyz", 503, Duration::from_secs(10)).await;
            wait_status(s.addr, "/healthz", 200, Duration::from_secs(1)).await;
        }
        let r = publish(
            servers[0].addr,
            &service_token(None),
            &json!({"room": "org:pause", "type": "test:down", "payload": 1}),
        )
        .await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert_eq!(r.json()["error"]["code"], "UNAVAILABLE");
        redis.signal("CONT");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_10_redis_killed_and_restarted_with_aof_loses_no_accepted_event() {
    let mut redis = Redis::start();
    let servers = cluster(&redis.url(), 2).await;
    all_ready(&servers).await;
    let mut socks = members(&servers, "aof").await;
    let redis_ref = &mut redis;
    series_across(&servers, &mut socks, "aof", || async move {
        redis_ref.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        redis_ref.up();
    })
    .await;
    for s in &servers {
        assert_eq!(s.metrics.redis_resets.load(Relaxed), 0, "AOF kept the log");
        assert_eq!(s.metrics.redis_gap_events.load(Relaxed), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_2_start_with_redis_down_not_ready_then_ready_when_it_arrives() {
    let mut redis = Redis::reserve();
    let servers = cluster(&redis.url(), 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for s in &servers {
        assert_eq!(get(s.addr, "/healthz").await.status, 200);
        assert_eq!(get(s.addr, "/readyz").await.status, 503);
        let r = publish(
            s.addr,
            &service_token(None),
            &json!({"room": "org:late", "type": "test:seq", "payload": 0}),
        )
        .await;
        assert_eq!(r.status, 503, "{}", r.body);
        let m = get(s.addr, "/metrics").await.body;
        assert!(m.contains("roomcast_redis_up 0"), "{m}");
    }
    let mut socks = members(&servers, "late").await;
    redis.up();
    all_ready(&servers).await;
    let mut accepted = Vec::new();
    for s in &servers {
        let b = publish_ok(s.addr, "org:late", "test:seq", json!(1)).await;
        accepted.push(b["eventId"].as_str().unwrap().to_owned());
    }
    check_all(&mut socks, &accepted).await;
    let m = get(servers[0].addr, "/metrics").await.body;
    assert!(m.contains("roomcast_redis_up 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_10_a_gap_in_the_log_is_counted_and_a_lost_log_is_a_reset() {
    let mut redis = Redis::start();
    let servers = cluster(&redis.url(), 1).await;
    all_ready(&servers).await;
    let m = &servers[0].metrics;
    // an entry 51 ahead (50 never seen): what a reader sees when MAXLEN
    // trimmed entries before it read them
    let seq = match redis.cmd(&["INCRBY", "{roomcast}:seq", "51"]).await {
        redis::Value::Int(n) => n.to_string(),
        other => panic!("INCRBY answered {other:?}"),
    };
    redis
        .cmd(&[
            "XADD",
            "{roomcast}:events",
            "*",
            "s",
            &seq,
            "k",
            "p",
            "a",
            "x",
            "b",
            "",
        ])
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while m.redis_gaps.load(Relaxed) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "gap not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(m.redis_gap_events.load(Relaxed), 50);
    let text = get(servers[0].addr, "/metrics").await.body;
    assert!(
        text.contains("roomcast_redis_gap_events_total 50"),
        "{text}"
    );
    // Redis comes back without its data: the sequence restarts, counted as a reset
    redis.kill();
    std::fs::remove_dir_all(redis.dir.path()).unwrap();
    std::fs::create_dir_all(redis.dir.path()).unwrap();
    redis.up();
    all_ready(&servers).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while m.redis_resets.load(Relaxed) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "reset not counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
