//! Reading display values out of FHIR JSON for the pages: names, identifiers, codes, periods and
//! quantities. Values come back as plain text, exactly as stored (decimals as written); the pages escape them.

use serde_json::Value;

pub const LOINC: &str = "http://loinc.org";

/// A JSON string or number as written (`arbitrary_precision` keeps "65.00").
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string element, or "".
pub fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A HumanName as "Given Family", preferring the `official` name, then the first.
pub fn human_name(resource: &Value) -> String {
    let Some(names) = resource.get("name").and_then(Value::as_array) else {
        return String::new();
    };
    let name = names
        .iter()
        .find(|n| n.get("use").and_then(Value::as_str) == Some("official"))
        .or_else(|| names.first());
    let Some(name) = name else {
        return String::new();
    };
    if let Some(text) = name.get("text").and_then(Value::as_str) {
        return text.to_string();
    }
    let mut parts: Vec<&str> = name
        .get("prefix")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    parts.extend(
        name.get("given")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    );
    if let Some(family) = name.get("family").and_then(Value::as_str) {
        parts.push(family);
    }
    parts.join(" ")
}

/// A display name that is never empty.
pub fn display_name(resource: &Value, id: &str) -> String {
    let name = human_name(resource);
    if name.trim().is_empty() {
        format!("(unnamed {id})")
    } else {
        name
    }
}

/// The medical record number: the identifier typed `MR` (v2-0203), else the first identifier's value.
pub fn mrn(patient: &Value) -> String {
    let identifiers = patient.get("identifier").and_then(Value::as_array);
    let identifiers = identifiers.map(Vec::as_slice).unwrap_or_default();
    let typed_mr = identifiers.iter().find(|identifier| {
        identifier
            .pointer("/type/coding")
            .and_then(Value::as_array)
            .is_some_and(|codings| codings.iter().any(|c| text(c, "code") == "MR"))
    });
    typed_mr
        .or_else(|| identifiers.first())
        .map(|identifier| text(identifier, "value").to_string())
        .unwrap_or_default()
}

/// Whether `concept` (a CodeableConcept) has a coding `system|code`.
pub fn has_coding(concept: Option<&Value>, system: &str, code: &str) -> bool {
    concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .is_some_and(|codings| {
            codings
                .iter()
                .any(|c| text(c, "system") == system && text(c, "code") == code)
        })
}

/// The first LOINC code of a resource's `code`.
pub fn loinc_code(resource: &Value) -> Option<&str> {
    resource
        .pointer("/code/coding")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| text(c, "system") == LOINC)
        .and_then(|c| c.get("code"))
        .and_then(Value::as_str)
}

/// A Quantity as "value unit" with the value as written; the `unit` string, else the UCUM `code`.
pub fn quantity(q: &Value) -> Option<String> {
    let value = scalar(q.get("value")?)?;
    let unit = q
        .get("unit")
        .and_then(Value::as_str)
        .or_else(|| q.get("code").and_then(Value::as_str))
        .unwrap_or("");
    Some(if unit.is_empty() {
        value
    } else {
        format!("{value} {unit}")
    })
}

/// A Period as "start – end" (either side may be open).
pub fn period(p: Option<&Value>) -> String {
    let Some(p) = p else {
        return String::new();
    };
    let start = text(p, "start");
    let end = text(p, "end");
    match (start.is_empty(), end.is_empty()) {
        (true, true) => String::new(),
        _ => format!("{start} – {end}"),
    }
}

/// An Observation's or DiagnosticReport's effective time as text.
pub fn effective(resource: &Value) -> String {
    if let Some(p) = resource.get("effectivePeriod") {
        return period(Some(p));
    }
    text(resource, "effectiveDateTime").to_string()
}

/// The logical id a literal reference points at, for `Type/id`, `Type/id/_history/n` and absolute URLs.
pub fn reference_id<'a>(reference: &'a str, resource_type: &str) -> Option<&'a str> {
    let segments: Vec<&str> = reference.split('/').collect();
    let at = segments.iter().rposition(|s| *s == resource_type)?;
    segments.get(at + 1).copied().filter(|id| !id.is_empty())
}

/// Human labels of the summary metrics (DIGEST §6.3).
pub fn metric_label(code: &str) -> &'static str {
    match code {
        "97507-8" | "105273-7" => "Mean glucose",
        "106793-3" => "Times in ranges",
        "104642-4" => "Very low (<54 mg/dL)",
        "104641-6" => "Low (54–69 mg/dL)",
        "97510-2" => "In target (70–180 mg/dL)",
        "104640-8" => "High (181–250 mg/dL)",
        "104639-0" => "Very high (>250 mg/dL)",
        "97506-0" => "Glucose management indicator (GMI)",
        "104638-2" => "Coefficient of variation (CV)",
        "104636-6" => "Days of wear",
        "104637-4" => "Sensor active time",
        "99504-3" | "105272-9" => "Sensor reading",
        "107931-8" => "CGM summary",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_keep_the_written_precision() {
        let q: Value = serde_json::from_str(r#"{"value": 65.00, "unit": "%"}"#).expect("json");
        assert_eq!(quantity(&q).as_deref(), Some("65.00 %"));
    }

    #[test]
    fn references_resolve_from_relative_versioned_and_absolute_forms() {
        assert_eq!(reference_id("Observation/a1", "Observation"), Some("a1"));
        assert_eq!(
            reference_id("Observation/a1/_history/2", "Observation"),
            Some("a1")
        );
        assert_eq!(
            reference_id("http://x/fhir/Observation/a1", "Observation"),
            Some("a1")
        );
        assert_eq!(reference_id("urn:uuid:1234", "Observation"), None);
    }

    #[test]
    fn the_mrn_is_the_mr_typed_identifier_when_there_is_one() {
        let patient = json!({"identifier": [
            {"system": "urn:x", "value": "other"},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
             "value": "MRN-7"}
        ]});
        assert_eq!(mrn(&patient), "MRN-7");
        assert_eq!(mrn(&json!({"identifier": [{"value": "first"}]})), "first");
    }

    #[test]
    fn names_prefer_the_official_one() {
        let patient = json!({"name": [
            {"use": "nickname", "given": ["Ames"]},
            {"use": "official", "given": ["Amy", "B"], "family": "Peters"}
        ]});
        assert_eq!(human_name(&patient), "Amy B Peters");
    }
}
