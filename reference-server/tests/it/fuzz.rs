//! Property test: random and malformed Engine.IO / Socket.IO frames and HTTP bodies at
//! a live server. Whatever arrives, the process keeps serving and an honest client on
//! another connection is undisturbed (LIM-10).

use std::time::Duration;

use proptest::prelude::*;
use serde_json::json;

use crate::common::*;

#[derive(Debug, Clone)]
enum Input {
    WsText(String),
    WsBinary(Vec<u8>),
    PollPost(String),
    Publish(Vec<u8>),
    RawHttp(Vec<u8>),
}

fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9b][0-9]{0,2}[-/,]?[a-z0-9]{0,4}[\\[{\"]?.{0,40}",
        Just("42[\"subscribe:site\"".to_owned()),
        Just("4511-[\"a\"]".to_owned()),
        Just("451-[\"a\",{\"_placeholder\":true,\"num\":0}]".to_owned()),
        Just("2probe".to_owned()),
        Just("5".to_owned()),
        Just("40{\"token\":{}}".to_owned()),
        Just("42[\"connect\"]".to_owned()),
        Just("42/x,1[\"a\"]".to_owned()),
        (any::<u64>(), ".{0,20}").prop_map(|(n, s)| format!("42{n}[\"subscribe:unit\",{s:?}]")),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => frame().prop_map(Input::WsText),
        1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(Input::WsBinary),
        2 => proptest::collection::vec(frame(), 1..4).prop_map(|v| Input::PollPost(v.join("\u{1e}"))),
        2 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Input::Publish),
        1 => proptest::collection::vec(any::<u8>(), 0..200).prop_map(Input::RawHttp),
    ]
}

async fn fire(srv: &TestServer, inputs: &[Input]) {
    let mut ws = connect(srv.addr, &client_token("fuzz", "acme")).await.ws;
    let mut open = true;
    for i in inputs {
        match i {
            Input::WsText(t) => {
                if open {
                    open = ws.try_send(t).await;
                }
            }
            Input::WsBinary(b) => {
                if open {
                    open = ws
                        .inner
                        .send(tokio_tungstenite::tungstenite::Message::Binary(
                            b.clone().into(),
                        ))
                        .await
                        .is_ok();
                }
            }
            Input::PollPost(body) => {
                let (sid, _) = polling_open(srv.addr).await;
                let _ = polling_post(srv.addr, &sid, body).await;
            }
            Input::Publish(body) => {
                let auth = format!("Bearer {}", service_token(None));
                let _ = request(
                    srv.addr,
                    "POST",
                    "/v1/publish",
                    &[
                        ("Authorization", &auth),
                        ("Content-Type", "application/json"),
                    ],
                    body,
                )
                .await;
            }
            Input::RawHttp(bytes) => {
                use tokio::io::AsyncWriteExt;
                if let Ok(mut s) = tokio::net::TcpStream::connect(srv.addr).await {
                    let _ = s.write_all(bytes).await;
                    let _ = s.write_all(b"\r\n\r\n").await;
                }
            }
        }
    }
    use futures_util::SinkExt;
    let _ = ws.inner.close(None).await;
}

#[test]
fn random_and_malformed_input_never_disturbs_another_client() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (srv, honest) = rt.block_on(async {
        // Short heartbeat and connect timeout: abandoned polling sessions end quickly.
        let mut cfg = config();
        cfg.ping_interval = Duration::from_millis(300);
        cfg.ping_timeout = Duration::from_millis(700);
        cfg.connect_timeout = Duration::from_millis(1000);
        let srv = TestServer::start(cfg).await;
        let mut honest = connect(srv.addr, &client_token("honest", "acme")).await;
        honest
            .ws
            .emit("subscribe:site", vec![json!("s1")], Some(1))
            .await;
        (srv, honest)
    });
    let honest = tokio::sync::Mutex::new(honest);
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let result = runner.run(&proptest::collection::vec(input(), 1..8), |inputs| {
        rt.block_on(async {
            fire(&srv, &inputs).await;
            let mut h = honest.lock().await;
            let body = publish_ok(srv.addr, "org:acme:site:s1", "fuzz:check", json!(1)).await;
            let got = h.ws.wait_event("fuzz:check").await;
            assert_eq!(got["eventId"], body["eventId"]);
            let pong = h.ws.emit("system:ping", vec![], Some(7)).await.unwrap();
            assert_eq!(pong["pong"], true);
            assert_eq!(get(srv.addr, "/healthz").await.status, 200);
        });
        Ok(())
    });
    result.unwrap();
    // No leak once every fuzz connection is gone: only the honest socket remains.
    rt.block_on(async {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let conns = srv
                .metrics
                .connections
                .load(std::sync::atomic::Ordering::Relaxed);
            if conns <= 1 || std::time::Instant::now() > deadline {
                assert!(
                    conns <= 1,
                    "{conns} Engine.IO sessions left after the fuzz connections closed"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // No room membership leaked either: only the honest socket's three rooms
        // (organization, user, site s1) remain, or none if it timed out meanwhile.
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let sockets = srv.metrics.sockets_connected.load(relaxed);
        let rooms = srv.metrics.rooms.load(relaxed);
        assert!(sockets <= 1, "{sockets} sockets left");
        assert_eq!(
            rooms,
            3 * sockets,
            "{rooms} rooms left for {sockets} socket(s)"
        );
    });
    drop(srv);
}
