//! WIRE-23: the reference server's `--socketio-compliance` mode, checked over raw
//! sockets case by case the way the official `socketio/socket.io-protocol` and
//! `socketio/engine.io-protocol` `test-suite/`s do (our own tests of the same cases;
//! no upstream code is used): Engine.IO handshake, heartbeat, close, upgrade and the
//! raw echo at `/engine.io/`; Socket.IO CONNECT on `/` and `/custom` with the `auth`
//! emit, unknown namespaces, DISCONNECT, `message-back` (binary attachments included),
//! `message-with-ack`, `emit-with-ack`, and invalid packets closing the connection.
//!
//! The server runs in-process on 127.0.0.1:0 with [`Config::compliance`] (pingInterval
//! 300 ms, pingTimeout 200 ms, maxPayload 1 000 000, connectTimeout 1 000 ms); the
//! server, WebSocket and HTTP helpers are the integration tests' (`tests/it/common.rs`).
#![forbid(unsafe_code)]

#[path = "it/common.rs"]
mod common;

use std::time::Duration;

use common::{
    assert_open_keys, get, polling_open_at, polling_target, post_text, request, Got, TestServer,
    Ws, WAIT,
};
use reference_server::Config;
use serde_json::Value;

/// The suite's heartbeat settings.
const PING_INTERVAL: u64 = 300;
const PING_TIMEOUT: u64 = 200;

/// An in-process compliance-mode server; stopped on drop.
async fn start() -> TestServer {
    TestServer::start(Config::compliance()).await
}

/// Opens a WebSocket that must succeed, reading nothing.
async fn open_ws(url: &str) -> Ws {
    Ws::raw(url, &[])
        .await
        .unwrap_or_else(|e| panic!("WebSocket to {url} refused: {e}"))
}

/// Checks an open packet's JSON as the suites do.
fn assert_open_packet(text: &str, upgrades: &[&str]) {
    let json = text
        .strip_prefix('0')
        .unwrap_or_else(|| panic!("open packet starts with 0: {text:?}"));
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("open JSON ({e}): {json}"));
    assert_open_keys(&v);
    assert!(v["sid"].is_string(), "sid is a string: {v}");
    assert_eq!(v["upgrades"], serde_json::json!(upgrades), "upgrades: {v}");
    assert_eq!(v["pingInterval"], PING_INTERVAL, "pingInterval: {v}");
    assert_eq!(v["pingTimeout"], PING_TIMEOUT, "pingTimeout: {v}");
    assert_eq!(v["maxPayload"], 1_000_000, "maxPayload: {v}");
}

/// `ws://…/socket.io/?EIO=4&transport=websocket`, open packet read.
async fn sio_ws(s: &TestServer) -> Ws {
    let mut ws = open_ws(&s.ws_url("/socket.io/", "EIO=4&transport=websocket")).await;
    let open = ws.text().await;
    assert_open_packet(&open, &[]);
    ws
}

/// Like the suite's `initSocketIOConnection`: open, CONNECT to `/`, read the CONNECT
/// reply and the `auth` event.
async fn sio_connected(s: &TestServer) -> Ws {
    let mut ws = sio_ws(s).await;
    ws.send("40").await;
    let reply = ws.text().await;
    assert!(reply.starts_with("40{"), "CONNECT reply: {reply}");
    let auth = ws.text().await;
    assert_eq!(auth, r#"42["auth",{}]"#);
    ws
}

/// Checks a CONNECT reply holds exactly `sid` (a string).
fn assert_connect_reply(reply: &str, prefix: &str) {
    let json = reply
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("CONNECT reply starts with {prefix}: {reply}"));
    let v: Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("CONNECT reply JSON ({e}): {reply}"));
    let keys: Vec<&String> = v
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["sid"], "the CONNECT reply holds only sid: {reply}");
    assert!(
        v["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "sid: {reply}"
    );
}

// ================================================================ Engine.IO: handshake

#[tokio::test]
async fn wire_23_eio_polling_handshake_opens_a_session() {
    let s = start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let r = get(s.addr, &format!("{path}?EIO=4&transport=polling")).await;
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_open_packet(&r.body, &["websocket"]);
    }
}

