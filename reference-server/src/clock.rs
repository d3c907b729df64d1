//! The wall clock of the I/O shell: the one place the server reads `SystemTime`. The
//! sans-io modules never read a clock; the driver, the publish API and the Redis reader
//! pass them the time from here.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, from the system clock.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
