//! The job table and the submission history in domain types (issue 5): jobs claimed under a lease, retried
//! later or parked while their EHR connection needs a new launch; every POST to `$submit-cgm-bundle` with
//! each entry's answer (RCV-3); standing-order state per schedule (NOTES D1, D2) and EHR one-time orders
//! already fulfilled (NOTES D6). Every change to a running job names the lease owner, so a worker that lost
//! its lease (it stalled past the lease, another worker took over) cannot overwrite the new owner's work.

use super::access::LinkId;
use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Build and POST the bundles of one window.
    Submit,
    /// Read the EHR's standing and one-time orders for a link.
    SyncOrders,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Submit => "submit",
            JobKind::SyncOrders => "sync_orders",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        match text {
            "submit" => Some(JobKind::Submit),
            "sync_orders" => Some(JobKind::SyncOrders),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    /// The EHR connection needs a new launch: the job waits instead of failing (issue 5, item 6).
    Waiting,
    Done,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Waiting => "waiting",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Waiting,
            JobStatus::Done,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: JobKind,
    pub link_id: LinkId,
    /// Same key, same job: enqueueing it again returns the existing one.
    pub idempotency_key: String,
    pub payload: String,
    pub max_attempts: u32,
    pub run_after: DateTime<Utc>,
    pub requested_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: JobId,
    pub kind: JobKind,
    pub link_id: LinkId,
    pub idempotency_key: String,
    pub payload: String,
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_after: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub progress_done: u32,
    pub progress_total: u32,
    pub last_error: Option<String>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    New(JobId),
    /// A job with the same idempotency key existed already.
    Existing(JobId),
}

impl Enqueued {
    pub fn id(self) -> JobId {
        match self {
            Enqueued::New(id) | Enqueued::Existing(id) => id,
        }
    }
}

/// How a POST of one chunk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionResult {
    /// A `transaction-response` with a status for every entry.
    Answered,
    /// 429, 5xx or no answer at all: the chunk is sent again later.
    Retry,
    /// The whole request was refused with an OperationOutcome (400, 401, 403, 413, 415, 422).
    Refused,
}

impl SubmissionResult {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionResult::Answered => "answered",
            SubmissionResult::Retry => "retry",
            SubmissionResult::Refused => "refused",
        }
    }

    pub fn parse(text: &str) -> Option<SubmissionResult> {
        match text {
            "answered" => Some(SubmissionResult::Answered),
            "retry" => Some(SubmissionResult::Retry),
            "refused" => Some(SubmissionResult::Refused),
            _ => None,
        }
    }
}

/// The receiver's answer for one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryOutcome {
    pub entry_index: u32,
    pub resource_type: String,
    pub profile: Option<String>,
    pub identifier: Option<String>,
    pub status: u16,
    pub location: Option<String>,
    pub outcome: Option<String>,
}

impl EntryOutcome {
    /// 2xx: the data is at the receiver (201 stored, 200 a duplicate of what it has; NOTES A2, A3).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub job_id: JobId,
    pub link_id: LinkId,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub bundle_sha256: String,
    pub entry_count: u32,
    pub sent_at: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub result: SubmissionResult,
    pub detail: Option<String>,
    pub entries: Vec<EntryOutcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionRow {
    pub id: i64,
    pub job_id: JobId,
    pub link_id: LinkId,
    pub chunk_index: u32,
    pub chunk_count: u32,
    pub bundle_sha256: String,
    pub entry_count: u32,
    pub sent_at: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub result: SubmissionResult,
    pub accepted: u32,
    pub rejected: u32,
    pub detail: Option<String>,
}

/// Where a standing-order schedule stands for one link (NOTES D1, D2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScheduleProgress {
    pub last_success_at: Option<DateTime<Utc>>,
    pub covered_until: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Inserts the job, or returns the one that has its idempotency key.
    async fn enqueue(&self, job: &NewJob, now: DateTime<Utc>) -> Result<Enqueued, StoreError>;
    /// Takes the next due job (queued or waiting with `run_after <= now`, or running with a lapsed lease)
    /// for `owner` until `lease_until`, counting an attempt. One statement: two workers never get the same job.
    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<JobRow>, StoreError>;
    /// Extends the lease of a job `owner` still holds; `false` when it lost the job.
    async fn extend_lease(
        &self,
        id: JobId,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn set_progress(
        &self,
        id: JobId,
        owner: &str,
        done: u32,
        total: u32,
    ) -> Result<bool, StoreError>;
    /// Ends the job as done, failed or cancelled.
    async fn finish(
        &self,
        id: JobId,
        owner: &str,
        status: JobStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Gives the job back to run at `run_after`, queued (a retry) or waiting (for a new launch). An attempt
    /// that was not the job's fault (waiting for a launch, a receiver asking to slow down) does not count
    /// towards `max_attempts`.
    #[allow(clippy::too_many_arguments)]
    async fn release(
        &self,
        id: JobId,
        owner: &str,
        status: JobStatus,
        run_after: DateTime<Utc>,
        error: &str,
        count_attempt: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn job(&self, id: JobId) -> Result<Option<JobRow>, StoreError>;
    /// The link's jobs, newest first.
    async fn jobs_for_link(&self, link: LinkId, limit: u32) -> Result<Vec<JobRow>, StoreError>;
    /// Waiting jobs of the links of an EHR patient become due now (a new launch arrived).
    async fn wake_waiting(&self, links: &[LinkId], now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// An unfinished job (queued, running or waiting) of the link whose key starts with `prefix`.
    async fn open_job_with_prefix(
        &self,
        link: LinkId,
        prefix: &str,
    ) -> Result<Option<JobId>, StoreError>;

    async fn record_submission(&self, submission: &NewSubmission) -> Result<i64, StoreError>;
    /// The job's submissions in the order they were sent.
    async fn submissions_for_job(&self, job: JobId) -> Result<Vec<SubmissionRow>, StoreError>;
    /// The link's submissions, newest first.
    async fn submissions_for_link(
        &self,
        link: LinkId,
        limit: u32,
    ) -> Result<Vec<SubmissionRow>, StoreError>;
    async fn submission_entries(&self, submission: i64) -> Result<Vec<EntryOutcome>, StoreError>;

    async fn schedule_progress(
        &self,
        link: LinkId,
        key: &str,
    ) -> Result<ScheduleProgress, StoreError>;
    async fn set_schedule_progress(
        &self,
        link: LinkId,
        key: &str,
        progress: ScheduleProgress,
    ) -> Result<(), StoreError>;
    /// The job that fulfilled this EHR order version, if any.
    async fn fulfilled_order(
        &self,
        link: LinkId,
        order_id: &str,
        version: &str,
    ) -> Result<Option<JobId>, StoreError>;
    async fn record_fulfilled_order(
        &self,
        link: LinkId,
        order_id: &str,
        version: &str,
        job: JobId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
