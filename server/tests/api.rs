//! Integration tests of the server: the HTTP surface through a real listener on port 0 with a real SQLite
//! file, the store's contract, and the command-line interface as a subprocess.

mod support;

use support::app_config;

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use cloudcgm::localtime::{local_date, local_midnight};
use cloudcgm::report::build_report;
use cloudcgm::{DeviceId, GlucoseUnit, Reading, Trace, Window};
use cloudcgm_app::backend::Backend;
use cloudcgm_app::views::ReportQuery;
use cloudcgm_server::backend::AppBackend;
use cloudcgm_server::demo_seed::seed_demo;
use cloudcgm_server::startup::Application;
use cloudcgm_server::store::sqlite::SqliteStore;
use cloudcgm_server::store::{NewDevice, NewPatient, PatientId, Store, StoreError};
use std::process::Command;
use std::sync::Arc;

struct TestApp {
    base: String,
    store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

async fn spawn_app(demo_mode: bool) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = app_config(dir.path(), demo_mode, false);
    let app = Application::build(config).await.expect("app builds");
    let addr = app.local_addr().expect("bound");
    let store = app.store.clone();
    tokio::spawn(app.run());
    TestApp {
        base: format!("http://{addr}"),
        store,
        _dir: dir,
        client: reqwest::Client::new(),
    }
}

impl TestApp {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }
    async fn page(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }
    async fn demo_id(&self, key: &str) -> PatientId {
        self.store
            .demo_patients()
            .await
            .expect("list")
            .into_iter()
            .find(|o| o.patient.demo_key.as_deref() == Some(key))
            .map(|o| o.patient.id)
            .expect("demo patient exists")
    }
}

#[tokio::test]
async fn health_answers_ok() {
    let app = spawn_app(true).await;
    let r = app.get("/health").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn the_demo_list_shows_every_demo_patient_with_90_days_of_readings() {
    let app = spawn_app(true).await;
    let (status, html) = app.page("/").await;
    assert_eq!(status, 200);
    for name in [
        "Elena Fischer",
        "James Carter",
        "Sofía Ramírez",
        "Liam O&#x27;Brien",
    ] {
        assert!(
            html.contains(name) || html.contains(&name.replace("&#x27;", "'")),
            "{name} missing"
        );
    }
    for o in app.store.demo_patients().await.unwrap() {
        let (first, last) = (o.first_reading.unwrap(), o.last_reading.unwrap());
        let span = last - first;
        assert!(
            span > Duration::days(89) && span <= Duration::days(90),
            "{span:?}"
        );
    }
}

#[tokio::test]
async fn the_report_page_is_rendered_on_the_server_with_charts_and_goals() {
    let app = spawn_app(true).await;
    let id = app.demo_id("james").await;
    let (status, html) = app
        .page(&format!("/patients/{}/report?days=14&unit=mg", id.0))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("James Carter"));
    assert!(html.contains("Ambulatory glucose profile"));
    assert!(html.contains("<svg"), "charts are inline SVG");
    assert!(html.contains("data-range=\"target\""));
    assert!(html.contains("≤ 36 %"), "CV goal shown");
    assert!(html.contains("12 AM"), "AGP x axis labels");
    assert_eq!(
        html.matches("class=\"daily-panel\"").count(),
        14,
        "latest 14 days by default"
    );
}

