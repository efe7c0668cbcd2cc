//! The sandbox's CGM Data Receiver, `$submit-cgm-bundle`, over real HTTP: the IG's own example Bundle, each
//! VAL rule broken on purpose, the patient and scope checks, conditional create and dedup (DUP-1…6), the
//! limits (RCV-6, NOTES A7) and the submission log.
//!
//! Access tokens are minted straight into the token table with the scopes each test needs: the flows that
//! issue them are tested in sandbox_auth.rs; here the receiver is under test.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use support::{
    bundle_of, example, mint_token, reading, start_with, Receiver, DEVICE, ORDER, PATIENT, READING,
    WRITE_SCOPES,
};

async fn start() -> Receiver {
    start_with(|_| {}).await
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn entry_status(&self, i: usize) -> u16 {
        let s = self.body["entry"][i]["response"]["status"]
            .as_str()
            .expect("entry status");
        s[..3].parse().expect("numeric status")
    }
    fn statuses(&self) -> Vec<u16> {
        (0..self.body["entry"].as_array().map_or(0, Vec::len))
            .map(|i| self.entry_status(i))
            .collect()
    }
    fn location(&self, i: usize) -> String {
        self.body["entry"][i]["response"]["location"]
            .as_str()
            .expect("location")
            .to_string()
    }
    fn outcome_text(&self, i: usize) -> String {
        self.body["entry"][i]["response"]["outcome"].to_string()
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
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn submit(&self, token: &str, bundle: &Value) -> Answer {
        self.post_raw(
            Some(token),
            "application/fhir+json",
            bundle.to_string().into_bytes(),
        )
        .await
    }

    async fn stored(&self, location: &str) -> Value {
        let mut parts = location.split('/');
        let (t, id) = (parts.next().unwrap(), parts.next().unwrap());
        self.state
            .fhir
            .read(t, id)
            .await
            .expect("read")
            .unwrap_or_else(|| panic!("{location} is stored"))
            .body
    }
}

#[tokio::test]
async fn rcv_10_the_ig_example_bundle_is_accepted_entry_by_entry_and_its_references_point_at_what_was_stored(
) {
    let r = start().await;
    let token = r.patient_token().await;
    let a = r.submit(&token, &example()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.headers["content-type"],
        "application/fhir+json; charset=utf-8"
    );
    assert_eq!(a.body["type"], "transaction-response");
    assert_eq!(a.statuses(), vec![201; 9], "{}", a.body);
    for i in 0..9 {
        let response = &a.body["entry"][i]["response"];
        assert_eq!(response["status"], "201 Created");
        assert_eq!(response["etag"], "W/\"1\"");
        assert!(response["lastModified"].is_string());
        assert!(
            a.body["entry"][i].get("resource").is_none(),
            "resources are not echoed (NOTES A2)"
        );
        assert!(a.location(i).ends_with("/_history/1"));
    }
    let report = r.stored(&a.location(0)).await;
    let panel_loc = a.location(1);
    let panel_ref = panel_loc.trim_end_matches("/_history/1");
    assert_eq!(
        report["result"][0]["reference"], panel_ref,
        "the report points at the stored panel"
    );
    assert_ne!(
        report["id"], "cgmSummaryPDFExample",
        "client ids are never kept"
    );
    let panel = r.stored(&panel_loc).await;
    let members: Vec<&str> = panel["hasMember"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["reference"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (2..8)
        .map(|i| a.location(i).trim_end_matches("/_history/1").to_string())
        .collect();
    assert_eq!(
        members, expected,
        "hasMember follows the members to their new ids"
    );
    let gmi = r.stored(&a.location(4)).await;
    assert_eq!(
        gmi["valueQuantity"]["value"].to_string(),
        "6.8",
        "decimals as written"
    );
    // RCV-5: searchable at once.
    let readings = r
        .state
        .fhir
        .list_for_patient(
            "Observation",
            PATIENT,
            Some(("http://loinc.org", "99504-3")),
        )
        .await
        .unwrap();
    assert_eq!(readings.len(), 1);
    let log = r.state.fhir.submissions_for_patient(PATIENT).await.unwrap();
    assert_eq!((log[0].entries, log[0].created, log[0].rejected), (9, 9, 0));
}

#[tokio::test]
async fn a1_a_parameters_wrapper_with_one_resource_is_unwrapped_and_anything_else_is_a_400() {
    let r = start().await;
    let token = r.patient_token().await;
    let wrapped =
        json!({"resourceType":"Parameters","parameter":[{"name":"resource","resource":example()}]});
    let a = r.submit(&token, &wrapped).await;
    assert_eq!(a.statuses(), vec![201; 9]);
    let two = json!({"resourceType":"Parameters","parameter":[{"name":"resource","resource":example()},{"name":"x","valueString":"y"}]});
    let a = r.submit(&token, &two).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
}

/// Breaks entry `cause` of the example with `change` and checks that exactly `rejected` entries are refused
/// with `status` (the cause with an outcome mentioning `mentions`, the rest of its summary group saying why
/// they went with it), and every other entry is created.
async fn broken(
    rule: &str,
    cause: usize,
    change: impl FnOnce(&mut Value),
    rejected: &[usize],
    status: u16,
    mentions: &str,
) {
    let r = start().await;
    let token = r.patient_token().await;
    let mut bundle = example();
    change(&mut bundle);
    let a = r.submit(&token, &bundle).await;
    assert_eq!(a.status, StatusCode::OK, "{rule}: {}", a.body);
    for i in 0..9 {
        if rejected.contains(&i) {
            assert_eq!(
                a.entry_status(i),
                status,
                "{rule}: entry {i}: {}",
                a.outcome_text(i)
            );
            let mentions = if i == cause {
                mentions
            } else {
                "same summary group"
            };
            assert!(
                a.outcome_text(i).contains(mentions),
                "{rule}: entry {i} outcome should mention {mentions:?}: {}",
                a.outcome_text(i)
            );
            assert_eq!(
                a.body["entry"][i]["response"]["outcome"]["resourceType"],
                "OperationOutcome"
            );
            assert!(a.body["entry"][i]["response"].get("location").is_none());
        } else {
            assert_eq!(
                a.entry_status(i),
                201,
                "{rule}: entry {i} should be accepted: {}",
                a.outcome_text(i)
            );
        }
    }
    let stored = r
        .state
        .fhir
        .list_for_patient("Observation", PATIENT, None)
        .await
        .unwrap()
        .len()
        + r.state
            .fhir
            .list_for_patient("DiagnosticReport", PATIENT, None)
            .await
            .unwrap()
            .len();
    assert_eq!(
        stored,
        9 - rejected.len(),
        "{rule}: only accepted entries are stored"
    );
}

const GROUP: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

#[tokio::test]
async fn val_2_an_observation_whose_code_routes_to_no_profile_is_rejected_alone() {
    broken(
        "VAL-2",
        READING,
        |b| b["entry"][READING]["resource"]["code"]["coding"][0]["code"] = json!("2339-0"),
        &[READING],
        422,
        "Bundle.entry[8]",
    )
    .await;
}

#[tokio::test]
async fn val_3_a_sensor_reading_without_effective_date_time_is_rejected_alone() {
    broken(
        "VAL-3",
        READING,
        |b| {
            b["entry"][READING]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("effectiveDateTime");
        },
        &[READING],
        422,
        "effective",
    )
    .await;
}

#[tokio::test]
async fn val_4_a_quantity_system_off_the_pattern_is_rejected_alone() {
    broken(
        "VAL-4",
        READING,
        |b| {
            b["entry"][READING]["resource"]["valueQuantity"]["system"] =
                json!("http://example.org/units")
        },
        &[READING],
        422,
        "valueQuantity",
    )
    .await;
}

#[tokio::test]
async fn c1_a_unit_string_differing_only_in_case_is_accepted_with_a_warning() {
    let r = start().await;
    let token = r.patient_token().await;
    let mut b = example();
    b["entry"][READING]["resource"]["valueQuantity"]["unit"] = json!("mg/dL");
    let a = r.submit(&token, &b).await;
    assert_eq!(a.entry_status(READING), 201);
    let outcome = &a.body["entry"][READING]["response"]["outcome"];
    assert_eq!(outcome["issue"][0]["severity"], "warning");
    assert!(a.outcome_text(READING).contains("mg/dl"));
}

#[tokio::test]
async fn val_5_a_sensor_reading_with_neither_value_nor_data_absent_reason_is_rejected_alone() {
    broken(
        "VAL-5",
        READING,
        |b| {
            b["entry"][READING]["resource"]
                .as_object_mut()
                .unwrap()
                .remove("valueQuantity");
        },
        &[READING],
        422,
        "Bundle.entry[8]",
    )
    .await;
}

#[tokio::test]
async fn val_6_times_in_ranges_missing_a_range_rejects_its_summary_group_but_not_the_reading() {
    broken(
        "VAL-6",
        3,
        |b| {
            b["entry"][3]["resource"]["component"]
                .as_array_mut()
                .unwrap()
                .pop();
        },
        &GROUP,
        422,
        "component",
    )
    .await;
}

#[tokio::test]
async fn val_7_a_panel_with_five_members_rejects_its_summary_group_but_not_the_reading() {
    broken(
        "VAL-7",
        1,
        |b| {
            b["entry"][1]["resource"]["hasMember"]
                .as_array_mut()
                .unwrap()
                .pop();
        },
        // Entry 7, no longer a member, stands alone and is accepted.
        &GROUP[..7],
        422,
        "hasMember",
    )
    .await;
}

#[tokio::test]
async fn val_8_a_report_without_a_pdf_rejects_its_summary_group_but_not_the_reading() {
    broken(
        "VAL-8",
        0,
        |b| b["entry"][0]["resource"]["presentedForm"][0]["contentType"] = json!("text/plain"),
        &GROUP,
        422,
        "presentedForm",
    )
    .await;
}

#[tokio::test]
async fn val_9_and_10_a_device_without_identifier_and_an_order_with_the_wrong_intent_are_rejected_alone(
) {
    let r = start().await;
    let token = r.patient_token().await;
    let mut device: Value = serde_json::from_str(DEVICE).unwrap();
    device["patient"] = json!({"reference": format!("Patient/{PATIENT}")});
    let mut no_ident = device.clone();
    no_ident.as_object_mut().unwrap().remove("identifier");
    let mut order: Value = serde_json::from_str(ORDER).unwrap();
    order["subject"] = json!({"reference": format!("Patient/{PATIENT}")});
    let mut bad_order = order.clone();
    bad_order["intent"] = json!("plan");
    let a = r
        .submit(&token, &bundle_of(vec![device, no_ident, order, bad_order]))
        .await;
    assert_eq!(a.statuses(), vec![201, 422, 201, 422], "{}", a.body);
    assert!(a.outcome_text(1).contains("identifier"));
    assert!(a.outcome_text(3).contains("intent"));
}

#[tokio::test]
async fn val_1_a_bundle_that_is_not_a_transaction_or_has_no_timestamp_fails_as_a_whole() {
    let r = start().await;
    let token = r.patient_token().await;
    let mut batch = example();
    batch["type"] = json!("batch");
    let a = r.submit(&token, &batch).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    let mut no_ts = example();
    no_ts.as_object_mut().unwrap().remove("timestamp");
    let a = r.submit(&token, &no_ts).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.to_string().contains("Bundle.timestamp"));
    let a = r
        .post_raw(Some(&token), "application/fhir+json", b"{not json".to_vec())
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.to_string().contains("not valid JSON"));
    assert!(
        r.state
            .fhir
            .list_for_patient("Observation", PATIENT, None)
            .await
            .unwrap()
            .is_empty(),
        "nothing of a refused submission is stored"
    );
}

#[tokio::test]
async fn rcv_9_wrong_patient_put_delete_and_disallowed_types_are_rejected_per_entry() {
    let r = start().await;
    let token = r.patient_token().await;
    let mut other = reading("a");
    other["subject"] = json!({"reference": "Patient/other"});
    let mut absolute_other = reading("b");
    absolute_other["subject"] =
        json!({"reference": format!("{}/sandbox/fhir/Patient/other", r.origin)});
    let mut absolute_mine = reading("c");
    absolute_mine["subject"] =
        json!({"reference": format!("{}/sandbox/fhir/Patient/{PATIENT}", r.origin)});
    let condition =
        json!({"resourceType":"Condition","subject":{"reference":format!("Patient/{PATIENT}")}});
    let mut bundle = bundle_of(vec![
        reading("ok"),
        other,
        absolute_other,
        absolute_mine,
        condition,
        reading("put"),
        reading("delete"),
    ]);
    bundle["entry"][5]["request"] = json!({"method":"PUT","url":"Observation/x"});
    bundle["entry"][6]["request"] = json!({"method":"DELETE","url":"Observation/y"});
    let a = r.submit(&token, &bundle).await;
    assert_eq!(
        a.statuses(),
        vec![201, 403, 403, 201, 403, 405, 405],
        "{}",
        a.body
    );
    assert!(a.outcome_text(1).contains("not the patient in context"));
    let mine = r.stored(&a.location(3)).await;
    assert_eq!(
        mine["subject"]["reference"],
        format!("Patient/{PATIENT}"),
        "an absolute reference to this server is stored relative"
    );
    assert!(r
        .state
        .fhir
        .list_for_patient("Observation", "other", None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn b3_a_patient_entry_is_never_stored_200_when_it_is_the_patient_in_context_and_403_otherwise(
) {
    let r = start().await;
    let token = r.patient_token().await;
    let me = json!({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"MRN-1"}]});
    let stranger =
        json!({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"MRN-9"}]});
    let mut via_entry = reading("via-entry");
    via_entry["subject"] = json!({"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"});
    let mut via_stranger = reading("via-stranger");
    via_stranger["subject"] = json!({"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"});
    let a = r
        .submit(
            &token,
            &bundle_of(vec![me, stranger, via_entry, via_stranger]),
        )
        .await;
    assert_eq!(a.statuses(), vec![200, 403, 201, 403], "{}", a.body);
    assert!(a.body["entry"][0]["response"].get("location").is_none());
    let stored = r.stored(&a.location(2)).await;
    assert_eq!(stored["subject"]["reference"], format!("Patient/{PATIENT}"));
    assert_eq!(
        r.state.fhir.list("Patient").await.unwrap().len(),
        2,
        "no Patient created"
    );
}

