//! Measures a running `roomcast-server` binary from outside, over real sockets:
//! connect → `system:connected` latency, publish → delivery latency, and the server's
//! resident memory with N idle authenticated WebSocket connections.
//!
//! ```sh
//! cargo build --release -p reference-server --examples
//! target/release/examples/measure --server target/release/roomcast-server --connections 1000
//! ```
//! The tool starts the server itself (HS256 secret, 127.0.0.1:0), so that it can read
//! the server's RSS from `/proc/PID/status` (Linux).
//!
//! Then, unless `--no-redis`, publish → deliver through Redis beside in-memory: it starts
//! `redis-server` (`--redis-server PROGRAM`) on a free port and two instances sharing it,
//! and times publishes through instance A to a socket on A (local, still through the
//! stream) and to a socket on B (remote), with one long-lived socket each, as it does for
//! the in-memory instance.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "measure-secret";

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn token(claims: serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token")
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                if t.as_str() == "2" {
                    let _ = ws.send(Message::Text("3".into())).await;
                    continue;
                }
                return t.as_str().to_owned();
            }
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

/// Opens a WebSocket, CONNECTs and waits for `system:connected`.
async fn connect(addr: SocketAddr, user: &str) -> Ws {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    let open = next_text(&mut ws).await;
    assert!(open.starts_with('0'));
    let t = token(json!({"sub": user, "organizationId": "bench", "exp": now_secs() + 3600}));
    ws.send(Message::Text(format!("40{}", json!({ "token": t })).into()))
        .await
        .expect("send");
    let reply = next_text(&mut ws).await;
    assert!(reply.starts_with("40{"), "{reply}");
    let ev = next_text(&mut ws).await;
    assert!(ev.starts_with("42[\"system:connected\""), "{ev}");
    ws
}

/// A keep-alive HTTP/1.1 connection for publishes.
struct Publisher {
    stream: TcpStream,
    auth: String,
}

impl Publisher {
    async fn new(addr: SocketAddr) -> Publisher {
        let stream = TcpStream::connect(addr).await.expect("tcp");
        stream.set_nodelay(true).ok();
        let auth =
            token(json!({"sub": "svc", "scope": "realtime:publish", "exp": now_secs() + 3600}));
        Publisher { stream, auth }
    }

    async fn publish(&mut self, room: &str, payload: serde_json::Value) {
        let body = json!({"room": room, "type": "bench:tick", "payload": payload}).to_string();
        let req = format!(
            "POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.auth,
            body.len()
        );
        self.stream.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "publish connection closed");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if rest.len() >= len {
                    assert!(head.starts_with("HTTP/1.1 202"), "{head}");
                    return;
                }
            }
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name}: n={} p50={:.3} ms p90={:.3} ms p99={:.3} ms max={:.3} ms",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.9),
        pct(&v, 0.99),
        pct(&v, 1.0)
    );
}

/// Starts the server binary on 127.0.0.1:0 (with `REDIS_URL` when given); returns the
/// child and its address.
fn start_server(server: &str, redis_url: Option<&str>) -> (std::process::Child, SocketAddr) {
    let mut cmd = Command::new(server);
    cmd.args(["--bind", "127.0.0.1:0"])
        .env("JWT_SECRET", SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(u) = redis_url {
        cmd.env("REDIS_URL", u);
    }
    let mut child = cmd.spawn().expect("start the server binary");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let addr: SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .expect("address");
    (child, addr)
}

/// Waits until `/readyz` answers 200.
async fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let _ = s
                .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await;
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf).await;
            if buf.starts_with(b"HTTP/1.1 200") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} not ready within 15 s");
}

/// `samples` publishes through `publisher` to `room`, each timed until `ws` reads it.
async fn deliver_samples(
    publisher: &mut Publisher,
    ws: &mut Ws,
    room: &str,
    samples: usize,
) -> Vec<Duration> {
    let mut v = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        publisher.publish(room, json!(i)).await;
        let ev = next_text(ws).await;
        assert!(ev.starts_with("42[\"bench:tick\""), "{ev}");
        v.push(t.elapsed());
    }
    v
}

/// A `redis-server` on a free port, no persistence; killed on drop.
struct RedisProc(std::process::Child);

