//! Server configuration: command-line flags and environment variables (clap derive with
//! `env`), validated into a [`Config`] that the library can also build directly in tests.
//!
//! There is never a default secret: without key material and without `--dev`,
//! [`Args::into_config`] fails with [`ConfigError::NoKey`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// How tokens are verified: the key material and the pinned algorithms.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// HS256 shared secret (raw bytes), if any.
    pub secret: Option<Vec<u8>>,
    /// PEM public keys (RSA and/or EC, SPKI); RS256 uses the first RSA key, ES256 the
    /// first EC key.
    pub public_keys_pem: Vec<Vec<u8>>,
    /// The accepted algorithms, e.g. `["HS256"]`. Only these are accepted.
    pub algorithms: Vec<String>,
    /// Expected `iss`, when set.
    pub issuer: Option<String>,
    /// Expected `aud`, when set.
    pub audience: Option<String>,
    /// Leeway in seconds for `exp` and `nbf` (default 0).
    pub leeway_secs: u64,
    /// An `exp` further than this in the future is `invalid_claims` (AUTH-38).
    pub max_lifetime_secs: u64,
    /// Refuse ES256 signatures with a high `s` (AUTH-37; off by default).
    pub es256_low_s_only: bool,
}

/// Which token sources beyond the CONNECT payload and the Bearer header are enabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenSources {
    /// Accept an `accessToken` cookie on the opening HTTP request.
    pub cookie: bool,
    /// Accept a `token` query parameter on the opening HTTP request.
    pub query: bool,
}

/// Redis fan-out settings (see `fanout_redis`).
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// The hash tag of the cluster's keys: `{prefix}:events` and `{prefix}:seq`.
    pub key_prefix: String,
    /// Approximate number of entries the stream retains (`XADD MAXLEN ~`).
    pub maxlen: usize,
    /// How often this instance appends a delivery probe.
    pub probe_interval: Duration,
    /// Not ready once this instance's own probe was last read back longer ago.
    pub probe_stale: Duration,
    /// Time allowed for an append (and for connecting).
    pub publish_timeout: Duration,
}

impl RedisConfig {
    /// The defaults for `url`.
    pub fn new(url: &str) -> RedisConfig {
        RedisConfig {
            url: url.to_owned(),
            key_prefix: "roomcast".to_owned(),
            maxlen: 100_000,
            probe_interval: Duration::from_millis(500),
            probe_stale: Duration::from_millis(2000),
            publish_timeout: Duration::from_millis(1000),
        }
    }
}

/// The complete, validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to bind (port 0 picks a free port).
    pub bind: SocketAddr,
    /// Token verification.
    pub jwt: JwtConfig,
    /// Token sources that are off by default.
    pub token_sources: TokenSources,
    /// The namespace that serves the profile (default `/`).
    pub namespace: String,
    /// Engine.IO path (default `/socket.io/`).
    pub path: String,
    /// Engine.IO ping interval.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout.
    pub ping_timeout: Duration,
    /// Time allowed between the Engine.IO open and a successful namespace CONNECT.
    pub connect_timeout: Duration,
    /// Engine.IO `maxPayload` in bytes.
    pub max_payload: usize,
    /// Site and unit subscriptions allowed per socket.
    pub max_subscriptions: usize,
    /// Publish body limit in bytes.
    pub publish_max_body: usize,
    /// Bounded outbound queue length per socket (frames).
    pub outbound_queue: usize,
    /// Allowed CORS origins (`*` allows any). Empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Socket.IO compliance mode (no JWT, test-suite behaviour).
    pub compliance: bool,
    /// Time allowed for a graceful shutdown.
    pub shutdown_grace: Duration,
    /// Limits against hostile clients.
    pub limits: crate::limits::Limits,
    /// Redis fan-out; `None`: a single instance with in-memory fan-out.
    pub redis: Option<RedisConfig>,
}

