//! The server's own secrets (issue 4 item 2), all from configuration, never from the database:
//! - `CLOUDCGM_SECRET_KEYS`: the AES-256-GCM keyring that seals tokens and codes at rest ([`crate::crypto`]);
//! - `CLOUDCGM_SHARING_CODE_KEY`: the HMAC key that turns a sharing code into its lookup value;
//! - `CLOUDCGM_CLIENT_KEY_FILE`: CloudCGM's P-384 private key (PKCS#8 PEM) for `private_key_jwt`, whose public
//!   half is served at `/.well-known/jwks.json`.
//!
//! A demo or test server may instead use a *development secrets file* (`data/dev-secrets.json` by default in
//! demo and sandbox mode), generated on first start. It is never used unless asked for, and a server without
//! secrets refuses to start with a message naming the variables.

use crate::crypto::{generate_key_base64, Keyring};
use crate::sharing_code::SharingCodeKey;
use crate::smart_client::token::SigningKey;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P384_SHA384_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::path::Path;

/// CloudCGM's client key: the signer for assertions and the public JWK Set the EHRs fetch.
#[derive(Clone)]
pub struct ClientKey {
    pub signing: SigningKey,
    pub jwks: Value,
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientKey")
            .field("kid", &self.signing.kid)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// From a PKCS#8 PEM P-384 key. The `kid` is the RFC 7638 thumbprint, so it changes with the key.
    pub fn from_pem(pem: &str) -> anyhow::Result<ClientKey> {
        let der = pem_to_der(pem)?;
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der, &SystemRandom::new())
                .map_err(|e| anyhow::anyhow!("the client key is not a PKCS#8 P-384 key: {e}"))?;
        let point = pair.public_key().as_ref();
        anyhow::ensure!(
            point.len() == 97 && point[0] == 4,
            "unexpected P-384 public key encoding"
        );
        let (x, y) = (
            URL_SAFE_NO_PAD.encode(&point[1..49]),
            URL_SAFE_NO_PAD.encode(&point[49..]),
        );
        let thumbprint_input = format!(r#"{{"crv":"P-384","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            thumbprint_input.as_bytes(),
        ));
        let signing = SigningKey::from_pem(&kid, Algorithm::ES384, pem)?;
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-384", "x": x, "y": y,
            "kid": kid, "alg": "ES384", "use": "sig", "key_ops": ["verify"]
        }]});
        Ok(ClientKey { signing, jwks })
    }

    /// A fresh P-384 key as PKCS#8 PEM.
    pub fn generate_pem() -> anyhow::Result<String> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("could not generate a P-384 key"))?;
        let b64 = STANDARD.encode(doc.as_ref());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk)?);
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        Ok(pem)
    }
}

fn pem_to_der(pem: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        pem.contains("-----BEGIN PRIVATE KEY-----"),
        "the client key must be a PKCS#8 PEM (BEGIN PRIVATE KEY)"
    );
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    Ok(STANDARD.decode(body)?)
}

/// Everything secret the server holds in memory.
pub struct AppSecrets {
    pub keyring: Keyring,
    pub sharing_code_key: SharingCodeKey,
    pub client_key: ClientKey,
}

impl fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppSecrets(<redacted>)")
    }
}

/// The development secrets file.
#[derive(Serialize, Deserialize)]
struct DevSecrets {
    #[serde(rename = "_comment", default)]
    comment: String,
    secret_keys: String,
    sharing_code_key: String,
    client_key_pem: String,
}

