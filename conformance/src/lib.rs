//! Roomcast v1 conformance harness.
//!
//! Drives any implementation of Roomcast v1 over real sockets and reports one
//! verdict per spec requirement. It deliberately knows nothing of the
//! reference server: implementations are reached at a URL or started as
//! processes (`--spawn`).
//!
//! ```text
//!  spec/roomcast-v1.md ──(include_str!)──▶ spec::requirements ◀── verify ── checks::all()
//!                                                                            │
//!  CLI / roomcast.toml ──▶ RunConfig ──▶ runner::run ──(jobs)──▶ check(Ctx) ──┘
//!                                          │                    │ client::WsClient  (Engine.IO/Socket.IO)
//!                                          │                    │ http::request     (publish, probes)
//!                                          ▼                    │ tokens::Minter    (good and bad JWTs)
//!                                   Outcome per check ◀─────────┘ transcript::Transcript
//!                                          │
//!                        report::{human, json, junit, html}
//! ```
#![forbid(unsafe_code)]

pub mod attack;
pub mod balancer;
pub mod checks;
pub mod client;
pub mod config;
pub mod ctx;
pub mod driver;
pub mod expect;
pub mod history;
pub mod http;
pub mod model;
pub mod polling;
pub mod redis;
#[cfg(feature = "docker")]
pub mod redis_docker;
pub mod report;
pub mod runner;
pub mod shapes;
pub mod spawn;
pub mod spec;
pub mod tokens;
pub mod transcript;

pub use ctx::{CheckFailure, Ctx, RunConfig};
pub use runner::{CheckDef, Outcome, Verdict};
