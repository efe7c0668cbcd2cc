//! Background work (issue 5, item 6): workers claim due jobs from the job table under a lease, run them, and
//! either finish them, give them back for a retry with exponential backoff and jitter (or at the time a 429 or
//! 503 asked for), or park them while the EHR connection needs a new launch. A worker that dies mid-job
//! leaves a lease that lapses; the next claim takes the job over, and because every bundle is deterministic
//! and every entry carries `ifNoneExist` on a deterministic identifier (SUB-7, NOTES C8, C9), sending a chunk
//! again never creates a second copy at the receiver. One file per job kind.

pub mod submit;
pub mod sync_orders;

use crate::state::AppState;
use crate::store::jobs::{JobKind, JobRow, JobStatus};
use crate::submit::AccessProblem;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// How long a claim holds a job; the worker extends it between chunks. A worker that dies leaves its job to
/// the next claim once this has passed.
pub const LEASE: Duration = Duration::from_secs(120);

/// The lease in use: [`LEASE`], or `CLOUDCGM_JOB_LEASE_SECONDS` (crash tests shorten it, so a restarted
/// process takes over a killed one's job in seconds).
pub fn lease() -> Duration {
    crate::config::env_var("CLOUDCGM_JOB_LEASE_SECONDS")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .map(Duration::from_secs)
        .unwrap_or(LEASE)
}
/// First retry delay; doubled per attempt up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_secs(20);
pub const MAX_BACKOFF: Duration = Duration::from_secs(3_600);
/// A job parked for a new launch looks again this often even if no launch wakes it.
pub const WAIT_FOR_LAUNCH: Duration = Duration::from_secs(900);
/// An idle worker looks for due jobs this often (an enqueue wakes it at once).
const IDLE_POLL: Duration = Duration::from_secs(2);

/// How a job run ended, for the worker to record.
#[derive(Debug, PartialEq)]
pub enum RunEnd {
    Done,
    /// Done, and the history says what was left out and why.
    DoneWithNote(String),
    /// Give the job back to run again after the delay (the attempt counts).
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// The receiver asked to slow down (429, RCV-6): run again when it said; not the job's fault, so the
    /// attempt does not count.
    Throttled {
        after: Duration,
        error: String,
    },
    /// The EHR connection needs a new launch: park the job (the attempt does not count).
    Wait(String),
    Failed(String),
    Cancelled(String),
}

/// The delay before retry `attempt` (1-based): `BASE · 2^(attempt-1)` capped at an hour, with ±25 % jitter
/// from `jitter` in [0, 1) so that many jobs failing together do not return together. A `Retry-After` from
/// the receiver is a floor, never shortened by jitter (RCV-6).
pub fn retry_delay(attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let exp = BASE_BACKOFF
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    let jittered = exp.mul_f64(factor);
    match retry_after {
        Some(asked) => asked.max(Duration::from_secs(1)),
        None => jittered,
    }
}

/// How a job ends when the EHR connection cannot be used.
impl From<AccessProblem> for RunEnd {
    fn from(problem: AccessProblem) -> RunEnd {
        match problem {
            AccessProblem::NeedsRelaunch(why) => RunEnd::Wait(why),
            AccessProblem::NotConfigured(why) => RunEnd::Failed(why),
            AccessProblem::Unavailable(why) => RunEnd::Retry {
                after: None,
                error: why,
            },
        }
    }
}

fn jitter() -> f64 {
    let mut byte = [0u8; 2];
    // Jitter needs no cryptographic strength, but ring is already here and never fails in practice.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut byte).is_err() {
        return 0.5;
    }
    f64::from(u16::from_le_bytes(byte)) / 65_536.0
}

/// A unique worker name: the lease owner.
pub fn worker_name() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        crate::smart_client::random_b64url()
            .get(..8)
            .unwrap_or("worker")
    )
}

