//! The per-session driver task: feeds client packets and the clock through the sans-io
//! parts ([`crate::namespace_gate`], [`crate::timers`], [`crate::rules`], [`crate::auth`]) and
//! applies their decisions: frames into the session's outbox, joins and leaves in the
//! hub, and the end of the session. In compliance mode [`crate::compliance`] answers
//! the packets instead of the Roomcast rules. It owns no timer of its own: it sleeps until
//! [`ConnectionTimers::poll_timeout`] and hands the time to
//! [`ConnectionTimers::handle_timeout`].

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use protocol::engineio;
use protocol::roomcast::codes::{self, ErrorCode};
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::timestamp::Timestamp;
use protocol::socketio::{Decoder, Packet, PacketData};
use serde_json::{json, Value};
use tracing::{debug, info, warn};

use crate::auth::{self, HandshakeTokens};
use crate::clock::now_ms;
use crate::compliance::ComplianceEcho;
use crate::engine_session::{random_id, EngineSession, Inbound, InboundRx, SessionKind};
use crate::envelope::envelope_text;
use crate::hub::{CloseReason, Frame};
use crate::namespace_gate::{Gate, NamespaceGate};
use crate::rules::{self, Reply, SocketRules};
use crate::shared::{PendingSlot, Shared};
use crate::timers::{token_deadline, ConnectionTimers, TimerEvent, TimerSettings};

/// The driver's clock: tokio's, so that a test runtime with paused time moves it too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The instant at which `exp + leeway` (seconds since the epoch) passes.
fn expiry_instant(exp: i64, leeway: i64) -> Instant {
    token_deadline(exp, leeway, now(), now_ms())
}

struct NspSocket {
    nsp: String,
    sid: String,
    rules: Option<SocketRules>,
}

/// What the driver loop does after one input.
enum Step {
    /// Keep going.
    Continue,
    /// End the session for this reason ([`Driver::finish`] decides what the client is
    /// told: DISCONNECT packets and a close frame, or nothing).
    End(CloseReason),
}

/// The driver of one session.
pub(crate) struct Driver {
    shared: Arc<Shared>,
    session: Arc<EngineSession>,
    kind: SessionKind,
    tokens: HandshakeTokens,
    gate: NamespaceGate,
    decoder: Decoder,
    sockets: Vec<NspSocket>,
    timers: ConnectionTimers,
    /// Compliance mode's echo handlers, in place of the Roomcast rules.
    compliance: Option<ComplianceEcho>,
    /// Counts against the caps on sessions without a namespace until one connects.
    pending: Option<PendingSlot>,
    connect_failures: u32,
}

impl Driver {
    /// A driver for a new session.
    pub(crate) fn new(
        shared: Arc<Shared>,
        session: Arc<EngineSession>,
        kind: SessionKind,
        tokens: HandshakeTokens,
        pending: PendingSlot,
    ) -> Driver {
        let polling = *session.transport.borrow() == crate::engine_session::TransportState::Polling;
        let timers = ConnectionTimers::new(
            now(),
            TimerSettings {
                ping_interval: shared.config.ping_interval,
                ping_timeout: shared.config.ping_timeout,
                connect_timeout: (kind == SessionKind::SocketIo)
                    .then_some(shared.config.connect_timeout),
                // A polling session with no request by then is abandoned (LIM-18).
                first_poll_timeout: polling.then_some(shared.config.limits.first_poll_timeout),
            },
        );
        let gate = NamespaceGate::new(shared.served.clone());
        let compliance = shared.config.compliance.then(ComplianceEcho::default);
        Driver {
            shared,
            session,
            kind,
            tokens,
            gate,
            decoder: Decoder::new(),
            // One namespace per session is the rule: no room reserved for four.
            sockets: Vec::with_capacity(1),
            timers,
            compliance,
            pending: Some(pending),
            connect_failures: 0,
        }
    }

    /// A namespace connected: the session no longer counts as pending.
    fn mark_connected(&mut self, nsp: &str) {
        self.gate.mark_connected(nsp);
        self.timers.on_connected();
        self.pending = None;
    }

    fn push(&self, frame: Frame) {
        if self.session.outbox.push(frame).is_err() {
            self.shared
                .metrics
                .slow_consumers_dropped
                .fetch_add(1, Relaxed);
        }
    }

    fn push_packet(&self, packet: &Packet) {
        let encoded = packet.encode();
        let text = engineio::Packet::Message(encoded.text).encode_text();
        self.push(Frame::Text(text.into()));
        for a in encoded.attachments {
            self.push(Frame::Binary(a));
        }
    }

