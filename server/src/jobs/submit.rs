//! The `submit` job: one window of one linked patient's data, built into CGM Data Submission Bundles by the
//! core (SUB-2, SUB-3, chunked per NOTES A7 / ORD-6) and POSTed chunk by chunk to the EHR's
//! `$submit-cgm-bundle` (SUB-1). Every answer is recorded entry by entry (RCV-3). A chunk once answered is
//! never sent again by a retry of the job; a chunk without an answer is sent again, which the receiver
//! deduplicates through `ifNoneExist` on our deterministic identifiers (SUB-7, DUP-1). Rejected entries are
//! recorded with the receiver's reason and not retried (NOTES A2: never retry 4xx blindly).

use super::{lease_until, RunEnd};
use crate::state::AppState;
use crate::store::access::{LaunchId, LinkRow};
use crate::store::jobs::ScheduleProgress;
use crate::store::jobs::{
    Enqueued, EntryOutcome, JobKind, JobRow, NewJob, NewSubmission, SubmissionResult,
};
use crate::store::StoreError;
use crate::submit::receiver::ReceiverError;
use crate::submit::{post_bundle, EhrAccess};
use chrono::{DateTime, Utc};
use cloudcgm::fhir::bundle::{assemble, BundleInput, Submission};
use cloudcgm::fhir::CgmProfile;
use cloudcgm::orders::chunk_window;
use cloudcgm::report::build_report;
use cloudcgm::{DeviceId, Trace, Window};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Entries per POST (NOTES A7): well under the 10,000 our sandbox and most receivers accept.
pub const MAX_ENTRIES_PER_BUNDLE: usize = 5_000;
/// A submit job gives up after this many attempts (about a day of backoff).
pub const MAX_ATTEMPTS: u32 = 12;

/// The parameters of a submit job, fixed when it is enqueued so every retry rebuilds the same bundles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmitPayload {
    pub window: Window,
    /// The data profiles asked for, as canonical URLs (NOTES D5).
    pub profiles: Vec<String>,
    /// `Bundle.timestamp` and the PDF report's `issued`.
    pub timestamp: DateTime<Utc>,
    /// The launch of the clinician who asked, whose token may be used when there are no Backend Services.
    pub launch_hint: Option<i64>,
    pub max_entries: usize,
    /// The summary periods inside `window` (a standing order after a gap sends one summary per missed
    /// cycle, NOTES D2); empty: one summary over `window`.
    #[serde(default)]
    pub summary_windows: Vec<Window>,
    /// The standing-order schedule this window belongs to: its state advances when the job is done.
    #[serde(default)]
    pub schedule_key: Option<String>,
}

impl SubmitPayload {
    /// A payload for `window` and `profiles` (canonicals sorted, so equal requests compare equal).
    pub fn new(window: Window, profiles: &[CgmProfile], timestamp: DateTime<Utc>) -> SubmitPayload {
        let mut canonicals: Vec<String> =
            profiles.iter().map(|p| p.canonical().to_string()).collect();
        canonicals.sort();
        canonicals.dedup();
        SubmitPayload {
            window,
            profiles: canonicals,
            timestamp,
            launch_hint: None,
            max_entries: MAX_ENTRIES_PER_BUNDLE,
            summary_windows: Vec::new(),
            schedule_key: None,
        }
    }
}

/// Enqueues a submit job under `key` (same key, same job).
pub async fn enqueue_payload(
    state: &AppState,
    link: &LinkRow,
    payload: &SubmitPayload,
    key: String,
    requested_by: &str,
    now: DateTime<Utc>,
) -> Result<Enqueued, StoreError> {
    let job = NewJob {
        kind: JobKind::Submit,
        link_id: link.id,
        idempotency_key: key,
        payload: serde_json::to_string(payload).map_err(|e| StoreError::Invalid(e.to_string()))?,
        max_attempts: MAX_ATTEMPTS,
        run_after: now,
        requested_by: requested_by.to_string(),
    };
    let enqueued = state.jobs.enqueue(&job, now).await?;
    state.job_added.notify_one();
    Ok(enqueued)
}

/// Enqueues a submission of `window` for a link. The key makes a repeated request within the same minute
/// (a double click, two tabs) the same job.
pub async fn enqueue(
    state: &AppState,
    link: &LinkRow,
    window: Window,
    profiles: &[CgmProfile],
    requested_by: &str,
    launch: Option<LaunchId>,
    now: DateTime<Utc>,
) -> Result<Enqueued, StoreError> {
    let mut payload = SubmitPayload::new(window, profiles, now);
    payload.launch_hint = launch.map(|l| l.0);
    let key = format!(
        "submit:{}:{}:{}:{}:{}",
        link.id.0,
        window.start.timestamp(),
        window.end.timestamp(),
        payload.profiles.join(","),
        now.timestamp() / 60
    );
    enqueue_payload(state, link, &payload, key, requested_by, now).await
}

