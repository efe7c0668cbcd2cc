//! SVG charts of the AGP report (METRICS.md "AGP"): the ambulatory glucose profile, the stacked
//! time-in-ranges bar and the daily glucose profiles, rendered server-side to self-contained SVG strings
//! that the report page embeds inline.
//!
//! Every chart is an `<svg role="img">` whose accessible name is [`ChartOptions::title`] (`aria-label` and
//! `<title>`) and whose `<desc>` states the chart's content in words, so a screen reader gets the data and
//! not a picture. Charts carry no visible heading: the page's headings name them. Output is deterministic
//! (same input, same bytes) so snapshot tests are stable, and every string is XML-escaped.
//!
//! [`report_page_svg`] composes them with the metric tables into the one-page A4 report that the server
//! turns into the PDF.
//!
//! Drawing goes through plotters' SVG backend (no font features: text stays SVG `<text>`, laid out by the
//! browser); [`svg_util`] adds the accessibility wrapper plotters has no API for.

mod agp_chart;
mod daily;
mod page;
pub mod palette;
mod svg_util;
mod tir_bar;

#[cfg(test)]
mod testxml;

pub use agp_chart::agp_chart;
pub use daily::{daily_panel, daily_profiles};
pub use page::{report_page_svg, PageHeader, DAILY_DAYS, FONT_FAMILY, PAGE_HEIGHT, PAGE_WIDTH};
pub use tir_bar::tir_bar;

/// Size and accessible name of one chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartOptions {
    /// Width of the SVG in CSS pixels (also its `viewBox`, so it scales with CSS).
    pub width: u32,
    /// Height in CSS pixels. For [`daily_profiles`] this is the height of one row of seven panels; the SVG
    /// is as tall as the window has calendar weeks.
    pub height: u32,
    /// Accessible name: written to `aria-label` and `<title>` (escaped).
    pub title: String,
}

impl ChartOptions {
    pub fn new(width: u32, height: u32, title: impl Into<String>) -> Self {
        ChartOptions {
            width,
            height,
            title: title.into(),
        }
    }

    /// The size the AGP is designed at (about the IDC report's proportions).
    pub fn agp(title: impl Into<String>) -> Self {
        Self::new(900, 380, title)
    }

    /// The size the time-in-ranges bar is designed at.
    pub fn tir_bar(title: impl Into<String>) -> Self {
        Self::new(460, 300, title)
    }

    /// The size the daily-profile grid is designed at (height is per row of seven days).
    pub fn daily_profiles(title: impl Into<String>) -> Self {
        Self::new(900, 96, title)
    }
}
