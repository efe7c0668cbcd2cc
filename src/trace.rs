//! A trace: one patient's readings, sorted by time and de-duplicated, restricted to a window when asked.
//!
//! De-duplication (METRICS.md "Inputs"): two readings of one device closer than (nominal interval − 10 s)
//! keep the first. Readings from different devices are never merged with each other.

use crate::reading::{DeviceId, Reading};
use crate::window::Window;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    readings: Vec<Reading>,
}

impl Trace {
    /// Builds a trace from readings in any order, sorting and de-duplicating them.
    /// Non-finite values are dropped: they are not measurements.
    pub fn new(mut readings: Vec<Reading>) -> Self {
        readings.retain(|r| r.value.is_finite() && r.value >= 0.0);
        // Sort by (time, device, value) so the result does not depend on input order even for ties.
        readings.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then_with(|| a.device.cmp(&b.device))
                .then_with(|| a.value.total_cmp(&b.value))
        });
        // A trace has a handful of devices: a short list beats hashing a String per reading.
        let mut last_kept: Vec<(DeviceId, chrono::DateTime<chrono::Utc>)> = Vec::new();
        readings.retain(|r| {
            let min_gap = i64::from(r.interval_s.max(11)) - 10;
            match last_kept.iter_mut().find(|(d, _)| *d == r.device) {
                Some((_, prev)) if (r.at - *prev).num_seconds() < min_gap => false,
                Some((_, prev)) => {
                    *prev = r.at;
                    true
                }
                None => {
                    last_kept.push((r.device.clone(), r.at));
                    true
                }
            }
        });
        Trace { readings }
    }

    pub fn readings(&self) -> &[Reading] {
        &self.readings
    }

    pub fn len(&self) -> usize {
        self.readings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
    }

    /// The readings inside `w`, as a slice (the trace is sorted, so this is two binary searches).
    pub fn in_window(&self, w: &Window) -> &[Reading] {
        let lo = self.readings.partition_point(|r| r.at < w.start);
        let hi = self.readings.partition_point(|r| r.at < w.end);
        &self.readings[lo..hi]
    }

    pub fn first(&self) -> Option<&Reading> {
        self.readings.first()
    }

    pub fn last(&self) -> Option<&Reading> {
        self.readings.last()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::GlucoseUnit;
    use chrono::{Duration, TimeZone, Utc};

    fn r(min: i64, secs: i64, v: f64, dev: &str) -> Reading {
        Reading {
            at: Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
                + Duration::minutes(min)
                + Duration::seconds(secs),
            value: v,
            unit: GlucoseUnit::MgDl,
            sentinel: None,
            device: DeviceId::new(dev),
            interval_s: 300,
        }
    }

    #[test]
    fn readings_of_one_device_closer_than_interval_minus_10s_keep_the_first() {
        let t = Trace::new(vec![
            r(0, 0, 100.0, "a"),
            r(0, 1, 101.0, "a"),
            r(4, 50, 102.0, "a"),
            r(5, 0, 103.0, "a"),
        ]);
        let vals: Vec<f64> = t.readings().iter().map(|x| x.value).collect();
        assert_eq!(
            vals,
            vec![100.0, 102.0],
            "4:50 is exactly interval − 10 s after the first: kept"
        );
    }

    #[test]
    fn different_devices_are_not_merged() {
        let t = Trace::new(vec![r(0, 0, 100.0, "a"), r(0, 1, 101.0, "b")]);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn order_of_input_does_not_matter() {
        let a = vec![
            r(10, 0, 1.0, "a"),
            r(0, 0, 2.0, "a"),
            r(5, 0, 3.0, "a"),
            r(5, 2, 4.0, "a"),
        ];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(Trace::new(a), Trace::new(b));
    }

    #[test]
    fn non_finite_values_are_dropped() {
        let t = Trace::new(vec![r(0, 0, f64::NAN, "a"), r(5, 0, 100.0, "a")]);
        assert_eq!(t.len(), 1);
    }
}
