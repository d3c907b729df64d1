//! Token verification: source selection in the contract's order, `jsonwebtoken`
//! signature verification with pinned algorithms, then the Roomcast claim rules of
//! `protocol::roomcast::claims`. Every failure maps to one [`AuthReason`]; the token
//! itself never appears in an error or a log line.
//!
//! Sans-io: the current time is passed in.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use protocol::roomcast::claims::{self, Identity, Publisher};
use protocol::roomcast::codes::AuthReason;
use serde_json::{Map, Value};

use crate::config::{JwtConfig, TokenSources};

/// Errors building a [`Verifier`] from configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The configured algorithm is not supported.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The algorithm needs a key that is not configured.
    #[error("algorithm {0} needs key material that is not configured")]
    MissingKey(String),
    /// The PEM key does not parse for the algorithm.
    #[error("the public key is not a valid PEM key for {alg}: {message}")]
    BadKey {
        /// The algorithm.
        alg: String,
        /// The parser's message.
        message: String,
    },
}

/// The first configured PEM key that `parse` accepts (RSA for RS256, EC for ES256).
fn pem_key(
    cfg: &JwtConfig,
    alg: &str,
    parse: fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>,
) -> Result<DecodingKey, KeyError> {
    let mut last = None;
    for pem in &cfg.public_keys_pem {
        match parse(pem) {
            Ok(k) => return Ok(k),
            Err(e) => last = Some(e.to_string()),
        }
    }
    Err(match last {
        None => KeyError::MissingKey(alg.to_owned()),
        Some(message) => KeyError::BadKey {
            alg: alg.to_owned(),
            message,
        },
    })
}

pub use crate::config::DEFAULT_MAX_LIFETIME_SECS;

/// Half the order of the P-256 group: with `JWT_ES256_LOW_S_ONLY` an ES256 signature's
/// `s` must not exceed it (AUTH-37), so that each token has one valid signature. Off by
/// default: OpenSSL, Node's crypto and RustCrypto's p256 sign with a high `s` about half
/// of the time, and JOSE (RFC 7518) does not ask for low-S.
const P256_HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// Whether the compact JWS's ES256 signature (`r || s`, 64 bytes) has a low `s`.
pub fn es256_low_s(token: &str) -> bool {
    use base64::Engine as _;
    let Some(sig) = token.rsplit('.').next() else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    match raw.get(32..64) {
        Some(s) if raw.len() == 64 => s <= &P256_HALF_ORDER[..],
        _ => false,
    }
}

/// Verifies client and publisher tokens with pinned algorithms.
pub struct Verifier {
    keys: Vec<(Algorithm, DecodingKey, Validation)>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: i64,
    max_lifetime: i64,
    low_s_only: bool,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algs: Vec<_> = self.keys.iter().map(|(a, _, _)| *a).collect();
        f.debug_struct("Verifier")
            .field("algorithms", &algs)
            .finish()
    }
}

impl Verifier {
    /// Builds a verifier; each configured algorithm gets its key.
    pub fn new(cfg: &JwtConfig) -> Result<Verifier, KeyError> {
        let mut keys = Vec::new();
        for name in &cfg.algorithms {
            let (alg, key) = match name.as_str() {
                "HS256" => {
                    let secret = cfg
                        .secret
                        .as_deref()
                        .ok_or_else(|| KeyError::MissingKey(name.clone()))?;
                    (Algorithm::HS256, DecodingKey::from_secret(secret))
                }
                "RS256" => (
                    Algorithm::RS256,
                    pem_key(cfg, name, DecodingKey::from_rsa_pem)?,
                ),
                "ES256" => (
                    Algorithm::ES256,
                    pem_key(cfg, name, DecodingKey::from_ec_pem)?,
                ),
                other => return Err(KeyError::UnsupportedAlgorithm(other.to_owned())),
            };
            let mut v = Validation::new(alg);
            v.algorithms = vec![alg];
            // Time and audience checks are done below so that each failure maps to the
            // contract's reason (decision 3), not jsonwebtoken's.
            v.validate_exp = false;
            v.validate_nbf = false;
            v.validate_aud = false;
            v.required_spec_claims.clear();
            keys.push((alg, key, v));
        }
        Ok(Verifier {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway: i64::try_from(cfg.leeway_secs).unwrap_or(i64::MAX / 4),
            max_lifetime: i64::try_from(cfg.max_lifetime_secs).unwrap_or(i64::MAX / 4),
            low_s_only: cfg.es256_low_s_only,
        })
    }

