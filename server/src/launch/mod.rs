//! CloudCGM's EHR launch (SMART App Launch 2.x; SMART.md "CloudCGM as a SMART client"; issue 4 item 1):
//! `GET /launch` (registered `iss` only → discovery → PKCE, `state` stored sealed in the database → the
//! EHR's authorize endpoint with `aud` = `iss`), `GET /callback` (single-use state → code exchange → verified
//! id_token with `fhirUser` → practice membership → the EHR Patient read for the banner → tokens sealed in
//! `launches` → a new session id holding only the launch's row id → the app at `/ehr/{handle}`), and the
//! app's public keys at `/.well-known/jwks.json`.

pub mod context;
pub mod fhir;
pub mod pages;
pub mod pending;
pub mod tokens;

use crate::audit;
use crate::smart_client::authorize::{begin_launch, AuthorizeRequest};
use crate::smart_client::pending::{key, PendingError, PendingStore};
use crate::smart_client::token::{finish_launch, CompletedLaunch};
use crate::smart_client::SmartError;
use crate::state::AppState;
use crate::store::access::{AuditAction, NewAuditEvent, NewLaunch};
use crate::web::{client_ip, session};
use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pending::DbPendingStore;
use serde::Deserialize;
use std::sync::Arc;
use tower_sessions::Session;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/launch", get(launch))
        .route("/callback", get(callback))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    iss: Option<String>,
    launch: Option<String>,
}

