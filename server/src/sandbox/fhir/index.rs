//! What the sandbox indexes for search: for each resource type, the token, string, reference and date values
//! of the search parameters it supports (issue 3 item 1), extracted from the resource JSON, plus the patient
//! compartment the resource belongs to. FHIR dates of any precision become the instant range they cover.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// One row of `search_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub param: &'static str,
    pub system: Option<String>,
    pub value: Option<String>,
    pub lo_ms: Option<i64>,
    pub hi_ms: Option<i64>,
}

/// The kind of a search parameter, which decides how its query value is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    Token,
    String,
    Reference,
    Date,
}

/// The search parameters the sandbox supports per resource type (anything else is answered with 400).
pub fn param_kind(resource_type: &str, param: &str) -> Option<ParamKind> {
    use ParamKind::*;
    let kind = match (resource_type, param) {
        (_, "_id") => Token,
        (_, "identifier") => Token,
        ("Patient", "name" | "family" | "given") => String,
        ("Patient", "birthdate") => Date,
        ("Patient", "gender") => Token,
        ("Practitioner", "name" | "family" | "given") => String,
        ("Observation" | "DiagnosticReport", "code" | "category" | "status") => Token,
        ("Observation" | "DiagnosticReport", "patient" | "subject") => Reference,
        ("Observation" | "DiagnosticReport", "date") => Date,
        ("Device", "patient") => Reference,
        ("Device", "status") => Token,
        ("ServiceRequest", "code" | "status" | "intent") => Token,
        ("ServiceRequest", "patient" | "subject") => Reference,
        ("ServiceRequest", "authored") => Date,
        _ => return None,
    };
    Some(kind)
}

/// The resource types the FHIR API serves.
pub const SEARCHABLE_TYPES: [&str; 6] = [
    "Patient",
    "Practitioner",
    "Observation",
    "DiagnosticReport",
    "Device",
    "ServiceRequest",
];

/// Index rows for a resource whose `id` is already set.
pub fn index_rows(resource_type: &str, resource: &Value) -> Vec<IndexRow> {
    let mut rows = Vec::new();
    for ident in array(resource, "identifier") {
        if let Some(value) = str_of(ident, "value") {
            rows.push(token("identifier", str_of(ident, "system"), value));
        }
    }
    match resource_type {
        "Patient" | "Practitioner" => {
            for name in array(resource, "name") {
                for family in str_or_array(name, "family") {
                    rows.push(string("family", family));
                    rows.push(string("name", family));
                }
                for given in str_or_array(name, "given") {
                    rows.push(string("given", given));
                    rows.push(string("name", given));
                }
                if let Some(text) = str_of(name, "text") {
                    rows.push(string("name", text));
                }
            }
            if let Some(g) = str_of(resource, "gender") {
                rows.push(token("gender", None, g));
            }
            if let Some((lo, hi)) = resource
                .get("birthDate")
                .and_then(Value::as_str)
                .and_then(date_range)
            {
                rows.push(date("birthdate", lo, hi));
            }
        }
        "Observation" | "DiagnosticReport" | "ServiceRequest" | "Device" => {
            codings(resource.get("code"), "code", &mut rows);
            for cat in array(resource, "category") {
                codings(Some(cat), "category", &mut rows);
            }
            for key in ["status", "intent"] {
                if let Some(s) = str_of(resource, key) {
                    rows.push(token(
                        if key == "status" { "status" } else { "intent" },
                        None,
                        s,
                    ));
                }
            }
            if let Some(patient) = patient_of(resource_type, resource) {
                let reference = format!("Patient/{patient}");
                rows.push(reference_row("patient", &reference));
                rows.push(reference_row("subject", &reference));
            }
            let when = match resource_type {
                "ServiceRequest" => resource
                    .get("authoredOn")
                    .and_then(Value::as_str)
                    .and_then(date_range)
                    .map(|r| ("authored", r)),
                "Device" => None,
                _ => effective_range(resource).map(|r| ("date", r)),
            };
            if let Some((param, (lo, hi))) = when {
                rows.push(date(param, lo, hi));
            }
        }
        _ => {}
    }
    rows
}

