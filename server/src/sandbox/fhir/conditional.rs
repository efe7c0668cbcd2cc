//! Conditional create and server-side duplicate detection for `$submit-cgm-bundle` (DUP-1…6, NOTES A3, A4,
//! C9; documented in docs/sandbox-receiver.md as RCV-8 and DUP-6 require).
//!
//! The only conditional-create search the receiver supports is `identifier` (token: `system|value`, `|value`
//! for "no system", or a bare `value` for any system), because identifiers are what submitters make
//! deterministic. The same identifiers drive dedup of entries without `ifNoneExist`.

use crate::sandbox::auth::util::form_decode;
use serde_json::Value;

/// Which identifier systems a key matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SystemMatch {
    /// `identifier=value`: any system.
    Any,
    /// `identifier=|value`: identifiers without a system.
    Absent,
    /// `identifier=system|value`.
    Is(String),
}

/// One identifier to look for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdentifierKey {
    pub system: SystemMatch,
    pub value: String,
}

impl IdentifierKey {
    pub fn matches(&self, system: Option<&str>, value: &str) -> bool {
        self.value == value
            && match (&self.system, system) {
                (SystemMatch::Any, _) => true,
                (SystemMatch::Absent, None) => true,
                (SystemMatch::Is(s), Some(t)) => s == t,
                _ => false,
            }
    }
}

/// Parses `request.ifNoneExist` (the query part, URL-encoded). Anything but a single `identifier` parameter
/// is refused with the reason, which the entry's 400 carries (DUP-4 for unsupported searches).
pub fn parse_if_none_exist(query: &str) -> Result<IdentifierKey, String> {
    let params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let [param] = params.as_slice() else {
        return Err(format!(
            "conditional create supports exactly one search parameter, identifier=system|value; got '{query}'"
        ));
    };
    let (name, raw) = param.split_once('=').unwrap_or((param, ""));
    if name != "identifier" {
        return Err(format!(
            "conditional create supports only the identifier parameter (identifier=system|value), not '{name}'"
        ));
    }
    let token = form_decode(raw)
        .ok_or_else(|| format!("ifNoneExist '{query}' is not valid URL encoding"))?;
    let key = match token.split_once('|') {
        Some(("", value)) => IdentifierKey {
            system: SystemMatch::Absent,
            value: value.to_string(),
        },
        Some((system, value)) => IdentifierKey {
            system: SystemMatch::Is(system.to_string()),
            value: value.to_string(),
        },
        None => IdentifierKey {
            system: SystemMatch::Any,
            value: token.clone(),
        },
    };
    if key.value.is_empty() || key.value.contains(',') {
        return Err(format!(
            "ifNoneExist needs one identifier value (identifier=system|value); got '{query}'"
        ));
    }
    Ok(key)
}

/// The identifiers of a resource that count for server-side dedup: those with both a system and a value.
/// An identifier without a system is too weak to call two resources the same.
pub fn dedup_keys(resource: &Value) -> Vec<IdentifierKey> {
    resource
        .get("identifier")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let system = i.get("system")?.as_str()?;
            let value = i.get("value")?.as_str()?;
            (!system.is_empty() && !value.is_empty()).then(|| IdentifierKey {
                system: SystemMatch::Is(system.to_string()),
                value: value.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dup_3_if_none_exist_takes_the_three_token_forms_url_encoded() {
        let k = parse_if_none_exist("identifier=https%3A%2F%2Fx.org%2Fr%7Cabc").unwrap();
        assert_eq!(k.system, SystemMatch::Is("https://x.org/r".into()));
        assert_eq!(k.value, "abc");
        assert!(k.matches(Some("https://x.org/r"), "abc"));
        assert!(!k.matches(None, "abc"));
        let k = parse_if_none_exist("identifier=|abc").unwrap();
        assert!(k.matches(None, "abc") && !k.matches(Some("s"), "abc"));
        let k = parse_if_none_exist("identifier=abc").unwrap();
        assert!(k.matches(Some("s"), "abc") && k.matches(None, "abc"));
    }

    #[test]
    fn dup_4_other_conditional_searches_are_refused_with_a_reason() {
        assert!(parse_if_none_exist("code=99504-3")
            .unwrap_err()
            .contains("only the identifier parameter"));
        assert!(parse_if_none_exist("identifier=a&code=b")
            .unwrap_err()
            .contains("exactly one"));
        assert!(parse_if_none_exist("identifier=s|").is_err());
        assert!(parse_if_none_exist("identifier=s|a,b").is_err());
        assert!(parse_if_none_exist("identifier=%zz").is_err());
    }

    #[test]
    fn only_identifiers_with_system_and_value_count_for_dedup() {
        let r = json!({"identifier":[{"value":"a"},{"system":"s","value":"b"},{"system":"s"}]});
        let keys = dedup_keys(&r);
        assert_eq!(keys.len(), 1);
        assert!(keys[0].matches(Some("s"), "b"));
    }
}
