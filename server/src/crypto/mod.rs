//! Encryption at rest of tokens and secrets (ARCHITECTURE.md "crypto"; SMART.md: tokens are stored encrypted
//! at rest, never logged, never sent to the browser). The "tokens and secrets at rest" item.
//!
//! What it owns: the [`Keyring`] of AES-256-GCM keys, parsed from configuration text such as
//! `CLOUDCGM_SECRET_KEYS="k2:base64key,k1:base64key"` (the first entry is the current key), and the
//! sealed text form built by [`Keyring::seal`] and read back by [`Keyring::open`] (see [`sealed`]):
//! `v1.{key id}.{base64url nonce}.{base64url ciphertext and tag}`.
//!
//! Why a key id: keys must be able to rotate without re-encrypting every row at the same instant. Each sealed
//! value names the key that sealed it, so an operator adds a new key in front (it becomes the current one and
//! seals everything new), keeps the old ones behind it so existing rows still open, re-seals rows at leisure
//! ([`Keyring::needs_reseal`]), and only then removes the old key. A value whose key is gone fails with
//! [`OpenError::UnknownKey`] rather than with a confusing authentication failure.
//!
//! Why associated data: encryption alone does not say *where* a ciphertext belongs. Someone who can write to
//! the database (or restore an old backup) could move a sealed refresh token from one row to another, or from
//! one column to another, and it would still decrypt. Each seal is therefore bound to its place with
//! associated data, e.g. `ehr_tokens:{row id}:refresh_token` ([`aad_for`]): authenticated by GCM but not
//! stored, so opening it anywhere else fails. The format version and the key id are part of the associated
//! data too, so the header cannot be edited either.
//!
//! The keys come from configuration or the environment, never from the database: a stolen database file
//! alone must not be enough to read the tokens in it. `Debug` of every type holding a key prints no key
//! material, so a `tracing::debug!(?config)` cannot leak it.

pub mod sealed;

pub use sealed::{aad_for, OpenError, SealError};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;

/// The environment variable holding the keyring text.
pub const SECRET_KEYS_ENV: &str = "CLOUDCGM_SECRET_KEYS";

/// AES-256 keys are 32 bytes.
pub const KEY_LEN: usize = 32;

/// The longest key id; key ids are stored in every sealed value, so they stay short.
pub const MAX_KEY_ID_LEN: usize = 32;

