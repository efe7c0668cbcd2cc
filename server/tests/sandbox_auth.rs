//! The sandbox EHR's SMART authorization server over real HTTP: a sandbox on port 0 with a temp SQLite
//! file, driven with reqwest (redirects not followed). One positive test per flow and a negative test for
//! every check docs/sandbox-smart.md lists.

mod support;

use axum::http::HeaderMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use cloudcgm_server::sandbox::auth::{authenticate, AuthFailure, LaunchContext};
use cloudcgm_server::sandbox::{self, SandboxState};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{StatusCode, Url};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::collections::HashMap;
use support::{serve_sandbox, Served};

const SIGNING_PEM: &str = include_str!("fixtures/sandbox-auth-signing-TEST-ONLY.pem");
const CLIENT_RS_PEM: &str = include_str!("fixtures/sandbox-auth-client-rs384-TEST-ONLY.pem");
const REDIRECT: &str = "http://app.test/cb";
const SECRET: &str = "test-secret-0123456789";
const VERIFIER: &str = "verifier-0123456789-0123456789-0123456789-abcdef";

struct Sandbox {
    origin: String,
    state: SandboxState,
    http: reqwest::Client,
    es_pkcs8: Vec<u8>,
    _served: Served,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn challenge(verifier: &str) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref())
}

