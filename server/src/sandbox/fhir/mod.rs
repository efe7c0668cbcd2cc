//! The sandbox's FHIR R4 API at `/sandbox/fhir` (JSON only): `metadata`, read and search, ServiceRequest
//! create, and the CGM Data Receiver's `$submit-cgm-bundle` (RCV-1…14).

pub mod conditional;
pub mod http;
pub mod index;
pub mod limiter;
pub mod receive;
pub mod store;
pub mod submit;

use super::SandboxState;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;

pub fn router() -> Router<SandboxState> {
    Router::new().route(
        "/fhir/$submit-cgm-bundle",
        // The handler enforces the configured limit itself (413 as an OperationOutcome).
        post(submit::submit).layer(DefaultBodyLimit::disable()),
    )
}
