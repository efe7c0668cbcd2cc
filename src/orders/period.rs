//! Time arithmetic of orders: the UCUM units-of-time of schedule periods (ORD-2) with calendar months and years
//! for `mo`/`a` and fixed durations for `s`/`min`/`h`/`d`/`wk` (NOTES D3), FHIR date/dateTime bounds, and the
//! window of a one-time order's `timePeriod` (date-only bounds are whole local days with an inclusive end,
//! NOTES C4).

use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::localtime::{from_local, local_midnight};
use crate::window::Window;

/// A UCUM code of the R4 `units-of-time` value set (ORD-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeUnit {
    S,
    Min,
    H,
    D,
    Wk,
    Mo,
    A,
}

impl TimeUnit {
    /// The unit for a UCUM code of `units-of-time`; `None` for anything else (`month`, `days`, `Mo`, …).
    pub fn from_ucum(code: &str) -> Option<TimeUnit> {
        Some(match code {
            "s" => TimeUnit::S,
            "min" => TimeUnit::Min,
            "h" => TimeUnit::H,
            "d" => TimeUnit::D,
            "wk" => TimeUnit::Wk,
            "mo" => TimeUnit::Mo,
            "a" => TimeUnit::A,
            _ => return None,
        })
    }

    pub fn ucum(self) -> &'static str {
        match self {
            TimeUnit::S => "s",
            TimeUnit::Min => "min",
            TimeUnit::H => "h",
            TimeUnit::D => "d",
            TimeUnit::Wk => "wk",
            TimeUnit::Mo => "mo",
            TimeUnit::A => "a",
        }
    }

    /// Seconds of a fixed unit; `None` for the calendar units `mo` and `a` (NOTES D3).
    pub fn fixed_seconds(self) -> Option<i64> {
        match self {
            TimeUnit::S => Some(1),
            TimeUnit::Min => Some(60),
            TimeUnit::H => Some(3_600),
            TimeUnit::D => Some(86_400),
            TimeUnit::Wk => Some(604_800),
            TimeUnit::Mo | TimeUnit::A => None,
        }
    }
}

/// A positive amount of a time unit, e.g. 2 `wk` (ORD-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimePeriod {
    pub value: u32,
    pub unit: TimeUnit,
}

/// A period reduced to what it means for arithmetic: 2 `wk` and 14 `d` are the same cadence, and so are 12 `mo`
/// and 1 `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Span {
    Seconds(i64),
    Months(i64),
}

impl TimePeriod {
    pub fn new(value: u32, unit: TimeUnit) -> TimePeriod {
        TimePeriod { value, unit }
    }

    pub fn span(self) -> Span {
        let n = i64::from(self.value);
        match self.unit {
            TimeUnit::Mo => Span::Months(n),
            TimeUnit::A => Span::Months(n * 12),
            fixed => Span::Seconds(n * fixed.fixed_seconds().unwrap_or(1)),
        }
    }

    /// Shorter than a day: such schedules get minute-aligned windows instead of whole local days.
    pub fn is_sub_day(self) -> bool {
        matches!(self.span(), Span::Seconds(s) if s < 86_400)
    }

    /// `t` plus this period: calendar months in `tz` for `mo`/`a` (Jan 31 + 1 mo = Feb 29 in a leap year, the
    /// local wall-clock time kept), a fixed duration otherwise (NOTES D3). Saturates at the end of time.
    pub fn add(self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match self.span() {
            Span::Seconds(s) => t
                .checked_add_signed(Duration::seconds(s))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
            Span::Months(m) => {
                let local = t.with_timezone(&tz).naive_local();
                u32::try_from(m)
                    .ok()
                    .and_then(|m| local.checked_add_months(Months::new(m)))
                    .map_or(DateTime::<Utc>::MAX_UTC, |n| from_local(n, tz))
            }
        }
    }

    /// `t` minus this period, the mirror of [`TimePeriod::add`]. Saturates at the start of time.
    pub fn sub(self, t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match self.span() {
            Span::Seconds(s) => t
                .checked_sub_signed(Duration::seconds(s))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            Span::Months(m) => {
                let local = t.with_timezone(&tz).naive_local();
                u32::try_from(m)
                    .ok()
                    .and_then(|m| local.checked_sub_months(Months::new(m)))
                    .map_or(DateTime::<Utc>::MIN_UTC, |n| from_local(n, tz))
            }
        }
    }

