//! `roomcast-socketioxide`: the benchmark's subset of Roomcast v1 on socketioxide (the
//! Rust port of socket.io) and axum, written as a socketioxide user would: a connect
//! middleware that verifies the HS256 JWT of the CONNECT auth payload (`{"token"}`), a
//! connect handler that joins `org:{org}` and `org:{org}:user:{user}` and emits
//! `system:connected`, and `POST /v1/publish` (Bearer token with the `realtime:publish`
//! scope) that emits the envelope to the room and answers 202. Outbound buffer: 1024
//! packets per socket, like the reference server. `PORT`, `JWT_SECRET` from the
//! environment; `GET /healthz` answers 200. Not a conforming server: only what
//! `roomcast-bench` exercises.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use protocol::roomcast::envelope::Envelope;
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::timestamp::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::SocketIo;

static KEY: OnceLock<(DecodingKey, Validation)> = OnceLock::new();

fn key() -> &'static (DecodingKey, Validation) {
    KEY.get_or_init(|| {
        let secret = std::env::var("JWT_SECRET").unwrap_or_default();
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.validate_aud = false;
        v.required_spec_claims = ["exp".to_owned()].into();
        (DecodingKey::from_secret(secret.as_bytes()), v)
    })
}

#[derive(Debug, Clone)]
struct Who {
    org: String,
    user: String,
}

#[derive(Deserialize)]
struct Auth {
    token: Option<Value>,
}

#[derive(Deserialize)]
struct ClientClaims {
    #[serde(rename = "userId")]
    user_id: Option<String>,
    sub: Option<String>,
    #[serde(rename = "organizationId")]
    org: Option<String>,
}

#[derive(Deserialize)]
struct PublisherClaims {
    scope: Option<String>,
    #[serde(rename = "organizationId")]
    org: Option<String>,
}

#[derive(Debug)]
struct AuthError(&'static str);

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn envelope(ty: &str, payload: Value) -> Option<Envelope> {
    Some(Envelope {
        event_id: uuid::Uuid::new_v4(),
        event_type: EventType::parse(ty).ok()?,
        timestamp: Timestamp::from_millis(now_ms()),
        payload,
    })
}

async fn authenticate(s: SocketRef, TryData(auth): TryData<Auth>) -> Result<(), AuthError> {
    let token = auth
        .ok()
        .and_then(|a| a.token)
        .ok_or(AuthError("Authentication required"))?;
    let token = token.as_str().ok_or(AuthError("Invalid or expired token"))?;
    let (k, v) = key();
    let claims = decode::<ClientClaims>(token, k, v)
        .map_err(|_| AuthError("Invalid or expired token"))?
        .claims;
    let org = claims.org.ok_or(AuthError("Invalid or expired token"))?;
    let user = claims
        .user_id
        .or(claims.sub)
        .ok_or(AuthError("Invalid or expired token"))?;
    s.extensions.insert(Who { org, user });
    Ok(())
}

async fn on_connect(s: SocketRef) {
    let Some(who) = s.extensions.get::<Who>() else {
        let _ = s.disconnect();
        return;
    };
    let org_room = format!("org:{}", who.org);
    let user_room = format!("org:{}:user:{}", who.org, who.user);
    #[allow(clippy::let_unit_value)]
    let _ = s.join(vec![org_room.clone(), user_room.clone()]);
    let payload = json!({"sid": s.id.to_string(), "userId": who.user, "organizationId": who.org, "rooms": [org_room, user_room]});
    if let Some(env) = envelope("system:connected", payload) {
        let _ = s.emit("system:connected", &env.to_json());
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> axum::response::Response {
    (status, Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

async fn publish(State(io): State<SocketIo>, headers: HeaderMap, body: String) -> axum::response::Response {
    let token = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let Some(token) = token else {
        return error(StatusCode::UNAUTHORIZED, "AUTH_FAILED", "Missing bearer token");
    };
    let (k, v) = key();
    let Ok(claims) = decode::<PublisherClaims>(token, k, v).map(|d| d.claims) else {
        return error(StatusCode::UNAUTHORIZED, "AUTH_FAILED", "Invalid or expired token");
    };
    if !claims
        .scope
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|x| x == "realtime:publish"))
    {
        return error(StatusCode::FORBIDDEN, "FORBIDDEN", "Token lacks the realtime:publish scope");
    }
    let Ok(Value::Object(req)) = serde_json::from_str::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_JSON", "Body must be a JSON object");
    };
    let Some(room) = req.get("room").and_then(Value::as_str) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_ROOM", "Invalid room");
    };
    if let Some(org) = &claims.org {
        if !room.starts_with(&format!("org:{org}")) {
            return error(StatusCode::FORBIDDEN, "FORBIDDEN", "Other organization");
        }
    }
    let ty = req.get("type").and_then(Value::as_str).unwrap_or_default();
    let payload = req.get("payload").cloned().unwrap_or(Value::Null);
    let Some(env) = envelope(ty, payload) else {
        return error(StatusCode::BAD_REQUEST, "INVALID_TYPE", "Invalid type");
    };
    let _ = io.to(room.to_owned()).emit(ty.to_owned(), &env.to_json()).await;
    (
        StatusCode::ACCEPTED,
        Json(json!({"eventId": env.event_id_string(), "room": room, "timestamp": env.timestamp.to_iso()})),
    )
        .into_response()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let _ = key();
    let (layer, io) = SocketIo::builder().max_buffer_size(1024).build_layer();
    io.ns("/", on_connect.with(authenticate));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/publish", post(publish))
        .with_state(io)
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("roomcast-socketioxide listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