#[tokio::test]
async fn dup_3_conditional_create_gives_201_then_200_with_the_same_location_then_412_for_two_matches(
) {
    let r = start().await;
    let token = r.patient_token().await;
    let conditional = |value: &str| {
        let mut b = bundle_of(vec![reading(value)]);
        b["entry"][0]["request"]["ifNoneExist"] = json!(format!(
            "identifier={}",
            "https%3A%2F%2Fcloudcgm.example%2Ffhir%2Fcgm%2Fsensor-reading%7C".to_string() + value
        ));
        b
    };
    let first = r.submit(&token, &conditional("r1")).await;
    assert_eq!(first.statuses(), vec![201], "{}", first.body);
    let second = r.submit(&token, &conditional("r1")).await;
    assert_eq!(second.statuses(), vec![200]);
    assert_eq!(
        second.location(0),
        first.location(0),
        "200 points at the existing resource"
    );
    assert!(second.outcome_text(0).contains("DUP-3"));
    // A second resource with the same identifier, stored by some other path: now the match is ambiguous.
    r.state
        .fhir
        .create(reading("r1"))
        .await
        .expect("second copy");
    let third = r.submit(&token, &conditional("r1")).await;
    assert_eq!(third.statuses(), vec![412], "{}", third.body);
    assert_eq!(
        r.state
            .fhir
            .list_for_patient("Observation", PATIENT, None)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn dup_4_an_unsupported_conditional_search_is_a_400_and_the_other_entries_go_on() {
    let r = start().await;
    let token = r.patient_token().await;
    let mut b = bundle_of(vec![reading("x1"), reading("x2")]);
    b["entry"][0]["request"]["ifNoneExist"] = json!("code=99504-3");
    let a = r.submit(&token, &b).await;
    assert_eq!(a.statuses(), vec![400, 201]);
    assert!(a.outcome_text(0).contains("identifier"));
}

#[tokio::test]
async fn dup_5_resending_identified_readings_matches_them_instead_of_storing_copies() {
    let r = start().await;
    let token = r.patient_token().await;
    let b = bundle_of(vec![reading("d1"), reading("d2"), reading("d1")]);
    let first = r.submit(&token, &b).await;
    assert_eq!(
        first.statuses(),
        vec![201, 201, 200],
        "a repeat inside one Bundle is matched too"
    );
    assert_eq!(first.location(2), first.location(0));
    let again = r.submit(&token, &b).await;
    assert_eq!(again.statuses(), vec![200, 200, 200]);
    assert_eq!(again.location(1), first.location(1));
    assert_eq!(
        r.state
            .fhir
            .list_for_patient("Observation", PATIENT, None)
            .await
            .unwrap()
            .len(),
        2
    );
    // Another patient's reading with the same identifier is no match: compartments never mix.
    let other = r.token("cloudcgm", WRITE_SCOPES, Some("other")).await;
    let mut theirs = reading("d1");
    theirs["subject"] = json!({"reference": "Patient/other"});
    let a = r.submit(&other, &bundle_of(vec![theirs])).await;
    assert_eq!(a.statuses(), vec![201]);
}

#[tokio::test]
async fn a5_a_reading_that_references_a_rejected_device_is_rejected_with_it() {
    let r = start().await;
    let token = r.patient_token().await;
    let device: Value = serde_json::from_str(DEVICE).unwrap(); // no patient: outside the compartment
    let mut read = reading("with-device");
    read["device"] = json!({"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"});
    let a = r
        .submit(&token, &bundle_of(vec![device, read, reading("alone")]))
        .await;
    assert_eq!(a.statuses(), vec![403, 422, 201], "{}", a.body);
    assert!(a.outcome_text(0).contains("compartment"));
    assert!(a.outcome_text(1).contains("entry 0"));
}

#[tokio::test]
async fn a_reference_to_another_patients_resource_or_a_missing_one_is_refused() {
    let r = start().await;
    let token = r.patient_token().await;
    let theirs = r
        .state
        .fhir
        .create(json!({"resourceType":"Device","patient":{"reference":"Patient/other"},"identifier":[{"value":"s"}]}))
        .await
        .unwrap();
    let mut a1 = reading("ref-theirs");
    a1["device"] = json!({"reference": format!("Device/{}", theirs.id)});
    let mut a2 = reading("ref-missing");
    a2["device"] = json!({"reference": "Device/nope"});
    let a = r.submit(&token, &bundle_of(vec![a1, a2])).await;
    assert_eq!(a.statuses(), vec![403, 422], "{}", a.body);
}

#[tokio::test]
async fn auth_2_scopes_limit_what_is_created_by_type_and_category() {
    let r = start().await;
    let token = r
        .token(
            "cloudcgm",
            "patient/Observation.c?category=laboratory",
            Some(PATIENT),
        )
        .await;
    let mut uncategorised = reading("u");
    uncategorised.as_object_mut().unwrap().remove("category");
    let device = {
        let mut d: Value = serde_json::from_str(DEVICE).unwrap();
        d["patient"] = json!({"reference": format!("Patient/{PATIENT}")});
        d
    };
    let a = r
        .submit(
            &token,
            &bundle_of(vec![reading("l"), uncategorised, device]),
        )
        .await;
    assert_eq!(a.statuses(), vec![201, 403, 403], "{}", a.body);
    assert!(a.outcome_text(1).contains("no scope"));

    let read_only = r
        .token("cloudcgm", "patient/Observation.rs", Some(PATIENT))
        .await;
    let a = r.submit(&read_only, &example()).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "a token that can create nothing is refused whole"
    );
}

#[tokio::test]
async fn auth_1_no_token_or_a_bad_one_is_a_401_with_a_bearer_challenge() {
    let r = start().await;
    let a = r
        .post_raw(
            None,
            "application/fhir+json",
            example().to_string().into_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let a = r
        .post_raw(
            Some("forged"),
            "application/fhir+json",
            example().to_string().into_bytes(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
}

#[tokio::test]
async fn b4_a_system_token_submits_for_one_linked_patient_only() {
    let r = start().await;
    let token = r.token("backend", "system/Observation.c", None).await;
    let a = r.submit(&token, &bundle_of(vec![reading("s1")])).await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "not linked yet: {}",
        a.body
    );
    assert!(a.body.to_string().contains("not linked"));
    sqlx::query("INSERT INTO auth_client_patients (client_id, patient_id, first_at) VALUES ('backend', ?, 0)")
        .bind(PATIENT)
        .execute(&r.state.db)
        .await
        .unwrap();
    let a = r.submit(&token, &bundle_of(vec![reading("s2")])).await;
    assert_eq!(a.statuses(), vec![201], "{}", a.body);
    let mut theirs = reading("s3");
    theirs["subject"] = json!({"reference": "Patient/other"});
    let a = r
        .submit(&token, &bundle_of(vec![reading("s4"), theirs]))
        .await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "two patients in one submission"
    );
}

#[tokio::test]
async fn rcv_6_a_second_submission_within_the_interval_is_a_429_with_retry_after() {
    let r = start_with(|c| c.submit_min_interval = Duration::from_secs(60)).await;
    let token = r.patient_token().await;
    let first = r.submit(&token, &bundle_of(vec![reading("t1")])).await;
    assert_eq!(first.status, StatusCode::OK);
    let second = r.submit(&token, &bundle_of(vec![reading("t2")])).await;
    assert_eq!(second.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = second.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(second.body["issue"][0]["code"], "throttled");
    // The limit is per patient: another patient's submission goes through.
    let other = r.token("cloudcgm", WRITE_SCOPES, Some("other")).await;
    let mut theirs = reading("t3");
    theirs["subject"] = json!({"reference": "Patient/other"});
    assert_eq!(
        r.submit(&other, &bundle_of(vec![theirs])).await.status,
        StatusCode::OK
    );
    let log = r.state.fhir.submissions_for_patient(PATIENT).await.unwrap();
    assert_eq!(log[0].http_status, 429, "refusals are logged");
}

#[tokio::test]
async fn a7_bodies_and_bundles_over_the_documented_limits_are_413_and_other_media_types_415() {
    let r = start_with(|c| {
        c.max_body_bytes = 20_000;
        c.max_entries = 3;
    })
    .await;
    let token = r.patient_token().await;
    let big = bundle_of((0..40).map(|i| reading(&format!("b{i}"))).collect());
    let a = r.submit(&token, &big).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(a.body["resourceType"], "OperationOutcome");
    let four = bundle_of((0..4).map(|i| reading(&format!("f{i}"))).collect());
    let a = r.submit(&token, &four).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(a.body.to_string().contains("at most 3"));
    let a = r
        .post_raw(Some(&token), "application/fhir+xml", b"<Bundle/>".to_vec())
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let three = bundle_of((0..3).map(|i| reading(&format!("g{i}"))).collect());
    let a = r
        .post_raw(
            Some(&token),
            "application/json",
            three.to_string().into_bytes(),
        )
        .await;
    assert_eq!(
        a.statuses(),
        vec![201; 3],
        "application/json is accepted too"
    );
}

#[tokio::test]
async fn rcv_5_accepted_data_is_readable_and_searchable_through_the_fhir_api_at_once() {
    let r = start().await;
    let token = r.patient_token().await;
    let a = r
        .submit(&token, &bundle_of(vec![reading("now-1"), reading("now-2")]))
        .await;
    assert_eq!(a.statuses(), vec![201, 201]);
    let reader = r
        .token("cloudcgm", "patient/Observation.rs", Some(PATIENT))
        .await;
    let search = format!(
        "{}/sandbox/fhir/Observation?patient={PATIENT}&code=http://loinc.org|99504-3\
         &identifier=https://cloudcgm.example/fhir/cgm/sensor-reading|now-2",
        r.origin
    );
    let found: Value = r
        .http
        .get(&search)
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["type"], "searchset");
    assert_eq!(found["total"], 1, "{found}");
    let id = found["entry"][0]["resource"]["id"].as_str().unwrap();
    assert_eq!(format!("Observation/{id}/_history/1"), a.location(1));
    let read = r
        .http
        .get(format!("{}/sandbox/fhir/{}", r.origin, a.location(0)))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.status(),
        StatusCode::OK,
        "the response location resolves"
    );
}
