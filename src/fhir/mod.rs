//! FHIR R4 for the CGM IG (hl7.fhir.uv.cgm 1.0.0): OperationOutcome issues, classification of resources into
//! the IG's profiles by resource type + LOINC code (DIGEST §4.1, NOTES B2), the profile rules VAL-1…10, and
//! the planning of a `$submit-cgm-bundle` submission: per-entry verdicts, in-bundle reference resolution and
//! acceptance groups (NOTES A1, A2, A5, B1). Works on `serde_json::Value` with `arbitrary_precision`, so
//! decimals keep their written precision (NOTES C3). Pure: the server applies the plan. On the submitter side, the
//! CGM Data Submission Bundles CloudCGM sends: summaries, the PDF report, sensor readings and Devices, chunked
//! (SUB-2, SUB-7, NOTES A7, D5).

pub mod bundle;
pub mod bundle_json;
pub mod codes;
pub mod device;
pub mod ids;
pub mod outcome;
pub mod profile;
pub mod readings;
pub mod submission;
pub mod summary;
pub mod validate;

pub use bundle::{assemble, build_submission, BundleInput, Omission, Submission};
pub use bundle_json::build_submission_json;
pub use outcome::{has_errors, operation_outcome, Issue, Severity};
pub use profile::{classify, CgmProfile, Classification};
pub use submission::{
    plan_submission, EntryPlan, PatientRef, RefTarget, ReferenceSite, SubmissionError,
    SubmissionPlan, Verdict,
};
pub use validate::validate;

#[cfg(test)]
mod tests;
