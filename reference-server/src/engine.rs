//! Engine.IO v4 sessions and their transports: WebSocket (direct, or upgraded from
//! polling with the probe exchange) and HTTP long-polling.
//!
//! ```text
//!  transport reader ──Inbound──▶ driver task (Socket.IO + Roomcast rules, timers)
//!                                   │ pushes frames
//!  hub (publish) ──shared frame──▶ Outbox: bounded queue ──▶ writer (WS task or polling GET)
//! ```
//! Each session has one bounded outbound queue. The WebSocket writer drains everything
//! queued (`recv_many`), `feed`s it and flushes once; a polling GET returns everything
//! queued as one payload. A full queue kills the session (slow consumer).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use protocol::engineio::{self, OpenPacket};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use crate::engine_session::{EngineSession, Inbound, TransportState};
use crate::hub::{CloseReason, Frame, Outbox, OutboxRx};
use crate::shared::Shared;

/// The WebSocket stream over a hyper upgrade.
pub(crate) type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// A WebSocket on the heap: passed down the async calls as one pointer, so that every
/// connection's task future does not hold a copy of the ~350-byte stream per call level.
pub(crate) type BoxedWs = Box<Ws>;

/// The open packet text for a session.
pub(crate) fn open_packet(shared: &Shared, sid: &str, upgrades: bool) -> String {
    let c = &shared.config;
    engineio::Packet::Open(OpenPacket {
        sid: sid.to_owned(),
        upgrades: if upgrades {
            vec!["websocket".to_owned()]
        } else {
            Vec::new()
        },
        ping_interval: u64::try_from(c.ping_interval.as_millis()).unwrap_or(u64::MAX),
        ping_timeout: u64::try_from(c.ping_timeout.as_millis()).unwrap_or(u64::MAX),
        max_payload: c.max_payload as u64,
    })
    .encode_text()
}

/// The WebSocket configuration: `maxPayload` bounds a frame and a message (close 1009
/// above it). The read buffer is small because it is allocated (and zeroed) for every
/// connection while clients send little (pongs, CONNECT, subscriptions); a larger
/// message reserves its own length. A batch of frames is written once it passes 16 KiB
/// (a socket keeps at most that much write capacity after a burst).
pub(crate) fn ws_config(max_payload: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_payload))
        .max_frame_size(Some(max_payload))
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(16 * 1024)
}

/// Bytes of a WebSocket's read buffer (tungstenite's default is 128 KiB).
const READ_BUFFER: usize = 512;

/// Serves a direct WebSocket connection: open packet, then reader and writer.
pub(crate) async fn serve_direct_ws(shared: Arc<Shared>, ws: BoxedWs, session: Arc<EngineSession>) {
    let open = open_packet(&shared, &session.sid, false);
    let _ = session.outbox.push(Frame::Text(open.into()));
    let guard = Arc::clone(&session.rx).lock_owned().await;
    run_ws(session, ws, guard).await;
}

/// Serves a WebSocket that upgrades an existing polling session: `2probe` → `3probe`,
/// pending polls answered `6`, then `5` switches the session to this socket.
pub(crate) async fn serve_upgrade_ws(
    shared: Arc<Shared>,
    ws: BoxedWs,
    session: Arc<EngineSession>,
) {
    let (mut sink, mut stream) = ws.split();
    let wait = shared.config.ping_interval + shared.config.ping_timeout;
    let first = tokio::time::timeout(wait, stream.next()).await;
    match first {
        Ok(Some(Ok(Message::Text(t))))
            if engineio::Packet::decode_text(t.as_str())
                == Ok(engineio::Packet::Ping("probe".to_owned())) => {}
        _ => {
            session
                .upgrade_claimed
                .store(false, std::sync::atomic::Ordering::Release);
            let _ = sink.close().await;
            return;
        }
    }
    if sink
        .send(Message::Text(
            engineio::Packet::Pong("probe".to_owned())
                .encode_text()
                .into(),
        ))
        .await
        .is_err()
    {
        return;
    }
    session.transport.send_replace(TransportState::Upgrading);
    let upgrade = tokio::time::timeout(wait, stream.next()).await;
    match upgrade {
        Ok(Some(Ok(Message::Text(t))))
            if engineio::Packet::decode_text(t.as_str()) == Ok(engineio::Packet::Upgrade) => {}
        _ => {
            session.transport.send_replace(TransportState::Polling);
            session
                .upgrade_claimed
                .store(false, std::sync::atomic::Ordering::Release);
            let _ = sink.close().await;
            return;
        }
    }
    // The pending GET (if any) has been answered with a noop and released the queue.
    let guard = Arc::clone(&session.rx).lock_owned().await;
    session.transport.send_replace(TransportState::Websocket);
    let ws = match sink.reunite(stream) {
        Ok(ws) => ws,
        Err(_) => return,
    };
    run_ws(session, ws, guard).await;
}

