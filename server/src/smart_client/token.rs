//! The token endpoint as a client (SMART App Launch 2.x "Obtain access token", "Refresh access token",
//! Backend Services; RFC 6749; RFC 7523 for `private_key_jwt`), and `id_token` verification against the
//! EHR's JWKS (OpenID Connect Core §3.1.3.7: signature, `iss`, `aud`, `exp`).
//!
//! Every token stays inside [`Secret`]; error values carry the server's `error`/`error_description` but never
//! a token or the request body.

use super::discovery::SmartConfiguration;
use super::pending::{PendingLaunch, PendingStore};
use super::{now, random_b64url, Secret, SmartError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cloudcgm::smart_scope::ScopeSet;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::fmt;

/// How long a `private_key_jwt` assertion is valid. SMART Backend Services allows at most five minutes; a
/// short life keeps a leaked assertion nearly useless (the `jti` already makes it single use).
pub const ASSERTION_LIFETIME_SECS: i64 = 240;

/// Clock skew tolerated when checking an id_token's `exp`.
pub const ID_TOKEN_LEEWAY_SECS: u64 = 60;

/// A private key for `private_key_jwt` (RS384 or ES384, the two SMART requires servers to support).
#[derive(Clone)]
pub struct SigningKey {
    /// The `kid` the EHR finds in the app's JWKS.
    pub kid: String,
    alg: Algorithm,
    key: EncodingKey,
}

impl SigningKey {
    /// From a PEM private key: PKCS#1 or PKCS#8 RSA for RS384, PKCS#8 P-384 for ES384.
    pub fn from_pem(kid: &str, alg: Algorithm, pem: &str) -> Result<SigningKey, SmartError> {
        let key = match alg {
            Algorithm::RS384 => EncodingKey::from_rsa_pem(pem.as_bytes()),
            Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            other => {
                return Err(SmartError::ClientCredentials(format!(
                    "{other:?} is not allowed; use RS384 or ES384"
                )))
            }
        }
        .map_err(|e| SmartError::ClientCredentials(format!("the private key PEM: {e}")))?;
        Ok(SigningKey {
            kid: kid.to_string(),
            alg,
            key,
        })
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// How CloudCGM authenticates at an EHR's token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A public client (PKCE only); CloudCGM itself is always confidential, but tests and peers may not be.
    None,
    ClientSecretBasic(Secret),
    PrivateKeyJwt(SigningKey),
}

/// CloudCGM's registration at one EHR.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub auth: ClientAuth,
}

/// A parsed token response. `Debug` shows everything but the tokens.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: Option<i64>,
    /// Unix seconds when the response arrived; with `expires_in`, when to refresh.
    pub received_at: i64,
    /// The scope actually granted (SMART.md: store and check this, not the request). When the server omits
    /// it, RFC 6749 §5.1 says it equals the requested scope.
    pub scope: String,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub need_patient_banner: bool,
    pub smart_style_url: Option<String>,
    /// The response's `fhirUser` extra, as sent: unverified. Prefer [`IdTokenClaims::fhir_user`].
    pub fhir_user: Option<String>,
    pub id_token: Option<Secret>,
    pub refresh_token: Option<Secret>,
}

impl TokenResponse {
    /// The granted scope, parsed.
    pub fn granted(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope)
    }

    /// Unix seconds when the access token expires, when the server said.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_in.map(|s| self.received_at + s)
    }

    /// True when the access token expires within `margin_secs` (refresh before expiry, SMART.md).
    pub fn needs_refresh(&self, margin_secs: i64) -> bool {
        self.expires_at()
            .is_some_and(|at| at - margin_secs <= now())
    }
}

/// The verified claims of an id_token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    /// `fhirUser`: a relative (`Practitioner/123`) or absolute URL.
    pub fhir_user: Option<String>,
    pub exp: i64,
}

/// The outcome of a completed EHR launch.
#[derive(Debug, Clone)]
pub struct CompletedLaunch {
    pub iss: String,
    pub token: TokenResponse,
    /// Present when the server returned an id_token (it then was verified).
    pub id_token: Option<IdTokenClaims>,
}

/// Percent-encodes for `application/x-www-form-urlencoded`, which RFC 6749 §2.3.1 requires for the
/// client id and secret inside the Basic header.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A signed `private_key_jwt` assertion for `token_endpoint` (RFC 7523; SMART Backend Services).
pub fn client_assertion(
    key: &SigningKey,
    client_id: &str,
    token_endpoint: &str,
) -> Result<Secret, SmartError> {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    header.typ = Some("JWT".into());
    let iat = now();
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": token_endpoint,
        "iat": iat,
        "exp": iat + ASSERTION_LIFETIME_SECS,
        "jti": random_b64url(),
    });
    jsonwebtoken::encode(&header, &claims, &key.key)
        .map(Secret::new)
        .map_err(|e| SmartError::ClientCredentials(format!("signing the assertion: {e}")))
}

