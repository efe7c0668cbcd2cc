//! Practice administration (issue 4 item 7), for members with the admin role of the launch's practice:
//! the practice's links (with last submission), unlinking with a reason, linking from the console (EHR
//! patient search with the admin's own token, then the patient's sharing code), connections that need a
//! new launch, and the audit log with its CSV export at `/ehr/{handle}/admin/audit.csv`. Every query is
//! scoped to the practice of the admin's own launch.

use crate::audit;
use crate::clinician::{context, internal};
use crate::launch::context::{clinician, ClinicianContext};
use crate::launch::{fhir, tokens};
use crate::linking;
use crate::state::AppState;
use crate::store::access::{AuditAction, LinkId, NewAuditEvent};
use crate::store::jobs::JobStatus;
use crate::web::client_ip;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use cloudcgm_app::backend::{BackendError, Parts};
use cloudcgm_app::views::{AdminLinkView, AdminView, AuditView, EhrPatientView};
use std::sync::Arc;
use tower_sessions::Session;

/// Recent jobs per link looked at for failures and waits.
const PROBLEM_JOBS_PER_LINK: u32 = 10;
/// Audit rows on the page; the CSV has them all.
const AUDIT_ROWS_SHOWN: u32 = 200;
const AUDIT_ROWS_EXPORTED: u32 = 1_000_000;

fn forbidden() -> BackendError {
    BackendError::Forbidden(
        "Practice administration is for the practice's CloudCGM administrators. Ask one of them if you need \
         a change."
            .into(),
    )
}

async fn admin(state: &AppState, req: &Parts, ctx: &str) -> Result<ClinicianContext, BackendError> {
    let c = context(state, req, ctx).await?;
    if c.is_admin() {
        Ok(c)
    } else {
        tracing::warn!(user = %c.launch.fhir_user, "a non-admin asked for the admin console");
        Err(forbidden())
    }
}

fn time(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub async fn overview(state: &AppState, req: &Parts, ctx: &str) -> Result<AdminView, BackendError> {
    let c = admin(state, req, ctx).await?;
    let ehr_id = c.launch.ehr_id.as_str();
    let mut links = Vec::new();
    let mut submission_problems = Vec::new();
    for l in state.access.links(ehr_id, false).await.map_err(internal)? {
        let p = state
            .patients
            .patient(l.patient_id)
            .await
            .map_err(internal)?;
        // A receiver that refuses, an EHR without $submit-cgm-bundle, a connection that needs a new launch:
        // the admin sees it here instead of a clinician finding out months later.
        for job in state
            .jobs
            .jobs_for_link(l.id, PROBLEM_JOBS_PER_LINK)
            .await
            .map_err(internal)?
        {
            if matches!(job.status, JobStatus::Failed | JobStatus::Waiting) {
                submission_problems.push((
                    p.display_name(),
                    crate::submissions::job_view(state, &job, p.time_zone).await?,
                ));
            }
        }
        let last = state
            .access
            .last_event(ehr_id, &l.ehr_patient_id, AuditAction::Submission)
            .await
            .map_err(internal)?;
        links.push(AdminLinkView {
            id: l.id.0,
            ehr_patient_id: l.ehr_patient_id,
            patient_id: p.id.0,
            patient_name: p.display_name(),
            patient_birth_date: p.birth_date.to_string(),
            linked_by: l.linked_by,
            linked_at: time(l.linked_at),
            mismatch_reason: l.mismatch_reason,
            last_submission: last.map(time),
        });
    }
    let audit = state
        .access
        .audit_events(ehr_id, AUDIT_ROWS_SHOWN)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|e| AuditView {
            at: time(e.at),
            actor: e.actor,
            action: e.action,
            ehr_patient_id: e.ehr_patient_id,
            patient_id: e.patient_id.map(|p| p.0),
            source_ip: e.source_ip,
            detail: e.detail,
        })
        .collect();
    let mut needs_relaunch: Vec<String> = state
        .access
        .launches_needing_relaunch(ehr_id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|l| l.fhir_user)
        .collect();
    needs_relaunch.dedup();
    Ok(AdminView {
        practice: c.ehr.name.clone(),
        links,
        audit,
        needs_relaunch,
        submission_problems,
    })
}