#[tokio::test]
async fn wire_23_eio_polling_handshake_rejects_bad_eio_transport_and_method() {
    let s = start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        for (method, query) in [
            ("GET", "transport=polling"),
            ("GET", "EIO=abc&transport=polling"),
            ("GET", "EIO=4"),
            ("GET", "EIO=4&transport=abc"),
            ("POST", "EIO=4&transport=polling"),
            ("PUT", "EIO=4&transport=polling"),
        ] {
            let r = request(s.addr, method, &format!("{path}?{query}"), &[], b"").await;
            assert_eq!(r.status, 400, "{method} {path}?{query}: {r:?}");
        }
    }
}

#[tokio::test]
async fn wire_23_eio_websocket_handshake_opens_a_session() {
    let s = start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let mut ws = open_ws(&s.ws_url(path, "EIO=4&transport=websocket")).await;
        let open = ws.text().await;
        assert_open_packet(&open, &[]);
    }
}

#[tokio::test]
async fn wire_23_eio_websocket_handshake_rejects_bad_eio_and_transport() {
    let s = start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        for query in [
            "transport=websocket",
            "EIO=abc&transport=websocket",
            "EIO=4",
            "EIO=4&transport=abc",
        ] {
            // Refused at the HTTP upgrade, or accepted and closed before any open packet.
            if let Ok(mut ws) = Ws::raw(&s.ws_url(path, query), &[]).await {
                let got = ws.next_frame(WAIT).await;
                assert!(
                    matches!(got, Got::Closed(_)),
                    "{path}?{query} must not open a session: {got:?}"
                );
            }
        }
    }
}

// ================================================================ Engine.IO: heartbeat

#[tokio::test]
async fn wire_23_eio_polling_heartbeat_ping_pong() {
    let s = start().await;
    let sid = polling_open_at(s.addr, "/socket.io/").await.0;
    for round in 0..3 {
        let poll = get(s.addr, &polling_target("/socket.io/", &sid)).await;
        assert_eq!(
            (poll.status, poll.body.as_str()),
            (200, "2"),
            "ping {round}: {poll:?}"
        );
        let push = post_text(s.addr, &polling_target("/socket.io/", &sid), "3").await;
        assert_eq!(push.status, 200, "pong {round}: {push:?}");
    }
}

#[tokio::test]
async fn wire_23_eio_polling_ping_timeout_closes_the_session() {
    let s = start().await;
    let sid = polling_open_at(s.addr, "/socket.io/").await.0;
    tokio::time::sleep(Duration::from_millis(PING_INTERVAL + PING_TIMEOUT + 300)).await;
    let poll = get(s.addr, &polling_target("/socket.io/", &sid)).await;
    assert_eq!(
        poll.status, 400,
        "the session is gone after a missed pong: {poll:?}"
    );
}

#[tokio::test]
async fn wire_23_eio_websocket_heartbeat_ping_pong() {
    let s = start().await;
    let mut ws = open_ws(&s.ws_url("/socket.io/", "EIO=4&transport=websocket")).await;
    let open = ws.next_frame(WAIT).await;
    assert!(
        matches!(&open, Got::Text(t) if t.starts_with('0')),
        "open: {open:?}"
    );
    for round in 0..3 {
        let got = ws.next_frame(WAIT).await;
        assert_eq!(got, Got::Text("2".into()), "ping {round}");
        ws.send("3").await;
    }
}

#[tokio::test]
async fn wire_23_eio_websocket_ping_timeout_closes_the_session() {
    let s = start().await;
    let mut ws = open_ws(&s.ws_url("/socket.io/", "EIO=4&transport=websocket")).await;
    // No pong: the ping goes unanswered.
    ws.auto_pong = false;
    ws.assert_closed(Duration::from_secs(3)).await;
}

// ================================================================ Engine.IO: close

