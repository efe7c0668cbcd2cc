//! Profile validation of one resource against one CGM profile: everything of VAL-2…VAL-6 and VAL-8…VAL-10 and
//! DIGEST §4 that can be checked on the resource alone, plus the base R4 rules that matter here (status codes,
//! `obs-6`, `obs-7`, `ext-1`, `per-1`, `att-1`). VAL-7 (panel members) needs the Bundle and lives in
//! [`super::submission`]; the panel's bare `hasMember` count (≥ 6) is checked here.
//!
//! Decisions: `system` and `code` of a pattern Quantity are strict, the `unit` string only warns (NOTES C1);
//! TIR components that do not sum to 100 ± 0.5 only warn, any precision is fine (NOTES C3); any
//! dataAbsentReason code is accepted (NOTES C5); nothing across resources is compared (NOTES C7). Must-Support
//! and unknown elements never cause an error (RCV-11): only what the profiles constrain is looked at.

use super::codes::*;
use super::outcome::Issue;
use super::profile::{codings, has_coding, profiles_matching, CgmProfile};
use chrono::{DateTime, NaiveDate};
use serde_json::{Map, Value};

/// Validates `resource` against `profile`. `path` is the FHIRPath prefix for issue expressions, e.g.
/// `Bundle.entry[3].resource` (or just the resource type).
pub fn validate(profile: CgmProfile, resource: &Value, path: &str) -> Vec<Issue> {
    let mut v = Validator {
        issues: Vec::new(),
        path,
    };
    let Some(obj) = resource.as_object() else {
        v.error("structure", "", "a resource must be a JSON object");
        return v.issues;
    };
    let expected = profile.resource_type();
    match obj.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == expected => {}
        Some(t) => {
            v.error(
                "invalid",
                ".resourceType",
                format!("{} applies to {expected}, not {t}", profile.canonical()),
            );
            return v.issues;
        }
        None => {
            v.error("required", ".resourceType", "resourceType is missing");
            return v.issues;
        }
    }
    match expected {
        "Observation" => v.observation(profile, obj),
        "DiagnosticReport" => v.summary_pdf(obj),
        "Device" => v.device(obj),
        _ => v.order(profile, obj),
    }
    v.issues
}

const OBSERVATION_STATUS: [&str; 8] = [
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
];
const DIAGNOSTIC_REPORT_STATUS: [&str; 10] = [
    "registered",
    "partial",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "appended",
    "cancelled",
    "entered-in-error",
    "unknown",
];
const SERVICE_REQUEST_STATUS: [&str; 7] = [
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
];
const DEVICE_STATUS: [&str; 4] = ["active", "inactive", "entered-in-error", "unknown"];

struct Validator<'p> {
    issues: Vec<Issue>,
    path: &'p str,
}

