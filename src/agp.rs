//! The AGP percentile profile (METRICS.md "AGP"): readings of all days pooled into time-of-day bins of the
//! patient's local clock, type-7 quantiles per bin, circular smoothing; sparse bins left empty.
//!
//! - Bins follow the local wall clock ([`local_seconds_of_day`]), not elapsed time: on a spring-forward day
//!   the skipped hour's bins get nothing from that day, and on a fall-back day the repeated hour's bins get
//!   readings twice. 07:00 is always 07:00.
//! - Readings are pooled unweighted: type-7 quantiles are defined on a plain sample, as in R and iglu.
//! - Quantiles are R's type 7 (h = (n − 1)·p, linear interpolation between the order statistics around h).
//! - Smoothing kernel: each percentile of a bin is replaced by the weighted mean of that percentile in the
//!   bin itself (weight 2) and its two neighbours (weight 1 each), i.e. [1, 2, 1] / 4, circularly (the last
//!   bin of the day and the first are neighbours). Neighbours that are empty are left out and the weights
//!   renormalised over those present, so an empty bin never pulls values towards zero and stays empty
//!   itself (nothing is invented). With fewer than three bins there is nothing to smooth.
//! - Percentiles are smoothed independently; a weighted mean of ordered tuples is ordered, and a final pass
//!   enforces p5 ≤ p25 ≤ p50 ≤ p75 ≤ p95 against floating-point rounding.

use crate::localtime::LocalClock;
use crate::reading::Reading;
use crate::units::GlucoseUnit;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p5: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
}

impl Percentiles {
    /// The five probabilities of the AGP, in field order.
    pub const PROBS: [f64; 5] = [0.05, 0.25, 0.50, 0.75, 0.95];

    /// Type-7 percentiles of sorted values; `None` for an empty slice.
    pub fn of_sorted(sorted: &[f64]) -> Option<Percentiles> {
        let q = |p| quantile_type7(sorted, p);
        Some(Percentiles {
            p5: q(0.05)?,
            p25: q(0.25)?,
            p50: q(0.50)?,
            p75: q(0.75)?,
            p95: q(0.95)?,
        })
    }

    fn as_array(&self) -> [f64; 5] {
        [self.p5, self.p25, self.p50, self.p75, self.p95]
    }

