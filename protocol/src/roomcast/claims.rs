//! Reading Roomcast identities out of verified JWT claims, and the time
//! checks on `exp` / `nbf`.
//!
//! Signature verification is not here (it needs keys and a JWT library);
//! these functions take the claims object of a token whose signature the
//! caller already checked, and the current time as a number.

use serde_json::{Map, Value};

use super::codes::AuthReason;
use super::id::Id;

/// The scope a publisher token must hold.
pub const PUBLISH_SCOPE: &str = "realtime:publish";

/// Who a client token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// From `userId`, else `sub`.
    pub user_id: Id,
    /// From `organizationId`.
    pub organization_id: Id,
    /// From `role`, if present.
    pub role: Option<String>,
    /// From `email`, if present (never echoed to clients).
    pub email: Option<String>,
    /// `exp`, seconds since the Unix epoch (a fractional value floored).
    pub exp: i64,
    /// `nbf`, seconds since the Unix epoch, if present (floored).
    pub nbf: Option<i64>,
}

/// What a publisher token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// The only organization it may publish into; `None`: any organization.
    pub organization_id: Option<Id>,
    /// Every scope of the space-separated `scope` claim (it holds
    /// [`PUBLISH_SCOPE`]).
    pub scopes: Vec<String>,
    /// `exp`, seconds since the Unix epoch (floored).
    pub exp: i64,
}

impl Publisher {
    /// Whether this publisher may publish into `org`'s rooms.
    pub fn may_publish_to(&self, org: &Id) -> bool {
        self.organization_id.as_ref().is_none_or(|own| own == org)
    }
}

/// Why a token's claims are not acceptable. All of them are reported to
/// clients as [`AuthReason::InvalidClaims`] ([`ClaimsError::reason`]);
/// a publish endpoint answers the scope errors as a permission problem
/// ([`ClaimsError::is_forbidden`]) and the others as 401 `AUTH_FAILED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    /// Neither `userId` nor `sub` is present.
    #[error("token has no user id: set the userId (or sub) claim")]
    MissingUserId,
    /// `userId` (or, without `userId`, `sub`) is not a string matching the
    /// id grammar. A present but invalid `userId` does not fall back to `sub`.
    #[error("user id claim must be a string of 1 to 64 characters A-Z a-z 0-9 _ -")]
    InvalidUserId,
    /// No `organizationId` claim (client tokens).
    #[error("token has no organizationId claim")]
    MissingOrganizationId,
    /// `organizationId` is not a string matching the id grammar.
    #[error("organizationId claim must be a string of 1 to 64 characters A-Z a-z 0-9 _ -")]
    InvalidOrganizationId,
    /// No `exp` claim.
    #[error("token has no exp claim: tokens must expire")]
    MissingExp,
    /// `exp` is not a number.
    #[error("exp claim must be a number of seconds since the Unix epoch")]
    InvalidExp,
    /// `nbf` is present but not a number.
    #[error("nbf claim must be a number of seconds since the Unix epoch")]
    InvalidNbf,
    /// `role` is present but not a string.
    #[error("role claim must be a string")]
    InvalidRole,
    /// `email` is present but not a string.
    #[error("email claim must be a string")]
    InvalidEmail,
    /// `scope` is present but not a space-separated string (a JSON array
    /// is not accepted).
    #[error("scope claim must be a space-separated string, e.g. \"realtime:publish\"")]
    InvalidScope,
    /// `scope` is missing or does not contain `realtime:publish`.
    #[error("Token lacks the realtime:publish scope")]
    MissingPublishScope,
}

impl ClaimsError {
    /// The reason reported for a token with these claims:
    /// [`AuthReason::InvalidClaims`].
    pub fn reason(&self) -> AuthReason {
        AuthReason::InvalidClaims
    }

    /// Whether the token is valid but lacks a permission: no
    /// `realtime:publish` in `scope`, or a `scope` that is not a string
    /// (treated as no scope). A publish endpoint answers these 403
    /// `FORBIDDEN` rather than 401 `AUTH_FAILED` (spec PUB-11, PUB-12).
    pub fn is_forbidden(&self) -> bool {
        matches!(
            self,
            ClaimsError::MissingPublishScope | ClaimsError::InvalidScope
        )
    }
}

/// Reads a client identity from verified claims.
///
/// - user id: `userId` if present (it must then be a valid id string, with
///   no fallback), else `sub`; numbers are not ids;
/// - `organizationId`: required, a valid id string;
/// - `exp`: required, a number (integer or fractional, floored);
/// - `nbf`: a number if present;
/// - `role`, `email`: strings if present.
pub fn client_identity(claims: &Map<String, Value>) -> Result<Identity, ClaimsError> {
    let user_id = match claims.get("userId").or_else(|| claims.get("sub")) {
        None => return Err(ClaimsError::MissingUserId),
        Some(v) => id(v).ok_or(ClaimsError::InvalidUserId)?,
    };
    let organization_id = match claims.get("organizationId") {
        None => return Err(ClaimsError::MissingOrganizationId),
        Some(v) => id(v).ok_or(ClaimsError::InvalidOrganizationId)?,
    };
    Ok(Identity {
        user_id,
        organization_id,
        role: opt_string(claims, "role").map_err(|()| ClaimsError::InvalidRole)?,
        email: opt_string(claims, "email").map_err(|()| ClaimsError::InvalidEmail)?,
        exp: exp(claims)?,
        nbf: nbf(claims)?,
    })
}

