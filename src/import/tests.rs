//! Importer tests on the real sample files of `tests/fixtures/import/` (provenance in its README), plus
//! small files built from their real headers for the cases the samples do not show.

use super::*;
use crate::reading::Sentinel;
use crate::units::GlucoseUnit;
use chrono::{Duration, TimeZone};
use chrono_tz::{America, Europe};

const DEXCOM_MGDL: &str =
    include_str!("../../tests/fixtures/import/dexcom_clarity_g6_mgdl__cgmquantify_test_file.csv");
const DEXCOM_MMOL: &str = include_str!(
    "../../tests/fixtures/import/dexcom_clarity_g6_mmol__diametrics_dexcom_eur_01.converted.csv"
);
const LIBRE_US: &str = include_str!(
    "../../tests/fixtures/import/libreview_librepro_mgdl_us__diametrics_libre_amer_01.csv"
);
const NS_LEGACY: &str =
    include_str!("../../tests/fixtures/import/nightscout_entries_v1__legacy_example.json");
const NS_LOOP: &str =
    include_str!("../../tests/fixtures/import/nightscout_entries_v1__loop_captured_excerpt.json");
const NS_OPENAPS: &str = include_str!(
    "../../tests/fixtures/import/nightscout_entries_shape__openaps_glucose_zoned_merge.json"
);

/// The real 12-column Clarity header (first line of the mg/dL sample, BOM included).
fn dexcom_header() -> &'static str {
    DEXCOM_MGDL.lines().next().unwrap()
}

/// The real preamble and header of the LibreView sample (lines 1–3).
fn libre_head() -> String {
    LIBRE_US.lines().take(3).map(|l| format!("{l}\n")).collect()
}

