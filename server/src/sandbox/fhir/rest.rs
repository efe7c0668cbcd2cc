//! The sandbox's FHIR REST interactions on single resources (issue 3 item 1): `read` and `vread` of the six
//! served types, ServiceRequest `create` and `update` (RCV-12: the orders a submitter reads; VAL-10 / ORD-1…4
//! checked with the core validator), 405 for writes to other types, and the checks they share: the
//! token's access to one resource and its patient compartment (AUTH-1, AUTH-2), `ETag` / `Last-Modified`,
//! JSON bodies only. The rules are documented in docs/sandbox-fhir-api.md.

use super::http::{error, fhir_json, forbidden, internal, outcome, require_grant};
use super::index::{patient_of, SEARCHABLE_TYPES};
use super::search::is_json_format;
use super::store::{replace, FhirStoreError, Stored};
use crate::sandbox::auth::grant::{Access, Grant, Interaction};
use crate::sandbox::auth::util::form_decode;
use crate::sandbox::SandboxState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use cloudcgm::fhir::outcome::{has_errors, Issue};
use cloudcgm::fhir::profile::{classify, CgmProfile, Classification};
use cloudcgm::fhir::validate::validate;
use serde_json::Value;

/// The only type the REST API writes; CGM data arrives through `$submit-cgm-bundle`.
const WRITABLE: &str = "ServiceRequest";

/// 404 for a type the sandbox does not serve.
pub fn unsupported_type(resource_type: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not-supported",
        format!(
            "the sandbox EHR does not serve {resource_type}; it serves {}",
            SEARCHABLE_TYPES.join(", ")
        ),
    )
}

/// An error answer from a helper, boxed because a `Response` is large.
pub type Rejection = Box<Response>;

/// 406 when `_format` asks for anything but JSON (the only format served); `_format=json` is ignored.
pub fn check_format(pairs: &[(String, String)]) -> Result<(), Rejection> {
    match pairs
        .iter()
        .find(|(k, v)| k == "_format" && !is_json_format(v))
    {
        Some((_, v)) => Err(Box::new(error(
            StatusCode::NOT_ACCEPTABLE,
            "not-supported",
            format!("_format: the sandbox serves JSON only, not '{v}'"),
        ))),
        None => Ok(()),
    }
}

/// `_format` of a read's query string, for [`check_format`] (other read parameters are ignored).
fn format_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .filter(|(k, _)| *k == "_format")
        .map(|(k, v)| (k.to_string(), form_decode(v).unwrap_or_default()))
        .collect()
}

/// Whether an access level reaches this resource: `All`, or `Patient(p)` for a resource in p's compartment
/// (a Patient is its own compartment). Practitioners belong to no compartment, so any patient/ scope that
/// names them reaches them (documented choice).
pub fn in_reach(access: &Access, resource_type: &str, resource: &Value) -> bool {
    match access {
        Access::Denied => false,
        Access::All => true,
        Access::Patient(p) => {
            resource_type == "Practitioner"
                || patient_of(resource_type, resource).as_deref() == Some(p.as_str())
        }
    }
}

/// `Last-Modified` (an HTTP-date) from `meta.lastUpdated`.
fn http_date(last_updated: &str) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(last_updated).ok()?;
    Some(
        t.with_timezone(&Utc)
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
    )
}

/// A resource answer with its version headers.
fn resource_response(status: StatusCode, stored: &Stored) -> Response {
    let mut response = fhir_json(status, &stored.body);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&stored.etag()) {
        headers.insert(header::ETAG, v);
    }
    if let Some(v) = http_date(&stored.last_updated).and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(header::LAST_MODIFIED, v);
    }
    response
}

/// True when the token's `fhirUser` is this Practitioner (relative or absolute reference).
fn is_own_user(grant: &Grant, resource_type: &str, id: &str) -> bool {
    if resource_type != "Practitioner" {
        return false;
    }
    let wanted = format!("Practitioner/{id}");
    grant
        .fhir_user
        .as_deref()
        .is_some_and(|u| u == wanted || u.ends_with(&format!("/{wanted}")))
}

fn outside_compartment(resource_type: &str, id: &str, access: &Access) -> Response {
    let who = match access {
        Access::Patient(p) => format!("patient {p}"),
        _ => "the token's patient".to_string(),
    };
    forbidden(format!(
        "{resource_type}/{id} is outside the compartment of {who}, the only one this patient-level token may \
         see"
    ))
}

