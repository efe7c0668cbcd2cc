//! Tests against the IG's own examples (NOTES F4): every example must validate, and each negative case mutates an
//! example in one place so the failure is attributable.

use super::codes::*;
use super::outcome::{has_errors, Issue, Severity};
use super::profile::{classify, CgmProfile, Classification};
use super::validate::{is_base64, validate};
use serde_json::{json, Value};

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/ig/", $name))
    };
}

const EXAMPLES: [(&str, &str, CgmProfile); 15] = [
    (
        "summary",
        fixture!("Observation-cgmSummaryExample.json"),
        CgmProfile::SummaryPanel,
    ),
    (
        "mean mass",
        fixture!("Observation-cgmSummaryMeanGlucoseMassPerVolumeExample.json"),
        CgmProfile::MeanGlucoseMass,
    ),
    (
        "mean molar",
        fixture!("Observation-cgmSummaryMeanGlucoseMolesPerVolumeExample.json"),
        CgmProfile::MeanGlucoseMolar,
    ),
    (
        "tir",
        fixture!("Observation-cgmSummaryTimesInRangesExample.json"),
        CgmProfile::TimesInRanges,
    ),
    (
        "gmi",
        fixture!("Observation-cgmSummaryGMIExample.json"),
        CgmProfile::Gmi,
    ),
    (
        "cv",
        fixture!("Observation-cgmSummaryCoefficientOfVariationExample.json"),
        CgmProfile::CoefficientOfVariation,
    ),
    (
        "days",
        fixture!("Observation-cgmSummaryDaysOfWearExample.json"),
        CgmProfile::DaysOfWear,
    ),
    (
        "active",
        fixture!("Observation-cgmSummarySensorActivePercentageExample.json"),
        CgmProfile::SensorActivePercentage,
    ),
    (
        "reading mass",
        fixture!("Observation-cgmSensorReadingMassPerVolumeExample.json"),
        CgmProfile::SensorReadingMass,
    ),
    (
        "reading molar",
        fixture!("Observation-cgmSensorReadingMolesPerVolumeExample.json"),
        CgmProfile::SensorReadingMolar,
    ),
    (
        "pdf",
        fixture!("DiagnosticReport-cgmSummaryPDFExample.json"),
        CgmProfile::SummaryPdf,
    ),
    (
        "device",
        fixture!("Device-cgmDeviceExample.json"),
        CgmProfile::Device,
    ),
    (
        "standing",
        fixture!("ServiceRequest-cgmDataSubmissionStandingOrderExample.json"),
        CgmProfile::StandingOrder,
    ),
    (
        "one-time",
        fixture!("ServiceRequest-cgmDataSubmissionOneTimeOrderExample.json"),
        CgmProfile::OneTimeOrder,
    ),
    (
        "one-time 30d",
        fixture!("ServiceRequest-cgmDataSubmissionOneTimeOrder30DayExample.json"),
        CgmProfile::OneTimeOrder,
    ),
];

const PATIENT: &str = fixture!("Patient-patientExample.json");
const BUNDLE: &str = fixture!("Bundle-cgmDataSubmissionBundle.json");

pub(super) fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

pub(super) fn example(profile: CgmProfile) -> Value {
    let (_, text, _) = EXAMPLES
        .iter()
        .find(|(_, _, p)| *p == profile)
        .expect("an example per profile");
    parse(text)
}

fn check(profile: CgmProfile, resource: &Value) -> Vec<Issue> {
    validate(profile, resource, profile.resource_type())
}

fn errors(issues: &[Issue]) -> Vec<&Issue> {
    issues.iter().filter(|i| i.is_error()).collect()
}

fn warnings(issues: &[Issue]) -> Vec<&Issue> {
    issues
        .iter()
        .filter(|i| i.severity == Severity::Warning)
        .collect()
}

fn assert_error_at(issues: &[Issue], expression_suffix: &str) {
    assert!(
        errors(issues).iter().any(|i| i
            .expression
            .as_deref()
            .is_some_and(|e| e.ends_with(expression_suffix))),
        "expected an error at …{expression_suffix}, got {issues:#?}"
    );
}

#[test]
fn every_ig_example_classifies_to_its_profile_and_validates_without_errors_or_warnings() {
    for (name, text, profile) in EXAMPLES {
        let resource = parse(text);
        assert_eq!(
            classify(&resource),
            Classification::Profile(profile),
            "{name}"
        );
        let issues = check(profile, &resource);
        assert!(issues.is_empty(), "{name}: {issues:#?}");
    }
    for profile in CgmProfile::ALL {
        assert!(
            EXAMPLES.iter().any(|(_, _, p)| *p == profile),
            "no example for {profile:?}"
        );
    }
}

#[test]
fn the_patient_example_classifies_as_patient() {
    assert_eq!(classify(&parse(PATIENT)), Classification::Patient);
}

#[test]
fn validating_against_the_wrong_resource_type_is_an_error() {
    let issues = check(CgmProfile::SummaryPdf, &example(CgmProfile::SummaryPanel));
    assert_error_at(&issues, ".resourceType");
}

#[test]
fn a_unit_string_in_the_wrong_case_only_warns() {
    let mut obs = example(CgmProfile::SensorReadingMass);
    obs["valueQuantity"]["unit"] = json!("mg/dL");
    let issues = check(CgmProfile::SensorReadingMass, &obs);
    assert!(!has_errors(&issues), "{issues:#?}");
    assert_eq!(warnings(&issues).len(), 1);
    assert_eq!(
        issues[0].expression.as_deref(),
        Some("Observation.valueQuantity.unit")
    );
    assert!(issues[0].diagnostics.contains("mg/dl"));
}