    fn push_envelope(&self, nsp: &str, event_type: &str, payload: Value) {
        if let Ok(t) = EventType::parse(event_type) {
            let (text, _) = envelope_text(nsp, t, Timestamp(now_ms()), payload);
            self.push(Frame::Text(text.into()));
        }
    }

    /// Runs the session to its end.
    pub(crate) async fn run(mut self, mut inbound: InboundRx) {
        let mut kill = self.session.outbox.subscribe_kill();
        let mut shutdown = self.shared.shutdown.subscribe();
        let (reason, tell) = loop {
            let deadline = self.timers.poll_timeout();
            let step = tokio::select! {
                biased;
                r = crate::hub::wait_killed(&mut kill) => break (r, false),
                _ = crate::shutdown::requested(&mut shutdown) => Step::End(CloseReason::ServerShutdown),
                m = inbound.recv() => match m {
                    Some(Inbound::Packet(p)) => self.on_engine(*p),
                    Some(Inbound::Closed(r)) => Step::End(r),
                    None => Step::End(CloseReason::TransportClose),
                },
                _ = sleep_until(deadline) => self.on_timeout(now()),
            };
            match step {
                Step::Continue => {}
                Step::End(r) => break (r, true),
            }
        };
        // Boxed: the ending's state is not carried in every idle session's future.
        Box::pin(self.finish(reason, tell)).await;
    }

    fn on_engine(&mut self, p: engineio::Packet) -> Step {
        use engineio::Packet as E;
        match p {
            E::Pong(_) => {
                self.timers.on_pong(now());
                Step::Continue
            }
            // "invalid heartbeat direction"
            E::Ping(_) | E::Open(_) => Step::End(CloseReason::ParseError),
            E::Close => Step::End(CloseReason::ClientClose),
            E::Upgrade | E::Noop => Step::Continue,
            E::Message(text) => match self.kind {
                SessionKind::EngineEcho => {
                    self.push(Frame::Text(
                        engineio::Packet::Message(text).encode_text().into(),
                    ));
                    Step::Continue
                }
                SessionKind::SocketIo => match self.decoder.decode_text(&text) {
                    Err(e) => {
                        debug!(sid = %self.session.sid, error = %e, "malformed Socket.IO packet");
                        Step::End(CloseReason::ParseError)
                    }
                    Ok(None) => Step::Continue,
                    Ok(Some(p)) => self.on_socketio(p),
                },
            },
            E::Binary(b) => match self.kind {
                SessionKind::EngineEcho => {
                    self.push(Frame::Binary(b));
                    Step::Continue
                }
                SessionKind::SocketIo => match self.decoder.decode_binary(b) {
                    Err(e) => {
                        debug!(sid = %self.session.sid, error = %e, "unexpected binary message");
                        Step::End(CloseReason::ParseError)
                    }
                    Ok(None) => Step::Continue,
                    Ok(Some(p)) => self.on_socketio(p),
                },
            },
        }
    }

    /// Runs the timers due at `now` and acts on what they ask for.
    fn on_timeout(&mut self, now: Instant) -> Step {
        self.timers.handle_timeout(now);
        while let Some(event) = self.timers.poll_event() {
            if let Step::End(reason) = self.on_timer_event(event) {
                return Step::End(reason);
            }
        }
        Step::Continue
    }

    fn on_timer_event(&mut self, event: TimerEvent) -> Step {
        match event {
            TimerEvent::FirstPollDeadline => {
                if self.session.polled.load(Relaxed) {
                    return Step::Continue;
                }
                self.shared.metrics.abandoned_sessions.fetch_add(1, Relaxed);
                Step::End(CloseReason::TransportClose)
            }
            TimerEvent::ConnectTimeout => Step::End(CloseReason::ConnectTimeout),
            TimerEvent::PingTimeout => Step::End(CloseReason::PingTimeout),
            TimerEvent::SendPing => {
                self.push(Frame::Text(
                    engineio::Packet::Ping(String::new()).encode_text().into(),
                ));
                Step::Continue
            }
            TimerEvent::TokenExpired(nsps) => {
                for nsp in &nsps {
                    self.push_envelope(
                        nsp,
                        rules::EV_ERROR,
                        rules::error_payload(ErrorCode::TokenExpired, rules::MSG_EXPIRED),
                    );
                }
                self.shared.metrics.token_expiries.fetch_add(1, Relaxed);
                Step::End(CloseReason::TokenExpired)
            }
        }
    }

