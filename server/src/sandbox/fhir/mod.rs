//! The sandbox's FHIR R4 API at `/sandbox/fhir` (JSON only): `metadata`, read and search, ServiceRequest
//! create, and the CGM Data Receiver's `$submit-cgm-bundle` (RCV-1…14).

pub mod http;
pub mod index;
pub mod limiter;
pub mod store;

use super::SandboxState;
use axum::Router;

pub fn router() -> Router<SandboxState> {
    Router::new()
}
