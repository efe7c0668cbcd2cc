//! What the integration tests share: CloudCGM's test configuration, a sandbox EHR served on a free loopback
//! port with its own temp SQLite file, access tokens minted straight into its token table (the flows that issue them are
//! tested in sandbox_auth.rs), and the IG's example data with the patient it names.
//!
//! Each test crate uses part of this, so unused items are expected here.
#![allow(dead_code)]

pub mod launch;

use axum::Router;
use cloudcgm_server::config::Config;
use cloudcgm_server::sandbox::auth::util::sha256_hex;
use cloudcgm_server::sandbox::fhir::store;
use cloudcgm_server::sandbox::{self, SandboxConfig, SandboxState};
use serde_json::{json, Value};
use std::time::Duration;

pub const EXAMPLE: &str =
    include_str!("../../../tests/fixtures/ig/Bundle-cgmDataSubmissionBundle.json");
pub const DEVICE: &str = include_str!("../../../tests/fixtures/ig/Device-cgmDeviceExample.json");
pub const ORDER: &str = include_str!(
    "../../../tests/fixtures/ig/ServiceRequest-cgmDataSubmissionStandingOrderExample.json"
);
/// The example Bundle's subject; [`store_example_patients`] creates it under this id so the example can be
/// submitted verbatim.
pub const PATIENT: &str = "patientExample";
/// The example Bundle's sensor reading.
pub const READING: usize = 8;
/// What a CGM submitter asks for.
pub const WRITE_SCOPES: &str = "patient/Observation.c patient/DiagnosticReport.c patient/Device.c \
                                patient/ServiceRequest.cr patient/Patient.r";

/// CloudCGM on port 0 with demo data, every file (databases, development secrets) in `dir`.
pub fn app_config(dir: &std::path::Path, demo_mode: bool, sandbox: bool) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().expect("addr"),
        database_url: format!("sqlite://{}/app.db?mode=rwc", dir.display()),
        demo_mode,
        seed_demo: true,
        site_root: dir.display().to_string(),
        public_origin: None,
        sandbox,
        sandbox_database_url: format!("sqlite://{}/sandbox.db?mode=rwc", dir.display()),
        sandbox_clients_file: None,
        sandbox_origin: None,
        ehrs_file: None,
        dev_secrets_file: Some(dir.join("dev-secrets.json")),
        code_ttl_hours: 24,
    }
}

/// A sandbox answering over real HTTP. Dropping it deletes its database.
pub struct Served {
    pub origin: String,
    pub state: SandboxState,
    _dir: tempfile::TempDir,
}

/// Serves a fresh sandbox (no submission rate limit unless `configure` sets one) under `/sandbox`.
pub async fn serve_sandbox(configure: impl FnOnce(&mut SandboxConfig)) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let db_url = format!("sqlite://{}/sandbox.db?mode=rwc", dir.path().display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut config = SandboxConfig::new(format!("http://{addr}"), db_url);
    config.submit_min_interval = Duration::ZERO;
    configure(&mut config);
    let state = SandboxState::open(config).await.expect("sandbox opens");
    let app = Router::new().nest("/sandbox", sandbox::router(state.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Served {
        origin: format!("http://{addr}"),
        state,
        _dir: dir,
    }
}

/// An access token of `client` with `scope`, for `patient` and `fhir_user` when given, valid for an hour.
pub async fn mint_token(
    state: &SandboxState,
    client: &str,
    scope: &str,
    patient: Option<&str>,
    fhir_user: Option<&str>,
) -> String {
    let token = format!("test-token-{}", store::new_id());
    let now = chrono::Utc::now().timestamp();
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, kind, family, client_id, scope, patient, encounter, fhir_user, \
         need_patient_banner, issued_at, expires_at) VALUES (?, 'access', ?, ?, ?, ?, NULL, ?, 0, ?, ?)",
    )
    .bind(sha256_hex(&token))
    .bind(store::new_id())
    .bind(client)
    .bind(scope)
    .bind(patient)
    .bind(fhir_user)
    .bind(now)
    .bind(now + 3600)
    .execute(&state.db)
    .await
    .expect("mint token");
    token
}

/// Stores [`PATIENT`] (MRN-1) and `other` (MRN-2).
pub async fn store_example_patients(state: &SandboxState) {
    let mut conn = state.db.acquire().await.expect("conn");
    for (id, mrn) in [(PATIENT, "MRN-1"), ("other", "MRN-2")] {
        store::insert(
            &mut conn,
            id,
            json!({"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":mrn}],
                   "name":[{"family":"Example"}]}),
            "2024-01-01T00:00:00.000Z",
        )
        .await
        .expect("patient");
    }
}

/// The IG's example submission Bundle.
pub fn example() -> Value {
    serde_json::from_str(EXAMPLE).expect("example bundle")
}

/// A transaction Bundle of `resources`, each POSTed with a urn:uuid fullUrl.
pub fn bundle_of(resources: Vec<Value>) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let t = r["resourceType"].as_str().unwrap().to_string();
            json!({"fullUrl": format!("urn:uuid:00000000-0000-4000-8000-{i:012}"), "resource": r,
                   "request": {"method": "POST", "url": t}})
        })
        .collect();
    json!({"resourceType":"Bundle","type":"transaction","timestamp":"2024-05-02T14:30:00Z","entry":entry})
}

/// The example's sensor reading without its id, identified by `value`.
pub fn reading(value: &str) -> Value {
    let mut r = example()["entry"][READING]["resource"].clone();
    r.as_object_mut().unwrap().remove("id");
    r["identifier"] =
        json!([{"system":"https://cloudcgm.example/fhir/cgm/sensor-reading","value":value}]);
    r
}

/// A served sandbox holding the example patients, with an HTTP client: the receiver under test.
pub struct Receiver {
    pub served: Served,
    pub http: reqwest::Client,
}

impl std::ops::Deref for Receiver {
    type Target = Served;
    fn deref(&self) -> &Served {
        &self.served
    }
}

/// [`serve_sandbox`] with [`store_example_patients`].
pub async fn start_with(configure: impl FnOnce(&mut SandboxConfig)) -> Receiver {
    let served = serve_sandbox(configure).await;
    store_example_patients(&served.state).await;
    Receiver {
        served,
        http: reqwest::Client::new(),
    }
}
