//! CloudCGM's SMART client (`cloudcgm_server::smart_client`) against the real sandbox EHR over HTTP:
//! discovery → authorize URL → the sandbox's authorize redirect (followed by hand, redirects off) → code
//! exchange → verified id_token, for a `client_secret_basic` and a `private_key_jwt` client, plus refresh,
//! Backend Services, and the refusals: replayed state, expired pending launch, wrong iss, tampered id_token.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cloudcgm_server::sandbox::auth::LaunchContext;
use cloudcgm_server::smart_client::authorize::{begin_launch, AuthorizeRequest};
use cloudcgm_server::smart_client::discovery::{discover, ScopeSyntax, SmartConfiguration};
use cloudcgm_server::smart_client::pending::{MemoryPendingStore, PendingError, PendingStore};
use cloudcgm_server::smart_client::token::{
    client_credentials, complete_launch, exchange_code, fetch_jwks, refresh, verify_id_token,
    ClientAuth, ClientCredentials, SigningKey,
};
use cloudcgm_server::smart_client::{Secret, SmartError};
use jsonwebtoken::Algorithm;
use reqwest::Url;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::collections::HashMap;
use support::{serve_sandbox, Served};

const SIGNING_PEM: &str = include_str!("fixtures/sandbox-auth-signing-TEST-ONLY.pem");
const CLIENT_RS_PEM: &str = include_str!("fixtures/sandbox-auth-client-rs384-TEST-ONLY.pem");
const REDIRECT: &str = "http://127.0.0.1:9/cloudcgm/callback";
const SECRET: &str = "smart-client-test-secret-0123456789";
const USER_SCOPES: &str = "launch launch/patient openid fhirUser offline_access online_access \
    user/Patient.r user/Patient.read user/ServiceRequest.rs user/ServiceRequest.read user/Observation.cu \
    user/Observation.write user/DiagnosticReport.cu user/DiagnosticReport.write user/Device.cu user/Device.write";

struct Ehr {
    served: Served,
    http: reqwest::Client,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

async fn start() -> Ehr {
    let served = serve_sandbox(|_| {}).await;
    let auth = &served.state.auth;
    // A fixed id_token key: generating RSA keys in a debug build is slow.
    auth.signing_keys()
        .install_pem(SIGNING_PEM)
        .await
        .expect("signing key");
    let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(CLIENT_RS_PEM).expect("client RSA key");
    let jwk = json!({"kty": "RSA", "kid": "cgm-rs-1", "alg": "RS384",
        "n": b64(&rsa.n().to_bytes_be()), "e": b64(&rsa.e().to_bytes_be())});
    for reg in [
        json!({"client_id": "cgm-secret", "name": "CloudCGM (secret)", "launch_url": "http://127.0.0.1:9/launch",
            "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic",
            "client_secret": SECRET, "scope": USER_SCOPES,
            "grant_types": ["authorization_code", "refresh_token"]}),
        json!({"client_id": "cgm-jwt", "name": "CloudCGM (key)", "launch_url": "http://127.0.0.1:9/launch",
            "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [jwk]}, "scope": format!("{USER_SCOPES} system/Observation.cu system/Patient.rs"),
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]}),
    ] {
        auth.register(serde_json::from_value(reg).expect("registration"))
            .expect("register");
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    Ehr { served, http }
}

fn secret_client() -> ClientCredentials {
    ClientCredentials {
        client_id: "cgm-secret".into(),
        auth: ClientAuth::ClientSecretBasic(Secret::new(SECRET)),
    }
}

fn jwt_client() -> ClientCredentials {
    ClientCredentials {
        client_id: "cgm-jwt".into(),
        auth: ClientAuth::PrivateKeyJwt(
            SigningKey::from_pem("cgm-rs-1", Algorithm::RS384, CLIENT_RS_PEM).expect("key"),
        ),
    }
}

impl Ehr {
    fn iss(&self) -> String {
        self.served.state.auth.fhir_base().to_string()
    }

    async fn discover(&self) -> SmartConfiguration {
        discover(&self.http, &self.iss()).await.expect("discovery")
    }

    /// The EHR opens the app: a launch id for Dr One in patient p1's chart.
    async fn ehr_launch(&self, client_id: &str) -> String {
        self.served
            .state
            .auth
            .create_launch(
                client_id,
                LaunchContext {
                    fhir_user: "Practitioner/dr1".into(),
                    patient: "p1".into(),
                    encounter: Some("e1".into()),
                    need_patient_banner: true,
                },
            )
            .await
            .expect("launch")
    }

