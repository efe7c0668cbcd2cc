//! CloudCGM as the IG's CGM Data Submitter against the mounted sandbox EHR over real HTTP (issue 5): a
//! clinician's one-time order from the report page becomes a job, the job builds the bundles in the core and
//! POSTs them chunk by chunk to `$submit-cgm-bundle` (SUB-1) with a Backend Services token, every entry's
//! answer is recorded (RCV-3), and what arrives at the EHR is exactly the window's data, once: counted per
//! identifier, no gaps, no duplicates, also when the same data is sent again (SUB-7, DUP-1).

mod support;

use cloudcgm::fhir::codes::{LOINC_SENSOR_READING_MASS, LOINC_SUMMARY_PANEL};
use cloudcgm::fhir::readings::{reading_identifier, READING_IDENTIFIER_SYSTEM};
use cloudcgm::GlucoseUnit;
use cloudcgm_app::api::{RequestSubmission, SubmissionHistory};
use cloudcgm_server::jobs::submit::SubmitPayload;
use cloudcgm_server::store::jobs::JobId;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;
use support::launch::{Launched, TestApp};

/// Polls the history until job `id` has ended, and returns its view.
async fn wait_for_job(app: &TestApp, l: &Launched, id: i64) -> Value {
    for _ in 0..600 {
        let history = app
            .call::<SubmissionHistory>(&l.cookie, &[("ctx", &l.handle)])
            .await;
        assert_eq!(history.status, 200, "{}", history.body);
        let jobs = history.json()["jobs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(job) = jobs.into_iter().find(|j| j["id"] == id) {
            if ["done", "failed", "cancelled"].contains(&job["status"].as_str().unwrap_or("")) {
                return job;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("job {id} did not end in 2 minutes");
}

/// The identifiers of the patient's sensor readings at the sandbox, with how often each is stored.
async fn stored_reading_ids(app: &TestApp, ehr_patient: &str) -> HashMap<String, usize> {
    let stored = app
        .sandbox_coded("Observation", ehr_patient, LOINC_SENSOR_READING_MASS)
        .await;
    let mut counts = HashMap::new();
    for s in stored {
        let ids = s.body["identifier"].as_array().cloned().unwrap_or_default();
        let ours: Vec<&Value> = ids
            .iter()
            .filter(|i| i["system"] == READING_IDENTIFIER_SYSTEM)
            .collect();
        assert_eq!(
            ours.len(),
            1,
            "one CloudCGM identifier per reading: {}",
            s.body
        );
        *counts
            .entry(ours[0]["value"].as_str().expect("value").to_string())
            .or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn sub_8_a_90_day_one_time_order_arrives_complete_and_exactly_once_even_when_sent_again() {
    let app = support::launch::spawn().await;
    // Chunks still meet the receiver's RCV-6 limit (429 + Retry-After) but wait seconds, not tens of seconds.
    app.sandbox
        .submit_limiter
        .set_interval(Duration::from_secs(3));
    // James wears a 5-minute sensor: 90 days are about 25,000 readings.
    let l = app.launch_linked(1, "james").await;
    let ehr_patient = app.ehr_patient("james").await;
    let patient = app.cloudcgm_patient("james").await;

    let job = app
        .request_submission(
            &l,
            &[
                ("request[days]", "90"),
                ("request[summary]", "true"),
                ("request[readings]", "true"),
            ],
        )
        .await;
    let id = job["id"].as_i64().expect("job id");
    // A double click within the same minute is the same job, not a second submission.
    let again = app
        .request_submission(
            &l,
            &[
                ("request[days]", "90"),
                ("request[summary]", "true"),
                ("request[readings]", "true"),
            ],
        )
        .await;
    assert_eq!(again["id"], id);

    let done = wait_for_job(&app, &l, id).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["rejected"], 0, "{done}");

    // What the window held in CloudCGM is what the EHR has: every reading once, nothing else.
    let row = app
        .state
        .jobs
        .job(JobId(id))
        .await
        .expect("job row")
        .expect("job");
    let payload: SubmitPayload = serde_json::from_str(&row.payload).expect("payload");
    let readings = app
        .state
        .patients
        .readings_in_window(patient, &payload.window)
        .await
        .expect("readings");
    assert!(
        readings.len() > 20_000,
        "90 days of 5-minute data: {}",
        readings.len()
    );
    let expected: BTreeSet<String> = readings
        .iter()
        .map(|r| reading_identifier(r, GlucoseUnit::MgDl))
        .collect();
    let stored = stored_reading_ids(&app, &ehr_patient).await;
    assert_eq!(stored.keys().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(stored.values().all(|&n| n == 1), "no duplicates");
    // 90 days of readings do not fit one bundle of 5,000 entries: the job sent chunks and said so.
    assert!(row.progress_total >= 5, "{row:?}");
    assert_eq!(row.progress_done, row.progress_total);
    let summaries = app
        .sandbox_coded("Observation", &ehr_patient, LOINC_SUMMARY_PANEL)
        .await;
    // The seeded weekly standing order sends its own summary after linking (NOTES D1); this job's summary
    // is the one over its 90 days, and it arrived once.
    let first = cloudcgm::localtime::local_date(payload.window.start, chrono_tz::America::New_York);
    let ours = summaries
        .iter()
        .filter(|s| s.body["effectivePeriod"]["start"] == first.to_string().as_str())
        .count();
    assert_eq!(
        ours,
        1,
        "{:?}",
        summaries
            .iter()
            .map(|s| &s.body["effectivePeriod"])
            .collect::<Vec<_>>()
    );
    // The PDF report of the same 90 days went with the summary (cgm-summary-pdf, VAL-8).
    let reports = app
        .sandbox
        .fhir
        .list_for_patient("DiagnosticReport", &ehr_patient, None)
        .await
        .expect("reports");
    let ours: Vec<_> = reports
        .iter()
        .filter(|r| r.body["effectivePeriod"]["start"] == first.to_string().as_str())
        .collect();
    assert_eq!(ours.len(), 1);
    let data = ours[0].body["presentedForm"][0]["data"]
        .as_str()
        .expect("data");
    let pdf =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).expect("base64");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(
        !done["status_text"]
            .as_str()
            .unwrap_or("")
            .contains("Not sent"),
        "{done}"
    );
    let accepted = done["accepted"].as_u64().expect("accepted");
    assert!(
        accepted as usize > readings.len(),
        "readings plus summary and devices"
    );

    // Sending an overlapping window again creates nothing new at the EHR: the receiver finds every
    // reading by its identifier (ifNoneExist) and answers 200 with the existing resource.
    let second = app
        .request_submission(
            &l,
            &[("request[days]", "30"), ("request[readings]", "true")],
        )
        .await;
    let second = wait_for_job(&app, &l, second["id"].as_i64().expect("id")).await;
    assert_eq!(second["status"], "done", "{second}");
    assert_eq!(second["rejected"], 0, "{second}");
    let after = stored_reading_ids(&app, &ehr_patient).await;
    assert_eq!(after, stored, "nothing duplicated, nothing lost");
    assert!(
        app.audit_actions()
            .await
            .iter()
            .filter(|a| *a == "submission")
            .count()
            >= 2
    );
}

#[tokio::test]
async fn a_request_without_data_kinds_or_with_a_bad_window_says_what_to_do_and_enqueues_nothing() {
    let app = support::launch::spawn().await;
    let l = app.launch_linked(1, "elena").await;
    let none = app
        .call::<RequestSubmission>(&l.cookie, &[("ctx", &l.handle), ("request[days]", "30")])
        .await;
    assert_ne!(none.status, 200);
    assert!(none.body.contains("Choose what to send"), "{}", none.body);
    let future = app
        .call::<RequestSubmission>(
            &l.cookie,
            &[
                ("ctx", &l.handle),
                ("request[days]", "0"),
                ("request[first]", "2020-01-01"),
                ("request[last]", "2099-01-01"),
                ("request[summary]", "true"),
            ],
        )
        .await;
    assert_ne!(future.status, 200);
    assert!(future.body.contains("today is not over"), "{}", future.body);
    let history = app
        .call::<SubmissionHistory>(&l.cookie, &[("ctx", &l.handle)])
        .await
        .json();
    // Only the standing order's own submission (enqueued at linking) is there: nothing from the clinician.
    let jobs = history["jobs"].as_array().cloned().unwrap_or_default();
    assert!(
        jobs.iter().all(|j| j["requested_by"] == "standing-order"),
        "{jobs:?}"
    );
}

#[tokio::test]
async fn the_report_downloads_as_a_pdf_for_the_launchs_own_patient_only() {
    let app = support::launch::spawn().await;
    let l = app.launch_linked(1, "sofia").await;
    let url = format!("{}/ehr/{}/report.pdf?days=14", app.base, l.handle);
    let response = app
        .http
        .get(&url)
        .header("cookie", &l.cookie)
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = response.bytes().await.expect("body");
    assert!(body.starts_with(b"%PDF-"));
    // Without the launch's session, or with another handle, there is no PDF.
    let stranger = app
        .get(&format!("/ehr/{}/report.pdf", l.handle), None)
        .await;
    assert_ne!(stranger.status, 200);
    assert!(!stranger.body.starts_with("%PDF"));
    let other = app
        .get("/ehr/not-a-handle/report.pdf", Some(&l.cookie))
        .await;
    assert_ne!(other.status, 200);
    // Demo reports by number are refused outside demo mode.
    let demo = app.get("/patients/1/report.pdf", None).await;
    assert_eq!(demo.status, 403, "{}", demo.body);
    assert!(app
        .audit_actions()
        .await
        .contains(&"report_view".to_string()));
}
