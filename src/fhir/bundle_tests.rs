//! Tests of the submission Bundle builder on demo data and the IG example Bundle (issue 5).

use super::*;
use crate::demo::{demo_patients, generate, DemoPatient};
use crate::fhir::codes::*;
use crate::fhir::ids::{DEVICE_IDENTIFIER_SYSTEM, SUMMARY_IDENTIFIER_SYSTEM};
use crate::fhir::{classify, plan_submission, validate, Classification, Verdict};
use crate::localtime::local_date;
use crate::Sentinel;
use chrono::{Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use std::collections::{HashMap, HashSet};

const IG_BUNDLE: &str = include_str!("../../tests/fixtures/ig/Bundle-cgmDataSubmissionBundle.json");
/// A stand-in for the rendered report: the bytes only have to survive base64.
const FAKE_PDF: &[u8] =
    b"%PDF-1.0\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

const SUMMARY_AND_PDF: [CgmProfile; 2] = [CgmProfile::SummaryPanel, CgmProfile::SummaryPdf];

fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

fn patient(key: &str) -> DemoPatient {
    demo_patients()
        .into_iter()
        .find(|p| p.key == key)
        .expect("demo patient")
}

/// The patient's trace over `days` days before [`end`] and the window of the last `days` whole local days.
fn demo(p: &DemoPatient, days: u32) -> (Trace, Window) {
    let trace = Trace::new(generate(p, end(), days + 1, 7));
    let last_day = local_date(end() - Duration::seconds(1), p.tz());
    (trace, Window::last_days(last_day, days, p.tz()))
}

fn input<'a>(
    trace: &'a Trace,
    window: Window,
    tz: Tz,
    profiles: &'a [CgmProfile],
    max_entries: usize,
) -> BundleInput<'a> {
    BundleInput {
        subject: "Patient/ehr-123",
        trace,
        window,
        tz,
        profiles,
        pdf: Some(FAKE_PDF),
        timestamp: end() + Duration::hours(2),
        max_entries,
        device_names: &[],
    }
}

fn entries(bundle: &Value) -> &[Value] {
    bundle["entry"].as_array().map_or(&[], Vec::as_slice)
}

fn profile_of(entry: &Value) -> CgmProfile {
    match classify(&entry["resource"]) {
        Classification::Profile(p) => p,
        other => panic!("not a CGM profile: {other:?}"),
    }
}

