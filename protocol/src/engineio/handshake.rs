//! The Engine.IO handshake request: the query string of
//! `GET /socket.io/?EIO=4&transport=polling[&sid=…]` and the standard
//! HTTP 400 error bodies.

use std::borrow::Cow;
use std::fmt;

/// The transport a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP long-polling (`transport=polling`).
    Polling,
    /// WebSocket (`transport=websocket`).
    Websocket,
}

impl Transport {
    /// The query-string value: `"polling"` or `"websocket"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Transport::Polling => "polling",
            Transport::Websocket => "websocket",
        }
    }

    /// Parses a query-string value; anything but `polling` and `websocket`
    /// (including `webtransport`) is `None`.
    pub fn parse(s: &str) -> Option<Transport> {
        match s {
            "polling" => Some(Transport::Polling),
            "websocket" => Some(Transport::Websocket),
            _ => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Engine.IO parameters of a request's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeQuery {
    /// The protocol revision; always [`super::PROTOCOL`] once parsed.
    pub eio: u8,
    /// The requested transport.
    pub transport: Transport,
    /// The session id, for requests on an existing session (polling
    /// requests after the handshake, the WebSocket upgrade). An empty
    /// `sid=` counts as absent, as in engine.io.
    pub sid: Option<String>,
}

/// An Engine.IO handshake error, answered with HTTP 400 and
/// [`HandshakeError::json_body`] (403 for [`HandshakeError::Forbidden`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Code 0: `transport` is missing or not `polling`/`websocket`.
    #[error("Transport unknown")]
    UnknownTransport,
    /// Code 1: `sid` names no live session.
    #[error("Session ID unknown")]
    UnknownSid,
    /// Code 2: a handshake (no `sid`) by a method other than GET.
    #[error("Bad handshake method")]
    BadHandshakeMethod,
    /// Code 3: a malformed request (e.g. `transport=websocket` without an
    /// `Upgrade` header, or polling on an upgraded session).
    #[error("Bad request")]
    BadRequest,
    /// Code 4: refused by the server's request filter.
    #[error("Forbidden")]
    Forbidden,
    /// Code 5: `EIO` is missing or not `4`.
    #[error("Unsupported protocol version")]
    UnsupportedProtocolVersion,
}

impl HandshakeError {
    /// The numeric engine.io error code, 0 to 5.
    pub fn code(&self) -> u8 {
        match self {
            HandshakeError::UnknownTransport => 0,
            HandshakeError::UnknownSid => 1,
            HandshakeError::BadHandshakeMethod => 2,
            HandshakeError::BadRequest => 3,
            HandshakeError::Forbidden => 4,
            HandshakeError::UnsupportedProtocolVersion => 5,
        }
    }

    /// The engine.io message text, e.g. `"Transport unknown"`.
    pub fn message(&self) -> &'static str {
        match self {
            HandshakeError::UnknownTransport => "Transport unknown",
            HandshakeError::UnknownSid => "Session ID unknown",
            HandshakeError::BadHandshakeMethod => "Bad handshake method",
            HandshakeError::BadRequest => "Bad request",
            HandshakeError::Forbidden => "Forbidden",
            HandshakeError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status engine.io answers with: 403 for `Forbidden`, else 400.
    pub fn http_status(&self) -> u16 {
        match self {
            HandshakeError::Forbidden => 403,
            _ => 400,
        }
    }

    /// The HTTP body: `{"code":N,"message":"..."}`.
    pub fn json_body(&self) -> String {
        serde_json::json!({ "code": self.code(), "message": self.message() }).to_string()
    }

    /// Maps an engine.io code (0 to 5) back to the error.
    pub fn from_code(code: u8) -> Option<HandshakeError> {
        Some(match code {
            0 => HandshakeError::UnknownTransport,
            1 => HandshakeError::UnknownSid,
            2 => HandshakeError::BadHandshakeMethod,
            3 => HandshakeError::BadRequest,
            4 => HandshakeError::Forbidden,
            5 => HandshakeError::UnsupportedProtocolVersion,
            _ => return None,
        })
    }
}

/// Parses the query string of an Engine.IO request (without the leading
/// `?`; `None` when the URL has none).
///
/// Checks first `transport` (missing or unknown →
/// [`HandshakeError::UnknownTransport`]), then `EIO` (missing or not `4` →
/// [`HandshakeError::UnsupportedProtocolVersion`]). Values are
/// percent-decoded, `+` is a space; when a key repeats, the first value
/// counts. Other parameters are ignored (read them with [`query_param`]).
///
/// This sees only the query string. A server that must report errors in
/// the spec's full order (transport, session id, method, protocol version)
/// uses [`verify`].
pub fn parse_query(query: Option<&str>) -> Result<HandshakeQuery, HandshakeError> {
    let query = query.unwrap_or("");
    let transport = query_param(Some(query), "transport")
        .as_deref()
        .and_then(Transport::parse)
        .ok_or(HandshakeError::UnknownTransport)?;
    match query_param(Some(query), "EIO").as_deref() {
        Some("4") => {}
        _ => return Err(HandshakeError::UnsupportedProtocolVersion),
    }
    let sid = query_param(Some(query), "sid").filter(|s| !s.is_empty());
    Ok(HandshakeQuery {
        eio: super::PROTOCOL,
        transport,
        sid,
    })
}

/// Checks an Engine.IO request completely, reporting the first error in
/// this order (spec WIRE-7; engine.io's order, except that the version is
/// also checked on requests with a `sid`):
///
/// 1. `transport` missing or unknown → [`HandshakeError::UnknownTransport`];
/// 2. a `sid` for which `sid_exists` is false → [`HandshakeError::UnknownSid`];
/// 3. no `sid` (a handshake) and `method` not `GET` →
///    [`HandshakeError::BadHandshakeMethod`];
/// 4. `EIO` missing or not `4` → [`HandshakeError::UnsupportedProtocolVersion`].
///
/// `sid_exists` is called at most once. Checks that need headers (a
/// WebSocket handshake without `Upgrade` → [`HandshakeError::BadRequest`])
/// stay with the caller.
pub fn verify(
    query: Option<&str>,
    method: &str,
    sid_exists: impl FnOnce(&str) -> bool,
) -> Result<HandshakeQuery, HandshakeError> {
    let transport = query_param(query, "transport")
        .as_deref()
        .and_then(Transport::parse)
        .ok_or(HandshakeError::UnknownTransport)?;
    let sid = query_param(query, "sid").filter(|s| !s.is_empty());
    match &sid {
        Some(sid) if !sid_exists(sid) => return Err(HandshakeError::UnknownSid),
        None if method != "GET" => return Err(HandshakeError::BadHandshakeMethod),
        _ => {}
    }
    if query_param(query, "EIO").as_deref() != Some("4") {
        return Err(HandshakeError::UnsupportedProtocolVersion);
    }
    Ok(HandshakeQuery {
        eio: super::PROTOCOL,
        transport,
        sid,
    })
}

/// The percent-decoded value of the first `name=` parameter of a query
/// string, if any. A key without `=` has the value `""`.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter(|pair| !pair.is_empty())
        .find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v).into_owned())
        })
}

