//! Orders through the sandbox EHR on a controllable clock (issue 5): the seeded standing order "every 2 weeks,
//! the CGM summary" (ORD-1…3) walked hour by simulated hour over five weeks produces a submission at linking
//! and then every 14 days, each of 14 whole local days, contiguous, and each summary arrives at the EHR once
//! (NOTES D1–D3); an EHR one-time order (ORD-4, D6) is fulfilled once however often the orders are read.

mod support;

use chrono::{Duration, NaiveDate, Utc};
use cloudcgm::demo::demo_patients;
use cloudcgm::fhir::codes::{LOINC_SENSOR_READING_MASS, LOINC_SUMMARY_PANEL};
use cloudcgm::localtime::{local_date, local_midnight};
use cloudcgm::Window;
use cloudcgm_server::clock::{Clock, ManualClock};
use cloudcgm_server::jobs::submit::SubmitPayload;
use cloudcgm_server::jobs::sync_orders;
use cloudcgm_server::store::jobs::{JobKind, JobStatus};
use serde_json::json;
use std::sync::Arc;
use support::launch::{spawn_on_clock, TestApp};

/// The submit jobs of a link (oldest first) with their windows.
async fn submit_jobs(app: &TestApp, ehr_patient: &str) -> Vec<(JobStatus, SubmitPayload, String)> {
    let link = app
        .state
        .access
        .live_link_for_ehr_patient("sandbox", ehr_patient)
        .await
        .expect("store")
        .expect("linked");
    let mut jobs: Vec<_> = app
        .state
        .jobs
        .jobs_for_link(link.id, 1_000)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.kind == JobKind::Submit)
        .map(|j| {
            let payload: SubmitPayload = serde_json::from_str(&j.payload).expect("payload");
            (
                j.status,
                payload,
                format!(
                    "{}{}",
                    j.requested_by,
                    j.last_error.map(|e| format!(" [{e}]")).unwrap_or_default()
                ),
            )
        })
        .collect();
    jobs.reverse();
    jobs
}

#[tokio::test]
async fn ord_2_a_two_weekly_standing_order_sends_contiguous_14_day_windows_over_a_simulated_month()
{
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_on_clock(clock.clone()).await;
    // The receiver's RCV-6 limit counts real seconds, which a simulated month does not take.
    app.sandbox
        .submit_limiter
        .set_interval(std::time::Duration::ZERO);
    let demo = demo_patients()
        .into_iter()
        .find(|p| p.key == "elena")
        .expect("elena");
    let tz = demo.tz();
    // The demo data ends today; the simulated weeks need readings too.
    let patient = app.cloudcgm_patient("elena").await;
    let today = local_date(Utc::now(), tz);
    let future_end = local_midnight(today + Duration::days(40), tz);
    let future = cloudcgm::demo::generate(&demo, future_end, 41, 7);
    app.state
        .patients
        .insert_readings(patient, &future)
        .await
        .expect("future readings");

    app.launch_linked(0, "elena").await;
    let ehr_patient = app.ehr_patient("elena").await;
    let start = clock.now();
    while clock.now() < start + Duration::days(35) {
        sync_orders::enqueue_all(&app.state, clock.now())
            .await
            .expect("syncs");
        app.drain_jobs().await;
        clock.advance(Duration::hours(3));
    }

    let jobs = submit_jobs(&app, &ehr_patient).await;
    let windows: Vec<Window> = jobs.iter().map(|(_, p, _)| p.window).collect();
    assert!(
        jobs.iter().all(|(s, p, by)| *s == JobStatus::Done
            && p.schedule_key.is_some()
            && by == "standing-order"),
        "{jobs:?}"
    );
    // At linking, then 14 and 28 days later (D1): three windows in five weeks.
    assert_eq!(windows.len(), 3, "{windows:?}");
    let day = |w: &Window| (local_date(w.start, tz), local_date(w.end, tz));
    // The first window is the lookback (= the submission period, D2) before today; then contiguous.
    assert_eq!(day(&windows[0]), (today - Duration::days(14), today));
    for pair in windows.windows(2) {
        assert_eq!(
            pair[1].start, pair[0].end,
            "no gap, no overlap: {windows:?}"
        );
    }
    for w in &windows {
        let (first, end) = day(w);
        assert_eq!((end - first).num_days(), 14, "{w:?}");
        assert_eq!(w.start, local_midnight(first, tz), "whole local days");
        assert_eq!(w.end, local_midnight(end, tz), "whole local days");
    }

    // At the EHR: one summary panel per window, each for exactly its period, none twice.
    let panels = app
        .sandbox_coded("Observation", &ehr_patient, LOINC_SUMMARY_PANEL)
        .await;
    let mut periods: Vec<(String, String)> = panels
        .iter()
        .map(|p| {
            let period = &p.body["effectivePeriod"];
            (
                period["start"].as_str().expect("start").to_string(),
                period["end"].as_str().expect("end").to_string(),
            )
        })
        .collect();
    periods.sort();
    let expected: Vec<(String, String)> = windows
        .iter()
        .map(|w| {
            let (first, end) = day(w);
            (first.to_string(), (end - Duration::days(1)).to_string())
        })
        .collect();
    assert_eq!(
        periods, expected,
        "date-only periods, inclusive end (NOTES C4)"
    );
    // The order asked for the summary only: no readings were sent (NOTES D5).
    let readings = app
        .sandbox_coded("Observation", &ehr_patient, LOINC_SENSOR_READING_MASS)
        .await;
    assert!(readings.is_empty());
}

