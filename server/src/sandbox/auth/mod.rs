//! The sandbox's SMART authorization server (SMART App Launch 2.x, SMART.md "The sandbox EHR's SMART
//! server"): discovery, authorize (EHR and standalone launch), token (authorization code with PKCE S256,
//! refresh with rotation, client_credentials for Backend Services), JWKS, signed id_tokens, and the
//! bearer-token check the FHIR API calls. What it enforces is listed in `docs/sandbox-smart.md`.
//!
//! Launch ids, codes and tokens are opaque 256-bit random strings stored only as SHA-256 digests; they are
//! never logged.

pub mod authorize;
pub mod clients;
pub mod discovery;
pub mod grant;
pub mod keys;
pub mod token;
pub mod util;

use super::{SandboxConfig, SandboxState};
use axum::http::{header, HeaderMap};
use axum::routing::{get, post};
use axum::Router;
use cloudcgm::smart_scope::ScopeSet;
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use util::{now, random_token, sha256_hex};

pub use clients::{AuthMethod, Client, ClientRegistration};
pub use grant::{Access, Grant, Interaction};

/// An EHR launch id lives this long (and is single use).
pub const LAUNCH_TTL_SECS: i64 = 300;
/// An authorization code lives this long (and is single use).
pub const CODE_TTL_SECS: i64 = 60;
/// A standalone authorization waits this long for the sign-in page.
pub const PENDING_TTL_SECS: i64 = 600;
pub const ACCESS_TOKEN_TTL_SECS: i64 = 3600;
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// A `private_key_jwt` assertion may expire at most this far ahead.
pub const ASSERTION_MAX_LIFETIME_SECS: i64 = 300;
/// Failed client authentications per client id allowed in [`FAILURE_WINDOW`] before answering 429.
pub const MAX_AUTH_FAILURES: usize = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// Registered clients, signing keys and the token tables.
pub struct AuthServer {
    db: SqlitePool,
    fhir_base: String,
    base: String,
    app_origin: String,
    clients: RwLock<HashMap<String, Arc<Client>>>,
    keys: keys::SigningKeys,
    jwks_cache: Mutex<HashMap<String, (Instant, jsonwebtoken::jwk::JwkSet)>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
    http: reqwest::Client,
    /// Off: `client_credentials` is refused, as by an EHR without Backend Services (tests of a submitter's
    /// fallback to launch tokens).
    backend_services: std::sync::atomic::AtomicBool,
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

/// The context a code or token carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenContext {
    pub client_id: String,
    pub scope: ScopeSet,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub fhir_user: Option<String>,
    pub need_patient_banner: bool,
}

impl AuthServer {
    /// Loads the client registry (`config.clients_file`, else the demo registry).
    pub async fn new(config: &SandboxConfig, db: SqlitePool) -> anyhow::Result<AuthServer> {
        let clients = clients::load(config)?;
        Ok(AuthServer::with_clients(config, db, clients))
    }

