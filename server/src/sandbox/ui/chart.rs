//! The patient chart (`GET /ehr/{practitioner}/patients/{patient}`): the app panel that embeds a SMART app
//! the way a real EHR does (a fresh EHR launch on every load, in a sandboxed iframe), and, natively, what the
//! app submitted: the CGM summaries, the sensor readings received, the PDF reports, the devices and the
//! submission history. `GET …/launch` starts another launch for opening the app in a new tab.

use super::html::{self, esc, pct, Context};
use super::{or_dash, view, ChartSubject, Failure, PageError, Tab};
use crate::sandbox::auth::{LaunchContext, RegisteredClient};
use crate::sandbox::fhir::store::Stored;
use crate::sandbox::SandboxState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use view::LOINC;

const SUMMARY_PANEL: &str = "107931-8";
const TIMES_IN_RANGES: &str = "106793-3";
const SENSOR_READING_MASS: &str = "99504-3";
const SENSOR_READING_MOLAR: &str = "105272-9";
/// The order members are shown in, whatever order the panel lists them.
const MEMBER_ORDER: [&str; 8] = [
    "97507-8", "105273-7", "106793-3", "97506-0", "104638-2", "104636-6", "104637-4", "",
];
const RANGE_ORDER: [&str; 5] = ["104642-4", "104641-6", "97510-2", "104640-8", "104639-0"];

#[derive(Deserialize)]
pub struct ChartQuery {
    /// Client id of the app to embed; the first launchable one when absent.
    app: Option<String>,
    /// Id of the summary panel to show in detail; the newest when absent.
    summary: Option<String>,
}

pub async fn chart(
    State(state): State<SandboxState>,
    Path((practitioner, patient)): Path<(String, String)>,
    Query(query): Query<ChartQuery>,
) -> Result<Response, Failure> {
    render(&state, &practitioner, &patient, &query)
        .await
        .map_err(|e| e.at(&state))
}

async fn render(
    state: &SandboxState,
    practitioner_id: &str,
    patient_id: &str,
    query: &ChartQuery,
) -> Result<Response, PageError> {
    let base = state.config.base();
    let subject = ChartSubject::load(state, practitioner_id, patient_id).await?;
    let apps = state.auth.launchable_clients();
    let app = choose_app(&apps, query.app.as_deref());

    let mut main = String::from("<h1>Chart</h1>\n");
    let mut frame_origins = Vec::new();
    main.push_str(&app_panel(state, &subject, app, &mut frame_origins).await);
    main.push_str(&cgm_results(state, &subject, query).await?);
    main.push_str(&submissions(state, &subject, &apps).await?);

    let ctx = Context {
        user: Some(&subject.practitioner_name),
        banner: Some(subject.banner(&base, Tab::Chart)),
    };
    let title = view::display_name(&subject.patient.body, &subject.patient.id);
    Ok(html::page(
        StatusCode::OK,
        &html::csp(&frame_origins),
        html::layout(&base, &title, &ctx, &main),
    ))
}

fn choose_app<'a>(
    apps: &'a [RegisteredClient],
    wanted: Option<&str>,
) -> Option<&'a RegisteredClient> {
    let mut launchable = apps.iter().filter(|a| a.launch_url.is_some());
    let first = launchable.clone().next();
    // An unknown `?app=` (e.g. a client removed from the registry) falls back to the default app.
    wanted
        .and_then(|id| launchable.find(|a| a.client_id == id))
        .or(first)
}

/// Records a fresh EHR launch and returns the app URL to open (`{launch_url}?iss=…&launch=…`).
async fn launch(
    state: &SandboxState,
    subject: &ChartSubject,
    app: &RegisteredClient,
) -> anyhow::Result<String> {
    let launch_url = app
        .launch_url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("{} has no launch URL", app.client_id))?;
    let context = LaunchContext {
        fhir_user: format!("Practitioner/{}", subject.practitioner.id),
        patient: subject.patient.id.clone(),
        encounter: None,
        // The chart shows its own banner above the app.
        need_patient_banner: false,
    };
    let launch_id = state.auth.create_launch(&app.client_id, context).await?;
    let separator = if launch_url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{launch_url}{separator}iss={}&launch={}",
        pct(&state.config.fhir_base()),
        pct(&launch_id)
    ))
}

