//! LibreView CSV export (`samples/formats/README.md`, "LibreView CSV").
//!
//! * One or two preamble lines (`Patient report,Generated on,…`, then possibly `xxxx,xxxx`), then the
//!   header, found by its prefix `Device,Serial Number,` and a `Record Type` column.
//! * `Device Timestamp` (older exports: `Meter Timestamp`) is local time with minute resolution and no
//!   zone, in the account's locale: US `MM-DD-YYYY hh:mm AM`, European `DD-MM-YYYY HH:MM`,
//!   `DD/MM/YYYY HH:MM`, or ISO `YYYY-MM-DD HH:MM`. The day/month order is detected over the whole file (a
//!   first field > 12 means day first, a second field > 12 month first); when no field decides, the import
//!   fails with [`ImportErrorKind::AmbiguousDateOrder`] unless [`super::ImportOptions::date_order`] says.
//! * `Record Type` 0 = historic (automatic CGM readings, value in `Historic Glucose …`), 1 = scan (value in
//!   `Scan Glucose …`, returned in [`super::Import::scans`], not in the CGM readings), 2–6 (strip, ketone,
//!   insulin, food, notes) are skipped with their type.
//! * The unit comes from the column names (`Historic Glucose mg/dL`, `… mmol/L`, older `…(mg/dL)`).
//! * Several devices (reader + phone app) can share a file: the device is the `Serial Number`, its name the
//!   `Device` column. The interval is inferred per device from the spacing of its historic readings
//!   (15 minutes for Libre 1/2/Pro, 5 for Libre 3); a device with too few readings gets 5 minutes if its
//!   name says Libre 3, else 15. Row order is not guaranteed: readings are sorted.
//! * LO/HI were not observed in real files; `Low`/`High`/`LO`/`HI` cells are read as sentinels anyway.

use super::{
    empty_or_other_format, infer_interval, is_libreview_header, resolve_local_times, sort_readings,
    unit_of_column, DateOrder, Format, Import, ImportError, ImportErrorKind, ImportOptions,
    ImportedDevice, Location, SkipReason, Skipped,
};
use crate::plain_csv::{is_blank, sentinel_value, Lines};
use crate::reading::{DeviceId, Reading, Sentinel};
use crate::units::GlucoseUnit;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

const EXPECTED_TIME: &str =
    "e.g. 03-20-2021 05:38 PM, 20-03-2021 17:38, 20/03/2021 17:38 or 2021-03-20 17:38";
const HEADER_HINT: &str =
    "expected a line starting Device,Serial Number,Device Timestamp,Record Type \
     within the first lines";
/// How many lines may precede the header.
const MAX_PREAMBLE: usize = 5;

/// A timestamp split into its numbers, before the day/month order is known.
#[derive(Debug, Clone, Copy)]
struct RawTime {
    /// `(first, second, year)` for `a-b-YYYY`; `(month, day, year)` already for ISO.
    a: u32,
    b: u32,
    year: i32,
    iso: bool,
    time: NaiveTime,
}

/// Splits `03-20-2021 05:38 PM`, `20/03/2021 17:38`, `2021-03-20 17:38[:00]` into numbers.
fn split_time(s: &str) -> Option<RawTime> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let clock = parts.next()?;
    let meridiem = parts.next();
    if parts.next().is_some() {
        return None;
    }
    let nums: Vec<&str> = date.split(['-', '/', '.']).collect();
    if nums.len() != 3
        || nums
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let (a, b, year, iso) = if nums[0].len() == 4 {
        (
            nums[1].parse().ok()?,
            nums[2].parse().ok()?,
            nums[0].parse().ok()?,
            true,
        )
    } else if nums[2].len() == 4 {
        (
            nums[0].parse().ok()?,
            nums[1].parse().ok()?,
            nums[2].parse().ok()?,
            false,
        )
    } else {
        return None;
    };
    let hm: Vec<&str> = clock.split(':').collect();
    if !(2..=3).contains(&hm.len()) {
        return None;
    }
    let mut hour: u32 = hm[0].parse().ok()?;
    let minute: u32 = hm[1].parse().ok()?;
    let second: u32 = match hm.get(2) {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    match meridiem.map(str::to_ascii_uppercase).as_deref() {
        None => {}
        Some(m @ ("AM" | "PM")) => {
            if !(1..=12).contains(&hour) {
                return None;
            }
            hour %= 12;
            if m == "PM" {
                hour += 12;
            }
        }
        Some(_) => return None,
    }
    Some(RawTime {
        a,
        b,
        year,
        iso,
        time: NaiveTime::from_hms_opt(hour, minute, second)?,
    })
}

fn to_naive(t: RawTime, order: DateOrder) -> Option<NaiveDateTime> {
    let (month, day) = if t.iso {
        (t.a, t.b)
    } else {
        match order {
            DateOrder::DayFirst => (t.b, t.a),
            DateOrder::MonthFirst => (t.a, t.b),
        }
    };
    Some(NaiveDate::from_ymd_opt(t.year, month, day)?.and_time(t.time))
}

