//! Token minting for the checks: well-formed client and publisher tokens in
//! the configured algorithm, and hand-built bad ones (`alg: none`, algorithm
//! confusion, tampered signatures, wrong claims).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Errors while loading keys or signing.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The key material could not be read or parsed.
    #[error("bad key material: {0}")]
    Key(String),
    /// The requested algorithm has no key configured.
    #[error("no key configured for {0}")]
    NoKey(&'static str),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// The algorithms the harness can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// HMAC-SHA256 with a shared secret.
    Hs256,
    /// RSA PKCS#1 v1.5 SHA-256.
    Rs256,
    /// ECDSA P-256 SHA-256.
    Es256,
}

impl Alg {
    /// Parses `HS256`, `RS256` or `ES256` (case-insensitive).
    pub fn parse(s: &str) -> Option<Alg> {
        match s.to_ascii_uppercase().as_str() {
            "HS256" => Some(Alg::Hs256),
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Hs256 => "HS256",
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// Key material for minting.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// HS256 shared secret.
    pub hs256_secret: Option<Vec<u8>>,
    /// RS256 private key PEM (PKCS#8) and, optionally, the public key PEM.
    pub rs256: Option<(Vec<u8>, Option<Vec<u8>>)>,
    /// ES256 private key PEM (PKCS#8) and, optionally, the public key PEM.
    pub es256: Option<(Vec<u8>, Option<Vec<u8>>)>,
    /// The algorithm ordinary tokens are signed with.
    pub primary: Option<Alg>,
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Client claims `{userId, organizationId, exp: now+600}`.
pub fn client_claims(org: &str, user: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("userId".into(), json!(user));
    m.insert("organizationId".into(), json!(org));
    m.insert("exp".into(), json!(now_secs() + 600));
    m
}

/// Publisher claims with `scope: realtime:publish`, optionally bound to an organization.
pub fn publisher_claims(org: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!("roomcast-conformance"));
    m.insert("scope".into(), json!("realtime:publish"));
    if let Some(o) = org {
        m.insert("organizationId".into(), json!(o));
    }
    m.insert("exp".into(), json!(now_secs() + 600));
    m
}

/// Signs tokens.
#[derive(Debug, Clone)]
pub struct Minter {
    keys: Keys,
}

impl Minter {
    /// A minter over these keys.
    pub fn new(keys: Keys) -> Self {
        Minter { keys }
    }

    /// The key material.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The primary algorithm (HS256 when nothing else is configured).
    pub fn primary(&self) -> Alg {
        self.keys.primary.unwrap_or(Alg::Hs256)
    }

    /// Whether a key for `alg` is configured.
    pub fn has(&self, alg: Alg) -> bool {
        match alg {
            Alg::Hs256 => self.keys.hs256_secret.is_some(),
            Alg::Rs256 => self.keys.rs256.is_some(),
            Alg::Es256 => self.keys.es256.is_some(),
        }
    }

    /// Signs `claims` with the primary algorithm.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, TokenError> {
        self.sign_with(self.primary(), claims)
    }

    /// Signs `claims` with `alg`.
    pub fn sign_with(&self, alg: Alg, claims: &Map<String, Value>) -> Result<String, TokenError> {
        let (header, key) = match alg {
            Alg::Hs256 => {
                let s = self
                    .keys
                    .hs256_secret
                    .as_ref()
                    .ok_or(TokenError::NoKey("HS256"))?;
                (Header::new(Algorithm::HS256), EncodingKey::from_secret(s))
            }
            Alg::Rs256 => {
                let (p, _) = self.keys.rs256.as_ref().ok_or(TokenError::NoKey("RS256"))?;
                let k = EncodingKey::from_rsa_pem(p).map_err(|e| TokenError::Key(e.to_string()))?;
                (Header::new(Algorithm::RS256), k)
            }
            Alg::Es256 => {
                let (p, _) = self.keys.es256.as_ref().ok_or(TokenError::NoKey("ES256"))?;
                let k = EncodingKey::from_ec_pem(p).map_err(|e| TokenError::Key(e.to_string()))?;
                (Header::new(Algorithm::ES256), k)
            }
        };
        jsonwebtoken::encode(&header, claims, &key).map_err(|e| TokenError::Sign(e.to_string()))
    }

    /// A valid client token for `user` in `org`, valid for ten minutes.
    pub fn client(&self, org: &str, user: &str) -> Result<String, TokenError> {
        self.sign(&client_claims(org, user))
    }

    /// A valid publisher token (bound to `org` when given).
    pub fn publisher(&self, org: Option<&str>) -> Result<String, TokenError> {
        self.sign(&publisher_claims(org))
    }
}

/// An unsigned token: header `{"alg":"none","typ":"JWT"}`, empty signature.
pub fn alg_none(claims: &Map<String, Value>) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let c = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
    format!("{h}.{c}.")
}