async fn app_panel(
    state: &SandboxState,
    subject: &ChartSubject,
    app: Option<&RegisteredClient>,
    frame_origins: &mut Vec<String>,
) -> String {
    let Some(app) = app else {
        return "<section aria-labelledby=\"app-h\"><h2 id=\"app-h\">Apps</h2>\n<p class=\"empty\">No SMART \
                app is registered for EHR launch, so there is nothing to open here. Register CloudCGM in the \
                sandbox's client registry (docs/sandbox-ehr.md).</p></section>\n"
            .to_string();
    };
    let name = esc(&app.name);
    let new_tab = format!(
        "{}/launch?app={}",
        subject.chart_url(&state.config.base()),
        pct(&app.client_id)
    );
    let frame = match launch(state, subject, app).await {
        Ok(url) => {
            if let Some(origin) = html::origin_of(&url) {
                frame_origins.push(origin);
            }
            format!(
                "<iframe class=\"app-frame\" title=\"{name}\" src=\"{src}\" \
                 sandbox=\"allow-scripts allow-forms allow-same-origin allow-downloads\" \
                 allow=\"clipboard-write; fullscreen\" referrerpolicy=\"origin\"></iframe>",
                src = esc(&url)
            )
        }
        Err(e) => {
            tracing::warn!(error = %e, client = %app.client_id, "sandbox EHR: launch failed");
            format!(
                "<p class=\"error\">{name} could not be launched: {}. Reload the page to try again.</p>",
                esc(&e.to_string())
            )
        }
    };
    format!(
        "<section aria-labelledby=\"app-h\"><h2 id=\"app-h\">{name}</h2>\n\
         <p class=\"note\">Opened with an EHR launch for this patient. \
         <a href=\"{new_tab}\" target=\"_blank\" rel=\"noopener\">Open {name} in a new tab</a> \
         (starts a separate launch).</p>\n{frame}\n</section>\n",
        new_tab = esc(&new_tab),
    )
}

/// `GET /ehr/{practitioner}/patients/{patient}/launch?app=…`: a fresh launch, then a redirect to the app.
pub async fn launch_in_new_tab(
    State(state): State<SandboxState>,
    Path((practitioner, patient)): Path<(String, String)>,
    Query(query): Query<ChartQuery>,
    headers: HeaderMap,
) -> Result<Response, Failure> {
    // A launch is made from the EHR's own pages; a link on another site must not start one.
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site == "cross-site" || site == "same-site");
    if cross_site {
        return Err(PageError::Forbidden.at(&state));
    }
    let subject = ChartSubject::load(&state, &practitioner, &patient)
        .await
        .map_err(|e| e.at(&state))?;
    let apps = state.auth.launchable_clients();
    let Some(app) = choose_app(&apps, query.app.as_deref()) else {
        return Err(PageError::NotFound("That app".into()).at(&state));
    };
    match launch(&state, &subject, app).await {
        Ok(url) => Ok(Redirect::to(&url).into_response()),
        Err(e) => {
            tracing::warn!(error = %e, client = %app.client_id, "sandbox EHR: launch failed");
            Ok(html::message_page(
                &state.config.base(),
                StatusCode::SERVICE_UNAVAILABLE,
                "The app could not be launched",
                &format!("{}: {e}. Go back to the chart and try again.", app.name),
            ))
        }
    }
}

