//! Sensor reading Observations of a CGM Data Submission Bundle (issue 5, bundle builder, first part):
//! one `cgm-sensor-reading-mass-per-volume` or `-moles-per-volume` Observation per reading, with a value in
//! the requested unit or, for a device's Low/High sentinel, a `dataAbsentReason` instead (SUB-10, NOTES C5),
//! a deterministic identifier from device, LOINC code and time (NOTES C9) and `ifNoneExist` on it (SUB-7),
//! so overlapping windows never create duplicates at the receiver.

use super::codes::{
    DATA_ABSENT_REASON, LOINC, LOINC_SENSOR_READING_MASS, LOINC_SENSOR_READING_MOLAR,
    OBSERVATION_CATEGORY, UCUM,
};
use crate::{GlucoseUnit, Reading, Sentinel};
use chrono::SecondsFormat;
use serde_json::{json, Number, Value};

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
/// as text so the precision survives serialisation (NOTES C3).
fn decimal(value: f64, unit: GlucoseUnit) -> Value {
    let text = format!("{:.*}", unit.display_decimals(), unit.round_display(value));
    text.parse::<Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// One sensor reading Observation for `subject` (`Patient/{id}`).
pub fn sensor_reading(subject: &str, reading: &Reading, unit: GlucoseUnit) -> Value {
    let mut observation = json!({
        "resourceType": "Observation",
        "identifier": [{"system": READING_IDENTIFIER_SYSTEM, "value": reading_identifier(reading, unit)}],
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": reading_code(unit)}]},
        "subject": {"reference": subject},
        "effectiveDateTime": reading.at.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    match reading.sentinel {
        // A sentinel is the device saying "beyond my range", not a measurement (NOTES C5).
        Some(sentinel) => {
            let code = match sentinel {
                Sentinel::High => "positive-infinity",
                Sentinel::Low => "negative-infinity",
            };
            observation["dataAbsentReason"] =
                json!({"coding": [{"system": DATA_ABSENT_REASON, "code": code}]});
        }
        None => {
            observation["valueQuantity"] = json!({
                "value": decimal(reading.in_unit(unit), unit),
                "unit": unit.ucum(),
                "system": UCUM,
                "code": unit.ucum(),
            });
        }
    }
    observation
}

/// `ifNoneExist` for a resource with one identifier: `identifier=system|value`, percent-encoded.
pub fn if_none_exist(system: &str, value: &str) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!("identifier={}%7C{}", encode(system), encode(value))
}

/// A transaction entry POSTing `resource` with its first identifier as `ifNoneExist`; `full_url` is the
/// entry's `urn:uuid:…`.
pub fn post_entry(full_url: String, resource: Value) -> Value {
    let resource_type = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let identifier = &resource["identifier"][0];
    let mut request = json!({"method": "POST", "url": resource_type});
    if let (Some(system), Some(value)) =
        (identifier["system"].as_str(), identifier["value"].as_str())
    {
        request["ifNoneExist"] = Value::String(if_none_exist(system, value));
    }
    json!({"fullUrl": full_url, "resource": resource, "request": request})
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
        assert_eq!(built["valueQuantity"]["code"], "mg/dL");
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
        assert_eq!(built["valueQuantity"]["unit"], "mmol/L");
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
}
