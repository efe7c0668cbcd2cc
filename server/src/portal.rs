//! The patient portal (issue 4 item 5): sign-in with argon2id passwords (rate limited per username and per
//! address, with a lockout), the current sharing code (shown again from its sealed copy), a new code
//! (revoking the old one) and revocation. Demo patients get documented demo passwords
//! ([`DEMO_PASSWORD_SUFFIX`]).

use crate::audit;
use crate::clinician::session_of;
use crate::crypto::aad_for;
use crate::sharing_code::SharingCode;
use crate::state::AppState;
use crate::store::access::AccessStore;
use crate::store::access::{AuditAction, FailureFilter, NewAuditEvent, SharingCodeRow};
use crate::store::{PatientId, Store, StoreError};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::Utc;
use cloudcgm_app::backend::BackendError;
use cloudcgm_app::views::{PortalView, SharingCodeView};

/// A demo patient's password is their demo key followed by this (`elena-cgm-demo`): public, demo only.
pub const DEMO_PASSWORD_SUFFIX: &str = "-cgm-demo";
pub const SIGN_IN_WINDOW_MINUTES: i64 = 15;
pub const MAX_SIGN_IN_FAILURES_PER_USER: i64 = 5;
pub const MAX_SIGN_IN_FAILURES_PER_ADDRESS: i64 = 30;

fn internal(e: impl std::fmt::Display) -> BackendError {
    tracing::error!(error = %e, "portal failure");
    BackendError::Internal
}

/// An argon2id PHC string with the crate's default (OWASP) parameters and a 128-bit random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use ring::rand::SecureRandom as _;
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("no randomness"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Gives every demo patient without an account its demo account.
pub async fn seed_demo_accounts(
    patients: &dyn Store,
    access: &dyn AccessStore,
) -> anyhow::Result<usize> {
    let mut added = 0;
    for overview in patients.demo_patients().await? {
        let Some(key) = overview.patient.demo_key.clone() else {
            continue;
        };
        if access.has_portal_account(overview.patient.id).await? {
            continue;
        }
        let hash = hash_password(&format!("{key}{DEMO_PASSWORD_SUFFIX}"))?;
        access
            .upsert_portal_account(overview.patient.id, &key, &hash)
            .await?;
        added += 1;
    }
    Ok(added)
}

async fn signed_in(req: &cloudcgm_app::backend::Parts) -> Result<Option<PatientId>, BackendError> {
    Ok(crate::web::session::signed_in_patient(&session_of(req)?)
        .await
        .map_err(internal)?
        .map(PatientId))
}

async fn require_patient(req: &cloudcgm_app::backend::Parts) -> Result<PatientId, BackendError> {
    signed_in(req).await?.ok_or_else(|| {
        BackendError::Forbidden(
            "You are not signed in. Sign in to your CloudCGM account first.".into(),
        )
    })
}

fn code_status(row: &SharingCodeRow) -> &'static str {
    if row.used_at.is_some() {
        "used"
    } else if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at <= Utc::now() {
        "expired"
    } else {
        "active"
    }
}

