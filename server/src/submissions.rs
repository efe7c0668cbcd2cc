//! Submissions as the clinician sees them inside an EHR launch (SUB-8, NOTES D6): "send this patient's data
//! to the EHR now" for the last 14, 30 or 90 full days or custom dates, with the summary and PDF report
//! and/or every sensor reading, and the history of what was sent, how far a running submission is, and
//! which entries the EHR refused and why. Like every clinician call it acts only for the launch's own
//! linked EHR patient.

use crate::clinician::{context, internal, linked_patient};
use crate::jobs::submit::{enqueue, SubmitPayload};
use crate::launch::context::ClinicianContext;
use crate::state::AppState;
use crate::store::access::LinkRow;
use crate::store::jobs::{JobRow, JobStatus, SubmissionResult};
use crate::store::Patient;
use chrono::{Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use cloudcgm::fhir::CgmProfile;
use cloudcgm::localtime::local_date;
use cloudcgm::Window;
use cloudcgm_app::backend::{BackendError, Parts};
use cloudcgm_app::views::{
    RejectedEntryView, SendRequest, SubmissionHistoryView, SubmissionJobView,
};

/// The longest custom window: a year and a bit, sent in chunks (ORD-6).
const MAX_CUSTOM_DAYS: i64 = 400;
/// Jobs shown in the history.
const HISTORY_JOBS: u32 = 20;
/// Rejected entries listed per job (the counts cover all of them).
const REJECTIONS_SHOWN: usize = 20;

/// The window of a request: full local days of the patient up to yesterday (today is not over, and a
/// summary of a part day would understate wear), or the custom dates.
pub fn requested_window(
    request: &SendRequest,
    tz: Tz,
    now: chrono::DateTime<Utc>,
) -> Result<Window, BackendError> {
    let yesterday = local_date(now, tz) - Duration::days(1);
    if request.days > 0 {
        if ![14, 30, 90].contains(&request.days) {
            return Err(BackendError::BadRequest(
                "Choose 14, 30 or 90 days, or enter the first and last day.".into(),
            ));
        }
        return Ok(Window::last_days(yesterday, request.days, tz));
    }
    let day = |text: &Option<String>, which: &str| {
        text.as_deref()
            .and_then(|t| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").ok())
            .ok_or_else(|| {
                BackendError::BadRequest(format!(
                    "Enter the {which} day as a date (YYYY-MM-DD), or choose 14, 30 or 90 days."
                ))
            })
    };
    let (first, last) = (day(&request.first, "first")?, day(&request.last, "last")?);
    if last < first {
        return Err(BackendError::BadRequest(
            "The last day is before the first day: swap them.".into(),
        ));
    }
    if last > yesterday {
        return Err(BackendError::BadRequest(format!(
            "Choose a last day up to {yesterday}: today is not over yet, and later days have no data."
        )));
    }
    if (last - first).num_days() + 1 > MAX_CUSTOM_DAYS {
        return Err(BackendError::BadRequest(format!(
            "Choose at most {MAX_CUSTOM_DAYS} days at once."
        )));
    }
    Window::local_days(first, last, tz)
        .map_err(|e| BackendError::BadRequest(format!("That window cannot be used: {e}.")))
}

/// The data profiles of a request (NOTES D5). Readings go in mg/dL, the IG's default (NOTES C2).
pub fn requested_profiles(request: &SendRequest) -> Result<Vec<CgmProfile>, BackendError> {
    let mut profiles = Vec::new();
    if request.summary {
        profiles.extend([CgmProfile::SummaryPanel, CgmProfile::SummaryPdf]);
    }
    if request.readings {
        profiles.extend([CgmProfile::SensorReadingMass, CgmProfile::Device]);
    }
    if profiles.is_empty() {
        return Err(BackendError::BadRequest(
            "Choose what to send: the summary with its PDF report, the sensor readings, or both."
                .into(),
        ));
    }
    Ok(profiles)
}

/// The launch's clinician, their linked patient's link and CloudCGM patient record.
async fn linked(
    state: &AppState,
    req: &Parts,
    ctx: &str,
) -> Result<(ClinicianContext, LinkRow, Patient), BackendError> {
    let c = context(state, req, ctx).await?;
    let link = linked_patient(state, &c).await?;
    let patient = state
        .patients
        .patient(link.patient_id)
        .await
        .map_err(internal)?;
    Ok((c, link, patient))
}

pub async fn request_submission(
    state: &AppState,
    req: &Parts,
    ctx: &str,
    request: SendRequest,
) -> Result<SubmissionJobView, BackendError> {
    let (c, link, patient) = linked(state, req, ctx).await?;
    let now = state.clock.now();
    let window = requested_window(&request, patient.time_zone, now)?;
    let profiles = requested_profiles(&request)?;
    let job = enqueue(
        state,
        &link,
        window,
        &profiles,
        &c.launch.fhir_user,
        Some(c.launch.id),
        now,
    )
    .await
    .map_err(internal)?;
    let row = state
        .jobs
        .job(job.id())
        .await
        .map_err(internal)?
        .ok_or_else(|| internal("the job just enqueued is gone"))?;
    job_view(state, &row, patient.time_zone).await
}

pub async fn submission_history(
    state: &AppState,
    req: &Parts,
    ctx: &str,
) -> Result<SubmissionHistoryView, BackendError> {
    let (_, link, patient) = linked(state, req, ctx).await?;
    let rows = state
        .jobs
        .jobs_for_link(link.id, HISTORY_JOBS)
        .await
        .map_err(internal)?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in &rows {
        jobs.push(job_view(state, row, patient.time_zone).await?);
    }
    Ok(SubmissionHistoryView { jobs })
}

/// One job for the history: counts over its answered chunks and the first rejections with their reasons.
pub(crate) async fn job_view(
    state: &AppState,
    job: &JobRow,
    tz: Tz,
) -> Result<SubmissionJobView, BackendError> {
    let payload: Option<SubmitPayload> = serde_json::from_str(&job.payload).ok();
    let submissions = state
        .jobs
        .submissions_for_job(job.id)
        .await
        .map_err(internal)?;
    let answered: Vec<_> = submissions
        .iter()
        .filter(|s| s.result == SubmissionResult::Answered)
        .collect();
    let accepted = answered.iter().map(|s| s.accepted).sum();
    let rejected: u32 = answered.iter().map(|s| s.rejected).sum();
    let mut rejections = Vec::new();
    for s in answered.iter().filter(|s| s.rejected > 0) {
        if rejections.len() >= REJECTIONS_SHOWN {
            break;
        }
        let entries = state
            .jobs
            .submission_entries(s.id)
            .await
            .map_err(internal)?;
        rejections.extend(
            entries
                .into_iter()
                .filter(|e| !e.accepted())
                .take(REJECTIONS_SHOWN - rejections.len())
                .map(|e| RejectedEntryView {
                    resource: e.profile.unwrap_or(e.resource_type),
                    identifier: e.identifier,
                    status: e.status,
                    reason: e.outcome.unwrap_or_else(|| "the EHR gave no reason".into()),
                }),
        );
    }
    let (window, contents) = match &payload {
        Some(p) => (window_text(&p.window, tz), contents_text(&p.profiles)),
        None => ("unknown window".into(), "unknown".into()),
    };
    let local =
        |t: chrono::DateTime<Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string();
    Ok(SubmissionJobView {
        id: job.id.0,
        requested_by: job.requested_by.clone(),
        requested_at: local(job.created_at),
        window,
        contents,
        status: job.status.as_str().to_string(),
        status_text: status_text(job, accepted, rejected, tz),
        chunks_done: job.progress_done,
        chunks_total: job.progress_total,
        accepted,
        rejected,
        last_error: job.last_error.clone(),
        rejections,
        finished_at: job.finished_at.map(local),
    })
}

fn window_text(window: &Window, tz: Tz) -> String {
    let first = local_date(window.start, tz);
    let last = local_date(window.end - Duration::seconds(1), tz);
    format!("{first} – {last} ({tz})")
}

fn contents_text(canonicals: &[String]) -> String {
    let has = |p: CgmProfile| canonicals.iter().any(|c| c == p.canonical());
    let mut parts = Vec::new();
    if has(CgmProfile::SummaryPanel) {
        parts.push("summary");
    }
    if has(CgmProfile::SummaryPdf) {
        parts.push("PDF report");
    }
    if has(CgmProfile::SensorReadingMass) || has(CgmProfile::SensorReadingMolar) {
        parts.push("sensor readings");
    }
    if parts.is_empty() {
        return "other data".into();
    }
    parts.join(", ")
}

fn status_text(job: &JobRow, accepted: u32, rejected: u32, tz: Tz) -> String {
    let at = |t: chrono::DateTime<Utc>| t.with_timezone(&tz).format("%H:%M").to_string();
    match job.status {
        JobStatus::Queued if job.attempts == 0 => "Waiting to be sent.".into(),
        JobStatus::Queued => format!(
            "The EHR did not take it yet; CloudCGM tries again at {} (attempt {} of {}).",
            at(job.run_after),
            job.attempts + 1,
            job.max_attempts
        ),
        JobStatus::Running if job.progress_total > 0 => format!(
            "Sending: part {} of {}.",
            (job.progress_done + 1).min(job.progress_total),
            job.progress_total
        ),
        JobStatus::Running => "Preparing the data.".into(),
        JobStatus::Waiting => "Paused: the connection to the EHR has expired. Open CloudCGM again from this \
             patient's chart and it continues."
            .into(),
        JobStatus::Done if accepted == 0 && rejected == 0 => format!(
            "Nothing was sent: {}.",
            job.last_error.as_deref().unwrap_or("there was no data in this window")
        ),
        JobStatus::Done if rejected == 0 => format!(
            "Delivered: the EHR accepted all {accepted} entries.{}",
            job.last_error
                .as_deref()
                .map(|n| format!(" Not sent: {n}."))
                .unwrap_or_default()
        ),
        JobStatus::Done => format!(
            "Delivered with problems: the EHR accepted {accepted} entries and refused {rejected} (see below)."
        ),
        JobStatus::Failed => format!(
            "Not delivered: {}. Your practice administrator can see the details.",
            job.last_error.as_deref().unwrap_or("unknown error")
        ),
        JobStatus::Cancelled => format!(
            "Cancelled: {}.",
            job.last_error.as_deref().unwrap_or("no reason recorded")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn req(days: u32, first: Option<&str>, last: Option<&str>) -> SendRequest {
        SendRequest {
            days,
            first: first.map(String::from),
            last: last.map(String::from),
            summary: true,
            readings: false,
        }
    }

    #[test]
    fn the_last_30_days_are_the_30_full_local_days_up_to_yesterday() {
        let tz: Tz = chrono_tz::America::New_York;
        // 02:00 UTC on 25 Nov is still 24 Nov in New York: yesterday there is 23 Nov.
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
        let w = requested_window(&req(30, None, None), tz, now).unwrap();
        assert_eq!(
            local_date(w.start, tz),
            NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()
        );
        assert_eq!(
            w.end,
            cloudcgm::localtime::local_midnight(NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(), tz)
        );
    }

    #[test]
    fn custom_windows_are_checked_with_a_message_that_says_what_to_do() {
        let tz: Tz = chrono_tz::Europe::Berlin;
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let ok =
            requested_window(&req(0, Some("2026-01-01"), Some("2026-01-31")), tz, now).unwrap();
        assert_eq!((ok.end - ok.start).num_days(), 31);
        let err = |r: SendRequest| match requested_window(&r, tz, now) {
            Err(BackendError::BadRequest(m)) => m,
            other => panic!("expected a bad request, got {other:?}"),
        };
        assert!(err(req(0, Some("2026-02-01"), Some("2026-01-01"))).contains("swap"));
        assert!(err(req(0, Some("2026-11-20"), Some("2026-11-25"))).contains("up to 2026-11-24"));
        assert!(err(req(0, Some("2024-01-01"), Some("2026-01-01"))).contains("at most"));
        assert!(err(req(0, Some("yesterday"), Some("2026-01-01"))).contains("YYYY-MM-DD"));
        assert!(err(req(7, None, None)).contains("14, 30 or 90"));
    }

    #[test]
    fn d5_a_request_names_the_profiles_it_sends_and_nothing_is_refused() {
        let mut r = req(14, None, None);
        assert_eq!(
            requested_profiles(&r).unwrap(),
            vec![CgmProfile::SummaryPanel, CgmProfile::SummaryPdf]
        );
        r.readings = true;
        assert!(requested_profiles(&r)
            .unwrap()
            .contains(&CgmProfile::SensorReadingMass));
        r.summary = false;
        r.readings = false;
        assert!(matches!(
            requested_profiles(&r),
            Err(BackendError::BadRequest(_))
        ));
    }
}