/// Claims and runs one due job. `Ok(false)` when nothing was due.
pub async fn run_once(state: &Arc<AppState>, owner: &str) -> anyhow::Result<bool> {
    let now = state.clock.now();
    let Some(job) = state.jobs.claim(owner, now, lease_until(now)).await? else {
        return Ok(false);
    };
    let end = if job.attempts > job.max_attempts {
        RunEnd::Failed(format!(
            "gave up after {} attempts: {}",
            job.max_attempts,
            job.last_error.as_deref().unwrap_or("no error recorded")
        ))
    } else {
        match job.kind {
            JobKind::Submit => submit::run(state, &job, owner).await,
            JobKind::SyncOrders => sync_orders::run(state, &job).await,
        }
    };
    record_end(state, &job, owner, end).await?;
    Ok(true)
}

pub(crate) fn lease_until(now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease()).unwrap_or_else(|_| chrono::Duration::minutes(2))
}

async fn record_end(
    state: &AppState,
    job: &JobRow,
    owner: &str,
    end: RunEnd,
) -> anyhow::Result<()> {
    let now = state.clock.now();
    let later =
        |d: Duration| now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1));
    let kept = match &end {
        RunEnd::Done => {
            state
                .jobs
                .finish(job.id, owner, JobStatus::Done, None, now)
                .await?
        }
        RunEnd::DoneWithNote(note) => {
            state
                .jobs
                .finish(job.id, owner, JobStatus::Done, Some(note), now)
                .await?
        }
        RunEnd::Failed(e) => {
            tracing::warn!(job = job.id.0, error = %e, "job failed");
            state
                .jobs
                .finish(job.id, owner, JobStatus::Failed, Some(e), now)
                .await?
        }
        RunEnd::Cancelled(e) => {
            state
                .jobs
                .finish(job.id, owner, JobStatus::Cancelled, Some(e), now)
                .await?
        }
        RunEnd::Retry { after, error } => {
            let delay = retry_delay(job.attempts, *after, jitter());
            tracing::info!(job = job.id.0, attempt = job.attempts, delay_s = delay.as_secs(), error = %error, "job will retry");
            state
                .jobs
                .release(
                    job.id,
                    owner,
                    JobStatus::Queued,
                    later(delay),
                    error,
                    true,
                    now,
                )
                .await?
        }
        RunEnd::Throttled { after, error } => {
            tracing::info!(job = job.id.0, delay_s = after.as_secs(), error = %error, "job throttled by the receiver");
            state
                .jobs
                .release(
                    job.id,
                    owner,
                    JobStatus::Queued,
                    later((*after).max(Duration::from_secs(1))),
                    error,
                    false,
                    now,
                )
                .await?
        }
        RunEnd::Wait(e) => {
            tracing::info!(job = job.id.0, reason = %e, "job waits for a new launch");
            state
                .jobs
                .release(
                    job.id,
                    owner,
                    JobStatus::Waiting,
                    later(WAIT_FOR_LAUNCH),
                    e,
                    false,
                    now,
                )
                .await?
        }
    };
    if !kept {
        tracing::warn!(
            job = job.id.0,
            "the job's lease was lost before it ended; another worker has it"
        );
    }
    Ok(())
}

/// Runs jobs until the process ends: one at a time per worker, woken by [`AppState::job_added`] or the idle poll.
pub fn spawn_worker(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let owner = worker_name();
        loop {
            match run_once(&state, &owner).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "the job worker could not use the job table"),
            }
            tokio::select! {
                _ = state.job_added.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_stop_growing_at_an_hour() {
        let mid = |a| retry_delay(a, None, 0.5);
        assert_eq!(mid(1), Duration::from_secs(20));
        assert_eq!(mid(2), Duration::from_secs(40));
        assert_eq!(mid(5), Duration::from_secs(320));
        assert_eq!(mid(30), MAX_BACKOFF);
        assert_eq!(retry_delay(1, None, 0.0), Duration::from_secs(15));
        assert!(retry_delay(1, None, 0.999) < Duration::from_secs(25));
        assert!(retry_delay(1, None, 0.999) > Duration::from_secs(24));
    }

    #[test]
    fn rcv_6_retry_after_is_honoured_exactly_whatever_the_attempt() {
        assert_eq!(
            retry_delay(7, Some(Duration::from_secs(5)), 0.9),
            Duration::from_secs(5)
        );
        assert_eq!(
            retry_delay(1, Some(Duration::from_secs(0)), 0.9),
            Duration::from_secs(1)
        );
    }
}
