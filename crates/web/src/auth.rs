//! Bearer JWTs as the LMS SSO issues them.
//!
//! Claims: `sub` (user id), `roles` (`learner`, `dept-admin`, `billing-admin`, `enrollment-admin`),
//! `departments` (the department ids an admin may act on), `exp`; `iss` and `aud` are checked when
//! configured. Development uses an HS256 secret; production verifies RS256 (or ES256) against a
//! JWKS from a file or a URL, re-fetched at most once a minute when an unknown `kid` appears.

use crate::problem::ApiError;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Learner,
    DeptAdmin,
    BillingAdmin,
    EnrollmentAdmin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "learner" => Some(Role::Learner),
            "dept-admin" => Some(Role::DeptAdmin),
            "billing-admin" => Some(Role::BillingAdmin),
            "enrollment-admin" => Some(Role::EnrollmentAdmin),
            _ => None,
        }
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Learner => "learner",
            Role::DeptAdmin => "dept-admin",
            Role::BillingAdmin => "billing-admin",
            Role::EnrollmentAdmin => "enrollment-admin",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub departments: Vec<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The learner's address and display name, as the SSO provider states them (OpenID
    /// Connect standard claims): orders keep them, so emails can reach the learner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub roles: Vec<Role>,
    pub departments: Vec<String>,
    /// The token's `email` claim, when it has a plausible one.
    pub email: Option<String>,
    /// The token's `name` claim, when it has one.
    pub name: Option<String>,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// 403 unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.iter().any(|r| self.has(*r)) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(Role::as_str).collect();
            Err(ApiError::forbidden(format!(
                "requires one of the roles: {}",
                names.join(", ")
            )))
        }
    }

    /// Whether the caller may administer `department` as `role`: a billing-admin everywhere, any
    /// other admin role only within its own departments.
    pub fn may_administer(&self, role: Role, department: &str) -> bool {
        self.has(Role::BillingAdmin)
            || (self.has(role) && self.departments.iter().any(|d| d == department))
    }

    /// The departments an admin list covers: the one asked for (403 unless the caller
    /// administers it as `role`), otherwise every department for a billing-admin (`None`) and the
    /// caller's own for anyone else.
    pub fn department_scope(
        &self,
        role: Role,
        asked: Option<&str>,
    ) -> Result<Option<Vec<String>>, ApiError> {
        match asked {
            Some(d) => {
                self.require_department(role, d)?;
                Ok(Some(vec![d.to_string()]))
            }
            None if self.has(Role::BillingAdmin) => Ok(None),
            None => Ok(Some(self.departments.clone())),
        }
    }

    /// 403 unless [`Caller::may_administer`].
    pub fn require_department(&self, role: Role, department: &str) -> Result<(), ApiError> {
        if self.may_administer(role, department) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "not allowed to administer department `{department}`"
            )))
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthSettings {
    /// Development only: HS256 shared secret.
    pub hs256_secret: Option<kernel::Secret>,
    /// Path of a JWKS document (RS256/ES256 public keys).
    pub jwks_file: Option<String>,
    /// URL of the SSO's JWKS endpoint.
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("auth: configure an HS256 secret, a JWKS file or a JWKS URL")]
    NoKeys,
    #[error("auth: cannot read the JWKS: {0}")]
    Jwks(String),
}

/// Verifies tokens. Shared by every service of a process (`web::Data<Verifier>`).
pub struct Verifier {
    settings: AuthSettings,
    hs256: Option<DecodingKey>,
    /// Keys, when they were last fetched, when a fetch last failed.
    jwks: RwLock<(JwkSet, Option<Instant>, Option<Instant>)>,
    http: Option<reqwest::Client>,
}