/// Reads a publisher from verified claims: `scope` a space-separated string
/// containing [`PUBLISH_SCOPE`]; `organizationId` optional but a valid id
/// string when present; `exp` required and numeric. A `nbf` claim, if
/// present, must be numeric too (check it with [`check_time`] and
/// [`nbf_of`]).
pub fn publisher(claims: &Map<String, Value>) -> Result<Publisher, ClaimsError> {
    let organization_id = match claims.get("organizationId") {
        None => None,
        Some(v) => Some(id(v).ok_or(ClaimsError::InvalidOrganizationId)?),
    };
    let exp = exp(claims)?;
    nbf(claims)?;
    let scopes: Vec<String> = match claims.get("scope") {
        None => return Err(ClaimsError::MissingPublishScope),
        // RFC 6749 §3.3: scope tokens are separated by spaces (0x20) only.
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err(ClaimsError::InvalidScope),
    };
    if !scopes.iter().any(|s| s == PUBLISH_SCOPE) {
        return Err(ClaimsError::MissingPublishScope);
    }
    Ok(Publisher {
        organization_id,
        scopes,
        exp,
    })
}

/// The `nbf` claim, floored, if present; an error if it is not a number.
pub fn nbf_of(claims: &Map<String, Value>) -> Result<Option<i64>, ClaimsError> {
    nbf(claims)
}

/// Checks a token's validity window at `now_secs` (seconds since the Unix
/// epoch), with `leeway_secs` of tolerance on both ends.
///
/// - Expired ([`AuthReason::TokenExpired`]) when `now_secs >= exp + leeway`:
///   the token is valid strictly before its `exp` (RFC 7519 §4.1.4), so a
///   server disconnects a socket at exactly `exp + leeway`. (Note:
///   `jsonwebtoken`'s own check accepts `now == exp + leeway`; do not rely
///   on it for this decision.)
/// - Not yet valid ([`AuthReason::InvalidToken`]) when
///   `nbf > now_secs + leeway`: valid from `nbf` on (RFC 7519 §4.1.5).
///
/// Expiry is checked first. Arithmetic saturates, so extreme values are
/// safe.
pub fn check_time(
    exp: i64,
    nbf: Option<i64>,
    now_secs: i64,
    leeway_secs: i64,
) -> Result<(), AuthReason> {
    if now_secs >= exp.saturating_add(leeway_secs) {
        return Err(AuthReason::TokenExpired);
    }
    if nbf.is_some_and(|nbf| nbf > now_secs.saturating_add(leeway_secs)) {
        return Err(AuthReason::InvalidToken);
    }
    Ok(())
}

fn id(v: &Value) -> Option<Id> {
    v.as_str().and_then(|s| Id::parse(s).ok())
}