/// A LibreView row with the sample's 19 columns.
fn libre_row(
    device: &str,
    serial: &str,
    ts: &str,
    record_type: u32,
    historic: &str,
    scan: &str,
) -> String {
    format!("{device},{serial},{ts},{record_type},{historic},{scan},,,,,,,,,,,,,\n")
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn opts(tz: Tz) -> ImportOptions {
    ImportOptions::new(tz)
}

fn count(import: &Import, reason: SkipReason) -> usize {
    import.skipped_count(|r| *r == reason)
}

// ---------------------------------------------------------------- Dexcom Clarity

#[test]
fn the_dexcom_mg_dl_export_gives_every_egv_row_and_skips_the_eleven_metadata_rows() {
    let im = dexcom::parse(DEXCOM_MGDL, &opts(America::New_York)).unwrap();
    assert_eq!(im.format, Format::DexcomClarity);
    assert_eq!(im.readings.len(), 2_148);
    assert_eq!(im.skipped.len(), 11);
    assert_eq!(
        im.skipped_count(
            |r| matches!(r, SkipReason::NotEgv { event_type } if event_type == "Alert")
        ),
        7
    );
    assert_eq!(im.skipped[0].at, Location::Line(2));
    assert!(im.readings.iter().all(|r| r.unit == GlucoseUnit::MgDl
        && r.interval_s == 300
        && r.sentinel.is_none()
        && r.device.0 == "dexcom:iPhone G6"));
    assert_eq!(
        im.devices,
        vec![ImportedDevice {
            id: DeviceId::new("dexcom:iPhone G6"),
            name: "Dexcom G6 Mobile App".to_string(),
            interval_s: 300,
        }]
    );
    // 2016-10-24T11:24:17 and 2016-11-01T09:19:02 New York daylight time (UTC−4).
    assert_eq!(im.readings[0].at, utc(2016, 10, 24, 15, 24, 17));
    assert_eq!(im.readings[0].value, 103.0);
    assert_eq!(im.readings.last().unwrap().at, utc(2016, 11, 1, 13, 19, 2));
    assert_eq!(im.readings.last().unwrap().value, 108.0);
}

#[test]
fn the_dexcom_mmol_export_keeps_27_high_and_2_low_sentinels_at_the_core_bounds() {
    let im = dexcom::parse(DEXCOM_MMOL, &opts(Europe::Berlin)).unwrap();
    assert_eq!(im.readings.len(), 3_853);
    assert_eq!(im.skipped.len(), 12, "12 metadata rows in this variant");
    let high: Vec<&Reading> = im
        .readings
        .iter()
        .filter(|r| r.sentinel == Some(Sentinel::High))
        .collect();
    let low: Vec<&Reading> = im
        .readings
        .iter()
        .filter(|r| r.sentinel == Some(Sentinel::Low))
        .collect();
    assert_eq!((high.len(), low.len()), (27, 2));
    assert!(high.iter().all(|r| r.value == 22.3));
    assert!(low.iter().all(|r| r.value == 2.2));
    assert!(im.readings.iter().all(|r| r.unit == GlucoseUnit::MmolL));
    // The 14-column variant names the transmitter: that is the device.
    assert_eq!(im.devices.len(), 1);
    assert_eq!(im.devices[0].id, DeviceId::new("dexcom:xxx"));
    assert_eq!(im.devices[0].name, "Dexcom G6 Mobile App");
    // 2023-03-08T00:04:00 and 2023-03-21T15:29:27 Berlin winter time (UTC+1).
    assert_eq!(im.readings[0].at, utc(2023, 3, 7, 23, 4, 0));
    assert_eq!(im.readings[0].value, 6.4);
    assert_eq!(im.readings.last().unwrap().at, utc(2023, 3, 21, 14, 29, 27));
}

#[test]
fn importing_the_same_file_twice_gives_identical_readings_and_devices() {
    let a = dexcom::parse(DEXCOM_MMOL, &opts(Europe::Berlin)).unwrap();
    let b = dexcom::parse(DEXCOM_MMOL, &opts(Europe::Berlin)).unwrap();
    assert_eq!(a, b);
    let a = libreview::parse(LIBRE_US, &opts(America::New_York)).unwrap();
    let b = libreview::parse(LIBRE_US, &opts(America::New_York)).unwrap();
    assert_eq!(a, b);
    assert_eq!(
        nightscout::parse(NS_LOOP).unwrap(),
        nightscout::parse(NS_LOOP).unwrap()
    );
}

#[test]
fn an_excel_resaved_dexcom_timestamp_with_a_one_digit_hour_is_read() {
    let input = format!(
        "{}\n1,,Device,,,Dexcom G6 Mobile App,iPhone G6,,,,,\n2,2025-05-01 0:01:47,EGV,,,,iPhone G6,120,,,,\n3,2025-05-01 0:06:47,EGV,,,,iPhone G6,Low,,,,\n",
        dexcom_header()
    );
    let im = dexcom::parse(&input, &opts(Europe::Berlin)).unwrap();
    assert_eq!(im.readings.len(), 2);
    assert_eq!(im.readings[0].at, utc(2025, 4, 30, 22, 1, 47));
    assert_eq!(
        (im.readings[1].value, im.readings[1].sentinel),
        (39.0, Some(Sentinel::Low))
    );
}

#[test]
fn dexcom_local_times_through_the_repeated_autumn_hour_stay_five_minutes_apart() {
    let mut input = format!("{}\n", dexcom_header());
    // 01:50 … 02:55 twice … 03:10 local on the night Berlin goes from CEST to CET.
    let mut stamps = vec!["01:50".to_string(), "01:55".to_string()];
    for _ in 0..2 {
        for m in (0..60).step_by(5) {
            stamps.push(format!("02:{m:02}"));
        }
    }
    stamps.extend(["03:00", "03:05", "03:10"].map(String::from));
    for (i, hm) in stamps.iter().enumerate() {
        input.push_str(&format!(
            "{},2024-10-27T{hm}:00,EGV,,,,iPhone G6,100,,,,\n",
            i + 1
        ));
    }
    let im = dexcom::parse(&input, &opts(Europe::Berlin)).unwrap();
    assert_eq!(im.readings.len(), stamps.len());
    assert_eq!(im.readings[0].at, utc(2024, 10, 26, 23, 50, 0));
    for w in im.readings.windows(2) {
        assert_eq!(w[1].at - w[0].at, Duration::minutes(5));
    }
    assert_eq!(im.readings.last().unwrap().at, utc(2024, 10, 27, 2, 10, 0));
}

#[test]
fn a_dexcom_local_time_in_the_skipped_spring_hour_moves_forward() {
    let input = format!(
        "{}\n1,2024-03-31T01:55:00,EGV,,,,iPhone G6,100,,,,\n2,2024-03-31T02:00:00,EGV,,,,iPhone G6,101,,,,\n3,2024-03-31T03:05:00,EGV,,,,iPhone G6,102,,,,\n",
        dexcom_header()
    );
    let im = dexcom::parse(&input, &opts(Europe::Berlin)).unwrap();
    let times: Vec<DateTime<Utc>> = im.readings.iter().map(|r| r.at).collect();
    assert_eq!(
        times,
        vec![
            utc(2024, 3, 31, 0, 55, 0),
            utc(2024, 3, 31, 1, 0, 0),
            utc(2024, 3, 31, 1, 5, 0)
        ]
    );
}

#[test]
fn two_transmitters_in_one_dexcom_export_are_two_devices() {
    let header = DEXCOM_MMOL.lines().next().unwrap();
    let input = format!(
        "{header}\n1,2023-03-08T00:04:00,EGV,,,,iPhone G6,6.4,,,,,1608674,8AAAAA\n2,2023-03-08T00:09:00,EGV,,,,iPhone G6,6.5,,,,,10,8BBBBB\n"
    );
    let im = dexcom::parse(&input, &opts(Europe::Berlin)).unwrap();
    let ids: Vec<&str> = im.devices.iter().map(|d| d.id.0.as_str()).collect();
    assert_eq!(ids, vec!["dexcom:8AAAAA", "dexcom:8BBBBB"]);
    assert_eq!(
        im.devices[0].name, "iPhone G6",
        "no Device row: the source device names it"
    );
}

#[test]
fn a_libreview_file_given_to_the_dexcom_importer_says_it_looks_like_libreview() {
    let e = dexcom::parse(LIBRE_US, &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(
        e.kind,
        ImportErrorKind::WrongFormat {
            expected: Format::DexcomClarity,
            looks_like: Format::LibreView
        }
    );
    assert!(
        e.to_string()
            .starts_with("this looks like a LibreView export, not Dexcom Clarity"),
        "{e}"
    );
    let e = dexcom::parse(NS_LOOP, &opts(Europe::Berlin)).unwrap_err();
    assert!(
        e.to_string().contains("looks like a Nightscout export"),
        "{e}"
    );
}

#[test]
fn an_empty_dexcom_file_is_a_clear_error() {
    for input in ["", "\u{feff}", " \n\r\n"] {
        let e = dexcom::parse(input, &opts(Europe::Berlin)).unwrap_err();
        assert_eq!(e, ImportError::new(None, ImportErrorKind::Empty));
        assert_eq!(e.to_string(), "the file is empty");
    }
}

#[test]
fn a_dexcom_header_without_rows_imports_nothing() {
    let im = dexcom::parse(dexcom_header(), &opts(Europe::Berlin)).unwrap();
    assert!(im.readings.is_empty() && im.devices.is_empty() && im.skipped.is_empty());
}

#[test]
fn a_csv_without_the_clarity_header_is_missing_its_header() {
    let e = dexcom::parse("a,b,c\n1,2,3\n", &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(e.line_number(), Some(1));
    assert!(matches!(
        e.kind,
        ImportErrorKind::MissingHeader {
            expected: Format::DexcomClarity,
            ..
        }
    ));
}

#[test]
fn a_bad_dexcom_timestamp_names_its_line_and_text() {
    let input = format!(
        "{}\n1,,FirstName,,Joe,,,,,,,\n2,2016-10-24T11:24:17,EGV,,,,iPhone G6,103,,,,\n3,2016-13-24T11:29:17,EGV,,,,iPhone G6,102,,,,\n",
        dexcom_header()
    );
    let e = dexcom::parse(&input, &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(e.line_number(), Some(4));
    assert!(
        matches!(&e.kind, ImportErrorKind::BadTimestamp { text, .. } if text == "2016-13-24T11:29:17")
    );
    assert!(
        e.to_string()
            .starts_with("line 4: timestamp \"2016-13-24T11:29:17\" is not a date-time"),
        "{e}"
    );
}

#[test]
fn a_bad_dexcom_glucose_value_names_its_line_column_and_text() {
    let input = format!(
        "{}\n\n1,2016-10-24T11:24:17,EGV,,,,iPhone G6,1o3,,,,\n",
        dexcom_header()
    );
    let e = dexcom::parse(&input, &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3: Glucose Value (mg/dL) \"1o3\" is not a valid value"
    );
}

// ---------------------------------------------------------------- LibreView

#[test]
fn the_libreview_us_export_gives_14_days_of_15_minute_historic_readings() {
    let im = libreview::parse(LIBRE_US, &opts(America::New_York)).unwrap();
    assert_eq!(im.format, Format::LibreView);
    assert_eq!(im.readings.len(), 1_339);
    assert!(im.scans.is_empty() && im.skipped.is_empty());
    assert_eq!(
        im.devices,
        vec![ImportedDevice {
            id: DeviceId::new("libre:xxxx"),
            name: "FreeStyle Libre Pro".to_string(),
            interval_s: 900,
        }]
    );
    assert!(im
        .readings
        .iter()
        .all(|r| r.interval_s == 900 && r.unit == GlucoseUnit::MgDl));
    // 03-20-2021 05:38 PM and 04-03-2021 04:08 PM New York daylight time (UTC−4).
    let first = im.readings[0].at;
    let last = im.readings.last().unwrap().at;
    assert_eq!(first, utc(2021, 3, 20, 21, 38, 0));
    assert_eq!(im.readings[0].value, 127.0);
    assert_eq!(last, utc(2021, 4, 3, 20, 8, 0));
    assert_eq!((last - first).num_minutes(), 1_338 * 15, "no gaps: 14 days");
}

#[test]
fn libreview_scans_are_kept_apart_and_other_record_types_are_skipped_with_their_type() {
    let mut input = libre_head();
    input += &libre_row(
        "FreeStyle Libre Pro",
        "xxxx",
        "03-20-2021 05:38 PM",
        0,
        "127",
        "",
    );
    input += &libre_row(
        "FreeStyle Libre Pro",
        "xxxx",
        "03-20-2021 05:45 PM",
        1,
        "",
        "130",
    );
    input += &libre_row(
        "FreeStyle Libre Pro",
        "xxxx",
        "03-20-2021 05:53 PM",
        0,
        "124",
        "",
    );
    input += &libre_row(
        "FreeStyle Libre Pro",
        "xxxx",
        "03-20-2021 06:00 PM",
        2,
        "",
        "",
    );
    input += &libre_row(
        "FreeStyle Libre Pro",
        "xxxx",
        "03-20-2021 06:01 PM",
        6,
        "",
        "",
    );
    input += &libre_row(
        "FreeStyle Libre Pro",
        "xxxx",
        "03-20-2021 06:08 PM",
        0,
        "",
        "",
    );
    let im = libreview::parse(&input, &opts(America::New_York)).unwrap();
    assert_eq!(im.readings.len(), 2);
    assert_eq!(im.scans.len(), 1);
    assert_eq!(
        (im.scans[0].at, im.scans[0].value, im.scans[0].interval_s),
        (utc(2021, 3, 20, 21, 45, 0), 130.0, 0)
    );
    assert_eq!(count(&im, SkipReason::Scan), 1);
    assert_eq!(count(&im, SkipReason::RecordType(2)), 1);
    assert_eq!(count(&im, SkipReason::RecordType(6)), 1);
    assert_eq!(count(&im, SkipReason::NoValue), 1);
    assert_eq!(im.skipped[1].at, Location::Line(7));
}

#[test]
fn european_slash_and_iso_libreview_timestamps_in_mmol_with_one_preamble_line_are_read() {
    let header = LIBRE_US.lines().nth(2).unwrap().replace("mg/dL", "mmol/L");
    for (a, b) in [
        ("20-03-2021 17:38", "20-03-2021 17:53"),
        ("20/03/2021 17:38", "20/03/2021 17:53"),
        ("2021-03-20 17:38", "2021-03-20 17:53"),
    ] {
        let input = format!(
            "Glucose Data,Generated on,2021-04-26\n{header}\n{}{}",
            libre_row("FreeStyle Libre 2", "AB12", a, 0, "7.1", ""),
            libre_row("FreeStyle Libre 2", "AB12", b, 0, "6.9", "")
        );
        let im = libreview::parse(&input, &opts(Europe::Berlin)).unwrap();
        assert_eq!(im.readings.len(), 2, "{a}");
        assert_eq!(im.readings[0].at, utc(2021, 3, 20, 16, 38, 0), "{a}");
        assert_eq!(im.readings[0].unit, GlucoseUnit::MmolL);
        assert_eq!(im.readings[1].value, 6.9);
    }
}

#[test]
fn ambiguous_libreview_dates_ask_for_the_order_unless_it_is_given() {
    let input = format!(
        "{}{}",
        libre_head(),
        libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            "03-04-2021 05:38 PM",
            0,
            "127",
            ""
        )
    );
    let e = libreview::parse(&input, &opts(America::New_York)).unwrap_err();
    assert_eq!(e.line_number(), Some(4));
    assert_eq!(
        e.kind,
        ImportErrorKind::AmbiguousDateOrder {
            example: "03-04-2021 05:38 PM".to_string()
        }
    );
    assert!(e.to_string().contains("choose the date order"), "{e}");
    let day_first = ImportOptions {
        date_order: Some(DateOrder::DayFirst),
        ..opts(Europe::Berlin)
    };
    let im = libreview::parse(&input, &day_first).unwrap();
    assert_eq!(
        im.readings[0].at,
        utc(2021, 4, 3, 15, 38, 0),
        "3 April, CEST"
    );
    let month_first = ImportOptions {
        date_order: Some(DateOrder::MonthFirst),
        ..opts(Europe::Berlin)
    };
    let im = libreview::parse(&input, &month_first).unwrap();
    assert_eq!(
        im.readings[0].at,
        utc(2021, 3, 4, 16, 38, 0),
        "4 March, CET"
    );
}

#[test]
fn libreview_dates_that_contradict_each_other_are_rejected() {
    let input = format!(
        "{}{}{}",
        libre_head(),
        libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            "13-04-2021 05:38",
            0,
            "127",
            ""
        ),
        libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            "04-13-2021 05:53",
            0,
            "127",
            ""
        )
    );
    let e = libreview::parse(&input, &opts(Europe::Berlin)).unwrap_err();
    assert!(
        matches!(e.kind, ImportErrorKind::InconsistentDateOrder { .. }),
        "{e}"
    );
}

#[test]
fn several_libreview_devices_get_their_own_interval_from_their_spacing() {
    let mut input = libre_head();
    for (i, m) in [0, 5, 10, 15].iter().enumerate() {
        input += &libre_row(
            "FreeStyle Libre 3",
            "L3",
            &format!("03-20-2021 06:{m:02} PM"),
            0,
            &format!("{}", 100 + i),
            "",
        );
    }
    for m in [0, 15, 30] {
        input += &libre_row(
            "FreeStyle Libre 2",
            "L2",
            &format!("03-20-2021 07:{m:02} PM"),
            0,
            "150",
            "",
        );
    }
    input += &libre_row(
        "FreeStyle Libre 3",
        "L3b",
        "03-20-2021 08:00 PM",
        0,
        "99",
        "",
    );
    let im = libreview::parse(&input, &opts(America::New_York)).unwrap();
    let got: Vec<(&str, u32)> = im
        .devices
        .iter()
        .map(|d| (d.id.0.as_str(), d.interval_s))
        .collect();
    assert_eq!(
        got,
        vec![("libre:L2", 900), ("libre:L3", 300), ("libre:L3b", 300)],
        "a single Libre 3 reading falls back on the name"
    );
    assert_eq!(im.readings.len(), 8);
}

#[test]
fn a_newest_first_libreview_file_through_the_repeated_hour_keeps_both_passes() {
    // New York falls back from EDT to EST at 02:00 on 2021-11-07: 01:00–01:59 happens twice.
    let local = [
        "12:45 AM", "01:00 AM", "01:15 AM", "01:30 AM", "01:45 AM", "01:00 AM", "01:15 AM",
        "01:30 AM", "01:45 AM", "02:00 AM",
    ];
    let mut input = libre_head();
    for hm in local.iter().rev() {
        input += &libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            &format!("11-07-2021 {hm}"),
            0,
            "100",
            "",
        );
    }
    // 11-07 alone could be either order: the test says which.
    let us = ImportOptions {
        date_order: Some(DateOrder::MonthFirst),
        ..opts(America::New_York)
    };
    let im = libreview::parse(&input, &us).unwrap();
    assert_eq!(im.readings.len(), 10);
    assert_eq!(im.readings[0].at, utc(2021, 11, 7, 4, 45, 0));
    for w in im.readings.windows(2) {
        assert_eq!(w[1].at - w[0].at, Duration::minutes(15));
    }
}

