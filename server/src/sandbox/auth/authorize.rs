//! The authorization endpoint (SMART App Launch 2.x "Obtain authorization code", RFC 6749 §4.1, RFC 7636):
//! `GET`/`POST /auth/authorize`, and the standalone sign-in page's `POST /auth/signin`.
//!
//! Order of checks: the client and its exact redirect URI first (failures show a 400 page and never
//! redirect), then everything else with an error redirect: `response_type=code`, PKCE S256, `aud` equal to
//! the FHIR base, then either an EHR launch (a single-use launch id bound to this client: code at once, no
//! consent page, the EHR is trusted) or a standalone launch (sign-in page: a demo practitioner, and a patient
//! when `launch/patient` was requested; the pending request stays server-side, keyed by an opaque id, and
//! the form carries a CSRF token bound to it).

use super::super::SandboxState;
use super::util::{now, random_token, secrets_equal, sha256_hex};
use super::{AuthServer, Client, TokenContext, CODE_TTL_SECS, PENDING_TTL_SECS};
use crate::sandbox::ui::html::{esc as html_escape, pct as url_encode};
use axum::extract::{Form, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use cloudcgm::smart_scope::{Context, Scope, ScopeSet};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

type Params = Vec<(String, String)>;

pub async fn authorize_get(State(state): State<SandboxState>, Query(q): Query<Params>) -> Response {
    authorize(&state, q).await
}

pub async fn authorize_post(State(state): State<SandboxState>, Form(f): Form<Params>) -> Response {
    authorize(&state, f).await
}

/// Request parameters; a parameter given twice counts as invalid (RFC 6749 §3.1).
struct Request {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Request {
    fn new(params: Params) -> Request {
        let mut values = HashMap::new();
        let mut repeated = Vec::new();
        for (k, v) in params {
            match values.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => repeated.push(e.key().clone()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Request { values, repeated }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

async fn authorize(state: &SandboxState, params: Params) -> Response {
    let req = Request::new(params);
    let auth = &state.auth;
    if req
        .repeated
        .iter()
        .any(|k| k == "client_id" || k == "redirect_uri")
    {
        return error_page(
            StatusCode::BAD_REQUEST,
            "client_id or redirect_uri is given more than once.",
        );
    }
    let Some(client) = req.get("client_id").and_then(|id| auth.client(id)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Unknown or missing client_id: this app is not registered with the sandbox EHR.",
        );
    };
    let Some(redirect_uri) = req
        .get("redirect_uri")
        .filter(|r| client.redirect_uris.iter().any(|u| u == r))
        .map(str::to_string)
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The redirect_uri is missing or is not one registered for this client.",
        );
    };
    let app_state = req.get("state").map(str::to_string);
    let fail = |error: &str, description: &str| {
        error_redirect(&redirect_uri, error, description, app_state.as_deref())
    };
    if let Some(k) = req.repeated.first() {
        return fail("invalid_request", &format!("{k} is given more than once"));
    }
    if req.get("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if !client.has_grant_type("authorization_code") {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        );
    }
    let Some(code_challenge) = req.get("code_challenge").map(str::to_string) else {
        return fail("invalid_request", "PKCE code_challenge is required");
    };
    if req.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    if code_challenge.len() != 43
        || !code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 digest",
        );
    }
    if req.get("aud") != Some(auth.fhir_base()) {
        return fail("invalid_request", "aud must be this server's FHIR base URL");
    }
    let requested = ScopeSet::parse(req.get("scope").unwrap_or(""));
    // Resource scopes for a user-facing grant: system/ scopes belong to client_credentials only.
    let mut granted = requested
        .intersect(&client.scope)
        .filter(|s| !matches!(s, Scope::Resource(r) if r.context == Context::System));

    let pending = Pending {
        client: client.clone(),
        redirect_uri: redirect_uri.clone(),
        state: app_state.clone(),
        code_challenge,
    };
    match req.get("launch") {
        Some(launch) => {
            if !granted.contains(&Scope::Launch) {
                return fail(
                    "invalid_scope",
                    "an EHR launch needs the launch scope (registered for this client)",
                );
            }
            let Some(ctx) = consume_launch(auth, launch).await else {
                return fail(
                    "invalid_request",
                    "the launch id is unknown, used or expired",
                );
            };
            if ctx.client_id != client.client_id {
                return fail(
                    "invalid_request",
                    "the launch id was issued for another client",
                );
            }
            if ctx.encounter.is_none() {
                granted.remove(&Scope::LaunchEncounter);
            }
            let ctx = TokenContext {
                scope: granted,
                ..ctx
            };
            issue_code_redirect(auth, &pending, ctx).await
        }
        None => {
            // No launch id: no EHR context to hand out; the sign-in page gives the patient, never an encounter.
            granted.remove(&Scope::Launch);
            granted.remove(&Scope::LaunchEncounter);
            start_sign_in(state, &pending, granted).await
        }
    }
}

/// What a code is bound to besides its context.
struct Pending {
    client: Arc<Client>,
    redirect_uri: String,
    state: Option<String>,
    code_challenge: String,
}

async fn consume_launch(auth: &AuthServer, launch: &str) -> Option<TokenContext> {
    type Row = (String, String, String, Option<String>, bool);
    let row: Option<Row> = sqlx::query_as(
        "UPDATE auth_launches SET used = 1
         WHERE id_hash = ? AND used = 0 AND expires_at > ?
         RETURNING client_id, fhir_user, patient, encounter, need_patient_banner",
    )
    .bind(sha256_hex(launch))
    .bind(now())
    .fetch_optional(auth.db())
    .await
    .ok()
    .flatten();
    let (client_id, fhir_user, patient, encounter, need_patient_banner) = row?;
    Some(TokenContext {
        client_id,
        scope: ScopeSet::default(),
        patient: Some(patient),
        encounter,
        fhir_user: Some(fhir_user),
        need_patient_banner,
    })
}

async fn issue_code_redirect(auth: &AuthServer, pending: &Pending, ctx: TokenContext) -> Response {
    let code = random_token();
    let r = sqlx::query(
        "INSERT INTO auth_codes (code_hash, family, client_id, redirect_uri, code_challenge, scope, patient,
                                 encounter, fhir_user, need_patient_banner, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(sha256_hex(&code))
    .bind(random_token())
    .bind(&pending.client.client_id)
    .bind(&pending.redirect_uri)
    .bind(&pending.code_challenge)
    .bind(ctx.scope.to_string())
    .bind(&ctx.patient)
    .bind(&ctx.encounter)
    .bind(&ctx.fhir_user)
    .bind(ctx.need_patient_banner)
    .bind(now() + CODE_TTL_SECS)
    .execute(auth.db())
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "storing an authorization code failed");
        return error_redirect(
            &pending.redirect_uri,
            "server_error",
            "could not issue a code",
            pending.state.as_deref(),
        );
    }
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &pending.state {
        params.push(("state", s));
    }
    redirect(&pending.redirect_uri, &params)
}

