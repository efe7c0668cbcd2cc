//! The sandbox's resource store: every resource as JSON with a search index (see
//! `migrations/sandbox/0001_fhir_resources.sql`), and the log of submissions.
//!
//! Writes go through [`insert`] and [`replace`] on a connection so that a whole `$submit-cgm-bundle` lands in
//! one transaction together with its log (RCV-5: accepted data is searchable at once, and nothing half-written
//! is ever visible).

use super::index::{index_rows, patient_of, IndexRow};
use chrono::{SecondsFormat, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Value};
use sqlx::{SqliteConnection, SqlitePool};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone)]
pub struct FhirStore {
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

    /// The weak ETag of this version (`W/"1"`).
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
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

/// One entry's outcome, for `submission_entries`.
#[derive(Debug, Clone)]
pub struct SubmissionEntryRow {
    pub resource_type: Option<String>,
    pub code: Option<String>,
    pub status: u16,
    pub location: Option<String>,
    pub diagnostics: Option<String>,
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

/// A fresh logical id: a process-wide increasing stamp (creation milliseconds shifted left 20 bits, plus a
/// sequence within the millisecond; 16 hex digits) and 64 random bits (16 hex digits). Valid as a FHIR id,
/// unguessable, never a client's id. Ids sort in creation order, so resources written in the same millisecond
/// (a whole submission) still list in the order they were sent, and a submission's inserts land together at
/// the end of the primary-key B-tree instead of all over it.
pub fn new_id() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = (Utc::now().timestamp_millis().max(0) as u64) << 20;
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(now);
    let stamp = now.max(previous + 1);
    let mut bytes = [0u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random generator is available");
    let mut id = format!("{stamp:016x}");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// `meta.lastUpdated` for a write happening now: RFC 3339 UTC with milliseconds, so it sorts as text.
pub fn now_instant() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn resource_type_of(resource: &Value) -> Result<String, FhirStoreError> {
    resource
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .ok_or_else(|| FhirStoreError::Invalid("the resource has no resourceType".into()))
}

/// Sets `id` and `meta.versionId` / `meta.lastUpdated`, keeping any other `meta` (profile, tag, source).
fn stamp(resource: &mut Value, id: &str, version: i64, last_updated: &str) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    obj.insert("id".into(), Value::String(id.to_string()));
    let meta = obj.entry("meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("versionId".into(), Value::String(version.to_string()));
        meta.insert(
            "lastUpdated".into(),
            Value::String(last_updated.to_string()),
        );
    }
}

/// Stores a new resource under `id` (version 1) and its index rows, on `conn` (inside the caller's
/// transaction).
pub async fn insert(
    conn: &mut SqliteConnection,
    id: &str,
    mut resource: Value,
    last_updated: &str,
) -> Result<Stored, FhirStoreError> {
    let resource_type = resource_type_of(&resource)?;
    stamp(&mut resource, id, 1, last_updated);
    let mut rows = vec![(resource_type, id.to_string(), resource)];
    insert_stamped(conn, &mut rows, last_updated).await?;
    let (resource_type, id, body) = rows.pop().expect("the row just inserted");
    Ok(Stored {
        resource_type,
        id,
        version: 1,
        last_updated: last_updated.to_string(),
        body,
    })
}

/// Replaces an existing resource with a new version and re-indexes it; `None` when it does not exist.
pub async fn replace(
    conn: &mut SqliteConnection,
    resource_type: &str,
    id: &str,
    mut resource: Value,
) -> Result<Option<Stored>, FhirStoreError> {
    if resource_type_of(&resource)? != resource_type {
        return Err(FhirStoreError::Invalid(format!(
            "the resource is not a {resource_type}"
        )));
    }
    let current: Option<i64> =
        sqlx::query_scalar("SELECT version FROM resources WHERE type = ? AND id = ?")
            .bind(resource_type)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(current) = current else {
        return Ok(None);
    };
    let version = current + 1;
    let last_updated = now_instant();
    stamp(&mut resource, id, version, &last_updated);
    sqlx::query("DELETE FROM search_index WHERE type = ? AND id = ?")
        .bind(resource_type)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE resources SET version = ?, last_updated = ?, patient_id = ?, body = ? \
         WHERE type = ? AND id = ?",
    )
    .bind(version)
    .bind(&last_updated)
    .bind(patient_of(resource_type, &resource))
    .bind(serde_json::to_string(&resource)?)
    .bind(resource_type)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    let index: Vec<(String, String, IndexRow)> = index_rows(resource_type, &resource)
        .into_iter()
        .map(|row| (resource_type.to_string(), id.to_string(), row))
        .collect();
    insert_index(conn, &index).await?;
    Ok(Some(Stored {
        resource_type: resource_type.to_string(),
        id: id.to_string(),
        version,
        last_updated,
        body: resource,
    }))
}

/// SQLite allows 32,766 bound values per statement; these chunk sizes stay well below it.
const RESOURCE_ROWS_PER_INSERT: usize = 500;
const INDEX_ROWS_PER_INSERT: usize = 2_000;

/// Stores many new resources (version 1, ids chosen by the caller) with few statements: a 90-day submission
/// of ~26,000 readings is ~200,000 index rows, and one statement per row would dominate the request.
pub async fn insert_many(
    conn: &mut SqliteConnection,
    items: Vec<(String, Value)>,
    last_updated: &str,
) -> Result<(), FhirStoreError> {
    let mut rows = Vec::with_capacity(items.len());
    for (id, mut resource) in items {
        let resource_type = resource_type_of(&resource)?;
        stamp(&mut resource, &id, 1, last_updated);
        rows.push((resource_type, id, resource));
    }
    insert_stamped(conn, &mut rows, last_updated).await
}

/// Writes version-1 rows for `(type, id, resource)` already stamped with their id and meta, and their index
/// rows. Sorts `rows` into key order: each B-tree page is filled once instead of being split again and again.
async fn insert_stamped(
    conn: &mut SqliteConnection,
    rows: &mut [(String, String, Value)],
    last_updated: &str,
) -> Result<(), FhirStoreError> {
    rows.sort_unstable_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut resource_rows = Vec::with_capacity(rows.len());
    let mut index = Vec::new();
    for (resource_type, id, resource) in rows.iter() {
        for row in index_rows(resource_type, resource) {
            index.push((resource_type.clone(), id.clone(), row));
        }
        let patient = patient_of(resource_type, resource);
        let body = serde_json::to_string(resource)?;
        resource_rows.push((resource_type, id, patient, body));
    }
    for chunk in resource_rows.chunks(RESOURCE_ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO resources (type, id, version, last_updated, patient_id, body) ",
        );
        q.push_values(chunk, |mut b, (t, id, patient, body)| {
            b.push_bind(t.as_str())
                .push_bind(id.as_str())
                .push_bind(1_i64)
                .push_bind(last_updated)
                .push_bind(patient)
                .push_bind(body);
        });
        q.build().execute(&mut *conn).await?;
    }
    insert_index(conn, &index).await
}