/// The name of a key inside sealed values: 1 to 32 characters of `A-Z a-z 0-9 _ -` (no `.`, `:` or `,`,
/// which delimit the sealed form and the keyring text).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(text: &str) -> Result<KeyId, KeyringError> {
        let ok = !text.is_empty()
            && text.len() <= MAX_KEY_ID_LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(KeyId(text.to_string()))
        } else {
            Err(KeyringError::BadKeyId {
                key_id: text.chars().take(MAX_KEY_ID_LEN + 1).collect(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One AES-256-GCM key and its id. Its `Debug` shows the id only.
pub struct SecretKey {
    id: KeyId,
    key: LessSafeKey,
}

impl SecretKey {
    /// A key from its 32 raw bytes.
    pub fn new(id: KeyId, bytes: &[u8]) -> Result<SecretKey, KeyringError> {
        if bytes.len() != KEY_LEN {
            return Err(KeyringError::BadKeyLength {
                key_id: id,
                len: bytes.len(),
            });
        }
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| KeyringError::BadKeyLength {
                key_id: id.clone(),
                len: bytes.len(),
            })?;
        Ok(SecretKey {
            id,
            key: LessSafeKey::new(unbound),
        })
    }

    /// A key from its base64 text (standard or URL-safe alphabet, padded or not). The error never repeats
    /// the text.
    pub fn from_base64(id: KeyId, text: &str) -> Result<SecretKey, KeyringError> {
        let text = text.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or_else(|| KeyringError::BadKeyEncoding { key_id: id.clone() })?;
        SecretKey::new(id, &bytes)
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub(crate) fn aead(&self) -> &LessSafeKey {
        &self.key
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A fresh random 256-bit key in standard base64, for an operator to put into [`SECRET_KEYS_ENV`].
pub fn generate_key_base64() -> String {
    let mut bytes = [0u8; KEY_LEN];
    // SystemRandom only fails when the OS has no randomness at all; nothing sensible can continue then.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the operating system's random number generator failed");
    STANDARD.encode(bytes)
}

/// The current key (seals everything new) and the older keys (still open what they sealed), by id.
pub struct Keyring {
    /// `keys[0]` is the current key; ids are unique.
    keys: Vec<SecretKey>,
    rng: SystemRandom,
}

impl Keyring {
    /// A keyring from its keys, the current one first. Fails when empty or when an id repeats.
    pub fn new(keys: Vec<SecretKey>) -> Result<Keyring, KeyringError> {
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].iter().any(|k| k.id == key.id) {
                return Err(KeyringError::DuplicateKeyId {
                    key_id: key.id.clone(),
                });
            }
        }
        Ok(Keyring {
            keys,
            rng: SystemRandom::new(),
        })
    }

    /// Parses `kid:base64key,kid:base64key,...` (the first is current). Spaces and newlines around entries are
    /// ignored, so the text may be spread over lines. Errors name the entry and key id, never the key.
    pub fn parse(text: &str) -> Result<Keyring, KeyringError> {
        let mut keys = Vec::new();
        for (index, entry) in text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (kid, key) = entry
                .split_once(':')
                .ok_or(KeyringError::MissingKeyId { entry: index + 1 })?;
            keys.push(SecretKey::from_base64(KeyId::parse(kid.trim())?, key)?);
        }
        Keyring::new(keys)
    }

    /// The keyring of [`SECRET_KEYS_ENV`]; `Ok(None)` when it is unset or blank.
    pub fn from_env() -> Result<Option<Keyring>, KeyringError> {
        crate::config::env_var(SECRET_KEYS_ENV)
            .map(|text| Keyring::parse(&text))
            .transpose()
    }

    /// The key new seals use.
    pub fn current(&self) -> &SecretKey {
        &self.keys[0]
    }

    /// The key with this id, current or older.
    pub fn get(&self, id: &str) -> Option<&SecretKey> {
        self.keys.iter().find(|k| k.id.as_str() == id)
    }

    /// All key ids, the current one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.iter().map(|k| &k.id)
    }

    pub(crate) fn rng(&self) -> &SystemRandom {
        &self.rng
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current().id)
            .field("keys", &self.key_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Why a keyring could not be built. Messages name entries and key ids, never key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("no keys: set {SECRET_KEYS_ENV}=\"kid:base64key\" (32 random bytes, base64)")]
    Empty,
    #[error("keyring entry {entry} has no key id: write kid:base64key")]
    MissingKeyId { entry: usize },
    #[error("key id {key_id:?}: use 1 to 32 characters of A-Z, a-z, 0-9, _ and -")]
    BadKeyId { key_id: String },
    #[error("key {key_id}: the key is not base64")]
    BadKeyEncoding { key_id: KeyId },
    #[error("key {key_id}: {len} bytes, AES-256 needs exactly 32")]
    BadKeyLength { key_id: KeyId, len: usize },
    #[error("key id {key_id} appears twice")]
    DuplicateKeyId { key_id: KeyId },
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="; // bytes 0..32
    pub(crate) const K2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="; // bytes 32..64

    #[test]
    fn the_first_key_of_the_text_is_current_and_older_keys_stay_reachable() {
        let ring = Keyring::parse(&format!(" k2:{K2} ,\n k1:{K1}\n")).unwrap();
        assert_eq!(ring.current().id().as_str(), "k2");
        assert!(ring.get("k1").is_some());
        assert!(ring.get("k3").is_none());
        let ids: Vec<_> = ring.key_ids().map(KeyId::as_str).collect();
        assert_eq!(ids, ["k2", "k1"]);
    }

    #[test]
    fn url_safe_and_unpadded_base64_keys_are_accepted() {
        let url = URL_SAFE_NO_PAD.encode([0xfbu8; 32]);
        assert!(url.contains('_') || url.contains('-'));
        Keyring::parse(&format!("a:{url}")).unwrap();
    }

    #[test]
    fn bad_keyring_texts_are_refused_with_a_reason() {
        let short = STANDARD.encode([7u8; 16]);
        let cases = [
            ("", KeyringError::Empty),
            (" , \n", KeyringError::Empty),
            (K1, KeyringError::MissingKeyId { entry: 1 }),
            (
                &format!("k.1:{K1}"),
                KeyringError::BadKeyId {
                    key_id: "k.1".into(),
                },
            ),
            (
                &format!(":{K1}"),
                KeyringError::BadKeyId { key_id: "".into() },
            ),
            (
                "k1:not base64!",
                KeyringError::BadKeyEncoding {
                    key_id: KeyId("k1".into()),
                },
            ),
            (
                &format!("k1:{short}"),
                KeyringError::BadKeyLength {
                    key_id: KeyId("k1".into()),
                    len: 16,
                },
            ),
            (
                &format!("k1:{K1},k1:{K2}"),
                KeyringError::DuplicateKeyId {
                    key_id: KeyId("k1".into()),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Keyring::parse(text).unwrap_err(), expected, "{text:?}");
        }
    }

    #[test]
    fn errors_about_a_key_never_repeat_the_key() {
        let almost = &K1[..40];
        let err = Keyring::parse(&format!("k1:{almost}")).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(almost), "{text}");
    }

    #[test]
    fn debug_of_keys_and_keyrings_prints_no_key_material() {
        let ring = Keyring::parse(&format!("k2:{K2},k1:{K1}")).unwrap();
        let raw_k1 = STANDARD.decode(K1).unwrap();
        for text in [
            format!("{ring:?}"),
            format!("{ring:#?}"),
            format!("{:?}", ring.current()),
            format!("{:#?}", ring.get("k1").unwrap()),
        ] {
            assert!(text.contains("k2") || text.contains("k1"), "{text}");
            for secret in [K1, K2, &K1[..12], &K2[..12]] {
                assert!(!text.contains(secret), "{text}");
            }
            // Neither as a byte list.
            assert!(!text.contains(&format!("{:?}", &raw_k1[..4])), "{text}");
            assert!(!text.contains("[0, 1, 2"), "{text}");
        }
    }

    #[test]
    fn generated_keys_are_fresh_32_byte_keys_a_keyring_accepts() {
        let (a, b) = (generate_key_base64(), generate_key_base64());
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(&a).unwrap().len(), KEY_LEN);
        Keyring::parse(&format!("new:{a},old:{b}")).unwrap();
    }
}