#[test]
fn a_wrong_ucum_code_is_an_error() {
    let mut obs = example(CgmProfile::MeanGlucoseMolar);
    obs["valueQuantity"]["code"] = json!("mmol/l");
    assert_error_at(
        &check(CgmProfile::MeanGlucoseMolar, &obs),
        ".valueQuantity.code",
    );
    let mut obs = example(CgmProfile::Gmi);
    obs["valueQuantity"]["system"] = json!("http://example.org/units");
    assert_error_at(&check(CgmProfile::Gmi, &obs), ".valueQuantity.system");
}

#[test]
fn a_quantity_value_written_as_a_string_is_an_error() {
    let mut obs = example(CgmProfile::Gmi);
    obs["valueQuantity"]["value"] = json!("6.8");
    assert_error_at(&check(CgmProfile::Gmi, &obs), ".valueQuantity.value");
}

#[test]
fn a_missing_tir_component_is_an_error() {
    let mut obs = example(CgmProfile::TimesInRanges);
    obs["component"]
        .as_array_mut()
        .expect("components")
        .remove(2);
    let issues = check(CgmProfile::TimesInRanges, &obs);
    assert_error_at(&issues, ".component");
    assert!(
        errors(&issues)
            .iter()
            .any(|i| i.diagnostics.contains(LOINC_TIME_IN_TARGET)),
        "{issues:#?}"
    );
}

#[test]
fn a_duplicated_tir_component_is_an_error_even_if_all_five_are_present() {
    let mut obs = example(CgmProfile::TimesInRanges);
    let extra = obs["component"][0].clone();
    obs["component"]
        .as_array_mut()
        .expect("components")
        .push(extra);
    let issues = check(CgmProfile::TimesInRanges, &obs);
    assert!(
        errors(&issues)
            .iter()
            .any(|i| i.diagnostics.contains("found 2 times")),
        "{issues:#?}"
    );
}

#[test]
fn a_tir_component_without_its_quantity_is_an_error() {
    let mut obs = example(CgmProfile::TimesInRanges);
    obs["component"][1]
        .as_object_mut()
        .expect("component")
        .remove("valueQuantity");
    assert_error_at(
        &check(CgmProfile::TimesInRanges, &obs),
        ".component[1].valueQuantity",
    );
}

#[test]
fn extra_tir_components_are_allowed_by_the_open_slicing() {
    let mut obs = example(CgmProfile::TimesInRanges);
    obs["component"]
        .as_array_mut()
        .expect("components")
        .push(json!({
            "code": {"coding": [{"system": LOINC, "code": "97507-8"}]},
            "valueQuantity": {"value": 145, "system": UCUM, "code": "mg/dL", "unit": "mg/dl"}
        }));
    assert!(check(CgmProfile::TimesInRanges, &obs).is_empty());
}

fn tir_with(values: [&str; 5]) -> Value {
    let mut obs = example(CgmProfile::TimesInRanges);
    for (i, v) in values.iter().enumerate() {
        obs["component"][i]["valueQuantity"]["value"] = serde_json::from_str(v).expect("number");
    }
    obs
}

#[test]
fn a_tir_sum_of_97_warns_but_is_accepted() {
    let issues = check(
        CgmProfile::TimesInRanges,
        &tir_with(["3", "8", "62", "20", "4"]),
    );
    assert!(!has_errors(&issues));
    assert_eq!(warnings(&issues).len(), 1, "{issues:#?}");
    assert!(issues[0].diagnostics.contains("97"));
}

#[test]
fn a_tir_sum_of_100_point_3_with_two_decimals_passes_silently() {
    let issues = check(
        CgmProfile::TimesInRanges,
        &tir_with(["3.10", "8.00", "65.20", "20.00", "4.00"]),
    );
    assert!(issues.is_empty(), "{issues:#?}");
}

#[test]
fn decimals_keep_their_written_precision_through_a_serde_round_trip() {
    let obs = tir_with(["3.00", "8.00", "65.00", "20.00", "4.00"]);
    let text = serde_json::to_string(&obs).expect("serialises");
    assert!(text.contains("\"value\":65.00"), "{text}");
    let again: Value = serde_json::from_str(&text).expect("parses");
    assert_eq!(
        again["component"][2]["valueQuantity"]["value"].to_string(),
        "65.00"
    );
}

#[test]
fn obs_7_forbids_a_value_on_a_component_with_the_observations_own_code() {
    let mut obs = example(CgmProfile::TimesInRanges);
    obs["component"]
        .as_array_mut()
        .expect("components")
        .push(json!({
            "code": {"coding": [{"system": LOINC, "code": LOINC_TIMES_IN_RANGES}]},
            "valueQuantity": {"value": 100, "system": UCUM, "code": "%", "unit": "%"}
        }));
    assert_error_at(&check(CgmProfile::TimesInRanges, &obs), ".component[5]");
}

#[test]
fn a_sensor_reading_with_both_value_and_data_absent_reason_is_an_error() {
    let mut obs = example(CgmProfile::SensorReadingMass);
    obs["dataAbsentReason"] = json!({"coding": [{"system": DATA_ABSENT_REASON, "code": "error"}]});
    assert_error_at(
        &check(CgmProfile::SensorReadingMass, &obs),
        ".dataAbsentReason",
    );
}

#[test]
fn a_sensor_reading_with_neither_value_nor_data_absent_reason_is_an_error() {
    let mut obs = example(CgmProfile::SensorReadingMolar);
    obs.as_object_mut().expect("object").remove("valueQuantity");
    let issues = check(CgmProfile::SensorReadingMolar, &obs);
    assert!(
        errors(&issues)
            .iter()
            .any(|i| i.diagnostics.contains("cgm-sensor-value-or-dar")),
        "{issues:#?}"
    );
}

