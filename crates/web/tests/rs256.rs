//! Production token verification: RS256 against a JWKS file and a JWKS URL.
//! The key pair in `fixtures/` exists only for these tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Tokens are minted as an outside SSO would, by the wall clock.
#![allow(clippy::disallowed_methods)]

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use web::auth::{AuthSettings, Claims, Verifier};

const KEY: &str = include_str!("fixtures/rs256-test-key.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");

fn token(kid: &str, iss: &str, aud: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: "sso-user-7".into(),
        roles: vec!["enrollment-admin".into(), "unknown-role".into()],
        departments: vec!["nursing".into()],
        exp: now + 600,
        iat: Some(now),
        iss: Some(iss.into()),
        aud: Some(aud.into()),
        email: None,
        name: None,
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn settings() -> AuthSettings {
    AuthSettings {
        issuer: Some("https://sso.example.edu".into()),
        audience: Some("cadence-commerce".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn verifies_rs256_against_a_jwks_file() {
    let dir = std::env::temp_dir().join(format!("jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, JWKS).unwrap();
    let v = Verifier::new(AuthSettings {
        jwks_file: Some(path.display().to_string()),
        ..settings()
    })
    .await
    .unwrap();

    let caller = v
        .verify(&token(
            "test-key-1",
            "https://sso.example.edu",
            "cadence-commerce",
        ))
        .await
        .unwrap();
    assert_eq!(caller.user_id, "sso-user-7");
    assert_eq!(
        caller.roles,
        vec![web::Role::EnrollmentAdmin],
        "unknown roles are ignored"
    );
    assert_eq!(caller.departments, vec!["nursing".to_string()]);

    for (kid, iss, aud) in [
        ("other-key", "https://sso.example.edu", "cadence-commerce"),
        ("test-key-1", "https://evil.example", "cadence-commerce"),
        ("test-key-1", "https://sso.example.edu", "another-app"),
    ] {
        let err = v.verify(&token(kid, iss, aud)).await.unwrap_err();
        assert_eq!(err.status.as_u16(), 401, "{kid} {iss} {aud}");
    }
    // HS256 tokens are refused when no secret is configured.
    let hs = web::auth::mint_dev_token(
        "whatever-secret-123456",
        "x",
        &[],
        &[],
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(v.verify(&hs).await.unwrap_err().status.as_u16(), 401);
}

#[tokio::test]
async fn fetches_the_jwks_from_a_url() {
    telemetry::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                JWKS.len(),
                JWKS
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    let v = Verifier::new(AuthSettings {
        jwks_url: Some(format!("http://127.0.0.1:{port}/jwks.json")),
        ..settings()
    })
    .await
    .unwrap();
    let caller = v
        .verify(&token(
            "test-key-1",
            "https://sso.example.edu",
            "cadence-commerce",
        ))
        .await
        .unwrap();
    assert_eq!(caller.user_id, "sso-user-7");
}
