//! The one-page AGP report (METRICS.md "AGP") as a standalone SVG page: the content of the report page
//! (patient header, window, metric table with goals, time in ranges, the AGP, events and the daily
//! profiles) laid out for print. The server converts it to PDF with embedded fonts; the page is also a valid
//! SVG document on its own.
//!
//! The page is ISO A4 portrait, 595 × 842 in SVG user units, where one unit is one PostScript point
//! (1/72 in), so a PDF converter at 72 dpi maps it 1:1 onto an A4 media box. A4 rather than US Letter
//! because the report goes into FHIR submissions read in every region (the IG is international) and A4 is
//! the paper of most of them; the side margins are wide enough that a Letter printer's "fit to page" only
//! shrinks it by 6 %.
//!
//! Every number comes from [`crate::report_rows`], the same rows the report page and the CLI print, and the
//! charts are the page's own ([`agp_chart`], [`tir_bar`], [`daily_profiles`]) nested as `<svg>` elements
//! scaled into their slots. Text uses "DejaVu Sans", the font the PDF embeds. Output is deterministic:
//! nothing here reads the clock; the generation time is part of [`PageHeader`].

use super::svg_util::xml_escape;
use super::{agp_chart, daily_profiles, palette, tir_bar, ChartOptions};
use crate::report::Report;
use crate::report_rows::{event_rows, metric_rows, range_rows};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use plotters::style::RGBColor;
use std::fmt::Write as _;

/// Page width in points (A4: 210 mm).
pub const PAGE_WIDTH: f64 = 595.0;
/// Page height in points (A4: 297 mm).
pub const PAGE_HEIGHT: f64 = 842.0;
/// The font the page's text is set in (embedded in the PDF).
pub const FONT_FAMILY: &str = "DejaVu Sans";
/// The daily profiles show the latest this many days of the window, as the report page does by default.
pub const DAILY_DAYS: usize = 14;

const LEFT: f64 = 30.0;
const RIGHT: f64 = PAGE_WIDTH - 30.0;
const WIDTH: f64 = RIGHT - LEFT;
const TOP: f64 = 28.0;
/// Baseline of the footer line; the rule above it sits at `FOOTER_Y - 11`.
const FOOTER_Y: f64 = PAGE_HEIGHT - 22.0;

/// Table text size and row pitch, in points.
const TABLE_PT: f64 = 7.5;
const ROW_H: f64 = 10.5;
/// Section heading size and the space it takes above its content.
const HEADING_PT: f64 = 9.5;
const HEADING_H: f64 = 14.0;
/// Height of the AGP on the page: tall enough that the 54 and 70 mg/dL lines are apart.
const AGP_HEIGHT: f64 = 190.0;

/// Who the page is for and when it was made: what the [`Report`] does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHeader {
    pub patient_name: String,
    pub birth_date: Option<NaiveDate>,
    /// Printed on the page; pass the time the report was requested (never read from the clock here, so the
    /// same input gives the same page).
    pub generated_at: DateTime<Utc>,
    /// Where the readings came from, e.g. "Demo data" or the EHR's name.
    pub source: String,
}

