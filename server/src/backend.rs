//! The server's implementation of the UI backend: loads patients and readings from the store, resolves the
//! requested window in the patient's local calendar, runs the core and builds the page's view.
//! Reports by patient id are demo-only; inside an EHR launch the clinician, admin and portal methods
//! delegate to [`crate::clinician`], [`crate::admin`] and [`crate::portal`], which bind every call to the
//! session's launch or signed-in patient.

use crate::report_view::{to_view, ReportSubject};
use crate::state::AppState;
use crate::store::{PatientId, PatientOverview, Store, StoreError};
use chrono::NaiveDate;
use cloudcgm::localtime::local_date;
use cloudcgm::report::build_report;
use cloudcgm::{GlucoseUnit, Trace, Window};
use cloudcgm_app::backend::{Backend, BackendError, Parts};
use cloudcgm_app::views::{
    AdminView, EhrPatientView, LaunchView, LinkProposalView, PatientHeaderView, PatientSummaryView,
    PortalView, ReportQuery, ReportView, SendRequest, SubmissionHistoryView, SubmissionJobView,
};
use std::sync::Arc;

/// Longest custom window accepted: a year keeps the page and its queries bounded.
pub const MAX_WINDOW_DAYS: i64 = 366;
/// The window presets offered by the page; the first is the default.
pub const PRESETS: [u32; 3] = [14, 30, 90];

pub struct AppBackend {
    store: Arc<dyn Store>,
    demo_mode: bool,
    /// Launches, links, the portal: absent in a demo-reports-only backend (benchmarks, some tests).
    state: Option<Arc<AppState>>,
}

impl AppBackend {
    /// Demo reports only.
    pub fn new(store: Arc<dyn Store>, demo_mode: bool) -> Self {
        AppBackend {
            store,
            demo_mode,
            state: None,
        }
    }

    /// The whole backend.
    pub fn with_state(state: Arc<AppState>) -> Self {
        AppBackend {
            store: state.patients.clone(),
            demo_mode: state.settings.demo_mode,
            state: Some(state),
        }
    }

    fn state(&self) -> Result<&AppState, BackendError> {
        self.state.as_deref().ok_or_else(|| {
            tracing::error!("launch features called on a demo-only backend");
            BackendError::Internal
        })
    }

    fn require_demo(&self) -> Result<(), BackendError> {
        if self.demo_mode {
            Ok(())
        } else {
            Err(BackendError::Forbidden(
                "Demo patients are disabled on this server. Open CloudCGM from your EHR to see a patient's report."
                    .into(),
            ))
        }
    }
}

fn internal(e: StoreError) -> BackendError {
    match e {
        StoreError::NotFound(what) => BackendError::NotFound(format!(
            "No such patient ({what}). Go back to the patient list and choose a patient."
        )),
        other => {
            tracing::error!(error = %other, "store failure");
            BackendError::Internal
        }
    }
}

fn header(o: &PatientOverview) -> PatientHeaderView {
    PatientHeaderView {
        id: o.patient.id.0,
        name: o.patient.display_name(),
        birth_date: o.patient.birth_date.to_string(),
        time_zone: o.patient.time_zone.name().to_string(),
        device: o
            .devices
            .iter()
            .map(|d| d.display_name.clone())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn parse_day(label: &str, s: &str) -> Result<NaiveDate, BackendError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        BackendError::BadRequest(format!(
            "The {label} date {s:?} is not a date. Use the form YYYY-MM-DD."
        ))
    })
}

/// The unit asked for, or the patient's usual one.
pub fn resolve_unit(
    asked: Option<&str>,
    preferred: GlucoseUnit,
) -> Result<GlucoseUnit, BackendError> {
    match asked.map(str::trim) {
        None | Some("") => Ok(preferred),
        Some("mg") | Some("mg/dL") => Ok(GlucoseUnit::MgDl),
        Some("mmol") | Some("mmol/L") => Ok(GlucoseUnit::MmolL),
        Some(other) => Err(BackendError::BadRequest(format!(
            "Unknown unit {other:?}. Choose mg/dL or mmol/L."
        ))),
    }
}

