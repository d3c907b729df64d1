//! Criterion benches of fan-out.
//!
//! - `hub_publish/{1,100,10000}`: the reference server's in-process `hub::Hub::publish`
//!   of one shared frame to a room of N members (queues drained outside the timing).
//! - `loopback_fanout/100`: one `POST /v1/publish` to an in-process reference server
//!   until all 100 WebSocket clients on loopback have the event (the clients are the
//!   `roomcast-bench` wire client; short, so `cargo bench` stays quick).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::publisher::{Outcome, PublishUrl, Publisher};
use benches::token::Minter;
use benches::wire_client::{self, bench_event, Endpoint};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures_util::StreamExt as _;
use reference_server::hub::{Frame, Hub, Outbox};
use reference_server::metrics::Metrics;
use reference_server::{Config, Server};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

fn hub_publish(c: &mut Criterion) {
    let frame = Frame::Text(
        r#"42["bench:tick",{"eventId":"9b2f8c1e-4d5a-4c3b-9e7f-1a2b3c4d5e6f","type":"bench:tick","timestamp":"2026-11-22T04:35:21.123Z","payload":{"seq":1,"t":2}}]"#.into(),
    );
    let mut group = c.benchmark_group("hub_publish");
    for members in [1usize, 100, 10_000] {
        let hub = Hub::new(16, Arc::new(Metrics::default()));
        let mut queues = Vec::with_capacity(members);
        let mut outboxes = Vec::with_capacity(members);
        for id in 0..members as u64 {
            let (outbox, rx) = Outbox::new(id, 1024);
            hub.join("org:acme", &outbox);
            outboxes.push(outbox);
            queues.push(rx);
        }
        group.throughput(Throughput::Elements(members as u64));
        group.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, &n| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    let got = hub.publish(black_box("org:acme"), &frame);
                    total += t.elapsed();
                    assert_eq!(got, n, "every member must get the frame");
                    for q in &mut queues {
                        while q.try_recv().is_ok() {}
                    }
                }
                total
            })
        });
    }
    group.finish();
}

const SECRET: &[u8] = b"criterion-loopback-secret";

fn loopback_fanout(c: &mut Criterion) {
    const CLIENTS: u64 = 100;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (mut publisher, received, notify, _stop) = rt.block_on(async {
        let server = Server::bind(Config::with_secret(SECRET))
            .await
            .expect("reference server binds");
        let addr = server.local_addr();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        let minter = Minter::new(SECRET);
        let ep = Endpoint::new(addr, "/socket.io/", "/");
        let received = Arc::new(AtomicU64::new(0));
        let notify = Arc::new(Notify::new());
        for i in 0..CLIENTS {
            let mut ws = wire_client::connect(
                &ep,
                None,
                &minter.client("acme", &format!("u{i}")),
                wire_client::ws_config(64 * 1024),
                Duration::from_secs(20),
            )
            .await
            .expect("client connects");
            let (received, notify) = (Arc::clone(&received), Arc::clone(&notify));
            tokio::spawn(async move {
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        if bench_event(t.as_str()).is_some() {
                            received.fetch_add(1, Relaxed);
                            notify.notify_one();
                        } else if wire_client::is_ping(t.as_str()) {
                            let _ = futures_util::SinkExt::send(&mut ws, Message::text("3")).await;
                        }
                    }
                }
            });
        }
        let url = PublishUrl {
            addr,
            path: "/v1/publish".into(),
        };
        let publisher = Publisher::connect(&url, &minter.publisher())
            .await
            .expect("publisher connects");
        (publisher, received, notify, stop)
    });
    let mut group = c.benchmark_group("loopback_fanout");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(CLIENTS));
    let mut seq = 0u64;
    group.bench_function(BenchmarkId::from_parameter(CLIENTS), |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let target = received.load(Relaxed) + CLIENTS;
                    let out = publisher
                        .publish("org:acme", seq, 0)
                        .await
                        .expect("publish");
                    assert!(matches!(out, Outcome::Accepted(_)), "{out:?}");
                    seq += 1;
                    while received.load(Relaxed) < target {
                        notify.notified().await;
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, hub_publish, loopback_fanout);
criterion_main!(benches);
