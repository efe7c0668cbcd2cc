//! The `cgm-device` Device of a submission (DIGEST §4.13, VAL-9, NOTES B5): one per CloudCGM device id, with a
//! stable identifier (so `ifNoneExist` keeps the receiver from storing it again with every bundle), exactly one
//! `user-friendly-name`, and `patient` set to the subject so `patient/Device.cu` scopes authorise the write.

use super::codes::USER_FRIENDLY_NAME;
use super::ids::{entry_urn, DEVICE_IDENTIFIER_SYSTEM};
use super::profile::CgmProfile;
use crate::DeviceId;
use serde_json::{json, Value};

/// The name shown for a device without a configured one.
pub fn default_device_name(device: &DeviceId) -> String {
    format!("CGM sensor {}", device.0)
}

/// The Device resource for `device` of the patient `subject` (`Patient/{id}`), named `name`.
pub fn cgm_device(subject: &str, device: &DeviceId, name: &str) -> Value {
    json!({
        "resourceType": "Device",
        "meta": {"profile": [CgmProfile::Device.canonical()]},
        "identifier": [{"system": DEVICE_IDENTIFIER_SYSTEM, "value": device.0}],
        "deviceName": [{"name": name, "type": USER_FRIENDLY_NAME}],
        "patient": {"reference": subject},
    })
}

/// The fullUrl of `device`'s entry: the same in every bundle, so readings of any chunk reference it alike.
pub fn device_urn(device: &DeviceId) -> String {
    entry_urn("Device", DEVICE_IDENTIFIER_SYSTEM, &device.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::{validate, Severity};

    #[test]
    fn a_device_passes_val_9_and_names_its_patient_b5() {
        let d = cgm_device("Patient/p1", &DeviceId::new("dexcom-1"), "Dexcom G6-like");
        let errors: Vec<_> = validate(CgmProfile::Device, &d, "Device")
            .into_iter()
            .filter(|i| i.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(d["patient"]["reference"], "Patient/p1");
        assert_eq!(d["identifier"][0]["system"], DEVICE_IDENTIFIER_SYSTEM);
        assert_eq!(d["identifier"][0]["value"], "dexcom-1");
        assert_eq!(d["deviceName"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn the_device_urn_depends_only_on_the_device_id() {
        assert_eq!(
            device_urn(&DeviceId::new("a")),
            device_urn(&DeviceId::new("a"))
        );
        assert_ne!(
            device_urn(&DeviceId::new("a")),
            device_urn(&DeviceId::new("b"))
        );
    }
}
