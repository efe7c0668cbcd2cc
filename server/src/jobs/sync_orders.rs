//! The `sync_orders` job and the ticker that schedules it (SUB-4, SUB-5, ORD-1…6, NOTES D1–D7): for one
//! link, read the EHR's CGM standing and one-time orders (`ServiceRequest?patient&code`, retrying with the
//! bare code when `system|code` is refused, D7), and turn them into submit jobs: for every effective schedule
//! (D4: active orders only, union, the default schedule for an order without one) the next due window (D1,
//! D2, D3), at most one open job per schedule; every active one-time order once per version (D6). The ticker
//! enqueues a sync for every live link each hour, so orders are re-read daily and before every scheduled
//! submission (D4); a new link gets one at once.

use super::submit::{enqueue_payload, SubmitPayload};
use super::RunEnd;
use crate::state::AppState;
use crate::store::access::{LinkId, LinkRow};
use crate::store::jobs::{Enqueued, JobKind, JobRow, NewJob};
use crate::store::StoreError;
use crate::submit::EhrAccess;
use chrono::{DateTime, Utc};
use cloudcgm::orders::{
    default_schedule, effective_schedules, next_due, not_before_for, one_time_window,
    order_search_query, order_search_query_bare_code, parse_search_bundle, schedule_key,
    split_orders, Order, OrderStatus, ScheduleState,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How often the ticker looks for links to sync.
const TICK: Duration = Duration::from_secs(300);
/// Search result pages followed per order kind.
const MAX_PAGES: usize = 10;
pub const MAX_ATTEMPTS: u32 = 8;

/// Enqueues a sync of `link` for the current hour (a second call within the hour is the same job).
pub async fn enqueue_sync(
    state: &AppState,
    link: LinkId,
    now: DateTime<Utc>,
) -> Result<Enqueued, StoreError> {
    let job = NewJob {
        kind: JobKind::SyncOrders,
        link_id: link,
        idempotency_key: format!("sync:{}:{}", link.0, now.format("%Y-%m-%dT%H")),
        payload: "{}".into(),
        max_attempts: MAX_ATTEMPTS,
        run_after: now,
        requested_by: "standing-order".into(),
    };
    let enqueued = state.jobs.enqueue(&job, now).await?;
    state.job_added.notify_one();
    Ok(enqueued)
}

/// One sync per live link of every registered EHR.
pub async fn enqueue_all(state: &AppState, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut count = 0;
    for ehr in state.ehrs.all() {
        for link in state.access.links(&ehr.id, false).await? {
            if let Enqueued::New(_) = enqueue_sync(state, link.id, now).await? {
                count += 1;
            }
        }
    }
    Ok(count)
}

/// Enqueues the hourly syncs until the process ends.
pub fn spawn_ticker(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = enqueue_all(&state, state.clock.now()).await {
                tracing::error!(error = %e, "the order ticker could not enqueue syncs");
            }
            tokio::time::sleep(TICK).await;
        }
    })
}

pub async fn run(state: &Arc<AppState>, job: &JobRow) -> RunEnd {
    match try_run(state, job).await {
        Ok(end) => end,
        Err(e) => RunEnd::Retry {
            after: None,
            error: e,
        },
    }
}

async fn try_run(state: &Arc<AppState>, job: &JobRow) -> Result<RunEnd, String> {
    let db = |e: StoreError| e.to_string();
    let Some(link) = state.access.link(job.link_id).await.map_err(db)? else {
        return Ok(RunEnd::Failed("the link no longer exists".into()));
    };
    if link.unlinked_at.is_some() {
        return Ok(RunEnd::Cancelled("the patient was unlinked".into()));
    }
    let access = match super::submit::connect(state, &link, None).await {
        Ok(access) => access,
        Err(end) => return Ok(end),
    };
    let mut orders = Vec::new();
    for one_time in [false, true] {
        match read_orders(state, &access, &link.ehr_patient_id, one_time).await {
            Ok(found) => orders.extend(found),
            Err(end) => return Ok(end),
        }
    }
    let subject = format!("Patient/{}", link.ehr_patient_id);
    let (standing, one_time) = split_orders(
        orders
            .into_iter()
            .filter(|o| {
                order_subject(o).trim_start_matches(&format!("{}/", access.base)) == subject
            })
            .collect(),
    );
    let patient = state.patients.patient(link.patient_id).await.map_err(db)?;
    let tz = patient.time_zone;
    let now = state.clock.now();

    let default = default_schedule();
    for schedule in effective_schedules(&standing, &default) {
        let key = schedule_key(&schedule);
        let prefix = format!("standing:{}:{key}:", link.id.0);
        if state
            .jobs
            .open_job_with_prefix(link.id, &prefix)
            .await
            .map_err(db)?
            .is_some()
        {
            // The previous window is still on its way: its end is where the next one starts.
            continue;
        }
        let progress = state
            .jobs
            .schedule_progress(link.id, &key)
            .await
            .map_err(db)?;
        let schedule_state = ScheduleState {
            last_success_at: progress.last_success_at,
            covered_until: progress.covered_until,
        };
        let not_before = not_before_for(&standing, &default, &schedule, tz);
        let due = next_due(
            &schedule,
            &schedule_state,
            link.linked_at,
            not_before,
            now,
            tz,
        );
        if !due.is_due(now) {
            continue;
        }
        let mut payload = SubmitPayload::new(due.window, &schedule.profiles, now);
        payload.summary_windows = due.summary_windows.clone();
        payload.schedule_key = Some(key.clone());
        let job_key = format!(
            "{prefix}{}:{}",
            due.window.start.timestamp(),
            due.window.end.timestamp()
        );
        enqueue_payload(state, &link, &payload, job_key, "standing-order", now)
            .await
            .map_err(db)?;
        tracing::info!(link = link.id.0, schedule = %key, start = %due.window.start, end = %due.window.end,
            "standing-order window due");
    }

    for order in one_time.iter().filter(|o| o.status == OrderStatus::Active) {
        let version = order.version.clone().unwrap_or_default();
        if state
            .jobs
            .fulfilled_order(link.id, &order.id, &version)
            .await
            .map_err(db)?
            .is_some()
        {
            continue;
        }
        let window = one_time_window(&order.period, tz);
        let payload = SubmitPayload::new(window, &order.profiles, now);
        let requested_by = format!("ehr-order/{}", order.id);
        let key = format!("order:{}:{}", link.id.0, order.fulfilment_key());
        let job = enqueue_payload(state, &link, &payload, key, &requested_by, now)
            .await
            .map_err(db)?;
        state
            .jobs
            .record_fulfilled_order(link.id, &order.id, &version, job.id(), now)
            .await
            .map_err(db)?;
    }
    Ok(RunEnd::Done)
}

