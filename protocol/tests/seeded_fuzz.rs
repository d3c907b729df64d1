//! Seeded fuzzing of the decoders (issue 11): the committed corpus
//! `tests/seeds/frames.txt` is decoded as WebSocket frames, as polling payloads and as
//! Socket.IO packet sequences, and then mutated (byte inserts, deletions, replacements,
//! splices of two seeds). Nothing may panic, and whatever decodes must re-encode to
//! the same value. A smoke run of a few seconds under `cargo test`; more cases with
//! `ROOMCAST_FUZZ_CASES=N`.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use protocol::engineio::{self, payload};
use protocol::socketio::Decoder;

/// The corpus, with `\x1e` and `\n` escapes expanded; `#` lines are comments.
fn seeds() -> Vec<String> {
    let text = include_str!("seeds/frames.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.replace("\\x1e", "\u{1e}").replace("\\n", "\n"))
        .collect()
}

/// Decodes `s` every way the server does; successful decodes must round-trip.
fn decode(s: &str) -> Result<(), TestCaseError> {
    if let Ok(p) = engineio::Packet::decode_text(s) {
        prop_assert_eq!(engineio::Packet::decode_text(&p.encode_text()), Ok(p));
    }
    if let Ok(ps) = payload::decode(s) {
        prop_assert_eq!(payload::decode(&payload::encode(&ps)), Ok(ps));
    }
    let mut d = Decoder::new();
    for part in s.split('\u{1e}') {
        let text = part.strip_prefix('4').unwrap_or(part);
        match d.decode_text(text) {
            Ok(Some(p)) => {
                let again = Decoder::new().decode_text(&p.encode().text);
                if p.encode().attachments.is_empty() {
                    prop_assert_eq!(again, Ok(Some(p)));
                }
            }
            Ok(None) => {
                let _ = d.decode_binary(bytes::Bytes::from_static(b"\x01"));
            }
            Err(_) => d = Decoder::new(),
        }
    }
    Ok(())
}

/// One mutation of a seed: `(seed, op, position, byte, other seed)`.
fn mutate(seeds: &[String], (a, op, pos, byte, b): (usize, u8, usize, u8, usize)) -> String {
    let mut s: Vec<u8> = seeds[a % seeds.len()].as_bytes().to_vec();
    let i = if s.is_empty() { 0 } else { pos % (s.len() + 1) };
    match op % 4 {
        0 => s.insert(i, byte),
        1 if i < s.len() => {
            s.remove(i);
        }
        2 if i < s.len() => s[i] = byte,
        _ => {
            let other = seeds[b % seeds.len()].as_bytes();
            s.truncate(i);
            s.extend_from_slice(other);
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

#[test]
fn lim_10_every_seed_decodes_without_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 30, "the corpus lost its seeds");
    for s in &seeds {
        if let Err(e) = decode(s) {
            panic!("seed {s:?}: {e}");
        }
    }
}

#[test]
fn lim_10_mutated_seeds_never_panic() {
    let seeds = seeds();
    let cases = std::env::var("ROOMCAST_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let one = (
        any::<usize>(),
        any::<u8>(),
        any::<usize>(),
        any::<u8>(),
        any::<usize>(),
    );
    let strategy = prop::collection::vec(one, 1..6);
    let result = runner.run(&strategy, |ops| {
        let mut s = seeds[ops[0].0 % seeds.len()].clone();
        for op in ops {
            let mut pool = seeds.clone();
            pool[0] = s;
            s = mutate(&pool, (0, op.1, op.2, op.3, op.4));
        }
        decode(&s)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
