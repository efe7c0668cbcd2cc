//! The authorization request of an EHR launch (SMART App Launch 2.x "Obtain authorization code"): a fresh
//! `state` and PKCE pair, the [`PendingLaunch`] stored under that state, and the URL to redirect the browser
//! to. `aud` is exactly the `iss` string (not normalised): the EHR compares it byte for byte with its FHIR
//! base, and a normalised value would be refused by a strict server such as the sandbox.

use super::discovery::SmartConfiguration;
use super::pending::{PendingLaunch, PendingStore};
use super::pkce::Pkce;
use super::{now, random_b64url, Secret, SmartError};
use reqwest::Url;

/// What goes into the authorize URL besides the generated `state` and PKCE challenge.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// The EHR's launch id; `None` for a standalone launch.
    pub launch: Option<&'a str>,
    pub scope: &'a str,
}

/// The authorize URL: `response_type=code`, client_id, redirect_uri, launch, scope, state, aud = iss,
/// code_challenge, code_challenge_method=S256.
pub fn authorize_url(
    config: &SmartConfiguration,
    req: &AuthorizeRequest<'_>,
    state: &str,
    code_challenge: &str,
) -> Result<Url, SmartError> {
    let mut url = Url::parse(&config.authorization_endpoint)
        .map_err(|e| SmartError::Discovery(format!("authorization_endpoint is not a URL: {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", req.client_id)
            .append_pair("redirect_uri", req.redirect_uri);
        if let Some(launch) = req.launch {
            q.append_pair("launch", launch);
        }
        q.append_pair("scope", req.scope)
            .append_pair("state", state)
            .append_pair("aud", &config.iss)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
    }
    Ok(url)
}

/// Starts a launch: generates state and PKCE, stores the pending launch, returns the authorize URL.
pub async fn begin_launch(
    store: &dyn PendingStore,
    config: &SmartConfiguration,
    req: &AuthorizeRequest<'_>,
) -> Result<Url, SmartError> {
    let pkce = Pkce::generate();
    let state = random_b64url();
    let url = authorize_url(config, req, &state, &pkce.challenge)?;
    store
        .insert(PendingLaunch {
            state: Secret::new(state),
            iss: config.iss.clone(),
            launch: req.launch.map(str::to_string),
            code_verifier: pkce.verifier,
            redirect_uri: req.redirect_uri.to_string(),
            requested_scope: req.scope.to_string(),
            created_at: now(),
        })
        .await?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smart_client::pending::MemoryPendingStore;
    use crate::smart_client::pkce::challenge_s256;
    use std::collections::HashMap;

    fn config() -> SmartConfiguration {
        SmartConfiguration {
            iss: "https://ehr.example/fhir/".into(),
            issuer: "https://ehr.example/fhir/".into(),
            authorization_endpoint: "https://ehr.example/auth?tenant=a".into(),
            token_endpoint: "https://ehr.example/token".into(),
            jwks_uri: None,
            grant_types_supported: vec![],
            token_endpoint_auth_methods_supported: vec![],
            scopes_supported: vec![],
            capabilities: vec![],
            code_challenge_methods_supported: vec!["S256".into()],
            from_capability_statement: false,
        }
    }

    #[tokio::test]
    async fn the_url_carries_every_parameter_and_the_pending_launch_matches_it() {
        let store = MemoryPendingStore::new();
        let req = AuthorizeRequest {
            client_id: "cloudcgm",
            redirect_uri: "https://app.example/callback",
            launch: Some("xyz"),
            scope: "launch openid fhirUser",
        };
        let url = begin_launch(&store, &config(), &req).await.unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "a", "the endpoint's own query is kept");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "cloudcgm");
        assert_eq!(q["redirect_uri"], "https://app.example/callback");
        assert_eq!(q["launch"], "xyz");
        assert_eq!(q["scope"], "launch openid fhirUser");
        assert_eq!(
            q["aud"], "https://ehr.example/fhir/",
            "aud is iss exactly, trailing slash too"
        );
        assert_eq!(q["code_challenge_method"], "S256");
        let pending = store.take(&q["state"]).await.unwrap();
        assert_eq!(
            q["code_challenge"],
            challenge_s256(pending.code_verifier.expose())
        );
        assert_eq!(pending.launch.as_deref(), Some("xyz"));
        assert_eq!(pending.requested_scope, "launch openid fhirUser");
        assert!(!url.as_str().contains(pending.code_verifier.expose()));
    }
}
