//! The event envelope every server-to-client event carries:
//! `{"eventId","type","timestamp","payload"}`, exactly those four keys.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::event_type::{EventType, EventTypeError};
use super::timestamp::{Timestamp, TimestampError};

/// The four keys of an envelope, in the order [`Envelope::to_json_string`]
/// writes them.
pub const KEYS: [&str; 4] = ["eventId", "type", "timestamp", "payload"];

/// A Roomcast event envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// A random (version 4) UUID, written lowercase with hyphens.
    pub event_id: Uuid,
    /// The event type; also the Socket.IO event name.
    pub event_type: EventType,
    /// When the event was accepted, written as by `toISOString`.
    pub timestamp: Timestamp,
    /// Any JSON value.
    pub payload: Value,
}

/// Why a JSON value is not a strict envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The envelope is not a JSON object.
    #[error("envelope must be a JSON object")]
    NotAnObject,
    /// One of the four keys is absent.
    #[error("envelope is missing the key {0:?}")]
    MissingKey(&'static str),
    /// A key other than the four.
    #[error("envelope has the unexpected key {0:?}; only eventId, type, timestamp and payload are allowed")]
    UnknownKey(String),
    /// `eventId` is not a lowercase hyphenated version 4 UUID.
    #[error(
        "eventId must be a lowercase hyphenated UUID v4, e.g. 3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b"
    )]
    InvalidEventId,
    /// `type` is not a string matching the event-type grammar.
    #[error("invalid type: {0}")]
    InvalidType(EventTypeError),
    /// `type` is not a string.
    #[error("type must be a string")]
    TypeNotAString,
    /// `timestamp` is not a string of the strict ISO shape.
    #[error("invalid timestamp: {0}")]
    InvalidTimestamp(TimestampError),
    /// `timestamp` is not a string.
    #[error("timestamp must be a string")]
    TimestampNotAString,
}

impl Envelope {
    /// The envelope as a JSON object with the keys `eventId`, `type`,
    /// `timestamp`, `payload`.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("eventId".into(), Value::String(self.event_id_string()));
        m.insert(
            "type".into(),
            Value::String(self.event_type.as_str().to_owned()),
        );
        m.insert("timestamp".into(), Value::String(self.timestamp.to_iso()));
        m.insert("payload".into(), self.payload.clone());
        Value::Object(m)
    }

    /// The envelope as compact JSON text with the keys in the order
    /// `eventId`, `type`, `timestamp`, `payload` (the order a Node server
    /// writes; [`Envelope::to_json`] gives a `serde_json::Map`, whose key
    /// order is alphabetical), without cloning the payload.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&self.wire()).unwrap_or_default()
    }

    /// The Engine.IO message text of the Socket.IO EVENT that delivers this
    /// envelope on namespace `nsp`: `42["<type>",{envelope}]` (`42/nsp,[…]`
    /// off the root namespace), envelope keys in wire order, written in one
    /// buffer. A broadcast encodes this once and sends the same text to
    /// every socket.
    pub fn encode_event_message(&self, nsp: &str) -> String {
        let mut buf = Vec::with_capacity(96 + self.event_type.as_str().len() * 2);
        buf.extend_from_slice(b"42");
        if !nsp.is_empty() && nsp != "/" {
            buf.extend_from_slice(nsp.as_bytes());
            buf.push(b',');
        }
        // A tuple of a &str and a struct of strings and a Value always
        // serializes, and serde_json writes UTF-8.
        let _ = serde_json::to_writer(&mut buf, &(self.event_type.as_str(), self.wire()));
        String::from_utf8(buf).unwrap_or_default()
    }

    fn wire(&self) -> Wire<'_> {
        Wire {
            event_id: self.event_id_string(),
            event_type: self.event_type.as_str(),
            timestamp: self.timestamp.to_iso(),
            payload: &self.payload,
        }
    }

    /// `event_id` as written on the wire: lowercase, hyphenated.
    pub fn event_id_string(&self) -> String {
        self.event_id.hyphenated().to_string()
    }

    /// Reads an envelope, strictly: exactly the four keys, `eventId` a
    /// lowercase hyphenated UUID v4, `timestamp` exactly
    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, `type` a valid event type (reserved
    /// domains included: the server emits `system:*`).
    pub fn from_json_strict(v: &Value) -> Result<Envelope, EnvelopeError> {
        let obj = v.as_object().ok_or(EnvelopeError::NotAnObject)?;
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(EnvelopeError::UnknownKey(k.clone()));
        }
        let get = |k: &'static str| obj.get(k).ok_or(EnvelopeError::MissingKey(k));
        let event_id = get("eventId")?
            .as_str()
            .and_then(parse_uuid_v4)
            .ok_or(EnvelopeError::InvalidEventId)?;
        let event_type =
            EventType::parse(get("type")?.as_str().ok_or(EnvelopeError::TypeNotAString)?)
                .map_err(EnvelopeError::InvalidType)?;
        let timestamp = Timestamp::parse_iso(
            get("timestamp")?
                .as_str()
                .ok_or(EnvelopeError::TimestampNotAString)?,
        )
        .map_err(EnvelopeError::InvalidTimestamp)?;
        let payload = get("payload")?.clone();
        Ok(Envelope {
            event_id,
            event_type,
            timestamp,
            payload,
        })
    }
}