    /// An authorization server with exactly these clients (tests, embedding).
    pub fn with_clients(
        config: &SandboxConfig,
        db: SqlitePool,
        clients: Vec<Client>,
    ) -> AuthServer {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        AuthServer {
            keys: keys::SigningKeys::new(db.clone()),
            db,
            fhir_base: config.fhir_base(),
            base: config.base(),
            app_origin: config.app_origin.clone(),
            clients: RwLock::new(
                clients
                    .into_iter()
                    .map(|c| (c.client_id.clone(), Arc::new(c)))
                    .collect(),
            ),
            jwks_cache: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            http,
            backend_services: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Turns Backend Services (`client_credentials`) on or off while running.
    pub fn set_backend_services(&self, on: bool) {
        self.backend_services
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn backend_services(&self) -> bool {
        self.backend_services
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds or replaces a client (`{app}` in its URLs becomes the app origin).
    pub fn register(&self, registration: ClientRegistration) -> anyhow::Result<()> {
        let client = Client::from_registration(registration, &self.app_origin)?;
        if let Ok(mut map) = self.clients.write() {
            map.insert(client.client_id.clone(), Arc::new(client));
        }
        if let Ok(mut cache) = self.jwks_cache.lock() {
            cache.clear();
        }
        Ok(())
    }

    pub fn client(&self, client_id: &str) -> Option<Arc<Client>> {
        self.clients.read().ok()?.get(client_id).cloned()
    }

    /// The sandbox's id_token signing keys (e.g. to install a key before first use).
    pub fn signing_keys(&self) -> &keys::SigningKeys {
        &self.keys
    }

    pub fn fhir_base(&self) -> &str {
        &self.fhir_base
    }

    pub fn token_endpoint(&self) -> String {
        format!("{}/auth/token", self.base)
    }

    pub fn authorize_endpoint(&self) -> String {
        format!("{}/auth/authorize", self.base)
    }

    /// Registered clients that can be launched from the EHR.
    pub fn launchable_clients(&self) -> Vec<RegisteredClient> {
        let Ok(map) = self.clients.read() else {
            return Vec::new();
        };
        let mut out: Vec<RegisteredClient> = map
            .values()
            .filter(|c| c.launch_url.is_some() && c.has_grant_type("authorization_code"))
            .map(|c| RegisteredClient {
                client_id: c.client_id.clone(),
                name: c.name.clone(),
                launch_url: c.launch_url.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        out
    }

    /// Records an EHR launch for `client_id` and returns its opaque, single-use, expiring `launch` id.
    pub async fn create_launch(
        &self,
        client_id: &str,
        context: LaunchContext,
    ) -> anyhow::Result<String> {
        anyhow::ensure!(
            self.client(client_id).is_some(),
            "unknown client {client_id}"
        );
        let id = random_token();
        sqlx::query(
            "INSERT INTO auth_launches (id_hash, client_id, fhir_user, patient, encounter, need_patient_banner, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sha256_hex(&id))
        .bind(client_id)
        .bind(&context.fhir_user)
        .bind(&context.patient)
        .bind(&context.encounter)
        .bind(context.need_patient_banner)
        .bind(now() + LAUNCH_TTL_SECS)
        .execute(&self.db)
        .await?;
        Ok(id)
    }

    /// True when `client_id` was ever authorized (EHR or standalone launch) for `patient_id`: the linkage
    /// check for system-level tokens (NOTES B4).
    pub async fn client_may_act_for(&self, client_id: &str, patient_id: &str) -> bool {
        sqlx::query_scalar::<_, i64>(
            "SELECT 1 FROM auth_client_patients WHERE client_id = ? AND patient_id = ?",
        )
        .bind(client_id)
        .bind(patient_id)
        .fetch_optional(&self.db)
        .await
        .ok()
        .flatten()
        .is_some()
    }

    pub(crate) async fn link_client_patient(&self, client_id: &str, patient_id: &str) {
        let r = sqlx::query(
            "INSERT OR IGNORE INTO auth_client_patients (client_id, patient_id, first_at) VALUES (?, ?, ?)",
        )
        .bind(client_id)
        .bind(patient_id)
        .bind(now())
        .execute(&self.db)
        .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "recording a client-patient link failed");
        }
    }

    /// Counts a failed client authentication; true when the client is over its limit.
    pub(crate) fn note_auth_failure(&self, client_id: &str) {
        if let Ok(mut f) = self.failures.lock() {
            let list = f.entry(client_id.to_string()).or_default();
            list.retain(|t| t.elapsed() < FAILURE_WINDOW);
            list.push(Instant::now());
        }
    }

    /// True when `client_id` had too many failed authentications recently.
    pub(crate) fn auth_rate_limited(&self, client_id: &str) -> bool {
        self.failures.lock().is_ok_and(|mut f| {
            f.get_mut(client_id).is_some_and(|list| {
                list.retain(|t| t.elapsed() < FAILURE_WINDOW);
                list.len() >= MAX_AUTH_FAILURES
            })
        })
    }

    /// Looks up a live access token.
    pub async fn grant_for_token(&self, token: &str) -> Option<Grant> {
        let row: Option<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT client_id, scope, patient, fhir_user FROM auth_tokens
             WHERE token_hash = ? AND kind = 'access' AND revoked = 0 AND expires_at > ?",
        )
        .bind(sha256_hex(token))
        .bind(now())
        .fetch_optional(&self.db)
        .await
        .ok()
        .flatten();
        let (client_id, scope, patient, fhir_user) = row?;
        Some(Grant {
            client_id,
            scopes: ScopeSet::parse(&scope),
            patient,
            fhir_user,
        })
    }

    pub(crate) fn db(&self) -> &SqlitePool {
        &self.db
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
pub async fn authenticate(state: &SandboxState, headers: &HeaderMap) -> Result<Grant, AuthFailure> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthFailure::Missing)?
        .to_str()
        .map_err(|_| AuthFailure::Invalid)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthFailure::Invalid);
    }
    state
        .auth
        .grant_for_token(token)
        .await
        .ok_or(AuthFailure::Invalid)
}

/// `/fhir/.well-known/smart-configuration`, `/auth/authorize`, `/auth/token`, `/auth/jwks` and the
/// authorization pages (relative to `/sandbox`).
pub fn router() -> Router<SandboxState> {
    pages_router().merge(api_router())
}

/// What a browser navigates to: the authorization endpoint and the standalone sign-in form.
pub fn pages_router() -> Router<SandboxState> {
    Router::new()
        .route(
            "/auth/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route("/auth/signin", post(authorize::sign_in))
}

/// What an app calls with `fetch`, possibly from another origin (a browser-only public client such as
/// fhirclient): discovery, the token endpoint, the JWKS and the style document. The sandbox puts CORS on
/// these ([`crate::sandbox::cors`]), never on the pages.
pub fn api_router() -> Router<SandboxState> {
    Router::new()
        .route(
            "/fhir/.well-known/smart-configuration",
            get(discovery::smart_configuration),
        )
        .route("/auth/token", post(token::token))
        .route("/auth/jwks", get(discovery::jwks))
        .route("/auth/smart-style.json", get(discovery::smart_style))
}