/// The checks shared by `read` and `vread`; the resource when the token may see it.
async fn readable(
    state: &SandboxState,
    headers: &HeaderMap,
    query: Option<&str>,
    resource_type: &str,
    id: &str,
) -> Result<Stored, Response> {
    if !SEARCHABLE_TYPES.contains(&resource_type) {
        return Err(unsupported_type(resource_type));
    }
    check_format(&format_pairs(query)).map_err(|r| *r)?;
    let grant = require_grant(state, headers).await?;
    // A signed-in user may always read their own Practitioner resource (the fhirUser of the token).
    let own_user = is_own_user(&grant, resource_type, id);
    if !own_user && grant.access(Interaction::Read, resource_type) == Access::Denied {
        return Err(forbidden(format!(
            "the access token grants no read on {resource_type}: it needs a patient/, user/ or system/ \
             {resource_type} scope with the r (or v1 read) permission, and a patient in context for patient/"
        )));
    }
    let stored = state
        .fhir
        .read(resource_type, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("{resource_type}/{id} is not known to the sandbox EHR"),
            )
        })?;
    if own_user {
        return Ok(stored);
    }
    let access = grant.access_to(Interaction::Read, &stored.body);
    if access == Access::Denied {
        return Err(forbidden(format!(
            "{resource_type}/{id} does not match the constraints of the token's {resource_type} read scopes \
             (e.g. ?category=…)"
        )));
    }
    if !in_reach(&access, resource_type, &stored.body) {
        return Err(outside_compartment(resource_type, id, &access));
    }
    Ok(stored)
}

/// `GET /fhir/{type}/{id}`
pub async fn read(
    State(state): State<SandboxState>,
    Path((resource_type, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match readable(&state, &headers, query.as_deref(), &resource_type, &id).await {
        Ok(stored) => resource_response(StatusCode::OK, &stored),
        Err(response) => response,
    }
}

/// `GET /fhir/{type}/{id}/_history/{vid}`: the sandbox keeps only the current version, so only its number
/// resolves (the `Location` of a create or update points here).
pub async fn vread(
    State(state): State<SandboxState>,
    Path((resource_type, id, vid)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    match readable(&state, &headers, query.as_deref(), &resource_type, &id).await {
        Ok(stored) if stored.version.to_string() == vid => {
            resource_response(StatusCode::OK, &stored)
        }
        Ok(stored) => error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!(
                "{resource_type}/{id} has no version {vid} here: the sandbox keeps only the current version, {}",
                stored.version
            ),
        ),
        Err(response) => response,
    }
}

/// 405 for an interaction the sandbox does not offer on an existing path (e.g. `POST /fhir/Observation`,
/// `DELETE`); the Allow header lists what is offered.
pub fn method_not_allowed(method: &Method, what: &str, allow: &'static str) -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "not-supported",
        format!(
            "{method} is not supported on {what}; the sandbox EHR accepts {allow} here (CGM data goes to \
             POST /fhir/$submit-cgm-bundle)"
        ),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// What an order must satisfy before the sandbox stores it, from the API or the EHR's orders page: the IG
/// profile when it is a CGM order (VAL-10, ORD-1…4, core validator), the R4 required elements otherwise.
pub fn order_issues(order: &Value) -> Vec<Issue> {
    match classify(order) {
        Classification::Profile(p @ (CgmProfile::StandingOrder | CgmProfile::OneTimeOrder)) => {
            validate(p, order, "ServiceRequest")
        }
        _ => {
            let mut issues = Vec::new();
            for key in ["status", "intent", "subject"] {
                if order.get(key).is_none() {
                    issues.push(
                        Issue::error(
                            "required",
                            format!("ServiceRequest.{key} is required (R4 1..1)"),
                        )
                        .at(format!("ServiceRequest.{key}")),
                    );
                }
            }
            issues
        }
    }
}

/// The parsed JSON body of a write, or the 415 / 400 to answer.
fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, Rejection> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(
        media.as_deref(),
        Some("application/fhir+json" | "application/json")
    ) {
        return Err(Box::new(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            format!(
                "the sandbox EHR accepts application/fhir+json only, not {}",
                media.as_deref().unwrap_or("a body without Content-Type")
            ),
        )));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "structure",
            format!("the body is not valid JSON: {e}"),
        ))
    })?;
    match value.get("resourceType").and_then(Value::as_str) {
        Some(WRITABLE) => Ok(value),
        Some(other) => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("the body is a {other}, but this endpoint takes a {WRITABLE}"),
        ))),
        None => Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "structure",
            format!("the body must be a {WRITABLE} resource (a JSON object with resourceType)"),
        ))),
    }
}

