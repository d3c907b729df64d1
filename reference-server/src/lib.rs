//! Roomcast v1 reference server: authenticated, multi-tenant real-time messaging on
//! Socket.IO v5 / Engine.IO v4, built on hyper 1.x and tokio-tungstenite, driving the
//! sans-io `protocol` crate.
//!
//! ```text
//!   TCP ─ hyper http1 ─┬─ /socket.io/ ── engine (WS | polling) ── driver ── namespace_gate/timers/rules/auth
//!                      ├─ POST /v1/publish ── auth ── fanout ─(memory | Redis stream)─ hub ──(one shared frame)──▶ outboxes
//!                      └─ /healthz /readyz /metrics
//! ```
//!
//! The rules are sans-io modules ([`namespace_gate`], [`timers`], [`rules`], [`auth`]) tested without
//! sockets; [`Server`] is the I/O shell. Start one in-process with
//! [`Server::bind`] and [`Server::run_until`].
#![forbid(unsafe_code)]

pub mod auth;
mod body;
mod clock;
mod compliance;
pub mod config;
mod driver;
mod engine;
mod engine_session;
mod envelope;
mod fanout;
pub mod fanout_redis;
pub mod fd_limit;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod namespace_gate;
mod outbox;
mod publish;
mod response;
pub mod rules;
mod server;
mod shared;
mod shutdown;
pub mod timers;

pub use config::{Args, Config, ConfigError};
pub use server::{Server, ServerError};
