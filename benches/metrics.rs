//! Core benchmarks: every metric + the AGP profile on a 90-day 5-minute trace (about 26,000 readings), the
//! whole report, and parsing the plain CSV of the CLI. Results and commands: docs/PERFORMANCE.md.

use chrono::{TimeZone, Utc};
use cloudcgm::agp::{agp_profile, AgpOptions};
use cloudcgm::demo::{demo_patients, generate, DemoProfile};
use cloudcgm::metrics::compute_metrics;
use cloudcgm::plain_csv::{parse, write, ParseOptions};
use cloudcgm::report::{build_report, default_window};
use cloudcgm::{GlucoseUnit, Trace};
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn ninety_day_trace() -> (Trace, chrono_tz::Tz) {
    let p = demo_patients()
        .into_iter()
        .find(|p| p.profile == DemoProfile::HighVariability)
        .expect("a 5-minute demo patient");
    let end = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    (Trace::new(generate(&p, end, 90, 1)), p.tz())
}

fn bench(c: &mut Criterion) {
    let (trace, tz) = ninety_day_trace();
    let window = default_window(&trace, 90, tz).expect("window");
    let readings = trace.in_window(&window);
    eprintln!("readings in the 90-day window: {}", readings.len());

    c.bench_function("metrics_and_agp_90d_5min", |b| {
        b.iter(|| {
            let m = compute_metrics(black_box(readings), &window, tz, GlucoseUnit::MgDl);
            let a = agp_profile(
                black_box(readings),
                tz,
                GlucoseUnit::MgDl,
                AgpOptions::default(),
            );
            (m, a)
        })
    });
    c.bench_function("build_report_90d_5min", |b| {
        b.iter(|| build_report(black_box(&trace), window, tz, GlucoseUnit::MgDl))
    });
    c.bench_function("trace_new_dedup_90d_5min", |b| {
        b.iter(|| Trace::new(black_box(trace.readings().to_vec())))
    });
    let csv = write(trace.readings(), None);
    let opts = ParseOptions::new(tz);
    c.bench_function("plain_csv_parse_90d_5min", |b| {
        b.iter(|| parse(black_box(&csv), &opts))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