/// Runs reader and writer of a WebSocket-carried session until it ends.
async fn run_ws(
    session: Arc<EngineSession>,
    ws: BoxedWs,
    rx: tokio::sync::OwnedMutexGuard<OutboxRx>,
) {
    let (sink, stream) = ws.split();
    let limit = if session.frame_per_write { 1 } else { 256 };
    let mut writer = tokio::spawn(ws_writer(sink, rx, Arc::clone(&session.outbox), limit));
    ws_reader(stream, Arc::clone(&session)).await;
    // The driver may still send a close frame (e.g. 1009 after an oversized message).
    if tokio::time::timeout(Duration::from_secs(2), &mut writer)
        .await
        .is_err()
    {
        session.outbox.kill(CloseReason::TransportClose);
        let _ = writer.await;
    }
}

async fn ws_reader(
    mut stream: futures_util::stream::SplitStream<BoxedWs>,
    session: Arc<EngineSession>,
) {
    let mut signal = session.outbox.subscribe_kill();
    // One waiter for the whole connection, not one registered per message.
    let mut killed = std::pin::pin!(crate::hub::wait_killed(&mut signal));
    loop {
        let msg = tokio::select! {
            biased;
            _ = killed.as_mut() => return,
            m = stream.next() => m,
        };
        let inbound = match msg {
            None => Inbound::Closed(CloseReason::TransportClose),
            Some(Ok(Message::Text(t))) => match engineio::Packet::decode_text(t.as_str()) {
                Ok(p) => Inbound::Packet(Box::new(p)),
                Err(_) => Inbound::Closed(CloseReason::ParseError),
            },
            Some(Ok(Message::Binary(b))) => {
                Inbound::Packet(Box::new(engineio::Packet::decode_ws_binary(b)))
            }
            Some(Ok(Message::Close(_))) => Inbound::Closed(CloseReason::TransportClose),
            Some(Ok(_)) => continue,
            Some(Err(WsError::Capacity(_))) => Inbound::Closed(CloseReason::PayloadTooLarge),
            Some(Err(WsError::Protocol(_))) => Inbound::Closed(CloseReason::ParseError),
            Some(Err(_)) => Inbound::Closed(CloseReason::TransportError),
        };
        let last = matches!(inbound, Inbound::Closed(_));
        if session.inbound.send(inbound).await.is_err() || last {
            return;
        }
    }
}

async fn ws_writer(
    mut sink: futures_util::stream::SplitSink<BoxedWs, Message>,
    mut rx: tokio::sync::OwnedMutexGuard<OutboxRx>,
    outbox: Arc<Outbox>,
    limit: usize,
) {
    let mut signal = outbox.subscribe_kill();
    // One waiter for the whole connection; it is only polled while the writer waits
    // (for frames or for the socket), so a busy writer registers nothing per wake-up.
    let mut killed = std::pin::pin!(crate::hub::wait_killed(&mut signal));
    let mut batch: Vec<Frame> = Vec::new();
    loop {
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, limit) => n,
            _ = killed.as_mut() => break,
        };
        // A killed connection writes nothing more, even with frames queued.
        if n == 0 || outbox.killed().is_some() {
            break;
        }
        let write = async {
            let mut close = None;
            for frame in batch.drain(..) {
                match frame {
                    Frame::Text(t) => sink.feed(Message::Text(t)).await?,
                    Frame::Binary(b) => sink.feed(Message::Binary(b)).await?,
                    Frame::Close(code) => {
                        close = Some(code);
                        break;
                    }
                }
            }
            if let Some(code) = close {
                let frame = CloseFrame {
                    code: CloseCode::from(code),
                    reason: Utf8Bytes::from_static(""),
                };
                sink.feed(Message::Close(Some(frame))).await?;
            }
            sink.flush().await?;
            Ok::<_, WsError>(close)
        };
        let result = tokio::select! {
            biased;
            r = write => r,
            _ = killed.as_mut() => break,
        };
        batch.clear();
        match result {
            Ok(None) => {
                if limit == 1 {
                    // Compliance mode: let the peer read each frame on its own.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Ok(Some(_)) => {
                // The reader waits for the peer's close frame (a clean close, no reset),
                // at most one second.
                let outbox = Arc::clone(&outbox);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    outbox.kill(CloseReason::TransportClose);
                });
                break;
            }
            Err(_) => {
                outbox.kill(CloseReason::TransportError);
                break;
            }
        }
    }
}

