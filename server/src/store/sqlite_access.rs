//! [`AccessStore`] on SQLite. Single-use steps (taking a pending launch, consuming a sharing code) are one
//! conditional statement each, so two requests racing for the same state or code cannot both win.

use super::access::{
    AccessStore, AuditAction, AuditEventRow, FailureFilter, LaunchId, LaunchRow, LaunchStatus,
    LinkError, LinkId, LinkRow, NewAuditEvent, NewLaunch, NewLink, Role, SealedTokens,
    SharingCodeId, SharingCodeRow,
};
use super::sqlite::{ms_to_utc, SqliteStore};
use super::{PatientId, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn opt_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(ms_to_utc).transpose()
}

const LAUNCH_COLUMNS: &str = "id, ehr_id, fhir_user, ehr_patient_id, encounter, need_patient_banner, \
     ehr_patient_name, ehr_patient_birth, granted_scope, access_token, refresh_token, expires_at_ms, status, \
     created_at_ms";

fn launch_from_row(r: &SqliteRow) -> Result<LaunchRow, StoreError> {
    let status: String = r.try_get("status")?;
    Ok(LaunchRow {
        id: LaunchId(r.try_get("id")?),
        ehr_id: r.try_get("ehr_id")?,
        fhir_user: r.try_get("fhir_user")?,
        ehr_patient_id: r.try_get("ehr_patient_id")?,
        encounter: r.try_get("encounter")?,
        need_patient_banner: r.try_get::<i64, _>("need_patient_banner")? != 0,
        ehr_patient_name: r.try_get("ehr_patient_name")?,
        ehr_patient_birth: r.try_get("ehr_patient_birth")?,
        granted_scope: r.try_get("granted_scope")?,
        tokens: SealedTokens {
            access_token: r.try_get("access_token")?,
            refresh_token: r.try_get("refresh_token")?,
            expires_at: opt_ms(r.try_get("expires_at_ms")?)?,
        },
        status: if status == "needs_relaunch" {
            LaunchStatus::NeedsRelaunch
        } else {
            LaunchStatus::Active
        },
        created_at: ms_to_utc(r.try_get("created_at_ms")?)?,
    })
}

const LINK_COLUMNS: &str =
    "id, ehr_id, ehr_patient_id, patient_id, linked_by, linked_at_ms, mismatch_reason, \
     unlinked_at_ms, unlinked_by, unlink_reason";

fn link_from_row(r: &SqliteRow) -> Result<LinkRow, StoreError> {
    Ok(LinkRow {
        id: LinkId(r.try_get("id")?),
        ehr_id: r.try_get("ehr_id")?,
        ehr_patient_id: r.try_get("ehr_patient_id")?,
        patient_id: PatientId(r.try_get("patient_id")?),
        linked_by: r.try_get("linked_by")?,
        linked_at: ms_to_utc(r.try_get("linked_at_ms")?)?,
        mismatch_reason: r.try_get("mismatch_reason")?,
        unlinked_at: opt_ms(r.try_get("unlinked_at_ms")?)?,
        unlinked_by: r.try_get("unlinked_by")?,
        unlink_reason: r.try_get("unlink_reason")?,
    })
}

const CODE_COLUMNS: &str =
    "id, patient_id, sealed_code, created_at_ms, expires_at_ms, used_at_ms, revoked_at_ms";

fn code_from_row(r: &SqliteRow) -> Result<SharingCodeRow, StoreError> {
    Ok(SharingCodeRow {
        id: SharingCodeId(r.try_get("id")?),
        patient_id: PatientId(r.try_get("patient_id")?),
        sealed_code: r.try_get("sealed_code")?,
        created_at: ms_to_utc(r.try_get("created_at_ms")?)?,
        expires_at: ms_to_utc(r.try_get("expires_at_ms")?)?,
        used_at: opt_ms(r.try_get("used_at_ms")?)?,
        revoked_at: opt_ms(r.try_get("revoked_at_ms")?)?,
    })
}

/// The unique-index name in a constraint error, mapped to what it means for a link.
fn link_conflict(e: sqlx::Error) -> LinkError {
    let text = e.to_string();
    if text.contains("patient_links.ehr_id, patient_links.ehr_patient_id") {
        LinkError::EhrPatientLinked
    } else if text.contains("patient_links.ehr_id, patient_links.patient_id") {
        LinkError::PatientLinked
    } else {
        LinkError::Store(e.into())
    }
}

