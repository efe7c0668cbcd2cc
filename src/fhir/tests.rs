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