pub async fn unlink(
    state: &AppState,
    req: &Parts,
    ctx: &str,
    link_id: i64,
    reason: &str,
) -> Result<(), BackendError> {
    let c = admin(state, req, ctx).await?;
    let reason = reason.trim();
    if reason.chars().count() < 5 || reason.chars().count() > 500 {
        return Err(BackendError::BadRequest(
            "Say in a few words (5 to 500 characters) why the link is removed.".into(),
        ));
    }
    let removed = state
        .access
        .unlink(
            &c.launch.ehr_id,
            LinkId(link_id),
            &c.launch.fhir_user,
            reason,
            Utc::now(),
        )
        .await
        .map_err(internal)?;
    let Some(link) = removed else {
        // Another practice's link, or one already removed: indistinguishable to the caller.
        audit::record(
            state,
            NewAuditEvent {
                ehr_id: Some(c.launch.ehr_id.clone()),
                actor: c.launch.fhir_user.clone(),
                action: Some(AuditAction::CrossPatientDenied),
                source_ip: client_ip(&req.extensions),
                detail: Some(format!(
                    "unlink of link {link_id}, not a live link of this practice"
                )),
                ..Default::default()
            },
        )
        .await;
        return Err(BackendError::NotFound(
            "That link does not exist or was already removed. Reload the page.".into(),
        ));
    };
    audit::record(
        state,
        NewAuditEvent {
            ehr_id: Some(c.launch.ehr_id.clone()),
            actor: c.launch.fhir_user.clone(),
            action: Some(AuditAction::Unlink),
            ehr_patient_id: Some(link.ehr_patient_id),
            patient_id: Some(link.patient_id),
            source_ip: client_ip(&req.extensions),
            detail: Some(reason.to_string()),
        },
    )
    .await;
    Ok(())
}

async fn admin_token(
    state: &AppState,
    c: &ClinicianContext,
) -> Result<crate::smart_client::Secret, BackendError> {
    tokens::access_token(state, &c.launch)
        .await
        .map_err(|e| BackendError::Forbidden(format!("{}.", linking::capitalised(&e.to_string()))))
}

pub async fn search_patients(
    state: &AppState,
    req: &Parts,
    ctx: &str,
    name: &str,
) -> Result<Vec<EhrPatientView>, BackendError> {
    let c = admin(state, req, ctx).await?;
    let name = name.trim();
    if name.chars().count() < 2 || name.chars().count() > 100 {
        return Err(BackendError::BadRequest(
            "Enter 2 to 100 characters of the patient's name.".into(),
        ));
    }
    let may_search = cloudcgm::smart_scope::ScopeSet::parse(&c.launch.granted_scope)
        .iter()
        .filter_map(|s| s.as_resource())
        .any(|r| r.allows(cloudcgm::smart_scope::Permission::Search, "Patient"));
    if !may_search {
        return Err(BackendError::Forbidden(
            "Your EHR did not allow CloudCGM to search patients in this session. Open the patient's chart and              link from there instead."
                .into(),
        ));
    }
    let token = admin_token(state, &c).await?;
    let found = fhir::search_patients(&state.http, &c.ehr.iss, &token, name)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "EHR patient search failed");
            BackendError::BadRequest(
                "The EHR did not answer the search. Your EHR may not allow CloudCGM to search patients; open \
                 the patient's chart and link from there instead."
                    .into(),
            )
        })?;
    Ok(found
        .into_iter()
        .map(|p| EhrPatientView {
            id: p.id,
            name: p.name,
            birth_date: p.birth_date,
        })
        .collect())
}

pub async fn link(
    state: &AppState,
    req: &Parts,
    ctx: &str,
    ehr_patient_id: &str,
    code: &str,
    reason: Option<String>,
) -> Result<(), BackendError> {
    let c = admin(state, req, ctx).await?;
    let token = admin_token(state, &c).await?;
    // Read from the EHR, not taken from the form: the identity check must compare the EHR's own record.
    let ehr = fhir::read_patient(&state.http, &c.ehr.iss, &token, ehr_patient_id)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "EHR patient read failed");
            BackendError::NotFound(
                "The EHR has no such patient, or CloudCGM may not read it.".into(),
            )
        })?;
    let redeemed = linking::redeem(state, &c, &ehr.id, code, client_ip(&req.extensions)).await?;
    let mismatches = linking::mismatches(
        &redeemed.patient,
        ehr.name.as_deref(),
        ehr.birth_date.as_deref(),
    );
    let reason = linking::checked_reason(!mismatches.is_empty(), reason).map_err(|e| match e {
        BackendError::BadRequest(m) if !mismatches.is_empty() => {
            BackendError::BadRequest(format!("{m} What differs: {}.", mismatches.join("; ")))
        }
        other => other,
    })?;
    linking::link(
        state,
        &c,
        &ehr.id,
        redeemed.code,
        redeemed.patient.id,
        reason,
        client_ip(&req.extensions),
    )
    .await?;
    Ok(())
}

/// `GET /ehr/{handle}/admin/audit.csv`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ehr/{handle}/admin/audit.csv", get(audit_csv))
        .with_state(state)
}

async fn audit_csv(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(handle): Path<String>,
) -> Response {
    let c = match clinician(&state, &session, &handle).await {
        Ok(c) if c.is_admin() => c,
        Ok(_) => return (StatusCode::FORBIDDEN, forbidden().to_string()).into_response(),
        Err(_) => return crate::launch::pages::session_ended(),
    };
    let events = match state
        .access
        .audit_events(&c.launch.ehr_id, AUDIT_ROWS_EXPORTED)
        .await
    {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "audit export failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The export failed. Try again.",
            )
                .into_response();
        }
    };
    let mut response = audit::to_csv(&events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"cloudcgm-audit.csv\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
