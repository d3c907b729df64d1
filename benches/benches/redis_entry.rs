//! Criterion benches of the Redis fan-out's message (the reference server's
//! `fanout_redis`, the cluster issue): one event as a stream entry.
//!
//! - `redis_entry/encode`: the append of one event, `EVAL` with its room and frame
//!   text, built and packed into the bytes sent to Redis (`append_cmd`).
//! - `redis_entry/decode/{1,100}`: an `XREAD` reply (RESP2) of 1 or 100 such entries
//!   decoded into entries (`decode_entries`), as each instance's reader does per read.
//!
//! No Redis runs here: the round trips are measured end to end by `roomcast-bench
//! --instances 2 --redis` and `examples/measure`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use redis::Value;
use reference_server::fanout_redis::{append_cmd, decode_entries, Body, Keys};

const ROOM: &str = "org:acme:site:s-1";
const FRAME: &str = r#"42["bench:tick",{"eventId":"9b2f8c1e-4d5a-4c3b-9e7f-1a2b3c4d5e6f","type":"bench:tick","timestamp":"2026-11-22T04:35:21.123Z","payload":{"seq":1,"t":2}}]"#;

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// `[[stream, [[id, [s, seq, k, e, a, room, b, frame]], …]]]`, as XREAD answers in RESP2.
fn xread_reply(keys: &Keys, n: u64) -> Value {
    let entries = (0..n)
        .map(|i| {
            Value::Array(vec![
                bulk(&format!("1764900000000-{i}")),
                Value::Array(vec![
                    bulk("s"),
                    bulk(&(1000 + i).to_string()),
                    bulk("k"),
                    bulk("e"),
                    bulk("a"),
                    bulk(ROOM),
                    bulk("b"),
                    bulk(FRAME),
                ]),
            ])
        })
        .collect();
    Value::Array(vec![Value::Array(vec![
        bulk(&keys.stream),
        Value::Array(entries),
    ])])
}

fn redis_entry(c: &mut Criterion) {
    let keys = Keys::new("roomcast");
    let mut group = c.benchmark_group("redis_entry");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| {
            let cmd = append_cmd(
                black_box(&keys),
                100_000,
                "e",
                black_box(ROOM),
                black_box(FRAME),
                Some("{roomcast}:ev:9b2f8c1e-4d5a-4c3b-9e7f-1a2b3c4d5e6f"),
            );
            cmd.get_packed_command()
        })
    });
    for n in [1u64, 100] {
        let reply = xread_reply(&keys, n);
        let got = decode_entries(&reply);
        assert_eq!(got.len() as u64, n, "every entry must decode");
        assert!(
            matches!(&got[0].body, Body::Event { room, frame } if room == ROOM && frame == FRAME),
            "the entry must decode to its room and frame: {:?}",
            got[0]
        );
        group.throughput(Throughput::Elements(n));
        group.bench_with_input(BenchmarkId::new("decode", n), &reply, |b, reply| {
            b.iter(|| decode_entries(black_box(reply)))
        });
    }
    group.finish();
}

criterion_group!(benches, redis_entry);
criterion_main!(benches);
