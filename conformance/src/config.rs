//! Command-line flags and the `roomcast.toml` file that can hold the same
//! options (flags win over the file).

use clap::Parser;
use serde::Deserialize;
use std::path::PathBuf;

/// `roomcast-conformance`: check an implementation against Roomcast v1.
#[derive(Debug, Clone, Parser, Default)]
#[command(name = "roomcast-conformance", version, about)]
pub struct Args {
    /// Base URL of one instance (http:// or ws://); repeat once per instance of one cluster.
    #[arg(long = "target", value_name = "URL")]
    pub targets: Vec<String>,
    /// Base URL of the publish API (default: the first target).
    #[arg(long, value_name = "URL")]
    pub publish_url: Option<String>,
    /// Engine.IO path (default /socket.io/).
    #[arg(long)]
    pub path: Option<String>,
    /// Profile namespace (default /).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Optional features the implementation claims, comma-separated
    /// (polling,bearer-header,cookie-auth,query-auth,refresh,rs256,es256,recovery,redis).
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// HS256 shared secret.
    #[arg(long, env = "ROOMCAST_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// File holding the HS256 shared secret (raw bytes).
    #[arg(long, value_name = "FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// PKCS#8 PEM private key for RS256/ES256 tokens (with --jwt-alg).
    #[arg(long, value_name = "FILE")]
    pub jwt_private_key: Option<PathBuf>,
    /// SPKI PEM public key matching --jwt-private-key (algorithm-confusion check, private instances).
    #[arg(long, value_name = "FILE")]
    pub jwt_public_key: Option<PathBuf>,
    /// Algorithm of --jwt-private-key: RS256 or ES256 (HS256 when only a secret is given).
    #[arg(long, value_name = "ALG")]
    pub jwt_alg: Option<String>,
    /// A further key pair, ALG:PRIVATE.pem[:PUBLIC.pem] (repeatable), e.g. to check both rs256 and es256.
    #[arg(long = "extra-key", value_name = "ALG:PRIV[:PUB]")]
    pub extra_keys: Vec<String>,
    /// Start the implementation with `sh -c CMD` (PORT, JWT_SECRET, REDIS_URL in its environment).
    #[arg(long, value_name = "CMD")]
    pub spawn: Option<String>,
    /// Number of instances to spawn (default 1).
    #[arg(long)]
    pub instances: Option<usize>,
    /// Extra environment for spawned instances, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// REDIS_URL handed to spawned instances.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// How long a spawned instance may take to answer /healthz and /readyz (ms, default 30000).
    #[arg(long)]
    pub ready_timeout_ms: Option<u64>,
    /// Read options from this TOML file (flags win).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Treat SHOULD failures as FAIL.
    #[arg(long)]
    pub strict: bool,
    /// File of requirement ids expected to fail (one per line, # comments).
    #[arg(long, value_name = "FILE")]
    pub expected_failures: Option<PathBuf>,
    /// Output format on stdout: human, json or junit.
    #[arg(long)]
    pub format: Option<String>,
    /// Also write the self-contained HTML report to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// List the checks and exit.
    #[arg(long)]
    pub list: bool,
    /// Run only checks matching: an id (AUTH-3), a group (AUTH) or a substring of id or title (repeatable).
    #[arg(long = "filter", value_name = "PATTERN")]
    pub filters: Vec<String>,
    /// Per-step timeout in ms, also the delivery bound (default 2000).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Seed for random choices (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Checks run concurrently (default 4).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Keep the transcripts of passing checks in the reports too.
    #[arg(long)]
    pub verbose: bool,
    /// socket.io-client driver script for WIRE-15/17 (default fixtures/clients/node/driver.js when present).
    #[arg(long, value_name = "FILE")]
    pub node_driver: Option<PathBuf>,
    /// python-socketio driver script for WIRE-16 (default fixtures/clients/python/driver.py with its .venv).
    #[arg(long, value_name = "FILE")]
    pub python_driver: Option<PathBuf>,
    /// Compare the shapes of the server's messages with the golden files of DIR (fixtures/golden).
    #[arg(long, value_name = "DIR")]
    pub golden: Option<PathBuf>,
    /// Only collect the redacted shapes, write them to FILE as JSON, and exit.
    #[arg(long, value_name = "FILE")]
    pub dump_shapes: Option<PathBuf>,
    /// redis-server program for the clusters the harness provisions (FAN checks, default redis-server).
    #[arg(long, value_name = "PROGRAM")]
    pub redis_server: Option<String>,
    /// Where the FAULT group gets its Redis: `process` (redis-server on a free
    /// port, with AOF where a scenario restarts it), `docker` (a Redis 7
    /// container through testcontainers; needs the `docker` feature and a
    /// reachable engine, else such scenarios SKIP with the fix), a `redis://`
    /// URL (scenarios that kill, pause or restart Redis SKIP), or `auto`
    /// (default: process where redis-server runs, else docker).
    #[arg(long, value_name = "auto|process|docker|URL")]
    pub redis: Option<String>,
    /// Run the model-based property test with this many cases instead of the checks.
    #[arg(long)]
    pub model_cases: Option<u32>,
    /// ERRORs (checks the harness's own setup kept from running) do not fail the run.
    #[arg(long)]
    pub allow_errors: bool,
    /// The implementation's own name of a setting the spec names (OPS-8), SPEC=YOURS
    /// (repeatable), e.g. ROOMCAST_PING_INTERVAL_MS=MY_PING_MS; private instances get YOURS.
    #[arg(long = "env-name", value_name = "SPEC=YOURS")]
    pub env_names: Vec<String>,
    /// Run the selection N times and report per-check verdict counts and flake rates.
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
}

