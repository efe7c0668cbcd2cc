//! The patient's local time: an IANA zone per patient decides days, nights and the AGP clock
//! (METRICS.md "Time zone"). DST days have 23 or 25 hours; ambiguous and skipped local times are resolved
//! here, in one place.

use chrono::{
    DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// Parses an IANA zone name such as `Europe/Berlin`.
pub fn parse_tz(name: &str) -> Result<Tz, UnknownTimeZone> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| UnknownTimeZone(name.to_string()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown time zone {0:?}: use an IANA name such as Europe/Berlin or America/New_York")]
pub struct UnknownTimeZone(pub String);

/// Interprets a local wall-clock time in `tz`. In the repeated hour of a DST fall-back the earlier instant
/// is taken; a time in the skipped hour of a spring-forward is moved forward by the gap (as clocks do).
pub fn from_local(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        LocalResult::None => {
            // The wall-clock time was skipped (spring forward). Read it with the offset in force just
            // before the change, as a clock that was not moved would: Berlin 02:30 → 01:30Z = 03:30 CEST.
            let mut probe = naive;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    let before = t.naive_utc() - Duration::seconds(1);
                    let offset = tz.offset_from_utc_datetime(&before).fix().local_minus_utc();
                    return Utc.from_utc_datetime(&(naive - Duration::seconds(i64::from(offset))));
                }
            }
            Utc.from_utc_datetime(&naive)
        }
    }
}

/// The instant of local midnight that starts `day` in `tz` (the first valid instant of that day).
pub fn local_midnight(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    from_local(day.and_time(NaiveTime::MIN), tz)
}

/// The local calendar date of an instant.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// Seconds since local midnight on the wall clock (0..86_400), the AGP's x axis. On DST days this is the
/// clock reading, not the elapsed time: 07:00 is 07:00 whatever the night did.
pub fn local_seconds_of_day(t: DateTime<Utc>, tz: Tz) -> u32 {
    t.with_timezone(&tz).time().num_seconds_from_midnight()
}

/// Converts many instants to the patient's local clock quickly. A zone's offset changes only at a
/// transition, and no zone has two transitions within six hours: when the offsets at both ends of a
/// six-hour UTC block agree, every instant of the block has that offset. So one block check serves 72
/// five-minute readings, and the rest is integer arithmetic. Results equal [`local_date`] and
/// [`local_seconds_of_day`] exactly (a test walks a year of five zones with odd offsets).
#[derive(Debug, Clone)]
pub struct LocalClock {
    tz: Tz,
    /// [start, end) of the UTC block in Unix seconds, and the offset in seconds valid for all of it.
    block: Option<(i64, i64, i64)>,
    /// [start, end) of the current local day in local seconds since the epoch, and its date: readings come
    /// in time order, so most calls fall in the day of the previous one.
    day: Option<(i64, i64, NaiveDate)>,
}

const BLOCK_SECS: i64 = 6 * 3600;

impl LocalClock {
    pub fn new(tz: Tz) -> Self {
        LocalClock {
            tz,
            block: None,
            day: None,
        }
    }

    fn offset_at(&self, secs: i64) -> Option<i64> {
        let t = DateTime::<Utc>::from_timestamp(secs, 0)?;
        Some(i64::from(
            self.tz
                .offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc(),
        ))
    }

    /// The UTC offset in force at `t`, in seconds.
    pub fn offset(&mut self, t: DateTime<Utc>) -> i64 {
        self.offset_at_secs(t.timestamp())
    }

    fn offset_at_secs(&mut self, secs: i64) -> i64 {
        if let Some((start, end, off)) = self.block {
            if secs >= start && secs < end {
                return off;
            }
        }
        let start = secs - secs.rem_euclid(BLOCK_SECS);
        let off = self.offset_at(secs).unwrap_or(0);
        if self.offset_at(start) == Some(off) && self.offset_at(start + BLOCK_SECS - 1) == Some(off)
        {
            self.block = Some((start, start + BLOCK_SECS, off));
        }
        off
    }

    /// Local seconds since 1970-01-01T00:00 on the wall clock.
    fn local_secs(&mut self, t: DateTime<Utc>) -> i64 {
        let secs = t.timestamp();
        secs + self.offset_at_secs(secs)
    }