    /// The local day this period before `day`, for whole-day windows: `d`/`wk` count calendar days (so 2 `wk`
    /// is 14 local days across a DST change, not 336 hours that end at 23:00), `mo`/`a` calendar months, and
    /// `s`/`min`/`h` round up to whole days so the window is never shorter than asked.
    pub fn days_before(self, day: NaiveDate) -> NaiveDate {
        match self.span() {
            Span::Seconds(s) => {
                let days = (s + 86_399) / 86_400;
                day.checked_sub_signed(Duration::days(days))
                    .unwrap_or(NaiveDate::MIN)
            }
            Span::Months(m) => u32::try_from(m)
                .ok()
                .and_then(|m| day.checked_sub_months(Months::new(m)))
                .unwrap_or(NaiveDate::MIN),
        }
    }
}

/// One bound of a FHIR Period: a date (any precision, already widened to the day it stands for) or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A date-only bound: for a start the first day it covers, for an end the last day (inclusive, NOTES C4).
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl Bound {
    /// The instant a start bound stands for: local midnight of the day in `tz` (NOTES C4), or the instant.
    pub fn start_instant(self, tz: Tz) -> DateTime<Utc> {
        match self {
            Bound::Date(d) => local_midnight(d, tz),
            Bound::Instant(t) => t,
        }
    }

    /// The exclusive instant an end bound stands for: local midnight after the (inclusive) day, or the instant.
    pub fn end_instant(self, tz: Tz) -> DateTime<Utc> {
        match self {
            Bound::Date(d) => local_midnight(d.succ_opt().unwrap_or(d), tz),
            Bound::Instant(t) => t,
        }
    }
}

/// A one-time order's `timePeriod` (ORD-4), kept as written until the patient's zone is known (NOTES C4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderPeriod {
    /// Both bounds are dates: whole local days `first..=last`.
    Dates { first: NaiveDate, last: NaiveDate },
    /// Both bounds are date-times: honoured exactly, `[start, end)`.
    Instants {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// One of each (valid FHIR, rare): each bound read as above.
    Mixed { start: Bound, end: Bound },
}

impl OrderPeriod {
    pub fn from_bounds(start: Bound, end: Bound) -> OrderPeriod {
        match (start, end) {
            (Bound::Date(first), Bound::Date(last)) => OrderPeriod::Dates { first, last },
            (Bound::Instant(start), Bound::Instant(end)) => OrderPeriod::Instants { start, end },
            (start, end) => OrderPeriod::Mixed { start, end },
        }
    }

    pub fn start(&self) -> Bound {
        match *self {
            OrderPeriod::Dates { first, .. } => Bound::Date(first),
            OrderPeriod::Instants { start, .. } => Bound::Instant(start),
            OrderPeriod::Mixed { start, .. } => start,
        }
    }

    pub fn end(&self) -> Bound {
        match *self {
            OrderPeriod::Dates { last, .. } => Bound::Date(last),
            OrderPeriod::Instants { end, .. } => Bound::Instant(end),
            OrderPeriod::Mixed { end, .. } => end,
        }
    }
}

