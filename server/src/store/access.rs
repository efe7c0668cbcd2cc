//! Who may see what (issue 4): pending and completed EHR launches, practice members and their roles, links
//! between CloudCGM patients and EHR patients, sharing codes, portal accounts and the audit log, as a
//! repository trait in domain types. Tokens and codes cross this boundary only sealed
//! ([`crate::crypto`]): the store never holds a key and never sees a token in clear.

use super::{PatientId, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A row of `launches`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct LaunchId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SharingCodeId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Clinician,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "clinician" => Some(Role::Clinician),
            _ => None,
        }
    }
}

/// A completed launch about to be stored. Token columns are sealed by the caller for the row id the
/// store hands to `seal` (the row id is part of the associated data).
#[derive(Debug, Clone)]
pub struct NewLaunch {
    pub ehr_id: String,
    pub fhir_user: String,
    pub ehr_patient_id: Option<String>,
    pub encounter: Option<String>,
    pub need_patient_banner: bool,
    pub ehr_patient_name: Option<String>,
    pub ehr_patient_birth: Option<String>,
    pub granted_scope: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The sealed token columns of a launch.
#[derive(Debug, Clone)]
pub struct SealedTokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchStatus {
    Active,
    NeedsRelaunch,
}

#[derive(Debug, Clone)]
pub struct LaunchRow {
    pub id: LaunchId,
    pub ehr_id: String,
    pub fhir_user: String,
    pub ehr_patient_id: Option<String>,
    pub encounter: Option<String>,
    pub need_patient_banner: bool,
    pub ehr_patient_name: Option<String>,
    pub ehr_patient_birth: Option<String>,
    pub granted_scope: String,
    pub tokens: SealedTokens,
    pub status: LaunchStatus,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LinkRow {
    pub id: LinkId,
    pub ehr_id: String,
    pub ehr_patient_id: String,
    pub patient_id: PatientId,
    pub linked_by: String,
    pub linked_at: DateTime<Utc>,
    pub mismatch_reason: Option<String>,
    pub unlinked_at: Option<DateTime<Utc>>,
    pub unlinked_by: Option<String>,
    pub unlink_reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewLink {
    pub ehr_id: String,
    pub ehr_patient_id: String,
    pub patient_id: PatientId,
    pub linked_by: String,
    pub mismatch_reason: Option<String>,
}

/// A sharing code row; `lookup` is the keyed HMAC, `sealed_code` the code for the portal to show again.
#[derive(Debug, Clone)]
pub struct SharingCodeRow {
    pub id: SharingCodeId,
    pub patient_id: PatientId,
    pub sealed_code: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl SharingCodeRow {
    /// Usable: not used, not revoked, not expired at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && now < self.expires_at
    }
}

/// What the audit log records. The names are stable: the CSV export and the rate limits use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Launch,
    Link,
    Unlink,
    ReportView,
    CodeFailed,
    CodeLocked,
    CrossPatientDenied,
    PortalSignIn,
    PortalSignInFailed,
    CodeIssued,
    CodeRevoked,
    MemberEnrolled,
    Submission,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Launch => "launch",
            AuditAction::Link => "link",
            AuditAction::Unlink => "unlink",
            AuditAction::ReportView => "report_view",
            AuditAction::CodeFailed => "code_failed",
            AuditAction::CodeLocked => "code_locked",
            AuditAction::CrossPatientDenied => "cross_patient_denied",
            AuditAction::PortalSignIn => "portal_sign_in",
            AuditAction::PortalSignInFailed => "portal_sign_in_failed",
            AuditAction::CodeIssued => "code_issued",
            AuditAction::CodeRevoked => "code_revoked",
            AuditAction::MemberEnrolled => "member_enrolled",
            AuditAction::Submission => "submission",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent {
    pub ehr_id: Option<String>,
    pub actor: String,
    pub action: Option<AuditAction>,
    pub ehr_patient_id: Option<String>,
    pub patient_id: Option<PatientId>,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub ehr_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub ehr_patient_id: Option<String>,
    pub patient_id: Option<PatientId>,
    pub source_ip: Option<String>,
    pub detail: Option<String>,
}

/// Which failures a rate limit counts: events of `action` since `since`, narrowed by any of the fields.
#[derive(Debug, Clone)]
pub struct FailureFilter<'a> {
    pub action: AuditAction,
    pub since: DateTime<Utc>,
    pub ehr_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub ehr_patient_id: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// Why a link could not be written.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this EHR patient is already linked")]
    EhrPatientLinked,
    #[error("this CloudCGM patient is already linked to another patient of this EHR")]
    PatientLinked,
    #[error("the sharing code is no longer valid")]
    CodeGone,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    // Pending launches (single use: `take` deletes).
    async fn insert_pending(
        &self,
        state_hash: &str,
        sealed: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn take_pending(
        &self,
        state_hash: &str,
    ) -> Result<Option<(String, DateTime<Utc>)>, StoreError>;
    async fn purge_pending(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Inserts the launch and then its tokens, sealed by `seal(row id)`: the associated data binds the
    /// ciphertexts to the new row, whose id exists only after the insert (one transaction).
    async fn insert_launch(
        &self,
        launch: &NewLaunch,
        seal: &(dyn Fn(LaunchId) -> Result<SealedTokens, String> + Send + Sync),
    ) -> Result<LaunchId, StoreError>;
    async fn launch(&self, id: LaunchId) -> Result<Option<LaunchRow>, StoreError>;
    async fn update_tokens(&self, id: LaunchId, tokens: &SealedTokens) -> Result<(), StoreError>;
    async fn set_launch_status(&self, id: LaunchId, status: LaunchStatus)
        -> Result<(), StoreError>;
    /// Launches of a practice that need a new launch (for the admin console).
    /// The EHR patient's usable launches (any user), newest first: unattended work falls back to their
    /// refresh tokens when the EHR has no Backend Services (NOTES E2).
    async fn active_launches_for_ehr_patient(
        &self,
        ehr_id: &str,
        ehr_patient_id: &str,
    ) -> Result<Vec<LaunchRow>, StoreError>;
    async fn launches_needing_relaunch(&self, ehr_id: &str) -> Result<Vec<LaunchRow>, StoreError>;

    async fn member_role(&self, ehr_id: &str, fhir_user: &str) -> Result<Option<Role>, StoreError>;
    /// Adds a member unless one exists (an existing member keeps the role the console gave them).
    async fn ensure_member(
        &self,
        ehr_id: &str,
        fhir_user: &str,
        role: Role,
    ) -> Result<Role, StoreError>;

    async fn live_link_for_ehr_patient(
        &self,
        ehr_id: &str,
        ehr_patient_id: &str,
    ) -> Result<Option<LinkRow>, StoreError>;
    /// One link by id, live or not.
    async fn link(&self, id: LinkId) -> Result<Option<LinkRow>, StoreError>;
    async fn links(&self, ehr_id: &str, include_unlinked: bool)
        -> Result<Vec<LinkRow>, StoreError>;
    /// Consumes the sharing code (still live at `now`) and writes the link, in one transaction: either both
    /// happen or neither.
    async fn link_with_code(
        &self,
        code: SharingCodeId,
        link: &NewLink,
        now: DateTime<Utc>,
    ) -> Result<LinkRow, LinkError>;
    async fn unlink(
        &self,
        ehr_id: &str,
        link: LinkId,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<LinkRow>, StoreError>;

    /// Stores a new code for the patient and revokes every other live one.
    async fn issue_code(
        &self,
        patient: PatientId,
        lookup: &[u8],
        sealed_code: &(dyn Fn(SharingCodeId) -> Result<String, String> + Send + Sync),
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<SharingCodeRow, StoreError>;
    async fn code_by_lookup(&self, lookup: &[u8]) -> Result<Option<SharingCodeRow>, StoreError>;
    async fn current_code(&self, patient: PatientId) -> Result<Option<SharingCodeRow>, StoreError>;
    async fn revoke_codes(&self, patient: PatientId, now: DateTime<Utc>)
        -> Result<u64, StoreError>;

    async fn upsert_portal_account(
        &self,
        patient: PatientId,
        username: &str,
        password_hash: &str,
    ) -> Result<(), StoreError>;
    async fn portal_account(
        &self,
        username: &str,
    ) -> Result<Option<(PatientId, String)>, StoreError>;
    async fn has_portal_account(&self, patient: PatientId) -> Result<bool, StoreError>;

    async fn audit(&self, event: &NewAuditEvent, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Newest first.
    async fn audit_events(
        &self,
        ehr_id: &str,
        limit: u32,
    ) -> Result<Vec<AuditEventRow>, StoreError>;
    async fn count_failures(&self, filter: &FailureFilter<'_>) -> Result<i64, StoreError>;
    /// The newest event of `action` for an EHR patient (the links table's "last submission").
    async fn last_event(
        &self,
        ehr_id: &str,
        ehr_patient_id: &str,
        action: AuditAction,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;
}
