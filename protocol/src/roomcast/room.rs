//! Room names: `org:{org}`, `org:{org}:site:{id}`, `org:{org}:unit:{id}`,
//! `org:{org}:user:{id}`. The organization always comes first.

use std::fmt;

use super::id::{Id, IdError};

/// A Roomcast room.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Room {
    /// `org:{org}`: every socket of the organization.
    Org {
        /// The organization.
        org: Id,
    },
    /// `org:{org}:site:{site}`.
    Site {
        /// The organization.
        org: Id,
        /// The site.
        site: Id,
    },
    /// `org:{org}:unit:{unit}`.
    Unit {
        /// The organization.
        org: Id,
        /// The unit.
        unit: Id,
    },
    /// `org:{org}:user:{user}`: every socket of one user.
    User {
        /// The organization.
        org: Id,
        /// The user.
        user: Id,
    },
}

/// Why a string is not a room name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The name does not have one of the four shapes.
    #[error("invalid room name: expected org:{{org}}, org:{{org}}:site:{{id}}, org:{{org}}:unit:{{id}} or org:{{org}}:user:{{id}}")]
    InvalidShape,
    /// The shape is right but an id is not valid.
    #[error("invalid id in room name: {0}")]
    InvalidId(IdError),
}

impl Room {
    /// Parses a room name.
    pub fn parse(s: &str) -> Result<Room, RoomError> {
        let parts: Vec<&str> = s.split(':').collect();
        let id = |s: &str| Id::parse(s).map_err(RoomError::InvalidId);
        match parts.as_slice() {
            ["org", org] => Ok(Room::Org { org: id(org)? }),
            ["org", org, "site", site] => Ok(Room::Site {
                org: id(org)?,
                site: id(site)?,
            }),
            ["org", org, "unit", unit] => Ok(Room::Unit {
                org: id(org)?,
                unit: id(unit)?,
            }),
            ["org", org, "user", user] => Ok(Room::User {
                org: id(org)?,
                user: id(user)?,
            }),
            _ => Err(RoomError::InvalidShape),
        }
    }

    /// The organization the room belongs to.
    pub fn org(&self) -> &Id {
        match self {
            Room::Org { org }
            | Room::Site { org, .. }
            | Room::Unit { org, .. }
            | Room::User { org, .. } => org,
        }
    }

    /// The organization's room, `org:{org}`.
    pub fn org_room(org: &Id) -> Room {
        Room::Org { org: org.clone() }
    }

    /// The room of one user, `org:{org}:user:{user}`.
    pub fn user_room(org: &Id, user: &Id) -> Room {
        Room::User {
            org: org.clone(),
            user: user.clone(),
        }
    }

    /// The room of a site, `org:{org}:site:{site}`.
    pub fn site_room(org: &Id, site: &Id) -> Room {
        Room::Site {
            org: org.clone(),
            site: site.clone(),
        }
    }

    /// The room of a unit, `org:{org}:unit:{unit}`.
    pub fn unit_room(org: &Id, unit: &Id) -> Room {
        Room::Unit {
            org: org.clone(),
            unit: unit.clone(),
        }
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Room::Org { org } => write!(f, "org:{org}"),
            Room::Site { org, site } => write!(f, "org:{org}:site:{site}"),
            Room::Unit { org, unit } => write!(f, "org:{org}:unit:{unit}"),
            Room::User { org, user } => write!(f, "org:{org}:user:{user}"),
        }
    }
}

impl std::str::FromStr for Room {
    type Err = RoomError;
    fn from_str(s: &str) -> Result<Room, RoomError> {
        Room::parse(s)
    }
}

impl serde::Serialize for Room {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_round_trips() {
        for s in [
            "org:acme",
            "org:acme:site:s1",
            "org:acme:unit:u-1",
            "org:a_b:user:42",
        ] {
            assert_eq!(Room::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Room::parse("org:acme:site:s1").unwrap().org().as_str(),
            "acme"
        );
    }

    #[test]
    fn bad_rooms() {
        for s in [
            "",
            "org",
            "org:",
            "acme",
            "org:acme:site",
            "org:acme:team:t",
            "org:acme:site:s1:x",
            "ORG:acme",
            "site:s1",
        ] {
            assert!(Room::parse(s).is_err(), "{s:?} should be rejected");
        }
        assert_eq!(
            Room::parse("org:a b"),
            Err(RoomError::InvalidId(IdError::InvalidChar))
        );
        assert_eq!(
            Room::parse("org:acme:site:"),
            Err(RoomError::InvalidId(IdError::Empty))
        );
        assert_eq!(Room::parse("org:acme:foo:x"), Err(RoomError::InvalidShape));
    }
}
