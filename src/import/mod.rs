//! File importers: Dexcom Clarity CSV, LibreView CSV and Nightscout `/api/v1/entries` JSON, each turned
//! into [`Reading`]s plus what was skipped and why (issue 7; the formats and their quirks are described in
//! `samples/formats/README.md`, which the per-format modules cite).
//!
//! Every importer is a pure function of the file text and [`ImportOptions`] (the patient's zone for local
//! timestamps, and the day/month order when a LibreView file cannot tell): identical input gives identical
//! readings, devices and times, so re-importing a file adds nothing to a store keyed by
//! patient/device/time. Readings come back sorted by (time, device).
//!
//! Rows that are fine to drop (metadata and non-glucose events, scans kept apart, Nightscout error codes,
//! duplicate uploads) are listed in [`Import::skipped`] with a [`SkipReason`]; anything that means the file
//! was not understood is an [`ImportError`] with the line (or JSON entry) and a typed [`ImportErrorKind`].
//! A file of one format given to another format's importer says which format it looks like.

pub mod dexcom;
pub mod libreview;
pub mod nightscout;

use crate::reading::{DeviceId, Reading};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt;

/// The file formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    DexcomClarity,
    LibreView,
    Nightscout,
    /// The command-line interface's plain CSV ([`crate::plain_csv`]).
    PlainCsv,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::DexcomClarity => "Dexcom Clarity",
            Format::LibreView => "LibreView",
            Format::Nightscout => "Nightscout",
            Format::PlainCsv => "CloudCGM plain CSV",
        })
    }
}

/// Day/month order of a LibreView timestamp such as `03-04-2021`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateOrder {
    /// `DD-MM-YYYY` (European).
    DayFirst,
    /// `MM-DD-YYYY` (US).
    MonthFirst,
}

/// What the file itself does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// The patient's zone, for timestamps written without an offset (Dexcom Clarity, LibreView).
    pub tz: Tz,
    /// Forces the day/month order of LibreView timestamps; `None` detects it (a field > 12 decides).
    pub date_order: Option<DateOrder>,
}

impl ImportOptions {
    pub fn new(tz: Tz) -> Self {
        ImportOptions {
            tz,
            date_order: None,
        }
    }
}

/// A device the readings of an import came from. `id` is what [`Reading::device`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedDevice {
    pub id: DeviceId,
    /// Human-readable name (e.g. `FreeStyle Libre Pro`, `Dexcom G6 Mobile App`).
    pub name: String,
    /// Nominal sampling interval in seconds (60, 300 or 900).
    pub interval_s: u32,
}

/// Where in the file: a 1-based line (CSV) or a 1-based entry of the JSON array (Nightscout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    Line(usize),
    Entry(usize),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Entry(n) => write!(f, "entry {n}"),
        }
    }
}

/// Why a row was left out of [`Import::readings`] without failing the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A Dexcom row whose `Event Type` is not `EGV` (metadata, alerts, calibrations, insulin, …).
    NotEgv { event_type: String },
    /// A LibreView scan (record type 1): returned in [`Import::scans`], not in the CGM readings.
    Scan,
    /// A LibreView record type other than 0 (historic) and 1 (scan): strips, ketones, insulin, food, notes.
    RecordType(u32),
    /// A Nightscout entry whose `type` is not `sgv` (`mbg`, `cal`, …).
    NotSgv { entry_type: String },
    /// A Nightscout `sgv` below 39: a Dexcom device error code, not a glucose value.
    ErrorCode(u32),
    /// The same reading uploaded twice (Nightscout: two uploaders about a second apart).
    Duplicate,
    /// A glucose row with an empty glucose cell.
    NoValue,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotEgv { event_type } => {
                write!(
                    f,
                    "event type {event_type:?} is not a glucose reading (EGV)"
                )
            }
            SkipReason::Scan => f.write_str("scan reading, kept apart from CGM readings"),
            SkipReason::RecordType(t) => write!(f, "record type {t} is not a glucose reading"),
            SkipReason::NotSgv { entry_type } => {
                write!(f, "entry type {entry_type:?} is not a sensor glucose value")
            }
            SkipReason::ErrorCode(c) => write!(f, "sgv {c} is a device error code"),
            SkipReason::Duplicate => f.write_str("duplicate of a reading already imported"),
            SkipReason::NoValue => f.write_str("no glucose value"),
        }
    }
}

/// One row that was left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub at: Location,
    pub reason: SkipReason,
}

/// The result of importing one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub format: Format,
    /// CGM readings, sorted by (time, device).
    pub readings: Vec<Reading>,
    /// Spot readings kept apart from the CGM readings (LibreView scans), sorted like `readings`;
    /// `interval_s` is 0 because a scan does not stand for a sampling interval.
    pub scans: Vec<Reading>,
    /// The devices of `readings` and `scans`, sorted by id.
    pub devices: Vec<ImportedDevice>,
    /// Rows left out, in file order.
    pub skipped: Vec<Skipped>,
}

