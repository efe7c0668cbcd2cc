//! Submission Bundle benchmarks (issue 5): build + serialise (`serde_json::to_vec`) of a 14-day summary with
//! its PDF report, and of 90 days of 5-minute raw readings (about 25,000 Observations, budget 100 ms in release),
//! both through `serde_json::Value` and as the bytes `build_submission_json` writes directly.
//! Results and commands: docs/PERFORMANCE.md.

use chrono::{Duration, TimeZone, Utc};
use cloudcgm::demo::{demo_patients, generate, DemoProfile};
use cloudcgm::fhir::{build_submission, build_submission_json, BundleInput, CgmProfile};
use cloudcgm::localtime::local_date;
use cloudcgm::{Trace, Window};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

/// About the size of a real two-page AGP PDF.
const PDF_BYTES: usize = 200_000;

fn build_and_serialise(input: &BundleInput) -> usize {
    build_submission(input)
        .iter()
        .map(|b| serde_json::to_vec(b).map_or(0, |v| v.len()))
        .sum()
}

/// The production path: the same bytes as [`build_and_serialise`], readings written straight as JSON.
fn json_bytes(input: &BundleInput) -> usize {
    build_submission_json(input).map_or(0, |bundles| bundles.iter().map(Vec::len).sum())
}

fn bench(c: &mut Criterion) {
    let p = demo_patients()
        .into_iter()
        .find(|p| p.profile == DemoProfile::HighVariability)
        .expect("a 5-minute demo patient");
    let tz = p.tz();
    let end = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let trace = Trace::new(generate(&p, end, 91, 1));
    let last_day = local_date(end - Duration::seconds(1), tz);
    let pdf: Vec<u8> = (0..PDF_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    let names = [(p.device_id(), p.device_model.display)];
    let base = BundleInput {
        subject: "Patient/ehr-123",
        trace: &trace,
        window: Window::last_days(last_day, 14, tz),
        tz,
        profiles: &[CgmProfile::SummaryPanel, CgmProfile::SummaryPdf],
        pdf: Some(&pdf),
        timestamp: end,
        max_entries: 100_000,
        device_names: &names,
    };
    let readings = BundleInput {
        window: Window::last_days(last_day, 90, tz),
        profiles: &[CgmProfile::SensorReadingMass],
        pdf: None,
        ..base
    };
    eprintln!(
        "readings in the 90-day window: {}; serialised bytes: summary {} , readings {}",
        trace.in_window(&readings.window).len(),
        build_and_serialise(&base),
        build_and_serialise(&readings)
    );

    c.bench_function("bundle_summary_pdf_14d_build_serialise", |b| {
        b.iter(|| build_and_serialise(black_box(&base)))
    });
    c.bench_function("bundle_summary_pdf_14d_json_bytes", |b| {
        b.iter(|| json_bytes(black_box(&base)))
    });
    let mut group = c.benchmark_group("bundle_readings");
    group.sample_size(20);
    group.bench_function("readings_90d_5min_json_bytes", |b| {
        b.iter(|| json_bytes(black_box(&readings)))
    });
    group.bench_function("readings_90d_5min_build_serialise", |b| {
        b.iter(|| build_and_serialise(black_box(&readings)))
    });
    // Where the time goes: building, serialising and freeing the ~2 million small allocations of the tree.
    group.bench_function("readings_90d_5min_build_only_drop_excluded", |b| {
        b.iter_with_large_drop(|| build_submission(black_box(&readings)))
    });
    let built = build_submission(&readings);
    group.bench_function("readings_90d_5min_serialise_only", |b| {
        b.iter(|| {
            built
                .iter()
                .map(|x| serde_json::to_vec(black_box(x)).map_or(0, |v| v.len()))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
