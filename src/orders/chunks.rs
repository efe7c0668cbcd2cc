//! Splitting long submission windows into calendar months of the patient's local time (ORD-6, NOTES A7): a
//! one-time order for a year becomes twelve submissions, each small enough to send and each a meaningful
//! month.

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;

use crate::localtime::{local_date, local_midnight};
use crate::window::Window;

/// `window` cut at every local midnight that starts a calendar month in `tz` (ORD-6). The first and last
/// chunks may be partial months; the chunks are contiguous, in order, and cover `window` exactly. A window
/// within one month is one chunk; an empty window gives none.
pub fn chunk_window(window: Window, tz: Tz) -> Vec<Window> {
    let mut chunks = Vec::new();
    let mut start = window.start;
    while start < window.end {
        let day = local_date(start, tz);
        let boundary = first_of_next_month(day)
            .map(|d| local_midnight(d, tz))
            .filter(|b| *b > start && *b < window.end);
        match boundary {
            Some(b) => {
                chunks.push(Window { start, end: b });
                start = b;
            }
            None => {
                chunks.push(Window {
                    start,
                    end: window.end,
                });
                break;
            }
        }
    }
    chunks
}

fn first_of_next_month(day: NaiveDate) -> Option<NaiveDate> {
    let (y, m) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localtime::parse_tz;
    use crate::orders::{one_time_window, OrderPeriod};
    use chrono::{Duration, TimeZone, Timelike, Utc};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn assert_tiles(chunks: &[Window], whole: Window) {
        assert_eq!(chunks.first().unwrap().start, whole.start);
        assert_eq!(chunks.last().unwrap().end, whole.end);
        for pair in chunks.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "chunks must be contiguous");
        }
        assert!(chunks.iter().all(|c| c.start < c.end));
    }

    #[test]
    fn ord_6_the_2024_one_time_order_becomes_twelve_local_months() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        let order = OrderPeriod::Dates {
            first: d(2024, 1, 1),
            last: d(2024, 12, 31),
        };
        let year = one_time_window(&order, tz);
        let chunks = chunk_window(year, tz);
        assert_eq!(chunks.len(), 12);
        assert_tiles(&chunks, year);
        for (i, c) in chunks.iter().enumerate() {
            let local = c.start.with_timezone(&tz);
            assert_eq!(local.date_naive(), d(2024, i as u32 + 1, 1));
            assert_eq!(local.hour(), 0);
        }
        // March loses an hour to DST, October gains one.
        assert_eq!(
            chunks[2].duration(),
            Duration::days(31) - Duration::hours(1)
        );
        assert_eq!(
            chunks[9].duration(),
            Duration::days(31) + Duration::hours(1)
        );
    }

    #[test]
    fn ord_6_a_ten_day_window_is_one_chunk_and_partial_months_stay_partial() {
        let tz = parse_tz("America/New_York").unwrap();
        let ten = Window::local_days(d(2024, 5, 3), d(2024, 5, 12), tz).unwrap();
        assert_eq!(chunk_window(ten, tz), vec![ten]);

        let start = Utc.with_ymd_and_hms(2024, 1, 15, 17, 30, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2024, 3, 10, 12, 0, 0).unwrap();
        let w = Window { start, end };
        let chunks = chunk_window(w, tz);
        assert_eq!(chunks.len(), 3);
        assert_tiles(&chunks, w);
        assert_eq!(chunks[1].start, local_midnight(d(2024, 2, 1), tz));
        assert_eq!(chunks[2].start, local_midnight(d(2024, 3, 1), tz));
    }

    #[test]
    fn ord_6_a_window_ending_exactly_at_a_month_start_has_no_empty_chunk() {
        let tz = parse_tz("Europe/Berlin").unwrap();
        let w = Window::local_days(d(2024, 1, 1), d(2024, 1, 31), tz).unwrap();
        assert_eq!(chunk_window(w, tz), vec![w]);
        let empty = Window {
            start: w.end,
            end: w.end,
        };
        assert!(chunk_window(empty, tz).is_empty());
    }
}
