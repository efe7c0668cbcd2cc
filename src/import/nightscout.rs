//! Nightscout entries, the JSON array of `GET /api/v1/entries.json` (`samples/formats/README.md`,
//! "Nightscout entries").
//!
//! * Only `type == "sgv"` entries are readings; `mbg`, `cal` and others are skipped with their type.
//! * `date` is epoch milliseconds, possibly fractional (`1778284500105.5488`): it is the instant, rounded to
//!   the millisecond; `dateString` (which can disagree by about a second) is used only when `date` is
//!   missing, and then only with an offset or `Z`.
//! * `sgv` is mg/dL whatever the site displays, a number or (legacy uploaders) a string. 39 is Dexcom's
//!   LOW and becomes a [`Sentinel::Low`] reading at 39 mg/dL; below 39 are device error codes (`?NC` = 5, …)
//!   and are skipped with the code. Values above 400 are kept as numbers: Libre data reaches 500.
//! * The device is the entry's `device` (the uploader). The same reading uploaded by two apps about a
//!   second apart (`Dexcom G6 SERIAL` and `com.dexcom.G6`) is collapsed: all `sgv` entries of a site are one
//!   CGM stream, so across devices a reading less than (interval − 10 s) after the previous kept one is
//!   skipped as [`SkipReason::Duplicate`] (the rule of [`crate::trace`], applied across uploaders). The
//!   interval is inferred per device from its spacing (5 minutes unless the data says 1 or 15).
//! * Entries come newest first; readings are returned sorted by time.

use super::{
    empty_or_other_format, infer_interval, sort_readings, Format, Import, ImportError,
    ImportErrorKind, ImportedDevice, Location, SkipReason, Skipped,
};
use crate::reading::{DeviceId, Reading, Sentinel};
use crate::units::GlucoseUnit;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The Dexcom LOW value; lower `sgv` values are error codes.
pub const LOW_SGV: f64 = 39.0;
/// Interval of a device whose spacing cannot be inferred: Dexcom's 5 minutes.
pub const DEFAULT_INTERVAL_S: u32 = 300;

fn entry_error(entry: usize, kind: ImportErrorKind) -> ImportError {
    ImportError::new(Some(Location::Entry(entry)), kind)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite())
}

fn instant(entry: &serde_json::Map<String, Value>) -> Option<DateTime<Utc>> {
    if let Some(ms) = entry.get("date").and_then(number) {
        return DateTime::from_timestamp_millis(ms.round() as i64);
    }
    let s = entry.get("dateString")?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses the JSON of `/api/v1/entries`. Values are mg/dL; instants are absolute, so no zone is needed.
pub fn parse(input: &str) -> Result<Import, ImportError> {
    if let Some(e) = empty_or_other_format(input, Format::Nightscout) {
        return Err(e);
    }
    let input = super::strip_bom(input);
    let doc: Value = serde_json::from_str(input).map_err(|e| {
        ImportError::new(
            (e.line() > 0).then_some(Location::Line(e.line())),
            ImportErrorKind::Syntax {
                message: e.to_string(),
            },
        )
    })?;
    let Value::Array(entries) = doc else {
        return Err(ImportError::line(
            1,
            ImportErrorKind::MissingHeader {
                expected: Format::Nightscout,
                hint: "expected a JSON array of entries, as /api/v1/entries.json returns"
                    .to_string(),
            },
        ));
    };

    let mut skipped = Vec::new();
    // (entry number, reading) before de-duplication.
    let mut found: Vec<(usize, Reading)> = Vec::new();
    let mut device_names: Vec<String> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let n = i + 1;
        let Value::Object(e) = e else {
            return Err(entry_error(
                n,
                ImportErrorKind::Syntax {
                    message: "an entry is not a JSON object".to_string(),
                },
            ));
        };
        let entry_type = e.get("type").and_then(Value::as_str).unwrap_or("");
        if entry_type != "sgv" {
            skipped.push(Skipped {
                at: Location::Entry(n),
                reason: SkipReason::NotSgv {
                    entry_type: entry_type.to_string(),
                },
            });
            continue;
        }
        let sgv = match e.get("sgv") {
            None | Some(Value::Null) => {
                skipped.push(Skipped {
                    at: Location::Entry(n),
                    reason: SkipReason::NoValue,
                });
                continue;
            }
            Some(v) => number(v).filter(|x| *x >= 0.0).ok_or_else(|| {
                entry_error(
                    n,
                    ImportErrorKind::BadValue {
                        column: "sgv".to_string(),
                        text: v.to_string(),
                    },
                )
            })?,
        };
        if sgv < LOW_SGV {
            skipped.push(Skipped {
                at: Location::Entry(n),
                reason: SkipReason::ErrorCode(sgv as u32),
            });
            continue;
        }
        let at = instant(e).ok_or_else(|| {
            let text = e
                .get("date")
                .or_else(|| e.get("dateString"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            entry_error(
                n,
                ImportErrorKind::BadTimestamp {
                    text,
                    expected: "date in epoch milliseconds, or dateString with an offset"
                        .to_string(),
                },
            )
        })?;
        let device = e
            .get("device")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown");
        if !device_names.iter().any(|d| d == device) {
            device_names.push(device.to_string());
        }
        found.push((
            n,
            Reading {
                at,
                value: sgv,
                unit: GlucoseUnit::MgDl,
                sentinel: (sgv == LOW_SGV).then_some(Sentinel::Low),
                device: DeviceId::new(format!("nightscout:{device}")),
                interval_s: DEFAULT_INTERVAL_S,
            },
        ));
    }

    let mut devices: Vec<ImportedDevice> = device_names
        .into_iter()
        .map(|name| {
            let id = DeviceId::new(format!("nightscout:{name}"));
            let times: Vec<DateTime<Utc>> = found
                .iter()
                .filter(|(_, r)| r.device == id)
                .map(|(_, r)| r.at)
                .collect();
            ImportedDevice {
                interval_s: infer_interval(&times).unwrap_or(DEFAULT_INTERVAL_S),
                id,
                name,
            }
        })
        .collect();
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    for (_, r) in &mut found {
        if let Some(d) = devices.iter().find(|d| d.id == r.device) {
            r.interval_s = d.interval_s;
        }
    }

    found.sort_by(|(_, a), (_, b)| {
        a.at.cmp(&b.at)
            .then_with(|| a.device.cmp(&b.device))
            .then_with(|| a.value.total_cmp(&b.value))
    });
    let mut readings: Vec<Reading> = Vec::with_capacity(found.len());
    let mut duplicates = Vec::new();
    for (n, r) in found {
        let is_duplicate = readings.last().is_some_and(|prev| {
            let min_gap = i64::from(prev.interval_s.min(r.interval_s).max(11)) - 10;
            (r.at - prev.at).num_milliseconds() < min_gap * 1000
        });
        if is_duplicate {
            duplicates.push(Skipped {
                at: Location::Entry(n),
                reason: SkipReason::Duplicate,
            });
        } else {
            readings.push(r);
        }
    }
    duplicates.sort_by_key(|s| match s.at {
        Location::Entry(n) | Location::Line(n) => n,
    });
    skipped.extend(duplicates);
    // Devices whose every reading was a duplicate of another uploader's stay listed: they were in the file.
    sort_readings(&mut readings);
    Ok(Import {
        format: Format::Nightscout,
        readings,
        scans: Vec::new(),
        devices,
        skipped,
    })
}
