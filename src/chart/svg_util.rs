//! Shared SVG plumbing for the charts of METRICS.md "AGP": running a plotters drawing into a string, the
//! accessibility wrapper (role, accessible name, description), XML escaping, pixel mapping, the glucose axis
//! of each unit and the clock labels.
//!
//! plotters' SVG backend writes `<text>` elements itself (the font features are off, so it only uses a
//! crude width estimate we never rely on), which is what we want: the browser lays out the text.

use super::palette;
use super::ChartOptions;
use crate::units::GlucoseUnit;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontFamily, FontStyle, FontTransform};

/// The drawing surface every chart draws on.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// Drawing errors cannot really happen with a string target, but are passed up rather than unwrapped.
pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A font stack that exists on every platform the report is viewed or printed on.
const FONT_STACK: &str = "Helvetica, Arial, sans-serif";

/// Smallest canvas we lay out; below this the margins would swallow the plot.
const MIN_SIZE: (u32, u32) = (120, 60);

/// Runs `draw` on a fresh canvas of the requested size and returns the finished, accessible SVG. A drawing
/// error yields a blank chart that still carries the title and description, never a panic.
pub(crate) fn render(
    opts: &ChartOptions,
    size: (u32, u32),
    desc: &str,
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> String {
    let size = (size.0.max(MIN_SIZE.0), size.1.max(MIN_SIZE.1));
    let mut buf = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw(&root).and_then(|()| root.present().map_err(Into::into))
    };
    match result {
        Ok(()) => finish(&buf, opts, desc),
        Err(_) => finish(&blank_svg(size), opts, desc),
    }
}

fn blank_svg(size: (u32, u32)) -> String {
    format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\">\n</svg>\n",
        w = size.0,
        h = size.1
    )
}

/// Adds what plotters cannot express: `role="img"`, the accessible name (aria-label and `<title>`), the
/// `<desc>` long description, and round joins on polylines (mitred joins spike on a 3 px median).
fn finish(svg: &str, opts: &ChartOptions, desc: &str) -> String {
    let title = xml_escape(&opts.title);
    let desc = xml_escape(desc);
    let mut out = String::with_capacity(svg.len() + title.len() * 2 + desc.len() + 200);
    // plotters always opens with one `<svg …>` tag; if that ever changes we fall back to wrapping.
    match (svg.find("<svg"), svg.find('>')) {
        (Some(start), Some(end)) if start < end => {
            out.push_str(&svg[..end]);
            out.push_str(&format!(
                " role=\"img\" aria-label=\"{title}\" class=\"cgm-chart\">\n<title>{title}</title>\n<desc>{desc}</desc>"
            ));
            out.push_str(&svg[end + 1..]);
        }
        _ => {
            out.push_str(&format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{title}\">\n<title>{title}</title>\n<desc>{desc}</desc>\n</svg>\n"
            ));
        }
    }
    out.replace(
        "<polyline fill=\"none\"",
        "<polyline fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\"",
    )
}

/// Escapes text for XML content and attribute values.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab/newline are not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Text style at `px` CSS pixels. plotters divides the size by 1.24 when it writes `font-size`, so we
/// multiply here to get the pixel size we mean.
pub(crate) fn text_style(
    px: f64,
    color: &'static RGBColor,
    bold: bool,
    h: HPos,
    v: VPos,
) -> TextStyle<'static> {
    let style = if bold {
        FontStyle::Bold
    } else {
        FontStyle::Normal
    };
    TextStyle::from((FontFamily::Name(FONT_STACK), px * 1.24, style).into_font())
        .color(color)
        .pos(Pos::new(h, v))
}

/// Text rotated to read bottom-to-top, for the y-axis unit label.
pub(crate) fn vertical_text_style(px: f64, color: &'static RGBColor) -> TextStyle<'static> {
    text_style(px, color, true, HPos::Center, VPos::Center).transform(FontTransform::Rotate270)
}

/// Filled shape style.
pub(crate) fn fill(color: RGBColor) -> ShapeStyle {
    ShapeStyle {
        color: color.to_rgba(),
        filled: true,
        stroke_width: 0,
    }
}

/// Filled shape style with opacity, for layers the target band should show through.
pub(crate) fn translucent(color: RGBColor, alpha: f64) -> ShapeStyle {
    ShapeStyle {
        color: color.mix(alpha),
        filled: true,
        stroke_width: 0,
    }
}

/// Stroked line style.
pub(crate) fn stroke(color: RGBColor, width: u32) -> ShapeStyle {
    ShapeStyle {
        color: color.to_rgba(),
        filled: false,
        stroke_width: width,
    }
}

/// Maps data coordinates (x in hours, y in glucose) to pixels in a rectangle of the canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Frame {
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    pub x_max: f64,
    pub y_max: f64,
}

/// Margins around a plot area, in pixels: (left, right, top, bottom).
pub(crate) type Margins = (f64, f64, f64, f64);

impl Frame {
    /// The plot area of a canvas of `opts`' size (at least 120 × 60) inside `margins`, with the glucose
    /// axis of `unit` and an x axis of `x_max` hours.
    pub fn inside(opts: &ChartOptions, margins: Margins, unit: GlucoseUnit, x_max: f64) -> Frame {
        let (w, h) = (
            f64::from(opts.width.max(120)),
            f64::from(opts.height.max(60)),
        );
        let (left, right, top, bottom) = margins;
        Frame {
            left,
            top,
            width: (w - left - right).max(10.0),
            height: (h - top - bottom).max(10.0),
            x_max,
            y_max: axis_max(unit),
        }
    }

