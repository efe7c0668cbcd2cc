//! The consensus CGM metrics of METRICS.md over the readings of one window: mean, SD, CV, GMI (both forms),
//! the five ranges, TITR, GRI with components and zone, % time CGM active, days of wear and data sufficiency.
//!
//! Weighting (METRICS.md "Metrics"): each reading counts with weight `interval_s / smallest interval_s
//! present`, so a 15-minute reading stands for three 5-minute ones and mixed 5/15-minute data stays fair.
//! With a single device every weight is 1 and the formulas reduce to the plain ones: the arithmetic mean and
//! the sample SD with n − 1 (frequency weights: Σw(x − m)² / (Σw − 1)).
//!
//! Ranges and TITR are classified per reading in the unit it arrived in, on its display-rounded value
//! ([`RangeBand::classify`]), never on a converted value. Sentinel ("Low"/"High") readings count at the value
//! they carry (the sentinel bound) and are counted separately so the report can flag them.
//!
//! Nothing here panics or produces NaN/∞: with no readings the glucose metrics are `None`, with one reading
//! SD and CV are `None`, and any statistic that would not be finite (e.g. CV of a zero mean) is `None`.

use std::collections::HashSet;

use crate::localtime::LocalClock;
use crate::reading::{Reading, Sentinel};
use crate::units::{GlucoseUnit, RangeBand, MGDL_PER_MMOLL};
use crate::window::Window;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Percent of (weighted) time in each of the five consensus ranges. Sums to 100 (± rounding).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RangePercents {
    pub very_low: f64,
    pub low: f64,
    pub target: f64,
    pub high: f64,
    pub very_high: f64,
}

impl RangePercents {
    /// The five percentages in display order from very low to very high.
    pub fn as_array(&self) -> [f64; 5] {
        [
            self.very_low,
            self.low,
            self.target,
            self.high,
            self.very_high,
        ]
    }

    pub fn sum(&self) -> f64 {
        self.as_array().iter().sum()
    }

    /// Rounds to `decimals` places so that the rounded values still add up to exactly 100 (largest remainder
    /// method). METRICS.md sends the ranges to the EHR with two decimals, and five independently rounded
    /// values can sum to 99.99 or 100.01, which clinicians read as an error. Values that do not add up to 100
    /// in the first place are rounded one by one.
    pub fn rounded_to_sum_100(&self, decimals: u32) -> RangePercents {
        let scale = 10f64.powi(decimals.min(9) as i32);
        let raw = self.as_array();
        let total_units = (100.0 * scale).round() as i64;
        let mut floors = [0i64; 5];
        let mut rema = [0f64; 5];
        for (i, v) in raw.iter().enumerate() {
            let scaled = if v.is_finite() {
                (v.clamp(0.0, 100.0)) * scale
            } else {
                0.0
            };
            floors[i] = scaled.floor() as i64;
            rema[i] = scaled - scaled.floor();
        }
        let missing = total_units - floors.iter().sum::<i64>();
        // A partition of 100 misses at most one unit per band; anything else is not a partition, and
        // spreading its error over the bands would only hide that, so it is rounded band by band instead.
        if (0..=5).contains(&missing) {
            let mut order: Vec<usize> = (0..5).collect();
            // Largest remainder first; ties go to the band listed first so the result is deterministic.
            order.sort_by(|&a, &b| rema[b].total_cmp(&rema[a]).then(a.cmp(&b)));
            for &i in order.iter().take(missing as usize) {
                floors[i] += 1;
            }
        } else {
            for (fl, rem) in floors.iter_mut().zip(rema) {
                if rem >= 0.5 {
                    *fl += 1;
                }
            }
        }
        let f = |i: usize| floors[i] as f64 / scale;
        RangePercents {
            very_low: f(0),
            low: f(1),
            target: f(2),
            high: f(3),
            very_high: f(4),
        }
    }
}

/// GRI zone A (best) … E.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GriZone {
    A,
    B,
    C,
    D,
    E,
}