#[tokio::test]
async fn d6_an_ehr_one_time_order_is_fulfilled_once_however_often_the_orders_are_read() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_on_clock(clock.clone()).await;
    // The receiver's RCV-6 limit counts real seconds, which a simulated month does not take.
    app.sandbox
        .submit_limiter
        .set_interval(std::time::Duration::ZERO);
    app.launch_linked(1, "james").await;
    let ehr_patient = app.ehr_patient("james").await;
    let tz = demo_patients()
        .into_iter()
        .find(|p| p.key == "james")
        .expect("james")
        .tz();
    let last: NaiveDate = local_date(Utc::now(), tz) - Duration::days(1);
    let first = last - Duration::days(6);
    app.sandbox
        .fhir
        .create(json!({
            "resourceType": "ServiceRequest",
            "extension": [{
                "url": "http://hl7.org/fhir/uv/cgm/StructureDefinition/data-submission-one-time-spec",
                "extension": [
                    {"url": "timePeriod", "valuePeriod": {"start": first.to_string(), "end": last.to_string()}},
                    {"url": "submissionDataProfile",
                     "valueCanonical": "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-sensor-reading-mass-per-volume"}
                ]
            }],
            "status": "active",
            "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm",
                                 "code": "cgm-data-submission-one-time-order"}]},
            "subject": {"reference": format!("Patient/{ehr_patient}")}
        }))
        .await
        .expect("order stored");

    for _ in 0..3 {
        sync_orders::enqueue_all(&app.state, clock.now())
            .await
            .expect("syncs");
        app.drain_jobs().await;
        clock.advance(Duration::hours(2));
    }
    let one_time: Vec<_> = submit_jobs(&app, &ehr_patient)
        .await
        .into_iter()
        .filter(|(_, _, by)| by.starts_with("ehr-order/"))
        .collect();
    assert_eq!(one_time.len(), 1, "fulfilled once: {one_time:?}");
    let (status, payload, _) = &one_time[0];
    assert_eq!(*status, JobStatus::Done);
    assert_eq!(
        (
            local_date(payload.window.start, tz),
            local_date(payload.window.end, tz)
        ),
        (first, last + Duration::days(1)),
        "date-only bounds are whole local days, end inclusive (C4)"
    );
    let patient = app.cloudcgm_patient("james").await;
    let expected = app
        .state
        .patients
        .readings_in_window(patient, &payload.window)
        .await
        .expect("readings")
        .len();
    let stored = app
        .sandbox_coded("Observation", &ehr_patient, LOINC_SENSOR_READING_MASS)
        .await;
    assert!(expected > 1_500);
    assert_eq!(stored.len(), expected, "every reading of the period, once");
}
