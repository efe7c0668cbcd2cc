//! The AGP report as a PDF download (issue 5 item 2): `GET /ehr/{handle}/report.pdf` for the launch's own
//! linked patient (audited like a report view), and `GET /patients/{id}/report.pdf` for demo patients in demo
//! mode.
//! Both take the report page's query (`days`, `from`, `to`, `unit`), so the PDF is the page being looked at.

use crate::audit;
use crate::backend::render_report_pdf;
use crate::clinician::linked_patient;
use crate::launch::context::clinician;
use crate::report_pdf::PDF_CONTENT_TYPE;
use crate::state::AppState;
use crate::store::access::{AuditAction, NewAuditEvent};
use crate::store::PatientId;
use crate::web::client_ip;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use cloudcgm_app::backend::BackendError;
use cloudcgm_app::views::ReportQuery;
use std::sync::Arc;
use tower_sessions::Session;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ehr/{handle}/report.pdf", get(launch_report_pdf))
        .route("/patients/{id}/report.pdf", get(demo_report_pdf))
        .with_state(state)
}

fn pdf(bytes: Vec<u8>, name: &str) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PDF_CONTENT_TYPE),
    );
    // A report is health data: not for shared caches, and not kept by the browser either.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

fn refusal(e: BackendError) -> Response {
    let status = match e {
        BackendError::NotFound(_) => StatusCode::NOT_FOUND,
        BackendError::BadRequest(_) => StatusCode::BAD_REQUEST,
        BackendError::Forbidden(_) => StatusCode::FORBIDDEN,
        BackendError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.to_string()).into_response()
}

async fn launch_report_pdf(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(handle): Path<String>,
    Query(query): Query<ReportQuery>,
    extensions: axum::http::Extensions,
) -> Response {
    let Ok(c) = clinician(&state, &session, &handle).await else {
        return crate::launch::pages::session_ended();
    };
    let link = match linked_patient(&state, &c).await {
        Ok(link) => link,
        Err(e) => return refusal(e),
    };
    let bytes = match render_report_pdf(
        state.patients.as_ref(),
        link.patient_id,
        query,
        c.ehr.name.clone(),
        state.clock.now(),
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return refusal(e),
    };
    audit::record(
        &state,
        NewAuditEvent {
            ehr_id: Some(c.launch.ehr_id.clone()),
            actor: c.launch.fhir_user.clone(),
            action: Some(AuditAction::ReportView),
            ehr_patient_id: Some(link.ehr_patient_id.clone()),
            patient_id: Some(link.patient_id),
            source_ip: client_ip(&extensions),
            detail: Some("PDF download".into()),
        },
    )
    .await;
    pdf(bytes, "agp-report.pdf")
}

async fn demo_report_pdf(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    Query(query): Query<ReportQuery>,
) -> Response {
    if !state.settings.demo_mode {
        return refusal(BackendError::Forbidden(
            "Reports by patient number exist only in demo mode. Open CloudCGM from the patient's chart in your EHR."
                .into(),
        ));
    }
    match render_report_pdf(
        state.patients.as_ref(),
        PatientId(id),
        query,
        "CloudCGM demo data".into(),
        state.clock.now(),
    )
    .await
    {
        Ok(bytes) => pdf(bytes, &format!("agp-report-{id}.pdf")),
        Err(e) => refusal(e),
    }
}
