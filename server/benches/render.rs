//! The report page's server-side work: from stored readings to the finished view with its SVG charts
//! (window query on SQLite, metrics, AGP, chart rendering), the chart rendering alone, and the one-page PDF
//! report (page SVG, then SVG → PDF with the embedded fonts).
//! Results and commands: docs/PERFORMANCE.md.

use chrono::{NaiveDate, TimeZone, Utc};
use cloudcgm::chart::{report_page_svg, PageHeader};
use cloudcgm::report::build_report;
use cloudcgm::{GlucoseUnit, Trace};
use cloudcgm_app::backend::Backend;
use cloudcgm_app::views::{PatientHeaderView, ReportQuery};
use cloudcgm_server::backend::AppBackend;
use cloudcgm_server::demo_seed::seed_demo;
use cloudcgm_server::report_pdf::report_pdf;
use cloudcgm_server::report_view::{to_view, ReportSubject};
use cloudcgm_server::store::sqlite::SqliteStore;
use cloudcgm_server::store::Store;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/bench.db?mode=rwc", dir.path().display());
    let store = rt.block_on(async {
        let s = SqliteStore::connect(&url).await.expect("store");
        seed_demo(&s, Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap())
            .await
            .expect("seed");
        Arc::new(s)
    });
    let james = rt
        .block_on(store.demo_patients())
        .expect("list")
        .into_iter()
        .find(|o| o.patient.demo_key.as_deref() == Some("james"))
        .expect("james");
    let backend = AppBackend::new(store.clone(), true);

    for days in [14u32, 90] {
        c.bench_function(&format!("report_view_from_sqlite_{days}d"), |b| {
            b.to_async(&rt).iter(|| async {
                let q = ReportQuery {
                    days: Some(days),
                    ..Default::default()
                };
                black_box(backend.report(james.patient.id.0, q).await.expect("report"))
            })
        });
    }

    let tz = james.patient.time_zone;
    let readings = rt
        .block_on(store.all_readings(james.patient.id))
        .expect("readings");
    let trace = Trace::new(readings);
    let window = cloudcgm::report::default_window(&trace, 14, tz).expect("window");
    let report = build_report(&trace, window, tz, GlucoseUnit::MgDl);
    c.bench_function("charts_and_view_only_14d", |b| {
        b.iter(|| {
            to_view(
                black_box(&report),
                ReportSubject {
                    header: PatientHeaderView {
                        id: 1,
                        name: "James Carter".into(),
                        birth_date: "1989-11-02".into(),
                        time_zone: tz.name().into(),
                        device: "CGM".into(),
                    },
                    preset: Some(14),
                    data_first_day: None,
                    data_last_day: None,
                    all_days: false,
                    base_path: "/patients/1/report".into(),
                    pdf_path: "/patients/1/report.pdf".into(),
                },
            )
        })
    });

    let header = PageHeader {
        patient_name: "James Carter".into(),
        birth_date: NaiveDate::from_ymd_opt(1989, 11, 2),
        generated_at: Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap(),
        source: "Demo data".into(),
    };
    c.bench_function("report_page_svg_14d", |b| {
        b.iter(|| report_page_svg(black_box(&report), &header))
    });
    c.bench_function("report_pdf_14d", |b| {
        b.iter(|| report_pdf(black_box(&report), &header).expect("pdf"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
