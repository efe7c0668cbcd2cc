//! What an access token grants, and the scope check the FHIR API applies to each interaction
//! (SMART scopes v1 and v2 with query constraints; AUTH-2).
//!
//! (Skeleton: filled in by the authorization-server work of issue 3.)

use cloudcgm::smart_scope::ScopeSet;
use serde_json::Value;

/// The token's client, scopes and launch context.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub scopes: ScopeSet,
    /// Logical id of the patient in context (`launch/patient`, EHR launch, or standalone picker).
    pub patient: Option<String>,
    /// `Practitioner/{id}` of the signed-in user, when there is one.
    pub fhir_user: Option<String>,
}

/// The FHIR interaction being authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Read,
    Search,
    Create,
    Update,
    Delete,
}

/// What the scopes allow for one interaction on one resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No granted scope covers it (403).
    Denied,
    /// Only resources in this patient's compartment (a `patient/` scope).
    Patient(String),
    /// Any resource of the type (`user/` or `system/` scope).
    All,
}

impl Grant {
    /// Access for `interaction` on `resource_type`, ignoring scope query constraints (use before a search
    /// or a read, then check each resource with [`Grant::access_to`]).
    pub fn access(&self, _interaction: Interaction, _resource_type: &str) -> Access {
        Access::Denied
    }

    /// Access for `interaction` on this resource, honouring constraints such as `?category=laboratory`.
    pub fn access_to(&self, _interaction: Interaction, _resource: &Value) -> Access {
        Access::Denied
    }
}