#[async_trait]
impl AccessStore for SqliteStore {
    async fn insert_pending(
        &self,
        state_hash: &str,
        sealed: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO pending_launches (state_hash, sealed, created_at_ms) VALUES (?, ?, ?) \
             ON CONFLICT (state_hash) DO NOTHING",
        )
        .bind(state_hash)
        .bind(sealed)
        .bind(at.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn take_pending(
        &self,
        state_hash: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM pending_launches WHERE state_hash = ? RETURNING sealed, created_at_ms",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok((
                r.try_get("sealed")?,
                ms_to_utc(r.try_get("created_at_ms")?)?,
            ))
        })
        .transpose()
    }

    async fn purge_pending(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM pending_launches WHERE created_at_ms < ?")
            .bind(before.timestamp_millis())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn insert_launch(
        &self,
        l: &NewLaunch,
        seal: &(dyn Fn(LaunchId) -> Result<SealedTokens, String> + Send + Sync),
    ) -> Result<LaunchId, StoreError> {
        let now = Utc::now().timestamp_millis();
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO launches (ehr_id, fhir_user, ehr_patient_id, encounter, need_patient_banner, \
             ehr_patient_name, ehr_patient_birth, granted_scope, access_token, created_at_ms, updated_at_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?) RETURNING id",
        )
        .bind(&l.ehr_id)
        .bind(&l.fhir_user)
        .bind(&l.ehr_patient_id)
        .bind(&l.encounter)
        .bind(l.need_patient_banner as i64)
        .bind(&l.ehr_patient_name)
        .bind(&l.ehr_patient_birth)
        .bind(&l.granted_scope)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let tokens = seal(LaunchId(id)).map_err(StoreError::Invalid)?;
        sqlx::query(
            "UPDATE launches SET access_token = ?, refresh_token = ?, expires_at_ms = ? WHERE id = ?",
        )
        .bind(&tokens.access_token)
        .bind(&tokens.refresh_token)
        .bind(tokens.expires_at.map(|t| t.timestamp_millis()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(LaunchId(id))
    }

    async fn launch(&self, id: LaunchId) -> Result<Option<LaunchRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LAUNCH_COLUMNS} FROM launches WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(launch_from_row).transpose()
    }

    async fn update_tokens(&self, id: LaunchId, t: &SealedTokens) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE launches SET access_token = ?, refresh_token = ?, expires_at_ms = ?, status = 'active', \
             updated_at_ms = ? WHERE id = ?",
        )
        .bind(&t.access_token)
        .bind(&t.refresh_token)
        .bind(t.expires_at.map(|t| t.timestamp_millis()))
        .bind(Utc::now().timestamp_millis())
        .bind(id.0)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn set_launch_status(
        &self,
        id: LaunchId,
        status: LaunchStatus,
    ) -> Result<(), StoreError> {
        let status = match status {
            LaunchStatus::Active => "active",
            LaunchStatus::NeedsRelaunch => "needs_relaunch",
        };
        sqlx::query("UPDATE launches SET status = ?, updated_at_ms = ? WHERE id = ?")
            .bind(status)
            .bind(Utc::now().timestamp_millis())
            .bind(id.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn active_launches_for_ehr_patient(
        &self,
        ehr_id: &str,
        ehr_patient_id: &str,
    ) -> Result<Vec<LaunchRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LAUNCH_COLUMNS} FROM launches WHERE ehr_id = ? AND ehr_patient_id = ? AND status = 'active' \
             ORDER BY created_at_ms DESC, id DESC LIMIT 20"
        ))
        .bind(ehr_id)
        .bind(ehr_patient_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(launch_from_row).collect()
    }

    async fn launches_needing_relaunch(&self, ehr_id: &str) -> Result<Vec<LaunchRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LAUNCH_COLUMNS} FROM launches WHERE ehr_id = ? AND status = 'needs_relaunch' \
             ORDER BY updated_at_ms DESC LIMIT 100"
        ))
        .bind(ehr_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(launch_from_row).collect()
    }

    async fn member_role(&self, ehr_id: &str, fhir_user: &str) -> Result<Option<Role>, StoreError> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM practice_members WHERE ehr_id = ? AND fhir_user = ?",
        )
        .bind(ehr_id)
        .bind(fhir_user)
        .fetch_optional(self.pool())
        .await?;
        Ok(role.as_deref().and_then(Role::parse))
    }

    async fn ensure_member(
        &self,
        ehr_id: &str,
        fhir_user: &str,
        role: Role,
    ) -> Result<Role, StoreError> {
        sqlx::query(
            "INSERT INTO practice_members (ehr_id, fhir_user, role, created_at_ms) VALUES (?, ?, ?, ?) \
             ON CONFLICT (ehr_id, fhir_user) DO NOTHING",
        )
        .bind(ehr_id)
        .bind(fhir_user)
        .bind(role.as_str())
        .bind(Utc::now().timestamp_millis())
        .execute(self.pool())
        .await?;
        self.member_role(ehr_id, fhir_user)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("member {fhir_user}")))
    }

    async fn link(&self, id: LinkId) -> Result<Option<LinkRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM patient_links WHERE id = ?"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn live_link_for_ehr_patient(
        &self,
        ehr_id: &str,
        ehr_patient_id: &str,
    ) -> Result<Option<LinkRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM patient_links \
             WHERE ehr_id = ? AND ehr_patient_id = ? AND unlinked_at_ms IS NULL"
        ))
        .bind(ehr_id)
        .bind(ehr_patient_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn links(
        &self,
        ehr_id: &str,
        include_unlinked: bool,
    ) -> Result<Vec<LinkRow>, StoreError> {
        let live = if include_unlinked {
            ""
        } else {
            " AND unlinked_at_ms IS NULL"
        };
        let rows = sqlx::query(&format!(
            "SELECT {LINK_COLUMNS} FROM patient_links WHERE ehr_id = ?{live} ORDER BY linked_at_ms DESC, id DESC"
        ))
        .bind(ehr_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(link_from_row).collect()
    }

    async fn link_with_code(
        &self,
        code: SharingCodeId,
        link: &NewLink,
        now: DateTime<Utc>,
    ) -> Result<LinkRow, LinkError> {
        let now_ms = now.timestamp_millis();
        let mut tx = self.pool().begin().await.map_err(StoreError::from)?;
        let consumed = sqlx::query(
            "UPDATE sharing_codes SET used_at_ms = ? WHERE id = ? AND patient_id = ? AND used_at_ms IS NULL \
             AND revoked_at_ms IS NULL AND expires_at_ms > ?",
        )
        .bind(now_ms)
        .bind(code.0)
        .bind(link.patient_id.0)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if consumed.rows_affected() != 1 {
            return Err(LinkError::CodeGone);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO patient_links (ehr_id, ehr_patient_id, patient_id, linked_by, linked_at_ms, \
             mismatch_reason) VALUES (?, ?, ?, ?, ?, ?) RETURNING {LINK_COLUMNS}"
        ))
        .bind(&link.ehr_id)
        .bind(&link.ehr_patient_id)
        .bind(link.patient_id.0)
        .bind(&link.linked_by)
        .bind(now_ms)
        .bind(&link.mismatch_reason)
        .fetch_one(&mut *tx)
        .await
        .map_err(link_conflict)?;
        let out = link_from_row(&row)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(out)
    }

    async fn unlink(
        &self,
        ehr_id: &str,
        link: LinkId,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkRow>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE patient_links SET unlinked_at_ms = ?, unlinked_by = ?, unlink_reason = ? \
             WHERE id = ? AND ehr_id = ? AND unlinked_at_ms IS NULL RETURNING {LINK_COLUMNS}"
        ))
        .bind(now.timestamp_millis())
        .bind(by)
        .bind(reason)
        .bind(link.0)
        .bind(ehr_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn issue_code(
        &self,
        patient: PatientId,
        lookup: &[u8],
        sealed_code: &(dyn Fn(SharingCodeId) -> Result<String, String> + Send + Sync),
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<SharingCodeRow, StoreError> {
        let now_ms = now.timestamp_millis();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "UPDATE sharing_codes SET revoked_at_ms = ? WHERE patient_id = ? AND used_at_ms IS NULL \
             AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(patient.0)
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sharing_codes (patient_id, lookup, sealed_code, created_at_ms, expires_at_ms) \
             VALUES (?, ?, '', ?, ?) RETURNING id",
        )
        .bind(patient.0)
        .bind(lookup)
        .bind(now_ms)
        .bind(expires_at.timestamp_millis())
        .fetch_one(&mut *tx)
        .await?;
        let sealed = sealed_code(SharingCodeId(id)).map_err(StoreError::Invalid)?;
        let row = sqlx::query(&format!(
            "UPDATE sharing_codes SET sealed_code = ? WHERE id = ? RETURNING {CODE_COLUMNS}"
        ))
        .bind(&sealed)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let out = code_from_row(&row)?;
        tx.commit().await?;
        Ok(out)
    }

    async fn code_by_lookup(&self, lookup: &[u8]) -> Result<Option<SharingCodeRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CODE_COLUMNS} FROM sharing_codes WHERE lookup = ?"
        ))
        .bind(lookup)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(code_from_row).transpose()
    }

    async fn current_code(&self, patient: PatientId) -> Result<Option<SharingCodeRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CODE_COLUMNS} FROM sharing_codes WHERE patient_id = ? \
             ORDER BY created_at_ms DESC, id DESC LIMIT 1"
        ))
        .bind(patient.0)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(code_from_row).transpose()
    }

    async fn revoke_codes(
        &self,
        patient: PatientId,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE sharing_codes SET revoked_at_ms = ? WHERE patient_id = ? AND used_at_ms IS NULL \
             AND revoked_at_ms IS NULL",
        )
        .bind(now.timestamp_millis())
        .bind(patient.0)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    async fn upsert_portal_account(
        &self,
        patient: PatientId,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO portal_accounts (patient_id, username, password_hash, created_at_ms) \
             VALUES (?, ?, ?, ?) ON CONFLICT (patient_id) DO UPDATE SET username = excluded.username, \
             password_hash = excluded.password_hash",
        )
        .bind(patient.0)
        .bind(username)
        .bind(password_hash)
        .bind(Utc::now().timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn portal_account(
        &self,
        username: &str,
    ) -> Result<Option<(PatientId, String)>, StoreError> {
        let row =
            sqlx::query("SELECT patient_id, password_hash FROM portal_accounts WHERE username = ?")
                .bind(username)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| {
            Ok((
                PatientId(r.try_get("patient_id")?),
                r.try_get("password_hash")?,
            ))
        })
        .transpose()
    }

    async fn has_portal_account(&self, patient: PatientId) -> Result<bool, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM portal_accounts WHERE patient_id = ?")
                .bind(patient.0)
                .fetch_one(self.pool())
                .await?;
        Ok(n > 0)
    }

    async fn audit(&self, e: &NewAuditEvent, at: DateTime<Utc>) -> Result<(), StoreError> {
        let action = e
            .action
            .ok_or_else(|| StoreError::Invalid("an audit event needs an action".into()))?;
        sqlx::query(
            "INSERT INTO audit_events (at_ms, ehr_id, actor, action, ehr_patient_id, patient_id, source_ip, \
             detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(at.timestamp_millis())
        .bind(&e.ehr_id)
        .bind(&e.actor)
        .bind(action.as_str())
        .bind(&e.ehr_patient_id)
        .bind(e.patient_id.map(|p| p.0))
        .bind(&e.source_ip)
        .bind(&e.detail)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn audit_events(
        &self,
        ehr_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditEventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at_ms, ehr_id, actor, action, ehr_patient_id, patient_id, source_ip, detail \
             FROM audit_events WHERE ehr_id = ? ORDER BY at_ms DESC, id DESC LIMIT ?",
        )
        .bind(ehr_id)
        .bind(limit as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEventRow {
                    id: r.try_get("id")?,
                    at: ms_to_utc(r.try_get("at_ms")?)?,
                    ehr_id: r.try_get("ehr_id")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    ehr_patient_id: r.try_get("ehr_patient_id")?,
                    patient_id: r.try_get::<Option<i64>, _>("patient_id")?.map(PatientId),
                    source_ip: r.try_get("source_ip")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn count_failures(&self, f: &FailureFilter<'_>) -> Result<i64, StoreError> {
        // NULL binds match everything: one statement serves every combination of narrowing fields.
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM audit_events WHERE action = ? AND at_ms >= ? \
             AND (?3 IS NULL OR ehr_id = ?3) AND (?4 IS NULL OR actor = ?4) \
             AND (?5 IS NULL OR ehr_patient_id = ?5) AND (?6 IS NULL OR source_ip = ?6) \
             AND (?7 IS NULL OR detail = ?7)",
        )
        .bind(f.action.as_str())
        .bind(f.since.timestamp_millis())
        .bind(f.ehr_id)
        .bind(f.actor)
        .bind(f.ehr_patient_id)
        .bind(f.source_ip)
        .bind(f.detail)
        .fetch_one(self.pool())
        .await?;
        Ok(n)
    }

    async fn last_event(
        &self,
        ehr_id: &str,
        ehr_patient_id: &str,
        action: AuditAction,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT max(at_ms) FROM audit_events WHERE ehr_id = ? AND ehr_patient_id = ? AND action = ?",
        )
        .bind(ehr_id)
        .bind(ehr_patient_id)
        .bind(action.as_str())
        .fetch_one(self.pool())
        .await?;
        opt_ms(at)
    }
}
