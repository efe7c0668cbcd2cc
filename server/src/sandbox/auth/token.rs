//! The token endpoint `POST /auth/token` (RFC 6749 §4.1.3, §6, §4.4; RFC 7636; SMART App Launch 2.x
//! "Obtain access token", "Refresh access token", Backend Services, and the client authentication
//! profiles: symmetric `client_secret_basic`/`client_secret_post`, asymmetric `private_key_jwt`).
//!
//! Client authentication uses exactly the registered method. Errors are RFC 6749 §5.2 JSON with
//! `Cache-Control: no-store`; `invalid_client` is 401. Authorization codes are single use: a second use
//! revokes every token issued from the code. Refresh tokens rotate: a used one presented again revokes its
//! whole family.

use super::super::SandboxState;
use super::clients::{AuthMethod, Client};
use super::util::{form_decode, now, random_token, secrets_equal, sha256_b64url, sha256_hex};
use super::{
    AuthServer, TokenContext, ACCESS_TOKEN_TTL_SECS, ASSERTION_MAX_LIFETIME_SECS,
    REFRESH_TOKEN_TTL_SECS,
};
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use cloudcgm::smart_scope::{Context, Scope, ScopeSet};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// An RFC 6749 §5.2 error.
#[derive(Debug)]
pub struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl TokenError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> TokenError {
        TokenError {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }
    fn invalid_request(d: impl Into<String>) -> TokenError {
        TokenError::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    fn invalid_client(d: impl Into<String>) -> TokenError {
        TokenError::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }
    fn invalid_grant(d: impl Into<String>) -> TokenError {
        TokenError::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    fn unauthorized_client(d: impl Into<String>) -> TokenError {
        TokenError::new(StatusCode::BAD_REQUEST, "unauthorized_client", d)
    }
    fn invalid_scope(d: impl Into<String>) -> TokenError {
        TokenError::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }
    fn server_error(e: impl std::fmt::Display) -> TokenError {
        tracing::error!(error = %e, "token endpoint failure");
        TokenError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut res = (self.status, no_store_json(body)).into_response();
        if self.basic_challenge {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"sandbox\""),
            );
        }
        res
    }
}

fn no_store_json(body: Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

type Params = HashMap<String, String>;

pub async fn token(
    State(state): State<SandboxState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(pairs)) = form else {
        return TokenError::invalid_request("expected an application/x-www-form-urlencoded body")
            .into_response();
    };
    let mut params = Params::new();
    for (k, v) in pairs {
        if params.contains_key(&k) {
            return TokenError::invalid_request(format!("{k} is given more than once"))
                .into_response();
        }
        params.insert(k, v);
    }
    match handle(&state.auth, &headers, &params).await {
        Ok(body) => no_store_json(body),
        Err(e) => e.into_response(),
    }
}