async fn cgm_results(
    state: &SandboxState,
    subject: &ChartSubject,
    query: &ChartQuery,
) -> Result<String, PageError> {
    let patient_id = &subject.patient.id;
    let chart_url = subject.chart_url(&state.config.base());
    let mut panels = state
        .fhir
        .list_for_patient("Observation", patient_id, Some((LOINC, SUMMARY_PANEL)))
        .await?;
    // Newest reporting period first; the store orders by arrival.
    panels.sort_by(|a, b| period_end(&b.body).cmp(period_end(&a.body)));
    let readings = reading_stats(state, patient_id).await?;
    let reports = state
        .fhir
        .list_for_patient("DiagnosticReport", patient_id, Some((LOINC, SUMMARY_PANEL)))
        .await?;
    let devices = devices(state, patient_id).await?;

    let mut out =
        String::from("<section aria-labelledby=\"cgm-h\"><h2 id=\"cgm-h\">CGM results</h2>\n");
    if panels.is_empty() && readings.iter().all(|r| r.count == 0) && reports.is_empty() {
        out.push_str(
            "<p class=\"empty\">No CGM data yet. Open CloudCGM above, link this patient, and submit \
             data (or wait for a standing order to run).</p>\n",
        );
    }

    out.push_str("<h3>Summary</h3>\n");
    let shown = match &query.summary {
        Some(id) => panels
            .iter()
            .find(|p| &p.id == id)
            .or_else(|| panels.first()),
        None => panels.first(),
    };
    match shown {
        Some(panel) => out.push_str(&summary_detail(state, panel).await?),
        None => out.push_str(
            "<p class=\"empty\">No CGM summary received. Ask CloudCGM for one with a standing or \
             one-time order (Orders tab) or submit from the app.</p>\n",
        ),
    }
    if panels.len() > 1 {
        out.push_str(
            "<h3>All summaries</h3>\n<table>\n<thead><tr><th scope=\"col\">Reporting period</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Received</th><th scope=\"col\"></th></tr></thead>\n<tbody>\n",
        );
        for panel in &panels {
            let is_shown = shown.is_some_and(|s| s.id == panel.id);
            let link = if is_shown {
                "shown above".to_string()
            } else {
                format!(
                    "<a href=\"{}?summary={}\">Show</a>",
                    esc(&chart_url),
                    esc(&pct(&panel.id))
                )
            };
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{link}</td></tr>\n",
                esc(&view::effective(&panel.body)),
                esc(view::text(&panel.body, "status")),
                esc(&panel.last_updated),
            ));
        }
        out.push_str("</tbody>\n</table>\n");
    }

    out.push_str("<h3>Sensor readings</h3>\n");
    if readings.iter().all(|r| r.count == 0) {
        out.push_str("<p class=\"empty\">No sensor readings received. Order the profile cgm-sensor-reading-mass-per-volume or -moles-per-volume to get them.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Readings</th><th scope=\"col\">Count</th>\
             <th scope=\"col\">First</th><th scope=\"col\">Last</th></tr></thead>\n<tbody>\n",
        );
        for r in readings.iter().filter(|r| r.count > 0) {
            out.push_str(&format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(r.label),
                r.count,
                esc(or_dash(&r.first)),
                esc(or_dash(&r.last)),
            ));
        }
        out.push_str("</tbody>\n</table>\n");
    }

    out.push_str("<h3>PDF reports</h3>\n");
    if reports.is_empty() {
        out.push_str("<p class=\"empty\">No PDF report received. Order the profile cgm-summary-pdf to get one.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Reporting period</th><th scope=\"col\">Issued</th>\
             <th scope=\"col\">Status</th><th scope=\"col\">Document</th></tr></thead>\n<tbody>\n",
        );
        for report in &reports {
            let has_pdf = super::documents::pdf_data(&report.body).is_some();
            let link = if has_pdf {
                format!(
                    "<a href=\"{}/ehr/documents/{}.pdf\" target=\"_blank\" rel=\"noopener\">Open PDF</a>",
                    esc(&state.config.base()),
                    esc(&pct(&report.id))
                )
            } else {
                "no inline PDF".to_string()
            };
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{link}</td></tr>\n",
                esc(&view::effective(&report.body)),
                esc(or_dash(view::text(&report.body, "issued"))),
                esc(view::text(&report.body, "status")),
            ));
        }
        out.push_str("</tbody>\n</table>\n");
    }

    out.push_str("<h3>Devices</h3>\n");
    if devices.is_empty() {
        out.push_str("<p class=\"empty\">No CGM device received. Order the profile cgm-device, or any sensor readings, to get it.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Serial number</th>\
             <th scope=\"col\">Identifiers</th><th scope=\"col\">Received</th></tr></thead>\n<tbody>\n",
        );
        for device in &devices {
            let name = device
                .body
                .get("deviceName")
                .and_then(Value::as_array)
                .and_then(|names| names.first())
                .map(|n| view::text(n, "name"))
                .unwrap_or("");
            let identifiers: Vec<String> = device
                .body
                .get("identifier")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| {
                    let system = view::text(i, "system");
                    let value = view::text(i, "value");
                    if system.is_empty() {
                        value.to_string()
                    } else {
                        format!("{system}|{value}")
                    }
                })
                .collect();
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(or_dash(name)),
                esc(or_dash(view::text(&device.body, "serialNumber"))),
                esc(or_dash(&identifiers.join(", "))),
                esc(&device.last_updated),
            ));
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
    Ok(out)
}