/// Renders the one-page AGP report of `report` as a standalone A4 SVG document (units are points).
pub fn report_page_svg(report: &Report, header: &PageHeader) -> String {
    let mut p = Page::default();
    let u = report.unit;
    let m = &report.metrics;
    let _ = write!(
        p.out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"{FONT_FAMILY}\" role=\"img\" aria-label=\"{title}\">\n<title>{title}</title>\n\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#FFFFFF\"/>\n",
        w = PAGE_WIDTH,
        h = PAGE_HEIGHT,
        title = xml_escape(&format!(
            "Ambulatory glucose profile report of {}",
            header.patient_name
        )),
    );

    // Header: report title, patient and birth date on the left; window, zone, time of generation and
    // source on the right.
    let right_w = 235.0;
    let left_w = WIDTH - right_w - 10.0;
    p.text(
        LEFT,
        TOP + 14.0,
        14.0,
        Style::bold(),
        "Ambulatory Glucose Profile (AGP)",
    );
    // A long name is set smaller before anything is cut: the name identifies the patient.
    let mut name_pt = 13.0;
    while name_pt > 9.0 && text_width(&header.patient_name, name_pt, true) > left_w {
        name_pt -= 0.5;
    }
    let name = fit(&header.patient_name, name_pt, true, left_w);
    p.text(LEFT, TOP + 33.0, name_pt, Style::bold(), &name);
    let born = header
        .birth_date
        .map(|d| format!("Born {d}"))
        .unwrap_or_else(|| "Date of birth not given".into());
    p.text(LEFT, TOP + 47.0, 8.5, Style::muted(), &born);

    let days = report.daily.len();
    let window = format!(
        "{} – {} ({} day{})",
        report.first_day,
        report.last_day,
        days,
        if days == 1 { "" } else { "s" }
    );
    p.text(RIGHT, TOP + 12.0, 10.0, Style::bold().end(), &window);
    let lines = [
        format!("Time zone {} · values in {u}", report.time_zone),
        format!(
            "Generated {} UTC",
            header.generated_at.format("%Y-%m-%d %H:%M")
        ),
        fit(&format!("Source: {}", header.source), 8.0, false, right_w),
    ];
    for (i, line) in lines.iter().enumerate() {
        p.text(
            RIGHT,
            TOP + 25.0 + 11.0 * i as f64,
            8.0,
            Style::muted().end(),
            line,
        );
    }
    let mut y = TOP + 62.0;
    p.rule(y, palette::TEXT);

    // Data sufficiency (METRICS.md): said before any number so nobody reads past it.
    if !m.sufficiency.sufficient {
        y += 12.0;
        p.text(
            LEFT,
            y,
            8.0,
            Style::bold().color(palette::VERY_HIGH),
            "Limited data: interpret with care.",
        );
        let reasons = m.sufficiency.reasons.join(" ");
        for line in wrap(&reasons, 8.0, WIDTH - 160.0).iter().take(2) {
            p.text(LEFT + 160.0, y, 8.0, Style::regular(), line);
            y += 10.0;
        }
    }
    y += 8.0;

    // Row 1, left: the metric table; right: the time-in-ranges bar. Below both: the range table, which
    // needs the full width for its goals and marks.
    let col_right = LEFT + 340.0;
    let row_top = y;
    p.heading(LEFT, &mut y, "Glucose statistics and targets");
    let metric_cols = [
        Col::left(3.0, "Metric"),
        Col::left(150.0, "Value"),
        Col::left(240.0, "Goal"),
        Col::left(290.0, ""),
    ];
    let rows: Vec<Vec<Cell>> = metric_rows(m)
        .into_iter()
        .map(|r| {
            vec![
                Cell::plain(r.label),
                Cell::bold(r.value),
                Cell::muted(r.goal.unwrap_or_default()),
                Cell::mark(r.met),
            ]
        })
        .collect();
    p.table(LEFT, &mut y, col_right - LEFT - 5.0, &metric_cols, &rows);

    let mut ry = row_top;
    p.heading(col_right, &mut ry, "Time in ranges");
    let tir_w = RIGHT - col_right;
    let tir_h = (y - ry).max(110.0);
    match m.ranges {
        Some(r) => {
            // Drawn at 380 px wide (its smallest comfortable width) and scaled into the column.
            let scale = tir_w / 380.0;
            let svg = tir_bar(
                &r,
                u,
                &ChartOptions::new(
                    380,
                    (tir_h / scale).round() as u32,
                    format!("Time in ranges of {}", header.patient_name),
                ),
            );
            p.embed(&svg, col_right, ry, scale);
        }
        None => p.text(
            col_right + 3.0,
            ry + 9.0,
            TABLE_PT,
            Style::muted(),
            "No readings in this window.",
        ),
    }
    y = y.max(ry + tir_h) + 8.0;

    p.heading(LEFT, &mut y, "Time in ranges and goals");
    let range_cols = [
        Col::left(12.0, "Range"),
        Col::left(80.0, "Glucose"),
        Col::right(200.0, "% of time"),
        Col::left(215.0, "Per day"),
        Col::left(280.0, "Goal"),
        Col::left(380.0, ""),
    ];
    let ranges = range_rows(m);
    let range_colors = [
        palette::VERY_HIGH,
        palette::HIGH,
        palette::TARGET,
        palette::LOW,
        palette::VERY_LOW,
    ];
    if ranges.is_empty() {
        p.text(
            LEFT + 3.0,
            y + 9.0,
            TABLE_PT,
            Style::muted(),
            "No readings in this window.",
        );
        y += ROW_H + 2.0;
    } else {
        let table_top = y;
        let rows: Vec<Vec<Cell>> = ranges
            .into_iter()
            .map(|r| {
                vec![
                    Cell::plain(r.label),
                    Cell::plain(r.range),
                    Cell::bold(r.percent),
                    Cell::plain(r.per_day),
                    Cell::muted(r.goal.unwrap_or_default()),
                    Cell::mark(r.met),
                ]
            })
            .collect();
        p.table(LEFT, &mut y, 430.0, &range_cols, &rows);
        // Colour keys in front of the range names, as on the page.
        for (i, c) in range_colors.iter().enumerate() {
            let ry = table_top + ROW_H * (i as f64 + 1.0) + 2.5;
            let _ = writeln!(
                p.out,
                "<rect x=\"{}\" y=\"{}\" width=\"6\" height=\"6\" fill=\"{}\"/>",
                n(LEFT + 3.0),
                n(ry),
                hex(*c)
            );
        }
    }
    y += 8.0;

    // Row 2: the AGP, full width.
    p.heading(LEFT, &mut y, "Ambulatory glucose profile");
    p.text(
        RIGHT,
        y - HEADING_H + 9.5,
        7.0,
        Style::muted().end(),
        "Median (bold), 25–75 % and 5–95 % of readings by time of day, all days pooled; target range shaded",
    );
    let agp_scale = WIDTH / 720.0;
    let agp = agp_chart(
        &report.agp,
        &ChartOptions::new(
            720,
            (AGP_HEIGHT / agp_scale).round() as u32,
            format!("Ambulatory glucose profile of {}", header.patient_name),
        ),
    );
    y += p.embed(&agp, LEFT, y, agp_scale) + 8.0;

    // Row 3: events.
    p.heading(LEFT, &mut y, "Events");
    let event_cols = [
        Col::left(3.0, "Event"),
        Col::right(250.0, "Count"),
        Col::right(310.0, "Per day"),
        Col::right(390.0, "Mean duration"),
    ];
    let rows: Vec<Vec<Cell>> = event_rows(report)
        .into_iter()
        .map(|e| {
            vec![
                Cell::plain(e.label),
                Cell::bold(e.count),
                Cell::plain(e.per_day),
                Cell::plain(e.mean_duration),
            ]
        })
        .collect();
    p.table(LEFT, &mut y, 400.0, &event_cols, &rows);
    y += 8.0;

    // Row 4: the latest days as daily profiles, filling the rest of the page.
    let shown = DAILY_DAYS.min(report.daily.len());
    let daily = &report.daily[report.daily.len() - shown..];
    p.heading(LEFT, &mut y, "Daily glucose profiles");
    p.text(
        RIGHT,
        y - HEADING_H + 9.5,
        7.0,
        Style::muted().end(),
        &format!(
            "Midnight to midnight, local time; {shown} of {} days shown, latest last",
            report.daily.len()
        ),
    );
    // 800 px wide: each day's cell is wide enough for its three clock labels.
    let daily_scale = WIDTH / 800.0;
    let avail = (FOOTER_Y - 16.0 - y) / daily_scale;
    let weeks = calendar_weeks(daily) as f64;
    // The grid adds 38 px of header and footer to its rows; rows never grow past the designed 96 px.
    let row_h = ((avail - 38.0) / weeks).clamp(40.0, 96.0).floor() as u32;
    let svg = daily_profiles(
        daily,
        u,
        &ChartOptions::new(
            800,
            row_h,
            format!("Daily glucose profiles of {}", header.patient_name),
        ),
    );
    p.embed(&svg, LEFT, y, daily_scale);

    // Footer.
    p.rule(FOOTER_Y - 11.0, palette::GRID);
    p.text(
        LEFT,
        FOOTER_Y,
        7.5,
        Style::muted(),
        "CloudCGM · AGP report — hl7.fhir.uv.cgm",
    );
    p.text(
        PAGE_WIDTH / 2.0,
        FOOTER_Y,
        7.5,
        Style::muted().middle(),
        &format!("{} readings in the window · values in {u}", m.readings),
    );
    p.text(RIGHT, FOOTER_Y, 7.5, Style::muted().end(), "Page 1 of 1");
    p.out.push_str("</svg>\n");
    p.out
}

