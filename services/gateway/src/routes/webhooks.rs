//! Inbound webhooks → JetStream `inbound.*`, acknowledged to the sender only after the stream has
//! the message. The owning service verifies the signature from the relayed headers and raw body.

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use events::Envelope;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use ::web::ApiError;

pub struct Relay {
    pub bus: bus::Bus,
    /// When a webhook was received (the consumers' signature tolerance is measured from it).
    pub clock: std::sync::Arc<dyn kernel::Clock>,
    /// Processor name → the secret its webhooks are signed with in Stripe's scheme: a webhook
    /// for one of these that does not verify is refused here with 400 and never relayed.
    pub stripe_scheme_secrets: std::collections::BTreeMap<String, kernel::Secret>,
    /// Square's webhook signature key and the notification URL it signs, when Square runs: a
    /// Square webhook that does not verify is refused here with 400 and never relayed.
    pub square: Option<(kernel::Secret, String)>,
    /// LMS webhook name → the Standard Webhooks secret it is signed with: one that does not
    /// verify is refused here with 400 and never relayed.
    pub standard_secrets: std::collections::BTreeMap<String, kernel::Secret>,
}

/// Relayed HTTP headers keep their name behind this prefix.
pub const HTTP_HEADER_PREFIX: &str = bus::RELAYED_HEADER_PREFIX;
const NOT_RELAYED: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
];

pub fn configure(cfg: &mut web::ServiceConfig, relay: web::Data<Relay>) {
    cfg.service(
        web::resource("/api/v1/webhooks/{name}")
            .app_data(relay.clone())
            .post(lms_webhook),
    )
    .service(
        web::resource("/api/v2/payments/webhook/{processor}")
            .app_data(relay)
            .post(processor_webhook),
    );
}

/// The answer once JetStream has a webhook.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    pub received: bool,
    /// The event id (from `webhook-id` when the sender gives one).
    #[schema(format = Uuid)]
    pub event_id: String,
    /// Whether JetStream already had this event (a redelivery).
    pub duplicate: bool,
}

/// A webhook from the LMS (`lms-completion`: a course completed), signed with Standard
/// Webhooks; relayed to JetStream `inbound.lms.<name>` and answered once stored.
#[utoipa::path(post, path = "/api/v1/webhooks/{name}", tag = "webhooks",
    params(
        ("name" = String, Path, pattern = "^[a-z0-9-]{1,64}$", description = "The webhook, e.g. `lms-completion`"),
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks delivery id: a redelivery with the same id is one event"),
        ("webhook-timestamp" = Option<String>, Header, description = "Unix seconds; within 5 minutes of now"),
        ("webhook-signature" = Option<String>, Header, description = "`v1,<base64 HMAC-SHA256>`"),
    ),
    request_body(content = Option<serde_json::Value>, content_type = "application/json", description = "The LMS's event, relayed byte for byte"),
    responses(
        (status = 202, body = Received, description = "Stored in JetStream"),
        (status = 400, description = "invalid_signature: missing, forged or stale (±5 min)"),
        (status = 404, description = "A name that is no webhook"),
        (status = 413, description = "payload_too_large"),
        (status = 503, description = "relay_unavailable: not stored; retry"),
    ))]
pub async fn lms_webhook(
    req: HttpRequest,
    body: Bytes,
    relay: web::Data<Relay>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    verify_standard(&relay, &req, &body, &name)?;
    relay_to(&relay, &req, body, events::subjects::INBOUND_LMS, &name).await
}

/// A processor's webhook (`stripe`, `gpay`, `sandbox`: `Stripe-Signature`; `square`:
/// `x-square-hmacsha256-signature`); relayed to JetStream `inbound.processor.<processor>` and
/// answered once stored.
#[utoipa::path(post, path = "/api/v2/payments/webhook/{processor}", tag = "webhooks",
    params(
        ("processor" = String, Path, pattern = "^[a-z0-9-]{1,64}$", description = "`stripe`, `gpay`, `sandbox`, `square`"),
        ("Stripe-Signature" = Option<String>, Header, description = "`t=<unix>,v1=<hex HMAC-SHA256>` (Stripe's scheme)"),
        ("x-square-hmacsha256-signature" = Option<String>, Header, description = "Square's signature"),
    ),
    request_body(content = Option<serde_json::Value>, content_type = "application/json", description = "The processor's event, relayed byte for byte"),
    responses(
        (status = 202, body = Received, description = "Stored in JetStream"),
        (status = 400, description = "invalid_signature: missing, forged or stale"),
        (status = 404, description = "A name that is no processor"),
        (status = 413, description = "payload_too_large"),
        (status = 503, description = "relay_unavailable: not stored; retry"),
    ))]
