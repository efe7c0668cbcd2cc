//! The report's numbers as display text: the metric table with consensus goals (METRICS.md; Battelino 2019)
//! and met / not-met marks, the five range rows and the event rows. The report page, the CLI's text output
//! and the PDF page all print these rows, so a number reads the same everywhere.
//!
//! Percentages are shown with one decimal and goals are judged on the shown value, so a mark never
//! contradicts the number beside it.

use crate::events::EventKind;
use crate::metrics::{GriZone, Metrics};
use crate::report::Report;
use crate::units::GlucoseUnit;

/// A metric with its consensus goal and whether the goal is met (`None`: no goal for this metric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRow {
    /// Stable key (`gmi`, `cv`, …) for tests and page markup.
    pub key: &'static str,
    pub label: String,
    pub value: String,
    pub goal: Option<String>,
    pub met: Option<bool>,
}

/// One of the five glucose ranges with its share of time and goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeRow {
    pub key: &'static str,
    pub label: String,
    /// The glucose range in the report's unit, e.g. "70–180 mg/dL".
    pub range: String,
    /// e.g. "71.6 %".
    pub percent: String,
    /// Time per day, e.g. "3 h 22 min".
    pub per_day: String,
    pub goal: Option<String>,
    pub met: Option<bool>,
}

/// One event kind with its count, rate and mean duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub key: &'static str,
    pub label: String,
    pub count: String,
    pub per_day: String,
    pub mean_duration: String,
}

/// Percentages are shown with one decimal; goals are judged on the shown value.
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
    key: &'static str,
    label: &str,
    value: String,
    goal: Option<&str>,
    met: Option<bool>,
) -> MetricRow {
    MetricRow {
        key,
        label: label.into(),
        value,
        goal: goal.map(Into::into),
        met,
    }
}

/// The metric rows, in the order of the AGP report's statistics panel.
pub fn metric_rows(m: &Metrics) -> Vec<MetricRow> {
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

/// The five ranges, top to bottom as on the bar (very high first), with their goals. Empty when the window
/// has no readings.
pub fn range_rows(m: &Metrics) -> Vec<RangeRow> {
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
    let mk =
        |key: &'static str, label: &str, range: String, p: f64, goal: &str, met: bool| RangeRow {
            key,
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

/// The clinician-facing name of an event kind with its threshold in `u`.
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

/// One row per event kind of the report.
pub fn event_rows(report: &Report) -> Vec<EventRow> {
    report
        .events
        .iter()
        .map(|e| EventRow {
            key: event_key(e.kind),
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