    /// The leeway in seconds.
    pub fn leeway(&self) -> i64 {
        self.leeway
    }

    /// Signature and algorithm check only: the claims object, or `invalid_token`.
    fn decode(&self, token: &str) -> Result<Map<String, Value>, AuthReason> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthReason::InvalidToken)?;
        let (_, key, validation) = self
            .keys
            .iter()
            .find(|(alg, _, _)| *alg == header.alg)
            .ok_or(AuthReason::InvalidToken)?;
        if self.low_s_only && header.alg == Algorithm::ES256 && !es256_low_s(token) {
            return Err(AuthReason::InvalidToken);
        }
        let data = jsonwebtoken::decode::<Value>(token, key, validation)
            .map_err(|_| AuthReason::InvalidToken)?;
        match data.claims {
            Value::Object(map) => Ok(map),
            _ => Err(AuthReason::InvalidClaims),
        }
    }

    /// `iss` / `aud` when configured: a mismatch is `invalid_claims` (decision 3).
    fn check_iss_aud(&self, map: &Map<String, Value>) -> Result<(), AuthReason> {
        if let Some(iss) = &self.issuer {
            if map.get("iss").and_then(Value::as_str) != Some(iss.as_str()) {
                return Err(AuthReason::InvalidClaims);
            }
        }
        if let Some(aud) = &self.audience {
            let ok = match map.get("aud") {
                Some(Value::String(s)) => s == aud,
                Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud.as_str())),
                _ => false,
            };
            if !ok {
                return Err(AuthReason::InvalidClaims);
            }
        }
        Ok(())
    }

    /// An `exp` beyond the configured horizon is `invalid_claims` (AUTH-38): `1e308`
    /// must not mean "never expires".
    fn check_horizon(&self, exp: i64, now_secs: i64) -> Result<(), AuthReason> {
        if exp > now_secs.saturating_add(self.max_lifetime) {
            return Err(AuthReason::InvalidClaims);
        }
        Ok(())
    }

    /// Verifies a client token at `now_secs`.
    pub fn verify_client(&self, token: &str, now_secs: i64) -> Result<Identity, AuthReason> {
        let map = self.decode(token)?;
        let identity = claims::client_identity(&map).map_err(|_| AuthReason::InvalidClaims)?;
        self.check_iss_aud(&map)?;
        claims::check_time(identity.exp, identity.nbf, now_secs, self.leeway)?;
        self.check_horizon(identity.exp, now_secs)?;
        Ok(identity)
    }

    /// Verifies a publisher (service) token at `now_secs`: token problems are
    /// [`PublishAuthError::Unauthorized`] (401), a valid token without the publish scope
    /// is [`PublishAuthError::Forbidden`] (403), checked in that order (PUB-25).
    pub fn verify_publisher(
        &self,
        token: &str,
        now_secs: i64,
    ) -> Result<Publisher, PublishAuthError> {
        let map = self.decode(token)?;
        let exp = match map.get("exp") {
            Some(v) => claims::numeric_seconds(v).ok_or(AuthReason::InvalidClaims)?,
            None => return Err(AuthReason::InvalidClaims.into()),
        };
        let nbf = claims::nbf_of(&map).map_err(|_| AuthReason::InvalidClaims)?;
        if let Some(v) = map.get("organizationId") {
            if !v.as_str().is_some_and(protocol::roomcast::id::is_valid) {
                return Err(AuthReason::InvalidClaims.into());
            }
        }
        self.check_iss_aud(&map)?;
        claims::check_time(exp, nbf, now_secs, self.leeway)?;
        self.check_horizon(exp, now_secs)?;
        claims::publisher(&map).map_err(|e| {
            if e.is_forbidden() || e == claims::ClaimsError::InvalidScope {
                PublishAuthError::Forbidden
            } else {
                PublishAuthError::Unauthorized(AuthReason::InvalidClaims)
            }
        })
    }
}