/// The window in the patient's local calendar: custom dates when both are given, else a preset of the
/// last N days ending with the local day of the latest reading. Returns the window and its preset.
pub fn resolve_window(
    q: &ReportQuery,
    last_reading_day: Option<NaiveDate>,
    tz: chrono_tz::Tz,
) -> Result<(Window, Option<u32>), BackendError> {
    match (q.from.as_deref(), q.to.as_deref()) {
        (Some(from), Some(to)) => {
            let (from, to) = (parse_day("start", from)?, parse_day("end", to)?);
            if to < from {
                return Err(BackendError::BadRequest(format!(
                    "The window ends ({to}) before it starts ({from}). Choose an end date on or after the start date."
                )));
            }
            if (to - from).num_days() + 1 > MAX_WINDOW_DAYS {
                return Err(BackendError::BadRequest(format!(
                    "The window is longer than {MAX_WINDOW_DAYS} days. Choose a shorter period."
                )));
            }
            let w = Window::local_days(from, to, tz)
                .map_err(|e| BackendError::BadRequest(e.to_string()))?;
            Ok((w, None))
        }
        (Some(_), None) | (None, Some(_)) => Err(BackendError::BadRequest(
            "Give both a start and an end date for a custom window.".into(),
        )),
        (None, None) => {
            let days = q.days.unwrap_or(PRESETS[0]);
            if !PRESETS.contains(&days) {
                return Err(BackendError::BadRequest(format!(
                    "{days} days is not one of the presets (14, 30, 90). Use custom dates for other periods."
                )));
            }
            let last = last_reading_day
                .unwrap_or_else(|| chrono::Utc::now().with_timezone(&tz).date_naive());
            Ok((Window::last_days(last, days, tz), Some(days)))
        }
    }
}

#[async_trait::async_trait]
impl Backend for AppBackend {
    async fn demo_patients(&self) -> Result<Vec<PatientSummaryView>, BackendError> {
        self.require_demo()?;
        let list = self.store.demo_patients().await.map_err(internal)?;
        Ok(list
            .iter()
            .map(|o| {
                let h = header(o);
                PatientSummaryView {
                    id: h.id,
                    name: h.name,
                    birth_date: h.birth_date,
                    time_zone: h.time_zone,
                    device: h.device,
                    readings: o.readings,
                    last_reading: o.last_reading.map(|t| {
                        t.with_timezone(&o.patient.time_zone)
                            .format("%Y-%m-%d %H:%M")
                            .to_string()
                    }),
                }
            })
            .collect())
    }

    async fn report(&self, patient_id: i64, q: ReportQuery) -> Result<ReportView, BackendError> {
        if let Err(e) = self.require_demo() {
            tracing::warn!(patient_id, "report by patient id refused: demo mode is off");
            return Err(e);
        }
        let base = format!("/patients/{patient_id}/report");
        render_report(self.store.as_ref(), PatientId(patient_id), q, base).await
    }

    async fn launch_state(&self, req: &Parts, ctx: &str) -> Result<LaunchView, BackendError> {
        crate::clinician::launch_state(self.state()?, req, ctx).await
    }

    async fn launch_report(
        &self,
        req: &Parts,
        ctx: &str,
        query: ReportQuery,
    ) -> Result<ReportView, BackendError> {
        crate::clinician::launch_report(self.state()?, req, ctx, query).await
    }

    async fn request_submission(
        &self,
        req: &Parts,
        ctx: &str,
        request: SendRequest,
    ) -> Result<SubmissionJobView, BackendError> {
        crate::submissions::request_submission(self.state()?, req, ctx, request).await
    }

    async fn submission_history(
        &self,
        req: &Parts,
        ctx: &str,
    ) -> Result<SubmissionHistoryView, BackendError> {
        crate::submissions::submission_history(self.state()?, req, ctx).await
    }

    async fn propose_link(
        &self,
        req: &Parts,
        ctx: &str,
        code: String,
    ) -> Result<LinkProposalView, BackendError> {
        crate::clinician::propose_link(self.state()?, req, ctx, &code).await
    }

