//! The IG's 14 resource profiles and how a resource is routed to one: by `resourceType` + code only, never by
//! `meta.profile`, which the IG's own examples leave out (DIGEST §4.1, NOTES B2). The same LOINC 107931-8 codes
//! both the summary panel Observation and the PDF DiagnosticReport, so the resource type always takes part
//! (NOTES C6). Ballot-era temporary codes are recognised so they can be rejected with a useful message (NOTES B7).

use super::codes::*;
use serde_json::Value;

/// A profile of the CGM IG that a submitted (or served) resource can conform to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgmProfile {
    SummaryPanel,
    MeanGlucoseMass,
    MeanGlucoseMolar,
    TimesInRanges,
    Gmi,
    CoefficientOfVariation,
    DaysOfWear,
    SensorActivePercentage,
    SensorReadingMass,
    SensorReadingMolar,
    SummaryPdf,
    Device,
    StandingOrder,
    OneTimeOrder,
}

impl CgmProfile {
    /// Every profile, in the order of DIGEST §1.1.
    pub const ALL: [CgmProfile; 14] = [
        CgmProfile::SummaryPanel,
        CgmProfile::MeanGlucoseMass,
        CgmProfile::MeanGlucoseMolar,
        CgmProfile::TimesInRanges,
        CgmProfile::Gmi,
        CgmProfile::CoefficientOfVariation,
        CgmProfile::DaysOfWear,
        CgmProfile::SensorActivePercentage,
        CgmProfile::SensorReadingMass,
        CgmProfile::SensorReadingMolar,
        CgmProfile::SummaryPdf,
        CgmProfile::Device,
        CgmProfile::StandingOrder,
        CgmProfile::OneTimeOrder,
    ];