impl Validator<'_> {
    fn error(&mut self, code: &'static str, at: &str, diagnostics: impl Into<String>) {
        self.issues
            .push(Issue::error(code, diagnostics).at(format!("{}{at}", self.path)));
    }

    fn warning(&mut self, code: &'static str, at: &str, diagnostics: impl Into<String>) {
        self.issues
            .push(Issue::warning(code, diagnostics).at(format!("{}{at}", self.path)));
    }

    fn status(&mut self, obj: &Map<String, Value>, allowed: &[&str], required: bool) {
        match obj.get("status") {
            None if required => self.error("required", ".status", "status is required (R4 1..1)"),
            None => {}
            Some(Value::String(s)) if allowed.contains(&s.as_str()) => {}
            Some(other) => self.error(
                "code-invalid",
                ".status",
                format!("status {other} is not one of {}", allowed.join("|")),
            ),
        }
    }

    /// `code` must contain the profile's pattern coding (DIGEST §3); for Observations it must match exactly one
    /// profile's code (VAL-2).
    fn code(&mut self, profile: CgmProfile, obj: &Map<String, Value>) {
        let Some((system, code)) = profile.code() else {
            return;
        };
        let concept = obj.get("code");
        if concept.is_none() {
            self.error(
                "required",
                ".code",
                format!("code is required; expected {system}#{code}"),
            );
            return;
        }
        if !has_coding(concept, system, code) {
            self.error(
                "value",
                ".code",
                format!(
                    "code must contain a coding {system}#{code} ({})",
                    profile.title()
                ),
            );
            return;
        }
        let matching = profiles_matching(profile.resource_type(), concept);
        if matching.len() > 1 {
            let names: Vec<&str> = matching.iter().map(|p| p.title()).collect();
            self.error(
                "value",
                ".code",
                format!(
                    "code matches more than one CGM profile ({}); it must match exactly one",
                    names.join(", ")
                ),
            );
        }
    }

    /// `subject` (or Device `patient`) is a Reference with a `reference` string.
    fn reference_element(&mut self, obj: &Map<String, Value>, name: &str, required: bool) {
        match obj.get(name) {
            None if required => self.error(
                "required",
                &format!(".{name}"),
                format!("{name} is required"),
            ),
            None => {}
            Some(r) => match r.get("reference") {
                Some(Value::String(s)) if !s.is_empty() => {}
                _ => self.error(
                    "required",
                    &format!(".{name}.reference"),
                    format!("{name} must be a Reference with a reference string (Patient/{{id}})"),
                ),
            },
        }
    }

    /// A Period with both bounds present and parseable, start ≤ end where comparable (`per-1`).
    fn period(&mut self, period: Option<&Value>, at: &str) {
        let Some(period) = period else {
            self.error("required", at, "a Period with start and end is required");
            return;
        };
        if !period.is_object() {
            self.error("structure", at, "must be a Period object");
            return;
        }
        let start = self.date_time(period.get("start"), &format!("{at}.start"));
        let end = self.date_time(period.get("end"), &format!("{at}.end"));
        if let (Some(start), Some(end)) = (start, end) {
            if let Some(false) = start.not_after(&end) {
                self.error("invariant", at, "per-1: start must not be after end");
            }
        }
    }

    fn date_time(&mut self, value: Option<&Value>, at: &str) -> Option<FhirDateTime> {
        match value {
            None => {
                self.error("required", at, "is required");
                None
            }
            Some(Value::String(s)) => {
                let parsed = FhirDateTime::parse(s);
                if parsed.is_none() {
                    self.error(
                        "value",
                        at,
                        format!("'{s}' is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or a full date-time with zone)"),
                    );
                }
                parsed
            }
            Some(_) => {
                self.error("structure", at, "must be a dateTime string");
                None
            }
        }
    }

    /// A Quantity matching `{system, code, unit}`: system and code strict, unit a warning (NOTES C1); `value`
    /// must be a JSON number when present.
    fn quantity(&mut self, q: &Value, at: &str, (code, unit): (&str, &str)) {
        if !q.is_object() {
            self.error("structure", at, "must be a Quantity object");
            return;
        }
        match q.get("value") {
            None => self.warning(
                "required",
                &format!("{at}.value"),
                "the Quantity has no value",
            ),
            Some(v) if v.is_number() => {}
            Some(_) => self.error(
                "structure",
                &format!("{at}.value"),
                "value must be a JSON number",
            ),
        }
        if q.get("system").and_then(Value::as_str) != Some(UCUM) {
            self.error(
                "value",
                &format!("{at}.system"),
                format!("system must be '{UCUM}' (pattern)"),
            );
        }
        match q.get("code").and_then(Value::as_str) {
            Some(c) if c == code => {}
            Some(c) => self.error(
                "value",
                &format!("{at}.code"),
                format!("UCUM code must be '{code}', not '{c}' (pattern)"),
            ),
            None => self.error(
                "value",
                &format!("{at}.code"),
                format!("UCUM code '{code}' is required (pattern)"),
            ),
        }
        match q.get("unit").and_then(Value::as_str) {
            Some(u) if u == unit => {}
            Some(u) => self.warning(
                "value",
                &format!("{at}.unit"),
                format!(
                    "unit should be exactly '{unit}' (pattern), not '{u}'; accepted as received"
                ),
            ),
            None => self.warning(
                "value",
                &format!("{at}.unit"),
                format!("unit should be '{unit}' (pattern)"),
            ),
        }
    }

    fn observation(&mut self, profile: CgmProfile, obj: &Map<String, Value>) {
        self.status(obj, &OBSERVATION_STATUS, true);
        self.code(profile, obj);
        self.reference_element(obj, "subject", true);

        let value_keys = choice_keys(obj, "value");
        let dar = obj.contains_key("dataAbsentReason");
        if dar && !value_keys.is_empty() {
            self.error(
                "invariant",
                ".dataAbsentReason",
                "obs-6: dataAbsentReason SHALL only be present if value[x] is not present",
            );
        }
        self.obs7(obj);

        let effective = choice_keys(obj, "effective");
        if profile.has_effective_period() {
            for key in effective.iter().filter(|k| **k != "effectivePeriod") {
                self.error(
                    "structure",
                    &format!(".{key}"),
                    "effective[x] must be an effectivePeriod in this profile",
                );
            }
            self.period(obj.get("effectivePeriod"), ".effectivePeriod");
        } else {
            for key in effective.iter().filter(|k| **k != "effectiveDateTime") {
                self.error(
                    "structure",
                    &format!(".{key}"),
                    "effective[x] must be an effectiveDateTime in this profile",
                );
            }
            let _ = self.date_time(obj.get("effectiveDateTime"), ".effectiveDateTime");
        }

        let unit = match profile {
            CgmProfile::MeanGlucoseMass | CgmProfile::SensorReadingMass => Some(UNIT_MG_DL),
            CgmProfile::MeanGlucoseMolar | CgmProfile::SensorReadingMolar => Some(UNIT_MMOL_L),
            CgmProfile::Gmi
            | CgmProfile::CoefficientOfVariation
            | CgmProfile::SensorActivePercentage => Some(UNIT_PERCENT),
            CgmProfile::DaysOfWear => Some(UNIT_DAYS),
            _ => None,
        };
        if let Some(unit) = unit {
            for key in value_keys.iter().filter(|k| **k != "valueQuantity") {
                self.error(
                    "structure",
                    &format!(".{key}"),
                    "value[x] must be a valueQuantity in this profile",
                );
            }
            match obj.get("valueQuantity") {
                Some(q) => self.quantity(q, ".valueQuantity", unit),
                None if matches!(
                    profile,
                    CgmProfile::Gmi
                        | CgmProfile::CoefficientOfVariation
                        | CgmProfile::SensorActivePercentage
                        | CgmProfile::DaysOfWear
                ) =>
                {
                    self.error(
                        "required",
                        ".valueQuantity",
                        format!("{} requires valueQuantity (VAL-5)", profile.title()),
                    )
                }
                None => {}
            }
        }
        if matches!(
            profile,
            CgmProfile::SensorReadingMass | CgmProfile::SensorReadingMolar
        ) && value_keys.is_empty()
            && !dar
        {
            self.error(
                "invariant",
                "",
                "cgm-sensor-value-or-dar: a sensor reading needs valueQuantity or dataAbsentReason (VAL-5)",
            );
        }
        match profile {
            CgmProfile::TimesInRanges => self.times_in_ranges(obj),
            CgmProfile::SummaryPanel => {
                let members = obj
                    .get("hasMember")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if members < 6 {
                    self.error(
                        "required",
                        ".hasMember",
                        format!("the summary panel needs at least 6 hasMember references, found {members} (VAL-7)"),
                    );
                }
            }
            _ => {}
        }
    }

    /// `obs-7`: a component whose code equals the Observation's code carries no value.
    fn obs7(&mut self, obj: &Map<String, Value>) {
        let own: Vec<(&str, &str)> = codings(obj.get("code")).collect();
        let Some(components) = obj.get("component").and_then(Value::as_array) else {
            return;
        };
        for (i, component) in components.iter().enumerate() {
            let Some(c) = component.as_object() else {
                continue;
            };
            let same_code = codings(c.get("code")).any(|pair| own.contains(&pair));
            if same_code && !choice_keys(c, "value").is_empty() {
                self.error(
                    "invariant",
                    &format!(".component[{i}]"),
                    "obs-7: a component with the Observation's own code SHALL NOT have a value",
                );
            }
        }
    }

    /// VAL-6: the five TIR slices once each, each with a `%` valueQuantity; extra components are allowed (open
    /// slicing). The sum only warns beyond 100 ± 0.5 (NOTES C3).
    fn times_in_ranges(&mut self, obj: &Map<String, Value>) {
        let components: &[Value] = obj
            .get("component")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        for (i, component) in components.iter().enumerate() {
            if component.get("code").is_none() {
                self.error(
                    "required",
                    &format!(".component[{i}].code"),
                    "component.code is required (R4 1..1)",
                );
            }
            if let Some(message) = super::profile::obsolete_code_message(component.get("code")) {
                self.error("code-invalid", &format!(".component[{i}].code"), message);
            }
        }
        let mut sum = Some(0.0_f64);
        for (slice, code) in TIR_COMPONENTS {
            let found: Vec<usize> = components
                .iter()
                .enumerate()
                .filter(|(_, c)| has_coding(c.get("code"), LOINC, code))
                .map(|(i, _)| i)
                .collect();
            match found.as_slice() {
                [] => {
                    self.error(
                        "required",
                        ".component",
                        format!("component {slice} (LOINC {code}) is required (VAL-6)"),
                    );
                    sum = None;
                }
                [i] => {
                    let at = format!(".component[{i}].valueQuantity");
                    let component = &components[*i];
                    for key in choice_keys_of(component, "value")
                        .iter()
                        .filter(|k| **k != "valueQuantity")
                    {
                        self.error(
                            "structure",
                            &format!(".component[{i}].{key}"),
                            "value[x] must be a valueQuantity",
                        );
                    }
                    match component.get("valueQuantity") {
                        Some(q) => {
                            self.quantity(q, &at, UNIT_PERCENT);
                            let value = q.get("value").and_then(Value::as_f64);
                            sum = sum.zip(value).map(|(s, v)| s + v);
                        }
                        None => {
                            self.error(
                                "required",
                                &at,
                                format!("component {slice} needs a % valueQuantity (VAL-6)"),
                            );
                            sum = None;
                        }
                    }
                }
                several => {
                    self.error(
                        "structure",
                        ".component",
                        format!(
                            "component {slice} (LOINC {code}) must appear once, found {} times (VAL-6)",
                            several.len()
                        ),
                    );
                    sum = None;
                }
            }
        }
        if let Some(sum) = sum {
            // The tolerance absorbs per-component rounding (NOTES C3); 1e-9 absorbs f64 summation error.
            if (sum - 100.0).abs() > 0.5 + 1e-9 {
                self.warning(
                    "business-rule",
                    ".component",
                    format!("the five time-in-range percentages add up to {sum}, not 100 ± 0.5"),
                );
            }
        }
    }

    /// VAL-8: code, subject, effectivePeriod, ≥ 1 inline PDF.
    fn summary_pdf(&mut self, obj: &Map<String, Value>) {
        self.status(obj, &DIAGNOSTIC_REPORT_STATUS, true);
        self.code(CgmProfile::SummaryPdf, obj);
        self.reference_element(obj, "subject", true);
        for key in choice_keys(obj, "effective")
            .iter()
            .filter(|k| **k != "effectivePeriod")
        {
            self.error(
                "structure",
                &format!(".{key}"),
                "effective[x] must be an effectivePeriod in this profile",
            );
        }
        self.period(obj.get("effectivePeriod"), ".effectivePeriod");
        let forms: &[Value] = obj
            .get("presentedForm")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let mut pdfs = 0;
        for (i, form) in forms.iter().enumerate() {
            let at = format!(".presentedForm[{i}]");
            let content_type = form.get("contentType").and_then(Value::as_str);
            let data = form.get("data");
            if data.is_some() && content_type.is_none() {
                self.error(
                    "invariant",
                    &at,
                    "att-1: an attachment with data SHALL have a contentType",
                );
            }
            if let Some(data) = data {
                match data.as_str() {
                    Some(s) if is_base64(s) => {}
                    _ => self.error("value", &format!("{at}.data"), "data is not valid base64"),
                }
            }
            if content_type == Some("application/pdf") {
                pdfs += 1;
                if data.is_none() {
                    self.error(
                        "required",
                        &format!("{at}.data"),
                        "the PDF must be inline: presentedForm.data is required (VAL-8)",
                    );
                }
            }
        }
        if pdfs == 0 {
            self.error(
                "required",
                ".presentedForm",
                "at least one presentedForm with contentType application/pdf and data is required (VAL-8)",
            );
        }
    }

    /// VAL-9: ≥ 1 identifier; exactly one user-friendly-name deviceName with a name.
    fn device(&mut self, obj: &Map<String, Value>) {
        self.status(obj, &DEVICE_STATUS, false);
        if obj
            .get("identifier")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            self.error(
                "required",
                ".identifier",
                "a CGM Device needs at least one identifier (VAL-9)",
            );
        }
        self.reference_element(obj, "patient", false);
        let names: &[Value] = obj
            .get("deviceName")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let mut friendly = 0;
        for (i, name) in names.iter().enumerate() {
            let at = format!(".deviceName[{i}]");
            match name.get("name") {
                Some(Value::String(s)) if !s.trim().is_empty() => {}
                _ => self.error(
                    "required",
                    &format!("{at}.name"),
                    "deviceName.name is required",
                ),
            }
            match name.get("type").and_then(Value::as_str) {
                Some(USER_FRIENDLY_NAME) => friendly += 1,
                Some(_) => {}
                None => self.error(
                    "required",
                    &format!("{at}.type"),
                    format!("deviceName.type is required (a code from {DEVICE_NAMETYPE})"),
                ),
            }
        }
        if friendly != 1 {
            self.error(
                if friendly == 0 { "required" } else { "structure" },
                ".deviceName",
                format!("exactly one deviceName with type {USER_FRIENDLY_NAME} is required, found {friendly} (VAL-9)"),
            );
        }
    }

    /// VAL-10 / ORD-1…4.
    fn order(&mut self, profile: CgmProfile, obj: &Map<String, Value>) {
        self.status(obj, &SERVICE_REQUEST_STATUS, true);
        match obj.get("intent").and_then(Value::as_str) {
            Some("order") => {}
            Some(other) => self.error(
                "value",
                ".intent",
                format!("intent must be 'order', not '{other}' (VAL-10)"),
            ),
            None => self.error(
                "required",
                ".intent",
                "intent is required and must be 'order' (VAL-10)",
            ),
        }
        self.code(profile, obj);
        self.reference_element(obj, "subject", true);
        let extensions: &[Value] = obj
            .get("extension")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let url_of = |e: &Value| e.get("url").and_then(Value::as_str).map(str::to_owned);
        if profile == CgmProfile::StandingOrder {
            for (i, ext) in extensions.iter().enumerate() {
                if url_of(ext).as_deref() == Some(EXT_SUBMISSION_SCHEDULE) {
                    self.schedule(ext, &format!(".extension[{i}]"));
                }
            }
        } else {
            let specs: Vec<usize> = (0..extensions.len())
                .filter(|i| url_of(&extensions[*i]).as_deref() == Some(EXT_ONE_TIME_SPEC))
                .collect();
            match specs.as_slice() {
                [i] => self.one_time_spec(&extensions[*i], &format!(".extension[{i}]")),
                [] => self.error(
                    "required",
                    ".extension",
                    format!("a one-time order needs exactly one {EXT_ONE_TIME_SPEC} extension (ORD-4)"),
                ),
                several => self.error(
                    "structure",
                    ".extension",
                    format!("a one-time order needs exactly one one-time-spec extension, found {} (ORD-4)", several.len()),
                ),
            }
        }
    }

    /// The sub-extensions of a complex extension, grouped by url, after checking `ext-1` on it.
    fn sub_extensions<'a>(&mut self, ext: &'a Value, at: &str) -> Vec<(usize, &'a str, &'a Value)> {
        let subs: &[Value] = ext
            .get("extension")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        if !choice_keys_of(ext, "value").is_empty() {
            self.error(
                "invariant",
                at,
                "ext-1 / value[x] 0..0: this complex extension takes sub-extensions, not a value",
            );
        }
        subs.iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.get("url")?.as_str()?, s)))
            .collect()
    }

    /// A simple sub-extension's single value, checking `ext-1` (a value and no nested extensions).
    fn simple_value<'a>(&mut self, sub: &'a Value, key: &str, at: &str) -> Option<&'a Value> {
        if sub
            .get("extension")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            self.error(
                "invariant",
                at,
                "ext-1: this sub-extension takes a value, not nested extensions",
            );
        }
        let value = sub.get(key);
        if value.is_none() {
            self.error(
                "required",
                &format!("{at}.{key}"),
                format!("{key} is required"),
            );
        }
        value
    }

    /// ORD-2: `submissionPeriod` 1..1, `lookbackPeriod` 0..1 (units-of-time Quantities), `submissionDataProfile` 1..*.
    fn schedule(&mut self, ext: &Value, at: &str) {
        let subs = self.sub_extensions(ext, at);
        let mut periods = 0;
        let mut lookbacks = 0;
        let mut profiles = 0;
        for (i, url, sub) in subs {
            let sub_at = format!("{at}.extension[{i}]");
            match url {
                "submissionPeriod" | "lookbackPeriod" => {
                    if url == "submissionPeriod" {
                        periods += 1;
                    } else {
                        lookbacks += 1;
                    }
                    if let Some(q) = self.simple_value(sub, "valueQuantity", &sub_at) {
                        self.time_quantity(q, &format!("{sub_at}.valueQuantity"));
                    }
                }
                "submissionDataProfile" => {
                    profiles += 1;
                    self.canonical_value(sub, &sub_at);
                }
                _ => {}
            }
        }
        if periods != 1 {
            self.error(
                "required",
                at,
                format!("a data-submission-schedule needs exactly one submissionPeriod, found {periods} (ORD-2)"),
            );
        }
        if lookbacks > 1 {
            self.error(
                "structure",
                at,
                format!("at most one lookbackPeriod is allowed, found {lookbacks} (ORD-2)"),
            );
        }
        if profiles == 0 {
            self.error(
                "required",
                at,
                "a data-submission-schedule needs at least one submissionDataProfile (ORD-2)",
            );
        }
    }

    /// ORD-4: `timePeriod` 1..1 with start and end, `submissionDataProfile` 1..*.
    fn one_time_spec(&mut self, ext: &Value, at: &str) {
        let subs = self.sub_extensions(ext, at);
        let mut periods = 0;
        let mut profiles = 0;
        for (i, url, sub) in subs {
            let sub_at = format!("{at}.extension[{i}]");
            match url {
                "timePeriod" => {
                    periods += 1;
                    if let Some(p) = self.simple_value(sub, "valuePeriod", &sub_at) {
                        self.period(Some(p), &format!("{sub_at}.valuePeriod"));
                    }
                }
                "submissionDataProfile" => {
                    profiles += 1;
                    self.canonical_value(sub, &sub_at);
                }
                _ => {}
            }
        }
        if periods != 1 {
            self.error(
                "required",
                at,
                format!("a data-submission-one-time-spec needs exactly one timePeriod, found {periods} (ORD-4)"),
            );
        }
        if profiles == 0 {
            self.error(
                "required",
                at,
                "a data-submission-one-time-spec needs at least one submissionDataProfile (ORD-4)",
            );
        }
    }

    fn canonical_value(&mut self, sub: &Value, at: &str) {
        if let Some(value) = self.simple_value(sub, "valueCanonical", at) {
            if !value
                .as_str()
                .is_some_and(|s| !s.trim().is_empty() && !s.contains(char::is_whitespace))
            {
                self.error(
                    "value",
                    &format!("{at}.valueCanonical"),
                    "valueCanonical must be a canonical URL",
                );
            }
        }
    }

    /// A units-of-time Quantity with a positive value (ORD-2); its `unit` string is free.
    fn time_quantity(&mut self, q: &Value, at: &str) {
        match q.get("value") {
            Some(v) if v.as_f64().is_some_and(|x| x > 0.0) => {}
            Some(v) if v.is_number() => self.error(
                "value",
                &format!("{at}.value"),
                "the period must be positive",
            ),
            Some(_) => self.error(
                "structure",
                &format!("{at}.value"),
                "value must be a JSON number",
            ),
            None => self.error(
                "required",
                &format!("{at}.value"),
                "the period needs a value",
            ),
        }
        if q.get("system").and_then(Value::as_str) != Some(UCUM) {
            self.error(
                "value",
                &format!("{at}.system"),
                format!("system must be '{UCUM}' (units-of-time)"),
            );
        }
        match q.get("code").and_then(Value::as_str) {
            Some(c) if UNITS_OF_TIME.contains(&c) => {}
            other => self.error(
                "code-invalid",
                &format!("{at}.code"),
                format!(
                    "code {} is not in the required units-of-time value set ({})",
                    other.map_or("(missing)".to_string(), |c| format!("'{c}'")),
                    UNITS_OF_TIME.join("|")
                ),
            ),
        }
    }
}