    async fn confirm_link(
        &self,
        req: &Parts,
        ctx: &str,
        reason: Option<String>,
    ) -> Result<(), BackendError> {
        crate::clinician::confirm_link(self.state()?, req, ctx, reason).await
    }

    async fn admin_overview(&self, req: &Parts, ctx: &str) -> Result<AdminView, BackendError> {
        crate::admin::overview(self.state()?, req, ctx).await
    }

    async fn admin_unlink(
        &self,
        req: &Parts,
        ctx: &str,
        link_id: i64,
        reason: String,
    ) -> Result<(), BackendError> {
        crate::admin::unlink(self.state()?, req, ctx, link_id, &reason).await
    }

    async fn admin_search_patients(
        &self,
        req: &Parts,
        ctx: &str,
        name: String,
    ) -> Result<Vec<EhrPatientView>, BackendError> {
        crate::admin::search_patients(self.state()?, req, ctx, &name).await
    }

    async fn admin_link(
        &self,
        req: &Parts,
        ctx: &str,
        ehr_patient_id: String,
        code: String,
        reason: Option<String>,
    ) -> Result<(), BackendError> {
        crate::admin::link(self.state()?, req, ctx, &ehr_patient_id, &code, reason).await
    }

    async fn portal_state(&self, req: &Parts) -> Result<Option<PortalView>, BackendError> {
        crate::portal::portal_state(self.state()?, req).await
    }

    async fn portal_sign_in(
        &self,
        req: &Parts,
        username: String,
        password: String,
    ) -> Result<(), BackendError> {
        crate::portal::sign_in(self.state()?, req, &username, &password).await
    }

    async fn portal_sign_out(&self, req: &Parts) -> Result<(), BackendError> {
        crate::portal::sign_out(req).await
    }

    async fn portal_new_code(&self, req: &Parts) -> Result<(), BackendError> {
        crate::portal::new_code(self.state()?, req).await
    }

    async fn portal_revoke_code(&self, req: &Parts) -> Result<(), BackendError> {
        crate::portal::revoke_code(self.state()?, req).await
    }
}

/// The AGP report of a patient for the requested window and unit; `base_path` is the page it is shown on.
/// A report's inputs: the patient, the resolved window and unit, and the window's readings.
struct ReportInputs {
    overview: PatientOverview,
    unit: GlucoseUnit,
    window: Window,
    preset: Option<u32>,
    last_day: Option<NaiveDate>,
    readings: Vec<cloudcgm::Reading>,
}

async fn report_inputs(
    store: &dyn Store,
    patient: PatientId,
    q: &ReportQuery,
) -> Result<ReportInputs, BackendError> {
    let overview = store.overview(patient).await.map_err(internal)?;
    let tz = overview.patient.time_zone;
    let unit = resolve_unit(q.unit.as_deref(), overview.patient.preferred_unit)?;
    let last_day = overview.last_reading.map(|t| local_date(t, tz));
    let (window, preset) = resolve_window(q, last_day, tz)?;
    let readings = store
        .readings_in_window(overview.patient.id, &window)
        .await
        .map_err(internal)?;
    Ok(ReportInputs {
        overview,
        unit,
        window,
        preset,
        last_day,
        readings,
    })
}

pub async fn render_report(
    store: &dyn Store,
    patient: PatientId,
    q: ReportQuery,
    base_path: String,
) -> Result<ReportView, BackendError> {
    let inputs = report_inputs(store, patient, &q).await?;
    let o = &inputs.overview;
    let tz = o.patient.time_zone;
    // Rendering is CPU work (metrics, AGP, SVG): keep it off the async workers.
    let subject = ReportSubject {
        header: header(o),
        preset: inputs.preset,
        data_first_day: o.first_reading.map(|t| local_date(t, tz).to_string()),
        data_last_day: inputs.last_day.map(|d| d.to_string()),
        all_days: q.all_days,
        // The demo page `/patients/{id}/report` has its PDF at `…/report.pdf`; a launch's `/ehr/{handle}`
        // at `/ehr/{handle}/report.pdf` (report_download.rs).
        pdf_path: if base_path.ends_with("/report") {
            format!("{base_path}.pdf")
        } else {
            format!("{base_path}/report.pdf")
        },
        base_path,
    };
    let (window, unit, readings) = (inputs.window, inputs.unit, inputs.readings);
    tokio::task::spawn_blocking(move || {
        let trace = Trace::new(readings);
        let report = build_report(&trace, window, tz, unit);
        to_view(&report, subject)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "report task failed");
        BackendError::Internal
    })
}

