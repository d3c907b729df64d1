//! Forged tokens tried on every token path: CONNECT, `auth:refresh` and the
//! publish API, for the algorithm a context verifies (AUTH-11, AUTH-13,
//! AUTH-14, AUTH-17). A forgery is a token whose signature does not verify
//! with the configured key: a tampered signature, a foreign key pair, or a
//! key the token brings in its own header (`jwk`, `jku`, `x5u`, a `kid`
//! pointing elsewhere; RFC 8725 §3.1, §3.10). Also the client-controlled
//! places where an identity could be smuggled in beside the token (AUTH-1).

use super::common::{accepted_id, expect_marker, publish_marker, reject_token, MARKER};
use crate::client::{OpenOptions, WsClient};
use crate::ctx::{ensure_json, CheckFailure, CheckResult, Ctx};
use crate::expect;
use crate::tokens::{self, client_claims, publisher_claims, Alg};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Map, Value};

/// A key pair no server under test is configured with (RS256).
const FOREIGN_RS256: &[u8] = include_bytes!("../../keys/foreign-rs256-private.pem");
/// A key pair no server under test is configured with (ES256).
const FOREIGN_ES256: &[u8] = include_bytes!("../../keys/foreign-es256-private.pem");
/// The public halves of the foreign keys as JWKs (for `jwk` headers).
const FOREIGN_RS256_JWK: &str = include_str!("../../keys/foreign-rs256.jwk.json");
const FOREIGN_ES256_JWK: &str = include_str!("../../keys/foreign-es256.jwk.json");
/// An HMAC secret no server under test is configured with.
const FOREIGN_SECRET: &[u8] = b"roomcast-conformance-foreign-secret-0123456789";
/// Self-signed certificates of the foreign key pairs (for `x5u` headers).
const FOREIGN_RS256_CERT: &str = include_str!("../../keys/foreign-rs256.crt.pem");
const FOREIGN_ES256_CERT: &str = include_str!("../../keys/foreign-es256.crt.pem");
/// The `kid` of the foreign keys in the key server's JWK sets.
const FOREIGN_KID: &str = "roomcast-foreign";

/// One way of forging a token for an algorithm.
#[derive(Debug, Clone)]
pub enum Forgery {
    /// Signed with the configured key, then one signature byte flipped.
    Tampered,
    /// Signed with a key pair (or secret) the server does not know.
    ForeignKey,
    /// Signed with a foreign key whose public half (or secret) is in the `jwk` header.
    EmbeddedJwk,
    /// Signed with a foreign key; `jku` names a JWK set of the harness's
    /// [`KeyServer`] that holds that key.
    Jku,
    /// Signed with a foreign key; `x5u` names its certificate on the harness's
    /// [`KeyServer`] (RS256, ES256; an HMAC secret has no certificate).
    X5u,
    /// Signed with a foreign key (HS256: the empty secret); `kid` points elsewhere.
    KidElsewhere,
    /// HS256 with these bytes (the RSA public key PEM) as the HMAC key (AUTH-17).
    Confusion(Vec<u8>),
    /// Unsigned, `{"alg":"none"}` (AUTH-15).
    AlgNone,
    /// An HMAC algorithm that is not configured, keyed with the configured secret (AUTH-16).
    OtherHmac(Algorithm, Vec<u8>),
    /// Signed with the configured key, but with these claims set (an expired
    /// `exp`, a future `nbf`; AUTH-27, AUTH-28): refused for its claims.
    Claims(&'static str, Map<String, Value>),
}

impl Forgery {
    /// Every forgery that needs no key material of the server.
    pub fn all() -> Vec<Forgery> {
        vec![
            Forgery::Tampered,
            Forgery::ForeignKey,
            Forgery::EmbeddedJwk,
            Forgery::Jku,
            Forgery::X5u,
            Forgery::KidElsewhere,
        ]
    }

    /// What the forgery is, for messages.
    pub fn what(&self, alg: Alg) -> String {
        let a = alg.as_str();
        match self {
            Forgery::Tampered => format!("an {a} token with a tampered signature"),
            Forgery::ForeignKey => format!("an {a} token signed by a foreign key"),
            Forgery::EmbeddedJwk => format!("an {a} token verified by its own `jwk` header"),
            Forgery::Jku => format!("an {a} token whose `jku` names a foreign key set"),
            Forgery::X5u => format!("an {a} token whose `x5u` names a foreign certificate"),
            Forgery::KidElsewhere => format!("an {a} token whose `kid` points elsewhere"),
            Forgery::Confusion(_) => {
                "an HS256 token whose HMAC key is the RSA public key PEM".to_string()
            }
            Forgery::AlgNone => "an unsigned token (alg none)".to_string(),
            Forgery::OtherHmac(a, _) => format!("an {a:?} token signed with the HS256 secret"),
            Forgery::Claims(what, _) => format!("an {a} token with {what}"),
        }
    }

