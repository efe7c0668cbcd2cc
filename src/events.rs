//! Hypo- and hyperglycaemic events (METRICS.md "events"): level 1/2 hypo, prolonged hypo, level 1/2 hyper.
//! An event starts after ≥ 15 consecutive minutes beyond the threshold and ends after ≥ 15 minutes back;
//! gaps over 45 minutes split runs.
//!
//! Choices this module makes, so that counts can be explained to a clinician:
//! - "Beyond" is decided per reading with [`RangeBand::classify`], in the unit the reading arrived in and on
//!   its display-rounded value, exactly as the range percentages are: level 1 hypo is VeryLow or Low
//!   (< 70 mg/dL, < 3.9 mmol/L), level 2 hypo VeryLow (< 54, < 3.0), level 1 hyper High or VeryHigh
//!   (> 180, > 10.0), level 2 hyper VeryHigh (> 250, > 13.9).
//! - Level 1 includes level 2: the consensus defines a level 1 event as "< 70 mg/dL", so an excursion
//!   below 54 is both a level 2 and (as part of its enclosing < 70 excursion) a level 1 event; likewise for
//!   hyper. The counts are not exclusive and must not be added up.
//! - The duration of a run of consecutive readings is measured from its first reading to its last reading
//!   plus that reading's nominal interval (each reading stands for the interval it covers). Three 5-minute
//!   readings make 15 minutes, and so does a single 15-minute reading.
//! - An event starts at the first reading of the run that qualified it and ends where the last reading
//!   beyond the threshold stops covering time (its instant plus its interval, but never later than the next
//!   reading or the window's end). It ends only after readings have been back for ≥ 15 minutes; a shorter
//!   return is part of the event.
//! - Two consecutive readings more than 45 minutes apart split runs: an event in progress ends at the last
//!   reading before the gap, and a candidate run starts over after it. A gap of exactly 45 minutes does not
//!   split. An event still going at the end of the data ends with the last reading.
//! - Prolonged hypo (Battelino 2023 "extended hypoglycaemia") starts after more than 120 consecutive
//!   minutes < 70 mg/dL with no reading back in between, and ends like the others after ≥ 15 minutes ≥ 70.
//!   So a long level 1 event interrupted by a short return above 70 need not be prolonged.
//! - Readings of several devices are taken together in time order; nothing is interpolated.

use crate::reading::Reading;
use crate::units::RangeBand;
use crate::window::Window;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Level1Hypo,
    Level2Hypo,
    ProlongedHypo,
    Level1Hyper,
    Level2Hyper,
}

impl EventKind {
    /// Every kind, in the enum's (and the report's) order.
    pub const ALL: [EventKind; 5] = [
        EventKind::Level1Hypo,
        EventKind::Level2Hypo,
        EventKind::ProlongedHypo,
        EventKind::Level1Hyper,
        EventKind::Level2Hyper,
    ];

    /// Whether one reading is beyond this kind's threshold (classified like the range percentages).
    pub fn is_beyond(self, r: &Reading) -> bool {
        let band = RangeBand::classify(r.value, r.unit);
        match self {
            EventKind::Level1Hypo | EventKind::ProlongedHypo => {
                matches!(band, RangeBand::VeryLow | RangeBand::Low)
            }
            EventKind::Level2Hypo => band == RangeBand::VeryLow,
            EventKind::Level1Hyper => matches!(band, RangeBand::High | RangeBand::VeryHigh),
            EventKind::Level2Hyper => band == RangeBand::VeryHigh,
        }
    }

    /// Whether a run of readings beyond the threshold lasting `d` starts an event of this kind.
    fn run_starts_event(self, d: Duration) -> bool {
        match self {
            EventKind::ProlongedHypo => d > Duration::minutes(PROLONGED_HYPO_MIN),
            _ => d >= Duration::minutes(START_MIN),
        }
    }
}

/// Minutes beyond the threshold that start an event.
pub const START_MIN: i64 = 15;
/// Minutes back that end an event.
pub const END_MIN: i64 = 15;
/// Minutes below 70 mg/dL that a prolonged hypo must exceed.
pub const PROLONGED_HYPO_MIN: i64 = 120;
/// A gap longer than this between consecutive readings splits runs.
pub const MAX_GAP_MIN: i64 = 45;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub duration_min: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    pub kind: EventKind,
    pub count: usize,
    pub per_day: f64,
    /// `None` when there are no events of this kind.
    pub mean_duration_min: Option<f64>,
}