/// The body of a polling GET: waits for at least one frame, then returns everything
/// queued. `Err` is an Engine.IO handshake error to answer with 400.
pub(crate) async fn poll_get(
    session: &Arc<EngineSession>,
) -> Result<String, engineio::handshake::HandshakeError> {
    use engineio::handshake::HandshakeError;
    match *session.transport.borrow() {
        TransportState::Websocket => return Err(HandshakeError::BadRequest),
        TransportState::Upgrading => return Ok(engineio::Packet::Noop.encode_text()),
        TransportState::Polling => {}
    }
    let Ok(mut rx) = Arc::clone(&session.rx).try_lock_owned() else {
        // A second concurrent GET: engine.io closes the session.
        session.outbox.kill(CloseReason::ParseError);
        return Err(HandshakeError::BadRequest);
    };
    if session
        .close_next_poll
        .load(std::sync::atomic::Ordering::Acquire)
    {
        session.outbox.kill(CloseReason::TransportClose);
        return Ok(engineio::Packet::Close.encode_text());
    }
    let mut kill = session.outbox.subscribe_kill();
    let mut batch = Vec::new();
    tokio::select! {
        biased;
        // LIFE-11: on shutdown the session just ends (400 Session ID unknown, as for
        // any later request): a close packet would stop python-socketio reconnecting
        r = crate::hub::wait_killed(&mut kill) => return match r {
            CloseReason::ServerShutdown => Err(HandshakeError::UnknownSid),
            _ => Ok(engineio::Packet::Close.encode_text()),
        },
        _ = session.transport.wait_for(|t| t != TransportState::Polling) => return Ok(engineio::Packet::Noop.encode_text()),
        n = rx.recv_many(&mut batch, 512) => if n == 0 { return Ok(engineio::Packet::Close.encode_text()) },
    }
    let mut body = String::new();
    let mut closing = false;
    for frame in &batch {
        if !body.is_empty() {
            body.push(engineio::payload::SEPARATOR);
        }
        match frame {
            Frame::Text(t) => body.push_str(t.as_str()),
            Frame::Binary(b) => engineio::Packet::Binary(b.clone()).encode_text_into(&mut body),
            Frame::Close(_) => {
                closing = true;
                break;
            }
        }
    }
    if closing {
        if body.is_empty() {
            session.outbox.kill(CloseReason::TransportClose);
            return Ok(engineio::Packet::Close.encode_text());
        }
        // The packets first; the close packet answers the next GET.
        if body.ends_with(engineio::payload::SEPARATOR) {
            body.pop();
        }
        session
            .close_next_poll
            .store(true, std::sync::atomic::Ordering::Release);
    }
    Ok(body)
}

/// Why a polling POST was refused.
#[derive(Debug)]
pub(crate) enum PostError {
    /// 400 with this handshake error.
    Handshake(engineio::handshake::HandshakeError),
}

/// Handles the packets of a polling POST body.
pub(crate) async fn poll_post(session: &Arc<EngineSession>, body: Bytes) -> Result<(), PostError> {
    use engineio::handshake::HandshakeError;
    if *session.transport.borrow() == TransportState::Websocket {
        return Err(PostError::Handshake(HandshakeError::BadRequest));
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        session.outbox.kill(CloseReason::ParseError);
        return Err(PostError::Handshake(HandshakeError::BadRequest));
    };
    let packets = match engineio::payload::decode(text) {
        Ok(p) => p,
        Err(_) => {
            let _ = session
                .inbound
                .send(Inbound::Closed(CloseReason::ParseError))
                .await;
            session.outbox.kill(CloseReason::ParseError);
            return Err(PostError::Handshake(HandshakeError::BadRequest));
        }
    };
    for p in packets {
        if session
            .inbound
            .send(Inbound::Packet(Box::new(p)))
            .await
            .is_err()
        {
            break;
        }
    }
    Ok(())
}