    /// `/launch` of CloudCGM, then the browser at the authorize endpoint: returns (state, code) of the
    /// redirect to CloudCGM's callback.
    async fn authorize(
        &self,
        store: &dyn PendingStore,
        config: &SmartConfiguration,
        client_id: &str,
    ) -> (String, String) {
        let launch = self.ehr_launch(client_id).await;
        let scope = config.requested_scope();
        let url = begin_launch(
            store,
            config,
            &AuthorizeRequest {
                client_id,
                redirect_uri: REDIRECT,
                launch: Some(&launch),
                scope: &scope,
            },
        )
        .await
        .expect("begin launch");
        let res = self.http.get(url).send().await.expect("authorize");
        assert!(res.status().is_redirection(), "{}", res.status());
        let location = res.headers()["location"].to_str().expect("location");
        assert!(location.starts_with(REDIRECT), "{location}");
        let q: HashMap<String, String> = Url::parse(location)
            .expect("redirect URL")
            .query_pairs()
            .into_owned()
            .collect();
        let code = q
            .get("code")
            .unwrap_or_else(|| panic!("no code: {q:?}"))
            .clone();
        (q["state"].clone(), code)
    }
}

#[tokio::test]
async fn an_ehr_launch_with_a_client_secret_yields_the_granted_scopes_patient_and_a_verified_fhir_user(
) {
    let ehr = start().await;
    let config = ehr.discover().await;
    assert_eq!(config.scope_syntax(), ScopeSyntax::V2);
    assert!(config.supports_backend_services());
    let store = MemoryPendingStore::new();
    let client = secret_client();
    let (state, code) = ehr.authorize(&store, &config, "cgm-secret").await;

    let done = complete_launch(&ehr.http, &store, &config, &client, &state, &code)
        .await
        .expect("callback");
    let granted = done.token.granted();
    for s in [
        "launch",
        "openid",
        "fhirUser",
        "online_access",
        "user/Patient.r",
        "user/ServiceRequest.rs",
        "user/Observation.cu",
        "user/DiagnosticReport.cu",
        "user/Device.cu",
    ] {
        assert!(granted.has(s), "{s} not granted: {}", done.token.scope);
    }
    assert!(
        !granted.has("offline_access"),
        "Backend Services exist, so not requested"
    );
    assert_eq!(done.iss, ehr.iss());
    assert_eq!(done.token.patient.as_deref(), Some("p1"));
    assert_eq!(done.token.encounter.as_deref(), Some("e1"));
    assert!(done.token.need_patient_banner);
    let id = done.id_token.as_ref().expect("verified id_token");
    assert_eq!(
        id.fhir_user.as_deref(),
        Some(format!("{}/Practitioner/dr1", ehr.iss()).as_str())
    );
    assert_eq!(id.iss, ehr.iss());

    // No token in Debug output.
    let debug = format!("{done:?}");
    for t in [
        &done.token.access_token,
        done.token.id_token.as_ref().unwrap(),
    ] {
        assert!(!debug.contains(t.expose()));
    }

    // The token works at the FHIR API, as the granted scope says.
    let res = ehr
        .http
        .get(format!("{}/Patient/p1", ehr.iss()))
        .bearer_auth(done.token.access_token.expose())
        .send()
        .await
        .expect("FHIR read");
    assert_ne!(res.status().as_u16(), 401);

    // Refresh, authenticated with the secret; the refresh token rotates.
    let rt = done.token.refresh_token.clone().expect("refresh token");
    let next = refresh(&ehr.http, &config, &client, &rt, None, &done.token.scope)
        .await
        .expect("refresh");
    assert_ne!(next.access_token, done.token.access_token);
    assert!(next.granted().has("user/Patient.r"));
    let unauthenticated = ClientCredentials {
        client_id: "cgm-secret".into(),
        auth: ClientAuth::ClientSecretBasic(Secret::new("wrong-secret-0123456789")),
    };
    let err = refresh(
        &ehr.http,
        &config,
        &unauthenticated,
        next.refresh_token.as_ref().expect("rotated"),
        None,
        "",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SmartError::OAuth { ref error, .. } if error == "invalid_client"),
        "{err}"
    );
}

