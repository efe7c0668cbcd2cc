//! What the sandbox EHR says in FHIR, collected for an independent validator: the IG's example Bundle and
//! submissions built to be refused (per entry and as a whole) go to `$submit-cgm-bundle` over real HTTP, and
//! every answer body (transaction-response Bundles, OperationOutcomes) and every resource stored on the way
//! is written, one file per resource, into `$CARGO_TARGET_TMPDIR/fhir-conformance/`; so is what the read and
//! search API answers about the result (metadata, reads, paged searchsets, an order create, its errors).
//! `.ci/fhir-validator` then parses each file with fhir.resources (FHIR R4) in `tools/fhir-validate`.
//!
//! The test asserts the essentials itself (statuses, resourceType), so it fails on its own; the behaviour
//! behind each status is tested in sandbox_submit.rs. Tokens are minted straight into the token table.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{
    bundle_of, example, mint_token, reading, start_with, Receiver, DEVICE, ORDER, PATIENT, READING,
    WRITE_SCOPES,
};

fn mine(fixture: &str, reference_element: &str) -> Value {
    let mut r: Value = serde_json::from_str(fixture).expect("fixture");
    r[reference_element] = json!({"reference": format!("Patient/{PATIENT}")});
    r
}

/// An answer as sent: the raw body is what gets validated, the parsed one what gets asserted.
struct Answer {
    status: StatusCode,
    content_type: String,
    text: String,
    body: Value,
}

impl Answer {
    async fn of(res: reqwest::Response) -> Answer {
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            text,
            body,
        }
    }

    fn statuses(&self) -> Vec<u16> {
        self.body["entry"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        e["response"]["status"].as_str().expect("entry status")[..3]
                            .parse()
                            .expect("numeric status")
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
    fn locations(&self) -> Vec<(usize, String)> {
        self.body["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, e)| Some((i, e["response"]["location"].as_str()?.to_string())))
            .collect()
    }
}

impl Receiver {
    fn url(&self) -> String {
        format!("{}/sandbox/fhir/$submit-cgm-bundle", self.origin)
    }

    async fn token(&self, client: &str, scope: &str, patient: Option<&str>) -> String {
        mint_token(&self.state, client, scope, patient, None).await
    }

    async fn patient_token(&self) -> String {
        self.token("cloudcgm", WRITE_SCOPES, Some(PATIENT)).await
    }

    async fn post_raw(&self, token: Option<&str>, content_type: &str, body: Vec<u8>) -> Answer {
        let mut req = self
            .http
            .post(self.url())
            .header("content-type", content_type)
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Answer::of(req.send().await.expect("request")).await
    }

    /// GET `{origin}/sandbox/fhir/{path}` (or an absolute URL, for a paging link).
    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/sandbox/fhir/{path}", self.origin)
        };
        let mut req = self.http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Answer::of(req.send().await.expect("request")).await
    }

    async fn post_json(&self, path: &str, token: &str, body: &Value) -> Answer {
        let req = self
            .http
            .post(format!("{}/sandbox/fhir/{path}", self.origin))
            .bearer_auth(token)
            .header("content-type", "application/fhir+json")
            .body(body.to_string());
        Answer::of(req.send().await.expect("request")).await
    }

    async fn submit(&self, token: &str, bundle: &Value) -> Answer {
        self.post_raw(
            Some(token),
            "application/fhir+json",
            bundle.to_string().into_bytes(),
        )
        .await
    }
}

/// `$CARGO_TARGET_TMPDIR/fhir-conformance/`, emptied first so every file in it comes from this run.
struct Artifacts {
    dir: PathBuf,
    count: usize,
}