    /// The StructureDefinition id, the last segment of the canonical URL.
    pub fn id(self) -> &'static str {
        match self {
            CgmProfile::SummaryPanel => "cgm-summary",
            CgmProfile::MeanGlucoseMass => "cgm-summary-mean-glucose-mass-per-volume",
            CgmProfile::MeanGlucoseMolar => "cgm-summary-mean-glucose-moles-per-volume",
            CgmProfile::TimesInRanges => "cgm-summary-times-in-ranges",
            CgmProfile::Gmi => "cgm-summary-gmi",
            CgmProfile::CoefficientOfVariation => "cgm-summary-coefficient-of-variation",
            CgmProfile::DaysOfWear => "cgm-summary-days-of-wear",
            CgmProfile::SensorActivePercentage => "cgm-summary-sensor-active-percentage",
            CgmProfile::SensorReadingMass => "cgm-sensor-reading-mass-per-volume",
            CgmProfile::SensorReadingMolar => "cgm-sensor-reading-moles-per-volume",
            CgmProfile::SummaryPdf => "cgm-summary-pdf",
            CgmProfile::Device => "cgm-device",
            CgmProfile::StandingOrder => "cgm-data-submission-standing-order",
            CgmProfile::OneTimeOrder => "cgm-data-submission-one-time-order",
        }
    }

    /// The canonical URL, e.g. `http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary`.
    pub fn canonical(self) -> &'static str {
        match self {
            CgmProfile::SummaryPanel => "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary",
            CgmProfile::MeanGlucoseMass => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-mean-glucose-mass-per-volume"
            }
            CgmProfile::MeanGlucoseMolar => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-mean-glucose-moles-per-volume"
            }
            CgmProfile::TimesInRanges => "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-times-in-ranges",
            CgmProfile::Gmi => "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-gmi",
            CgmProfile::CoefficientOfVariation => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-coefficient-of-variation"
            }
            CgmProfile::DaysOfWear => "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-days-of-wear",
            CgmProfile::SensorActivePercentage => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-sensor-active-percentage"
            }
            CgmProfile::SensorReadingMass => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-sensor-reading-mass-per-volume"
            }
            CgmProfile::SensorReadingMolar => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-sensor-reading-moles-per-volume"
            }
            CgmProfile::SummaryPdf => "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-pdf",
            CgmProfile::Device => "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-device",
            CgmProfile::StandingOrder => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-data-submission-standing-order"
            }
            CgmProfile::OneTimeOrder => {
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-data-submission-one-time-order"
            }
        }
    }

    /// The profile with this canonical URL; a `|version` suffix is ignored (NOTES D5).
    pub fn from_canonical(url: &str) -> Option<CgmProfile> {
        let url = url.split('|').next().unwrap_or(url);
        CgmProfile::ALL.into_iter().find(|p| p.canonical() == url)
    }

    /// The FHIR resource type the profile constrains.
    pub fn resource_type(self) -> &'static str {
        match self {
            CgmProfile::SummaryPdf => "DiagnosticReport",
            CgmProfile::Device => "Device",
            CgmProfile::StandingOrder | CgmProfile::OneTimeOrder => "ServiceRequest",
            _ => "Observation",
        }
    }

    /// The (system, code) that routes a resource of [`CgmProfile::resource_type`] to this profile; `None` for
    /// the Device, which every Device is routed to.
    pub fn code(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            CgmProfile::SummaryPanel | CgmProfile::SummaryPdf => (LOINC, LOINC_SUMMARY_PANEL),
            CgmProfile::MeanGlucoseMass => (LOINC, LOINC_MEAN_GLUCOSE_MASS),
            CgmProfile::MeanGlucoseMolar => (LOINC, LOINC_MEAN_GLUCOSE_MOLAR),
            CgmProfile::TimesInRanges => (LOINC, LOINC_TIMES_IN_RANGES),
            CgmProfile::Gmi => (LOINC, LOINC_GMI),
            CgmProfile::CoefficientOfVariation => (LOINC, LOINC_CV),
            CgmProfile::DaysOfWear => (LOINC, LOINC_DAYS_OF_WEAR),
            CgmProfile::SensorActivePercentage => (LOINC, LOINC_SENSOR_ACTIVE),
            CgmProfile::SensorReadingMass => (LOINC, LOINC_SENSOR_READING_MASS),
            CgmProfile::SensorReadingMolar => (LOINC, LOINC_SENSOR_READING_MOLAR),
            CgmProfile::StandingOrder => (CGM_CODESYSTEM, STANDING_ORDER_CODE),
            CgmProfile::OneTimeOrder => (CGM_CODESYSTEM, ONE_TIME_ORDER_CODE),
            CgmProfile::Device => return None,
        })
    }

    /// The IG's title, for UIs.
    pub fn title(self) -> &'static str {
        match self {
            CgmProfile::SummaryPanel => "CGM Summary Observation",
            CgmProfile::MeanGlucoseMass => "Mean Glucose (Mass)",
            CgmProfile::MeanGlucoseMolar => "Mean Glucose (Molar)",
            CgmProfile::TimesInRanges => "CGM Times in Ranges",
            CgmProfile::Gmi => "Glucose Management Indicator (GMI)",
            CgmProfile::CoefficientOfVariation => "Coefficient of Variation (CV)",
            CgmProfile::DaysOfWear => "Days of Wear",
            CgmProfile::SensorActivePercentage => "Sensor Active Percentage",
            CgmProfile::SensorReadingMass => "CGM Sensor Reading (Mass)",
            CgmProfile::SensorReadingMolar => "CGM Sensor Reading (Molar)",
            CgmProfile::SummaryPdf => "CGM Summary PDF Report",
            CgmProfile::Device => "CGM Device",
            CgmProfile::StandingOrder => "CGM Data Submission Standing Order",
            CgmProfile::OneTimeOrder => "CGM Data Submission One-Time Order",
        }
    }

    /// The summary Observations that may be members of a summary panel (DIGEST §4.2).
    pub fn is_summary_member(self) -> bool {
        matches!(
            self,
            CgmProfile::MeanGlucoseMass
                | CgmProfile::MeanGlucoseMolar
                | CgmProfile::TimesInRanges
                | CgmProfile::Gmi
                | CgmProfile::CoefficientOfVariation
                | CgmProfile::DaysOfWear
                | CgmProfile::SensorActivePercentage
        )
    }

    /// Profiles whose resources carry `effectivePeriod` with start and end (DIGEST §3).
    pub fn has_effective_period(self) -> bool {
        self.is_summary_member()
            || matches!(self, CgmProfile::SummaryPanel | CgmProfile::SummaryPdf)
    }
}

/// What a resource is, as far as the receiver is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// Routes to this IG profile (it may still fail validation).
    Profile(CgmProfile),
    /// A Patient resource (the Bundle's `patient` slice; no profile, NOTES B3).
    Patient,
    /// Uses a ballot-era temporary code; the text says which code and what replaced it (NOTES B7).
    Obsolete(String),
    /// Any other resource: an allowed type with no CGM code, or a type the IG does not route at all.
    Other,
}

/// The `(system, code)` pairs of a CodeableConcept's codings that have both.
pub(crate) fn codings(concept: Option<&Value>) -> impl Iterator<Item = (&str, &str)> {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c.get("system")?.as_str()?, c.get("code")?.as_str()?)))
}

/// Whether a CodeableConcept matches the pattern `system#code` (a coding with both equal; DIGEST §3).
pub(crate) fn has_coding(concept: Option<&Value>, system: &str, code: &str) -> bool {
    codings(concept).any(|(s, c)| s == system && c == code)
}

/// Every profile of `resource_type` whose routing code appears in `concept`.
pub(crate) fn profiles_matching(resource_type: &str, concept: Option<&Value>) -> Vec<CgmProfile> {
    CgmProfile::ALL
        .into_iter()
        .filter(|p| p.resource_type() == resource_type)
        .filter(|p| p.code().is_some_and(|(s, c)| has_coding(concept, s, c)))
        .collect()
}

