//! The plain pages the launch shows when it cannot go on (SMART.md: "a clear page for every failure").
//! Each says what happened and what to do next; none echoes a token, code or state.

use crate::sandbox::ui::html::esc;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A failure page: `title`, then `advice` (plain text, escaped here).
pub fn failure(status: StatusCode, title: &str, advice: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · CloudCGM</title><link rel=\"stylesheet\" href=\"/pkg/cloudcgm.css\"></head>\
         <body><header class=\"app-header\"><span class=\"brand\">CloudCGM</span></header>\
         <main><section class=\"panel error-box\" role=\"alert\"><h1>{title}</h1><p>{advice}</p></section>\
         </main></body></html>\n",
        title = esc(title),
        advice = esc(advice),
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn no_launch_parameters() -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        "Open CloudCGM from your EHR",
        "CloudCGM starts from a patient's chart in your EHR, which tells it who you are and which patient \
         is open. Go to the patient's chart in your EHR and open CloudCGM there.",
    )
}

pub fn unknown_ehr(iss: &str) -> Response {
    failure(
        StatusCode::FORBIDDEN,
        "This EHR is not registered with CloudCGM",
        &format!(
            "CloudCGM accepts launches only from EHRs its administrator registered, and {iss} is not one of \
             them. Ask your CloudCGM administrator to register this EHR."
        ),
    )
}

pub fn ehr_unreachable() -> Response {
    failure(
        StatusCode::BAD_GATEWAY,
        "CloudCGM could not reach your EHR",
        "Your EHR's sign-in service did not answer as expected. Try opening CloudCGM again in a minute; if \
         it keeps failing, tell your EHR support team.",
    )
}

pub fn launch_expired() -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired or was already used",
        "Each opening of CloudCGM from the EHR can complete once and within ten minutes. Open CloudCGM \
         again from the patient's chart in your EHR.",
    )
}

pub fn denied(error: &str) -> Response {
    let advice = if error == "access_denied" {
        "CloudCGM was not given access. If that was a mistake, open CloudCGM again from your EHR and allow \
         access."
            .to_string()
    } else {
        format!(
            "Your EHR refused the sign-in ({error}). Open CloudCGM again from your EHR; if this keeps \
             happening, tell your EHR support team."
        )
    };
    failure(
        StatusCode::FORBIDDEN,
        "Your EHR did not authorize CloudCGM",
        &advice,
    )
}

pub fn sign_in_failed() -> Response {
    failure(
        StatusCode::BAD_GATEWAY,
        "The sign-in with your EHR did not complete",
        "CloudCGM could not confirm the sign-in with your EHR. Open CloudCGM again from the patient's chart; \
         if this keeps happening, tell your CloudCGM administrator (the server log has the details).",
    )
}

pub fn no_user() -> Response {
    failure(
        StatusCode::FORBIDDEN,
        "Your EHR did not say who you are",
        "CloudCGM needs to know which clinician is signed in (the EHR's fhirUser). Ask your EHR support team \
         to allow CloudCGM the openid and fhirUser scopes.",
    )
}

pub fn not_a_member(practice: &str) -> Response {
    failure(
        StatusCode::FORBIDDEN,
        "You are not a CloudCGM user of this practice",
        &format!(
            "You signed in through {practice}, but CloudCGM has no membership for you there. Ask your \
             practice's CloudCGM administrator to add you."
        ),
    )
}

pub fn session_ended() -> Response {
    failure(
        StatusCode::UNAUTHORIZED,
        "Your CloudCGM session has ended",
        "Open CloudCGM again from the patient's chart in your EHR.",
    )
}
