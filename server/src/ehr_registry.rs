//! The EHRs CloudCGM accepts launches from (SMART.md: "reject an `iss` that is not an allowed EHR"; issue 4
//! item 1). Each registered EHR is one practice: its issuer URL, CloudCGM's client id there and how CloudCGM
//! authenticates, the origins allowed to frame CloudCGM, who is a member with which role, and whether users
//! the EHR vouches for but CloudCGM does not know yet are enrolled as clinicians.
//!
//! Read from a JSON file (`CLOUDCGM_EHRS`, see `config/ehrs.example.json`); the mounted sandbox EHR is added
//! by the startup code. Deny by default: an `iss` matches only a registered one exactly (a trailing slash
//! aside), and unknown users are refused unless their EHR says otherwise.

use crate::secrets::AppSecrets;
use crate::smart_client::token::{ClientAuth, ClientCredentials};
use crate::smart_client::Secret;
use crate::store::access::Role;
use serde::Deserialize;
use std::path::Path;

/// How CloudCGM authenticates at one EHR's token endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum EhrAuth {
    /// An assertion signed with CloudCGM's client key (its JWKS at `/.well-known/jwks.json`).
    PrivateKeyJwt,
    /// A client secret read from the named environment variable (never from the file itself).
    ClientSecretBasic { secret_env: String },
    /// A public client (PKCE only): for open test launchers such as launch.smarthealthit.org.
    None,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Member {
    pub fhir_user: String,
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ehr {
    /// Short stable id: the practice key in links, members and audit rows.
    pub id: String,
    pub name: String,
    /// The FHIR base the EHR sends as `iss`.
    pub iss: String,
    pub client_id: String,
    pub auth: EhrAuth,
    /// Origins (`scheme://host[:port]`) whose pages may frame CloudCGM (CSP `frame-ancestors`).
    #[serde(default)]
    pub frame_origins: Vec<String>,
    /// The role given to a user of this EHR on their first launch; `None` refuses unknown users.
    #[serde(default)]
    pub enroll_unknown_users_as: Option<Role>,
    /// Members added at start-up when missing (an admin's later changes are kept).
    #[serde(default)]
    pub members: Vec<Member>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(rename = "_comment", default)]
    _comment: Option<String>,
    ehrs: Vec<Ehr>,
}

#[derive(Debug, Clone, Default)]
pub struct EhrRegistry {
    ehrs: Vec<Ehr>,
}

fn trim_slash(s: &str) -> &str {
    s.trim_end_matches('/')
}

impl Ehr {
    /// `fhirUser` in one form per user: relative (`Practitioner/123`) when it is a resource of this EHR's
    /// FHIR base, whether the EHR wrote it relative or absolute; any other URL as written.
    pub fn canonical_user(&self, fhir_user: &str) -> String {
        let base = format!("{}/", trim_slash(&self.iss));
        fhir_user
            .strip_prefix(&base)
            .unwrap_or(fhir_user)
            .to_string()
    }

    /// CloudCGM's credentials at this EHR.
    pub fn credentials(&self, secrets: &AppSecrets) -> anyhow::Result<ClientCredentials> {
        let auth = match &self.auth {
            EhrAuth::PrivateKeyJwt => ClientAuth::PrivateKeyJwt(secrets.client_key.signing.clone()),
            EhrAuth::ClientSecretBasic { secret_env } => {
                let secret = crate::config::env_var(secret_env).ok_or_else(|| {
                    anyhow::anyhow!(
                        "EHR {}: the client secret variable {secret_env} is not set",
                        self.id
                    )
                })?;
                ClientAuth::ClientSecretBasic(Secret::new(secret))
            }
            EhrAuth::None => ClientAuth::None,
        };
        Ok(ClientCredentials {
            client_id: self.client_id.clone(),
            auth,
        })
    }
}

impl EhrRegistry {
    pub fn new(ehrs: Vec<Ehr>) -> anyhow::Result<EhrRegistry> {
        let mut registry = EhrRegistry::default();
        for ehr in ehrs {
            registry.add(ehr)?;
        }
        Ok(registry)
    }

