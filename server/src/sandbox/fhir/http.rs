//! How the sandbox's FHIR API answers over HTTP: `application/fhir+json` bodies, OperationOutcome errors with
//! the right status, and the bearer-token check every FHIR interaction starts with (401 with
//! `WWW-Authenticate` per RFC 6750; deny by default, AUTH-1).

use crate::sandbox::auth::{authenticate, grant::Grant, AuthFailure};
use crate::sandbox::SandboxState;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cloudcgm::fhir::outcome::{operation_outcome, Issue};
use serde_json::Value;

/// The FHIR JSON media type (R4 §3.1.0.1.3).
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// A FHIR JSON body with `status`.
pub fn fhir_json(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        bytes,
    )
        .into_response()
}

/// An OperationOutcome answer with `status`.
pub fn outcome(status: StatusCode, issues: &[Issue]) -> Response {
    fhir_json(status, &operation_outcome(issues))
}

/// A one-issue error answer: `code` is the FHIR IssueType (`invalid`, `not-found`, `forbidden`, …).
pub fn error(status: StatusCode, code: &'static str, diagnostics: impl Into<String>) -> Response {
    outcome(status, &[Issue::error(code, diagnostics)])
}

/// 403 with an OperationOutcome naming what the token does not allow.
pub fn forbidden(diagnostics: impl Into<String>) -> Response {
    error(StatusCode::FORBIDDEN, "forbidden", diagnostics)
}

/// 500 for a storage failure; the detail goes to the log, never to the client.
pub fn internal(err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "sandbox FHIR request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "exception",
        "the sandbox EHR could not complete the request; see its log",
    )
}

/// The token's grant, or the 401 to answer: `WWW-Authenticate: Bearer` (with `error="invalid_token"` when a
/// token was sent but is unknown, revoked or expired).
pub async fn require_grant(state: &SandboxState, headers: &HeaderMap) -> Result<Grant, Response> {
    match authenticate(state, headers).await {
        Ok(grant) => Ok(grant),
        Err(failure) => {
            let (challenge, message) = match failure {
                AuthFailure::Missing => (
                    "Bearer realm=\"sandbox-fhir\"".to_string(),
                    "this FHIR API needs an access token: send Authorization: Bearer <token>",
                ),
                AuthFailure::Invalid => (
                    "Bearer realm=\"sandbox-fhir\", error=\"invalid_token\"".to_string(),
                    "the access token is unknown, revoked or expired: obtain a new one",
                ),
            };
            let mut response = error(StatusCode::UNAUTHORIZED, "login", message);
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            Err(response)
        }
    }
}