pub async fn portal_state(
    state: &AppState,
    req: &cloudcgm_app::backend::Parts,
) -> Result<Option<PortalView>, BackendError> {
    let Some(id) = signed_in(req).await? else {
        return Ok(None);
    };
    let patient = match state.patients.patient(id).await {
        Ok(p) => p,
        Err(StoreError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(internal(e)),
    };
    let code = match state.access.current_code(id).await.map_err(internal)? {
        Some(row) => {
            let text = state
                .secrets
                .keyring
                .open_string(
                    &aad_for("sharing_codes", row.id.0, "sealed_code"),
                    &row.sealed_code,
                )
                .map_err(internal)?;
            let grouped = SharingCode::parse(&text).map_err(internal)?.grouped();
            Some(SharingCodeView {
                code: grouped,
                expires_at: row
                    .expires_at
                    .with_timezone(&patient.time_zone)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string(),
                status: code_status(&row).into(),
            })
        }
        None => None,
    };
    Ok(Some(PortalView {
        name: patient.display_name(),
        code,
        code_ttl_hours: state.settings.code_ttl.num_hours(),
    }))
}

pub async fn sign_in(
    state: &AppState,
    req: &cloudcgm_app::backend::Parts,
    username: &str,
    password: &str,
) -> Result<(), BackendError> {
    let username = username.trim().to_lowercase();
    let ip = crate::web::client_ip(&req.extensions);
    let since = Utc::now() - chrono::Duration::minutes(SIGN_IN_WINDOW_MINUTES);
    let by_user = FailureFilter {
        action: AuditAction::PortalSignInFailed,
        since,
        ehr_id: None,
        actor: None,
        ehr_patient_id: None,
        source_ip: None,
        detail: Some(&username),
    };
    let by_address = FailureFilter {
        detail: None,
        source_ip: ip.as_deref(),
        ..by_user.clone()
    };
    let locked = state
        .access
        .count_failures(&by_user)
        .await
        .map_err(internal)?
        >= MAX_SIGN_IN_FAILURES_PER_USER
        || (ip.is_some()
            && state
                .access
                .count_failures(&by_address)
                .await
                .map_err(internal)?
                >= MAX_SIGN_IN_FAILURES_PER_ADDRESS);
    if locked {
        return Err(BackendError::Forbidden(format!(
            "Too many failed sign-ins. Wait {SIGN_IN_WINDOW_MINUTES} minutes, then try again."
        )));
    }
    let account = state
        .access
        .portal_account(&username)
        .await
        .map_err(internal)?;
    // Same work for an unknown username as for a real check, so timing does not tell which exist. The
    // ~20 ms of argon2 run off the async workers.
    let hash = account
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let candidate = password.to_string();
    let verified = tokio::task::spawn_blocking(move || verify_password(&candidate, &hash))
        .await
        .map_err(internal)?;
    let ok = verified && account.is_some();
    let Some((patient, _)) = account.filter(|_| ok) else {
        audit::record(
            state,
            NewAuditEvent {
                actor: "anonymous".into(),
                action: Some(AuditAction::PortalSignInFailed),
                source_ip: ip,
                detail: Some(username),
                ..Default::default()
            },
        )
        .await;
        return Err(BackendError::Forbidden(
            "The username or password is not right. Check them and try again.".into(),
        ));
    };
    crate::web::session::sign_in_patient(&session_of(req)?, patient.0)
        .await
        .map_err(internal)?;
    audit::record(
        state,
        patient_event(patient, AuditAction::PortalSignIn, req),
    )
    .await;
    Ok(())
}

/// An argon2id hash of a random string, for timing parity when a username does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Jw1yVmDq0bGm1R7BP2h1m1q5o0m5Qm7vEGp1D3qH5b8";

pub async fn sign_out(req: &cloudcgm_app::backend::Parts) -> Result<(), BackendError> {
    crate::web::session::sign_out_patient(&session_of(req)?)
        .await
        .map_err(internal)
}

/// Issues a new code for `patient` (revoking the old one), valid until `expires_at`; returns it grouped.
pub async fn issue_code(
    state: &AppState,
    patient: PatientId,
    now: chrono::DateTime<Utc>,
    expires_at: chrono::DateTime<Utc>,
) -> Result<String, StoreError> {
    let code = SharingCode::generate();
    let lookup = state.secrets.sharing_code_key.lookup(&code);
    let secrets = state.secrets.clone();
    let text = code.normalized().to_string();
    let seal = move |id: crate::store::access::SharingCodeId| {
        secrets
            .keyring
            .seal(
                &aad_for("sharing_codes", id.0, "sealed_code"),
                text.as_bytes(),
            )
            .map_err(|e| e.to_string())
    };
    state
        .access
        .issue_code(patient, lookup.as_bytes(), &seal, now, expires_at)
        .await?;
    Ok(code.grouped())
}

/// An audit event of the signed-in patient.
fn patient_event(
    patient: PatientId,
    action: AuditAction,
    req: &cloudcgm_app::backend::Parts,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: format!("patient:{}", patient.0),
        action: Some(action),
        patient_id: Some(patient),
        source_ip: crate::web::client_ip(&req.extensions),
        ..Default::default()
    }
}

pub async fn new_code(
    state: &AppState,
    req: &cloudcgm_app::backend::Parts,
) -> Result<(), BackendError> {
    let patient = require_patient(req).await?;
    let now = Utc::now();
    issue_code(state, patient, now, now + state.settings.code_ttl)
        .await
        .map_err(internal)?;
    audit::record(state, patient_event(patient, AuditAction::CodeIssued, req)).await;
    Ok(())
}

pub async fn revoke_code(
    state: &AppState,
    req: &cloudcgm_app::backend::Parts,
) -> Result<(), BackendError> {
    let patient = require_patient(req).await?;
    state
        .access
        .revoke_codes(patient, Utc::now())
        .await
        .map_err(internal)?;
    audit::record(state, patient_event(patient, AuditAction::CodeRevoked, req)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let h = hash_password("elena-cgm-demo").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("elena-cgm-demo", &h));
        assert!(!verify_password("elena-cgm-dem0", &h));
        assert!(!verify_password("anything", "not a hash"));
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "the timing dummy parses"
        );
    }
}