impl Artifacts {
    fn fresh() -> Artifacts {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhir-conformance");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("clear the artifacts directory");
        }
        std::fs::create_dir_all(&dir).expect("create the artifacts directory");
        Artifacts { dir, count: 0 }
    }

    fn write(&mut self, name: &str, bytes: &[u8]) {
        let path = self.dir.join(format!("{name}.json"));
        assert!(!path.exists(), "{name} written twice");
        std::fs::write(&path, bytes).expect("write artifact");
        self.count += 1;
    }

    /// An answer body, byte for byte, after checking it is FHIR JSON of `resource_type` with `status`.
    fn answer(&mut self, name: &str, a: &Answer, status: StatusCode, resource_type: &str) {
        assert_eq!(a.status, status, "{name}: {}", a.text);
        assert_eq!(
            a.content_type, "application/fhir+json; charset=utf-8",
            "{name}"
        );
        assert_eq!(a.body["resourceType"], resource_type, "{name}: {}", a.text);
        if resource_type == "OperationOutcome" {
            assert!(
                a.body["issue"][0]["severity"].is_string()
                    && a.body["issue"][0]["code"].is_string(),
                "{name}: {}",
                a.text
            );
        }
        self.write(&format!("{name}.response"), a.text.as_bytes());
    }

    /// Every resource a transaction-response points at, read back from the store.
    async fn stored(&mut self, name: &str, r: &Receiver, a: &Answer) {
        let locations = a.locations();
        assert!(!locations.is_empty(), "{name}: nothing stored");
        for (i, location) in locations {
            let mut parts = location.split('/');
            let (t, id) = (parts.next().unwrap(), parts.next().unwrap());
            let stored = r
                .state
                .fhir
                .read(t, id)
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("{name}: {location} is stored"));
            assert_eq!(stored.body["resourceType"], t, "{name}: {location}");
            assert_eq!(stored.body["id"], id, "{name}: {location}");
            self.write(
                &format!("{name}.entry{i:02}.{t}"),
                &serde_json::to_vec_pretty(&stored.body).unwrap(),
            );
        }
    }
}

