//! SMART discovery (SMART App Launch 2.x "Conformance"): fetch `{iss}/.well-known/smart-configuration`,
//! falling back to the CapabilityStatement's `oauth-uris` extension at `{iss}/metadata` (SMART 1.0 servers),
//! validate what came back, pick v1 or v2 scope syntax, and build the scope string CloudCGM requests
//! (SMART.md "Scopes").

use super::SmartError;
use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;
use std::net::IpAddr;

const OAUTH_URIS: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

/// What the launch needs from an EHR's authorization server, validated.
#[derive(Debug, Clone)]
pub struct SmartConfiguration {
    /// The FHIR base the configuration was discovered from (the launch's `iss`).
    pub iss: String,
    /// The id_token issuer: the document's `issuer`, else `iss`.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: Option<String>,
    pub grant_types_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub capabilities: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    /// True when it came from the CapabilityStatement fallback, which advertises neither PKCE nor keys.
    pub from_capability_statement: bool,
}

#[derive(Deserialize)]
struct WellKnown {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    #[serde(default)]
    grant_types_supported: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

/// SMART scope syntax: v2 (`.rs`, `.cu`) or v1 (`.read`, `.write`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeSyntax {
    V1,
    V2,
}

/// The resource scopes of SMART.md in v2 form; [`requested_scope`] rewrites them for a v1 server.
pub const RESOURCE_SCOPES: [&str; 5] = [
    // Search too, not only read (SMART.md lists `.r`): the admin console finds EHR patients by name.
    "user/Patient.rs",
    "user/ServiceRequest.rs",
    "user/Observation.cu",
    "user/DiagnosticReport.cu",
    "user/Device.cu",
];

/// True for `https` URLs and for `http` to a loopback host (local development and the sandbox): a token
/// must never cross a network in clear text.
pub fn is_acceptable_url(url: &str) -> bool {
    let Ok(u) = Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host().is_some(),
        // `reqwest::Url` does not re-export `url::Host`, so the host is read from its text form.
        "http" => u.host_str().is_some_and(|h| {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            match h.parse::<IpAddr>() {
                Ok(ip) => ip.is_loopback(),
                Err(_) => h.eq_ignore_ascii_case("localhost"),
            }
        }),
        _ => false,
    }
}

/// Fetches and validates the SMART configuration of `iss`.
pub async fn discover(http: &reqwest::Client, iss: &str) -> Result<SmartConfiguration, SmartError> {
    if !is_acceptable_url(iss) || iss.contains(['?', '#']) {
        return Err(SmartError::BadIssuer(iss.to_string()));
    }
    let base = iss.trim_end_matches('/');
    let res = http
        .get(format!("{base}/.well-known/smart-configuration"))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await?;
    let config = if res.status().is_success() {
        let doc: WellKnown = res.json().await.map_err(|e| {
            SmartError::Discovery(format!("smart-configuration is not valid JSON: {e}"))
        })?;
        from_well_known(iss, doc)?
    } else {
        // SMART 1.0 servers may only publish the CapabilityStatement.
        let res = http
            .get(format!("{base}/metadata"))
            .header(reqwest::header::ACCEPT, "application/fhir+json")
            .send()
            .await?;
        if !res.status().is_success() {
            return Err(SmartError::Discovery(format!(
                "neither smart-configuration nor metadata is available (metadata: HTTP {})",
                res.status().as_u16()
            )));
        }
        let cs: Value = res
            .json()
            .await
            .map_err(|e| SmartError::Discovery(format!("metadata is not valid JSON: {e}")))?;
        from_capability_statement(iss, &cs)?
    };
    validate(&config)?;
    Ok(config)
}

fn from_well_known(iss: &str, doc: WellKnown) -> Result<SmartConfiguration, SmartError> {
    let missing = |what: &str| SmartError::Discovery(format!("smart-configuration has no {what}"));
    Ok(SmartConfiguration {
        iss: iss.to_string(),
        issuer: doc.issuer.unwrap_or_else(|| iss.to_string()),
        authorization_endpoint: doc
            .authorization_endpoint
            .ok_or_else(|| missing("authorization_endpoint"))?,
        token_endpoint: doc
            .token_endpoint
            .ok_or_else(|| missing("token_endpoint"))?,
        jwks_uri: doc.jwks_uri,
        grant_types_supported: doc.grant_types_supported,
        token_endpoint_auth_methods_supported: doc.token_endpoint_auth_methods_supported,
        scopes_supported: doc.scopes_supported,
        capabilities: doc.capabilities,
        code_challenge_methods_supported: doc.code_challenge_methods_supported,
        from_capability_statement: false,
    })
}

