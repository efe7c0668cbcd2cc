//! Sensor reading Observations of a CGM Data Submission Bundle (issue 5, bundle builder, first part):
//! one `cgm-sensor-reading-mass-per-volume` or `-moles-per-volume` Observation per reading, with a value in
//! the requested unit or, for a device's Low/High sentinel, a `dataAbsentReason` instead (SUB-10, NOTES C5),
//! a deterministic identifier from device, LOINC code and time (NOTES C9) and `ifNoneExist` on it (SUB-7),
//! so overlapping windows never create duplicates at the receiver.

use super::codes::{
    DATA_ABSENT_REASON, LOINC, LOINC_SENSOR_READING_MASS, LOINC_SENSOR_READING_MOLAR,
    OBSERVATION_CATEGORY, UCUM, UNIT_MG_DL, UNIT_MMOL_L,
};
use super::ids::entry_urn;
use super::profile::CgmProfile;
use crate::{GlucoseUnit, Reading, Sentinel};
use chrono::SecondsFormat;
use serde_json::{Map, Number, Value};

/// The identifier system of CloudCGM's sensor readings (NOTES C9).
pub const READING_IDENTIFIER_SYSTEM: &str = "https://cloudcgm.org/fhir/cgm/sensor-reading";

/// The LOINC code of a sensor reading in `unit`.
pub fn reading_code(unit: GlucoseUnit) -> &'static str {
    match unit {
        GlucoseUnit::MgDl => LOINC_SENSOR_READING_MASS,
        GlucoseUnit::MmolL => LOINC_SENSOR_READING_MOLAR,
    }
}

/// `{device}.{loinc}.{unix ms}`: readable, stable for the same reading however often it is sent, and
/// different for every reading of a device.
pub fn reading_identifier(reading: &Reading, unit: GlucoseUnit) -> String {
    format!(
        "{}.{}.{}",
        reading.device.0,
        reading_code(unit),
        reading.at.timestamp_millis()
    )
}

/// The value as a FHIR decimal with the unit's usual precision (mg/dL whole, mmol/L one decimal), written
/// as text so the precision survives serialisation (NOTES C3). Built from the number directly (one allocation
/// for the text): a rounded tenth's shortest representation is exactly its one-decimal text ("7.0", "6.7").
fn decimal(value: f64, unit: GlucoseUnit) -> Value {
    let rounded = unit.round_display(value);
    match unit {
        GlucoseUnit::MgDl if rounded.abs() < 1e15 => Value::Number(Number::from(rounded as i64)),
        _ => Number::from_f64(rounded).map_or(Value::Null, Value::Number),
    }
}

/// The profile of a sensor reading in `unit`.
pub fn reading_profile(unit: GlucoseUnit) -> CgmProfile {
    match unit {
        GlucoseUnit::MgDl => CgmProfile::SensorReadingMass,
        GlucoseUnit::MmolL => CgmProfile::SensorReadingMolar,
    }
}

/// One sensor reading Observation for `subject` (`Patient/{id}`).
pub fn sensor_reading(subject: &str, reading: &Reading, unit: GlucoseUnit) -> Value {
    sensor_reading_of_device(subject, reading, unit, None)
}

/// One sensor reading Observation for `subject`, with `meta.profile` (NOTES B2) and, when given, `device`
/// referencing the Device entry's fullUrl (NOTES B5).
pub fn sensor_reading_of_device(
    subject: &str,
    reading: &Reading,
    unit: GlucoseUnit,
    device_urn: Option<&str>,
) -> Value {
    observation(
        subject,
        reading,
        unit,
        reading_identifier(reading, unit),
        device_urn,
    )
}

/// The transaction entry of one sensor reading of the Device at `device_urn`: what [`post_entry`] makes of
/// [`sensor_reading_of_device`], with the fullUrl derived from the identifier (NOTES B1), computing the
/// identifier once. A 90-day bundle has ~26,000 of these.
pub fn reading_entry(
    subject: &str,
    reading: &Reading,
    unit: GlucoseUnit,
    device_urn: &str,
) -> Value {
    let identifier = reading_identifier(reading, unit);
    let full_url = entry_urn("Observation", READING_IDENTIFIER_SYSTEM, &identifier);
    let if_none = if_none_exist(READING_IDENTIFIER_SYSTEM, &identifier);
    let resource = observation(subject, reading, unit, identifier, Some(device_urn));
    object([
        ("fullUrl", full_url.into()),
        ("resource", resource),
        (
            "request",
            object([
                ("method", "POST".into()),
                ("url", "Observation".into()),
                ("ifNoneExist", if_none.into()),
            ]),
        ),
    ])
}