#[tokio::test]
async fn an_ehr_launch_and_backend_services_work_with_private_key_jwt() {
    let ehr = start().await;
    let config = ehr.discover().await;
    let store = MemoryPendingStore::new();
    let client = jwt_client();
    let debug = format!("{client:?}");
    assert!(
        debug.contains("cgm-rs-1") && debug.contains("<redacted>"),
        "{debug}"
    );
    let (state, code) = ehr.authorize(&store, &config, "cgm-jwt").await;
    let done = complete_launch(&ehr.http, &store, &config, &client, &state, &code)
        .await
        .expect("callback");
    assert_eq!(done.token.patient.as_deref(), Some("p1"));
    assert!(done.id_token.is_some());

    let system = client_credentials(
        &ehr.http,
        &config,
        &client,
        "system/Observation.cu system/Patient.rs",
    )
    .await
    .expect("client_credentials");
    assert!(system.granted().has("system/Observation.cu"));
    assert!(system.refresh_token.is_none() && system.patient.is_none());
    // Each assertion has a fresh jti, so a second request is not a replay.
    client_credentials(&ehr.http, &config, &client, "system/Patient.rs")
        .await
        .expect("second client_credentials");
    // A secret client cannot do Backend Services.
    assert!(
        client_credentials(&ehr.http, &config, &secret_client(), "system/Patient.rs")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_replayed_state_is_rejected() {
    let ehr = start().await;
    let config = ehr.discover().await;
    let store = MemoryPendingStore::new();
    let (state, code) = ehr.authorize(&store, &config, "cgm-secret").await;
    complete_launch(&ehr.http, &store, &config, &secret_client(), &state, &code)
        .await
        .expect("first callback");
    let err = complete_launch(&ehr.http, &store, &config, &secret_client(), &state, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SmartError::Pending(PendingError::Unknown)),
        "{err}"
    );
    let err = complete_launch(
        &ehr.http,
        &store,
        &config,
        &secret_client(),
        "forged",
        &code,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SmartError::Pending(PendingError::Unknown)),
        "{err}"
    );
}

#[tokio::test]
async fn an_expired_pending_launch_is_rejected() {
    let ehr = start().await;
    let config = ehr.discover().await;
    let store = MemoryPendingStore::new();
    let (state, code) = ehr.authorize(&store, &config, "cgm-secret").await;
    // The user took longer than the pending launch lives.
    let mut pending = store.take(&state).await.expect("pending");
    pending.created_at -= 3600;
    store.insert(pending).await.expect("reinsert");
    let err = complete_launch(&ehr.http, &store, &config, &secret_client(), &state, &code)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SmartError::Pending(PendingError::Expired)),
        "{err}"
    );
}

#[tokio::test]
async fn a_wrong_iss_is_rejected() {
    let ehr = start().await;
    // The same server under another name: its smart-configuration names a different issuer.
    let alias = ehr.iss().replace("127.0.0.1", "localhost");
    let err = discover(&ehr.http, &alias).await.unwrap_err();
    assert!(
        matches!(err, SmartError::Discovery(ref m) if m.contains("issuer")),
        "{err}"
    );
    // Not https and not loopback.
    assert!(matches!(
        discover(&ehr.http, "http://ehr.example/fhir")
            .await
            .unwrap_err(),
        SmartError::BadIssuer(_)
    ));

    // A code of a launch started at one EHR is not sent to another EHR's token endpoint.
    let config = ehr.discover().await;
    let store = MemoryPendingStore::new();
    let (state, code) = ehr.authorize(&store, &config, "cgm-secret").await;
    let mut pending = store.take(&state).await.expect("pending");
    pending.iss = "https://other-ehr.example/fhir".into();
    let err = exchange_code(&ehr.http, &config, &secret_client(), &pending, &code)
        .await
        .unwrap_err();
    assert!(matches!(err, SmartError::BadIssuer(_)), "{err}");
}

#[tokio::test]
async fn a_tampered_or_misaddressed_id_token_is_rejected() {
    let ehr = start().await;
    let config = ehr.discover().await;
    let store = MemoryPendingStore::new();
    let client = secret_client();
    let (state, code) = ehr.authorize(&store, &config, "cgm-secret").await;
    let done = complete_launch(&ehr.http, &store, &config, &client, &state, &code)
        .await
        .expect("callback");
    let id_token = done.token.id_token.clone().expect("id_token");
    let jwks = fetch_jwks(&ehr.http, config.jwks_uri.as_deref().expect("jwks_uri"))
        .await
        .expect("jwks");
    verify_id_token(&jwks, &id_token, &config.issuer, "cgm-secret").expect("the original verifies");

    // Another practitioner in the payload, signature kept.
    let parts: Vec<&str> = id_token.expose().split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("payload")).expect("json");
    claims["fhirUser"] = json!(format!("{}/Practitioner/someone-else", ehr.iss()));
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    assert!(verify_id_token(&jwks, &Secret::new(forged), &config.issuer, "cgm-secret").is_err());
    // Meant for another client, or from another issuer.
    assert!(verify_id_token(&jwks, &id_token, &config.issuer, "cgm-jwt").is_err());
    assert!(verify_id_token(
        &jwks,
        &id_token,
        "https://other-ehr.example/fhir",
        "cgm-secret"
    )
    .is_err());
    // "alg": "none" or a symmetric algorithm is never accepted.
    let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), parts[1]);
    assert!(verify_id_token(&jwks, &Secret::new(none), &config.issuer, "cgm-secret").is_err());
}