/// Reads `rest[].security.extension[oauth-uris]` of a CapabilityStatement.
pub fn from_capability_statement(iss: &str, cs: &Value) -> Result<SmartConfiguration, SmartError> {
    let uri = |name: &str| -> Option<String> {
        cs["rest"].as_array()?.iter().find_map(|rest| {
            let ext = rest["security"]["extension"].as_array()?;
            let oauth = ext.iter().find(|e| e["url"] == OAUTH_URIS)?;
            oauth["extension"]
                .as_array()?
                .iter()
                .find(|e| e["url"] == name)?["valueUri"]
                .as_str()
                .map(str::to_string)
        })
    };
    let missing =
        |what: &str| SmartError::Discovery(format!("the oauth-uris extension has no {what}"));
    Ok(SmartConfiguration {
        iss: iss.to_string(),
        issuer: iss.to_string(),
        authorization_endpoint: uri("authorize").ok_or_else(|| missing("authorize"))?,
        token_endpoint: uri("token").ok_or_else(|| missing("token"))?,
        jwks_uri: None,
        grant_types_supported: vec!["authorization_code".into()],
        token_endpoint_auth_methods_supported: Vec::new(),
        scopes_supported: Vec::new(),
        capabilities: Vec::new(),
        // A CapabilityStatement cannot advertise PKCE. We still send S256 (a server that does not know
        // PKCE ignores it), but cannot check support: the flag above records that.
        code_challenge_methods_supported: Vec::new(),
        from_capability_statement: true,
    })
}

fn validate(c: &SmartConfiguration) -> Result<(), SmartError> {
    for (name, url) in [
        ("authorization_endpoint", Some(&c.authorization_endpoint)),
        ("token_endpoint", Some(&c.token_endpoint)),
        ("jwks_uri", c.jwks_uri.as_ref()),
    ] {
        if let Some(url) = url {
            if !is_acceptable_url(url) {
                return Err(SmartError::Discovery(format!(
                    "{name} is neither https nor loopback http: {url}"
                )));
            }
        }
    }
    // The id_tokens of this server are checked against `issuer`; one that names another FHIR base is
    // either misconfigured or not the EHR the user launched from.
    if c.issuer.trim_end_matches('/') != c.iss.trim_end_matches('/') {
        return Err(SmartError::Discovery(format!(
            "issuer {} does not match iss {}",
            c.issuer, c.iss
        )));
    }
    if !c.from_capability_statement
        && !c
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
    {
        return Err(SmartError::Discovery(
            "code_challenge_methods_supported does not include S256".into(),
        ));
    }
    Ok(())
}

impl SmartConfiguration {
    /// v2 when the server says `permission-v2` or lists a v2 resource scope; v1 otherwise (a server that
    /// says nothing is most likely a SMART 1.0 server).
    pub fn scope_syntax(&self) -> ScopeSyntax {
        let v2_scope = self.scopes_supported.iter().any(|s| {
            let perms = s
                .split('?')
                .next()
                .unwrap_or("")
                .rsplit_once('.')
                .map(|(_, p)| p);
            perms.is_some_and(|p| {
                !p.is_empty()
                    && p != "read"
                    && p != "write"
                    && p != "*"
                    && p.chars().all(|c| "cruds".contains(c))
            })
        });
        if self.has_capability("permission-v2") || v2_scope {
            ScopeSyntax::V2
        } else {
            ScopeSyntax::V1
        }
    }

    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// Backend Services: `client_credentials` with `private_key_jwt`.
    pub fn supports_backend_services(&self) -> bool {
        self.grant_types_supported
            .iter()
            .any(|g| g == "client_credentials")
            && self
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|m| m == "private_key_jwt")
    }

    /// The scope string of an EHR launch (SMART.md "Scopes").
    pub fn requested_scope(&self) -> String {
        requested_scope(
            self.scope_syntax(),
            self.supports_backend_services(),
            self.has_capability("permission-online"),
        )
    }
}

/// `launch openid fhirUser`, the resource scopes in `syntax`, and:
/// - `offline_access` when the EHR offers no Backend Services (scheduled work then needs a long-lived refresh
///   token, SMART.md);
/// - else `online_access` when offered, so the session can refresh before its access token expires without
///   asking for a token that outlives it.
pub fn requested_scope(syntax: ScopeSyntax, backend_services: bool, online_access: bool) -> String {
    let mut scopes: Vec<String> = ["launch", "openid", "fhirUser"].map(String::from).to_vec();
    scopes.extend(RESOURCE_SCOPES.iter().map(|s| match syntax {
        ScopeSyntax::V2 => s.to_string(),
        ScopeSyntax::V1 => to_v1(s),
    }));
    if !backend_services {
        scopes.push("offline_access".into());
    } else if online_access {
        scopes.push("online_access".into());
    }
    scopes.join(" ")
}