/// The Patient compartment a resource belongs to: itself for a Patient, its `subject`/`patient` otherwise.
/// Only local `Patient/{id}` references count.
pub fn patient_of(resource_type: &str, resource: &Value) -> Option<String> {
    let field = match resource_type {
        "Patient" => return resource.get("id").and_then(Value::as_str).map(String::from),
        "Device" => "patient",
        "Observation" | "DiagnosticReport" | "ServiceRequest" => "subject",
        _ => return None,
    };
    let reference = resource.get(field)?.get("reference")?.as_str()?;
    let id = reference.strip_prefix("Patient/")?;
    (!id.is_empty() && !id.contains('/')).then(|| id.to_string())
}

/// The instant range of `effectiveDateTime`, `effectiveInstant` or `effectivePeriod`.
pub fn effective_range(resource: &Value) -> Option<(i64, i64)> {
    if let Some(s) = resource
        .get("effectiveDateTime")
        .or_else(|| resource.get("effectiveInstant"))
        .and_then(Value::as_str)
    {
        return date_range(s);
    }
    let period = resource.get("effectivePeriod")?;
    let lo = period
        .get("start")
        .and_then(Value::as_str)
        .and_then(date_range)
        .map(|r| r.0)
        .unwrap_or(i64::MIN);
    let hi = period
        .get("end")
        .and_then(Value::as_str)
        .and_then(date_range)
        .map(|r| r.1)
        .unwrap_or(i64::MAX);
    (lo != i64::MIN || hi != i64::MAX).then_some((lo, hi))
}

/// The instant range (milliseconds, inclusive) a FHIR date, dateTime or instant covers: `2024` is the whole
/// year, `2024-05-01` the whole day, `…T10:15:00Z` that second. Values without a zone are read as UTC
/// (documented in docs/sandbox-receiver.md).
pub fn date_range(s: &str) -> Option<(i64, i64)> {
    let s = s.trim();
    let day = |y: i32, m: u32, d: u32| NaiveDate::from_ymd_opt(y, m, d);
    let ms = |d: NaiveDate| {
        Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
            .timestamp_millis()
            .into()
    };
    let span = |lo: NaiveDate, hi_excl: NaiveDate| -> Option<(i64, i64)> {
        let lo: Option<i64> = ms(lo);
        let hi: Option<i64> = ms(hi_excl);
        Some((lo?, hi? - 1))
    };
    match s.len() {
        4 => {
            let y: i32 = s.parse().ok()?;
            span(day(y, 1, 1)?, day(y + 1, 1, 1)?)
        }
        7 => {
            let d = NaiveDate::parse_from_str(&format!("{s}-01"), "%Y-%m-%d").ok()?;
            let next = if d.month() == 12 {
                day(d.year() + 1, 1, 1)?
            } else {
                day(d.year(), d.month() + 1, 1)?
            };
            span(d, next)
        }
        10 => {
            let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
            span(d, d.succ_opt()?)
        }
        _ => {
            let (lo, has_fraction) = if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                (t.timestamp_millis(), s.contains('.'))
            } else {
                // dateTime with time but no zone (not valid FHIR, seen in the wild): read as UTC.
                let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
                (
                    Utc.from_utc_datetime(&t).timestamp_millis(),
                    s.contains('.'),
                )
            };
            Some((lo, if has_fraction { lo } else { lo + 999 }))
        }
    }
}

fn array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn str_or_array<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    match v.get(key) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn codings(concept: Option<&Value>, param: &'static str, rows: &mut Vec<IndexRow>) {
    let Some(concept) = concept else { return };
    for coding in array(concept, "coding") {
        if let Some(code) = str_of(coding, "code") {
            rows.push(token(param, str_of(coding, "system"), code));
        }
    }
}