#[tokio::test]
async fn every_number_on_the_page_comes_from_the_same_report_the_cli_prints() {
    let app = spawn_app(true).await;
    let id = app.demo_id("elena").await;
    let o = app.store.overview(id).await.unwrap();
    let tz = o.patient.time_zone;
    let last_day = local_date(o.last_reading.unwrap(), tz);
    let first_day = last_day - Duration::days(29);

    // The page's numbers, through the same backend the server functions call.
    let backend = AppBackend::new(app.store.clone(), true);
    let view = backend
        .report(
            id.0,
            ReportQuery {
                days: Some(30),
                unit: Some("mmol".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(view.window.first_day, first_day.to_string());

    // The CLI on an export of the same readings.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("elena.csv");
    std::fs::write(
        &csv,
        cloudcgm::plain_csv::write(&app.store.all_readings(id).await.unwrap(), None),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cloudcgm"))
        .args(["report", "--input"])
        .arg(&csv)
        .args([
            "--tz",
            tz.name(),
            "--unit",
            "mmol",
            "--from",
            &first_day.to_string(),
            "--to",
            &last_day.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "cloudcgm.report/v1");
    let m = &json["metrics"];
    let pct =
        |v: &serde_json::Value| format!("{:.1} %", (v.as_f64().unwrap() * 10.0).round() / 10.0);
    let row = |key: &str| {
        view.ranges
            .iter()
            .find(|r| r.key == key)
            .unwrap()
            .percent
            .clone()
    };
    assert_eq!(row("target"), pct(&m["ranges"]["target"]));
    assert_eq!(row("low"), pct(&m["ranges"]["low"]));
    assert_eq!(row("very_high"), pct(&m["ranges"]["very_high"]));
    let metric = |key: &str| {
        view.metrics
            .iter()
            .find(|r| r.key == key)
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(
        metric("mean"),
        format!("{:.1} mmol/L", m["mean"].as_f64().unwrap())
    );
    assert_eq!(metric("cv"), pct(&m["cv_percent"]));
    assert_eq!(metric("readings"), m["readings"].to_string());
    assert_eq!(view.readings as u64, m["readings"].as_u64().unwrap());
}

#[tokio::test]
async fn window_and_unit_changes_change_the_numbers() {
    let app = spawn_app(true).await;
    let id = app.demo_id("sofia").await;
    let backend = AppBackend::new(app.store.clone(), true);
    let q = |days, unit: &str| ReportQuery {
        days: Some(days),
        unit: Some(unit.into()),
        ..Default::default()
    };
    let a = backend.report(id.0, q(14, "mg")).await.unwrap();
    let b = backend.report(id.0, q(90, "mg")).await.unwrap();
    let c = backend.report(id.0, q(14, "mmol")).await.unwrap();
    assert_eq!((a.window.days, b.window.days), (14, 90));
    assert!(b.readings > 5 * a.readings);
    assert!(a.metrics[0].value.ends_with("mg/dL") && c.metrics[0].value.ends_with("mmol/L"));
    assert_eq!(a.readings, c.readings, "a unit switch keeps the window");
}

#[tokio::test]
async fn demo_reports_and_the_demo_list_are_refused_outside_demo_mode() {
    let app = spawn_app(false).await;
    let (_, html) = app.page("/").await;
    assert!(html.contains("Demo patients are disabled"), "{html}");
    assert!(!html.contains("James Carter"));
    let id = app.demo_id("james").await;
    let (_, html) = app.page(&format!("/patients/{}/report", id.0)).await;
    assert!(html.contains("Open CloudCGM from your EHR"));
    assert!(!html.contains("<svg"));
}

#[tokio::test]
async fn bad_report_requests_get_a_message_that_says_what_to_do() {
    let app = spawn_app(true).await;
    let id = app.demo_id("liam").await;
    let (_, html) = app
        .page(&format!(
            "/patients/{}/report?from=2024-05-02&to=2024-05-01",
            id.0
        ))
        .await;
    assert!(html.contains("before it starts"), "inverted window");
    let (_, html) = app
        .page(&format!("/patients/{}/report?unit=grains", id.0))
        .await;
    assert!(html.contains("Choose mg/dL or mmol/L"));
    let (_, html) = app.page("/patients/999999/report").await;
    assert!(html.contains("No such patient"));
    let (_, html) = app.page("/patients/abc/report").await;
    assert!(html.contains("does not name a patient"));
}

#[tokio::test]
async fn unknown_addresses_are_404_and_responses_carry_security_headers() {
    let app = spawn_app(true).await;
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status().as_u16(), 404);
    let r = app.get("/").await;
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'self';"),
        "no EHR registered: only CloudCGM itself may frame its pages"
    );
}

#[tokio::test]
async fn a_sparse_window_shows_the_data_sufficiency_warning() {
    let app = spawn_app(true).await;
    let id = app.demo_id("liam").await;
    let backend = AppBackend::new(app.store.clone(), true);
    let v = backend
        .report(
            id.0,
            ReportQuery {
                days: Some(14),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let active = v.metrics.iter().find(|m| m.key == "active").unwrap();
    assert_eq!(
        active.met,
        Some(false),
        "sparse-wear patient: {}",
        active.value
    );
    assert!(
        v.sufficiency_warnings.iter().any(|w| w.contains("70 %")),
        "{:?}",
        v.sufficiency_warnings
    );
}

// ---- store contract ----

async fn empty_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}/s.db?mode=rwc", dir.path().display()))
        .await
        .unwrap();
    (store, dir)
}

fn reading(min: i64, v: f64, dev: &str) -> Reading {
    Reading {
        at: Utc.with_ymd_and_hms(2024, 3, 30, 22, 0, 0).unwrap() + Duration::minutes(min),
        value: v,
        unit: GlucoseUnit::MgDl,
        sentinel: None,
        device: DeviceId::new(dev),
        interval_s: 300,
    }
}

async fn patient_with_device(store: &SqliteStore) -> PatientId {
    let p = store
        .upsert_patient(&NewPatient {
            demo_key: None,
            given_name: "Test".into(),
            family_name: "Patient".into(),
            birth_date: NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
            sex: None,
            time_zone: chrono_tz::Europe::Berlin,
            preferred_unit: GlucoseUnit::MgDl,
        })
        .await
        .unwrap();
    store
        .upsert_device(
            p.id,
            &NewDevice {
                device_key: "dev".into(),
                display_name: "Dev".into(),
                interval_s: 300,
            },
        )
        .await
        .unwrap();
    p.id
}

#[tokio::test]
async fn re_inserting_the_same_readings_adds_nothing() {
    let (store, _d) = empty_store().await;
    let id = patient_with_device(&store).await;
    let rs: Vec<Reading> = (0..3000)
        .map(|i| reading(i * 5, 100.0 + (i % 50) as f64, "dev"))
        .collect();
    assert_eq!(store.insert_readings(id, &rs).await.unwrap(), 3000);
    assert_eq!(store.insert_readings(id, &rs).await.unwrap(), 0);
    assert_eq!(
        store.all_readings(id).await.unwrap(),
        rs,
        "stored exactly as given, in time order"
    );
}

#[tokio::test]
async fn a_batch_with_an_unknown_device_is_rejected_whole() {
    let (store, _d) = empty_store().await;
    let id = patient_with_device(&store).await;
    let mut rs: Vec<Reading> = (0..1500).map(|i| reading(i * 5, 100.0, "dev")).collect();
    rs.push(reading(99_999, 100.0, "nope"));
    let e = store.insert_readings(id, &rs).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Invalid(ref m) if m.contains("nope")),
        "{e}"
    );
    assert!(
        store.all_readings(id).await.unwrap().is_empty(),
        "nothing half-inserted"
    );
}

#[tokio::test]
async fn the_window_query_is_half_open_across_a_dst_night() {
    let (store, _d) = empty_store().await;
    let id = patient_with_device(&store).await;
    let rs: Vec<Reading> = (0..(3 * 288))
        .map(|i| reading(i * 5, 120.0, "dev"))
        .collect();
    store.insert_readings(id, &rs).await.unwrap();
    let tz = chrono_tz::Europe::Berlin;
    let day = NaiveDate::from_ymd_opt(2024, 3, 31).unwrap();
    let w = Window::local_days(day, day, tz).unwrap();
    let got = store.readings_in_window(id, &w).await.unwrap();
    assert_eq!(got.len(), 23 * 12, "the spring-forward day has 23 hours");
    assert_eq!(got.first().unwrap().at, local_midnight(day, tz));
    assert!(got.iter().all(|r| w.contains(r.at)));
    let report = build_report(&Trace::new(got), w, tz, GlucoseUnit::MgDl);
    assert_eq!(report.daily.len(), 1);
    assert_eq!(report.daily[0].hours, 23.0);
}

#[tokio::test]
async fn seeding_twice_keeps_one_copy_of_each_demo_patient() {
    let (store, _d) = empty_store().await;
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let first = seed_demo(&store, now).await.unwrap();
    assert!(first.iter().all(|o| o.added > 1000), "{first:?}");
    let second = seed_demo(&store, now).await.unwrap();
    assert!(second.iter().all(|o| o.added == 0));
    assert_eq!(store.demo_patients().await.unwrap().len(), first.len());
}

// ---- command line ----

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloudcgm"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_cli_names_the_file_line_and_reason_for_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.csv");
    std::fs::write(
        &f,
        "time,glucose,unit\n2024-01-01T00:00:00Z,100,mg/dL\n2024-01-01T00:05:00Z,abc,mg/dL\n",
    )
    .unwrap();
    let out = cli(&["report", "--input", f.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.csv") && err.contains("line 3") && err.contains("abc"),
        "{err}"
    );
    let out = cli(&["report", "--input", "/no/such/file.csv"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    let out = cli(&[
        "report",
        "--input",
        f.to_str().unwrap(),
        "--tz",
        "Mars/Base",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("IANA"));
}

#[test]
fn the_cli_prints_a_readable_table_and_reports_each_subject() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("two.csv");
    let mut csv = String::from("id,time,glucose,unit\n");
    for i in 0..288 {
        let t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(5 * i);
        csv.push_str(&format!("a,{},{},mg/dL\n", t.to_rfc3339(), 100 + i % 100));
        csv.push_str(&format!("b,{},{},mmol/L\n", t.to_rfc3339(), 5.5));
    }
    std::fs::write(&f, csv).unwrap();
    let out = cli(&["report", "--input", f.to_str().unwrap(), "--format", "text"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("— a") && text.contains("— b"));
    assert!(text.contains("Target range") && text.contains("AGP percentiles"));
    let out = cli(&["report", "--input", f.to_str().unwrap(), "--id", "b"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["subjects"][0]["id"], "b");
    assert_eq!(
        json["subjects"][0]["report"]["metrics"]["ranges"]["target"],
        100.0
    );
    assert_eq!(json["subjects"][0]["report"]["unit"], "mmol/L");
}
