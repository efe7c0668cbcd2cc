//! Every system, code, unit and canonical URL of the CGM IG that the receiver checks against (DIGEST §1.1,
//! §6.1, §6.3, §6.4, §6.5), in one place so a later IG version (or the CodeSystem moving to THO, NOTES F3)
//! changes one file.

/// LOINC, the system of every Observation and DiagnosticReport code (DIGEST §6.3).
pub const LOINC: &str = "http://loinc.org";
/// UCUM, the system of every Quantity unit (DIGEST §6.4).
pub const UCUM: &str = "http://unitsofmeasure.org";
/// The IG's own CodeSystem: the two order codes (DIGEST §6.1).
pub const CGM_CODESYSTEM: &str = "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm";
/// Observation categories; `laboratory` is what the examples and SMART scopes use (NOTES B6).
pub const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
/// HL7 v2 table 0074 (diagnostic service sections); `LAB` on the PDF report (NOTES B6).
pub const V2_0074: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";
/// R4 data-absent-reason codes for sensor readings without a value (NOTES C5).
pub const DATA_ABSENT_REASON: &str = "http://terminology.hl7.org/CodeSystem/data-absent-reason";
/// R4 `Device.deviceName.type` codes (DIGEST §4.13).
pub const DEVICE_NAMETYPE: &str = "http://hl7.org/fhir/device-nametype";
/// The one `deviceName.type` the CGM Device profile requires.
pub const USER_FRIENDLY_NAME: &str = "user-friendly-name";

/// IG canonical base.
pub const IG_BASE: &str = "http://hl7.org/fhir/uv/cgm";
/// Canonical prefix of the IG's StructureDefinitions.
pub const STRUCTURE_DEFINITION_BASE: &str = "http://hl7.org/fhir/uv/cgm/StructureDefinition/";
/// What a receiver lists in `CapabilityStatement.instantiates` (RCV-1).
pub const CGM_RECEIVER_CAPABILITY: &str =
    "http://hl7.org/fhir/uv/cgm/CapabilityStatement/cgm-data-receiver";
/// The `$submit-cgm-bundle` operation (DIGEST §8).
pub const SUBMIT_OPERATION: &str =
    "http://hl7.org/fhir/uv/cgm/OperationDefinition/submit-cgm-bundle";
/// The submission Bundle profile (DIGEST §4.1).
pub const SUBMISSION_BUNDLE_PROFILE: &str =
    "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-data-submission-bundle";

/// Summary panel; also the code of the PDF DiagnosticReport (NOTES C6).
pub const LOINC_SUMMARY_PANEL: &str = "107931-8";
/// Mean glucose, mass per volume.
pub const LOINC_MEAN_GLUCOSE_MASS: &str = "97507-8";
/// Mean glucose, moles per volume.
pub const LOINC_MEAN_GLUCOSE_MOLAR: &str = "105273-7";
/// Times-in-ranges panel.
pub const LOINC_TIMES_IN_RANGES: &str = "106793-3";
/// TIR component: very low (< 54 mg/dL).
pub const LOINC_TIME_IN_VERY_LOW: &str = "104642-4";
/// TIR component: low (54–69 mg/dL).
pub const LOINC_TIME_IN_LOW: &str = "104641-6";
/// TIR component: target (70–180 mg/dL).
pub const LOINC_TIME_IN_TARGET: &str = "97510-2";
/// TIR component: high (181–250 mg/dL).
pub const LOINC_TIME_IN_HIGH: &str = "104640-8";
/// TIR component: very high (> 250 mg/dL).
pub const LOINC_TIME_IN_VERY_HIGH: &str = "104639-0";
/// Glucose management indicator.
pub const LOINC_GMI: &str = "97506-0";
/// Coefficient of variation.
pub const LOINC_CV: &str = "104638-2";
/// Days of wear.
pub const LOINC_DAYS_OF_WEAR: &str = "104636-6";
/// Sensor active percentage.
pub const LOINC_SENSOR_ACTIVE: &str = "104637-4";
/// Sensor reading, mass per volume.
pub const LOINC_SENSOR_READING_MASS: &str = "99504-3";
/// Sensor reading, moles per volume.
pub const LOINC_SENSOR_READING_MOLAR: &str = "105272-9";
/// The 1.0.0-ballot's intended (then pending) LOINC for the summary panel (DIGEST §6.3); replaced by 107931-8.
pub const LOINC_BALLOT_SUMMARY_PANEL: &str = "104643-2";