    /// Does the forgery name a URL the [`KeyServer`] at `keys` serves?
    fn fetches(&self) -> bool {
        matches!(self, Forgery::Jku | Forgery::X5u)
    }

    /// The forged token for `claims`; `keys` is the base URL of the key
    /// server that `jku` and `x5u` headers name.
    pub fn forge(
        &self,
        ctx: &Ctx,
        alg: Alg,
        claims: &Map<String, Value>,
        keys: &str,
    ) -> Result<String, CheckFailure> {
        let (jose, mut key, jwk) = foreign(alg)?;
        let mut header = json!({ "alg": alg.as_str(), "typ": "JWT" });
        match self {
            Forgery::Tampered => return Ok(tokens::tamper(&ctx.minter.sign_with(alg, claims)?)),
            Forgery::ForeignKey => {}
            Forgery::EmbeddedJwk => header["jwk"] = jwk,
            Forgery::Jku => {
                header["jku"] = json!(format!("{keys}/jwks/{}.json", alg.as_str()));
                header["kid"] = json!(FOREIGN_KID);
            }
            Forgery::X5u => header["x5u"] = json!(format!("{keys}/x5u/{}.pem", alg.as_str())),
            Forgery::KidElsewhere => {
                if alg == Alg::Hs256 {
                    // the classic: a key file path whose content is empty
                    header["kid"] = json!("../../../../../../../../dev/null");
                    key = EncodingKey::from_secret(b"");
                } else {
                    header["kid"] = json!("roomcast-foreign");
                }
            }
            Forgery::Confusion(pem) => {
                return Ok(tokens::hs256_with_secret(pem, claims)?);
            }
            Forgery::AlgNone => return Ok(tokens::alg_none(claims)),
            Forgery::OtherHmac(a, secret) => return Ok(tokens::sign_hmac(*a, secret, claims)?),
            Forgery::Claims(_, set) => {
                let mut c = claims.clone();
                c.extend(set.clone());
                return Ok(ctx.minter.sign_with(alg, &c)?);
            }
        }
        sign_raw(&header, claims, &key, jose)
    }
}

/// The foreign key of `alg`: its jsonwebtoken algorithm, signing key, and public JWK.
fn foreign(alg: Alg) -> Result<(Algorithm, EncodingKey, Value), CheckFailure> {
    // the harness's own key material: an ERROR, never the server's FAIL
    let bad = |e: jsonwebtoken::errors::Error| {
        CheckFailure::error(
            format_args!(
                "the harness's foreign {} key does not load: {e}",
                alg.as_str()
            ),
            "rebuild roomcast-conformance from a clean checkout (conformance/keys/)",
        )
    };
    let jwk = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    Ok(match alg {
        Alg::Hs256 => (
            Algorithm::HS256,
            EncodingKey::from_secret(FOREIGN_SECRET),
            json!({ "kty": "oct", "k": URL_SAFE_NO_PAD.encode(FOREIGN_SECRET) }),
        ),
        Alg::Rs256 => (
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(FOREIGN_RS256).map_err(bad)?,
            jwk(FOREIGN_RS256_JWK),
        ),
        Alg::Es256 => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(FOREIGN_ES256).map_err(bad)?,
            jwk(FOREIGN_ES256_JWK),
        ),
    })
}