impl Drop for RedisProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Publish → deliver through Redis: two instances on one redis-server.
async fn through_redis(server: &str, program: &str, samples: usize) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(program)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        println!("(no {program}: publish -> deliver through Redis not measured)");
        return;
    };
    let _redis = RedisProc(child);
    let url = format!("redis://127.0.0.1:{port}");
    let (mut a, addr_a) = start_server(server, Some(&url));
    let (mut b, addr_b) = start_server(server, Some(&url));
    wait_ready(addr_a).await;
    wait_ready(addr_b).await;
    let mut on_a = connect(addr_a, "local").await;
    let mut on_b = connect(addr_b, "remote").await;
    let mut publisher = Publisher::new(addr_a).await;
    report(
        "Redis: publish via A -> event on a socket on A (through the stream)",
        deliver_samples(&mut publisher, &mut on_a, "org:bench:user:local", samples).await,
    );
    report(
        "Redis: publish via A -> event on a socket on B",
        deliver_samples(&mut publisher, &mut on_b, "org:bench:user:remote", samples).await,
    );
    for c in [&mut a, &mut b] {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let server = arg("--server").unwrap_or_else(|| "target/release/roomcast-server".into());
    let connections: usize = arg("--connections")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let samples: usize = arg("--samples").and_then(|v| v.parse().ok()).unwrap_or(200);

    let (mut child, addr) = start_server(&server, None);
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_start = rss_kib(pid);
    println!("server {server} pid {pid} at {addr}; RSS at start {rss_start} KiB");

    // 1. connect → system:connected, and publish → delivery, one fresh socket per sample.
    let mut publisher = Publisher::new(addr).await;
    let mut connect_lat = Vec::with_capacity(samples);
    let mut first_event_lat = Vec::with_capacity(samples);
    let mut deliver_lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let user = format!("lat{i}");
        let t0 = Instant::now();
        let mut ws = connect(addr, &user).await;
        connect_lat.push(t0.elapsed());
        let t1 = Instant::now();
        publisher
            .publish(&format!("org:bench:user:{user}"), json!(i))
            .await;
        let ev = next_text(&mut ws).await;
        assert!(ev.starts_with("42[\"bench:tick\""), "{ev}");
        deliver_lat.push(t1.elapsed());
        first_event_lat.push(t0.elapsed());
        let _ = ws.close(None).await;
    }
    report("connect -> system:connected", connect_lat);
    report("publish (HTTP) -> event on the socket", deliver_lat);
    report(
        "connect -> first published event (connect + publish + delivery)",
        first_event_lat,
    );
    {
        let mut ws = connect(addr, "steady").await;
        report(
            "in-memory: publish -> event on a long-lived socket",
            deliver_samples(&mut publisher, &mut ws, "org:bench:user:steady", samples).await,
        );
        let _ = ws.close(None).await;
    }
    if !args.iter().any(|a| a == "--no-redis") {
        let program = arg("--redis-server").unwrap_or_else(|| "redis-server".into());
        through_redis(&server, &program, samples).await;
    }

    // 2. RSS with N idle authenticated connections.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid);
    let mut idle = Vec::with_capacity(connections);
    let t = Instant::now();
    for i in 0..connections {
        idle.push(connect(addr, &format!("idle{i}")).await);
    }
    let opened = t.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss_kib(pid);
    println!(
        "{connections} idle authenticated WebSocket connections opened in {:.2} s; server RSS {rss_before} KiB -> {rss_idle} KiB (+{} KiB, {:.1} KiB per connection)",
        opened.as_secs_f64(),
        rss_idle.saturating_sub(rss_before),
        rss_idle.saturating_sub(rss_before) as f64 / connections as f64
    );
    // A fan-out to all of them, as a sanity check that they are live.
    let t = Instant::now();
    publisher.publish("org:bench", json!("all")).await;
    for ws in &mut idle {
        let ev = next_text(ws).await;
        assert!(ev.starts_with("42[\"bench:tick\""));
    }
    println!(
        "one publish to org:bench reached all {connections} sockets in {:.2} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );
    // 3. Open and close the N connections again a few times: RSS after each close must
    //    not keep growing (nothing is leaked per connection).
    let cycles: usize = arg("--cycles").and_then(|v| v.parse().ok()).unwrap_or(3);
    for ws in &mut idle {
        let _ = ws.close(None).await;
    }
    drop(idle);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut after_close = vec![rss_kib(pid)];
    for c in 0..cycles {
        let mut conns = Vec::with_capacity(connections);
        for i in 0..connections {
            conns.push(connect(addr, &format!("cycle{c}-{i}")).await);
        }
        for ws in &mut conns {
            let _ = ws.close(None).await;
        }
        drop(conns);
        tokio::time::sleep(Duration::from_secs(1)).await;
        after_close.push(rss_kib(pid));
    }
    println!("server RSS after closing all {connections} connections, cycle by cycle: {after_close:?} KiB");
    let _ = child.kill();
    let _ = child.wait();
}
