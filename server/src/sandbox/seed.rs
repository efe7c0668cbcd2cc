//! The sandbox's demo data: the CloudCGM demo patients (same names and birth dates as `cloudcgm::demo`, but
//! the sandbox's own ids, so linking has something to do), two practitioners, and CGM standing orders for
//! some patients (DIGEST §4.15, ORD-1…3): Elena Fischer every 2 weeks a CGM summary, James Carter weekly a
//! summary and his sensor readings; Sofía Ramírez and Liam O'Brien have none.
//!
//! Idempotent: every seeded resource carries an identifier (MRN, NPI-style number, order number) and is
//! looked up by it first, so seeding again creates nothing. Ids are whatever [`FhirStore::create`] assigns.

use super::fhir::store::{FhirStore, FhirStoreError, Stored};
use super::ui::orders::{build_order, schedule_extensions, ScheduleInput, STANDING_ORDER};
use cloudcgm::demo::{demo_patients, DemoPatient};
use serde_json::{json, Value};

/// The sandbox's medical record numbers.
pub const MRN_SYSTEM: &str = "https://sandbox.cloudcgm.example/mrn";
/// NPI-style 10-digit provider numbers. Deliberately not `http://hl7.org/fhir/sid/us-npi`: the numbers are
/// made up and must never be mistaken for real providers'.
pub const NPI_SYSTEM: &str = "https://sandbox.cloudcgm.example/npi";
/// The sandbox's order numbers (placer identifiers of the seeded ServiceRequests).
pub const ORDER_SYSTEM: &str = "https://sandbox.cloudcgm.example/order";
const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

/// Stable MRNs of the demo patients by their demo key; a demo patient added later gets `SBX-{KEY}`.
const MRNS: [(&str, &str); 4] = [
    ("elena", "SBX-100231"),
    ("james", "SBX-100232"),
    ("sofia", "SBX-100233"),
    ("liam", "SBX-100234"),
];

/// A seeded practitioner: (NPI-style number, given, family).
pub const PRACTITIONERS: [(&str, &str, &str); 2] = [
    ("1999000011", "Maya", "Patel"),
    ("1999000029", "Thomas", "Berg"),
];

/// A seeded standing order: for whom, by whom (index into [`PRACTITIONERS`]), its order number and its one
/// schedule (period value, UCUM unit, profiles).
pub struct SeedOrder {
    pub patient_key: &'static str,
    pub practitioner: usize,
    pub number: &'static str,
    pub period: (&'static str, &'static str),
    pub profiles: &'static [&'static str],
}

pub const ORDERS: [SeedOrder; 2] = [
    SeedOrder {
        patient_key: "elena",
        practitioner: 0,
        number: "SO-100231-1",
        period: ("2", "wk"),
        profiles: &["cgm-summary"],
    },
    SeedOrder {
        patient_key: "james",
        practitioner: 1,
        number: "SO-100232-1",
        period: ("1", "wk"),
        profiles: &["cgm-summary", "cgm-sensor-reading-mass-per-volume"],
    },
];

/// What one run of [`seed`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedOutcome {
    pub created: usize,
    pub existing: usize,
}

/// The MRN of a demo patient.
pub fn mrn(key: &str) -> String {
    MRNS.iter()
        .find(|(k, _)| *k == key)
        .map(|(_, mrn)| (*mrn).to_string())
        .unwrap_or_else(|| format!("SBX-{}", key.to_ascii_uppercase()))
}

/// The Patient resource of a demo patient.
pub fn patient_resource(demo: &DemoPatient) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{
            "use": "usual",
            "type": {"coding": [{"system": V2_0203, "code": "MR", "display": "Medical record number"}], "text": "MRN"},
            "system": MRN_SYSTEM,
            "value": mrn(demo.key),
        }],
        "active": true,
        "name": [{"use": "official", "family": demo.family, "given": [demo.given]}],
        "gender": demo.sex,
        "birthDate": demo.birth_date.format("%Y-%m-%d").to_string(),
    })
}

/// The Practitioner resource of a seeded practitioner.
pub fn practitioner_resource(npi: &str, given: &str, family: &str) -> Value {
    json!({
        "resourceType": "Practitioner",
        "identifier": [{
            "type": {"coding": [{"system": V2_0203, "code": "NPI", "display": "National provider identifier"}]},
            "system": NPI_SYSTEM,
            "value": npi,
        }],
        "active": true,
        "name": [{"use": "official", "family": family, "given": [given], "prefix": ["Dr."]}],
    })
}

