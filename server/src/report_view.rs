//! Turns the core's [`Report`] into the page's [`ReportView`]: numbers formatted at display precision, the
//! consensus goals (METRICS.md; Battelino 2019) with met / not-met marks, and the SVG charts rendered here
//! on the server. The CLI prints the same `Report` as JSON, so page and CLI come from one computation.

use cloudcgm::chart::{agp_chart, daily_panel, tir_bar, ChartOptions};
use cloudcgm::events::EventKind;
use cloudcgm::metrics::{GriZone, Metrics};
use cloudcgm::report::Report;
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

/// Percentages are shown with one decimal; goals are judged on the shown value so a mark never
/// contradicts the number beside it.
fn pct1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn fmt_pct(v: f64) -> String {
    format!("{:.1} %", pct1(v))
}

fn fmt_glucose(v: Option<f64>, unit: GlucoseUnit) -> String {
    v.map(|v| format!("{} {}", unit.format(v), unit))
        .unwrap_or_else(|| "—".into())
}

/// A share of the day as hours and minutes ("3 h 22 min").
fn per_day(percent: f64) -> String {
    let minutes = (percent / 100.0 * 24.0 * 60.0).round() as i64;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn zone_letter(z: GriZone) -> &'static str {
    match z {
        GriZone::A => "A",
        GriZone::B => "B",
        GriZone::C => "C",
        GriZone::D => "D",
        GriZone::E => "E",
    }
}

fn row(
    key: &str,
    label: &str,
    value: String,
    goal: Option<&str>,
    met: Option<bool>,
) -> MetricRowView {
    MetricRowView {
        key: key.into(),
        label: label.into(),
        value,
        goal: goal.map(Into::into),
        met,
    }
}

/// The metric rows, in the order of the AGP report's statistics panel.
pub fn metric_rows(m: &Metrics) -> Vec<MetricRowView> {
    let u = m.unit;
    let gmi = match (m.gmi_percent, m.gmi_mmol_mol) {
        (Some(p), Some(mm)) => format!("{p:.1} % ({mm:.0} mmol/mol)"),
        _ => "—".into(),
    };
    let cv = m.cv_percent.map(pct1);
    let active = pct1(m.active_percent);
    let gri = m
        .gri
        .map(|g| format!("{:.1} (zone {})", g.value, zone_letter(g.zone)))
        .unwrap_or_else(|| "—".into());
    vec![
        row("mean", "Mean glucose", fmt_glucose(m.mean, u), None, None),
        row("gmi", "Glucose management indicator (GMI)", gmi, None, None),
        row(
            "cv",
            "Glucose variability (CV)",
            cv.map(fmt_pct).unwrap_or_else(|| "—".into()),
            Some("≤ 36 %"),
            cv.map(|c| c <= 36.0),
        ),
        row("sd", "Standard deviation", fmt_glucose(m.sd, u), None, None),
        row(
            "titr",
            &format!(
                "Time in tight range ({}–{} {u})",
                u.format(u.thresholds().low_below),
                u.format(u.thresholds().tight_max)
            ),
            m.titr_percent.map(fmt_pct).unwrap_or_else(|| "—".into()),
            None,
            None,
        ),
        row(
            "gri",
            "Glycemia risk index (GRI)",
            gri,
            Some("zone A or B"),
            m.gri.map(|g| matches!(g.zone, GriZone::A | GriZone::B)),
        ),
        row(
            "active",
            "Time CGM active",
            fmt_pct(m.active_percent),
            Some("≥ 70 %"),
            Some(active >= 70.0),
        ),
        row(
            "days_of_wear",
            "Days with CGM data",
            format!("{} of {:.0}", m.days_of_wear, m.window_days.round()),
            None,
            None,
        ),
        row(
            "readings",
            "Sensor readings",
            m.readings.to_string(),
            None,
            None,
        ),
        row(
            "sentinels",
            "\"Low\" / \"High\" readings",
            format!("{} / {}", m.sentinel_low, m.sentinel_high),
            None,
            None,
        ),
    ]
}

