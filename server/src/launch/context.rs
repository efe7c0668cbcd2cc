//! The clinician behind a request: the session must hold the launch named by the page's handle, the launch
//! must still be usable, and the user must still be a member of the launch's practice (roles are read on
//! every request, so a removed member loses access at once). Everything a clinician does goes through here.

use crate::ehr_registry::Ehr;
use crate::state::AppState;
use crate::store::access::{LaunchRow, Role};
use crate::web::session;
use tower_sessions::Session;

#[derive(Debug, Clone)]
pub struct ClinicianContext {
    pub launch: LaunchRow,
    pub role: Role,
    pub ehr: Ehr,
}

impl ClinicianContext {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("no launch with this handle in this session")]
    NoLaunch,
    #[error("the user is no longer a member of the practice")]
    NotMember,
    #[error("the EHR of this launch is no longer registered")]
    EhrGone,
    #[error("{0}")]
    Internal(String),
}

pub async fn clinician(
    state: &AppState,
    session: &Session,
    handle: &str,
) -> Result<ClinicianContext, ContextError> {
    let id = session::launch_for(session, handle)
        .await
        .map_err(|e| ContextError::Internal(e.to_string()))?
        .ok_or(ContextError::NoLaunch)?;
    let launch = state
        .access
        .launch(crate::store::access::LaunchId(id))
        .await
        .map_err(|e| ContextError::Internal(e.to_string()))?
        .ok_or(ContextError::NoLaunch)?;
    let ehr = state
        .ehrs
        .by_id(&launch.ehr_id)
        .cloned()
        .ok_or(ContextError::EhrGone)?;
    let role = state
        .access
        .member_role(&launch.ehr_id, &launch.fhir_user)
        .await
        .map_err(|e| ContextError::Internal(e.to_string()))?
        .ok_or(ContextError::NotMember)?;
    Ok(ClinicianContext { launch, role, ehr })
}