/// Runs a submit job to its end (or to the point where it must wait or retry).
pub async fn run(state: &Arc<AppState>, job: &JobRow, owner: &str) -> RunEnd {
    match try_run(state, job, owner).await {
        Ok(end) => end,
        Err(e) => RunEnd::Retry {
            after: None,
            error: e,
        },
    }
}

async fn try_run(state: &Arc<AppState>, job: &JobRow, owner: &str) -> Result<RunEnd, String> {
    let payload: SubmitPayload = match serde_json::from_str(&job.payload) {
        Ok(p) => p,
        Err(e) => return Ok(RunEnd::Failed(format!("unreadable job parameters: {e}"))),
    };
    let db = |e: StoreError| e.to_string();
    let Some(link) = state.access.link(job.link_id).await.map_err(db)? else {
        return Ok(RunEnd::Failed("the link no longer exists".into()));
    };
    if link.unlinked_at.is_some() {
        return Ok(RunEnd::Cancelled(
            "the patient was unlinked before the data was sent".into(),
        ));
    }
    let access = match connect(state, &link, payload.launch_hint.map(LaunchId)).await {
        Ok(access) => access,
        Err(end) => return Ok(end),
    };
    let receiver = match state
        .submitter
        .receivers
        .receiver(&state.http, &access.base)
        .await
    {
        Ok(r) => r,
        Err(e @ ReceiverError::NotAReceiver(_)) => return Ok(RunEnd::Failed(e.to_string())),
        Err(e @ ReceiverError::Unreachable(_)) => {
            return Ok(RunEnd::Retry {
                after: None,
                error: e.to_string(),
            })
        }
    };

    let Submission { bundles, omitted } = build_bundles(state, &link, &payload).await?;
    // What was asked for but cannot be sent (no data for a summary, …) is said, not hidden.
    let note = (!omitted.is_empty()).then(|| {
        omitted
            .iter()
            .map(|o| format!("{}: {}", o.profile.title(), o.reason))
            .collect::<Vec<_>>()
            .join("; ")
    });
    if bundles.is_empty() {
        if let Some(key) = &payload.schedule_key {
            // An empty cycle still counts: the next window starts after it, not before it.
            advance_schedule(state, &link, key, payload.window.end).await?;
        }
        return Ok(RunEnd::DoneWithNote(note.unwrap_or_else(|| {
            "there was nothing to send in this window".into()
        })));
    }
    let total = bundles.len() as u32;
    let answered: std::collections::HashSet<u32> = state
        .jobs
        .submissions_for_job(job.id)
        .await
        .map_err(db)?
        .iter()
        .filter(|s| s.result == SubmissionResult::Answered)
        .map(|s| s.chunk_index)
        .collect();
    let mut done = answered.len() as u32;
    state
        .jobs
        .set_progress(job.id, owner, done, total)
        .await
        .map_err(db)?;

    for (index, mut bundle) in bundles.into_iter().enumerate() {
        let index = index as u32;
        if answered.contains(&index) {
            continue;
        }
        if !receiver.conditional_create {
            strip_if_none_exist(&mut bundle);
        }
        let entries = entry_descriptions(&bundle);
        let body = serde_json::to_vec(&bundle).map_err(|e| e.to_string())?;
        let sha = hex_sha256(&body);
        let sent_at = state.clock.now();
        let answer = post_bundle(
            &state.http,
            &receiver.submit_url,
            &access.token,
            body,
            entries.len(),
            state.submitter.post_timeout(),
        )
        .await;
        let outcomes: Vec<EntryOutcome> = entries
            .iter()
            .zip(&answer.entries)
            .enumerate()
            .map(|(i, (sent, got))| EntryOutcome {
                entry_index: i as u32,
                resource_type: sent.0.clone(),
                profile: sent.1.clone(),
                identifier: sent.2.clone(),
                status: got.status,
                location: got.location.clone(),
                outcome: got.outcome.clone(),
            })
            .collect();
        let submission = NewSubmission {
            job_id: job.id,
            link_id: link.id,
            chunk_index: index,
            chunk_count: total,
            bundle_sha256: sha,
            entry_count: entries.len() as u32,
            sent_at,
            http_status: answer.http_status,
            result: answer.result,
            detail: answer.detail.clone(),
            entries: outcomes,
        };
        state
            .jobs
            .record_submission(&submission)
            .await
            .map_err(db)?;
        tracing::info!(
            job = job.id.0,
            chunk = index,
            of = total,
            status = answer.http_status,
            result = answer.result.as_str(),
            via = %access.via,
            "bundle submitted"
        );
        match answer.result {
            SubmissionResult::Answered => {
                done += 1;
                state
                    .jobs
                    .set_progress(job.id, owner, done, total)
                    .await
                    .map_err(db)?;
                if !state
                    .jobs
                    .extend_lease(job.id, owner, lease_until(state.clock.now()))
                    .await
                    .map_err(db)?
                {
                    return Err("the job's lease was lost".into());
                }
            }
            SubmissionResult::Retry if answer.http_status == Some(429) => {
                return Ok(RunEnd::Throttled {
                    after: answer.retry_after.unwrap_or(Duration::from_secs(60)),
                    error: answer.detail.unwrap_or_else(|| "HTTP 429".into()),
                })
            }
            SubmissionResult::Retry => {
                return Ok(RunEnd::Retry {
                    after: answer.retry_after,
                    error: answer.detail.unwrap_or_else(|| "no answer".into()),
                })
            }
            SubmissionResult::Refused if answer.unauthorized => {
                state.submitter.forget_backend_token(&link.ehr_id);
                return Ok(RunEnd::Retry {
                    after: Some(Duration::from_secs(1)),
                    error: "the EHR refused the token (401); a new one is fetched".into(),
                });
            }
            SubmissionResult::Refused => {
                return Ok(RunEnd::Failed(format!(
                    "the EHR refused chunk {} of {total}: {}",
                    index + 1,
                    answer.detail.unwrap_or_default()
                )))
            }
        }
    }
    record_audit(state, &link, job).await;
    if let Some(key) = &payload.schedule_key {
        advance_schedule(state, &link, key, payload.window.end).await?;
    }
    Ok(match note {
        Some(note) => RunEnd::DoneWithNote(note),
        None => RunEnd::Done,
    })
}