fn opt_string(claims: &Map<String, Value>, key: &str) -> Result<Option<String>, ()> {
    match claims.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

/// A JSON number as whole seconds: integers as they are (above `i64::MAX`
/// saturated), fractions floored.
pub fn numeric_seconds(v: &Value) -> Option<i64> {
    let n = match v {
        Value::Number(n) => n,
        _ => return None,
    };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if n.as_u64().is_some() {
        return Some(i64::MAX);
    }
    // `as` saturates for out-of-range floats; JSON has no NaN or infinity.
    n.as_f64().map(|f| f.floor() as i64)
}

fn exp(claims: &Map<String, Value>) -> Result<i64, ClaimsError> {
    match claims.get("exp") {
        None => Err(ClaimsError::MissingExp),
        Some(v) => numeric_seconds(v).ok_or(ClaimsError::InvalidExp),
    }
}

fn nbf(claims: &Map<String, Value>) -> Result<Option<i64>, ClaimsError> {
    match claims.get("nbf") {
        None => Ok(None),
        Some(v) => numeric_seconds(v).map(Some).ok_or(ClaimsError::InvalidNbf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn user_id_from_user_id_else_sub() {
        let i = client_identity(&map(
            json!({"userId": "u1", "sub": "s", "organizationId": "acme", "exp": 10}),
        ))
        .unwrap();
        assert_eq!(i.user_id.as_str(), "u1");
        let i = client_identity(&map(
            json!({"sub": "s", "organizationId": "acme", "exp": 10.9, "role": "admin"}),
        ))
        .unwrap();
        assert_eq!(
            (i.user_id.as_str(), i.exp, i.role.as_deref()),
            ("s", 10, Some("admin"))
        );
        assert_eq!(
            client_identity(&map(
                json!({"userId": "bad id", "sub": "s", "organizationId": "acme", "exp": 10})
            )),
            Err(ClaimsError::InvalidUserId)
        );
        assert_eq!(
            client_identity(&map(
                json!({"userId": 42, "organizationId": "acme", "exp": 10})
            )),
            Err(ClaimsError::InvalidUserId)
        );
        assert_eq!(
            client_identity(&map(json!({"organizationId": "acme", "exp": 10}))),
            Err(ClaimsError::MissingUserId)
        );
    }

    #[test]
    fn organization_and_exp_are_required() {
        assert_eq!(
            client_identity(&map(json!({"sub": "s", "exp": 10}))),
            Err(ClaimsError::MissingOrganizationId)
        );
        assert_eq!(
            client_identity(&map(json!({"sub": "s", "organizationId": 7, "exp": 10}))),
            Err(ClaimsError::InvalidOrganizationId)
        );
        assert_eq!(
            client_identity(&map(json!({"sub": "s", "organizationId": "acme"}))),
            Err(ClaimsError::MissingExp)
        );
        assert_eq!(
            client_identity(&map(
                json!({"sub": "s", "organizationId": "acme", "exp": "10"})
            )),
            Err(ClaimsError::InvalidExp)
        );
        assert_eq!(
            client_identity(&map(
                json!({"sub": "s", "organizationId": "acme", "exp": 10, "nbf": null})
            )),
            Err(ClaimsError::InvalidNbf)
        );
        assert_eq!(
            client_identity(&map(
                json!({"sub": "s", "organizationId": "acme", "exp": 10, "email": 1})
            )),
            Err(ClaimsError::InvalidEmail)
        );
        assert_eq!(ClaimsError::InvalidExp.reason(), AuthReason::InvalidClaims);
    }

    #[test]
    fn publisher_scope_is_a_space_separated_string() {
        let p = publisher(&map(json!({"scope": "read realtime:publish", "exp": 5}))).unwrap();
        assert_eq!(p.scopes, vec!["read", "realtime:publish"]);
        assert!(p.may_publish_to(&Id::parse("any").unwrap()));
        let p = publisher(&map(
            json!({"scope": "realtime:publish", "organizationId": "acme", "exp": 5}),
        ))
        .unwrap();
        assert!(p.may_publish_to(&Id::parse("acme").unwrap()));
        assert!(!p.may_publish_to(&Id::parse("other").unwrap()));
        assert_eq!(
            publisher(&map(json!({"scope": ["realtime:publish"], "exp": 5}))),
            Err(ClaimsError::InvalidScope)
        );
        assert_eq!(
            publisher(&map(json!({"scope": "realtime:publisher", "exp": 5}))),
            Err(ClaimsError::MissingPublishScope)
        );
        assert!(ClaimsError::MissingPublishScope.is_forbidden());
        assert!(ClaimsError::InvalidScope.is_forbidden());
        assert!(!ClaimsError::InvalidOrganizationId.is_forbidden());
        assert_eq!(
            publisher(&map(json!({"scope": "realtime:publish"}))),
            Err(ClaimsError::MissingExp)
        );
        assert_eq!(
            publisher(&map(
                json!({"scope": "realtime:publish", "exp": 1, "organizationId": ""})
            )),
            Err(ClaimsError::InvalidOrganizationId)
        );
    }

    #[test]
    fn time_window_edges() {
        assert_eq!(check_time(100, None, 99, 0), Ok(()));
        assert_eq!(check_time(100, None, 100, 0), Err(AuthReason::TokenExpired));
        assert_eq!(check_time(100, None, 104, 5), Ok(()));
        assert_eq!(check_time(100, None, 105, 5), Err(AuthReason::TokenExpired));
        assert_eq!(check_time(100, Some(50), 50, 0), Ok(()));
        assert_eq!(
            check_time(100, Some(51), 50, 0),
            Err(AuthReason::InvalidToken)
        );
        assert_eq!(check_time(100, Some(55), 50, 5), Ok(()));
        assert_eq!(
            check_time(i64::MAX, Some(i64::MIN), i64::MIN, i64::MAX),
            Ok(())
        );
        assert_eq!(
            check_time(i64::MIN, None, i64::MAX, i64::MIN),
            Err(AuthReason::TokenExpired)
        );
    }

    #[test]
    fn numbers_floor_and_saturate() {
        assert_eq!(numeric_seconds(&json!(1.5)), Some(1));
        assert_eq!(numeric_seconds(&json!(-1.5)), Some(-2));
        assert_eq!(numeric_seconds(&json!(u64::MAX)), Some(i64::MAX));
        assert_eq!(numeric_seconds(&json!(1e300)), Some(i64::MAX));
        assert_eq!(numeric_seconds(&json!(true)), None);
    }
}