#[test]
fn a_dexcom_or_nightscout_file_given_to_the_libreview_importer_says_what_it_is() {
    let e = libreview::parse(DEXCOM_MGDL, &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "this looks like a Dexcom Clarity export, not LibreView: choose Dexcom Clarity as the format"
    );
    let e = libreview::parse(NS_LEGACY, &opts(Europe::Berlin)).unwrap_err();
    assert!(matches!(
        e.kind,
        ImportErrorKind::WrongFormat {
            looks_like: Format::Nightscout,
            ..
        }
    ));
}

#[test]
fn an_empty_or_headerless_libreview_file_is_a_clear_error() {
    let e = libreview::parse("\u{feff}\n", &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(e.kind, ImportErrorKind::Empty);
    let e = libreview::parse(
        "Patient report,Generated on,04-26-2021 05:25 PM UTC\nxxxx,xxxx\n",
        &opts(Europe::Berlin),
    )
    .unwrap_err();
    assert!(matches!(
        e.kind,
        ImportErrorKind::MissingHeader {
            expected: Format::LibreView,
            ..
        }
    ));
    let im = libreview::parse(&libre_head(), &opts(Europe::Berlin)).unwrap();
    assert!(im.readings.is_empty() && im.devices.is_empty());
}

#[test]
fn a_bad_libreview_timestamp_or_value_names_its_line() {
    let input = format!(
        "{}{}{}",
        libre_head(),
        libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            "03-20-2021 05:38 PM",
            0,
            "127",
            ""
        ),
        libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            "03-20-2021 17:38 PM",
            0,
            "127",
            ""
        )
    );
    let e = libreview::parse(&input, &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(e.line_number(), Some(5));
    assert!(
        matches!(&e.kind, ImportErrorKind::BadTimestamp { text, .. } if text == "03-20-2021 17:38 PM")
    );
    let input = format!(
        "{}{}",
        libre_head(),
        libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            "03-20-2021 05:38 PM",
            0,
            "12x",
            ""
        )
    );
    let e = libreview::parse(&input, &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 4: Historic Glucose mg/dL \"12x\" is not a valid value"
    );
    // A date that exists in neither order is reported once the order is known.
    let input = format!(
        "{}{}",
        libre_head(),
        libre_row(
            "FreeStyle Libre Pro",
            "xxxx",
            "02-30-2021 05:38 PM",
            0,
            "127",
            ""
        )
    );
    let e = libreview::parse(&input, &opts(Europe::Berlin)).unwrap_err();
    assert_eq!(e.line_number(), Some(4));
    assert!(
        matches!(e.kind, ImportErrorKind::BadTimestamp { .. }),
        "{e}"
    );
}