#[test]
fn a_sensor_reading_with_only_a_data_absent_reason_of_any_code_is_valid() {
    let mut obs = example(CgmProfile::SensorReadingMass);
    obs.as_object_mut().expect("object").remove("valueQuantity");
    obs["dataAbsentReason"] =
        json!({"coding": [{"system": "http://example.org/dar", "code": "sensor-warmup"}]});
    assert!(check(CgmProfile::SensorReadingMass, &obs).is_empty());
}

#[test]
fn a_sensor_reading_needs_an_effective_date_time_not_a_period() {
    let mut obs = example(CgmProfile::SensorReadingMass);
    let when = obs
        .as_object_mut()
        .expect("object")
        .remove("effectiveDateTime")
        .expect("present");
    obs["effectivePeriod"] = json!({"start": when, "end": when});
    let issues = check(CgmProfile::SensorReadingMass, &obs);
    assert_error_at(&issues, ".effectiveDateTime");
    assert_error_at(&issues, ".effectivePeriod");
}

#[test]
fn a_missing_effective_period_end_is_an_error() {
    let mut obs = example(CgmProfile::CoefficientOfVariation);
    obs["effectivePeriod"]
        .as_object_mut()
        .expect("period")
        .remove("end");
    assert_error_at(
        &check(CgmProfile::CoefficientOfVariation, &obs),
        ".effectivePeriod.end",
    );
}

#[test]
fn period_bounds_must_be_fhir_date_times_in_order() {
    let mut obs = example(CgmProfile::DaysOfWear);
    obs["effectivePeriod"]["start"] = json!("2024-02-30");
    assert_error_at(
        &check(CgmProfile::DaysOfWear, &obs),
        ".effectivePeriod.start",
    );
    obs["effectivePeriod"]["start"] = json!("2024-05-01T00:00:00");
    assert_error_at(
        &check(CgmProfile::DaysOfWear, &obs),
        ".effectivePeriod.start",
    );
    obs["effectivePeriod"] = json!({"start": "2024-06-01", "end": "2024-05-31"});
    assert_error_at(&check(CgmProfile::DaysOfWear, &obs), ".effectivePeriod");
    obs["effectivePeriod"] = json!({"start": "2024-05-01T00:00:00+02:00", "end": "2024-05"});
    assert!(check(CgmProfile::DaysOfWear, &obs).is_empty());
}

#[test]
fn status_is_required_and_must_be_a_code_of_the_resource_type() {
    let mut obs = example(CgmProfile::Gmi);
    obs["status"] = json!("active");
    assert_error_at(&check(CgmProfile::Gmi, &obs), ".status");
    obs.as_object_mut().expect("object").remove("status");
    assert_error_at(&check(CgmProfile::Gmi, &obs), ".status");
    let mut order = example(CgmProfile::StandingOrder);
    order["status"] = json!("final");
    assert_error_at(&check(CgmProfile::StandingOrder, &order), ".status");
}

#[test]
fn a_subject_without_a_reference_string_is_an_error() {
    let mut obs = example(CgmProfile::MeanGlucoseMass);
    obs["subject"] = json!({"display": "Amy Peters"});
    assert_error_at(
        &check(CgmProfile::MeanGlucoseMass, &obs),
        ".subject.reference",
    );
    obs.as_object_mut().expect("object").remove("subject");
    assert_error_at(&check(CgmProfile::MeanGlucoseMass, &obs), ".subject");
}

#[test]
fn gmi_cv_days_and_sensor_active_need_a_value_but_the_mean_does_not() {
    for profile in [
        CgmProfile::Gmi,
        CgmProfile::CoefficientOfVariation,
        CgmProfile::DaysOfWear,
        CgmProfile::SensorActivePercentage,
    ] {
        let mut obs = example(profile);
        obs.as_object_mut().expect("object").remove("valueQuantity");
        assert_error_at(&check(profile, &obs), ".valueQuantity");
    }
    let mut mean = example(CgmProfile::MeanGlucoseMass);
    mean.as_object_mut()
        .expect("object")
        .remove("valueQuantity");
    assert!(check(CgmProfile::MeanGlucoseMass, &mean).is_empty());
}

#[test]
fn days_of_wear_needs_unit_d_and_warns_on_another_unit_string() {
    let mut obs = example(CgmProfile::DaysOfWear);
    obs["valueQuantity"]["unit"] = json!("d");
    let issues = check(CgmProfile::DaysOfWear, &obs);
    assert!(
        !has_errors(&issues) && warnings(&issues).len() == 1,
        "{issues:#?}"
    );
    obs["valueQuantity"]["code"] = json!("days");
    assert_error_at(&check(CgmProfile::DaysOfWear, &obs), ".valueQuantity.code");
}

#[test]
fn a_code_matching_two_profiles_is_an_error() {
    let mut obs = example(CgmProfile::Gmi);
    obs["code"]["coding"]
        .as_array_mut()
        .expect("codings")
        .push(json!({"system": LOINC, "code": LOINC_CV}));
    assert_error_at(&check(CgmProfile::Gmi, &obs), ".code");
}

#[test]
fn a_panel_with_fewer_than_six_members_fails_even_alone() {
    let mut obs = example(CgmProfile::SummaryPanel);
    obs["hasMember"].as_array_mut().expect("members").pop();
    assert_error_at(&check(CgmProfile::SummaryPanel, &obs), ".hasMember");
}