/// The checks of a write on the new content: scope constraints, compartment, profile, and the subject being a
/// Patient of this EHR (so the order is in a compartment and patient-level tokens can find it).
async fn check_write(
    state: &SandboxState,
    grant: &Grant,
    interaction: Interaction,
    order: &Value,
) -> Result<(), Response> {
    let verb = if interaction == Interaction::Create {
        "create"
    } else {
        "update"
    };
    let access = grant.access_to(interaction, order);
    if access == Access::Denied {
        return Err(forbidden(format!(
            "the access token does not allow {verb} of this ServiceRequest: no ServiceRequest scope with the \
             {} permission matches it (constraints such as ?code=… must match)",
            if verb == "create" { "c" } else { "u" }
        )));
    }
    if let Access::Patient(p) = &access {
        if patient_of(WRITABLE, order).as_deref() != Some(p.as_str()) {
            return Err(forbidden(format!(
                "a patient-level token may only {verb} orders whose subject is its patient, Patient/{p}"
            )));
        }
    }
    let mut issues = order_issues(order);
    if !has_errors(&issues) {
        match patient_of(WRITABLE, order) {
            Some(patient) => {
                if state
                    .fhir
                    .read("Patient", &patient)
                    .await
                    .map_err(internal)?
                    .is_none()
                {
                    issues.push(
                        Issue::error(
                            "processing",
                            format!("subject Patient/{patient} is not a patient of this EHR"),
                        )
                        .at("ServiceRequest.subject"),
                    );
                }
            }
            None => issues.push(
                Issue::error(
                    "processing",
                    "subject must reference a Patient of this EHR as Patient/{id}",
                )
                .at("ServiceRequest.subject"),
            ),
        }
    }
    if has_errors(&issues) {
        return Err(outcome(StatusCode::UNPROCESSABLE_ENTITY, &issues));
    }
    Ok(())
}

/// The checks every write starts with: a served type (404), the one writable type (405 naming what `path`
/// allows), a valid token (401) that grants `interaction` on ServiceRequest at all (403).
async fn write_grant(
    state: &SandboxState,
    resource_type: &str,
    path: &str,
    method: &Method,
    headers: &HeaderMap,
    interaction: Interaction,
) -> Result<Grant, Response> {
    if !SEARCHABLE_TYPES.contains(&resource_type) {
        return Err(unsupported_type(resource_type));
    }
    if resource_type != WRITABLE {
        return Err(method_not_allowed(method, path, "GET"));
    }
    let grant = require_grant(state, headers).await?;
    if grant.access(interaction, WRITABLE) == Access::Denied {
        let (verb, letter) = if interaction == Interaction::Create {
            ("create", "c")
        } else {
            ("update", "u")
        };
        return Err(forbidden(format!(
            "the access token grants no {verb} on ServiceRequest: it needs a ServiceRequest scope with the \
             {letter} (or v1 write) permission"
        )));
    }
    Ok(grant)
}

/// `POST /fhir/{type}`: creates a ServiceRequest (201 with `Location`, `ETag` and the stored resource);
/// 405 for the other served types.
pub async fn create(
    State(state): State<SandboxState>,
    Path(resource_type): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/{resource_type}");
    let grant = match write_grant(
        &state,
        &resource_type,
        &path,
        &method,
        &headers,
        Interaction::Create,
    )
    .await
    {
        Ok(g) => g,
        Err(response) => return response,
    };
    if headers.contains_key("if-none-exist") {
        return error(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "conditional create (If-None-Exist) is not supported on ServiceRequest",
        );
    }
    let order = match json_body(&headers, &body) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    if let Err(response) = check_write(&state, &grant, Interaction::Create, &order).await {
        return response;
    }
    // The store assigns a fresh id: a client's id is ignored (R4 create).
    let stored = match state.fhir.create(order).await {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let mut response = resource_response(StatusCode::CREATED, &stored);
    let location = format!("{}/{}", state.config.fhir_base(), stored.location());
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The version an `If-Match` header names (`W/"3"` or `"3"`); `Err` when it is not a version.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, Rejection> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = v.to_str().unwrap_or("").trim();
    let text = text.strip_prefix("W/").unwrap_or(text);
    text.trim_matches('"')
        .parse::<i64>()
        .map(Some)
        .map_err(|_| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                "value",
                format!("If-Match must be a version ETag such as W/\"1\", not '{text}'"),
            ))
        })
}

