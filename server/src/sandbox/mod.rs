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

use axum::Router;
use sqlx::SqlitePool;
use std::sync::Arc;

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
        }));
        if state.config.seed {
            seed::seed(&state.fhir).await?;
        }
        Ok(state)
    }
}

/// The sandbox's routes, to be nested under `/sandbox` (all its URLs assume that prefix).
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .merge(fhir::router())
        .merge(auth::router())
        .merge(ui::router())
        .with_state(state)
}