/// A standing-order window was delivered: the schedule's next window starts at its end (NOTES D1, D2).
async fn advance_schedule(
    state: &AppState,
    link: &LinkRow,
    key: &str,
    window_end: DateTime<Utc>,
) -> Result<(), String> {
    let before = state
        .jobs
        .schedule_progress(link.id, key)
        .await
        .map_err(|e| e.to_string())?;
    let after = ScheduleProgress {
        last_success_at: Some(state.clock.now()),
        covered_until: Some(
            before
                .covered_until
                .map_or(window_end, |c| c.max(window_end)),
        ),
    };
    state
        .jobs
        .set_schedule_progress(link.id, key, after)
        .await
        .map_err(|e| e.to_string())
}

/// The EHR connection for a job, or how the job ends when there is none.
pub(crate) async fn connect(
    state: &AppState,
    link: &LinkRow,
    launch_hint: Option<LaunchId>,
) -> Result<EhrAccess, RunEnd> {
    state
        .submitter
        .access(state, link, launch_hint)
        .await
        .map_err(RunEnd::from)
}

/// Reads the window's readings and builds the bundles (CPU work off the async threads).
async fn build_bundles(
    state: &AppState,
    link: &LinkRow,
    payload: &SubmitPayload,
) -> Result<Submission, String> {
    let patient = state
        .patients
        .patient(link.patient_id)
        .await
        .map_err(|e| e.to_string())?;
    let readings = state
        .patients
        .readings_in_window(link.patient_id, &payload.window)
        .await
        .map_err(|e| e.to_string())?;
    let devices: Vec<(DeviceId, String)> = state
        .patients
        .overview(link.patient_id)
        .await
        .map_err(|e| e.to_string())?
        .devices
        .into_iter()
        .map(|d| (DeviceId(d.device_key), d.display_name))
        .collect();
    let profiles: Vec<CgmProfile> = payload
        .profiles
        .iter()
        .filter_map(|c| CgmProfile::from_canonical(c))
        .collect();
    let subject = format!("Patient/{}", link.ehr_patient_id);
    let payload = payload.clone();
    tokio::task::spawn_blocking(move || {
        let trace = Trace::new(readings);
        let device_names: Vec<(DeviceId, &str)> = devices
            .iter()
            .map(|(id, name)| (id.clone(), name.as_str()))
            .collect();
        let (summary, data): (Vec<CgmProfile>, Vec<CgmProfile>) =
            profiles.iter().partition(|p| is_summary_profile(**p));
        let tz = patient.time_zone;
        let wants_pdf = summary.contains(&CgmProfile::SummaryPdf);
        // The PDF is the report page of the same window, dated by the job (not by the attempt), so a
        // retry renders the same bytes and the receiver recognises the same report (NOTES C8).
        let header = cloudcgm::chart::PageHeader {
            patient_name: patient.display_name(),
            birth_date: Some(patient.birth_date),
            generated_at: payload.timestamp,
            source: "CloudCGM".into(),
        };
        let render_pdf = |window: Window| -> Option<Vec<u8>> {
            if !wants_pdf || trace.in_window(&window).is_empty() {
                return None;
            }
            let report = build_report(&trace, window, tz, patient.preferred_unit);
            match crate::report_pdf::report_pdf(&report, &header) {
                Ok(pdf) => Some(pdf),
                Err(e) => {
                    tracing::error!(error = %e, "the PDF report could not be rendered; sending without it");
                    None
                }
            }
        };
        let build = |window: Window, profiles: &[CgmProfile], pdf: Option<&[u8]>| {
            assemble(&BundleInput {
                subject: &subject,
                trace: &trace,
                window,
                tz,
                profiles,
                pdf,
                timestamp: payload.timestamp,
                max_entries: payload.max_entries,
                device_names: &device_names,
            })
        };
        let mut all = Submission {
            bundles: Vec::new(),
            omitted: Vec::new(),
        };
        let mut add = |part: Submission| {
            all.bundles.extend(part.bundles);
            for o in part.omitted {
                if !all.omitted.contains(&o) {
                    all.omitted.push(o);
                }
            }
        };
        if !summary.is_empty() {
            let windows = if payload.summary_windows.is_empty() {
                vec![payload.window]
            } else {
                payload.summary_windows.clone()
            };
            for w in windows {
                let pdf = render_pdf(w);
                add(build(w, &summary, pdf.as_deref()));
            }
        }
        if !data.is_empty() {
            // Readings go per local calendar month (ORD-6), then in bundles of at most max_entries (A7).
            for w in chunk_window(payload.window, tz) {
                add(build(w, &data, None));
            }
        }
        all
    })
    .await
    .map_err(|e| format!("building the bundles failed: {e}"))
}