/// Writes index rows `(type, id, row)`, already in key order, in chunks.
async fn insert_index(
    conn: &mut SqliteConnection,
    index: &[(String, String, IndexRow)],
) -> Result<(), FhirStoreError> {
    for chunk in index.chunks(INDEX_ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO search_index (type, id, param, system, value, lo_ms, hi_ms) ",
        );
        q.push_values(chunk, |mut b, (t, id, row)| {
            b.push_bind(t)
                .push_bind(id)
                .push_bind(row.param)
                .push_bind(&row.system)
                .push_bind(&row.value)
                .push_bind(row.lo_ms)
                .push_bind(row.hi_ms);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// One stored identifier: which resource carries `system|value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierHit {
    pub system: Option<String>,
    pub value: String,
    pub id: String,
    pub version: i64,
}

/// Every stored `resource_type` in compartment `patient` (`None`: resources in no compartment) carrying an
/// identifier whose value is one of `values`, for conditional create and dedup. Restricting matches to the
/// compartment means a client can never learn of, or be pointed at, another patient's resource.
pub async fn identifier_hits(
    conn: &mut SqliteConnection,
    resource_type: &str,
    patient: Option<&str>,
    values: &[&str],
) -> Result<Vec<IdentifierHit>, FhirStoreError> {
    let mut hits = Vec::new();
    for chunk in values.chunks(RESOURCE_ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT s.system, s.value, r.id, r.version FROM search_index s \
             JOIN resources r ON r.type = s.type AND r.id = s.id \
             WHERE s.type = ",
        );
        q.push_bind(resource_type)
            .push(" AND s.param = 'identifier' AND r.patient_id IS ")
            .push_bind(patient)
            .push(" AND s.value IN (");
        let mut list = q.separated(", ");
        for v in chunk {
            list.push_bind(*v);
        }
        q.push(") ORDER BY r.id");
        let rows: Vec<(Option<String>, String, String, i64)> =
            q.build_query_as().fetch_all(&mut *conn).await?;
        hits.extend(
            rows.into_iter()
                .map(|(system, value, id, version)| IdentifierHit {
                    system,
                    value,
                    id,
                    version,
                }),
        );
    }
    Ok(hits)
}

/// The compartment (`patient_id`) and version of a stored resource, when it exists.
pub async fn compartment_of(
    conn: &mut SqliteConnection,
    resource_type: &str,
    id: &str,
) -> Result<Option<Option<String>>, FhirStoreError> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT patient_id FROM resources WHERE type = ? AND id = ?")
            .bind(resource_type)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|r| r.0))
}