    /// Reads a registry file.
    pub fn from_file(path: &Path) -> anyhow::Result<EhrRegistry> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("EHR registry {}: {e}", path.display()))?;
        let file: RegistryFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("EHR registry {}: {e}", path.display()))?;
        EhrRegistry::new(file.ehrs)
    }

    /// Adds an EHR; ids and issuers must be unique and frame origins must be origins.
    pub fn add(&mut self, ehr: Ehr) -> anyhow::Result<()> {
        anyhow::ensure!(
            !ehr.id.is_empty() && ehr.id.len() <= 64,
            "an EHR id must be 1–64 characters"
        );
        anyhow::ensure!(
            crate::smart_client::discovery::is_acceptable_url(&ehr.iss),
            "EHR {}: iss {:?} must be https (or http on a loopback address)",
            ehr.id,
            ehr.iss
        );
        for origin in &ehr.frame_origins {
            crate::config::parse_origin(origin)
                .map_err(|e| anyhow::anyhow!("EHR {}: frame origin: {e}", ehr.id))?;
        }
        anyhow::ensure!(
            self.ehrs.iter().all(|e| e.id != ehr.id),
            "EHR id {} registered twice",
            ehr.id
        );
        anyhow::ensure!(
            self.by_iss(&ehr.iss).is_none(),
            "EHR issuer {} registered twice",
            ehr.iss
        );
        self.ehrs.push(ehr);
        Ok(())
    }

    /// The EHR whose issuer is `iss`.
    pub fn by_iss(&self, iss: &str) -> Option<&Ehr> {
        self.ehrs
            .iter()
            .find(|e| trim_slash(&e.iss) == trim_slash(iss))
    }

    pub fn by_id(&self, id: &str) -> Option<&Ehr> {
        self.ehrs.iter().find(|e| e.id == id)
    }

    pub fn all(&self) -> &[Ehr] {
        &self.ehrs
    }

    /// Every registered frame origin, deduplicated, for `frame-ancestors`.
    pub fn frame_origins(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for origin in self.ehrs.iter().flat_map(|e| e.frame_origins.iter()) {
            if !out.contains(origin) {
                out.push(origin.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ehr(id: &str, iss: &str) -> Ehr {
        Ehr {
            id: id.into(),
            name: id.into(),
            iss: iss.into(),
            client_id: "cloudcgm".into(),
            auth: EhrAuth::PrivateKeyJwt,
            frame_origins: vec!["https://ehr.example".into()],
            enroll_unknown_users_as: None,
            members: vec![],
        }
    }

    #[test]
    fn an_issuer_matches_exactly_or_with_a_trailing_slash_only() {
        let r = EhrRegistry::new(vec![ehr("a", "https://ehr.example/fhir")]).unwrap();
        assert!(r.by_iss("https://ehr.example/fhir/").is_some());
        assert!(r.by_iss("https://ehr.example/fhir").is_some());
        assert!(r.by_iss("https://ehr.example/fhir2").is_none());
        assert!(r.by_iss("https://ehr.example.evil/fhir").is_none());
        assert!(r.by_iss("http://ehr.example/fhir").is_none());
    }

    #[test]
    fn a_fhir_user_of_the_ehr_is_kept_relative_whichever_way_it_was_written() {
        let e = ehr("a", "https://ehr.example/fhir/");
        assert_eq!(
            e.canonical_user("https://ehr.example/fhir/Practitioner/7"),
            "Practitioner/7"
        );
        assert_eq!(e.canonical_user("Practitioner/7"), "Practitioner/7");
        assert_eq!(
            e.canonical_user("https://other.example/fhir/Practitioner/7"),
            "https://other.example/fhir/Practitioner/7"
        );
    }

    #[test]
    fn duplicates_plain_http_and_bad_frame_origins_are_refused() {
        assert!(
            EhrRegistry::new(vec![ehr("a", "https://x/fhir"), ehr("a", "https://y/fhir")]).is_err()
        );
        assert!(EhrRegistry::new(vec![
            ehr("a", "https://x/fhir"),
            ehr("b", "https://x/fhir/")
        ])
        .is_err());
        assert!(EhrRegistry::new(vec![ehr("a", "http://ehr.example/fhir")]).is_err());
        let mut bad = ehr("a", "https://x/fhir");
        bad.frame_origins = vec!["https://ehr.example/path".into()];
        assert!(EhrRegistry::new(vec![bad]).is_err());
    }

    #[test]
    fn the_example_registry_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/ehrs.example.json");
        let r = EhrRegistry::from_file(&path).unwrap();
        assert!(r
            .by_iss("https://launch.smarthealthit.org/v/r4/fhir")
            .is_some());
        assert!(!r.frame_origins().is_empty());
    }
}