/// Why a publish token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishAuthError {
    /// The token is missing or invalid (401 `AUTH_FAILED`).
    #[error("publish token rejected: {}", .0.as_str())]
    Unauthorized(AuthReason),
    /// The token is valid but lacks the `realtime:publish` scope (403 `FORBIDDEN`).
    #[error("publish token lacks the realtime:publish scope")]
    Forbidden,
}

impl From<AuthReason> for PublishAuthError {
    fn from(r: AuthReason) -> Self {
        PublishAuthError::Unauthorized(r)
    }
}

/// The token candidates of the HTTP request that opened an Engine.IO connection.
/// Kept per session; never logged.
#[derive(Clone, Default)]
pub struct HandshakeTokens {
    /// `Authorization: Bearer <t>` (other schemes are ignored).
    pub bearer: Option<String>,
    /// The `accessToken` cookie.
    pub cookie: Option<String>,
    /// The `token` query parameter.
    pub query: Option<String>,
}

impl std::fmt::Debug for HandshakeTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandshakeTokens")
            .field("bearer", &self.bearer.is_some())
            .field("cookie", &self.cookie.is_some())
            .field("query", &self.query.is_some())
            .finish()
    }
}

impl HandshakeTokens {
    /// Extracts the candidates from request parts.
    pub fn from_request(headers: &http::HeaderMap, query: Option<&str>) -> HandshakeTokens {
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .map(str::to_owned);
        let cookie = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k.trim() == "accessToken").then(|| percent_decode(v.trim()))
            })
            .filter(|v| !v.is_empty());
        let query = query
            .and_then(|q| query_param(q, "token"))
            .filter(|v| !v.is_empty());
        HandshakeTokens {
            bearer,
            cookie,
            query,
        }
    }
}

/// `Bearer <token>` (scheme case-insensitive); anything else is ignored.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let t = rest.trim();
    (!t.is_empty()).then_some(t)
}

/// A query parameter, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

/// Minimal `application/x-www-form-urlencoded` decoding (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'%') => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            Some(b'+') => {
                out.push(b' ');
                i += 1;
            }
            Some(&b) => {
                out.push(b);
                i += 1;
            }
            None => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the token of a CONNECT came from (for logs; the token is not kept here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `auth.token` of the CONNECT packet.
    ConnectPayload,
    /// The Bearer header of the opening request.
    Header,
    /// The `accessToken` cookie.
    Cookie,
    /// The `token` query parameter.
    Query,
}