async fn start_sign_in(state: &SandboxState, pending: &Pending, granted: ScopeSet) -> Response {
    let id = random_token();
    let csrf = random_token();
    let r = sqlx::query(
        "INSERT INTO auth_pending (id, csrf, client_id, redirect_uri, state, code_challenge, scope, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&csrf)
    .bind(&pending.client.client_id)
    .bind(&pending.redirect_uri)
    .bind(&pending.state)
    .bind(&pending.code_challenge)
    .bind(granted.to_string())
    .bind(now() + PENDING_TTL_SECS)
    .execute(state.auth.db())
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "storing a pending authorization failed");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Could not start the sign-in.",
        );
    }
    let practitioners = list_resources(state, "Practitioner").await;
    let patients = if granted.contains(&Scope::LaunchPatient) {
        Some(list_resources(state, "Patient").await)
    } else {
        None
    };
    sign_in_page(
        &state.config.base(),
        pending,
        &granted,
        &id,
        &csrf,
        &practitioners,
        patients.as_deref(),
    )
}

/// The sign-in form's fields.
#[derive(serde::Deserialize)]
pub struct SignIn {
    request: String,
    csrf: String,
    #[serde(default)]
    practitioner: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    action: String,
}

pub async fn sign_in(State(state): State<SandboxState>, Form(form): Form<SignIn>) -> Response {
    let auth = &state.auth;
    type Row = (String, String, String, Option<String>, String, String);
    let row: Option<Row> = sqlx::query_as(
        "SELECT csrf, client_id, redirect_uri, state, code_challenge, scope FROM auth_pending
         WHERE id = ? AND expires_at > ?",
    )
    .bind(&form.request)
    .bind(now())
    .fetch_optional(auth.db())
    .await
    .ok()
    .flatten();
    let Some((csrf, client_id, redirect_uri, app_state, code_challenge, scope)) = row else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already used. Start again from the app.",
        );
    };
    if !secrets_equal(&csrf, &form.csrf) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The sign-in form's CSRF token does not match.",
        );
    }
    let deleted = sqlx::query("DELETE FROM auth_pending WHERE id = ? AND csrf = ?")
        .bind(&form.request)
        .bind(&csrf)
        .execute(auth.db())
        .await
        .map(|r| r.rows_affected())
        .unwrap_or(0);
    if deleted != 1 {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in was already used. Start again from the app.",
        );
    }
    let Some(client) = auth.client(&client_id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The client is no longer registered.",
        );
    };
    if form.action == "deny" {
        return error_redirect(
            &redirect_uri,
            "access_denied",
            "the user denied the request",
            app_state.as_deref(),
        );
    }
    if !resource_exists(&state, "Practitioner", &form.practitioner).await {
        return error_redirect(
            &redirect_uri,
            "access_denied",
            "no practitioner signed in",
            app_state.as_deref(),
        );
    }
    let mut scope = ScopeSet::parse(&scope);
    let patient = if scope.contains(&Scope::LaunchPatient)
        && resource_exists(&state, "Patient", &form.patient).await
    {
        Some(form.patient.clone())
    } else {
        // launch/patient without a chosen patient: no patient context is granted.
        scope.remove(&Scope::LaunchPatient);
        None
    };
    let pending = Pending {
        client,
        redirect_uri,
        state: app_state,
        code_challenge,
    };
    let ctx = TokenContext {
        client_id,
        scope,
        patient,
        encounter: None,
        fhir_user: Some(format!("Practitioner/{}", form.practitioner)),
        need_patient_banner: true,
    };
    issue_code_redirect(auth, &pending, ctx).await
}

