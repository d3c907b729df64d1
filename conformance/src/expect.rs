//! The harness's own strict expectations: JSON Schema validation against
//! `spec/schemas/` (compiled in) plus checks the schemas cannot express
//! (a real UUID v4, a real calendar timestamp, exact key sets).

use crate::ctx::CheckFailure;
use crate::http::HttpResponse;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Every schema of `spec/schemas/`, by file name.
pub const SCHEMAS: [(&str, &str); 13] = [
    (
        "connect-error.json",
        include_str!("../../spec/schemas/connect-error.json"),
    ),
    (
        "eio-error.json",
        include_str!("../../spec/schemas/eio-error.json"),
    ),
    (
        "eio-open.json",
        include_str!("../../spec/schemas/eio-open.json"),
    ),
    (
        "envelope.json",
        include_str!("../../spec/schemas/envelope.json"),
    ),
    (
        "ping-ack.json",
        include_str!("../../spec/schemas/ping-ack.json"),
    ),
    (
        "publish-accepted.json",
        include_str!("../../spec/schemas/publish-accepted.json"),
    ),
    (
        "publish-error.json",
        include_str!("../../spec/schemas/publish-error.json"),
    ),
    (
        "publish-request.json",
        include_str!("../../spec/schemas/publish-request.json"),
    ),
    (
        "refresh-ack.json",
        include_str!("../../spec/schemas/refresh-ack.json"),
    ),
    (
        "subscribe-ack.json",
        include_str!("../../spec/schemas/subscribe-ack.json"),
    ),
    (
        "system-connected.json",
        include_str!("../../spec/schemas/system-connected.json"),
    ),
    (
        "system-error.json",
        include_str!("../../spec/schemas/system-error.json"),
    ),
    (
        "system-pong.json",
        include_str!("../../spec/schemas/system-pong.json"),
    ),
];

fn validators() -> &'static BTreeMap<&'static str, Result<jsonschema::Validator, String>> {
    static V: OnceLock<BTreeMap<&'static str, Result<jsonschema::Validator, String>>> =
        OnceLock::new();
    V.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|(name, text)| {
                let v = serde_json::from_str::<Value>(text)
                    .map_err(|e| e.to_string())
                    .and_then(|s| jsonschema::validator_for(&s).map_err(|e| e.to_string()));
                (*name, v)
            })
            .collect()
    })
}

/// Validates `v` against `spec/schemas/<schema>`.
pub fn schema(schema: &str, what: &str, v: &Value) -> Result<(), CheckFailure> {
    let Some(val) = validators().get(schema) else {
        return Err(CheckFailure::fail(format!(
            "harness bug: no schema {schema}"
        )));
    };
    let val = val.as_ref().map_err(|e| {
        CheckFailure::fail(format!(
            "harness bug: schema {schema} does not compile: {e}"
        ))
    })?;
    let errors: Vec<String> = val
        .iter_errors(v)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CheckFailure::fail(format!(
            "{what} does not validate against spec/schemas/{schema}"
        ))
        .expected(format!("an instance of {schema}"))
        .actual(format!("{v} — {}", errors.join("; "))))
    }
}

