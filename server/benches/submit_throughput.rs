//! End-to-end submission throughput against the sandbox EHR over real HTTP on loopback (issue 5 benchmark):
//! four linked patients, each asks for ten 14-day summaries with their PDF report (ten different windows)
//! and two 14-day raw-reading submissions; the job worker runs them all; reported are submissions (POSTs
//! answered) per minute and entries per second, from the first request until every job is done. The sandbox's
//! RCV-6 rate limit is off: this measures CloudCGM plus the receiver, not the limit.
//!
//! `cargo bench -p cloudcgm-server --bench submit_throughput` (a load script: it prints, it does not use
//! criterion's statistics; results go to docs/PERFORMANCE.md).

#[path = "../tests/support/mod.rs"]
mod support;

use chrono::{Duration, Utc};
use cloudcgm::localtime::local_date;
use cloudcgm_app::api::RequestSubmission;
use cloudcgm_server::store::jobs::{JobId, JobStatus, SubmissionResult};
use std::time::Instant;

const PATIENTS: [(&str, usize); 4] = [("elena", 0), ("james", 1), ("sofia", 1), ("liam", 0)];
const SUMMARIES_PER_PATIENT: i64 = 10;
const READING_JOBS_PER_PATIENT: i64 = 2;

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run only when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let app = support::launch::spawn().await;
    app.sandbox
        .submit_limiter
        .set_interval(std::time::Duration::ZERO);
    let mut launched = Vec::new();
    for (key, who) in PATIENTS {
        launched.push((key, app.launch_linked(who, key).await));
    }
    // Let the standing orders' first submissions (enqueued at linking) finish before timing.
    wait_idle(&app).await;

    let start = Instant::now();
    let mut jobs = Vec::new();
    for (key, l) in &launched {
        let tz = cloudcgm::demo::demo_patients()
            .into_iter()
            .find(|p| p.key == *key)
            .expect("demo patient")
            .tz();
        let yesterday = local_date(Utc::now(), tz) - Duration::days(1);
        let total = SUMMARIES_PER_PATIENT + READING_JOBS_PER_PATIENT;
        for i in 0..total {
            let last = yesterday - Duration::days(i);
            let first = last - Duration::days(13);
            let (first, last) = (first.to_string(), last.to_string());
            let kind = if i < SUMMARIES_PER_PATIENT {
                ("request[summary]", "true")
            } else {
                ("request[readings]", "true")
            };
            let answer = app
                .call::<RequestSubmission>(
                    &l.cookie,
                    &[
                        ("ctx", l.handle.as_str()),
                        ("request[days]", "0"),
                        ("request[first]", first.as_str()),
                        ("request[last]", last.as_str()),
                        kind,
                    ],
                )
                .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            jobs.push(JobId(answer.json()["id"].as_i64().expect("id")));
        }
    }
    let mut posts = 0u64;
    let mut entries = 0u64;
    loop {
        let mut open = 0;
        for id in &jobs {
            let job = app.state.jobs.job(*id).await.expect("store").expect("job");
            match job.status {
                JobStatus::Done => {}
                JobStatus::Failed | JobStatus::Cancelled => panic!("job failed: {job:?}"),
                _ => open += 1,
            }
        }
        if open == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let elapsed = start.elapsed();
    for id in &jobs {
        for s in app
            .state
            .jobs
            .submissions_for_job(*id)
            .await
            .expect("store")
        {
            if s.result == SubmissionResult::Answered {
                posts += 1;
                entries += u64::from(s.accepted + s.rejected);
            }
        }
    }
    let minutes = elapsed.as_secs_f64() / 60.0;
    println!(
        "submit_throughput: {} jobs, {posts} POSTs, {entries} entries in {:.1} s → {:.0} submissions/min, {:.0} entries/s",
        jobs.len(),
        elapsed.as_secs_f64(),
        posts as f64 / minutes,
        entries as f64 / elapsed.as_secs_f64()
    );
}

/// Waits until no job of any link is queued or running.
async fn wait_idle(app: &support::launch::TestApp) {
    for _ in 0..600 {
        let mut busy = false;
        for ehr_patient in ["elena", "james", "sofia", "liam"] {
            let id = app.ehr_patient(ehr_patient).await;
            if let Some(link) = app
                .state
                .access
                .live_link_for_ehr_patient("sandbox", &id)
                .await
                .expect("store")
            {
                busy |= app
                    .state
                    .jobs
                    .jobs_for_link(link.id, 50)
                    .await
                    .expect("jobs")
                    .iter()
                    .any(|j| matches!(j.status, JobStatus::Queued | JobStatus::Running));
            }
        }
        if !busy {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
