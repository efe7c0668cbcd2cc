//! The ambulatory glucose profile chart (METRICS.md "AGP", "Chart"): y from 0 to 350 mg/dL (19.4 mmol/L)
//! with values above drawn at the top, the target band shaded, the 5–95 % band light, the 25–75 % band
//! darker, the median bold, x from 12 AM to 12 AM with 3-hour ticks, and the unit on the y axis.
//!
//! Empty bins stay empty: each run of consecutive non-empty bins is drawn as its own band and line, and a
//! run covers exactly its bins' time span (flat half a bin at either end), so a gap in the picture is as
//! wide as the missing data. The one exception is midnight: the profile is circular (the percentiles were
//! smoothed across midnight), so when the first and last bins both have data the curves meet at the
//! average of the two instead of stopping flat.

use super::palette;
use super::svg_util::{
    axis_max, background, clamp_glucose, clock_label, clock_time, fill, glucose_text,
    glucose_ticks, render, spread, stroke, text_style, translucent, vertical_text_style, Area,
    DrawResult, Frame,
};
use super::ChartOptions;
use crate::agp::{AgpProfile, Percentiles};
use crate::units::GlucoseUnit;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

const MINUTES_PER_DAY: u32 = 24 * 60;

/// One drawn point of the profile: hours after local midnight and the five percentiles (p5 … p95).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pt {
    x: f64,
    p: [f64; 5],
}

/// Non-empty bins in time order, with finite percentiles only (a NaN bin is treated as empty).
fn usable_bins(profile: &AgpProfile) -> Vec<(u32, Percentiles)> {
    let mut bins: Vec<(u32, Percentiles)> = profile
        .bins
        .iter()
        .filter_map(|b| {
            let p = b.percentiles?;
            [p.p5, p.p25, p.p50, p.p75, p.p95]
                .iter()
                .all(|v| v.is_finite())
                .then_some((b.minute_of_day, p))
        })
        .filter(|(m, _)| *m < MINUTES_PER_DAY)
        .collect();
    bins.sort_by_key(|(m, _)| *m);
    bins.dedup_by_key(|(m, _)| *m);
    bins
}

/// Splits the profile into runs of consecutive non-empty bins, as drawable points (clamped to the axis).
fn runs(profile: &AgpProfile) -> Vec<Vec<Pt>> {
    let bin = profile.bin_minutes.clamp(1, MINUTES_PER_DAY);
    let unit = profile.unit;
    let clamp = |p: &Percentiles| {
        [p.p5, p.p25, p.p50, p.p75, p.p95].map(|v| clamp_glucose(v, unit).unwrap_or(0.0))
    };
    let bins = usable_bins(profile);

    // Group bins whose start follows the previous bin's end.
    let mut groups: Vec<Vec<(u32, [f64; 5])>> = Vec::new();
    for (m, p) in &bins {
        match groups.last_mut() {
            Some(g) if g.last().is_some_and(|(prev, _)| prev + bin == *m) => g.push((*m, clamp(p))),
            _ => groups.push(vec![(*m, clamp(p))]),
        }
    }

    let wraps = match (groups.first(), groups.last()) {
        (Some(first), Some(last)) => {
            first.first().is_some_and(|(m, _)| *m == 0)
                && last.last().is_some_and(|(m, _)| m + bin >= MINUTES_PER_DAY)
        }
        _ => false,
    };
    let midnight = if wraps {
        let a = groups.first().and_then(|g| g.first()).map(|(_, p)| *p);
        let b = groups.last().and_then(|g| g.last()).map(|(_, p)| *p);
        a.zip(b)
            .map(|(a, b)| std::array::from_fn::<f64, 5, _>(|i| (a[i] + b[i]) / 2.0))
    } else {
        None
    };

    let n = groups.len();
    groups
        .iter()
        .enumerate()
        .map(|(gi, g)| {
            let mut pts = Vec::with_capacity(g.len() + 2);
            if let Some(&(m, p)) = g.first() {
                let start = f64::from(m) / 60.0;
                match midnight {
                    Some(mid) if gi == 0 && m == 0 => pts.push(Pt { x: 0.0, p: mid }),
                    _ => pts.push(Pt { x: start, p }),
                }
            }
            pts.extend(g.iter().map(|&(m, p)| Pt {
                x: (f64::from(m) + f64::from(bin) / 2.0) / 60.0,
                p,
            }));
            if let Some(&(m, p)) = g.last() {
                let end = (f64::from(m + bin) / 60.0).min(24.0);
                match midnight {
                    Some(mid) if gi + 1 == n && m + bin >= MINUTES_PER_DAY => {
                        pts.push(Pt { x: 24.0, p: mid })
                    }
                    _ => pts.push(Pt { x: end, p }),
                }
            }
            pts
        })
        .collect()
}