async fn start() -> Sandbox {
    let served = serve_sandbox(|_| {}).await;
    let state = served.state.clone();
    // A fixed key: generating RSA keys in a debug build is slow.
    state
        .auth
        .signing_keys()
        .install_pem(SIGNING_PEM)
        .await
        .expect("signing key");
    for (ty, id, patient, body) in [
        (
            "Patient",
            "p1",
            Some("p1"),
            json!({"resourceType": "Patient", "id": "p1", "name": [{"given": ["Ada"], "family": "Lovelace"}]}),
        ),
        (
            "Patient",
            "p2",
            Some("p2"),
            json!({"resourceType": "Patient", "id": "p2", "name": [{"text": "Bob Other"}]}),
        ),
        (
            "Practitioner",
            "dr1",
            None,
            json!({"resourceType": "Practitioner", "id": "dr1", "name": [{"text": "Dr One"}]}),
        ),
    ] {
        sqlx::query("INSERT INTO resources (type, id, version, last_updated, patient_id, body) VALUES (?, ?, 1, '2025-01-01T00:00:00.000Z', ?, ?)")
            .bind(ty).bind(id).bind(patient).bind(body.to_string())
            .execute(&state.db).await.expect("insert resource");
    }

    let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(CLIENT_RS_PEM).expect("client RSA key");
    let rs_jwk = json!({"kty": "RSA", "kid": "rs-1", "alg": "RS384",
        "n": b64(&rsa.n().to_bytes_be()), "e": b64(&rsa.e().to_bytes_be())});
    let rng = SystemRandom::new();
    let es_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
        .expect("EC key")
        .as_ref()
        .to_vec();
    let es = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &es_pkcs8, &rng)
        .expect("EC key pair");
    let point = es.public_key().as_ref();
    let es_jwk = json!({"kty": "EC", "crv": "P-384", "kid": "es-1", "alg": "ES384",
        "x": b64(&point[1..49]), "y": b64(&point[49..97])});

    let user_scope = "launch launch/patient launch/encounter openid fhirUser offline_access online_access patient/*.rs patient/Observation.cu?category=laboratory user/Patient.rs user/Observation.cu";
    for reg in [
        json!({"client_id": "public-app", "name": "Public", "launch_url": "http://app.test/launch",
            "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
            "scope": "launch launch/patient openid fhirUser patient/*.rs", "grant_types": ["authorization_code", "refresh_token"]}),
        json!({"client_id": "public-offline", "name": "Public offline", "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none", "scope": user_scope, "grant_types": ["authorization_code", "refresh_token"]}),
        json!({"client_id": "secret-app", "name": "Secret", "launch_url": "http://app.test/launch",
            "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic", "client_secret": SECRET,
            "scope": user_scope, "grant_types": ["authorization_code", "refresh_token"]}),
        json!({"client_id": "post-app", "name": "Post", "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_post", "client_secret": SECRET,
            "scope": user_scope, "grant_types": ["authorization_code", "refresh_token"]}),
        json!({"client_id": "rs-app", "name": "RS384", "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [rs_jwk]},
            "scope": format!("{user_scope} system/Observation.cu system/Patient.rs"),
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"]}),
        json!({"client_id": "es-app", "name": "ES384", "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [es_jwk]}, "scope": "system/Observation.cu system/Patient.rs",
            "grant_types": ["client_credentials"]}),
    ] {
        state
            .auth
            .register(serde_json::from_value(reg).expect("registration JSON"))
            .expect("register");
    }

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    Sandbox {
        origin: served.origin.clone(),
        state,
        http,
        es_pkcs8,
        _served: served,
    }
}

impl Sandbox {
    fn fhir_base(&self) -> String {
        format!("{}/sandbox/fhir", self.origin)
    }
    fn token_url(&self) -> String {
        format!("{}/sandbox/auth/token", self.origin)
    }

    async fn launch(&self, client_id: &str) -> String {
        self.state
            .auth
            .create_launch(
                client_id,
                LaunchContext {
                    fhir_user: "Practitioner/dr1".into(),
                    patient: "p1".into(),
                    encounter: Some("e1".into()),
                    need_patient_banner: false,
                },
            )
            .await
            .expect("launch")
    }

    /// Authorize parameters of a well-formed request; tests change or remove some.
    fn auth_params(&self, client_id: &str, scope: &str) -> Vec<(String, String)> {
        [
            ("response_type", "code".to_string()),
            ("client_id", client_id.to_string()),
            ("redirect_uri", REDIRECT.to_string()),
            ("scope", scope.to_string()),
            ("state", "st-1".to_string()),
            ("aud", self.fhir_base()),
            ("code_challenge", challenge(VERIFIER)),
            ("code_challenge_method", "S256".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    async fn authorize(&self, params: &[(String, String)]) -> reqwest::Response {
        self.http
            .get(format!("{}/sandbox/auth/authorize", self.origin))
            .query(params)
            .send()
            .await
            .expect("authorize")
    }

    /// Runs an EHR launch and returns the code.
    async fn ehr_code(&self, client_id: &str, scope: &str) -> String {
        let launch = self.launch(client_id).await;
        let mut p = self.auth_params(client_id, scope);
        p.push(("launch".into(), launch));
        let res = self.authorize(&p).await;
        let q = redirect_query(&res);
        assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
        q.get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code: {q:?}"))
    }

    async fn token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value, HeaderMap) {
        let mut req = self.http.post(self.token_url()).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        let res = req.send().await.expect("token request");
        let status = res.status();
        let headers = convert_headers(res.headers());
        let body: Value = res.json().await.expect("token JSON");
        (status, body, headers)
    }

    async fn redeem_public(&self, client_id: &str, code: &str) -> (StatusCode, Value) {
        let (s, b, _) = self
            .token(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                    ("client_id", client_id),
                ],
                None,
            )
            .await;
        (s, b)
    }

    fn assertion(
        &self,
        client_id: &str,
        alg: Algorithm,
        aud: &str,
        exp_offset: i64,
        jti: &str,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"iss": client_id, "sub": client_id, "aud": aud, "exp": now + exp_offset, "jti": jti});
        let (key, kid) = match alg {
            Algorithm::RS384 => (
                EncodingKey::from_rsa_pem(CLIENT_RS_PEM.as_bytes()).expect("rsa"),
                "rs-1",
            ),
            _ => (EncodingKey::from_ec_der(&self.es_pkcs8), "es-1"),
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, &key).expect("sign assertion")
    }

    async fn client_credentials(&self, assertion: &str, scope: &str) -> (StatusCode, Value) {
        let (s, b, _) = self
            .token(
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", scope),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion),
                ],
                None,
            )
            .await;
        (s, b)
    }

    async fn refresh_secret(&self, token: &str) -> (StatusCode, Value, HeaderMap) {
        self.token(
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            Some(("secret-app", SECRET)),
        )
        .await
    }

    async fn bearer(&self, token: &str) -> Result<sandbox::auth::Grant, AuthFailure> {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("header"),
        );
        authenticate(&self.state, &h).await
    }
}

