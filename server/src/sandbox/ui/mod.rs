//! The EHR's own pages (server-rendered HTML, no scripts): the launcher, the patient chart that embeds a
//! SMART app in an iframe and shows natively what it submitted, the orders page, and the PDF documents.
//! Routes are relative to `/sandbox`; see docs/sandbox-ehr.md.
//!
//! The signed-in practitioner is carried in the URL path (`/ehr/{practitioner}/patients/{patient}`): a
//! demo-only convenience with no passwords, acceptable because the sandbox holds only test data.

mod chart;
mod documents;
pub mod html;
mod launcher;
pub(crate) mod orders;
mod view;

use super::fhir::store::{FhirStoreError, Stored};
use super::SandboxState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use html::esc;

pub fn router() -> Router<SandboxState> {
    Router::new()
        .route(
            "/",
            get(|| async { Redirect::to(crate::sandbox::LAUNCHER_PATH) }),
        )
        .route("/ehr", get(launcher::launcher))
        .route("/ehr/open", get(launcher::open_chart))
        .route("/static/ehr.css", get(html::stylesheet))
        .route("/ehr/documents/{file}", get(documents::pdf))
        .route("/ehr/{practitioner}/patients/{patient}", get(chart::chart))
        .route(
            "/ehr/{practitioner}/patients/{patient}/launch",
            get(chart::launch_in_new_tab),
        )
        .route(
            "/ehr/{practitioner}/patients/{patient}/orders",
            get(orders::orders_page),
        )
        .route(
            "/ehr/{practitioner}/patients/{patient}/orders/standing",
            post(orders::create_standing),
        )
        .route(
            "/ehr/{practitioner}/patients/{patient}/orders/one-time",
            post(orders::create_one_time),
        )
        .route(
            "/ehr/{practitioner}/patients/{patient}/orders/{order}",
            get(orders::edit_page).post(orders::save_edit),
        )
        .route(
            "/ehr/{practitioner}/patients/{patient}/orders/{order}/status",
            post(orders::set_status),
        )
}

/// Why a page cannot be shown; rendered as a plain page with the right status.
#[derive(Debug)]
pub(crate) enum PageError {
    NotFound(String),
    Forbidden,
    Store(FhirStoreError),
}

impl From<FhirStoreError> for PageError {
    fn from(e: FhirStoreError) -> PageError {
        PageError::Store(e)
    }
}

/// A PageError together with the sandbox base, so it can render links back.
pub(crate) struct Failure {
    base: String,
    error: PageError,
}

impl PageError {
    pub(crate) fn at(self, state: &SandboxState) -> Failure {
        Failure {
            base: state.config.base(),
            error: self,
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self.error {
            PageError::NotFound(what) => html::message_page(
                &self.base,
                StatusCode::NOT_FOUND,
                "Not found",
                &format!("{what} does not exist in this sandbox. Pick one from the launcher."),
            ),
            PageError::Forbidden => html::message_page(
                &self.base,
                StatusCode::FORBIDDEN,
                "Request refused",
                "This form was not submitted from a Sandbox EHR page, so it was not processed.",
            ),
            PageError::Store(e) => {
                tracing::error!(error = %e, "sandbox EHR page: store failure");
                html::message_page(
                    &self.base,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The sandbox could not read its database. Try again; the server log has the details.",
                )
            }
        }
    }
}

/// Cross-site request check for every POST: the browser's `Origin` must be the sandbox's own origin, or
/// `Sec-Fetch-Site` must say `same-origin`. Requests with neither are refused too (the pages only post from
/// browsers, which send them).
pub(crate) fn same_origin(state: &SandboxState, headers: &HeaderMap) -> Result<(), PageError> {
    let origin_ok = headers
        .get(axum::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| origin == state.config.origin);
    let fetch_site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "same-origin");
    if origin_ok || fetch_site_ok {
        Ok(())
    } else {
        Err(PageError::Forbidden)
    }
}

/// The practitioner and patient a chart URL names; 404 when either is missing.
pub(crate) struct ChartSubject {
    pub practitioner: Stored,
    pub practitioner_name: String,
    pub patient: Stored,
}

impl ChartSubject {
    pub(crate) async fn load(
        state: &SandboxState,
        practitioner_id: &str,
        patient_id: &str,
    ) -> Result<ChartSubject, PageError> {
        let practitioner = state
            .fhir
            .read("Practitioner", practitioner_id)
            .await?
            .ok_or_else(|| PageError::NotFound("That practitioner".into()))?;
        let patient = state
            .fhir
            .read("Patient", patient_id)
            .await?
            .ok_or_else(|| PageError::NotFound("That patient".into()))?;
        Ok(ChartSubject {
            practitioner_name: view::display_name(&practitioner.body, &practitioner.id),
            practitioner,
            patient,
        })
    }

    /// `{base}/ehr/{practitioner}/patients/{patient}`
    pub(crate) fn chart_url(&self, base: &str) -> String {
        format!(
            "{base}/ehr/{}/patients/{}",
            html::pct(&self.practitioner.id),
            html::pct(&self.patient.id)
        )
    }

    /// The patient banner (name, birth date, gender, MRN) and the chart's tabs.
    pub(crate) fn banner(&self, base: &str, current: Tab) -> String {
        let p = &self.patient.body;
        let chart = self.chart_url(base);
        let tab = |tab: Tab, href: String, label: &str| {
            let current = if tab == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"{}\"{current}>{}</a>", esc(&href), esc(label))
        };
        format!(
            "<section class=\"banner\" aria-label=\"Patient\">\
             <p class=\"name\">{name}</p><dl>\
             <div><dt>Born</dt><dd>{birth}</dd></div>\
             <div><dt>Gender</dt><dd>{gender}</dd></div>\
             <div><dt>MRN</dt><dd>{mrn}</dd></div>\
             <div><dt>FHIR id</dt><dd>{id}</dd></div></dl></section>\n\
             <nav class=\"tabs\" aria-label=\"Chart\">{t1}{t2}</nav>\n",
            name = esc(&view::display_name(p, &self.patient.id)),
            birth = esc(or_dash(view::text(p, "birthDate"))),
            gender = esc(or_dash(view::text(p, "gender"))),
            mrn = esc(or_dash(&view::mrn(p))),
            id = esc(&self.patient.id),
            t1 = tab(Tab::Chart, chart.clone(), "Chart"),
            t2 = tab(Tab::Orders, format!("{chart}/orders"), "Orders"),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Chart,
    Orders,
}

pub(crate) fn or_dash(text: &str) -> &str {
    if text.is_empty() {
        "—"
    } else {
        text
    }
}
