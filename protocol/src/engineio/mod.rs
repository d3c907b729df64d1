//! Engine.IO v4: the transport layer under Socket.IO.
//!
//! One Engine.IO packet is a type digit (`0` open … `6` noop) followed by
//! its data. Over WebSocket each packet is one frame (binary data as a
//! binary frame); over HTTP long-polling several packets share one body,
//! joined by [`payload::SEPARATOR`], binary data as `b` + base64.
//!
//! | digit | packet  | data                         |
//! |-------|---------|------------------------------|
//! | `0`   | open    | JSON [`OpenPacket`]          |
//! | `1`   | close   | none                         |
//! | `2`   | ping    | optional text (`2probe`)     |
//! | `3`   | pong    | optional text (`3probe`)     |
//! | `4`   | message | text, or binary              |
//! | `5`   | upgrade | none                         |
//! | `6`   | noop    | none                         |

pub mod handshake;
mod open;
mod packet;
pub mod payload;

pub use open::OpenPacket;
pub use packet::{Packet, WsFrame};

/// The Engine.IO protocol revision this crate speaks (`EIO=4`).
pub const PROTOCOL: u8 = 4;

/// Why an Engine.IO packet or polling body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The packet (or one segment of a polling body) is empty; it needs at
    /// least a type digit.
    #[error("empty Engine.IO packet: expected a type digit 0-6")]
    Empty,
    /// The first character is not a known packet type.
    #[error(
        "unknown Engine.IO packet type {found:?}: expected a digit 0-6 or 'b' (base64 binary)"
    )]
    UnknownType {
        /// The character found where the type digit belongs.
        found: char,
    },
    /// A `b`-prefixed packet whose data is not valid base64.
    #[error("invalid base64 in a 'b' (binary) packet")]
    InvalidBase64,
    /// An open packet whose JSON is not exactly
    /// `{"sid","upgrades","pingInterval","pingTimeout","maxPayload"}`.
    #[error("invalid open packet: {reason}")]
    InvalidOpen {
        /// What was wrong with the JSON.
        reason: String,
    },
    /// A close, upgrade or noop packet carried data; those packets are the
    /// bare type digit.
    #[error("Engine.IO {packet} packet must not carry data")]
    UnexpectedData {
        /// The packet kind (`"close"`, `"upgrade"` or `"noop"`).
        packet: &'static str,
    },
}