/// The words behind the picture, for `<desc>`: extremes of the median and the outer percentiles (on the
/// unclamped values) and where the data is missing.
fn describe(profile: &AgpProfile) -> String {
    let unit = profile.unit;
    let t = unit.thresholds();
    let bins = usable_bins(profile);
    let bin = profile.bin_minutes.clamp(1, MINUTES_PER_DAY);
    let total = (MINUTES_PER_DAY / bin).max(1) as usize;
    let mut s = format!(
        "Ambulatory glucose profile in {u}: percentiles of glucose by time of day, 12 AM to 12 AM. \
         Target range {lo}–{hi} {u} shaded. ",
        u = unit.ucum(),
        lo = unit.format(t.low_below),
        hi = unit.format(t.target_max),
    );
    if bins.is_empty() {
        s.push_str("No time of day has enough readings to draw the profile.");
        return s;
    }
    let centre = |m: u32| (f64::from(m) + f64::from(bin) / 2.0) / 60.0;
    let extreme = |pick: fn(&Percentiles) -> f64, lowest: bool| {
        bins.iter().map(|(m, p)| (*m, pick(p))).reduce(|a, b| {
            match (lowest, b.1 < a.1, b.1 > a.1) {
                (true, true, _) | (false, _, true) => b,
                _ => a,
            }
        })
    };
    let say = |label: &str, e: Option<(u32, f64)>| {
        e.map(|(m, v)| {
            format!(
                "{label} {} at {}",
                glucose_text(v, unit),
                clock_time(centre(m))
            )
        })
        .unwrap_or_default()
    };
    s.push_str(&format!(
        "Median: {}, {}. 5th percentile {}. 95th percentile {}. ",
        say("lowest", extreme(|p| p.p50, true)),
        say("highest", extreme(|p| p.p50, false)),
        say("lowest", extreme(|p| p.p5, true)),
        say("highest", extreme(|p| p.p95, false)),
    ));
    let above = bins.iter().filter(|(_, p)| p.p95 > axis_max(unit)).count();
    if above > 0 {
        s.push_str(&format!(
            "Values above {} are drawn at the top of the chart. ",
            glucose_text(axis_max(unit), unit)
        ));
    }
    let empty = total.saturating_sub(bins.len());
    if empty > 0 {
        let gaps = gap_spans(&bins, bin);
        let listed: Vec<String> = gaps
            .iter()
            .take(6)
            .map(|(a, b)| format!("{}–{}", clock_time(*a), clock_time(*b)))
            .collect();
        s.push_str(&format!(
            "{empty} of {total} time-of-day bins have too few readings and are left blank: {}{}.",
            listed.join(", "),
            if gaps.len() > 6 { ", …" } else { "" }
        ));
    } else {
        s.push_str("Every time of day has enough readings.");
    }
    s
}

/// Time spans (hours) without usable bins.
fn gap_spans(bins: &[(u32, Percentiles)], bin: u32) -> Vec<(f64, f64)> {
    let mut gaps = Vec::new();
    let mut cursor = 0;
    for (m, _) in bins {
        if *m > cursor {
            gaps.push((f64::from(cursor) / 60.0, f64::from(*m) / 60.0));
        }
        cursor = m + bin;
    }
    if cursor < MINUTES_PER_DAY {
        gaps.push((f64::from(cursor) / 60.0, 24.0));
    }
    gaps
}

