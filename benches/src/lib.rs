//! Roomcast benchmarks.
//!
//! - `roomcast-bench` (`src/bin/roomcast_bench.rs`): a load generator that speaks the
//!   wire itself (through the sans-io `protocol` crate) and measures any Roomcast server,
//!   spawned (`--spawn CMD`) or running (`--target URL`): fan-out throughput and
//!   latency, idle-connection memory, handshake storms, lost/duplicated/reordered
//!   deliveries, server and generator CPU. See `BENCHMARKS.md`.
//! - `roomcast-floor` (`src/bin/roomcast_floor.rs`, [`floor`]): the floor of the
//!   side-by-side table, a bare tokio-tungstenite writer with a minimal handshake.
//! - criterion micro-benchmarks under `benches/` (`cargo bench -p benches`).
//!
//! Speed is measured here and never asserted in tests.

pub mod floor;
pub mod os;
pub mod publisher;
pub mod report;
pub mod scenario;
pub mod seq_track;
pub mod subject;
pub mod token;
pub mod wire_client;
