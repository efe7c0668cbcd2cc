//! Dexcom Clarity CSV export (`samples/formats/README.md`, "Dexcom Clarity CSV").
//!
//! * UTF-8 with a BOM; the header names the columns, in a 12-column (older) or 14-column (2023, with
//!   `Transmitter Time (Long Integer)` and `Transmitter ID`) variant. Columns are found by name.
//! * A variable block of metadata rows (`FirstName`, `LastName`, `PatientIdentifier`, `DateOfBirth`,
//!   `Device`, `Alert` …) with an empty timestamp precedes the data: rows are filtered on
//!   `Event Type == EGV`, never by a fixed count. Other rows are skipped with their event type.
//! * The unit is only in the glucose column header: `Glucose Value (mg/dL)` or `Glucose Value (mmol/L)`.
//! * `Low` / `High` in the glucose column are sentinels pinned at the core's bounds
//!   ([`crate::plain_csv::sentinel_value`]: 39 / 401 mg/dL, 2.2 / 22.3 mmol/L) and flagged.
//! * Timestamps are the receiving device's local display time without an offset (`2016-10-24T11:24:17`,
//!   or `2025-05-01 0:01:47` after an Excel re-save): read in the patient's zone
//!   ([`super::resolve_local_times`] for DST gaps and overlaps).
//! * The device is the `Transmitter ID` when the file has one, otherwise the `Source Device ID`; its name
//!   is the `Device Info` of the `Device` metadata row. Dexcom CGMs sample every 5 minutes.

use super::{
    empty_or_other_format, resolve_local_times, sort_readings, unit_of_column, Format, Import,
    ImportError, ImportErrorKind, ImportOptions, ImportedDevice, Location, SkipReason, Skipped,
};
use crate::plain_csv::{is_blank, sentinel_value, Lines};
use crate::reading::{DeviceId, Reading, Sentinel};
use crate::units::GlucoseUnit;
use chrono::NaiveDateTime;
use std::collections::BTreeMap;

/// Dexcom CGMs report every 5 minutes.
pub const INTERVAL_S: u32 = 300;

const TIME_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];
const EXPECTED_TIME: &str = "a local time such as 2016-10-24T11:24:17 or 2016-10-24 11:24:17";
const HEADER_HINT: &str = "the first line of a Clarity export names the columns \
     Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,…,Glucose Value (mg/dL),…";

struct Columns {
    time: usize,
    event: usize,
    glucose: usize,
    glucose_name: String,
    unit: GlucoseUnit,
    device_info: Option<usize>,
    source: Option<usize>,
    transmitter: Option<usize>,
}

fn columns(header: &csv::StringRecord, line: usize) -> Result<Columns, ImportError> {
    let find = |pred: &dyn Fn(&str) -> bool| header.iter().position(|h| pred(h.trim()));
    let event = find(&|h| h == "Event Type");
    let glucose = find(&|h| h.starts_with("Glucose Value"));
    let (Some(event), Some(glucose)) = (event, glucose) else {
        return Err(ImportError::line(
            line,
            ImportErrorKind::MissingHeader {
                expected: Format::DexcomClarity,
                hint: HEADER_HINT.to_string(),
            },
        ));
    };
    let time = find(&|h| h.starts_with("Timestamp")).ok_or_else(|| {
        ImportError::line(
            line,
            ImportErrorKind::MissingColumn {
                column: "Timestamp (YYYY-MM-DDThh:mm:ss)".to_string(),
            },
        )
    })?;
    let glucose_name = header[glucose].trim().to_string();
    let unit = unit_of_column(&glucose_name, "Glucose Value").ok_or_else(|| {
        ImportError::line(
            line,
            ImportErrorKind::UnknownUnit {
                column: glucose_name.clone(),
            },
        )
    })?;
    Ok(Columns {
        time,
        event,
        glucose,
        glucose_name,
        unit,
        device_info: find(&|h| h == "Device Info"),
        source: find(&|h| h == "Source Device ID"),
        transmitter: find(&|h| h == "Transmitter ID"),
    })
}

