//! The chart palette (METRICS.md "AGP": "Colour-blind-safe palette"): the five consensus range colours and
//! the AGP percentile colours, as named constants so every chart and the page legend agree.
//!
//! The range colours are an Okabe–Ito / ColorBrewer-PuOr derived set. Hypoglycaemia sits in the magenta
//! family and hyperglycaemia in the orange family, rather than the usual red vs orange, because red and
//! orange collapse into the same brown under deuteranopia and protanopia. Each colour also has its own
//! lightness step (CIELAB L*: very low 30, low 63, target 58, high 80, very high 54), so the bar still reads
//! in greyscale. Checked with the Machado 2009 simulation matrices: the smallest CIELAB ΔE between any two
//! of the five is 34 with normal vision, 19 under deuteranopia, 29 under protanopia and 21 under
//! tritanopia (ΔE above about 10 is comfortably distinguishable for filled areas).
//!
//! The AGP itself uses one hue (Okabe–Ito blue) at three strengths, because it is read as one distribution,
//! and the target band uses the target colour at low strength so the picture and the bar speak the same
//! language.

use plotters::style::RGBColor;

/// Very low (< 54 mg/dL, < 3.0 mmol/L): dark magenta, the darkest of the five.
pub const VERY_LOW: RGBColor = RGBColor(0x8E, 0x01, 0x52);
/// Low (54–69 mg/dL, 3.0–3.8 mmol/L): light magenta-pink.
pub const LOW: RGBColor = RGBColor(0xDE, 0x77, 0xAE);
/// Target (70–180 mg/dL, 3.9–10.0 mmol/L): Okabe–Ito bluish green.
pub const TARGET: RGBColor = RGBColor(0x00, 0x9E, 0x73);
/// High (181–250 mg/dL, 10.1–13.9 mmol/L): light amber, the lightest of the five.
pub const HIGH: RGBColor = RGBColor(0xFD, 0xB8, 0x63);
/// Very high (> 250 mg/dL, > 13.9 mmol/L): Okabe–Ito vermillion.
pub const VERY_HIGH: RGBColor = RGBColor(0xD5, 0x5E, 0x00);

/// Fill of the target band behind the AGP and the daily panels: the target colour at about 12 % on white,
/// precomputed so the SVG needs no transparency and prints the same everywhere.
pub const TARGET_BAND: RGBColor = RGBColor(0xE0, 0xF3, 0xEE);

/// AGP percentile bands: Okabe–Ito blue, drawn translucent so the target band stays visible through them.
pub const AGP_BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
/// Opacity of the 5–95 % band (light).
pub const AGP_OUTER_ALPHA: f64 = 0.22;
/// Opacity of the 25–75 % band, stacked on the outer band (together about 55 %: darker).
pub const AGP_INNER_ALPHA: f64 = 0.42;
/// AGP median and the daily traces: a dark blue that keeps contrast over both bands and the target fill.
pub const MEDIAN: RGBColor = RGBColor(0x0B, 0x3C, 0x6E);

/// Axis labels and most text: near-black, 13:1 contrast on white.
pub const TEXT: RGBColor = RGBColor(0x26, 0x26, 0x26);
/// Secondary text (thresholds, goals): still 5.7:1 on white, above WCAG AA for small text.
pub const TEXT_MUTED: RGBColor = RGBColor(0x5F, 0x5F, 0x5F);
/// Grid lines and frames.
pub const GRID: RGBColor = RGBColor(0xD9, 0xD9, 0xD9);
/// Chart background.
pub const BACKGROUND: RGBColor = RGBColor(0xFF, 0xFF, 0xFF);
/// Background of a daily panel for a day of the window without readings.
pub const NO_DATA: RGBColor = RGBColor(0xF2, 0xF2, 0xF2);
