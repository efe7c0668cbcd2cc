//! Standing-order scheduling: which schedules are in force across a patient's orders (D4), a stable key per
//! schedule for the server's state, and when the next submission is due and over which window (D1, D2, D3,
//! C4). See the module docs of [`crate::orders`] for the decisions; this file implements them.

use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;

use super::period::{Span, TimePeriod, TimeUnit};
use super::{OrderStatus, Schedule, StandingOrder};
use crate::fhir::CgmProfile;
use crate::localtime::{local_date, local_midnight};
use crate::window::Window;

/// The first-ever window reaches back at most this many days (D2; the user story's "past 3 months").
pub const FIRST_LOOKBACK_CAP_DAYS: i64 = 90;

/// The schedule used for an active standing order without a schedule extension (D4): every 2 weeks, the
/// summary panel and the PDF report, lookback = period. The server may configure another.
pub fn default_schedule() -> Schedule {
    Schedule {
        submission_period: TimePeriod::new(2, TimeUnit::Wk),
        lookback: None,
        profiles: vec![CgmProfile::SummaryPanel, CgmProfile::SummaryPdf],
        unknown_profiles: Vec::new(),
    }
}

/// A stable key of a schedule's cadence and data, for storing [`ScheduleState`] per schedule: the period as
/// seconds or months (so 2 `wk` and 14 `d` share a key) and the sorted profile ids, e.g.
/// `1209600s|cgm-summary,cgm-summary-pdf`. The lookback is not part of it: changing the lookback keeps the
/// schedule's history (D4 deduplicates on period and profiles too).
pub fn schedule_key(s: &Schedule) -> String {
    let period = match s.submission_period.span() {
        Span::Seconds(n) => format!("{n}s"),
        Span::Months(m) => format!("{m}mo"),
    };
    let mut ids: Vec<&str> = s.profiles.iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    ids.dedup();
    format!("{period}|{}", ids.join(","))
}

/// Roughly comparable length of a period, only to pick the longer of two lookbacks.
fn approx_seconds(p: TimePeriod) -> i64 {
    match p.span() {
        Span::Seconds(s) => s,
        // UCUM's mean month, 30.4375 days.
        Span::Months(m) => m.saturating_mul(2_629_800),
    }
}

/// The schedules in force for one patient (D4): the union over `active` orders (on-hold, stopped, draft and
/// unknown ones contribute nothing), with `default` for an active order without a schedule. Schedules with the
/// same [`schedule_key`] are merged, keeping the longer lookback and every unknown profile; schedules without
/// a known profile are dropped (nothing could be sent; the server logs their `unknown_profiles`). No active
/// order gives no schedule.
pub fn effective_schedules(orders: &[StandingOrder], default: &Schedule) -> Vec<Schedule> {
    let mut out: Vec<(String, Schedule)> = Vec::new();
    for order in orders.iter().filter(|o| o.status == OrderStatus::Active) {
        let schedules = if order.schedules.is_empty() {
            std::slice::from_ref(default)
        } else {
            order.schedules.as_slice()
        };
        for s in schedules.iter().filter(|s| !s.profiles.is_empty()) {
            let key = schedule_key(s);
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, kept)) => {
                    if approx_seconds(s.effective_lookback())
                        > approx_seconds(kept.effective_lookback())
                    {
                        kept.lookback = s.lookback;
                    }
                    for u in &s.unknown_profiles {
                        if !kept.unknown_profiles.contains(u) {
                            kept.unknown_profiles.push(u.clone());
                        }
                    }
                }
                None => out.push((key, s.clone())),
            }
        }
    }
    out.into_iter().map(|(_, s)| s).collect()
}

/// The `not_before` (D1) for a schedule from [`effective_schedules`]: the earliest one among the active orders
/// that carry it, and `None` if any of them has none.
pub fn not_before_for(
    orders: &[StandingOrder],
    default: &Schedule,
    schedule: &Schedule,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    let key = schedule_key(schedule);
    let mut earliest: Option<DateTime<Utc>> = None;
    for order in orders.iter().filter(|o| o.status == OrderStatus::Active) {
        let carries = if order.schedules.is_empty() {
            schedule_key(default) == key
        } else {
            order.schedules.iter().any(|s| schedule_key(s) == key)
        };
        if carries {
            let nb = order.not_before?.start_instant(tz);
            earliest = Some(earliest.map_or(nb, |e| e.min(nb)));
        }
    }
    earliest
}

