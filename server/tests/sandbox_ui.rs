//! Integration tests of the sandbox EHR's pages: a real sandbox (its own SQLite file) behind a real
//! listener on port 0, fixtures created through the FHIR store, pages fetched with reqwest (redirects not
//! followed, so the 303s are visible).

use cloudcgm_server::sandbox::fhir::store::Stored;
use cloudcgm_server::sandbox::{self, SandboxConfig, SandboxState};
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Value};

const APP_ORIGIN: &str = "http://cloudcgm.test:3000";
const CGM: &str = "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm";

struct Ehr {
    origin: String,
    state: SandboxState,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Ehr {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let db = format!("sqlite://{}/sandbox.db?mode=rwc", dir.path().display());
    let mut config = SandboxConfig::new(format!("http://{addr}"), db);
    config.app_origin = APP_ORIGIN.to_string();
    let state = SandboxState::open(config).await.expect("sandbox opens");
    let app = axum::Router::new().nest("/sandbox", sandbox::router(state.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Ehr {
        origin: format!("http://{addr}"),
        state,
        client,
        _dir: dir,
    }
}

impl Ehr {
    async fn create(&self, resource: Value) -> Stored {
        self.state
            .fhir
            .create(resource)
            .await
            .expect("store creates the fixture")
    }

    /// A practitioner and a patient; returns (practitioner id, patient id).
    async fn people(&self, patient_given: &str) -> (String, String) {
        let practitioner = self
            .create(json!({"resourceType": "Practitioner", "name": [{"given": ["Grace"], "family": "Hopper"}]}))
            .await;
        let patient = self
            .create(json!({
                "resourceType": "Patient",
                "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                                "system": "urn:sandbox:mrn", "value": "MRN-0042"}],
                "name": [{"given": [patient_given], "family": "Peters"}],
                "gender": "female",
                "birthDate": "1964-06-20"
            }))
            .await;
        (practitioner.id, patient.id)
    }

    fn chart_path(&self, practitioner: &str, patient: &str) -> String {
        format!("/sandbox/ehr/{practitioner}/patients/{patient}")
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.origin))
            .send()
            .await
            .expect("request")
    }

    async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    /// A form POST as a browser on a sandbox page sends it.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.origin))
            .header("Origin", &self.origin)
            .header("Sec-Fetch-Site", "same-origin")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    async fn orders(&self, patient: &str, code: &str) -> Vec<Stored> {
        self.state
            .fhir
            .list_for_patient("ServiceRequest", patient, Some((CGM, code)))
            .await
            .expect("list orders")
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture JSON")
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/ig/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    parse(&std::fs::read_to_string(path).expect("IG fixture"))
}

/// The `src` of the chart's app iframe, unescaped.
fn iframe_src(html: &str) -> String {
    let at = html.find("<iframe").expect("the chart has an iframe");
    let rest = &html[at..];
    let start = rest.find("src=\"").expect("iframe src") + 5;
    let end = rest[start..].find('"').expect("closing quote") + start;
    rest[start..end].replace("&amp;", "&")
}

fn query_param(url: &str, name: &str) -> String {
    let query = url.split_once('?').expect("query").1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .expect("parameter present")
        .to_string()
}

fn decode(component: &str) -> String {
    let bytes = component.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("hex digit"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn the_launcher_lists_practitioners_and_patients_with_birth_date_and_mrn() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let (status, html) = ehr.page("/sandbox/ehr").await;
    assert_eq!(status, StatusCode::OK);
    let root = ehr.get("/sandbox").await;
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        root.headers()[LOCATION],
        "/sandbox/ehr",
        "the sandbox root leads to the launcher"
    );
    assert!(html.contains("Grace Hopper"), "{html}");
    assert!(html.contains("Amy Peters"), "{html}");
    assert!(html.contains("1964-06-20") && html.contains("MRN-0042"));
    assert!(html.contains(&format!("value=\"{practitioner}\"")));
    assert!(html.contains(&format!("value=\"{patient}\"")));
    assert!(html.contains("no passwords"), "says it is a sandbox");

    let response = ehr
        .get(&format!(
            "/sandbox/ehr/open?practitioner={practitioner}&patient={patient}"
        ))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().expect("location");
    assert!(location.ends_with(&ehr.chart_path(&practitioner, &patient)));
}

#[tokio::test]
async fn the_chart_embeds_the_app_with_a_new_launch_id_on_every_load_and_the_fhir_base_as_iss() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let path = ehr.chart_path(&practitioner, &patient);
    let (status, first) = ehr.page(&path).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = ehr.page(&path).await;
    let (src1, src2) = (iframe_src(&first), iframe_src(&second));
    assert!(src1.starts_with(APP_ORIGIN), "{src1}");
    assert_eq!(
        decode(&query_param(&src1, "iss")),
        format!("{}/sandbox/fhir", ehr.origin)
    );
    let (launch1, launch2) = (query_param(&src1, "launch"), query_param(&src2, "launch"));
    assert!(!launch1.is_empty());
    assert_ne!(launch1, launch2, "launch ids are single use");
    assert!(
        first.contains("sandbox=\"allow-scripts allow-forms allow-same-origin allow-downloads\"")
    );
    assert!(
        first.contains("Amy Peters")
            && first.contains("MRN-0042")
            && first.contains("Grace Hopper")
    );

    // "Open in a new tab" starts a launch of its own.
    let response = ehr.get(&format!("{path}/launch")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[LOCATION].to_str().expect("location");
    assert!(location.starts_with(APP_ORIGIN), "{location}");
    let launch3 = query_param(location, "launch");
    assert!(launch3 != launch1 && launch3 != launch2);

    // Another site cannot start a launch by linking there.
    let cross_site = ehr
        .client
        .get(format!("{}{path}/launch", ehr.origin))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .expect("request");
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_chart_sends_a_csp_that_frames_only_the_app_origin_and_allows_no_scripts() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let response = ehr.get(&ehr.chart_path(&practitioner, &patient)).await;
    let csp = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp")
        .to_string();
    let directive = |name: &str| {
        csp.split(';')
            .map(str::trim)
            .find(|d| d.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {csp}"))
            .to_string()
    };
    assert!(
        directive("frame-src").split(' ').any(|s| s == APP_ORIGIN),
        "{csp}"
    );
    assert_eq!(directive("default-src"), "default-src 'self'");
    assert_eq!(directive("script-src"), "script-src 'none'");
    let html = response.text().await.expect("body");
    assert!(!html.contains("<script"), "no scripts on the page");
}

#[tokio::test]
async fn a_patient_name_with_markup_is_shown_escaped() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("<script>alert(1)</script>").await;
    for path in [
        "/sandbox/ehr".to_string(),
        ehr.chart_path(&practitioner, &patient),
    ] {
        let (_, html) = ehr.page(&path).await;
        assert!(!html.contains("<script>alert(1)"), "{path}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Peters"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_unknown_patient_or_practitioner_is_a_404_page() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let (status, _) = ehr.page(&ehr.chart_path(&practitioner, "nobody")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ehr.page(&ehr.chart_path("nobody", &patient)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_empty_chart_says_what_to_do_next() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let (_, html) = ehr.page(&ehr.chart_path(&practitioner, &patient)).await;
    assert!(
        html.contains("No CGM data yet. Open CloudCGM above"),
        "{html}"
    );
    assert!(html.contains("No submissions yet."));
}

/// The IG's summary panel and members for `patient`, with times in ranges written with two decimals.
async fn store_summary(ehr: &Ehr, patient: &str, start: &str, end: &str, mean: &str) -> Stored {
    let subject = json!({"reference": format!("Patient/{patient}")});
    let period = json!({"start": start, "end": end});
    let mut members = Vec::new();
    for (name, value_text) in [
        (
            "Observation-cgmSummaryMeanGlucoseMassPerVolumeExample",
            Some(mean),
        ),
        ("Observation-cgmSummaryTimesInRangesExample", None),
        ("Observation-cgmSummaryGMIExample", Some("6.80")),
        ("Observation-cgmSummaryCoefficientOfVariationExample", None),
        ("Observation-cgmSummaryDaysOfWearExample", None),
        ("Observation-cgmSummarySensorActivePercentageExample", None),
    ] {
        let mut obs = fixture(name);
        obs.as_object_mut().expect("object").remove("id");
        obs["subject"] = subject.clone();
        obs["effectivePeriod"] = period.clone();
        if let Some(text) = value_text {
            obs["valueQuantity"]["value"] = parse(text);
        }
        if name.contains("TimesInRanges") {
            for (component, value) in obs["component"]
                .as_array_mut()
                .expect("components")
                .iter_mut()
                .zip(["3.00", "8.00", "65.00", "20.00", "4.00"])
            {
                component["valueQuantity"]["value"] = parse(value);
            }
        }
        let stored = ehr.create(obs).await;
        members.push(json!({"reference": format!("Observation/{}", stored.id)}));
    }
    let mut panel = fixture("Observation-cgmSummaryExample");
    panel.as_object_mut().expect("object").remove("id");
    panel["subject"] = subject;
    panel["effectivePeriod"] = period;
    panel["hasMember"] = Value::Array(members);
    ehr.create(panel).await
}

#[tokio::test]
async fn the_newest_summary_shows_its_members_with_decimals_as_written() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    store_summary(&ehr, &patient, "2024-05-01", "2024-05-31", "145.0").await;
    let older = store_summary(&ehr, &patient, "2024-04-01", "2024-04-30", "150.5").await;
    // Stored last but covering an earlier period: not the one shown first.
    let path = ehr.chart_path(&practitioner, &patient);
    let (_, html) = ehr.page(&path).await;
    let detail = &html[html.find("<h3>Summary</h3>").expect("summary")..];
    let detail = &detail[..detail.find("</table>").expect("table end")];
    assert!(detail.contains("2024-05-01 – 2024-05-31"), "{detail}");
    assert!(detail.contains("145.0 mg/dl"), "{detail}");
    for value in ["3.00 %", "8.00 %", "65.00 %", "20.00 %", "4.00 %", "6.80 %"] {
        assert!(detail.contains(value), "{value} in {detail}");
    }
    assert!(detail.contains("Days of wear") && detail.contains("Sensor active time"));
    assert!(detail.contains("Coefficient of variation"));
    assert!(
        html.contains("2024-04-01 – 2024-04-30"),
        "older summary listed"
    );

    let (_, html) = ehr.page(&format!("{path}?summary={}", older.id)).await;
    let detail = &html[html.find("<h3>Summary</h3>").expect("summary")..];
    assert!(
        detail.contains("150.5 mg/dl"),
        "the chosen summary is shown"
    );
}

#[tokio::test]
async fn sensor_readings_are_counted_with_their_time_span() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    for time in [
        "2024-05-02T10:15:00Z",
        "2024-05-02T10:20:00Z",
        "2024-05-03T08:00:00Z",
    ] {
        let mut reading = fixture("Observation-cgmSensorReadingMassPerVolumeExample");
        reading.as_object_mut().expect("object").remove("id");
        reading["subject"] = json!({"reference": format!("Patient/{patient}")});
        reading["effectiveDateTime"] = json!(time);
        ehr.create(reading).await;
    }
    let (_, html) = ehr.page(&ehr.chart_path(&practitioner, &patient)).await;
    let section = &html[html.find("<h3>Sensor readings</h3>").expect("readings")..];
    let section = &section[..section.find("</table>").expect("table")];
    assert!(section.contains("<td class=\"num\">3</td>"), "{section}");
    assert!(section.contains("2024-05-02 10:15 UTC"), "{section}");
    assert!(section.contains("2024-05-03 08:00 UTC"), "{section}");
}

#[tokio::test]
async fn the_pdf_route_serves_the_decoded_report_and_404_for_an_unknown_id() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let mut report = fixture("DiagnosticReport-cgmSummaryPDFExample");
    report.as_object_mut().expect("object").remove("id");
    report["subject"] = json!({"reference": format!("Patient/{patient}")});
    report.as_object_mut().expect("object").remove("result");
    let stored = ehr.create(report).await;

    let (_, chart) = ehr.page(&ehr.chart_path(&practitioner, &patient)).await;
    let link = format!("/sandbox/ehr/documents/{}.pdf", stored.id);
    assert!(chart.contains(&link), "the chart links the report");
    assert!(chart.contains("2024-05-15T14:30:00Z"), "issued shown");

    let response = ehr.get(&link).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/pdf");
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .expect("disposition");
    assert!(disposition.starts_with("inline"));
    let bytes = response.bytes().await.expect("bytes");
    assert!(bytes.starts_with(b"%PDF"), "decoded PDF bytes");

    let (status, _) = ehr.page("/sandbox/ehr/documents/does-not-exist.pdf").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn submissions_are_listed_with_client_status_and_counts() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    sqlx::query(
        "INSERT INTO submissions (received_at, client_id, patient_id, http_status, entries, created, matched, rejected, summary) \
         VALUES ('2025-01-02T03:04:05Z', 'cloudcgm-demo', ?, 200, 9, 7, 1, 1, 'one entry <rejected>')",
    )
    .bind(&patient)
    .execute(&ehr.state.db)
    .await
    .expect("insert submission");
    let (_, html) = ehr.page(&ehr.chart_path(&practitioner, &patient)).await;
    let section = &html[html.find("<h2 id=\"sub-h\">").expect("submissions")..];
    assert!(section.contains("2025-01-02T03:04:05Z"), "{section}");
    assert!(section.contains("cloudcgm-demo"));
    assert!(section.contains("one entry &lt;rejected&gt;"));
    assert!(!section.contains("No submissions yet"));
}

fn without(mut resource: Value, keys: &[&str]) -> Value {
    let object = resource.as_object_mut().expect("object");
    for key in keys {
        object.remove(*key);
    }
    resource
}

const STANDING_FORM: [(&str, &str); 4] = [
    ("s1_period_value", "2"),
    ("s1_period_unit", "wk"),
    ("s1_profile", "cgm-summary"),
    ("s1_profile", "cgm-summary-pdf"),
];

async fn create_standing_order(ehr: &Ehr, practitioner: &str, patient: &str) -> Stored {
    let path = format!("{}/orders/standing", ehr.chart_path(practitioner, patient));
    let mut form = STANDING_FORM.to_vec();
    form.extend([
        ("s2_period_value", ""),
        ("s2_period_unit", "d"),
        ("s2_lookback_value", ""),
        ("s2_lookback_unit", ""),
    ]);
    let response = ehr.post(&path, &form).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let orders = ehr
        .orders(patient, "cgm-data-submission-standing-order")
        .await;
    assert_eq!(orders.len(), 1);
    orders.into_iter().next().expect("one order")
}

#[tokio::test]
async fn a_standing_order_created_through_the_form_has_the_shape_of_the_ig_example() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let order = create_standing_order(&ehr, &practitioner, &patient).await;
    assert_eq!(order.version, 1);
    assert_eq!(
        order.body["requester"]["reference"],
        format!("Practitioner/{practitioner}")
    );
    assert!(order.body["authoredOn"]
        .as_str()
        .is_some_and(|t| t.len() >= 20));
    let mut expected = without(
        fixture("ServiceRequest-cgmDataSubmissionStandingOrderExample"),
        &["id"],
    );
    expected["subject"] = json!({"reference": format!("Patient/{patient}")});
    assert_eq!(
        without(
            order.body.clone(),
            &["id", "meta", "authoredOn", "requester"]
        ),
        expected
    );

    let (_, html) = ehr
        .page(&format!(
            "{}/orders",
            ehr.chart_path(&practitioner, &patient)
        ))
        .await;
    assert!(
        html.contains("every 2 weeks: cgm-summary, cgm-summary-pdf"),
        "{html}"
    );
}

#[tokio::test]
async fn a_second_schedule_and_a_lookback_are_stored_when_filled_in() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let path = format!(
        "{}/orders/standing",
        ehr.chart_path(&practitioner, &patient)
    );
    let mut form = STANDING_FORM.to_vec();
    form.extend([
        ("s1_lookback_value", "30"),
        ("s1_lookback_unit", "d"),
        ("s2_period_value", "1"),
        ("s2_period_unit", "mo"),
        ("s2_profile", "cgm-sensor-reading-mass-per-volume"),
        ("s2_profile", "cgm-device"),
    ]);
    assert_eq!(ehr.post(&path, &form).await.status(), StatusCode::SEE_OTHER);
    let order = &ehr
        .orders(&patient, "cgm-data-submission-standing-order")
        .await[0];
    let schedules = order.body["extension"].as_array().expect("extensions");
    assert_eq!(schedules.len(), 2);
    assert_eq!(
        schedules[0]["extension"][1],
        json!({"url": "lookbackPeriod", "valueQuantity": {"value": 30, "system": "http://unitsofmeasure.org", "code": "d", "unit": "day"}})
    );
    assert_eq!(schedules[1]["extension"][0]["valueQuantity"]["code"], "mo");
    assert_eq!(
        schedules[1]["extension"][2]["valueCanonical"],
        "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-device"
    );
}

#[tokio::test]
async fn editing_a_standing_order_stores_version_2_with_the_new_schedule() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let order = create_standing_order(&ehr, &practitioner, &patient).await;
    let path = format!(
        "{}/orders/{}",
        ehr.chart_path(&practitioner, &patient),
        order.id
    );
    let (status, form_html) = ehr.page(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form_html.contains("name=\"s1_period_value\" value=\"2\""),
        "prefilled"
    );

