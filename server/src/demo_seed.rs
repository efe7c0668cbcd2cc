//! Seeds the demo patients of the core's generator into the store: 90 days each, ending at the start of
//! today in each patient's zone so the last day is complete. Patients that already have readings are left
//! as they are, so restarting a demo server never rewrites history.

use crate::store::{NewDevice, NewPatient, Store, StoreError};
use chrono::{DateTime, Utc};
use cloudcgm::demo::{demo_patients, generate};
use cloudcgm::localtime::{local_date, local_midnight};

/// Days of demo data per patient.
pub const DEMO_DAYS: u32 = 90;
/// The generator's seed: fixed, so every demo install shows the same clinical pictures.
pub const DEMO_SEED: u64 = 20_241_124;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedOutcome {
    pub patient: String,
    pub added: u64,
}

/// Seeds every demo patient that has no readings yet, with data ending at local midnight before `now`.
pub async fn seed_demo(
    store: &dyn Store,
    now: DateTime<Utc>,
) -> Result<Vec<SeedOutcome>, StoreError> {
    let mut out = Vec::new();
    for demo in demo_patients() {
        let tz = demo.tz();
        let patient = store
            .upsert_patient(&NewPatient {
                demo_key: Some(demo.key.to_string()),
                given_name: demo.given.to_string(),
                family_name: demo.family.to_string(),
                birth_date: demo.birth_date,
                sex: Some(demo.sex.to_string()),
                time_zone: tz,
                preferred_unit: demo.device_model.unit,
            })
            .await?;
        let overview = store.overview(patient.id).await?;
        if overview.readings > 0 {
            out.push(SeedOutcome {
                patient: patient.display_name(),
                added: 0,
            });
            continue;
        }
        store
            .upsert_device(
                patient.id,
                &NewDevice {
                    device_key: demo.device_id().0,
                    display_name: demo.device_model.display.to_string(),
                    interval_s: demo.device_model.interval_s,
                },
            )
            .await?;
        let end = local_midnight(local_date(now, tz), tz);
        let readings = generate(&demo, end, DEMO_DAYS, DEMO_SEED);
        let added = store.insert_readings(patient.id, &readings).await?;
        tracing::info!(patient = %patient.display_name(), added, "seeded demo readings");
        out.push(SeedOutcome {
            patient: patient.display_name(),
            added,
        });
    }
    Ok(out)
}