/// Built as maps directly: the `json!` macro goes through the serializer for every interpolated value.
fn observation(
    subject: &str,
    reading: &Reading,
    unit: GlucoseUnit,
    identifier: String,
    device_urn: Option<&str>,
) -> Value {
    let code = reading_code(unit);
    let mut o = Map::with_capacity(11);
    o.insert("resourceType".into(), Value::from("Observation"));
    o.insert(
        "meta".into(),
        object([(
            "profile",
            Value::Array(vec![reading_profile(unit).canonical().into()]),
        )]),
    );
    o.insert(
        "identifier".into(),
        Value::Array(vec![object([
            ("system", READING_IDENTIFIER_SYSTEM.into()),
            ("value", identifier.into()),
        ])]),
    );
    o.insert("status".into(), "final".into());
    o.insert(
        "category".into(),
        Value::Array(vec![codeable(OBSERVATION_CATEGORY, "laboratory")]),
    );
    o.insert("code".into(), codeable(LOINC, code));
    o.insert("subject".into(), object([("reference", subject.into())]));
    o.insert(
        "effectiveDateTime".into(),
        reading.at.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
    );
    match reading.sentinel {
        // A sentinel is the device saying "beyond my range", not a measurement (NOTES C5).
        Some(sentinel) => {
            o.insert(
                "dataAbsentReason".into(),
                codeable(DATA_ABSENT_REASON, absent_reason(sentinel)),
            );
        }
        None => {
            let (ucum_code, unit_string) = unit_pattern(unit);
            o.insert(
                "valueQuantity".into(),
                object([
                    ("value", decimal(reading.in_unit(unit), unit)),
                    ("unit", unit_string.into()),
                    ("system", UCUM.into()),
                    ("code", ucum_code.into()),
                ]),
            );
        }
    }
    if let Some(urn) = device_urn {
        o.insert("device".into(), object([("reference", urn.into())]));
    }
    Value::Object(o)
}

/// The data-absent-reason code of a sentinel reading (NOTES C5).
fn absent_reason(sentinel: Sentinel) -> &'static str {
    match sentinel {
        Sentinel::High => "positive-infinity",
        Sentinel::Low => "negative-infinity",
    }
}

/// (UCUM code, `unit` string): the IG's pattern fixes the display string too, in lower case (NOTES C1).
fn unit_pattern(unit: GlucoseUnit) -> (&'static str, &'static str) {
    match unit {
        GlucoseUnit::MgDl => UNIT_MG_DL,
        GlucoseUnit::MmolL => UNIT_MMOL_L,
    }
}

