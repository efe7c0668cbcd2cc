//! The report window W: a half-open UTC interval [start, end), usually whole local days of the patient
//! (presets of 14, 30 and 90 days ending with the local day of the latest reading, or custom dates).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::localtime::local_midnight;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Error for a window that is empty or inverted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the window must end after it starts (from {from}, to {to})")]
pub struct InvalidWindow {
    pub from: String,
    pub to: String,
}

impl Window {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, InvalidWindow> {
        if end <= start {
            return Err(InvalidWindow {
                from: start.to_rfc3339(),
                to: end.to_rfc3339(),
            });
        }
        Ok(Window { start, end })
    }

    /// The local calendar days `first..=last` in `tz`, from local midnight to local midnight
    /// (so a DST day contributes 23 or 25 hours).
    pub fn local_days(first: NaiveDate, last: NaiveDate, tz: Tz) -> Result<Self, InvalidWindow> {
        let end_day = last.succ_opt().unwrap_or(last);
        Window::new(local_midnight(first, tz), local_midnight(end_day, tz))
    }

    /// The `days` local calendar days ending with (and including) `last_day`.
    pub fn last_days(last_day: NaiveDate, days: u32, tz: Tz) -> Self {
        let days = days.max(1);
        let first = last_day - Duration::days(i64::from(days) - 1);
        // first <= last_day by construction, so the window is never empty.
        Window::local_days(first, last_day, tz).unwrap_or(Window {
            start: local_midnight(first, tz),
            end: local_midnight(first, tz) + Duration::days(i64::from(days)),
        })
    }

    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.start && t < self.end
    }

    pub fn duration(&self) -> Duration {
        self.end - self.start
    }

    pub fn minutes(&self) -> f64 {
        self.duration().num_seconds() as f64 / 60.0
    }

    /// Length in days (fractional for DST-shifted local windows: 14 local days across a DST change are
    /// 13.96 or 14.04 days of 24 hours).
    pub fn days(&self) -> f64 {
        self.duration().num_seconds() as f64 / 86_400.0
    }
}
