//! What a clinician does inside an EHR launch (issue 4 items 4 and 6): the launch's state, the linked
//! patient's report, and the two linking steps. The patient is always the launch's own EHR patient: no call
//! takes a patient id from the browser, so another patient's data is unreachable from a launch.

use crate::audit;
use crate::backend::render_report;
use crate::launch::context::{clinician, ClinicianContext, ContextError};
use crate::linking;
use crate::state::AppState;
use crate::store::access::{AuditAction, LinkRow, NewAuditEvent};
use crate::store::PatientId;
use crate::web::{client_ip, session};
use chrono::Utc;
use cloudcgm_app::backend::{BackendError, Parts};
use cloudcgm_app::views::{
    EhrPatientView, LaunchView, LinkProposalView, LinkedView, ReportQuery, ReportView,
};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

/// How long a checked code waits for the clinician's confirmation.
const PROPOSAL_TTL_MINUTES: i64 = 10;

pub(crate) fn internal(e: impl std::fmt::Display) -> BackendError {
    tracing::error!(error = %e, "clinician request failed");
    BackendError::Internal
}

pub(crate) fn session_of(req: &Parts) -> Result<Session, BackendError> {
    req.extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| internal("no session layer"))
}

/// The clinician of launch handle `ctx` in this request's session.
pub(crate) async fn context(
    state: &AppState,
    req: &Parts,
    ctx: &str,
) -> Result<ClinicianContext, BackendError> {
    match clinician(state, &session_of(req)?, ctx).await {
        Ok(c) => Ok(c),
        Err(ContextError::NoLaunch) => {
            tracing::warn!("refused: the launch handle is not one of this session's launches");
            Err(BackendError::Forbidden(
            "Your CloudCGM session for this patient has ended. Open CloudCGM again from the patient's chart \
             in your EHR."
                    .into(),
            ))
        }
        Err(ContextError::NotMember) => Err(BackendError::Forbidden(
            "You are no longer a CloudCGM user of this practice. Ask your practice's CloudCGM administrator."
                .into(),
        )),
        Err(ContextError::EhrGone) => Err(BackendError::Forbidden(
            "This EHR is no longer registered with CloudCGM. Ask your CloudCGM administrator.".into(),
        )),
        Err(ContextError::Internal(e)) => Err(internal(e)),
    }
}

/// The live link of the launch's EHR patient; refused when the patient is not linked.
pub(crate) async fn linked_patient(
    state: &AppState,
    c: &ClinicianContext,
) -> Result<LinkRow, BackendError> {
    let ehr_patient = ehr_patient_of(c)?;
    state
        .access
        .live_link_for_ehr_patient(&c.launch.ehr_id, ehr_patient)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            BackendError::NotFound(
                "This patient is not linked to CloudCGM. Enter the patient's sharing code to link them.".into(),
            )
        })
}

pub(crate) fn ehr_patient_of(c: &ClinicianContext) -> Result<&str, BackendError> {
    c.launch.ehr_patient_id.as_deref().ok_or_else(|| {
        BackendError::BadRequest(
            "The EHR opened CloudCGM without a patient. Open it from a patient's chart.".into(),
        )
    })
}

pub async fn launch_state(
    state: &AppState,
    req: &Parts,
    ctx: &str,
) -> Result<LaunchView, BackendError> {
    let c = context(state, req, ctx).await?;
    let ehr_patient = c.launch.ehr_patient_id.clone().map(|id| EhrPatientView {
        id,
        name: c.launch.ehr_patient_name.clone(),
        birth_date: c.launch.ehr_patient_birth.clone(),
    });
    let linked = match &c.launch.ehr_patient_id {
        Some(id) => match state
            .access
            .live_link_for_ehr_patient(&c.launch.ehr_id, id)
            .await
            .map_err(internal)?
        {
            Some(link) => {
                let p = state
                    .patients
                    .patient(link.patient_id)
                    .await
                    .map_err(internal)?;
                Some(LinkedView {
                    patient_id: p.id.0,
                    name: p.display_name(),
                    birth_date: p.birth_date.to_string(),
                    linked_at: link.linked_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    linked_by: link.linked_by,
                })
            }
            None => None,
        },
        None => None,
    };
    Ok(LaunchView {
        user: c.launch.fhir_user.clone(),
        role: c.role.as_str().into(),
        practice: c.ehr.name.clone(),
        show_banner: c.launch.need_patient_banner,
        ehr_patient,
        linked,
    })
}