/// POSTs a token request with client authentication and parses the answer.
async fn post_token(
    http: &reqwest::Client,
    config: &SmartConfiguration,
    client: &ClientCredentials,
    mut form: Vec<(&'static str, String)>,
    requested_scope: &str,
) -> Result<TokenResponse, SmartError> {
    let mut req = http
        .post(&config.token_endpoint)
        .header(reqwest::header::ACCEPT, "application/json");
    match &client.auth {
        ClientAuth::None => form.push(("client_id", client.client_id.clone())),
        ClientAuth::ClientSecretBasic(secret) => {
            let pair = format!(
                "{}:{}",
                form_encode(&client.client_id),
                form_encode(secret.expose())
            );
            req = req.header(
                reqwest::header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode(pair)),
            );
        }
        ClientAuth::PrivateKeyJwt(key) => {
            let assertion = client_assertion(key, &client.client_id, &config.token_endpoint)?;
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion", assertion.expose().to_string()));
        }
    }
    let res = req.form(&form).send().await?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(SmartError::OAuth {
            status: status.as_u16(),
            error: body["error"]
                .as_str()
                .unwrap_or("unknown_error")
                .to_string(),
            description: body["error_description"].as_str().map(str::to_string),
        });
    }
    parse_token_response(&body, requested_scope)
}

/// Parses a successful token response (SMART App Launch 2.x "Response to access token request").
pub fn parse_token_response(
    body: &Value,
    requested_scope: &str,
) -> Result<TokenResponse, SmartError> {
    let bad = |m: &str| SmartError::BadTokenResponse(m.to_string());
    let text = |k: &str| {
        body[k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let access_token = text("access_token").ok_or_else(|| bad("no access_token"))?;
    let token_type = text("token_type").ok_or_else(|| bad("no token_type"))?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(bad("token_type is not Bearer"));
    }
    let expires_in = match &body["expires_in"] {
        Value::Null => None,
        v => Some(
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad("expires_in is not a non-negative integer"))?,
        ),
    };
    Ok(TokenResponse {
        access_token: Secret::new(access_token),
        token_type,
        expires_in,
        received_at: now(),
        scope: text("scope").unwrap_or_else(|| requested_scope.to_string()),
        patient: text("patient"),
        encounter: text("encounter"),
        need_patient_banner: body["need_patient_banner"].as_bool().unwrap_or(false),
        smart_style_url: text("smart_style_url"),
        fhir_user: text("fhirUser"),
        id_token: text("id_token").map(Secret::new),
        refresh_token: text("refresh_token").map(Secret::new),
    })
}

/// Exchanges an authorization code of `pending` (already taken from the store).
pub async fn exchange_code(
    http: &reqwest::Client,
    config: &SmartConfiguration,
    client: &ClientCredentials,
    pending: &PendingLaunch,
    code: &str,
) -> Result<TokenResponse, SmartError> {
    // The verifier and code belong to the EHR the launch started at; sending them to another token
    // endpoint would hand them to a server that never issued them.
    if pending.iss != config.iss {
        return Err(SmartError::BadIssuer(format!(
            "the launch was started for {} but the configuration is for {}",
            pending.iss, config.iss
        )));
    }
    let form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", pending.redirect_uri.clone()),
        ("code_verifier", pending.code_verifier.expose().to_string()),
    ];
    post_token(http, config, client, form, &pending.requested_scope).await
}

/// The whole callback: takes the pending launch for `state` (single use), then [`finish_launch`].
pub async fn complete_launch(
    http: &reqwest::Client,
    store: &dyn PendingStore,
    config: &SmartConfiguration,
    client: &ClientCredentials,
    state: &str,
    code: &str,
) -> Result<CompletedLaunch, SmartError> {
    let pending = store.take(state).await?;
    finish_launch(http, config, client, pending, code).await
}

/// Exchanges `code` for the already taken `pending` launch and verifies the id_token when one came back
/// (it needs the EHR's `jwks_uri`).
pub async fn finish_launch(
    http: &reqwest::Client,
    config: &SmartConfiguration,
    client: &ClientCredentials,
    pending: PendingLaunch,
    code: &str,
) -> Result<CompletedLaunch, SmartError> {
    let token = exchange_code(http, config, client, &pending, code).await?;
    let id_token = match &token.id_token {
        None => None,
        Some(id_token) => {
            let uri = config.jwks_uri.as_deref().ok_or_else(|| {
                SmartError::IdToken("the EHR sent an id_token but publishes no jwks_uri".into())
            })?;
            let jwks = fetch_jwks(http, uri).await?;
            Some(verify_id_token(
                &jwks,
                id_token,
                &config.issuer,
                &client.client_id,
            )?)
        }
    };
    Ok(CompletedLaunch {
        iss: pending.iss,
        token,
        id_token,
    })
}