    pub fn date(&mut self, t: DateTime<Utc>) -> NaiveDate {
        let local = self.local_secs(t);
        if let Some((start, end, date)) = self.day {
            if local >= start && local < end {
                return date;
            }
        }
        let days = local.div_euclid(86_400);
        // 719_163 days separate 0001-01-01 (day 1 of the common era) from 1970-01-01.
        let date = i32::try_from(days + 719_163)
            .ok()
            .and_then(NaiveDate::from_num_days_from_ce_opt)
            .unwrap_or_else(|| local_date(t, self.tz));
        self.day = Some((days * 86_400, (days + 1) * 86_400, date));
        date
    }

    pub fn seconds_of_day(&mut self, t: DateTime<Utc>) -> u32 {
        self.local_secs(t).rem_euclid(86_400) as u32
    }
}

/// The length of a local day in hours (23, 24 or 25 across DST changes).
pub fn local_day_hours(day: NaiveDate, tz: Tz) -> f64 {
    let next = day.succ_opt().unwrap_or(day);
    (local_midnight(next, tz) - local_midnight(day, tz)).num_seconds() as f64 / 3600.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        assert_eq!(local_day_hours(d(2024, 3, 31), tz), 23.0);
        assert_eq!(local_day_hours(d(2024, 10, 27), tz), 25.0);
        assert_eq!(local_day_hours(d(2024, 6, 1), tz), 24.0);
        let ny = parse_tz("America/New_York").unwrap();
        assert_eq!(local_day_hours(d(2024, 3, 10), ny), 23.0);
        assert_eq!(local_day_hours(d(2024, 11, 3), ny), 25.0);
    }

    #[test]
    fn skipped_local_time_moves_forward_and_repeated_takes_the_earlier() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        let skipped = d(2024, 3, 31).and_hms_opt(2, 30, 0).unwrap();
        let t = from_local(skipped, tz);
        assert_eq!(
            t.with_timezone(&tz).time(),
            NaiveTime::from_hms_opt(3, 30, 0).unwrap()
        );
        let repeated = d(2024, 10, 27).and_hms_opt(2, 30, 0).unwrap();
        let t = from_local(repeated, tz);
        assert_eq!(t, Utc.with_ymd_and_hms(2024, 10, 27, 0, 30, 0).unwrap());
    }

    #[test]
    fn a_midnight_skipped_by_dst_starts_the_day_at_its_first_valid_instant() {
        // Chile springs forward at 00:00 → 01:00 on 2024-09-08: that day starts at 01:00 local (04:00Z)
        // and has 23 hours.
        let tz = parse_tz("America/Santiago").unwrap();
        assert_eq!(
            local_midnight(d(2024, 9, 8), tz),
            Utc.with_ymd_and_hms(2024, 9, 8, 4, 0, 0).unwrap()
        );
        assert_eq!(local_day_hours(d(2024, 9, 8), tz), 23.0);
        assert_eq!(local_day_hours(d(2024, 9, 7), tz), 24.0);
    }

    #[test]
    fn seconds_of_day_follow_the_wall_clock() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        let t = Utc.with_ymd_and_hms(2024, 3, 31, 5, 0, 0).unwrap(); // 07:00 CEST
        assert_eq!(local_seconds_of_day(t, tz), 7 * 3600);
        assert_eq!(local_date(t, tz), d(2024, 3, 31));
    }

    #[test]
    fn the_cached_clock_agrees_with_direct_conversion_around_every_transition() {
        for name in [
            "Europe/Berlin",
            "America/New_York",
            "America/Santiago",
            "Australia/Lord_Howe",
            "Asia/Kolkata",
        ] {
            let tz = parse_tz(name).unwrap();
            let mut clock = LocalClock::new(tz);
            let mut t = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap();
            let end = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
            while t < end {
                assert_eq!(clock.date(t), local_date(t, tz), "{name} {t}");
                assert_eq!(
                    clock.seconds_of_day(t),
                    local_seconds_of_day(t, tz),
                    "{name} {t}"
                );
                t += Duration::seconds(293); // not a divisor of an hour: every minute offset gets visited
            }
        }
    }

    #[test]
    fn unknown_zone_is_a_clear_error() {
        let e = parse_tz("Mars/Olympus").unwrap_err();
        assert!(e.to_string().contains("IANA"));
    }
}