fn parse_time(s: &str) -> Option<NaiveDateTime> {
    TIME_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

/// One EGV row before its local time is resolved.
struct Row {
    naive: NaiveDateTime,
    value: f64,
    sentinel: Option<Sentinel>,
    device: usize,
}

/// Parses a Dexcom Clarity CSV export; local timestamps are read in `opts.tz`.
pub fn parse(input: &str, opts: &ImportOptions) -> Result<Import, ImportError> {
    if let Some(e) = empty_or_other_format(input, Format::DexcomClarity) {
        return Err(e);
    }
    let input = super::strip_bom(input);
    let lines = Lines::new(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input.as_bytes());
    let syntax = |e: csv::Error, fallback: usize| {
        let line = e
            .position()
            .map(|p| lines.line_at(p.byte()) as usize)
            .unwrap_or(fallback);
        ImportError::line(
            line,
            ImportErrorKind::Syntax {
                message: e.to_string(),
            },
        )
    };
    let mut rec = csv::StringRecord::new();
    let (header_line, cols) = loop {
        match reader.read_record(&mut rec) {
            Ok(false) => return Err(ImportError::new(None, ImportErrorKind::Empty)),
            Err(e) => return Err(syntax(e, 1)),
            Ok(true) if is_blank(&rec) => continue,
            Ok(true) => {
                let line = lines.of_record(&rec, 1) as usize;
                break (line, columns(&rec, line)?);
            }
        }
    };

    let mut skipped = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    // Device keys in order of first appearance, and the Device Info of each Source Device ID.
    let mut device_keys: Vec<String> = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut sources_of_key: Vec<String> = Vec::new();
    let mut last_line = header_line;
    loop {
        match reader.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(syntax(e, last_line + 1)),
        }
        let line = lines.of_record(&rec, last_line as u64 + 1) as usize;
        last_line = line;
        if is_blank(&rec) {
            continue;
        }
        let field = |i: usize| rec.get(i).unwrap_or("").trim();
        let event = field(cols.event);
        let source = cols.source.map(field).unwrap_or("");
        if event == "Device" {
            if let Some(info) = cols.device_info.map(field).filter(|s| !s.is_empty()) {
                names.insert(source.to_string(), info.to_string());
            }
        }
        if event != "EGV" {
            skipped.push(Skipped {
                at: Location::Line(line),
                reason: SkipReason::NotEgv {
                    event_type: event.to_string(),
                },
            });
            continue;
        }
        let time_s = field(cols.time);
        let naive = parse_time(time_s).ok_or_else(|| {
            ImportError::line(
                line,
                ImportErrorKind::BadTimestamp {
                    text: time_s.to_string(),
                    expected: EXPECTED_TIME.to_string(),
                },
            )
        })?;
        let value_s = field(cols.glucose);
        let (value, sentinel) = if value_s.eq_ignore_ascii_case("low") {
            (
                sentinel_value(Sentinel::Low, cols.unit),
                Some(Sentinel::Low),
            )
        } else if value_s.eq_ignore_ascii_case("high") {
            (
                sentinel_value(Sentinel::High, cols.unit),
                Some(Sentinel::High),
            )
        } else if value_s.is_empty() {
            skipped.push(Skipped {
                at: Location::Line(line),
                reason: SkipReason::NoValue,
            });
            continue;
        } else {
            match value_s.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => (v, None),
                _ => {
                    return Err(ImportError::line(
                        line,
                        ImportErrorKind::BadValue {
                            column: cols.glucose_name.clone(),
                            text: value_s.to_string(),
                        },
                    ))
                }
            }
        };
        let key = match cols.transmitter.map(field).filter(|s| !s.is_empty()) {
            Some(t) => t,
            None if !source.is_empty() => source,
            None => "unknown",
        };
        let device = match device_keys.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                device_keys.push(key.to_string());
                sources_of_key.push(source.to_string());
                device_keys.len() - 1
            }
        };
        rows.push(Row {
            naive,
            value,
            sentinel,
            device,
        });
    }

    let ids: Vec<DeviceId> = device_keys
        .iter()
        .map(|k| DeviceId::new(format!("dexcom:{k}")))
        .collect();
    let mut readings = Vec::with_capacity(rows.len());
    for (d, id) in ids.iter().enumerate() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.device == d).collect();
        let naive: Vec<NaiveDateTime> = mine.iter().map(|r| r.naive).collect();
        let times = resolve_local_times(&naive, opts.tz);
        for (r, at) in mine.into_iter().zip(times) {
            readings.push(Reading {
                at,
                value: r.value,
                unit: cols.unit,
                sentinel: r.sentinel,
                device: id.clone(),
                interval_s: INTERVAL_S,
            });
        }
    }
    sort_readings(&mut readings);
    let mut devices: Vec<ImportedDevice> = ids
        .into_iter()
        .enumerate()
        .map(|(d, id)| {
            let source = &sources_of_key[d];
            let name = names
                .get(source)
                .cloned()
                .or_else(|| (!source.is_empty()).then(|| source.clone()))
                .unwrap_or_else(|| "Dexcom".to_string());
            ImportedDevice {
                id,
                name,
                interval_s: INTERVAL_S,
            }
        })
        .collect();
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Import {
        format: Format::DexcomClarity,
        readings,
        scans: Vec::new(),
        devices,
        skipped,
    })
}
