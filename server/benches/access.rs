//! What each clinician request and sign-in pays for access control (issue 4): opening a sealed token
//! (AES-256-GCM with row-bound associated data), sealing one, a sharing code's HMAC lookup value, and an
//! argon2id password check (the portal sign-in; deliberately slow). Results and commands:
//! docs/PERFORMANCE.md.

use cloudcgm_server::crypto::aad_for;
use cloudcgm_server::portal::{hash_password, verify_password};
use cloudcgm_server::secrets::AppSecrets;
use cloudcgm_server::sharing_code::SharingCode;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let (keys, code_key, pem) = AppSecrets::generate_env().expect("keys");
    let secrets = AppSecrets::from_parts(&keys, &code_key, &pem).expect("secrets");
    // A realistic access token: a signed JWT of about 800 bytes.
    let token = "eyJhbGciOiJSUzM4NCJ9.".to_string() + &"x".repeat(780);
    let aad = aad_for("launches", 4711, "access_token");
    let sealed = secrets.keyring.seal(&aad, token.as_bytes()).expect("seal");
    c.bench_function("seal_access_token", |b| {
        b.iter(|| {
            secrets
                .keyring
                .seal(black_box(&aad), black_box(token.as_bytes()))
        })
    });
    c.bench_function("open_access_token", |b| {
        b.iter(|| {
            secrets
                .keyring
                .open_string(black_box(&aad), black_box(&sealed))
        })
    });
    let code = SharingCode::generate();
    c.bench_function("sharing_code_parse_and_lookup", |b| {
        b.iter(|| {
            let parsed = SharingCode::parse(black_box(&code.grouped())).expect("parses");
            secrets.sharing_code_key.lookup(&parsed)
        })
    });
    let hash = hash_password("elena-cgm-demo").expect("hash");
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(10);
    group.bench_function("verify_password", |b| {
        b.iter(|| verify_password(black_box("elena-cgm-demo"), black_box(&hash)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
