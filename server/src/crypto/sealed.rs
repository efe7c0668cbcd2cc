//! The sealed text form of a secret: `v1.{key id}.{base64url nonce}.{base64url ciphertext and tag}`.
//!
//! - `v1`: the format version, so the algorithm or layout can change later without guessing.
//! - key id: which [`Keyring`] key sealed it (rotation; see the module above).
//! - nonce: 96 random bits from ring's `SystemRandom`, fresh for every seal. With random nonces one key can
//!   safely seal about 2^32 values (NIST SP 800-38D); rotating keys keeps far below that.
//! - ciphertext and tag: AES-256-GCM output, the 128-bit tag appended.
//!
//! The associated data GCM authenticates is `v1.{key id}.` followed by the caller's row binding
//! (`{table}:{row id}:{column}`, see [`aad_for`]), so neither the header nor the row can be changed. Text, not
//! bytes, because it goes into a TEXT column and sometimes into configuration files; base64url without
//! padding never contains `.`, so splitting on `.` is unambiguous.
//!
//! Every failure to open is an error value, never a panic, whatever the input.

use super::{KeyId, Keyring};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{Aad, Nonce, NONCE_LEN};
use ring::rand::SecureRandom;
use std::fmt::Display;

/// The format version written by [`Keyring::seal`].
pub const VERSION: &str = "v1";

/// Length of the GCM tag appended to the ciphertext.
const TAG_LEN: usize = 16;

/// The row binding of a sealed column: `{table}:{row id}:{column}`, e.g. `ehr_tokens:42:refresh_token`.
/// Seal and open must be given the same text.
pub fn aad_for(table: &str, row_id: impl Display, column: &str) -> String {
    format!("{table}:{row_id}:{column}")
}

/// What GCM authenticates besides the plaintext: the header and the caller's row binding.
fn associated_data(key_id: &str, aad: &str) -> Vec<u8> {
    // The key id never contains '.', so "v1.{kid}." cannot run into the caller's part.
    format!("{VERSION}.{key_id}.{aad}").into_bytes()
}

/// A sealed value split into its parts; the nonce and ciphertext are already decoded.
struct Parts<'a> {
    key_id: &'a str,
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

fn split(sealed: &str) -> Result<Parts<'_>, OpenError> {
    let mut fields = sealed.split('.');
    let (Some(version), Some(key_id), Some(nonce), Some(ciphertext), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(OpenError::Malformed("not four dot-separated fields"));
    };
    if version != VERSION {
        return Err(OpenError::Malformed("unknown format version"));
    }
    if KeyId::parse(key_id).is_err() {
        return Err(OpenError::Malformed("invalid key id"));
    }
    let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
        .decode(nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(OpenError::Malformed(
            "the nonce is not 12 bytes of base64url",
        ))?;
    let ciphertext = URL_SAFE_NO_PAD
        .decode(ciphertext)
        .map_err(|_| OpenError::Malformed("the ciphertext is not base64url"))?;
    if ciphertext.len() < TAG_LEN {
        return Err(OpenError::Malformed(
            "the ciphertext is shorter than its tag",
        ));
    }
    Ok(Parts {
        key_id,
        nonce,
        ciphertext,
    })
}

/// The key id a sealed value names, without opening it.
pub fn key_id_of(sealed: &str) -> Result<&str, OpenError> {
    split(sealed).map(|p| p.key_id)
}

