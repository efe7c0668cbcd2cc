//! Daily glucose profiles (METRICS.md "AGP", "Alongside"): one small panel per local calendar day of the
//! window, midnight to midnight, target band shaded, the time above the target range filled in the high
//! colour and below it in the low colour, the date as a label.
//!
//! x runs over the day's real length, 0 to `DailyProfile::hours`, so a 23- or 25-hour DST day fills its
//! panel and says "23 h"/"25 h"; the noon mark moves with it (placed at 12 + hours − 24 elapsed hours,
//! because every IANA zone changes its clocks before noon). The trace breaks where consecutive readings
//! are more than 45 minutes apart: the same gap rule METRICS.md uses to split event runs, so the picture
//! agrees with the event counts.
//!
//! [`daily_profiles`] lays the panels out as the IDC AGP report does: seven columns Sunday to Saturday,
//! one row per calendar week, so weekday patterns line up; days of the window without readings get a grey
//! "No data" panel. [`daily_panel`] renders one day alone, with its own axes.

use super::palette;
use super::svg_util::{
    axis_max, background, clamp_glucose, fill, glucose_text, render, stroke, text_style, Area,
    DrawResult, Frame,
};
use super::ChartOptions;
use crate::report::DailyProfile;
use crate::units::GlucoseUnit;
use chrono::{Datelike, Duration, NaiveDate};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::collections::BTreeMap;

/// Readings further apart than this break the trace (METRICS.md "events": gaps over 45 min split runs).
const GAP_HOURS: f64 = 0.75;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Length of a day in hours, falling back to 24 for nonsense (the type allows any f64).
fn day_hours(day: &DailyProfile) -> f64 {
    if day.hours.is_finite() && (20.0..=28.0).contains(&day.hours) {
        day.hours
    } else {
        24.0
    }
}

/// Elapsed hours at which the local clock reads 12 PM.
fn noon(hours: f64) -> f64 {
    12.0 + hours - 24.0
}

/// "3 Mar": day-first with a month name, unambiguous in every locale.
fn short_date(d: NaiveDate) -> String {
    format!("{} {}", d.day(), MONTHS[d.month0() as usize % 12])
}

/// "Sun 3 Mar 2025".
fn long_date(d: NaiveDate) -> String {
    format!(
        "{} {} {}",
        WEEKDAYS[d.weekday().num_days_from_sunday() as usize % 7],
        short_date(d),
        d.year()
    )
}

fn dst_marker(hours: f64) -> Option<String> {
    ((hours - 24.0).abs() > 0.01).then(|| {
        if hours.fract().abs() < 0.01 {
            format!("{hours:.0} h")
        } else {
            format!("{hours:.1} h")
        }
    })
}

