//! The hand-written grammars agree with the regular expressions of
//! `spec/roomcast-v1.md` on random strings drawn from biased alphabets, so
//! that both accepted and rejected strings occur (each test asserts both
//! outcomes happened).
//!
//! The spec's `\d` is written `[0-9]` here: in the `regex` crate `\d` also
//! matches non-ASCII digits, whereas the spec (like JSON Schema's ECMA
//! regexes) means ASCII digits.

use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use protocol::roomcast::{envelope, event_type, id, room::Room, timestamp::Timestamp};
use regex::Regex;

const ID_RE: &str = r"^[A-Za-z0-9_-]{1,64}$";
const EVENT_TYPE_RE: &str = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*:[a-z][A-Za-z0-9_]*$";
const UUID_V4_RE: &str = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";
const TIMESTAMP_RE: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$";

/// Runs `check` on values of `strategy` and fails unless it returned both
/// `true` (accepted) and `false` (rejected) at least once.
fn agree<S: Strategy>(strategy: S, check: impl Fn(&S::Value) -> Result<bool, TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let accepted = Cell::new(0u32);
    let rejected = Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |v| {
        if check(&v)? {
            accepted.set(accepted.get() + 1);
        } else {
            rejected.set(rejected.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(
        accepted.get() > 0 && rejected.get() > 0,
        "biased generator must produce both outcomes: {} accepted, {} rejected",
        accepted.get(),
        rejected.get()
    );
}

/// Strings of length 0..=max from `common` characters, with an occasional
/// character from `rare`.
fn biased(
    common: &'static str,
    rare: &'static str,
    max: usize,
) -> impl Strategy<Value = String> + Clone {
    let common: Vec<char> = common.chars().collect();
    let rare: Vec<char> = rare.chars().collect();
    let ch = prop_oneof![
        40 => prop::sample::select(common),
        1 => prop::sample::select(rare),
    ];
    prop::collection::vec(ch, 0..=max).prop_map(|v| v.into_iter().collect())
}

/// Like [`biased`], but usually exactly `len` characters long.
fn fixed(common: &'static str, rare: &'static str, len: usize) -> impl Strategy<Value = String> {
    let common: Vec<char> = common.chars().collect();
    let rare: Vec<char> = rare.chars().collect();
    let ch = prop_oneof![
        60 => prop::sample::select(common),
        1 => prop::sample::select(rare),
    ];
    let n = prop_oneof![20 => Just(len), 1 => (len - 1)..=(len + 1)];
    n.prop_flat_map(move |n| prop::collection::vec(ch.clone(), n))
        .prop_map(|v| v.into_iter().collect())
}

fn id_like() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        biased("aZ09_-xQ", ": .é/\n", 70),
        biased("aZ09_-xQ", ": .é/\n", 8),
    ]
}

#[test]
fn room_1_ids_match_the_spec_regex() {
    let re = Regex::new(ID_RE).unwrap();
    agree(id_like(), |s| {
        let ours = id::is_valid(s);
        prop_assert_eq!(ours, re.is_match(s), "{:?}", s);
        prop_assert_eq!(id::Id::parse(s).is_ok(), ours);
        Ok(ours)
    });
}

#[test]
fn room_2_room_names_are_the_four_forms() {
    let id = ID_RE.trim_start_matches('^').trim_end_matches('$');
    let re = Regex::new(&format!(r"^org:{id}(:(site|unit|user):{id})?$")).unwrap();
    let segment = prop_oneof![
        3 => prop::sample::select(vec!["org", "site", "unit", "user", "team", "", "ORG"])
            .prop_map(str::to_owned),
        3 => id_like(),
    ];
    let name = prop_oneof![
        4 => (Just("org".to_owned()), id_like(), prop::collection::vec(segment.clone(), 0..3))
            .prop_map(|(o, org, rest)| {
                let mut parts = vec![o, org];
                parts.extend(rest);
                parts.join(":")
            }),
        1 => prop::collection::vec(segment, 1..5).prop_map(|v| v.join(":")),
    ];
    agree(name, |s| {
        let parsed = Room::parse(s);
        prop_assert_eq!(parsed.is_ok(), re.is_match(s), "{:?}", s);
        if let Ok(room) = parsed {
            prop_assert_eq!(room.to_string(), s.as_str());
            let prefix = format!("org:{}", room.org());
            prop_assert!(s.starts_with(&prefix));
        }
        Ok(re.is_match(s))
    });
}

#[test]
fn env_8_event_types_match_the_spec_regex() {
    let re = Regex::new(EVENT_TYPE_RE).unwrap();
    let domain = biased("az09_", "A-:é", 8);
    let action = biased("azAZ09_", "-:é ", 12);
    let ty = prop_oneof![
        4 => (domain.clone(), action.clone()).prop_map(|(d, a)| format!("{d}:{a}")),
        1 => (domain, action).prop_map(|(d, a)| format!("{d}{a}")),
    ];
    agree(ty, |s| {
        let ours = event_type::is_valid(s);
        // Short strings: the length limit does not apply, the regex decides.
        prop_assert_eq!(ours, re.is_match(s), "{:?}", s);
        Ok(ours)
    });
}

#[test]
fn env_9_event_types_are_at_most_64_characters() {
    let re = Regex::new(EVENT_TYPE_RE).unwrap();
    let ty = (1usize..=8, 50usize..=70).prop_map(|(d, total)| {
        let domain = "d".repeat(d);
        let action = "a".repeat(total.saturating_sub(d + 1).max(1));
        format!("{domain}:{action}")
    });
    agree(ty, |s| {
        prop_assert!(re.is_match(s));
        let ours = event_type::is_valid(s);
        prop_assert_eq!(ours, s.len() <= event_type::MAX_LEN, "{:?}", s);
        Ok(ours)
    });
}

#[test]
fn env_3_event_ids_match_the_spec_regex() {
    let re = Regex::new(UUID_V4_RE).unwrap();
    let hex = "0123456789abcdef";
    let uuid = (
        fixed(hex, "ABCg", 8),
        fixed(hex, "ABCg", 4),
        prop_oneof![4 => Just('4'), 1 => prop::sample::select(vec!['1', '5', 'a'])],
        fixed(hex, "ABCg", 3),
        prop_oneof![4 => prop::sample::select(vec!['8', '9', 'a', 'b']), 1 => prop::sample::select(vec!['0', 'c', 'f'])],
        fixed(hex, "ABCg", 3),
        fixed(hex, "ABCg", 12),
        prop_oneof![8 => Just('-'), 1 => Just('_')],
    )
        .prop_map(|(a, b, v, c, var, d, e, sep)| format!("{a}{sep}{b}-{v}{c}-{var}{d}-{e}"));
    agree(uuid, |s| {
        let ours = envelope::parse_uuid_v4(s);
        prop_assert_eq!(ours.is_some(), re.is_match(s), "{:?}", s);
        if let Some(u) = ours {
            prop_assert_eq!(u.hyphenated().to_string(), s.as_str());
        }
        Ok(ours.is_some())
    });
}

#[test]
fn env_5_timestamps_match_the_spec_regex() {
    let re = Regex::new(TIMESTAMP_RE).unwrap();
    // Real instants in 0000-9999, sometimes with one character replaced.
    let ts = (
        -62_167_219_200_000i64..=253_402_300_799_999,
        prop::option::weighted(
            0.5,
            (
                0usize..24,
                prop::sample::select(vec!['0', '9', '3', 'T', 'Z', ' ', '+', '٣']),
            ),
        ),
    )
        .prop_map(|(ms, edit)| {
            let mut s: Vec<char> = Timestamp(ms).to_iso().chars().collect();
            if let Some((i, c)) = edit {
                s[i] = c;
            }
            s.into_iter().collect::<String>()
        });
    agree(ts, |s| {
        let parsed = Timestamp::parse_iso(s);
        if let Ok(t) = parsed {
            prop_assert!(re.is_match(s), "{:?}", s);
            prop_assert_eq!(t.to_iso(), s.as_str());
        } else if re.is_match(s) {
            // The regex admits impossible dates (month 13, 30 February);
            // the parser rejects exactly those.
            prop_assert_eq!(
                parsed,
                Err(protocol::roomcast::TimestampError::OutOfRange),
                "{:?}",
                s
            );
        }
        Ok(parsed.is_ok())
    });
}