/// The five TIR component slices in band order: (slice name, LOINC code) (DIGEST §4.5).
pub const TIR_COMPONENTS: [(&str, &str); 5] = [
    ("timeInVeryLow", LOINC_TIME_IN_VERY_LOW),
    ("timeInLow", LOINC_TIME_IN_LOW),
    ("timeInTarget", LOINC_TIME_IN_TARGET),
    ("timeInHigh", LOINC_TIME_IN_HIGH),
    ("timeInVeryHigh", LOINC_TIME_IN_VERY_HIGH),
];

/// `ServiceRequest.code` of a CGM standing order (ORD-1).
pub const STANDING_ORDER_CODE: &str = "cgm-data-submission-standing-order";
/// `ServiceRequest.code` of a CGM one-time order (ORD-4).
pub const ONE_TIME_ORDER_CODE: &str = "cgm-data-submission-one-time-order";
/// The schedule extension of standing orders (ORD-2).
pub const EXT_SUBMISSION_SCHEDULE: &str =
    "http://hl7.org/fhir/uv/cgm/StructureDefinition/data-submission-schedule";
/// The one-time specification extension of one-time orders (ORD-4).
pub const EXT_ONE_TIME_SPEC: &str =
    "http://hl7.org/fhir/uv/cgm/StructureDefinition/data-submission-one-time-spec";
/// UCUM codes of the R4 `units-of-time` value set, the required binding of the schedule periods (ORD-2).
pub const UNITS_OF_TIME: [&str; 7] = ["s", "min", "h", "d", "wk", "mo", "a"];

/// Unit patterns as (UCUM code, fixed `unit` string) (DIGEST §6.4).
pub const UNIT_MG_DL: (&str, &str) = ("mg/dL", "mg/dl");
/// mmol/L with its fixed lower-case `unit` string.
pub const UNIT_MMOL_L: (&str, &str) = ("mmol/L", "mmol/l");
/// Percent.
pub const UNIT_PERCENT: (&str, &str) = ("%", "%");
/// Days (days of wear).
pub const UNIT_DAYS: (&str, &str) = ("d", "days");

/// The ballot-era temporary CodeSystem, gone from STU 1 (DIGEST §6.5, NOTES B7).
pub const OBSOLETE_TEMP_SYSTEM: &str =
    "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm-summary-codes-temporary";
/// An even older Argonaut-draft alias of the temporary system.
pub const OBSOLETE_ARGONAUT_SYSTEM: &str = "https://tx.argo.run/cgm-summary";

/// The LOINC code that replaced a ballot-era temporary code, if `code` is one (DIGEST §6.5).
pub fn obsolete_replacement(code: &str) -> Option<&'static str> {
    Some(match code {
        "cgm-summary" => LOINC_SUMMARY_PANEL,
        "mean-glucose-mass-per-volume" => LOINC_MEAN_GLUCOSE_MASS,
        "mean-glucose-moles-per-volume" => LOINC_MEAN_GLUCOSE_MOLAR,
        "times-in-ranges" => LOINC_TIMES_IN_RANGES,
        "time-in-very-low" => LOINC_TIME_IN_VERY_LOW,
        "time-in-low" => LOINC_TIME_IN_LOW,
        "time-in-target" => LOINC_TIME_IN_TARGET,
        "time-in-high" => LOINC_TIME_IN_HIGH,
        "time-in-very-high" => LOINC_TIME_IN_VERY_HIGH,
        "gmi" => LOINC_GMI,
        "cv" => LOINC_CV,
        "days-of-wear" => LOINC_DAYS_OF_WEAR,
        "sensor-active-percentage" => LOINC_SENSOR_ACTIVE,
        _ => return None,
    })
}

/// Whether `system` is one of the obsolete temporary CodeSystems.
pub fn is_obsolete_system(system: &str) -> bool {
    system == OBSOLETE_TEMP_SYSTEM || system == OBSOLETE_ARGONAUT_SYSTEM
}