/// The TOML file: the same options, kebab-case keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Args::targets`].
    #[serde(default)]
    pub targets: Vec<String>,
    /// See [`Args::publish_url`].
    pub publish_url: Option<String>,
    /// See [`Args::path`].
    pub path: Option<String>,
    /// See [`Args::namespace`].
    pub namespace: Option<String>,
    /// See [`Args::features`].
    #[serde(default)]
    pub features: Vec<String>,
    /// See [`Args::jwt_secret`].
    pub jwt_secret: Option<String>,
    /// See [`Args::jwt_secret_file`].
    pub jwt_secret_file: Option<PathBuf>,
    /// See [`Args::jwt_private_key`].
    pub jwt_private_key: Option<PathBuf>,
    /// See [`Args::jwt_public_key`].
    pub jwt_public_key: Option<PathBuf>,
    /// See [`Args::jwt_alg`].
    pub jwt_alg: Option<String>,
    /// See [`Args::extra_keys`].
    #[serde(default)]
    pub extra_keys: Vec<String>,
    /// See [`Args::spawn`].
    pub spawn: Option<String>,
    /// See [`Args::instances`].
    pub instances: Option<usize>,
    /// See [`Args::env`].
    #[serde(default)]
    pub env: Vec<String>,
    /// See [`Args::redis_url`].
    pub redis_url: Option<String>,
    /// See [`Args::redis`].
    pub redis: Option<String>,
    /// See [`Args::ready_timeout_ms`].
    pub ready_timeout_ms: Option<u64>,
    /// See [`Args::strict`].
    #[serde(default)]
    pub strict: bool,
    /// See [`Args::expected_failures`].
    pub expected_failures: Option<PathBuf>,
    /// See [`Args::format`].
    pub format: Option<String>,
    /// See [`Args::report`].
    pub report: Option<PathBuf>,
    /// See [`Args::filters`].
    #[serde(default)]
    pub filters: Vec<String>,
    /// See [`Args::timeout_ms`].
    pub timeout_ms: Option<u64>,
    /// See [`Args::seed`].
    pub seed: Option<u64>,
    /// See [`Args::jobs`].
    pub jobs: Option<usize>,
    /// See [`Args::allow_errors`].
    #[serde(default)]
    pub allow_errors: bool,
    /// See [`Args::env_names`]: a table `[env-name]` of `SPEC = "YOURS"`.
    #[serde(default)]
    pub env_name: std::collections::BTreeMap<String, String>,
    /// See [`Args::repeat`].
    pub repeat: Option<u32>,
}

