//! The one-page AGP report as PDF: [`cloudcgm::chart::report_page_svg`] converted to vector PDF with
//! `svg2pdf` (which parses with `usvg`). The PDF is attached to FHIR submissions as the `cgm-summary-pdf`
//! DiagnosticReport and downloaded from the report page.
//!
//! Fonts: the DejaVu Sans regular and bold faces ship inside the binary (`server/assets/fonts`, Bitstream
//! Vera licence beside them) and are the ONLY fonts the converter sees: no system font lookup, so the
//! output is the same on every machine, and the PDF embeds the (subsetted) faces, so it reads the same in
//! every viewer. The charts' "Helvetica, Arial, sans-serif" stack resolves to DejaVu Sans through the
//! generic `sans-serif` family.
//!
//! Deterministic: same report and header, same bytes. svg2pdf writes no creation date and no document id,
//! subset tags are hashes of the glyph sets, and the page SVG never reads the clock.
//!
//! Conversion is CPU-bound (tens of milliseconds for a 14-day report, see `benches/render.rs`): async
//! callers run it on the blocking pool, `tokio::task::spawn_blocking(move || report_pdf(&report, &header))`.

use cloudcgm::chart::{report_page_svg, PageHeader, FONT_FAMILY};
use cloudcgm::report::Report;
use std::sync::{Arc, OnceLock};
use svg2pdf::usvg::{self, fontdb};

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
static DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../assets/fonts/DejaVuSans-Bold.ttf");

/// The MIME type of what [`report_pdf`] returns.
pub const PDF_CONTENT_TYPE: &str = "application/pdf";

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The SVG could not be parsed (a bug in the page if it came from [`report_page_svg`]).
    #[error("the report page is not valid SVG: {0}")]
    Svg(String),
    /// svg2pdf could not convert the parsed page.
    #[error("the report page could not be converted to PDF: {0}")]
    Convert(String),
}