pub async fn processor_webhook(
    req: HttpRequest,
    body: Bytes,
    relay: web::Data<Relay>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    verify_processor(&relay, &req, &body, &name)?;
    relay_to(
        &relay,
        &req,
        body,
        events::subjects::INBOUND_PROCESSOR,
        &name,
    )
    .await
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Cadence Commerce — gateway", version = "2"),
    paths(lms_webhook, processor_webhook),
    components(schemas(Received)),
    tags((name = "webhooks", description = "Inbound webhooks from the LMS and the processors, relayed to JetStream"))
)]
struct WebhookApi;

/// The gateway's own routes: the webhook relay.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <WebhookApi as utoipa::OpenApi>::openapi()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A sender's own delivery id (`webhook-id`, Standard Webhooks) becomes the event id, so a
/// redelivery of the same webhook is de-duplicated by JetStream and by the consumer's inbox.
fn event_id(req: &HttpRequest) -> Uuid {
    match req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) if !id.is_empty() => {
            let digest = Sha256::digest(id.as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            uuid::Builder::from_custom_bytes(bytes).into_uuid()
        }
        _ => Uuid::now_v7(),
    }
}

/// Refuses a processor webhook whose Stripe-scheme signature is missing, stale or forged, when
/// the processor's secret is known here.
fn verify_processor(
    relay: &Relay,
    req: &HttpRequest,
    body: &[u8],
    name: &str,
) -> Result<(), ApiError> {
    let header = |h: &str| req.headers().get(h).and_then(|v| v.to_str().ok());
    let verified = match (name, &relay.square) {
        ("square", Some((key, url))) => ::web::square_signature::verify(
            key.expose(),
            url,
            header(::web::square_signature::SIGNATURE_HEADER),
            body,
        ),
        _ => {
            let Some(secret) = relay.stripe_scheme_secrets.get(name) else {
                return Ok(());
            };
            ::web::stripe_signature::verify(
                secret.expose(),
                header(::web::stripe_signature::SIGNATURE_HEADER).unwrap_or_default(),
                body,
                relay.clock.now().timestamp(),
            )
        }
    };
    verified.map_err(|e| {
        tracing::warn!(processor = name, error = %e, "processor webhook refused");
        metrics::counter!("webhooks_refused_total", "source" => name.to_string()).increment(1);
        ApiError::bad_request("invalid_signature", e.to_string())
    })
}

/// Refuses an LMS webhook whose Standard Webhooks signature is missing, stale or forged, when
/// the endpoint's secret is known here.
fn verify_standard(
    relay: &Relay,
    req: &HttpRequest,
    body: &[u8],
    name: &str,
) -> Result<(), ApiError> {
    let Some(secret) = relay.standard_secrets.get(name) else {
        return Ok(());
    };
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    ::web::standard_webhooks::verify_headers(
        secret.expose(),
        header,
        body,
        relay.clock.now().timestamp(),
    )
    .map_err(|e| {
        tracing::warn!(webhook = name, error = %e, "LMS webhook refused");
        metrics::counter!("webhooks_refused_total", "source" => name.to_string()).increment(1);
        ApiError::bad_request("invalid_signature", e.to_string())
    })
}

async fn relay_to(
    relay: &Relay,
    req: &HttpRequest,
    body: Bytes,
    base: &str,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    if !valid_name(name) {
        return Err(ApiError::not_found(format!("no webhook endpoint `{name}`")));
    }
    let subject = format!("{base}.{name}");
    let mut env = Envelope::new(
        &subject,
        "gateway",
        relay.clock.now(),
        telemetry::current_traceparent(),
    );
    env.id = event_id(req);
    let mut headers = env.to_headers();
    headers.insert(events::envelope::H_CONTENT_TYPE, "application/octet-stream");
    for (k, v) in req.headers() {
        if NOT_RELAYED.contains(&k.as_str()) {
            continue;
        }
        if let Ok(text) = v.to_str() {
            headers.append(format!("{HTTP_HEADER_PREFIX}{}", k.as_str()).as_str(), text);
        }
    }
    match relay.bus.publish(&subject, headers, body).await {
        Ok(duplicate) => Ok(HttpResponse::Accepted().json(Received {
            received: true,
            event_id: env.id.to_string(),
            duplicate,
        })),
        Err(e) => {
            tracing::warn!(error = %e, %subject, "webhook not relayed");
            Err(ApiError::unavailable(
                "relay_unavailable",
                "the webhook could not be stored; retry later",
            ))
        }
    }
}
