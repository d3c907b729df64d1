//! `POST /v1/publish`: checks in the spec's order (PUB-25) — method 405, token 401,
//! scope 403, Content-Type 415, size 413, JSON 400, room 400, type 400, organization
//! 403 — then one envelope, encoded once, handed to fan-out; 202 with its id and time once
//! fan-out holds it, else 503 `UNAVAILABLE` (PUB-24).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use http::{header, HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;
use protocol::roomcast::codes::ErrorCode;
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::room::Room;
use protocol::roomcast::timestamp::Timestamp;
use serde_json::{json, Value};
use tracing::debug;

use crate::auth::{bearer_token, PublishAuthError};
use crate::body::{declared_length, read_body, BodyError};
use crate::clock::now_ms;
use crate::envelope::envelope_text;
use crate::response::{body_timeout, json_error, respond, Resp};
use crate::shared::Shared;

/// Handles one publish request.
pub(crate) async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    let resp = handle_inner(shared, req).await;
    shared.metrics.publish_request(resp.status().as_u16());
    resp
}

fn is_json(ct: Option<&HeaderValue>) -> bool {
    ct.and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json"))
}

async fn handle_inner(shared: &Arc<Shared>, req: Request<Incoming>) -> Resp {
    if req.method() != Method::POST {
        let mut r = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "Use POST",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let Some(verifier) = shared.verifier.as_ref() else {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "Publishing is disabled in compliance mode",
        );
    };
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let Some(token) = token else {
        return json_error(
            StatusCode::UNAUTHORIZED,
            ErrorCode::AuthFailed,
            "Authentication token required",
        );
    };
    let publisher = match verifier.verify_publisher(token, now_ms().div_euclid(1000)) {
        Ok(p) => p,
        Err(PublishAuthError::Unauthorized(reason)) => {
            debug!(reason = reason.as_str(), "publish token rejected");
            return json_error(
                StatusCode::UNAUTHORIZED,
                ErrorCode::AuthFailed,
                reason.message(),
            );
        }
        Err(PublishAuthError::Forbidden) => {
            return json_error(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "Token lacks the realtime:publish scope",
            )
        }
    };
    if !is_json(req.headers().get(header::CONTENT_TYPE)) {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "Content-Type must be application/json",
        );
    }
    let limit = shared.config.publish_max_body;
    let too_large = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            &format!("Body exceeds {limit} bytes"),
        )
    };
    let declared = declared_length(req.headers());
    let read = read_body(
        req.into_body(),
        declared,
        limit,
        &shared.config.limits,
        std::future::pending(),
    );
    let body = match read.await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large(),
        Err(BodyError::Slow) => {
            let r = json_error(
                StatusCode::REQUEST_TIMEOUT,
                ErrorCode::RequestTimeout,
                "The body did not arrive in time",
            );
            return body_timeout(shared, r);
        }
        Err(BodyError::Io | BodyError::Cancelled) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                "Body could not be read",
            )
        }
    };
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            "Body must be a JSON object",
        );
    };
    let room_str = body.get("room").and_then(Value::as_str).unwrap_or("");
    let Ok(room) = Room::parse(room_str) else {
        let shown: String = room_str.chars().take(200).collect();
        return json_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRoom,
            &format!("Invalid room {shown}"),
        );
    };
    let type_str = body.get("type").and_then(Value::as_str).unwrap_or("");
    let Ok(event_type) = EventType::parse(type_str) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidType,
            "Invalid type: expected domain:action, at most 64 characters",
        );
    };
    if event_type.is_reserved() {
        let msg = format!("Type domain {} is reserved", event_type.domain());
        return json_error(StatusCode::BAD_REQUEST, ErrorCode::ReservedType, &msg);
    }
    if !publisher.may_publish_to(room.org()) {
        return json_error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "Token may not publish into this organization",
        );
    }
    if shared.shutting_down_public() {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "Fan-out unavailable",
        );
    }
    let payload = body.remove("payload").unwrap_or(Value::Null);
    let room_name = room.to_string();
    let timestamp = Timestamp(now_ms());
    let (text, event_id) = envelope_text(&shared.config.namespace, event_type, timestamp, payload);
    // PUB-24: 202 only once fan-out holds the event (with Redis: the append is acked)
    if let Err(e) = shared
        .fanout
        .publish(&room_name, &event_id.to_string(), text)
        .await
    {
        debug!(reason = e.0, "publish refused: fan-out unavailable");
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "Fan-out unavailable",
        );
    }
    shared.metrics.events_published.fetch_add(1, Relaxed);
    let body = json!({
        "eventId": event_id.to_string(),
        "room": room_name,
        "timestamp": timestamp.to_iso(),
    });
    respond(StatusCode::ACCEPTED, "application/json", body.to_string())
}