    fn on_socketio(&mut self, p: Packet) -> Step {
        match self.gate.on_packet(p) {
            Gate::Connect { nsp, auth } => self.connect(nsp, auth),
            Gate::InvalidNamespace { nsp } => {
                self.push_packet(&Packet::new(
                    &nsp,
                    PacketData::ConnectError(json!({"message": "Invalid namespace"})),
                ));
                Step::Continue
            }
            Gate::Deliver(p) => self.deliver(p),
            Gate::Disconnect { nsp } => {
                self.leave_nsp(&nsp, CloseReason::ClientDisconnect);
                Step::Continue
            }
            Gate::Close(why) => {
                debug!(sid = %self.session.sid, why, "closing connection");
                Step::End(CloseReason::ParseError)
            }
        }
    }

    fn connect(&mut self, nsp: String, auth: Option<Value>) -> Step {
        let sid = random_id();
        if self.compliance.is_some() {
            for p in ComplianceEcho::on_connect(&nsp, &sid, auth) {
                self.push_packet(&p);
            }
            self.mark_connected(&nsp);
            self.sockets.push(NspSocket {
                nsp,
                sid,
                rules: None,
            });
            return Step::Continue;
        }
        let Some(verifier) = self.shared.verifier.as_ref() else {
            return Step::End(CloseReason::ParseError);
        };
        let now_secs = now_ms().div_euclid(1000);
        let result = auth::select_token(
            auth.as_ref(),
            &self.tokens,
            self.shared.config.token_sources,
        )
        .and_then(|(source, token)| {
            debug!(sid = %self.session.sid, ?source, "token source");
            verifier.verify_client(token, now_secs)
        });
        let identity = match result {
            Ok(identity) => identity,
            Err(reason) => {
                self.shared.metrics.auth_failure(reason);
                if let Some(suppressed) = self.shared.warn_allowed(self.session.peer) {
                    warn!(
                        event = "auth_failed",
                        engine_sid = %self.session.sid,
                        nsp = %nsp,
                        reason = reason.as_str(),
                        suppressed,
                        "CONNECT refused"
                    );
                }
                self.push_packet(&Packet::new(
                    &nsp,
                    PacketData::ConnectError(codes::connect_error_payload(reason)),
                ));
                self.connect_failures += 1;
                if self.connect_failures >= self.shared.config.limits.max_connect_failures {
                    self.shared
                        .metrics
                        .connect_failure_closes
                        .fetch_add(1, Relaxed);
                    return Step::End(CloseReason::ConnectFailures);
                }
                return Step::Continue;
            }
        };
        let expires_at = expiry_instant(identity.exp, verifier.leeway());
        let rules = SocketRules::new(identity, self.shared.config.max_subscriptions);
        self.push_packet(&Packet::new(
            &nsp,
            PacketData::Connect(Some(json!({ "sid": sid }))),
        ));
        self.push_envelope(
            &nsp,
            rules::EV_CONNECTED,
            rules::connected_payload(&sid, &rules.identity),
        );
        for room in rules::automatic_rooms(&rules.identity) {
            self.shared.hub.join(&room, &self.session.outbox);
        }
        info!(
            event = "connect",
            sid = %sid,
            engine_sid = %self.session.sid,
            user_id = rules.identity.user_id.as_str(),
            organization_id = rules.identity.organization_id.as_str(),
            "socket connected"
        );
        self.shared.metrics.sockets_connected.fetch_add(1, Relaxed);
        self.mark_connected(&nsp);
        self.timers.set_token_expiry(&nsp, expires_at);
        self.sockets.push(NspSocket {
            nsp,
            sid,
            rules: Some(rules),
        });
        Step::Continue
    }

    fn deliver(&mut self, p: Packet) -> Step {
        let nsp = p.nsp;
        if let Some(compliance) = self.compliance.as_mut() {
            if let Some(reply) = compliance.on_packet(&nsp, p.data) {
                self.push_packet(&reply);
            }
            return Step::Continue;
        }
        let PacketData::Event { args, ack } = p.data else {
            // Client ACKs (the server asks none) and binary packets are ignored (LIM-8).
            return Step::Continue;
        };
        let Some(verifier) = self.shared.verifier.as_ref() else {
            return Step::Continue;
        };
        let Some(socket) = self.sockets.iter_mut().find(|s| s.nsp == nsp) else {
            return Step::End(CloseReason::ParseError);
        };
        let Some(rules) = socket.rules.as_mut() else {
            return Step::Continue;
        };
        let name = args.first().and_then(Value::as_str);
        let rest = args.get(1..).unwrap_or(&[]);
        let now = now_ms();
        let verify = |t: &str| verifier.verify_client(t, now.div_euclid(1000));
        let outcome = rules.on_event(name, rest, ack.is_some(), now, &verify);
        if let Some(room) = &outcome.join {
            self.shared.hub.join(room, &self.session.outbox);
        }
        if let Some(room) = &outcome.leave {
            self.shared.hub.leave(room, self.session.outbox.id);
        }
        if let Some(exp) = outcome.new_exp {
            self.timers
                .set_token_expiry(&nsp, expiry_instant(exp, verifier.leeway()));
            info!(event = "refresh", sid = %socket.sid, exp, "token refreshed");
        }
        match (outcome.reply, ack) {
            (Some(Reply::Ack(v)), Some(id)) => self.push_packet(&Packet::new(
                &nsp,
                PacketData::Ack {
                    args: vec![v],
                    ack: id,
                },
            )),
            (
                Some(Reply::Emit {
                    event_type,
                    payload,
                }),
                _,
            ) => self.push_envelope(&nsp, event_type, payload),
            _ => {}
        }
        Step::Continue
    }

