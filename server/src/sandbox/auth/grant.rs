//! What an access token grants, and the scope check the FHIR API applies to each interaction
//! (SMART App Launch 2.x scopes v1 and v2 with query constraints; AUTH-2).
//!
//! `patient/` scopes give the token's patient compartment (denied when the token has no patient), `user/`
//! and `system/` scopes give every resource of the type. Constraints: `category=` and `code=` must match a
//! coding of the resource's `category` / `code` (`system|code` or a bare code); any other constraint
//! parameter makes that scope match nothing (deny by default). The most permissive matching scope wins.

use cloudcgm::smart_scope::{Context, Permission, ResourceScope, ScopeSet};
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

impl Interaction {
    pub fn permission(self) -> Permission {
        match self {
            Interaction::Read => Permission::Read,
            Interaction::Search => Permission::Search,
            Interaction::Create => Permission::Create,
            Interaction::Update => Permission::Update,
            Interaction::Delete => Permission::Delete,
        }
    }
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

impl Access {
    fn rank(&self) -> u8 {
        match self {
            Access::Denied => 0,
            Access::Patient(_) => 1,
            Access::All => 2,
        }
    }

    fn max(self, other: Access) -> Access {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

impl Grant {
    /// Access for `interaction` on `resource_type`, ignoring scope query constraints (use before a search
    /// or a read, then check each resource with [`Grant::access_to`]).
    pub fn access(&self, interaction: Interaction, resource_type: &str) -> Access {
        self.scopes
            .matching(interaction.permission(), resource_type)
            .map(|s| self.access_of(s))
            .fold(Access::Denied, Access::max)
    }

    /// Access for `interaction` on this resource, honouring constraints such as `?category=laboratory`.
    pub fn access_to(&self, interaction: Interaction, resource: &Value) -> Access {
        let Some(resource_type) = resource.get("resourceType").and_then(Value::as_str) else {
            return Access::Denied;
        };
        self.scopes
            .matching(interaction.permission(), resource_type)
            .filter(|s| constraints_match(s, resource))
            .map(|s| self.access_of(s))
            .fold(Access::Denied, Access::max)
    }

    fn access_of(&self, scope: &ResourceScope) -> Access {
        match scope.context {
            Context::Patient => match &self.patient {
                Some(p) => Access::Patient(p.clone()),
                None => Access::Denied,
            },
            Context::User | Context::System => Access::All,
        }
    }
}

fn constraints_match(scope: &ResourceScope, resource: &Value) -> bool {
    scope
        .constraints
        .iter()
        .all(|(name, value)| match name.as_str() {
            "category" | "code" => element_has_coding(resource.get(name.as_str()), value),
            _ => false,
        })
}

/// True when a CodeableConcept (or an array of them) has a coding matching `system|code` or a bare `code`.
fn element_has_coding(element: Option<&Value>, wanted: &str) -> bool {
    let (system, code) = match wanted.split_once('|') {
        Some((s, c)) => (Some(s), c),
        None => (None, wanted),
    };
    let concepts: Vec<&Value> = match element {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return false,
    };
    concepts
        .iter()
        .filter_map(|c| c.get("coding").and_then(Value::as_array))
        .flatten()
        .any(|coding| {
            coding.get("code").and_then(Value::as_str) == Some(code)
                && match system {
                    // `|code` means "no system" in FHIR token search.
                    Some("") => coding.get("system").is_none(),
                    Some(s) => coding.get("system").and_then(Value::as_str) == Some(s),
                    None => true,
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn grant(scopes: &str, patient: Option<&str>) -> Grant {
        Grant {
            client_id: "c".into(),
            scopes: ScopeSet::parse(scopes),
            patient: patient.map(str::to_string),
            fhir_user: None,
        }
    }

    fn lab_obs() -> Value {
        json!({"resourceType": "Observation", "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}]})
    }

    #[test]
    fn patient_scopes_give_the_patient_compartment() {
        let g = grant("patient/Observation.rs", Some("p1"));
        assert_eq!(
            g.access(Interaction::Read, "Observation"),
            Access::Patient("p1".into())
        );
        assert_eq!(g.access(Interaction::Create, "Observation"), Access::Denied);
        assert_eq!(g.access(Interaction::Read, "Patient"), Access::Denied);
    }

    #[test]
    fn patient_scopes_without_a_patient_deny() {
        let g = grant("patient/Observation.rs", None);
        assert_eq!(g.access(Interaction::Read, "Observation"), Access::Denied);
    }

    #[test]
    fn user_and_system_scopes_give_everything_and_win_over_patient_scopes() {
        assert_eq!(
            grant("user/Observation.read", None).access(Interaction::Search, "Observation"),
            Access::All
        );
        let g = grant("patient/*.rs system/Observation.rs", Some("p1"));
        assert_eq!(g.access(Interaction::Read, "Observation"), Access::All);
        assert_eq!(
            g.access(Interaction::Read, "Device"),
            Access::Patient("p1".into())
        );
    }

    #[test]
    fn a_category_constraint_matches_a_bare_code_or_system_and_code() {
        let obs = lab_obs();
        for scope in [
            "patient/Observation.cu?category=laboratory",
            "patient/Observation.cu?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
        ] {
            assert_eq!(
                grant(scope, Some("p1")).access_to(Interaction::Create, &obs),
                Access::Patient("p1".into()),
                "{scope}"
            );
        }
        let vital = json!({"resourceType": "Observation", "category": [{"coding": [{"code": "vital-signs"}]}]});
        assert_eq!(
            grant("patient/Observation.cu?category=laboratory", Some("p1"))
                .access_to(Interaction::Create, &vital),
            Access::Denied
        );
    }

    #[test]
    fn a_code_constraint_with_the_wrong_system_denies() {
        let sr = json!({"resourceType": "ServiceRequest", "code": {"coding": [{
            "system": "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm", "code": "cgm-data-submission-standing-order"}]}});
        let ok = grant("user/ServiceRequest.rs?code=http://hl7.org/fhir/uv/cgm/CodeSystem/cgm|cgm-data-submission-standing-order", None);
        assert_eq!(ok.access_to(Interaction::Read, &sr), Access::All);
        let wrong = grant(
            "user/ServiceRequest.rs?code=http://example.org|cgm-data-submission-standing-order",
            None,
        );
        assert_eq!(wrong.access_to(Interaction::Read, &sr), Access::Denied);
    }

    #[test]
    fn an_unknown_constraint_parameter_denies_by_default() {
        let g = grant("user/Observation.rs?status=final", None);
        assert_eq!(g.access_to(Interaction::Read, &lab_obs()), Access::Denied);
        // ...but the type-level check ignores constraints.
        assert_eq!(g.access(Interaction::Read, "Observation"), Access::All);
    }

    #[test]
    fn the_most_permissive_matching_scope_wins_per_resource() {
        let g = grant(
            "patient/Observation.rs user/Observation.rs?category=laboratory",
            Some("p1"),
        );
        assert_eq!(g.access_to(Interaction::Read, &lab_obs()), Access::All);
        let other = json!({"resourceType": "Observation", "category": [{"coding": [{"code": "vital-signs"}]}]});
        assert_eq!(
            g.access_to(Interaction::Read, &other),
            Access::Patient("p1".into())
        );
    }
}
