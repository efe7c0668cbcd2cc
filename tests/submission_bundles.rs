//! The submission Bundles CloudCGM would send for every demo patient (issue 5; SUB-2, NOTES A7, D5): a 14-day
//! summary with its PDF report per patient, 14 days of raw readings in mg/dL for one patient and in mmol/L for
//! another, chunked at 1,000 entries (small chunks so that chunking is exercised while the independent
//! validator, which takes seconds per thousand entries, stays quick; 90-day bundles are tested in the core). Each is written as pretty JSON to `$CARGO_TARGET_TMPDIR/cgm-bundles/`
//! (`{patient}-{kind}-{n}.json`) for the independent IG validator CI runs afterwards, and checked here: read back
//! from disk, every file is a transaction Bundle whose every entry our receiver's planner accepts.

use base64::Engine;
use chrono::{DateTime, Duration, TimeZone, Utc};
use cloudcgm::demo::{demo_patients, generate, DemoPatient};
use cloudcgm::fhir::codes::SUBMISSION_BUNDLE_PROFILE;
use cloudcgm::fhir::{build_submission, plan_submission, BundleInput, CgmProfile};
use cloudcgm::localtime::local_date;
use cloudcgm::{DeviceId, Trace, Window};
use serde_json::Value;
use std::path::{Path, PathBuf};

const MAX_ENTRIES: usize = 1_000;

fn end() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// The one-page "FHIR CGM!" PDF of the IG's example report, as the stand-in for a rendered report.
fn ig_example_pdf() -> Vec<u8> {
    let report: Value = serde_json::from_str(include_str!(
        "fixtures/ig/DiagnosticReport-cgmSummaryPDFExample.json"
    ))
    .unwrap();
    let data = report["presentedForm"][0]["data"].as_str().unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap()
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cgm-bundles");
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot clear {}: {e}", dir.display()),
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Written {
    path: PathBuf,
    readings: usize,
}

/// Builds the bundles for `profiles` over the last `days` local days and writes them as
/// `{patient}-{kind}-{n}.json`.
fn write_bundles(
    dir: &Path,
    p: &DemoPatient,
    kind: &str,
    days: u32,
    profiles: &[CgmProfile],
    pdf: Option<&[u8]>,
) -> Vec<Written> {
    let tz = p.tz();
    let trace = Trace::new(generate(p, end(), days + 1, 42));
    let window = Window::last_days(local_date(end() - Duration::seconds(1), tz), days, tz);
    let names: [(DeviceId, &str); 1] = [(p.device_id(), p.device_model.display)];
    let bundles = build_submission(&BundleInput {
        subject: &format!("Patient/{}", p.key),
        trace: &trace,
        window,
        tz,
        profiles,
        pdf,
        timestamp: end() + Duration::minutes(5),
        max_entries: MAX_ENTRIES,
        device_names: &names,
    });
    assert!(!bundles.is_empty(), "{} {kind}: nothing built", p.key);
    bundles
        .iter()
        .enumerate()
        .map(|(n, bundle)| {
            let path = dir.join(format!("{}-{kind}-{}.json", p.key, n + 1));
            std::fs::write(&path, serde_json::to_vec_pretty(bundle).unwrap()).unwrap();
            Written {
                path,
                readings: trace.in_window(&window).len(),
            }
        })
        .collect()
}

fn is_reading(entry: &Value) -> bool {
    entry["resource"].get("effectiveDateTime").is_some()
}

#[test]
fn every_demo_patients_bundles_are_written_and_fully_accepted_by_the_receiver_planner() {
    let dir = out_dir();
    let pdf = ig_example_pdf();
    let patients = demo_patients();
    let mut written = Vec::new();
    for p in &patients {
        let summary = write_bundles(
            &dir,
            p,
            "summary-pdf-14d",
            14,
            &[CgmProfile::SummaryPanel, CgmProfile::SummaryPdf],
            Some(&pdf),
        );
        assert_eq!(summary.len(), 1, "{}: a summary group is one bundle", p.key);
        written.extend(summary);
    }
    let by_key = |key: &str| patients.iter().find(|p| p.key == key).unwrap();
    let mut reading_sets = Vec::new();
    for (key, kind, profile) in [
        ("james", "readings-mgdl-14d", CgmProfile::SensorReadingMass),
        (
            "elena",
            "readings-mmoll-14d",
            CgmProfile::SensorReadingMolar,
        ),
    ] {
        let files = write_bundles(&dir, by_key(key), kind, 14, &[profile], None);
        reading_sets.push((key, files.len(), files[0].readings));
        written.extend(files);
    }

    let mut readings_seen = std::collections::HashMap::<String, usize>::new();
    for file in &written {
        let name = file.path.file_name().unwrap().to_string_lossy().to_string();
        let bundle: Value = serde_json::from_slice(&std::fs::read(&file.path).unwrap()).unwrap();
        assert_eq!(bundle["type"], "transaction", "{name}");
        assert_eq!(
            bundle["meta"]["profile"][0], SUBMISSION_BUNDLE_PROFILE,
            "{name}"
        );
        let entries = bundle["entry"].as_array().unwrap();
        assert!(
            !entries.is_empty() && entries.len() <= MAX_ENTRIES,
            "{name}: {}",
            entries.len()
        );
        let plan = plan_submission(&bundle).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        for entry in &plan.entries {
            assert!(
                entry.verdict.is_accept() && entry.verdict.issues().is_empty(),
                "{name} entry {}: {:?}",
                entry.index,
                entry.verdict
            );
        }
        let patient = name.split('-').next().unwrap().to_string();
        *readings_seen.entry(patient).or_default() +=
            entries.iter().filter(|e| is_reading(e)).count();
    }
    // 14 days of 5-minute readings need several chunks; every reading of the window is sent exactly once.
    for (key, files, readings) in reading_sets {
        assert_eq!(readings_seen[key], readings, "{key}");
        assert!(files > 1 || readings < MAX_ENTRIES, "{key}");
    }
    assert!(readings_seen["james"] > 3_500);
}