/// A loopback HTTP server for the key material that forged `jku` and `x5u`
/// headers name: `/jwks/{ALG}.json` (the foreign key of ALG as a JWK set, `kid`
/// [`FOREIGN_KID`]) and `/x5u/{ALG}.pem` (its certificate). A server that fetches
/// what a token names then verifies the forgery and accepts it, which the check
/// sees; with nothing to fetch it would fail closed and the check could not
/// tell. A server on another host cannot reach it: against `--target` on
/// another machine such a server is not caught (it fails closed).
pub struct KeyServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl KeyServer {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start() -> Result<KeyServer, CheckFailure> {
        let harness = |e: std::io::Error| {
            CheckFailure::error(
                format_args!("the harness could not start its loopback key server: {e}"),
                "free a loopback port for the harness; the server is not at fault",
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(harness)?;
        let base = format!("http://{}", listener.local_addr().map_err(harness)?);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_key(stream));
            }
        });
        Ok(KeyServer { base, task })
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one HTTP/1.x request of a [`KeyServer`], then closes.
async fn serve_key(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf));
        match read.await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match key_file(path) {
        Some(body) => ("200 OK", body),
        None => ("404 Not Found", String::new()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The body of a [`KeyServer`] path, if it serves one.
fn key_file(path: &str) -> Option<String> {
    let alg = |s: &str| {
        [Alg::Hs256, Alg::Rs256, Alg::Es256]
            .into_iter()
            .find(|a| a.as_str() == s)
    };
    if let Some(a) = path
        .strip_prefix("/jwks/")
        .and_then(|p| p.strip_suffix(".json"))
    {
        let (_, _, mut jwk) = foreign(alg(a)?).ok()?;
        jwk["kid"] = json!(FOREIGN_KID);
        jwk["alg"] = json!(a);
        return Some(json!({ "keys": [jwk] }).to_string());
    }
    match path.strip_prefix("/x5u/")?.strip_suffix(".pem")? {
        "RS256" => Some(FOREIGN_RS256_CERT.to_string()),
        "ES256" => Some(FOREIGN_ES256_CERT.to_string()),
        _ => None,
    }
}

/// A compact JWS with exactly this header (which jsonwebtoken's `Header` cannot always express).
fn sign_raw(
    header: &Value,
    claims: &Map<String, Value>,
    key: &EncodingKey,
    alg: Algorithm,
) -> Result<String, CheckFailure> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).map_err(|e| {
        CheckFailure::error(
            format_args!("the harness could not sign a forged token: {e}"),
            "report this harness bug; the server is not at fault",
        )
    })?;
    Ok(format!("{input}.{sig}"))
}

/// Every forgery is refused on every token path of `ctx`, whose server
/// verifies `alg`: CONNECT (`invalid_token`), `auth:refresh` when the feature
/// is declared (a failed ack with `invalid_token`, the socket stays) and
/// publish (401 `AUTH_FAILED`).
pub async fn refused_on_every_path(ctx: &Ctx, alg: Alg, forgeries: &[Forgery]) -> CheckResult {
    refused_with_reason(ctx, alg, forgeries, "invalid_token").await
}

/// Like [`refused_on_every_path`], with this reason at the CONNECT and in the refresh ack.
pub async fn refused_with_reason(
    ctx: &Ctx,
    alg: Alg,
    forgeries: &[Forgery],
    reason: &str,
) -> CheckResult {
    let org = ctx.uniq("org");
    let user = ctx.uniq("u");
    // what forged jku / x5u headers name, served for the whole run of forgeries
    let keys = if forgeries.iter().any(Forgery::fetches) {
        Some(KeyServer::start().await?)
    } else {
        None
    };
    let base = keys
        .as_ref()
        .map_or("http://127.0.0.1:9", |k| k.base.as_str());
    let mut refresher = if ctx.has_feature("refresh") {
        Some(ctx.connect(&org, &user).await?.0)
    } else {
        None
    };
    let r = async {
        for f in forgeries {
            let what = f.what(alg);
            let t = f.forge(ctx, alg, &client_claims(&org, &user), base)?;
            reject_token(ctx, &t, reason)
                .await
                .map_err(|e| at(e, &what, "at CONNECT"))?;
            if let Some(c) = refresher.as_mut() {
                refresh_refused(c, &what, &t, reason).await?;
            }
            let p = f.forge(ctx, alg, &publisher_claims(Some(&org)), base)?;
            let body = json!({ "room": format!("org:{org}"), "type": "test:forged", "payload": 1 });
            let r = ctx.publish(&p, &body).await?;
            expect::http_error(&r, 401, "AUTH_FAILED")
                .map_err(|e| at(e, &what, "as a publish token"))?;
        }
        // nothing the forged publishes carried reached the organization
        if let Some(c) = refresher.as_mut() {
            let m = publish_marker(ctx, &format!("org:{org}")).await?;
            expect_marker(c, &m, "after forged publish tokens").await?;
        }
        Ok(())
    }
    .await;
    if let Some(c) = refresher {
        c.close().await;
    }
    r
}

/// `auth:refresh` with `token` on `c` is a failed ack with `reason` (the socket stays).
async fn refresh_refused(c: &mut WsClient, what: &str, token: &str, reason: &str) -> CheckResult {
    let ack = c
        .emit_ack("auth:refresh", vec![json!({ "token": token })])
        .await?;
    let got = ack.first().cloned().unwrap_or(Value::Null);
    let got_reason = got.pointer("/error/reason").cloned().unwrap_or(Value::Null);
    ensure_json(
        &format!("{what} in auth:refresh: the ack's ok"),
        &json!(false),
        got.get("ok").unwrap_or(&Value::Null),
    )?;
    ensure_json(
        &format!("{what} in auth:refresh: the reason"),
        &json!(reason),
        &got_reason,
    )
}

