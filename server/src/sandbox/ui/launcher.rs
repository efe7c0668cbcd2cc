//! The launcher (`GET /ehr`; `GET /` redirects here): the demo user picks a practitioner to act as, a
//! patient and an app, and opens the chart (`GET /ehr/open` redirects to the chart's own URL).

use super::html::{self, esc, pct, Context};
use super::{view, Failure, PageError};
use crate::sandbox::SandboxState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

pub async fn launcher(State(state): State<SandboxState>) -> Result<Response, Failure> {
    render(&state).await.map_err(|e| e.at(&state))
}

async fn render(state: &SandboxState) -> Result<Response, PageError> {
    let base = state.config.base();
    let practitioners = state.fhir.list("Practitioner").await?;
    let patients = state.fhir.list("Patient").await?;
    let apps = state.auth.launchable_clients();

    let mut main = String::from(
        "<h1>Open a patient chart</h1>\n<p class=\"note\">This is a sandbox EHR with test data only. There \
         are no passwords: choose who you are, then a patient. The chosen practitioner is carried in the \
         page address, which is fine for a demo and never acceptable in a real EHR.</p>\n",
    );
    if practitioners.is_empty() || patients.is_empty() {
        main.push_str(
            "<section><p class=\"empty\">The sandbox has no practitioners or no patients yet. Start it \
             with seeding enabled (<code>--seed</code>) or create Practitioner and Patient resources \
             through its FHIR API.</p></section>\n",
        );
    }

    main.push_str(&format!(
        "<form method=\"get\" action=\"{}/ehr/open\">\n<section>\n<h2>Who are you?</h2>\n",
        esc(&base)
    ));
    if !practitioners.is_empty() {
        main.push_str(
            "<fieldset><legend>Practitioner</legend>\n<table>\n<thead><tr><th scope=\"col\">Choose</th>\
             <th scope=\"col\">Name</th><th scope=\"col\">FHIR id</th></tr></thead>\n<tbody>\n",
        );
        for (i, p) in practitioners.iter().enumerate() {
            let name = view::display_name(&p.body, &p.id);
            let input_id = format!("practitioner-{i}");
            main.push_str(&format!(
                "<tr><td><input type=\"radio\" name=\"practitioner\" id=\"{iid}\" value=\"{id}\"{checked} \
                 required></td><td><label for=\"{iid}\">{name}</label></td><td>{id}</td></tr>\n",
                iid = esc(&input_id),
                id = esc(&p.id),
                name = esc(&name),
                checked = if i == 0 { " checked" } else { "" },
            ));
        }
        main.push_str("</tbody>\n</table>\n</fieldset>\n");
    }
    main.push_str("</section>\n<section>\n<h2>Patients</h2>\n");
    if patients.is_empty() {
        main.push_str("<p class=\"empty\">No patients yet.</p>\n");
    } else {
        main.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Choose</th><th scope=\"col\">Name</th>\
             <th scope=\"col\">Birth date</th><th scope=\"col\">Gender</th><th scope=\"col\">MRN</th>\
             </tr></thead>\n<tbody>\n",
        );
        for (i, p) in patients.iter().enumerate() {
            let input_id = format!("patient-{i}");
            main.push_str(&format!(
                "<tr><td><input type=\"radio\" name=\"patient\" id=\"{iid}\" value=\"{id}\"{checked} \
                 required></td><td><label for=\"{iid}\">{name}</label></td><td>{birth}</td>\
                 <td>{gender}</td><td>{mrn}</td></tr>\n",
                iid = esc(&input_id),
                id = esc(&p.id),
                name = esc(&view::display_name(&p.body, &p.id)),
                birth = esc(view::text(&p.body, "birthDate")),
                gender = esc(view::text(&p.body, "gender")),
                mrn = esc(&view::mrn(&p.body)),
                checked = if i == 0 { " checked" } else { "" },
            ));
        }
        main.push_str("</tbody>\n</table>\n");
    }
    main.push_str("</section>\n<section>\n<h2>App</h2>\n");
    if apps.is_empty() {
        main.push_str(
            "<p class=\"empty\">No SMART apps are registered for EHR launch. Register one in the \
             sandbox's client registry (see docs/sandbox-ehr.md); the chart still opens without it.</p>\n",
        );
    } else {
        main.push_str("<div class=\"field\"><label for=\"app\">App to open in the chart</label> <select id=\"app\" name=\"app\">\n");
        for app in &apps {
            main.push_str(&format!(
                "<option value=\"{}\">{}</option>\n",
                esc(&app.client_id),
                esc(&app.name)
            ));
        }
        main.push_str("</select></div>\n");
    }
    main.push_str("</section>\n");
    if !practitioners.is_empty() && !patients.is_empty() {
        main.push_str("<p><button type=\"submit\">Open chart</button></p>\n");
    }
    main.push_str("</form>\n");

    let ctx = Context {
        user: None,
        banner: None,
    };
    Ok(html::page(
        StatusCode::OK,
        &html::csp(&[]),
        html::layout(&base, "Launcher", &ctx, &main),
    ))
}

#[derive(Deserialize)]
pub struct OpenChart {
    practitioner: Option<String>,
    patient: Option<String>,
    app: Option<String>,
}

/// `GET /ehr/open?practitioner=…&patient=…&app=…`: the launcher form's target; redirects to the chart.
pub async fn open_chart(
    State(state): State<SandboxState>,
    Query(form): Query<OpenChart>,
) -> Response {
    let base = state.config.base();
    let (Some(practitioner), Some(patient)) = (
        form.practitioner.filter(|s| !s.is_empty()),
        form.patient.filter(|s| !s.is_empty()),
    ) else {
        return html::message_page(
            &base,
            StatusCode::BAD_REQUEST,
            "Choose a practitioner and a patient",
            "Both a practitioner and a patient are needed to open a chart.",
        );
    };
    let mut url = format!(
        "{base}/ehr/{}/patients/{}",
        pct(&practitioner),
        pct(&patient)
    );
    if let Some(app) = form.app.filter(|s| !s.is_empty()) {
        url.push_str(&format!("?app={}", pct(&app)));
    }
    Redirect::to(&url).into_response()
}