fn period_end(resource: &Value) -> &str {
    resource
        .pointer("/effectivePeriod/end")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The panel's period and every member with its value as stored; times in ranges with its five ranges.
async fn summary_detail(state: &SandboxState, panel: &Stored) -> Result<String, PageError> {
    let mut members = Vec::new();
    let mut missing = Vec::new();
    for reference in panel
        .body
        .get("hasMember")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("reference").and_then(Value::as_str))
    {
        let found = match view::reference_id(reference, "Observation") {
            Some(id) => state.fhir.read("Observation", id).await?,
            None => None,
        };
        match found {
            Some(member) => members.push(member),
            None => missing.push(reference.to_string()),
        }
    }
    let rank = |m: &Stored| {
        let code = view::loinc_code(&m.body).unwrap_or("");
        MEMBER_ORDER
            .iter()
            .position(|c| *c == code)
            .unwrap_or(MEMBER_ORDER.len())
    };
    members.sort_by_key(rank);

    let mut out = format!(
        "<p>Reporting period <strong>{}</strong> · status {} · received {}</p>\n",
        esc(or_dash(&view::effective(&panel.body))),
        esc(view::text(&panel.body, "status")),
        esc(&panel.last_updated),
    );
    out.push_str(
        "<table>\n<thead><tr><th scope=\"col\">Metric</th><th scope=\"col\">Value</th>\
         <th scope=\"col\">LOINC</th></tr></thead>\n<tbody>\n",
    );
    for member in &members {
        let code = view::loinc_code(&member.body).unwrap_or("");
        let value = member
            .body
            .get("valueQuantity")
            .and_then(view::quantity)
            .unwrap_or_default();
        out.push_str(&format!(
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td>{}</td></tr>\n",
            esc(view::metric_label(code)),
            esc(or_dash(&value)),
            esc(code),
        ));
        if code == TIMES_IN_RANGES {
            let mut components: Vec<&Value> = member
                .body
                .get("component")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            components.sort_by_key(|c| {
                let code = view::loinc_code(c).unwrap_or("");
                RANGE_ORDER.iter().position(|r| *r == code).unwrap_or(9)
            });
            for component in components {
                let code = view::loinc_code(component).unwrap_or("");
                let value = component
                    .get("valueQuantity")
                    .and_then(view::quantity)
                    .unwrap_or_default();
                out.push_str(&format!(
                    "<tr class=\"sub\"><th scope=\"row\">&#8195;{}</th><td class=\"num\">{}</td><td>{}</td></tr>\n",
                    esc(view::metric_label(code)),
                    esc(or_dash(&value)),
                    esc(code),
                ));
            }
        }
    }
    out.push_str("</tbody>\n</table>\n");
    if !missing.is_empty() {
        out.push_str(&format!(
            "<p class=\"error\">Members not found in the store: {}</p>\n",
            esc(&missing.join(", "))
        ));
    }
    Ok(out)
}

struct ReadingStats {
    label: &'static str,
    count: i64,
    first: String,
    last: String,
}