/// The message for a ballot-era code found in `concept`, if any.
pub(crate) fn obsolete_code_message(concept: Option<&Value>) -> Option<String> {
    for (system, code) in codings(concept) {
        if is_obsolete_system(system) {
            return Some(match obsolete_replacement(code) {
                Some(loinc) => format!(
                    "{system}#{code} is a ballot-era temporary code that STU 1 (hl7.fhir.uv.cgm 1.0.0) replaced with \
                     LOINC {loinc}: send code {{\"system\": \"{LOINC}\", \"code\": \"{loinc}\"}}"
                ),
                None => format!(
                    "{system} is the ballot-era temporary CodeSystem that STU 1 (hl7.fhir.uv.cgm 1.0.0) removed; \
                     use the LOINC codes of the IG"
                ),
            });
        }
        if system == LOINC && code == LOINC_BALLOT_SUMMARY_PANEL {
            return Some(format!(
                "LOINC {LOINC_BALLOT_SUMMARY_PANEL} was the 1.0.0-ballot's summary panel code; STU 1 uses LOINC \
                 {LOINC_SUMMARY_PANEL}"
            ));
        }
    }
    None
}

/// Routes a resource by `resourceType` + code only (NOTES B2): Observations by their LOINC code, a
/// DiagnosticReport with 107931-8 to the PDF report, ServiceRequests by the IG's CodeSystem, every Device to the
/// CGM Device. A current code wins over an obsolete one in the same CodeableConcept (extra codings are allowed).
pub fn classify(resource: &Value) -> Classification {
    let Some(resource_type) = resource.get("resourceType").and_then(Value::as_str) else {
        return Classification::Other;
    };
    match resource_type {
        "Patient" => Classification::Patient,
        "Device" => Classification::Profile(CgmProfile::Device),
        "Observation" | "DiagnosticReport" | "ServiceRequest" => {
            let code = resource.get("code");
            if let Some(first) = profiles_matching(resource_type, code).first() {
                return Classification::Profile(*first);
            }
            match obsolete_code_message(code) {
                Some(message) if resource_type != "ServiceRequest" => {
                    Classification::Obsolete(message)
                }
                _ => Classification::Other,
            }
        }
        _ => Classification::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_round_trips_and_ignores_a_version_suffix() {
        for p in CgmProfile::ALL {
            assert_eq!(CgmProfile::from_canonical(p.canonical()), Some(p));
            assert!(p.canonical().ends_with(p.id()));
            assert!(p.canonical().starts_with(STRUCTURE_DEFINITION_BASE));
        }
        assert_eq!(
            CgmProfile::from_canonical(
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary-gmi|1.0.0"
            ),
            Some(CgmProfile::Gmi)
        );
        assert_eq!(
            CgmProfile::from_canonical("http://hl7.org/uv/cgm/StructureDefinition/cgm-summary-gmi"),
            None
        );
    }

    #[test]
    fn the_panel_code_routes_by_resource_type() {
        let code = json!({"coding": [{"system": LOINC, "code": "107931-8"}]});
        let obs = json!({"resourceType": "Observation", "code": code});
        let dr = json!({"resourceType": "DiagnosticReport", "code": code});
        assert_eq!(
            classify(&obs),
            Classification::Profile(CgmProfile::SummaryPanel)
        );
        assert_eq!(
            classify(&dr),
            Classification::Profile(CgmProfile::SummaryPdf)
        );
    }

    #[test]
    fn meta_profile_does_not_route() {
        let obs = json!({
            "resourceType": "Observation",
            "meta": {"profile": [CgmProfile::Gmi.canonical()]},
            "code": {"coding": [{"system": LOINC, "code": "8480-6"}]}
        });
        assert_eq!(classify(&obs), Classification::Other);
    }

    #[test]
    fn a_current_loinc_coding_wins_over_an_obsolete_one_beside_it() {
        let obs = json!({"resourceType": "Observation", "code": {"coding": [
            {"system": OBSOLETE_TEMP_SYSTEM, "code": "gmi"},
            {"system": LOINC, "code": "97506-0"}
        ]}});
        assert_eq!(classify(&obs), Classification::Profile(CgmProfile::Gmi));
    }

    #[test]
    fn the_ballot_panel_loinc_is_obsolete() {
        let obs = json!({"resourceType": "Observation", "code": {"coding": [{"system": LOINC, "code": "104643-2"}]}});
        match classify(&obs) {
            Classification::Obsolete(message) => assert!(message.contains("107931-8"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_service_request_with_a_foreign_code_or_a_missing_type_is_other() {
        let sr = json!({"resourceType": "ServiceRequest", "code": {"coding": [{"system": LOINC, "code": "97506-0"}]}});
        assert_eq!(classify(&sr), Classification::Other);
        assert_eq!(classify(&json!({"code": {}})), Classification::Other);
        assert_eq!(
            classify(&json!({"resourceType": "Practitioner"})),
            Classification::Other
        );
    }
}