async fn resource_exists(state: &SandboxState, resource_type: &str, id: &str) -> bool {
    !id.is_empty()
        && sqlx::query_scalar::<_, i64>("SELECT 1 FROM resources WHERE type = ? AND id = ?")
            .bind(resource_type)
            .bind(id)
            .fetch_optional(&state.db)
            .await
            .ok()
            .flatten()
            .is_some()
}

/// `(id, display name)` of every resource of a type, for the pickers.
async fn list_resources(state: &SandboxState, resource_type: &str) -> Vec<(String, String)> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, body FROM resources WHERE type = ? ORDER BY id LIMIT 500")
            .bind(resource_type)
            .fetch_all(&state.db)
            .await
            .unwrap_or_default();
    rows.into_iter()
        .map(|(id, body)| {
            let name = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| display_name(&v))
                .unwrap_or_else(|| id.clone());
            (id, name)
        })
        .collect()
}

fn display_name(resource: &Value) -> Option<String> {
    let name = resource.get("name")?.as_array()?.first()?;
    if let Some(text) = name.get("text").and_then(Value::as_str) {
        return Some(text.to_string());
    }
    let mut parts: Vec<&str> = name
        .get("given")
        .and_then(Value::as_array)
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(f) = name.get("family").and_then(Value::as_str) {
        parts.push(f);
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Appends query parameters to a registered redirect URI.
pub fn redirect_url(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = redirect_uri.to_string();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.push_str(&url_encode(v));
        sep = '&';
    }
    url
}

fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, redirect_url(redirect_uri, params)),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

fn error_redirect(
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    redirect(redirect_uri, &params)
}

const PAGE_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f2328}\
label{display:block;margin:1rem 0 .25rem;font-weight:600}select{width:100%;padding:.4rem}\
button{margin:1.5rem .5rem 0 0;padding:.5rem 1rem}code{font-size:.85em}.err{color:#b42318}";

/// The authorization error page's CSP: nothing but its inline style.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{PAGE_STYLE}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = html_escape(title)
    )
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
        ],
        Html(page(
            "Sandbox EHR: authorization error",
            &format!("<p class=\"err\">{}</p>", html_escape(message)),
        )),
    )
        .into_response()
}

fn options(items: &[(String, String)]) -> String {
    items
        .iter()
        .map(|(id, name)| {
            format!(
                "<option value=\"{}\">{} ({})</option>",
                html_escape(id),
                html_escape(name),
                html_escape(id)
            )
        })
        .collect()
}

fn sign_in_page(
    base: &str,
    pending: &Pending,
    granted: &ScopeSet,
    request_id: &str,
    csrf: &str,
    practitioners: &[(String, String)],
    patients: Option<&[(String, String)]>,
) -> Response {
    let patient_picker = match patients {
        Some(p) => format!(
            "<label for=\"patient\">Patient</label><select id=\"patient\" name=\"patient\" required>{}</select>",
            options(p)
        ),
        None => String::new(),
    };
    let body = format!(
        "<p><strong>{client}</strong> asks for: <code>{scope}</code></p>\
         <form method=\"post\" action=\"{base}/auth/signin\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"practitioner\">Sign in as</label>\
         <select id=\"practitioner\" name=\"practitioner\" required>{practitioners}</select>\
         {patient_picker}\
         <button type=\"submit\" name=\"action\" value=\"approve\">Sign in and allow</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\" formnovalidate>Deny</button>\
         </form>",
        client = html_escape(&pending.client.name),
        scope = html_escape(&granted.to_string()),
        base = html_escape(base),
        request = html_escape(request_id),
        csrf = html_escape(csrf),
        practitioners = options(practitioners),
    );
    // The page's own CSP (so a host's default policy, such as CloudCGM's `form-action 'self'` when the sandbox
    // is mounted, never applies): Chromium checks `form-action` on the redirect that follows the POST, so the
    // client's redirect origin must be allowed or the code never reaches the app.
    let redirect_origin =
        crate::sandbox::ui::html::origin_of(&pending.redirect_uri).unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {redirect_origin}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    (
        [
            (header::CACHE_CONTROL, "no-store".to_string()),
            // The sign-in page must not be framed by another site (clickjacking).
            (header::X_FRAME_OPTIONS, "DENY".to_string()),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        Html(page("Sandbox EHR: sign in", &body)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_urls_keep_an_existing_query_and_encode_values() {
        assert_eq!(
            redirect_url("http://a/cb?x=1", &[("code", "a b"), ("state", "s&t")]),
            "http://a/cb?x=1&code=a%20b&state=s%26t"
        );
    }
}
