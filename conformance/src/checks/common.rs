//! Helpers shared by the check groups.

use crate::client::{OpenOptions, WsClient};
use crate::ctx::{CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::spawn::Instance;
use crate::tokens::{self, Alg};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// Valid client claims for a fresh organization and user of this check.
pub fn claims(ctx: &Ctx) -> (String, String, Map<String, Value>) {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let c = tokens::client_claims(&org, &user);
    (org, user, c)
}

/// Connect with this auth payload on a fresh connection and expect CONNECT_ERROR with `reason`.
pub async fn reject(
    ctx: &Ctx,
    auth: Option<Value>,
    opts: &OpenOptions,
    reason: &str,
) -> CheckResult {
    let (c, reply) = ctx.try_connect(auth, opts).await?;
    c.close().await;
    expect::connect_error(&reply, reason)
}

/// Connect with `{"token": token}` and expect CONNECT_ERROR with `reason`.
pub async fn reject_token(ctx: &Ctx, token: &str, reason: &str) -> CheckResult {
    reject(
        ctx,
        Some(json!({ "token": token })),
        &OpenOptions::default(),
        reason,
    )
    .await
}

/// Signs `claims` with the primary algorithm and expects `reason`.
pub async fn reject_claims(ctx: &Ctx, claims: &Map<String, Value>, reason: &str) -> CheckResult {
    let t = ctx.minter.sign(claims)?;
    reject_token(ctx, &t, reason).await
}

/// Connects with the token (or none) and these options; expects success and a
/// valid `system:connected`; returns the client and its payload.
pub async fn accept(
    ctx: &Ctx,
    auth: Option<Value>,
    opts: &OpenOptions,
) -> Result<(WsClient, Value), CheckFailure> {
    let (mut c, reply) = ctx.try_connect(auth, opts).await?;
    if let Err(e) = reply {
        return Err(CheckFailure::fail("the CONNECT was refused")
            .expected("a CONNECT reply")
            .actual(format!("CONNECT_ERROR {e}")));
    }
    let env = c.expect_event("system:connected").await?;
    expect::schema("system-connected.json", "system:connected", &env)?;
    let payload = env.get("payload").cloned().unwrap_or(Value::Null);
    Ok((c, payload))
}

/// Signs `claims` and expects the CONNECT to succeed; returns the payload of `system:connected`.
pub async fn accept_claims(ctx: &Ctx, claims: &Map<String, Value>) -> Result<Value, CheckFailure> {
    let t = ctx.minter.sign(claims)?;
    let (c, p) = accept(ctx, Some(json!({ "token": t })), &OpenOptions::default()).await?;
    c.close().await;
    Ok(p)
}

/// Writes bytes to a fresh file in the temp directory (for keys handed to private instances).
pub fn temp_file(name: &str, bytes: &[u8]) -> Result<std::path::PathBuf, CheckFailure> {
    let dir = std::env::temp_dir().join(format!("roomcast-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| CheckFailure::fail(format!("temp dir: {e}")))?;
    let p = dir.join(name);
    std::fs::write(&p, bytes).map_err(|e| CheckFailure::fail(format!("temp file: {e}")))?;
    Ok(p)
}

/// A context in which tokens of `alg` are verified: the target itself when
/// not spawning, or a private instance configured with the public key.
pub async fn alg_ctx(ctx: &Ctx, alg: Alg) -> Result<(Ctx, Option<Instance>), CheckFailure> {
    let pair = match alg {
        Alg::Rs256 => ctx.minter.keys().rs256.clone(),
        Alg::Es256 => ctx.minter.keys().es256.clone(),
        Alg::Hs256 => None,
    };
    let Some((_, public)) = pair else {
        return Err(CheckFailure::skip(format!(
            "no {} private key: give --jwt-private-key FILE --jwt-alg {0} or --extra-key {0}:PRIV:PUB",
            alg.as_str()
        )));
    };
    if ctx.cfg.spawn.is_none() {
        return Ok((ctx.clone(), None));
    }
    let Some(public) = public else {
        return Err(CheckFailure::skip(format!(
            "spawn mode needs the {} public key (PRIV:PUB) to configure the instance",
            alg.as_str()
        )));
    };
    let path = temp_file(&format!("{}-{}.pem", alg.as_str(), ctx.uniq("k")), &public)?;
    let algs = format!("HS256,{}", alg.as_str());
    let inst = ctx
        .private_instance(&[
            ("JWT_PUBLIC_KEY_FILE", &path.to_string_lossy()),
            ("JWT_ALGORITHMS", &algs),
        ])
        .await?;
    Ok((ctx.with_target(&inst.base), Some(inst)))
}

/// Expects nothing but heartbeats on `c` for `ms` milliseconds.
pub async fn silence(c: &mut WsClient, ms: u64, what: &str) -> CheckResult {
    match c.expect_silence(Duration::from_millis(ms)).await {
        Ok(()) => Ok(()),
        Err(i) => Err(CheckFailure::fail(format!("{what}: something arrived"))
            .expected(format!("nothing within {ms} ms"))
            .actual(format!("{i:?}"))),
    }
}

/// Subscribes with an ack and expects the ok ack for `room`.
pub async fn subscribe(c: &mut WsClient, kind: &str, id: &str, room: &str) -> CheckResult {
    let args = c
        .emit_ack(&format!("subscribe:{kind}"), vec![json!(id)])
        .await?;
    expect::ack_ok(&args, room)
}

/// Receives the next event `ty` and reads its envelope fields leniently:
/// the shape and format of envelopes are the ENV group's business
/// (`expect::envelope`), so other groups do not fail on them twice.
pub async fn recv_envelope(c: &mut WsClient, ty: &str) -> Result<expect::Env, CheckFailure> {
    let v = c.expect_event(ty).await?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(expect::Env {
        event_id: s("eventId"),
        ty: s("type"),
        timestamp: s("timestamp"),
        payload: v.get("payload").cloned().unwrap_or(Value::Null),
    })
}

/// Type of the marker events used to prove that something did NOT arrive:
/// a publish that must not reach a socket is followed by a marker to a room
/// the socket is in; per-instance order (PUB-4) makes the marker the next event.
pub const MARKER: &str = "test:marker";

/// Publishes a marker into `room`; returns its eventId.
pub async fn publish_marker(ctx: &Ctx, room: &str) -> Result<String, CheckFailure> {
    let b = ctx
        .publish_ok(room, MARKER, json!({ "marker": true }))
        .await?;
    Ok(accepted_id(&b))
}

/// The `eventId` of a 202 publish answer, or "".
pub fn accepted_id(answer: &Value) -> String {
    answer
        .get("eventId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The `eventId` of an event's envelope (its first argument), or "".
pub fn event_id_of(args: &[Value]) -> &str {
    args.first()
        .and_then(|e| e.get("eventId"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The quiet window after the delivery bound (spec, Appendix B 21).
pub const QUIET_WINDOW_MS: u64 = 1000;

/// A non-delivery proof: the next event on `c` must be the marker with
/// `event_id`, and nothing may follow it within the quiet window. Order is
/// promised per publishing instance and room only, so an event that must not
/// arrive could still come after a marker published into another room.
pub async fn expect_marker(c: &mut WsClient, event_id: &str, what: &str) -> CheckResult {
    next_marker(c, event_id, what).await?;
    silence(
        c,
        QUIET_WINDOW_MS,
        &format!("{what}: after the marker (the quiet window)"),
    )
    .await
}

/// The next event on `c` must be the marker with `event_id` (a delivery
/// proof, or the first of several markers: no quiet window after it).
pub async fn next_marker(c: &mut WsClient, event_id: &str, what: &str) -> CheckResult {
    let (name, args) = c.next_event("the marker event").await?;
    let got_id = event_id_of(&args);
    if name != MARKER || got_id != event_id {
        return Err(
            CheckFailure::fail(format!("{what}: an event arrived that must not"))
                .expected(format!("only the marker {MARKER} {event_id}"))
                .actual(format!("{name} {}", Value::Array(args))),
        );
    }
    Ok(())
}

/// Subscribes every id with pipelined acks; returns every ack's arguments in order.
pub async fn subscribe_many(
    c: &mut WsClient,
    kind: &str,
    ids: &[String],
) -> Result<Vec<Vec<Value>>, CheckFailure> {
    let mut acks = Vec::new();
    for id in ids {
        acks.push(
            c.emit_with_ack_id(&format!("subscribe:{kind}"), vec![json!(id)])
                .await?,
        );
    }
    let mut out = Vec::new();
    for a in acks {
        out.push(c.wait_ack(a).await?);
    }
    Ok(out)
}