/// What the server keeps per [`schedule_key`]. Advance it only on a successful submission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScheduleState {
    /// When the last successful submission was made (D1 counts the period from here).
    pub last_success_at: Option<DateTime<Utc>>,
    /// The end of the last successfully submitted window (D2 starts the next window here).
    pub covered_until: Option<DateTime<Utc>>,
}

impl ScheduleState {
    /// The state after `due` was submitted successfully at `at`.
    pub fn after_success(&self, due: &Due, at: DateTime<Utc>) -> ScheduleState {
        ScheduleState {
            last_success_at: Some(at),
            covered_until: Some(
                self.covered_until
                    .map_or(due.window.end, |c| c.max(due.window.end)),
            ),
        }
    }
}

/// The next submission of a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Submit at or after this instant.
    pub at: DateTime<Utc>,
    /// All data to send when submitting at `max(at, now)`: readings, devices (D2). Never empty.
    pub window: Window,
    /// The summary periods (panel and PDF) within `window`: contiguous, oldest first, ending at `window.end`,
    /// each one lookback long except the oldest, which also takes a remainder shorter than half a lookback.
    /// Whole local days for schedules of a day or more, so summaries get date-only periods (C4).
    pub summary_windows: Vec<Window>,
}

impl Due {
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.at <= now
    }
}

/// When `schedule` should next submit and what (D1, D2, D3). `anchor` is when the patient was linked or the
/// order discovered; `not_before` comes from [`not_before_for`]; `state` is the schedule's [`ScheduleState`].
///
/// Due time: `max(anchor, not_before)` before any success; afterwards `last_success_at + submissionPeriod`
/// (calendar months in `tz` for `mo`/`a`), never before `not_before`. If the window would be empty then (a
/// daily schedule that already covered today's midnight, e.g. on a 25-hour DST day), the due time moves to the
/// first instant at which it is not. The window is computed as of `max(at, now)`.
pub fn next_due(
    schedule: &Schedule,
    state: &ScheduleState,
    anchor: DateTime<Utc>,
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    tz: Tz,
) -> Due {
    let floor = not_before.map_or(anchor, |nb| nb.max(anchor));
    let mut at = match state.last_success_at {
        None => floor,
        Some(last) => {
            let next = schedule.submission_period.add(last, tz);
            not_before.map_or(next, |nb| next.max(nb))
        }
    };
    let day_aligned = !schedule.submission_period.is_sub_day();
    let mut as_of = at.max(now);
    let (mut start, mut end) = window_bounds(schedule, state, as_of, day_aligned, tz);
    if start >= end {
        at = at.max(first_non_empty(start, day_aligned, tz));
        as_of = at.max(now);
        (start, end) = window_bounds(schedule, state, as_of, day_aligned, tz);
    }
    // Only reachable at the end of representable time; keeps the "never empty" promise honest.
    let end = end.max(
        start
            .checked_add_signed(Duration::minutes(1))
            .unwrap_or(start),
    );
    let window = Window { start, end };
    let summary_windows = summary_tiles(window, schedule.effective_lookback(), day_aligned, tz);
    Due {
        at,
        window,
        summary_windows,
    }
}

/// `[start, end)` of the window to send as of `t` (D2).
fn window_bounds(
    schedule: &Schedule,
    state: &ScheduleState,
    t: DateTime<Utc>,
    day_aligned: bool,
    tz: Tz,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let lookback = schedule.effective_lookback();
    let (end, regular_start, cap) = if day_aligned {
        let today = local_date(t, tz);
        (
            local_midnight(today, tz),
            local_midnight(lookback.days_before(today), tz),
            local_midnight(today - Duration::days(FIRST_LOOKBACK_CAP_DAYS), tz),
        )
    } else {
        let end = t.duration_trunc(Duration::minutes(1)).unwrap_or(t);
        (
            end,
            lookback.sub(end, tz),
            end - Duration::days(FIRST_LOOKBACK_CAP_DAYS),
        )
    };
    // A lookback longer than the period re-covers it every time, as asked; otherwise backward calendar
    // arithmetic (Feb 29 - 1 mo = Jan 29) must not make windows overlap the last one.
    let rolling = approx_seconds(lookback) > approx_seconds(schedule.submission_period);
    let start = match state.covered_until {
        // Back to where the last success ended, so an outage loses nothing.
        Some(covered) if rolling => covered.min(regular_start),
        Some(covered) => covered,
        None => regular_start.max(cap),
    };
    (start, end)
}