impl Config {
    /// A configuration for tests and embedding: HS256 with `secret`, bound to
    /// `127.0.0.1:0`, every other value at its default.
    pub fn with_secret(secret: &[u8]) -> Config {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt: JwtConfig {
                secret: Some(secret.to_vec()),
                public_keys_pem: Vec::new(),
                algorithms: vec!["HS256".to_owned()],
                issuer: None,
                audience: None,
                leeway_secs: 0,
                max_lifetime_secs: crate::auth::DEFAULT_MAX_LIFETIME_SECS,
                es256_low_s_only: false,
            },
            token_sources: TokenSources::default(),
            namespace: "/".to_owned(),
            path: "/socket.io/".to_owned(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(45_000),
            max_payload: 1_000_000,
            max_subscriptions: 100,
            publish_max_body: 65_536,
            outbound_queue: 1024,
            cors_origins: Vec::new(),
            compliance: false,
            shutdown_grace: Duration::from_secs(5),
            limits: crate::limits::Limits::default(),
            redis: None,
        }
    }

    /// The configuration of `--socketio-compliance`: no JWT, namespaces `/` and
    /// `/custom`, pingInterval 300 ms, pingTimeout 200 ms, connectTimeout 1 000 ms.
    pub fn compliance() -> Config {
        let mut c = Config::with_secret(b"unused-in-compliance-mode");
        c.jwt.secret = None;
        c.jwt.algorithms.clear();
        c.compliance = true;
        c.ping_interval = Duration::from_millis(300);
        c.ping_timeout = Duration::from_millis(200);
        c.connect_timeout = Duration::from_millis(1000);
        c.cors_origins = vec!["*".to_owned()];
        c
    }
}

/// Start-up configuration errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a secret nor a public key, and not `--dev`.
    #[error("no JWT key configured: set JWT_SECRET or JWT_PUBLIC_KEY_FILE (or use --dev for a throw-away secret); there is no default secret")]
    NoKey,
    /// Both a secret and a key file but no explicit algorithm list.
    #[error("both JWT_SECRET and JWT_PUBLIC_KEY_FILE are set: set JWT_ALGORITHMS explicitly")]
    AmbiguousAlgorithms,
    /// The key file could not be read.
    #[error("cannot read JWT_PUBLIC_KEY_FILE {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A value is out of range or malformed.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Command-line flags; each also reads the environment variable of the same name.
#[derive(Debug, Parser)]
#[command(
    name = "roomcast-server",
    version,
    about = "Roomcast v1 reference server"
)]
pub struct Args {
    /// Address to bind, e.g. 127.0.0.1:0 (overrides PORT).
    #[arg(long, env = "ROOMCAST_BIND")]
    pub bind: Option<SocketAddr>,
    /// Port to bind on 0.0.0.0 (when --bind is not given).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// HS256 shared secret.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// PEM public key file(s), RSA and/or EC, for RS256 / ES256 (comma separated).
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE", value_delimiter = ',')]
    pub jwt_public_key_file: Vec<PathBuf>,
    /// Accepted algorithms, comma separated (HS256, RS256, ES256).
    #[arg(long, env = "JWT_ALGORITHMS", value_delimiter = ',')]
    pub jwt_algorithms: Vec<String>,
    /// Expected `iss` claim.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Expected `aud` claim.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Leeway for exp / nbf, in seconds.
    #[arg(long, env = "JWT_LEEWAY_SECS", default_value_t = 0)]
    pub jwt_leeway: u64,
    /// Engine.IO path.
    #[arg(long, env = "ROOMCAST_PATH", default_value = "/socket.io/")]
    pub path: String,
    /// Namespace serving the profile.
    #[arg(long, env = "ROOMCAST_NAMESPACE", default_value = "/")]
    pub namespace: String,
    /// Engine.IO ping interval (ms).
    #[arg(long, env = "ROOMCAST_PING_INTERVAL_MS", default_value_t = 25_000)]
    pub ping_interval: u64,
    /// Engine.IO ping timeout (ms).
    #[arg(long, env = "ROOMCAST_PING_TIMEOUT_MS", default_value_t = 20_000)]
    pub ping_timeout: u64,
    /// Namespace connect timeout (ms).
    #[arg(long, env = "ROOMCAST_CONNECT_TIMEOUT_MS", default_value_t = 45_000)]
    pub connect_timeout: u64,
    /// Engine.IO maxPayload (bytes).
    #[arg(long, env = "ROOMCAST_MAX_PAYLOAD", default_value_t = 1_000_000)]
    pub max_payload: usize,
    /// Site + unit subscriptions per socket.
    #[arg(long, env = "ROOMCAST_SUBSCRIPTION_LIMIT", default_value_t = 100)]
    pub max_subscriptions: usize,
    /// Publish body limit (bytes).
    #[arg(long, env = "ROOMCAST_PUBLISH_BODY_LIMIT", default_value_t = 65_536)]
    pub publish_max_body: usize,
    /// Outbound queue per socket (frames); a socket whose queue is full is dropped.
    #[arg(long, env = "ROOMCAST_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,
    /// Allowed CORS origins, comma separated (`*` for any).
    #[arg(long, env = "ROOMCAST_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Accept the token from an `accessToken` cookie.
    #[arg(long, env = "ROOMCAST_AUTH_COOKIE", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub auth_cookie: bool,
    /// Accept the token from a `token` query parameter.
    #[arg(long, env = "ROOMCAST_AUTH_QUERY", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub auth_query: bool,
    /// Redis URL for multi-instance fan-out (Redis Streams); unset: in-memory.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Hash tag of the Redis keys (`{PREFIX}:events`, `{PREFIX}:seq`); instances with
    /// the same URL and prefix form one cluster.
    #[arg(long, env = "ROOMCAST_REDIS_PREFIX", default_value = "roomcast")]
    pub redis_prefix: String,
    /// Entries the Redis stream retains (approximate MAXLEN).
    #[arg(long, env = "ROOMCAST_REDIS_MAXLEN", default_value_t = 100_000)]
    pub redis_maxlen: usize,
    /// Development mode: bind 127.0.0.1, random secret, print tokens.
    #[arg(long)]
    pub dev: bool,
    /// Socket.IO protocol test-suite mode (no JWT).
    #[arg(long)]
    pub socketio_compliance: bool,
    /// Limits against hostile clients.
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
    /// Reject tokens whose `exp` is further than this in the future (seconds).
    #[arg(long, env = "JWT_MAX_LIFETIME_SECS", default_value_t = crate::auth::DEFAULT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime: u64,
    /// Refuse ES256 signatures whose `s` is above half the group order (only when every
    /// issuer normalizes its signatures: most signers do not).
    #[arg(long, env = "JWT_ES256_LOW_S_ONLY", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub jwt_es256_low_s_only: bool,
}

