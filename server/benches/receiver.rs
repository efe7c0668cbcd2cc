//! The sandbox receiver's throughput: one `$submit-cgm-bundle` of 90 days of 5-minute sensor readings
//! (25,920 Observations, ~16 MB), over real HTTP into a SQLite file, measured end to end (parse, validate,
//! dedup lookups, insert with the search index, the transaction-response). Each iteration submits for a new
//! patient so every entry is created; `resubmit` measures the same Bundle again, all matched by identifier
//! (DUP-5). Results and commands: docs/PERFORMANCE.md.

use axum::Router;
use chrono::{Duration as Span, TimeZone, Utc};
use cloudcgm_server::sandbox::auth::util::sha256_hex;
use cloudcgm_server::sandbox::fhir::store;
use cloudcgm_server::sandbox::{self, SandboxConfig, SandboxState};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const READINGS: usize = 90 * 288;

fn bundle(patient: &str) -> Vec<u8> {
    let start = Utc.with_ymd_and_hms(2026, 8, 1, 0, 0, 0).unwrap();
    let entries: Vec<Value> = (0..READINGS)
        .map(|i| {
            let at = (start + Span::minutes(5 * i as i64)).format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let value = 70 + (i * 37 % 180);
            json!({"fullUrl": format!("urn:uuid:00000000-0000-4000-8000-{i:012}"),
                "request": {"method": "POST", "url": "Observation",
                    "ifNoneExist": format!("identifier=https%3A%2F%2Fcloudcgm.example%2Fr%7C{patient}-{i}")},
                "resource": {"resourceType": "Observation", "status": "final",
                    "identifier": [{"system": "https://cloudcgm.example/r", "value": format!("{patient}-{i}")}],
                    "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "99504-3", "display": "Glucose [Mass/volume] in Interstitial fluid"}]},
                    "subject": {"reference": format!("Patient/{patient}")},
                    "effectiveDateTime": at,
                    "valueQuantity": {"value": value, "unit": "mg/dl", "system": "http://unitsofmeasure.org", "code": "mg/dL"}}})
        })
        .collect();
    serde_json::to_vec(&json!({"resourceType": "Bundle", "type": "transaction",
        "timestamp": "2026-11-01T00:00:00Z", "entry": entries}))
    .unwrap()
}

struct Bench {
    url: String,
    state: SandboxState,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn patient_with_token(&self, n: usize) -> (String, String) {
        let id = format!("bench{n}");
        let mut conn = self.state.db.acquire().await.unwrap();
        store::insert(
            &mut conn,
            &id,
            json!({"resourceType": "Patient"}),
            "2026-01-01T00:00:00.000Z",
        )
        .await
        .unwrap();
        let token = format!("bench-token-{n}");
        sqlx::query(
            "INSERT INTO auth_tokens (token_hash, kind, family, client_id, scope, patient, need_patient_banner, \
             issued_at, expires_at) VALUES (?, 'access', ?, 'bench', 'patient/Observation.c', ?, 0, 0, ?)",
        )
        .bind(sha256_hex(&token))
        .bind(&token)
        .bind(&id)
        .bind(i64::MAX / 2)
        .execute(&self.state.db)
        .await
        .unwrap();
        (id, token)
    }

    async fn submit(&self, token: &str, body: Vec<u8>) {
        let res = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .header("content-type", "application/fhir+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["entry"].as_array().unwrap().len(), READINGS);
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = SandboxConfig::new(
            format!("http://{addr}"),
            format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
        );
        config.submit_min_interval = Duration::ZERO;
        let state = SandboxState::open(config).await.unwrap();
        let app = Router::new().nest("/sandbox", sandbox::router(state.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Bench {
            url: format!("http://{addr}/sandbox/fhir/$submit-cgm-bundle"),
            state,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    });

    let mut group = c.benchmark_group("receiver_90d_raw_readings");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    group.throughput(Throughput::Elements(READINGS as u64));
    let mut n = 0;
    group.bench_function("create", |bencher| {
        bencher.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let (patient, token) = b.patient_with_token(n).await;
                    let body = bundle(&patient);
                    let t = Instant::now();
                    b.submit(&token, body).await;
                    total += t.elapsed();
                }
                total
            })
        })
    });
    let (patient, token) = rt.block_on(b.patient_with_token(0));
    let body = bundle(&patient);
    rt.block_on(b.submit(&token, body.clone()));
    group.bench_function("resubmit_all_matched", |bencher| {
        bencher
            .to_async(&rt)
            .iter(|| b.submit(&token, body.clone()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
