//! What every request handler and server function shares: the stores, the secrets, the EHR registry, one
//! HTTP client for talking to EHRs, and the settings that shape access (code lifetime, demo mode).

use crate::clock::{Clock, SystemClock};
use crate::ehr_registry::EhrRegistry;
use crate::secrets::AppSecrets;
use crate::smart_client::discovery::{discover, SmartConfiguration};
use crate::smart_client::SmartError;
use crate::store::access::AccessStore;
use crate::store::jobs::JobStore;
use crate::store::Store;
use crate::submit::Submitter;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a discovered SMART configuration is reused: EHRs change endpoints rarely, and a launch should
/// not cost two extra round trips.
const DISCOVERY_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// How long a new sharing code stays valid (issue 4: default 24 hours).
    pub code_ttl: chrono::Duration,
    /// The demo patient list and demo reports (never in production).
    pub demo_mode: bool,
    /// CloudCGM's public origin: redirect URIs and the CSRF check use it.
    pub origin: String,
}

pub struct AppState {
    pub patients: Arc<dyn Store>,
    pub access: Arc<dyn AccessStore>,
    pub jobs: Arc<dyn JobStore>,
    pub secrets: Arc<AppSecrets>,
    pub ehrs: Arc<EhrRegistry>,
    pub http: reqwest::Client,
    pub settings: AccessSettings,
    /// Receivers and Backend Services tokens, shared by every submission.
    pub submitter: Submitter,
    /// Signalled when a job is enqueued, so an idle worker starts at once.
    pub job_added: tokio::sync::Notify,
    /// The time of jobs and order schedules (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    discovered: Mutex<HashMap<String, (SmartConfiguration, Instant)>>,
}

impl AppState {
    pub fn new(
        patients: Arc<dyn Store>,
        access: Arc<dyn AccessStore>,
        jobs: Arc<dyn JobStore>,
        secrets: Arc<AppSecrets>,
        ehrs: Arc<EhrRegistry>,
        settings: AccessSettings,
    ) -> anyhow::Result<AppState> {
        // EHR calls never follow redirects (a token must not travel to a host it was not issued for) and
        // never wait forever on a slow EHR.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("CloudCGM/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(AppState {
            patients,
            access,
            jobs,
            secrets,
            ehrs,
            http,
            settings,
            submitter: Submitter::default(),
            job_added: tokio::sync::Notify::new(),
            clock: Arc::new(SystemClock),
            discovered: Mutex::new(HashMap::new()),
        })
    }

    /// `{origin}/callback`: the one redirect URI CloudCGM registers with every EHR.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.settings.origin)
    }

    /// The EHR's SMART configuration, from a short-lived cache.
    pub async fn smart_configuration(&self, iss: &str) -> Result<SmartConfiguration, SmartError> {
        if let Ok(cache) = self.discovered.lock() {
            if let Some((config, at)) = cache.get(iss) {
                if at.elapsed() < DISCOVERY_TTL {
                    return Ok(config.clone());
                }
            }
        }
        let config = discover(&self.http, iss).await?;
        if let Ok(mut cache) = self.discovered.lock() {
            cache.insert(iss.to_string(), (config.clone(), Instant::now()));
        }
        Ok(config)
    }
}
