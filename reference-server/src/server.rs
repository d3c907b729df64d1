//! The I/O shell: TCP accept loop, hyper HTTP/1.1 connections with upgrades, routing
//! (`/socket.io/`, `POST /v1/publish`, `/healthz`, `/readyz`, `/metrics`), CORS, and the
//! graceful shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use protocol::engineio::handshake::{self, HandshakeError, Transport};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, info, warn};

use crate::auth::{HandshakeTokens, KeyError, Verifier};
use crate::body::{self, BodyError};
use crate::config::Config;
use crate::driver::Driver;
use crate::engine;
use crate::engine_session::{random_id, EngineSession, SessionKind, TransportCell, TransportState};
use crate::fanout::Fanout;
use crate::hub::{Hub, Outbox};
use crate::limits::{LogLimiter, Pending, PendingFull};
use crate::metrics::Metrics;
use crate::response::{body_timeout, json_error, respond, Resp};
use crate::shared::{PendingSlot, Shared};

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The key material does not fit the algorithms.
    #[error("JWT configuration: {0}")]
    Key(#[from] KeyError),
    /// Binding the listener failed.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Reading the local address failed.
    #[error("cannot read the local address: {0}")]
    LocalAddr(std::io::Error),
    /// The Redis URL was refused by the client library.
    #[error("REDIS_URL: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Creates and registers a session and spawns its driver: the server wires the
/// engine's session to the driver, so neither of them knows the other.
pub(crate) fn new_session(
    shared: &Arc<Shared>,
    kind: SessionKind,
    tokens: HandshakeTokens,
    transport: TransportState,
    slot: PendingSlot,
) -> Arc<EngineSession> {
    let id = shared.next_id();
    // Headroom above the configured queue for control frames (open, acks, pings).
    let (outbox, rx) = Outbox::new(id, shared.config.outbound_queue + 16);
    let (inbound, inbound_rx) = crate::engine_session::inbound_queue(64);
    let transport = TransportCell::new(transport);
    let session = Arc::new(EngineSession {
        sid: random_id().into(),
        outbox,
        rx: Arc::new(tokio::sync::Mutex::new(rx)),
        inbound,
        transport,
        upgrade_claimed: std::sync::atomic::AtomicBool::new(false),
        close_next_poll: std::sync::atomic::AtomicBool::new(false),
        frame_per_write: shared.config.compliance,
        peer: slot.ip(),
        polled: std::sync::atomic::AtomicBool::new(false),
        post_active: std::sync::atomic::AtomicBool::new(false),
    });
    shared.register(&session);
    let driver = Driver::new(Arc::clone(shared), Arc::clone(&session), kind, tokens, slot);
    tokio::spawn(driver.run(inbound_rx));
    session
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl Server {
    /// Binds the listener and prepares the state (keys are parsed here, so a bad key
    /// fails at start).
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let verifier = if config.compliance {
            None
        } else {
            Some(Verifier::new(&config.jwt)?)
        };
        let listener =
            TcpListener::bind(config.bind)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.bind,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(ServerError::LocalAddr)?;
        let metrics = Arc::new(Metrics::default());
        let served = if config.compliance {
            vec!["/".to_owned(), "/custom".to_owned()]
        } else {
            vec![config.namespace.clone()]
        };
        let shards = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
        let (shutdown, _) = watch::channel(false);
        let hub = Arc::new(Hub::new(shards, Arc::clone(&metrics)));
        let fanout = Fanout::start(&config, Arc::clone(&hub), Arc::clone(&metrics))?;
        let shared = Arc::new(Shared {
            hub,
            fanout,
            config,
            verifier,
            metrics,
            served,
            shutdown,
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            pending: Mutex::new(Pending::default()),
            log_limiter: Mutex::new(LogLimiter::default()),
        });
        Ok(Server {
            listener,
            shared,
            local_addr,
        })
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.shared.metrics)
    }

    /// Serves until `shutdown` completes, then stops accepting, disconnects every socket
    /// (Socket.IO DISCONNECT and a WebSocket close frame) and returns once they are gone
    /// or the grace period has passed.
    pub async fn run_until<F: Future<Output = ()>>(self, shutdown: F) {
        let Server {
            listener, shared, ..
        } = self;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        tokio::spawn(serve_connection(Arc::clone(&shared), stream, peer.ip()));
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }
        drop(listener);
        info!(
            event = "shutdown",
            sessions = shared.session_count(),
            "shutting down"
        );
        shared.shutdown.send_replace(true);
        let deadline = tokio::time::Instant::now() + shared.config.shutdown_grace;
        while shared.session_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shared.fanout.stop();
        info!(event = "stopped", "server stopped");
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: tokio::net::TcpStream, peer: IpAddr) {
    let svc_shared = Arc::clone(&shared);
    let svc = service_fn(move |req| {
        let shared = Arc::clone(&svc_shared);
        async move { Ok::<_, Infallible>(route(shared, req, peer).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        // A client must send its request headers within 30 s (no slow-loris holds).
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut shutdown = shared.shutdown.subscribe();
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                debug!(error = %e, "HTTP connection error");
            }
        }
        _ = crate::shutdown::requested(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(shared.config.shutdown_grace, conn).await;
        }
    }
}

fn engine_error(e: HandshakeError) -> Resp {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    respond(status, "application/json", e.json_body())
}

/// Adds CORS headers when the request's Origin is allowed.
fn cors(config: &Config, req_headers: &HeaderMap, resp: &mut Resp) {
    if config.cors_origins.is_empty() {
        return;
    }
    let Some(origin) = req_headers.get(header::ORIGIN) else {
        return;
    };
    let allowed = config
        .cors_origins
        .iter()
        .any(|o| o == "*" || origin.to_str().is_ok_and(|v| v == o));
    if !allowed {
        return;
    }
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    h.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
}

fn preflight(config: &Config, req_headers: &HeaderMap) -> Resp {
    let mut r = respond(StatusCode::NO_CONTENT, "text/plain", Bytes::new());
    cors(config, req_headers, &mut r);
    if r.headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    {
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        let allow_headers = req_headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("content-type, authorization"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
    r
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>, peer: IpAddr) -> Resp {
    let path = req.uri().path().to_owned();
    let engine_path = shared.config.path.as_str();
    let is_engine = path == engine_path || path == engine_path.trim_end_matches('/');
    let is_echo = shared.config.compliance && (path == "/engine.io/" || path == "/engine.io");
    if is_engine || is_echo {
        let kind = if is_engine {
            SessionKind::SocketIo
        } else {
            SessionKind::EngineEcho
        };
        let headers = req.headers().clone();
        let mut resp = if req.method() == Method::OPTIONS {
            preflight(&shared.config, &headers)
        } else if !cookie_origin_allowed(&shared.config, &headers) {
            shared.metrics.origin_refused.fetch_add(1, Relaxed);
            engine_error(HandshakeError::Forbidden)
        } else {
            engine_request(Arc::clone(&shared), req, kind, peer).await
        };
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            cors(&shared.config, &headers, &mut resp);
        }
        return resp;
    }
    match path.as_str() {
        "/v1/publish" => {
            let headers = req.headers().clone();
            let mut resp = if req.method() == Method::OPTIONS {
                preflight(&shared.config, &headers)
            } else {
                crate::publish::handle(&shared, req).await
            };
            cors(&shared.config, &headers, &mut resp);
            resp
        }
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok"),
        "/readyz" => {
            if shared.shutting_down() {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "shutting down",
                )
            } else if !shared.fanout.ready() {
                respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "fan-out unavailable",
                )
            } else {
                respond(StatusCode::OK, "text/plain", "ok")
            }
        }
        "/metrics" => {
            shared.fanout.observe();
            respond(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                shared.metrics.render(),
            )
        }
        _ => json_error(
            StatusCode::NOT_FOUND,
            protocol::roomcast::codes::ErrorCode::NotFound,
            "Not found",
        ),
    }
}