/// Backend Services for scheduled submissions (NOTES E2): the launch's resource scopes at system level.
pub fn backend_scope(syntax: ScopeSyntax) -> String {
    RESOURCE_SCOPES
        .iter()
        .map(|s| {
            let system = s.replacen("user/", "system/", 1);
            match syntax {
                ScopeSyntax::V2 => system,
                ScopeSyntax::V1 => to_v1(&system),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `user/Patient.rs` → `user/Patient.read`; anything with c, u or d → `.write` (v1 has no finer grain).
fn to_v1(scope: &str) -> String {
    let (head, perms) = scope.rsplit_once('.').unwrap_or((scope, ""));
    let v1 = if perms.chars().any(|c| "cud".contains(c)) {
        "write"
    } else {
        "read"
    };
    format!("{head}.{v1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(capabilities: &[&str], scopes: &[&str]) -> SmartConfiguration {
        SmartConfiguration {
            iss: "https://ehr.example/fhir".into(),
            issuer: "https://ehr.example/fhir".into(),
            authorization_endpoint: "https://ehr.example/authorize".into(),
            token_endpoint: "https://ehr.example/token".into(),
            jwks_uri: None,
            grant_types_supported: vec![],
            token_endpoint_auth_methods_supported: vec![],
            scopes_supported: scopes.iter().map(|s| s.to_string()).collect(),
            capabilities: capabilities.iter().map(|s| s.to_string()).collect(),
            code_challenge_methods_supported: vec!["S256".into()],
            from_capability_statement: false,
        }
    }

    #[test]
    fn only_https_and_loopback_http_are_acceptable() {
        for ok in [
            "https://ehr.example/fhir",
            "http://127.0.0.1:8080/fhir",
            "http://localhost/fhir",
            "http://[::1]:3000/fhir",
        ] {
            assert!(is_acceptable_url(ok), "{ok}");
        }
        for bad in [
            "http://ehr.example/fhir",
            "ftp://127.0.0.1/",
            "not a url",
            "http://10.0.0.1/",
        ] {
            assert!(!is_acceptable_url(bad), "{bad}");
        }
    }

    #[test]
    fn v2_is_chosen_from_capabilities_or_scopes_and_v1_otherwise() {
        assert_eq!(
            config(&["permission-v2"], &[]).scope_syntax(),
            ScopeSyntax::V2
        );
        assert_eq!(
            config(&[], &["patient/*.rs"]).scope_syntax(),
            ScopeSyntax::V2
        );
        assert_eq!(
            config(&["permission-v1"], &["patient/*.read"]).scope_syntax(),
            ScopeSyntax::V1
        );
        assert_eq!(config(&[], &[]).scope_syntax(), ScopeSyntax::V1);
    }

    #[test]
    fn the_requested_scope_follows_smart_md_in_both_syntaxes() {
        assert_eq!(
            requested_scope(ScopeSyntax::V2, false, true),
            "launch openid fhirUser user/Patient.rs user/ServiceRequest.rs user/Observation.cu \
             user/DiagnosticReport.cu user/Device.cu offline_access"
        );
        assert_eq!(
            requested_scope(ScopeSyntax::V1, true, true),
            "launch openid fhirUser user/Patient.read user/ServiceRequest.read user/Observation.write \
             user/DiagnosticReport.write user/Device.write online_access"
        );
        assert!(!requested_scope(ScopeSyntax::V2, true, false).contains("_access"));
    }

    #[test]
    fn a_configuration_without_s256_or_with_a_foreign_issuer_is_refused() {
        let mut c = config(&[], &[]);
        c.code_challenge_methods_supported = vec!["plain".into()];
        assert!(validate(&c).is_err());
        let mut c = config(&[], &[]);
        c.issuer = "https://other.example/fhir".into();
        assert!(validate(&c).is_err());
        let mut c = config(&[], &[]);
        c.token_endpoint = "http://ehr.example/token".into();
        assert!(validate(&c).is_err());
        assert!(validate(&config(&[], &[])).is_ok());
    }

    #[test]
    fn the_capability_statement_fallback_reads_oauth_uris() {
        let cs = json!({"resourceType": "CapabilityStatement", "rest": [{"mode": "server", "security": {
            "extension": [{"url": OAUTH_URIS, "extension": [
                {"url": "authorize", "valueUri": "https://ehr.example/auth"},
                {"url": "token", "valueUri": "https://ehr.example/token"}]}]}}]});
        let c = from_capability_statement("https://ehr.example/fhir", &cs).unwrap();
        assert_eq!(c.authorization_endpoint, "https://ehr.example/auth");
        assert_eq!(c.token_endpoint, "https://ehr.example/token");
        assert!(validate(&c).is_ok());
        assert_eq!(c.scope_syntax(), ScopeSyntax::V1);
        assert!(from_capability_statement("https://ehr.example/fhir", &json!({})).is_err());
    }
}
