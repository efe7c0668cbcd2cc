//! The backend the server functions call (compiled with `ssr` only). Defined here, implemented by the server
//! crate and put into the Leptos context there, which keeps the app → server dependency one-way.

use crate::views::{PatientSummaryView, ReportQuery, ReportView};
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
}

/// The handle put in context (a newtype so `use_context` finds exactly this).
#[derive(Clone)]
pub struct BackendHandle(pub Arc<dyn Backend>);
