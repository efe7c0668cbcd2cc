//! Patient sharing codes: the short code a patient reads aloud and the clinician types into CloudCGM inside
//! the EHR to link the two records (the "sharing codes" and "linking" items; ARCHITECTURE.md
//! "linking"). This module owns the code itself: generation, display, forgiving parsing, and the keyed lookup
//! key stored in place of the code. Expiry, single use, revocation and rate limits belong to the store and
//! the linking flow.
//!
//! # Alphabet
//! 24 characters, [`ALPHABET`] = `3 4 6 7 9 A C D E F G H J K M N P Q R T V W X Y`: the digits and capital
//! letters without either member of the look-alike pairs 0/O, 1/I/L, 2/Z, 5/S, 8/B, and without U (U/V, and
//! as in Crockford's base32 it keeps accidental words out). With both members of a pair gone, a misread
//! character can never turn into a different *valid* code by itself.
//!
//! # Entropy
//! 10 characters drawn uniformly (rejection sampling from `SystemRandom` bytes): 24^10 ≈ 6.3 × 10^13
//! codes, 10 · log2 24 ≈ 45.8 bits. That is plenty for a code that is single use, expires within a day and
//! is guessed online only, through rate limits and a lockout.
//!
//! # Display and parsing
//! Displayed as `XXX-XXX-XXXX` (3-3-4, the rhythm of a phone number, which people are used to reading
//! aloud and writing down). Parsing is forgiving: case is ignored, and spaces (including no-break spaces)
//! and dashes (ASCII and Unicode hyphens and dashes from copy and paste) anywhere are dropped. Look-alikes:
//! - `U` is read as `V`: the only removed character whose look-alike is in the alphabet, so unambiguous.
//! - `0 O`, `1 I L`, `2 Z`, `5 S`, `8 B` are refused with [`ParseError::LookAlike`]: their partners are
//!   gone too, so we cannot know what was meant (`O` might be a misread `Q` or `D`, `8` a `3`, `6` or `9`),
//!   and a guess would burn one of the clinician's rate-limited attempts. The error lets the page say
//!   "codes never contain O or 0: please check that character".
//!
//! # Lookup key
//! The database never holds a code, only [`SharingCodeKey::lookup`]: HMAC-SHA256 under a server key
//! (configuration, `CLOUDCGM_SHARING_CODE_KEY`; never in the database) of `cloudcgm-sharing-code:v1:` and
//! the normalized code. A stolen database therefore yields no usable codes, and without the key the
//! 45.8-bit space cannot be searched offline against the stored values. The lookup is an index lookup on the
//! MAC; where a stored MAC is compared in code, [`SharingCodeKey::verify`] and [`CodeLookup::ct_eq`]
//! compare in constant time. Changing the key invalidates every outstanding code (they expire within a day,
//! so rotation is simply "change it and let patients generate new codes").

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;

/// The 24 characters a code is made of, in ascending ASCII order.
pub const ALPHABET: &[u8; 24] = b"34679ACDEFGHJKMNPQRTVWXY";

/// Characters in a code.
pub const CODE_LEN: usize = 10;

/// Group sizes of the displayed form, `XXX-XXX-XXXX`.
pub const GROUPS: [usize; 3] = [3, 3, 4];

/// Characters left out because of a look-alike whose partner is gone too: refused when typed.
pub const REFUSED_LOOK_ALIKES: &str = "0O1IL2Z5S8B";

/// The environment variable holding the HMAC key (base64, at least 32 bytes).
pub const SHARING_CODE_KEY_ENV: &str = "CLOUDCGM_SHARING_CODE_KEY";

/// The shortest accepted HMAC key: 256 bits, the output size of SHA-256.
pub const MIN_KEY_LEN: usize = 32;

/// Domain separation: these MACs can never collide with MACs of anything else made with the same key.
const MAC_CONTEXT: &[u8] = b"cloudcgm-sharing-code:v1:";

/// A valid sharing code in normalized form (10 characters of [`ALPHABET`]). It is a bearer credential, so
/// it has no `Display` and its `Debug` hides it: show it only through [`SharingCode::grouped`].
#[derive(Clone, PartialEq, Eq)]
pub struct SharingCode([u8; CODE_LEN]);

impl SharingCode {
    /// A fresh random code.
    pub fn generate() -> SharingCode {
        SharingCode::generate_with(&SystemRandom::new())
    }