    let response = ehr
        .post(
            &path,
            &[
                ("version", "1"),
                ("s1_period_value", "1"),
                ("s1_period_unit", "d"),
                ("s1_profile", "cgm-summary"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored = ehr
        .state
        .fhir
        .read("ServiceRequest", &order.id)
        .await
        .expect("read")
        .expect("order");
    assert_eq!(stored.version, 2);
    let schedule = &stored.body["extension"][0]["extension"];
    assert_eq!(schedule[0]["valueQuantity"]["code"], "d");
    assert_eq!(schedule.as_array().expect("subs").len(), 2);

    // A form made from version 1 no longer applies.
    let response = ehr
        .post(
            &path,
            &[
                ("version", "1"),
                ("s1_period_value", "3"),
                ("s1_period_unit", "d"),
                ("s1_profile", "cgm-summary"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn cancelling_an_order_revokes_it_and_hold_and_resume_toggle_it() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let order = create_standing_order(&ehr, &practitioner, &patient).await;
    let path = format!(
        "{}/orders/{}/status",
        ehr.chart_path(&practitioner, &patient),
        order.id
    );
    let status_of = || async {
        let stored = ehr
            .state
            .fhir
            .read("ServiceRequest", &order.id)
            .await
            .expect("read")
            .expect("order");
        stored.body["status"].as_str().expect("status").to_string()
    };
    assert_eq!(
        ehr.post(&path, &[("status", "on-hold")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(status_of().await, "on-hold");
    assert_eq!(
        ehr.post(&path, &[("status", "active")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(status_of().await, "active");
    assert_eq!(
        ehr.post(&path, &[("status", "revoked")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(status_of().await, "revoked");
    // A cancelled order stays cancelled.
    assert_eq!(
        ehr.post(&path, &[("status", "active")]).await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(status_of().await, "revoked");
}

#[tokio::test]
async fn an_invalid_standing_order_stores_nothing_and_says_what_to_fix_keeping_the_input() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let path = format!(
        "{}/orders/standing",
        ehr.chart_path(&practitioner, &patient)
    );
    let response = ehr
        .post(
            &path,
            &[
                ("s1_period_value", "0"),
                ("s1_period_unit", "wk"),
                ("s1_lookback_value", "45"),
                ("s1_lookback_unit", "d"),
                ("s1_profile", "cgm-device"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("body");
    assert!(
        html.contains("the submission period must be a number greater than 0"),
        "{html}"
    );
    assert!(
        html.contains("name=\"s1_lookback_value\" value=\"45\""),
        "keeps what was typed"
    );
    assert!(
        html.contains("value=\"cgm-device\" checked"),
        "keeps the chosen profile"
    );
    assert!(ehr
        .orders(&patient, "cgm-data-submission-standing-order")
        .await
        .is_empty());

    let response = ehr
        .post(&path, &[("s1_period_value", "2"), ("s1_period_unit", "wk")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("choose at least one kind of data"));
    assert!(ehr
        .orders(&patient, "cgm-data-submission-standing-order")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_one_time_order_is_stored_like_the_ig_example_and_refused_when_it_ends_before_it_starts()
{
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let path = format!(
        "{}/orders/one-time",
        ehr.chart_path(&practitioner, &patient)
    );
    let response = ehr
        .post(
            &path,
            &[
                ("start", "2025-01-31"),
                ("end", "2025-01-01"),
                ("profile", "cgm-summary"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("body");
    assert!(html.contains("ends before it starts"), "{html}");
    assert!(html.contains("value=\"2025-01-31\""));
    assert!(ehr
        .orders(&patient, "cgm-data-submission-one-time-order")
        .await
        .is_empty());

    let response = ehr
        .post(
            &path,
            &[
                ("start", "2024-12-17"),
                ("end", "2025-01-16"),
                ("profile", "cgm-summary"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let orders = ehr
        .orders(&patient, "cgm-data-submission-one-time-order")
        .await;
    let mut expected = without(
        fixture("ServiceRequest-cgmDataSubmissionOneTimeOrder30DayExample"),
        &["id"],
    );
    expected["subject"] = json!({"reference": format!("Patient/{patient}")});
    assert_eq!(
        without(
            orders[0].body.clone(),
            &["id", "meta", "authoredOn", "requester"]
        ),
        expected
    );
}

#[tokio::test]
async fn a_cross_site_post_is_refused_and_changes_nothing() {
    let ehr = start().await;
    let (practitioner, patient) = ehr.people("Amy").await;
    let path = format!(
        "{}{}/orders/standing",
        ehr.origin,
        ehr.chart_path(&practitioner, &patient)
    );
    let cross_site = ehr
        .client
        .post(&path)
        .header("Origin", "http://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .form(&STANDING_FORM)
        .send()
        .await
        .expect("request");
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let no_headers = ehr
        .client
        .post(&path)
        .form(&STANDING_FORM)
        .send()
        .await
        .expect("request");
    assert_eq!(no_headers.status(), StatusCode::FORBIDDEN);
    assert!(ehr
        .orders(&patient, "cgm-data-submission-standing-order")
        .await
        .is_empty());
}

#[tokio::test]
async fn the_stylesheet_is_served_cacheable() {
    let ehr = start().await;
    let response = ehr.get("/sandbox/static/ehr.css").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[CONTENT_TYPE]
        .to_str()
        .expect("type")
        .starts_with("text/css"));
    assert!(response.headers()["cache-control"]
        .to_str()
        .expect("cc")
        .contains("max-age"));
}
