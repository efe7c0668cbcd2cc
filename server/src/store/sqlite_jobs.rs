//! [`JobStore`] on SQLite. Claiming is one `UPDATE … WHERE id = (SELECT …) RETURNING`: SQLite runs writers
//! one at a time, so two workers can never take the same job (PostgreSQL will use `FOR UPDATE SKIP LOCKED`,
//! issue 6).

use super::access::LinkId;
use super::jobs::{
    Enqueued, EntryOutcome, JobId, JobKind, JobRow, JobStatus, JobStore, NewJob, NewSubmission,
    ScheduleProgress, SubmissionResult, SubmissionRow,
};
use super::sqlite::{ms_to_utc, SqliteStore};
use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row};

/// Entry rows per INSERT: 7 binds each, far below SQLite's variable limit.
const ENTRY_BATCH: usize = 2_000;

const JOB_COLUMNS: &str = "id, kind, link_id, idempotency_key, payload, status, attempts, max_attempts, \
     run_after_ms, lease_owner, lease_until_ms, progress_done, progress_total, last_error, requested_by, \
     created_at_ms, updated_at_ms, finished_at_ms";

fn opt_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(ms_to_utc).transpose()
}

fn count(r: &SqliteRow, column: &str) -> Result<u32, StoreError> {
    let v: i64 = r.try_get(column)?;
    u32::try_from(v).map_err(|_| StoreError::Invalid(format!("{column} = {v}")))
}

fn job_from_row(r: &SqliteRow) -> Result<JobRow, StoreError> {
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    Ok(JobRow {
        id: JobId(r.try_get("id")?),
        kind: JobKind::parse(&kind)
            .ok_or_else(|| StoreError::Invalid(format!("job kind {kind}")))?,
        link_id: LinkId(r.try_get("link_id")?),
        idempotency_key: r.try_get("idempotency_key")?,
        payload: r.try_get("payload")?,
        status: JobStatus::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("job status {status}")))?,
        attempts: count(r, "attempts")?,
        max_attempts: count(r, "max_attempts")?,
        run_after: ms_to_utc(r.try_get("run_after_ms")?)?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: opt_ms(r.try_get("lease_until_ms")?)?,
        progress_done: count(r, "progress_done")?,
        progress_total: count(r, "progress_total")?,
        last_error: r.try_get("last_error")?,
        requested_by: r.try_get("requested_by")?,
        created_at: ms_to_utc(r.try_get("created_at_ms")?)?,
        updated_at: ms_to_utc(r.try_get("updated_at_ms")?)?,
        finished_at: opt_ms(r.try_get("finished_at_ms")?)?,
    })
}

const SUBMISSION_COLUMNS: &str = "id, job_id, link_id, chunk_index, chunk_count, bundle_sha256, \
     entry_count, sent_at_ms, http_status, result, accepted, rejected, detail";