    /// A fresh random code from `rng`.
    pub fn generate_with(rng: &dyn SecureRandom) -> SharingCode {
        // 240 = 10 × 24 is the largest multiple of 24 that fits in a byte: bytes ≥ 240 are drawn again so
        // every character is equally likely.
        const LIMIT: u8 = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        let mut code = [0u8; CODE_LEN];
        let mut filled = 0;
        let mut buf = [0u8; 16];
        while filled < CODE_LEN {
            // SystemRandom only fails when the OS has no randomness at all; nothing sensible can continue then.
            rng.fill(&mut buf)
                .expect("the operating system's random number generator failed");
            for &b in buf.iter().filter(|&&b| b < LIMIT) {
                if filled == CODE_LEN {
                    break;
                }
                code[filled] = ALPHABET[usize::from(b) % ALPHABET.len()];
                filled += 1;
            }
        }
        SharingCode(code)
    }

    /// Reads a code as typed: case, spaces and dashes are ignored, `U` is read as `V`, other look-alikes are
    /// refused (see the module documentation).
    pub fn parse(text: &str) -> Result<SharingCode, ParseError> {
        let mut code = [0u8; CODE_LEN];
        let mut len = 0;
        for c in text.chars().filter(|&c| !is_separator(c)) {
            let c = match c.to_ascii_uppercase() {
                'U' => 'V',
                c => c,
            };
            if REFUSED_LOOK_ALIKES.contains(c) {
                return Err(ParseError::LookAlike { found: c });
            }
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(ParseError::NotInAlphabet);
            }
            if len < CODE_LEN {
                code[len] = c as u8;
            }
            len += 1;
        }
        if len != CODE_LEN {
            return Err(ParseError::WrongLength { found: len });
        }
        Ok(SharingCode(code))
    }

    /// The 10 characters without separators: what the lookup key is computed from.
    pub fn normalized(&self) -> &str {
        // Only ALPHABET bytes are ever stored, and they are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The form shown to the patient: `XXX-XXX-XXXX`.
    pub fn grouped(&self) -> String {
        let mut out = String::with_capacity(CODE_LEN + GROUPS.len() - 1);
        let mut rest = self.normalized();
        for (i, size) in GROUPS.into_iter().enumerate() {
            if i > 0 {
                out.push('-');
            }
            let (group, tail) = rest.split_at(size);
            out.push_str(group);
            rest = tail;
        }
        out
    }
}

impl fmt::Debug for SharingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharingCode(<redacted>)")
    }
}

/// Spaces and the dashes people type or paste between groups.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}'
        )
}

/// Why typed text is not a sharing code. Messages never repeat the text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("a sharing code has 10 characters, this has {found}")]
    WrongLength { found: usize },
    #[error(
        "sharing codes never contain {found:?} (nor the characters it looks like): please check it"
    )]
    LookAlike { found: char },
    #[error("a sharing code has only letters and digits")]
    NotInAlphabet,
}

/// The server key the lookup MACs are made with. Its `Debug` hides it.
pub struct SharingCodeKey(hmac::Key);

impl SharingCodeKey {
    /// A key from at least 32 raw bytes.
    pub fn new(bytes: &[u8]) -> Result<SharingCodeKey, KeyError> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort { len: bytes.len() });
        }
        Ok(SharingCodeKey(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// A key from base64 (standard or URL-safe, padded or not). The error never repeats the text.
    pub fn from_base64(text: &str) -> Result<SharingCodeKey, KeyError> {
        let text = text.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .ok_or(KeyError::NotBase64)?;
        SharingCodeKey::new(&bytes)
    }

    /// The key of [`SHARING_CODE_KEY_ENV`]; `Ok(None)` when it is unset or blank.
    pub fn from_env() -> Result<Option<SharingCodeKey>, KeyError> {
        crate::config::env_var(SHARING_CODE_KEY_ENV)
            .map(|text| SharingCodeKey::from_base64(&text))
            .transpose()
    }

    fn mac_input(code: &SharingCode) -> Vec<u8> {
        [MAC_CONTEXT, code.normalized().as_bytes()].concat()
    }

    /// The value stored (and indexed) in place of the code.
    pub fn lookup(&self, code: &SharingCode) -> CodeLookup {
        let tag = hmac::sign(&self.0, &Self::mac_input(code));
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        CodeLookup(out)
    }

    /// Whether `stored` is the lookup MAC of `code`, compared in constant time.
    pub fn verify(&self, code: &SharingCode, stored: &[u8]) -> bool {
        hmac::verify(&self.0, &Self::mac_input(code), stored).is_ok()
    }
}

impl fmt::Debug for SharingCodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharingCodeKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("{SHARING_CODE_KEY_ENV} is not base64")]
    NotBase64,
    #[error("{SHARING_CODE_KEY_ENV} has {len} bytes; use at least 32 random bytes")]
    TooShort { len: usize },
}