/// An HS256 token whose HMAC secret is `secret` (e.g. the RSA public key PEM:
/// the algorithm-confusion attack).
pub fn hs256_with_secret(secret: &[u8], claims: &Map<String, Value>) -> Result<String, TokenError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| TokenError::Sign(e.to_string()))
}

/// The same token with its signature altered (one byte of the signature flipped).
pub fn tamper(token: &str) -> String {
    let Some((head, sig)) = token.rsplit_once('.') else {
        return format!("{token}x");
    };
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
    if bytes.is_empty() {
        return format!("{head}.AAAA");
    }
    let mid = bytes.len() / 2;
    if let Some(b) = bytes.get_mut(mid) {
        *b ^= 0x55;
    }
    format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A token with the claims part replaced (signature kept: invalid signature).
pub fn swap_claims(token: &str, claims: &Map<String, Value>) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let (h, s) = match parts.as_slice() {
        [h, _, s] => (*h, *s),
        _ => ("", ""),
    };
    let c = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
    format!("{h}.{c}.{s}")
}

/// Signs with an HMAC algorithm of jsonwebtoken (`HS256`, `HS384`, `HS512`) and this secret.
pub fn sign_hmac(
    alg: Algorithm,
    secret: &[u8],
    claims: &Map<String, Value>,
) -> Result<String, TokenError> {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret))
        .map_err(|e| TokenError::Sign(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    fn hs() -> Minter {
        Minter::new(Keys {
            hs256_secret: Some(b"secret".to_vec()),
            primary: Some(Alg::Hs256),
            ..Keys::default()
        })
    }

    #[test]
    fn client_token_verifies_with_the_secret() {
        let t = hs().client("acme", "u1").unwrap();
        let d = jsonwebtoken::decode::<Value>(
            &t,
            &DecodingKey::from_secret(b"secret"),
            &Validation::new(Algorithm::HS256),
        )
        .unwrap();
        assert_eq!(d.claims["organizationId"], "acme");
        assert_eq!(d.claims["userId"], "u1");
    }

    #[test]
    fn tampered_and_none_tokens_do_not_verify() {
        let t = hs().client("acme", "u1").unwrap();
        let bad = tamper(&t);
        assert_ne!(bad, t);
        let v = Validation::new(Algorithm::HS256);
        assert!(
            jsonwebtoken::decode::<Value>(&bad, &DecodingKey::from_secret(b"secret"), &v).is_err()
        );
        let none = alg_none(&client_claims("acme", "u1"));
        assert!(none.ends_with('.'));
        assert!(
            jsonwebtoken::decode::<Value>(&none, &DecodingKey::from_secret(b"secret"), &v).is_err()
        );
    }

    #[test]
    fn rs256_and_es256_sign_with_fixture_keys() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/keys/");
        let rs = std::fs::read(format!("{root}rs256-private.pem")).unwrap();
        let es = std::fs::read(format!("{root}es256-private.pem")).unwrap();
        let m = Minter::new(Keys {
            rs256: Some((rs, None)),
            es256: Some((es, None)),
            primary: Some(Alg::Rs256),
            ..Keys::default()
        });
        let claims = client_claims("acme", "u1");
        let r = m.sign_with(Alg::Rs256, &claims).unwrap();
        let pubk = std::fs::read(format!("{root}rs256-public.pem")).unwrap();
        jsonwebtoken::decode::<Value>(
            &r,
            &DecodingKey::from_rsa_pem(&pubk).unwrap(),
            &Validation::new(Algorithm::RS256),
        )
        .unwrap();
        assert!(m.sign_with(Alg::Es256, &claims).is_ok());
        assert!(matches!(
            m.sign_with(Alg::Hs256, &claims),
            Err(TokenError::NoKey(_))
        ));
    }
}
