//! Cross-check of CloudCGM's metrics against iglu-python, an independent open implementation
//! (METRICS.md "Sources"). The reference values in tests/fixtures/iglu/expected.json were produced by
//! tests/fixtures/iglu/generate.py (the recipe; its header names the iglu-python version and explains which
//! definitions coincide) from iglu's own example data set, copied unchanged next to it.
//!
//! Where the definitions are identical (single 5-minute device, integer mg/dL so display rounding is a no-op,
//! iglu's "< 54", "< 70", "[70, 180]", "> 180", "> 250" edges equal ours on integers) the tolerance is
//! floating-point noise only: 1e-9 relative for mean/SD/CV/GMI/GRI and 1e-9 percentage points for ranges.

use chrono::NaiveDateTime;
use cloudcgm::agp::quantile_type7;
use cloudcgm::metrics::compute_metrics;
use cloudcgm::{DeviceId, GlucoseUnit, Reading, Trace, Window};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/iglu")
        .join(name)
}

/// Reads iglu's CSV (columns "", id, time, gl) into one trace per subject; times are treated as UTC.
fn traces(interval_s: u32) -> BTreeMap<String, (usize, Trace)> {
    let mut rdr =
        csv::Reader::from_path(fixture("example_data_5_subject.csv")).expect("fixture CSV opens");
    let headers = rdr.headers().expect("CSV has a header").clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("column {name} in {headers:?}"))
    };
    let (id_col, time_col, gl_col) = (col("id"), col("time"), col("gl"));
    let mut raw: BTreeMap<String, Vec<Reading>> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.expect("CSV record parses");
        let at = NaiveDateTime::parse_from_str(&rec[time_col], "%Y-%m-%d %H:%M:%S")
            .unwrap_or_else(|e| panic!("time {:?}: {e}", &rec[time_col]))
            .and_utc();
        let value: f64 = rec[gl_col].parse().expect("gl is a number");
        raw.entry(rec[id_col].to_string())
            .or_default()
            .push(Reading {
                at,
                value,
                unit: GlucoseUnit::MgDl,
                sentinel: None,
                device: DeviceId::new("cgm"),
                interval_s,
            });
    }
    raw.into_iter()
        .map(|(id, rs)| {
            let n = rs.len();
            (id, (n, Trace::new(rs)))
        })
        .collect()
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("expected.json exists");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number in {v}"))
}

fn assert_rel(what: &str, got: f64, want: f64) {
    let tol = 1e-9 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= tol,
        "{what}: CloudCGM {got} vs iglu {want}"
    );
}

fn assert_pp(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-9,
        "{what}: CloudCGM {got} % vs iglu {want} %"
    );
}

#[test]
fn metrics_of_the_five_iglu_example_subjects_match_iglu_python() {
    let exp = expected();
    let subjects = exp["subjects"].as_object().expect("subjects object");
    let interval_s = exp["interval_s"].as_u64().expect("interval_s") as u32;
    let traces = traces(interval_s);
    assert_eq!(subjects.len(), 5, "the fixture covers five subjects");
    assert_eq!(
        traces.keys().collect::<Vec<_>>(),
        subjects.keys().collect::<Vec<_>>()
    );

    for (id, e) in subjects {
        let (in_csv, trace) = &traces[id];
        assert_eq!(
            *in_csv as f64,
            num(e, "readings_in_csv"),
            "{id}: rows in the CSV"
        );
        // The generator applies METRICS.md's de-duplication before calling iglu; Trace must agree.
        assert_eq!(
            trace.len() as f64,
            num(e, "readings"),
            "{id}: readings after de-duplication"
        );

        let first = trace.first().expect("subject has readings");
        let last = trace.last().expect("subject has readings");
        assert_eq!(
            first.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            e["first"].as_str().unwrap_or("")
        );
        assert_eq!(
            last.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            e["last"].as_str().unwrap_or("")
        );
        let window = Window::new(
            first.at,
            last.at + chrono::Duration::seconds(i64::from(interval_s)),
        )
        .expect("non-empty window");
        let m = compute_metrics(trace.readings(), &window, chrono_tz::UTC, GlucoseUnit::MgDl);
        assert_eq!(
            m.readings,
            trace.len(),
            "{id}: every reading is inside the window"
        );

        assert_rel(&format!("{id} mean"), m.mean.expect("mean"), num(e, "mean"));
        assert_rel(&format!("{id} sd"), m.sd.expect("sd"), num(e, "sd"));
        assert_rel(&format!("{id} cv"), m.cv_percent.expect("cv"), num(e, "cv"));
        assert_rel(
            &format!("{id} gmi"),
            m.gmi_percent.expect("gmi"),
            num(e, "gmi"),
        );

        let r = m.ranges.expect("ranges");
        assert_pp(&format!("{id} very low"), r.very_low, num(e, "very_low"));
        assert_pp(&format!("{id} low"), r.low, num(e, "low"));
        assert_pp(&format!("{id} target"), r.target, num(e, "target"));
        assert_pp(&format!("{id} high"), r.high, num(e, "high"));
        assert_pp(&format!("{id} very high"), r.very_high, num(e, "very_high"));
        assert_pp(
            &format!("{id} titr"),
            m.titr_percent.expect("titr"),
            num(e, "titr"),
        );
        assert_rel(
            &format!("{id} gri"),
            m.gri.expect("gri").value,
            num(e, "gri"),
        );

        let mut values: Vec<f64> = trace.readings().iter().map(|r| r.value).collect();
        let mut first20: Vec<f64> = values.iter().take(20).copied().collect();
        values.sort_by(f64::total_cmp);
        first20.sort_by(f64::total_cmp);
        for (key, p) in [
            ("p5", 0.05),
            ("p25", 0.25),
            ("p50", 0.50),
            ("p75", 0.75),
            ("p95", 0.95),
        ] {
            let all = quantile_type7(&values, p).expect("non-empty");
            assert_rel(&format!("{id} {key}"), all, num(&e["quantiles"], key));
            let few = quantile_type7(&first20, p).expect("non-empty");
            assert_rel(
                &format!("{id} first 20 {key}"),
                few,
                num(&e["quantiles_first_20"], key),
            );
        }
    }
}

#[test]
fn the_cross_check_fixture_records_the_iglu_version_it_was_made_with() {
    let exp = expected();
    let v = exp["iglu_python_version"].as_str().unwrap_or("");
    assert!(!v.is_empty(), "expected.json names the iglu-python version");
    let script = std::fs::read_to_string(fixture("generate.py")).expect("generate.py exists");
    assert!(
        script.contains(&format!("iglu-python {v}")),
        "generate.py's header names iglu-python {v}"
    );
}
