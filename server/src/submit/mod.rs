//! CloudCGM as the IG's CGM Data Submitter (SUB-1, SUB-6, NOTES A2, A4, E2): finding the EHR's receiver,
//! getting a token for unattended work (Backend Services where the EHR offers them, else the refresh token
//! of a launch for that EHR patient, else "needs a new launch"), and POSTing one bundle to
//! `[base]/$submit-cgm-bundle` as a bare Bundle (NOTES A1). The jobs (`crate::jobs`) decide what to send and
//! record what came back.

pub mod receiver;
pub mod response;

use crate::launch::tokens::{access_token, TokenProblem};
use crate::smart_client::discovery::backend_scope;
use crate::smart_client::token::client_credentials;
use crate::smart_client::Secret;
use crate::state::AppState;
use crate::store::access::{LaunchId, LinkRow};
use chrono::Utc;
use receiver::ReceiverCache;
use response::{read_answer, ChunkAnswer};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Renew a Backend Services token this long before it expires.
const BACKEND_TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// What a submission needs from the EHR connection.
pub struct EhrAccess {
    /// The registered EHR.
    pub ehr_id: String,
    /// The EHR's FHIR base (its `iss`).
    pub base: String,
    pub token: Secret,
    /// "backend services" or "launch {id}", for logs and the history.
    pub via: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessProblem {
    /// No Backend Services and no usable launch: admins see it; the job waits (issue 5, item 6).
    #[error("the connection to the EHR needs a new launch: {0}")]
    NeedsRelaunch(String),
    /// The EHR is not registered or cannot be used at all.
    #[error("{0}")]
    NotConfigured(String),
    /// The EHR did not answer: try later.
    #[error("the EHR could not be reached: {0}")]
    Unavailable(String),
}

/// How long one POST may take before it counts as unanswered: a 90-day chunk is parsed, validated and stored
/// by the receiver, which can take a while on a busy EHR.
pub const DEFAULT_POST_TIMEOUT: Duration = Duration::from_secs(120);

/// Caches shared by every submission: receivers and Backend Services tokens per EHR.
pub struct Submitter {
    pub receivers: ReceiverCache,
    backend_tokens: Mutex<HashMap<String, (Secret, Instant)>>,
    post_timeout: Mutex<Duration>,
}

impl Default for Submitter {
    fn default() -> Submitter {
        Submitter {
            receivers: ReceiverCache::default(),
            backend_tokens: Mutex::new(HashMap::new()),
            post_timeout: Mutex::new(DEFAULT_POST_TIMEOUT),
        }
    }
}

impl Submitter {
    pub fn post_timeout(&self) -> Duration {
        self.post_timeout
            .lock()
            .map(|t| *t)
            .unwrap_or(DEFAULT_POST_TIMEOUT)
    }

    /// Changes the POST deadline (fault tests make a stalled receiver time out in seconds).
    pub fn set_post_timeout(&self, timeout: Duration) {
        if let Ok(mut t) = self.post_timeout.lock() {
            *t = timeout;
        }
    }

    /// A token that may write the link's patient's data: Backend Services first (NOTES E2), then the
    /// launch the request came from, then any live launch for that EHR patient.
    pub async fn access(
        &self,
        state: &AppState,
        link: &LinkRow,
        launch_hint: Option<LaunchId>,
    ) -> Result<EhrAccess, AccessProblem> {
        let ehr = state.ehrs.by_id(&link.ehr_id).ok_or_else(|| {
            AccessProblem::NotConfigured(format!("EHR {} is no longer registered", link.ehr_id))
        })?;
        let base = ehr.iss.clone();
        if let Some(token) = self.backend_token(state, &link.ehr_id, &base).await? {
            return Ok(EhrAccess {
                ehr_id: link.ehr_id.clone(),
                base,
                token,
                via: "backend services".into(),
            });
        }
        let mut launches = state
            .access
            .active_launches_for_ehr_patient(&link.ehr_id, &link.ehr_patient_id)
            .await
            .map_err(|e| AccessProblem::Unavailable(e.to_string()))?;
        if let Some(hint) = launch_hint {
            // The requesting clinician's own launch first: it is the freshest and theirs.
            launches.sort_by_key(|l| l.id != hint);
        }
        for launch in launches {
            match access_token(state, &launch).await {
                Ok(token) => {
                    return Ok(EhrAccess {
                        ehr_id: link.ehr_id.clone(),
                        base,
                        token,
                        via: format!("launch {}", launch.id.0),
                    })
                }
                Err(TokenProblem::NeedsRelaunch) => continue,
                Err(TokenProblem::Unreadable(e)) => {
                    tracing::warn!(launch = launch.id.0, error = %e, "a stored token cannot be opened");
                    continue;
                }
            }
        }
        Err(AccessProblem::NeedsRelaunch(format!(
            "no Backend Services at {} and no launch with a usable token for EHR patient {}: a clinician must \
             open CloudCGM for this patient from the EHR",
            link.ehr_id, link.ehr_patient_id
        )))
    }