pub async fn launch_report(
    state: &AppState,
    req: &Parts,
    ctx: &str,
    query: ReportQuery,
) -> Result<ReportView, BackendError> {
    let c = context(state, req, ctx).await?;
    let ehr_patient = ehr_patient_of(&c)?;
    let link = linked_patient(state, &c).await?;
    let view = render_report(
        state.patients.as_ref(),
        link.patient_id,
        query,
        format!("/ehr/{ctx}"),
    )
    .await?;
    audit::record(
        state,
        NewAuditEvent {
            ehr_id: Some(c.launch.ehr_id.clone()),
            actor: c.launch.fhir_user.clone(),
            action: Some(AuditAction::ReportView),
            ehr_patient_id: Some(ehr_patient.to_string()),
            patient_id: Some(link.patient_id),
            source_ip: client_ip(&req.extensions),
            detail: Some(format!(
                "{} – {}, {}",
                view.window.first_day, view.window.last_day, view.unit
            )),
        },
    )
    .await;
    Ok(view)
}

/// A checked code waiting for confirmation, in the session under the launch's handle.
#[derive(Debug, Serialize, Deserialize)]
struct Proposal {
    code: i64,
    patient: i64,
    ehr_patient: String,
    mismatch: bool,
    expires_at: i64,
}

fn proposal_key(ctx: &str) -> String {
    format!("proposal:{ctx}")
}

pub async fn propose_link(
    state: &AppState,
    req: &Parts,
    ctx: &str,
    code: &str,
) -> Result<LinkProposalView, BackendError> {
    let c = context(state, req, ctx).await?;
    let ehr_patient = ehr_patient_of(&c)?.to_string();
    let redeemed =
        linking::redeem(state, &c, &ehr_patient, code, client_ip(&req.extensions)).await?;
    let mismatches = linking::mismatches(
        &redeemed.patient,
        c.launch.ehr_patient_name.as_deref(),
        c.launch.ehr_patient_birth.as_deref(),
    );
    let proposal = Proposal {
        code: redeemed.code.0,
        patient: redeemed.patient.id.0,
        ehr_patient: ehr_patient.clone(),
        mismatch: !mismatches.is_empty(),
        expires_at: (Utc::now() + chrono::Duration::minutes(PROPOSAL_TTL_MINUTES)).timestamp(),
    };
    session::set_value(&session_of(req)?, &proposal_key(ctx), Some(&proposal))
        .await
        .map_err(internal)?;
    Ok(LinkProposalView {
        cloudcgm_name: redeemed.patient.display_name(),
        cloudcgm_birth_date: redeemed.patient.birth_date.to_string(),
        ehr: EhrPatientView {
            id: ehr_patient,
            name: c.launch.ehr_patient_name.clone(),
            birth_date: c.launch.ehr_patient_birth.clone(),
        },
        mismatches,
    })
}

pub async fn confirm_link(
    state: &AppState,
    req: &Parts,
    ctx: &str,
    reason: Option<String>,
) -> Result<(), BackendError> {
    let c = context(state, req, ctx).await?;
    let ehr_patient = ehr_patient_of(&c)?.to_string();
    let session = session_of(req)?;
    let key = proposal_key(ctx);
    let proposal: Option<Proposal> = session::get_value(&session, &key).await.map_err(internal)?;
    let proposal = proposal
        .filter(|p| p.ehr_patient == ehr_patient && p.expires_at > Utc::now().timestamp())
        .ok_or_else(|| {
            BackendError::BadRequest(
                "Enter the patient's sharing code first (the last check expired).".into(),
            )
        })?;
    let reason = linking::checked_reason(proposal.mismatch, reason)?;
    linking::link(
        state,
        &c,
        &ehr_patient,
        crate::store::access::SharingCodeId(proposal.code),
        PatientId(proposal.patient),
        reason,
        client_ip(&req.extensions),
    )
    .await?;
    session::set_value::<Proposal>(&session, &key, None)
        .await
        .map_err(internal)?;
    Ok(())
}
