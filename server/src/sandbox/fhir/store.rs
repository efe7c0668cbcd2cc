//! The sandbox's resource store: every resource as JSON with a search index (see
//! `migrations/sandbox/0001_fhir_resources.sql`).

use sqlx::SqlitePool;

#[derive(Clone)]
pub struct FhirStore {
    #[allow(dead_code)] // used by the search and submission code that follows
    pub(crate) db: SqlitePool,
}

impl FhirStore {
    pub fn new(db: SqlitePool) -> FhirStore {
        FhirStore { db }
    }
}
