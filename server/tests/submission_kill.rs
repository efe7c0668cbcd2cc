//! A crash in the middle of a submission (issue 5): the real `cloudcgm serve` binary is killed with SIGKILL
//! while it is sending a 90-day window chunk by chunk, and started again on the same databases. The new
//! process takes the job over once the dead one's lease lapses, sends only what was never answered, and
//! afterwards every reading of every submitted window is at the receiver exactly once (counted per
//! identifier: no gaps, no duplicates), and no summary or device resource is stored twice. A chunk that was
//! in flight when the process died is sent again and deduplicated by the receiver through `ifNoneExist` on
//! our deterministic identifiers (SUB-7, DUP-1).
//!
//! The link and the request go through the in-process harness (it can start a launch from the sandbox
//! chart); that process serves HTTP only, runs no job worker, and stops serving before the binary takes its
//! port, so only the `cloudcgm` processes ever run the jobs. The sandbox's own RCV-6 limit (one submission
//! per client and patient per 10 s) paces the chunks, which gives the test a minute to kill the run. It
//! kills in the moment the receiver has stored a chunk whose answer CloudCGM has not recorded yet (seen by
//! comparing the two databases' submission logs), or, should it never catch that moment, while the job
//! holds its lease with only its last chunk left.

mod support;

use chrono::Utc;
use cloudcgm::fhir::readings::{reading_identifier, READING_IDENTIFIER_SYSTEM};
use cloudcgm::GlucoseUnit;
use cloudcgm_app::api::RequestSubmission;
use cloudcgm_server::clock::ManualClock;
use cloudcgm_server::jobs::submit::SubmitPayload;
use cloudcgm_server::store::jobs::{JobId, JobKind, JobRow, JobStatus, SubmissionResult};
use cloudcgm_server::store::sqlite::SqliteStore;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::launch::TestApp;