    pub fn x(&self, hours: f64) -> i32 {
        let x_max = if self.x_max > 0.0 { self.x_max } else { 24.0 };
        (self.left + hours / x_max * self.width).round() as i32
    }
    pub fn y(&self, glucose: f64) -> i32 {
        self.y_exact(glucose).round() as i32
    }
    /// Unrounded pixel y, for averaging before rounding.
    pub fn y_exact(&self, glucose: f64) -> f64 {
        let g = glucose.clamp(0.0, self.y_max);
        self.top + self.height - g / self.y_max * self.height
    }
    pub fn pt(&self, hours: f64, glucose: f64) -> (i32, i32) {
        (self.x(hours), self.y(glucose))
    }
    pub fn left_px(&self) -> i32 {
        self.left.round() as i32
    }
    pub fn right_px(&self) -> i32 {
        (self.left + self.width).round() as i32
    }
    pub fn top_px(&self) -> i32 {
        self.top.round() as i32
    }
    pub fn bottom_px(&self) -> i32 {
        (self.top + self.height).round() as i32
    }
}

/// Top of the glucose axis: 350 mg/dL or 19.4 mmol/L (METRICS.md "AGP"); values above are drawn there.
pub(crate) fn axis_max(unit: GlucoseUnit) -> f64 {
    match unit {
        GlucoseUnit::MgDl => 350.0,
        GlucoseUnit::MmolL => 19.4,
    }
}

/// Clamps a glucose value into the axis; `None` for NaN/infinite values, which are never drawn.
pub(crate) fn clamp_glucose(v: f64, unit: GlucoseUnit) -> Option<f64> {
    v.is_finite().then(|| v.clamp(0.0, axis_max(unit)))
}

/// Labelled glucose ticks: the consensus thresholds and the axis top, as on the IDC AGP report.
pub(crate) fn glucose_ticks(unit: GlucoseUnit) -> [f64; 5] {
    let t = unit.thresholds();
    [
        t.very_low_below,
        t.low_below,
        t.target_max,
        t.high_max,
        axis_max(unit),
    ]
}

/// 12-hour clock label for a whole hour of the local day: 0 → "12 AM", 12 → "12 PM", 24 → "12 AM".
pub(crate) fn clock_label(hour: u32) -> String {
    let h = hour % 24;
    let (n, suffix) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    format!("{n} {suffix}")
}

/// Clock time of a fractional hour, for descriptions: 7.5 → "7:30 AM".
pub(crate) fn clock_time(hours: f64) -> String {
    let total_min = (hours * 60.0).round().rem_euclid(24.0 * 60.0) as u32;
    let (h, m) = (total_min / 60, total_min % 60);
    let label = clock_label(h);
    match label.split_once(' ') {
        Some((n, suffix)) => format!("{n}:{m:02} {suffix}"),
        None => label,
    }
}

/// A glucose value with its unit at display precision, e.g. "182 mg/dL".
pub(crate) fn glucose_text(v: f64, unit: GlucoseUnit) -> String {
    format!("{} {}", unit.format(v), unit.ucum())
}

/// Percentages as the AGP report prints them: whole numbers, one decimal below 1 % so a small but real
/// time below range does not read as zero.
pub(crate) fn percent_text(p: f64) -> String {
    if !p.is_finite() {
        "n/a".to_string()
    } else if p == 0.0 {
        "0%".to_string()
    } else if p.abs() < 1.0 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Moves label positions (pixel y, in top-to-bottom order) apart so neighbours are at least `gap` pixels
/// apart, keeping them inside `[min, max]` when they fit; labels stay as close to where they point as that
/// allows.
pub(crate) fn spread(ys: &mut [f64], gap: f64, min: f64, max: f64) {
    let n = ys.len();
    if n == 0 {
        return;
    }
    ys[0] = ys[0].max(min);
    for i in 1..n {
        ys[i] = ys[i].max(ys[i - 1] + gap);
    }
    if ys[n - 1] > max {
        ys[n - 1] = max;
        for i in (0..n - 1).rev() {
            ys[i] = ys[i].min(ys[i + 1] - gap);
        }
    }
}

/// Fills the whole canvas with the chart background.
pub(crate) fn background(root: &Area<'_>) -> DrawResult {
    root.fill(&palette::BACKGROUND)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_labels_run_from_midnight_to_midnight() {
        let labels: Vec<String> = (0..=24).step_by(3).map(clock_label).collect();
        assert_eq!(
            labels,
            ["12 AM", "3 AM", "6 AM", "9 AM", "12 PM", "3 PM", "6 PM", "9 PM", "12 AM"]
        );
        assert_eq!(clock_time(7.5), "7:30 AM");
        assert_eq!(clock_time(23.999), "12:00 AM");
    }

    #[test]
    fn xml_escape_handles_markup_quotes_and_control_characters() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
    }

    #[test]
    fn crowded_labels_are_spread_apart_inside_the_frame() {
        let mut ys = [20.0, 98.0, 99.0, 100.0, 100.0];
        spread(&mut ys, 10.0, 0.0, 100.0);
        assert!(ys.windows(2).all(|w| w[1] - w[0] >= 10.0 - 1e-9), "{ys:?}");
        assert!(ys.iter().all(|y| (0.0..=100.0).contains(y)), "{ys:?}");
        assert_eq!(ys[0], 20.0, "a label with room stays where it points");
    }

    #[test]
    fn percentages_below_one_keep_a_decimal() {
        assert_eq!(percent_text(0.0), "0%");
        assert_eq!(percent_text(0.4), "0.4%");
        assert_eq!(percent_text(71.6), "72%");
        assert_eq!(percent_text(f64::NAN), "n/a");
    }
}
