//! Discovery: `/fhir/.well-known/smart-configuration` (SMART App Launch 2.x "Conformance"), the JWKS
//! (`/auth/jwks`) and the `smart_style_url` document.

use super::super::SandboxState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The scopes the server understands (the IG's, DIGEST §10, in all three contexts, plus the wildcards).
pub fn scopes_supported() -> Vec<String> {
    let mut out: Vec<String> = [
        "openid",
        "fhirUser",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for ctx in ["patient", "user", "system"] {
        for s in [
            "Patient.r",
            "Patient.rs",
            "ServiceRequest.rs?code=http://hl7.org/fhir/uv/cgm/CodeSystem/cgm|cgm-data-submission-standing-order",
            "ServiceRequest.rs",
            "Observation.cu?category=laboratory",
            "Observation.cu",
            "DiagnosticReport.cu?category=LAB",
            "DiagnosticReport.cu",
            "Device.cu",
            "*.rs",
            "*.read",
        ] {
            out.push(format!("{ctx}/{s}"));
        }
    }
    out
}

pub async fn smart_configuration(State(state): State<SandboxState>) -> Response {
    let base = state.config.base();
    let body = json!({
        "issuer": state.config.fhir_base(),
        "jwks_uri": format!("{base}/auth/jwks"),
        "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": scopes_supported(),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": [
            "launch-ehr", "launch-standalone",
            "client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
            "context-ehr-patient", "context-standalone-patient", "context-banner", "context-style",
            "sso-openid-connect", "permission-offline", "permission-online", "permission-patient", "permission-user",
            "permission-v1", "permission-v2", "authorize-post"
        ],
    });
    ([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response()
}

pub async fn jwks(State(state): State<SandboxState>) -> Response {
    match state.auth.signing_keys().jwks().await {
        Ok(keys) => (
            [(header::CONTENT_TYPE, "application/jwk-set+json")],
            keys.to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "the sandbox signing key is unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The styling hints an app may use to blend into the sandbox EHR (`smart_style_url`).
pub async fn smart_style() -> Response {
    Json(json!({
        "color_background": "#f6f8fa",
        "color_error": "#b42318",
        "color_highlight": "#0b6bcb",
        "color_modal_backdrop": "",
        "color_success": "#067647",
        "color_text": "#1f2328",
        "dim_border_radius": "6px",
        "dim_font_size": "14px",
        "dim_spacing_size": "16px",
        "font_family_body": "system-ui, sans-serif",
        "font_family_heading": "system-ui, sans-serif"
    }))
    .into_response()
}
