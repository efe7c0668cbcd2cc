//! `POST /sandbox/fhir/$submit-cgm-bundle`, the CGM Data Receiver's operation (RCV-2, RCV-10): the HTTP side.
//! Authenticates, checks the media type, the submission rate (RCV-6) and the body size, plans the Bundle with
//! the core (`cloudcgm::fhir::submission`, off the async runtime), settles the patient in context, applies it
//! with [`super::receive`] in one transaction together with the submission log, and answers the
//! `transaction-response` (NOTES A2). Whole-request failures are a single OperationOutcome.

use super::faults::Fault;
use super::http::{fhir_json, internal, outcome, require_grant};
use super::receive::{self, EntryResult};
use super::store::{self, SubmissionEntryRow, SubmissionRow};
use crate::sandbox::auth::grant::{Access, Grant, Interaction};
use crate::sandbox::SandboxState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use cloudcgm::fhir::outcome::{operation_outcome, Issue};
use cloudcgm::fhir::submission::{plan_submission, PatientRef, SubmissionError, SubmissionPlan};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// The resource types a submitter creates; a token that may create none of them is refused up front.
const WRITABLE: [&str; 4] = [
    "Observation",
    "DiagnosticReport",
    "Device",
    "ServiceRequest",
];

pub async fn submit(State(state): State<SandboxState>, headers: HeaderMap, body: Body) -> Response {
    let grant = match require_grant(&state, &headers).await {
        Ok(grant) => grant,
        Err(response) => return response,
    };
    let failure = Failure {
        state: &state,
        client: &grant.client_id,
    };
    if WRITABLE
        .iter()
        .all(|t| grant.access(Interaction::Create, t) == Access::Denied)
    {
        return failure
            .answer(
                None,
                StatusCode::FORBIDDEN,
                Issue::error(
                    "forbidden",
                    format!(
                        "the access token may create none of {}: request e.g. patient/Observation.c (AUTH-2)",
                        WRITABLE.join(", ")
                    ),
                ),
            )
            .await;
    }
    if let Err(message) = check_media_type(&headers) {
        return failure
            .answer(
                grant.patient.as_deref(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Issue::error("not-supported", message),
            )
            .await;
    }
    if let Some(patient) = &grant.patient {
        if let Err(wait) = state.submit_limiter.check(&grant.client_id, patient) {
            return failure.too_many(patient, wait).await;
        }
    }
    let fault = state.faults.next();
    if let Some(Fault::Status {
        status,
        retry_after,
    }) = fault
    {
        return injected_status(status, retry_after);
    }

    let max = state.config.max_body_bytes;
    let too_large = Issue::error(
        "too-costly",
        format!(
            "the request body is larger than {max} bytes: split the readings over several submissions (NOTES A7)"
        ),
    );
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return failure
            .answer(
                grant.patient.as_deref(),
                StatusCode::PAYLOAD_TOO_LARGE,
                too_large,
            )
            .await;
    }
    let bytes = match axum::body::to_bytes(body, max).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return failure
                .answer(
                    grant.patient.as_deref(),
                    StatusCode::PAYLOAD_TOO_LARGE,
                    too_large,
                )
                .await
        }
    };

    // Parsing and validating 26,000 entries takes a while: keep it off the async workers.
    let parsed = tokio::task::spawn_blocking(move || parse_and_plan(&bytes)).await;
    let (plan, resources) = match parsed {
        Ok(Ok(planned)) => planned,
        Ok(Err(e)) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            failure
                .log(grant.patient.as_deref(), status, &e.issues)
                .await;
            return outcome(status, &e.issues);
        }
        Err(e) => return internal(e),
    };
    if plan.entries.len() > state.config.max_entries {
        return failure
            .answer(
                grant.patient.as_deref(),
                StatusCode::PAYLOAD_TOO_LARGE,
                Issue::error(
                    "too-costly",
                    format!(
                        "the Bundle has {} entries; at most {} are accepted per submission (NOTES A7)",
                        plan.entries.len(),
                        state.config.max_entries
                    ),
                ),
            )
            .await;
    }

    let patient = match &grant.patient {
        Some(p) => p.clone(),
        None => match single_linked_patient(&state, &grant, &plan).await {
            Ok(p) => {
                if let Err(wait) = state.submit_limiter.check(&grant.client_id, &p) {
                    return failure.too_many(&p, wait).await;
                }
                p
            }
            Err(message) => {
                return failure
                    .answer(
                        None,
                        StatusCode::FORBIDDEN,
                        Issue::error("forbidden", message),
                    )
                    .await
            }
        },
    };
    let patient_resource = match state.fhir.read("Patient", &patient).await {
        Ok(Some(p)) => p.body,
        Ok(None) => {
            return failure
                .answer(
                    None,
                    StatusCode::FORBIDDEN,
                    Issue::error("forbidden", "the patient in context no longer exists"),
                )
                .await
        }
        Err(e) => return internal(e),
    };

    match apply(&state, &grant, &patient, &patient_resource, plan, resources).await {
        Ok(results) => match fault {
            Some(Fault::Stall(pause)) => {
                tokio::time::sleep(pause).await;
                fhir_json(StatusCode::OK, &response_bundle(&results))
            }
            Some(Fault::DropAfterStoring) => dropped_answer(),
            _ => fhir_json(StatusCode::OK, &response_bundle(&results)),
        },
        Err(e) => internal(e),
    }
}