/// Calendar weeks (Sunday to Saturday rows) the daily grid needs for `days`.
fn calendar_weeks(days: &[crate::report::DailyProfile]) -> i64 {
    let (Some(first), Some(last)) = (
        days.iter().map(|d| d.date).min(),
        days.iter().map(|d| d.date).max(),
    ) else {
        return 1;
    };
    let start = first - Duration::days(i64::from(first.weekday().num_days_from_sunday()));
    (((last - start).num_days() + 1 + 6) / 7).max(1)
}

/// A number for an attribute: at most two decimals, no trailing zeros.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// Approximate advance width of `s` in DejaVu Sans at `size` points (character classes of the real
/// metrics; errs on the wide side). Used to keep free text such as a patient name inside its box.
fn text_width(s: &str, size: f64, bold: bool) -> f64 {
    let em: f64 = s
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '\'' | '.' | ',' | ':' | ';' | '!' | '|' => 0.30,
            ' ' | 'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' => 0.40,
            'm' | 'w' | 'M' | 'W' => 0.95,
            c if c.is_ascii_uppercase() => 0.72,
            c if c.is_ascii_digit() => 0.64,
            c if c.is_ascii() => 0.62,
            _ => 0.80,
        })
        .sum();
    em * size * if bold { 1.1 } else { 1.0 }
}