/// Picks the token in the contract's order: CONNECT `auth.token`, Bearer header, cookie
/// (when enabled), query (when enabled). An `auth.token` that is present is used even if
/// it is invalid (decision 4): no fallback. `Err(InvalidToken)` for a non-string token.
pub fn select_token<'a>(
    auth: Option<&'a Value>,
    handshake: &'a HandshakeTokens,
    sources: TokenSources,
) -> Result<(TokenSource, &'a str), AuthReason> {
    if let Some(Value::Object(map)) = auth {
        match map.get("token") {
            // An absent or empty token is no token (AUTH-8): try the next source.
            None => {}
            Some(Value::String(s)) if s.is_empty() => {}
            Some(Value::String(s)) => return Ok((TokenSource::ConnectPayload, s.as_str())),
            // Present but not a string, `null` included (AUTH-9).
            Some(_) => return Err(AuthReason::InvalidToken),
        }
    }
    if let Some(t) = &handshake.bearer {
        return Ok((TokenSource::Header, t.as_str()));
    }
    if sources.cookie {
        if let Some(t) = &handshake.cookie {
            return Ok((TokenSource::Cookie, t.as_str()));
        }
    }
    if sources.query {
        if let Some(t) = &handshake.query {
            return Ok((TokenSource::Query, t.as_str()));
        }
    }
    Err(AuthReason::MissingToken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret";

    fn cfg(algs: &[&str]) -> JwtConfig {
        JwtConfig {
            secret: Some(SECRET.to_vec()),
            public_keys_pem: Vec::new(),
            algorithms: algs.iter().map(|s| s.to_string()).collect(),
            issuer: None,
            audience: None,
            leeway_secs: 0,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
            es256_low_s_only: false,
        }
    }

    fn hs(claims: Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn valid_token_gives_identity() {
        let v = Verifier::new(&cfg(&["HS256"])).unwrap();
        let t = hs(json!({"sub":"u1","organizationId":"acme","exp":NOW+60,"role":"admin"}));
        let id = v.verify_client(&t, NOW).unwrap();
        assert_eq!(id.user_id.as_str(), "u1");
        assert_eq!(id.organization_id.as_str(), "acme");
    }

    #[test]
    fn reasons_follow_the_decisions() {
        let v = Verifier::new(&cfg(&["HS256"])).unwrap();
        let expired = hs(json!({"sub":"u1","organizationId":"acme","exp":NOW-1}));
        assert_eq!(
            v.verify_client(&expired, NOW).unwrap_err(),
            AuthReason::TokenExpired
        );
        let no_exp = hs(json!({"sub":"u1","organizationId":"acme"}));
        assert_eq!(
            v.verify_client(&no_exp, NOW).unwrap_err(),
            AuthReason::InvalidClaims
        );
        let nbf = hs(json!({"sub":"u1","organizationId":"acme","exp":NOW+60,"nbf":NOW+30}));
        assert_eq!(
            v.verify_client(&nbf, NOW).unwrap_err(),
            AuthReason::InvalidToken
        );
        let bad_user = hs(json!({"userId":"a b","sub":"u1","organizationId":"acme","exp":NOW+60}));
        assert_eq!(
            v.verify_client(&bad_user, NOW).unwrap_err(),
            AuthReason::InvalidClaims
        );
        assert_eq!(
            v.verify_client("garbage", NOW).unwrap_err(),
            AuthReason::InvalidToken
        );
    }

    #[test]
    fn alg_none_and_wrong_alg_are_rejected() {
        let v = Verifier::new(&cfg(&["HS256"])).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(json!({"sub":"u1","organizationId":"acme","exp":NOW+60}).to_string())
        );
        assert_eq!(
            v.verify_client(&none, NOW).unwrap_err(),
            AuthReason::InvalidToken
        );
        let hs384 = encode(
            &Header::new(Algorithm::HS384),
            &json!({"sub":"u1","organizationId":"acme","exp":NOW+60}),
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert_eq!(
            v.verify_client(&hs384, NOW).unwrap_err(),
            AuthReason::InvalidToken
        );
    }

    fn es256(claims: &Value) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys");
        let pem = std::fs::read(root.join("es256-private.pem")).unwrap();
        encode(
            &Header::new(Algorithm::ES256),
            claims,
            &EncodingKey::from_ec_pem(&pem).unwrap(),
        )
        .unwrap()
    }

    fn flip_s(token: &str) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (head, sig) = token.rsplit_once('.').unwrap();
        let mut raw = b64.decode(sig).unwrap();
        // s' = n - s (big-endian subtraction from the group order)
        const N: [u8; 32] = [
            0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2,
            0xfc, 0x63, 0x25, 0x51,
        ];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(N[i]) - i16::from(raw[32 + i]) - borrow;
            borrow = i16::from(d < 0);
            raw[32 + i] = (d + if d < 0 { 256 } else { 0 }) as u8;
        }
        format!("{head}.{}", b64.encode(raw))
    }

    #[test]
    fn auth_37_high_s_es256_is_refused_only_when_configured() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys");
        let mut c = JwtConfig {
            secret: None,
            public_keys_pem: vec![std::fs::read(root.join("es256-public.pem")).unwrap()],
            algorithms: vec!["ES256".into()],
            issuer: None,
            audience: None,
            leeway_secs: 0,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
            es256_low_s_only: false,
        };
        let lenient = Verifier::new(&c).unwrap();
        c.es256_low_s_only = true;
        let strict = Verifier::new(&c).unwrap();
        let (mut high, mut low) = (0, 0);
        for n in 0..16 {
            let claims = json!({"sub":"u1","organizationId":"acme","exp":NOW+60,"n":n});
            let t = es256(&claims);
            let (lo, hi) = if es256_low_s(&t) {
                (t.clone(), flip_s(&t))
            } else {
                (flip_s(&t), t.clone())
            };
            if es256_low_s(&t) {
                low += 1
            } else {
                high += 1
            }
            assert!(es256_low_s(&lo) && !es256_low_s(&hi));
            assert!(lenient.verify_client(&lo, NOW).is_ok());
            assert!(lenient.verify_client(&hi, NOW).is_ok(), "both forms verify");
            assert!(strict.verify_client(&lo, NOW).is_ok());
            assert_eq!(
                strict.verify_client(&hi, NOW).unwrap_err(),
                AuthReason::InvalidToken
            );
        }
        // Why low-S is opt-in: an ordinary signer emits both forms.
        assert!(high > 0 && low > 0, "high {high} low {low}");
    }

    #[test]
    fn auth_38_exp_beyond_the_horizon_is_invalid_claims() {
        let v = Verifier::new(&cfg(&["HS256"])).unwrap();
        let far = NOW + DEFAULT_MAX_LIFETIME_SECS as i64 + 1;
        let t = hs(json!({"sub":"u1","organizationId":"acme","exp":far}));
        assert_eq!(
            v.verify_client(&t, NOW).unwrap_err(),
            AuthReason::InvalidClaims
        );
        let t = hs(json!({"sub":"u1","organizationId":"acme","exp":1e308}));
        assert_eq!(
            v.verify_client(&t, NOW).unwrap_err(),
            AuthReason::InvalidClaims
        );
        let t = hs(json!({"scope":"realtime:publish","exp":1e308}));
        assert!(matches!(
            v.verify_publisher(&t, NOW).unwrap_err(),
            PublishAuthError::Unauthorized(AuthReason::InvalidClaims)
        ));
        let near = NOW + DEFAULT_MAX_LIFETIME_SECS as i64;
        let t = hs(json!({"sub":"u1","organizationId":"acme","exp":near}));
        assert!(v.verify_client(&t, NOW).is_ok());
    }

    #[test]
    fn auth_39_scope_is_split_on_spaces_only() {
        let v = Verifier::new(&cfg(&["HS256"])).unwrap();
        for bad in [
            "realtime:publish\n",
            "a\trealtime:publish",
            "realtime:publish\u{a0}",
        ] {
            let t = hs(json!({"scope": bad, "exp": NOW + 60}));
            assert_eq!(
                v.verify_publisher(&t, NOW).unwrap_err(),
                PublishAuthError::Forbidden,
                "{bad:?}"
            );
        }
        let t = hs(json!({"scope": "a  realtime:publish ", "exp": NOW + 60}));
        assert!(v.verify_publisher(&t, NOW).is_ok());
    }

    #[test]
    fn algorithm_confusion_is_rejected() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys");
        let pubkey = std::fs::read(root.join("rs256-public.pem")).unwrap();
        let c = JwtConfig {
            secret: None,
            public_keys_pem: vec![pubkey.clone()],
            algorithms: vec!["RS256".into()],
            issuer: None,
            audience: None,
            leeway_secs: 0,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
            es256_low_s_only: false,
        };
        let v = Verifier::new(&c).unwrap();
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub":"u1","organizationId":"acme","exp":NOW+60}),
            &EncodingKey::from_secret(&pubkey),
        )
        .unwrap();
        assert_eq!(
            v.verify_client(&forged, NOW).unwrap_err(),
            AuthReason::InvalidToken
        );
        let privkey = std::fs::read(root.join("rs256-private.pem")).unwrap();
        let good = encode(
            &Header::new(Algorithm::RS256),
            &json!({"sub":"u1","organizationId":"acme","exp":NOW+60}),
            &EncodingKey::from_rsa_pem(&privkey).unwrap(),
        )
        .unwrap();
        assert!(v.verify_client(&good, NOW).is_ok());
    }

    #[test]
    fn publisher_scope_is_checked_after_the_token() {
        let v = Verifier::new(&cfg(&["HS256"])).unwrap();
        let ok = hs(json!({"scope":"a realtime:publish","exp":NOW+60}));
        assert!(v.verify_publisher(&ok, NOW).is_ok());
        let no_scope = hs(json!({"exp":NOW+60,"organizationId":"acme"}));
        assert_eq!(
            v.verify_publisher(&no_scope, NOW).unwrap_err(),
            PublishAuthError::Forbidden
        );
        let array = hs(json!({"exp":NOW+60,"scope":["realtime:publish"]}));
        assert_eq!(
            v.verify_publisher(&array, NOW).unwrap_err(),
            PublishAuthError::Forbidden
        );
        let expired_no_scope = hs(json!({"exp":NOW-1}));
        assert_eq!(
            v.verify_publisher(&expired_no_scope, NOW).unwrap_err(),
            PublishAuthError::Unauthorized(AuthReason::TokenExpired)
        );
        let bad_org = hs(json!({"exp":NOW+60,"scope":"realtime:publish","organizationId":"a:b"}));
        assert_eq!(
            v.verify_publisher(&bad_org, NOW).unwrap_err(),
            PublishAuthError::Unauthorized(AuthReason::InvalidClaims)
        );
    }

    #[test]
    fn issuer_and_audience_mismatch_is_invalid_claims() {
        let mut c = cfg(&["HS256"]);
        c.issuer = Some("me".into());
        c.audience = Some("app".into());
        let v = Verifier::new(&c).unwrap();
        let ok = hs(
            json!({"sub":"u1","organizationId":"acme","exp":NOW+60,"iss":"me","aud":["x","app"]}),
        );
        assert!(v.verify_client(&ok, NOW).is_ok());
        let bad =
            hs(json!({"sub":"u1","organizationId":"acme","exp":NOW+60,"iss":"you","aud":"app"}));
        assert_eq!(
            v.verify_client(&bad, NOW).unwrap_err(),
            AuthReason::InvalidClaims
        );
    }

    #[test]
    fn token_sources_in_order_without_fallback() {
        let hs_tokens = HandshakeTokens {
            bearer: Some("H".into()),
            cookie: Some("C".into()),
            query: Some("Q".into()),
        };
        let all = TokenSources {
            cookie: true,
            query: true,
        };
        let auth = json!({"token":"A"});
        assert_eq!(
            select_token(Some(&auth), &hs_tokens, all).unwrap(),
            (TokenSource::ConnectPayload, "A")
        );
        assert_eq!(
            select_token(Some(&json!({})), &hs_tokens, all).unwrap(),
            (TokenSource::Header, "H")
        );
        let no_header = HandshakeTokens {
            bearer: None,
            ..hs_tokens.clone()
        };
        assert_eq!(
            select_token(None, &no_header, all).unwrap().0,
            TokenSource::Cookie
        );
        assert_eq!(
            select_token(None, &no_header, TokenSources::default()).unwrap_err(),
            AuthReason::MissingToken
        );
        assert_eq!(
            select_token(Some(&json!({"token": 5})), &hs_tokens, all).unwrap_err(),
            AuthReason::InvalidToken
        );
        assert_eq!(
            select_token(Some(&json!({"token": null})), &hs_tokens, all).unwrap_err(),
            AuthReason::InvalidToken
        );
        assert_eq!(
            select_token(Some(&json!({"token": ""})), &hs_tokens, all)
                .unwrap()
                .0,
            TokenSource::Header
        );
    }

    #[test]
    fn header_parsing() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", "Basic abc".parse().unwrap());
        h.insert("cookie", "a=b; accessToken=tok%2E1".parse().unwrap());
        let t = HandshakeTokens::from_request(&h, Some("EIO=4&token=q+1"));
        assert!(t.bearer.is_none());
        assert_eq!(t.cookie.as_deref(), Some("tok.1"));
        assert_eq!(t.query.as_deref(), Some("q 1"));
        assert_eq!(bearer_token("bearer  x.y.z"), Some("x.y.z"));
    }
}
