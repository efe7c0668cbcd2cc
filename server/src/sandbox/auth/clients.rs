//! The registry of SMART clients the sandbox accepts (SMART App Launch 2.x "Registering a SMART App";
//! client authentication profiles): exact redirect URIs, one token endpoint auth method each, the most
//! scope a client can be granted, and its grant types. Loaded from `SandboxConfig::clients_file`, else the
//! demo registry `config/sandbox-clients.json`; `{app}` in URLs becomes `SandboxConfig::app_origin`.

use super::super::SandboxConfig;
use anyhow::Context as _;
use cloudcgm::smart_scope::ScopeSet;
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

/// The demo registry, used when no clients file is configured.
pub const DEMO_REGISTRY: &str = include_str!("../../../../config/sandbox-clients.json");

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client: no authentication, PKCE only.
    None,
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl AuthMethod {
    pub fn is_confidential(self) -> bool {
        self != AuthMethod::None
    }
}

/// One client as written in the registry file.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientRegistration {
    pub client_id: String,
    pub name: String,
    #[serde(default)]
    pub launch_url: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: AuthMethod,
    /// The shared secret (demo registries only; prefer `client_secret_env`).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Name of an environment variable holding the secret; wins over `client_secret` when set.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// Inline public keys for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<JwkSet>,
    /// Where to fetch the public keys for `private_key_jwt`.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The most the client can be granted (space-separated scopes).
    pub scope: String,
    pub grant_types: Vec<String>,
}

#[derive(Deserialize)]
struct RegistryFile {
    clients: Vec<ClientRegistration>,
}

/// A registered client, ready to check requests against.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub launch_url: Option<String>,
    pub redirect_uris: Vec<String>,
    pub auth_method: AuthMethod,
    pub secret: Option<String>,
    pub jwks: Option<JwkSet>,
    pub jwks_url: Option<String>,
    pub scope: ScopeSet,
    pub grant_types: Vec<String>,
}

impl Client {
    /// Validates a registration and substitutes `{app}`.
    pub fn from_registration(reg: ClientRegistration, app_origin: &str) -> anyhow::Result<Client> {
        let app = |s: &str| s.replace("{app}", app_origin);
        let secret = reg
            .client_secret_env
            .as_deref()
            .and_then(|name| std::env::var(name).ok())
            .filter(|s| !s.is_empty())
            .or(reg.client_secret);
        let id = &reg.client_id;
        anyhow::ensure!(!id.is_empty(), "a client has an empty client_id");
        match reg.token_endpoint_auth_method {
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
                anyhow::ensure!(
                    secret.as_deref().is_some_and(|s| s.len() >= 16),
                    "client {id}: a shared-secret client needs a secret of at least 16 characters"
                );
            }
            AuthMethod::PrivateKeyJwt => anyhow::ensure!(
                reg.jwks.is_some() || reg.jwks_url.is_some(),
                "client {id}: private_key_jwt needs jwks or jwks_url"
            ),
            AuthMethod::None => anyhow::ensure!(
                !reg.grant_types.iter().any(|g| g == "client_credentials"),
                "client {id}: a public client cannot use client_credentials"
            ),
        }
        if reg.grant_types.iter().any(|g| g == "client_credentials") {
            anyhow::ensure!(
                reg.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt,
                "client {id}: client_credentials needs private_key_jwt"
            );
        }
        Ok(Client {
            client_id: reg.client_id.clone(),
            name: reg.name,
            launch_url: reg.launch_url.as_deref().map(app),
            redirect_uris: reg.redirect_uris.iter().map(|u| app(u)).collect(),
            auth_method: reg.token_endpoint_auth_method,
            secret: match reg.token_endpoint_auth_method {
                AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => secret,
                _ => None,
            },
            jwks: reg.jwks,
            jwks_url: reg.jwks_url.as_deref().map(app),
            scope: ScopeSet::parse(&reg.scope),
            grant_types: reg.grant_types,
        })
    }

    pub fn has_grant_type(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
}

/// Parses a registry file's JSON.
pub fn parse_registry(json: &str, app_origin: &str) -> anyhow::Result<Vec<Client>> {
    let file: RegistryFile = serde_json::from_str(json).context("client registry JSON")?;
    let mut out: Vec<Client> = Vec::new();
    for reg in file.clients {
        let client = Client::from_registration(reg, app_origin)?;
        anyhow::ensure!(
            !out.iter().any(|c| c.client_id == client.client_id),
            "client {} is registered twice",
            client.client_id
        );
        out.push(client);
    }
    Ok(out)
}

/// The configured registry: the clients file, else the demo registry.
pub fn load(config: &SandboxConfig) -> anyhow::Result<Vec<Client>> {
    match &config.clients_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading client registry {}", path.display()))?;
            parse_registry(&text, &config.app_origin)
        }
        None => parse_registry(DEMO_REGISTRY, &config.app_origin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_registry_parses_and_substitutes_the_app_origin() {
        let clients = parse_registry(DEMO_REGISTRY, "http://app.test").expect("demo registry");
        let cloudcgm = clients
            .iter()
            .find(|c| c.client_id == "cloudcgm")
            .expect("cloudcgm registered");
        assert_eq!(cloudcgm.redirect_uris, vec!["http://app.test/callback"]);
        assert_eq!(
            cloudcgm.jwks_url.as_deref(),
            Some("http://app.test/.well-known/jwks.json")
        );
        assert!(cloudcgm.scope.has("system/Observation.cu"));
        assert!(clients
            .iter()
            .any(|c| c.client_id == "fhirclient-demo" && c.auth_method == AuthMethod::None));
    }

    #[test]
    fn a_public_client_cannot_register_for_client_credentials() {
        let json = r#"{"clients":[{"client_id":"x","name":"x","token_endpoint_auth_method":"none",
            "scope":"system/*.rs","grant_types":["client_credentials"]}]}"#;
        assert!(parse_registry(json, "http://a").is_err());
    }
}