async fn handle(
    auth: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Value, TokenError> {
    let grant_type = param(params, "grant_type")
        .ok_or_else(|| TokenError::invalid_request("grant_type is required"))?;
    if !matches!(
        grant_type,
        "authorization_code" | "refresh_token" | "client_credentials"
    ) {
        return Err(TokenError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "supported: authorization_code, refresh_token, client_credentials",
        ));
    }
    let client = authenticate_client(auth, headers, params).await?;
    if !client.has_grant_type(grant_type) {
        return Err(TokenError::unauthorized_client(format!(
            "this client is not registered for {grant_type}"
        )));
    }
    match grant_type {
        "authorization_code" => authorization_code(auth, &client, params).await,
        "refresh_token" => refresh(auth, &client, params).await,
        _ => client_credentials(auth, &client, params).await,
    }
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------------------
// Client authentication

/// Authenticates the client with exactly its registered method.
async fn authenticate_client(
    auth: &AuthServer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Arc<Client>, TokenError> {
    let basic = basic_credentials(headers)?;
    let assertion = param(params, "client_assertion");
    let (method, claimed_id) = match (&basic, assertion, param(params, "client_secret")) {
        (Some((id, _)), None, None) => (AuthMethod::ClientSecretBasic, id.clone()),
        (None, Some(a), None) => (AuthMethod::PrivateKeyJwt, assertion_issuer(a)?),
        (None, None, Some(_)) => (
            AuthMethod::ClientSecretPost,
            param(params, "client_id")
                .ok_or_else(|| TokenError::invalid_request("client_id is required"))?
                .to_string(),
        ),
        (None, None, None) => (
            AuthMethod::None,
            param(params, "client_id")
                .ok_or_else(|| TokenError::invalid_client("client authentication is required"))?
                .to_string(),
        ),
        _ => {
            return Err(TokenError::invalid_request(
                "use exactly one client authentication method",
            ))
        }
    };
    if let Some(id) = param(params, "client_id") {
        if id != claimed_id {
            return Err(TokenError::invalid_client(
                "client_id does not match the client authentication",
            ));
        }
    }
    if auth.auth_rate_limited(&claimed_id) {
        return Err(TokenError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_client",
            "too many failed client authentications; try again later",
        ));
    }
    let result = check_client(auth, method, &claimed_id, basic, params).await;
    if result.is_err() {
        auth.note_auth_failure(&claimed_id);
    }
    result
}

async fn check_client(
    auth: &AuthServer,
    method: AuthMethod,
    client_id: &str,
    basic: Option<(String, String)>,
    params: &Params,
) -> Result<Arc<Client>, TokenError> {
    let with_challenge = |mut e: TokenError| {
        e.basic_challenge = method == AuthMethod::ClientSecretBasic;
        e
    };
    let client = auth
        .client(client_id)
        .ok_or_else(|| with_challenge(TokenError::invalid_client("unknown client")))?;
    if client.auth_method != method {
        return Err(with_challenge(TokenError::invalid_client(
            "this client must authenticate with its registered method",
        )));
    }
    match method {
        AuthMethod::None => {}
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let presented = match basic {
                Some((_, secret)) => secret,
                None => param(params, "client_secret").unwrap_or("").to_string(),
            };
            let ok = client
                .secret
                .as_deref()
                .is_some_and(|s| secrets_equal(s, &presented));
            if !ok {
                return Err(with_challenge(TokenError::invalid_client(
                    "wrong client secret",
                )));
            }
        }
        AuthMethod::PrivateKeyJwt => {
            if param(params, "client_assertion_type") != Some(CLIENT_ASSERTION_TYPE) {
                return Err(TokenError::invalid_client(format!(
                    "client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
                )));
            }
            let assertion = param(params, "client_assertion").unwrap_or("");
            verify_assertion(auth, &client, assertion).await?;
        }
    }
    Ok(client)
}

/// `Authorization: Basic` credentials, form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        let mut e = TokenError::invalid_client("malformed Basic credentials");
        e.basic_challenge = true;
        e
    };
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((
        form_decode(id).ok_or_else(bad)?,
        form_decode(secret).ok_or_else(bad)?,
    )))
}

/// The unverified `iss` of an assertion, to know whose keys to verify it with.
fn assertion_issuer(jwt: &str) -> Result<String, TokenError> {
    let bad = || TokenError::invalid_client("malformed client_assertion");
    let payload = jwt.split('.').nth(1).ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
    let claims: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    claims
        .get("iss")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(bad)
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    sub: String,
    exp: i64,
    jti: String,
}

async fn verify_assertion(auth: &AuthServer, client: &Client, jwt: &str) -> Result<(), TokenError> {
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|_| TokenError::invalid_client("malformed client_assertion header"))?;
    let alg = header.alg;
    if !matches!(alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(TokenError::invalid_client(
            "client_assertion must be signed with RS384 or ES384",
        ));
    }
    let kid = header
        .kid
        .ok_or_else(|| TokenError::invalid_client("client_assertion header needs a kid"))?;
    let jwks = client_jwks(auth, client, &kid).await?;
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k.common.key_id.as_deref() == Some(kid.as_str()) && key_fits(&k.algorithm, alg))
        .ok_or_else(|| {
            TokenError::invalid_client("no registered key matches the assertion's kid")
        })?;
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|_| TokenError::invalid_client("the registered key is unusable"))?;
    let mut validation = Validation::new(alg);
    validation.set_audience(&[auth.token_endpoint()]);
    validation.set_issuer(&[client.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = 30;
    let data = jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &validation).map_err(|e| {
        TokenError::invalid_client(format!("client_assertion rejected: {:?}", e.kind()))
    })?;
    let claims = data.claims;
    if claims.sub != client.client_id {
        return Err(TokenError::invalid_client(
            "client_assertion sub must be the client_id",
        ));
    }
    let t = now();
    if claims.exp > t + ASSERTION_MAX_LIFETIME_SECS + 30 {
        return Err(TokenError::invalid_client(
            "client_assertion exp is more than 5 minutes ahead",
        ));
    }
    if claims.jti.is_empty() {
        return Err(TokenError::invalid_client("client_assertion needs a jti"));
    }
    // Replay protection: remember each jti until its assertion could no longer be accepted anyway.
    let _ = sqlx::query("DELETE FROM auth_assertion_jtis WHERE expires_at < ?")
        .bind(t - 60)
        .execute(auth.db())
        .await;
    let inserted = sqlx::query(
        "INSERT OR IGNORE INTO auth_assertion_jtis (client_id, jti, expires_at) VALUES (?, ?, ?)",
    )
    .bind(&client.client_id)
    .bind(&claims.jti)
    .bind(claims.exp + 60)
    .execute(auth.db())
    .await
    .map_err(TokenError::server_error)?
    .rows_affected();
    if inserted != 1 {
        return Err(TokenError::invalid_client(
            "client_assertion jti was already used",
        ));
    }
    Ok(())
}

