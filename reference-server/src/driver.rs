//! The per-session driver task: feeds client packets and timer ticks through the
//! sans-io parts ([`crate::session`], [`crate::rules`], [`crate::auth`]) and applies
//! their decisions: frames into the session's outbox, joins and leaves in the hub,
//! and the end of the session.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use protocol::engineio;
use protocol::roomcast::codes::{self, ErrorCode};
use protocol::roomcast::event_type::EventType;
use protocol::roomcast::timestamp::Timestamp;
use protocol::socketio::{Decoder, Packet, PacketData};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::auth::{self, HandshakeTokens};
use crate::engine_session::{random_id, EngineSession, Inbound, SessionKind};
use crate::envelope::{envelope_text, now_ms};
use crate::hub::{CloseReason, Frame};
use crate::rules::{self, Reply, SocketRules};
use crate::session::{Gate, NamespaceGate};
use crate::shared::{PendingSlot, Shared};

/// The instant at which `exp + leeway` (seconds since the epoch) passes.
fn expiry_instant(exp: i64, leeway: i64) -> Instant {
    let deadline_ms = exp.saturating_add(leeway).saturating_mul(1000);
    let delta = deadline_ms.saturating_sub(now_ms()).max(0);
    Instant::now() + Duration::from_millis(u64::try_from(delta).unwrap_or(0))
}

