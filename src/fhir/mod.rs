//! FHIR R4 for the CGM IG (hl7.fhir.uv.cgm 1.0.0): OperationOutcome issues, classification of resources into
//! the IG's profiles by resource type + LOINC code (DIGEST §4.1, NOTES B2), the profile rules VAL-1…10, and
//! the in-bundle reference resolution of a submission (NOTES B1). Works on `serde_json::Value` with
//! `arbitrary_precision`, so decimals keep their written precision (NOTES C3).
//!
//! (Skeleton: filled in by the core FHIR work of issue 3.)