// ---------------------------------------------------------------- Nightscout

#[test]
fn the_legacy_nightscout_entries_drop_12_error_code_rows_and_read_string_sgvs() {
    let im = nightscout::parse(NS_LEGACY).unwrap();
    assert_eq!(im.format, Format::Nightscout);
    assert_eq!(im.readings.len(), 18);
    assert_eq!(count(&im, SkipReason::ErrorCode(5)), 12);
    assert_eq!(im.skipped.len(), 12);
    assert_eq!(im.skipped[0].at, Location::Entry(1));
    assert_eq!(im.readings[0].at, utc(2014, 7, 19, 9, 34, 15));
    assert_eq!(im.readings[0].value, 169.0);
    assert_eq!(im.readings.last().unwrap().at, utc(2014, 7, 19, 10, 59, 15));
    assert_eq!(im.readings.last().unwrap().value, 178.0);
    assert!(im
        .readings
        .iter()
        .all(|r| r.unit == GlucoseUnit::MgDl && r.device.0 == "nightscout:dexcom"));
    assert_eq!(im.devices[0].interval_s, 300);
}

#[test]
fn the_loop_excerpts_duplicate_uploads_a_second_apart_collapse_to_one_reading() {
    let im = nightscout::parse(NS_LOOP).unwrap();
    assert_eq!(im.readings.len(), 8);
    assert_eq!(count(&im, SkipReason::Duplicate), 2);
    // The earlier upload of each pair is kept: 19:29:59.372 and 19:54:59.372 from com.dexcom.G6.
    let kept_at = |ms: i64| im.readings.iter().find(|r| r.at.timestamp_millis() == ms);
    assert_eq!(
        kept_at(1_778_268_599_372).unwrap().device.0,
        "nightscout:com.dexcom.G6"
    );
    assert!(kept_at(1_778_268_600_400).is_none());
    assert_eq!(
        im.skipped,
        vec![
            Skipped {
                at: Location::Entry(6),
                reason: SkipReason::Duplicate
            },
            Skipped {
                at: Location::Entry(9),
                reason: SkipReason::Duplicate
            },
        ]
    );
    // A fractional date is rounded to the millisecond.
    assert!(kept_at(1_778_284_500_106).is_some());
    assert_eq!(im.readings[0].at.timestamp_millis(), 1_778_268_599_372);
    assert_eq!(im.readings.last().unwrap().at, utc(2026, 5, 9, 0, 0, 0));
    let ids: Vec<&str> = im.devices.iter().map(|d| d.id.0.as_str()).collect();
    assert_eq!(
        ids,
        vec!["nightscout:Dexcom G6 SERIAL", "nightscout:com.dexcom.G6"]
    );
}