impl Import {
    /// How many rows were skipped for reasons matching `pred`.
    pub fn skipped_count(&self, pred: impl Fn(&SkipReason) -> bool) -> usize {
        self.skipped.iter().filter(|s| pred(&s.reason)).count()
    }
}

/// What was wrong with a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportErrorKind {
    /// Nothing but whitespace (or a BOM).
    Empty,
    /// The file is another known format.
    WrongFormat {
        expected: Format,
        looks_like: Format,
    },
    /// The header the format starts with was not found.
    MissingHeader { expected: Format, hint: String },
    /// The header is there but lacks a column the importer needs.
    MissingColumn { column: String },
    /// A header names a glucose column whose unit is neither mg/dL nor mmol/L.
    UnknownUnit { column: String },
    /// A timestamp that does not parse; `expected` names the accepted forms.
    BadTimestamp { text: String, expected: String },
    /// A value (glucose, record type, …) that does not parse.
    BadValue { column: String, text: String },
    /// LibreView timestamps where no field exceeds 12: day/month order needs [`ImportOptions::date_order`].
    AmbiguousDateOrder { example: String },
    /// LibreView timestamps where both the first and the second field exceed 12 somewhere.
    InconsistentDateOrder {
        day_first: String,
        month_first: String,
    },
    /// The file is not valid CSV or JSON at this point.
    Syntax { message: String },
    /// A plain CSV error ([`crate::plain_csv::CsvError`]'s reason).
    Plain { reason: String },
}

/// Why a file was rejected, with where (when it is about one place).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportError {
    pub at: Option<Location>,
    pub kind: ImportErrorKind,
}

impl ImportError {
    pub(crate) fn new(at: Option<Location>, kind: ImportErrorKind) -> Self {
        ImportError { at, kind }
    }

    pub(crate) fn line(line: usize, kind: ImportErrorKind) -> Self {
        ImportError::new(Some(Location::Line(line)), kind)
    }