/// `s` shortened with an ellipsis so it fits `max_w` points.
fn fit(s: &str, size: f64, bold: bool, max_w: f64) -> String {
    if text_width(s, size, bold) <= max_w {
        return s.to_string();
    }
    let mut out: String = s.chars().collect();
    while !out.is_empty() && text_width(&format!("{out}…"), size, bold) > max_w {
        out.pop();
    }
    format!("{}…", out.trim_end())
}

/// Greedy word wrap to lines of at most `max_w` points.
fn wrap(s: &str, size: f64, max_w: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in s.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_string()
        } else {
            format!("{line} {word}")
        };
        if !line.is_empty() && text_width(&candidate, size, false) > max_w {
            lines.push(std::mem::take(&mut line));
            line = word.to_string();
        } else {
            line = candidate;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[derive(Clone, Copy)]
struct Style {
    bold: bool,
    color: RGBColor,
    anchor: &'static str,
}

impl Style {
    fn regular() -> Self {
        Style {
            bold: false,
            color: palette::TEXT,
            anchor: "start",
        }
    }
    fn bold() -> Self {
        Style {
            bold: true,
            ..Self::regular()
        }
    }
    fn muted() -> Self {
        Style {
            color: palette::TEXT_MUTED,
            ..Self::regular()
        }
    }
    fn color(self, color: RGBColor) -> Self {
        Style { color, ..self }
    }
    fn end(self) -> Self {
        Style {
            anchor: "end",
            ..self
        }
    }
    fn middle(self) -> Self {
        Style {
            anchor: "middle",
            ..self
        }
    }
}

#[derive(Clone, Copy)]
struct Col {
    /// Offset of the column's anchor from the table's left edge.
    x: f64,
    right: bool,
    title: &'static str,
}

impl Col {
    fn left(x: f64, title: &'static str) -> Self {
        Col {
            x,
            right: false,
            title,
        }
    }
    fn right(x: f64, title: &'static str) -> Self {
        Col {
            x,
            right: true,
            title,
        }
    }
}

struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    fn plain(text: String) -> Self {
        Cell {
            text,
            style: Style::regular(),
        }
    }
    fn bold(text: String) -> Self {
        Cell {
            text,
            style: Style::bold(),
        }
    }
    fn muted(text: String) -> Self {
        Cell {
            text,
            style: Style::muted(),
        }
    }
    /// The goal mark in words and colour, as on the page: never colour alone.
    fn mark(met: Option<bool>) -> Self {
        match met {
            Some(true) => Cell {
                text: "✓ met".into(),
                style: Style::bold().color(palette::TARGET),
            },
            Some(false) => Cell {
                text: "✗ not met".into(),
                style: Style::bold().color(palette::VERY_HIGH),
            },
            None => Cell::plain(String::new()),
        }
    }
}

