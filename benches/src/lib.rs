//! Roomcast benchmarks.
//!
//! Today this package holds one criterion bench, `benches/codec.rs`: the cost of
//! the `protocol` codec on the hot path of fan-out — encoding one published
//! envelope as a Socket.IO EVENT in an Engine.IO WebSocket frame, decoding it
//! back (as a client or the harness does), and decoding a long-polling payload.
//! Run it with `cargo bench -p benches`.
//!
//! Later issues add the fan-out benchmarks proper: a load generator that
//! connects many Socket.IO clients to any Roomcast server (the reference server
//! or yours), publishes through `POST /v1/publish` and records delivery latency
//! in an HDR histogram. None of that exists yet; this library is empty.
