//! Ids of users, organizations, sites and units: `^[A-Za-z0-9_-]{1,64}$`.

use std::fmt;

/// The longest valid id, in characters (all ASCII).
pub const MAX_LEN: usize = 64;

/// A valid id. The only way to get one is [`Id::parse`], so holding an
/// `Id` means the string matches the grammar.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

/// Why a string is not an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is empty.
    #[error("id is empty: expected 1 to 64 characters of A-Z a-z 0-9 _ -")]
    Empty,
    /// Longer than [`MAX_LEN`].
    #[error("id is longer than 64 characters")]
    TooLong,
    /// Holds a character outside `A-Z a-z 0-9 _ -`.
    #[error("id contains a character other than A-Z a-z 0-9 _ -")]
    InvalidChar,
}

impl Id {
    /// Parses an id.
    pub fn parse(s: &str) -> Result<Id, IdError> {
        check(s)?;
        Ok(Id(s.to_owned()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `s` matches `^[A-Za-z0-9_-]{1,64}$`.
pub fn is_valid(s: &str) -> bool {
    check(s).is_ok()
}

fn check(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError::InvalidChar);
    }
    if s.len() > MAX_LEN {
        return Err(IdError::TooLong);
    }
    Ok(())
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Id {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Id {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Id, IdError> {
        Id::parse(s)
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_edges() {
        assert!(is_valid("a"));
        assert!(is_valid("A-z_0"));
        assert!(is_valid(&"x".repeat(64)));
        assert_eq!(Id::parse(&"x".repeat(65)), Err(IdError::TooLong));
        assert_eq!(Id::parse(""), Err(IdError::Empty));
        assert_eq!(Id::parse("a:b"), Err(IdError::InvalidChar));
        assert_eq!(Id::parse("é"), Err(IdError::InvalidChar));
        assert_eq!(Id::parse("a b"), Err(IdError::InvalidChar));
        assert_eq!(Id::parse("s1").unwrap().as_str(), "s1");
    }
}