fn stored(row: (String, String, i64, String, String)) -> Result<Stored, FhirStoreError> {
    let (resource_type, id, version, last_updated, body) = row;
    Ok(Stored {
        resource_type,
        id,
        version,
        last_updated,
        body: serde_json::from_str(&body)?,
    })
}

/// Logs one `$submit-cgm-bundle` call and its entries (on the caller's transaction); returns its id.
pub async fn log_submission(
    conn: &mut SqliteConnection,
    row: &SubmissionRow,
    entries: &[SubmissionEntryRow],
) -> Result<i64, FhirStoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO submissions (received_at, client_id, patient_id, http_status, entries, created, \
         matched, rejected, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&row.received_at)
    .bind(&row.client_id)
    .bind(&row.patient_id)
    .bind(row.http_status as i64)
    .bind(row.entries)
    .bind(row.created)
    .bind(row.matched)
    .bind(row.rejected)
    .bind(&row.summary)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<(usize, &SubmissionEntryRow)> = entries.iter().enumerate().collect();
    for chunk in rows.chunks(INDEX_ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO submission_entries (submission_id, idx, resource_type, code, status, location, \
             diagnostics) ",
        );
        q.push_values(chunk, |mut b, (idx, e)| {
            b.push_bind(id)
                .push_bind(*idx as i64)
                .push_bind(&e.resource_type)
                .push_bind(&e.code)
                .push_bind(e.status as i64)
                .push_bind(&e.location)
                .push_bind(&e.diagnostics);
        });
        q.build().execute(&mut *conn).await?;
    }
    Ok(id)
}

impl FhirStore {
    pub fn new(db: SqlitePool) -> FhirStore {
        FhirStore { db }
    }

