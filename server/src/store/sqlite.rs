//! The SQLite store: one file created on first run, WAL journal, foreign keys on, migrations embedded from
//! `server/migrations/sqlite`. Readings are inserted in batches inside one transaction per call.

use super::{
    DeviceRow, NewDevice, NewPatient, Patient, PatientId, PatientOverview, Store, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use cloudcgm::{DeviceId, GlucoseUnit, Reading, Sentinel, Window};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, SqlitePool};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Rows per INSERT statement: 6 binds each stays far below SQLite's 32,766 variable limit while amortising
/// statement overhead.
const INSERT_BATCH: usize = 1_000;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` and runs the migrations.
    pub async fn connect(url: &str) -> Result<SqliteStore, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = opts.get_filename().parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Invalid(format!(
                        "cannot create database folder {}: {e}",
                        parent.display()
                    ))
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn unit_code(u: GlucoseUnit) -> i64 {
    match u {
        GlucoseUnit::MgDl => 0,
        GlucoseUnit::MmolL => 1,
    }
}

fn unit_from_code(c: i64) -> Result<GlucoseUnit, StoreError> {
    match c {
        0 => Ok(GlucoseUnit::MgDl),
        1 => Ok(GlucoseUnit::MmolL),
        other => Err(StoreError::Invalid(format!("unit code {other}"))),
    }
}

fn sentinel_code(s: Option<Sentinel>) -> Option<i64> {
    s.map(|s| match s {
        Sentinel::Low => 0,
        Sentinel::High => 1,
    })
}

pub(crate) fn ms_to_utc(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Invalid(format!("timestamp {ms} ms")))
}

fn patient_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Patient, StoreError> {
    let birth: String = row.try_get("birth_date")?;
    let tz: String = row.try_get("time_zone")?;
    let unit: String = row.try_get("preferred_unit")?;
    Ok(Patient {
        id: PatientId(row.try_get("id")?),
        demo_key: row.try_get("demo_key")?,
        given_name: row.try_get("given_name")?,
        family_name: row.try_get("family_name")?,
        birth_date: NaiveDate::parse_from_str(&birth, "%Y-%m-%d")
            .map_err(|e| StoreError::Invalid(format!("birth_date {birth:?}: {e}")))?,
        sex: row.try_get("sex")?,
        time_zone: cloudcgm::localtime::parse_tz(&tz)
            .map_err(|e| StoreError::Invalid(e.to_string()))?,
        preferred_unit: unit
            .parse()
            .map_err(|e: cloudcgm::units::UnknownUnit| StoreError::Invalid(e.to_string()))?,
    })
}

const PATIENT_COLUMNS: &str =
    "id, demo_key, given_name, family_name, birth_date, sex, time_zone, preferred_unit";

impl SqliteStore {
    async fn devices(&self, patient: PatientId) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, device_key, display_name, interval_s FROM devices WHERE patient_id = ? ORDER BY id",
        )
        .bind(patient.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DeviceRow {
                    id: r.try_get("id")?,
                    device_key: r.try_get("device_key")?,
                    display_name: r.try_get("display_name")?,
                    interval_s: u32::try_from(r.try_get::<i64, _>("interval_s")?)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                })
            })
            .collect()
    }

    async fn overview_of(&self, patient: Patient) -> Result<PatientOverview, StoreError> {
        let devices = self.devices(patient.id).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(at_ms) AS first_ms, MAX(at_ms) AS last_ms FROM readings WHERE patient_id = ?",
        )
        .bind(patient.id.0)
        .fetch_one(&self.pool)
        .await?;
        let first: Option<i64> = row.try_get("first_ms")?;
        let last: Option<i64> = row.try_get("last_ms")?;
        Ok(PatientOverview {
            patient,
            devices,
            readings: row.try_get("n")?,
            first_reading: first.map(ms_to_utc).transpose()?,
            last_reading: last.map(ms_to_utc).transpose()?,
        })
    }

    async fn query_readings(
        &self,
        patient: PatientId,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Reading>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.at_ms, r.value, r.unit, r.sentinel, d.device_key, d.interval_s
             FROM readings r JOIN devices d ON d.id = r.device_id
             WHERE r.patient_id = ? AND r.at_ms >= ? AND r.at_ms < ?
             ORDER BY r.at_ms, r.device_id",
        )
        .bind(patient.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        // Device keys repeat on every row: intern them so 26,000 readings share a handful of strings.
        let mut devices: HashMap<String, DeviceId> = HashMap::new();
        rows.iter()
            .map(|r| {
                let key: String = r.try_get("device_key")?;
                let device = devices
                    .entry(key)
                    .or_insert_with_key(|k| DeviceId::new(k.clone()))
                    .clone();
                let sentinel: Option<i64> = r.try_get("sentinel")?;
                Ok(Reading {
                    at: ms_to_utc(r.try_get("at_ms")?)?,
                    value: r.try_get("value")?,
                    unit: unit_from_code(r.try_get("unit")?)?,
                    sentinel: match sentinel {
                        None => None,
                        Some(0) => Some(Sentinel::Low),
                        Some(_) => Some(Sentinel::High),
                    },
                    device,
                    interval_s: u32::try_from(r.try_get::<i64, _>("interval_s")?)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn upsert_patient(&self, p: &NewPatient) -> Result<Patient, StoreError> {
        if let Some(key) = &p.demo_key {
            let existing = sqlx::query(&format!(
                "SELECT {PATIENT_COLUMNS} FROM patients WHERE demo_key = ?"
            ))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = existing {
                return patient_from_row(&row);
            }
        }
        let row = sqlx::query(&format!(
            "INSERT INTO patients (demo_key, given_name, family_name, birth_date, sex, time_zone, preferred_unit, created_at_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {PATIENT_COLUMNS}"
        ))
        .bind(&p.demo_key)
        .bind(&p.given_name)
        .bind(&p.family_name)
        .bind(p.birth_date.format("%Y-%m-%d").to_string())
        .bind(&p.sex)
        .bind(p.time_zone.name())
        .bind(p.preferred_unit.ucum())
        .bind(Utc::now().timestamp_millis())
        .fetch_one(&self.pool)
        .await?;
        patient_from_row(&row)
    }

    async fn patient(&self, id: PatientId) -> Result<Patient, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("patient {}", id.0)))?;
        patient_from_row(&row)
    }

    async fn demo_patients(&self) -> Result<Vec<PatientOverview>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE demo_key IS NOT NULL ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.overview_of(patient_from_row(row)?).await?);
        }
        Ok(out)
    }

    async fn overview(&self, id: PatientId) -> Result<PatientOverview, StoreError> {
        let p = self.patient(id).await?;
        self.overview_of(p).await
    }

    async fn upsert_device(
        &self,
        patient: PatientId,
        d: &NewDevice,
    ) -> Result<DeviceRow, StoreError> {
        // The no-op DO UPDATE makes RETURNING yield the existing row on conflict.
        let row = sqlx::query(
            "INSERT INTO devices (patient_id, device_key, display_name, interval_s) VALUES (?, ?, ?, ?)
             ON CONFLICT (patient_id, device_key) DO UPDATE SET device_key = excluded.device_key
             RETURNING id, device_key, display_name, interval_s",
        )
        .bind(patient.0)
        .bind(&d.device_key)
        .bind(&d.display_name)
        .bind(i64::from(d.interval_s))
        .fetch_one(&self.pool)
        .await?;
        Ok(DeviceRow {
            id: row.try_get("id")?,
            device_key: row.try_get("device_key")?,
            display_name: row.try_get("display_name")?,
            interval_s: u32::try_from(row.try_get::<i64, _>("interval_s")?)
                .map_err(|e| StoreError::Invalid(e.to_string()))?,
        })
    }

    async fn insert_readings(
        &self,
        patient: PatientId,
        readings: &[Reading],
    ) -> Result<u64, StoreError> {
        let devices: HashMap<String, i64> = self
            .devices(patient)
            .await?
            .into_iter()
            .map(|d| (d.device_key, d.id))
            .collect();
        let mut tx = self.pool.begin().await?;
        let mut added = 0u64;
        for chunk in readings.chunks(INSERT_BATCH) {
            let mut rows = Vec::with_capacity(chunk.len());
            for r in chunk {
                if !r.value.is_finite() || r.value < 0.0 {
                    return Err(StoreError::Invalid(format!(
                        "reading at {} has value {}",
                        r.at, r.value
                    )));
                }
                let device = devices.get(&r.device.0).copied().ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "device {:?} is not registered for this patient",
                        r.device.0
                    ))
                })?;
                rows.push((
                    r.at.timestamp_millis(),
                    device,
                    r.value,
                    unit_code(r.unit),
                    sentinel_code(r.sentinel),
                ));
            }
            let mut qb = QueryBuilder::new(
                "INSERT OR IGNORE INTO readings (patient_id, at_ms, device_id, value, unit, sentinel) ",
            );
            qb.push_values(rows, |mut b, (at, dev, v, u, s)| {
                b.push_bind(patient.0)
                    .push_bind(at)
                    .push_bind(dev)
                    .push_bind(v)
                    .push_bind(u)
                    .push_bind(s);
            });
            added += qb.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(added)
    }

    async fn readings_in_window(
        &self,
        patient: PatientId,
        window: &Window,
    ) -> Result<Vec<Reading>, StoreError> {
        self.query_readings(
            patient,
            window.start.timestamp_millis(),
            window.end.timestamp_millis(),
        )
        .await
    }

    async fn all_readings(&self, patient: PatientId) -> Result<Vec<Reading>, StoreError> {
        self.query_readings(patient, i64::MIN, i64::MAX).await
    }
}