fn token(param: &'static str, system: Option<&str>, value: &str) -> IndexRow {
    IndexRow {
        param,
        system: system.map(String::from),
        value: Some(value.to_string()),
        lo_ms: None,
        hi_ms: None,
    }
}

fn string(param: &'static str, value: &str) -> IndexRow {
    IndexRow {
        param,
        system: None,
        value: Some(normalize_string(value)),
        lo_ms: None,
        hi_ms: None,
    }
}

fn reference_row(param: &'static str, reference: &str) -> IndexRow {
    IndexRow {
        param,
        system: None,
        value: Some(reference.to_string()),
        lo_ms: None,
        hi_ms: None,
    }
}

fn date(param: &'static str, lo: i64, hi: i64) -> IndexRow {
    IndexRow {
        param,
        system: None,
        value: None,
        lo_ms: Some(lo),
        hi_ms: Some(hi),
    }
}

/// String search is case-insensitive and prefix-based (FHIR string search); accents are kept.
pub fn normalize_string(s: &str) -> String {
    s.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_dates_cover_their_whole_year_month_or_day() {
        let (lo, hi) = date_range("2024").unwrap();
        assert_eq!(lo, 1_704_067_200_000);
        assert_eq!(hi, 1_735_689_600_000 - 1);
        let (lo, hi) = date_range("2024-02").unwrap();
        assert_eq!(hi - lo + 1, 29 * 86_400_000, "leap February");
        let (lo, hi) = date_range("2024-05-01").unwrap();
        assert_eq!(hi - lo + 1, 86_400_000);
        let (lo, hi) = date_range("2024-05-02T10:15:00Z").unwrap();
        assert_eq!(hi - lo, 999, "a dateTime to the second covers that second");
        let (lo2, _) = date_range("2024-05-02T12:15:00+02:00").unwrap();
        assert_eq!(lo, lo2, "offsets are honoured");
        assert!(date_range("2024-13-01").is_none());
        assert!(date_range("yesterday").is_none());
    }

    #[test]
    fn an_observation_is_indexed_by_code_category_patient_date_and_identifier() {
        let obs = json!({"resourceType":"Observation","id":"o1","status":"final",
            "identifier":[{"system":"https://x","value":"r1"}],
            "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
            "code":{"coding":[{"system":"http://loinc.org","code":"99504-3"}]},
            "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-05-02T10:15:00Z",
            "valueQuantity":{"value":120,"unit":"mg/dl","system":"http://unitsofmeasure.org","code":"mg/dL"}});
        let rows = index_rows("Observation", &obs);
        let has = |p: &str, v: &str| {
            rows.iter()
                .any(|r| r.param == p && r.value.as_deref() == Some(v))
        };
        assert!(has("code", "99504-3"));
        assert!(has("category", "laboratory"));
        assert!(has("patient", "Patient/p1"));
        assert!(has("identifier", "r1"));
        assert!(has("status", "final"));
        assert!(rows.iter().any(|r| r.param == "date" && r.lo_ms.is_some()));
        assert_eq!(patient_of("Observation", &obs).as_deref(), Some("p1"));
    }

    #[test]
    fn only_local_patient_references_put_a_resource_in_a_compartment() {
        let obs = |r: &str| json!({"subject":{"reference": r}});
        assert_eq!(
            patient_of("Observation", &obs("Patient/a")).as_deref(),
            Some("a")
        );
        assert_eq!(patient_of("Observation", &obs("https://x/Patient/a")), None);
        assert_eq!(patient_of("Observation", &obs("Group/a")), None);
        assert_eq!(
            patient_of("Observation", &obs("Patient/a/_history/1")),
            None
        );
    }

    #[test]
    fn a_summary_period_is_indexed_from_its_first_to_its_last_day() {
        let obs = json!({"effectivePeriod":{"start":"2024-05-01","end":"2024-05-31"}});
        let (lo, hi) = effective_range(&obs).unwrap();
        assert_eq!(lo, date_range("2024-05-01").unwrap().0);
        assert_eq!(hi, date_range("2024-05-31").unwrap().1);
    }
}
