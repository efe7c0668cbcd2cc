//! The sandbox EHR (issue 3): a SMART authorization server, a FHIR R4 subset and the IG's CGM Data Receiver
//! (`$submit-cgm-bundle`, RCV-1…14, DUP-1…6, VAL-1…10), with a launcher, a patient chart and an orders page.
//!
//! It has its own router and its own SQLite database. It is mounted under `/sandbox` inside CloudCGM when
//! enabled, or runs alone (`cloudcgm sandbox`) on its own port with the same paths. CloudCGM talks to it only
//! over HTTP, exactly as to a real EHR; nothing here is called from CloudCGM's own code.

pub mod auth;
pub mod config;
pub mod db;
pub mod fhir;
pub mod seed;
pub mod ui;

use axum::extract::State;
use axum::handler::Handler;
use axum::http::{StatusCode, Uri};
use axum::response::{Redirect, Response};
use axum::routing::get;
use axum::Router;
use sqlx::SqlitePool;
use std::sync::Arc;
use tower_http::cors::{Any, CorsLayer};

pub use config::SandboxConfig;

/// Everything the sandbox's handlers share. Cheap to clone.
#[derive(Clone)]
pub struct SandboxState(Arc<Sandbox>);

pub struct Sandbox {
    pub config: SandboxConfig,
    pub db: SqlitePool,
    pub fhir: fhir::store::FhirStore,
    pub auth: auth::AuthServer,
    pub submit_limiter: fhir::limiter::SubmitLimiter,
    /// Faults tests queue for the next submissions (none otherwise).
    pub faults: fhir::faults::FaultPlan,
}

impl std::ops::Deref for SandboxState {
    type Target = Sandbox;
    fn deref(&self) -> &Sandbox {
        &self.0
    }
}

impl SandboxState {
    /// Opens the sandbox database (running its migrations), loads the registered clients and signing keys,
    /// and seeds the demo EHR data when configured.
    pub async fn open(config: SandboxConfig) -> anyhow::Result<SandboxState> {
        let db = db::connect(&config.database_url).await?;
        let fhir = fhir::store::FhirStore::new(db.clone());
        let auth = auth::AuthServer::new(&config, db.clone()).await?;
        let submit_limiter = fhir::limiter::SubmitLimiter::new(config.submit_min_interval);
        let state = SandboxState(Arc::new(Sandbox {
            config,
            db,
            fhir,
            auth,
            submit_limiter,
            faults: fhir::faults::FaultPlan::default(),
        }));
        if state.config.seed {
            seed::seed(&state.fhir).await?;
        }
        Ok(state)
    }
}

/// Where `/sandbox` and `/sandbox/` send a browser: the launcher.
pub const LAUNCHER_PATH: &str = "/sandbox/ehr";

/// The sandbox's routes, to be nested under `/sandbox` (all its URLs assume that prefix). Anything else under
/// the prefix is the sandbox's own 404 (an OperationOutcome under `/fhir`, a page elsewhere), never the host
/// application's fallback.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(fhir::router().layer(cors()))
        .merge(auth::api_router().layer(cors()))
        .merge(auth::pages_router())
        .merge(ui::router())
        // With CORS, so a browser app can read the OperationOutcome (and a preflight to a path that does not
        // exist fails visibly as a 404 rather than as a CORS error).
        .fallback(not_found.layer(cors()))
        .with_state(state)
}

/// The sandbox at `/sandbox`, with `/sandbox/` redirecting to the launcher: what CloudCGM's `serve` merges
/// into its router and what `cloudcgm sandbox` serves alone.
pub fn mount(state: SandboxState) -> Router {
    Router::new()
        .nest("/sandbox", router(state))
        .route("/sandbox/", get(|| async { Redirect::to(LAUNCHER_PATH) }))
}

/// CORS for what browser apps on other origins call with `fetch` (discovery, token, FHIR API): any origin,
/// no cookies (`Access-Control-Allow-Credentials` is never sent; the API takes bearer tokens only), the
/// request headers a FHIR client sends and the response headers it reads. SMART App Launch 2.x expects this
/// for public browser clients; the HTML pages get none of it.
pub fn cors() -> CorsLayer {
    use axum::http::{header, HeaderName, Method};
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("prefer"),
            HeaderName::from_static("if-none-exist"),
        ])
        .expose_headers([
            header::LOCATION,
            header::CONTENT_LOCATION,
            header::ETAG,
            header::LAST_MODIFIED,
            header::WWW_AUTHENTICATE,
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn not_found(State(state): State<SandboxState>, uri: Uri) -> Response {
    if uri.path().starts_with("/fhir/") || uri.path() == "/fhir" {
        fhir::http::error(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("the sandbox FHIR API has no {}", uri.path()),
        )
    } else {
        ui::html::message_page(
            &state.config.base(),
            StatusCode::NOT_FOUND,
            "Not found",
            "The sandbox EHR has no such page.",
        )
    }
}
