//! A launch's tokens at rest and in use: sealed per row and column (the associated data names
//! `launches/{id}/{column}`), opened only to make an EHR call, refreshed a minute before they expire with
//! the client authenticating, and on a failed refresh the launch is marked as needing a new launch
//! (SMART.md) instead of being retried blindly.

use crate::crypto::aad_for;
use crate::secrets::AppSecrets;
use crate::smart_client::token::{refresh, TokenResponse};
use crate::smart_client::Secret;
use crate::state::AppState;
use crate::store::access::{LaunchId, LaunchRow, LaunchStatus, SealedTokens};
use chrono::{TimeZone, Utc};

/// Refresh this long before expiry, so a call never starts with a token about to lapse.
pub const REFRESH_MARGIN_SECS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum TokenProblem {
    #[error("the EHR session has ended; open CloudCGM again from the EHR")]
    NeedsRelaunch,
    #[error("the stored token cannot be read: {0}")]
    Unreadable(String),
}

/// Seals a token response for launch row `id`.
pub fn seal_tokens(
    secrets: &AppSecrets,
    id: LaunchId,
    token: &TokenResponse,
) -> Result<SealedTokens, String> {
    let seal = |column: &str, value: &Secret| {
        secrets
            .keyring
            .seal(
                &aad_for("launches", id.0, column),
                value.expose().as_bytes(),
            )
            .map_err(|e| e.to_string())
    };
    Ok(SealedTokens {
        access_token: seal("access_token", &token.access_token)?,
        refresh_token: token
            .refresh_token
            .as_ref()
            .map(|t| seal("refresh_token", t))
            .transpose()?,
        expires_at: token
            .expires_at()
            .and_then(|s| Utc.timestamp_opt(s, 0).single()),
    })
}

fn open(
    secrets: &AppSecrets,
    id: LaunchId,
    column: &str,
    sealed: &str,
) -> Result<Secret, TokenProblem> {
    secrets
        .keyring
        .open_string(&aad_for("launches", id.0, column), sealed)
        .map(Secret::new)
        .map_err(|e| TokenProblem::Unreadable(e.to_string()))
}

/// A usable access token for the launch, refreshing it first when it is about to expire.
pub async fn access_token(state: &AppState, launch: &LaunchRow) -> Result<Secret, TokenProblem> {
    if launch.status == LaunchStatus::NeedsRelaunch {
        return Err(TokenProblem::NeedsRelaunch);
    }
    let expiring = launch
        .tokens
        .expires_at
        .is_some_and(|at| (at - Utc::now()).num_seconds() <= REFRESH_MARGIN_SECS);
    if !expiring {
        return open(
            &state.secrets,
            launch.id,
            "access_token",
            &launch.tokens.access_token,
        );
    }
    let Some(sealed_refresh) = &launch.tokens.refresh_token else {
        mark_needs_relaunch(
            state,
            launch.id,
            "the access token expired and there is no refresh token",
        )
        .await;
        return Err(TokenProblem::NeedsRelaunch);
    };
    let refresh_token = open(&state.secrets, launch.id, "refresh_token", sealed_refresh)?;
    let refreshed = async {
        let ehr = state
            .ehrs
            .by_id(&launch.ehr_id)
            .ok_or_else(|| anyhow::anyhow!("EHR {} is no longer registered", launch.ehr_id))?;
        let config = state.smart_configuration(&ehr.iss).await?;
        let client = ehr.credentials(&state.secrets)?;
        Ok::<_, anyhow::Error>(
            refresh(
                &state.http,
                &config,
                &client,
                &refresh_token,
                None,
                &launch.granted_scope,
            )
            .await?,
        )
    }
    .await;
    match refreshed {
        Ok(mut token) => {
            // A server may rotate the refresh token or keep the old one (then it sends none).
            if token.refresh_token.is_none() {
                token.refresh_token = Some(refresh_token);
            }
            let sealed =
                seal_tokens(&state.secrets, launch.id, &token).map_err(TokenProblem::Unreadable)?;
            if let Err(e) = state.access.update_tokens(launch.id, &sealed).await {
                tracing::error!(error = %e, launch = launch.id.0, "could not store refreshed tokens");
            }
            tracing::info!(launch = launch.id.0, "refreshed the EHR access token");
            Ok(token.access_token)
        }
        Err(e) => {
            mark_needs_relaunch(state, launch.id, &e.to_string()).await;
            Err(TokenProblem::NeedsRelaunch)
        }
    }
}

async fn mark_needs_relaunch(state: &AppState, id: LaunchId, why: &str) {
    tracing::warn!(launch = id.0, why, "launch needs a new EHR launch");
    if let Err(e) = state
        .access
        .set_launch_status(id, LaunchStatus::NeedsRelaunch)
        .await
    {
        tracing::error!(error = %e, launch = id.0, "could not mark the launch");
    }
}
