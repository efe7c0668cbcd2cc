//! The sandbox's resource store: every resource as JSON with a search index (see
//! `migrations/sandbox/0001_fhir_resources.sql`), and the log of submissions.

use serde_json::Value;
use sqlx::SqlitePool;

#[derive(Clone)]
pub struct FhirStore {
    #[allow(dead_code)] // used by the search and submission code that follows
    pub(crate) db: SqlitePool,
}

/// A resource as stored: its assigned id and version, and the JSON (with `id` and `meta`).
#[derive(Debug, Clone)]
pub struct Stored {
    pub resource_type: String,
    pub id: String,
    pub version: i64,
    pub last_updated: String,
    pub body: Value,
}

impl Stored {
    /// `Type/id/_history/version`, as a transaction-response `location`.
    pub fn location(&self) -> String {
        format!(
            "{}/{}/_history/{}",
            self.resource_type, self.id, self.version
        )
    }
}

/// One processed `$submit-cgm-bundle` call, for the chart's history.
#[derive(Debug, Clone)]
pub struct SubmissionRow {
    pub id: i64,
    pub received_at: String,
    pub client_id: String,
    pub patient_id: Option<String>,
    pub http_status: u16,
    pub entries: i64,
    pub created: i64,
    pub matched: i64,
    pub rejected: i64,
    pub summary: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FhirStoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("stored resource is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

impl FhirStore {
    pub fn new(db: SqlitePool) -> FhirStore {
        FhirStore { db }
    }

    /// Stores a new resource with a fresh id (its own `id` is replaced), version 1, and indexes it.
    pub async fn create(&self, _resource: Value) -> Result<Stored, FhirStoreError> {
        Err(FhirStoreError::Invalid("not implemented yet".into()))
    }

    /// Replaces a resource (new version) and re-indexes it.
    pub async fn update(
        &self,
        _resource_type: &str,
        _id: &str,
        _resource: Value,
    ) -> Result<Stored, FhirStoreError> {
        Err(FhirStoreError::Invalid("not implemented yet".into()))
    }

    pub async fn read(
        &self,
        _resource_type: &str,
        _id: &str,
    ) -> Result<Option<Stored>, FhirStoreError> {
        Ok(None)
    }

    /// Every resource of a type, oldest first (small types only: Patient, Practitioner).
    pub async fn list(&self, _resource_type: &str) -> Result<Vec<Stored>, FhirStoreError> {
        Ok(Vec::new())
    }

    /// A patient's resources of one type, newest `last_updated` first; `code` filters on `system|code`
    /// (system may be empty to match any).
    pub async fn list_for_patient(
        &self,
        _resource_type: &str,
        _patient_id: &str,
        _code: Option<(&str, &str)>,
    ) -> Result<Vec<Stored>, FhirStoreError> {
        Ok(Vec::new())
    }

    /// The patient's submissions, newest first.
    pub async fn submissions_for_patient(
        &self,
        _patient_id: &str,
    ) -> Result<Vec<SubmissionRow>, FhirStoreError> {
        Ok(Vec::new())
    }
}
