//! The whole AGP report for one patient and window, as one serialisable value: the stable JSON schema of the
//! `report` command (documented in docs/cli.md) and the input of the report page and charts.
//!
//! It assembles the pieces of METRICS.md over the readings inside W: the metric table ([`crate::metrics`]),
//! the event summaries ([`crate::events`]), the AGP ([`crate::agp`], default 15-minute bins) and one daily
//! profile per local calendar day of W (METRICS.md "AGP": "daily glucose profiles, one small panel per day
//! of W, midnight to midnight"). Days follow the patient's zone, so DST days are 23 or 25 hours long, and
//! days without readings are kept (empty) so gaps in wear are visible rather than hidden.

use crate::agp::{agp_profile, AgpOptions, AgpProfile};
use crate::events::{detect_events, summarize_events, EventSummary};
use crate::localtime::{local_date, local_day_hours, local_midnight, LocalClock};
use crate::metrics::{compute_metrics, Metrics};
use crate::trace::Trace;
use crate::units::GlucoseUnit;
use crate::window::Window;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `schema` value of reports built by this version.
pub const REPORT_SCHEMA: &str = "cloudcgm.report/v1";

/// One local calendar day of readings for the daily-profile panels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyProfile {
    pub date: NaiveDate,
    /// 23, 24 or 25 (DST).
    pub hours: f64,
    /// (hours elapsed since local midnight, value in the report's unit), in time order.
    pub points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub time_zone: String,
    pub window: Window,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub unit: GlucoseUnit,
    pub metrics: Metrics,
    pub events: Vec<EventSummary>,
    pub agp: AgpProfile,
    pub daily: Vec<DailyProfile>,
}

/// Builds the report for `window` from a trace.
pub fn build_report(trace: &Trace, window: Window, tz: Tz, unit: GlucoseUnit) -> Report {
    let readings = trace.in_window(&window);
    let first_day = local_date(window.start, tz);
    // The window is half-open: its last instant is one second before `end`.
    let last_day = local_date(window.end - Duration::seconds(1), tz).max(first_day);
    let metrics = compute_metrics(readings, &window, tz, unit);
    let events = summarize_events(&detect_events(readings, &window), &window);
    let agp = agp_profile(readings, tz, unit, AgpOptions::default());

    let mut by_day: BTreeMap<NaiveDate, Vec<(f64, f64)>> = BTreeMap::new();
    let mut clock = LocalClock::new(tz);
    // Readings are sorted: remember the current day's midnight instead of resolving it per reading.
    let mut day: Option<(NaiveDate, chrono::DateTime<chrono::Utc>)> = None;
    for r in readings {
        let v = r.in_unit(unit);
        if !v.is_finite() {
            continue;
        }
        let date = clock.date(r.at);
        let midnight = match day {
            Some((d, m)) if d == date => m,
            _ => {
                let m = local_midnight(date, tz);
                day = Some((date, m));
                m
            }
        };
        let since_midnight = (r.at - midnight).num_milliseconds() as f64 / 3_600_000.0;
        by_day.entry(date).or_default().push((since_midnight, v));
    }
    let daily = first_day
        .iter_days()
        .take_while(|d| *d <= last_day)
        .map(|date| DailyProfile {
            date,
            hours: local_day_hours(date, tz),
            points: by_day.remove(&date).unwrap_or_default(),
        })
        .collect();

    Report {
        schema: REPORT_SCHEMA.to_string(),
        time_zone: tz.name().to_string(),
        window,
        first_day,
        last_day,
        unit,
        metrics,
        events,
        agp,
        daily,
    }
}