#[derive(Default)]
struct Page {
    out: String,
}

impl Page {
    fn text(&mut self, x: f64, y: f64, size: f64, style: Style, text: &str) {
        if text.is_empty() {
            return;
        }
        let _ = write!(
            self.out,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\"",
            n(x),
            n(y),
            n(size)
        );
        if style.bold {
            self.out.push_str(" font-weight=\"bold\"");
        }
        if style.anchor != "start" {
            let _ = write!(self.out, " text-anchor=\"{}\"", style.anchor);
        }
        let _ = writeln!(
            self.out,
            " fill=\"{}\">{}</text>",
            hex(style.color),
            xml_escape(text)
        );
    }

    fn rule(&mut self, y: f64, color: RGBColor) {
        let _ = writeln!(
            self.out,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"0.75\"/>",
            n(LEFT),
            n(RIGHT),
            hex(color),
            y = n(y)
        );
    }

    /// A section heading at the cursor; moves the cursor below it.
    fn heading(&mut self, x: f64, y: &mut f64, title: &str) {
        self.text(x, *y + 9.5, HEADING_PT, Style::bold(), title);
        *y += HEADING_H;
    }

    /// A table with a header row and light stripes; moves the cursor below it.
    fn table(&mut self, x: f64, y: &mut f64, width: f64, cols: &[Col], rows: &[Vec<Cell>]) {
        let baseline = |top: f64| top + ROW_H - 3.0;
        for c in cols {
            let style = if c.right {
                Style::muted().end()
            } else {
                Style::muted()
            };
            self.text(x + c.x, baseline(*y), 7.0, style, c.title);
        }
        *y += ROW_H;
        let _ = writeln!(
            self.out,
            "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"0.5\"/>",
            n(x),
            n(x + width),
            hex(palette::GRID),
            y = n(*y)
        );
        for (i, row) in rows.iter().enumerate() {
            if i % 2 == 1 {
                let _ = writeln!(
                    self.out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#F5F5F5\"/>",
                    n(x),
                    n(*y),
                    n(width),
                    n(ROW_H)
                );
            }
            for (c, cell) in cols.iter().zip(row) {
                let style = if c.right {
                    cell.style.end()
                } else {
                    cell.style
                };
                self.text(x + c.x, baseline(*y), TABLE_PT, style, &cell.text);
            }
            *y += ROW_H;
        }
    }

    /// Nests a chart's `<svg>` at (x, y), scaled by `scale`; returns the height it takes on the page.
    fn embed(&mut self, svg: &str, x: f64, y: f64, scale: f64) -> f64 {
        let Some((open_end, w, h)) = root_size(svg) else {
            return 0.0;
        };
        let (pw, ph) = (w * scale, h * scale);
        let open = &svg[..open_end];
        let mut tag = String::from("<svg");
        tag.push_str(&format!(
            " x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
            n(x),
            n(y),
            n(pw),
            n(ph)
        ));
        // Keep the chart's own attributes except its size, which the slot replaces; the viewBox keeps
        // its drawing coordinates.
        let mut has_viewbox = false;
        for (k, v) in attributes(open) {
            match k {
                "width" | "height" => {}
                _ => {
                    has_viewbox |= k == "viewBox";
                    tag.push_str(&format!(" {k}=\"{v}\""));
                }
            }
        }
        if !has_viewbox {
            tag.push_str(&format!(" viewBox=\"0 0 {} {}\"", n(w), n(h)));
        }
        tag.push('>');
        self.out.push_str(&tag);
        self.out.push_str(svg[open_end + 1..].trim_end());
        self.out.push('\n');
        ph
    }
}