/// Whether `s` is a lowercase hyphenated UUID version 4 (variant 10xx).
pub fn is_uuid_v4_lower(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 36 {
        return false;
    }
    for (i, c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'4',
            19 => matches!(c, b'8' | b'9' | b'a' | b'b'),
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Parses a `toISOString` timestamp strictly; returns ms since the epoch.
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24 {
        return None;
    }
    let shape_ok = b.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        19 => *c == b'.',
        23 => *c == b'Z',
        _ => c.is_ascii_digit(),
    });
    if !shape_ok {
        return None;
    }
    let fmt = time::format_description::well_known::Rfc3339;
    let dt = time::OffsetDateTime::parse(s, &fmt).ok()?;
    Some((dt.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An envelope that passed every check.
#[derive(Debug, Clone)]
pub struct Env {
    /// eventId.
    pub event_id: String,
    /// type.
    pub ty: String,
    /// timestamp text.
    pub timestamp: String,
    /// payload.
    pub payload: Value,
}

/// Checks an envelope strictly: schema, exact keys, UUID v4, real timestamp
/// within a minute of now, and (when given) its type.
pub fn envelope(v: &Value, ty: Option<&str>) -> Result<Env, CheckFailure> {
    let obj = v
        .as_object()
        .ok_or_else(|| CheckFailure::fail("the envelope is not a JSON object").actual(v))?;
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["eventId", "payload", "timestamp", "type"] {
        return Err(
            CheckFailure::fail("the envelope does not have exactly the four keys")
                .expected("eventId, payload, timestamp, type")
                .actual(keys.join(", ")),
        );
    }
    schema("envelope.json", "the envelope", v)?;
    let event_id = obj
        .get("eventId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !is_uuid_v4_lower(&event_id) {
        return Err(CheckFailure::fail("eventId is not a lowercase UUID v4")
            .expected("xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx (lowercase hex)")
            .actual(&event_id));
    }
    let timestamp = obj
        .get("timestamp")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let Some(ms) = parse_iso_ms(&timestamp) else {
        return Err(
            CheckFailure::fail("timestamp is not a toISOString UTC timestamp")
                .expected("YYYY-MM-DDTHH:MM:SS.sssZ, a real date")
                .actual(&timestamp),
        );
    };
    let skew = (ms - now_ms()).abs();
    if skew > 60_000 {
        return Err(
            CheckFailure::fail("timestamp is not the time the event was accepted")
                .expected("within 60 s of the harness clock")
                .actual(format!("{timestamp} ({} s off)", skew / 1000)),
        );
    }
    let t = obj
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(want) = ty {
        if t != want {
            return Err(CheckFailure::fail("envelope type differs")
                .expected(want)
                .actual(&t));
        }
    }
    Ok(Env {
        event_id,
        ty: t,
        timestamp,
        payload: obj.get("payload").cloned().unwrap_or(Value::Null),
    })
}

/// Expects a single ack argument `{"ok":true,"room":room}`.
pub fn ack_ok(args: &[Value], room: &str) -> Result<(), CheckFailure> {
    let want = serde_json::json!({ "ok": true, "room": room });
    match args {
        [a] if *a == want => Ok(()),
        _ => Err(CheckFailure::fail("the ack is not the expected ok ack")
            .expected(Value::Array(vec![want]))
            .actual(Value::Array(args.to_vec()))),
    }
}

/// Expects a single error ack with `code`; validates the subscribe-ack schema.
pub fn ack_err(args: &[Value], code: &str) -> Result<(), CheckFailure> {
    let [a] = args else {
        return Err(
            CheckFailure::fail("the ack does not carry exactly one argument")
                .expected(format!(
                    "[{{\"ok\":false,\"error\":{{\"code\":\"{code}\",...}}}}]"
                ))
                .actual(Value::Array(args.to_vec())),
        );
    };
    if a.get("ok") != Some(&Value::Bool(false))
        || a.pointer("/error/code").and_then(Value::as_str) != Some(code)
    {
        return Err(
            CheckFailure::fail(format!("expected an error ack with code {code}"))
                .expected(format!(
                    "{{\"ok\":false,\"error\":{{\"code\":\"{code}\",\"message\":...}}}}"
                ))
                .actual(a),
        );
    }
    schema("subscribe-ack.json", "the ack", a)
}

/// Expects a CONNECT_ERROR payload with this reason (exact shape, exact message).
pub fn connect_error(reply: &Result<Value, Value>, reason: &str) -> Result<(), CheckFailure> {
    let msg = if reason == "missing_token" {
        "Authentication token required"
    } else {
        "Invalid or expired token"
    };
    let want =
        serde_json::json!({"message": msg, "data": {"code": "AUTH_FAILED", "reason": reason}});
    match reply {
        Ok(v) => Err(CheckFailure::fail("the CONNECT was accepted")
            .expected(format!("CONNECT_ERROR {want}"))
            .actual(format!("CONNECT {v}"))),
        Err(p) if *p == want => schema("connect-error.json", "the CONNECT_ERROR payload", p),
        Err(p) => Err(CheckFailure::fail("wrong CONNECT_ERROR payload")
            .expected(want)
            .actual(p)),
    }
}

/// Expects an HTTP error answer: status, JSON content type, exact body shape, code.
pub fn http_error(r: &HttpResponse, status: u16, code: &str) -> Result<(), CheckFailure> {
    let body = r.json();
    let got_code = body
        .as_ref()
        .and_then(|b| b.pointer("/error/code"))
        .and_then(Value::as_str);
    if r.status != status || got_code != Some(code) {
        return Err(CheckFailure::fail(format!("expected {status} {code}"))
            .expected(format!(
                "{status} {{\"error\":{{\"code\":\"{code}\",\"message\":...}}}}"
            ))
            .actual(format!("{} {}", r.status, r.text())));
    }
    let ct = r.header("content-type").unwrap_or("");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        return Err(CheckFailure::fail("error answer is not application/json")
            .expected("Content-Type: application/json")
            .actual(format!("Content-Type: {ct}")));
    }
    schema(
        "publish-error.json",
        "the error body",
        body.as_ref().unwrap_or(&Value::Null),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_schema_compiles() {
        for (name, v) in validators() {
            assert!(v.is_ok(), "{name}: {v:?}", v = v.as_ref().err());
        }
    }

    #[test]
    fn uuid_v4_must_be_lowercase_v4() {
        assert!(is_uuid_v4_lower("3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b"));
        assert!(!is_uuid_v4_lower("3F2B8C1E-9D4A-4B7E-8C2D-5A6F7E8D9C0B"));
        assert!(!is_uuid_v4_lower("3f2b8c1e-9d4a-1b7e-8c2d-5a6f7e8d9c0b"));
        assert!(!is_uuid_v4_lower("3f2b8c1e-9d4a-4b7e-cc2d-5a6f7e8d9c0b"));
    }

    #[test]
    fn timestamps_are_strict() {
        assert!(parse_iso_ms("2026-11-22T04:35:21.123Z").is_some());
        assert!(parse_iso_ms("2026-11-22T04:35:21Z").is_none());
        assert!(parse_iso_ms("2026-11-22T04:35:21.123+00:00").is_none());
        assert!(parse_iso_ms("2026-02-30T04:35:21.123Z").is_none());
        assert_eq!(parse_iso_ms("1970-01-01T00:00:01.500Z"), Some(1500));
    }

    #[test]
    fn envelopes_are_checked_strictly() {
        let ts = {
            let now = time::OffsetDateTime::now_utc();
            let f = time::format_description::parse_borrowed::<2>(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z",
            )
            .unwrap();
            now.format(&f).unwrap()
        };
        let good = json!({"eventId":"3f2b8c1e-9d4a-4b7e-8c2d-5a6f7e8d9c0b","type":"a:b","timestamp":ts,"payload":null});
        assert!(envelope(&good, Some("a:b")).is_ok());
        let mut extra = good.clone();
        extra["x"] = json!(1);
        assert!(envelope(&extra, None).is_err());
        let mut old = good.clone();
        old["timestamp"] = json!("2001-01-01T00:00:00.000Z");
        assert!(envelope(&old, None).is_err());
    }

    #[test]
    fn connect_error_shapes() {
        let ok = Err(
            json!({"message":"Invalid or expired token","data":{"code":"AUTH_FAILED","reason":"token_expired"}}),
        );
        assert!(connect_error(&ok, "token_expired").is_ok());
        assert!(connect_error(&ok, "invalid_token").is_err());
        assert!(connect_error(&Ok(json!({})), "invalid_token").is_err());
    }
}