/// The envelope in wire key order.
#[derive(serde::Serialize)]
struct Wire<'a> {
    #[serde(rename = "eventId")]
    event_id: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    payload: &'a Value,
}

/// Parses a UUID only in the form `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`
/// with lowercase hex digits.
pub fn parse_uuid_v4(s: &str) -> Option<Uuid> {
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => c == b'-',
            14 => c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
        };
        if !ok {
            return None;
        }
    }
    Uuid::parse_str(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "eventId": "3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b",
            "type": "dashboard:summaryUpdated",
            "timestamp": "2026-11-22T04:35:21.123Z",
            "payload": {"open": 3}
        })
    }

    #[test]
    fn round_trip() {
        let e = Envelope::from_json_strict(&sample()).unwrap();
        assert_eq!(e.to_json(), sample());
        assert_eq!(
            e.to_json_string(),
            r#"{"eventId":"3f2b8c1e-9a4d-4e6f-8b7a-1c2d3e4f5a6b","type":"dashboard:summaryUpdated","timestamp":"2026-11-22T04:35:21.123Z","payload":{"open":3}}"#
        );
    }

    #[test]
    fn event_message_is_the_socketio_event_in_wire_order() {
        let e = Envelope::from_json_strict(&sample()).unwrap();
        let text = e.encode_event_message("/");
        assert_eq!(
            text,
            format!(r#"42["dashboard:summaryUpdated",{}]"#, e.to_json_string())
        );
        let generic = crate::socketio::Packet::event(
            "/",
            "dashboard:summaryUpdated",
            vec![e.to_json()],
            None,
        );
        let mut d = crate::socketio::Decoder::new();
        let decoded = d.decode_text(text.strip_prefix('4').unwrap()).unwrap();
        assert_eq!(decoded, Some(generic));
        assert!(e
            .encode_event_message("/rt")
            .starts_with(r#"42/rt,["dashboard:summaryUpdated",{"eventId""#));
    }

    #[test]
    fn strictness() {
        let with = |k: &str, v: Value| {
            let mut s = sample();
            s[k] = v;
            Envelope::from_json_strict(&s)
        };
        assert_eq!(
            with("extra", json!(1)),
            Err(EnvelopeError::UnknownKey("extra".into()))
        );
        assert_eq!(
            with("eventId", json!("3F2B8C1E-9A4D-4E6F-8B7A-1C2D3E4F5A6B")),
            Err(EnvelopeError::InvalidEventId)
        );
        assert_eq!(
            with("eventId", json!("3f2b8c1e-9a4d-1e6f-8b7a-1c2d3e4f5a6b")),
            Err(EnvelopeError::InvalidEventId)
        );
        assert_eq!(
            with("eventId", json!("3f2b8c1e-9a4d-4e6f-cb7a-1c2d3e4f5a6b")),
            Err(EnvelopeError::InvalidEventId)
        );
        assert_eq!(
            with("eventId", json!("3f2b8c1e9a4d4e6f8b7a1c2d3e4f5a6b")),
            Err(EnvelopeError::InvalidEventId)
        );
        assert_eq!(with("type", json!(3)), Err(EnvelopeError::TypeNotAString));
        assert_eq!(
            with("type", json!("Bad:x")),
            Err(EnvelopeError::InvalidType(EventTypeError::InvalidDomain))
        );
        assert_eq!(
            with("timestamp", json!("2026-11-22T04:35:21Z")),
            Err(EnvelopeError::InvalidTimestamp(
                TimestampError::InvalidFormat
            ))
        );
        assert_eq!(
            with("timestamp", json!(1)),
            Err(EnvelopeError::TimestampNotAString)
        );
        assert_eq!(
            with("payload", Value::Null).map(|e| e.payload),
            Ok(Value::Null)
        );
        let mut s = sample();
        s.as_object_mut().unwrap().remove("payload");
        assert_eq!(
            Envelope::from_json_strict(&s),
            Err(EnvelopeError::MissingKey("payload"))
        );
        assert_eq!(
            Envelope::from_json_strict(&json!([])),
            Err(EnvelopeError::NotAnObject)
        );
    }
}
