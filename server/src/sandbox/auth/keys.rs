//! The sandbox's id_token signing key and its JWKS (`/auth/jwks`; SMART App Launch 2.x "Scopes for
//! requesting identity data": id_tokens are signed with RS256, which every OpenID Connect client supports).
//!
//! The key is generated once per sandbox database and kept there, so restarts keep the `kid`. Generation is
//! lazy (first id_token or JWKS request), because a 2048-bit RSA key takes seconds in a debug build;
//! [`SigningKeys::install_pem`] supplies a key instead (tests, or an operator's own key). The `rsa` crate only
//! generates; signing goes through jsonwebtoken/ring.

use super::util::{b64url, now, sha256_b64url};
use anyhow::Context as _;
use jsonwebtoken::{EncodingKey, Header};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::SqlitePool;
use std::sync::{Arc, Mutex};

pub const ID_TOKEN_ALG: jsonwebtoken::Algorithm = jsonwebtoken::Algorithm::RS256;

pub struct SigningKey {
    pub kid: String,
    encoding: EncodingKey,
    /// The public JWK (with `kid`, `alg`, `use`).
    pub jwk: Value,
}

impl SigningKey {
    fn from_pem(pem: &str) -> anyhow::Result<SigningKey> {
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).context("signing key PEM")?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        let kid = sha256_b64url(&n)[..16].to_string();
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).context("signing key")?;
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": b64url(&n), "e": b64url(&e),
        });
        Ok(SigningKey { kid, encoding, jwk })
    }

    /// Signs `claims` as a JWT with this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let mut header = Header::new(ID_TOKEN_ALG);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

pub struct SigningKeys {
    db: SqlitePool,
    cached: Mutex<Option<Arc<SigningKey>>>,
}

impl SigningKeys {
    pub fn new(db: SqlitePool) -> SigningKeys {
        SigningKeys {
            db,
            cached: Mutex::new(None),
        }
    }

    fn cached(&self) -> Option<Arc<SigningKey>> {
        self.cached.lock().ok().and_then(|g| g.clone())
    }

    /// The database's signing key, generating and storing it on first use.
    pub async fn current(&self) -> anyhow::Result<Arc<SigningKey>> {
        if let Some(k) = self.cached() {
            return Ok(k);
        }
        if self.load().await?.is_none() {
            let pem = tokio::task::spawn_blocking(generate_pem).await??;
            self.store(&pem).await?;
        }
        self.load()
            .await?
            .context("signing key missing after generation")
    }

    /// Uses this PKCS#8 PEM RSA key unless the database already has one. Returns the key in use.
    pub async fn install_pem(&self, pem: &str) -> anyhow::Result<Arc<SigningKey>> {
        if self.load().await?.is_none() {
            self.store(pem).await?;
        }
        self.load().await?.context("signing key missing")
    }

    async fn store(&self, pem: &str) -> anyhow::Result<()> {
        let key = SigningKey::from_pem(pem)?;
        // A concurrent first use may have stored one already: the first row wins, both callers reload it.
        sqlx::query(
            "INSERT INTO auth_signing_keys (kid, alg, private_pem, created_at)
             SELECT ?, 'RS256', ?, ? WHERE NOT EXISTS (SELECT 1 FROM auth_signing_keys)",
        )
        .bind(&key.kid)
        .bind(pem)
        .bind(now())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    async fn load(&self) -> anyhow::Result<Option<Arc<SigningKey>>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT private_pem FROM auth_signing_keys ORDER BY created_at, kid LIMIT 1",
        )
        .fetch_optional(&self.db)
        .await?;
        let Some((pem,)) = row else { return Ok(None) };
        let key = Arc::new(SigningKey::from_pem(&pem)?);
        if let Ok(mut g) = self.cached.lock() {
            *g = Some(key.clone());
        }
        Ok(Some(key))
    }

    /// The public JWK Set.
    pub async fn jwks(&self) -> anyhow::Result<Value> {
        let key = self.current().await?;
        Ok(json!({ "keys": [key.jwk.clone()] }))
    }
}

fn generate_pem() -> anyhow::Result<String> {
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048)?;
    Ok(key.to_pkcs8_pem(LineEnding::LF)?.to_string())
}