/// The five ranges, top to bottom as on the bar (very high first), with their goals.
pub fn range_rows(m: &Metrics) -> Vec<RangeRowView> {
    let u = m.unit;
    let t = u.thresholds();
    let f = |v: f64| u.format(v);
    // The next displayable value above a bound: 181 mg/dL, 10.1 mmol/L.
    let step = match u {
        GlucoseUnit::MgDl => 1.0,
        GlucoseUnit::MmolL => 0.1,
    };
    let Some(r) = m.ranges else {
        return Vec::new();
    };
    let (vh, tg, vl) = (pct1(r.very_high), pct1(r.target), pct1(r.very_low));
    let mk = |key: &str, label: &str, range: String, p: f64, goal: &str, met: bool| RangeRowView {
        key: key.into(),
        label: label.into(),
        range,
        percent: fmt_pct(p),
        per_day: per_day(p),
        goal: Some(goal.into()),
        met: Some(met),
    };
    vec![
        mk(
            "very_high",
            "Very high",
            format!("> {} {u}", f(t.high_max)),
            r.very_high,
            "< 5 %",
            vh < 5.0,
        ),
        mk(
            "high",
            "High",
            format!("{}–{} {u}", f(t.target_max + step), f(t.high_max)),
            r.high,
            "< 25 % with very high",
            pct1(r.high + r.very_high) < 25.0,
        ),
        mk(
            "target",
            "Target range",
            format!("{}–{} {u}", f(t.low_below), f(t.target_max)),
            r.target,
            "> 70 %",
            tg > 70.0,
        ),
        mk(
            "low",
            "Low",
            format!("{}–{} {u}", f(t.very_low_below), f(t.low_below - step)),
            r.low,
            "< 4 % with very low",
            pct1(r.low + r.very_low) < 4.0,
        ),
        mk(
            "very_low",
            "Very low",
            format!("< {} {u}", f(t.very_low_below)),
            r.very_low,
            "< 1 %",
            vl < 1.0,
        ),
    ]
}

/// The clinician-facing name of an event kind with its threshold in `u` (page and CLI text share it).
pub fn event_label(kind: EventKind, u: GlucoseUnit) -> String {
    let t = u.thresholds();
    let f = |v: f64| u.format(v);
    match kind {
        EventKind::Level1Hypo => {
            format!("Hypoglycaemia level 1 (< {} {u}, ≥ 15 min)", f(t.low_below))
        }
        EventKind::Level2Hypo => format!(
            "Hypoglycaemia level 2 (< {} {u}, ≥ 15 min)",
            f(t.very_low_below)
        ),
        EventKind::ProlongedHypo => format!(
            "Prolonged hypoglycaemia (< {} {u}, > 120 min)",
            f(t.low_below)
        ),
        EventKind::Level1Hyper => format!(
            "Hyperglycaemia level 1 (> {} {u}, ≥ 15 min)",
            f(t.target_max)
        ),
        EventKind::Level2Hyper => {
            format!("Hyperglycaemia level 2 (> {} {u}, ≥ 15 min)", f(t.high_max))
        }
    }
}

fn event_key(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Level1Hypo => "level1_hypo",
        EventKind::Level2Hypo => "level2_hypo",
        EventKind::ProlongedHypo => "prolonged_hypo",
        EventKind::Level1Hyper => "level1_hyper",
        EventKind::Level2Hyper => "level2_hyper",
    }
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
    report
        .events
        .iter()
        .map(|e| EventRowView {
            key: event_key(e.kind).into(),
            label: event_label(e.kind, report.unit),
            count: e.count.to_string(),
            per_day: format!("{:.1}", e.per_day),
            mean_duration: e
                .mean_duration_min
                .map(|d| format!("{d:.0} min"))
                .unwrap_or_else(|| "—".into()),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_per_day_reads_as_hours_and_minutes() {
        assert_eq!(per_day(0.0), "0 min");
        assert_eq!(per_day(50.0), "12 h");
        assert_eq!(per_day(14.03), "3 h 22 min");
        assert_eq!(per_day(1.0), "14 min");
    }

    #[test]
    fn goals_are_judged_on_the_shown_value() {
        assert_eq!(pct1(69.96), 70.0);
        assert!(
            pct1(69.96) <= 70.0,
            "69.96 shows as 70.0, which is not > 70"
        );
    }
}