impl Verifier {
    pub async fn new(settings: AuthSettings) -> Result<Verifier, AuthSetupError> {
        let hs256 = settings
            .hs256_secret
            .as_ref()
            .map(|s| DecodingKey::from_secret(s.expose().as_bytes()));
        let mut jwks = JwkSet { keys: vec![] };
        if let Some(path) = &settings.jwks_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AuthSetupError::Jwks(format!("{path}: {e}")))?;
            jwks = serde_json::from_str(&text).map_err(|e| AuthSetupError::Jwks(e.to_string()))?;
        }
        let http = match &settings.jwks_url {
            Some(_) => Some(
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| AuthSetupError::Jwks(e.to_string()))?,
            ),
            None => None,
        };
        if hs256.is_none() && settings.jwks_file.is_none() && settings.jwks_url.is_none() {
            return Err(AuthSetupError::NoKeys);
        }
        let v = Verifier {
            settings,
            hs256,
            jwks: RwLock::new((jwks, None, None)),
            http,
        };
        if v.settings.jwks_url.is_some() {
            // A JWKS endpoint that is down at start is retried on the first token.
            if let Err(e) = v.refresh_jwks().await {
                tracing::warn!(error = %e, "cannot fetch the JWKS yet");
            }
        }
        Ok(v)
    }

    /// Fetches the JWKS again, at most once a minute after a success and once every five seconds
    /// after a failure, whatever the number of tokens with unknown key ids.
    async fn refresh_jwks(&self) -> Result<(), AuthSetupError> {
        let (Some(url), Some(http)) = (&self.settings.jwks_url, &self.http) else {
            return Ok(());
        };
        let recent = |g: &(JwkSet, Option<Instant>, Option<Instant>)| {
            g.1.is_some_and(|t| t.elapsed() < Duration::from_secs(60))
                || g.2.is_some_and(|t| t.elapsed() < Duration::from_secs(5))
        };
        if recent(&*self.jwks.read().await) {
            return Ok(());
        }
        let mut guard = self.jwks.write().await;
        // Another request may have refreshed while this one waited for the lock.
        if recent(&guard) {
            return Ok(());
        }
        let fetched: Result<JwkSet, AuthSetupError> = async {
            http.get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| AuthSetupError::Jwks(e.to_string()))?
                .json()
                .await
                .map_err(|e| AuthSetupError::Jwks(e.to_string()))
        }
        .await;
        match fetched {
            Ok(set) => {
                guard.0 = set;
                guard.1 = Some(Instant::now());
                Ok(())
            }
            Err(e) => {
                guard.2 = Some(Instant::now());
                Err(e)
            }
        }
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = 30;
        match &self.settings.issuer {
            Some(iss) => v.set_issuer(&[iss]),
            None => v.iss = None,
        }
        match &self.settings.audience {
            Some(aud) => v.set_audience(&[aud]),
            None => v.validate_aud = false,
        }
        v
    }

    /// Verifies a bearer token and returns its caller, or a 401 problem.
    pub async fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let header =
            decode_header(token).map_err(|_| ApiError::unauthorized("malformed bearer token"))?;
        let claims = match header.alg {
            Algorithm::HS256 => {
                let key = self
                    .hs256
                    .as_ref()
                    .ok_or_else(|| ApiError::unauthorized("HS256 tokens are not accepted"))?;
                decode::<Claims>(token, key, &self.validation(Algorithm::HS256))
            }
            alg @ (Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::ES256
            | Algorithm::ES384) => {
                let key = self.key_for(header.kid.as_deref()).await?;
                decode::<Claims>(token, &key, &self.validation(alg))
            }
            _ => return Err(ApiError::unauthorized("unsupported token algorithm")),
        }
        .map_err(|e| ApiError::unauthorized(format!("invalid bearer token: {e}")))?
        .claims;
        if claims.sub.trim().is_empty() {
            return Err(ApiError::unauthorized("the token has no subject"));
        }
        let email = claims
            .email
            .map(|e| e.trim().to_string())
            .filter(|e| plausible_email(e));
        let name = claims
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty() && n.chars().count() <= 200);
        Ok(Caller {
            user_id: claims.sub,
            roles: claims.roles.iter().filter_map(|r| Role::parse(r)).collect(),
            departments: claims.departments,
            email,
            name,
        })
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, ApiError> {
        for attempt in 0..2 {
            {
                let guard = self.jwks.read().await;
                let jwk = match kid {
                    Some(k) => guard.0.find(k),
                    None => guard.0.keys.first(),
                };
                if let Some(jwk) = jwk {
                    return DecodingKey::from_jwk(jwk)
                        .map_err(|_| ApiError::unauthorized("unusable signing key"));
                }
            }
            if attempt == 0 && self.refresh_jwks().await.is_err() {
                break;
            }
        }
        Err(ApiError::unauthorized("unknown signing key"))
    }
}

