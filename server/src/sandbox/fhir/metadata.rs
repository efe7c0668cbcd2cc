//! `GET /fhir/metadata`: the sandbox's own CapabilityStatement (R4, `kind: instance`), public like every FHIR
//! server's. It instantiates the IG's CGM Data Receiver (RCV-1), names `$submit-cgm-bundle` (RCV-2), carries
//! the SMART `oauth-uris` (SMART.md: clients may discover the endpoints here), and lists the interactions and
//! search parameters the sandbox really supports (NOTES E3: read and search-type included) — the parameters
//! are read from `index::param_kind`, the same table the search handler obeys, so the two cannot drift.

use super::http::fhir_json;
use super::index::{param_kind, ParamKind, SEARCHABLE_TYPES};
use super::rest::check_format;
use super::search::{parse_pairs, KNOWN_PARAMS};
use crate::sandbox::SandboxState;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use cloudcgm::fhir::profile::CgmProfile;
use serde_json::{json, Value};

/// `CapabilityStatement.instantiates` (RCV-1; tests/fixtures/ig/CapabilityStatement-cgm-data-receiver.json).
pub const CGM_RECEIVER_CAPABILITY: &str =
    "http://hl7.org/fhir/uv/cgm/CapabilityStatement/cgm-data-receiver";
/// The operation's canonical (tests/fixtures/ig/OperationDefinition-submit-cgm-bundle.json).
pub const SUBMIT_OPERATION: &str =
    "http://hl7.org/fhir/uv/cgm/OperationDefinition/submit-cgm-bundle";
const OAUTH_URIS: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";
/// When this statement last changed (CapabilityStatement.date is required).
const STATEMENT_DATE: &str = "2026-11-24";

/// The types whose CGM resources arrive as `$submit-cgm-bundle` entries, with conditional create.
const CGM_DATA_TYPES: [&str; 3] = ["Observation", "DiagnosticReport", "Device"];

fn kind_code(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Token => "token",
        ParamKind::String => "string",
        ParamKind::Reference => "reference",
        ParamKind::Date => "date",
    }
}

fn kind_documentation(param: &str, kind: ParamKind) -> &'static str {
    match kind {
        _ if param == "_id" => "Logical id; comma-separated ids are alternatives.",
        ParamKind::Token => {
            "system|code, |code (no system), code (any system) or system| (any code); commas separate \
             alternatives."
        }
        ParamKind::String => {
            "Case-insensitive prefix of any part of the name; :exact matches a whole part as written."
        }
        ParamKind::Reference => "A Patient: id, Patient/id or an absolute URL ending in Patient/id.",
        ParamKind::Date => {
            "Prefixes eq (default), ne, lt, le, gt, ge, sa, eb compare the instant ranges of the value and the \
             element; YYYY, YYYY-MM and YYYY-MM-DD cover their whole year, month or day."
        }
    }
}

fn resource_entry(resource_type: &str) -> Value {
    let profiles: Vec<&str> = CgmProfile::ALL
        .into_iter()
        .filter(|p| p.resource_type() == resource_type)
        .map(CgmProfile::canonical)
        .collect();
    let mut interactions = vec![json!({"code": "read"}), json!({"code": "search-type"})];
    if resource_type == "ServiceRequest" {
        interactions.push(json!({"code": "create"}));
        interactions.push(json!({"code": "update"}));
    }
    let search_params: Vec<Value> = KNOWN_PARAMS
        .into_iter()
        .filter_map(|p| {
            let kind = param_kind(resource_type, p)?;
            Some(json!({"name": p, "type": kind_code(kind), "documentation": kind_documentation(p, kind)}))
        })
        .collect();
    let mut entry = json!({"type": resource_type});
    let obj = entry.as_object_mut().expect("a JSON object");
    if !profiles.is_empty() {
        obj.insert("supportedProfile".into(), json!(profiles));
    }
    if CGM_DATA_TYPES.contains(&resource_type) {
        obj.insert(
            "documentation".into(),
            json!("Created only as entries of POST [base]/$submit-cgm-bundle, where request.ifNoneExist \
                   (identifier=system|value) is a conditional create; read and search here."),
        );
    }
    if resource_type == "ServiceRequest" {
        obj.insert(
            "documentation".into(),
            json!("CGM standing and one-time orders are validated against their IG profile on create and \
                   update (422 with an OperationOutcome when they do not conform)."),
        );
    }
    obj.insert("interaction".into(), json!(interactions));
    obj.insert(
        "versioning".into(),
        json!(if resource_type == "ServiceRequest" {
            "versioned-update"
        } else {
            "versioned"
        }),
    );
    obj.insert("readHistory".into(), json!(false));
    if resource_type == "ServiceRequest" {
        obj.insert("updateCreate".into(), json!(false));
    }
    if CGM_DATA_TYPES.contains(&resource_type) {
        obj.insert("conditionalCreate".into(), json!(true));
    }
    obj.insert("searchParam".into(), json!(search_params));
    entry
}