/// The standing order, shaped as the IG's `ServiceRequest-cgmDataSubmissionStandingOrderExample` (the
/// schedule only in the `data-submission-schedule` extension, never `occurrenceTiming`), plus `requester`,
/// `authoredOn` and its order number.
pub fn order_resource(order: &SeedOrder, patient_id: &str, practitioner_id: &str) -> Value {
    let schedule = ScheduleInput {
        period_value: order.period.0.to_string(),
        period_unit: order.period.1.to_string(),
        profiles: order.profiles.iter().map(|p| (*p).to_string()).collect(),
        ..ScheduleInput::default()
    };
    // The seed's own constants: a schedule the orders form would refuse is a bug here, caught by the tests.
    let extensions = schedule_extensions(&[schedule]).unwrap_or_default();
    let mut resource = build_order(patient_id, practitioner_id, STANDING_ORDER, extensions);
    if let Some(obj) = resource.as_object_mut() {
        obj.insert(
            "identifier".into(),
            json!([{
                "type": {"coding": [{"system": V2_0203, "code": "PLAC", "display": "Placer Identifier"}]},
                "system": ORDER_SYSTEM,
                "value": order.number,
            }]),
        );
    }
    resource
}

/// The resource with identifier `system|value`, created from `make` when there is none.
async fn ensure(
    store: &FhirStore,
    resource_type: &str,
    system: &str,
    value: &str,
    make: impl FnOnce() -> Value,
    outcome: &mut SeedOutcome,
) -> Result<Stored, FhirStoreError> {
    let found = store
        .find_by_identifier(resource_type, system, value)
        .await?;
    if let Some(existing) = found.into_iter().next() {
        outcome.existing += 1;
        return Ok(existing);
    }
    outcome.created += 1;
    store.create(make()).await
}