fn bearer(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(actix_web::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("expected `Authorization: Bearer <token>`"))?;
    Ok(Some(token.trim().to_string()))
}

async fn caller_of(
    verifier: Option<web::Data<Verifier>>,
    token: Option<String>,
) -> Result<Option<Caller>, ApiError> {
    let Some(token) = token else { return Ok(None) };
    let verifier = verifier.ok_or_else(|| ApiError::internal("no token verifier registered"))?;
    verifier.verify(&token).await.map(Some)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        Box::pin(async move {
            caller_of(verifier, token?)
                .await?
                .ok_or_else(|| ApiError::unauthorized("login required"))
        })
    }
}

/// Who may call a route: the roles of which the caller must hold one.
pub trait Roles: 'static {
    const ROLES: &'static [Role];
}

/// The roles routes name.
pub mod roles {
    use super::{Role, Roles};

    /// Billing administrators only.
    pub struct BillingAdmin;
    /// Billing administrators, or department administrators (for their own departments, which
    /// the route checks once it knows the department).
    pub struct CatalogAdmin;
    /// Enrollment administrators (for their own departments).
    pub struct EnrollmentAdmin;

    impl Roles for BillingAdmin {
        const ROLES: &'static [Role] = &[Role::BillingAdmin];
    }
    impl Roles for CatalogAdmin {
        const ROLES: &'static [Role] = &[Role::BillingAdmin, Role::DeptAdmin];
    }
    impl Roles for EnrollmentAdmin {
        const ROLES: &'static [Role] = &[Role::EnrollmentAdmin];
    }
}

/// An authenticated caller holding one of `R`'s roles. Declared before a route's body, query
/// and path, it answers 401/403 before any of them is read: a caller without the role gets 403
/// whatever it sends (actix-web resolves extractors in order and returns the first error).
pub struct Authorized<R: Roles> {
    pub caller: Caller,
    roles: std::marker::PhantomData<R>,
}

impl<R: Roles> std::ops::Deref for Authorized<R> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<R: Roles> FromRequest for Authorized<R> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        Box::pin(async move {
            let caller = caller.await?;
            caller.require_any(R::ROLES)?;
            Ok(Authorized {
                caller,
                roles: std::marker::PhantomData,
            })
        })
    }
}

/// A caller when a token is present (a bad token is still a 401), nobody otherwise.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        Box::pin(async move { Ok(MaybeCaller(caller_of(verifier, token?).await?)) })
    }
}

/// Mints an HS256 token for local development (`commerce dev-token`).
/// An address with one `@`, something on each side, no spaces or angle brackets, at most 254
/// characters: enough to refuse what would break a mail header, not a full RFC 5322 parser.
pub fn plausible_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && e.len() <= 254
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"\\()[]".contains(c))
}

pub fn mint_dev_token(
    secret: &str,
    sub: &str,
    roles: &[String],
    departments: &[String],
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    mint_dev_token_with_profile(secret, sub, roles, departments, None, None, ttl)
}