/// Environment names of the lead's brief accepted as aliases of the spec's (OPS-8)
/// names: `(alias, canonical)`. The canonical name wins when both are set.
pub const ENV_ALIASES: [(&str, &str); 12] = [
    ("JWT_LEEWAY", "JWT_LEEWAY_SECS"),
    ("NAMESPACE", "ROOMCAST_NAMESPACE"),
    ("PING_INTERVAL", "ROOMCAST_PING_INTERVAL_MS"),
    ("PING_TIMEOUT", "ROOMCAST_PING_TIMEOUT_MS"),
    ("CONNECT_TIMEOUT", "ROOMCAST_CONNECT_TIMEOUT_MS"),
    ("MAX_PAYLOAD", "ROOMCAST_MAX_PAYLOAD"),
    ("MAX_SUBSCRIPTIONS", "ROOMCAST_SUBSCRIPTION_LIMIT"),
    ("PUBLISH_MAX_BODY", "ROOMCAST_PUBLISH_BODY_LIMIT"),
    ("OUTBOUND_QUEUE", "ROOMCAST_OUTBOUND_QUEUE"),
    ("CORS_ORIGINS", "ROOMCAST_CORS_ORIGINS"),
    ("AUTH_COOKIE", "ROOMCAST_AUTH_COOKIE"),
    ("AUTH_QUERY", "ROOMCAST_AUTH_QUERY"),
];