#[tokio::test]
async fn wire_23_eio_polling_close_packet_ends_pending_poll_with_noop() {
    let s = start().await;
    let sid = polling_open_at(s.addr, "/socket.io/").await.0;
    let addr = s.addr;
    let target = polling_target("/socket.io/", &sid);
    let pending = {
        let target = target.clone();
        tokio::spawn(async move { get(addr, &target).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let push = post_text(s.addr, &target, "1").await;
    assert_eq!(push.status, 200, "POST of the close packet: {push:?}");
    let poll = pending.await.expect("poll task");
    assert_eq!(
        (poll.status, poll.body.as_str()),
        (200, "6"),
        "the pending GET ends with a noop packet `6` when the client closes: {poll:?}"
    );
    let after = get(s.addr, &target).await;
    assert_eq!(after.status, 400, "the session is closed: {after:?}");

    // Without a pending GET: once the POST of `1` is answered, the sid is unknown.
    let sid = polling_open_at(s.addr, "/engine.io/").await.0;
    let target = polling_target("/engine.io/", &sid);
    let push = post_text(s.addr, &target, "1").await;
    assert_eq!(push.status, 200, "POST of the close packet: {push:?}");
    let after = get(s.addr, &target).await;
    assert_eq!(
        after.status, 400,
        "the session is closed once the close packet is acknowledged: {after:?}"
    );
}

#[tokio::test]
async fn wire_23_eio_websocket_close_packet_closes_the_connection() {
    let s = start().await;
    let mut ws = sio_ws(&s).await;
    ws.send("1").await;
    ws.assert_closed(WAIT).await;
}

// ================================================================ Engine.IO: upgrade

#[tokio::test]
async fn wire_23_eio_upgrade_from_polling_to_websocket() {
    let s = start().await;
    // Engine.IO suite variant (/engine.io/, echo): probe, noop to the poll, upgrade, echo.
    let sid = polling_open_at(s.addr, "/engine.io/").await.0;
    let mut ws = open_ws(&s.ws_url(
        "/engine.io/",
        &format!("EIO=4&transport=websocket&sid={sid}"),
    ))
    .await;
    ws.send("2probe").await;
    assert_eq!(
        ws.next_frame(WAIT).await,
        Got::Text("3probe".into()),
        "probe answer"
    );
    let poll = get(s.addr, &polling_target("/engine.io/", &sid)).await;
    assert_eq!(
        (poll.status, poll.body.as_str()),
        (200, "6"),
        "a poll during the upgrade gets a noop: {poll:?}"
    );
    ws.send("5").await;
    ws.send("4hello").await;
    assert_eq!(
        ws.next_msg(WAIT).await,
        Got::Text("4hello".into()),
        "echo over the upgraded WebSocket"
    );

    // Socket.IO suite variant: probe, upgrade, then a Socket.IO CONNECT over the WebSocket.
    let sid = polling_open_at(s.addr, "/socket.io/").await.0;
    let mut ws = open_ws(&s.ws_url(
        "/socket.io/",
        &format!("EIO=4&transport=websocket&sid={sid}"),
    ))
    .await;
    ws.send("2probe").await;
    assert_eq!(
        ws.next_frame(WAIT).await,
        Got::Text("3probe".into()),
        "probe answer"
    );
    ws.send("5").await;
    ws.send("40").await;
    let reply = ws.text().await;
    assert_connect_reply(&reply, "40");
    assert_eq!(ws.text().await, r#"42["auth",{}]"#);
}

#[tokio::test]
async fn wire_23_eio_polling_after_upgrade_is_refused() {
    let s = start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let sid = polling_open_at(s.addr, path).await.0;
        let mut ws =
            open_ws(&s.ws_url(path, &format!("EIO=4&transport=websocket&sid={sid}"))).await;
        ws.send("2probe").await;
        ws.send("5").await;
        assert_eq!(
            ws.next_frame(WAIT).await,
            Got::Text("3probe".into()),
            "{path}: probe answer"
        );
        let poll = get(s.addr, &polling_target(path, &sid)).await;
        assert_eq!(
            poll.status, 400,
            "{path}: polling after the upgrade: {poll:?}"
        );
        if path == "/engine.io/" {
            ws.send("4hello").await;
            assert_eq!(
                ws.next_msg(WAIT).await,
                Got::Text("4hello".into()),
                "the WebSocket still works"
            );
        }
    }
}

#[tokio::test]
async fn wire_23_eio_second_websocket_on_upgraded_sid_is_accepted_then_closed() {
    let s = start().await;
    for path in ["/socket.io/", "/engine.io/"] {
        let sid = polling_open_at(s.addr, path).await.0;
        let url = s.ws_url(path, &format!("EIO=4&transport=websocket&sid={sid}"));
        let mut ws = open_ws(&url).await;
        ws.send("2probe").await;
        ws.send("5").await;
        assert_eq!(
            ws.next_frame(WAIT).await,
            Got::Text("3probe".into()),
            "{path}: probe answer"
        );
        // The suites open the second WebSocket with the `ws` client and wait for its
        // `close` event: the handshake must succeed (101) and the server then closes it.
        // An HTTP error instead of the 101 is an unhandled `error` in the suite.
        let mut second = Ws::raw(&url, &[]).await.unwrap_or_else(|e| {
            panic!(
                "{path}: a second WebSocket on an upgraded sid must be accepted (101) and then \
                 closed, as engine.io does; the handshake was refused: {e}"
            )
        });
        second.assert_closed(WAIT).await;
        if path == "/engine.io/" {
            ws.send("4hello").await;
            assert_eq!(
                ws.next_msg(WAIT).await,
                Got::Text("4hello".into()),
                "the first WebSocket still works"
            );
        }
    }
}

// ================================================================ Engine.IO: echo messages (/engine.io/)

#[tokio::test]
async fn wire_23_eio_polling_echo_text_and_binary_payloads() {
    let s = start().await;
    for body in [
        "4hello",
        "4test1\u{1e}4test2\u{1e}4test3",
        "4hello\u{1e}bAQIDBA==",
    ] {
        let sid = polling_open_at(s.addr, "/engine.io/").await.0;
        let push = post_text(s.addr, &polling_target("/engine.io/", &sid), body).await;
        assert_eq!(
            (push.status, push.body.as_str()),
            (200, "ok"),
            "POST {body:?}: {push:?}"
        );
        let poll = get(s.addr, &polling_target("/engine.io/", &sid)).await;
        assert_eq!(
            (poll.status, poll.body.as_str()),
            (200, body),
            "echo of {body:?}"
        );
    }
}

#[tokio::test]
async fn wire_23_eio_polling_invalid_packet_closes_the_session() {
    let s = start().await;
    let sid = polling_open_at(s.addr, "/engine.io/").await.0;
    let push = post_text(s.addr, &polling_target("/engine.io/", &sid), "abc").await;
    // The suite accepts a 400 or a connection closed without an answer.
    assert!(push.status == 400 || push.status == 0, "POST abc: {push:?}");
    let poll = get(s.addr, &polling_target("/engine.io/", &sid)).await;
    assert_eq!(poll.status, 400, "the session is closed: {poll:?}");
}

#[tokio::test]
async fn wire_23_eio_polling_duplicate_poll_closes_the_session() {
    let s = start().await;
    let sid = polling_open_at(s.addr, "/engine.io/").await.0;
    let addr = s.addr;
    let target = polling_target("/engine.io/", &sid);
    let first = {
        let target = target.clone();
        tokio::spawn(async move { get(addr, &target).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = get(s.addr, &format!("{target}&t=burst")).await;
    let first = first.await.expect("first poll task");
    assert_eq!(
        (first.status, first.body.as_str()),
        (200, "1"),
        "the first poll ends with close: {first:?}"
    );
    assert!(
        second.status == 400 || second.status == 500,
        "the duplicate poll: {second:?}"
    );
    let after = get(s.addr, &target).await;
    assert_eq!(after.status, 400, "the session is closed: {after:?}");
}

#[tokio::test]
async fn wire_23_eio_websocket_echo_text_and_binary() {
    let s = start().await;
    let mut ws = open_ws(&s.ws_url("/engine.io/", "EIO=4&transport=websocket")).await;
    let open = ws.text().await;
    assert_open_packet(&open, &[]);
    ws.send("4hello").await;
    assert_eq!(ws.next_msg(WAIT).await, Got::Text("4hello".into()));
    ws.send_binary(vec![1, 2, 3, 4]).await;
    assert_eq!(ws.next_msg(WAIT).await, Got::Binary(vec![1, 2, 3, 4]));
}

#[tokio::test]
async fn wire_23_eio_websocket_invalid_packet_closes_the_connection() {
    let s = start().await;
    let mut ws = open_ws(&s.ws_url("/engine.io/", "EIO=4&transport=websocket")).await;
    let _open = ws.text().await;
    ws.send("abc").await;
    ws.assert_closed(WAIT).await;
}

// ================================================================ Socket.IO: connect

#[tokio::test]
async fn wire_23_sio_connect_to_main_and_custom_namespace_emits_auth() {
    let s = start().await;
    for (send, prefix, auth) in [
        ("40", "40", r#"42["auth",{}]"#),
        (
            r#"40{"token":"123"}"#,
            "40",
            r#"42["auth",{"token":"123"}]"#,
        ),
        ("40/custom,", "40/custom,", r#"42/custom,["auth",{}]"#),
        (
            r#"40/custom,{"token":"abc"}"#,
            "40/custom,",
            r#"42/custom,["auth",{"token":"abc"}]"#,
        ),
    ] {
        let mut ws = sio_ws(&s).await;
        ws.send(send).await;
        let reply = ws.text().await;
        assert_connect_reply(&reply, prefix);
        let got = ws.text().await;
        assert_eq!(got, auth, "after CONNECT {send}");
    }
}

#[tokio::test]
async fn wire_23_sio_unknown_namespace_is_refused() {
    let s = start().await;
    let mut ws = sio_ws(&s).await;
    ws.send("40/random").await;
    assert_eq!(
        ws.text().await,
        r#"44/random,{"message":"Invalid namespace"}"#
    );
}

#[tokio::test]
async fn wire_23_sio_invalid_handshake_closes_the_connection() {
    let s = start().await;
    let mut ws = sio_ws(&s).await;
    ws.send("4abc").await;
    ws.assert_closed(WAIT).await;
}

#[tokio::test]
async fn wire_23_sio_no_handshake_closes_the_connection() {
    let s = start().await;
    let mut ws = sio_ws(&s).await;
    // connectTimeout is 1 000 ms; pings are answered so only the missing CONNECT counts.
    let (seen, closed) = ws.closed_within(Duration::from_secs(3)).await;
    assert!(
        closed.is_some(),
        "no CONNECT within connectTimeout must close the connection"
    );
    assert!(
        seen.is_empty(),
        "unexpected frames before the close: {seen:?}"
    );
}

// ================================================================ Socket.IO: disconnect

#[tokio::test]
async fn wire_23_sio_disconnect_from_main_namespace() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send("41").await;
    // The suite expects the next frame to be the next ping: nothing is sent back.
    assert_eq!(
        ws.next_frame(WAIT).await,
        Got::Text("2".into()),
        "after 41 only pings follow"
    );
}

#[tokio::test]
async fn wire_23_sio_connect_then_disconnect_custom_namespace() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send("40/custom").await;
    let reply = ws.text().await;
    assert_connect_reply(&reply, "40/custom,");
    assert_eq!(ws.text().await, r#"42/custom,["auth",{}]"#);
    ws.send("41/custom").await;
    ws.send(r#"42["message","message to main namespace"]"#)
        .await;
    assert_eq!(
        ws.text().await,
        r#"42["message-back","message to main namespace"]"#,
        "the main namespace still works after leaving /custom"
    );
}

// ================================================================ Socket.IO: messages

#[tokio::test]
async fn wire_23_sio_message_back_plain_text() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(ws.text().await, r#"42["message-back",1,"2",{"3":[true]}]"#);
}

#[tokio::test]
async fn wire_23_sio_message_back_with_binary_attachments() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.send_binary(vec![1, 2, 3]).await;
    ws.send_binary(vec![4, 5, 6]).await;
    assert_eq!(
        ws.next_msg(WAIT).await,
        Got::Text(
            r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
                .into()
        )
    );
    assert_eq!(ws.next_msg(WAIT).await, Got::Binary(vec![1, 2, 3]));
    assert_eq!(ws.next_msg(WAIT).await, Got::Binary(vec![4, 5, 6]));
}

#[tokio::test]
async fn wire_23_sio_message_with_ack_plain_text() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"42456["message-with-ack",1,"2",{"3":[false]}]"#)
        .await;
    assert_eq!(ws.text().await, r#"43456[1,"2",{"3":[false]}]"#);
}

#[tokio::test]
async fn wire_23_sio_message_with_ack_binary_attachments() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#)
        .await;
    ws.send_binary(vec![1, 2, 3]).await;
    ws.send_binary(vec![4, 5, 6]).await;
    assert_eq!(
        ws.next_msg(WAIT).await,
        Got::Text(r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#.into())
    );
    assert_eq!(ws.next_msg(WAIT).await, Got::Binary(vec![1, 2, 3]));
    assert_eq!(ws.next_msg(WAIT).await, Got::Binary(vec![4, 5, 6]));
}

/// Parses `42<id>[...]` on `/` → `(id, args)`.
fn event_with_ack(t: &str) -> Option<(u64, Vec<Value>)> {
    let rest = t.strip_prefix("42")?;
    let json_start = rest.find('[')?;
    let id = rest.get(..json_start)?.parse().ok()?;
    let args = serde_json::from_str(rest.get(json_start..)?).ok()?;
    Some((id, args))
}

#[tokio::test]
async fn wire_23_sio_emit_with_ack_round_trip() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"42["emit-with-ack",1,"2",{"3":[true]}]"#).await;
    // The server emits emit-with-ack to the client, asking for an ack ...
    let ask = ws.text().await;
    let (id, args) = event_with_ack(&ask)
        .unwrap_or_else(|| panic!("expected 42<ackId>[\"emit-with-ack\",...], got {ask}"));
    assert_eq!(
        serde_json::Value::Array(args),
        serde_json::json!(["emit-with-ack", 1, "2", {"3": [true]}]),
        "the server emits the client's arguments: {ask}"
    );
    // ... and emits emit-with-ack again with the arguments of the client's ack.
    ws.send(&format!(r#"43{id}[4,"five",{{"6":null}}]"#)).await;
    assert_eq!(
        ws.text().await,
        r#"42["emit-with-ack",4,"five",{"6":null}]"#
    );
}

#[tokio::test]
async fn wire_23_sio_emit_with_ack_binary_round_trip() {
    let s = start().await;
    let mut ws = sio_connected(&s).await;
    ws.send(r#"451-["emit-with-ack",{"_placeholder":true,"num":0}]"#)
        .await;
    ws.send_binary(vec![7, 8, 9]).await;
    let ask = ws.text().await;
    let rest = ask
        .strip_prefix("451-")
        .unwrap_or_else(|| panic!("expected 451-<ackId>[...], got {ask}"));
    let json_start = rest.find('[').unwrap_or_else(|| panic!("no JSON in {ask}"));
    let id: u64 = rest[..json_start]
        .parse()
        .unwrap_or_else(|_| panic!("the server asks for an ack: {ask}"));
    assert_eq!(
        &rest[json_start..],
        r#"["emit-with-ack",{"_placeholder":true,"num":0}]"#
    );
    assert_eq!(ws.next_msg(WAIT).await, Got::Binary(vec![7, 8, 9]));
    ws.send(&format!(r#"461-{id}[{{"_placeholder":true,"num":0}}]"#))
        .await;
    ws.send_binary(vec![10, 11]).await;
    assert_eq!(
        ws.next_msg(WAIT).await,
        Got::Text(r#"451-["emit-with-ack",{"_placeholder":true,"num":0}]"#.into())
    );
    assert_eq!(ws.next_msg(WAIT).await, Got::Binary(vec![10, 11]));
}

#[tokio::test]
async fn wire_23_sio_invalid_packets_close_the_connection() {
    let s = start().await;
    for bad in [
        "4abc",
        "42{}",
        r#"42abc["message-with-ack",1,"2",{"3":[false]}]"#,
    ] {
        let mut ws = sio_connected(&s).await;
        ws.send(bad).await;
        let (seen, closed) = ws.closed_within(WAIT).await;
        assert!(closed.is_some(), "still open after {bad}; frames: {seen:?}");
    }
}
