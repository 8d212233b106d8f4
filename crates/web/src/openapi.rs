//! What every service's OpenAPI document says the same way, because the shared code in this
//! crate answers it the same way for every route.
//!
//! A service annotates what only it knows (its paths, bodies, parameters with their formats and
//! bounds, its own statuses, and `security` for the routes that read a token); the gateway
//! passes the merged document through [`conventions`], which adds:
//!
//! - the `Problem` schema (RFC 9457, [`crate::problem::Problem`]) as `application/problem+json`
//!   on every 4xx and 5xx answer;
//! - the `bearer` security scheme, and a 401 on every operation that reads a token ([`Caller`],
//!   [`Authorized`] and [`MaybeCaller`] answer 401 to a missing or bad one);
//! - 400 on every operation with a query ([`crate::configure_extractors`] answers
//!   `invalid_query`) or a JSON body ([`crate::json::Json`]: `invalid_body`), 413 on bodies
//!   (the size limit), 404 on every operation with a path parameter (an unreadable one is 404),
//!   409 and 422 where an `Idempotency-Key` is taken ([`crate::idempotency`]), and 503 on every
//!   operation (Postgres, NATS or the service behind the gateway unreachable).
//!
//! [`Caller`]: crate::Caller
//! [`Authorized`]: crate::Authorized
//! [`MaybeCaller`]: crate::MaybeCaller

use serde_json::{Map, Value, json};

/// The security scheme name routes declare: `security(("bearer" = []))`.
pub const BEARER: &str = "bearer";

/// The `Problem` schema (`#/components/schemas/Problem`).
pub fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details. `code` is stable and part of the contract; `detail` is for humans. Some problems carry extension members (the updated cart of a `price_changed` conflict, the `subscriptionId` of `covered_by_subscription`).",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "description": "`urn:cadence-commerce:problem:<code>`"},
            "title": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string"},
            "code": {"type": "string", "description": "Stable error code, e.g. `invalid_body`, `forbidden`, `not_found`"},
            "field": {"type": "string", "description": "The offending field, when there is one"}
        },
        "additionalProperties": true
    })
}

/// A string that is one of `values` (a query's `status`, say): pass the constant the route
/// checks against, so the document and the check cannot drift apart.
/// `#[param(schema_with = status_schema)]` with `fn status_schema() -> Object { words(STATUSES) }`.
pub fn words(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// An ISO 4217 code the platform knows (`kernel::Currency`), as sent in bodies.
pub fn currency() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(kernel::Currency::codes()))
        .description(Some("ISO 4217 code"))
        .build()
}

/// A display currency in a query: an ISO 4217 code the platform knows, or empty for none.
pub fn display_currency() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(std::iter::once("").chain(kernel::Currency::codes())))
        .description(Some(
            "Also show amounts in this ISO 4217 currency (empty: none)",
        ))
        .build()
}

/// A date-time (RFC 3339) as chrono reads it.
pub fn date_time() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::DateTime,
        )))
        .build()
}

/// Adds the shared facts (see the module documentation) to a document, as JSON: utoipa's types
/// do not read back every schema they write (`{}`, any value), so the document stays JSON.
pub fn conventions(doc: &mut Value) {
    apply(doc);
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn apply(doc: &mut Value) {
    let Some(doc) = doc.as_object_mut() else {
        return;
    };
    let components = object_map(doc, "components");
    object_map(components, "schemas").insert("Problem".into(), problem_schema());
    object_map(components, "securitySchemes").insert(
        BEARER.into(),
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A JWT from the LMS SSO: `sub`, `roles` (learner, dept-admin, billing-admin, enrollment-admin), `departments`."
        }),
    );
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                operation(op);
            }
        }
    }
}

fn operation(op: &mut Map<String, Value>) {
    let reads_token = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|reqs| {
            reqs.iter()
                .any(|r| r.as_object().is_some_and(|r| r.contains_key(BEARER)))
        });
    let idempotent = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter().any(|p| {
                p.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case("idempotency-key"))
            })
        });
    // Where each parameter is, and whether its schema constrains it (a header the server
    // checks declares a `pattern`).
    let params: Vec<(String, bool)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    let checked = p.get("schema").is_some_and(|s| s.get("pattern").is_some());
                    Some((p.get("in")?.as_str()?.to_string(), checked))
                })
                .collect()
        })
        .unwrap_or_default();
    let has_body = op.contains_key("requestBody");
    let responses = object_map(op, "responses");
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| json!({"description": description}));
    };
    if reads_token {
        add(
            "401",
            "unauthorized: a missing, malformed or expired bearer token",
        );
    }
    if params.iter().any(|(loc, _)| loc == "query") {
        add(
            "400",
            "invalid_query: a query parameter the document does not allow",
        );
    }
    if params
        .iter()
        .any(|(loc, checked)| loc == "header" && *checked)
    {
        add(
            "400",
            "a header the document does not allow (`invalid_idempotency_key`, `invalid_session`)",
        );
    }
    if idempotent {
        add(
            "409",
            "idempotency_key_in_use: a request with this key is still running; retry",
        );
        add(
            "422",
            "idempotency_key_reused: this key was used with another request",
        );
    }
    if has_body {
        add("400", "invalid_body: a body the document does not allow");
        add("413", "payload_too_large");
    }
    if params.iter().any(|(loc, _)| loc == "path") {
        add("404", "not_found");
    }
    // Every route reads PostgreSQL or NATS (or, split, the service behind the gateway).
    add(
        "503",
        "database_unavailable, relay_unavailable, service_unavailable: nothing was changed; retry",
    );
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        let Some(r) = response.as_object_mut() else {
            continue;
        };
        if is_error {
            r.insert(
                "content".into(),
                json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}),
            );
        }
        let missing = r
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            let reason = status
                .parse::<u16>()
                .ok()
                .and_then(|s| actix_web::http::StatusCode::from_u16(s).ok())
                .and_then(|s| s.canonical_reason())
                .unwrap_or("answer");
            r.insert("description".into(), Value::String(reason.to_string()));
        }
    }
}

/// `map[key]` as an object, made one if it is missing or something else.
fn object_map<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(m) => m,
        // Made an object just above.
        _ => unreachable!(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declares_the_shared_answers_as_problems() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/x/{id}": {"post": {
                    "security": [{"bearer": []}],
                    "parameters": [
                        {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                        {"name": "q", "in": "query", "schema": {"type": "string"}}
                    ],
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                    "responses": {"200": {"description": "ok"}, "409": {"description": "conflict"}}
                }},
                "/open": {"get": {"responses": {"200": {"description": "ok"}}}}
            }
        });
        apply(&mut doc);
        let r = &doc["paths"]["/x/{id}"]["post"]["responses"];
        for s in ["400", "401", "404", "409", "413"] {
            assert_eq!(
                r[s]["content"]["application/problem+json"]["schema"]["$ref"],
                "#/components/schemas/Problem",
                "{s}"
            );
        }
        assert!(r["200"].get("content").is_none());
        let open = &doc["paths"]["/open"]["get"]["responses"];
        let statuses: Vec<&String> = open
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(statuses, ["200", "503"]);
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["components"]["schemas"]["Problem"].is_object());
    }
}