/// The first instant at which a window starting at `start` is not empty.
fn first_non_empty(start: DateTime<Utc>, day_aligned: bool, tz: Tz) -> DateTime<Utc> {
    if day_aligned {
        let day = local_date(start, tz);
        let midnight = local_midnight(day, tz);
        if midnight > start {
            midnight
        } else {
            local_midnight(day.succ_opt().unwrap_or(day), tz)
        }
    } else {
        start.duration_trunc(Duration::minutes(1)).unwrap_or(start) + Duration::minutes(1)
    }
}

/// Lookback-long summary periods tiling `window` backwards from its end (see [`Due::summary_windows`]).
fn summary_tiles(window: Window, lookback: TimePeriod, day_aligned: bool, tz: Tz) -> Vec<Window> {
    let mut tiles = Vec::new();
    let mut hi = window.end;
    while hi > window.start {
        let lo = if day_aligned {
            local_midnight(lookback.days_before(local_date(hi, tz)), tz)
        } else {
            lookback.sub(hi, tz)
        };
        // A tiny rest would make a summary of a day or two: it joins the oldest full tile instead.
        if lo <= window.start || (lo - window.start) * 2 < (hi - lo) || lo >= hi {
            tiles.push(Window {
                start: window.start,
                end: hi,
            });
            break;
        }
        tiles.push(Window { start: lo, end: hi });
        hi = lo;
    }
    tiles.reverse();
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localtime::parse_tz;
    use crate::orders::Bound;
    use chrono::{NaiveDate, TimeZone, Timelike};

    fn berlin() -> Tz {
        parse_tz("Europe/Berlin").unwrap()
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn every(value: u32, unit: TimeUnit) -> Schedule {
        Schedule {
            submission_period: TimePeriod::new(value, unit),
            lookback: None,
            profiles: vec![CgmProfile::SummaryPanel, CgmProfile::SummaryPdf],
            unknown_profiles: Vec::new(),
        }
    }

    struct Submission {
        at: DateTime<Utc>,
        due: Due,
    }

    /// Steps a controllable clock hourly from `link` for `days`, submitting whenever due; `fails(now)` makes an
    /// attempt fail (the state is then not advanced).
    fn simulate(
        schedule: &Schedule,
        link: DateTime<Utc>,
        days: i64,
        tz: Tz,
        fails: impl Fn(DateTime<Utc>) -> bool,
    ) -> Vec<Submission> {
        let mut state = ScheduleState::default();
        let mut done = Vec::new();
        let mut now = link;
        while now < link + Duration::days(days) {
            let due = next_due(schedule, &state, link, None, now, tz);
            assert!(due.window.start < due.window.end);
            if due.is_due(now) && !fails(now) {
                state = state.after_success(&due, now);
                done.push(Submission { at: now, due });
            }
            now += Duration::hours(1);
        }
        done
    }

    fn is_local_midnight(t: DateTime<Utc>, tz: Tz) -> bool {
        let local = t.with_timezone(&tz);
        local.hour() == 0 && local.minute() == 0 && local.second() == 0
    }

    fn assert_contiguous(subs: &[Submission]) {
        for pair in subs.windows(2) {
            assert_eq!(
                pair[0].due.window.end, pair[1].due.window.start,
                "windows must neither gap nor overlap"
            );
        }
    }

    #[test]
    fn d1_d2_a_two_weekly_order_in_berlin_submits_on_linking_then_every_14_days_in_whole_local_days_across_dst(
    ) {
        let tz = berlin();
        // Linked Thursday 2024-10-10 09:00 CEST; Berlin falls back on Sunday 2024-10-27.
        let link = Utc.with_ymd_and_hms(2024, 10, 10, 7, 0, 0).unwrap();
        let subs = simulate(&every(2, TimeUnit::Wk), link, 35, tz, |_| false);
        let at: Vec<DateTime<Utc>> = subs.iter().map(|s| s.at).collect();
        assert_eq!(
            at,
            vec![link, link + Duration::days(14), link + Duration::days(28)]
        );
        // First window: the 14 local days before the linking day (lookback defaults to the period, D2).
        assert_eq!(
            subs[0].due.window,
            Window::local_days(d(2024, 9, 26), d(2024, 10, 9), tz).unwrap()
        );
        assert_eq!(
            subs[1].due.window,
            Window::local_days(d(2024, 10, 10), d(2024, 10, 23), tz).unwrap()
        );
        // The third holds the 25-hour day of 2024-10-27.
        assert_eq!(
            subs[2].due.window,
            Window::local_days(d(2024, 10, 24), d(2024, 11, 6), tz).unwrap()
        );
        assert_eq!(
            subs[2].due.window.duration(),
            Duration::days(14) + Duration::hours(1)
        );
        assert_contiguous(&subs);
        for s in &subs {
            assert!(is_local_midnight(s.due.window.start, tz));
            assert!(is_local_midnight(s.due.window.end, tz));
            assert_eq!(s.due.summary_windows, vec![s.due.window]);
        }
    }

    #[test]
    fn d2_windows_stay_whole_local_days_across_the_spring_dst_change() {
        let tz = berlin();
        // Linked 2024-03-20 18:00 CET; Berlin springs forward on Sunday 2024-03-31.
        let link = Utc.with_ymd_and_hms(2024, 3, 20, 17, 0, 0).unwrap();
        let subs = simulate(&every(1, TimeUnit::Wk), link, 35, tz, |_| false);
        assert_eq!(subs.len(), 5);
        assert_contiguous(&subs);
        for s in &subs {
            assert!(is_local_midnight(s.due.window.start, tz));
            assert!(is_local_midnight(s.due.window.end, tz));
        }
        // 2024-03-27 … 2024-04-02 holds the 23-hour day.
        assert_eq!(
            subs[2].due.window,
            Window::local_days(d(2024, 3, 27), d(2024, 4, 2), tz).unwrap()
        );
        assert_eq!(
            subs[2].due.window.duration(),
            Duration::days(7) - Duration::hours(1)
        );
    }

    #[test]
    fn d2_the_first_ever_window_is_capped_at_90_days() {
        let tz = berlin();
        let link = Utc.with_ymd_and_hms(2024, 10, 10, 7, 0, 0).unwrap();
        let mut schedule = every(2, TimeUnit::Wk);
        schedule.lookback = Some(TimePeriod::new(1, TimeUnit::A));
        let due = next_due(&schedule, &ScheduleState::default(), link, None, link, tz);
        assert_eq!(due.at, link);
        assert_eq!(
            due.window,
            Window::local_days(d(2024, 7, 12), d(2024, 10, 9), tz).unwrap()
        );
        assert_eq!(
            (local_date(due.window.end, tz) - local_date(due.window.start, tz)).num_days(),
            FIRST_LOOKBACK_CAP_DAYS
        );
    }

    #[test]
    fn d1_a_failed_submission_is_retried_and_the_next_window_covers_the_missed_span() {
        let tz = berlin();
        let link = Utc.with_ymd_and_hms(2024, 10, 10, 7, 0, 0).unwrap();
        // The receiver is down from day 13 to day 24: the day-14 submission fails until it is back.
        let down_from = link + Duration::days(13);
        let down_until = link + Duration::days(24);
        let subs = simulate(&every(2, TimeUnit::Wk), link, 45, tz, |now| {
            now >= down_from && now < down_until
        });
        let at: Vec<DateTime<Utc>> = subs.iter().map(|s| s.at).collect();
        // Retried hourly (the caller's pacing) and sent as soon as the receiver is back; the period then
        // counts from that success (D1).
        assert_eq!(at, vec![link, down_until, down_until + Duration::days(14)]);
        assert_contiguous(&subs);
        // The late window runs from the end of the last success to the recovery day's midnight: 24 days.
        assert_eq!(
            subs[1].due.window,
            Window::local_days(d(2024, 10, 10), d(2024, 11, 2), tz).unwrap()
        );
        // Its summaries: a regular 14-day one at the end, the 10 missed days before it (10 ≥ 14 / 2).
        assert_eq!(
            subs[1].due.summary_windows,
            vec![
                Window::local_days(d(2024, 10, 10), d(2024, 10, 19), tz).unwrap(),
                Window::local_days(d(2024, 10, 20), d(2024, 11, 2), tz).unwrap(),
            ]
        );
    }

    #[test]
    fn d2_after_a_long_outage_the_window_starts_at_covered_until_and_summaries_come_per_cycle() {
        let tz = berlin();
        let covered = local_midnight(d(2024, 8, 1), tz);
        let state = ScheduleState {
            last_success_at: Some(covered + Duration::hours(9)),
            covered_until: Some(covered),
        };
        let now = Utc.with_ymd_and_hms(2024, 10, 4, 10, 0, 0).unwrap();
        let link = Utc.with_ymd_and_hms(2024, 6, 1, 10, 0, 0).unwrap();
        let due = next_due(&every(2, TimeUnit::Wk), &state, link, None, now, tz);
        assert!(due.is_due(now));
        assert_eq!(
            due.window,
            Window::local_days(d(2024, 8, 1), d(2024, 10, 3), tz).unwrap()
        );
        // 64 days: four 14-day summaries ending 10-03, and the 8 oldest days as their own summary (8 ≥ 7).
        let firsts: Vec<NaiveDate> = due
            .summary_windows
            .iter()
            .map(|w| local_date(w.start, tz))
            .collect();
        assert_eq!(
            firsts,
            vec![
                d(2024, 8, 1),
                d(2024, 8, 9),
                d(2024, 8, 23),
                d(2024, 9, 6),
                d(2024, 9, 20)
            ]
        );
        assert_eq!(due.summary_windows.last().unwrap().end, due.window.end);

        // One day late: a 15-day window keeps one 15-day summary, not 14 + 1.
        let state = ScheduleState {
            last_success_at: Some(covered + Duration::hours(9)),
            covered_until: Some(covered),
        };
        let now = local_midnight(d(2024, 8, 16), tz) + Duration::hours(9);
        let due = next_due(&every(2, TimeUnit::Wk), &state, link, None, now, tz);
        assert_eq!(due.summary_windows, vec![due.window]);
        assert_eq!(
            due.window,
            Window::local_days(d(2024, 8, 1), d(2024, 8, 15), tz).unwrap()
        );
    }

    #[test]
    fn d2_a_lookback_longer_than_the_period_recovers_it_every_time() {
        let tz = berlin();
        let mut schedule = every(1, TimeUnit::Wk);
        schedule.lookback = Some(TimePeriod::new(30, TimeUnit::D));
        let link = Utc.with_ymd_and_hms(2024, 5, 6, 8, 0, 0).unwrap();
        let subs = simulate(&schedule, link, 15, tz, |_| false);
        assert_eq!(subs.len(), 3);
        for s in &subs {
            assert_eq!(
                (local_date(s.due.window.end, tz) - local_date(s.due.window.start, tz)).num_days(),
                30
            );
            assert_eq!(s.due.summary_windows, vec![s.due.window]);
        }
    }

    #[test]
    fn d3_a_monthly_schedule_steps_by_calendar_months_from_january_31() {
        let tz = berlin();
        let schedule = every(1, TimeUnit::Mo);
        let jan31 = Utc.with_ymd_and_hms(2024, 1, 31, 9, 0, 0).unwrap();
        let state = ScheduleState {
            last_success_at: Some(jan31),
            covered_until: Some(local_midnight(d(2024, 1, 31), tz)),
        };
        let due = next_due(&schedule, &state, jan31, None, jan31, tz);
        assert_eq!(due.at, Utc.with_ymd_and_hms(2024, 2, 29, 9, 0, 0).unwrap());
        assert_eq!(
            due.window,
            Window::local_days(d(2024, 1, 31), d(2024, 2, 28), tz).unwrap()
        );
        let yearly = every(1, TimeUnit::A);
        let due = next_due(&yearly, &state, jan31, None, jan31, tz);
        assert_eq!(due.at, Utc.with_ymd_and_hms(2025, 1, 31, 9, 0, 0).unwrap());
    }

    #[test]
    fn d3_a_six_hourly_schedule_gets_contiguous_minute_aligned_six_hour_windows() {
        let tz = berlin();
        let link = Utc.with_ymd_and_hms(2024, 10, 26, 21, 17, 30).unwrap();
        let subs = simulate(&every(6, TimeUnit::H), link, 2, tz, |_| false);
        assert_eq!(subs.len(), 8);
        assert_contiguous(&subs);
        for (i, s) in subs.iter().enumerate() {
            assert_eq!(s.at, link + Duration::hours(6 * i as i64));
            assert_eq!(s.due.window.duration(), Duration::hours(6));
            assert_eq!(s.due.window.end.second(), 0);
        }
        assert_eq!(
            subs[0].due.window.end,
            Utc.with_ymd_and_hms(2024, 10, 26, 21, 17, 0).unwrap()
        );
    }

    #[test]
    fn d1_an_empty_window_moves_the_due_time_to_the_next_local_midnight() {
        let tz = berlin();
        // A daily order submitted at 00:30 on the 25-hour 2024-10-27 (covering up to that midnight): 24 hours
        // later it is still 10-27 locally, so nothing new is complete until 10-28 00:00.
        let midnight = local_midnight(d(2024, 10, 27), tz);
        let state = ScheduleState {
            last_success_at: Some(midnight + Duration::minutes(30)),
            covered_until: Some(midnight),
        };
        let now = midnight + Duration::hours(24) + Duration::minutes(30);
        let due = next_due(&every(1, TimeUnit::D), &state, midnight, None, now, tz);
        assert_eq!(due.at, local_midnight(d(2024, 10, 28), tz));
        assert!(!due.is_due(now));
        assert_eq!(
            due.window,
            Window::local_days(d(2024, 10, 27), d(2024, 10, 27), tz).unwrap()
        );
    }

    #[test]
    fn d1_nothing_is_due_before_not_before_and_the_first_run_waits_for_it() {
        let tz = berlin();
        let link = Utc.with_ymd_and_hms(2024, 10, 10, 7, 0, 0).unwrap();
        let start = Bound::Date(d(2024, 10, 15)).start_instant(tz);
        let due = next_due(
            &every(2, TimeUnit::Wk),
            &ScheduleState::default(),
            link,
            Some(start),
            link,
            tz,
        );
        assert_eq!(due.at, local_midnight(d(2024, 10, 15), tz));
        assert!(!due.is_due(link));
        assert_eq!(
            due.window,
            Window::local_days(d(2024, 10, 1), d(2024, 10, 14), tz).unwrap()
        );
    }

    #[test]
    fn d1_d2_d3_across_units_and_odd_zones_windows_tile_time_and_submissions_keep_the_period() {
        let periods = [
            TimePeriod::new(90, TimeUnit::Min),
            TimePeriod::new(6, TimeUnit::H),
            TimePeriod::new(1, TimeUnit::D),
            TimePeriod::new(3, TimeUnit::D),
            TimePeriod::new(2, TimeUnit::Wk),
            TimePeriod::new(1, TimeUnit::Mo),
        ];
        let zones = [
            "Europe/Berlin",
            "America/New_York",
            "America/Santiago",
            "Australia/Lord_Howe",
        ];
        // A 31st at 23:45 UTC: month-end clamping, and a local date that differs from the UTC one.
        let link = Utc.with_ymd_and_hms(2024, 1, 31, 23, 45, 0).unwrap();
        for zone in zones {
            let tz = parse_tz(zone).unwrap();
            for period in periods {
                let schedule = Schedule {
                    submission_period: period,
                    ..every(1, TimeUnit::D)
                };
                let days = if period.is_sub_day() { 10 } else { 300 };
                let subs = simulate(&schedule, link, days, tz, |_| false);
                let label = format!("{zone} every {} {:?}", period.value, period.unit);
                assert!(subs.len() >= 3, "{label}");
                assert_eq!(subs[0].at, link, "{label}: first submission on linking");
                assert_contiguous(&subs);
                for pair in subs.windows(2) {
                    assert!(
                        pair[1].at >= period.add(pair[0].at, tz),
                        "{label}: submitted before the period had passed"
                    );
                    // With an hourly clock a due run is missed by less than an hour, or by the wait for a
                    // window that is not empty.
                    assert!(
                        pair[1].at < period.add(pair[0].at, tz) + Duration::hours(25),
                        "{label}: submission late"
                    );
                }
                for s in &subs {
                    let w = s.due.window;
                    assert!(w.start < w.end && w.end <= s.at, "{label}: {w:?}");
                    assert_eq!(s.due.summary_windows.first().unwrap().start, w.start);
                    assert_eq!(s.due.summary_windows.last().unwrap().end, w.end);
                    for t in s.due.summary_windows.windows(2) {
                        assert_eq!(t[0].end, t[1].start, "{label}");
                    }
                    if !period.is_sub_day() {
                        assert_eq!(
                            w.start,
                            local_midnight(local_date(w.start, tz), tz),
                            "{label}"
                        );
                        assert_eq!(w.end, local_midnight(local_date(s.at, tz), tz), "{label}");
                    }
                }
            }
        }
    }

    fn order(id: &str, status: OrderStatus, schedules: Vec<Schedule>) -> StandingOrder {
        StandingOrder {
            id: id.into(),
            version: None,
            status,
            subject: "Patient/p".into(),
            schedules,
            not_before: None,
        }
    }

    #[test]
    fn d4_the_union_of_two_active_orders_deduplicates_the_same_period_and_profiles() {
        let two_weeks = every(2, TimeUnit::Wk);
        let mut fourteen_days = every(14, TimeUnit::D);
        fourteen_days.profiles.reverse();
        fourteen_days.lookback = Some(TimePeriod::new(30, TimeUnit::D));
        let readings = Schedule {
            submission_period: TimePeriod::new(1, TimeUnit::D),
            lookback: None,
            profiles: vec![CgmProfile::SensorReadingMass],
            unknown_profiles: vec!["http://example.org/x".into()],
        };
        let orders = vec![
            order("a", OrderStatus::Active, vec![two_weeks.clone()]),
            order(
                "b",
                OrderStatus::Active,
                vec![fourteen_days, readings.clone()],
            ),
        ];
        let got = effective_schedules(&orders, &default_schedule());
        assert_eq!(got.len(), 2);
        assert_eq!(schedule_key(&got[0]), schedule_key(&two_weeks));
        assert_eq!(got[0].lookback, Some(TimePeriod::new(30, TimeUnit::D)));
        assert_eq!(got[1], readings);
        assert_eq!(
            schedule_key(&got[0]),
            "1209600s|cgm-summary,cgm-summary-pdf"
        );
        assert_eq!(
            schedule_key(&got[1]),
            "86400s|cgm-sensor-reading-mass-per-volume"
        );
    }

    #[test]
    fn d4_on_hold_revoked_completed_entered_in_error_and_draft_orders_are_ignored() {
        let s = every(1, TimeUnit::Wk);
        let orders = vec![
            order("h", OrderStatus::OnHold, vec![s.clone()]),
            order("r", OrderStatus::Stopped, vec![s.clone()]),
            order("d", OrderStatus::Other("draft".into()), vec![s.clone()]),
        ];
        assert!(effective_schedules(&orders, &default_schedule()).is_empty());
        assert!(effective_schedules(&[], &default_schedule()).is_empty());
    }

    #[test]
    fn d4_an_active_order_without_a_schedule_gets_the_default() {
        let orders = vec![
            order("none", OrderStatus::Active, vec![]),
            order("also-none", OrderStatus::Active, vec![]),
        ];
        let got = effective_schedules(&orders, &default_schedule());
        assert_eq!(got, vec![default_schedule()]);
        assert_eq!(got[0].submission_period, TimePeriod::new(2, TimeUnit::Wk));
    }

    #[test]
    fn d5_a_schedule_with_only_unknown_profiles_is_dropped() {
        let s = Schedule {
            submission_period: TimePeriod::new(1, TimeUnit::Wk),
            lookback: None,
            profiles: vec![],
            unknown_profiles: vec!["http://example.org/StructureDefinition/other".into()],
        };
        let orders = vec![order("u", OrderStatus::Active, vec![s])];
        assert!(effective_schedules(&orders, &default_schedule()).is_empty());
    }

    #[test]
    fn d1_not_before_is_the_earliest_among_the_active_orders_carrying_the_schedule() {
        let tz = berlin();
        let s = every(2, TimeUnit::Wk);
        let mut a = order("a", OrderStatus::Active, vec![s.clone()]);
        a.not_before = Some(Bound::Date(d(2024, 10, 20)));
        let mut b = order("b", OrderStatus::Active, vec![s.clone()]);
        b.not_before = Some(Bound::Date(d(2024, 10, 15)));
        let mut c = order("c", OrderStatus::OnHold, vec![s.clone()]);
        c.not_before = Some(Bound::Date(d(2024, 10, 1)));
        let orders = vec![a, b.clone(), c];
        assert_eq!(
            not_before_for(&orders, &default_schedule(), &s, tz),
            Some(local_midnight(d(2024, 10, 15), tz))
        );
        let open = order("o", OrderStatus::Active, vec![s.clone()]);
        assert_eq!(
            not_before_for(&[b, open], &default_schedule(), &s, tz),
            None
        );
    }
}