/// One historic or scan row, before the date order and zone are applied.
struct Row {
    line: usize,
    text: String,
    raw: RawTime,
    value: f64,
    sentinel: Option<Sentinel>,
    device: usize,
    scan: bool,
}

fn bad(line: usize, column: &str, text: &str) -> ImportError {
    ImportError::line(
        line,
        ImportErrorKind::BadValue {
            column: column.to_string(),
            text: text.to_string(),
        },
    )
}

fn parse_value(
    s: &str,
    unit: GlucoseUnit,
    line: usize,
    column: &str,
) -> Result<Option<(f64, Option<Sentinel>)>, ImportError> {
    if s.is_empty() {
        return Ok(None);
    }
    if s.eq_ignore_ascii_case("low") || s.eq_ignore_ascii_case("lo") {
        return Ok(Some((
            sentinel_value(Sentinel::Low, unit),
            Some(Sentinel::Low),
        )));
    }
    if s.eq_ignore_ascii_case("high") || s.eq_ignore_ascii_case("hi") {
        return Ok(Some((
            sentinel_value(Sentinel::High, unit),
            Some(Sentinel::High),
        )));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some((v, None))),
        _ => Err(bad(line, column, s)),
    }
}

/// Decides the day/month order from every non-ISO timestamp of the file.
fn date_order(rows: &[Row], forced: Option<DateOrder>) -> Result<DateOrder, ImportError> {
    if let Some(o) = forced {
        return Ok(o);
    }
    let day_first = rows.iter().find(|r| !r.raw.iso && r.raw.a > 12);
    let month_first = rows.iter().find(|r| !r.raw.iso && r.raw.b > 12);
    match (day_first, month_first) {
        (Some(d), Some(m)) => Err(ImportError::line(
            d.line.max(m.line),
            ImportErrorKind::InconsistentDateOrder {
                day_first: d.text.clone(),
                month_first: m.text.clone(),
            },
        )),
        (Some(_), None) => Ok(DateOrder::DayFirst),
        (None, Some(_)) => Ok(DateOrder::MonthFirst),
        (None, None) => match rows.iter().find(|r| !r.raw.iso) {
            // Only ISO dates (or none at all): the order does not matter.
            None => Ok(DateOrder::MonthFirst),
            Some(r) => Err(ImportError::line(
                r.line,
                ImportErrorKind::AmbiguousDateOrder {
                    example: r.text.clone(),
                },
            )),
        },
    }
}