impl Keyring {
    /// Seals `plaintext` under the current key, bound to `aad` (see [`aad_for`]). Two seals of the same
    /// plaintext differ (fresh nonce).
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<String, SealError> {
        let key = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        self.rng()
            .fill(&mut nonce)
            .map_err(|_| SealError::Randomness)?;
        let mut in_out = plaintext.to_vec();
        key.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(key.id().as_str(), aad)),
                &mut in_out,
            )
            .map_err(|_| SealError::TooLong)?;
        Ok(format!(
            "{VERSION}.{}.{}.{}",
            key.id(),
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(&in_out)
        ))
    }

    /// Opens a value sealed with any key of this keyring and the same `aad`. Fails on a malformed string, an
    /// unknown key id, a different `aad`, or any change to the sealed text.
    pub fn open(&self, aad: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let Parts {
            key_id,
            nonce,
            mut ciphertext,
        } = split(sealed)?;
        let key = self.get(key_id).ok_or_else(|| OpenError::UnknownKey {
            key_id: key_id.to_string(),
        })?;
        let plaintext_len = key
            .aead()
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(key_id, aad)),
                &mut ciphertext,
            )
            .map_err(|_| OpenError::Rejected)?
            .len();
        ciphertext.truncate(plaintext_len);
        Ok(ciphertext)
    }

    /// [`Keyring::open`] for values that were sealed from text (tokens).
    pub fn open_string(&self, aad: &str, sealed: &str) -> Result<String, OpenError> {
        String::from_utf8(self.open(aad, sealed)?).map_err(|_| OpenError::NotUtf8)
    }

    /// Whether a sealed value was sealed with an older key and should be re-sealed with the current one.
    pub fn needs_reseal(&self, sealed: &str) -> Result<bool, OpenError> {
        Ok(key_id_of(sealed)? != self.current().id().as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the operating system's random number generator failed")]
    Randomness,
    #[error("the plaintext is too long for AES-GCM")]
    TooLong,
}

/// Why a sealed value did not open. Messages never include the sealed text or the plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("not a sealed value: {0}")]
    Malformed(&'static str),
    #[error("sealed with key {key_id:?}, which is not in the keyring (was it removed too early?)")]
    UnknownKey { key_id: String },
    /// Wrong associated data (another row or column), or the value was changed: GCM's tag does not match.
    #[error("the sealed value does not authenticate: tampered with, or opened for another row or column")]
    Rejected,
    #[error("the opened value is not UTF-8")]
    NotUtf8,
}

#[cfg(test)]
mod tests {
    use super::super::tests::{K1, K2};
    use super::*;

    fn old_ring() -> Keyring {
        Keyring::parse(&format!("k1:{K1}")).unwrap()
    }

    fn rotated_ring() -> Keyring {
        Keyring::parse(&format!("k2:{K2},k1:{K1}")).unwrap()
    }

    const AAD: &str = "ehr_tokens:42:refresh_token";

    #[test]
    fn a_sealed_value_opens_to_the_same_bytes() {
        let ring = rotated_ring();
        for plaintext in [&b""[..], b"x", b"a refresh token", &[0u8, 255, 7, 0][..]] {
            let sealed = ring.seal(AAD, plaintext).unwrap();
            assert_eq!(ring.open(AAD, &sealed).unwrap(), plaintext);
        }
        let sealed = ring.seal(AAD, "jeton à l'été".as_bytes()).unwrap();
        assert_eq!(ring.open_string(AAD, &sealed).unwrap(), "jeton à l'été");
    }

    #[test]
    fn the_sealed_form_is_versioned_text_naming_its_key() {
        let sealed = rotated_ring().seal(AAD, b"secret").unwrap();
        let fields: Vec<_> = sealed.split('.').collect();
        assert_eq!(fields.len(), 4, "{sealed}");
        assert_eq!(fields[0], "v1");
        assert_eq!(fields[1], "k2");
        assert_eq!(URL_SAFE_NO_PAD.decode(fields[2]).unwrap().len(), 12);
        assert_eq!(URL_SAFE_NO_PAD.decode(fields[3]).unwrap().len(), 6 + 16);
        assert!(!sealed.contains("secret"));
        assert_eq!(key_id_of(&sealed).unwrap(), "k2");
    }

    #[test]
    fn values_sealed_with_an_older_key_still_open_after_rotation_and_new_seals_use_the_current_key()
    {
        let before = old_ring().seal(AAD, b"old token").unwrap();
        let after = rotated_ring();
        assert_eq!(after.open(AAD, &before).unwrap(), b"old token");
        assert!(after.needs_reseal(&before).unwrap());

        let resealed = after.seal(AAD, b"old token").unwrap();
        assert_eq!(key_id_of(&resealed).unwrap(), "k2");
        assert!(!after.needs_reseal(&resealed).unwrap());
        // The old keyring alone knows nothing of k2.
        assert_eq!(
            old_ring().open(AAD, &resealed).unwrap_err(),
            OpenError::UnknownKey {
                key_id: "k2".into()
            }
        );
    }

    #[test]
    fn a_value_does_not_open_for_another_row_or_column() {
        let ring = rotated_ring();
        let sealed = ring
            .seal(&aad_for("ehr_tokens", 42, "refresh_token"), b"t")
            .unwrap();
        for other in [
            aad_for("ehr_tokens", 43, "refresh_token"),
            aad_for("ehr_tokens", 42, "access_token"),
            aad_for("ehr_clients", 42, "refresh_token"),
            String::new(),
        ] {
            assert_eq!(
                ring.open(&other, &sealed),
                Err(OpenError::Rejected),
                "{other}"
            );
        }
    }

    #[test]
    fn flipping_any_bit_of_the_nonce_or_ciphertext_is_detected() {
        let ring = rotated_ring();
        let sealed = ring.seal(AAD, b"a token").unwrap();
        let fields: Vec<_> = sealed.split('.').collect();
        for field in [2, 3] {
            let bytes = URL_SAFE_NO_PAD.decode(fields[field]).unwrap();
            for bit in 0..bytes.len() * 8 {
                let mut flipped = bytes.clone();
                flipped[bit / 8] ^= 1 << (bit % 8);
                let mut parts = fields.clone();
                let encoded = URL_SAFE_NO_PAD.encode(&flipped);
                parts[field] = &encoded;
                assert_eq!(
                    ring.open(AAD, &parts.join(".")),
                    Err(OpenError::Rejected),
                    "field {field} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn relabelling_a_value_with_another_known_key_id_is_detected() {
        let ring = rotated_ring();
        let sealed = ring.seal(AAD, b"a token").unwrap();
        let relabelled = sealed.replacen(".k2.", ".k1.", 1);
        assert_eq!(ring.open(AAD, &relabelled), Err(OpenError::Rejected));
    }

    #[test]
    fn a_value_sealed_with_an_unknown_key_id_is_refused_as_such() {
        let sealed = rotated_ring().seal(AAD, b"a token").unwrap();
        let unknown = sealed.replacen(".k2.", ".k9.", 1);
        assert_eq!(
            rotated_ring().open(AAD, &unknown),
            Err(OpenError::UnknownKey {
                key_id: "k9".into()
            })
        );
    }

    #[test]
    fn malformed_sealed_strings_fail_without_panicking() {
        let ring = rotated_ring();
        let good = ring.seal(AAD, b"a token").unwrap();
        let fields: Vec<_> = good.split('.').collect();
        let (nonce, ct) = (fields[2], fields[3]);
        let short_nonce = URL_SAFE_NO_PAD.encode([0u8; 11]);
        let short_ct = URL_SAFE_NO_PAD.encode([0u8; 15]);
        let cases = [
            String::new(),
            ".".into(),
            "...".into(),
            "....".into(),
            "v1".into(),
            format!("v1.k2.{nonce}"),
            format!("v1.k2.{nonce}.{ct}."),
            format!("v2.k2.{nonce}.{ct}"),
            format!("V1.k2.{nonce}.{ct}"),
            format!("v1..{nonce}.{ct}"),
            format!("v1.k 2.{nonce}.{ct}"),
            format!("v1.k2.{short_nonce}.{ct}"),
            format!("v1.k2.{nonce}.{short_ct}"),
            format!("v1.k2..{ct}"),
            format!("v1.k2.{nonce}."),
            format!("v1.k2.{nonce}.{ct}="),
            format!("v1.k2.{nonce}+.{ct}"),
            format!("v1.k2.é.{ct}"),
            format!(" {good}"),
            format!("{good}\n"),
            "v1.k2.AAAA.AAAA\u{0}".into(),
        ];
        for case in &cases {
            assert!(
                matches!(ring.open(AAD, case), Err(OpenError::Malformed(_))),
                "{case:?}: {:?}",
                ring.open(AAD, case)
            );
        }
        // Every truncation and every single-character change fails too, whatever the error.
        for end in 0..good.len() {
            assert!(ring.open(AAD, &good[..end]).is_err(), "prefix {end}");
        }
        for (i, _) in good.char_indices() {
            for replacement in ['A', '_', '.', '~'] {
                let mut changed = good.clone();
                changed.replace_range(i..i + 1, &replacement.to_string());
                if changed != good {
                    assert!(ring.open(AAD, &changed).is_err(), "{changed}");
                }
            }
        }
    }

    #[test]
    fn sealing_the_same_plaintext_twice_gives_different_values() {
        let ring = rotated_ring();
        let a = ring.seal(AAD, b"same").unwrap();
        let b = ring.seal(AAD, b"same").unwrap();
        assert_ne!(a, b);
        assert_ne!(a.split('.').nth(2), b.split('.').nth(2), "nonces repeat");
    }

    #[test]
    fn text_that_is_not_utf8_is_reported_by_open_string() {
        let ring = rotated_ring();
        let sealed = ring.seal(AAD, &[0xff, 0xfe]).unwrap();
        assert_eq!(ring.open_string(AAD, &sealed), Err(OpenError::NotUtf8));
    }

    #[test]
    fn error_messages_contain_neither_the_sealed_value_nor_the_plaintext() {
        let ring = rotated_ring();
        let sealed = ring.seal(AAD, b"plain-secret").unwrap();
        let ct = sealed.split('.').nth(3).unwrap().to_string();
        let errors = [
            ring.open("other", &sealed).unwrap_err(),
            ring.open(AAD, &sealed.replacen(".k2.", ".k9.", 1))
                .unwrap_err(),
            ring.open(AAD, &format!("{sealed}.")).unwrap_err(),
        ];
        for err in errors {
            let text = format!("{err} {err:?}");
            assert!(
                !text.contains(&ct) && !text.contains("plain-secret"),
                "{text}"
            );
        }
    }
}