impl GriZone {
    /// Zone of a GRI value: A ≤ 20, B ≤ 40, C ≤ 60, D ≤ 80, E above (Klonoff et al. 2023).
    pub fn of(value: f64) -> GriZone {
        if value <= 20.0 {
            GriZone::A
        } else if value <= 40.0 {
            GriZone::B
        } else if value <= 60.0 {
            GriZone::C
        } else if value <= 80.0 {
            GriZone::D
        } else {
            GriZone::E
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Gri {
    pub value: f64,
    pub hypo_component: f64,
    pub hyper_component: f64,
    pub zone: GriZone,
}

impl Gri {
    /// GRI = 3.0·VLow + 2.4·Low + 1.6·VHigh + 0.8·High, capped at 100; hypo component VLow + 0.8·Low,
    /// hyper component VHigh + 0.5·High (so GRI = 3·hypo + 1.6·hyper before the cap).
    pub fn from_ranges(r: &RangePercents) -> Gri {
        let raw = 3.0 * r.very_low + 2.4 * r.low + 1.6 * r.very_high + 0.8 * r.high;
        let value = raw.min(100.0);
        Gri {
            value,
            hypo_component: r.very_low + 0.8 * r.low,
            hyper_component: r.very_high + 0.5 * r.high,
            zone: GriZone::of(value),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sufficiency {
    pub sufficient: bool,
    /// Human-readable reasons when not sufficient (empty when sufficient).
    pub reasons: Vec<String>,
}

/// Every metric for one window. Glucose-valued fields are in `unit`; `None` where the window has no readings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub unit: GlucoseUnit,
    pub readings: usize,
    pub sentinel_low: usize,
    pub sentinel_high: usize,
    pub mean: Option<f64>,
    pub mean_mg_dl: Option<f64>,
    pub sd: Option<f64>,
    pub cv_percent: Option<f64>,
    pub gmi_percent: Option<f64>,
    pub gmi_mmol_mol: Option<f64>,
    pub ranges: Option<RangePercents>,
    pub titr_percent: Option<f64>,
    pub gri: Option<Gri>,
    pub active_percent: f64,
    pub days_of_wear: u32,
    pub window_days: f64,
    pub sufficiency: Sufficiency,
}

/// Minimum window length for sufficient data. 14 local days across a spring-forward change are 13.96 days
/// of 24 hours; the slack keeps such a window sufficient.
pub const MIN_SUFFICIENT_DAYS: f64 = 13.95;
/// Minimum % time CGM active for sufficient data (Battelino 2019).
pub const MIN_ACTIVE_PERCENT: f64 = 70.0;

/// Computes every metric over the readings that lie inside `window` (readings outside are ignored).
/// `readings` must be de-duplicated and sorted (take them from a [`crate::Trace`]).
pub fn compute_metrics(
    readings: &[Reading],
    window: &Window,
    tz: Tz,
    unit: GlucoseUnit,
) -> Metrics {
    // Non-finite values are not measurements (Trace already drops them; this keeps the no-NaN promise for
    // callers that pass a raw slice).
    let inside: Vec<&Reading> = readings
        .iter()
        .filter(|r| window.contains(r.at) && r.value.is_finite())
        .collect();

    let window_seconds = window.duration().num_seconds() as f64;
    let window_days = finite_or_zero(window.days()).max(0.0);

    let sentinel_low = inside
        .iter()
        .filter(|r| r.sentinel == Some(Sentinel::Low))
        .count();
    let sentinel_high = inside
        .iter()
        .filter(|r| r.sentinel == Some(Sentinel::High))
        .count();

    let covered_seconds: f64 = inside
        .iter()
        .map(|r| f64::from(effective_interval(r)))
        .sum();
    let active_percent = if window_seconds > 0.0 {
        finite_or_zero(100.0 * covered_seconds / window_seconds).clamp(0.0, 100.0)
    } else {
        0.0
    };

    // Readings arrive sorted, so a day's readings are consecutive: only a change of day touches the set.
    let mut clock = LocalClock::new(tz);
    let mut days: HashSet<chrono::NaiveDate> = HashSet::new();
    let mut last_day = None;
    for r in &inside {
        let d = clock.date(r.at);
        if last_day != Some(d) {
            days.insert(d);
            last_day = Some(d);
        }
    }
    let days_of_wear = days.len() as u32;

    let stats = weighted_stats(&inside, unit);
    let ranges = range_percents(&inside);
    let titr_percent = tight_range_percent(&inside);
    let gri = ranges.as_ref().map(Gri::from_ranges);

    let mean_mg_dl = stats
        .map(|s| s.mean)
        .map(|m| crate::units::convert(m, unit, GlucoseUnit::MgDl))
        .and_then(finite);
    let mean_mmol_l = mean_mg_dl.map(|m| m / MGDL_PER_MMOLL);
    let mean = stats.map(|s| s.mean).and_then(finite);
    let sd = stats.and_then(|s| s.sd).and_then(finite);
    let cv_percent = match (sd, mean) {
        (Some(sd), Some(m)) if m > 0.0 => finite(100.0 * sd / m),
        _ => None,
    };

    let sufficiency = sufficiency(inside.len(), window_days, active_percent);

    Metrics {
        unit,
        readings: inside.len(),
        sentinel_low,
        sentinel_high,
        mean,
        mean_mg_dl,
        sd,
        cv_percent,
        gmi_percent: mean_mg_dl.and_then(|m| finite(3.31 + 0.02392 * m)),
        gmi_mmol_mol: mean_mmol_l.and_then(|m| finite(12.71 + 4.70587 * m)),
        ranges,
        titr_percent,
        gri,
        active_percent,
        days_of_wear,
        window_days,
        sufficiency,
    }
}

/// A reading's nominal interval in seconds. Zero would make every weight infinite; a reading that claims no
/// interval still stands for itself, so it counts as one second.
fn effective_interval(r: &Reading) -> u32 {
    r.interval_s.max(1)
}

/// Weights normalised by the smallest interval present, so the common single-device case has all weights 1.
fn weights(inside: &[&Reading]) -> Vec<f64> {
    let min = inside
        .iter()
        .map(|r| effective_interval(r))
        .min()
        .unwrap_or(1);
    inside
        .iter()
        .map(|r| f64::from(effective_interval(r)) / f64::from(min))
        .collect()
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    mean: f64,
    sd: Option<f64>,
}

fn weighted_stats(inside: &[&Reading], unit: GlucoseUnit) -> Option<Stats> {
    if inside.is_empty() {
        return None;
    }
    let w = weights(inside);
    let xs: Vec<f64> = inside.iter().map(|r| r.in_unit(unit)).collect();
    let total_w: f64 = w.iter().sum();
    // Σw·x / Σw is exact enough for glucose values and vectorises; the running (West) mean, with a
    // division per reading, is only needed where Σw·x would overflow for absurd inputs.
    let direct = xs.iter().zip(&w).map(|(x, wi)| wi * x).sum::<f64>() / total_w;
    let mean = if direct.is_finite() {
        direct
    } else {
        let mut mean = 0.0;
        let mut acc_w = 0.0;
        for (x, wi) in xs.iter().zip(&w) {
            acc_w += wi;
            mean += (wi / acc_w) * (x - mean);
        }
        mean
    };
    // Two-pass variance around the final mean: numerically steadier than Σx² − n·m².
    let sd = if inside.len() >= 2 {
        let ss: f64 = xs
            .iter()
            .zip(&w)
            .map(|(x, wi)| wi * (x - mean) * (x - mean))
            .sum();
        // With ≥ 2 readings Σw ≥ 2 (every weight ≥ 1), so the denominator is ≥ 1.
        Some((ss / (total_w - 1.0)).max(0.0).sqrt())
    } else {
        None
    };
    Some(Stats { mean, sd })
}

fn range_percents(inside: &[&Reading]) -> Option<RangePercents> {
    if inside.is_empty() {
        return None;
    }
    let w = weights(inside);
    let total: f64 = w.iter().sum();
    let mut acc = [0.0f64; 5];
    for (r, wi) in inside.iter().zip(&w) {
        let i = match RangeBand::classify(r.value, r.unit) {
            RangeBand::VeryLow => 0,
            RangeBand::Low => 1,
            RangeBand::Target => 2,
            RangeBand::High => 3,
            RangeBand::VeryHigh => 4,
        };
        acc[i] += wi;
    }
    let pct = |i: usize| 100.0 * acc[i] / total;
    Some(RangePercents {
        very_low: pct(0),
        low: pct(1),
        target: pct(2),
        high: pct(3),
        very_high: pct(4),
    })
}

fn tight_range_percent(inside: &[&Reading]) -> Option<f64> {
    if inside.is_empty() {
        return None;
    }
    let w = weights(inside);
    let total: f64 = w.iter().sum();
    let tight: f64 = inside
        .iter()
        .zip(&w)
        .filter(|(r, _)| RangeBand::in_tight_range(r.value, r.unit))
        .map(|(_, wi)| wi)
        .sum();
    finite(100.0 * tight / total)
}

fn sufficiency(readings: usize, window_days: f64, active_percent: f64) -> Sufficiency {
    let mut reasons = Vec::new();
    if readings == 0 {
        reasons.push("There are no CGM readings in the selected period.".to_string());
    }
    if window_days < MIN_SUFFICIENT_DAYS {
        reasons.push(format!(
            "The report covers {window_days:.1} days; at least 14 days are recommended for reliable metrics."
        ));
    }
    if active_percent < MIN_ACTIVE_PERCENT {
        reasons.push(format!(
            "CGM was active {active_percent:.1} % of the time; at least 70 % is recommended."
        ));
    }
    Sufficiency {
        sufficient: reasons.is_empty(),
        reasons,
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn finite_or_zero(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::DeviceId;
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use chrono_tz::Tz;

    const UTC: Tz = chrono_tz::UTC;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
    }

    fn reading(
        at: DateTime<Utc>,
        value: f64,
        unit: GlucoseUnit,
        device: &str,
        interval_s: u32,
    ) -> Reading {
        Reading {
            at,
            value,
            unit,
            sentinel: None,
            device: DeviceId::new(device),
            interval_s,
        }
    }

    /// 5-minute mg/dL readings of one device, starting at t0.
    fn series(values: &[f64], unit: GlucoseUnit) -> Vec<Reading> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| reading(t0() + Duration::minutes(5 * i as i64), *v, unit, "a", 300))
            .collect()
    }

    fn window_days(days: i64) -> Window {
        Window::new(t0(), t0() + Duration::days(days)).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn mg_dl_boundary_values_land_in_the_consensus_ranges() {
        // 53 VLow | 54, 69 Low | 70, 180 Target | 181, 250 High | 251 VHigh: two readings per band.
        let rs = series(
            &[
                53.0, 53.4, 54.0, 69.0, 70.0, 180.0, 181.0, 250.0, 251.0, 400.0,
            ],
            GlucoseUnit::MgDl,
        );
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        let r = m.ranges.unwrap();
        assert_eq!(r.as_array(), [20.0, 20.0, 20.0, 20.0, 20.0]);
    }

    #[test]
    fn mmol_l_boundary_values_land_in_the_consensus_ranges_on_their_displayed_value() {
        // 2.9 VLow | 3.0, 3.8 Low | 3.9, 10.0 Target (10.0 mmol/L is 180.16 mg/dL but displayed 10.0) |
        // 10.1, 13.9 High | 14.0 VHigh.
        let rs = series(
            &[2.9, 3.0, 3.8, 3.9, 10.0, 10.04, 10.1, 13.9, 14.0, 13.96],
            GlucoseUnit::MmolL,
        );
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        let r = m.ranges.unwrap();
        assert_eq!(r.as_array(), [10.0, 20.0, 30.0, 20.0, 20.0]);
    }

    #[test]
    fn tight_range_counts_70_and_140_but_not_141() {
        let rs = series(&[69.0, 70.0, 140.0, 141.0], GlucoseUnit::MgDl);
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.titr_percent, Some(50.0));
    }

    #[test]
    fn single_device_gives_plain_mean_and_sample_sd() {
        let rs = series(&[100.0, 120.0, 140.0, 160.0], GlucoseUnit::MgDl);
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.mean, Some(130.0));
        // Sample SD (n − 1) of 100,120,140,160 is sqrt(2000/3).
        assert!(close(m.sd.unwrap(), (2000.0f64 / 3.0).sqrt()));
        assert!(close(
            m.cv_percent.unwrap(),
            100.0 * (2000.0f64 / 3.0).sqrt() / 130.0
        ));
        assert!(close(m.gmi_percent.unwrap(), 3.31 + 0.02392 * 130.0));
        assert!(close(
            m.gmi_mmol_mol.unwrap(),
            12.71 + 4.70587 * 130.0 / 18.016
        ));
    }

    #[test]
    fn mean_and_sd_are_reported_in_the_requested_unit() {
        let rs = series(&[5.0, 7.0], GlucoseUnit::MmolL);
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert!(close(m.mean.unwrap(), 6.0 * 18.016));
        assert!(close(m.mean_mg_dl.unwrap(), 6.0 * 18.016));
        assert!(close(m.sd.unwrap(), 2f64.sqrt() * 18.016));
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MmolL);
        assert!(close(m.mean.unwrap(), 6.0));
        assert!(close(m.gmi_mmol_mol.unwrap(), 12.71 + 4.70587 * 6.0));
    }

    #[test]
    fn two_devices_each_covering_half_the_window_count_half_the_time_each() {
        // Device a: 5-minute readings at 100 mg/dL for the first 12 h; device b: 15-minute readings at
        // 200 mg/dL for the last 12 h. Per reading a outnumbers b 3:1, per time they are equal.
        let mut rs = Vec::new();
        for i in 0..144 {
            rs.push(reading(
                t0() + Duration::minutes(5 * i),
                100.0,
                GlucoseUnit::MgDl,
                "a",
                300,
            ));
        }
        for i in 0..48 {
            rs.push(reading(
                t0() + Duration::hours(12) + Duration::minutes(15 * i),
                200.0,
                GlucoseUnit::MgDl,
                "b",
                900,
            ));
        }
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        let r = m.ranges.unwrap();
        assert!(close(r.target, 50.0), "target {}", r.target);
        assert!(close(r.high, 50.0), "high {}", r.high);
        assert!(close(m.mean.unwrap(), 150.0));
        assert!(close(m.active_percent, 100.0));
    }

    #[test]
    fn gri_example_matches_the_formula_and_zone() {
        // VLow 1, Low 3, Target 80, High 12, VHigh 4 →
        // GRI = 3 + 7.2 + 6.4 + 9.6 = 26.2 (zone B); hypo 1 + 2.4 = 3.4; hyper 4 + 6 = 10.
        let g = Gri::from_ranges(&RangePercents {
            very_low: 1.0,
            low: 3.0,
            target: 80.0,
            high: 12.0,
            very_high: 4.0,
        });
        assert!(close(g.value, 26.2));
        assert!(close(g.hypo_component, 3.4));
        assert!(close(g.hyper_component, 10.0));
        assert_eq!(g.zone, GriZone::B);
        assert!(close(
            g.value,
            3.0 * g.hypo_component + 1.6 * g.hyper_component
        ));
    }

    #[test]
    fn gri_is_capped_at_100_and_zone_edges_are_inclusive() {
        let g = Gri::from_ranges(&RangePercents {
            very_low: 40.0,
            low: 0.0,
            target: 60.0,
            high: 0.0,
            very_high: 0.0,
        });
        assert_eq!(g.value, 100.0);
        assert_eq!(g.zone, GriZone::E);
        assert_eq!(GriZone::of(20.0), GriZone::A);
        assert_eq!(GriZone::of(20.01), GriZone::B);
        assert_eq!(GriZone::of(40.0), GriZone::B);
        assert_eq!(GriZone::of(60.0), GriZone::C);
        assert_eq!(GriZone::of(80.0), GriZone::D);
        assert_eq!(GriZone::of(80.01), GriZone::E);
    }

    #[test]
    fn gri_of_a_trace_uses_its_range_percentages() {
        // 10 readings: 1 VLow, 1 Low, 6 Target, 1 High, 1 VHigh → 3·10 + 2.4·10 + 1.6·10 + 0.8·10 = 78, zone D.
        let rs = series(
            &[
                50.0, 60.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 200.0, 300.0,
            ],
            GlucoseUnit::MgDl,
        );
        let g = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl)
            .gri
            .unwrap();
        assert!(close(g.value, 78.0));
        assert_eq!(g.zone, GriZone::D);
    }

    #[test]
    fn sentinels_are_counted_at_their_bound_and_flagged() {
        let mut rs = series(&[39.0, 100.0, 401.0, 120.0], GlucoseUnit::MgDl);
        rs[0].sentinel = Some(Sentinel::Low);
        rs[2].sentinel = Some(Sentinel::High);
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.sentinel_low, 1);
        assert_eq!(m.sentinel_high, 1);
        assert_eq!(m.readings, 4, "sentinels are readings, not dropped");
        let r = m.ranges.unwrap();
        assert_eq!(r.very_low, 25.0);
        assert_eq!(r.very_high, 25.0);
        assert!(close(m.mean.unwrap(), (39.0 + 100.0 + 401.0 + 120.0) / 4.0));
    }