/// An injected whole-request status with its OperationOutcome (and `Retry-After`).
fn injected_status(status: u16, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = outcome(
        code,
        &[Issue::error(
            "transient",
            format!("injected fault: HTTP {status} (sandbox fault plan)"),
        )],
    );
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Headers of a 200, then the connection breaks before the body is complete.
fn dropped_answer() -> Response {
    let broken = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected fault: connection dropped after storing (sandbox fault plan)",
        ))
    });
    let mut response = Response::new(Body::from_stream(broken));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    response
}

/// Accepts `application/fhir+json`, `application/json` and the DSTU2-era `application/json+fhir`; the
/// CapabilityStatement lists JSON only (NOTES A2: 415 otherwise).
fn check_media_type(headers: &HeaderMap) -> Result<(), String> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/fhir+json" | "application/json" | "application/json+fhir" => Ok(()),
        "" => Err("send the Bundle with Content-Type: application/fhir+json".into()),
        other => Err(format!(
            "Content-Type {other} is not supported: send the Bundle as application/fhir+json"
        )),
    }
}

fn parse_and_plan(bytes: &[u8]) -> Result<(SubmissionPlan, Vec<Option<Value>>), SubmissionError> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| SubmissionError {
        status: 400,
        issues: vec![Issue::error(
            "structure",
            format!("the body is not valid JSON: {e}"),
        )],
    })?;
    let plan = plan_submission(&body)?;
    let mut body = body;
    let bundle = if body.get("resourceType").and_then(Value::as_str) == Some("Parameters") {
        body.pointer_mut("/parameter/0/resource")
            .map(Value::take)
            .unwrap_or_default()
    } else {
        body
    };
    let resources = match bundle {
        Value::Object(mut b) => match b.remove("entry") {
            Some(Value::Array(entries)) => entries
                .into_iter()
                .map(|mut e| e.get_mut("resource").map(Value::take))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    Ok((plan, resources))
}

/// A system-level (or patient-less user) token names no patient: every entry must then refer to one and the
/// same server Patient, linked to the client by an earlier launch (NOTES B4).
async fn single_linked_patient(
    state: &SandboxState,
    grant: &Grant,
    plan: &SubmissionPlan,
) -> Result<String, String> {
    let base = format!("{}/Patient/", state.config.fhir_base());
    let named: BTreeSet<String> = plan
        .entries
        .iter()
        .filter_map(|e| match &e.patient {
            Some(PatientRef::Server(id)) => Some(id.clone()),
            Some(PatientRef::Unresolvable(r)) => r.strip_prefix(&base).map(String::from),
            _ => None,
        })
        .collect();
    let mut named = named.into_iter();
    let (Some(patient), None) = (named.next(), named.next()) else {
        return Err(
            "a token without a patient in context must submit for exactly one patient: every entry's subject \
             must be the same Patient/{id} (NOTES B4)"
                .into(),
        );
    };
    if !state
        .auth
        .client_may_act_for(&grant.client_id, &patient)
        .await
    {
        return Err(format!(
            "client {} is not linked to Patient/{patient}: it must have been launched for this patient first \
             (NOTES B4)",
            grant.client_id
        ));
    }
    Ok(patient)
}

async fn apply(
    state: &SandboxState,
    grant: &Grant,
    patient: &str,
    patient_resource: &Value,
    plan: SubmissionPlan,
    resources: Vec<Option<Value>>,
) -> Result<Vec<EntryResult>, store::FhirStoreError> {
    let fhir_base = state.config.fhir_base();
    let ctx = receive::Context {
        grant,
        patient,
        patient_resource,
        fhir_base: &fhir_base,
    };
    let mut tx = state.db.begin().await?;
    let results = receive::receive(&mut tx, plan, resources, &ctx).await?;
    let count = |f: fn(u16) -> bool| results.iter().filter(|r| f(r.status)).count() as i64;
    let (created, matched, rejected) = (
        count(|s| s == 201),
        count(|s| s == 200),
        count(|s| s >= 400),
    );
    let row = SubmissionRow {
        id: 0,
        received_at: store::now_instant(),
        client_id: grant.client_id.clone(),
        patient_id: Some(patient.to_string()),
        http_status: 200,
        entries: results.len() as i64,
        created,
        matched,
        rejected,
        summary: Some(format!(
            "{created} created, {matched} already present or not stored, {rejected} rejected"
        )),
    };
    let entries: Vec<SubmissionEntryRow> = results
        .iter()
        .map(|r| SubmissionEntryRow {
            resource_type: r.resource_type.clone(),
            code: r.code.clone(),
            status: r.status,
            location: r.location.clone(),
            diagnostics: r
                .issues
                .iter()
                .find(|i| i.is_error())
                .map(|i| i.diagnostics.clone()),
        })
        .collect();
    store::log_submission(&mut tx, &row, &entries).await?;
    tx.commit().await?;
    tracing::info!(
        client = %grant.client_id,
        entries = results.len(),
        created,
        matched,
        rejected,
        "sandbox received a CGM submission"
    );
    Ok(results)
}

fn status_line(status: u16) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_string()
}

