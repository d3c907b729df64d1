//! HS256 tokens for the benchmark's clients and publisher, minted with `jsonwebtoken`
//! from the server's shared secret (the same key material the conformance harness takes).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

/// Mints tokens valid for an hour from the moment the minter is made.
pub struct Minter {
    key: EncodingKey,
    exp: u64,
}

impl Minter {
    /// A minter for the HS256 `secret`.
    pub fn new(secret: &[u8]) -> Minter {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Minter {
            key: EncodingKey::from_secret(secret),
            exp: now + 3600,
        }
    }

    /// A minter for the secret in `path` (surrounding whitespace is not part of it).
    pub fn from_file(path: &Path) -> anyhow::Result<Minter> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the JWT secret file {}", path.display()))?;
        Ok(Minter::new(text.trim().as_bytes()))
    }

    /// A client token: user `user` of organization `org`.
    pub fn client(&self, org: &str, user: &str) -> String {
        self.sign(&json!({"sub": user, "userId": user, "organizationId": org, "exp": self.exp}))
    }

    /// A publish token for every organization (`scope: realtime:publish`, no
    /// `organizationId`, PUB-14).
    pub fn publisher(&self) -> String {
        self.sign(&json!({"sub": "roomcast-bench", "scope": "realtime:publish", "exp": self.exp}))
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        // HS256 signing of a JSON value cannot fail.
        encode(&Header::default(), claims, &self.key).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_compact_hs256_jws() {
        let m = Minter::new(b"secret");
        for t in [m.client("bench-0", "u1"), m.publisher()] {
            assert_eq!(t.split('.').count(), 3, "{t}");
            assert!(t.starts_with("eyJ"), "{t}");
        }
    }
}