#[tokio::test]
async fn every_answer_and_stored_resource_is_written_out_for_the_independent_fhir_validator() {
    let mut out = Artifacts::fresh();
    let r = start_with(|_| {}).await;
    let token = r.patient_token().await;

    // The IG's own example, verbatim: nine entries created.
    let a = r.submit(&token, &example()).await;
    out.answer("01-ig-example", &a, StatusCode::OK, "Bundle");
    assert_eq!(a.body["type"], "transaction-response");
    assert_eq!(a.statuses(), vec![201; 9], "{}", a.text);
    out.stored("01-ig-example", &r, &a).await;
    let ig_locations = a.locations();

    // One Bundle refused and accepted entry by entry: every per-entry status the receiver answers, with the
    // OperationOutcomes inside `response.outcome`.
    let mut bad_unit = reading("bad-unit");
    bad_unit["valueQuantity"]["system"] = json!("http://example.org/units");
    let mut unit_case = reading("unit-case");
    unit_case["valueQuantity"]["unit"] = json!("mg/dL");
    let mut theirs = reading("theirs");
    theirs["subject"] = json!({"reference": "Patient/other"});
    let condition =
        json!({"resourceType":"Condition","subject":{"reference":format!("Patient/{PATIENT}")}});
    let me = json!({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"MRN-1"}]});
    let device = mine(DEVICE, "patient");
    let mut no_ident = device.clone();
    no_ident.as_object_mut().unwrap().remove("identifier");
    let order = mine(ORDER, "subject");
    let mut bad_intent = order.clone();
    bad_intent["intent"] = json!("plan");
    let mut b = bundle_of(vec![
        reading("ok"),
        bad_unit,
        reading("put"),
        reading("delete"),
        theirs,
        condition,
        reading("ok"),
        unit_case,
        me,
        device,
        no_ident,
        order,
        bad_intent,
    ]);
    b["entry"][2]["request"] = json!({"method":"PUT","url":"Observation/x"});
    b["entry"][3]["request"] = json!({"method":"DELETE","url":"Observation/y"});
    let a = r.submit(&token, &b).await;
    out.answer("02-per-entry", &a, StatusCode::OK, "Bundle");
    assert_eq!(a.body["type"], "transaction-response");
    assert_eq!(
        a.statuses(),
        vec![201, 422, 405, 405, 403, 403, 200, 201, 200, 201, 422, 201, 422],
        "{}",
        a.text
    );
    for i in [1, 2, 3, 4, 5, 7, 10, 12] {
        assert_eq!(
            a.body["entry"][i]["response"]["outcome"]["resourceType"], "OperationOutcome",
            "entry {i}: {}",
            a.text
        );
    }
    out.stored("02-per-entry", &r, &a).await;

    // Whole-request failures: one OperationOutcome each.
    let mut batch = example();
    batch["type"] = json!("batch");
    let a = r.submit(&token, &batch).await;
    out.answer("03-batch", &a, StatusCode::BAD_REQUEST, "OperationOutcome");
    let mut no_ts = example();
    no_ts.as_object_mut().unwrap().remove("timestamp");
    let a = r.submit(&token, &no_ts).await;
    out.answer(
        "04-no-timestamp",
        &a,
        StatusCode::UNPROCESSABLE_ENTITY,
        "OperationOutcome",
    );
    let a = r
        .post_raw(Some(&token), "application/fhir+json", b"{not json".to_vec())
        .await;
    out.answer(
        "05-not-json",
        &a,
        StatusCode::BAD_REQUEST,
        "OperationOutcome",
    );
    let two = json!({"resourceType":"Parameters","parameter":[{"name":"resource","resource":example()},
                     {"name":"x","valueString":"y"}]});
    let a = r.submit(&token, &two).await;
    out.answer(
        "06-parameters-two",
        &a,
        StatusCode::BAD_REQUEST,
        "OperationOutcome",
    );
    let a = r
        .post_raw(Some(&token), "application/fhir+xml", b"<Bundle/>".to_vec())
        .await;
    out.answer(
        "07-xml",
        &a,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "OperationOutcome",
    );
    let body = example().to_string().into_bytes();
    let a = r
        .post_raw(None, "application/fhir+json", body.clone())
        .await;
    out.answer(
        "08-no-token",
        &a,
        StatusCode::UNAUTHORIZED,
        "OperationOutcome",
    );
    let a = r
        .post_raw(Some("forged"), "application/fhir+json", body)
        .await;
    out.answer(
        "09-forged-token",
        &a,
        StatusCode::UNAUTHORIZED,
        "OperationOutcome",
    );
    let read_only = r
        .token("cloudcgm", "patient/Observation.rs", Some(PATIENT))
        .await;
    let a = r.submit(&read_only, &example()).await;
    out.answer(
        "10-read-only-token",
        &a,
        StatusCode::FORBIDDEN,
        "OperationOutcome",
    );
    let system = r.token("backend", "system/Observation.c", None).await;
    let a = r.submit(&system, &bundle_of(vec![reading("s1")])).await;
    out.answer(
        "11-system-not-linked",
        &a,
        StatusCode::FORBIDDEN,
        "OperationOutcome",
    );

    // The limits (NOTES A7, RCV-6) on a receiver configured tight.
    let tight = start_with(|c| {
        c.max_entries = 3;
        c.submit_min_interval = Duration::from_secs(60);
    })
    .await;
    let token = tight.patient_token().await;
    let four = bundle_of((0..4).map(|i| reading(&format!("f{i}"))).collect());
    let a = tight.submit(&token, &four).await;
    out.answer(
        "12-too-many-entries",
        &a,
        StatusCode::PAYLOAD_TOO_LARGE,
        "OperationOutcome",
    );
    let a = tight.submit(&token, &bundle_of(vec![reading("t")])).await;
    out.answer(
        "13-too-soon",
        &a,
        StatusCode::TOO_MANY_REQUESTS,
        "OperationOutcome",
    );

    // The read/search API over what was submitted above (docs/sandbox-fhir-api.md).
    let a = r.get("metadata", None).await;
    out.answer("14-metadata", &a, StatusCode::OK, "CapabilityStatement");
    assert_eq!(a.body["fhirVersion"], "4.0.1");
    let read = r.token("cloudcgm", "patient/*.rs", Some(PATIENT)).await;
    let a = r.get(&format!("Patient/{PATIENT}"), Some(&read)).await;
    out.answer("15-read-patient", &a, StatusCode::OK, "Patient");
    assert_eq!(a.body["id"], PATIENT);
    let (_, reading_location) = &ig_locations[READING];
    let a = r.get(reading_location, Some(&read)).await;
    out.answer("16-vread-observation", &a, StatusCode::OK, "Observation");
    let a = r
        .get(
            reading_location.trim_end_matches("/_history/1"),
            Some(&read),
        )
        .await;
    out.answer("17-read-observation", &a, StatusCode::OK, "Observation");
    // 8 Observations from the example, 2 from the per-entry Bundle: two pages of 5.
    let a = r
        .get(
            &format!("Observation?patient={PATIENT}&_count=5"),
            Some(&read),
        )
        .await;
    out.answer("18-search-observation-page1", &a, StatusCode::OK, "Bundle");
    assert_eq!(
        (&a.body["type"], &a.body["total"]),
        (&json!("searchset"), &json!(10))
    );
    assert_eq!(a.body["entry"].as_array().map(Vec::len), Some(5));
    let next = a.body["link"]
        .as_array()
        .and_then(|links| links.iter().find(|l| l["relation"] == "next"))
        .and_then(|l| l["url"].as_str())
        .expect("a next link")
        .to_string();
    let a = r.get(&next, Some(&read)).await;
    out.answer("19-search-observation-page2", &a, StatusCode::OK, "Bundle");
    assert_eq!(a.body["entry"].as_array().map(Vec::len), Some(5));
    let a = r
        .get(
            &format!("Observation?patient={PATIENT}&code=http://loinc.org%7C99504-3&_count=0"),
            Some(&read),
        )
        .await;
    out.answer("20-search-count-only", &a, StatusCode::OK, "Bundle");
    assert_eq!(a.body["total"], 3, "three readings: {}", a.text);
    let a = r
        .post_json(
            "ServiceRequest",
            &r.patient_token().await,
            &mine(ORDER, "subject"),
        )
        .await;
    out.answer("21-create-order", &a, StatusCode::CREATED, "ServiceRequest");
    for (i, t) in ["DiagnosticReport", "Device", "ServiceRequest"]
        .iter()
        .enumerate()
    {
        let a = r.get(&format!("{t}?patient={PATIENT}"), Some(&read)).await;
        out.answer(
            &format!("{}-search-{t}", 22 + i),
            &a,
            StatusCode::OK,
            "Bundle",
        );
        assert_eq!(
            a.body["total"],
            if *t == "ServiceRequest" { 2 } else { 1 },
            "{t}"
        );
    }
    let a = r.get("Observation/nope", Some(&read)).await;
    out.answer(
        "25-read-unknown-id",
        &a,
        StatusCode::NOT_FOUND,
        "OperationOutcome",
    );
    let a = r.get("Patient/other", Some(&read)).await;
    out.answer(
        "26-read-other-patient",
        &a,
        StatusCode::FORBIDDEN,
        "OperationOutcome",
    );
    let a = r.get("Observation?bogus=1", Some(&read)).await;
    out.answer(
        "27-search-unknown-parameter",
        &a,
        StatusCode::BAD_REQUEST,
        "OperationOutcome",
    );
    let a = r.get(&format!("Observation?patient={PATIENT}"), None).await;
    out.answer(
        "28-search-no-token",
        &a,
        StatusCode::UNAUTHORIZED,
        "OperationOutcome",
    );

    // 28 answers; 9 stored from the example, 5 locations in the per-entry Bundle (the repeat points at the
    // first reading again).
    assert_eq!(out.count, 28 + 9 + 5, "artifacts in {}", out.dir.display());
}