fn order_subject(order: &Order) -> &str {
    match order {
        Order::Standing(o) => &o.subject,
        Order::OneTime(o) => &o.subject,
    }
}

/// The patient's CGM orders of one kind: the search with `system|code`, again with the bare code when the
/// EHR refuses that (D7), following `next` pages on the same server only (the token goes nowhere else).
async fn read_orders(
    state: &AppState,
    access: &EhrAccess,
    patient: &str,
    one_time: bool,
) -> Result<Vec<Order>, RunEnd> {
    let base = access.base.trim_end_matches('/');
    let first = format!(
        "{base}/ServiceRequest?{}",
        order_search_query(patient, one_time)
    );
    let bundle = match get_json(state, access, &first).await? {
        Some(bundle) => bundle,
        None => {
            let bare = format!(
                "{base}/ServiceRequest?{}",
                order_search_query_bare_code(patient, one_time)
            );
            get_json(state, access, &bare).await?.ok_or_else(|| {
                RunEnd::Failed(
                    "the EHR refused the ServiceRequest search by patient and code (NOTES D7)"
                        .into(),
                )
            })?
        }
    };
    let mut orders = Vec::new();
    let mut page = Some(bundle);
    for _ in 0..MAX_PAGES {
        let Some(bundle) = page.take() else { break };
        let (found, errors) = parse_search_bundle(&bundle);
        for e in errors {
            tracing::warn!(error = %e, "an order of the EHR cannot be used");
        }
        orders.extend(found);
        let next = bundle["link"].as_array().and_then(|links| {
            links
                .iter()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str())
                .map(String::from)
        });
        if let Some(next) = next.filter(|n| n.starts_with(&format!("{base}/"))) {
            page = get_json(state, access, &next).await?;
        }
    }
    Ok(orders)
}

/// GET with the token: `Ok(None)` on 400 (the caller may try another query), a retry on 429/5xx or no
/// answer, a failure on other refusals.
async fn get_json(
    state: &AppState,
    access: &EhrAccess,
    url: &str,
) -> Result<Option<Value>, RunEnd> {
    let retry = |error: String, after: Option<Duration>| RunEnd::Retry { after, error };
    let response = state
        .http
        .get(url)
        .bearer_auth(access.token.expose())
        .header(reqwest::header::ACCEPT, "application/fhir+json")
        .send()
        .await
        .map_err(|e| retry(format!("reading orders: {}", e.without_url()), None))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::submit::response::parse_retry_after(v, state.clock.now()));
    match status {
        200 => response
            .json::<Value>()
            .await
            .map(Some)
            .map_err(|e| retry(format!("reading orders: {}", e.without_url()), None)),
        400 => Ok(None),
        429 | 500..=599 => Err(retry(format!("reading orders: HTTP {status}"), retry_after)),
        401 => {
            state.submitter.forget_backend_token(&access.ehr_id);
            Err(retry("reading orders: the EHR refused the token (401)".into(), Some(Duration::from_secs(1))))
        }
        _ => Err(RunEnd::Failed(format!(
            "the EHR refused to show this patient's orders (HTTP {status}); check CloudCGM's ServiceRequest scope"
        ))),
    }
}

/// Syncs a newly linked patient's orders at once (NOTES D1: submit promptly after linkage).
pub async fn after_link(state: &AppState, link: &LinkRow) {
    if let Err(e) = enqueue_sync(state, link.id, state.clock.now()).await {
        tracing::error!(link = link.id.0, error = %e, "the new link's order sync could not be enqueued");
    }
}
