//! Roomcast v1 types: ids, rooms, event types, timestamps, the envelope,
//! token claims and the error codes of the spec (`spec/roomcast-v1.md`).
//!
//! Each type parses strictly (what the spec allows, nothing else) and
//! formats to exactly what it parsed.

pub mod claims;
pub mod codes;
pub mod envelope;
pub mod event_type;
pub mod id;
pub mod room;
pub mod timestamp;

pub use claims::{ClaimsError, Identity, Publisher};
pub use codes::{AuthReason, ErrorCode};
pub use envelope::{Envelope, EnvelopeError};
pub use event_type::{EventType, EventTypeError};
pub use id::{Id, IdError};
pub use room::{Room, RoomError};
pub use timestamp::{Timestamp, TimestampError};