    /// The 1-based line, for CSV formats.
    pub fn line_number(&self) -> Option<usize> {
        match self.at {
            Some(Location::Line(n)) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for ImportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ImportErrorKind::*;
        match self {
            Empty => f.write_str("the file is empty"),
            WrongFormat {
                expected,
                looks_like,
            } => write!(
                f,
                "this looks like a {looks_like} export, not {expected}: choose {looks_like} as the format"
            ),
            MissingHeader { expected, hint } => {
                write!(f, "no {expected} header found: {hint}")
            }
            MissingColumn { column } => write!(f, "the header has no {column:?} column"),
            UnknownUnit { column } => write!(
                f,
                "the column {column:?} does not say mg/dL or mmol/L"
            ),
            BadTimestamp { text, expected } => {
                if text.is_empty() {
                    write!(f, "the timestamp is empty (expected {expected})")
                } else {
                    write!(f, "timestamp {text:?} is not a date-time (expected {expected})")
                }
            }
            BadValue { column, text } => write!(f, "{column} {text:?} is not a valid value"),
            AmbiguousDateOrder { example } => write!(
                f,
                "the dates (e.g. {example:?}) could be day-month or month-day: choose the date order"
            ),
            InconsistentDateOrder {
                day_first,
                month_first,
            } => write!(
                f,
                "the dates mix day-month ({day_first:?}) and month-day ({month_first:?}) order"
            ),
            Syntax { message } => write!(f, "unreadable file: {message}"),
            Plain { reason } => f.write_str(reason),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some(at) => write!(f, "{at}: {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// Guesses the format of a file from its first lines, for wrong-format hints. `None`: none of ours.
pub fn detect(input: &str) -> Option<Format> {
    let text = strip_bom(input).trim_start();
    if text.starts_with('[') || text.starts_with('{') {
        return Some(Format::Nightscout);
    }
    for line in text.lines().take(10) {
        if is_libreview_header(line) {
            return Some(Format::LibreView);
        }
        if line.contains("Event Type") && line.contains("Glucose Value") {
            return Some(Format::DexcomClarity);
        }
    }
    let first = text.lines().next()?.to_ascii_lowercase();
    let cells: Vec<&str> = first.split(',').map(str::trim).collect();
    if ["time", "glucose", "unit"]
        .iter()
        .all(|c| cells.contains(c))
    {
        return Some(Format::PlainCsv);
    }
    None
}

/// Reads a file of the given format.
pub fn import(input: &str, format: Format, opts: &ImportOptions) -> Result<Import, ImportError> {
    match format {
        Format::DexcomClarity => dexcom::parse(input, opts),
        Format::LibreView => libreview::parse(input, opts),
        Format::Nightscout => nightscout::parse(input),
        Format::PlainCsv => plain(input, opts),
    }
}

/// The command-line interface's plain CSV as an [`Import`] of one patient: 5-minute readings of device
/// `default` unless the file's `device`/`interval_s` columns say otherwise.
fn plain(input: &str, opts: &ImportOptions) -> Result<Import, ImportError> {
    if let Some(e) = empty_or_other_format(input, Format::PlainCsv) {
        return Err(e);
    }
    let subjects = crate::plain_csv::parse(input, &crate::plain_csv::ParseOptions::new(opts.tz))
        .map_err(|e| {
            ImportError::line(e.line as usize, ImportErrorKind::Plain { reason: e.reason })
        })?;
    if subjects.len() > 1 {
        return Err(ImportError::new(
            None,
            ImportErrorKind::Plain {
                reason: format!(
                    "the file holds {} subjects (id column): import one patient at a time",
                    subjects.len()
                ),
            },
        ));
    }
    let mut readings: Vec<Reading> = subjects.into_iter().flat_map(|s| s.readings).collect();
    sort_readings(&mut readings);
    let mut devices: Vec<ImportedDevice> = Vec::new();
    for r in &readings {
        if !devices.iter().any(|d| d.id == r.device) {
            devices.push(ImportedDevice {
                id: r.device.clone(),
                name: r.device.0.clone(),
                interval_s: r.interval_s,
            });
        }
    }
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Import {
        format: Format::PlainCsv,
        readings,
        scans: Vec::new(),
        devices,
        skipped: Vec::new(),
    })
}

pub(crate) fn strip_bom(input: &str) -> &str {
    input.strip_prefix('\u{feff}').unwrap_or(input)
}

pub(crate) fn is_libreview_header(line: &str) -> bool {
    let line = strip_bom(line);
    line.starts_with("Device,Serial Number,") && line.contains("Record Type")
}

/// The error for an empty file or a file of another format; `None` when neither applies.
pub(crate) fn empty_or_other_format(input: &str, expected: Format) -> Option<ImportError> {
    if strip_bom(input).trim().is_empty() {
        return Some(ImportError::new(None, ImportErrorKind::Empty));
    }
    match detect(input) {
        Some(found) if found != expected => Some(ImportError::new(
            None,
            ImportErrorKind::WrongFormat {
                expected,
                looks_like: found,
            },
        )),
        _ => None,
    }
}

/// The unit named in a column header such as `Glucose Value (mmol/L)`, `Historic Glucose mg/dL` or
/// `Historic Glucose(mg/dL)`: the text after `prefix`, without brackets.
pub(crate) fn unit_of_column(header: &str, prefix: &str) -> Option<crate::units::GlucoseUnit> {
    let rest = header.trim().strip_prefix(prefix)?;
    let rest = rest.trim().trim_start_matches('(').trim_end_matches(')');
    rest.parse().ok()
}

/// Sorts readings by (time, device, value) so the result does not depend on row order.
pub(crate) fn sort_readings(readings: &mut [Reading]) {
    readings.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then_with(|| a.device.cmp(&b.device))
            .then_with(|| a.value.total_cmp(&b.value))
    });
}

/// The nominal interval a device's timestamps suggest: the median gap (ignoring gaps under 30 s, which are
/// duplicates, and over an hour, which are sensor gaps), snapped to 1, 5 or 15 minutes. `None` without a
/// usable gap.
pub(crate) fn infer_interval(times: &[DateTime<Utc>]) -> Option<u32> {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut gaps: Vec<i64> = sorted
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds())
        .filter(|g| (30..=3600).contains(g))
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    Some(match median {
        ..=150 => 60,
        151..=600 => 300,
        _ => 900,
    })
}

/// Resolves one device's local wall-clock times, given in file order, to instants in `tz`. A file written
/// newest first is walked from the end, so that in the repeated hour of a DST fall-back a wall-clock time
/// that would step back before the previous reading is read as the second pass of the hour
/// ([`crate::plain_csv`] does the same); skipped spring-forward times move forward
/// ([`crate::localtime::from_local`]).
pub(crate) fn resolve_local_times(naive: &[chrono::NaiveDateTime], tz: Tz) -> Vec<DateTime<Utc>> {
    let descending = naive.len() > 1 && naive[naive.len() - 1] < naive[0];
    let mut out = vec![DateTime::<Utc>::UNIX_EPOCH; naive.len()];
    let mut previous: Option<DateTime<Utc>> = None;
    let order: Box<dyn Iterator<Item = usize>> = if descending {
        Box::new((0..naive.len()).rev())
    } else {
        Box::new(0..naive.len())
    };
    for i in order {
        let at = crate::plain_csv::resolve_local(naive[i], tz, previous);
        out[i] = at;
        previous = Some(at);
    }
    out
}

#[cfg(test)]
mod tests;
