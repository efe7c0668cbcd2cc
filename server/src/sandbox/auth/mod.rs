//! The sandbox's SMART authorization server (SMART App Launch 2.x, SMART.md "The sandbox EHR's SMART
//! server"): discovery, authorize (EHR and standalone launch), token (authorization code with PKCE S256,
//! refresh with rotation, client_credentials for Backend Services), JWKS, signed id_tokens, and the
//! bearer-token check the FHIR API calls.
//!
//! (Skeleton: filled in by the authorization-server work of issue 3.)

pub mod grant;

use super::{SandboxConfig, SandboxState};
use axum::http::HeaderMap;
use axum::Router;
use sqlx::SqlitePool;

pub use grant::{Access, Grant, Interaction};

/// Registered clients, signing keys and the token tables.
pub struct AuthServer {
    _db: SqlitePool,
}

/// A registered SMART client, as the launcher needs it.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    /// Shown in the launcher.
    pub name: String,
    /// The app's launch URL (EHR launch: `{launch_url}?iss={fhir_base}&launch={id}`); `None` for
    /// backend-only clients.
    pub launch_url: Option<String>,
}

/// What the EHR knows when a user opens an app from a patient's chart.
#[derive(Debug, Clone)]
pub struct LaunchContext {
    /// `Practitioner/{id}` of the signed-in user.
    pub fhir_user: String,
    /// Logical id of the patient whose chart is open.
    pub patient: String,
    pub encounter: Option<String>,
    /// True when the EHR frames the app without its own patient banner.
    pub need_patient_banner: bool,
}

impl AuthServer {
    pub async fn new(_config: &SandboxConfig, db: SqlitePool) -> anyhow::Result<AuthServer> {
        Ok(AuthServer { _db: db })
    }

    /// Registered clients that can be launched from the EHR.
    pub fn launchable_clients(&self) -> Vec<RegisteredClient> {
        Vec::new()
    }

    /// Records an EHR launch for `client_id` and returns its opaque, single-use, expiring `launch` id.
    pub async fn create_launch(
        &self,
        _client_id: &str,
        _context: LaunchContext,
    ) -> anyhow::Result<String> {
        anyhow::bail!("not implemented yet")
    }
}

/// Why a request carries no usable token (the FHIR API answers 401 with `WWW-Authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Unknown, malformed, revoked or expired token.
    Invalid,
}

/// Checks the bearer token of a FHIR request and returns what it grants.
pub async fn authenticate(
    _state: &SandboxState,
    _headers: &HeaderMap,
) -> Result<Grant, AuthFailure> {
    Err(AuthFailure::Missing)
}

/// `/fhir/.well-known/smart-configuration`, `/auth/authorize`, `/auth/token`, `/auth/jwks` and the
/// authorization pages (relative to `/sandbox`).
pub fn router() -> Router<SandboxState> {
    Router::new()
}