    /// Stores a new resource with a fresh id (its own `id` is replaced), version 1, and indexes it.
    pub async fn create(&self, resource: Value) -> Result<Stored, FhirStoreError> {
        let mut tx = self.db.begin().await?;
        let stored = insert(&mut tx, &new_id(), resource, &now_instant()).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Replaces a resource (new version) and re-indexes it.
    pub async fn update(
        &self,
        resource_type: &str,
        id: &str,
        resource: Value,
    ) -> Result<Stored, FhirStoreError> {
        let mut tx = self.db.begin().await?;
        let stored = replace(&mut tx, resource_type, id, resource)
            .await?
            .ok_or_else(|| {
                FhirStoreError::Invalid(format!("{resource_type}/{id} does not exist"))
            })?;
        tx.commit().await?;
        Ok(stored)
    }

    pub async fn read(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Stored>, FhirStoreError> {
        let row: Option<(String, String, i64, String, String)> = sqlx::query_as(
            "SELECT type, id, version, last_updated, body FROM resources WHERE type = ? AND id = ?",
        )
        .bind(resource_type)
        .bind(id)
        .fetch_optional(&self.db)
        .await?;
        row.map(stored).transpose()
    }

    /// Resources of `resource_type` carrying identifier `system|value`, in any compartment (for the EHR's own
    /// bookkeeping such as seeding; submissions use the compartment-bound [`identifier_hits`]).
    pub async fn find_by_identifier(
        &self,
        resource_type: &str,
        system: &str,
        value: &str,
    ) -> Result<Vec<Stored>, FhirStoreError> {
        let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
            "SELECT r.type, r.id, r.version, r.last_updated, r.body FROM resources r \
             WHERE r.type = ? AND r.id IN (SELECT id FROM search_index \
               WHERE type = ? AND param = 'identifier' AND value = ? AND system = ?) \
             ORDER BY r.id",
        )
        .bind(resource_type)
        .bind(resource_type)
        .bind(value)
        .bind(system)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(stored).collect()
    }

    /// Every resource of a type, oldest first (small types only: Patient, Practitioner).
    pub async fn list(&self, resource_type: &str) -> Result<Vec<Stored>, FhirStoreError> {
        let rows: Vec<(String, String, i64, String, String)> = sqlx::query_as(
            "SELECT type, id, version, last_updated, body FROM resources WHERE type = ? \
             ORDER BY last_updated, id",
        )
        .bind(resource_type)
        .fetch_all(&self.db)
        .await?;
        rows.into_iter().map(stored).collect()
    }

    /// A patient's resources of one type, newest `last_updated` first; `code` filters on `system|code`
    /// (system may be empty to match any).
    pub async fn list_for_patient(
        &self,
        resource_type: &str,
        patient_id: &str,
        code: Option<(&str, &str)>,
    ) -> Result<Vec<Stored>, FhirStoreError> {
        let rows: Vec<(String, String, i64, String, String)> = match code {
            None => {
                sqlx::query_as(
                    "SELECT type, id, version, last_updated, body FROM resources \
                     WHERE patient_id = ? AND type = ? ORDER BY last_updated DESC, id DESC",
                )
                .bind(patient_id)
                .bind(resource_type)
                .fetch_all(&self.db)
                .await?
            }
            Some((system, code)) => {
                sqlx::query_as(
                    "SELECT r.type, r.id, r.version, r.last_updated, r.body FROM resources r \
                     WHERE r.patient_id = ? AND r.type = ? AND r.id IN (SELECT id FROM search_index \
                       WHERE type = ? AND param = 'code' AND value = ? AND (? = '' OR system = ?)) \
                     ORDER BY r.last_updated DESC, r.id DESC",
                )
                .bind(patient_id)
                .bind(resource_type)
                .bind(resource_type)
                .bind(code)
                .bind(system)
                .bind(system)
                .fetch_all(&self.db)
                .await?
            }
        };
        rows.into_iter().map(stored).collect()
    }

    /// The patient's submissions, newest first.
    pub async fn submissions_for_patient(
        &self,
        patient_id: &str,
    ) -> Result<Vec<SubmissionRow>, FhirStoreError> {
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            i64,
            i64,
            i64,
            i64,
            i64,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, received_at, client_id, patient_id, http_status, entries, created, matched, \
             rejected, summary FROM submissions WHERE patient_id = ? ORDER BY received_at DESC, id DESC",
        )
        .bind(patient_id)
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SubmissionRow {
                id: r.0,
                received_at: r.1,
                client_id: r.2,
                patient_id: r.3,
                http_status: u16::try_from(r.4).unwrap_or(500),
                entries: r.5,
                created: r.6,
                matched: r.7,
                rejected: r.8,
                summary: r.9,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn insert_many_stores_and_indexes_every_resource_in_chunks() {
        let (s, _dir) = store().await;
        let items: Vec<(String, Value)> = (0..1_234)
            .map(|i| {
                (
                    format!("id{i}"),
                    json!({"resourceType":"Observation","identifier":[{"system":"urn:r","value":format!("v{i}")}],
                        "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-05-02T10:15:00Z",
                        "code":{"coding":[{"system":"http://loinc.org","code":"99504-3"}]}}),
                )
            })
            .collect();
        let mut tx = s.db.begin().await.unwrap();
        insert_many(&mut tx, items, "2024-06-01T00:00:00.000Z")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let all = s.list_for_patient("Observation", "p1", None).await.unwrap();
        assert_eq!(all.len(), 1_234);
        let one = s.read("Observation", "id1233").await.unwrap().unwrap();
        assert_eq!(one.body["id"], "id1233");
        assert_eq!(one.body["meta"]["lastUpdated"], "2024-06-01T00:00:00.000Z");
        let mut conn = s.db.acquire().await.unwrap();
        let values: Vec<String> = (0..1_234).map(|i| format!("v{i}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let hits = identifier_hits(&mut conn, "Observation", Some("p1"), &refs)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1_234, "lookups are chunked too");
    }

    async fn store() -> (FhirStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/s.db?mode=rwc", dir.path().display());
        (
            FhirStore::new(crate::sandbox::db::connect(&url).await.unwrap()),
            dir,
        )
    }

    #[tokio::test]
    async fn create_assigns_a_fresh_id_and_meta_and_is_searchable_by_identifier() {
        let (s, _dir) = store().await;
        let obs = json!({"resourceType":"Observation","id":"client-id","meta":{"profile":["p"]},
            "identifier":[{"system":"urn:x","value":"r1"}],"subject":{"reference":"Patient/p1"},
            "code":{"coding":[{"system":"http://loinc.org","code":"99504-3"}]}});
        let a = s.create(obs.clone()).await.unwrap();
        assert_ne!(a.id, "client-id", "client ids are never kept");
        assert_eq!(a.id.len(), 32);
        assert_eq!(a.body["meta"]["versionId"], "1");
        assert_eq!(a.body["meta"]["profile"][0], "p", "other meta is kept");
        let mut conn = s.db.acquire().await.unwrap();
        let found = identifier_hits(&mut conn, "Observation", Some("p1"), &["r1", "r2"])
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].id.as_str(), found[0].system.as_deref()),
            (a.id.as_str(), Some("urn:x"))
        );
        assert!(
            identifier_hits(&mut conn, "Observation", Some("p2"), &["r1"])
                .await
                .unwrap()
                .is_empty(),
            "another patient's compartment never matches"
        );
        drop(conn);
        let listed = s
            .list_for_patient("Observation", "p1", Some(("", "99504-3")))
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert!(s
            .list_for_patient("Observation", "p1", Some(("", "4548-4")))
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn update_bumps_the_version_and_reindexes() {
        let (s, _dir) = store().await;
        let a = s
            .create(json!({"resourceType":"ServiceRequest","status":"active","subject":{"reference":"Patient/p1"}}))
            .await
            .unwrap();
        let b = s
            .update(
                "ServiceRequest",
                &a.id,
                json!({"resourceType":"ServiceRequest","status":"revoked","subject":{"reference":"Patient/p2"}}),
            )
            .await
            .unwrap();
        assert_eq!(b.version, 2);
        assert_eq!(b.location(), format!("ServiceRequest/{}/_history/2", a.id));
        assert!(s
            .list_for_patient("ServiceRequest", "p1", None)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            s.list_for_patient("ServiceRequest", "p2", None)
                .await
                .unwrap()
                .len(),
            1
        );
        assert!(s
            .update(
                "ServiceRequest",
                "nope",
                json!({"resourceType":"ServiceRequest"})
            )
            .await
            .is_err());
    }
}