/// Appends the compact JSON of [`reading_entry`] to `out`, byte for byte what `serde_json::to_writer` makes of
/// it (tested), without building the tree: a 90-day bundle's ~2 million small allocations (and freeing them)
/// cost more than the rest of a submission. Keep the two in step; the equality test catches any drift.
pub fn write_reading_entry(
    out: &mut Vec<u8>,
    subject: &str,
    reading: &Reading,
    unit: GlucoseUnit,
    device_urn: &str,
) -> serde_json::Result<()> {
    let identifier = reading_identifier(reading, unit);
    let put = |out: &mut Vec<u8>, raw: &str, text: &str| -> serde_json::Result<()> {
        out.extend_from_slice(raw.as_bytes());
        serde_json::to_writer(&mut *out, text)
    };
    put(
        out,
        "{\"fullUrl\":",
        &entry_urn("Observation", READING_IDENTIFIER_SYSTEM, &identifier),
    )?;
    put(
        out,
        ",\"resource\":{\"resourceType\":\"Observation\",\"meta\":{\"profile\":[",
        reading_profile(unit).canonical(),
    )?;
    put(
        out,
        "]},\"identifier\":[{\"system\":",
        READING_IDENTIFIER_SYSTEM,
    )?;
    put(out, ",\"value\":", &identifier)?;
    put(
        out,
        "}],\"status\":\"final\",\"category\":[{\"coding\":[{\"system\":",
        OBSERVATION_CATEGORY,
    )?;
    put(
        out,
        ",\"code\":\"laboratory\"}]}],\"code\":{\"coding\":[{\"system\":",
        LOINC,
    )?;
    put(out, ",\"code\":", reading_code(unit))?;
    put(out, "}]},\"subject\":{\"reference\":", subject)?;
    put(
        out,
        "},\"effectiveDateTime\":",
        &reading.at.to_rfc3339_opts(SecondsFormat::Secs, true),
    )?;
    match reading.sentinel {
        Some(sentinel) => {
            put(
                out,
                ",\"dataAbsentReason\":{\"coding\":[{\"system\":",
                DATA_ABSENT_REASON,
            )?;
            put(out, ",\"code\":", absent_reason(sentinel))?;
            out.extend_from_slice(b"}]}");
        }
        None => {
            let (ucum_code, unit_string) = unit_pattern(unit);
            out.extend_from_slice(b",\"valueQuantity\":{\"value\":");
            serde_json::to_writer(&mut *out, &decimal(reading.in_unit(unit), unit))?;
            put(out, ",\"unit\":", unit_string)?;
            put(out, ",\"system\":", UCUM)?;
            put(out, ",\"code\":", ucum_code)?;
            out.push(b'}');
        }
    }
    put(out, ",\"device\":{\"reference\":", device_urn)?;
    put(
        out,
        "}},\"request\":{\"method\":\"POST\",\"url\":\"Observation\",\"ifNoneExist\":",
        &if_none_exist(READING_IDENTIFIER_SYSTEM, &identifier),
    )?;
    out.extend_from_slice(b"}}");
    Ok(())
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N);
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// `{"coding": [{"system": …, "code": …}]}`.
fn codeable(system: &str, code: &str) -> Value {
    object([(
        "coding",
        Value::Array(vec![object([
            ("system", system.into()),
            ("code", code.into()),
        ])]),
    )])
}

/// `ifNoneExist` for a resource with one identifier: `identifier=system|value`, percent-encoded.
pub fn if_none_exist(system: &str, value: &str) -> String {
    let mut out = String::with_capacity(16 + 3 * (system.len() + value.len()));
    out.push_str("identifier=");
    percent_encode(&mut out, system);
    out.push_str("%7C");
    percent_encode(&mut out, value);
    out
}

/// Appends `s` with every byte outside RFC 3986's unreserved set percent-encoded.
fn percent_encode(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
}