fn see_other(url: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(url) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /launch?iss=…&launch=…` (EHR launch; without `launch`, a standalone launch at that EHR).
async fn launch(
    State(state): State<Arc<AppState>>,
    session: Session,
    Query(q): Query<LaunchQuery>,
) -> Response {
    let Some(iss) = q.iss.filter(|s| !s.is_empty()) else {
        return pages::no_launch_parameters();
    };
    let Some(ehr) = state.ehrs.by_iss(&iss).cloned() else {
        tracing::warn!(%iss, "launch from an unregistered EHR refused");
        return pages::unknown_ehr(&iss);
    };
    let config = match state.smart_configuration(&iss).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%iss, error = %e, "SMART discovery failed");
            return pages::ehr_unreachable();
        }
    };
    let mut scope = config.requested_scope();
    if q.launch.is_none() {
        // Standalone: ask the EHR to let the user pick the patient.
        scope = scope.replacen("launch ", "launch/patient ", 1);
    }
    let redirect_uri = state.redirect_uri();
    let pending = DbPendingStore::new(state.access.clone(), state.secrets.clone());
    let request = AuthorizeRequest {
        client_id: &ehr.client_id,
        redirect_uri: &redirect_uri,
        launch: q.launch.as_deref(),
        scope: &scope,
    };
    match begin_launch(&pending, &config, &request).await {
        Ok(url) => {
            // The state is also bound to this browser's session, so a callback URL made for one browser
            // cannot complete a launch in another (OAuth login CSRF, RFC 6749 §10.12).
            let sent = url
                .query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            if let Err(e) = session::remember_state(&session, &key(&sent)).await {
                tracing::error!(error = %e, "could not store the session");
                return pages::sign_in_failed();
            }
            see_other(url.as_str())
        }
        Err(e) => {
            tracing::error!(error = %e, ehr = %ehr.id, "could not start the launch");
            pages::ehr_unreachable()
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

/// `GET /callback?code=…&state=…` (or `?error=…&state=…`).
async fn callback(
    State(state): State<Arc<AppState>>,
    session: Session,
    extensions: Extensions,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(oauth_state) = q.state.filter(|s| !s.is_empty()) else {
        return pages::launch_expired();
    };
    let store = DbPendingStore::new(state.access.clone(), state.secrets.clone());
    let from_this_browser = match session::forget_state(&session, &key(&oauth_state)).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "session storage failed");
            return pages::sign_in_failed();
        }
    };
    // Taken before anything else, so an error answer or a replay also uses the state up.
    let pending = match store.take(&oauth_state).await {
        Ok(p) => p,
        Err(PendingError::Unknown | PendingError::Expired) => {
            tracing::warn!("callback with an unknown, used or expired state");
            return pages::launch_expired();
        }
        Err(e) => {
            tracing::error!(error = %e, "pending launch store failed");
            return pages::sign_in_failed();
        }
    };
    if !from_this_browser {
        tracing::warn!("callback in a browser session that did not start this launch");
        return pages::launch_expired();
    }
    if let Some(error) = q.error {
        tracing::info!(?error, iss = %pending.iss, "the EHR did not authorize the launch");
        return pages::denied(&error);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return pages::sign_in_failed();
    };
    let Some(ehr) = state.ehrs.by_iss(&pending.iss).cloned() else {
        return pages::unknown_ehr(&pending.iss);
    };
    let iss = pending.iss.clone();
    let done = async {
        let config = state.smart_configuration(&iss).await?;
        let client = ehr
            .credentials(&state.secrets)
            .map_err(|e| SmartError::ClientCredentials(e.to_string()))?;
        finish_launch(&state.http, &config, &client, pending, &code).await
    }
    .await;
    let CompletedLaunch {
        token,
        id_token: claims,
        ..
    } = match done {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(error = %e, ehr = %ehr.id, "the launch's token exchange failed");
            return pages::sign_in_failed();
        }
    };
    // Only the verified id_token names the user; the token response's own fhirUser is unsigned.
    let Some(fhir_user) = claims
        .and_then(|c| c.fhir_user)
        .map(|u| ehr.canonical_user(&u))
    else {
        return pages::no_user();
    };
    let role = match state.access.member_role(&ehr.id, &fhir_user).await {
        Ok(Some(role)) => role,
        Ok(None) => match ehr.enroll_unknown_users_as {
            Some(role) => match state.access.ensure_member(&ehr.id, &fhir_user, role).await {
                Ok(role) => {
                    audit::record(
                        &state,
                        NewAuditEvent {
                            ehr_id: Some(ehr.id.clone()),
                            actor: fhir_user.clone(),
                            action: Some(AuditAction::MemberEnrolled),
                            source_ip: client_ip(&extensions),
                            detail: Some(format!("enrolled as {} on first launch", role.as_str())),
                            ..Default::default()
                        },
                    )
                    .await;
                    role
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not enroll a member");
                    return pages::sign_in_failed();
                }
            },
            None => {
                tracing::warn!(ehr = %ehr.id, %fhir_user, "launch by a user who is not a member");
                return pages::not_a_member(&ehr.name);
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "membership lookup failed");
            return pages::sign_in_failed();
        }
    };
    // The EHR's own record of the patient, for the banner and the identity check when linking. A failed
    // read is not fatal: the page then shows the id only.
    let ehr_patient = match &token.patient {
        Some(id) => fhir::read_patient(&state.http, &iss, &token.access_token, id)
            .await
            .map_err(|e| tracing::warn!(error = %e, "could not read the EHR patient"))
            .ok(),
        None => None,
    };
    let new = NewLaunch {
        ehr_id: ehr.id.clone(),
        fhir_user: fhir_user.clone(),
        ehr_patient_id: token.patient.clone(),
        encounter: token.encounter.clone(),
        need_patient_banner: token.need_patient_banner,
        ehr_patient_name: ehr_patient.as_ref().and_then(|p| p.name.clone()),
        ehr_patient_birth: ehr_patient.as_ref().and_then(|p| p.birth_date.clone()),
        granted_scope: token.scope.clone(),
        expires_at: None,
    };
    let secrets = state.secrets.clone();
    let sealing_token = token.clone();
    let seal = move |id| tokens::seal_tokens(&secrets, id, &sealing_token);
    let launch_id = match state.access.insert_launch(&new, &seal).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "could not store the launch");
            return pages::sign_in_failed();
        }
    };
    let handle = match session::add_launch(&session, launch_id.0).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "could not store the session");
            return pages::sign_in_failed();
        }
    };
    audit::record(
        &state,
        NewAuditEvent {
            ehr_id: Some(ehr.id.clone()),
            actor: fhir_user,
            action: Some(AuditAction::Launch),
            ehr_patient_id: token.patient.clone(),
            source_ip: client_ip(&extensions),
            detail: Some(format!("role {}; scope {}", role.as_str(), token.scope)),
            ..Default::default()
        },
    )
    .await;
    if let Some(patient) = &token.patient {
        wake_waiting_jobs(&state, &ehr.id, patient).await;
    }
    see_other(&format!("/ehr/{handle}"))
}

/// A new launch for a patient brings a usable token: submissions that waited for one run now.
async fn wake_waiting_jobs(state: &AppState, ehr_id: &str, ehr_patient: &str) {
    let link = match state
        .access
        .live_link_for_ehr_patient(ehr_id, ehr_patient)
        .await
    {
        Ok(Some(link)) => link,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "could not look up the link of a new launch");
            return;
        }
    };
    match state.jobs.wake_waiting(&[link.id], state.clock.now()).await {
        Ok(0) => {}
        Ok(woken) => {
            tracing::info!(
                link = link.id.0,
                woken,
                "waiting submissions resume after a new launch"
            );
            state.job_added.notify_one();
        }
        Err(e) => tracing::error!(error = %e, "could not resume waiting submissions"),
    }
}

/// `GET /.well-known/jwks.json`: CloudCGM's public client key(s) for `private_key_jwt`.
async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    let mut response = Json(state.secrets.client_key.jwks.clone()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
