//! The serialisable view types that cross the wire between server functions and pages. Everything here is
//! already formatted for display: the browser does no clinical arithmetic, so the page and the CLI cannot
//! disagree on a number.

use serde::{Deserialize, Serialize};

/// One row of the demo patient list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientSummaryView {
    pub id: i64,
    pub name: String,
    pub birth_date: String,
    pub time_zone: String,
    pub device: String,
    pub readings: i64,
    pub last_reading: Option<String>,
}

/// What the clinician asked for: a preset of the last N days, or custom dates, and the display unit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportQuery {
    /// Preset length in days (14, 30 or 90); ignored when `from`/`to` are given.
    pub days: Option<u32>,
    /// Custom first day, `YYYY-MM-DD`, in the patient's local calendar.
    pub from: Option<String>,
    /// Custom last day (inclusive), `YYYY-MM-DD`.
    pub to: Option<String>,
    /// `mg` or `mmol`; the patient's usual unit when absent.
    pub unit: Option<String>,
    /// Show a daily panel for every day of the window instead of the latest 14.
    pub all_days: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientHeaderView {
    pub id: i64,
    pub name: String,
    pub birth_date: String,
    pub time_zone: String,
    pub device: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowView {
    pub first_day: String,
    pub last_day: String,
    pub days: u32,
    /// The preset this window came from, if any (for highlighting the chosen button).
    pub preset: Option<u32>,
    /// First and last day with data, to bound the custom date inputs.
    pub data_first_day: Option<String>,
    pub data_last_day: Option<String>,
}

/// A metric with its consensus goal and whether the goal is met (`None`: no goal for this metric).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRowView {
    pub key: String,
    pub label: String,
    pub value: String,
    pub goal: Option<String>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeRowView {
    pub key: String,
    pub label: String,
    pub range: String,
    pub percent: String,
    /// Time per day, e.g. "3 h 22 min".
    pub per_day: String,
    pub goal: Option<String>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRowView {
    pub key: String,
    pub label: String,
    pub count: String,
    pub per_day: String,
    pub mean_duration: String,
}

/// AGP percentiles at one time of day, the table alternative to the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgpRowView {
    pub time: String,
    pub p5: String,
    pub p25: String,
    pub p50: String,
    pub p75: String,
    pub p95: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyPanelView {
    pub date: String,
    pub svg: String,
    pub readings: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    pub patient: PatientHeaderView,
    pub window: WindowView,
    /// `mg/dL` or `mmol/L`.
    pub unit: String,
    /// `mg` or `mmol`, for building links.
    pub unit_key: String,
    pub readings: usize,
    pub metrics: Vec<MetricRowView>,
    pub ranges: Vec<RangeRowView>,
    pub events: Vec<EventRowView>,
    pub sufficiency_warnings: Vec<String>,
    pub agp_svg: String,
    pub tir_svg: String,
    pub agp_table: Vec<AgpRowView>,
    pub daily: Vec<DailyPanelView>,
    pub daily_total_days: usize,
    /// The page this report lives at (`/patients/{id}/report` in demo mode, `/ehr/{handle}` inside an EHR
    /// launch): the window and unit links stay on it.
    pub base_path: String,
    /// The same report as a PDF (`{page}.pdf` / `/ehr/{handle}/report.pdf`); the window query is added.
    pub pdf_path: String,
}

/// The EHR patient of a launch, as the EHR describes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EhrPatientView {
    pub id: String,
    pub name: Option<String>,
    pub birth_date: Option<String>,
}

/// The CloudCGM patient an EHR patient is linked to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkedView {
    pub patient_id: i64,
    pub name: String,
    pub birth_date: String,
    pub linked_at: String,
    pub linked_by: String,
}

/// What a page inside an EHR launch knows about its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchView {
    /// The EHR's `fhirUser` of the signed-in clinician.
    pub user: String,
    /// `admin` or `clinician`.
    pub role: String,
    pub practice: String,
    /// Shown when the EHR asked for a patient banner (`need_patient_banner`).
    pub show_banner: bool,
    /// `None` when the EHR launched without a patient.
    pub ehr_patient: Option<EhrPatientView>,
    pub linked: Option<LinkedView>,
}

/// Both identities side by side before a link is confirmed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkProposalView {
    pub cloudcgm_name: String,
    pub cloudcgm_birth_date: String,
    pub ehr: EhrPatientView,
    /// What differs (empty when the identities agree); a link then needs a reason.
    pub mismatches: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminLinkView {
    pub id: i64,
    pub ehr_patient_id: String,
    pub patient_id: i64,
    pub patient_name: String,
    pub patient_birth_date: String,
    pub linked_by: String,
    pub linked_at: String,
    pub mismatch_reason: Option<String>,
    pub last_submission: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub ehr_patient_id: Option<String>,
    pub patient_id: Option<i64>,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

/// The practice administration console.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdminView {
    pub practice: String,
    pub links: Vec<AdminLinkView>,
    pub audit: Vec<AuditView>,
    /// Clinicians whose EHR connection needs a new launch (a refresh failed).
    pub needs_relaunch: Vec<String>,
    /// Submissions that failed or wait for a new launch, newest first, with the patient they are for.
    pub submission_problems: Vec<(String, SubmissionJobView)>,
}

/// The patient's current sharing code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharingCodeView {
    /// Grouped for reading aloud (`ABC-DEF-GHJK`).
    pub code: String,
    pub expires_at: String,
    /// `active`, `used`, `revoked` or `expired`.
    pub status: String,
}

/// The patient portal after sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortalView {
    pub name: String,
    pub code: Option<SharingCodeView>,
    /// Hours a new code stays valid.
    pub code_ttl_hours: i64,
}

/// A clinician's "send to the EHR" request (a one-time order from the UI, SUB-8, NOTES D6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SendRequest {
    /// 14, 30 or 90: that many full local days up to yesterday. 0 with `first`/`last`: custom dates.
    pub days: u32,
    /// Custom window (YYYY-MM-DD, both inclusive, the patient's local days).
    pub first: Option<String>,
    pub last: Option<String>,
    /// The CGM summary with its PDF report (cgm-summary, cgm-summary-pdf).
    pub summary: bool,
    /// Every sensor reading in the window (cgm-sensor-reading-*, with the device).
    pub readings: bool,
}

/// One rejected entry of a submission, with the EHR's reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedEntryView {
    pub resource: String,
    pub identifier: Option<String>,
    pub status: u16,
    pub reason: String,
}

/// One submission job as the clinician and the admin see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionJobView {
    pub id: i64,
    pub requested_by: String,
    pub requested_at: String,
    /// "2026-10-26 – 2026-11-24 (Europe/Berlin)".
    pub window: String,
    /// "summary and PDF report, sensor readings".
    pub contents: String,
    /// queued, running, waiting, done, failed, cancelled.
    pub status: String,
    /// What the status means for the reader, and what to do next if anything.
    pub status_text: String,
    pub chunks_done: u32,
    pub chunks_total: u32,
    pub accepted: u32,
    pub rejected: u32,
    pub last_error: Option<String>,
    /// The first rejected entries (at most 20).
    pub rejections: Vec<RejectedEntryView>,
    pub finished_at: Option<String>,
}

/// The submissions of the launch's linked patient, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmissionHistoryView {
    pub jobs: Vec<SubmissionJobView>,
}