/// End (index of `>`) of the root `<svg …>` tag and its width and height.
fn root_size(svg: &str) -> Option<(usize, f64, f64)> {
    let start = svg.find("<svg")?;
    let end = start + svg[start..].find('>')?;
    let attrs = attributes(&svg[start..end]);
    let get = |name: &str| {
        attrs
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.trim_end_matches("px").parse::<f64>().ok())
    };
    Some((end, get("width")?, get("height")?))
}

/// The `name="value"` pairs of an opening tag (values keep their escaping).
fn attributes(tag: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = tag.trim_start_matches("<svg").trim_end_matches('/');
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].trim();
        let after = &rest[eq + 2..];
        let Some(close) = after.find('"') else { break };
        out.push((key, &after[..close]));
        rest = &after[close + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testxml::{parse, Element};
    use super::*;
    use crate::demo::{demo_patients, generate};
    use crate::report::{build_report, default_window};
    use crate::report_rows::metric_rows;
    use crate::{GlucoseUnit, Trace};
    use chrono::TimeZone;

    fn demo_report(key: &str, days: u32, unit: GlucoseUnit) -> Report {
        let patient = demo_patients()
            .into_iter()
            .find(|p| p.key == key)
            .expect("demo patient");
        let end = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let trace = Trace::new(generate(&patient, end, 30, 7));
        let tz = patient.tz();
        let window = default_window(&trace, days, tz).expect("window");
        build_report(&trace, window, tz, unit)
    }

    fn header(name: &str) -> PageHeader {
        PageHeader {
            patient_name: name.into(),
            birth_date: NaiveDate::from_ymd_opt(1989, 11, 2),
            generated_at: Utc.with_ymd_and_hms(2026, 11, 1, 12, 30, 0).unwrap(),
            source: "Demo data".into(),
        }
    }

    fn page(report: &Report, name: &str) -> (String, Element) {
        let svg = report_page_svg(report, &header(name));
        let doc = parse(&svg).unwrap_or_else(|e| panic!("malformed page: {e}\n{svg}"));
        (svg, doc)
    }

    #[test]
    fn the_page_is_a_well_formed_a4_svg_in_points() {
        let (_, doc) = page(&demo_report("james", 14, GlucoseUnit::MgDl), "James Carter");
        assert_eq!(doc.name, "svg");
        assert_eq!(doc.attr("width"), Some("595"));
        assert_eq!(doc.attr("height"), Some("842"));
        assert_eq!(doc.attr("viewBox"), Some("0 0 595 842"));
        assert_eq!(doc.attr("font-family"), Some("DejaVu Sans"));
        // The three charts are nested inside the page, each inside the page's width.
        let nested: Vec<&Element> = doc.all("svg").into_iter().skip(1).collect();
        assert_eq!(nested.len(), 3, "TIR bar, AGP and daily profiles");
        for s in nested {
            let (x, y, w, h) = (s.num("x"), s.num("y"), s.num("width"), s.num("height"));
            assert!(x >= LEFT - 0.01 && x + w <= RIGHT + 0.01, "{x} + {w}");
            assert!(
                y >= TOP && y + h <= FOOTER_Y - 11.0,
                "{y} + {h} runs into the footer"
            );
            assert!(s.attr("viewBox").is_some());
        }
    }

    #[test]
    fn the_page_shows_the_metric_values_as_the_report_page_does() {
        let report = demo_report("james", 14, GlucoseUnit::MgDl);
        let (_, doc) = page(&report, "James Carter");
        let texts = doc.texts();
        for row in metric_rows(&report.metrics) {
            assert!(texts.contains(&row.label), "label {:?} missing", row.label);
            assert!(texts.contains(&row.value), "value {:?} missing", row.value);
        }
        let gmi = report.metrics.gmi_percent.expect("gmi");
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with(&format!("{gmi:.1} % ("))),
            "GMI {gmi:.1} % not on the page"
        );
        let target = report.metrics.ranges.expect("ranges").target;
        assert!(
            texts.contains(&format!("{:.1} %", (target * 10.0).round() / 10.0)),
            "TIR {target} not on the page"
        );
        assert!(
            texts.contains(&"2026-10-19 – 2026-11-01 (14 days)".to_string()),
            "{texts:?}"
        );
        assert!(texts.contains(&"Generated 2026-11-01 12:30 UTC".to_string()));
        assert!(texts.contains(&"Born 1989-11-02".to_string()));
        assert!(texts.iter().any(|t| t.contains("America/New_York")));
    }

    #[test]
    fn names_with_markup_characters_are_escaped() {
        let report = demo_report("liam", 14, GlucoseUnit::MmolL);
        let name = "Liam <O'Brien> & \"Sons\"";
        let (svg, doc) = page(&report, name);
        assert!(doc.texts().contains(&name.to_string()));
        assert!(!svg.contains("<O'Brien>"));
        assert_eq!(
            doc.all("title")[0].text,
            format!("Ambulatory glucose profile report of {name}")
        );
    }

    #[test]
    fn the_same_input_gives_the_same_page() {
        let report = demo_report("sofia", 14, GlucoseUnit::MgDl);
        let a = report_page_svg(&report, &header("Sofía Ramírez"));
        let b = report_page_svg(&report, &header("Sofía Ramírez"));
        assert_eq!(a, b);
    }

    #[test]
    fn long_windows_show_the_latest_fourteen_days_and_fit_the_page() {
        let report = demo_report("elena", 28, GlucoseUnit::MmolL);
        let (_, doc) = page(&report, &"Very Long Name ".repeat(12));
        let (_, shrunk) = page(&report, "Maximiliane Theodora von Hohenzollern-Sigmaringen");
        let name = shrunk
            .all("text")
            .into_iter()
            .find(|t| t.text.starts_with("Maximiliane"))
            .expect("name");
        assert_eq!(
            name.text, "Maximiliane Theodora von Hohenzollern-Sigmaringen",
            "set smaller, not cut"
        );
        assert!(name.num("font-size") < 13.0);
        let texts = doc.texts();
        assert!(
            texts.iter().any(|t| t.contains("14 of 28 days shown")),
            "{texts:?}"
        );
        let name = texts.iter().find(|t| t.starts_with("Very Long")).unwrap();
        assert!(name.ends_with('…'), "a long name is shortened: {name}");
        for s in doc.all("svg").into_iter().skip(1) {
            assert!(s.num("y") + s.num("height") <= FOOTER_Y - 11.0);
        }
    }

    #[test]
    fn limited_data_is_flagged_and_an_empty_window_still_renders() {
        let report = demo_report("liam", 14, GlucoseUnit::MmolL);
        let mut empty = report.clone();
        empty.metrics = crate::metrics::compute_metrics(
            &[],
            &report.window,
            report.time_zone.parse().unwrap(),
            report.unit,
        );
        empty.events.clear();
        empty.agp.bins.iter_mut().for_each(|b| b.percentiles = None);
        empty.daily.iter_mut().for_each(|d| d.points.clear());
        let (_, doc) = page(&empty, "Nobody");
        let texts = doc.texts();
        assert!(texts.contains(&"Limited data: interpret with care.".to_string()));
        assert!(texts.contains(&"No readings in this window.".to_string()));
    }

    #[test]
    fn text_is_fitted_and_wrapped_by_estimated_width() {
        assert_eq!(fit("Ann", 13.0, true, 200.0), "Ann");
        let long = fit(&"x".repeat(200), 10.0, false, 100.0);
        assert!(long.ends_with('…') && text_width(&long, 10.0, false) <= 100.0);
        let lines = wrap("one two three four five six", 10.0, 60.0);
        assert!(
            lines.len() > 1
                && lines
                    .iter()
                    .all(|l| text_width(l, 10.0, false) <= 60.0 || !l.contains(' '))
        );
        assert_eq!(lines.join(" "), "one two three four five six");
    }
}