fn key_fits(params: &AlgorithmParameters, alg: Algorithm) -> bool {
    matches!(
        (params, alg),
        (AlgorithmParameters::RSA(_), Algorithm::RS384)
            | (AlgorithmParameters::EllipticCurve(_), Algorithm::ES384)
    )
}

/// The client's JWKS: inline, or fetched from `jwks_url` (cached 5 minutes; refetched at most every 10 s
/// when an unknown `kid` shows up, so a key rotation takes effect at once).
async fn client_jwks(auth: &AuthServer, client: &Client, kid: &str) -> Result<JwkSet, TokenError> {
    if let Some(jwks) = &client.jwks {
        return Ok(jwks.clone());
    }
    let Some(url) = &client.jwks_url else {
        return Err(TokenError::invalid_client("no keys registered"));
    };
    let cached = auth
        .jwks_cache
        .lock()
        .ok()
        .and_then(|c| c.get(&client.client_id).cloned());
    if let Some((fetched, set)) = &cached {
        let has_kid = set
            .keys
            .iter()
            .any(|k| k.common.key_id.as_deref() == Some(kid));
        let age = fetched.elapsed();
        if age < Duration::from_secs(300) && (has_kid || age < Duration::from_secs(10)) {
            return Ok(set.clone());
        }
    }
    let fetched = async {
        let res = auth.http.get(url).send().await?.error_for_status()?;
        res.json::<JwkSet>().await
    }
    .await;
    match fetched {
        Ok(set) => {
            if let Ok(mut c) = auth.jwks_cache.lock() {
                c.insert(client.client_id.clone(), (Instant::now(), set.clone()));
            }
            Ok(set)
        }
        Err(e) => {
            tracing::warn!(client_id = %client.client_id, error = %e, "fetching a client's jwks_url failed");
            cached.map(|(_, set)| set).ok_or_else(|| {
                TokenError::invalid_client("the client's jwks_url could not be fetched")
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Grants

async fn authorization_code(
    auth: &AuthServer,
    client: &Client,
    params: &Params,
) -> Result<Value, TokenError> {
    let code =
        param(params, "code").ok_or_else(|| TokenError::invalid_request("code is required"))?;
    let redirect_uri = param(params, "redirect_uri")
        .ok_or_else(|| TokenError::invalid_request("redirect_uri is required"))?;
    let verifier = param(params, "code_verifier")
        .ok_or_else(|| TokenError::invalid_request("PKCE code_verifier is required"))?;
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
        i64,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT family, client_id, redirect_uri, code_challenge, scope, patient, encounter, fhir_user,
                need_patient_banner, expires_at, used
         FROM auth_codes WHERE code_hash = ?",
    )
    .bind(sha256_hex(code))
    .fetch_optional(auth.db())
    .await
    .map_err(TokenError::server_error)?;
    let Some((
        family,
        code_client,
        code_redirect,
        challenge,
        scope,
        patient,
        encounter,
        fhir_user,
        banner,
        expires_at,
        used,
    )) = row
    else {
        return Err(TokenError::invalid_grant("unknown authorization code"));
    };
    if code_client != client.client_id {
        return Err(TokenError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if used {
        revoke_family(auth, &family).await;
        return Err(TokenError::invalid_grant(
            "the code was already used; tokens issued from it are revoked",
        ));
    }
    if expires_at <= now() {
        return Err(TokenError::invalid_grant("the code has expired"));
    }
    if code_redirect != redirect_uri {
        return Err(TokenError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let verifier_ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !verifier_ok || !secrets_equal(&sha256_b64url(verifier.as_bytes()), &challenge) {
        return Err(TokenError::invalid_grant(
            "PKCE code_verifier does not match",
        ));
    }
    let consumed = sqlx::query("UPDATE auth_codes SET used = 1 WHERE code_hash = ? AND used = 0")
        .bind(sha256_hex(code))
        .execute(auth.db())
        .await
        .map_err(TokenError::server_error)?
        .rows_affected();
    if consumed != 1 {
        revoke_family(auth, &family).await;
        return Err(TokenError::invalid_grant("the code was already used"));
    }
    let ctx = TokenContext {
        client_id: client.client_id.clone(),
        scope: ScopeSet::parse(&scope),
        patient,
        encounter,
        fhir_user,
        need_patient_banner: banner,
    };
    if let Some(p) = &ctx.patient {
        auth.link_client_patient(&client.client_id, p).await;
    }
    let refresh = ctx.scope.allows_refresh() && client.has_grant_type("refresh_token");
    let mut body = issue(auth, &ctx, &family, refresh).await?;
    if ctx.scope.contains(&Scope::OpenId) {
        if let Some(user) = &ctx.fhir_user {
            let id_token = id_token(auth, client, user, &ctx.scope).await?;
            body.insert("id_token".into(), Value::String(id_token));
        }
    }
    Ok(Value::Object(body))
}

async fn refresh(auth: &AuthServer, client: &Client, params: &Params) -> Result<Value, TokenError> {
    let token = param(params, "refresh_token")
        .ok_or_else(|| TokenError::invalid_request("refresh_token is required"))?;
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
        i64,
        bool,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT family, client_id, scope, patient, encounter, fhir_user, need_patient_banner, expires_at,
                used, revoked
         FROM auth_tokens WHERE token_hash = ? AND kind = 'refresh'",
    )
    .bind(sha256_hex(token))
    .fetch_optional(auth.db())
    .await
    .map_err(TokenError::server_error)?;
    let Some((
        family,
        token_client,
        scope,
        patient,
        encounter,
        fhir_user,
        banner,
        expires_at,
        used,
        revoked,
    )) = row
    else {
        return Err(TokenError::invalid_grant("unknown refresh token"));
    };
    if token_client != client.client_id {
        return Err(TokenError::invalid_grant(
            "the refresh token belongs to another client",
        ));
    }
    if revoked {
        return Err(TokenError::invalid_grant("the refresh token was revoked"));
    }
    if used {
        revoke_family(auth, &family).await;
        return Err(TokenError::invalid_grant(
            "the refresh token was already used; its whole family is revoked",
        ));
    }
    if expires_at <= now() {
        return Err(TokenError::invalid_grant("the refresh token has expired"));
    }
    let original = ScopeSet::parse(&scope);
    let scope = match param(params, "scope") {
        // A refresh may narrow the scope, never widen it.
        Some(s) => {
            let narrowed = ScopeSet::parse(s).intersect(&original);
            if narrowed.is_empty() {
                return Err(TokenError::invalid_scope(
                    "the requested scope is not within the original grant",
                ));
            }
            narrowed
        }
        None => original,
    };
    let consumed = sqlx::query(
        "UPDATE auth_tokens SET used = 1 WHERE token_hash = ? AND used = 0 AND revoked = 0",
    )
    .bind(sha256_hex(token))
    .execute(auth.db())
    .await
    .map_err(TokenError::server_error)?
    .rows_affected();
    if consumed != 1 {
        revoke_family(auth, &family).await;
        return Err(TokenError::invalid_grant(
            "the refresh token was already used",
        ));
    }
    let ctx = TokenContext {
        client_id: client.client_id.clone(),
        scope,
        patient,
        encounter,
        fhir_user,
        need_patient_banner: banner,
    };
    // A narrowed refresh keeps a refresh token only if offline/online access survived the narrowing.
    let again = ctx.scope.allows_refresh();
    Ok(Value::Object(issue(auth, &ctx, &family, again).await?))
}

async fn client_credentials(
    auth: &AuthServer,
    client: &Client,
    params: &Params,
) -> Result<Value, TokenError> {
    if !auth.backend_services() {
        return Err(TokenError::unauthorized_client(
            "Backend Services are switched off on this sandbox",
        ));
    }
    if client.auth_method != AuthMethod::PrivateKeyJwt {
        return Err(TokenError::unauthorized_client(
            "client_credentials needs private_key_jwt",
        ));
    }
    let requested = ScopeSet::parse(param(params, "scope").unwrap_or(""));
    if requested
        .iter()
        .any(|s| !matches!(s, Scope::Resource(r) if r.context == Context::System))
    {
        return Err(TokenError::invalid_scope(
            "client_credentials grants only system/ scopes",
        ));
    }
    let granted = requested.intersect(&client.scope);
    if granted.is_empty() {
        return Err(TokenError::invalid_scope(
            "none of the requested scopes is registered for this client",
        ));
    }
    let ctx = TokenContext {
        client_id: client.client_id.clone(),
        scope: granted,
        ..TokenContext::default()
    };
    let mut body = issue(auth, &ctx, &random_token(), false).await?;
    for k in ["need_patient_banner", "smart_style_url"] {
        body.remove(k);
    }
    Ok(Value::Object(body))
}

/// Stores and returns a new access token (and refresh token) for `ctx`, in token `family`.
async fn issue(
    auth: &AuthServer,
    ctx: &TokenContext,
    family: &str,
    with_refresh: bool,
) -> Result<Map<String, Value>, TokenError> {
    let access = random_token();
    store_token(auth, "access", &access, family, ctx, ACCESS_TOKEN_TTL_SECS).await?;
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(ACCESS_TOKEN_TTL_SECS));
    body.insert("scope".into(), json!(ctx.scope.to_string()));
    if let Some(p) = &ctx.patient {
        body.insert("patient".into(), json!(p));
    }
    if let Some(e) = &ctx.encounter {
        body.insert("encounter".into(), json!(e));
    }
    if let Some(u) = &ctx.fhir_user {
        body.insert(
            "fhirUser".into(),
            json!(format!("{}/{u}", auth.fhir_base())),
        );
    }
    body.insert("need_patient_banner".into(), json!(ctx.need_patient_banner));
    body.insert(
        "smart_style_url".into(),
        json!(format!("{}/auth/smart-style.json", auth.base)),
    );
    if with_refresh {
        let refresh = random_token();
        store_token(
            auth,
            "refresh",
            &refresh,
            family,
            ctx,
            REFRESH_TOKEN_TTL_SECS,
        )
        .await?;
        body.insert("refresh_token".into(), json!(refresh));
    }
    Ok(body)
}

async fn store_token(
    auth: &AuthServer,
    kind: &str,
    token: &str,
    family: &str,
    ctx: &TokenContext,
    ttl: i64,
) -> Result<(), TokenError> {
    let t = now();
    sqlx::query(
        "INSERT INTO auth_tokens (token_hash, kind, family, client_id, scope, patient, encounter, fhir_user,
                                  need_patient_banner, issued_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(sha256_hex(token))
    .bind(kind)
    .bind(family)
    .bind(&ctx.client_id)
    .bind(ctx.scope.to_string())
    .bind(&ctx.patient)
    .bind(&ctx.encounter)
    .bind(&ctx.fhir_user)
    .bind(ctx.need_patient_banner)
    .bind(t)
    .bind(t + ttl)
    .execute(auth.db())
    .await
    .map_err(TokenError::server_error)?;
    Ok(())
}

async fn revoke_family(auth: &AuthServer, family: &str) {
    let r = sqlx::query("UPDATE auth_tokens SET revoked = 1 WHERE family = ?")
        .bind(family)
        .execute(auth.db())
        .await;
    match r {
        Ok(r) => tracing::warn!(
            revoked = r.rows_affected(),
            "a code or refresh token was replayed; its token family is revoked"
        ),
        Err(e) => tracing::error!(error = %e, "revoking a token family failed"),
    }
}

/// The OpenID Connect id_token: iss = FHIR base, sub, aud = client_id, and `fhirUser` as an absolute URL.
async fn id_token(
    auth: &AuthServer,
    client: &Client,
    fhir_user: &str,
    scope: &ScopeSet,
) -> Result<String, TokenError> {
    let key = auth
        .signing_keys()
        .current()
        .await
        .map_err(TokenError::server_error)?;
    let t = now();
    let mut claims = json!({
        "iss": auth.fhir_base(),
        "sub": fhir_user,
        "aud": client.client_id,
        "iat": t,
        "exp": t + ACCESS_TOKEN_TTL_SECS,
    });
    if scope.contains(&Scope::FhirUser) {
        claims["fhirUser"] = json!(format!("{}/{fhir_user}", auth.fhir_base()));
    }
    key.sign(&claims).map_err(TokenError::server_error)
}