/// AUTH-36: a request that an `accessToken` cookie can authenticate must come from an
/// allowed Origin (cross-site WebSocket hijacking).
fn cookie_origin_allowed(config: &Config, headers: &HeaderMap) -> bool {
    crate::limits::origin_allowed(
        config.token_sources.cookie,
        headers.contains_key(header::COOKIE),
        headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or("\u{0}")),
        &config.cors_origins,
    )
}

/// 503 with `Retry-After`: too many sessions without a connected namespace (LIM-17).
fn pending_full(shared: &Shared, full: PendingFull) -> Resp {
    debug!(
        ?full,
        "handshake refused: too many sessions without a namespace"
    );
    let mut r = respond(
        StatusCode::SERVICE_UNAVAILABLE,
        "application/json",
        r#"{"code":3,"message":"Too many pending sessions"}"#,
    );
    let secs = shared.config.limits.first_poll_timeout.as_secs().max(1);
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

/// Engine.IO request: handshake errors in the spec's order (transport, sid, method,
/// version), then WebSocket upgrade or polling.
async fn engine_request(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    kind: SessionKind,
    peer: IpAddr,
) -> Resp {
    let query = req.uri().query().map(str::to_owned);
    let q = query.as_deref();
    let mut session = None;
    let verified = handshake::verify(q, req.method().as_str(), |sid| {
        session = shared.lookup(sid);
        session.is_some()
    });
    let transport = match verified {
        Ok(h) => h.transport,
        Err(e) => return engine_error(e),
    };
    if session.is_none() && shared.shutting_down() {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "shutting down",
        );
    }
    if let Some(s) = &session {
        s.polled.store(true, Relaxed);
    }
    match transport {
        Transport::Websocket => {
            if req.method() != Method::GET || !is_websocket_upgrade(req.headers()) {
                return engine_error(HandshakeError::BadRequest);
            }
            // One upgrade per session: a second WebSocket on the sid is accepted at the
            // HTTP level and closed at once (as engine.io does).
            let reject = session.as_ref().is_some_and(|s| {
                let claimed = s
                    .upgrade_claimed
                    .swap(true, std::sync::atomic::Ordering::AcqRel);
                claimed || *s.transport.borrow() != TransportState::Polling
            });
            let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
                return engine_error(HandshakeError::BadRequest);
            };
            let slot = match session {
                Some(_) => None,
                None => match shared.admit(peer) {
                    Ok(slot) => Some(slot),
                    Err(full) => return pending_full(&shared, full),
                },
            };
            let tokens = HandshakeTokens::from_request(req.headers(), q);
            let on_upgrade = hyper::upgrade::on(&mut req);
            let max_payload = shared.config.max_payload;
            tokio::spawn(async move {
                let upgraded = match on_upgrade.await {
                    Ok(u) => u,
                    Err(e) => {
                        debug!(error = %e, "WebSocket upgrade failed");
                        return;
                    }
                };
                let ws = Box::new(
                    WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(engine::ws_config(max_payload)),
                    )
                    .await,
                );
                // The rare paths are boxed: this task lives as long as the connection,
                // and its future is as large as its largest branch.
                match (session, slot) {
                    _ if reject => {
                        Box::pin(async move {
                            let mut ws = ws;
                            let _ =
                                tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                        })
                        .await
                    }
                    (None, Some(slot)) => {
                        let session =
                            new_session(&shared, kind, tokens, TransportState::Websocket, slot);
                        engine::serve_direct_ws(shared, ws, session).await
                    }
                    (Some(s), _) => Box::pin(engine::serve_upgrade_ws(shared, ws, s)).await,
                    (None, None) => {}
                }
            });
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let h = r.headers_mut();
            h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            if let Ok(v) = HeaderValue::from_str(&accept) {
                h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
            }
            r
        }
        Transport::Polling => match session {
            None => {
                let slot = match shared.admit(peer) {
                    Ok(slot) => slot,
                    Err(full) => return pending_full(&shared, full),
                };
                let tokens = HandshakeTokens::from_request(req.headers(), q);
                let s = new_session(&shared, kind, tokens, TransportState::Polling, slot);
                let open = engine::open_packet(&shared, &s.sid, true);
                respond(StatusCode::OK, "text/plain; charset=UTF-8", open)
            }
            Some(s) => match *req.method() {
                Method::GET => match engine::poll_get(&s).await {
                    Ok(body) => respond(StatusCode::OK, "text/plain; charset=UTF-8", body),
                    Err(e) => engine_error(e),
                },
                Method::POST => polling_post(&shared, &s, req).await,
                _ => engine_error(HandshakeError::BadRequest),
            },
        },
    }
}

