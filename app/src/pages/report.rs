//! The AGP report page (METRICS.md "AGP"): patient header, window and units controls, data-sufficiency
//! warning, metrics with goals, time-in-ranges bar, AGP chart, event counts and daily profiles. Charts are SVG
//! drawn on the server; each has a table alternative for screen readers and for checking the numbers.

use crate::api::get_report;
use crate::components::error_box::{error_message, ErrorBox};
use crate::components::metrics_table::{EventsTable, MetricsTable, RangesTable};
use crate::components::report_controls::{report_href, ReportControls};
use crate::views::{ReportQuery, ReportView};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

pub fn query_from_map(q: &leptos_router::params::ParamsMap) -> ReportQuery {
    let non_empty = |k: &str| q.get(k).filter(|s| !s.trim().is_empty());
    ReportQuery {
        days: non_empty("days").and_then(|s| s.parse().ok()),
        from: non_empty("from"),
        to: non_empty("to"),
        unit: non_empty("unit"),
        all_days: q.get("all_days").is_some_and(|v| v == "1" || v == "true"),
    }
}

#[component]
pub fn ReportPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let patient_id = move || params.read().get("id").and_then(|s| s.parse::<i64>().ok());
    let report = Resource::new(
        move || (patient_id(), query_from_map(&query.read())),
        |(id, q)| async move {
            match id {
                Some(id) => get_report(id, q).await,
                None => Err(ServerFnError::new(
                    "This address does not name a patient. Go back to the patient list.",
                )),
            }
        },
    );
    view! { <ReportPanel report/> }
}

/// A report being loaded: the body when it arrives (the previous one stays while the next loads), or what
/// went wrong. Every page that shows a report uses this.
#[component]
pub fn ReportPanel(report: Resource<Result<ReportView, ServerFnError>>) -> impl IntoView {
    let (pending, set_pending) = signal(false);
    view! {
        <div class="report" aria-busy=move || pending.get().to_string()>
            <Transition fallback=|| view! { <p class="loading">"Computing the report…"</p> } set_pending>
                {move || Suspend::new(async move {
                    match report.await {
                        Ok(r) => view! { <ReportBody report=r/> }.into_any(),
                        Err(e) => view! {
                            <ErrorBox title="The report could not be shown" message=error_message(&e)/>
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

#[component]
pub fn ReportBody(report: ReportView) -> impl IntoView {
    let r = report.clone();
    let more_days = (r.daily_total_days > r.daily.len()).then(|| {
        let href = report_href(&r.base_path, r.window.preset.unwrap_or(14), &r.unit_key, true);
        view! { <p class="no-print"><a href=href>{format!("Show all {} days", r.daily_total_days)}</a></p> }
    });
    view! {
        <header class="patient-banner">
            <div>
                <h1 class="patient-name">{r.patient.name.clone()}</h1>
                <p class="patient-meta">
                    "Born " {r.patient.birth_date.clone()} " · " {r.patient.time_zone.clone()} " · " {r.patient.device.clone()}
                </p>
            </div>
            <div class="report-title">
                <h2>"Ambulatory Glucose Profile"</h2>
                <p class="window-label" data-testid="window-label">
                    {format!("{} – {} ({} days)", r.window.first_day, r.window.last_day, r.window.days)}
                </p>
            </div>
        </header>
        <ReportControls report=report.clone()/>
        {(!r.sufficiency_warnings.is_empty()).then(|| view! {
            <div class="warning" role="status" data-testid="sufficiency-warning">
                <strong>"Limited data: interpret with care."</strong>
                <ul>{r.sufficiency_warnings.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}</ul>
            </div>
        })}
        <div class="report-grid">
            <section class="card metrics-card" aria-labelledby="h-metrics">
                <h3 id="h-metrics">"Glucose statistics and targets"</h3>
                <MetricsTable rows=r.metrics.clone()/>
            </section>
            <section class="card tir-card" aria-labelledby="h-tir">
                <h3 id="h-tir">"Time in ranges"</h3>
                <div class="chart tir-chart" inner_html=r.tir_svg.clone()></div>
                <RangesTable rows=r.ranges.clone()/>
            </section>
        </div>
        <section class="card agp-card" aria-labelledby="h-agp">
            <h3 id="h-agp">"Ambulatory glucose profile"</h3>
            <p class="hint">"Median (bold), 25–75 % and 5–95 % of readings by time of day, all days of the window pooled. Target range shaded."</p>
            <div class="chart agp-chart" inner_html=r.agp_svg.clone()></div>
            <details class="table-alt">
                <summary>{format!("AGP as a table ({})", r.unit)}</summary>
                <table class="agp-table">
                    <thead><tr><th scope="col">"Time"</th><th scope="col">"5 %"</th><th scope="col">"25 %"</th><th scope="col">"Median"</th><th scope="col">"75 %"</th><th scope="col">"95 %"</th></tr></thead>
                    <tbody>
                        {r.agp_table.iter().map(|row| view! {
                            <tr><th scope="row">{row.time.clone()}</th><td>{row.p5.clone()}</td><td>{row.p25.clone()}</td><td>{row.p50.clone()}</td><td>{row.p75.clone()}</td><td>{row.p95.clone()}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
        </section>
        <section class="card events-card" aria-labelledby="h-events">
            <h3 id="h-events">"Events"</h3>
            <EventsTable rows=r.events.clone()/>
        </section>
        <section class="card daily-card" aria-labelledby="h-daily">
            <h3 id="h-daily">"Daily glucose profiles"</h3>
            <p class="hint">{format!("Midnight to midnight, local time; {} of {} days shown, latest last.", r.daily.len(), r.daily_total_days)}</p>
            <div class="daily-grid">
                {r.daily.iter().map(|d| view! {
                    <figure class="daily-panel" data-date=d.date.clone()>
                        <div class="chart" inner_html=d.svg.clone()></div>
                        <figcaption class="sr-only">{format!("{}: {} readings", d.date, d.readings)}</figcaption>
                    </figure>
                }).collect_view()}
            </div>
            {more_days}
        </section>
        <footer class="report-footer">
            {format!("{} readings in the window · values in {} · CloudCGM", r.readings, r.unit)}
        </footer>
    }
}
