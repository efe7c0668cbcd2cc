//! The PDF reports (`GET /ehr/documents/{id}.pdf`): the decoded `presentedForm.data` of a DiagnosticReport,
//! served inline as `application/pdf`.

use super::html;
use crate::sandbox::SandboxState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;

/// The base64 `data` of the report's first `application/pdf` presentedForm.
pub fn pdf_data(report: &Value) -> Option<&str> {
    report
        .get("presentedForm")?
        .as_array()?
        .iter()
        .filter(|form| {
            form.get("contentType")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("application/pdf"))
        })
        .find_map(|form| form.get("data").and_then(Value::as_str))
}

pub async fn pdf(State(state): State<SandboxState>, Path(file): Path<String>) -> Response {
    let base = state.config.base();
    let not_found = || {
        html::message_page(
            &base,
            StatusCode::NOT_FOUND,
            "No such document",
            "There is no PDF report with that id. Open the patient's chart to see the reports received.",
        )
    };
    let Some(id) = file.strip_suffix(".pdf") else {
        return not_found();
    };
    let report = match state.fhir.read("DiagnosticReport", id).await {
        Ok(Some(report)) => report,
        Ok(None) => return not_found(),
        Err(e) => {
            tracing::error!(error = %e, "sandbox EHR: reading a PDF report failed");
            return html::message_page(
                &base,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The sandbox could not read its database.",
            );
        }
    };
    let Some(data) = pdf_data(&report.body) else {
        return not_found();
    };
    // FHIR base64Binary may carry line breaks and spaces.
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) else {
        return html::message_page(
            &base,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unreadable document",
            "The report's PDF data is not valid base64.",
        );
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    let disposition = format!(
        "inline; filename=\"cgm-report-{}.pdf\"",
        id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
            .collect::<String>()
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
