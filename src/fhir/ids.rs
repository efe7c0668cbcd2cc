//! Deterministic names for what CloudCGM submits: the identifier systems of summaries, summary reports and
//! devices (SUB-7, NOTES B5, C8), short content hashes that make a changed summary a new resource (NOTES C8),
//! and `urn:uuid:` fullUrls derived from an entry's identifier (NOTES B1), so the same input always gives
//! byte-identical bundles and the same resource keeps its fullUrl in every chunk.

use sha2::{Digest, Sha256};

/// Identifier system of CloudCGM's summary Observations (the panel and its members; NOTES C8).
pub const SUMMARY_IDENTIFIER_SYSTEM: &str = "https://cloudcgm.org/fhir/cgm/summary";
/// Identifier system of CloudCGM's PDF summary reports (DiagnosticReport; NOTES C8).
pub const REPORT_IDENTIFIER_SYSTEM: &str = "https://cloudcgm.org/fhir/cgm/summary-report";
/// Identifier system of the CGM Device, valued with the CloudCGM device id (NOTES B5).
pub const DEVICE_IDENTIFIER_SYSTEM: &str = "https://cloudcgm.org/fhir/cgm/device";

/// The first 16 hex digits (64 bits) of the SHA-256 of `bytes`: short enough for an identifier, long enough
/// that two different contents of one (patient, metric, period) never share it in practice.
pub fn short_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(16);
    for b in &digest[..8] {
        push_hex(&mut out, *b);
    }
    out
}

/// `urn:uuid:` of the SHA-256 of `resource_type|system|value`, formatted as an RFC 9562 version 8 (custom)
/// UUID. An identifier names one resource, so it names its entry; the resource type keeps a Device and an
/// Observation apart even if their identifiers ever coincided.
pub fn entry_urn(resource_type: &str, system: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(resource_type.as_bytes());
    hasher.update(b"|");
    hasher.update(system.as_bytes());
    hasher.update(b"|");
    hasher.update(value.as_bytes());
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122/9562 variant
    let mut out = String::with_capacity(45);
    out.push_str("urn:uuid:");
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        push_hex(&mut out, *byte);
    }
    out
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_urn_is_a_lowercase_version_8_uuid_and_stable_b1() {
        let urn = entry_urn("Observation", SUMMARY_IDENTIFIER_SYSTEM, "p.97506-0.x");
        assert_eq!(
            urn,
            entry_urn("Observation", SUMMARY_IDENTIFIER_SYSTEM, "p.97506-0.x")
        );
        let uuid = urn.strip_prefix("urn:uuid:").unwrap();
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(uuid
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(groups[2].starts_with('8'));
        assert!(matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }

    #[test]
    fn different_identifiers_or_types_give_different_urns() {
        let a = entry_urn("Observation", SUMMARY_IDENTIFIER_SYSTEM, "a");
        assert_ne!(a, entry_urn("Observation", SUMMARY_IDENTIFIER_SYSTEM, "b"));
        assert_ne!(a, entry_urn("Device", SUMMARY_IDENTIFIER_SYSTEM, "a"));
        assert_ne!(a, entry_urn("Observation", DEVICE_IDENTIFIER_SYSTEM, "a"));
    }

    #[test]
    fn a_short_hash_is_16_hex_digits_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea…
        assert_eq!(short_hash(b"abc"), "ba7816bf8f01cfea");
    }
}