/// Creates whatever of the demo data is missing.
pub async fn seed(store: &FhirStore) -> anyhow::Result<SeedOutcome> {
    let mut outcome = SeedOutcome::default();
    let mut practitioners = Vec::new();
    for (npi, given, family) in PRACTITIONERS {
        let stored = ensure(
            store,
            "Practitioner",
            NPI_SYSTEM,
            npi,
            || practitioner_resource(npi, given, family),
            &mut outcome,
        )
        .await?;
        practitioners.push(stored.id);
    }
    let mut patients = Vec::new();
    for demo in demo_patients() {
        let stored = ensure(
            store,
            "Patient",
            MRN_SYSTEM,
            &mrn(demo.key),
            || patient_resource(&demo),
            &mut outcome,
        )
        .await?;
        patients.push((demo.key, stored.id));
    }
    for order in &ORDERS {
        let Some((_, patient_id)) = patients.iter().find(|(key, _)| *key == order.patient_key)
        else {
            continue;
        };
        let practitioner_id = practitioners
            .get(order.practitioner)
            .ok_or_else(|| anyhow::anyhow!("seed order {}: no such practitioner", order.number))?;
        ensure(
            store,
            "ServiceRequest",
            ORDER_SYSTEM,
            order.number,
            || order_resource(order, patient_id, practitioner_id),
            &mut outcome,
        )
        .await?;
    }
    if outcome.created > 0 {
        tracing::info!(
            created = outcome.created,
            existing = outcome.existing,
            "seeded the sandbox EHR"
        );
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::fhir::rest::order_issues;
    use crate::sandbox::ui::orders::CGM_CODE_SYSTEM;
    use cloudcgm::fhir::profile::CgmProfile;
    use cloudcgm::fhir::validate::validate;

    async fn store() -> (FhirStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/s.db?mode=rwc", dir.path().display());
        let db = crate::sandbox::db::connect(&url).await.expect("db");
        (FhirStore::new(db), dir)
    }

    fn ig_standing_order_example() -> Value {
        let path = format!(
            "{}/../tests/fixtures/ig/ServiceRequest-cgmDataSubmissionStandingOrderExample.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("IG example")).expect("JSON")
    }

    fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
        v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
    }

    #[tokio::test]
    async fn the_seeded_patients_are_the_cloudcgm_demo_patients_with_their_names_and_birth_dates() {
        let (store, _dir) = store().await;
        seed(&store).await.expect("seed");
        let patients = store.list("Patient").await.expect("list");
        let demos = demo_patients();
        assert_eq!(patients.len(), demos.len());
        for demo in &demos {
            let p = patients
                .iter()
                .find(|p| text(&p.body, "/name/0/family") == demo.family)
                .unwrap_or_else(|| panic!("{} {} is seeded", demo.given, demo.family));
            assert_eq!(text(&p.body, "/name/0/given/0"), demo.given);
            assert_eq!(
                text(&p.body, "/birthDate"),
                demo.birth_date.format("%Y-%m-%d").to_string()
            );
            assert_eq!(text(&p.body, "/gender"), demo.sex);
            assert_eq!(text(&p.body, "/identifier/0/system"), MRN_SYSTEM);
            assert_eq!(text(&p.body, "/identifier/0/value"), mrn(demo.key));
            assert_eq!(text(&p.body, "/identifier/0/type/coding/0/code"), "MR");
            assert_ne!(p.id, demo.key, "the sandbox assigns its own ids");
            assert_eq!(p.id.len(), 32);
        }
        let mut mrns: Vec<String> = demos.iter().map(|d| mrn(d.key)).collect();
        mrns.sort();
        mrns.dedup();
        assert_eq!(mrns.len(), demos.len(), "MRNs are distinct");
        let practitioners = store.list("Practitioner").await.expect("list");
        assert_eq!(practitioners.len(), 2);
        for p in &practitioners {
            assert_eq!(text(&p.body, "/identifier/0/system"), NPI_SYSTEM);
            assert_eq!(text(&p.body, "/identifier/0/value").len(), 10);
        }
    }

    #[tokio::test]
    async fn seeding_twice_creates_nothing_new() {
        let (store, _dir) = store().await;
        let first = seed(&store).await.expect("first seed");
        assert_eq!(first.created, 2 + demo_patients().len() + ORDERS.len());
        assert_eq!(first.existing, 0);
        let ids = |list: Vec<Stored>| list.into_iter().map(|s| s.id).collect::<Vec<_>>();
        let patients = ids(store.list("Patient").await.expect("list"));
        let practitioners = ids(store.list("Practitioner").await.expect("list"));
        let second = seed(&store).await.expect("second seed");
        assert_eq!(second.created, 0);
        assert_eq!(second.existing, first.created);
        assert_eq!(ids(store.list("Patient").await.expect("list")), patients);
        assert_eq!(
            ids(store.list("Practitioner").await.expect("list")),
            practitioners
        );
        let orders: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM resources WHERE type = 'ServiceRequest'")
                .fetch_one(&store.db)
                .await
                .expect("count");
        assert_eq!(orders, ORDERS.len() as i64);
    }

    /// ORD-1, ORD-2, VAL-10: the seeded orders pass the core validator for the CGM standing-order profile and
    /// have exactly the IG example's shape.
    #[tokio::test]
    async fn the_standing_orders_validate_and_follow_the_ig_example() {
        let (store, _dir) = store().await;
        seed(&store).await.expect("seed");
        let example = ig_standing_order_example();
        let patients = store.list("Patient").await.expect("list");
        let practitioners = store.list("Practitioner").await.expect("list");
        let patient_id = |family: &str| {
            patients
                .iter()
                .find(|p| text(&p.body, "/name/0/family") == family)
                .map(|p| p.id.clone())
                .expect("patient")
        };
        let orders_of = |id: String| {
            let store = store.clone();
            async move {
                store
                    .list_for_patient(
                        "ServiceRequest",
                        &id,
                        Some((CGM_CODE_SYSTEM, STANDING_ORDER)),
                    )
                    .await
                    .expect("orders")
            }
        };
        let elena = orders_of(patient_id("Fischer")).await;
        let james = orders_of(patient_id("Carter")).await;
        assert!(orders_of(patient_id("Ramírez")).await.is_empty());
        assert!(orders_of(patient_id("O'Brien")).await.is_empty());
        assert_eq!((elena.len(), james.len()), (1, 1));

        for order in [&elena[0], &james[0]] {
            let body = &order.body;
            let issues = validate(CgmProfile::StandingOrder, body, "ServiceRequest");
            let errors: Vec<_> = issues.iter().filter(|i| i.severity.is_error()).collect();
            assert!(errors.is_empty(), "{errors:?}");
            // And the check the FHIR API and the orders page run before storing an order.
            let api: Vec<_> = order_issues(body)
                .into_iter()
                .filter(|i| i.is_error())
                .collect();
            assert!(api.is_empty(), "{api:?}");
            for key in ["code", "status", "intent"] {
                assert_eq!(body[key], example[key], "{key} as in the IG example");
            }
            assert!(body.get("occurrenceTiming").is_none());
            assert_eq!(
                text(body, "/extension/0/url"),
                text(&example, "/extension/0/url")
            );
            let requester = text(body, "/requester/reference");
            assert!(
                practitioners
                    .iter()
                    .any(|p| requester == format!("Practitioner/{}", p.id)),
                "{requester}"
            );
        }
        // Elena: every 2 weeks a summary, with the example's very Quantity.
        let schedule = &elena[0].body["extension"][0]["extension"];
        assert_eq!(schedule[0], example["extension"][0]["extension"][0]);
        assert_eq!(
            text(schedule, "/1/valueCanonical"),
            "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary"
        );
        assert_eq!(schedule.as_array().map(Vec::len), Some(2));
        // James: weekly, a summary and his sensor readings.
        let schedule = &james[0].body["extension"][0]["extension"];
        assert_eq!(text(schedule, "/0/valueQuantity/code"), "wk");
        assert_eq!(schedule[0]["valueQuantity"]["value"], json!(1));
        let profiles: Vec<&str> = schedule
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| text(s, "/url") == "submissionDataProfile")
            .map(|s| text(s, "/valueCanonical"))
            .collect();
        assert_eq!(
            profiles,
            [
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary",
                "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-sensor-reading-mass-per-volume"
            ]
        );
    }

    #[test]
    fn every_seed_order_schedule_is_one_the_orders_form_accepts() {
        for order in &ORDERS {
            let built = order_resource(order, "p", "dr");
            assert_eq!(
                built["extension"].as_array().map(Vec::len),
                Some(1),
                "{}",
                order.number
            );
            assert!(PRACTITIONERS.get(order.practitioner).is_some());
            assert!(demo_patients().iter().any(|d| d.key == order.patient_key));
        }
    }
}
