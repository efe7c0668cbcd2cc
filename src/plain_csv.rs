//! The plain CSV reading format of the command-line interface: parsing it into readings per subject and
//! writing readings back so that `parse(write(r))` gives `r` again.
//!
//! Format: a header naming at least `time`, `glucose` and `unit` (any order, names case-insensitive),
//! optionally `id` (several subjects in one file), `device` and `interval_s` (nominal sampling interval in
//! seconds); other columns are ignored. Times are ISO 8601 with an offset (`2024-03-01T08:00:00+01:00`,
//! `…Z`) or without one (`2024-03-01T08:00:00`, `2024-03-01 08:00:00`, fractional seconds allowed), in which
//! case they are wall-clock times in the patient's zone. Glucose is a number or a `Low`/`High` sentinel.
//!
//! Local times in the repeated hour of a DST fall-back are ambiguous. [`crate::localtime::from_local`]
//! takes the earlier instant; here, because rows come in file order, a repeated wall-clock time that
//! would step back before the previous reading of the same subject and device is taken as the second
//! pass of the hour, so an ascending export written in local time survives the night of the change.

use crate::localtime::from_local;
use crate::reading::{DeviceId, Reading, Sentinel};
use crate::units::GlucoseUnit;
use chrono::{DateTime, LocalResult, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Value recorded for a `Low` sentinel in mg/dL: one below the usual 40 mg/dL sensor floor.
pub const LOW_SENTINEL_MG_DL: f64 = 39.0;
/// Value recorded for a `High` sentinel in mg/dL: one above the usual 400 mg/dL sensor ceiling.
pub const HIGH_SENTINEL_MG_DL: f64 = 401.0;
/// 39 mg/dL at display precision.
pub const LOW_SENTINEL_MMOL_L: f64 = 2.2;
/// 401 mg/dL at display precision.
pub const HIGH_SENTINEL_MMOL_L: f64 = 22.3;

/// The value a `Low`/`High` cell stands for, in the row's unit.
pub fn sentinel_value(sentinel: Sentinel, unit: GlucoseUnit) -> f64 {
    match (sentinel, unit) {
        (Sentinel::Low, GlucoseUnit::MgDl) => LOW_SENTINEL_MG_DL,
        (Sentinel::High, GlucoseUnit::MgDl) => HIGH_SENTINEL_MG_DL,
        (Sentinel::Low, GlucoseUnit::MmolL) => LOW_SENTINEL_MMOL_L,
        (Sentinel::High, GlucoseUnit::MmolL) => HIGH_SENTINEL_MMOL_L,
    }
}

/// What the file itself does not say.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseOptions {
    /// The patient's zone, for times written without an offset.
    pub tz: Tz,
    /// Nominal sampling interval of every reading unless an `interval_s` column says otherwise.
    pub interval_s: u32,
    /// Device id of rows without a `device` column or with an empty one.
    pub default_device: String,
}

impl ParseOptions {
    /// Options for a patient in `tz`: 5-minute readings from device `default`.
    pub fn new(tz: Tz) -> Self {
        ParseOptions {
            tz,
            interval_s: 300,
            default_device: "default".to_string(),
        }
    }
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions::new(Tz::UTC)
    }
}

/// The readings of one subject, in file order. `id` is empty when the file has no `id` column.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub id: String,
    pub readings: Vec<Reading>,
}

/// Why a file was rejected: the 1-based line and a reason naming the column and the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CsvError {
    pub line: u64,
    pub reason: String,
}

impl CsvError {
    fn new(line: u64, reason: impl Into<String>) -> Self {
        CsvError {
            line,
            reason: reason.into(),
        }
    }
}

const REQUIRED: [&str; 3] = ["time", "glucose", "unit"];

/// Positions of the known columns in the header.
struct Columns {
    time: usize,
    glucose: usize,
    unit: usize,
    id: Option<usize>,
    device: Option<usize>,
    interval: Option<usize>,
    width: usize,
}

