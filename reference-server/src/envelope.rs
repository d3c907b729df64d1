//! The Roomcast envelope frame a socket receives (shared by the driver's own events and
//! the publish API); its timestamp is passed in.

use protocol::roomcast::envelope::Envelope;
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::timestamp::Timestamp;
use serde_json::Value;

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