/// Decodes `%XX` escapes and `+` (space) like Node's `querystring`: a
/// malformed escape is kept literally; invalid UTF-8 becomes U+FFFD.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                bytes.get(i + 1).and_then(|&h| hex(h)),
                bytes.get(i + 2).and_then(|&l| hex(l)),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_handshake_queries() {
        let q = parse_query(Some("EIO=4&transport=polling&t=N8hyd6w")).unwrap();
        assert_eq!(
            q,
            HandshakeQuery {
                eio: 4,
                transport: Transport::Polling,
                sid: None
            }
        );
        let q = parse_query(Some("transport=websocket&EIO=4&sid=ab%2Bc%3D")).unwrap();
        assert_eq!(q.transport, Transport::Websocket);
        assert_eq!(q.sid.as_deref(), Some("ab+c="));
        assert_eq!(
            parse_query(Some("EIO=4&transport=polling&sid="))
                .unwrap()
                .sid,
            None
        );
    }

    #[test]
    fn transport_is_checked_before_protocol_version() {
        assert_eq!(parse_query(None), Err(HandshakeError::UnknownTransport));
        assert_eq!(
            parse_query(Some("EIO=3&transport=foo")),
            Err(HandshakeError::UnknownTransport)
        );
        assert_eq!(
            parse_query(Some("EIO=4&transport=webtransport")),
            Err(HandshakeError::UnknownTransport)
        );
        assert_eq!(
            parse_query(Some("transport=polling")),
            Err(HandshakeError::UnsupportedProtocolVersion)
        );
        assert_eq!(
            parse_query(Some("EIO=3&transport=polling")),
            Err(HandshakeError::UnsupportedProtocolVersion)
        );
        assert_eq!(
            parse_query(Some("EIO=abc&transport=polling")),
            Err(HandshakeError::UnsupportedProtocolVersion)
        );
        assert_eq!(
            parse_query(Some("EIO=%34&transport=polling")).map(|q| q.eio),
            Ok(4)
        );
    }

    #[test]
    fn verify_reports_the_first_error_in_spec_order() {
        let known = |s: &str| s == "live";
        assert_eq!(
            verify(Some("EIO=3&transport=x&sid=dead"), "POST", known),
            Err(HandshakeError::UnknownTransport)
        );
        assert_eq!(
            verify(Some("EIO=3&transport=polling&sid=dead"), "POST", known),
            Err(HandshakeError::UnknownSid)
        );
        assert_eq!(
            verify(Some("EIO=3&transport=polling"), "POST", known),
            Err(HandshakeError::BadHandshakeMethod)
        );
        assert_eq!(
            verify(Some("EIO=3&transport=polling"), "GET", known),
            Err(HandshakeError::UnsupportedProtocolVersion)
        );
        assert_eq!(
            verify(Some("EIO=3&transport=polling&sid=live"), "POST", known),
            Err(HandshakeError::UnsupportedProtocolVersion)
        );
        let q = verify(Some("EIO=4&transport=polling&sid=live"), "POST", known).unwrap();
        assert_eq!(q.sid.as_deref(), Some("live"));
        assert_eq!(
            verify(Some("EIO=4&transport=websocket"), "GET", known)
                .unwrap()
                .sid,
            None
        );
    }

    #[test]
    fn error_codes_and_bodies() {
        for code in 0..=5u8 {
            let e = HandshakeError::from_code(code).unwrap();
            assert_eq!(e.code(), code);
            assert_eq!(e.to_string(), e.message());
        }
        assert_eq!(HandshakeError::from_code(6), None);
        assert_eq!(
            HandshakeError::UnsupportedProtocolVersion.json_body(),
            r#"{"code":5,"message":"Unsupported protocol version"}"#
        );
    }

    #[test]
    fn percent_decoding_is_lenient_like_node() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(
            query_param(Some("a&token=x%2Ey&token=z"), "token").as_deref(),
            Some("x.y")
        );
        assert_eq!(query_param(Some("a&b=1"), "a").as_deref(), Some(""));
        assert_eq!(query_param(None, "a"), None);
    }
}
