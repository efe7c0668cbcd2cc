//! Linking a CloudCGM patient to an EHR patient with a sharing code (issue 4 item 6): redeeming a code under
//! rate limits, comparing the two identities, and writing the link. Used by the clinician inside a launch
//! and by an admin in the console.
//!
//! Limits: failed codes are counted from the audit log over [`FAIL_WINDOW_MINUTES`] per user, per EHR patient
//! and per source address; past a limit every attempt is refused unchecked (a lockout) until the window
//! has passed. With ~45.8 bits per code and these limits a guess succeeds with negligible probability.

use crate::audit;
use crate::launch::context::ClinicianContext;
use crate::sharing_code::{ParseError, SharingCode};
use crate::state::AppState;
use crate::store::access::{
    AuditAction, FailureFilter, LinkError, LinkRow, NewAuditEvent, NewLink, SharingCodeId,
};
use crate::store::{Patient, PatientId};
use chrono::Utc;
use cloudcgm_app::backend::BackendError;

pub const FAIL_WINDOW_MINUTES: i64 = 15;
pub const MAX_FAILURES_PER_USER: i64 = 5;
pub const MAX_FAILURES_PER_EHR_PATIENT: i64 = 10;
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;

fn internal(e: impl std::fmt::Display) -> BackendError {
    tracing::error!(error = %e, "linking failed");
    BackendError::Internal
}

/// The same answer for unknown, expired, used and revoked codes: a guesser learns nothing.
fn invalid_code() -> BackendError {
    BackendError::BadRequest(
        "This code is not valid: it may be mistyped, expired, already used or revoked. Ask the patient to read \
         it again, or to make a new code in their CloudCGM account."
            .into(),
    )
}

/// A code that checked out: its row and its patient.
pub struct Redeemed {
    pub code: SharingCodeId,
    pub patient: Patient,
}

/// Checks `text` as a sharing code for `ehr_patient_id`, counting and auditing failures.
pub async fn redeem(
    state: &AppState,
    ctx: &ClinicianContext,
    ehr_patient_id: &str,
    text: &str,
    ip: Option<String>,
) -> Result<Redeemed, BackendError> {
    let ehr_id = ctx.launch.ehr_id.as_str();
    let actor = ctx.launch.fhir_user.as_str();
    let since = Utc::now() - chrono::Duration::minutes(FAIL_WINDOW_MINUTES);
    let base = FailureFilter {
        action: AuditAction::CodeFailed,
        since,
        ehr_id: None,
        actor: None,
        ehr_patient_id: None,
        source_ip: None,
        detail: None,
    };
    let limits = [
        (
            FailureFilter {
                ehr_id: Some(ehr_id),
                actor: Some(actor),
                ..base.clone()
            },
            MAX_FAILURES_PER_USER,
        ),
        (
            FailureFilter {
                ehr_id: Some(ehr_id),
                ehr_patient_id: Some(ehr_patient_id),
                ..base.clone()
            },
            MAX_FAILURES_PER_EHR_PATIENT,
        ),
        (
            FailureFilter {
                source_ip: ip.as_deref(),
                ..base.clone()
            },
            MAX_FAILURES_PER_ADDRESS,
        ),
    ];
    for (filter, max) in &limits {
        if filter.source_ip.is_none() && filter.actor.is_none() && filter.ehr_patient_id.is_none() {
            continue; // no address known: that limit cannot apply
        }
        if state
            .access
            .count_failures(filter)
            .await
            .map_err(internal)?
            >= *max
        {
            let event = event(
                ctx,
                ehr_patient_id,
                AuditAction::CodeLocked,
                ip.clone(),
                None,
            );
            audit::record(state, event).await;
            return Err(BackendError::Forbidden(format!(
                "Too many wrong codes. For safety, code entry is paused for up to {FAIL_WINDOW_MINUTES} minutes. \
                 Check the code with the patient, then try again later."
            )));
        }
    }
    let code = SharingCode::parse(text).map_err(|e| {
        BackendError::BadRequest(match e {
            ParseError::LookAlike { found } => format!(
                "Sharing codes never contain {found:?} or characters that look like it. Ask the patient to read \
                 that character again."
            ),
            other => format!("{}. Codes look like ABC-DEF-GHJK.", capitalised(&other.to_string())),
        })
    })?;
    let lookup = state.secrets.sharing_code_key.lookup(&code);
    let row = state
        .access
        .code_by_lookup(lookup.as_bytes())
        .await
        .map_err(internal)?;
    let now = Utc::now();
    let Some(row) = row.filter(|r| r.is_live(now)) else {
        let event = event(
            ctx,
            ehr_patient_id,
            AuditAction::CodeFailed,
            ip,
            Some("invalid code".into()),
        );
        audit::record(state, event).await;
        return Err(invalid_code());
    };
    let patient = state
        .patients
        .patient(row.patient_id)
        .await
        .map_err(internal)?;
    Ok(Redeemed {
        code: row.id,
        patient,
    })
}

