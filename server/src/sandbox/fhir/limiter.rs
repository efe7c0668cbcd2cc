//! RCV-6: at most one `$submit-cgm-bundle` per client and patient per interval; beyond it 429 with
//! `Retry-After`. In memory: the sandbox runs as one process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct SubmitLimiter {
    /// Milliseconds; changeable while running (tests on a simulated clock turn the limit off).
    interval_ms: AtomicU64,
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl SubmitLimiter {
    pub fn new(interval: Duration) -> SubmitLimiter {
        SubmitLimiter {
            interval_ms: AtomicU64::new(interval.as_millis().try_into().unwrap_or(u64::MAX)),
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Changes the interval from now on (zero: no limit).
    pub fn set_interval(&self, interval: Duration) {
        self.interval_ms.store(
            interval.as_millis().try_into().unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Records a submission by `client` for `patient` now, or says how long to wait before the next one.
    pub fn check(&self, client: &str, patient: &str) -> Result<(), Duration> {
        self.check_at(client, patient, Instant::now())
    }

    fn check_at(&self, client: &str, patient: &str, now: Instant) -> Result<(), Duration> {
        let interval = Duration::from_millis(self.interval_ms.load(Ordering::Relaxed));
        if interval.is_zero() {
            return Ok(());
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let key = (client.to_string(), patient.to_string());
        if let Some(prev) = last.get(&key) {
            let next = *prev + interval;
            if now < next {
                return Err(next - now);
            }
        }
        last.insert(key, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_submission_inside_the_interval_waits_for_the_rest_of_it() {
        let l = SubmitLimiter::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(l.check_at("app", "p1", t0).is_ok());
        let wait = l
            .check_at("app", "p1", t0 + Duration::from_secs(3))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(7));
        assert!(l.check_at("app", "p2", t0).is_ok(), "other patient");
        assert!(l.check_at("other", "p1", t0).is_ok(), "other client");
        assert!(l
            .check_at("app", "p1", t0 + Duration::from_secs(10))
            .is_ok());
    }

    #[test]
    fn a_zero_interval_never_limits() {
        let l = SubmitLimiter::new(Duration::ZERO);
        let t0 = Instant::now();
        assert!(l.check_at("a", "p", t0).is_ok());
        assert!(l.check_at("a", "p", t0).is_ok());
    }
}
