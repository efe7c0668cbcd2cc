//! The submission Bundles as the bytes that are POSTed (issue 5, performance; SUB-1, NOTES A7): the same
//! bundles as [`super::bundle::build_submission`], byte for byte what `serde_json::to_vec` makes of them, but
//! with the sensor readings written straight as JSON instead of first as `serde_json::Value` trees. A 90-day
//! 5-minute submission has ~25,000 readings of ~80 small allocations each; building, serialising and freeing
//! those trees takes several times the 100 ms budget on the project machine, writing the text does not.

use super::bundle::{device_entry, prepare, transaction, BundleInput, DeviceUrns, Prepared};
use super::readings::write_reading_entry;

/// Reading entries are ~960 bytes of compact JSON.
const READING_ENTRY_BYTES: usize = 1_000;

/// The compact JSON of each bundle of [`super::bundle::build_submission`], in sending order.
pub fn build_submission_json(input: &BundleInput) -> serde_json::Result<Vec<Vec<u8>>> {
    let Prepared {
        head,
        readings,
        units,
        plans,
        timestamp,
        ..
    } = prepare(input);
    // The envelope is serialised, not hand-written, so it cannot drift from `transaction`: everything up to the
    // entries' closing `]}`.
    let envelope = serde_json::to_vec(&transaction(&timestamp, Vec::new()))?;
    let open = envelope
        .strip_suffix(b"]}")
        .ok_or_else(|| serde::ser::Error::custom("a Bundle's JSON ends with its entries"))?;
    let mut urns = DeviceUrns::default();
    let mut bundles = Vec::with_capacity(plans.len());
    for plan in &plans {
        let mut out =
            Vec::with_capacity(open.len() + 8_192 + plan.items.len() * READING_ENTRY_BYTES);
        out.extend_from_slice(open);
        let mut first = true;
        let mut separate = |out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
        };
        if plan.with_head {
            for entry in &head {
                separate(&mut out);
                serde_json::to_writer(&mut out, entry)?;
            }
        }
        for device in &plan.devices {
            separate(&mut out);
            serde_json::to_writer(&mut out, &device_entry(input, device))?;
        }
        for k in plan.items.clone() {
            let (reading, unit) = (&readings[k / units.len()], units[k % units.len()]);
            separate(&mut out);
            write_reading_entry(
                &mut out,
                input.subject,
                reading,
                unit,
                urns.get(&reading.device),
            )?;
        }
        out.extend_from_slice(b"]}");
        bundles.push(out);
    }
    Ok(bundles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{demo_patients, generate};
    use crate::fhir::{build_submission, CgmProfile};
    use crate::localtime::local_date;
    use crate::{DeviceId, GlucoseUnit, Reading, Sentinel, Trace, Window};
    use chrono::{Duration, TimeZone, Utc};

    fn as_values(input: &BundleInput) -> Vec<Vec<u8>> {
        build_submission(input)
            .iter()
            .map(|b| serde_json::to_vec(b).unwrap())
            .collect()
    }

    const ALL: [CgmProfile; 5] = [
        CgmProfile::SummaryPanel,
        CgmProfile::SummaryPdf,
        CgmProfile::SensorReadingMass,
        CgmProfile::SensorReadingMolar,
        CgmProfile::Device,
    ];

    #[test]
    fn the_bytes_equal_serde_json_of_the_value_bundles_for_every_demo_patient_and_chunk_size() {
        let end = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        for p in demo_patients() {
            let tz = p.tz();
            let trace = Trace::new(generate(&p, end, 4, 9));
            let window = Window::last_days(local_date(end - Duration::seconds(1), tz), 3, tz);
            for max_entries in [2, 10, 333, 100_000] {
                let input = BundleInput {
                    subject: "Patient/ehr-1",
                    trace: &trace,
                    window,
                    tz,
                    profiles: &ALL,
                    pdf: Some(b"%PDF-1.0 tiny"),
                    timestamp: end,
                    max_entries,
                    device_names: &[],
                };
                let bytes = build_submission_json(&input).unwrap();
                assert_eq!(bytes, as_values(&input), "{} max {max_entries}", p.key);
            }
        }
    }

    #[test]
    fn strings_that_need_json_escaping_are_escaped_exactly_as_serde_json_does() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let readings: Vec<Reading> = (0..12)
            .map(|k| Reading {
                at: start + Duration::minutes(5 * k),
                value: 3.0 + k as f64 * 1.7,
                unit: GlucoseUnit::MmolL,
                sentinel: match k {
                    3 => Some(Sentinel::Low),
                    7 => Some(Sentinel::High),
                    _ => None,
                },
                device: DeviceId::new(if k % 2 == 0 {
                    "sé\"n\\sor\u{1}/ü"
                } else {
                    "b"
                }),
                interval_s: 300,
            })
            .collect();
        let trace = Trace::new(readings);
        let input = BundleInput {
            subject: "Patient/we\"ird\\id",
            trace: &trace,
            window: Window::new(start, start + Duration::days(1)).unwrap(),
            tz: chrono_tz::Tz::UTC,
            profiles: &ALL,
            pdf: Some(b"x"),
            timestamp: start,
            max_entries: 7,
            device_names: &[],
        };
        let bytes = build_submission_json(&input).unwrap();
        assert_eq!(bytes, as_values(&input));
        assert!(bytes.len() > 2);
    }
}