/// The CapabilityStatement for a sandbox at `fhir_base` with these OAuth endpoints.
pub fn capability_statement(fhir_base: &str, authorize: &str, token: &str) -> Value {
    let resources: Vec<Value> = SEARCHABLE_TYPES.into_iter().map(resource_entry).collect();
    json!({
        "resourceType": "CapabilityStatement",
        "id": "cloudcgm-sandbox-ehr",
        "url": format!("{fhir_base}/metadata"),
        "name": "CloudCGMSandboxEHR",
        "title": "CloudCGM sandbox EHR",
        "status": "active",
        "experimental": true,
        "date": STATEMENT_DATE,
        "publisher": "CloudCGM",
        "description": "A test EHR built into CloudCGM: SMART on FHIR authorization, read and search of \
                        patients, practitioners, orders and CGM data, and the CGM Data Receiver's \
                        $submit-cgm-bundle. Test data only.",
        "kind": "instance",
        "instantiates": [CGM_RECEIVER_CAPABILITY],
        "software": {"name": "CloudCGM sandbox EHR", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "CloudCGM sandbox EHR", "url": fhir_base},
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "documentation": "Search results: _count (default 50, at most 1000; 0 gives the total only), \
                              _offset, _sort (_lastUpdated, _id or a date parameter, - for descending). Unknown \
                              parameters or modifiers are answered 400. See docs/sandbox-fhir-api.md.",
            "security": {
                "extension": [{
                    "url": OAUTH_URIS,
                    "extension": [
                        {"url": "authorize", "valueUri": authorize},
                        {"url": "token", "valueUri": token}
                    ]
                }],
                "cors": false,
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                        "display": "SMART-on-FHIR"
                    }],
                    "text": "OAuth 2.0 per SMART App Launch 2.x; discovery at .well-known/smart-configuration"
                }],
                "description": "Every interaction but metadata needs a bearer token (401 without one); scopes \
                                decide what it may see or write (403)."
            },
            "resource": resources,
            "operation": [{
                "name": "submit-cgm-bundle",
                "definition": SUBMIT_OPERATION,
                "documentation": "POST [base]/$submit-cgm-bundle with a CGM Data Submission Bundle."
            }]
        }]
    })
}

/// `GET /fhir/metadata` (no token needed).
pub async fn metadata(State(state): State<SandboxState>, RawQuery(query): RawQuery) -> Response {
    // Only `_format` matters here; other parameters (e.g. mode=full) are ignored.
    let pairs = parse_pairs(query.as_deref().unwrap_or("")).unwrap_or_default();
    if let Err(response) = check_format(&pairs) {
        return *response;
    }
    let body = capability_statement(
        &state.config.fhir_base(),
        &state.auth.authorize_endpoint(),
        &state.auth.token_endpoint(),
    );
    fhir_json(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statement_lists_the_ig_order_and_observation_searches() {
        let cs = capability_statement("http://h/sandbox/fhir", "http://h/a", "http://h/t");
        let resource = |ty: &str| {
            cs["rest"][0]["resource"]
                .as_array()
                .expect("resources")
                .iter()
                .find(|r| r["type"] == ty)
                .cloned()
                .expect(ty)
        };
        let names = |r: &Value| -> Vec<String> {
            r["searchParam"]
                .as_array()
                .expect("params")
                .iter()
                .map(|p| p["name"].as_str().expect("name").to_string())
                .collect()
        };
        let sr = resource("ServiceRequest");
        for p in ["patient", "code", "status"] {
            assert!(names(&sr).contains(&p.to_string()), "RCV-12 {p}");
        }
        assert_eq!(sr["supportedProfile"].as_array().map(Vec::len), Some(2));
        let obs = resource("Observation");
        for p in ["patient", "category", "code", "date", "identifier"] {
            assert!(names(&obs).contains(&p.to_string()), "RCV-13 {p}");
        }
        assert_eq!(obs["conditionalCreate"], true);
        assert_eq!(obs["supportedProfile"].as_array().map(Vec::len), Some(10));
        assert!(resource("Patient").get("conditionalCreate").is_none());
    }
}
