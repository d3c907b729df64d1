//! Criterion bench of JWT verification per algorithm, through the reference server's own
//! `auth::Verifier` (what a CONNECT costs before any room work): HS256 with the shared
//! secret, RS256 and ES256 with the PEM public keys of `fixtures/keys`. Tokens are
//! minted once, outside the timed loop.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reference_server::auth::Verifier;
use reference_server::Config;
use serde_json::json;

fn keys() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(keys().join(name)).unwrap_or_else(|e| panic!("fixtures/keys/{name}: {e}"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn jwt_verify(c: &mut Criterion) {
    let secret = String::from_utf8(read("hs256.secret")).expect("utf-8 secret");
    let secret = secret.trim().as_bytes().to_vec();
    // The server's defaults for everything but the keys and algorithms.
    let mut jwt = Config::with_secret(&secret).jwt;
    jwt.public_keys_pem = vec![read("rs256-public.pem"), read("es256-public.pem")];
    jwt.algorithms = vec!["HS256".into(), "RS256".into(), "ES256".into()];
    let verifier = Verifier::new(&jwt).expect("the fixture keys load");
    let claims = json!({"sub": "u1", "organizationId": "acme", "exp": now() + 3600});
    let cases = [
        ("HS256", Algorithm::HS256, EncodingKey::from_secret(&secret)),
        (
            "RS256",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(&read("rs256-private.pem")).expect("RSA key"),
        ),
        (
            "ES256",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&read("es256-private.pem")).expect("EC key"),
        ),
    ];
    let mut group = c.benchmark_group("jwt_verify");
    for (name, alg, key) in cases {
        let token = encode(&Header::new(alg), &claims, &key).expect("token signs");
        let t = now();
        assert!(
            verifier.verify_client(&token, t).is_ok(),
            "the bench token must verify ({name})"
        );
        group.bench_function(name, |b| {
            b.iter(|| verifier.verify_client(black_box(&token), t))
        });
    }
    group.finish();
}

criterion_group!(benches, jwt_verify);
criterion_main!(benches);