/// `PUT /fhir/{type}/{id}`: replaces an existing ServiceRequest (new version; 404 when missing: update does
/// not create); `If-Match` is honoured (412). 405 for the other served types.
pub async fn update(
    State(state): State<SandboxState>,
    Path((resource_type, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/{resource_type}/{{id}}");
    let grant = match write_grant(
        &state,
        &resource_type,
        &path,
        &method,
        &headers,
        Interaction::Update,
    )
    .await
    {
        Ok(g) => g,
        Err(response) => return response,
    };
    let expected = match if_match(&headers) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    let order = match json_body(&headers, &body) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    // R4 update: the body's id must be present and equal the URL's.
    if order.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("the body's id must be present and equal the id in the URL ({id})"),
        );
    }
    // An immediate transaction: the version checked is the version replaced.
    let mut tx = match state.db.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return internal(e),
    };
    let current: Option<(i64, String)> =
        match sqlx::query_as("SELECT version, body FROM resources WHERE type = ? AND id = ?")
            .bind(WRITABLE)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await
        {
            Ok(row) => row,
            Err(e) => return internal(e),
        };
    let Some((version, current_body)) = current else {
        return error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("ServiceRequest/{id} is not known to the sandbox EHR (update does not create)"),
        );
    };
    let current_body: Value = match serde_json::from_str(&current_body) {
        Ok(v) => v,
        Err(e) => return internal(e),
    };
    let access = grant.access_to(Interaction::Update, &current_body);
    if access == Access::Denied {
        return forbidden(format!(
            "the access token's ServiceRequest update scopes do not match ServiceRequest/{id} as stored"
        ));
    }
    if !in_reach(&access, WRITABLE, &current_body) {
        return outside_compartment(WRITABLE, &id, &access);
    }
    if let Some(expected) = expected {
        if expected != version {
            return error(
                StatusCode::PRECONDITION_FAILED,
                "conflict",
                format!(
                    "If-Match names version {expected}, but ServiceRequest/{id} is at version {version}: read it \
                     again"
                ),
            );
        }
    }
    if let Err(response) = check_write(&state, &grant, Interaction::Update, &order).await {
        return response;
    }
    let stored = match replace(&mut tx, WRITABLE, &id, order).await {
        Ok(Some(s)) => s,
        Ok(None) => return internal("the order vanished inside its transaction"),
        Err(FhirStoreError::Invalid(m)) => return error(StatusCode::BAD_REQUEST, "invalid", m),
        Err(e) => return internal(e),
    };
    if let Err(e) = tx.commit().await {
        return internal(e);
    }
    let mut response = resource_response(StatusCode::OK, &stored);
    let location = format!("{}/{}", state.config.fhir_base(), stored.location());
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::CONTENT_LOCATION, v);
    }
    response
}

/// The fallback of `/fhir/{type}/{id}` for methods other than GET and PUT.
pub async fn instance_not_allowed(
    Path((resource_type, _id)): Path<(String, String)>,
    method: Method,
) -> Response {
    if !SEARCHABLE_TYPES.contains(&resource_type.as_str()) {
        return unsupported_type(&resource_type);
    }
    let allow = if resource_type == WRITABLE {
        "GET, PUT"
    } else {
        "GET"
    };
    method_not_allowed(&method, &format!("/{resource_type}/{{id}}"), allow)
}

/// The fallback of `/fhir/{type}` for methods other than GET and POST.
pub async fn type_not_allowed(Path(resource_type): Path<String>, method: Method) -> Response {
    if !SEARCHABLE_TYPES.contains(&resource_type.as_str()) {
        return unsupported_type(&resource_type);
    }
    let allow = if resource_type == WRITABLE {
        "GET, POST"
    } else {
        "GET"
    };
    method_not_allowed(&method, &format!("/{resource_type}"), allow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_modified_is_an_http_date_in_gmt() {
        assert_eq!(
            http_date("2025-01-02T03:04:05.678Z").as_deref(),
            Some("Thu, 02 Jan 2025 03:04:05 GMT")
        );
        assert_eq!(http_date("yesterday"), None);
    }

    #[test]
    fn a_patient_access_reaches_its_own_compartment_and_every_practitioner() {
        let p1 = Access::Patient("p1".into());
        let obs = |s: &str| json!({"resourceType": "Observation", "subject": {"reference": s}});
        assert!(in_reach(&p1, "Observation", &obs("Patient/p1")));
        assert!(!in_reach(&p1, "Observation", &obs("Patient/p2")));
        assert!(in_reach(&p1, "Patient", &json!({"id": "p1"})));
        assert!(!in_reach(&p1, "Patient", &json!({"id": "p2"})));
        assert!(in_reach(&p1, "Practitioner", &json!({"id": "d1"})));
        assert!(!in_reach(&Access::Denied, "Practitioner", &json!({})));
    }

    #[test]
    fn a_non_cgm_order_needs_the_r4_required_elements_only() {
        let issues = order_issues(&json!({"resourceType": "ServiceRequest", "status": "active"}));
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert!(order_issues(
            &json!({"resourceType": "ServiceRequest", "status": "active",
            "intent": "plan", "subject": {"reference": "Patient/p"}})
        )
        .is_empty());
    }

    #[test]
    fn a_cgm_order_is_checked_against_its_ig_profile() {
        let order = json!({"resourceType": "ServiceRequest", "status": "active", "intent": "plan",
            "code": {"coding": [{"system": "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm",
                "code": "cgm-data-submission-standing-order"}]},
            "subject": {"reference": "Patient/p"}});
        let issues = order_issues(&order);
        assert!(
            issues.iter().any(|i| i.diagnostics.contains("intent")),
            "{issues:?}"
        );
    }
}
