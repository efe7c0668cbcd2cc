//! Storage: the repository trait in domain types, and its SQLite implementation (the embedded default).
//! PostgreSQL arrives as a second implementation of the same trait (issue 6); callers never see SQL.

pub mod access;
pub mod jobs;
pub mod sqlite;
mod sqlite_access;
mod sqlite_jobs;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use cloudcgm::{GlucoseUnit, Reading, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PatientId(pub i64);

/// A CloudCGM patient record.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    pub id: PatientId,
    pub demo_key: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub sex: Option<String>,
    pub time_zone: chrono_tz::Tz,
    pub preferred_unit: GlucoseUnit,
}

impl Patient {
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewPatient {
    pub demo_key: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: NaiveDate,
    pub sex: Option<String>,
    pub time_zone: chrono_tz::Tz,
    pub preferred_unit: GlucoseUnit,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDevice {
    pub device_key: String,
    pub display_name: String,
    pub interval_s: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub id: i64,
    pub device_key: String,
    pub display_name: String,
    pub interval_s: u32,
}

/// A patient with counts, for lists.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientOverview {
    pub patient: Patient,
    pub devices: Vec<DeviceRow>,
    pub readings: i64,
    pub first_reading: Option<DateTime<Utc>>,
    pub last_reading: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid data: {0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Inserts a patient, or returns the existing one with the same `demo_key`.
    async fn upsert_patient(&self, p: &NewPatient) -> Result<Patient, StoreError>;
    async fn patient(&self, id: PatientId) -> Result<Patient, StoreError>;
    async fn demo_patients(&self) -> Result<Vec<PatientOverview>, StoreError>;
    async fn overview(&self, id: PatientId) -> Result<PatientOverview, StoreError>;
    /// Inserts a device or returns the existing one with the same key.
    async fn upsert_device(
        &self,
        patient: PatientId,
        d: &NewDevice,
    ) -> Result<DeviceRow, StoreError>;
    /// Inserts readings in transactions; readings already stored (same patient, time and device) are skipped.
    /// Every reading's `device` must name a device of the patient. Returns how many were added.
    async fn insert_readings(
        &self,
        patient: PatientId,
        readings: &[Reading],
    ) -> Result<u64, StoreError>;
    /// The patient's readings with `window.start <= at < window.end`, in time order.
    async fn readings_in_window(
        &self,
        patient: PatientId,
        window: &Window,
    ) -> Result<Vec<Reading>, StoreError>;
    /// Every reading of the patient, in time order.
    async fn all_readings(&self, patient: PatientId) -> Result<Vec<Reading>, StoreError>;
}