#[test]
fn a_pdf_without_data_is_an_error() {
    let mut dr = example(CgmProfile::SummaryPdf);
    dr["presentedForm"][0]
        .as_object_mut()
        .expect("attachment")
        .remove("data");
    dr["presentedForm"][0]["url"] = json!("https://example.org/report.pdf");
    assert_error_at(
        &check(CgmProfile::SummaryPdf, &dr),
        ".presentedForm[0].data",
    );
}

#[test]
fn a_pdf_with_invalid_base64_is_an_error() {
    let mut dr = example(CgmProfile::SummaryPdf);
    dr["presentedForm"][0]["data"] = json!("JVBERi0x*not base64*");
    assert_error_at(
        &check(CgmProfile::SummaryPdf, &dr),
        ".presentedForm[0].data",
    );
}

#[test]
fn a_report_with_only_a_non_pdf_form_is_an_error_but_extra_forms_are_fine() {
    let mut dr = example(CgmProfile::SummaryPdf);
    dr["presentedForm"][0]["contentType"] = json!("text/plain");
    assert_error_at(&check(CgmProfile::SummaryPdf, &dr), ".presentedForm");
    let mut dr = example(CgmProfile::SummaryPdf);
    dr["presentedForm"]
        .as_array_mut()
        .expect("forms")
        .push(json!({"contentType": "text/plain", "data": "aGk="}));
    assert!(check(CgmProfile::SummaryPdf, &dr).is_empty());
}

#[test]
fn base64_check_accepts_padding_and_wrapping_and_rejects_bad_input() {
    assert!(is_base64("aGk="));
    assert!(is_base64("aGVs\nbG8="));
    assert!(is_base64("YQ=="));
    assert!(!is_base64(""));
    assert!(!is_base64("aGk"));
    assert!(!is_base64("a=Gk"));
    assert!(!is_base64("YQ==="));
    assert!(!is_base64("aG-k"));
}

#[test]
fn a_device_without_identifier_is_an_error() {
    let mut device = example(CgmProfile::Device);
    device["identifier"] = json!([]);
    assert_error_at(&check(CgmProfile::Device, &device), ".identifier");
}

#[test]
fn a_device_with_two_user_friendly_names_is_an_error() {
    let mut device = example(CgmProfile::Device);
    device["deviceName"]
        .as_array_mut()
        .expect("names")
        .push(json!({"type": "user-friendly-name", "name": "Other"}));
    assert_error_at(&check(CgmProfile::Device, &device), ".deviceName");
}

#[test]
fn a_device_whose_only_name_is_a_model_name_is_an_error() {
    let mut device = example(CgmProfile::Device);
    device["deviceName"][0]["type"] = json!("model-name");
    assert_error_at(&check(CgmProfile::Device, &device), ".deviceName");
}

fn schedule_sub(order: &mut Value, url: &str) -> Option<usize> {
    order["extension"][0]["extension"]
        .as_array()
        .and_then(|subs| subs.iter().position(|s| s["url"] == url))
}

#[test]
fn a_standing_order_schedule_without_submission_period_is_an_error() {
    let mut order = example(CgmProfile::StandingOrder);
    let i = schedule_sub(&mut order, "submissionPeriod").expect("present");
    order["extension"][0]["extension"]
        .as_array_mut()
        .expect("subs")
        .remove(i);
    let issues = check(CgmProfile::StandingOrder, &order);
    assert!(
        errors(&issues)
            .iter()
            .any(|e| e.diagnostics.contains("submissionPeriod")),
        "{issues:#?}"
    );
}

#[test]
fn a_standing_order_period_in_any_units_of_time_code_is_valid_and_week_is_not_a_code() {
    let mut order = example(CgmProfile::StandingOrder);
    let i = schedule_sub(&mut order, "submissionPeriod").expect("present");
    for code in UNITS_OF_TIME {
        order["extension"][0]["extension"][i]["valueQuantity"]["code"] = json!(code);
        assert!(
            check(CgmProfile::StandingOrder, &order).is_empty(),
            "{code}"
        );
    }
    order["extension"][0]["extension"][i]["valueQuantity"]["code"] = json!("week");
    assert_error_at(
        &check(CgmProfile::StandingOrder, &order),
        &format!(".extension[0].extension[{i}].valueQuantity.code"),
    );
    order["extension"][0]["extension"][i]["valueQuantity"]["code"] = json!("wk");
    order["extension"][0]["extension"][i]["valueQuantity"]["value"] = json!(0);
    assert_error_at(
        &check(CgmProfile::StandingOrder, &order),
        ".valueQuantity.value",
    );
}

#[test]
fn a_standing_order_with_a_lookback_and_no_schedule_at_all_are_both_valid() {
    let mut order = example(CgmProfile::StandingOrder);
    order["extension"][0]["extension"].as_array_mut().expect("subs").push(json!(
        {"url": "lookbackPeriod", "valueQuantity": {"value": 30, "system": UCUM, "code": "d", "unit": "days"}}
    ));
    assert!(check(CgmProfile::StandingOrder, &order).is_empty());
    order.as_object_mut().expect("object").remove("extension");
    assert!(check(CgmProfile::StandingOrder, &order).is_empty());
}

#[test]
fn ext_1_forbids_a_value_on_the_complex_schedule_extension() {
    let mut order = example(CgmProfile::StandingOrder);
    order["extension"][0]["valueString"] = json!("every two weeks");
    assert_error_at(&check(CgmProfile::StandingOrder, &order), ".extension[0]");
}

#[test]
fn an_order_must_have_intent_order() {
    let mut order = example(CgmProfile::OneTimeOrder);
    order["intent"] = json!("plan");
    assert_error_at(&check(CgmProfile::OneTimeOrder, &order), ".intent");
}

