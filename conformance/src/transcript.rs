//! The wire transcript of one check: every frame sent and received and every
//! HTTP exchange, with the time in milliseconds since the check started.
//!
//! A transcript is cheap to clone (it is an `Arc`); the wire client, the HTTP
//! helper and the check itself all append to the same one, and the runner
//! prints it when the check fails.

use serde::Serialize;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest text kept for one transcript line; longer frames are shortened.
const MAX_LINE: usize = 600;

/// Direction (or kind) of one transcript entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Something the harness sent.
    Sent,
    /// Something the harness received.
    Recv,
    /// A note from the harness (connection opened, closed, waited, ...).
    Note,
}

/// One line of a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Milliseconds since the check started.
    pub ms: u64,
    /// Direction.
    pub dir: Dir,
    /// Which connection or channel (`ws#1`, `http`, `poll#2`, ...).
    pub chan: String,
    /// The frame, request or note, shortened to a readable length.
    pub text: String,
}

#[derive(Debug)]
struct Inner {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
    next_chan: Mutex<u32>,
}

/// Shared, append-only transcript.
#[derive(Debug, Clone)]
pub struct Transcript {
    inner: Arc<Inner>,
}

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}

impl Transcript {
    /// A fresh transcript whose clock starts now.
    pub fn new() -> Self {
        Transcript {
            inner: Arc::new(Inner {
                start: Instant::now(),
                entries: Mutex::new(Vec::new()),
                next_chan: Mutex::new(0),
            }),
        }
    }

    /// Allocates a channel name such as `ws#3`.
    pub fn channel(&self, kind: &str) -> String {
        let mut n = self
            .inner
            .next_chan
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *n += 1;
        format!("{kind}#{n}")
    }

    /// Appends one entry (JWT signatures are cut, so a transcript never holds a usable token).
    pub fn push(&self, dir: Dir, chan: &str, text: impl AsRef<str>) {
        let ms = self.inner.start.elapsed().as_millis() as u64;
        let text = shorten(&redact_jwt(text.as_ref()));
        let mut e = self.inner.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.push(Entry {
            ms,
            dir,
            chan: chan.to_string(),
            text,
        });
    }

    /// Appends a note.
    pub fn note(&self, text: impl AsRef<str>) {
        self.push(Dir::Note, "harness", text);
    }

    /// A copy of every entry so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.inner
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Keeps a JWT's header and claims (readable) and the first 6 characters of
/// its signature: `eyJ….eyJ….AbCdEf…`.
pub fn redact_jwt(s: &str) -> String {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(r"(eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.)([A-Za-z0-9_-]{6})[A-Za-z0-9_-]+")
            .ok()
    });
    match re {
        Some(re) => re.replace_all(s, "${1}${2}…").into_owned(),
        None => s.to_string(),
    }
}

/// Shortens `s` to at most [`MAX_LINE`] characters and escapes control characters.
fn shorten(s: &str) -> String {
    let mut out = String::new();
    for (count, c) in s.chars().enumerate() {
        if count >= MAX_LINE {
            out.push_str(&format!("… ({} chars)", s.chars().count()));
            break;
        }
        match c {
            '\x1e' => out.push_str("\\x1e"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match self.dir {
            Dir::Sent => "->",
            Dir::Recv => "<-",
            Dir::Note => "..",
        };
        write!(
            f,
            "{:>6}ms {} {:<8} {}",
            self.ms, arrow, self.chan, self.text
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_ordered_and_shortened() {
        let t = Transcript::new();
        let ch = t.channel("ws");
        t.push(Dir::Sent, &ch, "40{}");
        t.push(Dir::Recv, &ch, "x".repeat(2000));
        let e = t.entries();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].chan, "ws#1");
        assert!(e[1].text.len() < 700);
        assert!(e[1].text.contains("2000 chars"));
        assert!(e[0].to_string().contains("-> ws#1"));
    }

    #[test]
    fn jwt_signatures_are_cut() {
        let t =
            "40{\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlLXBhcnQtbG9uZw\"}";
        let r = redact_jwt(t);
        assert!(
            r.contains("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbm…"),
            "{r}"
        );
        assert!(!r.contains("F0dXJlLXBhcnQtbG9uZw"));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(shorten("a\x1eb"), "a\\x1eb");
    }
}