/// How many sensor readings of each unit the patient has, and the time they span.
///
/// Counted in SQL against the store's search index (documented in the sandbox migration) rather than by
/// loading up to a year of Observations; a count method on `FhirStore` would be the better home.
async fn reading_stats(
    state: &SandboxState,
    patient_id: &str,
) -> Result<Vec<ReadingStats>, PageError> {
    let mut out = Vec::new();
    for (code, label) in [
        (SENSOR_READING_MASS, "Glucose, mg/dL (99504-3)"),
        (SENSOR_READING_MOLAR, "Glucose, mmol/L (105272-9)"),
    ] {
        let row: (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(DISTINCT r.id), MIN(d.lo_ms), MAX(d.hi_ms) \
             FROM resources r \
             JOIN search_index c ON c.type = r.type AND c.id = r.id AND c.param = 'code' AND c.value = ? \
             LEFT JOIN search_index d ON d.type = r.type AND d.id = r.id AND d.param = 'date' \
             WHERE r.type = 'Observation' AND r.patient_id = ?",
        )
        .bind(code)
        .bind(patient_id)
        .fetch_one(&state.db)
        .await
        .map_err(|e| PageError::Store(e.into()))?;
        out.push(ReadingStats {
            label,
            count: row.0,
            first: row.1.map(instant).unwrap_or_default(),
            last: row.2.map(instant).unwrap_or_default(),
        });
    }
    Ok(out)
}

fn instant(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The patient's Devices: those in the patient compartment, and the patient-less ones its submissions
/// created (the IG never links a Device to a patient, DIGEST §4.13).
async fn devices(state: &SandboxState, patient_id: &str) -> Result<Vec<Stored>, PageError> {
    let mut devices = state
        .fhir
        .list_for_patient("Device", patient_id, None)
        .await?;
    let locations: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT e.location FROM submission_entries e \
         JOIN submissions s ON s.id = e.submission_id \
         WHERE s.patient_id = ? AND e.resource_type = 'Device' AND e.location IS NOT NULL",
    )
    .bind(patient_id)
    .fetch_all(&state.db)
    .await
    .map_err(|e| PageError::Store(e.into()))?;
    for (location,) in locations {
        let Some(id) = view::reference_id(&location, "Device") else {
            continue;
        };
        if devices.iter().any(|d| d.id == id) {
            continue;
        }
        if let Some(device) = state.fhir.read("Device", id).await? {
            devices.push(device);
        }
    }
    Ok(devices)
}

async fn submissions(
    state: &SandboxState,
    subject: &ChartSubject,
    apps: &[RegisteredClient],
) -> Result<String, PageError> {
    let rows = state
        .fhir
        .submissions_for_patient(&subject.patient.id)
        .await?;
    let mut out =
        String::from("<section aria-labelledby=\"sub-h\"><h2 id=\"sub-h\">Submissions</h2>\n");
    if rows.is_empty() {
        out.push_str(
            "<p class=\"empty\">No submissions yet. When CloudCGM calls $submit-cgm-bundle for this \
             patient, each call is listed here with what was accepted and rejected.</p>\n</section>\n",
        );
        return Ok(out);
    }
    out.push_str(
        "<table>\n<thead><tr><th scope=\"col\">Received</th><th scope=\"col\">Client</th>\
         <th scope=\"col\">HTTP status</th><th scope=\"col\">Entries</th><th scope=\"col\">Created</th>\
         <th scope=\"col\">Matched</th><th scope=\"col\">Rejected</th><th scope=\"col\">Summary</th></tr></thead>\n<tbody>\n",
    );
    for row in rows {
        let client = apps
            .iter()
            .find(|a| a.client_id == row.client_id)
            .map(|a| format!("{} ({})", a.name, a.client_id))
            .unwrap_or_else(|| row.client_id.clone());
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>\n",
            esc(&row.received_at),
            esc(&client),
            row.http_status,
            row.entries,
            row.created,
            row.matched,
            row.rejected,
            esc(or_dash(row.summary.as_deref().unwrap_or(""))),
        ));
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    Ok(out)
}