    /// A cached or new Backend Services token, or `None` when the EHR offers none (or refuses us one).
    async fn backend_token(
        &self,
        state: &AppState,
        ehr_id: &str,
        base: &str,
    ) -> Result<Option<Secret>, AccessProblem> {
        if let Ok(tokens) = self.backend_tokens.lock() {
            if let Some((token, until)) = tokens.get(ehr_id) {
                if Instant::now() < *until {
                    return Ok(Some(token.clone()));
                }
            }
        }
        let Some(ehr) = state.ehrs.by_id(ehr_id) else {
            return Ok(None);
        };
        if !matches!(ehr.auth, crate::ehr_registry::EhrAuth::PrivateKeyJwt) {
            return Ok(None);
        }
        let config = state
            .smart_configuration(base)
            .await
            .map_err(|e| AccessProblem::Unavailable(e.to_string()))?;
        if !config.supports_backend_services() {
            return Ok(None);
        }
        let client = ehr
            .credentials(&state.secrets)
            .map_err(|e| AccessProblem::NotConfigured(e.to_string()))?;
        match client_credentials(
            &state.http,
            &config,
            &client,
            &backend_scope(config.scope_syntax()),
        )
        .await
        {
            Ok(token) => {
                let lifetime = token
                    .expires_at()
                    .map(|at| (at - Utc::now().timestamp()).max(0) as u64)
                    .map(Duration::from_secs)
                    .unwrap_or(Duration::from_secs(300));
                let until = Instant::now() + lifetime.saturating_sub(BACKEND_TOKEN_MARGIN);
                if let Ok(mut tokens) = self.backend_tokens.lock() {
                    tokens.insert(ehr_id.to_string(), (token.access_token.clone(), until));
                }
                Ok(Some(token.access_token))
            }
            Err(e) => {
                // A refusal (not registered for client_credentials, scope denied) leaves the launch tokens.
                tracing::warn!(ehr = ehr_id, error = %e, "Backend Services token refused; using launch tokens");
                Ok(None)
            }
        }
    }

    /// Forgets a Backend Services token the receiver refused (401), so the next call gets a new one.
    pub fn forget_backend_token(&self, ehr_id: &str) {
        if let Ok(mut tokens) = self.backend_tokens.lock() {
            tokens.remove(ehr_id);
        }
    }
}

/// POSTs one bundle (already serialised) to the receiver and reads the answer.
pub async fn post_bundle(
    http: &reqwest::Client,
    submit_url: &str,
    token: &Secret,
    body: Vec<u8>,
    entries: usize,
    timeout: Duration,
) -> ChunkAnswer {
    let sent = http
        .post(submit_url)
        .bearer_auth(token.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
        .header(reqwest::header::ACCEPT, "application/fhir+json")
        .timeout(timeout)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        // without_url: the error text goes to logs and the history; the URL is harmless but noisy.
        Err(e) => return ChunkAnswer::no_answer(e.without_url().to_string()),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    match response.bytes().await {
        Ok(body) => read_answer(status, retry_after.as_deref(), &body, entries, Utc::now()),
        // The status came but the body was cut off: the entries' fate is unknown, so send again.
        Err(e) => ChunkAnswer::no_answer(format!(
            "HTTP {status}, then the answer broke off: {}",
            e.without_url()
        )),
    }
}