impl Columns {
    fn from_header(header: &csv::StringRecord, line: u64) -> Result<Self, CsvError> {
        let mut found: HashMap<String, usize> = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            let key = name.trim().to_ascii_lowercase();
            let known = REQUIRED.contains(&key.as_str())
                || matches!(key.as_str(), "id" | "device" | "interval_s");
            // A repeated unknown column is harmless; a repeated known one makes the row ambiguous.
            if known && found.insert(key.clone(), i).is_some() {
                return Err(CsvError::new(
                    line,
                    format!("column {key:?} appears more than once in the header"),
                ));
            }
        }
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|c| !found.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            let present: Vec<String> = header.iter().map(|h| format!("{:?}", h.trim())).collect();
            return Err(CsvError::new(
                line,
                format!(
                    "missing column(s) {} in the header (found {}); the header must name time, glucose and unit",
                    missing.join(", "),
                    if present.is_empty() { "nothing".to_string() } else { present.join(", ") }
                ),
            ));
        }
        // The three required keys are present: checked just above.
        let col = |k: &str| found.get(k).copied().unwrap_or(0);
        Ok(Columns {
            time: col("time"),
            glucose: col("glucose"),
            unit: col("unit"),
            id: found.get("id").copied(),
            device: found.get("device").copied(),
            interval: found.get("interval_s").copied(),
            width: header.len(),
        })
    }
}

/// A parsed `time` cell: an instant when the offset was given, a wall-clock time otherwise.
enum CellTime {
    Instant(DateTime<Utc>),
    Local(NaiveDateTime),
}

const OFFSET_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M%z",
];
const LOCAL_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

fn parse_time(s: &str) -> Option<CellTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(CellTime::Instant(t.with_timezone(&Utc)));
    }
    for f in OFFSET_FORMATS {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(CellTime::Instant(t.with_timezone(&Utc)));
        }
    }
    for f in LOCAL_FORMATS {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(CellTime::Local(t));
        }
    }
    None
}

/// Resolves a wall-clock time; see the module documentation for the repeated hour.
pub(crate) fn resolve_local(
    naive: NaiveDateTime,
    tz: Tz,
    previous: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    if let LocalResult::Ambiguous(first, second) = tz.from_local_datetime(&naive) {
        let (first, second) = (first.with_timezone(&Utc), second.with_timezone(&Utc));
        if let Some(prev) = previous {
            if first < prev && prev < second {
                return second;
            }
        }
        return first;
    }
    from_local(naive, tz)
}

fn parse_glucose(
    s: &str,
    unit: GlucoseUnit,
    line: u64,
) -> Result<(f64, Option<Sentinel>), CsvError> {
    if s.eq_ignore_ascii_case("low") {
        return Ok((sentinel_value(Sentinel::Low, unit), Some(Sentinel::Low)));
    }
    if s.eq_ignore_ascii_case("high") {
        return Ok((sentinel_value(Sentinel::High, unit), Some(Sentinel::High)));
    }
    if s.is_empty() {
        return Err(CsvError::new(
            line,
            "glucose is empty (expected a number, Low or High)",
        ));
    }
    let v: f64 = s.parse().map_err(|_| {
        CsvError::new(
            line,
            format!("glucose {s:?} is not a number (expected a number, Low or High)"),
        )
    })?;
    if !v.is_finite() {
        return Err(CsvError::new(
            line,
            format!("glucose {s:?} is not a finite number"),
        ));
    }
    if v < 0.0 {
        return Err(CsvError::new(line, format!("glucose {s:?} is negative")));
    }
    Ok((v, None))
}

pub(crate) fn is_blank(rec: &csv::StringRecord) -> bool {
    rec.iter().all(|f| f.trim().is_empty())
}