/// The default report window (METRICS.md "Window"): the `days` local calendar days ending with the local
/// day of the latest reading. `None` for an empty trace.
pub fn default_window(trace: &Trace, days: u32, tz: Tz) -> Option<Window> {
    let last = trace.last()?;
    Some(Window::last_days(local_date(last.at, tz), days, tz))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use crate::reading::{DeviceId, Reading};
    use chrono::{DateTime, TimeZone, Utc};

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn reading(at: DateTime<Utc>, value: f64) -> Reading {
        Reading {
            at,
            value,
            unit: GlucoseUnit::MgDl,
            sentinel: None,
            device: DeviceId::new("a"),
            interval_s: 300,
        }
    }

    /// 5-minute readings over the whole window, all `v`.
    fn fill(w: &Window, v: f64) -> Trace {
        Trace::new(
            (0..)
                .map(|i| reading(w.start + Duration::minutes(5 * i), v))
                .take_while(|r| r.at < w.end)
                .collect(),
        )
    }

    #[test]
    fn dst_days_have_23_and_25_hour_daily_profiles() {
        let tz = berlin();
        for (day, hours, points) in [
            (d(2024, 3, 31), 23.0, 23 * 12),
            (d(2024, 10, 27), 25.0, 25 * 12),
        ] {
            let w = Window::local_days(day, day, tz).unwrap();
            let rep = build_report(&fill(&w, 120.0), w, tz, GlucoseUnit::MgDl);
            assert_eq!(rep.daily.len(), 1);
            let p = &rep.daily[0];
            assert_eq!(p.date, day);
            assert_eq!(p.hours, hours);
            assert_eq!(p.points.len(), points);
            let last_x = p.points.last().unwrap().0;
            assert!(
                last_x < hours && last_x > hours - 0.1,
                "elapsed hours reach the end of the day: {last_x}"
            );
            assert_eq!(rep.metrics.days_of_wear, 1);
            assert_eq!(rep.first_day, day);
            assert_eq!(rep.last_day, day);
        }
    }

    #[test]
    fn days_without_readings_get_empty_panels() {
        let tz = berlin();
        let w = Window::local_days(d(2024, 6, 1), d(2024, 6, 3), tz).unwrap();
        let t = Trace::new(vec![reading(
            Utc.with_ymd_and_hms(2024, 6, 1, 10, 0, 0).unwrap(),
            100.0,
        )]);
        let rep = build_report(&t, w, tz, GlucoseUnit::MgDl);
        assert_eq!(
            rep.daily.iter().map(|p| p.date).collect::<Vec<_>>(),
            vec![d(2024, 6, 1), d(2024, 6, 2), d(2024, 6, 3)]
        );
        assert_eq!(
            rep.daily[0].points,
            vec![(12.0, 100.0)],
            "10:00Z is 12:00 CEST"
        );
        assert!(rep.daily[1].points.is_empty() && rep.daily[2].points.is_empty());
        assert_eq!(rep.metrics.days_of_wear, 1);
    }

    #[test]
    fn report_carries_schema_zone_days_and_every_event_kind() {
        let tz = berlin();
        let w = Window::last_days(d(2024, 6, 14), 14, tz);
        let rep = build_report(&fill(&w, 120.0), w, tz, GlucoseUnit::MmolL);
        assert_eq!(rep.schema, "cloudcgm.report/v1");
        assert_eq!(rep.time_zone, "Europe/Berlin");
        assert_eq!(rep.first_day, d(2024, 6, 1));
        assert_eq!(rep.last_day, d(2024, 6, 14));
        assert_eq!(rep.daily.len(), 14);
        assert_eq!(rep.unit, GlucoseUnit::MmolL);
        assert_eq!(rep.events.len(), 5);
        assert_eq!(rep.events[0].kind, EventKind::Level1Hypo);
        assert!(rep.metrics.sufficiency.sufficient);
        assert!((rep.metrics.mean.unwrap() - 120.0 / 18.016).abs() < 1e-9);
        assert!(rep.agp.bins.iter().all(|b| b.percentiles.is_some()));
        let json = serde_json::to_string(&rep).unwrap();
        assert!(json.contains("\"cloudcgm.report/v1\""));
    }

    #[test]
    fn an_empty_trace_still_gives_a_report_with_a_warning() {
        let tz = berlin();
        let w = Window::last_days(d(2024, 6, 14), 14, tz);
        let rep = build_report(&Trace::default(), w, tz, GlucoseUnit::MgDl);
        assert_eq!(rep.daily.len(), 14);
        assert!(rep.metrics.mean.is_none());
        assert!(!rep.metrics.sufficiency.sufficient);
        let json = serde_json::to_string(&rep).unwrap();
        assert!(!json.contains("NaN"));
    }

    #[test]
    fn default_window_is_the_local_days_ending_with_the_latest_reading() {
        let tz = berlin();
        // 22:30Z on 2024-06-14 is already 00:30 on 2024-06-15 in Berlin.
        let t = Trace::new(vec![
            reading(Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap(), 100.0),
            reading(Utc.with_ymd_and_hms(2024, 6, 14, 22, 30, 0).unwrap(), 100.0),
        ]);
        let w = default_window(&t, 14, tz).unwrap();
        assert_eq!(
            w,
            Window::local_days(d(2024, 6, 2), d(2024, 6, 15), tz).unwrap()
        );
        assert_eq!(w.start, Utc.with_ymd_and_hms(2024, 6, 1, 22, 0, 0).unwrap());
        assert!(default_window(&Trace::default(), 14, tz).is_none());
    }
}
