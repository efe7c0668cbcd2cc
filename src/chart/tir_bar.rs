//! The stacked time-in-ranges bar (METRICS.md "AGP", "Alongside"): very high, high, target, low, very low
//! from top to bottom, each with its percentage, threshold and the consensus goal (very high < 5 %,
//! high + very high < 25 %, target > 70 %, low + very low < 4 %, very low < 1 %; Battelino 2019).
//!
//! Segment heights are proportional to the percentages as given (normalised by their sum, so rounding does
//! not overflow the bar). The labels sit beside their segments and are pushed apart only as far as needed
//! to stay legible; a leader line ties each label to its segment, so a 0 % range still gets its row.

use super::palette;
use super::svg_util::{
    background, fill, percent_text, render, spread, stroke, text_style, Area, DrawResult,
};
use super::ChartOptions;
use crate::metrics::RangePercents;
use crate::units::GlucoseUnit;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// One row of the bar, top to bottom.
struct Row {
    name: &'static str,
    range: String,
    percent: f64,
    color: RGBColor,
    /// The consensus goal for this range alone, if it has one.
    goal: Option<&'static str>,
}

fn rows(r: &RangePercents, unit: GlucoseUnit) -> [Row; 5] {
    let t = unit.thresholds();
    let step = match unit.display_decimals() {
        0 => 1.0,
        _ => 0.1,
    };
    let u = unit.ucum();
    let f = |v: f64| unit.format(v);
    [
        Row {
            name: "Very High",
            range: format!(">{} {u}", f(t.high_max)),
            percent: r.very_high,
            color: palette::VERY_HIGH,
            goal: Some("Goal: <5%"),
        },
        Row {
            name: "High",
            range: format!("{}–{} {u}", f(t.target_max + step), f(t.high_max)),
            percent: r.high,
            color: palette::HIGH,
            goal: None,
        },
        Row {
            name: "Target",
            range: format!("{}–{} {u}", f(t.low_below), f(t.target_max)),
            percent: r.target,
            color: palette::TARGET,
            goal: Some("Goal: >70%"),
        },
        Row {
            name: "Low",
            range: format!("{}–{} {u}", f(t.very_low_below), f(t.low_below - step)),
            percent: r.low,
            color: palette::LOW,
            goal: None,
        },
        Row {
            name: "Very Low",
            range: format!("<{} {u}", f(t.very_low_below)),
            percent: r.very_low,
            color: palette::VERY_LOW,
            goal: Some("Goal: <1%"),
        },
    ]
}

/// A percentage usable as a length: NaN, infinite and negative values draw nothing.
fn length(p: f64) -> f64 {
    if p.is_finite() && p > 0.0 {
        p
    } else {
        0.0
    }
}

/// "goal under 5%, met" style wording for the description.
fn goal_text(value: f64, below: bool, goal: f64) -> String {
    let (word, ok) = if below {
        ("under", value < goal)
    } else {
        ("over", value > goal)
    };
    let verdict = match (value.is_finite(), ok) {
        (false, _) => "",
        (true, true) => ", met",
        (true, false) => ", not met",
    };
    format!("goal {word} {goal}%{verdict}")
}

fn describe(r: &RangePercents, unit: GlucoseUnit) -> String {
    let rows = rows(r, unit);
    let high_sum = r.very_high + r.high;
    let low_sum = r.low + r.very_low;
    format!(
        "Time in ranges, top to bottom. Very high ({}): {} ({}). High ({}): {}. \
         High and very high together: {} ({}). Target ({}): {} ({}). Low ({}): {}. \
         Low and very low together: {} ({}). Very low ({}): {} ({}).",
        rows[0].range,
        percent_text(r.very_high),
        goal_text(r.very_high, true, 5.0),
        rows[1].range,
        percent_text(r.high),
        percent_text(high_sum),
        goal_text(high_sum, true, 25.0),
        rows[2].range,
        percent_text(r.target),
        goal_text(r.target, false, 70.0),
        rows[3].range,
        percent_text(r.low),
        percent_text(low_sum),
        goal_text(low_sum, true, 4.0),
        rows[4].range,
        percent_text(r.very_low),
        goal_text(r.very_low, true, 1.0),
    )
}