/// The keys of a choice element `prefix[x]` present in `obj` (`valueQuantity`, `effectivePeriod`, …).
fn choice_keys<'a>(obj: &'a Map<String, Value>, prefix: &str) -> Vec<&'a str> {
    obj.keys()
        .map(String::as_str)
        .filter(|k| {
            k.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        })
        .collect()
}

fn choice_keys_of<'a>(value: &'a Value, prefix: &str) -> Vec<&'a str> {
    value
        .as_object()
        .map_or_else(Vec::new, |o| choice_keys(o, prefix))
}

/// A FHIR `dateTime`: a partial date, or a full date-time with a zone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FhirDateTime {
    /// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, kept as written (same-precision strings compare correctly).
    Partial(String),
    Full(DateTime<chrono::FixedOffset>),
}

impl FhirDateTime {
    pub(crate) fn parse(s: &str) -> Option<FhirDateTime> {
        let bytes = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            bytes
                .get(r)
                .is_some_and(|b| b.iter().all(u8::is_ascii_digit))
        };
        match s.len() {
            4 if digits(0..4) => Some(FhirDateTime::Partial(s.to_string())),
            7 if digits(0..4)
                && bytes[4] == b'-'
                && digits(5..7)
                && (b"01".as_slice()..=b"12".as_slice()).contains(&&bytes[5..7]) =>
            {
                Some(FhirDateTime::Partial(s.to_string()))
            }
            10 => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .filter(|_| digits(0..4) && digits(5..7) && digits(8..10))
                .map(|_| FhirDateTime::Partial(s.to_string())),
            // Full date-times need seconds and a zone in FHIR; RFC 3339 requires exactly that.
            _ if s.len() > 10 && bytes.get(10) == Some(&b'T') => DateTime::parse_from_rfc3339(s)
                .ok()
                .filter(|_| digits(0..4))
                .map(FhirDateTime::Full),
            _ => None,
        }
    }

    /// `Some(start <= end)` when the two are comparable (both full, or partial of the same precision).
    fn not_after(&self, end: &FhirDateTime) -> Option<bool> {
        match (self, end) {
            (FhirDateTime::Full(a), FhirDateTime::Full(b)) => Some(a <= b),
            (FhirDateTime::Partial(a), FhirDateTime::Partial(b)) if a.len() == b.len() => {
                Some(a <= b)
            }
            _ => None,
        }
    }
}

/// Whether `s` is valid standard base64 (RFC 4648 alphabet, `=` padding only at the end, length a multiple of 4).
/// Whitespace is tolerated because FHIR base64Binary may be line-wrapped.
pub fn is_base64(s: &str) -> bool {
    let mut len = 0usize;
    let mut padding = 0usize;
    for b in s.bytes().filter(|b| !b.is_ascii_whitespace()) {
        match b {
            b'=' => padding += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if padding == 0 => {}
            _ => return false,
        }
        len += 1;
    }
    len > 0 && len.is_multiple_of(4) && padding <= 2
}