    #[test]
    fn readings_outside_the_window_are_ignored() {
        let mut rs = series(&[100.0, 100.0], GlucoseUnit::MgDl);
        rs.push(reading(
            t0() + Duration::days(1),
            300.0,
            GlucoseUnit::MgDl,
            "a",
            300,
        ));
        rs.insert(
            0,
            reading(
                t0() - Duration::minutes(5),
                40.0,
                GlucoseUnit::MgDl,
                "a",
                300,
            ),
        );
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.readings, 2, "the window is half-open: its end is outside");
        assert_eq!(m.mean, Some(100.0));
    }

    #[test]
    fn an_empty_window_gives_no_glucose_metrics_and_a_clear_warning() {
        let m = compute_metrics(&[], &window_days(14), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.readings, 0);
        assert!(
            m.mean.is_none() && m.sd.is_none() && m.cv_percent.is_none() && m.gmi_percent.is_none()
        );
        assert!(m.ranges.is_none() && m.titr_percent.is_none() && m.gri.is_none());
        assert_eq!(m.active_percent, 0.0);
        assert_eq!(m.days_of_wear, 0);
        assert!(!m.sufficiency.sufficient);
        assert!(m
            .sufficiency
            .reasons
            .iter()
            .any(|s| s.contains("no CGM readings")));
    }

    #[test]
    fn one_reading_has_a_mean_but_no_sd_or_cv() {
        let rs = series(&[123.0], GlucoseUnit::MgDl);
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.mean, Some(123.0));
        assert_eq!(m.sd, None);
        assert_eq!(m.cv_percent, None);
        assert_eq!(m.ranges.unwrap().target, 100.0);
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("NaN") && !json.contains("inf"), "{json}");
    }

    #[test]
    fn a_zero_mean_gives_no_cv_rather_than_infinity() {
        let rs = series(&[0.0, 0.0], GlucoseUnit::MgDl);
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.sd, Some(0.0));
        assert_eq!(m.cv_percent, None);
    }

    #[test]
    fn active_percent_is_time_covered_over_window_and_capped() {
        // 144 five-minute readings cover 12 of 24 hours.
        let rs: Vec<Reading> = (0..144)
            .map(|i| {
                reading(
                    t0() + Duration::minutes(5 * i),
                    100.0,
                    GlucoseUnit::MgDl,
                    "a",
                    300,
                )
            })
            .collect();
        let m = compute_metrics(&rs, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert!(close(m.active_percent, 50.0));
        // Two devices worn together for the whole day would cover 200 %: capped.
        let mut both = Vec::new();
        for i in 0..288 {
            both.push(reading(
                t0() + Duration::minutes(5 * i),
                100.0,
                GlucoseUnit::MgDl,
                "a",
                300,
            ));
            both.push(reading(
                t0() + Duration::minutes(5 * i) + Duration::seconds(30),
                100.0,
                GlucoseUnit::MgDl,
                "b",
                300,
            ));
        }
        let m = compute_metrics(&both, &window_days(1), UTC, GlucoseUnit::MgDl);
        assert_eq!(m.active_percent, 100.0);
    }

    #[test]
    fn sufficiency_needs_14_days_and_70_percent_active_and_says_why() {
        let full: Vec<Reading> = (0..14 * 288)
            .map(|i| {
                reading(
                    t0() + Duration::minutes(5 * i),
                    100.0,
                    GlucoseUnit::MgDl,
                    "a",
                    300,
                )
            })
            .collect();
        let m = compute_metrics(&full, &window_days(14), UTC, GlucoseUnit::MgDl);
        assert!(m.sufficiency.sufficient, "{:?}", m.sufficiency.reasons);
        assert!(m.sufficiency.reasons.is_empty());

        let m = compute_metrics(
            &full[..14 * 288 / 2],
            &window_days(14),
            UTC,
            GlucoseUnit::MgDl,
        );
        assert!(!m.sufficiency.sufficient);
        assert_eq!(
            m.sufficiency.reasons,
            vec!["CGM was active 50.0 % of the time; at least 70 % is recommended.".to_string()]
        );

        let m = compute_metrics(&full, &window_days(7), UTC, GlucoseUnit::MgDl);
        assert!(!m.sufficiency.sufficient);
        assert!(
            m.sufficiency.reasons[0].contains("7.0 days"),
            "{:?}",
            m.sufficiency.reasons
        );
    }

    #[test]
    fn fourteen_local_days_across_spring_forward_are_sufficient() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let last = chrono::NaiveDate::from_ymd_opt(2024, 4, 6).unwrap();
        let w = Window::last_days(last, 14, berlin);
        assert!(w.days() < 14.0);
        let rs: Vec<Reading> = (0..)
            .map(|i| {
                reading(
                    w.start + Duration::minutes(5 * i),
                    100.0,
                    GlucoseUnit::MgDl,
                    "a",
                    300,
                )
            })
            .take_while(|r| r.at < w.end)
            .collect();
        let m = compute_metrics(&rs, &w, berlin, GlucoseUnit::MgDl);
        assert!(m.sufficiency.sufficient, "{:?}", m.sufficiency.reasons);
        assert_eq!(m.days_of_wear, 14);
    }

    #[test]
    fn days_of_wear_count_local_calendar_days_across_dst() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 2024-10-27 in Berlin is 25 h: local midnight is 2024-10-26T22:00Z, the next is 2024-10-27T23:00Z.
        let w = Window::local_days(
            chrono::NaiveDate::from_ymd_opt(2024, 10, 26).unwrap(),
            chrono::NaiveDate::from_ymd_opt(2024, 10, 28).unwrap(),
            berlin,
        )
        .unwrap();
        let at = |h, m| Utc.with_ymd_and_hms(2024, 10, 27, h, m, 0).unwrap();
        // 22:30Z on the 27th is 23:30 local on the 27th (CET): same day as 00:30 local. In UTC these are two
        // calendar days; in Berlin one.
        let rs = vec![
            reading(
                Utc.with_ymd_and_hms(2024, 10, 26, 22, 30, 0).unwrap(),
                100.0,
                GlucoseUnit::MgDl,
                "a",
                300,
            ),
            reading(at(22, 30), 100.0, GlucoseUnit::MgDl, "a", 300),
        ];
        assert_eq!(
            compute_metrics(&rs, &w, berlin, GlucoseUnit::MgDl).days_of_wear,
            1
        );
        assert_eq!(
            compute_metrics(&rs, &w, UTC, GlucoseUnit::MgDl).days_of_wear,
            2
        );
        // 23:30Z on the 27th is 00:30 on the 28th in Berlin: a second local day.
        let rs2 = vec![
            rs[0].clone(),
            reading(at(23, 30), 100.0, GlucoseUnit::MgDl, "a", 300),
        ];
        assert_eq!(
            compute_metrics(&rs2, &w, berlin, GlucoseUnit::MgDl).days_of_wear,
            2
        );
    }

    #[test]
    fn rounding_for_the_ehr_keeps_the_sum_at_exactly_100() {
        let r = RangePercents {
            very_low: 100.0 / 3.0,
            low: 100.0 / 3.0,
            target: 100.0 / 3.0,
            high: 0.0,
            very_high: 0.0,
        };
        let q = r.rounded_to_sum_100(2);
        let cents: i64 = q
            .as_array()
            .iter()
            .map(|v| (v * 100.0).round() as i64)
            .sum();
        assert_eq!(cents, 10_000);
        assert_eq!(
            q.very_low, 33.34,
            "the first of equal remainders takes the extra cent"
        );
        assert_eq!(q.low, 33.33);
        assert_eq!(q.high, 0.0);
    }
}