#[test]
fn a_one_time_order_without_time_period_end_is_an_error() {
    let mut order = example(CgmProfile::OneTimeOrder);
    order["extension"][0]["extension"][0]["valuePeriod"]
        .as_object_mut()
        .expect("period")
        .remove("end");
    assert_error_at(
        &check(CgmProfile::OneTimeOrder, &order),
        ".extension[0].extension[0].valuePeriod.end",
    );
}

#[test]
fn a_one_time_order_needs_exactly_one_spec_with_a_data_profile() {
    let mut order = example(CgmProfile::OneTimeOrder);
    let spec = order["extension"][0].clone();
    order["extension"]
        .as_array_mut()
        .expect("extensions")
        .push(spec);
    assert_error_at(&check(CgmProfile::OneTimeOrder, &order), ".extension");
    let mut order = example(CgmProfile::OneTimeOrder);
    order["extension"][0]["extension"]
        .as_array_mut()
        .expect("subs")
        .pop();
    assert_error_at(&check(CgmProfile::OneTimeOrder, &order), ".extension[0]");
}

#[test]
fn unknown_and_must_support_elements_never_cause_an_error() {
    for (name, text, profile) in EXAMPLES {
        let mut resource = parse(text);
        let obj = resource.as_object_mut().expect("object");
        obj.insert(
            "meta".into(),
            json!({"profile": [profile.canonical()], "lastUpdated": "2024-05-02T14:30:00Z"}),
        );
        obj.insert(
            "identifier".into(),
            json!([{"system": "https://cloudcgm.example/id", "value": "abc"}]),
        );
        obj.insert("text".into(), json!({"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}));
        obj.insert("note".into(), json!([{"text": "made by a test"}]));
        obj.insert(
            "device".into(),
            json!({"reference": "urn:uuid:0b8c1f9e-6b1b-4a55-9b52-bd0b8b3b1d4e"}),
        );
        obj.insert("somethingUnknown".into(), json!({"nested": [1, 2, 3]}));
        obj.insert(
            "extension".into(),
            json!([{"url": "https://cloudcgm.example/ext", "valueString": "x"}]),
        );
        // The orders keep their own extensions next to the unknown one.
        if let Some(original) = parse(text).get("extension").and_then(Value::as_array) {
            if let Some(list) = obj.get_mut("extension").and_then(Value::as_array_mut) {
                list.extend(original.iter().cloned());
            }
        }
        let issues = check(profile, &resource);
        assert!(!has_errors(&issues), "{name}: {issues:#?}");
    }
}

mod submission {
    use super::*;
    use crate::fhir::submission::*;

    fn bundle() -> Value {
        parse(BUNDLE)
    }

    fn plan(body: &Value) -> SubmissionPlan {
        match plan_submission(body) {
            Ok(plan) => plan,
            Err(e) => panic!("whole request rejected: {e:#?}"),
        }
    }

    fn status_of(body: &Value) -> u16 {
        match plan_submission(body) {
            Ok(plan) => panic!("expected a whole-request failure, got {plan:#?}"),
            Err(e) => e.status,
        }
    }

    fn rejected(entry: &EntryPlan) -> (u16, &[Issue]) {
        match &entry.verdict {
            Verdict::Reject { status, issues } => (*status, issues),
            Verdict::Accept { warnings } => panic!("entry {} accepted: {warnings:#?}", entry.index),
        }
    }

    fn accepted(entry: &EntryPlan) -> &[Issue] {
        match &entry.verdict {
            Verdict::Accept { warnings } => warnings,
            Verdict::Reject { status, issues } => {
                panic!("entry {} rejected {status}: {issues:#?}", entry.index)
            }
        }
    }

    fn push_entry(bundle: &mut Value, entry: Value) -> usize {
        let entries = bundle["entry"].as_array_mut().expect("entries");
        entries.push(entry);
        entries.len() - 1
    }

    #[test]
    fn the_official_example_bundle_is_accepted_entry_by_entry() {
        let plan = plan(&bundle());
        assert_eq!(plan.entries.len(), 9);
        for entry in &plan.entries {
            assert!(accepted(entry).is_empty(), "{entry:#?}");
            assert_eq!(
                entry.patient,
                Some(PatientRef::Server("patientExample".into()))
            );
            assert_eq!(entry.if_none_exist, None);
        }
        let profiles: Vec<_> = plan
            .entries
            .iter()
            .map(|e| e.classification.clone())
            .collect();
        assert_eq!(
            profiles[0],
            Some(Classification::Profile(CgmProfile::SummaryPdf))
        );
        assert_eq!(
            profiles[1],
            Some(Classification::Profile(CgmProfile::SummaryPanel))
        );
        assert_eq!(
            profiles[8],
            Some(Classification::Profile(CgmProfile::SensorReadingMass))
        );
        assert_eq!(
            plan.entries[0].resource_type.as_deref(),
            Some("DiagnosticReport")
        );
    }

    #[test]
    fn relative_references_resolve_against_the_fullurl_base_of_the_example() {
        let plan = plan(&bundle());
        let result = &plan.entries[0].references;
        assert!(result.contains(&ReferenceSite {
            pointer: "/result/0/reference".into(),
            reference: "Observation/cgmSummaryExample".into(),
            target: RefTarget::Entry(1),
        }));
        let members: Vec<_> = plan.entries[1]
            .references
            .iter()
            .filter(|s| s.pointer.starts_with("/hasMember/"))
            .map(|s| s.target.clone())
            .collect();
        assert_eq!(members, (2..8).map(RefTarget::Entry).collect::<Vec<_>>());
        let subject = plan.entries[1]
            .references
            .iter()
            .find(|s| s.pointer == "/subject/reference")
            .expect("subject");
        assert_eq!(
            subject.target,
            RefTarget::Server {
                resource_type: "Patient".into(),
                id: "patientExample".into()
            }
        );
    }

    #[test]
    fn the_panel_its_six_members_and_the_pdf_form_one_group_and_the_reading_its_own() {
        let plan = plan(&bundle());
        let groups: Vec<usize> = plan.entries.iter().map(|e| e.group).collect();
        assert_eq!(groups, vec![0, 0, 0, 0, 0, 0, 0, 0, 8]);
    }

    #[test]
    fn urn_uuid_fullurls_resolve_exactly_and_contained_external_and_invalid_references_are_told_apart(
    ) {
        let mut b = bundle();
        b["entry"][8]["fullUrl"] = json!("urn:uuid:5c9a2f8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f");
        b["entry"][8]["resource"]["device"] =
            json!({"reference": "urn:uuid:5c9a2f8e-1d2b-4c3a-9e8f-0a1b2c3d4e5f"});
        b["entry"][8]["resource"]["basedOn"] = json!([
            {"reference": "#order"},
            {"reference": "https://other.example/fhir/ServiceRequest/9"},
            {"reference": "not a reference"}
        ]);
        let plan = plan(&b);
        let targets: Vec<_> = plan.entries[8]
            .references
            .iter()
            .map(|s| (s.pointer.as_str(), s.target.clone()))
            .collect();
        assert!(
            targets.contains(&("/device/reference", RefTarget::Entry(8))),
            "{targets:?}"
        );
        assert!(targets.contains(&("/basedOn/0/reference", RefTarget::Contained)));
        assert!(targets.contains(&(
            "/basedOn/1/reference",
            RefTarget::External("https://other.example/fhir/ServiceRequest/9".into())
        )));
        assert!(targets.contains(&("/basedOn/2/reference", RefTarget::Invalid)));
        // An Invalid reference outside subject only warns.
        assert_eq!(accepted(&plan.entries[8]).len(), 1);
    }

    #[test]
    fn an_invalid_subject_reference_rejects_the_entry_with_422() {
        let mut b = bundle();
        b["entry"][8]["resource"]["subject"]["reference"] = json!("Patient/has spaces");
        let plan = plan(&b);
        let (status, issues) = rejected(&plan.entries[8]);
        assert_eq!(status, 422);
        assert_eq!(
            issues[0].expression.as_deref(),
            Some("Bundle.entry[8].resource.subject.reference")
        );
        assert_eq!(
            plan.entries[8].patient,
            Some(PatientRef::Unresolvable("Patient/has spaces".into()))
        );
    }

    #[test]
    fn a_patient_entry_is_classified_and_referenced_as_the_patient() {
        let mut b = bundle();
        let p = push_entry(
            &mut b,
            json!({"fullUrl": "https://example.org/Patient/patientExample", "resource": parse(PATIENT),
                   "request": {"method": "POST", "url": "Patient"}}),
        );
        let plan = plan(&b);
        assert_eq!(
            plan.entries[p].classification,
            Some(Classification::Patient)
        );
        assert!(accepted(&plan.entries[p]).is_empty());
        assert_eq!(plan.entries[p].patient, None);
        assert_eq!(plan.entries[8].patient, Some(PatientRef::Entry(p)));
    }

    #[test]
    fn a_unit_string_in_the_wrong_case_is_accepted_with_a_warning_naming_the_element() {
        let mut b = bundle();
        b["entry"][8]["resource"]["valueQuantity"]["unit"] = json!("mg/dL");
        let plan = plan(&b);
        let warnings = accepted(&plan.entries[8]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].expression.as_deref(),
            Some("Bundle.entry[8].resource.valueQuantity.unit")
        );
    }

    #[test]
    fn a_wrong_ucum_code_rejects_the_reading_with_422() {
        let mut b = bundle();
        b["entry"][8]["resource"]["valueQuantity"]["code"] = json!("mg/dl");
        let planned = plan(&b);
        let (status, issues) = rejected(&planned.entries[8]);
        assert_eq!(status, 422);
        assert_eq!(
            issues[0].expression.as_deref(),
            Some("Bundle.entry[8].resource.valueQuantity.code")
        );
    }

    #[test]
    fn a_panel_with_five_members_rejects_its_whole_group_with_a_pointer_to_the_panel() {
        let mut b = bundle();
        b["entry"][1]["resource"]["hasMember"]
            .as_array_mut()
            .expect("members")
            .remove(0);
        let plan = plan(&b);
        let (status, issues) = rejected(&plan.entries[1]);
        assert_eq!(status, 422);
        assert!(issues
            .iter()
            .any(|i| i.expression.as_deref() == Some("Bundle.entry[1].resource.hasMember")));
        // The mean is no longer a member, so it leaves the group; the others and the PDF fall with the panel.
        for i in [0, 3, 4, 5, 6, 7] {
            let (status, issues) = rejected(&plan.entries[i]);
            assert_eq!(status, 422, "entry {i}");
            assert_eq!(
                issues[0].expression.as_deref(),
                Some("Bundle.entry[1]"),
                "entry {i}"
            );
            assert!(issues[0].diagnostics.contains("entry 1"));
        }
        assert!(accepted(&plan.entries[2]).is_empty());
        assert!(accepted(&plan.entries[8]).is_empty());
    }

    #[test]
    fn a_panel_whose_member_is_not_in_the_bundle_fails_vals_7() {
        let mut b = bundle();
        b["entry"][1]["resource"]["hasMember"][2] = json!({"reference": "Observation/elsewhere"});
        let plan = plan(&b);
        let (status, issues) = rejected(&plan.entries[1]);
        assert_eq!(status, 422);
        assert!(
            issues
                .iter()
                .any(|i| i.diagnostics.contains("Observation/elsewhere")),
            "{issues:#?}"
        );
        assert!(
            issues
                .iter()
                .any(|i| i.diagnostics.contains("Glucose Management Indicator")),
            "{issues:#?}"
        );
    }

    #[test]
    fn a_panel_with_two_gmi_members_fails_even_with_six_members() {
        let mut b = bundle();
        let mut gmi = b["entry"][4].clone();
        gmi["fullUrl"] = json!("https://example.org/Observation/secondGmi");
        gmi["resource"]["id"] = json!("secondGmi");
        let j = push_entry(&mut b, gmi);
        b["entry"][1]["resource"]["hasMember"]
            .as_array_mut()
            .expect("members")
            .push(json!({"reference": "Observation/secondGmi"}));
        let plan = plan(&b);
        let (_, issues) = rejected(&plan.entries[1]);
        assert!(
            issues.iter().any(|i| i.diagnostics.contains("found 2")),
            "{issues:#?}"
        );
        assert_eq!(plan.entries[j].group, 0);
        assert_eq!(rejected(&plan.entries[j]).0, 422);
    }

    #[test]
    fn a_failing_member_takes_the_panel_and_the_pdf_with_it() {
        let mut b = bundle();
        b["entry"][5]["resource"]["valueQuantity"]["code"] = json!("percent");
        let plan = plan(&b);
        for i in 0..8 {
            assert_eq!(rejected(&plan.entries[i]).0, 422, "entry {i}");
        }
        let (_, panel_issues) = rejected(&plan.entries[1]);
        assert_eq!(
            panel_issues[0].expression.as_deref(),
            Some("Bundle.entry[5]")
        );
        assert!(accepted(&plan.entries[8]).is_empty());
    }

    #[test]
    fn group_propagation_can_be_rerun_after_the_server_rejects_an_entry() {
        let mut plan = plan(&bundle());
        plan.entries[7].verdict = Verdict::Reject {
            status: 403,
            issues: vec![Issue::error("forbidden", "not your patient")],
        };
        plan.propagate_group_rejections();
        plan.propagate_group_rejections();
        for i in 0..8 {
            let (status, issues) = rejected(&plan.entries[i]);
            assert_eq!(status, 403);
            if i != 7 {
                assert_eq!(issues.len(), 1, "entry {i}: {issues:#?}");
                assert_eq!(issues[0].expression.as_deref(), Some("Bundle.entry[7]"));
            }
        }
        assert!(plan.entries[8].verdict.is_accept());
    }

    #[test]
    fn sensor_readings_in_a_bundle_need_exactly_one_of_value_and_data_absent_reason() {
        let dar = json!({"coding": [{"system": DATA_ABSENT_REASON, "code": "positive-infinity"}]});
        let mut both = bundle();
        both["entry"][8]["resource"]["dataAbsentReason"] = dar.clone();
        assert_eq!(rejected(&plan(&both).entries[8]).0, 422);
        let mut neither = bundle();
        neither["entry"][8]["resource"]
            .as_object_mut()
            .expect("object")
            .remove("valueQuantity");
        assert_eq!(rejected(&plan(&neither).entries[8]).0, 422);
        neither["entry"][8]["resource"]["dataAbsentReason"] = dar;
        assert!(accepted(&plan(&neither).entries[8]).is_empty());
    }

    #[test]
    fn a_batch_bundle_is_a_400() {
        let mut b = bundle();
        b["type"] = json!("batch");
        assert_eq!(status_of(&b), 400);
    }

    #[test]
    fn a_bundle_without_entries_or_not_a_bundle_is_a_400() {
        let mut b = bundle();
        b["entry"] = json!([]);
        assert_eq!(status_of(&b), 400);
        assert_eq!(status_of(&json!({"resourceType": "Observation"})), 400);
        assert_eq!(status_of(&json!([1, 2])), 400);
    }

    #[test]
    fn a_bundle_without_timestamp_is_a_422() {
        let mut b = bundle();
        b.as_object_mut().expect("object").remove("timestamp");
        assert_eq!(status_of(&b), 422);
        b["timestamp"] = json!("2024-05-02");
        assert_eq!(status_of(&b), 422);
    }

    #[test]
    fn a_duplicate_fullurl_is_a_422_naming_both_entries() {
        let mut b = bundle();
        b["entry"][8]["fullUrl"] = b["entry"][7]["fullUrl"].clone();
        let err = plan_submission(&b).expect_err("bdl-7");
        assert_eq!(err.status, 422);
        assert_eq!(
            err.issues[0].expression.as_deref(),
            Some("Bundle.entry[8].fullUrl")
        );
        assert!(err.issues[0].diagnostics.contains("entry 7"));
    }

    #[test]
    fn a_versioned_fullurl_is_a_422() {
        let mut b = bundle();
        b["entry"][8]["fullUrl"] = json!("https://example.org/Observation/x/_history/1");
        assert_eq!(status_of(&b), 422);
    }

    #[test]
    fn a_put_entry_is_a_405() {
        let mut b = bundle();
        b["entry"][8]["request"] =
            json!({"method": "PUT", "url": "Observation/cgmSensorReadingMassPerVolumeExample"});
        let plan = plan(&b);
        assert_eq!(rejected(&plan.entries[8]).0, 405);
        assert!(accepted(&plan.entries[7]).is_empty());
    }

    #[test]
    fn a_practitioner_entry_is_a_403() {
        let mut b = bundle();
        let i = push_entry(
            &mut b,
            json!({"fullUrl": "urn:uuid:1f0e4c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6",
                   "resource": {"resourceType": "Practitioner", "name": [{"family": "Who"}]},
                   "request": {"method": "POST", "url": "Practitioner"}}),
        );
        let plan = plan(&b);
        assert_eq!(rejected(&plan.entries[i]).0, 403);
        assert_eq!(plan.entries[i].patient, None);
    }

    #[test]
    fn entries_without_request_or_resource_or_with_a_mismatched_url_are_400() {
        let mut b = bundle();
        b["entry"][8]
            .as_object_mut()
            .expect("entry")
            .remove("request");
        b["entry"][7]
            .as_object_mut()
            .expect("entry")
            .remove("resource");
        b["entry"][6]["request"]["url"] = json!("Device");
        let plan = plan(&b);
        assert_eq!(rejected(&plan.entries[8]).0, 400);
        assert_eq!(rejected(&plan.entries[7]).0, 400);
        assert_eq!(plan.entries[7].classification, None);
        assert_eq!(rejected(&plan.entries[6]).0, 400);
    }

    #[test]
    fn a_temporary_code_is_a_422_naming_the_loinc_replacement() {
        let mut b = bundle();
        b["entry"][4]["resource"]["code"] =
            json!({"coding": [{"system": OBSOLETE_TEMP_SYSTEM, "code": "gmi"}]});
        let plan = plan(&b);
        let (status, issues) = rejected(&plan.entries[4]);
        assert_eq!(status, 422);
        assert!(issues[0].diagnostics.contains("97506-0"), "{issues:#?}");
        assert!(matches!(
            plan.entries[4].classification,
            Some(Classification::Obsolete(_))
        ));
        let mut b = bundle();
        b["entry"][0]["resource"]["code"] =
            json!({"coding": [{"system": OBSOLETE_TEMP_SYSTEM, "code": "cgm-summary"}]});
        let planned = plan_submission(&b).expect("planned");
        let (_, issues) = rejected(&planned.entries[0]);
        assert!(issues[0].diagnostics.contains("107931-8"));
    }

    #[test]
    fn an_observation_with_a_foreign_code_is_a_422_not_a_cgm_profile() {
        let mut b = bundle();
        b["entry"][8]["resource"]["code"] =
            json!({"coding": [{"system": LOINC, "code": "2339-0"}]});
        let plan = plan(&b);
        let (status, issues) = rejected(&plan.entries[8]);
        assert_eq!(status, 422);
        assert!(issues[0].diagnostics.contains("not a CGM profile"));
        assert_eq!(plan.entries[8].classification, Some(Classification::Other));
    }

    #[test]
    fn an_if_none_exist_with_a_resource_type_is_a_400_and_a_query_is_passed_through() {
        let mut b = bundle();
        b["entry"][8]["request"]["ifNoneExist"] = json!("Observation?identifier=x");
        b["entry"][7]["request"]["ifNoneExist"] =
            json!("identifier=https://client.example.org|123");
        let plan = plan(&b);
        assert_eq!(rejected(&plan.entries[8]).0, 400);
        assert!(accepted(&plan.entries[7]).is_empty());
        assert_eq!(
            plan.entries[7].if_none_exist.as_deref(),
            Some("identifier=https://client.example.org|123")
        );
    }

    #[test]
    fn a_parameters_wrapper_with_one_resource_parameter_is_unwrapped() {
        let body = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bundle()}]});
        assert_eq!(plan(&body), plan(&bundle()));
    }

    #[test]
    fn a_parameters_wrapper_with_two_parameters_or_another_name_is_a_400() {
        let two = json!({"resourceType": "Parameters", "parameter": [
            {"name": "resource", "resource": bundle()},
            {"name": "note", "valueString": "hi"}
        ]});
        assert_eq!(status_of(&two), 400);
        let renamed = json!({"resourceType": "Parameters", "parameter": [{"name": "bundle", "resource": bundle()}]});
        assert_eq!(status_of(&renamed), 400);
    }

    #[test]
    fn decimals_in_a_submitted_bundle_keep_their_precision() {
        let text = BUNDLE.replacen("\"value\": 65", "\"value\": 65.00", 1);
        assert_ne!(text, BUNDLE);
        let b: Value = serde_json::from_str(&text).expect("json");
        let plan = plan(&b);
        assert!(accepted(&plan.entries[3]).is_empty());
        assert!(serde_json::to_string(&b)
            .expect("serialises")
            .contains("\"value\":65.00"));
    }

    #[test]
    fn a_device_and_orders_in_a_bundle_are_planned_with_their_patient() {
        let mut b = bundle();
        let mut device = example(CgmProfile::Device);
        device["patient"] = json!({"reference": "Patient/patientExample"});
        let d = push_entry(
            &mut b,
            json!({"fullUrl": "urn:uuid:9d7b8a2c-1111-4a55-9b52-bd0b8b3b1d4e", "resource": device,
                                          "request": {"method": "POST", "url": "Device"}}),
        );
        let mut bad = example(CgmProfile::Device);
        bad.as_object_mut().expect("object").remove("identifier");
        let e = push_entry(
            &mut b,
            json!({"resource": bad, "request": {"method": "POST", "url": "Device"}}),
        );
        let o = push_entry(
            &mut b,
            json!({"resource": example(CgmProfile::StandingOrder),
                                          "request": {"method": "POST", "url": "ServiceRequest"}}),
        );
        let plan = plan(&b);
        assert!(accepted(&plan.entries[d]).is_empty());
        assert_eq!(
            plan.entries[d].patient,
            Some(PatientRef::Server("patientExample".into()))
        );
        assert_eq!(rejected(&plan.entries[e]).0, 422);
        assert_eq!(plan.entries[e].patient, Some(PatientRef::Missing));
        assert!(accepted(&plan.entries[o]).is_empty());
        assert_eq!(plan.entries[o].group, o);
    }
}