/// Plot-area geometry for a canvas; shared with the tests so they can check pixel positions.
pub(super) fn frame(opts: &ChartOptions, unit: GlucoseUnit) -> Frame {
    Frame::inside(opts, (66.0, 44.0, 12.0, 30.0), unit, 24.0)
}

/// Renders the AGP of `profile` (values in `profile.unit`) as an SVG string. Designed at 900 × 380
/// ([`ChartOptions::agp`]); any size from about 480 × 240 works.
pub fn agp_chart(profile: &AgpProfile, opts: &ChartOptions) -> String {
    let desc = describe(profile);
    render(opts, (opts.width, opts.height), &desc, |root| {
        draw(root, profile, frame(opts, profile.unit))
    })
}

fn band(runs: &[Vec<Pt>], f: &Frame, lo: usize, hi: usize) -> Vec<Polygon<(i32, i32)>> {
    runs.iter()
        .map(|r| {
            let upper = r.iter().map(|p| f.pt(p.x, p.p[hi]));
            let lower = r.iter().rev().map(|p| f.pt(p.x, p.p[lo]));
            let (color, alpha) = if lo == 0 {
                (palette::AGP_BLUE, palette::AGP_OUTER_ALPHA)
            } else {
                (palette::AGP_BLUE, palette::AGP_INNER_ALPHA)
            };
            Polygon::new(
                upper.chain(lower).collect::<Vec<_>>(),
                translucent(color, alpha),
            )
        })
        .collect()
}