    /// Builds from five values, forcing them non-decreasing.
    fn from_array_monotone(mut a: [f64; 5]) -> Percentiles {
        for i in 1..5 {
            a[i] = a[i].max(a[i - 1]);
        }
        Percentiles {
            p5: a[0],
            p25: a[1],
            p50: a[2],
            p75: a[3],
            p95: a[4],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgpBin {
    /// Start of the bin, minutes after local midnight.
    pub minute_of_day: u32,
    /// Raw readings pooled into the bin.
    pub count: usize,
    /// Smoothed percentiles in the profile's unit; `None` when the bin has too few readings.
    pub percentiles: Option<Percentiles>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgpProfile {
    pub unit: GlucoseUnit,
    pub bin_minutes: u32,
    pub bins: Vec<AgpBin>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgpOptions {
    pub bin_minutes: u32,
    /// Bins with fewer raw readings than this are left empty.
    pub min_readings_per_bin: usize,
}

impl Default for AgpOptions {
    fn default() -> Self {
        AgpOptions {
            bin_minutes: 15,
            min_readings_per_bin: 5,
        }
    }
}

/// The smoothing kernel over (previous bin, bin, next bin).
pub const SMOOTHING_KERNEL: [f64; 3] = [1.0, 2.0, 1.0];

const MINUTES_PER_DAY: u32 = 24 * 60;

/// Type-7 quantile (R's default, d3's): linear interpolation between order statistics of sorted `xs`.
/// `p` outside [0, 1] is clamped; `None` for an empty slice or a NaN `p`.
pub fn quantile_type7(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() || p.is_nan() {
        return None;
    }
    let p = p.clamp(0.0, 1.0);
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = h - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    // a + frac·(b − a) returns a exactly at frac = 0, so order statistics come out unchanged.
    Some(a + frac * (b - a))
}

/// Builds the profile from readings (already restricted to the window) in `tz`, values in `unit`.
pub fn agp_profile(
    readings: &[Reading],
    tz: Tz,
    unit: GlucoseUnit,
    opts: AgpOptions,
) -> AgpProfile {
    let bin_minutes = opts.bin_minutes.clamp(1, MINUTES_PER_DAY);
    let n_bins = MINUTES_PER_DAY.div_ceil(bin_minutes) as usize;
    let mut pooled: Vec<Vec<f64>> = vec![Vec::new(); n_bins];
    let mut clock = LocalClock::new(tz);
    for r in readings {
        let v = r.in_unit(unit);
        if !v.is_finite() {
            continue;
        }
        let minute = clock.seconds_of_day(r.at) / 60;
        // A leap second could read 86 400 s; it belongs to the last bin.
        let bin = ((minute / bin_minutes) as usize).min(n_bins - 1);
        pooled[bin].push(v);
    }
    let counts: Vec<usize> = pooled.iter().map(Vec::len).collect();
    let min_count = opts.min_readings_per_bin.max(1);
    let raw: Vec<Option<Percentiles>> = pooled
        .into_iter()
        .map(|mut vals| {
            if vals.len() < min_count {
                return None;
            }
            // Unstable is exact here: floats equal under total_cmp are bit-identical.
            vals.sort_unstable_by(f64::total_cmp);
            Percentiles::of_sorted(&vals)
        })
        .collect();
    let smoothed = smooth_circular(&raw);
    let bins = smoothed
        .into_iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (percentiles, count))| AgpBin {
            minute_of_day: i as u32 * bin_minutes,
            count,
            percentiles,
        })
        .collect();
    AgpProfile {
        unit,
        bin_minutes,
        bins,
    }
}

fn smooth_circular(raw: &[Option<Percentiles>]) -> Vec<Option<Percentiles>> {
    let n = raw.len();
    if n < 3 {
        return raw
            .iter()
            .map(|p| p.map(|p| Percentiles::from_array_monotone(p.as_array())))
            .collect();
    }
    (0..n)
        .map(|i| {
            // An empty bin stays empty: smoothing never invents a profile where there were no readings.
            let own = raw[i]?;
            let neighbours = [(i + n - 1) % n, i, (i + 1) % n];
            let present: Vec<(f64, Percentiles)> = neighbours
                .iter()
                .zip(SMOOTHING_KERNEL)
                .filter_map(|(j, w)| raw[*j].map(|p| (w, p)))
                .collect();
            let total_w: f64 = present.iter().map(|(w, _)| w).sum();
            // Normalised weights before summing: a weighted mean of finite values then stays finite even
            // for absurdly large inputs, where Σ w·v would overflow.
            let mut acc = [0.0f64; 5];
            for (w, p) in &present {
                for (a, v) in acc.iter_mut().zip(p.as_array()) {
                    *a += (w / total_w) * v;
                }
            }
            if acc.iter().all(|a| a.is_finite()) {
                Some(Percentiles::from_array_monotone(acc))
            } else {
                Some(Percentiles::from_array_monotone(own.as_array()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::DeviceId;
    use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn type7_quantiles_match_r() {
        // R: quantile(c(1, 2, 3, 4, 10), c(.05, .25, .5, .75, .95), type = 7) → 1.2 2.0 3.0 4.0 8.8
        let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
        let want = [1.2, 2.0, 3.0, 4.0, 8.8];
        for (p, w) in Percentiles::PROBS.iter().zip(want) {
            let got = quantile_type7(&xs, *p).unwrap();
            assert!(close(got, w), "p={p}: {got} != {w}");
        }
        // R: quantile(c(10, 20), c(0, .1, 1)) → 10 11 20
        assert!(close(quantile_type7(&[10.0, 20.0], 0.1).unwrap(), 11.0));
        assert_eq!(quantile_type7(&[10.0, 20.0], 0.0), Some(10.0));
        assert_eq!(quantile_type7(&[10.0, 20.0], 1.0), Some(20.0));
    }

    #[test]
    fn type7_of_nothing_is_none_and_of_one_value_is_that_value() {
        assert_eq!(quantile_type7(&[], 0.5), None);
        assert_eq!(quantile_type7(&[7.0], 0.05), Some(7.0));
        assert_eq!(quantile_type7(&[7.0], f64::NAN), None);
    }

    #[test]
    fn bins_follow_the_local_wall_clock_on_dst_days() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let opts = AgpOptions {
            bin_minutes: 60,
            min_readings_per_bin: 1,
        };
        // 07:00 local on the spring-forward day (05:00Z, CEST) and on the day before (06:00Z, CET).
        let rs = vec![
            reading(Utc.with_ymd_and_hms(2024, 3, 30, 6, 0, 0).unwrap(), 100.0),
            reading(Utc.with_ymd_and_hms(2024, 3, 31, 5, 0, 0).unwrap(), 100.0),
            // 02:30Z on the fall-back day is 03:30 CET; 00:30Z is 02:30 CEST, 01:30Z is 02:30 CET (repeated).
            reading(Utc.with_ymd_and_hms(2024, 10, 27, 0, 30, 0).unwrap(), 100.0),
            reading(Utc.with_ymd_and_hms(2024, 10, 27, 1, 30, 0).unwrap(), 100.0),
            reading(Utc.with_ymd_and_hms(2024, 10, 27, 2, 30, 0).unwrap(), 100.0),
        ];
        let p = agp_profile(&rs, berlin, GlucoseUnit::MgDl, opts);
        assert_eq!(p.bins.len(), 24);
        let counts: Vec<usize> = p.bins.iter().map(|b| b.count).collect();
        assert_eq!(
            counts[7], 2,
            "both 07:00 readings in the 07:00 bin: {counts:?}"
        );
        assert_eq!(
            counts[2], 2,
            "the repeated 02:30 hour lands twice in the 02:00 bin: {counts:?}"
        );
        assert_eq!(counts[3], 1);
        assert_eq!(counts.iter().sum::<usize>(), 5);
        // In UTC the same readings sit elsewhere: proof the zone is used.
        let u = agp_profile(&rs, chrono_tz::UTC, GlucoseUnit::MgDl, opts);
        assert_eq!(u.bins[7].count, 0);
    }

    #[test]
    fn default_profile_has_96_fifteen_minute_bins() {
        let p = agp_profile(
            &[],
            chrono_tz::UTC,
            GlucoseUnit::MgDl,
            AgpOptions::default(),
        );
        assert_eq!(p.bins.len(), 96);
        assert_eq!(p.bins[1].minute_of_day, 15);
        assert_eq!(p.bins[95].minute_of_day, 1425);
        assert!(p
            .bins
            .iter()
            .all(|b| b.percentiles.is_none() && b.count == 0));
    }

    /// `n` readings per day at `minute` past UTC midnight over `n` days, all with value `v`.
    fn at_minute(minute: i64, v: f64, n: i64) -> Vec<Reading> {
        let day0 = NaiveDate::from_ymd_opt(2024, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc();
        (0..n)
            .map(|d| reading(day0 + Duration::days(d) + Duration::minutes(minute), v))
            .collect()
    }

    #[test]
    fn sparse_bins_stay_empty_and_do_not_pull_their_neighbours() {
        let mut rs = at_minute(60, 100.0, 5); // bin 4 (01:00), enough readings
        rs.extend(at_minute(75, 200.0, 4)); // bin 5, one short of the minimum
        let p = agp_profile(
            &rs,
            chrono_tz::UTC,
            GlucoseUnit::MgDl,
            AgpOptions::default(),
        );
        assert_eq!(p.bins[5].count, 4);
        assert!(p.bins[5].percentiles.is_none());
        let b4 = p.bins[4].percentiles.unwrap();
        assert_eq!(
            b4.p50, 100.0,
            "only the bin itself is present, so smoothing leaves it alone"
        );
    }

    #[test]
    fn smoothing_uses_1_2_1_and_wraps_around_midnight() {
        // Last bin (23:45) median 100, first bin (00:00) median 200, second bin (00:15) median 300.
        let mut rs = at_minute(23 * 60 + 45, 100.0, 5);
        rs.extend(at_minute(0, 200.0, 5));
        rs.extend(at_minute(15, 300.0, 5));
        let p = agp_profile(
            &rs,
            chrono_tz::UTC,
            GlucoseUnit::MgDl,
            AgpOptions::default(),
        );
        let med = |i: usize| p.bins[i].percentiles.unwrap().p50;
        assert!(close(med(0), (100.0 + 2.0 * 200.0 + 300.0) / 4.0));
        // Bin 95's neighbours are bin 94 (empty) and bin 0: weights renormalised over (2, 1).
        assert!(close(med(95), (2.0 * 100.0 + 200.0) / 3.0));
        assert!(close(med(1), (200.0 + 2.0 * 300.0) / 3.0));
    }

    #[test]
    fn raw_percentiles_per_bin_are_type7_and_ordered() {
        // One isolated bin (02:00) with values 1,2,3,4,10: nothing to smooth with.
        let mut rs = Vec::new();
        for (d, v) in [1.0, 2.0, 3.0, 4.0, 10.0].iter().enumerate() {
            rs.extend(at_minute(120 + 24 * 60 * d as i64, *v, 1));
        }
        let p = agp_profile(
            &rs,
            chrono_tz::UTC,
            GlucoseUnit::MgDl,
            AgpOptions::default(),
        );
        let q = p.bins[8].percentiles.unwrap();
        assert!(close(q.p5, 1.2) && close(q.p25, 2.0) && close(q.p50, 3.0));
        assert!(close(q.p75, 4.0) && close(q.p95, 8.8));
    }

    #[test]
    fn profile_values_are_in_the_requested_unit() {
        let rs = at_minute(0, 180.16, 5);
        let p = agp_profile(
            &rs,
            chrono_tz::UTC,
            GlucoseUnit::MmolL,
            AgpOptions::default(),
        );
        assert_eq!(p.unit, GlucoseUnit::MmolL);
        assert!(close(p.bins[0].percentiles.unwrap().p50, 10.0));
    }

    #[test]
    fn smoothed_percentiles_never_cross() {
        // Neighbours with very different spreads.
        let mut rs = Vec::new();
        for (d, v) in [50.0, 60.0, 300.0, 310.0, 320.0].iter().enumerate() {
            rs.extend(at_minute(24 * 60 * d as i64, *v, 1));
        }
        for (d, v) in [100.0, 101.0, 102.0, 103.0, 104.0].iter().enumerate() {
            rs.extend(at_minute(15 + 24 * 60 * d as i64, *v, 1));
        }
        let p = agp_profile(
            &rs,
            chrono_tz::UTC,
            GlucoseUnit::MgDl,
            AgpOptions::default(),
        );
        for b in p.bins.iter().filter_map(|b| b.percentiles) {
            let a = b.as_array();
            assert!(a.windows(2).all(|w| w[0] <= w[1]), "{a:?}");
        }
    }
}
