//! The sandbox's FHIR R4 API at `/sandbox/fhir` (JSON only): `metadata`, read and search, ServiceRequest
//! create, and the CGM Data Receiver's `$submit-cgm-bundle` (RCV-1…14).

pub mod conditional;
pub mod faults;
pub mod http;
pub mod index;
pub mod limiter;
pub mod metadata;
pub mod receive;
pub mod rest;
pub mod search;
pub mod store;
pub mod submit;

use super::SandboxState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route("/fhir/metadata", get(metadata::metadata))
        .route(
            "/fhir/$submit-cgm-bundle",
            // The handler enforces the configured limit itself (413 as an OperationOutcome).
            post(submit::submit).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/fhir/{type}",
            get(search::search_get)
                .post(rest::create)
                .fallback(rest::type_not_allowed),
        )
        .route("/fhir/{type}/_search", post(search::search_post))
        .route(
            "/fhir/{type}/{id}",
            get(rest::read)
                .put(rest::update)
                .fallback(rest::instance_not_allowed),
        )
        .route("/fhir/{type}/{id}/_history/{vid}", get(rest::vread))
}