/// Maps byte offsets to 1-based line numbers. The csv crate's own line count is taken before it skips
/// the `\n` of a CRLF and blank lines, so it can be one or more lines short.
pub(crate) struct Lines<'a> {
    bytes: &'a [u8],
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(input: &'a str) -> Self {
        let bytes = input.as_bytes();
        let mut starts = vec![0];
        for (i, &b) in bytes.iter().enumerate() {
            // "\r\n" is one line end; a lone "\r" or "\n" is one too.
            let ends_line = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if ends_line {
                starts.push(i + 1);
            }
        }
        Lines { bytes, starts }
    }

    /// The line of the first character at or after `byte` that is not a line end.
    pub(crate) fn line_at(&self, byte: u64) -> u64 {
        let mut at = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while at < self.bytes.len() && matches!(self.bytes[at], b'\r' | b'\n') {
            at += 1;
        }
        self.starts.partition_point(|&s| s <= at) as u64
    }

    pub(crate) fn of_record(&self, rec: &csv::StringRecord, fallback: u64) -> u64 {
        rec.position()
            .map(|p| self.line_at(p.byte()))
            .unwrap_or(fallback)
    }

    fn of_error(&self, e: &csv::Error, fallback: u64) -> CsvError {
        let line = e
            .position()
            .map(|p| self.line_at(p.byte()))
            .unwrap_or(fallback);
        CsvError::new(line, format!("unreadable CSV: {e}"))
    }
}

/// Parses a plain CSV file into subjects, in order of their first row; readings stay in file order.
/// A file with a header and no rows gives no subjects.
pub fn parse(input: &str, opts: &ParseOptions) -> Result<Vec<Subject>, CsvError> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let lines = Lines::new(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input.as_bytes());
    // One record buffer for the whole file: a 90-day file has 26,000 rows.
    let mut rec = csv::StringRecord::new();
    let (header_line, header) = loop {
        match reader.read_record(&mut rec) {
            Ok(false) => {
                return Err(CsvError::new(
                    1,
                    "the file is empty: expected a header line such as time,glucose,unit",
                ))
            }
            Err(e) => return Err(lines.of_error(&e, 1)),
            Ok(true) if is_blank(&rec) => continue,
            Ok(true) => break (lines.of_record(&rec, 1), rec.clone()),
        }
    };
    let cols = Columns::from_header(&header, header_line)?;

    let mut subjects: Vec<Subject> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    // Devices are interned so the per-row key is two integers, not a cloned String.
    let mut devices: Vec<DeviceId> = Vec::new();
    let mut previous: HashMap<(usize, usize), DateTime<Utc>> = HashMap::new();
    let mut last_line = header_line;

    loop {
        match reader.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(lines.of_error(&e, last_line + 1)),
        }
        let line = lines.of_record(&rec, last_line + 1);
        last_line = line;
        if is_blank(&rec) {
            continue;
        }
        if rec.len() != cols.width {
            return Err(CsvError::new(
                line,
                format!(
                    "the row has {} field(s) but the header has {}",
                    rec.len(),
                    cols.width
                ),
            ));
        }
        let field = |i: usize| rec.get(i).unwrap_or("").trim();

        let id = match cols.id {
            Some(i) if field(i).is_empty() => {
                return Err(CsvError::new(
                    line,
                    "id is empty (the file has an id column, so every row needs one)",
                ))
            }
            Some(i) => field(i),
            None => "",
        };
        let device = match cols.device.map(field) {
            Some(d) if !d.is_empty() => d,
            _ => opts.default_device.as_str(),
        };
        let interval_s = match cols.interval.map(field) {
            Some(s) if !s.is_empty() => match s.parse::<u32>() {
                Ok(v) if v > 0 => v,
                _ => {
                    return Err(CsvError::new(
                        line,
                        format!("interval_s {s:?} is not a positive whole number of seconds"),
                    ))
                }
            },
            _ => opts.interval_s,
        };
        let unit_s = field(cols.unit);
        let unit: GlucoseUnit = unit_s
            .parse()
            .map_err(|_| CsvError::new(line, format!("unit {unit_s:?} is not mg/dL or mmol/L")))?;
        let (value, sentinel) = parse_glucose(field(cols.glucose), unit, line)?;

        let time_s = field(cols.time);
        let cell = parse_time(time_s).ok_or_else(|| {
            let reason = if time_s.is_empty() {
                "time is empty".to_string()
            } else {
                format!(
                    "time {time_s:?} is not an ISO 8601 date-time (expected e.g. 2024-03-01T08:00:00+01:00, \
                     2024-03-01T07:00:00Z or local 2024-03-01 08:00:00)"
                )
            };
            CsvError::new(line, reason)
        })?;

        let subject = match index.get(id) {
            Some(&s) => s,
            None => {
                index.insert(id.to_string(), subjects.len());
                subjects.push(Subject {
                    id: id.to_string(),
                    readings: Vec::new(),
                });
                subjects.len() - 1
            }
        };
        let device = match devices.iter().position(|d| d.0 == device) {
            Some(i) => i,
            None => {
                devices.push(DeviceId::new(device));
                devices.len() - 1
            }
        };
        let key = (subject, device);
        let at = match cell {
            CellTime::Instant(t) => t,
            CellTime::Local(naive) => resolve_local(naive, opts.tz, previous.get(&key).copied()),
        };
        subjects[subject].readings.push(Reading {
            at,
            value,
            unit,
            sentinel,
            device: devices[device].clone(),
            interval_s,
        });
        previous.insert(key, at);
    }
    Ok(subjects)
}