/// A polling POST: one at a time per sid (LIM-16), its body read against the limits
/// (LIM-2, LIM-14, LIM-15) and never past the end of its session.
async fn polling_post(shared: &Shared, s: &Arc<EngineSession>, req: Request<Incoming>) -> Resp {
    let Some(_post) = s.begin_post() else {
        // Engine.IO closes the session on a "data request overlap".
        s.outbox.kill(crate::hub::CloseReason::ParseError);
        return engine_error(HandshakeError::BadRequest);
    };
    let declared = body::declared_length(req.headers());
    let mut kill = s.outbox.subscribe_kill();
    let cancel = async move {
        crate::hub::wait_killed(&mut kill).await;
    };
    let limit = shared.config.max_payload;
    let read = body::read_body(
        req.into_body(),
        declared,
        limit,
        &shared.config.limits,
        cancel,
    );
    let body = match read.await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            s.outbox.kill(crate::hub::CloseReason::PayloadTooLarge);
            return respond(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "payload too large",
            );
        }
        Err(BodyError::Slow) => {
            s.outbox.kill(crate::hub::CloseReason::TransportError);
            return body_timeout(shared, engine_error(HandshakeError::BadRequest));
        }
        Err(BodyError::Cancelled | BodyError::Io) => {
            let mut r = engine_error(HandshakeError::BadRequest);
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    match engine::poll_post(s, body).await {
        Ok(()) => respond(StatusCode::OK, "text/html", "ok"),
        Err(engine::PostError::Handshake(e)) => engine_error(e),
    }
}