/// The day's drawable readings: finite, inside the day, in time order, values clamped to the axis.
fn clean_points(day: &DailyProfile, unit: GlucoseUnit) -> Vec<(f64, f64)> {
    let hours = day_hours(day);
    let mut pts: Vec<(f64, f64)> = day
        .points
        .iter()
        .filter(|(h, _)| h.is_finite() && (0.0..=hours).contains(h))
        .filter_map(|&(h, v)| clamp_glucose(v, unit).map(|v| (h, v)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    pts
}

/// Splits a trace at gaps and inserts the points where it crosses `thresholds`, so fills above/below a
/// threshold start and end exactly on it.
fn segments(pts: &[(f64, f64)], thresholds: [f64; 2]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    for &(x, v) in pts {
        let prev = out.last().and_then(|s| s.last()).copied();
        match prev {
            Some((px, pv)) if x - px <= GAP_HOURS => {
                let mut cross: Vec<(f64, f64)> = thresholds
                    .iter()
                    .filter(|t| (pv - **t) * (v - **t) < 0.0)
                    .map(|t| (px + (t - pv) / (v - pv) * (x - px), *t))
                    .collect();
                cross.sort_by(|a, b| a.0.total_cmp(&b.0));
                if let Some(seg) = out.last_mut() {
                    seg.extend(cross);
                    seg.push((x, v));
                }
            }
            _ => out.push(vec![(x, v)]),
        }
    }
    out
}

/// Closed shapes between the trace and `threshold` where the trace is beyond it (`above` or below).
fn excursions(seg: &[(f64, f64)], threshold: f64, above: bool) -> Vec<Vec<(f64, f64)>> {
    let beyond = |v: f64| {
        if above {
            v >= threshold
        } else {
            v <= threshold
        }
    };
    let strictly = |v: f64| if above { v > threshold } else { v < threshold };
    let mut shapes = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let mut flush = |cur: &mut Vec<(f64, f64)>| {
        if cur.len() >= 2 && cur.iter().any(|p| strictly(p.1)) {
            let (x0, x1) = (cur[0].0, cur[cur.len() - 1].0);
            let mut shape = std::mem::take(cur);
            shape.push((x1, threshold));
            shape.push((x0, threshold));
            shapes.push(shape);
        }
        cur.clear();
    };
    for &p in seg {
        if beyond(p.1) {
            cur.push(p);
        } else {
            flush(&mut cur);
        }
    }
    flush(&mut cur);
    shapes
}

/// The trace in pixels with one point per pixel column (the mean of the readings that fall in it). A small
/// panel has fewer columns than a day has 5-minute readings, and on whole-pixel coordinates two readings
/// in one column draw a vertical zig-zag instead of the curve.
fn per_column(seg: &[(f64, f64)], f: &Frame) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(seg.len());
    let mut column: Option<(i32, f64, f64)> = None; // (x, sum of y, count)
    for &(x, v) in seg {
        let px = f.x(x);
        let py = f.y_exact(v);
        column = match column {
            Some((cx, sum, n)) if cx == px => Some((cx, sum + py, n + 1.0)),
            Some((cx, sum, n)) => {
                out.push((cx, (sum / n).round() as i32));
                Some((px, py, 1.0))
            }
            None => Some((px, py, 1.0)),
        };
    }
    if let Some((cx, sum, n)) = column {
        out.push((cx, (sum / n).round() as i32));
    }
    out
}

/// Which axis labels a panel draws itself.
#[derive(Clone, Copy)]
struct Labels {
    x: bool,
    y: bool,
}

/// Draws one day into `f` (its plot area), with the date header just above it.
fn draw_day(
    root: &Area<'_>,
    f: &Frame,
    date: NaiveDate,
    day: Option<&DailyProfile>,
    unit: GlucoseUnit,
    labels: Labels,
) -> DrawResult {
    let t = unit.thresholds();
    let (l, r, top, bottom) = (f.left_px(), f.right_px(), f.top_px(), f.bottom_px());

    root.draw(&Text::new(
        short_date(date),
        (l + 1, top - 3),
        text_style(10.5, &palette::TEXT, true, HPos::Left, VPos::Bottom),
    ))?;

    let Some(day) = day else {
        root.draw(&Rectangle::new(
            [(l, top), (r, bottom)],
            fill(palette::NO_DATA),
        ))?;
        root.draw(&Rectangle::new(
            [(l, top), (r, bottom)],
            stroke(palette::GRID, 1),
        ))?;
        root.draw(&Text::new(
            "No data",
            ((l + r) / 2, (top + bottom) / 2),
            text_style(
                10.0,
                &palette::TEXT_MUTED,
                false,
                HPos::Center,
                VPos::Center,
            ),
        ))?;
        return Ok(());
    };
    let hours = day_hours(day);
    if let Some(marker) = dst_marker(hours) {
        root.draw(&Text::new(
            marker,
            (r - 1, top - 3),
            text_style(10.0, &palette::TEXT_MUTED, false, HPos::Right, VPos::Bottom),
        ))?;
    }

    root.draw(&Rectangle::new(
        [(l, f.y(t.target_max)), (r, f.y(t.low_below))],
        fill(palette::TARGET_BAND),
    ))?;
    let noon_x = f.x(noon(hours));
    root.draw(&PathElement::new(
        vec![(noon_x, top), (noon_x, bottom)],
        stroke(palette::GRID, 1),
    ))?;

    let pts = clean_points(day, unit);
    let segs = segments(&pts, [t.low_below, t.target_max]);
    for seg in &segs {
        for (shape, color) in excursions(seg, t.target_max, true)
            .into_iter()
            .map(|s| (s, palette::HIGH))
            .chain(
                excursions(seg, t.low_below, false)
                    .into_iter()
                    .map(|s| (s, palette::LOW)),
            )
        {
            let px: Vec<(i32, i32)> = shape.iter().map(|(x, v)| f.pt(*x, *v)).collect();
            root.draw(&Polygon::new(px, fill(color)))?;
        }
    }
    for v in [t.low_below, t.target_max] {
        let y = f.y(v);
        root.draw(&PathElement::new(
            vec![(l, y), (r, y)],
            stroke(palette::TARGET, 1),
        ))?;
    }
    for seg in &segs {
        if let [(x, v)] = seg.as_slice() {
            root.draw(&Circle::new(f.pt(*x, *v), 1, fill(palette::MEDIAN)))?;
        } else {
            root.draw(&PathElement::new(
                per_column(seg, f),
                stroke(palette::MEDIAN, 1),
            ))?;
        }
    }
    root.draw(&Rectangle::new(
        [(l, top), (r, bottom)],
        stroke(palette::GRID, 1),
    ))?;

    if labels.y {
        for v in [t.low_below, t.target_max] {
            root.draw(&Text::new(
                unit.format(v),
                (l - 4, f.y(v)),
                text_style(10.0, &palette::TARGET, true, HPos::Right, VPos::Center),
            ))?;
        }
    }
    if labels.x {
        let style = |h| text_style(10.0, &palette::TEXT_MUTED, false, h, VPos::Top);
        root.draw(&Text::new(
            "12 PM",
            (noon_x, bottom + 3),
            style(HPos::Center),
        ))?;
        root.draw(&Text::new("12 AM", (l, bottom + 3), style(HPos::Left)))?;
        root.draw(&Text::new("12 AM", (r, bottom + 3), style(HPos::Right)))?;
    }
    Ok(())
}

fn describe_day(date: NaiveDate, day: Option<&DailyProfile>, unit: GlucoseUnit) -> String {
    let Some(day) = day else {
        return format!("{}: no readings.", long_date(date));
    };
    let hours = day_hours(day);
    let length = dst_marker(hours)
        .map(|_| format!(" ({}-hour day)", hours))
        .unwrap_or_default();
    let values: Vec<f64> = day
        .points
        .iter()
        .map(|p| p.1)
        .filter(|v| v.is_finite())
        .collect();
    let min = values.iter().copied().reduce(f64::min);
    let max = values.iter().copied().reduce(f64::max);
    match min.zip(max) {
        Some((lo, hi)) => format!(
            "{}{length}: {} readings, lowest {}, highest {}.",
            long_date(date),
            values.len(),
            glucose_text(lo, unit),
            glucose_text(hi, unit)
        ),
        None => format!("{}{length}: no readings.", long_date(date)),
    }
}

fn intro(unit: GlucoseUnit) -> String {
    let t = unit.thresholds();
    format!(
        "Glucose trace per day, midnight to midnight, in {u}; target range {lo}–{hi} {u} shaded, time above \
         it filled amber and below it pink; values above {top} drawn at the top.",
        u = unit.ucum(),
        lo = unit.format(t.low_below),
        hi = unit.format(t.target_max),
        top = glucose_text(axis_max(unit), unit),
    )
}

/// Plot area of a standalone panel.
fn panel_frame(opts: &ChartOptions, unit: GlucoseUnit, hours: f64) -> Frame {
    Frame::inside(opts, (30.0, 6.0, 16.0, 16.0), unit, hours)
}

/// Renders one day as a small panel with its own axis labels (70/180 on the left, 12 AM – 12 PM – 12 AM
/// below). Suits about 240 × 130; for the whole window prefer [`daily_profiles`], which shares labels.
pub fn daily_panel(day: &DailyProfile, unit: GlucoseUnit, opts: &ChartOptions) -> String {
    let desc = format!(
        "{} {}",
        intro(unit),
        describe_day(day.date, Some(day), unit)
    );
    let f = panel_frame(opts, unit, day_hours(day));
    render(opts, (opts.width, opts.height), &desc, |root| {
        background(root)?;
        root.draw(&Text::new(
            unit.ucum(),
            (2, f.top_px() + 2),
            text_style(9.5, &palette::TEXT_MUTED, false, HPos::Left, VPos::Top),
        ))?;
        draw_day(
            root,
            &f,
            day.date,
            Some(day),
            unit,
            Labels { x: true, y: true },
        )
    })
}

/// Grid geometry of [`daily_profiles`].
const GRID_LEFT: f64 = 34.0;
const GRID_RIGHT: f64 = 4.0;
const GRID_HEADER: f64 = 20.0;
const GRID_FOOTER: f64 = 18.0;
const CELL_GAP: f64 = 6.0;
/// Space inside each cell for the date above the plot.
const CELL_TITLE: f64 = 14.0;

/// Renders every day of the window as a grid of small panels, seven per row from Sunday to Saturday (the
/// IDC AGP layout), one row per calendar week. `opts.width` is the grid's width and `opts.height` the height
/// of one row, so the SVG is `weeks × height + 38` pixels tall. Days are placed by date, whatever their
/// order in `days` (the first entry wins for a repeated date); dates between the first and last day that
/// have no entry get a "No data" panel.
pub fn daily_profiles(days: &[DailyProfile], unit: GlucoseUnit, opts: &ChartOptions) -> String {
    let mut by_date: BTreeMap<NaiveDate, &DailyProfile> = BTreeMap::new();
    for d in days {
        by_date.entry(d.date).or_insert(d);
    }
    let first = by_date.keys().next().copied();
    let last = by_date.keys().next_back().copied();
    let row_h = f64::from(opts.height.max(40));

    let (start, weeks) = match first.zip(last) {
        Some((first, last)) => {
            let start = first - Duration::days(i64::from(first.weekday().num_days_from_sunday()));
            let span = (last - start).num_days().max(0) + 1;
            (Some((start, first, last)), ((span + 6) / 7).max(1))
        }
        None => (None, 1),
    };
    let height = (GRID_HEADER + weeks as f64 * row_h + GRID_FOOTER).round() as u32;

    let mut desc = intro(unit);
    match start {
        Some((_, first, last)) => {
            desc.push_str(&format!(
                " {} days from {} to {}.",
                (last - first).num_days() + 1,
                long_date(first),
                long_date(last)
            ));
            let mut d = first;
            while d <= last {
                desc.push(' ');
                desc.push_str(&describe_day(d, by_date.get(&d).copied(), unit));
                d += Duration::days(1);
            }
        }
        None => desc.push_str(" No days to show."),
    }

    render(opts, (opts.width, height), &desc, |root| {
        background(root)?;
        let w = f64::from(opts.width.max(120));
        let cell_w = (w - GRID_LEFT - GRID_RIGHT) / 7.0;
        root.draw(&Text::new(
            unit.ucum(),
            (2, (GRID_HEADER - 4.0) as i32),
            text_style(9.5, &palette::TEXT_MUTED, false, HPos::Left, VPos::Bottom),
        ))?;
        for (i, name) in WEEKDAYS.iter().enumerate() {
            let x = GRID_LEFT + (i as f64 + 0.5) * cell_w;
            root.draw(&Text::new(
                *name,
                (x.round() as i32, (GRID_HEADER - 4.0) as i32),
                text_style(11.0, &palette::TEXT, true, HPos::Center, VPos::Bottom),
            ))?;
        }
        let Some((start, first, last)) = start else {
            root.draw(&Text::new(
                "No days to show",
                (
                    (w / 2.0).round() as i32,
                    (GRID_HEADER + row_h / 2.0).round() as i32,
                ),
                text_style(
                    12.0,
                    &palette::TEXT_MUTED,
                    false,
                    HPos::Center,
                    VPos::Center,
                ),
            ))?;
            return Ok(());
        };
        let mut d = first;
        while d <= last {
            let idx = (d - start).num_days();
            let (row, col) = (idx / 7, idx % 7);
            let day = by_date.get(&d).copied();
            let f = Frame {
                left: GRID_LEFT + col as f64 * cell_w + CELL_GAP / 2.0,
                top: GRID_HEADER + row as f64 * row_h + CELL_TITLE,
                width: (cell_w - CELL_GAP).max(4.0),
                height: (row_h - CELL_TITLE - CELL_GAP).max(4.0),
                x_max: day.map(day_hours).unwrap_or(24.0),
                y_max: axis_max(unit),
            };
            // Shared labels: glucose on the first panel of each row, clock under the last row's panels.
            let labels = Labels {
                y: col == 0 || d == first,
                x: row + 1 == weeks,
            };
            draw_day(root, &f, d, day, unit, labels)?;
            d += Duration::days(1);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::super::testxml::{parse, Element};
    use super::*;

    /// A plausible day: 5-minute readings with a breakfast and dinner excursion and a night-time low.
    fn sample_day(date: NaiveDate, hours: f64, seed: f64) -> DailyProfile {
        let n = (hours * 12.0) as usize;
        let points = (0..n)
            .map(|i| {
                let h = i as f64 / 12.0;
                let v = 120.0
                    + 110.0 * (-((h - 8.5 - seed) / 1.3).powi(2)).exp()
                    + 150.0 * (-((h - 19.5 + seed) / 1.6).powi(2)).exp()
                    - 65.0 * (-((h - 3.5) / 0.9).powi(2)).exp()
                    + 12.0 * (h * 1.7 + seed).sin();
                (h, v)
            })
            .collect();
        DailyProfile {
            date,
            hours,
            points,
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn doc(s: &str) -> Element {
        parse(s).unwrap_or_else(|e| panic!("not well-formed: {e}\n{s}"))
    }

    fn traces(doc: &Element) -> Vec<&Element> {
        doc.all("polyline")
            .into_iter()
            .filter(|e| e.attr("stroke") == Some("#0B3C6E"))
            .collect()
    }

    #[test]
    fn a_25_hour_dst_day_panel_spans_25_hours() {
        let day = sample_day(date(2025, 11, 2), 25.0, 0.0);
        let opts = ChartOptions::new(240, 130, "2 Nov");
        let svg = doc(&daily_panel(&day, GlucoseUnit::MgDl, &opts));
        let f = panel_frame(&opts, GlucoseUnit::MgDl, 25.0);
        let xs: Vec<f64> = traces(&svg)
            .iter()
            .flat_map(|e| e.points())
            .map(|p| p.0)
            .collect();
        let last_reading = day.points.last().map(|p| p.0).unwrap_or(0.0);
        assert!(last_reading > 24.9);
        // The reading at 24 h 55 min is drawn, at 24.92/25 of the width, not past the edge.
        assert_eq!(
            xs.iter().copied().fold(f64::MIN, f64::max),
            f64::from(f.x(last_reading))
        );
        assert!(f64::from(f.x(last_reading)) <= f64::from(f.right_px()));
        let hour_24 = f.x(24.0);
        assert!(
            hour_24 < f.right_px() - 5,
            "24 h is not the right edge of a 25 h day"
        );
        let texts = svg.texts();
        assert!(texts.iter().any(|t| t == "25 h"), "{texts:?}");
        let noon_label = svg
            .all("text")
            .into_iter()
            .find(|e| e.text == "12 PM")
            .map(|e| e.num("x"));
        assert_eq!(
            noon_label,
            Some(f64::from(f.x(13.0))),
            "clock noon is 13 h after midnight"
        );
        assert!(svg.all("desc")[0].text.contains("(25-hour day)"));
    }

    #[test]
    fn a_23_hour_day_ends_at_its_23rd_hour() {
        let day = sample_day(date(2025, 3, 9), 23.0, 0.0);
        let opts = ChartOptions::new(240, 130, "9 Mar");
        let svg = doc(&daily_panel(&day, GlucoseUnit::MgDl, &opts));
        let f = panel_frame(&opts, GlucoseUnit::MgDl, 23.0);
        assert_eq!(f.x(23.0), f.right_px());
        assert!(svg.texts().iter().any(|t| t == "23 h"));
    }

    #[test]
    fn a_gap_over_45_minutes_breaks_the_trace() {
        let mut day = sample_day(date(2025, 3, 3), 24.0, 0.0);
        day.points.retain(|(h, _)| !(10.0..11.0).contains(h));
        let svg = doc(&daily_panel(
            &day,
            GlucoseUnit::MgDl,
            &ChartOptions::new(240, 130, "t"),
        ));
        assert_eq!(traces(&svg).len(), 2);
        // A 30-minute gap does not.
        let mut day = sample_day(date(2025, 3, 3), 24.0, 0.0);
        day.points.retain(|(h, _)| !(10.0..10.4).contains(h));
        let svg = doc(&daily_panel(
            &day,
            GlucoseUnit::MgDl,
            &ChartOptions::new(240, 130, "t"),
        ));
        assert_eq!(traces(&svg).len(), 1);
    }

    #[test]
    fn the_panel_shows_the_date_the_target_band_and_clamps_high_values() {
        let mut day = sample_day(date(2025, 3, 3), 24.0, 0.0);
        day.points.push((23.99, 600.0));
        let opts = ChartOptions::new(240, 130, "Mon <3 Mar>");
        let s = daily_panel(&day, GlucoseUnit::MgDl, &opts);
        let svg = doc(&s);
        assert_eq!(svg.attr("role"), Some("img"));
        assert_eq!(svg.attr("aria-label"), Some("Mon <3 Mar>"));
        assert!(svg.texts().iter().any(|t| t == "3 Mar"));
        assert!(svg
            .all("rect")
            .iter()
            .any(|e| e.attr("fill") == Some("#E0F3EE")));
        let f = panel_frame(&opts, GlucoseUnit::MgDl, 24.0);
        let top = f64::from(f.top_px());
        assert!(svg
            .all("polygon")
            .iter()
            .chain(traces(&svg).iter())
            .flat_map(|e| e.points())
            .all(|p| p.1 >= top));
        assert!(
            svg.all("polygon")
                .iter()
                .any(|e| e.attr("fill") == Some("#FDB863")),
            "time above filled"
        );
        assert!(
            svg.all("polygon")
                .iter()
                .any(|e| e.attr("fill") == Some("#DE77AE")),
            "time below filled"
        );
    }

    #[test]
    fn the_grid_has_seven_columns_from_sunday_and_a_no_data_panel_for_a_missing_day() {
        // Wed 5 Mar … Tue 18 Mar 2025 (14 days) without Mon 10 Mar: 3 calendar weeks.
        let days: Vec<DailyProfile> = (0..14)
            .map(|i| date(2025, 3, 5) + Duration::days(i))
            .filter(|d| *d != date(2025, 3, 10))
            .map(|d| sample_day(d, 24.0, f64::from(d.day() % 3) * 0.4))
            .collect();
        let opts = ChartOptions::daily_profiles("Daily glucose profiles");
        let s = daily_profiles(&days, GlucoseUnit::MmolL, &opts);
        let svg = doc(&s);
        assert_eq!(svg.num("height"), 20.0 + 3.0 * 96.0 + 18.0);
        let texts = svg.texts();
        let heads: Vec<&String> = texts
            .iter()
            .filter(|t| WEEKDAYS.contains(&t.as_str()))
            .collect();
        assert_eq!(heads, WEEKDAYS);
        assert!(texts.iter().any(|t| t == "No data"));
        assert!(texts.iter().any(|t| t == "mmol/L"));
        assert_eq!(texts.iter().filter(|t| t.ends_with(" Mar")).count(), 14);
        // 5 Mar is a Wednesday: same column as the "Wed" header; 9 Mar (Sunday) starts the second row.
        let x_of = |t: &str| {
            svg.all("text")
                .into_iter()
                .find(|e| e.text == t)
                .map(|e| (e.num("x"), e.num("y")))
        };
        let (wed_x, _) = x_of("Wed").unwrap_or_default();
        let (d5_x, d5_y) = x_of("5 Mar").unwrap_or_default();
        let (d9_x, d9_y) = x_of("9 Mar").unwrap_or_default();
        let (sun_x, _) = x_of("Sun").unwrap_or_default();
        let cell_w = (900.0 - GRID_LEFT - GRID_RIGHT) / 7.0;
        assert!((d5_x - (wed_x - cell_w / 2.0)).abs() < 6.0);
        assert!((d9_x - (sun_x - cell_w / 2.0)).abs() < 6.0);
        assert_eq!(d9_y - d5_y, 96.0);
        let desc = &svg.all("desc")[0].text;
        assert!(
            desc.contains("14 days from Wed 5 Mar 2025 to Tue 18 Mar 2025"),
            "{desc}"
        );
        assert!(desc.contains("Mon 10 Mar 2025: no readings."), "{desc}");
    }

    #[test]
    fn an_empty_window_renders_a_message_not_a_panic() {
        let svg = doc(&daily_profiles(
            &[],
            GlucoseUnit::MgDl,
            &ChartOptions::daily_profiles("x"),
        ));
        assert!(svg.texts().iter().any(|t| t == "No days to show"));
    }

    #[test]
    fn crossings_are_inserted_so_fills_start_on_the_threshold() {
        let segs = segments(&[(0.0, 170.0), (0.1, 190.0), (0.2, 170.0)], [70.0, 180.0]);
        assert_eq!(segs.len(), 1);
        let above = excursions(&segs[0], 180.0, true);
        assert_eq!(above.len(), 1);
        let xs: Vec<f64> = above[0]
            .iter()
            .map(|p| (p.0 * 1000.0).round() / 1000.0)
            .collect();
        assert_eq!(xs, [0.05, 0.1, 0.15, 0.15, 0.05]);
    }
}