impl AppSecrets {
    /// From the environment; where a variable is missing, from the development file when one is allowed.
    pub fn load(dev_file: Option<&Path>) -> anyhow::Result<AppSecrets> {
        let env = |k: &str| crate::config::env_var(k);
        let from_env = (
            env("CLOUDCGM_SECRET_KEYS"),
            env("CLOUDCGM_SHARING_CODE_KEY"),
            env("CLOUDCGM_CLIENT_KEY_FILE"),
        );
        if let (Some(keys), Some(code_key), Some(key_file)) = &from_env {
            let pem = std::fs::read_to_string(key_file)
                .map_err(|e| anyhow::anyhow!("CLOUDCGM_CLIENT_KEY_FILE {key_file}: {e}"))?;
            return AppSecrets::from_parts(keys, code_key, &pem);
        }
        let Some(path) = dev_file else {
            anyhow::bail!(
                "CloudCGM needs its secrets: set CLOUDCGM_SECRET_KEYS (e.g. k1:<32 random bytes, base64>), \
                 CLOUDCGM_SHARING_CODE_KEY (32+ random bytes, base64) and CLOUDCGM_CLIENT_KEY_FILE (a P-384 \
                 PKCS#8 PEM); `cloudcgm keys` prints fresh values. Demo servers may use a development \
                 secrets file instead (CLOUDCGM_DEV_SECRETS_FILE)."
            )
        };
        let dev = load_or_create_dev(path)?;
        tracing::warn!(file = %path.display(), "using development secrets: not for production");
        AppSecrets::from_parts(
            from_env.0.as_deref().unwrap_or(&dev.secret_keys),
            from_env.1.as_deref().unwrap_or(&dev.sharing_code_key),
            &dev.client_key_pem,
        )
    }

    pub fn from_parts(keys: &str, code_key: &str, client_pem: &str) -> anyhow::Result<AppSecrets> {
        Ok(AppSecrets {
            keyring: Keyring::parse(keys)
                .map_err(|e| anyhow::anyhow!("CLOUDCGM_SECRET_KEYS: {e}"))?,
            sharing_code_key: SharingCodeKey::from_base64(code_key)
                .map_err(|e| anyhow::anyhow!("CLOUDCGM_SHARING_CODE_KEY: {e}"))?,
            client_key: ClientKey::from_pem(client_pem)?,
        })
    }

    /// Fresh values for the three variables (what `cloudcgm keys` prints).
    pub fn generate_env() -> anyhow::Result<(String, String, String)> {
        Ok((
            format!("k1:{}", generate_key_base64()),
            generate_key_base64(),
            ClientKey::generate_pem()?,
        ))
    }
}

fn load_or_create_dev(path: &Path) -> anyhow::Result<DevSecrets> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("development secrets {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (secret_keys, sharing_code_key, client_key_pem) = AppSecrets::generate_env()?;
            let dev = DevSecrets {
                comment:
                    "Development secrets generated by CloudCGM for a demo server. Never use in \
                          production: set CLOUDCGM_SECRET_KEYS, CLOUDCGM_SHARING_CODE_KEY and \
                          CLOUDCGM_CLIENT_KEY_FILE instead."
                        .into(),
                secret_keys,
                sharing_code_key,
                client_key_pem,
            };
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            write_private(path, &serde_json::to_string_pretty(&dev)?)?;
            Ok(dev)
        }
        Err(e) => Err(anyhow::anyhow!(
            "development secrets {}: {e}",
            path.display()
        )),
    }
}

/// Writes a new file only its owner can read (refused when it exists).
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_client_key_publishes_a_p384_jwk_whose_kid_is_its_thumbprint() {
        let pem = ClientKey::generate_pem().unwrap();
        let key = ClientKey::from_pem(&pem).unwrap();
        let jwk = &key.jwks["keys"][0];
        assert_eq!(jwk["crv"], "P-384");
        assert_eq!(jwk["alg"], "ES384");
        assert_eq!(jwk["kid"], key.signing.kid.as_str());
        assert!(jwk.get("d").is_none(), "no private part in the JWKS");
        assert_eq!(jwk["x"].as_str().unwrap().len(), 64, "48 bytes, base64url");
        let other = ClientKey::from_pem(&ClientKey::generate_pem().unwrap()).unwrap();
        assert_ne!(other.signing.kid, key.signing.kid);
    }

    #[test]
    fn the_development_file_is_created_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dev-secrets.json");
        let first = AppSecrets::load(Some(&path)).unwrap();
        let second = AppSecrets::load(Some(&path)).unwrap();
        assert_eq!(first.client_key.signing.kid, second.client_key.signing.kid);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "only the owner may read it");
        }
    }

    #[test]
    fn without_secrets_or_a_development_file_the_server_refuses_with_the_variable_names() {
        let err = AppSecrets::load(None).unwrap_err().to_string();
        assert!(err.contains("CLOUDCGM_SECRET_KEYS"), "{err}");
        assert!(err.contains("CLOUDCGM_CLIENT_KEY_FILE"), "{err}");
    }
}