/// Detects every event in the readings inside `window`, ordered by start (then by kind).
pub fn detect_events(readings: &[Reading], window: &Window) -> Vec<Event> {
    let mut inside: Vec<&Reading> = readings.iter().filter(|r| window.contains(r.at)).collect();
    // Trace readings are already sorted; a stable sort keeps that order and protects raw-slice callers.
    inside.sort_by_key(|r| r.at);
    let mut events: Vec<Event> = EventKind::ALL
        .iter()
        .flat_map(|&kind| detect_kind(&inside, window, kind))
        .collect();
    events.sort_by_key(|e| (e.start, kind_index(e.kind)));
    events
}

/// One summary per [`EventKind`], in the enum's order, including kinds with zero events.
pub fn summarize_events(events: &[Event], window: &Window) -> Vec<EventSummary> {
    let days = window.days();
    EventKind::ALL
        .iter()
        .map(|&kind| {
            let durations: Vec<f64> = events
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| e.duration_min)
                .collect();
            let count = durations.len();
            let per_day = if days > 0.0 && days.is_finite() {
                count as f64 / days
            } else {
                0.0
            };
            let mean_duration_min = (count > 0)
                .then(|| durations.iter().sum::<f64>() / count as f64)
                .filter(|m| m.is_finite());
            EventSummary {
                kind,
                count,
                per_day,
                mean_duration_min,
            }
        })
        .collect()
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Consecutive readings on one side of the threshold.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    last_interval: Duration,
}

impl Run {
    fn start(r: &Reading) -> Run {
        Run {
            first: r.at,
            last: r.at,
            last_interval: interval(r),
        }
    }

    fn extend(self, r: &Reading) -> Run {
        Run {
            last: r.at,
            last_interval: interval(r),
            ..self
        }
    }

    fn duration(&self) -> Duration {
        self.last - self.first + self.last_interval
    }
}

fn interval(r: &Reading) -> Duration {
    Duration::seconds(i64::from(r.interval_s))
}

enum State {
    /// No event; possibly a run beyond the threshold that is not yet long enough.
    Idle(Option<Run>),
    /// In an event; `recovery` is the current run of readings back across the threshold.
    InEvent {
        start: DateTime<Utc>,
        beyond_until: DateTime<Utc>,
        recovery: Option<Run>,
    },
}

