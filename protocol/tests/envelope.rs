//! The envelope's shape: exactly four keys, in both directions.

use proptest::prelude::*;
use protocol::roomcast::envelope::{Envelope, EnvelopeError, KEYS};
use protocol::roomcast::{EventType, Timestamp};
use serde_json::{json, Value};

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        any::<u128>(),
        "[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,4})?:[a-z][A-Za-z0-9_]{0,20}",
        -62_167_219_200_000i64..=253_402_300_799_999,
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            Just(json!({"a": [1, "b", null]})),
        ],
    )
        .prop_map(|(bits, ty, ms, payload)| Envelope {
            event_id: uuid::Builder::from_random_bytes(bits.to_le_bytes()).into_uuid(),
            event_type: EventType::parse(&ty).expect("strategy yields valid types"),
            timestamp: Timestamp(ms),
            payload,
        })
}

proptest! {
    /// ENV-2: what we write has exactly the four keys and reads back
    /// strictly; adding any other key or removing one of the four is
    /// rejected.
    #[test]
    fn env_2_envelope_has_exactly_four_keys(
        e in envelope(),
        extra in "[a-zA-Z_]{1,12}",
        drop in 0usize..4,
    ) {
        let v = e.to_json();
        let obj = v.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = KEYS.to_vec();
        expected.sort_unstable();
        prop_assert_eq!(keys, expected);
        prop_assert_eq!(Envelope::from_json_strict(&v), Ok(e.clone()));
        let from_text: Value = serde_json::from_str(&e.to_json_string()).expect("valid JSON");
        prop_assert_eq!(&from_text, &v);

        let mut more = obj.clone();
        if !KEYS.contains(&extra.as_str()) {
            more.insert(extra.clone(), Value::Null);
            prop_assert_eq!(
                Envelope::from_json_strict(&Value::Object(more)),
                Err(EnvelopeError::UnknownKey(extra))
            );
        }
        let mut fewer = obj.clone();
        fewer.remove(KEYS[drop]);
        prop_assert_eq!(
            Envelope::from_json_strict(&Value::Object(fewer)),
            Err(EnvelopeError::MissingKey(KEYS[drop]))
        );
    }
}