/// A transaction entry POSTing `resource` with its first identifier as `ifNoneExist`; `full_url` is the
/// entry's `urn:uuid:…`. The resource is moved in, not copied (`json!` would serialise it again).
pub fn post_entry(full_url: String, resource: Value) -> Value {
    let resource_type = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let identifier = &resource["identifier"][0];
    let mut request = Map::with_capacity(3);
    request.insert("method".into(), "POST".into());
    request.insert("url".into(), resource_type.into());
    if let (Some(system), Some(value)) =
        (identifier["system"].as_str(), identifier["value"].as_str())
    {
        request.insert(
            "ifNoneExist".into(),
            Value::String(if_none_exist(system, value)),
        );
    }
    let mut entry = Map::with_capacity(3);
    entry.insert("fullUrl".into(), full_url.into());
    entry.insert("resource".into(), resource);
    entry.insert("request".into(), Value::Object(request));
    Value::Object(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::{validate, CgmProfile, Severity};
    use crate::DeviceId;
    use chrono::{TimeZone, Utc};

    fn reading(value: f64, unit: GlucoseUnit, sentinel: Option<Sentinel>) -> Reading {
        Reading {
            at: Utc.with_ymd_and_hms(2024, 5, 2, 10, 15, 0).unwrap(),
            value,
            unit,
            sentinel,
            device: DeviceId::new("SN-123"),
            interval_s: 300,
        }
    }

    fn errors(profile: CgmProfile, resource: &Value) -> Vec<String> {
        validate(profile, resource, "Observation")
            .into_iter()
            .filter(|i| i.severity == Severity::Error)
            .map(|i| i.diagnostics)
            .collect()
    }

    #[test]
    fn a_reading_reproduces_the_ig_example_and_passes_the_profile_sub_10() {
        let example: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/ig/Observation-cgmSensorReadingMassPerVolumeExample.json"
        ))
        .unwrap();
        let built = sensor_reading(
            "Patient/patientExample",
            &reading(120.0, GlucoseUnit::MgDl, None),
            GlucoseUnit::MgDl,
        );
        for key in ["status", "category", "code", "subject", "effectiveDateTime"] {
            assert_eq!(built[key], example[key], "{key}");
        }
        assert_eq!(
            built["valueQuantity"]["value"],
            example["valueQuantity"]["value"]
        );
        assert_eq!(
            built["valueQuantity"], example["valueQuantity"],
            "C1: unit 'mg/dl'"
        );
        assert!(errors(CgmProfile::SensorReadingMass, &built).is_empty());
    }

    #[test]
    fn a_molar_reading_is_converted_with_one_decimal_and_passes_its_profile() {
        let built = sensor_reading(
            "Patient/p",
            &reading(120.0, GlucoseUnit::MgDl, None),
            GlucoseUnit::MmolL,
        );
        assert_eq!(
            built["code"]["coding"][0]["code"],
            LOINC_SENSOR_READING_MOLAR
        );
        assert_eq!(built["valueQuantity"]["value"].to_string(), "6.7");
        assert_eq!(built["valueQuantity"]["unit"], "mmol/l");
        assert_eq!(built["valueQuantity"]["code"], "mmol/L");
        assert!(errors(CgmProfile::SensorReadingMolar, &built).is_empty());
    }

    #[test]
    fn sentinels_carry_a_data_absent_reason_and_no_value_nor_both() {
        for (sentinel, code) in [
            (Sentinel::High, "positive-infinity"),
            (Sentinel::Low, "negative-infinity"),
        ] {
            let built = sensor_reading(
                "Patient/p",
                &reading(400.0, GlucoseUnit::MgDl, Some(sentinel)),
                GlucoseUnit::MgDl,
            );
            assert!(built.get("valueQuantity").is_none());
            assert_eq!(built["dataAbsentReason"]["coding"][0]["code"], code);
            assert!(
                errors(CgmProfile::SensorReadingMass, &built).is_empty(),
                "{code}"
            );
        }
    }

    #[test]
    fn identifiers_are_stable_per_reading_and_differ_between_readings_c9() {
        let a = reading(120.0, GlucoseUnit::MgDl, None);
        let mut b = a.clone();
        b.at += chrono::Duration::minutes(5);
        assert_eq!(
            reading_identifier(&a, GlucoseUnit::MgDl),
            reading_identifier(&a.clone(), GlucoseUnit::MgDl)
        );
        assert_ne!(
            reading_identifier(&a, GlucoseUnit::MgDl),
            reading_identifier(&b, GlucoseUnit::MgDl)
        );
        assert_ne!(
            reading_identifier(&a, GlucoseUnit::MgDl),
            reading_identifier(&a, GlucoseUnit::MmolL)
        );
    }

    #[test]
    fn an_entry_posts_with_if_none_exist_on_its_identifier_sub_7() {
        let resource = sensor_reading(
            "Patient/p",
            &reading(99.0, GlucoseUnit::MgDl, None),
            GlucoseUnit::MgDl,
        );
        let entry = post_entry(
            "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
            resource,
        );
        assert_eq!(entry["request"]["method"], "POST");
        assert_eq!(entry["request"]["url"], "Observation");
        assert_eq!(
            entry["request"]["ifNoneExist"],
            "identifier=https%3A%2F%2Fcloudcgm.org%2Ffhir%2Fcgm%2Fsensor-reading%7CSN-123.99504-3.1714644900000"
        );
    }

    #[test]
    fn decimals_built_from_numbers_read_exactly_like_the_unit_display_text_c3() {
        for tenths in 0..=10_000 {
            let v = f64::from(tenths) / 10.0 + 0.04;
            for unit in [GlucoseUnit::MgDl, GlucoseUnit::MmolL] {
                assert_eq!(decimal(v, unit).to_string(), unit.format(v), "{v} {unit:?}");
            }
        }
    }

    #[test]
    fn a_reading_entry_is_the_post_entry_of_the_reading_with_an_identifier_derived_full_url_b1() {
        let r = reading(143.0, GlucoseUnit::MgDl, None);
        for unit in [GlucoseUnit::MgDl, GlucoseUnit::MmolL] {
            let urn = "urn:uuid:00000000-0000-8000-8000-000000000001";
            let id = reading_identifier(&r, unit);
            let expected = post_entry(
                entry_urn("Observation", READING_IDENTIFIER_SYSTEM, &id),
                sensor_reading_of_device("Patient/p", &r, unit, Some(urn)),
            );
            let built = reading_entry("Patient/p", &r, unit, urn);
            assert_eq!(
                serde_json::to_string(&built).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
            assert_eq!(built["resource"]["device"]["reference"], urn);
        }
    }
}