/// `s` with its first letter in upper case (error texts start lower case; sentences for people do not).
pub(crate) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn event(
    ctx: &ClinicianContext,
    ehr_patient_id: &str,
    action: AuditAction,
    source_ip: Option<String>,
    detail: Option<String>,
) -> NewAuditEvent {
    NewAuditEvent {
        ehr_id: Some(ctx.launch.ehr_id.clone()),
        actor: ctx.launch.fhir_user.clone(),
        action: Some(action),
        ehr_patient_id: Some(ehr_patient_id.to_string()),
        source_ip,
        detail,
        ..Default::default()
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// What differs between the EHR's and CloudCGM's record of a person (empty: they agree). Names agree when
/// the EHR name contains CloudCGM's first given name and every word of the family name, whatever the order
/// and case; birth dates must be equal.
pub fn mismatches(
    patient: &Patient,
    ehr_name: Option<&str>,
    ehr_birth: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    let ehr_words = ehr_name.map(words).unwrap_or_default();
    let given = words(&patient.given_name);
    let family = words(&patient.family_name);
    let name_ok = given.first().is_some_and(|g| ehr_words.contains(g))
        && family.iter().all(|f| ehr_words.contains(f));
    if !name_ok {
        out.push(format!(
            "the name is {} in the EHR and {} in CloudCGM",
            ehr_name.unwrap_or("missing"),
            patient.display_name()
        ));
    }
    let birth = patient.birth_date.to_string();
    if ehr_birth != Some(birth.as_str()) {
        out.push(format!(
            "the birth date is {} in the EHR and {birth} in CloudCGM",
            ehr_birth.unwrap_or("missing")
        ));
    }
    out
}

/// The reason a mismatched link needs: at least a few words.
pub fn checked_reason(
    mismatch: bool,
    reason: Option<String>,
) -> Result<Option<String>, BackendError> {
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    match (&reason, mismatch) {
        (None, true) => Err(BackendError::BadRequest(
            "The two records differ, so linking needs a reason (for example: \"name changed after marriage\")."
                .into(),
        )),
        (Some(r), _) if r.chars().count() > 500 => Err(BackendError::BadRequest(
            "Keep the reason under 500 characters.".into(),
        )),
        (Some(r), true) if r.chars().count() < 5 => Err(BackendError::BadRequest(
            "Give a reason of a few words for linking records that differ.".into(),
        )),
        _ => Ok(reason.filter(|_| mismatch)),
    }
}

/// Consumes the code and links, auditing the link.
pub async fn link(
    state: &AppState,
    ctx: &ClinicianContext,
    ehr_patient_id: &str,
    code: SharingCodeId,
    patient: PatientId,
    mismatch_reason: Option<String>,
    ip: Option<String>,
) -> Result<LinkRow, BackendError> {
    let new = NewLink {
        ehr_id: ctx.launch.ehr_id.clone(),
        ehr_patient_id: ehr_patient_id.to_string(),
        patient_id: patient,
        linked_by: ctx.launch.fhir_user.clone(),
        mismatch_reason: mismatch_reason.clone(),
    };
    let row = state
        .access
        .link_with_code(code, &new, Utc::now())
        .await
        .map_err(|e| match e {
            LinkError::CodeGone => BackendError::BadRequest(
                "The code was used, revoked or expired in the meantime. Ask the patient for a new code.".into(),
            ),
            LinkError::EhrPatientLinked => BackendError::BadRequest(
                "This EHR patient is already linked to a CloudCGM patient. Reload the page.".into(),
            ),
            LinkError::PatientLinked => BackendError::BadRequest(
                "This CloudCGM patient is already linked to another patient in this EHR. A practice admin can \
                 review and remove that link."
                    .into(),
            ),
            LinkError::Store(e) => internal(e),
        })?;
    let mut event = event(
        ctx,
        ehr_patient_id,
        AuditAction::Link,
        ip,
        mismatch_reason.map(|r| format!("linked despite a mismatch: {r}")),
    );
    event.patient_id = Some(patient);
    audit::record(state, event).await;
    // The EHR's standing orders are read at once, so the first submission follows the link (NOTES D1).
    crate::jobs::sync_orders::after_link(state, &row).await;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn patient() -> Patient {
        Patient {
            id: PatientId(1),
            demo_key: None,
            given_name: "Elena".into(),
            family_name: "García López".into(),
            birth_date: NaiveDate::from_ymd_opt(1968, 3, 14).unwrap(),
            sex: None,
            time_zone: chrono_tz::UTC,
            preferred_unit: cloudcgm::GlucoseUnit::MgDl,
        }
    }

    #[test]
    fn the_same_person_in_another_order_and_case_matches() {
        assert!(mismatches(
            &patient(),
            Some("GARCÍA LÓPEZ, Elena María"),
            Some("1968-03-14")
        )
        .is_empty());
    }

    #[test]
    fn a_different_name_or_birth_date_is_named() {
        let m = mismatches(&patient(), Some("Elena Garcia"), Some("1968-03-15"));
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].contains("name"));
        assert!(m[1].contains("1968-03-15"));
        assert_eq!(mismatches(&patient(), None, None).len(), 2);
    }

    #[test]
    fn a_mismatch_needs_a_real_reason_and_a_match_keeps_none() {
        assert!(checked_reason(true, None).is_err());
        assert!(checked_reason(true, Some("  ".into())).is_err());
        assert!(checked_reason(true, Some("ok".into())).is_err());
        assert_eq!(
            checked_reason(true, Some(" name changed ".into()))
                .unwrap()
                .as_deref(),
            Some("name changed")
        );
        assert_eq!(
            checked_reason(false, Some("whatever".into())).unwrap(),
            None
        );
    }
}