fn draw(root: &Area<'_>, profile: &AgpProfile, f: Frame) -> DrawResult {
    let unit = profile.unit;
    let t = unit.thresholds();
    let (l, r, top, bottom) = (f.left_px(), f.right_px(), f.top_px(), f.bottom_px());
    background(root)?;

    // Target band behind everything, as on the IDC report.
    root.draw(&Rectangle::new(
        [(l, f.y(t.target_max)), (r, f.y(t.low_below))],
        fill(palette::TARGET_BAND),
    ))?;
    for hour in (3..24).step_by(3) {
        let x = f.x(f64::from(hour));
        root.draw(&PathElement::new(
            vec![(x, top), (x, bottom)],
            stroke(palette::GRID, 1),
        ))?;
    }
    for v in [t.very_low_below, t.high_max] {
        let y = f.y(v);
        root.draw(&PathElement::new(
            vec![(l, y), (r, y)],
            stroke(palette::GRID, 1),
        ))?;
    }

    let runs = runs(profile);
    for poly in band(&runs, &f, 0, 4) {
        root.draw(&poly)?;
    }
    for poly in band(&runs, &f, 1, 3) {
        root.draw(&poly)?;
    }
    // Target limits over the bands, so where the distribution leaves the range stays visible.
    for v in [t.low_below, t.target_max] {
        let y = f.y(v);
        root.draw(&PathElement::new(
            vec![(l, y), (r, y)],
            stroke(palette::TARGET, 1),
        ))?;
    }
    for run in &runs {
        let pts: Vec<(i32, i32)> = run.iter().map(|p| f.pt(p.x, p.p[2])).collect();
        root.draw(&PathElement::new(pts, stroke(palette::MEDIAN, 3)))?;
    }

    // Frame: the baseline a little stronger than the rest.
    root.draw(&Rectangle::new(
        [(l, top), (r, bottom)],
        stroke(palette::GRID, 1),
    ))?;
    root.draw(&PathElement::new(
        vec![(l, bottom), (r, bottom)],
        stroke(palette::TEXT_MUTED, 1),
    ))?;

    // Y axis: the thresholds, target limits emphasised in the target colour. 54 and 70 mg/dL are close on a
    // short chart, so the labels (not the ticks) are nudged apart to 13 px, top to bottom.
    let ticks = glucose_ticks(unit);
    let mut label_y: Vec<f64> = ticks.iter().rev().map(|v| f.y_exact(*v)).collect();
    spread(&mut label_y, 13.0, f.top, f.top + f.height + 6.0);
    label_y.reverse();
    for (v, ly) in ticks.into_iter().zip(label_y) {
        let target_limit = v == t.low_below || v == t.target_max;
        let color = if target_limit {
            &palette::TARGET
        } else {
            &palette::TEXT
        };
        root.draw(&PathElement::new(
            vec![(l - 4, f.y(v)), (l, f.y(v))],
            stroke(palette::TEXT_MUTED, 1),
        ))?;
        root.draw(&Text::new(
            unit.format(v),
            (l - 7, ly.round() as i32),
            text_style(12.0, color, target_limit, HPos::Right, VPos::Center),
        ))?;
    }
    root.draw(&Text::new(
        unit.ucum(),
        (16, (top + bottom) / 2),
        vertical_text_style(12.0, &palette::TEXT),
    ))?;

    // X axis: 12 AM … 12 AM every 3 hours.
    for hour in (0..=24).step_by(3) {
        let x = f.x(f64::from(hour));
        root.draw(&PathElement::new(
            vec![(x, bottom), (x, bottom + 4)],
            stroke(palette::TEXT_MUTED, 1),
        ))?;
        root.draw(&Text::new(
            clock_label(hour),
            (x, bottom + 8),
            text_style(12.0, &palette::TEXT, false, HPos::Center, VPos::Top),
        ))?;
    }

    // Percentile names at the right end, where the IDC report puts them, nudged apart when they crowd.
    if let Some(last) = runs.last().and_then(|r| r.last()).filter(|p| p.x >= 23.99) {
        // Top to bottom: 95 % … 5 %.
        let names = ["95%", "75%", "50%", "25%", "5%"];
        let mut ys: Vec<f64> = last.p.iter().rev().map(|v| f64::from(f.y(*v))).collect();
        spread(&mut ys, 13.0, f64::from(top), f64::from(bottom));
        for (i, (name, y)) in names.iter().zip(ys).enumerate() {
            let (color, bold) = if i == 2 {
                (&palette::MEDIAN, true)
            } else {
                (&palette::TEXT_MUTED, false)
            };
            root.draw(&Text::new(
                *name,
                (r + 6, y.round() as i32),
                text_style(11.0, color, bold, HPos::Left, VPos::Center),
            ))?;
        }
    }

    if runs.is_empty() {
        root.draw(&Text::new(
            "Not enough readings to draw the profile",
            ((l + r) / 2, (top + bottom) / 2),
            text_style(
                14.0,
                &palette::TEXT_MUTED,
                false,
                HPos::Center,
                VPos::Center,
            ),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testxml::{parse, Element};
    use super::*;
    use crate::agp::AgpBin;

    /// A realistic profile: lowest before dawn, a post-dinner peak, the spread widening in the evening.
    fn sample_profile(unit: GlucoseUnit) -> AgpProfile {
        let bins = (0..96u32)
            .map(|i| {
                let h = f64::from(i * 15 + 7) / 60.0;
                let tau = std::f64::consts::TAU;
                let median = 135.0
                    + 30.0 * ((h - 13.0) / 24.0 * tau).sin()
                    + 25.0 * (-((h - 19.0) / 1.5).powi(2)).exp()
                    + 18.0 * (-((h - 8.5) / 1.2).powi(2)).exp();
                let spread = 1.0 + 0.4 * ((h - 16.0) / 24.0 * tau).sin().max(0.0);
                let mg = [
                    median - 62.0 * spread,
                    median - 28.0 * spread,
                    median,
                    median + 38.0 * spread,
                    median + 105.0 * spread,
                ];
                let v = mg.map(|x| crate::units::convert(x, GlucoseUnit::MgDl, unit));
                AgpBin {
                    minute_of_day: i * 15,
                    count: 70,
                    percentiles: Some(Percentiles {
                        p5: v[0],
                        p25: v[1],
                        p50: v[2],
                        p75: v[3],
                        p95: v[4],
                    }),
                }
            })
            .collect();
        AgpProfile {
            unit,
            bin_minutes: 15,
            bins,
        }
    }

    fn svg(profile: &AgpProfile) -> (String, Element) {
        let s = agp_chart(profile, &ChartOptions::agp("Ambulatory glucose profile"));
        let doc = parse(&s).unwrap_or_else(|e| panic!("not well-formed: {e}\n{s}"));
        (s, doc)
    }

    fn median_lines(doc: &Element) -> Vec<&Element> {
        doc.all("polyline")
            .into_iter()
            .filter(|e| e.attr("stroke") == Some("#0B3C6E") && e.attr("stroke-width") == Some("3"))
            .collect()
    }

    #[test]
    fn the_agp_svg_is_well_formed_and_accessible_in_both_units() {
        for unit in [GlucoseUnit::MgDl, GlucoseUnit::MmolL] {
            let (_, doc) = svg(&sample_profile(unit));
            assert_eq!(doc.name, "svg");
            assert_eq!(doc.attr("role"), Some("img"));
            assert_eq!(doc.attr("aria-label"), Some("Ambulatory glucose profile"));
            assert_eq!(doc.children[0].name, "title");
            assert_eq!(doc.children[1].name, "desc");
            assert!(
                doc.children[1].text.contains("Median: lowest"),
                "{}",
                doc.children[1].text
            );
        }
    }

    #[test]
    fn the_title_is_xml_escaped() {
        let s = agp_chart(
            &sample_profile(GlucoseUnit::MgDl),
            &ChartOptions::agp("AGP <Jane & \"JD\" O'Neil>"),
        );
        let doc = parse(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(doc.all("title")[0].text, "AGP <Jane & \"JD\" O'Neil>");
        assert_eq!(doc.attr("aria-label"), Some("AGP <Jane & \"JD\" O'Neil>"));
    }

    #[test]
    fn the_x_axis_has_the_nine_three_hour_labels_from_12_am_to_12_am_left_to_right() {
        let (_, doc) = svg(&sample_profile(GlucoseUnit::MgDl));
        let want = [
            "12 AM", "3 AM", "6 AM", "9 AM", "12 PM", "3 PM", "6 PM", "9 PM", "12 AM",
        ];
        let ticks: Vec<(f64, String)> = doc
            .all("text")
            .into_iter()
            .filter(|e| e.text.ends_with(" AM") || e.text.ends_with(" PM"))
            .map(|e| (e.num("x"), e.text.clone()))
            .collect();
        assert_eq!(ticks.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(), want);
        assert!(ticks.windows(2).all(|w| w[1].0 > w[0].0), "{ticks:?}");
    }

    #[test]
    fn the_y_axis_is_labelled_with_the_unit_and_its_thresholds_in_each_unit() {
        let (_, mg) = svg(&sample_profile(GlucoseUnit::MgDl));
        let texts = mg.texts();
        for want in ["mg/dL", "54", "70", "180", "250", "350"] {
            assert!(
                texts.iter().any(|t| t == want),
                "{want} missing from {texts:?}"
            );
        }
        let (_, mmol) = svg(&sample_profile(GlucoseUnit::MmolL));
        let texts = mmol.texts();
        for want in ["mmol/L", "3.0", "3.9", "10.0", "13.9", "19.4"] {
            assert!(
                texts.iter().any(|t| t == want),
                "{want} missing from {texts:?}"
            );
        }
        assert!(!texts.iter().any(|t| t == "mg/dL"));
    }

    #[test]
    fn close_threshold_labels_are_nudged_apart_on_a_short_chart() {
        // 240 px tall: 54 and 70 mg/dL are 9 px apart on the axis, closer than a 12 px label.
        let s = agp_chart(
            &sample_profile(GlucoseUnit::MgDl),
            &ChartOptions::new(720, 240, "AGP"),
        );
        let doc = parse(&s).unwrap_or_else(|e| panic!("{e}"));
        let y_of = |label: &str| {
            doc.all("text")
                .into_iter()
                .find(|e| e.text == label)
                .map(|e| e.num("y"))
                .unwrap_or_else(|| panic!("no {label} label"))
        };
        let ys: Vec<f64> = ["350", "250", "180", "70", "54"].map(y_of).to_vec();
        assert!(ys.windows(2).all(|w| w[1] - w[0] >= 12.5), "{ys:?}");
        let f = frame(&ChartOptions::new(720, 240, "AGP"), GlucoseUnit::MgDl);
        assert!(
            (y_of("180") - f.y_exact(180.0)).abs() < 1.0,
            "labels with room stay put"
        );
    }

    #[test]
    fn values_above_350_mg_dl_are_clamped_to_the_top_of_the_plot() {
        let mut profile = sample_profile(GlucoseUnit::MgDl);
        for b in profile.bins.iter_mut().skip(70).take(10) {
            if let Some(p) = b.percentiles.as_mut() {
                p.p95 = 520.0;
                p.p75 = 410.0;
                p.p50 = 380.0;
            }
        }
        let (_, doc) = svg(&profile);
        let f = frame(&ChartOptions::agp(""), GlucoseUnit::MgDl);
        let ys: Vec<f64> = doc
            .all("polygon")
            .iter()
            .chain(median_lines(&doc).iter())
            .flat_map(|e| e.points())
            .map(|(_, y)| y)
            .collect();
        let top = f64::from(f.top_px());
        assert!(
            ys.iter().all(|y| *y >= top),
            "a point is drawn above the plot"
        );
        assert!(ys.contains(&top), "clamped values sit on the top edge");
        assert!(doc.all("desc")[0].text.contains("drawn at the top"));
    }

    #[test]
    fn an_empty_bin_splits_the_median_and_the_bands_instead_of_interpolating() {
        let mut profile = sample_profile(GlucoseUnit::MgDl);
        profile.bins[40].percentiles = None;
        profile.bins[41].percentiles = None;
        let (_, doc) = svg(&profile);
        let medians = median_lines(&doc);
        assert_eq!(medians.len(), 2, "median split into two segments");
        let f = frame(&ChartOptions::agp(""), GlucoseUnit::MgDl);
        // The first segment ends where bin 40 starts (10:00) and the second resumes at bin 42 (10:30).
        let end = medians[0].points().last().map(|p| p.0);
        let start = medians[1].points().first().map(|p| p.0);
        assert_eq!(end, Some(f64::from(f.x(10.0))));
        assert_eq!(start, Some(f64::from(f.x(10.5))));
        assert_eq!(doc.all("polygon").len(), 4, "two bands, each split in two");
        assert!(doc.all("desc")[0].text.contains("10:00 AM–10:30 AM"));
    }

    #[test]
    fn a_full_profile_meets_itself_at_midnight() {
        let (_, doc) = svg(&sample_profile(GlucoseUnit::MgDl));
        let medians = median_lines(&doc);
        assert_eq!(medians.len(), 1);
        let pts = medians[0].points();
        let (first, last) = (pts[0], pts[pts.len() - 1]);
        assert_eq!(
            first.1, last.1,
            "circular: same value at 12 AM on both ends"
        );
        let f = frame(&ChartOptions::agp(""), GlucoseUnit::MgDl);
        assert_eq!(first.0, f64::from(f.left_px()));
        assert_eq!(last.0, f64::from(f.right_px()));
    }

    #[test]
    fn a_profile_without_data_still_draws_axes_and_says_so() {
        let profile = AgpProfile {
            unit: GlucoseUnit::MgDl,
            bin_minutes: 15,
            bins: vec![],
        };
        let (_, doc) = svg(&profile);
        assert!(median_lines(&doc).is_empty());
        assert!(doc
            .texts()
            .iter()
            .any(|t| t.starts_with("Not enough readings")));
        assert!(doc.texts().iter().any(|t| t == "mg/dL"));
    }

    #[test]
    fn the_same_profile_renders_to_the_same_bytes() {
        let p = sample_profile(GlucoseUnit::MmolL);
        let opts = ChartOptions::agp("AGP");
        assert_eq!(agp_chart(&p, &opts), agp_chart(&p, &opts));
    }
}
