//! Submissions survive a misbehaving receiver (issue 5 "Faults"): the sandbox injects 429 and 503 with
//! `Retry-After`, a 500, a stall past CloudCGM's deadline (the data is stored, the answer comes too late) and
//! connections dropped after the data was stored. Afterwards every reading of the window is at the receiver
//! exactly once, and every summary resource once per identifier: retried chunks were deduplicated through
//! `ifNoneExist` (SUB-7, DUP-1, DUP-3), and the history records each failed attempt.

mod support;

use chrono::{Duration, Utc};
use cloudcgm::fhir::codes::LOINC_SENSOR_READING_MASS;
use cloudcgm::fhir::readings::{reading_identifier, READING_IDENTIFIER_SYSTEM};
use cloudcgm::GlucoseUnit;
use cloudcgm_app::api::RequestSubmission;
use cloudcgm_server::clock::ManualClock;
use cloudcgm_server::jobs::submit::SubmitPayload;
use cloudcgm_server::sandbox::fhir::faults::Fault;
use cloudcgm_server::store::jobs::{JobId, JobStatus, SubmissionResult};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use support::launch::spawn_on_clock;

#[tokio::test]
async fn faults_at_the_receiver_still_leave_every_resource_there_exactly_once() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_on_clock(clock.clone()).await;
    app.sandbox
        .submit_limiter
        .set_interval(std::time::Duration::ZERO);
    app.state
        .submitter
        .set_post_timeout(std::time::Duration::from_secs(4));
    let l = app.launch_linked(1, "james").await;
    let ehr_patient = app.ehr_patient("james").await;
    app.sandbox.faults.push([
        Fault::Status {
            status: 429,
            retry_after: Some(30),
        },
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        Fault::Stall(std::time::Duration::from_secs(8)),
        Fault::DropAfterStoring,
        Fault::Status {
            status: 503,
            retry_after: Some(120),
        },
        Fault::DropAfterStoring,
    ]);

    let sent = app
        .call::<RequestSubmission>(
            &l.cookie,
            &[
                ("ctx", &l.handle),
                ("request[days]", "30"),
                ("request[summary]", "true"),
                ("request[readings]", "true"),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let id = JobId(sent.json()["id"].as_i64().expect("job id"));

    // Backoff and Retry-After run on the simulated clock: two hours per step outwait any of them.
    for _ in 0..40 {
        app.drain_jobs().await;
        let job = app.state.jobs.job(id).await.expect("store").expect("job");
        if job.status.is_final() {
            break;
        }
        clock.advance(Duration::hours(2));
    }
    let job = app.state.jobs.job(id).await.expect("store").expect("job");
    assert_eq!(job.status, JobStatus::Done, "{job:?}");
    assert_eq!(app.sandbox.faults.pending(), 0, "every fault was met");

    // What the receiver holds: each of the window's readings once, each summary resource once.
    let payload: SubmitPayload = serde_json::from_str(&job.payload).expect("payload");
    let patient = app.cloudcgm_patient("james").await;
    let expected: BTreeSet<String> = app
        .state
        .patients
        .readings_in_window(patient, &payload.window)
        .await
        .expect("readings")
        .iter()
        .map(|r| {
            format!(
                "{READING_IDENTIFIER_SYSTEM}|{}",
                reading_identifier(r, GlucoseUnit::MgDl)
            )
        })
        .collect();
    let readings: HashMap<String, usize> = app
        .sandbox_per_identifier("Observation", &ehr_patient)
        .await
        .into_iter()
        .filter(|(k, _)| k.starts_with(READING_IDENTIFIER_SYSTEM))
        .collect();
    assert!(expected.len() > 8_000);
    assert_eq!(readings.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(readings.values().all(|&n| n == 1), "a reading stored twice");
    for resource_type in ["Observation", "DiagnosticReport", "Device"] {
        let counts = app
            .sandbox_per_identifier(resource_type, &ehr_patient)
            .await;
        assert!(!counts.is_empty(), "{resource_type}");
        let twice: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
        assert!(twice.is_empty(), "{resource_type} stored twice: {twice:?}");
    }
    let stored_mass = app
        .sandbox_coded("Observation", &ehr_patient, LOINC_SENSOR_READING_MASS)
        .await
        .len();
    assert_eq!(stored_mass, expected.len());

    // The history shows the failed attempts of this job or the standing order's, each with its cause.
    let mut seen = Vec::new();
    for job in app
        .state
        .jobs
        .jobs_for_link(
            app.state
                .access
                .live_link_for_ehr_patient("sandbox", &ehr_patient)
                .await
                .expect("store")
                .expect("link")
                .id,
            100,
        )
        .await
        .expect("jobs")
    {
        for s in app
            .state
            .jobs
            .submissions_for_job(job.id)
            .await
            .expect("submissions")
        {
            if s.result == SubmissionResult::Retry {
                seen.push(s.http_status);
            }
        }
    }
    for status in [Some(429), Some(500), Some(503), None] {
        assert!(seen.contains(&status), "{status:?} not in {seen:?}");
    }
    assert_eq!(
        seen.iter().filter(|s| s.is_none()).count(),
        3,
        "a stall and two drops: {seen:?}"
    );
}

#[tokio::test]
async fn a_submission_the_ehr_refuses_is_failed_with_its_reason_and_shown_to_the_practice_admin() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_on_clock(clock.clone()).await;
    // Dr. Maya Patel (practitioner 0) is the sandbox practice's admin.
    let l = app.launch_linked(0, "sofia").await;
    app.drain_jobs().await;
    app.sandbox.faults.push([Fault::Status {
        status: 422,
        retry_after: None,
    }]);
    let sent = app
        .call::<RequestSubmission>(
            &l.cookie,
            &[
                ("ctx", &l.handle),
                ("request[days]", "14"),
                ("request[summary]", "true"),
            ],
        )
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    app.drain_jobs().await;
    let id = JobId(sent.json()["id"].as_i64().expect("job id"));
    let job = app.state.jobs.job(id).await.expect("store").expect("job");
    // A whole-request 4xx is not retried blindly (NOTES A2): one attempt, failed, with the EHR's words.
    assert_eq!(
        (job.status, job.attempts),
        (JobStatus::Failed, 1),
        "{job:?}"
    );
    assert!(
        job.last_error.as_deref().unwrap_or("").contains("HTTP 422"),
        "{job:?}"
    );
    let overview = app
        .call::<cloudcgm_app::api::AdminOverview>(&l.cookie, &[("ctx", &l.handle)])
        .await;
    assert_eq!(overview.status, 200, "{}", overview.body);
    let problems = overview.json()["submission_problems"].clone();
    let listed = problems.as_array().cloned().unwrap_or_default();
    assert!(
        listed.iter().any(|p| p[0] == "Sofía Ramírez"
            && p[1]["status"] == "failed"
            && p[1]["status_text"]
                .as_str()
                .unwrap_or("")
                .contains("Not delivered")),
        "{problems}"
    );
}