/// Parses a LibreView CSV export; local timestamps are read in `opts.tz`.
pub fn parse(input: &str, opts: &ImportOptions) -> Result<Import, ImportError> {
    if let Some(e) = empty_or_other_format(input, Format::LibreView) {
        return Err(e);
    }
    let input = super::strip_bom(input);
    let lines = Lines::new(input);
    // The header is found by its prefix before the CSV reader sees the file: preamble lines have other
    // field counts.
    let Some((header_index, _)) = input
        .lines()
        .take(MAX_PREAMBLE + 1)
        .enumerate()
        .find(|(_, l)| is_libreview_header(l))
    else {
        return Err(ImportError::new(
            None,
            ImportErrorKind::MissingHeader {
                expected: Format::LibreView,
                hint: HEADER_HINT.to_string(),
            },
        ));
    };
    let header_start: usize = input
        .split_inclusive('\n')
        .take(header_index)
        .map(str::len)
        .sum();
    let body = &input[header_start..];
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body.as_bytes());
    let line_of = |byte: u64| lines.line_at(byte + header_start as u64) as usize;
    let syntax = |e: csv::Error, fallback: usize| {
        let line = e.position().map(|p| line_of(p.byte())).unwrap_or(fallback);
        ImportError::line(
            line,
            ImportErrorKind::Syntax {
                message: e.to_string(),
            },
        )
    };
    let mut rec = csv::StringRecord::new();
    let header_line = header_index + 1;
    match reader.read_record(&mut rec) {
        Ok(true) => {}
        Ok(false) => return Err(ImportError::new(None, ImportErrorKind::Empty)),
        Err(e) => return Err(syntax(e, header_line)),
    }
    let header: Vec<String> = rec.iter().map(|h| h.trim().to_string()).collect();
    let find = |pred: &dyn Fn(&str) -> bool| header.iter().position(|h| pred(h));
    let missing = |column: &str| {
        ImportError::line(
            header_line,
            ImportErrorKind::MissingColumn {
                column: column.to_string(),
            },
        )
    };
    let serial_col = find(&|h| h == "Serial Number").ok_or_else(|| missing("Serial Number"))?;
    let device_col = find(&|h| h == "Device").ok_or_else(|| missing("Device"))?;
    let time_col = find(&|h| h == "Device Timestamp" || h == "Meter Timestamp")
        .ok_or_else(|| missing("Device Timestamp"))?;
    let type_col = find(&|h| h == "Record Type").ok_or_else(|| missing("Record Type"))?;
    let glucose_col = |prefix: &'static str| -> Result<(usize, GlucoseUnit), ImportError> {
        let i = find(&|h| h.starts_with(prefix)).ok_or_else(|| missing(prefix))?;
        let unit = unit_of_column(&header[i], prefix).ok_or_else(|| {
            ImportError::line(
                header_line,
                ImportErrorKind::UnknownUnit {
                    column: header[i].clone(),
                },
            )
        })?;
        Ok((i, unit))
    };
    let (historic_col, historic_unit) = glucose_col("Historic Glucose")?;
    let (scan_col, scan_unit) = glucose_col("Scan Glucose")?;

    let mut skipped = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    // (serial, device name) in order of first appearance.
    let mut device_keys: Vec<(String, String)> = Vec::new();
    let mut last_line = header_line;
    loop {
        match reader.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(syntax(e, last_line + 1)),
        }
        let line = rec
            .position()
            .map(|p| line_of(p.byte()))
            .unwrap_or(last_line + 1);
        last_line = line;
        if is_blank(&rec) {
            continue;
        }
        let field = |i: usize| rec.get(i).unwrap_or("").trim();
        let type_s = field(type_col);
        let record_type: u32 = type_s
            .parse()
            .map_err(|_| bad(line, "Record Type", type_s))?;
        let (col, unit, scan) = match record_type {
            0 => (historic_col, historic_unit, false),
            1 => (scan_col, scan_unit, true),
            other => {
                skipped.push(Skipped {
                    at: Location::Line(line),
                    reason: SkipReason::RecordType(other),
                });
                continue;
            }
        };
        let text = field(time_col);
        let raw = split_time(text).ok_or_else(|| {
            ImportError::line(
                line,
                ImportErrorKind::BadTimestamp {
                    text: text.to_string(),
                    expected: EXPECTED_TIME.to_string(),
                },
            )
        })?;
        let Some((value, sentinel)) = parse_value(field(col), unit, line, &header[col])? else {
            skipped.push(Skipped {
                at: Location::Line(line),
                reason: SkipReason::NoValue,
            });
            continue;
        };
        if scan {
            skipped.push(Skipped {
                at: Location::Line(line),
                reason: SkipReason::Scan,
            });
        }
        // The serial number identifies the device; its name is the first one seen.
        let serial = field(serial_col);
        let device = match device_keys.iter().position(|(s, _)| s == serial) {
            Some(i) => i,
            None => {
                device_keys.push((serial.to_string(), field(device_col).to_string()));
                device_keys.len() - 1
            }
        };
        rows.push(Row {
            line,
            text: text.to_string(),
            raw,
            value,
            sentinel,
            device,
            scan,
        });
    }

    let order = date_order(&rows, opts.date_order)?;
    let mut naive = Vec::with_capacity(rows.len());
    for r in &rows {
        naive.push(to_naive(r.raw, order).ok_or_else(|| {
            ImportError::line(
                r.line,
                ImportErrorKind::BadTimestamp {
                    text: r.text.clone(),
                    expected: EXPECTED_TIME.to_string(),
                },
            )
        })?);
    }

    let mut readings = Vec::new();
    let mut scans = Vec::new();
    let mut devices = Vec::new();
    for (d, (serial, name)) in device_keys.iter().enumerate() {
        let id = DeviceId::new(format!("libre:{serial}"));
        // Historic and scan rows are resolved as one sequence: they share the device's clock.
        let mine: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].device == d).collect();
        let local: Vec<NaiveDateTime> = mine.iter().map(|&i| naive[i]).collect();
        let times = resolve_local_times(&local, opts.tz);
        let historic: Vec<_> = mine
            .iter()
            .zip(&times)
            .filter(|(&i, _)| !rows[i].scan)
            .map(|(_, &t)| t)
            .collect();
        let default = if name.contains("Libre 3") { 300 } else { 900 };
        let interval_s = infer_interval(&historic).unwrap_or(default);
        for (&i, &at) in mine.iter().zip(&times) {
            let r = &rows[i];
            let reading = Reading {
                at,
                value: r.value,
                unit: if r.scan { scan_unit } else { historic_unit },
                sentinel: r.sentinel,
                device: id.clone(),
                interval_s: if r.scan { 0 } else { interval_s },
            };
            if r.scan {
                scans.push(reading);
            } else {
                readings.push(reading);
            }
        }
        devices.push(ImportedDevice {
            id,
            name: name.clone(),
            interval_s,
        });
    }
    sort_readings(&mut readings);
    sort_readings(&mut scans);
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Import {
        format: Format::LibreView,
        readings,
        scans,
        devices,
        skipped,
    })
}
