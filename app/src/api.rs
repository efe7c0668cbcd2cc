//! The `#[server]` functions. Each body is a few lines: take the backend from context, call it, map the error.

use crate::views::{
    AdminView, EhrPatientView, LaunchView, LinkProposalView, PatientSummaryView, PortalView,
    ReportQuery, ReportView, SendRequest, SubmissionHistoryView, SubmissionJobView,
};
use leptos::prelude::*;

/// The request the server function answers (its session is in the extensions).
#[cfg(feature = "ssr")]
fn request() -> Result<http::request::Parts, ServerFnError> {
    use_context::<http::request::Parts>()
        .ok_or_else(|| ServerFnError::new("CloudCGM is not configured: no request in context"))
}

#[cfg(feature = "ssr")]
fn backend() -> Result<crate::backend::BackendHandle, ServerFnError> {
    use_context::<crate::backend::BackendHandle>()
        .ok_or_else(|| ServerFnError::new("CloudCGM is not configured: no backend in context"))
}

/// The demo patients (demo mode only; refused otherwise).
#[server]
pub async fn list_demo_patients() -> Result<Vec<PatientSummaryView>, ServerFnError> {
    backend()?.0.demo_patients().await.map_err(Into::into)
}

/// The AGP report of one patient for the requested window and unit.
#[server]
pub async fn get_report(patient_id: i64, query: ReportQuery) -> Result<ReportView, ServerFnError> {
    backend()?
        .0
        .report(patient_id, query)
        .await
        .map_err(Into::into)
}

/// What this EHR launch is about: the user, the EHR patient and their link.
#[server]
pub async fn launch_state(ctx: String) -> Result<LaunchView, ServerFnError> {
    backend()?
        .0
        .launch_state(&request()?, &ctx)
        .await
        .map_err(Into::into)
}

/// The AGP report of the launch's linked patient.
#[server]
pub async fn launch_report(ctx: String, query: ReportQuery) -> Result<ReportView, ServerFnError> {
    backend()?
        .0
        .launch_report(&request()?, &ctx, query)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn propose_link(ctx: String, code: String) -> Result<LinkProposalView, ServerFnError> {
    backend()?
        .0
        .propose_link(&request()?, &ctx, code)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn confirm_link(ctx: String, reason: Option<String>) -> Result<(), ServerFnError> {
    backend()?
        .0
        .confirm_link(&request()?, &ctx, reason)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn admin_overview(ctx: String) -> Result<AdminView, ServerFnError> {
    backend()?
        .0
        .admin_overview(&request()?, &ctx)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn admin_unlink(ctx: String, link_id: i64, reason: String) -> Result<(), ServerFnError> {
    backend()?
        .0
        .admin_unlink(&request()?, &ctx, link_id, reason)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn admin_search_patients(
    ctx: String,
    name: String,
) -> Result<Vec<EhrPatientView>, ServerFnError> {
    backend()?
        .0
        .admin_search_patients(&request()?, &ctx, name)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn admin_link(
    ctx: String,
    ehr_patient_id: String,
    code: String,
    reason: Option<String>,
) -> Result<(), ServerFnError> {
    backend()?
        .0
        .admin_link(&request()?, &ctx, ehr_patient_id, code, reason)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn portal_state() -> Result<Option<PortalView>, ServerFnError> {
    backend()?
        .0
        .portal_state(&request()?)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn portal_sign_in(username: String, password: String) -> Result<(), ServerFnError> {
    backend()?
        .0
        .portal_sign_in(&request()?, username, password)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn portal_sign_out() -> Result<(), ServerFnError> {
    backend()?
        .0
        .portal_sign_out(&request()?)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn portal_new_code() -> Result<(), ServerFnError> {
    backend()?
        .0
        .portal_new_code(&request()?)
        .await
        .map_err(Into::into)
}

#[server]
pub async fn portal_revoke_code() -> Result<(), ServerFnError> {
    backend()?
        .0
        .portal_revoke_code(&request()?)
        .await
        .map_err(Into::into)
}

/// Sends the launch's linked patient's data to the EHR now (a one-time order from the UI).
#[server]
pub async fn request_submission(
    ctx: String,
    request: SendRequest,
) -> Result<SubmissionJobView, ServerFnError> {
    backend()?
        .0
        .request_submission(&self::request()?, &ctx, request)
        .await
        .map_err(Into::into)
}

/// What CloudCGM sent to the EHR for the launch's linked patient, and what the EHR answered.
#[server]
pub async fn submission_history(ctx: String) -> Result<SubmissionHistoryView, ServerFnError> {
    backend()?
        .0
        .submission_history(&request()?, &ctx)
        .await
        .map_err(Into::into)
}
