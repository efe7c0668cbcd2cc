//! The `#[server]` functions. Each body is a few lines: take the backend from context, call it, map the error.

use crate::views::{PatientSummaryView, ReportQuery, ReportView};
use leptos::prelude::*;

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
