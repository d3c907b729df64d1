//! Error codes of the spec, authentication failure reasons, and the JSON
//! bodies that carry them (CONNECT_ERROR data, acks, HTTP errors).

use std::fmt;

use serde_json::{json, Value};

use super::room::Room;

/// Every error code of Roomcast v1, written `SCREAMING_SNAKE_CASE` on the wire.
///
/// Deliberately exhaustive (not `#[non_exhaustive]`): the list is closed by
/// the spec version, and a server should handle every code by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `AUTH_FAILED`: authentication failed (CONNECT_ERROR, publish 401).
    AuthFailed,
    /// `TOKEN_EXPIRED`: a connected socket's token expired.
    TokenExpired,
    /// `INVALID_ID`: a site or unit id does not match the id grammar.
    InvalidId,
    /// `LIMIT_EXCEEDED`: the per-socket subscription limit is reached.
    LimitExceeded,
    /// `UNKNOWN_EVENT`: a client event the server does not handle.
    UnknownEvent,
    /// `INVALID_PAYLOAD`: an event argument of the wrong shape.
    InvalidPayload,
    /// `INVALID_JSON`: a publish body that is not a JSON object.
    InvalidJson,
    /// `INVALID_ROOM`: a publish room that is not a valid room name.
    InvalidRoom,
    /// `INVALID_TYPE`: a publish type that is not a valid event type.
    InvalidType,
    /// `RESERVED_TYPE`: a publish type in a reserved domain.
    ReservedType,
    /// `FORBIDDEN`: a publisher token for another organization, or
    /// without the publish scope.
    Forbidden,
    /// `NOT_FOUND`: no such HTTP route.
    NotFound,
    /// `METHOD_NOT_ALLOWED`: the route exists for another method.
    MethodNotAllowed,
    /// `PAYLOAD_TOO_LARGE`: the publish body is above the limit.
    PayloadTooLarge,
    /// `UNSUPPORTED_MEDIA_TYPE`: the publish body is not `application/json`.
    UnsupportedMediaType,
    /// `UNAVAILABLE`: the event cannot be fanned out now (Redis down).
    Unavailable,
    /// `REQUEST_TIMEOUT`: the request body did not arrive within the deadline or at the
    /// minimum data rate (LIM-14).
    RequestTimeout,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::AuthFailed,
        ErrorCode::TokenExpired,
        ErrorCode::InvalidId,
        ErrorCode::LimitExceeded,
        ErrorCode::UnknownEvent,
        ErrorCode::InvalidPayload,
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRoom,
        ErrorCode::InvalidType,
        ErrorCode::ReservedType,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unavailable,
        ErrorCode::RequestTimeout,
    ];

    /// The wire form, e.g. `"AUTH_FAILED"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::AuthFailed => "AUTH_FAILED",
            ErrorCode::TokenExpired => "TOKEN_EXPIRED",
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::UnknownEvent => "UNKNOWN_EVENT",
            ErrorCode::InvalidPayload => "INVALID_PAYLOAD",
            ErrorCode::InvalidJson => "INVALID_JSON",
            ErrorCode::InvalidRoom => "INVALID_ROOM",
            ErrorCode::InvalidType => "INVALID_TYPE",
            ErrorCode::ReservedType => "RESERVED_TYPE",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::RequestTimeout => "REQUEST_TIMEOUT",
        }
    }

    /// The code for a wire string.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The HTTP status the publish API answers with this code (400 for the
    /// codes that only occur on the socket).
    pub fn http_status(&self) -> u16 {
        match self {
            ErrorCode::AuthFailed | ErrorCode::TokenExpired => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Unavailable => 503,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was refused: the `reason` of an `AUTH_FAILED` error.
/// Exhaustive, like [`ErrorCode`]: the four reasons of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthReason {
    /// `missing_token`: no token in any enabled source.
    MissingToken,
    /// `token_expired`: `exp` has passed.
    TokenExpired,
    /// `invalid_token`: bad signature, bad algorithm, malformed, or `nbf`
    /// in the future.
    InvalidToken,
    /// `invalid_claims`: missing or invalid ids, missing or non-numeric
    /// `exp`, `iss`/`aud` mismatch.
    InvalidClaims,
}

impl AuthReason {
    /// Every reason.
    pub const ALL: [AuthReason; 4] = [
        AuthReason::MissingToken,
        AuthReason::TokenExpired,
        AuthReason::InvalidToken,
        AuthReason::InvalidClaims,
    ];

    /// The wire form, e.g. `"missing_token"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AuthReason::MissingToken => "missing_token",
            AuthReason::TokenExpired => "token_expired",
            AuthReason::InvalidToken => "invalid_token",
            AuthReason::InvalidClaims => "invalid_claims",
        }
    }

    /// The reason for a wire string.
    pub fn parse(s: &str) -> Option<AuthReason> {
        AuthReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The human message: `"Authentication token required"` for a missing
    /// token, `"Invalid or expired token"` otherwise.
    pub fn message(&self) -> &'static str {
        match self {
            AuthReason::MissingToken => "Authentication token required",
            _ => "Invalid or expired token",
        }
    }
}

