//! Which token an unattended submission uses (NOTES E2, issue 5 item 6): with Backend Services switched off at
//! the EHR, CloudCGM falls back to the token of a launch for that patient; when no launch has a usable token
//! the job waits (status `waiting`, with the reason) instead of failing, and the next launch for the patient
//! resumes it.

mod support;

use chrono::Utc;
use cloudcgm::fhir::codes::LOINC_SUMMARY_PANEL;
use cloudcgm_server::clock::ManualClock;
use cloudcgm_server::store::access::LaunchStatus;
use cloudcgm_server::store::jobs::{JobId, JobStatus};
use std::sync::Arc;
use support::launch::{spawn_on_clock, Launched, TestApp};

async fn send(app: &TestApp, l: &Launched, days: &str) -> JobId {
    let job = app
        .request_submission(l, &[("request[days]", days), ("request[summary]", "true")])
        .await;
    JobId(job["id"].as_i64().expect("job id"))
}

#[tokio::test]
async fn without_backend_services_a_launch_token_is_used_and_without_one_the_job_waits_for_the_next_launch(
) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_on_clock(clock.clone()).await;
    app.sandbox.auth.set_backend_services(false);
    // Real seconds do not pass on the manual clock: the receiver's RCV-6 limit would hold the job forever.
    app.sandbox
        .submit_limiter
        .set_interval(std::time::Duration::ZERO);
    let l = app.launch_linked(1, "sofia").await;
    let ehr_patient = app.ehr_patient("sofia").await;

    let first = send(&app, &l, "14").await;
    app.drain_jobs().await;
    let job = app
        .state
        .jobs
        .job(first)
        .await
        .expect("store")
        .expect("job");
    assert_eq!(
        job.status,
        JobStatus::Done,
        "sent with the launch's token: {job:?}"
    );
    let panels = app
        .sandbox_coded("Observation", &ehr_patient, LOINC_SUMMARY_PANEL)
        .await;
    assert_eq!(panels.len(), 1);

    // The launch's token can no longer be used (a refresh failed): nothing else can write for this patient.
    for launch in app
        .state
        .access
        .active_launches_for_ehr_patient("sandbox", &ehr_patient)
        .await
        .expect("launches")
    {
        app.state
            .access
            .set_launch_status(launch.id, LaunchStatus::NeedsRelaunch)
            .await
            .expect("status");
    }
    let second = send(&app, &l, "30").await;
    app.drain_jobs().await;
    let job = app
        .state
        .jobs
        .job(second)
        .await
        .expect("store")
        .expect("job");
    assert_eq!(job.status, JobStatus::Waiting, "{job:?}");
    assert_eq!(job.attempts, 0, "waiting does not use up attempts");
    assert!(
        job.last_error
            .as_deref()
            .unwrap_or("")
            .contains("must open CloudCGM for this patient"),
        "{job:?}"
    );

    // The clinician opens the patient again: the job runs with the new launch's token.
    app.launch(1, "sofia").await;
    let active = app
        .state
        .access
        .active_launches_for_ehr_patient("sandbox", &ehr_patient)
        .await
        .expect("launches");
    assert_eq!(active.len(), 1, "the new launch");
    app.drain_jobs().await;
    let job = app
        .state
        .jobs
        .job(second)
        .await
        .expect("store")
        .expect("job");
    assert_eq!(job.status, JobStatus::Done, "{job:?}");
    let panels = app
        .sandbox_coded("Observation", &ehr_patient, LOINC_SUMMARY_PANEL)
        .await;
    assert_eq!(panels.len(), 2, "the 14-day and the 30-day summary");
}