/// The summary group (panel, its members, the PDF report) is built per summary window; the rest per month.
fn is_summary_profile(p: CgmProfile) -> bool {
    matches!(p, CgmProfile::SummaryPanel | CgmProfile::SummaryPdf) || p.is_summary_member()
}

/// NOTES A4: a receiver without conditional create would reject exactly the entries with `ifNoneExist`.
fn strip_if_none_exist(bundle: &mut Value) {
    if let Some(entries) = bundle["entry"].as_array_mut() {
        for e in entries {
            if let Some(request) = e["request"].as_object_mut() {
                request.remove("ifNoneExist");
            }
        }
    }
}

/// (resource type, IG profile id, identifier `system|value`) of every entry, for the history.
fn entry_descriptions(bundle: &Value) -> Vec<(String, Option<String>, Option<String>)> {
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    let r = &e["resource"];
                    let profile = match cloudcgm::fhir::classify(r) {
                        cloudcgm::fhir::Classification::Profile(p) => Some(p.id().to_string()),
                        _ => None,
                    };
                    let identifier = r["identifier"][0]["system"]
                        .as_str()
                        .zip(r["identifier"][0]["value"].as_str())
                        .map(|(s, v)| format!("{s}|{v}"));
                    (
                        r["resourceType"].as_str().unwrap_or("?").to_string(),
                        profile,
                        identifier,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn hex_sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn record_audit(state: &AppState, link: &LinkRow, job: &JobRow) {
    let summary = match state.jobs.submissions_for_job(job.id).await {
        Ok(subs) => {
            let answered = subs
                .iter()
                .filter(|s| s.result == SubmissionResult::Answered);
            let (accepted, rejected) =
                answered.fold((0, 0), |(a, r), s| (a + s.accepted, r + s.rejected));
            format!(
                "job {}: {accepted} entries accepted, {rejected} rejected",
                job.id.0
            )
        }
        Err(e) => format!("job {}: history unreadable ({e})", job.id.0),
    };
    let event = crate::store::access::NewAuditEvent {
        ehr_id: Some(link.ehr_id.clone()),
        actor: job.requested_by.clone(),
        action: Some(crate::store::access::AuditAction::Submission),
        ehr_patient_id: Some(link.ehr_patient_id.clone()),
        patient_id: Some(link.patient_id),
        source_ip: None,
        detail: Some(summary),
    };
    if let Err(e) = state.access.audit(&event, state.clock.now()).await {
        tracing::error!(error = %e, "the submission could not be written to the audit log");
    }
}