fn reading_ids(bundles: &[Value]) -> Vec<String> {
    bundles
        .iter()
        .flat_map(|b| entries(b).iter())
        .filter(|e| {
            matches!(
                profile_of(e),
                CgmProfile::SensorReadingMass | CgmProfile::SensorReadingMolar
            )
        })
        .map(|e| {
            e["resource"]["identifier"][0]["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn summary_ids(bundle: &Value) -> HashMap<CgmProfile, String> {
    entries(bundle)
        .iter()
        .filter(|e| e["resource"]["identifier"][0]["system"] == SUMMARY_IDENTIFIER_SYSTEM)
        .map(|e| {
            (
                profile_of(e),
                e["resource"]["identifier"][0]["value"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

/// Every entry passes our profile validator without any issue, and the receiver's planner accepts every entry
/// without warnings (SUB-2, VAL-1…VAL-9).
fn assert_valid_and_accepted(bundle: &Value) {
    for (i, entry) in entries(bundle).iter().enumerate() {
        let profile = profile_of(entry);
        let issues = validate(
            profile,
            &entry["resource"],
            &format!("Bundle.entry[{i}].resource"),
        );
        assert!(issues.is_empty(), "entry {i} ({profile:?}): {issues:?}");
    }
    let plan = plan_submission(bundle).expect("a processable submission");
    assert_eq!(plan.entries.len(), entries(bundle).len());
    for e in &plan.entries {
        assert_eq!(
            e.verdict,
            Verdict::Accept { warnings: vec![] },
            "entry {} ({:?})",
            e.index,
            e.classification
        );
    }
}

#[test]
fn every_entry_of_every_demo_patients_bundles_validates_and_the_receiver_accepts_all_sub_2() {
    let all = [
        CgmProfile::SummaryPanel,
        CgmProfile::SummaryPdf,
        CgmProfile::SensorReadingMass,
        CgmProfile::SensorReadingMolar,
        CgmProfile::Device,
    ];
    for p in demo_patients() {
        let (trace, window) = demo(&p, 14);
        let bundles = build_submission(&input(&trace, window, p.tz(), &all, 1_000));
        assert!(
            bundles.len() > 1,
            "{}: 14 days in both units need chunks",
            p.key
        );
        for bundle in &bundles {
            assert_eq!(bundle["type"], "transaction");
            assert_eq!(bundle["meta"]["profile"][0], SUBMISSION_BUNDLE_PROFILE);
            assert_eq!(bundle["timestamp"], "2026-03-01T02:00:00Z");
            assert!(entries(bundle)
                .iter()
                .all(|e| e["resource"]["resourceType"] != "Patient"));
            assert_valid_and_accepted(bundle);
        }
    }
}

#[test]
fn the_summary_group_has_the_ig_example_bundles_structure_with_both_means_c2() {
    let example: Value = serde_json::from_str(IG_BUNDLE).unwrap();
    let kind = |e: &Value| {
        format!(
            "{}#{}",
            e["resource"]["resourceType"].as_str().unwrap(),
            e["resource"]["code"]["coding"][0]["code"].as_str().unwrap()
        )
    };
    // The example's summary group: everything but its one sensor reading.
    let mut expected: Vec<String> = entries(&example)
        .iter()
        .map(kind)
        .filter(|k| !k.ends_with(LOINC_SENSOR_READING_MASS))
        .collect();
    // Both means (NOTES C2): the molar one right after the mass one.
    expected.insert(3, format!("Observation#{LOINC_MEAN_GLUCOSE_MOLAR}"));

    let p = patient("james");
    let (trace, window) = demo(&p, 14);
    let bundles = build_submission(&input(&trace, window, p.tz(), &SUMMARY_AND_PDF, 5_000));
    assert_eq!(bundles.len(), 1);
    let got: Vec<String> = entries(&bundles[0]).iter().map(kind).collect();
    assert_eq!(got, expected);

    // hasMember: the example's six in its order, the molar mean after the mass mean; each resolves to an entry.
    let urls: HashMap<&str, &Value> = entries(&bundles[0])
        .iter()
        .map(|e| (e["fullUrl"].as_str().unwrap(), &e["resource"]))
        .collect();
    let member_codes = |panel: &Value, resolve: &dyn Fn(&str) -> String| -> Vec<String> {
        panel["hasMember"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| resolve(m["reference"].as_str().unwrap()))
            .collect()
    };
    let example_members = member_codes(&entries(&example)[1]["resource"], &|r: &str| {
        let id = r.trim_start_matches("Observation/");
        let member = entries(&example)
            .iter()
            .find(|e| e["resource"]["id"] == id)
            .unwrap();
        member["resource"]["code"]["coding"][0]["code"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let ours = member_codes(&entries(&bundles[0])[1]["resource"], &|r: &str| {
        urls[r]["code"]["coding"][0]["code"]
            .as_str()
            .unwrap()
            .to_string()
    });
    let mut expected_members = example_members.clone();
    expected_members.insert(1, LOINC_MEAN_GLUCOSE_MOLAR.to_string());
    assert_eq!(ours, expected_members);

    // The report points at the panel (D5), and means carry the pattern units (C1).
    let report = &entries(&bundles[0])[0];
    assert_eq!(
        report["resource"]["result"][0]["reference"],
        entries(&bundles[0])[1]["fullUrl"]
    );
    assert_eq!(
        report["resource"]["category"][0]["coding"][0]["code"],
        "LAB"
    );
    assert_eq!(report["resource"]["issued"], "2026-03-01T02:00:00Z");
    let mass = &entries(&bundles[0])[2]["resource"]["valueQuantity"];
    let molar = &entries(&bundles[0])[3]["resource"]["valueQuantity"];
    assert_eq!(
        (&mass["code"], &mass["unit"]),
        (&"mg/dL".into(), &"mg/dl".into())
    );
    assert_eq!(
        (&molar["code"], &molar["unit"]),
        (&"mmol/L".into(), &"mmol/l".into())
    );
    assert!(
        !mass["value"].to_string().contains('.'),
        "mg/dL whole: {}",
        mass["value"]
    );
    let molar_text = molar["value"].to_string();
    assert_eq!(
        molar_text.split('.').nth(1).map(str::len),
        Some(1),
        "{molar_text}"
    );
    // The group is one acceptance group at the receiver (NOTES A5).
    let plan = plan_submission(&bundles[0]).unwrap();
    assert!(plan.entries.iter().all(|e| e.group == 0));
}

#[test]
fn times_in_ranges_have_two_decimals_in_the_serialised_text_and_sum_to_exactly_100_c3() {
    for p in demo_patients() {
        let (trace, window) = demo(&p, 14);
        let bundles = build_submission(&input(
            &trace,
            window,
            p.tz(),
            &[CgmProfile::TimesInRanges],
            10,
        ));
        let text = String::from_utf8(serde_json::to_vec(&bundles[0]).unwrap()).unwrap();
        let tir = &entries(&bundles[0])[0]["resource"];
        let mut hundredths = 0i64;
        for (component, (_, code)) in tir["component"]
            .as_array()
            .unwrap()
            .iter()
            .zip(TIR_COMPONENTS)
        {
            assert_eq!(component["code"]["coding"][0]["code"], code);
            let value = component["valueQuantity"]["value"].to_string();
            let (whole, fraction) = value.split_once('.').expect("a decimal point");
            assert_eq!(fraction.len(), 2, "{}: {value}", p.key);
            assert!(text.contains(&format!("\"value\":{value},\"unit\":\"%\"")));
            hundredths += whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap();
        }
        assert_eq!(hundredths, 10_000, "{}", p.key);
    }
}

#[test]
fn sentinel_readings_carry_a_data_absent_reason_in_the_bundle_sub_10_c5() {
    let p = patient("james");
    let (trace, window) = demo(&p, 14);
    let sentinels: HashMap<i64, Sentinel> = trace
        .in_window(&window)
        .iter()
        .filter_map(|r| Some((r.at.timestamp(), r.sentinel?)))
        .collect();
    assert!(
        !sentinels.is_empty(),
        "the frequent-lows demo has Low readings"
    );
    let bundles = build_submission(&input(
        &trace,
        window,
        p.tz(),
        &[CgmProfile::SensorReadingMass],
        100_000,
    ));
    let mut seen = 0;
    for e in entries(&bundles[0])
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Observation")
    {
        let at = DateTime::parse_from_rfc3339(e["resource"]["effectiveDateTime"].as_str().unwrap())
            .unwrap();
        let dar = e["resource"]["dataAbsentReason"]["coding"][0]["code"].as_str();
        match sentinels.get(&at.timestamp()) {
            Some(Sentinel::Low) => {
                assert_eq!(dar, Some("negative-infinity"));
                assert!(e["resource"].get("valueQuantity").is_none());
                seen += 1;
            }
            Some(Sentinel::High) => {
                assert_eq!(dar, Some("positive-infinity"));
                seen += 1;
            }
            None => assert!(dar.is_none() && e["resource"]["valueQuantity"]["value"].is_number()),
        }
    }
    assert_eq!(seen, sentinels.len());
}

#[test]
fn the_same_input_gives_byte_identical_bundles_b1() {
    let p = patient("elena");
    let (trace, window) = demo(&p, 14);
    let all = [
        CgmProfile::SummaryPanel,
        CgmProfile::SummaryPdf,
        CgmProfile::SensorReadingMolar,
    ];
    let once: Vec<Vec<u8>> = build_submission(&input(&trace, window, p.tz(), &all, 500))
        .iter()
        .map(|b| serde_json::to_vec(b).unwrap())
        .collect();
    let again: Vec<Vec<u8>> = build_submission(&input(&trace, window, p.tz(), &all, 500))
        .iter()
        .map(|b| serde_json::to_vec(b).unwrap())
        .collect();
    assert_eq!(once, again);
    // And every fullUrl is a urn:uuid, unique across the whole submission except the shared Device (bdl-7, B1).
    let bundles = build_submission(&input(&trace, window, p.tz(), &all, 500));
    let mut urls = HashSet::new();
    for e in bundles.iter().flat_map(|b| entries(b).iter()) {
        let url = e["fullUrl"].as_str().unwrap();
        assert!(url.starts_with("urn:uuid:") && url.len() == 45, "{url}");
        assert!(e["request"]["ifNoneExist"]
            .as_str()
            .unwrap()
            .starts_with("identifier="));
        if e["resource"]["resourceType"] != "Device" {
            assert!(urls.insert(url.to_string()), "{url} twice");
        }
    }
}

#[test]
fn changed_data_makes_new_summary_identifiers_but_keeps_every_reading_identifier_c8_c9() {
    let p = patient("sofia");
    let (trace, window) = demo(&p, 14);
    let profiles = [CgmProfile::SummaryPanel, CgmProfile::SensorReadingMass];
    let before = build_submission(&input(&trace, window, p.tz(), &profiles, 100_000));
    // Late corrections: the last three days read 60 mg/dL higher.
    let cut = window.end - Duration::days(3);
    let changed = Trace::new(
        trace
            .readings()
            .iter()
            .cloned()
            .map(|mut r| {
                if r.at >= cut && r.sentinel.is_none() {
                    r.value += 60.0;
                }
                r
            })
            .collect(),
    );
    let after = build_submission(&input(&changed, window, p.tz(), &profiles, 100_000));
    assert_eq!(reading_ids(&before), reading_ids(&after));
    let (old, new) = (summary_ids(&before[0]), summary_ids(&after[0]));
    for profile in [
        CgmProfile::SummaryPanel,
        CgmProfile::MeanGlucoseMass,
        CgmProfile::TimesInRanges,
        CgmProfile::Gmi,
    ] {
        assert_ne!(old[&profile], new[&profile], "{profile:?}");
        // Same patient, metric and period: only the content hash differs.
        let prefix = |id: &str| id.rsplit_once('.').unwrap().0.to_string();
        assert_eq!(prefix(&old[&profile]), prefix(&new[&profile]));
    }
    // Unchanged metrics keep their identifier, so re-sending them deduplicates.
    assert_eq!(old[&CgmProfile::DaysOfWear], new[&CgmProfile::DaysOfWear]);
    assert!(old[&CgmProfile::SummaryPanel].starts_with("ehr-123.107931-8."));
}

/// A trace of two devices (a sensor change with overlap), 5-minute readings over two days.
fn two_device_trace() -> (Trace, Window) {
    let start = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    let mut readings = Vec::new();
    for k in 0..(2 * 288) {
        for (device, offset) in [("sensor-a", 0), ("sensor-b", 150)] {
            if (device == "sensor-a" && k > 350) || (device == "sensor-b" && k < 300) {
                continue;
            }
            readings.push(Reading {
                at: start + Duration::seconds(300 * k + offset),
                value: 80.0 + (k % 50) as f64,
                unit: GlucoseUnit::MgDl,
                sentinel: None,
                device: DeviceId::new(device),
                interval_s: 300,
            });
        }
    }
    let window = Window::new(start, start + Duration::days(2)).unwrap();
    (Trace::new(readings), window)
}

#[test]
fn chunks_respect_max_entries_keep_the_summary_group_whole_and_carry_each_readings_device_a7() {
    let (trace, window) = two_device_trace();
    let all = [
        CgmProfile::SummaryPanel,
        CgmProfile::SummaryPdf,
        CgmProfile::SensorReadingMass,
        CgmProfile::SensorReadingMolar,
    ];
    let expected_readings = 2 * trace.in_window(&window).len();
    for max in [2usize, 3, 9, 10, 11, 57, 100, 5_000] {
        let bundles = build_submission(&input(&trace, window, Tz::UTC, &all, max));
        // The summary group (PDF, panel, 7 members) opens the first bundle, whole, even when it exceeds max.
        let first: Vec<CgmProfile> = entries(&bundles[0])
            .iter()
            .take(9)
            .map(profile_of)
            .collect();
        assert_eq!(
            first[..2],
            [CgmProfile::SummaryPdf, CgmProfile::SummaryPanel],
            "max {max}"
        );
        assert!(
            first[2..].iter().all(|p| p.is_summary_member()),
            "max {max}"
        );
        for later in bundles.iter().skip(1) {
            assert!(entries(later).iter().all(|e| {
                let p = profile_of(e);
                !p.is_summary_member()
                    && p != CgmProfile::SummaryPanel
                    && p != CgmProfile::SummaryPdf
            }));
        }
        let ids = reading_ids(&bundles);
        assert_eq!(ids.len(), expected_readings, "max {max}");
        assert_eq!(
            ids.iter().collect::<HashSet<_>>().len(),
            ids.len(),
            "max {max}: a reading twice"
        );
        for (n, bundle) in bundles.iter().enumerate() {
            let size = entries(bundle).len();
            assert!(
                size <= max.max(2) || (n == 0 && size == 9),
                "max {max}: bundle {n} has {size}"
            );
            let devices: HashMap<&str, &Value> = entries(bundle)
                .iter()
                .filter(|e| e["resource"]["resourceType"] == "Device")
                .map(|e| (e["fullUrl"].as_str().unwrap(), &e["resource"]))
                .collect();
            let mut times = Vec::new();
            for e in entries(bundle)
                .iter()
                .filter(|e| e["resource"].get("effectiveDateTime").is_some())
            {
                let device = devices
                    .get(e["resource"]["device"]["reference"].as_str().unwrap())
                    .unwrap_or_else(|| panic!("max {max}: bundle {n} lacks a reading's Device"));
                assert_eq!(device["identifier"][0]["system"], DEVICE_IDENTIFIER_SYSTEM);
                times.push(
                    e["resource"]["effectiveDateTime"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            assert!(
                times.windows(2).all(|w| w[0] <= w[1]),
                "max {max}: readings out of time order"
            );
            assert_valid_and_accepted(bundle);
        }
    }
}

#[test]
fn the_period_is_whole_local_dates_across_the_march_dst_change_and_date_times_otherwise_c4() {
    let p = patient("elena");
    assert_eq!(p.time_zone, "Europe/Berlin");
    let trace = Trace::new(generate(
        &p,
        Utc.with_ymd_and_hms(2024, 4, 10, 0, 0, 0).unwrap(),
        30,
        3,
    ));
    let day = |d| NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    let dst = Window::local_days(day(24), day(31), p.tz()).unwrap();
    assert_eq!(dst.duration(), Duration::hours(8 * 24 - 1));
    let bundles = build_submission(&input(&trace, dst, p.tz(), &SUMMARY_AND_PDF, 100));
    for e in entries(&bundles[0]) {
        assert_eq!(e["resource"]["effectivePeriod"]["start"], "2024-03-24");
        assert_eq!(e["resource"]["effectivePeriod"]["end"], "2024-03-31");
    }
    let partial = Window::new(dst.start + Duration::hours(6), dst.end).unwrap();
    let bundles = build_submission(&input(&trace, partial, p.tz(), &SUMMARY_AND_PDF, 100));
    for e in entries(&bundles[0]) {
        assert_eq!(
            e["resource"]["effectivePeriod"]["start"],
            "2024-03-24T06:00:00+01:00"
        );
        assert_eq!(
            e["resource"]["effectivePeriod"]["end"],
            "2024-04-01T00:00:00+02:00"
        );
    }
    assert_valid_and_accepted(&bundles[0]);
}

#[test]
fn an_empty_window_builds_no_bundle_and_says_what_it_left_out() {
    let p = patient("liam");
    let (trace, _) = demo(&p, 14);
    let far = Window::last_days(NaiveDate::from_ymd_opt(2020, 1, 31).unwrap(), 14, p.tz());
    let all = [
        CgmProfile::SummaryPanel,
        CgmProfile::SummaryPdf,
        CgmProfile::SensorReadingMass,
        CgmProfile::Device,
    ];
    let submission = assemble(&input(&trace, far, p.tz(), &all, 100));
    assert!(submission.bundles.is_empty());
    let left_out: Vec<CgmProfile> = submission.omitted.iter().map(|o| o.profile).collect();
    for profile in all {
        assert!(left_out.contains(&profile), "{profile:?} not reported");
    }
}

#[test]
fn a_window_with_one_reading_sends_no_panel_because_cv_needs_two_val_7() {
    let (trace, _) = two_device_trace();
    let first = trace.readings()[0].at;
    let window = Window::new(first, first + Duration::seconds(1)).unwrap();
    let profiles = [
        CgmProfile::SummaryPanel,
        CgmProfile::SummaryPdf,
        CgmProfile::Gmi,
    ];
    let submission = assemble(&input(&trace, window, Tz::UTC, &profiles, 100));
    let bundle = &submission.bundles[0];
    let kinds: Vec<CgmProfile> = entries(bundle).iter().map(profile_of).collect();
    // No panel and none of the members only the panel asked for; the PDF (without result) and GMI stay.
    assert_eq!(kinds, [CgmProfile::SummaryPdf, CgmProfile::Gmi]);
    assert!(entries(bundle)[0]["resource"].get("result").is_none());
    assert!(submission
        .omitted
        .iter()
        .any(|o| o.profile == CgmProfile::SummaryPanel));
    assert_valid_and_accepted(bundle);
}

#[test]
fn a_single_member_profile_sends_just_that_observation_and_order_profiles_are_ignored_d5() {
    let p = patient("james");
    let (trace, window) = demo(&p, 14);
    let profiles = [
        CgmProfile::Gmi,
        CgmProfile::StandingOrder,
        CgmProfile::OneTimeOrder,
    ];
    let bundles = build_submission(&input(&trace, window, p.tz(), &profiles, 100));
    assert_eq!(bundles.len(), 1);
    let kinds: Vec<CgmProfile> = entries(&bundles[0]).iter().map(profile_of).collect();
    assert_eq!(kinds, [CgmProfile::Gmi]);
    let value = entries(&bundles[0])[0]["resource"]["valueQuantity"]["value"].to_string();
    assert_eq!(
        value.split('.').nth(1).map(str::len),
        Some(1),
        "GMI one decimal: {value}"
    );
}

#[test]
fn the_device_alone_is_sent_once_with_its_configured_name_b5() {
    let p = patient("james");
    let (trace, window) = demo(&p, 14);
    let names = [(p.device_id(), p.device_model.display)];
    let mut i = input(&trace, window, p.tz(), &[CgmProfile::Device], 100);
    i.device_names = &names;
    let bundles = build_submission(&i);
    assert_eq!(bundles.len(), 1);
    let device = &entries(&bundles[0])[0];
    assert_eq!(entries(&bundles[0]).len(), 1);
    assert_eq!(
        device["resource"]["deviceName"][0]["name"],
        p.device_model.display
    );
    assert_eq!(
        device["resource"]["patient"]["reference"],
        "Patient/ehr-123"
    );
    assert_eq!(
        device["request"]["ifNoneExist"],
        format!(
            "identifier=https%3A%2F%2Fcloudcgm.org%2Ffhir%2Fcgm%2Fdevice%7C{}",
            p.device_id().0
        )
    );
    assert_valid_and_accepted(&bundles[0]);
}

#[test]
fn every_observation_is_final_laboratory_with_subject_and_its_profile_in_meta_b2_b6() {
    let p = patient("sofia");
    let (trace, window) = demo(&p, 3);
    let all = [
        CgmProfile::SummaryPanel,
        CgmProfile::SummaryPdf,
        CgmProfile::SensorReadingMass,
    ];
    for bundle in build_submission(&input(&trace, window, p.tz(), &all, 10_000)) {
        for e in entries(&bundle) {
            let r = &e["resource"];
            assert_eq!(r["meta"]["profile"][0], profile_of(e).canonical());
            if r["resourceType"] == "Observation" {
                assert_eq!(r["status"], "final");
                assert_eq!(
                    r["category"][0]["coding"][0]["system"],
                    OBSERVATION_CATEGORY
                );
                assert_eq!(r["category"][0]["coding"][0]["code"], "laboratory");
                assert_eq!(r["subject"]["reference"], "Patient/ehr-123");
            }
        }
    }
}