/// The half-open UTC window of a one-time order: dates are whole local days in `tz` with the end day included,
/// instants are taken exactly (NOTES C4). The parser rejects periods that end before they start; an instant
/// period with start = end gives an empty window the caller can skip.
pub fn one_time_window(period: &OrderPeriod, tz: Tz) -> Window {
    let start = period.start().start_instant(tz);
    let end = period.end().end_instant(tz).max(start);
    Window { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn berlin() -> Tz {
        crate::localtime::parse_tz("Europe/Berlin").unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn d3_a_month_after_january_31_is_the_last_day_of_february_in_local_time() {
        let tz = berlin();
        // 2024-01-31 09:00 CET.
        let jan31 = Utc.with_ymd_and_hms(2024, 1, 31, 8, 0, 0).unwrap();
        let feb = TimePeriod::new(1, TimeUnit::Mo).add(jan31, tz);
        assert_eq!(feb, Utc.with_ymd_and_hms(2024, 2, 29, 8, 0, 0).unwrap());
        let jan31_2023 = Utc.with_ymd_and_hms(2023, 1, 31, 8, 0, 0).unwrap();
        assert_eq!(
            TimePeriod::new(1, TimeUnit::Mo).add(jan31_2023, tz),
            Utc.with_ymd_and_hms(2023, 2, 28, 8, 0, 0).unwrap()
        );
        // Across the spring DST change the wall clock stays at 09:00 (now CEST = 07:00Z).
        assert_eq!(
            TimePeriod::new(3, TimeUnit::Mo).add(jan31, tz),
            Utc.with_ymd_and_hms(2024, 4, 30, 7, 0, 0).unwrap()
        );
    }

    #[test]
    fn d3_a_year_is_twelve_calendar_months_and_feb_29_clamps() {
        let tz = berlin();
        let leap = Utc.with_ymd_and_hms(2024, 2, 29, 11, 0, 0).unwrap();
        assert_eq!(
            TimePeriod::new(1, TimeUnit::A).add(leap, tz),
            Utc.with_ymd_and_hms(2025, 2, 28, 11, 0, 0).unwrap()
        );
        assert_eq!(
            TimePeriod::new(1, TimeUnit::A).span(),
            TimePeriod::new(12, TimeUnit::Mo).span()
        );
        assert_eq!(
            TimePeriod::new(1, TimeUnit::A).sub(leap, tz),
            Utc.with_ymd_and_hms(2023, 2, 28, 11, 0, 0).unwrap()
        );
    }

    #[test]
    fn d3_fixed_units_are_exact_durations_even_across_dst() {
        let tz = berlin();
        let t = Utc.with_ymd_and_hms(2024, 3, 30, 12, 0, 0).unwrap();
        assert_eq!(
            TimePeriod::new(1, TimeUnit::D).add(t, tz) - t,
            Duration::hours(24)
        );
        assert_eq!(
            TimePeriod::new(2, TimeUnit::Wk).add(t, tz) - t,
            Duration::days(14)
        );
        assert_eq!(
            TimePeriod::new(6, TimeUnit::H).add(t, tz) - t,
            Duration::hours(6)
        );
        assert_eq!(
            TimePeriod::new(90, TimeUnit::Min).add(t, tz) - t,
            Duration::minutes(90)
        );
        assert_eq!(
            TimePeriod::new(30, TimeUnit::S).add(t, tz) - t,
            Duration::seconds(30)
        );
        assert!(TimePeriod::new(6, TimeUnit::H).is_sub_day());
        assert!(!TimePeriod::new(24, TimeUnit::H).is_sub_day());
        assert_eq!(
            TimePeriod::new(2, TimeUnit::Wk).span(),
            TimePeriod::new(14, TimeUnit::D).span()
        );
    }

    #[test]
    fn whole_day_lookbacks_count_local_calendar_days() {
        assert_eq!(
            TimePeriod::new(2, TimeUnit::Wk).days_before(d(2024, 4, 5)),
            d(2024, 3, 22)
        );
        assert_eq!(
            TimePeriod::new(1, TimeUnit::Mo).days_before(d(2024, 3, 31)),
            d(2024, 2, 29)
        );
        assert_eq!(
            TimePeriod::new(36, TimeUnit::H).days_before(d(2024, 3, 31)),
            d(2024, 3, 29)
        );
    }

    #[test]
    fn c4_date_periods_are_whole_local_days_with_an_inclusive_end() {
        let tz = berlin();
        let w = one_time_window(
            &OrderPeriod::Dates {
                first: d(2024, 1, 1),
                last: d(2024, 12, 31),
            },
            tz,
        );
        assert_eq!(
            w.start,
            Utc.with_ymd_and_hms(2023, 12, 31, 23, 0, 0).unwrap()
        );
        assert_eq!(w.end, Utc.with_ymd_and_hms(2024, 12, 31, 23, 0, 0).unwrap());
        let start = Utc.with_ymd_and_hms(2024, 5, 1, 10, 30, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2024, 5, 2, 10, 30, 0).unwrap();
        assert_eq!(
            one_time_window(&OrderPeriod::Instants { start, end }, tz),
            Window { start, end }
        );
        let mixed = OrderPeriod::from_bounds(Bound::Date(d(2024, 5, 1)), Bound::Instant(end));
        assert_eq!(
            one_time_window(&mixed, tz).start,
            Utc.with_ymd_and_hms(2024, 4, 30, 22, 0, 0).unwrap()
        );
    }
}
