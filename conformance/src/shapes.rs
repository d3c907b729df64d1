//! The shapes of everything the server says, for golden-file comparison:
//! `system:connected`, `system:error`, `system:pong`, the acks, the
//! CONNECT_ERROR payloads, a published envelope, the publish 202 and error
//! bodies — collected from a live target with ids, times, names and free-text
//! messages redacted, so that every implementation is compared against the
//! same files (`fixtures/golden/*.snap`, insta's format).

use crate::client::OpenOptions;
use crate::ctx::{CheckFailure, Ctx};
use crate::tokens::{self, client_claims, now_secs, publisher_claims};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Replaces the run-specific parts of a value.
pub fn redact(v: &Value, names: &[(&str, &str)]) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let r = match (k.as_str(), x) {
                    ("eventId", Value::String(_)) => json!("[uuid]"),
                    ("timestamp", Value::String(_)) => json!("[timestamp]"),
                    ("sid", Value::String(_)) => json!("[sid]"),
                    ("exp", Value::Number(_)) => json!("[exp]"),
                    _ => redact(x, names),
                };
                out.insert(k.clone(), r);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| redact(x, names)).collect()),
        Value::String(s) => {
            let mut s = s.clone();
            for (from, to) in names {
                s = s.replace(from, to);
            }
            Value::String(s)
        }
        other => other.clone(),
    }
}

/// Redacts the free-text `message` of error bodies and acks (not fixed by the spec).
fn free_message(mut v: Value) -> Value {
    if let Some(m) = v.pointer_mut("/error/message") {
        *m = json!("[message]");
    }
    if let Some(m) = v.pointer_mut("/payload/message") {
        *m = json!("[message]");
    }
    v
}

/// (shape name, method, token, content type, body).
type ErrorCase<'a> = (&'a str, &'a str, Option<String>, Option<&'a str>, String);

/// Collects every shape from the target.
pub async fn collect(ctx: &Ctx) -> Result<BTreeMap<String, Value>, CheckFailure> {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    let names = [(org.as_str(), "[org]"), (user.as_str(), "[user]")];
    let mut out = BTreeMap::new();
    let mut put = |name: &str, v: Value| {
        out.insert(name.to_string(), redact(&v, &names));
    };

    let mut claims = client_claims(&org, &user);
    claims.insert("role".into(), json!("operator"));
    let (mut c, connected) = ctx.connect_token(&ctx.minter.sign(&claims)?).await?;
    put("system_connected", connected);
    put(
        "ack_subscribe_ok",
        Value::Array(c.emit_ack("subscribe:site", vec![json!("s1")]).await?),
    );
    put(
        "ack_unsubscribe_ok",
        Value::Array(c.emit_ack("unsubscribe:site", vec![json!("s1")]).await?),
    );
    let ack = c.emit_ack("subscribe:unit", vec![json!("bad id")]).await?;
    put(
        "ack_invalid_id",
        Value::Array(ack.into_iter().map(free_message).collect()),
    );
    let ack = c.emit_ack("chat:send", vec![json!("x")]).await?;
    put(
        "ack_unknown_event",
        Value::Array(ack.into_iter().map(free_message).collect()),
    );
    c.emit("subscribe:site", vec![json!("bad id")]).await?;
    put(
        "system_error",
        free_message(c.expect_event("system:error").await?),
    );
    put(
        "ack_ping",
        Value::Array(c.emit_ack("system:ping", vec![]).await?),
    );
    c.emit("system:ping", vec![]).await?;
    let pong = c.expect_event("system:pong").await?;
    let mut pong = pong;
    if let Some(t) = pong.pointer_mut("/payload/timestamp") {
        *t = json!("[timestamp]");
    }
    put("system_pong", pong);
    let accepted = ctx
        .publish_ok(
            &format!("org:{org}:user:{user}"),
            "dashboard:summaryUpdated",
            json!({"open": 3, "list": [1, "two", null]}),
        )
        .await?;
    put("publish_202", accepted);
    put(
        "published_envelope",
        c.expect_event("dashboard:summaryUpdated").await?,
    );
    c.close().await;

    // CONNECT_ERROR payloads
    let reply = |auth: Option<Value>| async move {
        let (c, r) = ctx.try_connect(auth, &OpenOptions::default()).await?;
        c.close().await;
        Ok::<Value, CheckFailure>(match r {
            Ok(v) => json!({ "unexpected_connect": v }),
            Err(e) => e,
        })
    };
    put("connect_error_missing_token", reply(None).await?);
    put(
        "connect_error_invalid_token",
        reply(Some(json!({"token": "not-a-jwt"}))).await?,
    );
    let mut expired = client_claims(&org, &user);
    expired.insert("exp".into(), json!(now_secs() - 60));
    put(
        "connect_error_token_expired",
        reply(Some(json!({"token": ctx.minter.sign(&expired)?}))).await?,
    );
    let mut bad = client_claims(&org, &user);
    bad.remove("organizationId");
    put(
        "connect_error_invalid_claims",
        reply(Some(json!({"token": ctx.minter.sign(&bad)?}))).await?,
    );
    let mut cl = ctx.open().await?;
    let r = cl.connect_ns("/definitely-not-here", None).await?;
    cl.close().await;
    put(
        "connect_error_invalid_namespace",
        r.err().unwrap_or(json!({"unexpected_connect": true})),
    );

    // publish error bodies
    let good = ctx.minter.publisher(None)?;
    let mut unscoped = publisher_claims(None);
    unscoped.remove("scope");
    let unscoped = ctx.minter.sign(&unscoped)?;
    let url = format!("{}/v1/publish", ctx.cfg.publish_url.trim_end_matches('/'));
    let room = format!("org:{org}");
    let cases: Vec<ErrorCase> = vec![
        (
            "publish_401",
            "POST",
            None,
            Some("application/json"),
            json!({"room": room, "type": "a:b"}).to_string(),
        ),
        (
            "publish_401_invalid",
            "POST",
            Some(tokens::tamper(&good)),
            Some("application/json"),
            json!({"room": room, "type": "a:b"}).to_string(),
        ),
        (
            "publish_403",
            "POST",
            Some(unscoped),
            Some("application/json"),
            json!({"room": room, "type": "a:b"}).to_string(),
        ),
        (
            "publish_400_invalid_json",
            "POST",
            Some(good.clone()),
            Some("application/json"),
            "{oops".into(),
        ),
        (
            "publish_400_invalid_room",
            "POST",
            Some(good.clone()),
            Some("application/json"),
            json!({"room": "nope", "type": "a:b"}).to_string(),
        ),
        (
            "publish_400_invalid_type",
            "POST",
            Some(good.clone()),
            Some("application/json"),
            json!({"room": room, "type": "Nope"}).to_string(),
        ),
        (
            "publish_400_reserved_type",
            "POST",
            Some(good.clone()),
            Some("application/json"),
            json!({"room": room, "type": "system:x"}).to_string(),
        ),
        (
            "publish_405",
            "GET",
            Some(good.clone()),
            None,
            String::new(),
        ),
        (
            "publish_413",
            "POST",
            Some(good.clone()),
            Some("application/json"),
            format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)),
        ),
        (
            "publish_415",
            "POST",
            Some(good.clone()),
            Some("text/plain"),
            json!({"room": room, "type": "a:b"}).to_string(),
        ),
    ];
    for (name, method, token, ct, body) in cases {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            h.push(("authorization", a));
        }
        if let Some(c) = ct {
            h.push(("content-type", c));
        }
        let r = ctx
            .http(
                method,
                &url,
                &h,
                if body.is_empty() {
                    None
                } else {
                    Some(bytes::Bytes::from(body))
                },
            )
            .await?;
        let v = json!({"status": r.status, "body": free_message(r.json().unwrap_or_else(|| json!(r.text())))});
        put(name, v);
    }
    Ok(out)
}