fn convert_headers(h: &reqwest::header::HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::from_bytes(k.as_str().as_bytes()),
            axum::http::HeaderValue::from_bytes(v.as_bytes()),
        ) {
            out.insert(k, v);
        }
    }
    out
}

/// The query of a redirect to the registered URI.
fn redirect_query(res: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(res.status(), StatusCode::FOUND, "expected a redirect");
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location");
    assert!(
        location.starts_with(REDIRECT),
        "redirects only to the registered URI: {location}"
    );
    Url::parse(location)
        .expect("URL")
        .query_pairs()
        .into_owned()
        .collect()
}

fn error_of(res: &reqwest::Response) -> String {
    redirect_query(res)
        .get("error")
        .cloned()
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------------------
// Discovery

#[tokio::test]
async fn smart_configuration_advertises_the_endpoints_and_capabilities() {
    let sb = start().await;
    let c: Value = sb
        .http
        .get(format!(
            "{}/.well-known/smart-configuration",
            sb.fhir_base()
        ))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(str_of(&c, "issuer"), sb.fhir_base());
    assert_eq!(str_of(&c, "token_endpoint"), sb.token_url());
    assert_eq!(c["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        c["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS384", "ES384"])
    );
    let caps: Vec<&str> = c["capabilities"]
        .as_array()
        .expect("caps")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for cap in [
        "launch-ehr",
        "launch-standalone",
        "client-confidential-asymmetric",
        "permission-v2",
        "permission-v1",
        "authorize-post",
        "sso-openid-connect",
    ] {
        assert!(caps.contains(&cap), "{cap}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Positive flows

#[tokio::test]
async fn an_ehr_launch_gives_a_code_then_a_token_with_the_patient_that_authenticate_accepts() {
    let sb = start().await;
    let code = sb
        .ehr_code(
            "public-app",
            "launch openid fhirUser patient/Observation.rs",
        )
        .await;
    let (status, body) = sb.redeem_public("public-app", &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(str_of(&body, "patient"), "p1");
    assert_eq!(str_of(&body, "encounter"), "e1");
    assert_eq!(body["need_patient_banner"], json!(false));
    assert_eq!(str_of(&body, "token_type"), "Bearer");
    assert_eq!(
        str_of(&body, "scope"),
        "launch openid fhirUser patient/Observation.rs"
    );
    assert!(str_of(&body, "smart_style_url").starts_with(&sb.origin));
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
    let grant = sb
        .bearer(str_of(&body, "access_token"))
        .await
        .expect("token accepted");
    assert_eq!(grant.patient.as_deref(), Some("p1"));
    assert_eq!(grant.fhir_user.as_deref(), Some("Practitioner/dr1"));
    assert!(sb.state.auth.client_may_act_for("public-app", "p1").await);
    assert!(!sb.state.auth.client_may_act_for("public-app", "p2").await);
}

#[tokio::test]
async fn the_id_token_verifies_against_the_jwks_and_names_the_practitioner() {
    let sb = start().await;
    let code = sb.ehr_code("public-app", "launch openid fhirUser").await;
    let (_, body) = sb.redeem_public("public-app", &code).await;
    let id_token = str_of(&body, "id_token");
    let header = jsonwebtoken::decode_header(id_token).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
    let jwks: jsonwebtoken::jwk::JwkSet = sb
        .http
        .get(format!("{}/sandbox/auth/jwks", sb.origin))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid in jwks");
    let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
    v.set_audience(&["public-app"]);
    v.set_issuer(&[sb.fhir_base()]);
    let claims = jsonwebtoken::decode::<Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
        &v,
    )
    .expect("id_token verifies")
    .claims;
    assert_eq!(
        str_of(&claims, "fhirUser"),
        format!("{}/Practitioner/dr1", sb.fhir_base())
    );
}

#[tokio::test]
async fn a_standalone_launch_signs_in_with_the_picker_form_and_gives_the_chosen_patient() {
    let sb = start().await;
    let res = sb
        .authorize(&sb.auth_params("public-app", "launch/patient openid fhirUser patient/*.rs"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Its own CSP, whatever the host sets: Chromium applies form-action to the redirect after the POST, so
    // the client's redirect origin must be allowed.
    let csp = res.headers()[reqwest::header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("CSP")
        .to_string();
    assert!(csp.contains("form-action 'self' http://app.test;"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = res.text().await.expect("page");
    assert!(html.contains("Ada Lovelace") && html.contains("Dr One"));
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).expect(name) + marker.len();
        html[start..start + html[start..].find('"').expect("quote")].to_string()
    };
    let (request, csrf) = (field("request"), field("csrf"));
    let post = |csrf: String| {
        sb.http
            .post(format!("{}/sandbox/auth/signin", sb.origin))
            .form(&[
                ("request", request.clone()),
                ("csrf", csrf),
                ("practitioner", "dr1".into()),
                ("patient", "p2".into()),
                ("action", "approve".into()),
            ])
            .send()
    };
    assert_eq!(
        post("forged".into()).await.expect("post").status(),
        StatusCode::FORBIDDEN
    );
    let res = post(csrf.clone()).await.expect("post");
    let code = redirect_query(&res).get("code").cloned().expect("code");
    let (status, body) = sb.redeem_public("public-app", &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(str_of(&body, "patient"), "p2");
    assert_eq!(body["need_patient_banner"], json!(true));
    assert!(sb.state.auth.client_may_act_for("public-app", "p2").await);
    // The pending request is single use.
    assert_eq!(
        post(csrf).await.expect("post").status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_standalone_launch_without_a_launch_id_grants_no_ehr_context() {
    let sb = start().await;
    let res = sb
        .authorize(&sb.auth_params("secret-app", "launch openid user/Patient.rs"))
        .await;
    let html = res.text().await.expect("page");
    assert!(
        !html.contains("name=\"patient\""),
        "no patient picker without launch/patient"
    );
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).expect(name) + marker.len();
        html[start..start + html[start..].find('"').expect("quote")].to_string()
    };
    let res = sb
        .http
        .post(format!("{}/sandbox/auth/signin", sb.origin))
        .form(&[
            ("request", field("request")),
            ("csrf", field("csrf")),
            ("practitioner", "dr1".into()),
            ("patient", "p1".into()),
            ("action", "approve".into()),
        ])
        .send()
        .await
        .expect("post");
    let code = redirect_query(&res).get("code").cloned().expect("code");
    let (status, body, _) = sb
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some(("secret-app", SECRET)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.get("patient").is_none());
    assert_eq!(str_of(&body, "scope"), "openid user/Patient.rs");
}

#[tokio::test]
async fn a_confidential_client_authenticates_with_basic_or_post_as_registered() {
    let sb = start().await;
    let code = sb.ehr_code("secret-app", "launch user/Patient.rs").await;
    let (status, body, headers) = sb
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some(("secret-app", SECRET)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        headers.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let code = sb.ehr_code("post-app", "launch user/Patient.rs").await;
    let (status, body, _) = sb
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", "post-app"),
                ("client_secret", SECRET),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_private_key_jwt_client_redeems_a_code_with_an_rs384_assertion() {
    let sb = start().await;
    let code = sb.ehr_code("rs-app", "launch patient/*.rs").await;
    let a = sb.assertion("rs-app", Algorithm::RS384, &sb.token_url(), 120, "jti-rs-1");
    let (status, body, _) = sb
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &a),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(str_of(&body, "patient"), "p1");
}

#[tokio::test]
async fn client_credentials_with_es384_and_rs384_assertions_grant_system_scopes_without_refresh() {
    let sb = start().await;
    let a = sb.assertion("es-app", Algorithm::ES384, &sb.token_url(), 120, "jti-es-1");
    let (status, body) = sb
        .client_credentials(&a, "system/Observation.cu system/Device.cu")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(str_of(&body, "scope"), "system/Observation.cu");
    assert!(body.get("refresh_token").is_none() && body.get("patient").is_none());
    let grant = sb
        .bearer(str_of(&body, "access_token"))
        .await
        .expect("accepted");
    assert_eq!(grant.client_id, "es-app");
    let a = sb.assertion(
        "rs-app",
        Algorithm::RS384,
        &sb.token_url(),
        120,
        "jti-rs-cc",
    );
    let (status, body) = sb.client_credentials(&a, "system/Patient.rs").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reusing_a_dead_one_revokes_the_family() {
    let sb = start().await;
    let code = sb
        .ehr_code("secret-app", "launch offline_access user/Patient.rs")
        .await;
    let (_, first, _) = sb
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
            Some(("secret-app", SECRET)),
        )
        .await;
    let r1 = str_of(&first, "refresh_token").to_string();
    assert!(!r1.is_empty(), "{first}");
    let (status, second, _) = sb.refresh_secret(&r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = str_of(&second, "refresh_token").to_string();
    assert!(!r2.is_empty() && r2 != r1);
    assert_eq!(str_of(&second, "patient"), "p1");
    // Reusing r1 (dead) revokes every token of the family, r2 and the access tokens included.
    let (status, err, _) = sb.refresh_secret(&r1).await;
    assert_eq!(
        (status, str_of(&err, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (status, _, _) = sb.refresh_secret(&r2).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        sb.bearer(str_of(&second, "access_token")).await.err(),
        Some(AuthFailure::Invalid)
    );
    assert_eq!(
        sb.bearer(str_of(&first, "access_token")).await.err(),
        Some(AuthFailure::Invalid)
    );
}

// ---------------------------------------------------------------------------------------------------------
// The authorize endpoint's checks

#[tokio::test]
async fn an_unknown_client_gets_an_error_page_not_a_redirect() {
    let sb = start().await;
    let res = sb.authorize(&sb.auth_params("nobody", "launch")).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
}

#[tokio::test]
async fn an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let sb = start().await;
    let mut p = sb.auth_params("public-app", "launch");
    p[2].1 = "http://evil.test/cb".into();
    let res = sb.authorize(&p).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    p.retain(|(k, _)| k != "redirect_uri");
    assert_eq!(sb.authorize(&p).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn missing_or_plain_pkce_is_an_invalid_request() {
    let sb = start().await;
    let mut p = sb.auth_params("public-app", "launch/patient");
    p.retain(|(k, _)| !k.starts_with("code_challenge"));
    assert_eq!(error_of(&sb.authorize(&p).await), "invalid_request");
    let mut p = sb.auth_params("public-app", "launch/patient");
    p[7].1 = "plain".into();
    assert_eq!(error_of(&sb.authorize(&p).await), "invalid_request");
}

#[tokio::test]
async fn a_wrong_or_missing_aud_is_an_invalid_request() {
    let sb = start().await;
    let mut p = sb.auth_params("public-app", "launch/patient");
    p[5].1 = format!("{}/", sb.fhir_base());
    let res = sb.authorize(&p).await;
    assert_eq!(error_of(&res), "invalid_request");
    assert_eq!(
        redirect_query(&res).get("state").map(String::as_str),
        Some("st-1")
    );
    p.remove(5);
    assert_eq!(error_of(&sb.authorize(&p).await), "invalid_request");
}

#[tokio::test]
async fn a_launch_id_is_single_use() {
    let sb = start().await;
    let launch = sb.launch("public-app").await;
    let mut p = sb.auth_params("public-app", "launch");
    p.push(("launch".into(), launch));
    assert!(redirect_query(&sb.authorize(&p).await).contains_key("code"));
    assert_eq!(error_of(&sb.authorize(&p).await), "invalid_request");
}

#[tokio::test]
async fn a_launch_id_of_another_client_is_refused() {
    let sb = start().await;
    let launch = sb.launch("secret-app").await;
    let mut p = sb.auth_params("public-app", "launch");
    p.push(("launch".into(), launch));
    assert_eq!(error_of(&sb.authorize(&p).await), "invalid_request");
}

#[tokio::test]
async fn an_expired_or_forged_launch_id_is_refused() {
    let sb = start().await;
    let launch = sb.launch("public-app").await;
    sqlx::query("UPDATE auth_launches SET expires_at = 0")
        .execute(&sb.state.db)
        .await
        .expect("expire");
    let mut p = sb.auth_params("public-app", "launch");
    p.push(("launch".into(), launch));
    assert_eq!(error_of(&sb.authorize(&p).await), "invalid_request");
    let mut p = sb.auth_params("public-app", "launch");
    p.push(("launch".into(), "made-up".into()));
    assert_eq!(error_of(&sb.authorize(&p).await), "invalid_request");
}

#[tokio::test]
async fn granted_scopes_drop_what_the_client_is_not_registered_for() {
    let sb = start().await;
    let code = sb
        .ehr_code(
            "public-app",
            "launch patient/*.rs user/*.cruds system/*.rs offline_access made/up",
        )
        .await;
    let (_, body) = sb.redeem_public("public-app", &code).await;
    assert_eq!(str_of(&body, "scope"), "launch patient/*.rs");
    assert!(body.get("refresh_token").is_none());
}

// ---------------------------------------------------------------------------------------------------------
// The token endpoint's checks

#[tokio::test]
async fn a_wrong_code_verifier_is_an_invalid_grant() {
    let sb = start().await;
    let code = sb.ehr_code("public-app", "launch").await;
    let (status, body, _) = sb
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                (
                    "code_verifier",
                    "another-verifier-0123456789-0123456789-0123456789",
                ),
                ("client_id", "public-app"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn a_different_redirect_uri_at_the_token_endpoint_is_an_invalid_grant() {
    let sb = start().await;
    let code = sb.ehr_code("public-app", "launch").await;
    let (status, body, _) = sb
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://app.test/other"),
                ("code_verifier", VERIFIER),
                ("client_id", "public-app"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_the_tokens_issued_from_it() {
    let sb = start().await;
    let code = sb.ehr_code("public-app", "launch patient/*.rs").await;
    let (status, body) = sb.redeem_public("public-app", &code).await;
    assert_eq!(status, StatusCode::OK);
    let access = str_of(&body, "access_token").to_string();
    assert!(sb.bearer(&access).await.is_ok());
    let (status, err) = sb.redeem_public("public-app", &code).await;
    assert_eq!(
        (status, str_of(&err, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(sb.bearer(&access).await.err(), Some(AuthFailure::Invalid));
}

#[tokio::test]
async fn a_code_redeemed_by_another_client_is_an_invalid_grant() {
    let sb = start().await;
    let code = sb.ehr_code("public-app", "launch").await;
    let (status, body) = sb.redeem_public("public-offline", &code).await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn an_expired_code_is_an_invalid_grant() {
    let sb = start().await;
    let code = sb.ehr_code("public-app", "launch").await;
    sqlx::query("UPDATE auth_codes SET expires_at = 0")
        .execute(&sb.state.db)
        .await
        .expect("expire");
    let (status, _) = sb.redeem_public("public-app", &code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_wrong_secret_or_the_wrong_method_is_an_invalid_client() {
    let sb = start().await;
    let code = sb.ehr_code("secret-app", "launch").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let (status, body, headers) = sb
        .token(&form, Some(("secret-app", "wrong-secret-0123456789")))
        .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(headers.get("www-authenticate").is_some());
    // Registered for Basic: the same secret in the body is refused, and so is no authentication at all.
    let mut post = form.to_vec();
    post.extend([("client_id", "secret-app"), ("client_secret", SECRET)]);
    let (status, _, _) = sb.token(&post, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut public = form.to_vec();
    public.push(("client_id", "secret-app"));
    let (status, _, _) = sb.token(&public, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unknown_client_at_the_token_endpoint_is_an_invalid_client() {
    let sb = start().await;
    let (status, body, _) = sb
        .token(
            &[("grant_type", "client_credentials")],
            Some(("nobody", "x")),
        )
        .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
}

#[tokio::test]
async fn an_assertion_signed_with_another_key_is_refused() {
    let sb = start().await;
    // es-app's kid, but signed with a fresh key.
    let rng = SystemRandom::new();
    let other = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).expect("key");
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(Algorithm::ES384);
    header.kid = Some("es-1".into());
    let a = jsonwebtoken::encode(&header, &json!({"iss": "es-app", "sub": "es-app", "aud": sb.token_url(), "exp": now + 60, "jti": "x1"}),
        &EncodingKey::from_ec_der(other.as_ref())).expect("sign");
    let (status, body) = sb.client_credentials(&a, "system/Observation.cu").await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
}

#[tokio::test]
async fn an_assertion_for_another_audience_is_refused() {
    let sb = start().await;
    let a = sb.assertion("es-app", Algorithm::ES384, &sb.fhir_base(), 60, "aud-1");
    assert_eq!(
        sb.client_credentials(&a, "system/Observation.cu").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_expired_assertion_or_one_valid_for_too_long_is_refused() {
    let sb = start().await;
    let a = sb.assertion("es-app", Algorithm::ES384, &sb.token_url(), -120, "exp-1");
    assert_eq!(
        sb.client_credentials(&a, "system/Observation.cu").await.0,
        StatusCode::UNAUTHORIZED
    );
    let a = sb.assertion("es-app", Algorithm::ES384, &sb.token_url(), 3600, "exp-2");
    assert_eq!(
        sb.client_credentials(&a, "system/Observation.cu").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_replayed_assertion_jti_is_refused() {
    let sb = start().await;
    let a = sb.assertion("es-app", Algorithm::ES384, &sb.token_url(), 60, "once");
    assert_eq!(
        sb.client_credentials(&a, "system/Observation.cu").await.0,
        StatusCode::OK
    );
    let (status, body) = sb.client_credentials(&a, "system/Observation.cu").await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
}

#[tokio::test]
async fn client_credentials_requesting_user_or_patient_scopes_is_an_invalid_scope() {
    let sb = start().await;
    let a = sb.assertion("rs-app", Algorithm::RS384, &sb.token_url(), 60, "cc-user");
    let (status, body) = sb.client_credentials(&a, "user/Patient.rs").await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
}

#[tokio::test]
async fn client_credentials_is_refused_to_clients_not_registered_for_it() {
    let sb = start().await;
    let (status, body, _) = sb
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "system/Patient.rs"),
            ],
            Some(("secret-app", SECRET)),
        )
        .await;
    assert_eq!(
        (status, str_of(&body, "error")),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
}

#[tokio::test]
async fn a_public_client_without_offline_access_gets_no_refresh_token_and_cannot_refresh() {
    let sb = start().await;
    let code = sb
        .ehr_code("public-app", "launch offline_access patient/*.rs")
        .await;
    let (_, body) = sb.redeem_public("public-app", &code).await;
    assert!(body.get("refresh_token").is_none());
    let access = str_of(&body, "access_token").to_string();
    let (status, err, _) = sb
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &access),
                ("client_id", "public-app"),
            ],
            None,
        )
        .await;
    assert_eq!(
        (status, str_of(&err, "error")),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    let sb = start().await;
    let code = sb
        .ehr_code("public-offline", "launch online_access patient/*.rs")
        .await;
    let (_, body) = sb.redeem_public("public-offline", &code).await;
    let refresh = str_of(&body, "refresh_token").to_string();
    assert!(!refresh.is_empty(), "{body}");
    let (status, _, _) = sb
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "public-app"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, ok, _) = sb
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", "public-offline"),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
}

#[tokio::test]
async fn an_expired_or_unknown_access_token_is_invalid_and_a_missing_one_is_missing() {
    let sb = start().await;
    let code = sb.ehr_code("public-app", "launch patient/*.rs").await;
    let (_, body) = sb.redeem_public("public-app", &code).await;
    let access = str_of(&body, "access_token").to_string();
    sqlx::query("UPDATE auth_tokens SET expires_at = 0")
        .execute(&sb.state.db)
        .await
        .expect("expire");
    assert_eq!(sb.bearer(&access).await.err(), Some(AuthFailure::Invalid));
    assert_eq!(sb.bearer("made-up").await.err(), Some(AuthFailure::Invalid));
    assert_eq!(
        authenticate(&sb.state, &HeaderMap::new()).await.err(),
        Some(AuthFailure::Missing)
    );
}

#[tokio::test]
async fn repeated_failed_client_authentication_is_rate_limited() {
    let sb = start().await;
    for _ in 0..10 {
        let (status, _, _) = sb
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", "x")],
                Some(("secret-app", "wrong-wrong-wrong-wrong")),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = sb
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            Some(("secret-app", SECRET)),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