/// The font database with only the embedded faces, built once per process.
fn fonts() -> Arc<fontdb::Database> {
    static DB: OnceLock<Arc<fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = fontdb::Database::new();
        db.load_font_data(DEJAVU_SANS.to_vec());
        db.load_font_data(DEJAVU_SANS_BOLD.to_vec());
        // Every generic family ends at DejaVu Sans; nothing else is there to find.
        db.set_sans_serif_family(FONT_FAMILY);
        db.set_serif_family(FONT_FAMILY);
        db.set_monospace_family(FONT_FAMILY);
        db.set_cursive_family(FONT_FAMILY);
        db.set_fantasy_family(FONT_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Converts a standalone SVG document (user units taken as points: 72 dpi) to a one-page PDF, with text
/// set in the embedded DejaVu Sans faces and embedded as subsets. `<image>` references are not resolved
/// (no file or data access), so only vector content converts.
pub fn svg_to_pdf(svg: &str) -> Result<Vec<u8>, PdfError> {
    let options = usvg::Options {
        font_family: FONT_FAMILY.to_string(),
        fontdb: fonts(),
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: Box::new(|_, _, _| None),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| PdfError::Svg(e.to_string()))?;
    svg2pdf::to_pdf(
        &tree,
        svg2pdf::ConversionOptions::default(),
        svg2pdf::PageOptions { dpi: 72.0 },
    )
    .map_err(|e| PdfError::Convert(e.to_string()))
}

/// The one-page A4 AGP report of `report` as PDF bytes. CPU-bound: call it from `spawn_blocking`.
pub fn report_pdf(report: &Report, header: &PageHeader) -> Result<Vec<u8>, PdfError> {
    svg_to_pdf(&report_page_svg(report, header))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use cloudcgm::demo::{demo_patients, generate};
    use cloudcgm::report::{build_report, default_window};
    use cloudcgm::{GlucoseUnit, Trace};
    use std::process::Command;

    fn demo_report(key: &str, unit: GlucoseUnit) -> Report {
        let patient = demo_patients()
            .into_iter()
            .find(|p| p.key == key)
            .expect("demo patient");
        let end = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
        let trace = Trace::new(generate(&patient, end, 30, 7));
        let tz = patient.tz();
        let window = default_window(&trace, 14, tz).expect("window");
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

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    /// The text poppler's pdftotext extracts, with runs of whitespace collapsed to one space.
    fn pdf_text(pdf: &[u8]) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("report.pdf");
        std::fs::write(&path, pdf).expect("write pdf");
        let out = Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .expect("pdftotext (poppler-utils, installed by .ci/setup) runs");
        assert!(out.status.success(), "pdftotext failed: {out:?}");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_report_is_a_one_page_pdf_with_embedded_fonts() {
        let pdf = report_pdf(
            &demo_report("james", GlucoseUnit::MgDl),
            &header("James Carter"),
        )
        .expect("pdf");
        // For looking at it: CLOUDCGM_PDF_OUT=/tmp/report.pdf cargo test -p cloudcgm-server --lib report_pdf
        if let Ok(path) = std::env::var("CLOUDCGM_PDF_OUT") {
            std::fs::write(path, &pdf).expect("write the sample");
        }
        assert!(pdf.starts_with(b"%PDF-"), "{:?}", &pdf[..16]);
        assert_eq!(count(&pdf, b"/Type /Page\n"), 1, "exactly one page object");
        assert!(contains(&pdf, b"/Count 1"), "page tree of one page");
        assert!(contains(&pdf, b"/MediaBox [0 0 595 842]"), "A4 in points");
        assert!(
            contains(&pdf, b"/FontFile2"),
            "TrueType font program embedded"
        );
        assert!(contains(&pdf, b"DejaVuSans-Bold"), "bold face used");
        assert!(contains(&pdf, b"+DejaVuSans"), "subsetted regular face");
        assert!(!contains(&pdf, b"/CreationDate"));
    }

    #[test]
    fn pdftotext_reads_the_patient_window_and_numbers() {
        let report = demo_report("james", GlucoseUnit::MgDl);
        let text = pdf_text(&report_pdf(&report, &header("James Carter")).expect("pdf"));
        let m = &report.metrics;
        let gmi = format!("{:.1} %", m.gmi_percent.expect("gmi"));
        let tir = format!(
            "{:.1} %",
            (m.ranges.expect("ranges").target * 10.0).round() / 10.0
        );
        for needle in [
            "James Carter",
            "Born 1989-11-02",
            "2026-10-19 – 2026-11-01 (14 days)",
            "America/New_York",
            "Generated 2026-11-01 12:30 UTC",
            "Glucose management indicator (GMI)",
            gmi.as_str(),
            tir.as_str(),
            "Page 1 of 1",
        ] {
            assert!(
                text.contains(needle),
                "{needle:?} not in the PDF text:\n{text}"
            );
        }
    }

    #[test]
    fn names_with_markup_characters_survive() {
        let name = "Liam <O'Brien> & \"Sons\"";
        let text = pdf_text(
            &report_pdf(&demo_report("liam", GlucoseUnit::MmolL), &header(name)).expect("pdf"),
        );
        assert!(text.contains(name), "{name:?} not in:\n{text}");
        assert!(text.contains("mmol/L"));
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let report = demo_report("sofia", GlucoseUnit::MgDl);
        let a = report_pdf(&report, &header("Sofía Ramírez")).expect("pdf");
        // Several runs: the release svg2pdf wrote fonts in hash-map order, which two runs can share by chance.
        for _ in 0..4 {
            let b = report_pdf(&report, &header("Sofía Ramírez")).expect("pdf");
            assert!(a == b, "two conversions of one report differ");
        }
        let other = report_pdf(&report, &header("Sofia Ramirez")).expect("pdf");
        assert!(a != other, "the name is in the bytes");
    }

    #[test]
    fn broken_svg_is_an_error_not_a_panic() {
        assert!(matches!(svg_to_pdf("<svg"), Err(PdfError::Svg(_))));
        assert!(matches!(svg_to_pdf("not svg"), Err(PdfError::Svg(_))));
    }
}