/// Reads an insta `.snap` file: the front matter between `---` lines, then the JSON.
pub fn read_snap(text: &str) -> Option<Value> {
    let body = match text.strip_prefix("---\n") {
        Some(rest) => rest.split_once("\n---\n").map(|(_, b)| b)?,
        None => text,
    };
    serde_json::from_str(body).ok()
}

/// Compares collected shapes with the golden files of `dir`; returns the differences.
pub fn compare(shapes: &BTreeMap<String, Value>, dir: &std::path::Path) -> Vec<String> {
    let mut diffs = Vec::new();
    for (name, got) in shapes {
        let path = dir.join(format!("{name}.snap"));
        match std::fs::read_to_string(&path)
            .ok()
            .as_deref()
            .and_then(read_snap)
        {
            None => diffs.push(format!("{name}: no golden file {}", path.display())),
            Some(want) if want != *got => {
                diffs.push(format!("{name}:\n  golden: {want}\n  actual: {got}"))
            }
            Some(_) => {}
        }
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_ids_times_and_names() {
        let v = json!({"eventId": "x", "timestamp": "t", "payload": {"sid": "s", "rooms": ["org:acme-1", "org:acme-1:user:bob-2"], "exp": 5}});
        let r = redact(&v, &[("acme-1", "[org]"), ("bob-2", "[user]")]);
        assert_eq!(
            r,
            json!({"eventId": "[uuid]", "timestamp": "[timestamp]", "payload": {"sid": "[sid]", "rooms": ["org:[org]", "org:[org]:user:[user]"], "exp": "[exp]"}})
        );
    }

    #[test]
    fn snap_front_matter_is_skipped() {
        let s = "---\nsource: x\nexpression: y\n---\n{\n  \"a\": 1\n}\n";
        assert_eq!(read_snap(s), Some(json!({"a": 1})));
    }
}