    fn release(&self, socket: &NspSocket, reason: CloseReason) {
        if let Some(rules) = &socket.rules {
            for room in rules.all_rooms() {
                self.shared.hub.leave(&room, self.session.outbox.id);
            }
            self.shared.metrics.sockets_connected.fetch_sub(1, Relaxed);
            info!(
                event = "disconnect",
                sid = %socket.sid,
                engine_sid = %self.session.sid,
                user_id = rules.identity.user_id.as_str(),
                organization_id = rules.identity.organization_id.as_str(),
                reason = reason.as_str(),
                "socket disconnected"
            );
        }
    }

    fn leave_nsp(&mut self, nsp: &str, reason: CloseReason) {
        if let Some(pos) = self.sockets.iter().position(|s| s.nsp == nsp) {
            let socket = self.sockets.swap_remove(pos);
            self.release(&socket, reason);
        }
        self.gate.mark_disconnected(nsp);
        self.timers.clear_token_expiry(nsp);
        if let Some(compliance) = self.compliance.as_mut() {
            compliance.on_disconnect(nsp);
        }
    }

    /// Ends the session: leaves every room first (nothing is delivered afterwards),
    /// then, when `tell` and the transport is still usable, sends DISCONNECT packets
    /// (expiry, shutdown) and a close frame and waits up to 2 s for the writer to flush
    /// them; finally kills the connection and unregisters the sid.
    async fn finish(mut self, reason: CloseReason, tell: bool) {
        // Nothing is delivered after this point: leave every room first (LIFE-8).
        let sockets = std::mem::take(&mut self.sockets);
        for s in &sockets {
            self.release(s, reason);
        }
        let graceful = tell
            && !matches!(
                reason,
                CloseReason::TransportClose
                    | CloseReason::TransportError
                    | CloseReason::PingTimeout
                    | CloseReason::SlowConsumer
            );
        if reason == CloseReason::ClientClose
            && *self.session.transport.borrow() != crate::engine_session::TransportState::Websocket
        {
            // engine.io answers a pending poll with a noop when the client closes; the
            // session is gone for every later request.
            self.shared.unregister(&self.session.sid);
            self.push(Frame::Text(engineio::Packet::Noop.encode_text().into()));
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else if graceful
            && reason != CloseReason::ClientClose
            && self.session.outbox.killed().is_none()
        {
            if reason == CloseReason::TokenExpired {
                for s in &sockets {
                    self.push_packet(&Packet::new(&s.nsp, PacketData::Disconnect));
                }
            }
            // LIFE-11: on shutdown no `41` and no close packet (stock clients do not
            // reconnect after either): a WebSocket gets a close frame 1001, a pending
            // poll answers 400 once the session is killed below.
            let polling = *self.session.transport.borrow()
                != crate::engine_session::TransportState::Websocket;
            if !(reason == CloseReason::ServerShutdown && polling) {
                self.push(Frame::Close(reason.ws_code()));
                let mut kill = self.session.outbox.subscribe_kill();
                let grace = Duration::from_secs(2);
                let _ = tokio::time::timeout(grace, crate::hub::wait_killed(&mut kill)).await;
            }
        }
        self.session.outbox.kill(reason);
        if matches!(
            reason,
            CloseReason::ParseError | CloseReason::PayloadTooLarge
        ) {
            self.shared.metrics.protocol_errors.fetch_add(1, Relaxed);
        }
        debug!(engine_sid = %self.session.sid, reason = reason.as_str(), "connection closed");
        self.shared.unregister(&self.session.sid);
    }
}

/// Sleeps until `deadline`, or forever when no timer runs.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