/// The same report as a one-page PDF (issue 5 item 2); `source` names where the data is shown from.
pub async fn render_report_pdf(
    store: &dyn Store,
    patient: PatientId,
    q: ReportQuery,
    source: String,
    generated_at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<u8>, BackendError> {
    let inputs = report_inputs(store, patient, &q).await?;
    let p = &inputs.overview.patient;
    let header = cloudcgm::chart::PageHeader {
        patient_name: p.display_name(),
        birth_date: Some(p.birth_date),
        generated_at,
        source,
    };
    let tz = p.time_zone;
    let (window, unit, readings) = (inputs.window, inputs.unit, inputs.readings);
    tokio::task::spawn_blocking(move || {
        let trace = Trace::new(readings);
        let report = build_report(&trace, window, tz, unit);
        crate::report_pdf::report_pdf(&report, &header)
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "PDF task failed");
        BackendError::Internal
    })?
    .map_err(|e| {
        tracing::error!(error = %e, "PDF rendering failed");
        BackendError::Internal
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn q(days: Option<u32>, from: Option<&str>, to: Option<&str>) -> ReportQuery {
        ReportQuery {
            days,
            from: from.map(Into::into),
            to: to.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn presets_end_with_the_local_day_of_the_latest_reading() {
        let tz = chrono_tz::Europe::Berlin;
        let last = NaiveDate::from_ymd_opt(2024, 4, 10).unwrap();
        let (w, preset) = resolve_window(&q(Some(14), None, None), Some(last), tz).unwrap();
        assert_eq!(preset, Some(14));
        assert_eq!(
            local_date(w.start, tz),
            NaiveDate::from_ymd_opt(2024, 3, 28).unwrap()
        );
        assert_eq!(local_date(w.end - Duration::seconds(1), tz), last);
        // 2024-03-31 is in this window: one 23-hour day.
        assert_eq!(w.duration(), Duration::days(14) - Duration::hours(1));
    }

    #[test]
    fn bad_windows_are_refused_with_what_to_do() {
        let tz = chrono_tz::UTC;
        let e =
            resolve_window(&q(None, Some("2024-05-02"), Some("2024-05-01")), None, tz).unwrap_err();
        assert!(e.to_string().contains("before it starts"));
        let e =
            resolve_window(&q(None, Some("yesterday"), Some("2024-05-01")), None, tz).unwrap_err();
        assert!(e.to_string().contains("YYYY-MM-DD"));
        let e = resolve_window(&q(Some(7), None, None), None, tz).unwrap_err();
        assert!(e.to_string().contains("presets"));
        let e =
            resolve_window(&q(None, Some("2020-01-01"), Some("2024-01-01")), None, tz).unwrap_err();
        assert!(e.to_string().contains("366"));
        let e = resolve_window(&q(None, Some("2020-01-01"), None), None, tz).unwrap_err();
        assert!(e.to_string().contains("both"));
    }

    #[test]
    fn units_default_to_the_patients_and_reject_unknown_ones() {
        assert_eq!(
            resolve_unit(None, GlucoseUnit::MmolL).unwrap(),
            GlucoseUnit::MmolL
        );
        assert_eq!(
            resolve_unit(Some("mg"), GlucoseUnit::MmolL).unwrap(),
            GlucoseUnit::MgDl
        );
        assert!(resolve_unit(Some("grains"), GlucoseUnit::MgDl).is_err());
    }
}
