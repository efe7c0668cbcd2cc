//! Sessions (tower-sessions on the project database). The cookie carries only an opaque session id; the
//! session record holds only ids (which launches this browser completed, which portal patient signed in),
//! never a token. Cookies are `HttpOnly; Secure; SameSite=None; Partitioned`: inside a cross-site EHR
//! iframe only such a cookie survives from `/launch` to `/callback` (SMART.md "Inside the EHR iframe").

use axum::extract::Request;
use axum::http::header::SET_COOKIE;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::time::Duration;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore as SqliteSessionStore;

pub const SESSION_COOKIE: &str = "cloudcgm_session";

/// Idle time after which a session ends: a clinic day, not a week.
pub const SESSION_IDLE_HOURS: i64 = 8;

/// How many launches one browser session keeps apart (several EHR tabs or frames at once).
const MAX_LAUNCHES_PER_SESSION: usize = 8;

const CLINICIAN_KEY: &str = "clinician";
const PATIENT_KEY: &str = "patient";
const STATES_KEY: &str = "launch_states";

/// The session layer on the given pool, with its table created and expired sessions swept hourly.
pub async fn layer(
    pool: sqlx::SqlitePool,
) -> anyhow::Result<SessionManagerLayer<SqliteSessionStore>> {
    let store = SqliteSessionStore::new(pool)
        .with_table_name("sessions")
        .map_err(|e| anyhow::anyhow!(e))?;
    store.migrate().await?;
    let sweeper = store.clone();
    tokio::spawn(async move {
        use tower_sessions::ExpiredDeletion as _;
        if let Err(e) = sweeper
            .continuously_delete_expired(tokio::time::Duration::from_secs(3600))
            .await
        {
            tracing::warn!(error = %e, "session sweeper stopped");
        }
    });
    Ok(SessionManagerLayer::new(store)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_secure(true)
        .with_same_site(SameSite::None)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(Duration::hours(SESSION_IDLE_HOURS))))
}

/// Adds `Partitioned` to the session cookie (tower-sessions 0.14 cannot set it; CHIPS needs it for the
/// cookie to exist at all in a third-party iframe).
pub async fn partition_cookie(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let prefix = format!("{SESSION_COOKIE}=");
    let cookies: Vec<HeaderValue> = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies
        .iter()
        .any(|c| c.as_bytes().starts_with(prefix.as_bytes()))
    {
        response.headers_mut().remove(SET_COOKIE);
        for cookie in cookies {
            let text = cookie.to_str().unwrap_or_default();
            let value = if text.starts_with(&prefix) && !text.contains("Partitioned") {
                HeaderValue::from_str(&format!("{text}; Partitioned")).unwrap_or(cookie)
            } else {
                cookie
            };
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// One completed launch as the session knows it: a random handle the pages carry in their path, and the
/// launch row. The handle alone is useless (it must match this session), but it keeps two EHR frames in
/// one browser (same cookie partition) bound to their own patients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LaunchEntry {
    pub handle: String,
    pub launch: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ClinicianLaunches {
    entries: Vec<LaunchEntry>,
}

#[derive(Debug, thiserror::Error)]
#[error("session storage failed: {0}")]
pub struct SessionError(String);

fn err(e: impl std::fmt::Display) -> SessionError {
    SessionError(e.to_string())
}

// Values go into the session as JSON text: the store encodes records with MessagePack, which cannot
// round-trip serde_json's arbitrary-precision numbers (a workspace feature the FHIR code needs).
async fn put<T: Serialize>(session: &Session, key: &str, value: &T) -> Result<(), SessionError> {
    let text = serde_json::to_string(value).map_err(err)?;
    session.insert(key, text).await.map_err(err)
}

async fn read<T: serde::de::DeserializeOwned>(
    session: &Session,
    key: &str,
) -> Result<Option<T>, SessionError> {
    match session.get::<String>(key).await.map_err(err)? {
        Some(text) => serde_json::from_str(&text).map(Some).map_err(err),
        None => Ok(None),
    }
}

/// Records a completed launch under a fresh handle. The session id changes first (no fixation).
pub async fn add_launch(session: &Session, launch: i64) -> Result<String, SessionError> {
    session.cycle_id().await.map_err(err)?;
    let mut launches: ClinicianLaunches = read(session, CLINICIAN_KEY).await?.unwrap_or_default();
    let handle = crate::smart_client::random_b64url();
    launches.entries.push(LaunchEntry {
        handle: handle.clone(),
        launch,
    });
    let excess = launches
        .entries
        .len()
        .saturating_sub(MAX_LAUNCHES_PER_SESSION);
    launches.entries.drain(..excess);
    put(session, CLINICIAN_KEY, &launches).await?;
    Ok(handle)
}

/// Remembers a launch's state (its hash) until its callback; a few at once, for several frames.
pub async fn remember_state(session: &Session, state_hash: &str) -> Result<(), SessionError> {
    let mut states: Vec<String> = read(session, STATES_KEY).await?.unwrap_or_default();
    states.push(state_hash.to_string());
    let excess = states.len().saturating_sub(MAX_LAUNCHES_PER_SESSION);
    states.drain(..excess);
    put(session, STATES_KEY, &states).await
}

/// Forgets a launch's state; true when this session had started that launch.
pub async fn forget_state(session: &Session, state_hash: &str) -> Result<bool, SessionError> {
    let mut states: Vec<String> = read(session, STATES_KEY).await?.unwrap_or_default();
    let before = states.len();
    states.retain(|s| s != state_hash);
    if states.len() == before {
        return Ok(false);
    }
    put(session, STATES_KEY, &states).await?;
    Ok(true)
}

/// The launch row behind `handle` in this session.
pub async fn launch_for(session: &Session, handle: &str) -> Result<Option<i64>, SessionError> {
    let launches: ClinicianLaunches = read(session, CLINICIAN_KEY).await?.unwrap_or_default();
    Ok(launches
        .entries
        .iter()
        .find(|e| e.handle == handle)
        .map(|e| e.launch))
}

/// A pending link proposal of one launch (between "check the code" and "confirm").
pub async fn set_value<T: Serialize + Send + Sync>(
    session: &Session,
    key: &str,
    value: Option<&T>,
) -> Result<(), SessionError> {
    match value {
        Some(v) => put(session, key, v).await,
        None => session.remove_value(key).await.map(|_| ()).map_err(err),
    }
}

pub async fn get_value<T: serde::de::DeserializeOwned>(
    session: &Session,
    key: &str,
) -> Result<Option<T>, SessionError> {
    read(session, key).await
}

/// Signs a portal patient in (new session id first).
pub async fn sign_in_patient(session: &Session, patient: i64) -> Result<(), SessionError> {
    session.cycle_id().await.map_err(err)?;
    put(session, PATIENT_KEY, &patient).await
}

pub async fn signed_in_patient(session: &Session) -> Result<Option<i64>, SessionError> {
    read(session, PATIENT_KEY).await
}

pub async fn sign_out_patient(session: &Session) -> Result<(), SessionError> {
    session.remove_value(PATIENT_KEY).await.map_err(err)?;
    session.cycle_id().await.map_err(err)
}
