//! The server-side record of a launch between `/launch` and `/callback` (SMART.md: "state must match a pending
//! launch stored server-side (single use, short expiry)"; "key pending launches by OAuth `state`, never by one
//! global slot", because two app instances may run at once in one browser).
//!
//! [`PendingStore`] is a trait so the in-memory [`MemoryPendingStore`] (one node, lost on restart) can later
//! be replaced by a database table without touching the flow. Records are keyed by the SHA-256 of `state`,
//! as a table would store them: a leaked store dump then gives no usable `state`.

use super::{now, Secret};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a user has between `/launch` and `/callback`. The EHR's own launch id lives about as long
/// (the sandbox: 5 minutes), so a longer wait would fail there anyway.
pub const DEFAULT_PENDING_TTL_SECS: i64 = 600;

/// One launch waiting for its callback.
#[derive(Debug, Clone)]
pub struct PendingLaunch {
    /// The OAuth `state` sent to the authorize endpoint; also the store key.
    pub state: Secret,
    /// The EHR's FHIR base exactly as given at `/launch` (`aud`, and which registered EHR this is).
    pub iss: String,
    /// The EHR's opaque launch id (absent for a standalone launch).
    pub launch: Option<String>,
    pub code_verifier: Secret,
    pub redirect_uri: String,
    /// The scope string sent; the token response says what was actually granted.
    pub requested_scope: String,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PendingError {
    /// Never issued, already used (replay), or purged.
    #[error("no pending launch for this state (unknown or already used)")]
    Unknown,
    #[error("the pending launch expired; launch the app again from the EHR")]
    Expired,
    #[error("a pending launch with this state already exists")]
    Duplicate,
    #[error("the pending-launch store failed: {0}")]
    Store(String),
}

/// Where pending launches live. `take` removes the record whatever the outcome, so a state works once.
#[async_trait::async_trait]
pub trait PendingStore: Send + Sync {
    async fn insert(&self, launch: PendingLaunch) -> Result<(), PendingError>;
    /// Removes and returns the launch for `state`; [`PendingError::Expired`] when it is older than the TTL.
    async fn take(&self, state: &str) -> Result<PendingLaunch, PendingError>;
}

/// Pending launches in process memory, expired ones purged on every insert so the map stays bounded by
/// the launch rate times the TTL.
pub struct MemoryPendingStore {
    ttl_secs: i64,
    launches: Mutex<HashMap<String, PendingLaunch>>,
}

impl MemoryPendingStore {
    pub fn new() -> MemoryPendingStore {
        MemoryPendingStore::with_ttl(DEFAULT_PENDING_TTL_SECS)
    }

    pub fn with_ttl(ttl_secs: i64) -> MemoryPendingStore {
        MemoryPendingStore {
            ttl_secs,
            launches: Mutex::new(HashMap::new()),
        }
    }

    fn lock(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<String, PendingLaunch>>, PendingError> {
        self.launches
            .lock()
            .map_err(|_| PendingError::Store("lock poisoned".into()))
    }
}

impl Default for MemoryPendingStore {
    fn default() -> Self {
        MemoryPendingStore::new()
    }
}

/// The store key of a state: SHA-256, base64url.
pub fn key(state: &str) -> String {
    super::pkce::challenge_s256(state)
}

#[async_trait::async_trait]
impl PendingStore for MemoryPendingStore {
    async fn insert(&self, launch: PendingLaunch) -> Result<(), PendingError> {
        let cutoff = now() - self.ttl_secs;
        let mut map = self.lock()?;
        map.retain(|_, l| l.created_at >= cutoff);
        let k = key(launch.state.expose());
        if map.contains_key(&k) {
            return Err(PendingError::Duplicate);
        }
        map.insert(k, launch);
        Ok(())
    }

    async fn take(&self, state: &str) -> Result<PendingLaunch, PendingError> {
        let launch = self
            .lock()?
            .remove(&key(state))
            .ok_or(PendingError::Unknown)?;
        if now() - launch.created_at > self.ttl_secs {
            return Err(PendingError::Expired);
        }
        Ok(launch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(state: &str, created_at: i64) -> PendingLaunch {
        PendingLaunch {
            state: Secret::new(state),
            iss: "https://ehr.example/fhir".into(),
            launch: Some("l1".into()),
            code_verifier: Secret::new("v"),
            redirect_uri: "https://app.example/callback".into(),
            requested_scope: "launch openid".into(),
            created_at,
        }
    }

    #[tokio::test]
    async fn a_state_can_be_taken_exactly_once() {
        let store = MemoryPendingStore::new();
        store.insert(launch("s1", now())).await.unwrap();
        assert_eq!(
            store.take("s1").await.unwrap().iss,
            "https://ehr.example/fhir"
        );
        assert_eq!(store.take("s1").await.unwrap_err(), PendingError::Unknown);
        assert_eq!(
            store.take("never").await.unwrap_err(),
            PendingError::Unknown
        );
    }

    #[tokio::test]
    async fn an_old_launch_is_expired_and_gone_afterwards() {
        let store = MemoryPendingStore::with_ttl(60);
        store.insert(launch("old", now() - 61)).await.unwrap();
        assert_eq!(store.take("old").await.unwrap_err(), PendingError::Expired);
        assert_eq!(store.take("old").await.unwrap_err(), PendingError::Unknown);
    }

    #[tokio::test]
    async fn a_duplicate_state_is_refused_and_expired_ones_are_purged() {
        let store = MemoryPendingStore::with_ttl(60);
        store.insert(launch("a", now() - 120)).await.unwrap();
        store.insert(launch("b", now())).await.unwrap();
        assert_eq!(store.lock().unwrap().len(), 1, "the expired one was purged");
        assert_eq!(
            store.insert(launch("b", now())).await.unwrap_err(),
            PendingError::Duplicate
        );
    }
}