/// Errors reading the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// The file is not valid TOML for this tool.
    #[error("invalid {0}: {1}")]
    Parse(PathBuf, String),
}

/// Reads `path` and fills every option the flags left unset.
pub fn merge_file(mut a: Args, path: &std::path::Path) -> Result<Args, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
    let f: FileConfig =
        toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e.to_string()))?;
    Ok(merge(&mut a, f))
}

fn merge(a: &mut Args, f: FileConfig) -> Args {
    macro_rules! fill {
        ($($field:ident),*) => { $( if a.$field.is_none() { a.$field = f.$field.clone(); } )* };
    }
    macro_rules! fill_vec {
        ($($field:ident: $ff:ident),*) => { $( if a.$field.is_empty() { a.$field = f.$ff.clone(); } )* };
    }
    fill!(
        publish_url,
        path,
        namespace,
        jwt_secret,
        jwt_secret_file,
        jwt_private_key,
        jwt_public_key,
        jwt_alg,
        spawn,
        instances,
        redis_url,
        redis,
        ready_timeout_ms,
        expected_failures,
        format,
        report,
        timeout_ms,
        seed,
        jobs,
        repeat
    );
    fill_vec!(targets: targets, features: features, extra_keys: extra_keys, env: env, filters: filters);
    a.strict |= f.strict;
    a.allow_errors |= f.allow_errors;
    if a.env_names.is_empty() {
        a.env_names = f.env_name.iter().map(|(k, v)| format!("{k}={v}")).collect();
    }
    a.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("roomcast.toml");
        std::fs::write(&p, "targets = [\"http://a\", \"http://b\"]\nnamespace = \"/rt\"\nfeatures = [\"polling\"]\njobs = 8\nstrict = true\n").unwrap();
        let a = Args::parse_from(["x", "--jobs", "2"]);
        let m = merge_file(a, &p).unwrap();
        assert_eq!(m.targets, vec!["http://a", "http://b"]);
        assert_eq!(m.namespace.as_deref(), Some("/rt"));
        assert_eq!(m.features, vec!["polling"]);
        assert_eq!(m.jobs, Some(2));
        assert!(m.strict);
    }

    #[test]
    fn env_names_and_allow_errors_come_from_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("roomcast.toml");
        std::fs::write(
            &p,
            "allow-errors = true\nrepeat = 3\n[env-name]\nROOMCAST_PING_INTERVAL_MS = \"MY_PING_MS\"\n",
        )
        .unwrap();
        let m = merge_file(Args::parse_from(["x"]), &p).unwrap();
        assert!(m.allow_errors);
        assert_eq!(m.repeat, Some(3));
        assert_eq!(m.env_names, vec!["ROOMCAST_PING_INTERVAL_MS=MY_PING_MS"]);
        let flag = Args::parse_from(["x", "--env-name", "JWT_LEEWAY_SECS=LEEWAY"]);
        let m = merge_file(flag, &p).unwrap();
        assert_eq!(m.env_names, vec!["JWT_LEEWAY_SECS=LEEWAY"], "flags win");
    }

    #[test]
    fn unknown_keys_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("roomcast.toml");
        std::fs::write(&p, "targt = \"x\"\n").unwrap();
        assert!(matches!(
            merge_file(Args::default(), &p),
            Err(ConfigError::Parse(..))
        ));
    }

    #[test]
    fn features_split_on_commas() {
        let a = Args::parse_from([
            "x",
            "--features",
            "polling,refresh",
            "--target",
            "http://h:1",
        ]);
        assert_eq!(a.features, vec!["polling", "refresh"]);
    }
}
