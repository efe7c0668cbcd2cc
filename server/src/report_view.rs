//! Turns the core's [`Report`] into the page's [`ReportView`]: numbers formatted at display precision, the
//! consensus goals (METRICS.md; Battelino 2019) with met / not-met marks (the text rows come from
//! [`cloudcgm::report_rows`], which the PDF page prints too), and the SVG charts rendered here on the server. The CLI prints the same
//! `Report` as JSON, so page and CLI come from one computation.

use cloudcgm::chart::{agp_chart, daily_panel, tir_bar, ChartOptions};
use cloudcgm::metrics::Metrics;
use cloudcgm::report::Report;
use cloudcgm::report_rows;
pub use cloudcgm::report_rows::event_label;
use cloudcgm::GlucoseUnit;
use cloudcgm_app::views::{
    AgpRowView, DailyPanelView, EventRowView, MetricRowView, PatientHeaderView, RangeRowView,
    ReportView, WindowView,
};

/// How many daily panels the page shows unless all days are asked for (the latest days of the window).
pub const DEFAULT_DAILY_PANELS: usize = 14;

/// `mg` / `mmol`: the unit's key in addresses.
pub fn unit_key(u: GlucoseUnit) -> &'static str {
    match u {
        GlucoseUnit::MgDl => "mg",
        GlucoseUnit::MmolL => "mmol",
    }
}

/// The metric rows, in the order of the AGP report's statistics panel (text from the core, shared with the
/// PDF page).
pub fn metric_rows(m: &Metrics) -> Vec<MetricRowView> {
    report_rows::metric_rows(m)
        .into_iter()
        .map(|r| MetricRowView {
            key: r.key.into(),
            label: r.label,
            value: r.value,
            goal: r.goal,
            met: r.met,
        })
        .collect()
}

/// The five ranges, top to bottom as on the bar (very high first), with their goals.
pub fn range_rows(m: &Metrics) -> Vec<RangeRowView> {
    report_rows::range_rows(m)
        .into_iter()
        .map(|r| RangeRowView {
            key: r.key.into(),
            label: r.label,
            range: r.range,
            percent: r.percent,
            per_day: r.per_day,
            goal: r.goal,
            met: r.met,
        })
        .collect()
}

/// The AGP percentiles at each full hour, formatted in the report's unit: the chart's table alternative on
/// the page and the percentile table of the CLI's text output.
pub fn agp_rows(report: &Report) -> Vec<AgpRowView> {
    let u = report.unit;
    report
        .agp
        .bins
        .iter()
        .filter(|b| b.minute_of_day % 60 == 0)
        .map(|b| {
            let cell = |f: fn(&cloudcgm::agp::Percentiles) -> f64| {
                b.percentiles
                    .as_ref()
                    .map(|p| u.format(f(p)))
                    .unwrap_or_else(|| "—".into())
            };
            AgpRowView {
                time: format!("{:02}:{:02}", b.minute_of_day / 60, b.minute_of_day % 60),
                p5: cell(|p| p.p5),
                p25: cell(|p| p.p25),
                p50: cell(|p| p.p50),
                p75: cell(|p| p.p75),
                p95: cell(|p| p.p95),
            }
        })
        .collect()
}

/// One row per event kind, formatted for display (page and CLI text).
pub fn event_rows(report: &Report) -> Vec<EventRowView> {
    report_rows::event_rows(report)
        .into_iter()
        .map(|e| EventRowView {
            key: e.key.into(),
            label: e.label,
            count: e.count,
            per_day: e.per_day,
            mean_duration: e.mean_duration,
        })
        .collect()
}

/// Everything the page needs about who the report is for.
pub struct ReportSubject {
    pub header: PatientHeaderView,
    pub preset: Option<u32>,
    pub data_first_day: Option<String>,
    pub data_last_day: Option<String>,
    pub all_days: bool,
    /// The page the report is shown on (window and unit links stay there).
    pub base_path: String,
    /// Where the same report is downloaded as a PDF.
    pub pdf_path: String,
}

/// Builds the page's view of a report, rendering the charts.
pub fn to_view(report: &Report, subject: ReportSubject) -> ReportView {
    let u = report.unit;
    let m = &report.metrics;
    let name = &subject.header.name;
    let agp_svg = agp_chart(
        &report.agp,
        &ChartOptions::agp(format!("Ambulatory glucose profile of {name}")),
    );
    let tir_svg = m
        .ranges
        .map(|r| {
            tir_bar(
                &r,
                u,
                &ChartOptions::tir_bar(format!("Time in ranges of {name}")),
            )
        })
        .unwrap_or_default();
    let agp_table = agp_rows(report);
    let shown = if subject.all_days {
        report.daily.len()
    } else {
        DEFAULT_DAILY_PANELS.min(report.daily.len())
    };
    let daily = report.daily[report.daily.len() - shown..]
        .iter()
        .map(|d| DailyPanelView {
            date: d.date.to_string(),
            svg: daily_panel(
                d,
                u,
                &ChartOptions::new(
                    260,
                    110,
                    format!("Glucose on {} ({} readings)", d.date, d.points.len()),
                ),
            ),
            readings: d.points.len(),
        })
        .collect();
    ReportView {
        patient: subject.header,
        window: WindowView {
            first_day: report.first_day.to_string(),
            last_day: report.last_day.to_string(),
            days: report.daily.len() as u32,
            preset: subject.preset,
            data_first_day: subject.data_first_day,
            data_last_day: subject.data_last_day,
        },
        unit: u.to_string(),
        unit_key: unit_key(u).into(),
        readings: m.readings,
        metrics: metric_rows(m),
        ranges: range_rows(m),
        events: event_rows(report),
        sufficiency_warnings: m.sufficiency.reasons.clone(),
        agp_svg,
        tir_svg,
        agp_table,
        daily,
        daily_total_days: report.daily.len(),
        base_path: subject.base_path,
        pdf_path: subject.pdf_path,
    }
}
