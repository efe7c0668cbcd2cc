//! Small helpers of the authorization server: randomness, digests, base64url, time, constant-time compare.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

/// Unix seconds now.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh 256-bit random value, base64url: launch ids, codes, tokens, CSRF tokens.
pub fn random_token() -> String {
    let mut buf = [0u8; 32];
    // SystemRandom only fails when the OS has no randomness at all; nothing sensible can continue then.
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator failed");
    b64url(&buf)
}

/// SHA-256, lower-case hex: how secrets are stored.
pub fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256, base64url without padding (PKCE S256, key ids).
pub fn sha256_b64url(bytes: &[u8]) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Compares two secrets without an early exit, by comparing their digests.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let da = ring::digest::digest(&ring::digest::SHA256, a.as_bytes());
    let db = ring::digest::digest(&ring::digest::SHA256, b.as_bytes());
    da.as_ref()
        .iter()
        .zip(db.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space); `None` on bad escapes or non-UTF-8.
pub fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_plus_and_percent_escapes() {
        assert_eq!(form_decode("a+b%3Ac").as_deref(), Some("a b:c"));
        assert_eq!(form_decode("%zz"), None);
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
    }

    #[test]
    fn pkce_s256_is_base64url_sha256_without_padding() {
        // Expected value computed independently with Python's hashlib and base64.urlsafe_b64encode.
        assert_eq!(
            sha256_b64url(b"dBjftJeZ4CVP-mB0N7PdcQ1cXLZ7SRdHFKg1eGX0lNk"),
            "BrRCw0njiUs844SZ9fUI5MFrTHecRe3q45WEIsGj980"
        );
    }
}