#[test]
fn openaps_entries_use_date_not_the_zoned_date_string() {
    let im = nightscout::parse(NS_OPENAPS).unwrap();
    assert_eq!(im.readings.len(), 4);
    assert_eq!(
        im.readings.last().unwrap().at,
        utc(2016, 10, 23, 18, 33, 36)
    );
    assert_eq!(
        im.devices[0].id,
        DeviceId::new("nightscout:openaps://indy-e1/cgm")
    );
}

#[test]
fn nightscout_39_is_a_low_sentinel_and_other_entry_types_are_skipped() {
    let input = r#"[
        {"type":"sgv","sgv":39,"date":1700000600000,"device":"xDrip"},
        {"type":"sgv","sgv":"12","date":1700000300000,"device":"xDrip"},
        {"type":"mbg","mbg":120,"date":1700000250000},
        {"type":"sgv","sgv":420,"dateString":"2023-11-14T22:08:20Z"}
    ]"#;
    let im = nightscout::parse(input).unwrap();
    assert_eq!(im.readings.len(), 2);
    assert_eq!(im.readings[0].at, utc(2023, 11, 14, 22, 8, 20));
    assert_eq!(
        (im.readings[0].value, im.readings[0].sentinel),
        (420.0, None)
    );
    assert_eq!(im.readings[0].device.0, "nightscout:unknown");
    assert_eq!(
        (im.readings[1].value, im.readings[1].sentinel),
        (39.0, Some(Sentinel::Low))
    );
    assert_eq!(count(&im, SkipReason::ErrorCode(12)), 1);
    assert_eq!(
        count(
            &im,
            SkipReason::NotSgv {
                entry_type: "mbg".to_string()
            }
        ),
        1
    );
}