/// Refreshes an access token; a confidential client authenticates (SMART.md). `scope` may narrow it.
pub async fn refresh(
    http: &reqwest::Client,
    config: &SmartConfiguration,
    client: &ClientCredentials,
    refresh_token: &Secret,
    scope: Option<&str>,
    previous_scope: &str,
) -> Result<TokenResponse, SmartError> {
    let mut form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token.expose().to_string()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_string()));
    }
    post_token(http, config, client, form, scope.unwrap_or(previous_scope)).await
}

/// Backend Services: a system-level token with `client_credentials` and a `private_key_jwt` assertion.
pub async fn client_credentials(
    http: &reqwest::Client,
    config: &SmartConfiguration,
    client: &ClientCredentials,
    scope: &str,
) -> Result<TokenResponse, SmartError> {
    if !matches!(client.auth, ClientAuth::PrivateKeyJwt(_)) {
        return Err(SmartError::ClientCredentials(
            "Backend Services needs private_key_jwt".into(),
        ));
    }
    let form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("scope", scope.to_string()),
    ];
    post_token(http, config, client, form, scope).await
}

/// Fetches the EHR's public keys.
pub async fn fetch_jwks(http: &reqwest::Client, jwks_uri: &str) -> Result<JwkSet, SmartError> {
    let res = http.get(jwks_uri).send().await?;
    if !res.status().is_success() {
        return Err(SmartError::IdToken(format!(
            "the JWKS answered HTTP {}",
            res.status().as_u16()
        )));
    }
    res.json()
        .await
        .map_err(|e| SmartError::IdToken(format!("the JWKS is not a JWK set: {e}")))
}

/// Verifies an id_token: an asymmetric signature by a key of `jwks`, `iss` = `issuer`, `aud` contains
/// `client_id`, `exp` in the future (with [`ID_TOKEN_LEEWAY_SECS`]), and a `sub`.
pub fn verify_id_token(
    jwks: &JwkSet,
    id_token: &Secret,
    issuer: &str,
    client_id: &str,
) -> Result<IdTokenClaims, SmartError> {
    let err = |m: String| SmartError::IdToken(m);
    let header = jsonwebtoken::decode_header(id_token.expose())
        .map_err(|e| err(format!("unreadable header: {e}")))?;
    // Only asymmetric algorithms: with HS256 the "key" would be public material from the JWKS.
    use Algorithm::*;
    if !matches!(
        header.alg,
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 | ES256 | ES384
    ) {
        return Err(err(format!("algorithm {:?} is not accepted", header.alg)));
    }
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        // Without a kid, only an unambiguous set will do.
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or_else(|| err("no key in the EHR's JWKS matches the id_token".into()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| err(format!("unusable JWK: {e}")))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = ID_TOKEN_LEEWAY_SECS;
    let data = jsonwebtoken::decode::<Value>(id_token.expose(), &key, &validation)
        .map_err(|e| err(format!("{e}")))?;
    let c = data.claims;
    Ok(IdTokenClaims {
        iss: c["iss"].as_str().unwrap_or_default().to_string(),
        sub: c["sub"].as_str().unwrap_or_default().to_string(),
        fhir_user: c["fhirUser"].as_str().map(str::to_string),
        exp: c["exp"].as_i64().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_response_debug_shows_no_token() {
        let body = json!({"access_token": "AT-secret-1", "token_type": "bearer", "expires_in": 3600,
            "scope": "launch openid", "patient": "p1", "id_token": "ID-secret-2",
            "refresh_token": "RT-secret-3", "need_patient_banner": true});
        let t = parse_token_response(&body, "ignored").unwrap();
        let out = format!("{t:?} {t:#?}");
        for s in ["AT-secret-1", "ID-secret-2", "RT-secret-3"] {
            assert!(!out.contains(s), "{s} leaked: {out}");
        }
        assert!(out.contains("p1"));
        assert!(t.need_patient_banner);
        assert_eq!(t.expires_at(), Some(t.received_at + 3600));
        assert!(!t.needs_refresh(60));
        assert!(t.needs_refresh(3600));
    }

    #[test]
    fn a_response_without_scope_means_the_requested_scope_and_bad_ones_are_refused() {
        let t = parse_token_response(
            &json!({"access_token": "a", "token_type": "Bearer"}),
            "openid",
        )
        .unwrap();
        assert_eq!(t.scope, "openid");
        assert!(parse_token_response(&json!({"token_type": "Bearer"}), "").is_err());
        assert!(
            parse_token_response(&json!({"access_token": "a", "token_type": "mac"}), "").is_err()
        );
        assert!(parse_token_response(
            &json!({"access_token": "a", "token_type": "Bearer", "expires_in": -1}),
            ""
        )
        .is_err());
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encode("a b:c/é"), "a%20b%3Ac%2F%C3%A9");
        assert_eq!(form_encode("cloudcgm-symmetric"), "cloudcgm-symmetric");
    }

    #[test]
    fn only_rs384_and_es384_keys_are_accepted() {
        assert!(SigningKey::from_pem("k", Algorithm::HS256, "x").is_err());
        assert!(SigningKey::from_pem("k", Algorithm::RS384, "not a pem").is_err());
    }
}