/// HMAC-SHA256 of a normalized code: what the database holds instead of the code. Not secret by itself, but
/// it is a lookup key, so compare it with [`CodeLookup::ct_eq`] rather than `==` outside SQL.
#[derive(Debug, Clone, Copy)]
pub struct CodeLookup([u8; 32]);

impl CodeLookup {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// 43 characters of base64url without padding.
    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Equality without an early exit.
    pub fn ct_eq(&self, other: &CodeLookup) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key(byte: u8) -> SharingCodeKey {
        SharingCodeKey::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn the_alphabet_has_no_look_alikes_and_no_repeats() {
        let set: HashSet<_> = ALPHABET.iter().collect();
        assert_eq!(set.len(), ALPHABET.len());
        for c in REFUSED_LOOK_ALIKES.bytes().chain([b'U']) {
            assert!(!ALPHABET.contains(&c), "{}", c as char);
        }
        assert!(ALPHABET.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn generated_codes_have_ten_characters_of_the_alphabet_and_all_characters_occur() {
        let mut seen = HashSet::new();
        let mut codes = HashSet::new();
        for _ in 0..2000 {
            let code = SharingCode::generate();
            let text = code.normalized();
            assert_eq!(text.len(), CODE_LEN);
            assert!(text.bytes().all(|b| ALPHABET.contains(&b)), "{text}");
            seen.extend(text.bytes());
            codes.insert(text.to_string());
        }
        assert_eq!(seen.len(), ALPHABET.len(), "some characters never occur");
        assert_eq!(codes.len(), 2000, "a code repeated");
    }

    #[test]
    fn generation_draws_every_character_about_equally_often() {
        let mut counts = [0usize; 24];
        let n = 20_000;
        for _ in 0..n {
            for b in SharingCode::generate().normalized().bytes() {
                counts[ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
            }
        }
        // Expected 8333 each, standard deviation about 89. Plain `byte % 24` without rejection would give the
        // last 8 characters 10/256 instead of 1/24, about 7812: outside this 5-sigma margin.
        let expected = n * CODE_LEN / 24;
        for (i, &c) in counts.iter().enumerate() {
            assert!(c.abs_diff(expected) < 450, "{}: {c}", ALPHABET[i] as char);
        }
    }

    #[test]
    fn a_code_is_shown_in_groups_of_three_three_and_four_and_reads_back() {
        for _ in 0..200 {
            let code = SharingCode::generate();
            let shown = code.grouped();
            assert_eq!(shown.len(), 12);
            let groups: Vec<_> = shown.split('-').map(str::len).collect();
            assert_eq!(groups, GROUPS);
            assert_eq!(SharingCode::parse(&shown).unwrap(), code);
            assert_eq!(SharingCode::parse(code.normalized()).unwrap(), code);
            assert_eq!(
                SharingCode::parse(&shown.to_lowercase()).unwrap(),
                code,
                "lower case"
            );
        }
    }

    #[test]
    fn parsing_ignores_case_spaces_and_dashes() {
        let code = SharingCode::parse("K7Q-XM4-R9TW").unwrap();
        assert_eq!(code.normalized(), "K7QXM4R9TW");
        assert_eq!(code.grouped(), "K7Q-XM4-R9TW");
        for typed in [
            "k7qxm4r9tw",
            " K7Q XM4 R9TW ",
            "K7QX-M4R9-TW",
            "k-7-q-x-m-4-r-9-t-w",
            "K7Q\u{2013}XM4\u{2014}R9TW",
            "K7Q\u{00a0}XM4\tR9TW\n",
            "K7Q\u{2011}XM4\u{2212}r9tw",
        ] {
            assert_eq!(SharingCode::parse(typed).unwrap(), code, "{typed:?}");
        }
    }

    #[test]
    fn u_is_read_as_v_because_that_is_the_only_reading() {
        assert_eq!(
            SharingCode::parse("uuu-vvv-uVuv").unwrap(),
            SharingCode::parse("VVV-VVV-VVVV").unwrap()
        );
    }

    #[test]
    fn ambiguous_look_alikes_are_refused_naming_the_character() {
        for (i, c) in REFUSED_LOOK_ALIKES.chars().enumerate() {
            let typed = format!("K7Q-XM4-R9T{c}");
            assert_eq!(
                SharingCode::parse(&typed),
                Err(ParseError::LookAlike { found: c }),
                "{typed}"
            );
            let lower = typed.to_lowercase();
            assert_eq!(
                SharingCode::parse(&lower),
                Err(ParseError::LookAlike { found: c }),
                "{lower} ({i})"
            );
        }
    }

    #[test]
    fn other_text_is_refused_without_panicking() {
        let cases = [
            ("", ParseError::WrongLength { found: 0 }),
            ("  - -", ParseError::WrongLength { found: 0 }),
            ("K7Q-XM4-R9T", ParseError::WrongLength { found: 9 }),
            ("K7Q-XM4-R9TWW", ParseError::WrongLength { found: 11 }),
            (
                "K7QXM4R9TWK7QXM4R9TW",
                ParseError::WrongLength { found: 20 },
            ),
            ("K7Q_XM4-R9TW", ParseError::NotInAlphabet),
            ("K7Q.XM4.R9TW", ParseError::NotInAlphabet),
            ("K7Q-XM4-R9TÉ", ParseError::NotInAlphabet),
            ("K7Q-XM4-R9T\u{0}", ParseError::NotInAlphabet),
            ("Ｋ7Q-XM4-R9TW", ParseError::NotInAlphabet),
        ];
        for (typed, expected) in cases {
            assert_eq!(SharingCode::parse(typed), Err(expected), "{typed:?}");
        }
    }

    #[test]
    fn the_lookup_key_is_the_same_for_every_way_of_typing_a_code() {
        let k = key(1);
        let a = k.lookup(&SharingCode::parse("K7Q-XM4-R9TW").unwrap());
        let b = k.lookup(&SharingCode::parse(" k7qxm4 r9tw").unwrap());
        assert!(a.ct_eq(&b));
        assert_eq!(a.to_hex(), b.to_hex());
        assert_eq!(a.to_base64(), b.to_base64());
    }

    #[test]
    fn the_lookup_key_depends_on_the_server_key_and_the_code() {
        let code = SharingCode::parse("K7Q-XM4-R9TW").unwrap();
        let other = SharingCode::parse("K7Q-XM4-R9TX").unwrap();
        let (a, b) = (key(1).lookup(&code), key(2).lookup(&code));
        assert!(!a.ct_eq(&b));
        assert_ne!(a.to_hex(), b.to_hex());
        assert!(!a.ct_eq(&key(1).lookup(&other)));
    }

    #[test]
    fn the_lookup_key_is_hmac_sha256_of_the_context_and_normalized_code_in_hex_and_base64() {
        let k = key(7);
        let code = SharingCode::parse("k7q xm4 r9tw").unwrap();
        let lookup = k.lookup(&code);
        let expected = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]),
            b"cloudcgm-sharing-code:v1:K7QXM4R9TW",
        );
        assert_eq!(lookup.as_bytes().as_slice(), expected.as_ref());
        let hex = lookup.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(
            URL_SAFE_NO_PAD.decode(lookup.to_base64()).unwrap(),
            lookup.as_bytes()
        );
        assert!(!hex.contains("K7Q") && !lookup.to_base64().contains("K7Q"));
    }

    #[test]
    fn verify_accepts_the_stored_mac_only() {
        let k = key(3);
        let code = SharingCode::generate();
        let stored = k.lookup(&code);
        assert!(k.verify(&code, stored.as_bytes()));
        assert!(!key(4).verify(&code, stored.as_bytes()));
        let mut tampered = *stored.as_bytes();
        tampered[31] ^= 1;
        assert!(!k.verify(&code, &tampered));
        assert!(!k.verify(&code, &stored.as_bytes()[..16]));
    }

    #[test]
    fn short_or_garbled_keys_are_refused_without_repeating_them() {
        assert_eq!(
            SharingCodeKey::new(&[1; 31]).unwrap_err(),
            KeyError::TooShort { len: 31 }
        );
        assert_eq!(
            SharingCodeKey::from_base64("not base64!").unwrap_err(),
            KeyError::NotBase64
        );
        let short = STANDARD.encode([9u8; 16]);
        let err = SharingCodeKey::from_base64(&short).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(&short));
        SharingCodeKey::from_base64(&URL_SAFE_NO_PAD.encode([9u8; 48])).unwrap();
    }

    #[test]
    fn debug_prints_neither_the_code_nor_the_key() {
        let code = SharingCode::parse("K7Q-XM4-R9TW").unwrap();
        let raw = [0x5au8; 32];
        let k = SharingCodeKey::new(&raw).unwrap();
        let err = SharingCode::parse("K7Q-XM4-R9T").unwrap_err();
        for text in [
            format!("{code:?}"),
            format!("{code:#?}"),
            format!("{k:?}"),
            format!("{k:#?}"),
            format!("{err} {err:?}"),
        ] {
            assert!(!text.contains("K7Q") && !text.contains("XM4"), "{text}");
            assert!(!text.contains("90") && !text.contains("5a"), "{text}");
            assert!(!text.contains(&STANDARD.encode(raw)[..8]), "{text}");
        }
    }
}
