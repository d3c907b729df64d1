//! The Engine.IO open packet (`0{"sid":…}`), the server's first packet.

use serde::{Deserialize, Serialize};

use super::EngineError;

/// The JSON body of the open packet.
///
/// Serialized with exactly the keys `sid`, `upgrades`, `pingInterval`,
/// `pingTimeout`, `maxPayload`, in that order (the order the Node server
/// writes). Parsing rejects missing and unknown keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenPacket {
    /// The Engine.IO session id (not the Socket.IO socket id).
    pub sid: String,
    /// Transports the client may upgrade to: `["websocket"]` on polling,
    /// `[]` on a direct WebSocket connection.
    pub upgrades: Vec<String>,
    /// Milliseconds between two server pings (default 25 000).
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong (default 20 000).
    pub ping_timeout: u64,
    /// Largest accepted packet or polling body, in bytes (default 1 000 000).
    pub max_payload: u64,
}

impl OpenPacket {
    /// Default ping interval of the Node server, in milliseconds.
    pub const DEFAULT_PING_INTERVAL: u64 = 25_000;
    /// Default ping timeout of the Node server, in milliseconds.
    pub const DEFAULT_PING_TIMEOUT: u64 = 20_000;
    /// Default `maxPayload` of the Node server, in bytes.
    pub const DEFAULT_MAX_PAYLOAD: u64 = 1_000_000;

    /// Parses the JSON after the `0` type digit.
    pub fn parse(json: &str) -> Result<OpenPacket, EngineError> {
        serde_json::from_str(json).map_err(|e| EngineError::InvalidOpen {
            reason: e.to_string(),
        })
    }

    /// Writes the JSON (without the `0` type digit) to `out`.
    pub fn encode_into(&self, out: &mut String) {
        // Serializing a struct of strings and integers cannot fail.
        if let Ok(json) = serde_json::to_string(self) {
            out.push_str(&json);
        }
    }
}
