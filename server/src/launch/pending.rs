//! Pending launches in the database ([`PendingStore`] for `pending_launches`), so a launch that starts on
//! one node can finish on another and survives a restart. The record is sealed (it carries the PKCE
//! verifier) and keyed by SHA-256 of `state`; taking it deletes it, so a replayed state finds nothing.

use crate::crypto::aad_for;
use crate::secrets::AppSecrets;
use crate::smart_client::pending::{
    key, PendingError, PendingLaunch, PendingStore, DEFAULT_PENDING_TTL_SECS,
};
use crate::smart_client::Secret;
use crate::store::access::AccessStore;
use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub struct DbPendingStore {
    pub access: Arc<dyn AccessStore>,
    pub secrets: Arc<AppSecrets>,
    pub ttl_secs: i64,
}

impl DbPendingStore {
    pub fn new(access: Arc<dyn AccessStore>, secrets: Arc<AppSecrets>) -> DbPendingStore {
        DbPendingStore {
            access,
            secrets,
            ttl_secs: DEFAULT_PENDING_TTL_SECS,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Sealable {
    iss: String,
    launch: Option<String>,
    code_verifier: String,
    redirect_uri: String,
    requested_scope: String,
    created_at: i64,
}

fn store_err(e: impl std::fmt::Display) -> PendingError {
    PendingError::Store(e.to_string())
}

#[async_trait::async_trait]
impl PendingStore for DbPendingStore {
    async fn insert(&self, launch: PendingLaunch) -> Result<(), PendingError> {
        let hash = key(launch.state.expose());
        let record = Sealable {
            iss: launch.iss,
            launch: launch.launch,
            code_verifier: launch.code_verifier.expose().to_string(),
            redirect_uri: launch.redirect_uri,
            requested_scope: launch.requested_scope,
            created_at: launch.created_at,
        };
        let json = serde_json::to_vec(&record).map_err(store_err)?;
        let sealed = self
            .secrets
            .keyring
            .seal(&aad_for("pending_launches", &hash, "sealed"), &json)
            .map_err(store_err)?;
        let at = Utc
            .timestamp_opt(launch.created_at, 0)
            .single()
            .ok_or_else(|| store_err("bad time"))?;
        // Abandoned launches go when new ones come: the table stays bounded by rate × TTL.
        self.access
            .purge_pending(at - chrono::Duration::seconds(self.ttl_secs))
            .await
            .map_err(store_err)?;
        if self
            .access
            .insert_pending(&hash, &sealed, at)
            .await
            .map_err(store_err)?
        {
            Ok(())
        } else {
            Err(PendingError::Duplicate)
        }
    }

    async fn take(&self, state: &str) -> Result<PendingLaunch, PendingError> {
        let hash = key(state);
        let (sealed, _) = self
            .access
            .take_pending(&hash)
            .await
            .map_err(store_err)?
            .ok_or(PendingError::Unknown)?;
        let json = self
            .secrets
            .keyring
            .open(&aad_for("pending_launches", &hash, "sealed"), &sealed)
            .map_err(store_err)?;
        let r: Sealable = serde_json::from_slice(&json).map_err(store_err)?;
        if r.created_at + self.ttl_secs < Utc::now().timestamp() {
            return Err(PendingError::Expired);
        }
        Ok(PendingLaunch {
            state: Secret::new(state),
            iss: r.iss,
            launch: r.launch,
            code_verifier: Secret::new(r.code_verifier),
            redirect_uri: r.redirect_uri,
            requested_scope: r.requested_scope,
            created_at: r.created_at,
        })
    }
}