fn detect_kind(inside: &[&Reading], window: &Window, kind: EventKind) -> Vec<Event> {
    let mut events = Vec::new();
    let close = |start: DateTime<Utc>, beyond_until: DateTime<Utc>, recovery: Option<Run>| {
        let mut end = beyond_until.min(window.end);
        if let Some(rec) = recovery {
            end = end.min(rec.first);
        }
        let end = end.max(start);
        Event {
            kind,
            start,
            end,
            duration_min: (end - start).num_milliseconds() as f64 / 60_000.0,
        }
    };
    let mut state = State::Idle(None);
    let mut prev: Option<DateTime<Utc>> = None;
    for r in inside {
        if let Some(p) = prev {
            if r.at - p > Duration::minutes(MAX_GAP_MIN) {
                if let State::InEvent {
                    start,
                    beyond_until,
                    ..
                } = state
                {
                    events.push(close(start, beyond_until, None));
                }
                state = State::Idle(None);
            }
        }
        prev = Some(r.at);
        let beyond = kind.is_beyond(r);
        state = match state {
            State::Idle(candidate) => {
                if beyond {
                    let run = candidate.map_or_else(|| Run::start(r), |c| c.extend(r));
                    if kind.run_starts_event(run.duration()) {
                        State::InEvent {
                            start: run.first,
                            beyond_until: r.at + interval(r),
                            recovery: None,
                        }
                    } else {
                        State::Idle(Some(run))
                    }
                } else {
                    State::Idle(None)
                }
            }
            State::InEvent {
                start,
                beyond_until,
                recovery,
            } => {
                if beyond {
                    State::InEvent {
                        start,
                        beyond_until: r.at + interval(r),
                        recovery: None,
                    }
                } else {
                    let rec = recovery.map_or_else(|| Run::start(r), |c| c.extend(r));
                    if rec.duration() >= Duration::minutes(END_MIN) {
                        events.push(close(start, beyond_until, Some(rec)));
                        State::Idle(None)
                    } else {
                        State::InEvent {
                            start,
                            beyond_until,
                            recovery: Some(rec),
                        }
                    }
                }
            }
        };
    }
    if let State::InEvent {
        start,
        beyond_until,
        recovery,
    } = state
    {
        events.push(close(start, beyond_until, recovery));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::DeviceId;
    use crate::units::GlucoseUnit;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
    }

    fn day() -> Window {
        Window::new(t0(), t0() + Duration::days(1)).unwrap()
    }

    fn at(min: i64, value: f64) -> Reading {
        Reading {
            at: t0() + Duration::minutes(min),
            value,
            unit: GlucoseUnit::MgDl,
            sentinel: None,
            device: DeviceId::new("a"),
            interval_s: 300,
        }
    }

    /// 5-minute readings of `values`, starting at minute 0.
    fn every5(values: &[f64]) -> Vec<Reading> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| at(5 * i as i64, *v))
            .collect()
    }

    fn of_kind(events: &[Event], kind: EventKind) -> Vec<&Event> {
        events.iter().filter(|e| e.kind == kind).collect()
    }

    fn rep(v: f64, n: usize) -> Vec<f64> {
        vec![v; n]
    }

    #[test]
    fn fifteen_minutes_below_70_is_an_event_and_ten_minutes_is_not() {
        let three = every5(&[100.0, 65.0, 65.0, 65.0, 100.0, 100.0, 100.0]);
        let ev = detect_events(&three, &day());
        let l1 = of_kind(&ev, EventKind::Level1Hypo);
        assert_eq!(l1.len(), 1);
        assert_eq!(l1[0].start, t0() + Duration::minutes(5));
        assert_eq!(l1[0].end, t0() + Duration::minutes(20));
        assert_eq!(l1[0].duration_min, 15.0);

        let two = every5(&[100.0, 65.0, 65.0, 100.0, 100.0, 100.0]);
        assert!(detect_events(&two, &day()).is_empty());
    }

    #[test]
    fn one_fifteen_minute_reading_covers_fifteen_minutes() {
        let mut r = at(0, 60.0);
        r.interval_s = 900;
        let ev = detect_events(&[r], &day());
        assert_eq!(of_kind(&ev, EventKind::Level1Hypo).len(), 1);
    }

    #[test]
    fn a_level_2_episode_is_also_a_level_1_episode() {
        let mut v = rep(100.0, 2);
        v.extend(rep(65.0, 2));
        v.extend(rep(50.0, 4));
        v.extend(rep(65.0, 2));
        v.extend(rep(100.0, 4));
        let ev = detect_events(&every5(&v), &day());
        let l1 = of_kind(&ev, EventKind::Level1Hypo);
        let l2 = of_kind(&ev, EventKind::Level2Hypo);
        assert_eq!(l1.len(), 1);
        assert_eq!(l2.len(), 1);
        assert_eq!(l1[0].duration_min, 40.0);
        assert_eq!(l2[0].duration_min, 20.0);
        assert!(l1[0].start <= l2[0].start && l2[0].end <= l1[0].end);
    }

    #[test]
    fn a_return_shorter_than_15_minutes_does_not_end_the_event() {
        let mut v = rep(60.0, 4);
        v.extend(rep(100.0, 2)); // 10 minutes back
        v.extend(rep(60.0, 4));
        v.extend(rep(100.0, 3));
        let ev = detect_events(&every5(&v), &day());
        let l1 = of_kind(&ev, EventKind::Level1Hypo);
        assert_eq!(l1.len(), 1);
        assert_eq!(l1[0].duration_min, 50.0);
    }

    #[test]
    fn a_return_of_15_minutes_ends_the_event() {
        let mut v = rep(60.0, 4);
        v.extend(rep(100.0, 3)); // 15 minutes back
        v.extend(rep(60.0, 4));
        v.extend(rep(100.0, 3));
        let ev = detect_events(&every5(&v), &day());
        let l1 = of_kind(&ev, EventKind::Level1Hypo);
        assert_eq!(l1.len(), 2);
        assert_eq!(l1[0].duration_min, 20.0);
        assert_eq!(l1[1].start, t0() + Duration::minutes(35));
    }

    #[test]
    fn a_gap_over_45_minutes_splits_a_run() {
        // Two readings, a 50-minute gap, two readings: neither side reaches 15 minutes.
        let rs = vec![at(0, 60.0), at(5, 60.0), at(55, 60.0), at(60, 60.0)];
        assert!(detect_events(&rs, &day()).is_empty());
        // With a gap of exactly 45 minutes the run continues and is long enough.
        let rs = vec![at(0, 60.0), at(5, 60.0), at(50, 60.0), at(55, 60.0)];
        assert_eq!(
            of_kind(&detect_events(&rs, &day()), EventKind::Level1Hypo).len(),
            1
        );
    }

    #[test]
    fn a_gap_over_45_minutes_ends_an_event_in_progress() {
        let mut rs = every5(&rep(60.0, 4));
        rs.extend((0..4).map(|i| at(100 + 5 * i, 60.0)));
        let ev = detect_events(&rs, &day());
        let l1 = of_kind(&ev, EventKind::Level1Hypo);
        assert_eq!(l1.len(), 2);
        assert_eq!(l1[0].end, t0() + Duration::minutes(20));
        assert_eq!(l1[1].start, t0() + Duration::minutes(100));
    }

    #[test]
    fn prolonged_hypo_needs_more_than_120_consecutive_minutes() {
        let mut v = rep(65.0, 24); // exactly 120 minutes
        v.extend(rep(100.0, 3));
        let ev = detect_events(&every5(&v), &day());
        assert!(of_kind(&ev, EventKind::ProlongedHypo).is_empty());
        assert_eq!(of_kind(&ev, EventKind::Level1Hypo).len(), 1);

        let mut v = rep(65.0, 25); // 125 minutes
        v.extend(rep(100.0, 3));
        let ev = detect_events(&every5(&v), &day());
        let p = of_kind(&ev, EventKind::ProlongedHypo);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].duration_min, 125.0);
    }

    #[test]
    fn hyper_thresholds_are_above_180_and_above_250() {
        let ev = detect_events(&every5(&rep(180.0, 6)), &day());
        assert!(ev.is_empty(), "180 is in range");
        let ev = detect_events(&every5(&rep(181.0, 6)), &day());
        assert_eq!(of_kind(&ev, EventKind::Level1Hyper).len(), 1);
        assert!(of_kind(&ev, EventKind::Level2Hyper).is_empty());
        let ev = detect_events(&every5(&rep(250.0, 6)), &day());
        assert!(
            of_kind(&ev, EventKind::Level2Hyper).is_empty(),
            "250 is level 1 only"
        );
        let ev = detect_events(&every5(&rep(251.0, 6)), &day());
        assert_eq!(of_kind(&ev, EventKind::Level2Hyper).len(), 1);
        assert_eq!(of_kind(&ev, EventKind::Level1Hyper).len(), 1);
    }

    #[test]
    fn hypo_thresholds_are_below_70_and_below_54() {
        assert!(detect_events(&every5(&rep(70.0, 6)), &day()).is_empty());
        let ev = detect_events(&every5(&rep(54.0, 6)), &day());
        assert_eq!(of_kind(&ev, EventKind::Level1Hypo).len(), 1);
        assert!(of_kind(&ev, EventKind::Level2Hypo).is_empty());
        let ev = detect_events(&every5(&rep(53.0, 6)), &day());
        assert_eq!(of_kind(&ev, EventKind::Level2Hypo).len(), 1);
    }

    #[test]
    fn mmol_l_readings_are_classified_on_their_displayed_value() {
        let mk = |v: f64| {
            let mut rs = every5(&rep(v, 6));
            for r in &mut rs {
                r.unit = GlucoseUnit::MmolL;
            }
            detect_events(&rs, &day())
        };
        assert!(
            mk(10.0).is_empty(),
            "10.0 mmol/L is in range although 180.16 mg/dL"
        );
        assert_eq!(of_kind(&mk(10.1), EventKind::Level1Hyper).len(), 1);
        assert!(mk(3.9).is_empty());
        assert_eq!(of_kind(&mk(3.8), EventKind::Level1Hypo).len(), 1);
        assert_eq!(of_kind(&mk(2.9), EventKind::Level2Hypo).len(), 1);
        assert_eq!(of_kind(&mk(14.0), EventKind::Level2Hyper).len(), 1);
    }

    #[test]
    fn an_event_running_at_the_end_of_the_data_is_counted_and_clipped_to_the_window() {
        let w = Window::new(t0(), t0() + Duration::minutes(17)).unwrap();
        let ev = detect_events(&every5(&rep(60.0, 4)), &w);
        let l1 = of_kind(&ev, EventKind::Level1Hypo);
        assert_eq!(l1.len(), 1);
        assert_eq!(l1[0].end, w.end);
    }

    #[test]
    fn summary_has_one_row_per_kind_in_order_with_per_day_and_mean_duration() {
        let w = Window::new(t0(), t0() + Duration::days(2)).unwrap();
        let mut v = rep(60.0, 4);
        v.extend(rep(100.0, 3));
        v.extend(rep(60.0, 6));
        v.extend(rep(100.0, 3));
        let ev = detect_events(&every5(&v), &w);
        let s = summarize_events(&ev, &w);
        assert_eq!(
            s.iter().map(|x| x.kind).collect::<Vec<_>>(),
            EventKind::ALL.to_vec()
        );
        assert_eq!(s[0].count, 2);
        assert_eq!(s[0].per_day, 1.0);
        assert_eq!(s[0].mean_duration_min, Some(25.0));
        assert_eq!(s[1].count, 0);
        assert_eq!(s[1].per_day, 0.0);
        assert_eq!(s[1].mean_duration_min, None);
    }

    #[test]
    fn no_readings_give_no_events_and_zero_summaries() {
        assert!(detect_events(&[], &day()).is_empty());
        let s = summarize_events(&[], &day());
        assert_eq!(s.len(), 5);
        assert!(s
            .iter()
            .all(|x| x.count == 0 && x.mean_duration_min.is_none()));
    }
}