fn submission_from_row(r: &SqliteRow) -> Result<SubmissionRow, StoreError> {
    let result: String = r.try_get("result")?;
    let http_status: Option<i64> = r.try_get("http_status")?;
    Ok(SubmissionRow {
        id: r.try_get("id")?,
        job_id: JobId(r.try_get("job_id")?),
        link_id: LinkId(r.try_get("link_id")?),
        chunk_index: count(r, "chunk_index")?,
        chunk_count: count(r, "chunk_count")?,
        bundle_sha256: r.try_get("bundle_sha256")?,
        entry_count: count(r, "entry_count")?,
        sent_at: ms_to_utc(r.try_get("sent_at_ms")?)?,
        http_status: http_status.and_then(|s| u16::try_from(s).ok()),
        result: SubmissionResult::parse(&result)
            .ok_or_else(|| StoreError::Invalid(format!("submission result {result}")))?,
        accepted: count(r, "accepted")?,
        rejected: count(r, "rejected")?,
        detail: r.try_get("detail")?,
    })
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn enqueue(&self, job: &NewJob, now: DateTime<Utc>) -> Result<Enqueued, StoreError> {
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO jobs (kind, link_id, idempotency_key, payload, status, max_attempts, run_after_ms, \
             requested_by, created_at_ms, updated_at_ms) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(job.kind.as_str())
        .bind(job.link_id.0)
        .bind(&job.idempotency_key)
        .bind(&job.payload)
        .bind(i64::from(job.max_attempts))
        .bind(job.run_after.timestamp_millis())
        .bind(&job.requested_by)
        .bind(now.timestamp_millis())
        .bind(now.timestamp_millis())
        .fetch_optional(self.pool())
        .await?;
        if let Some(id) = inserted {
            return Ok(Enqueued::New(JobId(id)));
        }
        let existing: i64 = sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = ?")
            .bind(&job.idempotency_key)
            .fetch_one(self.pool())
            .await?;
        Ok(Enqueued::Existing(JobId(existing)))
    }

    async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<JobRow>, StoreError> {
        let now_ms = now.timestamp_millis();
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = 'running', lease_owner = ?, lease_until_ms = ?, attempts = attempts + 1, \
             updated_at_ms = ? WHERE id = (SELECT id FROM jobs WHERE \
             (status IN ('queued', 'waiting') AND run_after_ms <= ?) OR (status = 'running' AND lease_until_ms < ?) \
             ORDER BY run_after_ms, id LIMIT 1) RETURNING {JOB_COLUMNS}"
        ))
        .bind(owner)
        .bind(lease_until.timestamp_millis())
        .bind(now_ms)
        .bind(now_ms)
        .bind(now_ms)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn extend_lease(
        &self,
        id: JobId,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_until_ms = ? WHERE id = ? AND status = 'running' AND lease_owner = ?",
        )
        .bind(lease_until.timestamp_millis())
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_progress(
        &self,
        id: JobId,
        owner: &str,
        done: u32,
        total: u32,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE jobs SET progress_done = ?, progress_total = ? WHERE id = ? AND status = 'running' \
             AND lease_owner = ?",
        )
        .bind(i64::from(done))
        .bind(i64::from(total))
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(updated.rows_affected() == 1)
    }

    async fn finish(
        &self,
        id: JobId,
        owner: &str,
        status: JobStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if !status.is_final() {
            return Err(StoreError::Invalid(format!(
                "finish with status {}",
                status.as_str()
            )));
        }
        // A done job keeps only its own note; a failed one keeps the last retry's error if it has none.
        let done = sqlx::query(
            "UPDATE jobs SET status = ?, last_error = CASE WHEN ? THEN ? ELSE COALESCE(?, last_error) END, \
             lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = ?, finished_at_ms = ? \
             WHERE id = ? AND status = 'running' AND lease_owner = ?",
        )
        .bind(status.as_str())
        .bind(status == JobStatus::Done)
        .bind(error)
        .bind(error)
        .bind(now.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(
        &self,
        id: JobId,
        owner: &str,
        status: JobStatus,
        run_after: DateTime<Utc>,
        error: &str,
        count_attempt: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if !matches!(status, JobStatus::Queued | JobStatus::Waiting) {
            return Err(StoreError::Invalid(format!(
                "release with status {}",
                status.as_str()
            )));
        }
        let uncount = i64::from(!count_attempt);
        let done = sqlx::query(
            "UPDATE jobs SET status = ?, run_after_ms = ?, last_error = ?, attempts = attempts - ?, \
             lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = ? \
             WHERE id = ? AND status = 'running' AND lease_owner = ?",
        )
        .bind(status.as_str())
        .bind(run_after.timestamp_millis())
        .bind(error)
        .bind(uncount)
        .bind(now.timestamp_millis())
        .bind(id.0)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn job(&self, id: JobId) -> Result<Option<JobRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    async fn jobs_for_link(&self, link: LinkId, limit: u32) -> Result<Vec<JobRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE link_id = ? ORDER BY created_at_ms DESC, id DESC LIMIT ?"
        ))
        .bind(link.0)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    async fn wake_waiting(&self, links: &[LinkId], now: DateTime<Utc>) -> Result<u64, StoreError> {
        if links.is_empty() {
            return Ok(0);
        }
        let mut q = QueryBuilder::new("UPDATE jobs SET run_after_ms = ");
        q.push_bind(now.timestamp_millis())
            .push(" WHERE status = 'waiting' AND link_id IN (");
        let mut ids = q.separated(", ");
        for link in links {
            ids.push_bind(link.0);
        }
        q.push(")");
        Ok(q.build().execute(self.pool()).await?.rows_affected())
    }

    async fn open_job_with_prefix(
        &self,
        link: LinkId,
        prefix: &str,
    ) -> Result<Option<JobId>, StoreError> {
        // substr, not LIKE: keys hold characters LIKE would treat as wildcards.
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE link_id = ? AND status IN ('queued', 'running', 'waiting') \
             AND substr(idempotency_key, 1, length(?)) = ? ORDER BY id LIMIT 1",
        )
        .bind(link.0)
        .bind(prefix)
        .bind(prefix)
        .fetch_optional(self.pool())
        .await?;
        Ok(id.map(JobId))
    }

    async fn record_submission(&self, s: &NewSubmission) -> Result<i64, StoreError> {
        let accepted = s.entries.iter().filter(|e| e.accepted()).count() as i64;
        let rejected = s.entries.len() as i64 - accepted;
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO submissions (job_id, link_id, chunk_index, chunk_count, bundle_sha256, entry_count, \
             sent_at_ms, http_status, result, accepted, rejected, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(s.job_id.0)
        .bind(s.link_id.0)
        .bind(i64::from(s.chunk_index))
        .bind(i64::from(s.chunk_count))
        .bind(&s.bundle_sha256)
        .bind(i64::from(s.entry_count))
        .bind(s.sent_at.timestamp_millis())
        .bind(s.http_status.map(i64::from))
        .bind(s.result.as_str())
        .bind(accepted)
        .bind(rejected)
        .bind(&s.detail)
        .fetch_one(&mut *tx)
        .await?;
        for batch in s.entries.chunks(ENTRY_BATCH) {
            let mut q = QueryBuilder::new(
                "INSERT INTO submission_entries (submission_id, entry_index, resource_type, profile, identifier, \
                 status, location, outcome) ",
            );
            q.push_values(batch, |mut b, e| {
                b.push_bind(id)
                    .push_bind(i64::from(e.entry_index))
                    .push_bind(&e.resource_type)
                    .push_bind(&e.profile)
                    .push_bind(&e.identifier)
                    .push_bind(i64::from(e.status))
                    .push_bind(&e.location)
                    .push_bind(&e.outcome);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn submissions_for_job(&self, job: JobId) -> Result<Vec<SubmissionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE job_id = ? ORDER BY sent_at_ms, id"
        ))
        .bind(job.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(submission_from_row).collect()
    }

    async fn submissions_for_link(
        &self,
        link: LinkId,
        limit: u32,
    ) -> Result<Vec<SubmissionRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions WHERE link_id = ? ORDER BY sent_at_ms DESC, id DESC \
             LIMIT ?"
        ))
        .bind(link.0)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(submission_from_row).collect()
    }

    async fn submission_entries(&self, submission: i64) -> Result<Vec<EntryOutcome>, StoreError> {
        let rows = sqlx::query(
            "SELECT entry_index, resource_type, profile, identifier, status, location, outcome \
             FROM submission_entries WHERE submission_id = ? ORDER BY entry_index",
        )
        .bind(submission)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let status: i64 = r.try_get("status")?;
                Ok(EntryOutcome {
                    entry_index: count(r, "entry_index")?,
                    resource_type: r.try_get("resource_type")?,
                    profile: r.try_get("profile")?,
                    identifier: r.try_get("identifier")?,
                    status: u16::try_from(status)
                        .map_err(|_| StoreError::Invalid(format!("entry status {status}")))?,
                    location: r.try_get("location")?,
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect()
    }

    async fn schedule_progress(
        &self,
        link: LinkId,
        key: &str,
    ) -> Result<ScheduleProgress, StoreError> {
        let row = sqlx::query(
            "SELECT last_success_at_ms, covered_until_ms FROM schedule_state WHERE link_id = ? AND schedule_key = ?",
        )
        .bind(link.0)
        .bind(key)
        .fetch_optional(self.pool())
        .await?;
        match row {
            None => Ok(ScheduleProgress::default()),
            Some(r) => Ok(ScheduleProgress {
                last_success_at: opt_ms(r.try_get("last_success_at_ms")?)?,
                covered_until: opt_ms(r.try_get("covered_until_ms")?)?,
            }),
        }
    }

    async fn set_schedule_progress(
        &self,
        link: LinkId,
        key: &str,
        progress: ScheduleProgress,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO schedule_state (link_id, schedule_key, last_success_at_ms, covered_until_ms) \
             VALUES (?, ?, ?, ?) ON CONFLICT (link_id, schedule_key) DO UPDATE SET \
             last_success_at_ms = excluded.last_success_at_ms, covered_until_ms = excluded.covered_until_ms",
        )
        .bind(link.0)
        .bind(key)
        .bind(progress.last_success_at.map(|t| t.timestamp_millis()))
        .bind(progress.covered_until.map(|t| t.timestamp_millis()))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn fulfilled_order(
        &self,
        link: LinkId,
        order_id: &str,
        version: &str,
    ) -> Result<Option<JobId>, StoreError> {
        let job: Option<i64> = sqlx::query_scalar(
            "SELECT job_id FROM fulfilled_orders WHERE link_id = ? AND order_id = ? AND order_version = ?",
        )
        .bind(link.0)
        .bind(order_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        Ok(job.map(JobId))
    }

    async fn record_fulfilled_order(
        &self,
        link: LinkId,
        order_id: &str,
        version: &str,
        job: JobId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO fulfilled_orders (link_id, order_id, order_version, job_id, seen_at_ms) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(link.0)
        .bind(order_id)
        .bind(version)
        .bind(job.0)
        .bind(now.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewPatient, Store};
    use chrono::{Duration, NaiveDate, TimeZone};
    use cloudcgm::GlucoseUnit;

    async fn store_with_link() -> (tempfile::TempDir, SqliteStore, LinkId) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::connect(&format!(
            "sqlite://{}/jobs.db?mode=rwc",
            dir.path().display()
        ))
        .await
        .expect("store");
        let patient = store
            .upsert_patient(&NewPatient {
                demo_key: Some("p".into()),
                given_name: "Ada".into(),
                family_name: "Byron".into(),
                birth_date: NaiveDate::from_ymd_opt(1980, 1, 2).expect("date"),
                sex: None,
                time_zone: chrono_tz::Europe::Berlin,
                preferred_unit: GlucoseUnit::MgDl,
            })
            .await
            .expect("patient");
        let link: i64 = sqlx::query_scalar(
            "INSERT INTO patient_links (ehr_id, ehr_patient_id, patient_id, linked_by, linked_at_ms) \
             VALUES ('ehr', 'p1', ?, 'Practitioner/1', 0) RETURNING id",
        )
        .bind(patient.id.0)
        .fetch_one(store.pool())
        .await
        .expect("link");
        (dir, store, LinkId(link))
    }

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    fn new_job(link: LinkId, key: &str) -> NewJob {
        NewJob {
            kind: JobKind::Submit,
            link_id: link,
            idempotency_key: key.into(),
            payload: "{}".into(),
            max_attempts: 5,
            run_after: t(0),
            requested_by: "Practitioner/1".into(),
        }
    }

    #[tokio::test]
    async fn enqueueing_the_same_key_twice_gives_the_one_job() {
        let (_dir, store, link) = store_with_link().await;
        let first = store.enqueue(&new_job(link, "k"), t(0)).await.unwrap();
        let second = store.enqueue(&new_job(link, "k"), t(1)).await.unwrap();
        assert!(matches!(first, Enqueued::New(_)));
        assert_eq!(second, Enqueued::Existing(first.id()));
        assert_eq!(store.jobs_for_link(link, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_claimed_job_is_not_claimed_again_until_its_lease_lapses() {
        let (_dir, store, link) = store_with_link().await;
        let id = store.enqueue(&new_job(link, "k"), t(0)).await.unwrap().id();
        let a = store
            .claim("a", t(0), t(5))
            .await
            .unwrap()
            .expect("a claims");
        assert_eq!((a.id, a.attempts, a.status), (id, 1, JobStatus::Running));
        assert!(store.claim("b", t(4), t(9)).await.unwrap().is_none());
        // Worker a stalls past its lease: b takes the job over and a can no longer change it.
        let b = store
            .claim("b", t(6), t(11))
            .await
            .unwrap()
            .expect("b takes over");
        assert_eq!((b.id, b.attempts), (id, 2));
        assert!(!store
            .finish(id, "a", JobStatus::Done, None, t(7))
            .await
            .unwrap());
        assert!(!store.set_progress(id, "a", 1, 2).await.unwrap());
        assert!(store
            .finish(id, "b", JobStatus::Done, None, t(7))
            .await
            .unwrap());
        let done = store.job(id).await.unwrap().unwrap();
        assert_eq!(
            (done.status, done.finished_at),
            (JobStatus::Done, Some(t(7)))
        );
        assert!(store.claim("c", t(60), t(65)).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_released_job_runs_again_after_its_time_and_waiting_does_not_count_an_attempt() {
        let (_dir, store, link) = store_with_link().await;
        let id = store.enqueue(&new_job(link, "k"), t(0)).await.unwrap().id();
        store.claim("a", t(0), t(5)).await.unwrap().unwrap();
        assert!(store
            .release(id, "a", JobStatus::Queued, t(3), "503", true, t(1))
            .await
            .unwrap());
        assert!(store.claim("a", t(2), t(7)).await.unwrap().is_none());
        let again = store.claim("a", t(3), t(8)).await.unwrap().unwrap();
        assert_eq!(again.attempts, 2);
        assert!(store
            .release(
                id,
                "a",
                JobStatus::Waiting,
                t(100),
                "needs a launch",
                false,
                t(4)
            )
            .await
            .unwrap());
        let waiting = store.job(id).await.unwrap().unwrap();
        assert_eq!((waiting.status, waiting.attempts), (JobStatus::Waiting, 1));
        assert_eq!(waiting.last_error.as_deref(), Some("needs a launch"));
        // A new launch for the patient wakes it before its time.
        assert_eq!(store.wake_waiting(&[link], t(10)).await.unwrap(), 1);
        assert!(store.claim("a", t(10), t(15)).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_submission_keeps_every_entry_answer_in_order() {
        let (_dir, store, link) = store_with_link().await;
        let job = store.enqueue(&new_job(link, "k"), t(0)).await.unwrap().id();
        let entries: Vec<EntryOutcome> = (0..4500)
            .map(|i| EntryOutcome {
                entry_index: i,
                resource_type: "Observation".into(),
                profile: Some("cgm-sensor-reading-mass-per-volume".into()),
                identifier: Some(format!("sys|{i}")),
                status: if i == 7 { 422 } else { 201 },
                location: (i != 7).then(|| format!("Observation/{i}")),
                outcome: (i == 7).then(|| "unit must be mg/dl".to_string()),
            })
            .collect();
        let id = store
            .record_submission(&NewSubmission {
                job_id: job,
                link_id: link,
                chunk_index: 0,
                chunk_count: 1,
                bundle_sha256: "ab".into(),
                entry_count: 4500,
                sent_at: t(1),
                http_status: Some(200),
                result: SubmissionResult::Answered,
                detail: None,
                entries: entries.clone(),
            })
            .await
            .unwrap();
        let rows = store.submissions_for_link(link, 10).await.unwrap();
        assert_eq!((rows[0].accepted, rows[0].rejected), (4499, 1));
        assert_eq!(store.submission_entries(id).await.unwrap(), entries);
        assert_eq!(store.submissions_for_job(job).await.unwrap(), rows);
    }

    #[tokio::test]
    async fn schedule_progress_and_fulfilled_orders_round_trip() {
        let (_dir, store, link) = store_with_link().await;
        assert_eq!(
            store.schedule_progress(link, "2wk").await.unwrap(),
            ScheduleProgress::default()
        );
        let p = ScheduleProgress {
            last_success_at: Some(t(1)),
            covered_until: Some(t(0)),
        };
        store.set_schedule_progress(link, "2wk", p).await.unwrap();
        assert_eq!(store.schedule_progress(link, "2wk").await.unwrap(), p);
        let job = store.enqueue(&new_job(link, "k"), t(0)).await.unwrap().id();
        assert_eq!(store.fulfilled_order(link, "o1", "1").await.unwrap(), None);
        store
            .record_fulfilled_order(link, "o1", "1", job, t(0))
            .await
            .unwrap();
        assert_eq!(
            store.fulfilled_order(link, "o1", "1").await.unwrap(),
            Some(job)
        );
        assert_eq!(store.fulfilled_order(link, "o1", "2").await.unwrap(), None);
    }
}