/// The `transaction-response` (RCV-3, RCV-10, NOTES A2): one entry per request entry, in order, never echoing
/// the resource or the request.
fn response_bundle(results: &[EntryResult]) -> Value {
    let entries: Vec<Value> = results
        .iter()
        .map(|r| {
            let mut response = json!({ "status": status_line(r.status) });
            if let Some(location) = &r.location {
                response["location"] = json!(location);
            }
            if let Some(version) = r.version {
                response["etag"] = json!(format!("W/\"{version}\""));
            }
            if let Some(modified) = &r.last_modified {
                response["lastModified"] = json!(modified);
            }
            if !r.issues.is_empty() {
                response["outcome"] = operation_outcome(&r.issues);
            }
            json!({ "response": response })
        })
        .collect();
    json!({
        "resourceType": "Bundle",
        "id": store::new_id(),
        "type": "transaction-response",
        "timestamp": store::now_instant(),
        "entry": entries,
    })
}

/// Whole-request failures: answered as one OperationOutcome and logged for the chart's history and audit.
struct Failure<'a> {
    state: &'a SandboxState,
    client: &'a str,
}

impl Failure<'_> {
    async fn answer(&self, patient: Option<&str>, status: StatusCode, issue: Issue) -> Response {
        let issues = [issue];
        self.log(patient, status, &issues).await;
        outcome(status, &issues)
    }

    async fn too_many(&self, patient: &str, wait: Duration) -> Response {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let issues = [Issue::error(
            "throttled",
            format!(
                "this client submitted for this patient less than {}s ago; retry after {secs}s (RCV-6)",
                self.state.config.submit_min_interval.as_secs()
            ),
        )];
        self.log(Some(patient), StatusCode::TOO_MANY_REQUESTS, &issues)
            .await;
        let mut response = outcome(StatusCode::TOO_MANY_REQUESTS, &issues);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        response
    }

    async fn log(&self, patient: Option<&str>, status: StatusCode, issues: &[Issue]) {
        let row = SubmissionRow {
            id: 0,
            received_at: store::now_instant(),
            client_id: self.client.to_string(),
            patient_id: patient.map(String::from),
            http_status: status.as_u16(),
            entries: 0,
            created: 0,
            matched: 0,
            rejected: 0,
            summary: issues.first().map(|i| i.diagnostics.clone()),
        };
        let result = async {
            let mut conn = self.state.db.acquire().await?;
            store::log_submission(&mut conn, &row, &[]).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "logging a refused submission failed");
        }
    }
}
