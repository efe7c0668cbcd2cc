//! The plain CSV format end to end: what `write` produces, `parse` reads back unchanged; the fixture
//! files parse as documented; no input makes the parser panic.

use chrono::{DateTime, TimeZone, Utc};
use cloudcgm::plain_csv::{self, ParseOptions, Subject};
use cloudcgm::{DeviceId, GlucoseUnit, Reading, Sentinel};
use proptest::prelude::*;
use std::path::PathBuf;

fn fixture(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "csv", name]
        .iter()
        .collect();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn reading_strategy() -> impl Strategy<Value = Reading> {
    let unit = prop_oneof![Just(GlucoseUnit::MgDl), Just(GlucoseUnit::MmolL)];
    let sentinel = prop_oneof![
        6 => Just(None),
        1 => Just(Some(Sentinel::Low)),
        1 => Just(Some(Sentinel::High)),
    ];
    // Device ids with commas, quotes and inner spaces exercise quoting; the reader trims the ends.
    let device = "[A-Za-z0-9][A-Za-z0-9 ,\"\\-]{0,10}[A-Za-z0-9]";
    (
        0i64..4_102_444_800, // 1970 … 2100, whole seconds
        unit,
        sentinel,
        prop_oneof![
            0.0f64..1_000.0,
            (0u32..100_000).prop_map(|x| f64::from(x) / 10.0)
        ],
        device,
        prop_oneof![Just(300u32), Just(900u32), 1u32..3_600],
    )
        .prop_map(|(secs, unit, sentinel, value, device, interval_s)| {
            let value = match sentinel {
                Some(s) => plain_csv::sentinel_value(s, unit),
                None => value,
            };
            Reading {
                at: Utc.timestamp_opt(secs, 0).single().unwrap_or_default(),
                value,
                unit,
                sentinel,
                device: DeviceId(device),
                interval_s,
            }
        })
}

proptest! {
    #[test]
    fn parsing_what_was_written_gives_the_same_readings(
        readings in prop::collection::vec(reading_strategy(), 0..40),
        with_id in any::<bool>(),
    ) {
        let id = with_id.then_some("patient, \"one\"");
        let text = plain_csv::write(&readings, id);
        let subjects = plain_csv::parse(&text, &ParseOptions::new(chrono_tz::Europe::Berlin))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        if readings.is_empty() {
            prop_assert!(subjects.is_empty());
        } else {
            prop_assert_eq!(subjects, vec![Subject { id: id.unwrap_or("").to_string(), readings }]);
        }
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_text(input in "\\PC*") {
        let _ = plain_csv::parse(&input, &ParseOptions::default());
    }

    #[test]
    fn parsing_never_panics_on_csv_like_text(
        rows in prop::collection::vec("[0-9TZ:+\\-. ]{0,25},[0-9a-zA-Z.\\-]{0,6},(mg/dL|mmol/L|x)", 0..6),
    ) {
        let input = format!("time,glucose,unit\n{}", rows.join("\n"));
        let _ = plain_csv::parse(&input, &ParseOptions::new(chrono_tz::America::New_York));
    }
}

#[test]
fn the_small_valid_fixture_parses_to_its_readings() {
    let subjects = plain_csv::parse(
        &fixture("valid_small.csv"),
        &ParseOptions::new(chrono_tz::Europe::Berlin),
    )
    .unwrap();
    assert_eq!(subjects.len(), 1);
    let rs = &subjects[0].readings;
    assert_eq!(subjects[0].id, "");
    assert_eq!(rs.len(), 5);
    assert_eq!(rs[0].at, utc(2024, 3, 1, 6, 0));
    assert_eq!(rs[0].value, 112.0);
    assert_eq!(rs[0].device, DeviceId::new("g6"));
    assert_eq!(
        rs[2].at,
        utc(2024, 3, 1, 6, 10),
        "local 07:10 in Berlin is 06:10 UTC in March"
    );
    assert_eq!((rs[2].value, rs[2].sentinel), (39.0, Some(Sentinel::Low)));
    assert_eq!((rs[3].value, rs[3].unit), (6.4, GlucoseUnit::MmolL));
    assert_eq!((rs[4].value, rs[4].sentinel), (22.3, Some(Sentinel::High)));
}

#[test]
fn the_fixture_with_a_bad_line_is_rejected_with_that_line_and_value() {
    let e = plain_csv::parse(&fixture("bad_line.csv"), &ParseOptions::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4: glucose \"12O\" is not a number (expected a number, Low or High)"
    );
}

#[test]
fn the_multi_subject_fixture_gives_each_subject_in_order_of_first_appearance() {
    let subjects = plain_csv::parse(
        &fixture("multi_subject.csv"),
        &ParseOptions::new(chrono_tz::Europe::Berlin),
    )
    .unwrap();
    let ids: Vec<&str> = subjects.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["anna", "ben", "clara"]);
    let counts: Vec<usize> = subjects.iter().map(|s| s.readings.len()).collect();
    assert_eq!(counts, vec![2, 2, 1]);
    assert_eq!(
        subjects[0].readings[0].at,
        utc(2024, 3, 1, 7, 0),
        "anna's local times are Berlin time"
    );
    assert_eq!(subjects[1].readings[1].at, utc(2024, 3, 1, 13, 5));
    assert_eq!(subjects[1].readings[1].value, 150.0);
}

#[test]
fn writing_several_subjects_and_reading_them_back_keeps_them_apart() {
    let r = |at, value| Reading {
        at,
        value,
        unit: GlucoseUnit::MgDl,
        sentinel: None,
        device: DeviceId::new("default"),
        interval_s: 300,
    };
    let a = vec![
        r(utc(2024, 3, 1, 0, 0), 100.0),
        r(utc(2024, 3, 1, 0, 5), 101.5),
    ];
    let b = vec![r(utc(2024, 3, 1, 0, 0), 180.0)];
    let mut text = plain_csv::write(&a, Some("a"));
    // A second subject's rows appended without its header.
    text.push_str(
        plain_csv::write(&b, Some("b"))
            .split_once('\n')
            .map(|x| x.1)
            .unwrap_or(""),
    );
    let subjects = plain_csv::parse(&text, &ParseOptions::default()).unwrap();
    assert_eq!(
        subjects,
        vec![
            Subject {
                id: "a".into(),
                readings: a
            },
            Subject {
                id: "b".into(),
                readings: b
            }
        ]
    );
}