struct NspSocket {
    nsp: String,
    sid: String,
    rules: Option<SocketRules>,
    expires_at: Option<Instant>,
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
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    next_ack: u64,
    pending_acks: Vec<(String, u64)>,
    /// Counts against the caps on sessions without a namespace until one connects.
    pending: Option<PendingSlot>,
    /// A polling session with no request by then is abandoned (LIM-18).
    first_poll_deadline: Option<Instant>,
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
        let now = Instant::now();
        let first_poll_deadline = (*session.transport.borrow()
            == crate::engine_session::TransportState::Polling)
            .then(|| now + shared.config.limits.first_poll_timeout);
        let gate = NamespaceGate::new(
            shared.served.clone(),
            now.into_std(),
            shared.config.connect_timeout,
        );
        let next_ping = Some(now + shared.config.ping_interval);
        Driver {
            shared,
            session,
            kind,
            tokens,
            gate,
            decoder: Decoder::new(),
            // One namespace per session is the rule: no room reserved for four.
            sockets: Vec::with_capacity(1),
            next_ping,
            pong_deadline: None,
            next_ack: 0,
            pending_acks: Vec::new(),
            pending: Some(pending),
            first_poll_deadline,
            connect_failures: 0,
        }
    }

    /// A namespace connected: the session no longer counts as pending.
    fn mark_connected(&mut self, nsp: &str) {
        self.gate.mark_connected(nsp);
        self.pending = None;
        self.first_poll_deadline = None;
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

    fn next_deadline(&self) -> Instant {
        let mut d = Instant::now() + Duration::from_secs(3600);
        if self.kind == SessionKind::SocketIo {
            if let Some(c) = self.gate.connect_deadline() {
                d = d.min(Instant::from_std(c));
            }
        }
        let timers = [self.next_ping, self.pong_deadline, self.first_poll_deadline];
        for t in timers.into_iter().flatten() {
            d = d.min(t);
        }
        for s in &self.sockets {
            if let Some(e) = s.expires_at {
                d = d.min(e);
            }
        }
        d
    }

    /// Runs the session to its end.
    pub(crate) async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>) {
        let mut kill = self.session.outbox.subscribe_kill();
        let mut shutdown = self.shared.shutdown.subscribe();
        let (reason, tell) = loop {
            let deadline = self.next_deadline();
            let step = tokio::select! {
                biased;
                r = crate::hub::wait_killed(&mut kill) => break (r, false),
                _ = crate::hub::wait_true(&mut shutdown) => Step::End(CloseReason::ServerShutdown),
                m = inbound.recv() => match m {
                    Some(Inbound::Packet(p)) => self.on_engine(*p),
                    Some(Inbound::Closed(r)) => Step::End(r),
                    None => Step::End(CloseReason::TransportClose),
                },
                _ = tokio::time::sleep_until(deadline) => self.on_timer(Instant::now()),
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
                if self.pong_deadline.take().is_some() {
                    self.next_ping = Some(Instant::now() + self.shared.config.ping_interval);
                }
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

    fn on_timer(&mut self, now: Instant) -> Step {
        if self.first_poll_deadline.is_some_and(|d| now >= d) {
            self.first_poll_deadline = None;
            if !self.session.polled.load(Relaxed) {
                self.shared.metrics.abandoned_sessions.fetch_add(1, Relaxed);
                return Step::End(CloseReason::TransportClose);
            }
        }
        if self.kind == SessionKind::SocketIo && self.gate.connect_timed_out(now.into_std()) {
            return Step::End(CloseReason::ConnectTimeout);
        }
        if self.pong_deadline.is_some_and(|d| now >= d) {
            return Step::End(CloseReason::PingTimeout);
        }
        if let Some(scheduled) = self.next_ping.filter(|d| now >= *d) {
            self.push(Frame::Text(
                engineio::Packet::Ping(String::new()).encode_text().into(),
            ));
            self.next_ping = None;
            // Counted from when the ping was due, so timer lateness does not add up.
            self.pong_deadline = Some(scheduled + self.shared.config.ping_timeout);
        }
        let expired: Vec<String> = self
            .sockets
            .iter()
            .filter(|s| s.expires_at.is_some_and(|e| now >= e))
            .map(|s| s.nsp.clone())
            .collect();
        if !expired.is_empty() {
            for nsp in &expired {
                self.push_envelope(
                    nsp,
                    rules::EV_ERROR,
                    rules::error_payload(ErrorCode::TokenExpired, rules::MSG_EXPIRED),
                );
            }
            self.shared.metrics.token_expiries.fetch_add(1, Relaxed);
            return Step::End(CloseReason::TokenExpired);
        }
        Step::Continue
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
        if self.shared.config.compliance {
            self.push_packet(&Packet::new(
                &nsp,
                PacketData::Connect(Some(json!({ "sid": sid }))),
            ));
            let auth = auth.unwrap_or_else(|| json!({}));
            self.push_packet(&Packet::event(&nsp, "auth", vec![auth], None));
            self.mark_connected(&nsp);
            self.sockets.push(NspSocket {
                nsp,
                sid,
                rules: None,
                expires_at: None,
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
        let expires_at = Some(expiry_instant(identity.exp, verifier.leeway()));
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
        self.sockets.push(NspSocket {
            nsp,
            sid,
            rules: Some(rules),
            expires_at,
        });
        Step::Continue
    }

    fn deliver(&mut self, p: Packet) -> Step {
        let nsp = p.nsp;
        if self.shared.config.compliance {
            self.compliance(&nsp, p.data);
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
            socket.expires_at = Some(expiry_instant(exp, verifier.leeway()));
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

    /// Compliance mode (socket.io-protocol test-suite): echo and ack handlers.
    fn compliance(&mut self, nsp: &str, data: PacketData) {
        match data {
            PacketData::Event { args, ack } => self.compliance_event(nsp, args, ack, Vec::new()),
            PacketData::BinaryEvent {
                args,
                ack,
                attachments,
            } => self.compliance_event(nsp, args, ack, attachments),
            PacketData::Ack { args, ack } => self.compliance_ack(nsp, args, ack, Vec::new()),
            PacketData::BinaryAck {
                args,
                ack,
                attachments,
            } => self.compliance_ack(nsp, args, ack, attachments),
            _ => {}
        }
    }

    fn emit_raw(&self, nsp: &str, args: Vec<Value>, ack: Option<u64>, attachments: Vec<Bytes>) {
        let data = if attachments.is_empty() {
            PacketData::Event { args, ack }
        } else {
            PacketData::BinaryEvent {
                args,
                ack,
                attachments,
            }
        };
        self.push_packet(&Packet::new(nsp, data));
    }

    fn compliance_event(
        &mut self,
        nsp: &str,
        mut args: Vec<Value>,
        ack: Option<u64>,
        attachments: Vec<Bytes>,
    ) {
        let name = args.first().and_then(Value::as_str).map(str::to_owned);
        match name.as_deref() {
            Some("message") => {
                if let Some(first) = args.first_mut() {
                    *first = Value::String("message-back".into());
                }
                self.emit_raw(nsp, args, None, attachments);
            }
            Some("message-with-ack") => {
                if let Some(id) = ack {
                    let rest: Vec<Value> = args.into_iter().skip(1).collect();
                    let data = if attachments.is_empty() {
                        PacketData::Ack {
                            args: rest,
                            ack: id,
                        }
                    } else {
                        PacketData::BinaryAck {
                            args: rest,
                            ack: id,
                            attachments,
                        }
                    };
                    self.push_packet(&Packet::new(nsp, data));
                }
            }
            Some("emit-with-ack") => {
                let id = self.next_ack;
                self.next_ack += 1;
                self.pending_acks.push((nsp.to_owned(), id));
                self.emit_raw(nsp, args, Some(id), attachments);
            }
            _ => {}
        }
    }

    fn compliance_ack(&mut self, nsp: &str, args: Vec<Value>, ack: u64, attachments: Vec<Bytes>) {
        let Some(pos) = self
            .pending_acks
            .iter()
            .position(|(n, id)| n == nsp && *id == ack)
        else {
            return;
        };
        self.pending_acks.swap_remove(pos);
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Value::String("emit-with-ack".into()));
        all.extend(args);
        self.emit_raw(nsp, all, None, attachments);
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
        self.pending_acks.retain(|(n, _)| n != nsp);
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