/// A development token that also carries the `email` and `name` claims.
pub fn mint_dev_token_with_profile(
    secret: &str,
    sub: &str,
    roles: &[String],
    departments: &[String],
    email: Option<&str>,
    name: Option<&str>,
    ttl: Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = kernel::Clock::now(&kernel::SystemClock).timestamp();
    let claims = Claims {
        sub: sub.to_string(),
        roles: roles.to_vec(),
        departments: departments.to_vec(),
        exp: now + ttl.as_secs() as i64,
        iat: Some(now),
        iss: None,
        aud: None,
        email: email.map(str::to_string),
        name: name.map(str::to_string),
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn verifier() -> Verifier {
        Verifier::new(AuthSettings {
            hs256_secret: Some(kernel::Secret::new("s3cret")),
            ..Default::default()
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn reads_the_profile_claims_and_drops_implausible_addresses() {
        let v = verifier().await;
        let t = mint_dev_token_with_profile(
            "s3cret",
            "u1",
            &[],
            &[],
            Some(" zoe@example.edu "),
            Some("Zoë Ł"),
            Duration::from_secs(60),
        )
        .unwrap();
        let c = v.verify(&t).await.unwrap();
        assert_eq!(c.email.as_deref(), Some("zoe@example.edu"));
        assert_eq!(c.name.as_deref(), Some("Zoë Ł"));
        for bad in [
            "nobody",
            "a@b",
            "a b@c.d",
            "x@y.z>\r\nBcc: e@f.g",
            "@c.d",
            "a@.c",
            "a@c.",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
        let t = mint_dev_token_with_profile(
            "s3cret",
            "u1",
            &[],
            &[],
            Some("a@b"),
            None,
            Duration::from_secs(60),
        )
        .unwrap();
        let c = v.verify(&t).await.unwrap();
        assert_eq!((c.email, c.name), (None, None));
    }

    #[tokio::test]
    async fn accepts_a_dev_token_and_reads_roles_and_departments() {
        let t = mint_dev_token(
            "s3cret",
            "u1",
            &["dept-admin".into()],
            &["d1".into()],
            Duration::from_secs(60),
        )
        .unwrap();
        let c = verifier().await.verify(&t).await.unwrap();
        assert_eq!(c.user_id, "u1");
        assert_eq!(c.roles, vec![Role::DeptAdmin]);
        assert!(c.may_administer(Role::DeptAdmin, "d1"));
        assert!(!c.may_administer(Role::DeptAdmin, "d2"));
    }

    #[tokio::test]
    async fn rejects_wrong_secret_and_expired_tokens() {
        let v = verifier().await;
        let wrong = mint_dev_token("other", "u1", &[], &[], Duration::from_secs(60)).unwrap();
        assert_eq!(v.verify(&wrong).await.unwrap_err().status.as_u16(), 401);
        let claims = Claims {
            sub: "u1".into(),
            roles: vec![],
            departments: vec![],
            exp: 1000,
            iat: None,
            iss: None,
            aud: None,
            email: None,
            name: None,
        };
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert_eq!(v.verify(&expired).await.unwrap_err().status.as_u16(), 401);
        assert_eq!(v.verify("garbage").await.unwrap_err().status.as_u16(), 401);
    }

    #[test]
    fn billing_admin_administers_every_department() {
        let c = Caller {
            user_id: "b".into(),
            roles: vec![Role::BillingAdmin],
            departments: vec![],
            email: None,
            name: None,
        };
        assert!(c.may_administer(Role::DeptAdmin, "anything"));
        assert_eq!(c.department_scope(Role::DeptAdmin, None).unwrap(), None);
        let d = Caller {
            user_id: "d".into(),
            roles: vec![Role::DeptAdmin],
            departments: vec!["cs".into()],
            email: None,
            name: None,
        };
        assert_eq!(
            d.department_scope(Role::DeptAdmin, None).unwrap(),
            Some(vec!["cs".to_string()])
        );
        assert!(d.department_scope(Role::DeptAdmin, Some("math")).is_err());
        assert!(c.require_any(&[Role::EnrollmentAdmin]).is_err());
    }
}
