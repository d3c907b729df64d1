//! Event types `domain:action`:
//! `^[a-z][a-z0-9]*(_[a-z0-9]+)*:[a-z][A-Za-z0-9_]*$`, at most 64 characters.

use std::fmt;

/// The longest valid event type, in characters (all ASCII).
pub const MAX_LEN: usize = 64;

/// Domains only the server may emit into.
pub const RESERVED_DOMAINS: [&str; 2] = ["system", "auth"];

/// A valid event type, e.g. `dashboard:summaryUpdated`. Reserved domains
/// parse too; [`EventType::is_reserved`] tells them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(String);

/// Why a string is not an event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EventTypeError {
    /// Longer than [`MAX_LEN`].
    #[error("event type is longer than 64 characters")]
    TooLong,
    /// No `:` between domain and action.
    #[error("event type needs the form domain:action, e.g. dashboard:summaryUpdated")]
    MissingColon,
    /// The domain is not `[a-z][a-z0-9]*(_[a-z0-9]+)*`.
    #[error("invalid event domain: expected lowercase letters and digits, starting with a letter, single '_' between words")]
    InvalidDomain,
    /// The action is not `[a-z][A-Za-z0-9_]*`.
    #[error(
        "invalid event action: expected a lowercase letter followed by letters, digits or '_'"
    )]
    InvalidAction,
}

impl EventType {
    /// Parses an event type.
    pub fn parse(s: &str) -> Result<EventType, EventTypeError> {
        check(s)?;
        Ok(EventType(s.to_owned()))
    }

    /// The part before the `:`.
    pub fn domain(&self) -> &str {
        self.0.split_once(':').map_or("", |(d, _)| d)
    }

    /// The part after the `:`.
    pub fn action(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, a)| a)
    }

    /// Whether the domain is reserved for the server (`system`, `auth`).
    pub fn is_reserved(&self) -> bool {
        RESERVED_DOMAINS.contains(&self.domain())
    }

    /// The event type as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `s` matches the event-type grammar and length limit.
pub fn is_valid(s: &str) -> bool {
    check(s).is_ok()
}

fn check(s: &str) -> Result<(), EventTypeError> {
    if s.len() > MAX_LEN {
        return Err(EventTypeError::TooLong);
    }
    let (domain, action) = s.split_once(':').ok_or(EventTypeError::MissingColon)?;
    if !domain_ok(domain.as_bytes()) {
        return Err(EventTypeError::InvalidDomain);
    }
    match action.as_bytes().split_first() {
        Some((first, rest))
            if first.is_ascii_lowercase()
                && rest.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') =>
        {
            Ok(())
        }
        _ => Err(EventTypeError::InvalidAction),
    }
}

/// `[a-z][a-z0-9]*(_[a-z0-9]+)*`
fn domain_ok(d: &[u8]) -> bool {
    let Some((first, rest)) = d.split_first() else {
        return false;
    };
    if !first.is_ascii_lowercase() {
        return false;
    }
    let mut after_underscore = false;
    for &b in rest {
        match b {
            b'_' if !after_underscore => after_underscore = true,
            b'a'..=b'z' | b'0'..=b'9' => after_underscore = false,
            _ => return false,
        }
    }
    !after_underscore
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EventType {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for EventType {
    type Err = EventTypeError;
    fn from_str(s: &str) -> Result<EventType, EventTypeError> {
        EventType::parse(s)
    }
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_brief() {
        for s in [
            "dashboard:summaryUpdated",
            "lobby:room_list",
            "a1_b2:x",
            "system:error",
            "auth:refresh",
        ] {
            assert!(is_valid(s), "{s}");
        }
        let t = EventType::parse("lobby:room_list").unwrap();
        assert_eq!(
            (t.domain(), t.action(), t.is_reserved()),
            ("lobby", "room_list", false)
        );
        assert!(EventType::parse("system:connected").unwrap().is_reserved());
        assert!(!EventType::parse("systems:x").unwrap().is_reserved());
    }

    #[test]
    fn rejections_name_the_part() {
        assert_eq!(
            EventType::parse("nocolon"),
            Err(EventTypeError::MissingColon)
        );
        assert_eq!(
            EventType::parse("Dash:x"),
            Err(EventTypeError::InvalidDomain)
        );
        assert_eq!(
            EventType::parse("a__b:x"),
            Err(EventTypeError::InvalidDomain)
        );
        assert_eq!(EventType::parse("a_:x"), Err(EventTypeError::InvalidDomain));
        assert_eq!(EventType::parse("_a:x"), Err(EventTypeError::InvalidDomain));
        assert_eq!(EventType::parse(":x"), Err(EventTypeError::InvalidDomain));
        assert_eq!(EventType::parse("a:X"), Err(EventTypeError::InvalidAction));
        assert_eq!(EventType::parse("a:"), Err(EventTypeError::InvalidAction));
        assert_eq!(
            EventType::parse("a:b:c"),
            Err(EventTypeError::InvalidAction)
        );
        let long = format!("a:{}", "b".repeat(63));
        assert_eq!(EventType::parse(&long), Err(EventTypeError::TooLong));
        assert!(is_valid(&long[..64]));
    }
}
