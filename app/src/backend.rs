//! The backend the server functions call (compiled with `ssr` only). Defined here, implemented by the server
//! crate and put into the Leptos context there, which keeps the app → server dependency one-way.

use crate::views::{
    AdminView, EhrPatientView, LaunchView, LinkProposalView, PatientSummaryView, PortalView,
    ReportQuery, ReportView, SendRequest, SubmissionHistoryView, SubmissionJobView,
};
pub use http::request::Parts;
use std::sync::Arc;

/// Errors the UI may show. Messages are for the clinician: they say what happened and what to do next.
/// Internal details are logged by the server and never cross the wire. (`ServerFnError` converts from any
/// error type, carrying the `Display` text.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Something went wrong on the server. Try again; if it persists, contact your administrator.")]
    Internal,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn demo_patients(&self) -> Result<Vec<PatientSummaryView>, BackendError>;
    async fn report(&self, patient_id: i64, query: ReportQuery)
        -> Result<ReportView, BackendError>;

    // Inside an EHR launch. `req` carries the session; `ctx` is the launch handle from the page's path.
    // Every method acts only for the launch's own user and EHR patient.
    async fn launch_state(&self, req: &Parts, ctx: &str) -> Result<LaunchView, BackendError>;
    async fn launch_report(
        &self,
        req: &Parts,
        ctx: &str,
        query: ReportQuery,
    ) -> Result<ReportView, BackendError>;
    /// Checks a sharing code and returns both identities for the clinician to compare.
    async fn propose_link(
        &self,
        req: &Parts,
        ctx: &str,
        code: String,
    ) -> Result<LinkProposalView, BackendError>;
    /// Links the proposed patient; a mismatch needs `reason`.
    async fn confirm_link(
        &self,
        req: &Parts,
        ctx: &str,
        reason: Option<String>,
    ) -> Result<(), BackendError>;

    // Practice administration (admins only).
    async fn admin_overview(&self, req: &Parts, ctx: &str) -> Result<AdminView, BackendError>;
    async fn admin_unlink(
        &self,
        req: &Parts,
        ctx: &str,
        link_id: i64,
        reason: String,
    ) -> Result<(), BackendError>;
    async fn admin_search_patients(
        &self,
        req: &Parts,
        ctx: &str,
        name: String,
    ) -> Result<Vec<EhrPatientView>, BackendError>;
    async fn admin_link(
        &self,
        req: &Parts,
        ctx: &str,
        ehr_patient_id: String,
        code: String,
        reason: Option<String>,
    ) -> Result<(), BackendError>;

    // Submissions to the EHR (issue 5).
    async fn request_submission(
        &self,
        req: &Parts,
        ctx: &str,
        request: SendRequest,
    ) -> Result<SubmissionJobView, BackendError>;
    async fn submission_history(
        &self,
        req: &Parts,
        ctx: &str,
    ) -> Result<SubmissionHistoryView, BackendError>;

    // The patient portal.
    async fn portal_state(&self, req: &Parts) -> Result<Option<PortalView>, BackendError>;
    async fn portal_sign_in(
        &self,
        req: &Parts,
        username: String,
        password: String,
    ) -> Result<(), BackendError>;
    async fn portal_sign_out(&self, req: &Parts) -> Result<(), BackendError>;
    async fn portal_new_code(&self, req: &Parts) -> Result<(), BackendError>;
    async fn portal_revoke_code(&self, req: &Parts) -> Result<(), BackendError>;
}

/// The handle put in context (a newtype so `use_context` finds exactly this).
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);