/// A configured claim check (AUTH-29 `iss`, AUTH-30 `aud`) on the token paths
/// beside CONNECT, against a server (`ctx`) configured to want `claim` =
/// `want`: a token without the claim, or with another value, is refused in
/// `auth:refresh` when declared (`invalid_claims`, the socket stays) and as a
/// publish token (401 `AUTH_FAILED`, nothing delivered); the same tokens
/// carrying `want` are accepted on both (so a refusal is for the claim).
pub async fn claim_checked_on_every_path(ctx: &Ctx, claim: &str, want: &str) -> CheckResult {
    let alg = ctx.minter.primary();
    let (org, user) = (ctx.uniq("org"), ctx.uniq("u"));
    let with = |mut c: Map<String, Value>, v: Option<&str>| {
        match v {
            Some(v) => c.insert(claim.into(), json!(v)),
            None => c.remove(claim),
        };
        c
    };
    let client = |v| {
        ctx.minter
            .sign_with(alg, &with(client_claims(&org, &user), v))
    };
    let publisher = |v| {
        ctx.minter
            .sign_with(alg, &with(publisher_claims(Some(&org)), v))
    };
    let (mut c, _) = ctx.connect_token(&client(Some(want))?).await?;
    let r = async {
        let bad = [
            (format!("a token without {claim}"), None),
            (
                format!("a token whose {claim} is someone else's"),
                Some("someone-else"),
            ),
        ];
        let body = |ty: &str| json!({ "room": format!("org:{org}"), "type": ty, "payload": 1 });
        for (what, v) in bad {
            if ctx.has_feature("refresh") {
                refresh_refused(&mut c, &what, &client(v)?, "invalid_claims").await?;
            }
            let r = ctx.publish(&publisher(v)?, &body("test:claim")).await?;
            expect::http_error(&r, 401, "AUTH_FAILED")
                .map_err(|e| at(e, &what, "as a publish token"))?;
        }
        if ctx.has_feature("refresh") {
            let ack = c
                .emit_ack(
                    "auth:refresh",
                    vec![json!({ "token": client(Some(want))? })],
                )
                .await?;
            ensure_json(
                &format!(
                    "auth:refresh with a token whose {claim} is the configured one: the ack's ok"
                ),
                &json!(true),
                ack.first()
                    .and_then(|a| a.get("ok"))
                    .unwrap_or(&Value::Null),
            )?;
        }
        // the configured value publishes, and the refused publishes delivered nothing
        let r = ctx.publish(&publisher(Some(want))?, &body(MARKER)).await?;
        if r.status != 202 {
            return Err(CheckFailure::fail(format!(
                "a publish token whose {claim} is the configured one was not accepted"
            ))
            .expected("202")
            .actual(format!("{} {}", r.status, r.text())));
        }
        let m = accepted_id(&r.json().unwrap_or(Value::Null));
        expect_marker(
            &mut c,
            &m,
            &format!("after publish tokens with a wrong {claim}"),
        )
        .await
    }
    .await;
    c.close().await;
    r
}

fn at(e: CheckFailure, what: &str, path: &str) -> CheckFailure {
    CheckFailure {
        message: format!("{what} {path}: {}", e.message),
        ..e
    }
}

/// The places beside the token a client controls, each naming another
/// organization and user: the CONNECT auth payload, the query, headers and
/// cookies. Returns (what, auth payload, options) for a token `t`.
pub fn identity_smuggling(
    t: &str,
    org: &str,
    user: &str,
) -> Vec<(&'static str, Value, OpenOptions)> {
    let plain = OpenOptions::default();
    let with = |query: Option<String>, headers: Vec<(String, String)>| OpenOptions {
        query,
        headers,
        ..OpenOptions::default()
    };
    vec![
        (
            "organizationId, userId and role beside the token in the auth payload",
            json!({ "token": t, "organizationId": org, "userId": user, "sub": user, "role": "admin" }),
            plain,
        ),
        (
            "organizationId and userId in the query",
            json!({ "token": t }),
            with(
                Some(format!("organizationId={org}&userId={user}&org={org}")),
                vec![],
            ),
        ),
        (
            "X-Organization-Id and X-User-Id headers",
            json!({ "token": t }),
            with(
                None,
                vec![
                    ("x-organization-id".into(), org.to_string()),
                    ("x-user-id".into(), user.to_string()),
                ],
            ),
        ),
        (
            "organizationId and userId cookies",
            json!({ "token": t }),
            with(
                None,
                vec![(
                    "cookie".into(),
                    format!("organizationId={org}; userId={user}"),
                )],
            ),
        ),
    ]
}