/// Renders the stacked time-in-ranges bar for percentages of the five ranges, with thresholds written in
/// `unit`. Designed at 460 × 300 ([`ChartOptions::tir_bar`]); below about 380 px wide the text crowds.
pub fn tir_bar(ranges: &RangePercents, unit: GlucoseUnit, opts: &ChartOptions) -> String {
    let desc = describe(ranges, unit);
    render(opts, (opts.width, opts.height), &desc, |root| {
        draw(root, ranges, unit, opts)
    })
}

/// Vertical extent of the bar: the layout's one source of truth, shared with the tests.
pub(super) fn bar_geometry(opts: &ChartOptions) -> (f64, f64) {
    let h = f64::from(opts.height.max(60));
    (14.0, h - 14.0)
}

fn draw(root: &Area<'_>, r: &RangePercents, unit: GlucoseUnit, opts: &ChartOptions) -> DrawResult {
    background(root)?;
    let w = f64::from(opts.width.max(120));
    let (top, bottom) = bar_geometry(opts);
    let (bar_l, bar_r) = (16, 56);
    let label_x = 92;
    // At least 180 px after the labels, room for a threshold such as "3.9–10.0 mmol/L" beside its goal.
    let pct_x = (w * 0.66).round().max(272.0) as i32;
    let bracket_x = pct_x + 16;

    let rows = rows(r, unit);
    let total: f64 = rows.iter().map(|row| length(row.percent)).sum();
    let bar_h = bottom - top;

    // Segment extents (pixel y) top to bottom; with no data the bar stays an empty outline.
    let mut edges = Vec::with_capacity(6);
    let mut y = top;
    edges.push(y);
    for row in &rows {
        if total > 0.0 {
            y += length(row.percent) / total * bar_h;
        }
        edges.push(y);
    }
    for (i, row) in rows.iter().enumerate() {
        let (y0, y1) = (edges[i].round() as i32, edges[i + 1].round() as i32);
        if y1 > y0 {
            root.draw(&Rectangle::new([(bar_l, y0), (bar_r, y1)], fill(row.color)))?;
        }
    }
    if total <= 0.0 {
        root.draw(&Rectangle::new(
            [(bar_l, top.round() as i32), (bar_r, bottom.round() as i32)],
            stroke(palette::GRID, 1),
        ))?;
    }

    // Each row is two lines (name and percentage; threshold and goal), 15 px apart; rows at least 36 apart.
    let mids: Vec<f64> = (0..5).map(|i| (edges[i] + edges[i + 1]) / 2.0).collect();
    let mut row_y: Vec<f64> = mids.iter().map(|m| m - 7.0).collect();
    spread(&mut row_y, 36.0, top + 6.0, bottom - 22.0);

    for (i, row) in rows.iter().enumerate() {
        let ly = row_y[i].round() as i32;
        let my = mids[i].round() as i32;
        // Leader: out from the segment, across to the label's first line.
        root.draw(&PathElement::new(
            vec![
                (bar_r + 2, my),
                (bar_r + 10, my),
                (label_x - 14, ly),
                (label_x - 6, ly),
            ],
            stroke(palette::TEXT_MUTED, 1),
        ))?;
        root.draw(&Text::new(
            row.name,
            (label_x, ly),
            text_style(14.0, &palette::TEXT, true, HPos::Left, VPos::Center),
        ))?;
        root.draw(&Text::new(
            percent_text(row.percent),
            (pct_x, ly),
            text_style(15.0, &palette::TEXT, true, HPos::Right, VPos::Center),
        ))?;
        root.draw(&Text::new(
            row.range.clone(),
            (label_x, ly + 16),
            text_style(11.5, &palette::TEXT_MUTED, false, HPos::Left, VPos::Center),
        ))?;
        if let Some(goal) = row.goal {
            root.draw(&Text::new(
                goal,
                (pct_x, ly + 16),
                text_style(11.5, &palette::TEXT_MUTED, false, HPos::Right, VPos::Center),
            ))?;
        }
    }

    // Combined goals: a bracket over high + very high and over low + very low.
    let pairs = [
        (0, 1, r.very_high + r.high, "Goal: <25%"),
        (3, 4, r.low + r.very_low, "Goal: <4%"),
    ];
    for (a, b, sum, goal) in pairs {
        let (ya, yb) = (row_y[a].round() as i32 - 8, row_y[b].round() as i32 + 22);
        root.draw(&PathElement::new(
            vec![
                (bracket_x - 5, ya),
                (bracket_x, ya),
                (bracket_x, yb),
                (bracket_x - 5, yb),
            ],
            stroke(palette::TEXT_MUTED, 1),
        ))?;
        let mid = (ya + yb) / 2;
        root.draw(&Text::new(
            percent_text(sum),
            (bracket_x + 10, mid - 8),
            text_style(15.0, &palette::TEXT, true, HPos::Left, VPos::Center),
        ))?;
        root.draw(&Text::new(
            goal,
            (bracket_x + 10, mid + 9),
            text_style(11.5, &palette::TEXT_MUTED, false, HPos::Left, VPos::Center),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testxml::{parse, Element};
    use super::*;

    fn ranges() -> RangePercents {
        RangePercents {
            very_low: 0.6,
            low: 3.1,
            target: 68.3,
            high: 21.0,
            very_high: 7.0,
        }
    }

    fn svg(r: &RangePercents, unit: GlucoseUnit) -> Element {
        let s = tir_bar(r, unit, &ChartOptions::tir_bar("Time in ranges"));
        parse(&s).unwrap_or_else(|e| panic!("not well-formed: {e}\n{s}"))
    }

    /// Texts with their y positions.
    fn texts_at(doc: &Element) -> Vec<(String, f64)> {
        doc.all("text")
            .iter()
            .map(|e| (e.text.clone(), e.num("y")))
            .collect()
    }

    fn y_of(doc: &Element, text: &str) -> f64 {
        texts_at(doc)
            .into_iter()
            .find(|(t, _)| t == text)
            .map(|(_, y)| y)
            .unwrap_or_else(|| panic!("no text {text:?}"))
    }

    #[test]
    fn the_bar_is_well_formed_and_accessible() {
        let doc = svg(&ranges(), GlucoseUnit::MgDl);
        assert_eq!(doc.attr("role"), Some("img"));
        assert_eq!(doc.all("title")[0].text, "Time in ranges");
        let desc = &doc.all("desc")[0].text;
        assert!(
            desc.contains("Target (70–180 mg/dL): 68% (goal over 70%, not met)"),
            "{desc}"
        );
        assert!(
            desc.contains("Very low (<54 mg/dL): 0.6% (goal under 1%, met)"),
            "{desc}"
        );
    }

    #[test]
    fn the_labels_show_the_given_percentages_from_very_high_at_the_top_to_very_low_at_the_bottom() {
        let doc = svg(&ranges(), GlucoseUnit::MgDl);
        let names = ["Very High", "High", "Target", "Low", "Very Low"];
        let ys: Vec<f64> = names.iter().map(|n| y_of(&doc, n)).collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        // Each percentage sits on its range's line.
        for (name, pct) in names.iter().zip(["7%", "21%", "68%", "3%", "0.6%"]) {
            assert_eq!(y_of(&doc, name), y_of(&doc, pct), "{name} and {pct}");
        }
    }

    #[test]
    fn the_segments_are_stacked_top_to_bottom_in_range_order_and_proportional() {
        let doc = svg(&ranges(), GlucoseUnit::MgDl);
        let bars: Vec<&Element> = doc
            .all("rect")
            .into_iter()
            .filter(|e| e.attr("x") == Some("16"))
            .collect();
        let fills: Vec<&str> = bars.iter().filter_map(|e| e.attr("fill")).collect();
        assert_eq!(
            fills,
            ["#D55E00", "#FDB863", "#009E73", "#DE77AE", "#8E0152"]
        );
        let ys: Vec<f64> = bars.iter().map(|e| e.num("y")).collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]));
        let target_h = bars[2].num("height");
        let (top, bottom) = bar_geometry(&ChartOptions::tir_bar(""));
        assert!(
            (target_h - 0.683 * (bottom - top)).abs() <= 1.0,
            "{target_h}"
        );
    }

    #[test]
    fn a_zero_percent_range_still_gets_its_label_and_goal() {
        let r = RangePercents {
            very_low: 0.0,
            low: 0.0,
            target: 100.0,
            high: 0.0,
            very_high: 0.0,
        };
        let doc = svg(&r, GlucoseUnit::MgDl);
        let texts = doc.texts();
        for want in [
            "Very High",
            "High",
            "Low",
            "Very Low",
            "Goal: <1%",
            "Goal: <5%",
        ] {
            assert!(
                texts.iter().any(|t| t == want),
                "{want} missing from {texts:?}"
            );
        }
        assert_eq!(
            texts.iter().filter(|t| *t == "0%").count(),
            6,
            "4 ranges + 2 sums"
        );
        // Crowded labels are pushed apart but keep their order and stay on the canvas.
        let names = ["Very High", "High", "Target", "Low", "Very Low"];
        let ys: Vec<f64> = names.iter().map(|n| y_of(&doc, n)).collect();
        assert!(ys.windows(2).all(|w| w[1] - w[0] >= 30.0), "{ys:?}");
        assert!(ys.iter().all(|y| *y > 0.0 && *y < 300.0), "{ys:?}");
    }

    #[test]
    fn the_consensus_goals_are_labelled() {
        let doc = svg(&ranges(), GlucoseUnit::MgDl);
        let texts = doc.texts();
        for goal in [
            "Goal: <5%",
            "Goal: <25%",
            "Goal: >70%",
            "Goal: <4%",
            "Goal: <1%",
        ] {
            assert!(
                texts.iter().any(|t| t == goal),
                "{goal} missing from {texts:?}"
            );
        }
        assert!(texts.iter().any(|t| t == "28%"), "high + very high");
        assert!(texts.iter().any(|t| t == "3.7%") || texts.iter().any(|t| t == "4%"));
    }

    #[test]
    fn the_thresholds_are_written_in_the_requested_unit() {
        let texts = svg(&ranges(), GlucoseUnit::MmolL).texts();
        for want in [
            ">13.9 mmol/L",
            "10.1–13.9 mmol/L",
            "3.9–10.0 mmol/L",
            "3.0–3.8 mmol/L",
            "<3.0 mmol/L",
        ] {
            assert!(
                texts.iter().any(|t| t == want),
                "{want} missing from {texts:?}"
            );
        }
        let texts = svg(&ranges(), GlucoseUnit::MgDl).texts();
        for want in [
            ">250 mg/dL",
            "181–250 mg/dL",
            "70–180 mg/dL",
            "54–69 mg/dL",
            "<54 mg/dL",
        ] {
            assert!(
                texts.iter().any(|t| t == want),
                "{want} missing from {texts:?}"
            );
        }
    }

    #[test]
    fn missing_or_invalid_percentages_draw_an_empty_bar_without_panicking() {
        let r = RangePercents {
            very_low: f64::NAN,
            low: -3.0,
            target: 0.0,
            high: f64::INFINITY,
            very_high: 0.0,
        };
        let doc = svg(&r, GlucoseUnit::MgDl);
        assert!(doc.texts().iter().any(|t| t == "n/a"));
    }
}