/// A running `cloudcgm serve`, killed (SIGKILL) and reaped when dropped, so a failing test leaves no
/// process behind.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts the binary on `port` with the databases and development secrets in `dir`, the job lease
    /// shortened to 5 s, and its output appended to `dir/cloudcgm-{name}.log`; returns once `/health` answers.
    async fn start(dir: &Path, port: u16, name: &str) -> Server {
        let log = dir.join(format!("cloudcgm-{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_cloudcgm"));
        // Nothing from the environment the test runs in decides where this server keeps its data.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy().to_string();
            if key.starts_with("CLOUDCGM_") || key.starts_with("LEPTOS_") {
                command.env_remove(key);
            }
        }
        command
            .args(["serve", "--sandbox", "--addr", &format!("127.0.0.1:{port}")])
            .current_dir(dir)
            .env(
                "CLOUDCGM_DATABASE_URL",
                format!("sqlite://{}/app.db?mode=rwc", dir.display()),
            )
            .env(
                "CLOUDCGM_SANDBOX_DATABASE_URL",
                format!("sqlite://{}/sandbox.db?mode=rwc", dir.display()),
            )
            .env("CLOUDCGM_DEV_SECRETS_FILE", dir.join("dev-secrets.json"))
            .env("LEPTOS_SITE_ROOT", dir)
            .env("CLOUDCGM_JOB_LEASE_SECONDS", "5")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out);
        let mut server = Server {
            child: command.spawn().expect("cloudcgm starts"),
            log,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().expect("child status") {
                panic!("cloudcgm exited with {status}:\n{}", server.output());
            }
            let health = http
                .get(format!("http://127.0.0.1:{port}/health"))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cloudcgm did not answer /health in 2 minutes:\n{}",
                server.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What the process wrote so far.
    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no lease given back, whatever was in flight is lost.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The job, as the stores hold it now.
async fn job(app: &TestApp, id: JobId) -> JobRow {
    app.state
        .jobs
        .job(id)
        .await
        .expect("job table")
        .expect("job")
}

/// The chunks of job `id` the receiver answered.
async fn answered_chunks(app: &TestApp, id: JobId) -> BTreeSet<u32> {
    app.state
        .jobs
        .submissions_for_job(id)
        .await
        .expect("submissions")
        .into_iter()
        .filter(|s| s.result == SubmissionResult::Answered)
        .map(|s| s.chunk_index)
        .collect()
}

#[tokio::test]
async fn a_submission_killed_mid_run_resumes_after_restart_and_every_reading_arrives_exactly_once()
{
    // 1. Link James (5-minute sensor) and ask for his last 90 days with the summary: the job is queued and
    //    nothing runs it here. Linking also queued the sync of his weekly standing order.
    let app = support::launch::spawn_on_clock(Arc::new(ManualClock::new(Utc::now()))).await;
    let l = app.launch_linked(1, "james").await;
    let ehr_patient = app.ehr_patient("james").await;
    let patient = app.cloudcgm_patient("james").await;
    let sent = app
        .call::<RequestSubmission>(
            &l.cookie,
            &[
                ("ctx", &l.handle),
                ("request[days]", "90"),
                ("request[summary]", "true"),
                ("request[readings]", "true"),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let id = JobId(sent.json()["id"].as_i64().expect("job id"));
    assert_eq!(job(&app, id).await.status, JobStatus::Queued);
    let link = job(&app, id).await.link_id;
    let port: u16 = app
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    app.stop_serving().await;
    let dir = app._dir.path().to_path_buf();

    // 2. The binary runs the jobs and is killed while the 90-day job is under way: preferably in the moment
    //    a chunk is stored at the receiver but its answer not yet recorded (the case DUP-1 is about), else
    //    while the job holds its lease with only its last chunk left.
    let app_db = SqliteStore::connect(&format!("sqlite://{}/app.db?mode=rwc", dir.display()))
        .await
        .expect("app database");
    let count = |pool: &sqlx::SqlitePool, sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        }
    };
    let mut first = Server::start(&dir, port, "first").await;
    let started = Instant::now();
    let in_flight = loop {
        let now = job(&app, id).await;
        assert!(
            !now.status.is_final(),
            "the job ended before it could be killed: {now:?}\n{}",
            first.output()
        );
        let answered = answered_chunks(&app, id).await.len() as u32;
        if answered > 0 {
            let stored = count(
                &app.sandbox.db,
                "SELECT count(*) FROM submissions WHERE http_status = 200",
            )
            .await;
            let recorded = count(
                app_db.pool(),
                "SELECT count(*) FROM submissions WHERE result = 'answered'",
            )
            .await;
            if stored > recorded {
                break true;
            }
            if now.status == JobStatus::Running && answered + 1 >= now.progress_total {
                break false;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the job did not get under way in 4 minutes: {now:?}\n{}",
            first.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    first.kill();
    let killed = job(&app, id).await;
    let answered_before = answered_chunks(&app, id).await;
    assert!(!killed.status.is_final(), "{killed:?}");
    assert!(!answered_before.is_empty());
    assert!(
        (answered_before.len() as u32) < killed.progress_total,
        "the kill came after the last chunk: {killed:?}"
    );
    // With the process dead these counts are final: a chunk stored without its answer recorded is one the
    // restarted process must send again.
    let lost_answers = count(
        &app.sandbox.db,
        "SELECT count(*) FROM submissions WHERE http_status = 200",
    )
    .await
        - count(
            app_db.pool(),
            "SELECT count(*) FROM submissions WHERE result = 'answered'",
        )
        .await;
    eprintln!(
        "killed {:.1}s after the start ({}) with chunks {answered_before:?} of {} answered and \
         {lost_answers} chunk(s) stored at the receiver without their answer recorded",
        started.elapsed().as_secs_f64(),
        if in_flight {
            "an answer in flight"
        } else {
            "last chunk left"
        },
        killed.progress_total,
    );

    // 3. Started again on the same files, it takes the job over once the dead lease lapses and finishes
    //    it, and the standing order's jobs too.
    let second = Server::start(&dir, port, "second").await;
    let started = Instant::now();
    let jobs = loop {
        let jobs = app.state.jobs.jobs_for_link(link, 100).await.expect("jobs");
        if jobs.iter().all(|j| j.status.is_final()) {
            break jobs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the jobs did not end in 4 minutes after the restart: {jobs:?}\n--- before the kill:\n{}\n--- after:\n{}",
            first.output(),
            second.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for j in &jobs {
        assert_eq!(j.status, JobStatus::Done, "{j:?}\n{}", second.output());
    }
    let done = job(&app, id).await;
    assert!(done.progress_total > 1, "{done:?}");
    assert_eq!(done.progress_done, done.progress_total, "{done:?}");
    let answered_after = answered_chunks(&app, id).await;
    assert_eq!(
        answered_after,
        (0..done.progress_total).collect::<BTreeSet<_>>(),
        "every chunk answered"
    );
    assert!(
        answered_before.is_subset(&answered_after) && answered_before.len() < answered_after.len(),
        "chunks were answered before the kill and after the restart: {answered_before:?} then {answered_after:?}"
    );

    // 4. The receiver holds every reading of every submitted window once: the 90-day window and the
    //    standing order's (which lies inside it).
    let mut expected = BTreeSet::new();
    for j in jobs.iter().filter(|j| j.kind == JobKind::Submit) {
        let payload: SubmitPayload = serde_json::from_str(&j.payload).expect("payload");
        let readings = app
            .state
            .patients
            .readings_in_window(patient, &payload.window)
            .await
            .expect("readings");
        expected.extend(readings.iter().map(|r| {
            format!(
                "{READING_IDENTIFIER_SYSTEM}|{}",
                reading_identifier(r, GlucoseUnit::MgDl)
            )
        }));
    }
    assert!(expected.len() > 20_000, "90 days of 5-minute readings");
    let readings: HashMap<String, usize> = app
        .sandbox_per_identifier("Observation", &ehr_patient)
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with(READING_IDENTIFIER_SYSTEM))
        .collect();
    let stored: BTreeSet<String> = readings.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&stored).take(5).collect();
    let extra: Vec<_> = stored.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} readings missing (e.g. {missing:?}), {} not asked for (e.g. {extra:?})",
        expected.difference(&stored).count(),
        stored.difference(&expected).count()
    );
    let twice: Vec<_> = readings.iter().filter(|(_, &n)| n > 1).take(5).collect();
    assert!(twice.is_empty(), "readings stored twice, e.g. {twice:?}");
    for resource_type in ["Observation", "DiagnosticReport", "Device"] {
        let counts = app
            .sandbox_per_identifier(resource_type, &ehr_patient)
            .await;
        assert!(!counts.is_empty(), "{resource_type}");
        let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
        assert!(twice.is_empty(), "{resource_type} stored twice: {twice:?}");
    }
    drop(second);
}