/// Parses the algorithm list.
fn normalise_algorithms(list: &[String]) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for a in list {
        let a = a.trim().to_ascii_uppercase();
        if a.is_empty() {
            continue;
        }
        if !matches!(a.as_str(), "HS256" | "RS256" | "ES256") {
            return Err(ConfigError::Invalid(format!(
                "JWT_ALGORITHMS: unsupported JWT algorithm {a:?} (supported: HS256, RS256, ES256)"
            )));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

impl Args {
    /// Validates the flags into a [`Config`]. `dev_secret` is used when `--dev` is set and
    /// no key is configured.
    pub fn into_config(self, dev_secret: Option<&[u8]>) -> Result<Config, ConfigError> {
        if self.socketio_compliance {
            let mut c = Config::compliance();
            c.bind = self.bind_addr();
            return Ok(c);
        }
        let mut c = Config::with_secret(b"");
        c.bind = self.bind_addr();
        c.limits = self
            .limits
            .clone()
            .into_limits()
            .map_err(ConfigError::Invalid)?;
        if self.dev && self.bind.is_none() {
            c.bind = SocketAddr::from(([127, 0, 0, 1], self.port));
        }
        let secret = self
            .jwt_secret
            .clone()
            .filter(|s| !s.is_empty())
            .map(String::into_bytes)
            .or_else(|| {
                if self.dev && self.jwt_public_key_file.is_empty() {
                    dev_secret.map(<[u8]>::to_vec)
                } else {
                    None
                }
            });
        let mut pems = Vec::new();
        for path in self
            .jwt_public_key_file
            .iter()
            .filter(|p| !p.as_os_str().is_empty())
        {
            pems.push(std::fs::read(path).map_err(|source| ConfigError::KeyFile {
                path: path.clone(),
                source,
            })?);
        }
        let pem = (!pems.is_empty()).then_some(());
        let mut algorithms = normalise_algorithms(&self.jwt_algorithms)?;
        if algorithms.is_empty() {
            algorithms = match (&secret, &pem) {
                (None, None) => return Err(ConfigError::NoKey),
                (Some(_), None) => vec!["HS256".to_owned()],
                (None, Some(())) => {
                    let mut algs: Vec<String> = pems
                        .iter()
                        .map(|pem| {
                            if String::from_utf8_lossy(pem).contains("RSA")
                                || looks_like_rsa_spki(pem)
                            {
                                "RS256".to_owned()
                            } else {
                                "ES256".to_owned()
                            }
                        })
                        .collect();
                    algs.sort();
                    algs.dedup();
                    algs
                }
                (Some(_), Some(())) => return Err(ConfigError::AmbiguousAlgorithms),
            };
        }
        if secret.is_none() && pem.is_none() {
            return Err(ConfigError::NoKey);
        }
        if algorithms.iter().any(|a| a == "HS256") && secret.is_none() {
            return Err(ConfigError::Invalid(
                "JWT_ALGORITHMS contains HS256 but JWT_SECRET is not set".into(),
            ));
        }
        if algorithms.iter().any(|a| a != "HS256") && pem.is_none() {
            return Err(ConfigError::Invalid(
                "JWT_ALGORITHMS contains RS256/ES256 but JWT_PUBLIC_KEY_FILE is not set".into(),
            ));
        }
        c.jwt = JwtConfig {
            secret,
            public_keys_pem: pems,
            algorithms,
            issuer: self.jwt_issuer.filter(|s| !s.is_empty()),
            audience: self.jwt_audience.filter(|s| !s.is_empty()),
            leeway_secs: self.jwt_leeway,
            max_lifetime_secs: self.jwt_max_lifetime,
            es256_low_s_only: self.jwt_es256_low_s_only,
        };
        c.token_sources = TokenSources {
            cookie: self.auth_cookie,
            query: self.auth_query,
        };
        if !self.namespace.starts_with('/') {
            return Err(ConfigError::Invalid("NAMESPACE must start with '/'".into()));
        }
        c.namespace = self.namespace;
        if !self.path.starts_with('/') {
            return Err(ConfigError::Invalid(
                "ROOMCAST_PATH must start with '/'".into(),
            ));
        }
        c.path = self.path;
        if self.ping_interval == 0 || self.ping_timeout == 0 {
            return Err(ConfigError::Invalid(
                "PING_INTERVAL and PING_TIMEOUT must be positive".into(),
            ));
        }
        c.ping_interval = Duration::from_millis(self.ping_interval);
        c.ping_timeout = Duration::from_millis(self.ping_timeout);
        c.connect_timeout = Duration::from_millis(self.connect_timeout.max(1));
        if self.max_payload < 16 {
            return Err(ConfigError::Invalid("MAX_PAYLOAD is too small".into()));
        }
        c.max_payload = self.max_payload;
        c.max_subscriptions = self.max_subscriptions;
        c.publish_max_body = self.publish_max_body;
        if self.outbound_queue == 0 {
            return Err(ConfigError::Invalid(
                "OUTBOUND_QUEUE must be positive".into(),
            ));
        }
        c.outbound_queue = self.outbound_queue;
        c.cors_origins = self
            .cors_origins
            .into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(url) = self.redis_url.filter(|u| !u.trim().is_empty()) {
            use redis::IntoConnectionInfo as _;
            // the URL may hold a password: it is never echoed
            if url.as_str().into_connection_info().is_err() {
                return Err(ConfigError::Invalid(
                    "REDIS_URL is not a Redis URL (expected redis://[user:password@]host:port[/db])"
                        .into(),
                ));
            }
            let prefix = self.redis_prefix.trim();
            if prefix.is_empty() || prefix.contains(['{', '}']) {
                return Err(ConfigError::Invalid(
                    "ROOMCAST_REDIS_PREFIX must be non-empty, without braces".into(),
                ));
            }
            let mut r = RedisConfig::new(&url);
            r.key_prefix = prefix.to_owned();
            r.maxlen = self.redis_maxlen.max(1);
            c.redis = Some(r);
        }
        Ok(c)
    }

    fn bind_addr(&self) -> SocketAddr {
        self.bind
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], self.port)))
    }
}

