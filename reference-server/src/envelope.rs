//! The Roomcast envelope frame a socket receives, and the wall clock its timestamp
//! comes from (shared by the driver's own events and the publish API).

use std::time::{SystemTime, UNIX_EPOCH};

use protocol::roomcast::envelope::Envelope;
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::timestamp::Timestamp;
use serde_json::Value;

/// Milliseconds since the Unix epoch, from the system clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// An envelope frame: `42[nsp,]["type",{eventId,type,timestamp,payload}]`.
pub(crate) fn envelope_text(
    nsp: &str,
    event_type: EventType,
    timestamp: Timestamp,
    payload: Value,
) -> (String, uuid::Uuid) {
    let env = Envelope {
        event_id: uuid::Uuid::new_v4(),
        event_type,
        timestamp,
        payload,
    };
    (env.encode_event_message(nsp), env.event_id)
}