#[test]
fn broken_nightscout_json_and_entries_say_where() {
    assert_eq!(
        nightscout::parse("").unwrap_err().kind,
        ImportErrorKind::Empty
    );
    let e = nightscout::parse("[\n {\"type\":\"sgv\",\n \"sgv\": 100,,\n}]").unwrap_err();
    assert_eq!(e.line_number(), Some(3));
    assert!(matches!(e.kind, ImportErrorKind::Syntax { .. }));
    let e = nightscout::parse(r#"{"status":200}"#).unwrap_err();
    assert!(
        matches!(e.kind, ImportErrorKind::MissingHeader { .. }),
        "{e}"
    );
    let e = nightscout::parse(
        r#"[{"type":"sgv","sgv":100,"date":1},{"type":"sgv","sgv":"abc","date":2}]"#,
    )
    .unwrap_err();
    assert_eq!(e.at, Some(Location::Entry(2)));
    assert_eq!(
        e.to_string(),
        "entry 2: sgv \"\\\"abc\\\"\" is not a valid value"
    );
    let e =
        nightscout::parse(r#"[{"type":"sgv","sgv":100,"dateString":"07/19/2014 10:49:15 AM"}]"#)
            .unwrap_err();
    assert_eq!(e.at, Some(Location::Entry(1)));
    assert!(
        matches!(e.kind, ImportErrorKind::BadTimestamp { .. }),
        "{e}"
    );
    let e = nightscout::parse(DEXCOM_MGDL).unwrap_err();
    assert!(matches!(
        e.kind,
        ImportErrorKind::WrongFormat {
            looks_like: Format::DexcomClarity,
            ..
        }
    ));
}

#[test]
fn an_empty_nightscout_array_imports_nothing() {
    let im = nightscout::parse("[]").unwrap();
    assert!(im.readings.is_empty() && im.devices.is_empty() && im.skipped.is_empty());
}

// ---------------------------------------------------------------- detection

#[test]
fn detect_names_each_sample_format() {
    assert_eq!(detect(DEXCOM_MGDL), Some(Format::DexcomClarity));
    assert_eq!(detect(DEXCOM_MMOL), Some(Format::DexcomClarity));
    assert_eq!(detect(LIBRE_US), Some(Format::LibreView));
    assert_eq!(detect(NS_LEGACY), Some(Format::Nightscout));
    assert_eq!(detect("time,glucose,unit\n"), Some(Format::PlainCsv));
    assert_eq!(detect("hello\n"), None);
    let e = import(LIBRE_US, Format::DexcomClarity, &opts(Europe::Berlin)).unwrap_err();
    assert!(matches!(e.kind, ImportErrorKind::WrongFormat { .. }));
}

#[test]
fn the_plain_csv_imports_as_one_patient_and_several_subjects_are_refused() {
    let im = import(
        "time,glucose,unit\n2024-03-01 08:05:00,Low,mg/dL\n2024-03-01T07:00:00Z,100,mg/dL\n",
        Format::PlainCsv,
        &opts(Europe::Berlin),
    )
    .unwrap();
    assert_eq!(im.readings.len(), 2);
    assert_eq!(im.readings[1].at, utc(2024, 3, 1, 7, 5, 0));
    assert_eq!(im.readings[1].sentinel, Some(Sentinel::Low));
    assert_eq!(im.devices[0].id, DeviceId::new("default"));
    let e = import(
        "time,glucose,unit\n2024-03-01T07:00:00Z,abc,mg/dL\n",
        Format::PlainCsv,
        &opts(Europe::Berlin),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2: glucose \"abc\" is not a number (expected a number, Low or High)"
    );
    let e = import(
        "id,time,glucose,unit\na,2024-03-01T07:00:00Z,1,mg/dL\nb,2024-03-01T07:00:00Z,1,mg/dL\n",
        Format::PlainCsv,
        &opts(Europe::Berlin),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("import one patient at a time"),
        "{e}"
    );
    let e = import(DEXCOM_MGDL, Format::PlainCsv, &opts(Europe::Berlin)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("this looks like a Dexcom Clarity export, not CloudCGM plain CSV"),
        "{e}"
    );
}