/// Quotes a field when a reader would otherwise split or trim it.
fn push_field(out: &mut String, field: &str) {
    let needs_quotes = field.contains([',', '"', '\n', '\r']) || field.trim() != field;
    if needs_quotes {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// Writes readings as plain CSV: header `[id,]time,glucose,unit,device,interval_s`, UTC times in RFC 3339
/// with `Z`, values in their shortest exact form, `Low`/`High` for sentinels (which read back at the
/// sentinel bound, so a sentinel's own value is not kept). Device ids with surrounding whitespace do not
/// survive a round trip, because the reader trims fields.
pub fn write(readings: &[Reading], id: Option<&str>) -> String {
    let mut out = String::with_capacity(64 * (readings.len() + 1));
    if id.is_some() {
        out.push_str("id,");
    }
    out.push_str("time,glucose,unit,device,interval_s\n");
    for r in readings {
        if let Some(id) = id {
            push_field(&mut out, id);
            out.push(',');
        }
        out.push_str(&r.at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        out.push(',');
        match r.sentinel {
            Some(Sentinel::Low) => out.push_str("Low"),
            Some(Sentinel::High) => out.push_str("High"),
            // Display for f64 is the shortest string that parses back to the same number.
            None => {
                let _ = write!(out, "{}", r.value);
            }
        }
        out.push(',');
        out.push_str(r.unit.ucum());
        out.push(',');
        push_field(&mut out, &r.device.0);
        let _ = writeln!(out, ",{}", r.interval_s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn berlin() -> ParseOptions {
        ParseOptions::new(chrono_tz::Europe::Berlin)
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn only(input: &str, opts: &ParseOptions) -> Vec<Reading> {
        let mut subjects = parse(input, opts).unwrap();
        assert_eq!(subjects.len(), 1);
        subjects.remove(0).readings
    }

    fn err(input: &str) -> CsvError {
        parse(input, &berlin()).unwrap_err()
    }

    #[test]
    fn times_with_an_offset_or_z_are_exact_instants() {
        let rs = only(
            "time,glucose,unit\n2024-03-01T08:00:00+01:00,100,mg/dL\n2024-03-01T07:05:00Z,5.5,mmol/L\n",
            &berlin(),
        );
        assert_eq!(rs[0].at, utc(2024, 3, 1, 7, 0, 0));
        assert_eq!(rs[0].value, 100.0);
        assert_eq!(rs[0].unit, GlucoseUnit::MgDl);
        assert_eq!(rs[1].at, utc(2024, 3, 1, 7, 5, 0));
        assert_eq!(rs[1].unit, GlucoseUnit::MmolL);
        assert_eq!(rs[1].device, DeviceId::new("default"));
        assert_eq!(rs[1].interval_s, 300);
        assert_eq!(rs[1].sentinel, None);
    }

    #[test]
    fn times_without_an_offset_are_wall_clock_times_in_the_patients_zone() {
        let rs = only(
            "time,glucose,unit\n2024-03-01T08:00:00,100,mg/dL\n2024-07-01 08:00:00.250,101,mg/dL\n2024-07-01 08:05,102,mg/dL\n",
            &berlin(),
        );
        assert_eq!(rs[0].at, utc(2024, 3, 1, 7, 0, 0), "CET is UTC+1");
        assert_eq!(
            rs[1].at,
            utc(2024, 7, 1, 6, 0, 0) + chrono::Duration::milliseconds(250),
            "CEST is UTC+2"
        );
        assert_eq!(rs[2].at, utc(2024, 7, 1, 6, 5, 0));
    }

    #[test]
    fn the_repeated_hour_of_a_dst_fall_back_is_read_as_two_passes_in_file_order() {
        let mut input = String::from("time,glucose,unit\n");
        for hm in ["01:30", "02:00", "02:30", "02:00", "02:30", "03:00"] {
            input.push_str(&format!("2024-10-27 {hm}:00,100,mg/dL\n"));
        }
        let times: Vec<DateTime<Utc>> = only(&input, &berlin()).iter().map(|r| r.at).collect();
        assert_eq!(
            times,
            vec![
                utc(2024, 10, 26, 23, 30, 0),
                utc(2024, 10, 27, 0, 0, 0),
                utc(2024, 10, 27, 0, 30, 0),
                utc(2024, 10, 27, 1, 0, 0),
                utc(2024, 10, 27, 1, 30, 0),
                utc(2024, 10, 27, 2, 0, 0),
            ]
        );
    }

    #[test]
    fn a_repeated_hour_time_with_an_offset_is_taken_as_written() {
        let rs = only(
            "time,glucose,unit\n2024-10-27T02:30:00+01:00,100,mg/dL\n2024-10-27T02:30:00+02:00,100,mg/dL\n",
            &berlin(),
        );
        assert_eq!(rs[0].at, utc(2024, 10, 27, 1, 30, 0));
        assert_eq!(rs[1].at, utc(2024, 10, 27, 0, 30, 0));
    }

    #[test]
    fn a_local_time_in_the_skipped_spring_hour_moves_forward() {
        let rs = only(
            "time,glucose,unit\n2024-03-31 02:30:00,100,mg/dL\n",
            &berlin(),
        );
        assert_eq!(rs[0].at, utc(2024, 3, 31, 1, 30, 0), "03:30 CEST");
    }

    #[test]
    fn a_bom_crlf_line_ends_quoted_fields_and_blank_trailing_lines_are_accepted() {
        let input = "\u{feff}time,glucose,unit,device\r\n\"2024-03-01T07:00:00Z\",\"120\",mg/dL,\"pump, left arm\"\r\n\r\n\r\n";
        let rs = only(input, &berlin());
        assert_eq!(rs.len(), 1);
        assert_eq!(rs[0].value, 120.0);
        assert_eq!(rs[0].device, DeviceId::new("pump, left arm"));
    }

    #[test]
    fn columns_may_come_in_any_order_with_any_case_and_unknown_columns_are_ignored() {
        let rs = only(
            "Unit, Comment ,GLUCOSE,Time\nmmol/L,after lunch,7.2,2024-03-01T12:00:00Z\n",
            &berlin(),
        );
        assert_eq!(rs[0].value, 7.2);
        assert_eq!(rs[0].unit, GlucoseUnit::MmolL);
        assert_eq!(rs[0].at, utc(2024, 3, 1, 12, 0, 0));
    }

    #[test]
    fn low_and_high_sentinels_read_at_the_sentinel_bound_of_the_rows_unit() {
        let rs = only(
            "time,glucose,unit\n\
             2024-03-01T00:00:00Z,Low,mg/dL\n\
             2024-03-01T00:05:00Z,HIGH,mg/dL\n\
             2024-03-01T00:10:00Z,low,mmol/L\n\
             2024-03-01T00:15:00Z,High,mmol/L\n",
            &berlin(),
        );
        let got: Vec<(f64, Option<Sentinel>)> = rs.iter().map(|r| (r.value, r.sentinel)).collect();
        assert_eq!(
            got,
            vec![
                (39.0, Some(Sentinel::Low)),
                (401.0, Some(Sentinel::High)),
                (2.2, Some(Sentinel::Low)),
                (22.3, Some(Sentinel::High)),
            ]
        );
    }

    #[test]
    fn device_and_interval_columns_override_the_options() {
        let opts = ParseOptions {
            interval_s: 900,
            default_device: "libre".to_string(),
            ..berlin()
        };
        let rs = only(
            "time,glucose,unit,device,interval_s\n\
             2024-03-01T00:00:00Z,100,mg/dL,g7,300\n\
             2024-03-01T00:05:00Z,100,mg/dL,,\n",
            &opts,
        );
        assert_eq!((rs[0].device.0.as_str(), rs[0].interval_s), ("g7", 300));
        assert_eq!((rs[1].device.0.as_str(), rs[1].interval_s), ("libre", 900));
    }

    #[test]
    fn several_subjects_come_back_in_order_of_first_appearance() {
        let subjects = parse(
            "id,time,glucose,unit\n\
             b,2024-03-01T00:00:00Z,100,mg/dL\n\
             a,2024-03-01T00:00:00Z,5.0,mmol/L\n\
             b,2024-03-01T00:05:00Z,101,mg/dL\n",
            &berlin(),
        )
        .unwrap();
        let ids: Vec<&str> = subjects.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["b", "a"]);
        assert_eq!(subjects[0].readings.len(), 2);
        assert_eq!(subjects[0].readings[1].value, 101.0);
        assert_eq!(subjects[1].readings.len(), 1);
    }

    #[test]
    fn a_header_without_rows_gives_no_subjects() {
        assert_eq!(parse("time,glucose,unit\n\n", &berlin()).unwrap(), vec![]);
    }

    #[test]
    fn an_empty_file_is_a_clear_error() {
        for input in ["", "\u{feff}", "\n\r\n  \n"] {
            let e = err(input);
            assert_eq!(e.line, 1);
            assert!(e.to_string().contains("the file is empty"), "{e}");
        }
    }

    #[test]
    fn missing_header_columns_are_listed_with_what_was_found() {
        let e = err("time,value,units\n2024-03-01T00:00:00Z,100,mg/dL\n");
        assert_eq!(e.line, 1);
        let msg = e.to_string();
        assert!(
            msg.starts_with("line 1: missing column(s) glucose, unit"),
            "{msg}"
        );
        assert!(msg.contains("\"time\", \"value\", \"units\""), "{msg}");
    }

    #[test]
    fn a_known_column_named_twice_is_rejected() {
        let e = err("time,glucose,unit,Glucose\n");
        assert_eq!(e.line, 1);
        assert!(
            e.reason.contains("\"glucose\" appears more than once"),
            "{e}"
        );
    }

    #[test]
    fn a_glucose_that_is_not_a_number_names_the_line_and_value() {
        let e = err(
            "time,glucose,unit\n2024-03-01T00:00:00Z,100,mg/dL\n2024-03-01T00:05:00Z,abc,mg/dL\n",
        );
        assert_eq!(
            e.to_string(),
            "line 3: glucose \"abc\" is not a number (expected a number, Low or High)"
        );
    }

    #[test]
    fn negative_and_non_finite_glucose_are_rejected() {
        let e = err("time,glucose,unit\n2024-03-01T00:00:00Z,-5,mg/dL\n");
        assert_eq!(e.to_string(), "line 2: glucose \"-5\" is negative");
        for bad in ["NaN", "inf", "-infinity"] {
            let e = err(&format!(
                "time,glucose,unit\n2024-03-01T00:00:00Z,{bad},mg/dL\n"
            ));
            assert_eq!(e.line, 2);
            assert!(e.reason.contains("not a finite number"), "{e}");
        }
        let e = err("time,glucose,unit\n2024-03-01T00:00:00Z,,mg/dL\n");
        assert_eq!(
            e.to_string(),
            "line 2: glucose is empty (expected a number, Low or High)"
        );
    }

    #[test]
    fn a_bad_time_names_the_line_and_value() {
        let e = err("time,glucose,unit\n\n2024-13-01T00:00:00Z,100,mg/dL\n");
        assert_eq!(e.line, 3);
        assert!(
            e.reason
                .starts_with("time \"2024-13-01T00:00:00Z\" is not an ISO 8601 date-time"),
            "{e}"
        );
        let e = err("time,glucose,unit\n,100,mg/dL\n");
        assert_eq!(e.to_string(), "line 2: time is empty");
    }

    #[test]
    fn a_bad_unit_names_the_line_and_value() {
        let e = err("time,glucose,unit\r\n2024-03-01T00:00:00Z,100,mg\r\n");
        assert_eq!(e.to_string(), "line 2: unit \"mg\" is not mg/dL or mmol/L");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_rejected() {
        let e = err("time,glucose,unit\n2024-03-01T00:00:00Z,100\n");
        assert_eq!(
            e.to_string(),
            "line 2: the row has 2 field(s) but the header has 3"
        );
    }

    #[test]
    fn an_empty_id_or_a_bad_interval_is_rejected() {
        let e = err("id,time,glucose,unit\n,2024-03-01T00:00:00Z,100,mg/dL\n");
        assert_eq!(e.line, 2);
        assert!(e.reason.starts_with("id is empty"), "{e}");
        let e = err("time,glucose,unit,interval_s\n2024-03-01T00:00:00Z,100,mg/dL,0\n");
        assert_eq!(
            e.to_string(),
            "line 2: interval_s \"0\" is not a positive whole number of seconds"
        );
    }

    #[test]
    fn line_numbers_count_the_lines_of_multi_line_quoted_fields() {
        let e = err("time,glucose,unit,note\n2024-03-01T00:00:00Z,100,mg/dL,\"two\nlines\"\n2024-03-01T00:05:00Z,x,mg/dL,\n");
        assert_eq!(e.line, 4);
    }

    #[test]
    fn write_uses_utc_z_times_shortest_values_and_sentinel_words() {
        let r = |at, value, unit, sentinel, device: &str| Reading {
            at,
            value,
            unit,
            sentinel,
            device: DeviceId::new(device),
            interval_s: 300,
        };
        let out = write(
            &[
                r(utc(2024, 3, 1, 7, 0, 0), 5.6, GlucoseUnit::MmolL, None, "a"),
                r(
                    utc(2024, 3, 1, 7, 5, 0),
                    39.0,
                    GlucoseUnit::MgDl,
                    Some(Sentinel::Low),
                    "b, \"c\"",
                ),
            ],
            Some("p1"),
        );
        assert_eq!(
            out,
            "id,time,glucose,unit,device,interval_s\n\
             p1,2024-03-01T07:00:00Z,5.6,mmol/L,a,300\n\
             p1,2024-03-01T07:05:00Z,Low,mg/dL,\"b, \"\"c\"\"\",300\n"
        );
    }
}
