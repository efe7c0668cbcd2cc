//! CloudCGM as a SMART on FHIR **client** (SMART App Launch 2.x: EHR launch, Backend Services; SMART.md
//! "CloudCGM as a SMART client"; issue 4 item 1). Library code only: the `/launch` and `/callback` routes,
//! the EHR registry and token storage build on it.
//!
//! - [`discovery`]: `{iss}/.well-known/smart-configuration` (fallback: the CapabilityStatement `oauth-uris`
//!   extension), validation, v1/v2 scope syntax and the requested scope string;
//! - [`pkce`] and [`pending`]: PKCE S256 and the server-side pending launch keyed by `state`;
//! - [`authorize`]: the authorize URL;
//! - [`token`]: code exchange, refresh, `client_credentials`, client authentication (`client_secret_basic`,
//!   `private_key_jwt`), and `id_token` verification against the EHR's JWKS.
//!
//! Token strings travel only inside [`Secret`], whose `Debug` prints no content, so a `?value` in a log line
//! cannot leak one (SMART.md: tokens are never logged).

pub mod authorize;
pub mod discovery;
pub mod pending;
pub mod pkce;
pub mod token;

use std::fmt;

/// A token, client secret or other credential. `Debug` redacts it and there is deliberately no `Display`:
/// the only way to the text is [`Secret::expose`], which is easy to find in review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The credential itself, for the one place that must send it (a header or a form body).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Everything that can go wrong talking to an EHR's authorization server. Messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum SmartError {
    #[error("the issuer URL is not acceptable: {0}")]
    BadIssuer(String),
    #[error("SMART discovery failed: {0}")]
    Discovery(String),
    #[error("HTTP request to the EHR failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the EHR refused the token request: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    OAuth {
        status: u16,
        error: String,
        description: Option<String>,
    },
    #[error("the token response is malformed: {0}")]
    BadTokenResponse(String),
    #[error("the id_token is invalid: {0}")]
    IdToken(String),
    #[error("the client key or credentials are unusable: {0}")]
    ClientCredentials(String),
    #[error(transparent)]
    Pending(#[from] pending::PendingError),
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fresh 256-bit random value, base64url (state, PKCE verifier, assertion `jti`).
pub fn random_b64url() -> String {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut buf = [0u8; 32];
    // SystemRandom only fails when the OS has no randomness at all; nothing sensible can continue then.
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let s = Secret::new("eyJhbGciOi.token-value");
        let out = format!("{s:?} {:#?}", Some(&s));
        assert!(!out.contains("token-value"), "{out}");
        assert!(out.contains("redacted"));
        assert_eq!(s.expose(), "eyJhbGciOi.token-value");
    }

    #[test]
    fn random_values_are_43_characters_and_distinct() {
        let (a, b) = (random_b64url(), random_b64url());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