/// An SPKI PEM whose algorithm identifier is rsaEncryption (base64 of the DER prefix).
fn looks_like_rsa_spki(pem: &[u8]) -> bool {
    // DER `SEQUENCE { SEQUENCE { OID 1.2.840.113549.1.1.1` encodes to base64 starting
    // "MIIBIjANBgkqhkiG9w0BAQEF" for 2048-bit keys; the OID part "BgkqhkiG9w0BAQE" is stable.
    String::from_utf8_lossy(pem).contains("BgkqhkiG9w0BAQE")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        let mut v = vec!["roomcast-server"];
        v.extend_from_slice(list);
        Args::try_parse_from(v).unwrap()
    }

    #[test]
    fn no_key_is_an_error() {
        let err = args(&[]).into_config(None).unwrap_err();
        assert!(matches!(err, ConfigError::NoKey), "{err}");
    }

    #[test]
    fn secret_defaults_to_hs256() {
        let c = args(&["--jwt-secret", "s3"]).into_config(None).unwrap();
        assert_eq!(c.jwt.algorithms, vec!["HS256"]);
        assert_eq!(c.bind.port(), 3000);
    }

    #[test]
    fn redis_url_selects_redis_fan_out_and_a_bad_one_is_a_clear_error() {
        let c = args(&["--jwt-secret", "s", "--redis-url", "redis://127.0.0.1:6379"])
            .into_config(None)
            .unwrap();
        let r = c.redis.expect("redis config");
        assert_eq!((r.key_prefix.as_str(), r.maxlen), ("roomcast", 100_000));
        let err = args(&["--jwt-secret", "s", "--redis-url", "http://x"])
            .into_config(None)
            .unwrap_err();
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
        let c = args(&["--jwt-secret", "s"]).into_config(None).unwrap();
        assert!(c.redis.is_none());
    }

    #[test]
    fn public_key_file_picks_algorithm_by_key_type() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys");
        let rs = root.join("rs256-public.pem");
        let es = root.join("es256-public.pem");
        let c = args(&["--jwt-public-key-file", rs.to_str().unwrap()])
            .into_config(None)
            .unwrap();
        assert_eq!(c.jwt.algorithms, vec!["RS256"]);
        let c = args(&["--jwt-public-key-file", es.to_str().unwrap()])
            .into_config(None)
            .unwrap();
        assert_eq!(c.jwt.algorithms, vec!["ES256"]);
        let both = format!("{},{}", rs.to_str().unwrap(), es.to_str().unwrap());
        let c = args(&["--jwt-public-key-file", &both])
            .into_config(None)
            .unwrap();
        assert_eq!(c.jwt.algorithms, vec!["ES256", "RS256"]);
        let v = crate::auth::Verifier::new(&c.jwt).unwrap();
        assert!(format!("{v:?}").contains("RS256") && format!("{v:?}").contains("ES256"));
    }

    #[test]
    fn unknown_algorithm_is_rejected() {
        let err = args(&["--jwt-secret", "s", "--jwt-algorithms", "none"])
            .into_config(None)
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)));
    }

    #[test]
    fn dev_uses_the_generated_secret_on_localhost() {
        let c = args(&["--dev"]).into_config(Some(b"dev")).unwrap();
        assert_eq!(c.jwt.secret.as_deref(), Some(&b"dev"[..]));
        assert!(c.bind.ip().is_loopback());
    }
}
