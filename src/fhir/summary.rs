//! The summary part of a submission (DIGEST §4.2–4.9, §4.12; NOTES C1–C4, C8, D5): the member Observations
//! (both mean glucose units, times in ranges, GMI, CV, days of wear, sensor active %), the `cgm-summary` panel
//! over them (VAL-7) and the `cgm-summary-pdf` DiagnosticReport (VAL-8), from the metrics of one window.
//!
//! Values are FHIR decimals written as text with the precision we promise (NOTES C3): mean glucose mg/dL whole
//! and mmol/L one decimal, TIR two decimals summing to exactly 100.00, GMI, CV and sensor active % one decimal,
//! days of wear whole days. Unit strings are the IG's patterns (NOTES C1). Periods are whole local dates when the
//! window is whole local days of the patient's zone (NOTES C4), otherwise full date-times with the local offset.
//!
//! Identifiers (NOTES C8): `{patient}.{LOINC}.{start}.{end}.{hash}` where the hash is a short SHA-256 of the
//! resource's content (for the report: of the PDF bytes). Nothing time-of-sending goes into the content, so an
//! unchanged summary re-sent deduplicates through `ifNoneExist`, and changed data is a new resource.

use super::codes::*;
use super::ids::{entry_urn, short_hash, REPORT_IDENTIFIER_SYSTEM, SUMMARY_IDENTIFIER_SYSTEM};
use super::profile::CgmProfile;
use crate::localtime::{local_date, local_midnight};
use crate::metrics::Metrics;
use crate::units::MGDL_PER_MMOLL;
use crate::window::Window;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Number, Value};

/// The members of a summary panel in the order of the IG example's `hasMember` (DIGEST §13), the molar mean
/// (not in the example) right after the mass mean.
pub const PANEL_MEMBERS: [CgmProfile; 7] = [
    CgmProfile::MeanGlucoseMass,
    CgmProfile::MeanGlucoseMolar,
    CgmProfile::TimesInRanges,
    CgmProfile::Gmi,
    CgmProfile::CoefficientOfVariation,
    CgmProfile::DaysOfWear,
    CgmProfile::SensorActivePercentage,
];

/// A built resource with its identifier value and its entry's fullUrl.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub profile: CgmProfile,
    pub urn: String,
    pub identifier: String,
    pub resource: Value,
}

/// What every summary resource of one submission shares: the patient and the period.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryContext<'a> {
    /// `Patient/{id}` (SUB-6).
    pub subject: &'a str,
    pub period_start: String,
    pub period_end: String,
}

