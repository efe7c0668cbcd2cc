//! The sandbox's configuration: its database, its public URL (the `iss`/`aud` every token is bound to), the
//! client registry file, and the receiver's limits (RCV-6 submission rate, body size: docs/sandbox-receiver.md).

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// `sqlite://path?mode=rwc`; separate from CloudCGM's database.
    pub database_url: String,
    /// Origin the sandbox is reached at, without a trailing slash, e.g. `http://127.0.0.1:3000`. The sandbox
    /// lives at `{origin}/sandbox`; its FHIR base (the SMART `aud` and `iss`) is `{origin}/sandbox/fhir`.
    pub origin: String,
    /// JSON file of registered SMART clients (see `config/sandbox-clients.json`). `None` registers only the
    /// demo CloudCGM client for `app_origin`.
    pub clients_file: Option<PathBuf>,
    /// Origin of the CloudCGM app the demo registry registers (its `/launch` and `/callback`).
    pub app_origin: String,
    /// A client may call `$submit-cgm-bundle` at most once per this interval per patient (RCV-6: 429 with
    /// Retry-After beyond it). Zero disables the limit.
    pub submit_min_interval: Duration,
    /// Largest accepted request body in bytes (413 beyond it).
    pub max_body_bytes: usize,
    /// Most entries accepted in one submission (413 beyond it).
    pub max_entries: usize,
    /// Create the demo patients, practitioners and orders when missing.
    pub seed: bool,
}

/// 90 days of 5-minute readings is ~26,000 Observations of ~600 bytes: 16 MB. 64 MB leaves room for pretty
/// printing and a PDF.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// A year of 5-minute readings (105,120) plus summaries fits; more must be chunked (NOTES A7).
pub const DEFAULT_MAX_ENTRIES: usize = 120_000;
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/sandbox.db?mode=rwc";

impl SandboxConfig {
    /// A configuration for an origin with every other setting at its default.
    pub fn new(origin: impl Into<String>, database_url: impl Into<String>) -> SandboxConfig {
        let origin = origin.into().trim_end_matches('/').to_string();
        SandboxConfig {
            database_url: database_url.into(),
            app_origin: origin.clone(),
            origin,
            clients_file: None,
            submit_min_interval: Duration::from_secs(10),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_entries: DEFAULT_MAX_ENTRIES,
            seed: false,
        }
    }

    /// `{origin}/sandbox`
    pub fn base(&self) -> String {
        format!("{}/sandbox", self.origin)
    }

    /// The FHIR base URL: the only valid `aud`, and the `iss` of launches.
    pub fn fhir_base(&self) -> String {
        format!("{}/sandbox/fhir", self.origin)
    }
}