impl fmt::Display for AuthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CONNECT_ERROR payload of a refused connection:
/// `{"message": M, "data": {"code": "AUTH_FAILED", "reason": R}}`.
pub fn connect_error_payload(reason: AuthReason) -> Value {
    json!({
        "message": reason.message(),
        "data": { "code": ErrorCode::AuthFailed.as_str(), "reason": reason.as_str() }
    })
}

/// `{"code": C, "message": M}`: the `system:error` payload and the inner
/// object of HTTP and ack errors.
pub fn error_body(code: ErrorCode, message: &str) -> Value {
    json!({ "code": code.as_str(), "message": message })
}

/// The HTTP error body of the publish API: `{"error": {"code", "message"}}`.
pub fn http_error_body(code: ErrorCode, message: &str) -> Value {
    json!({ "error": error_body(code, message) })
}

/// A successful subscribe/unsubscribe ack: `{"ok": true, "room": R}`.
pub fn ack_ok(room: &Room) -> Value {
    json!({ "ok": true, "room": room.to_string() })
}

/// A failed ack: `{"ok": false, "error": {"code": C, "message": M}}`.
pub fn ack_err(code: ErrorCode, message: &str) -> Value {
    json!({ "ok": false, "error": error_body(code, message) })
}

/// A failed `auth:refresh` ack:
/// `{"ok": false, "error": {"code": "AUTH_FAILED", "message": M, "reason": R}}`.
pub fn ack_auth_err(reason: AuthReason) -> Value {
    json!({
        "ok": false,
        "error": {
            "code": ErrorCode::AuthFailed.as_str(),
            "message": reason.message(),
            "reason": reason.as_str()
        }
    })
}

/// A successful `auth:refresh` ack: `{"ok": true, "exp": E}`.
pub fn refresh_ok(exp: i64) -> Value {
    json!({ "ok": true, "exp": exp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_strings() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_'));
        }
        for r in AuthReason::ALL {
            assert_eq!(AuthReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(ErrorCode::parse("auth_failed"), None);
    }

    #[test]
    fn bodies() {
        assert_eq!(
            connect_error_payload(AuthReason::MissingToken),
            json!({"message": "Authentication token required", "data": {"code": "AUTH_FAILED", "reason": "missing_token"}})
        );
        let room = Room::parse("org:acme:site:s1").unwrap();
        assert_eq!(
            ack_ok(&room),
            json!({"ok": true, "room": "org:acme:site:s1"})
        );
        assert_eq!(
            ack_err(ErrorCode::InvalidId, "bad id"),
            json!({"ok": false, "error": {"code": "INVALID_ID", "message": "bad id"}})
        );
        assert_eq!(
            http_error_body(ErrorCode::Forbidden, "no"),
            json!({"error": {"code": "FORBIDDEN", "message": "no"}})
        );
        assert_eq!(ErrorCode::Unavailable.http_status(), 503);
    }
}