impl<'a> SummaryContext<'a> {
    pub fn new(subject: &'a str, window: &Window, tz: Tz) -> SummaryContext<'a> {
        let (period_start, period_end) = effective_period(window, tz);
        SummaryContext {
            subject,
            period_start,
            period_end,
        }
    }

    fn period(&self) -> Value {
        json!({"start": self.period_start, "end": self.period_end})
    }

    /// `{patient}.{code}.{start}.{end}.{hash}`: readable, and unique per (patient, metric, period, content).
    fn identifier(&self, code: &str, hash: &str) -> String {
        let patient = self
            .subject
            .strip_prefix("Patient/")
            .unwrap_or(self.subject);
        format!(
            "{patient}.{code}.{}.{}.{hash}",
            self.period_start, self.period_end
        )
    }
}

/// The `effectivePeriod` bounds of `window`: `YYYY-MM-DD` with an inclusive end when both ends are local
/// midnights in `tz` (NOTES C4; a DST day is still one date), otherwise date-times with the local offset, which
/// say exactly what was summarised rather than rounding it to days.
pub fn effective_period(window: &Window, tz: Tz) -> (String, String) {
    let first = local_date(window.start, tz);
    let after_last = local_date(window.end, tz);
    let whole_days =
        local_midnight(first, tz) == window.start && local_midnight(after_last, tz) == window.end;
    match after_last.pred_opt() {
        Some(last) if whole_days && last >= first => (first.to_string(), last.to_string()),
        _ => (
            local_date_time(window.start, tz),
            local_date_time(window.end, tz),
        ),
    }
}

fn local_date_time(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `value` as a FHIR decimal with exactly `decimals` places, kept as written (NOTES C3); `None` if not finite.
pub fn decimal(value: f64, decimals: usize) -> Option<Value> {
    if !value.is_finite() {
        return None;
    }
    let text = format!("{value:.decimals$}");
    // "-0.0" is not a value we ever mean.
    let text = if text.starts_with('-') && text.bytes().all(|b| matches!(b, b'-' | b'0' | b'.')) {
        text[1..].to_string()
    } else {
        text
    };
    text.parse::<Number>().ok().map(Value::Number)
}

fn quantity(value: Value, (code, unit): (&str, &str)) -> Value {
    json!({"value": value, "unit": unit, "system": UCUM, "code": code})
}

fn observation_category() -> Value {
    json!([{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}])
}

fn loinc(code: &str) -> Value {
    json!({"coding": [{"system": LOINC, "code": code}]})
}

/// Assembles `resourceType`, `meta.profile` (NOTES B2), the identifier and then `content`, in that order; the
/// identifier's hash is over `hashed`.
fn finish(
    ctx: &SummaryContext,
    profile: CgmProfile,
    system: &str,
    content: Map<String, Value>,
    hashed: &[u8],
) -> Built {
    let code = profile.code().map_or("", |(_, c)| c);
    let identifier = ctx.identifier(code, &short_hash(hashed));
    let mut resource = Map::with_capacity(content.len() + 3);
    resource.insert("resourceType".into(), profile.resource_type().into());
    resource.insert("meta".into(), json!({"profile": [profile.canonical()]}));
    resource.insert(
        "identifier".into(),
        json!([{"system": system, "value": identifier}]),
    );
    resource.extend(content);
    Built {
        profile,
        urn: entry_urn(profile.resource_type(), system, &identifier),
        identifier,
        resource: Value::Object(resource),
    }
}

/// The common head of every summary Observation: status, category (NOTES B6), code, subject, period.
fn observation_content(ctx: &SummaryContext, code: &str) -> Map<String, Value> {
    let mut m = Map::with_capacity(7);
    m.insert("status".into(), "final".into());
    m.insert("category".into(), observation_category());
    m.insert("code".into(), loinc(code));
    m.insert("subject".into(), json!({"reference": ctx.subject}));
    m.insert("effectivePeriod".into(), ctx.period());
    m
}

/// The member Observation of `profile` from `metrics`, or `None` when the window gave no value for it (no
/// readings; CV of a single reading) or `profile` is not a panel member.
pub fn member(ctx: &SummaryContext, profile: CgmProfile, metrics: &Metrics) -> Option<Built> {
    if metrics.readings == 0 {
        return None;
    }
    let (_, code) = profile.code()?;
    let mut content = observation_content(ctx, code);
    match profile {
        CgmProfile::MeanGlucoseMass => {
            let v = decimal(metrics.mean_mg_dl?.round(), 0)?;
            content.insert("valueQuantity".into(), quantity(v, UNIT_MG_DL));
        }
        CgmProfile::MeanGlucoseMolar => {
            let v = decimal(metrics.mean_mg_dl? / MGDL_PER_MMOLL, 1)?;
            content.insert("valueQuantity".into(), quantity(v, UNIT_MMOL_L));
        }
        CgmProfile::TimesInRanges => {
            // Two decimals that add up to exactly 100.00 (NOTES C3, METRICS.md).
            let ranges = metrics.ranges?.rounded_to_sum_100(2);
            let mut components = Vec::with_capacity(5);
            for ((_, component_code), value) in TIR_COMPONENTS.iter().zip(ranges.as_array()) {
                components.push(json!({
                    "code": loinc(component_code),
                    "valueQuantity": quantity(decimal(value, 2)?, UNIT_PERCENT),
                }));
            }
            content.insert("component".into(), Value::Array(components));
        }
        CgmProfile::Gmi => {
            let v = decimal(metrics.gmi_percent?, 1)?;
            content.insert("valueQuantity".into(), quantity(v, UNIT_PERCENT));
        }
        CgmProfile::CoefficientOfVariation => {
            let v = decimal(metrics.cv_percent?, 1)?;
            content.insert("valueQuantity".into(), quantity(v, UNIT_PERCENT));
        }
        CgmProfile::DaysOfWear => {
            let v = Value::Number(metrics.days_of_wear.into());
            content.insert("valueQuantity".into(), quantity(v, UNIT_DAYS));
        }
        CgmProfile::SensorActivePercentage => {
            let v = decimal(metrics.active_percent, 1)?;
            content.insert("valueQuantity".into(), quantity(v, UNIT_PERCENT));
        }
        _ => return None,
    }
    let hashed = serde_json::to_vec(&content).ok()?;
    Some(finish(
        ctx,
        profile,
        SUMMARY_IDENTIFIER_SYSTEM,
        content,
        &hashed,
    ))
}

/// Whether `members` can make a panel that satisfies VAL-7: each of TIR, GMI, CV, days of wear and sensor
/// active % once, and at least one mean (the panel needs ≥ 6 members).
pub fn panel_complete(members: &[Built]) -> bool {
    let has = |p: CgmProfile| members.iter().filter(|m| m.profile == p).count() == 1;
    PANEL_MEMBERS[2..].iter().all(|p| has(*p))
        && (has(CgmProfile::MeanGlucoseMass) || has(CgmProfile::MeanGlucoseMolar))
}

/// The `cgm-summary` panel over `members` (in [`PANEL_MEMBERS`] order). Its hash covers the members' fullUrls,
/// which derive from their content hashes, so a changed member makes a new panel.
pub fn panel(ctx: &SummaryContext, members: &[Built]) -> Built {
    let mut content = observation_content(ctx, LOINC_SUMMARY_PANEL);
    let has_member: Vec<Value> = PANEL_MEMBERS
        .iter()
        .filter_map(|p| members.iter().find(|m| m.profile == *p))
        .map(|m| json!({"reference": m.urn}))
        .collect();
    content.insert("hasMember".into(), Value::Array(has_member));
    let hashed = serde_json::to_vec(&content).unwrap_or_default();
    finish(
        ctx,
        CgmProfile::SummaryPanel,
        SUMMARY_IDENTIFIER_SYSTEM,
        content,
        &hashed,
    )
}

/// The `cgm-summary-pdf` DiagnosticReport (VAL-8): the PDF inline as base64, category LAB (NOTES B6), `issued`
/// at `issued`, and `result` → the panel when one is sent (D5). The identifier hashes the PDF bytes only, so
/// re-sending the same PDF later (another `issued`) still deduplicates.
pub fn pdf_report(
    ctx: &SummaryContext,
    pdf: &[u8],
    issued: DateTime<Utc>,
    panel_urn: Option<&str>,
) -> Built {
    let mut content = Map::with_capacity(9);
    content.insert("status".into(), "final".into());
    content.insert(
        "category".into(),
        json!([{"coding": [{"system": V2_0074, "code": "LAB"}]}]),
    );
    content.insert("code".into(), loinc(LOINC_SUMMARY_PANEL));
    content.insert("subject".into(), json!({"reference": ctx.subject}));
    content.insert("effectivePeriod".into(), ctx.period());
    content.insert(
        "issued".into(),
        issued.to_rfc3339_opts(SecondsFormat::Secs, true).into(),
    );
    if let Some(urn) = panel_urn {
        content.insert("result".into(), json!([{"reference": urn}]));
    }
    content.insert(
        "presentedForm".into(),
        json!([{
            "contentType": "application/pdf",
            "data": base64::engine::general_purpose::STANDARD.encode(pdf),
            "title": "CGM summary report",
        }]),
    );
    finish(
        ctx,
        CgmProfile::SummaryPdf,
        REPORT_IDENTIFIER_SYSTEM,
        content,
        pdf,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn berlin() -> Tz {
        "Europe/Berlin".parse().unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn whole_local_days_across_the_march_dst_change_are_dates_with_an_inclusive_end_c4() {
        let w = Window::local_days(day(2024, 3, 25), day(2024, 4, 7), berlin()).unwrap();
        assert_eq!(
            effective_period(&w, berlin()),
            ("2024-03-25".to_string(), "2024-04-07".to_string())
        );
        // The same instants read in another zone are not midnights there.
        let (start, end) = effective_period(&w, Tz::UTC);
        assert_eq!(start, "2024-03-24T23:00:00Z");
        assert_eq!(end, "2024-04-07T22:00:00Z");
    }

    #[test]
    fn a_window_that_is_not_whole_local_days_keeps_its_instants_with_the_local_offset_c4() {
        let w = Window::new(
            Utc.with_ymd_and_hms(2024, 3, 30, 10, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2024, 4, 2, 10, 0, 0).unwrap(),
        )
        .unwrap();
        assert_eq!(
            effective_period(&w, berlin()),
            (
                "2024-03-30T11:00:00+01:00".to_string(),
                "2024-04-02T12:00:00+02:00".to_string()
            )
        );
    }

    #[test]
    fn decimals_keep_their_trailing_zeros_c3() {
        assert_eq!(decimal(65.0, 2).unwrap().to_string(), "65.00");
        assert_eq!(decimal(6.849, 1).unwrap().to_string(), "6.8");
        assert_eq!(decimal(-0.001, 1).unwrap().to_string(), "0.0");
        assert_eq!(decimal(f64::NAN, 1), None);
    }
}
