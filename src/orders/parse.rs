//! Reading CGM order ServiceRequests into [`Order`]s (ORD-1…4, VAL-10, D1, D5): one resource, or the
//! searchset Bundle of an order search (D7), keeping the good orders and reporting the bad ones with the
//! FHIRPath of what is wrong. The rules agree with [`crate::fhir::validate`] on VAL-10 (a test checks that
//! every order rejected here also fails the validator), except that a Quantity without `system` is read
//! because its units-of-time code is unambiguous.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde_json::Value;

use super::period::{Bound, OrderPeriod, TimePeriod, TimeUnit};
use super::{OneTimeOrder, Order, OrderStatus, Schedule, StandingOrder};
use crate::fhir::codes::{
    CGM_CODESYSTEM, EXT_ONE_TIME_SPEC, EXT_SUBMISSION_SCHEDULE, ONE_TIME_ORDER_CODE,
    STANDING_ORDER_CODE, UCUM,
};
use crate::fhir::CgmProfile;

/// Why a resource is not a usable CGM order, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct OrderError {
    /// FHIRPath of the offending element, e.g. `ServiceRequest.extension[0].extension[1].valueQuantity.code`.
    pub at: String,
    /// The ServiceRequest's `id`, when it has one.
    pub id: Option<String>,
    pub kind: OrderErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderErrorKind {
    #[error("a resource must be a JSON object")]
    NotAnObject,
    #[error("expected a ServiceRequest, found {found}")]
    NotAServiceRequest { found: String },
    #[error("a searchset Bundle was expected, found {found}")]
    NotASearchBundle { found: String },
    #[error("the ServiceRequest has no id, so it cannot be tracked (D6)")]
    MissingId,
    #[error("code has no coding {CGM_CODESYSTEM}#{STANDING_ORDER_CODE} or #{ONE_TIME_ORDER_CODE}: not a CGM order (ORD-1, ORD-4)")]
    NotACgmOrder,
    #[error("code carries both CGM order codes; an order must be one kind")]
    BothOrderCodes,
    #[error("intent must be 'order', found {found} (VAL-10)")]
    WrongIntent { found: String },
    #[error("status is required (R4 1..1)")]
    MissingStatus,
    #[error("status '{found}' is not a ServiceRequest status (draft|active|on-hold|revoked|completed|entered-in-error|unknown)")]
    UnknownStatus { found: String },
    #[error("subject is required and must be a Reference with a reference string, e.g. Patient/123 (ORD-1, ORD-4)")]
    MissingSubject,
    #[error(
        "a data-submission-schedule needs exactly one submissionPeriod, found {found} (ORD-2)"
    )]
    SubmissionPeriodCount { found: usize },
    #[error("a data-submission-schedule allows at most one lookbackPeriod, found {found} (ORD-2)")]
    SeveralLookbackPeriods { found: usize },
    #[error("at least one submissionDataProfile is required (ORD-2, ORD-4)")]
    NoDataProfile,
    #[error("{element} is required here")]
    MissingValue { element: &'static str },
    #[error("the period value must be a JSON number")]
    NotANumber,
    #[error("the period must be positive, found {found}")]
    NonPositivePeriod { found: String },
    #[error("{found} {unit} is not a whole number of any units-of-time unit")]
    FractionalPeriod { found: String, unit: &'static str },
    #[error("the period {found} is too long to schedule")]
    PeriodTooLong { found: String },
    #[error("unit code {found} is not in the required units-of-time value set (s|min|h|d|wk|mo|a, UCUM){hint} (ORD-2)")]
    UnknownTimeUnit { found: String, hint: &'static str },
    #[error("the unit system must be {UCUM}, found {found} (ORD-2)")]
    WrongUnitSystem { found: String },
    #[error("a one-time order needs a {EXT_ONE_TIME_SPEC} extension (ORD-4)")]
    MissingOneTimeSpec,
    #[error("a one-time order needs exactly one one-time-spec extension, found {found} (ORD-4)")]
    SeveralOneTimeSpecs { found: usize },
    #[error("a data-submission-one-time-spec needs exactly one timePeriod, found {found} (ORD-4)")]
    TimePeriodCount { found: usize },
    #[error("timePeriod.{bound} is required (ORD-4)")]
    MissingPeriodBound { bound: &'static str },
    #[error("{found} is not a FHIR date or dateTime")]
    BadDateTime { found: String },
    #[error("the period ends before it starts (per-1)")]
    PeriodEndsBeforeStart,
}

/// Reads one CGM standing or one-time order ServiceRequest (ORD-1…4, VAL-10).
pub fn parse_order(resource: &Value) -> Result<Order, OrderError> {
    parse_at(resource, "ServiceRequest")
}

/// Reads the searchset Bundle of an order search (D7): every CGM order in it, and an error for every entry
/// that is not one. `include` and `outcome` entries (and OperationOutcomes) are skipped. Status is not
/// filtered here; [`super::effective_schedules`] acts on `active` orders only (D4).
pub fn parse_search_bundle(bundle: &Value) -> (Vec<Order>, Vec<OrderError>) {
    let mut orders = Vec::new();
    let mut errors = Vec::new();
    match bundle.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => {}
        other => {
            errors.push(OrderError {
                at: "Bundle".into(),
                id: None,
                kind: OrderErrorKind::NotASearchBundle {
                    found: other.unwrap_or("(no resourceType)").to_string(),
                },
            });
            return (orders, errors);
        }
    }
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, entry) in entries.iter().enumerate() {
        let mode = entry
            .get("search")
            .and_then(|s| s.get("mode"))
            .and_then(Value::as_str);
        if matches!(mode, Some("include" | "outcome")) {
            continue;
        }
        let at = format!("Bundle.entry[{i}].resource");
        let Some(resource) = entry.get("resource") else {
            errors.push(err(&at, None, OrderErrorKind::NotAnObject));
            continue;
        };
        if resource.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome") {
            continue;
        }
        match parse_at(resource, &at) {
            Ok(order) => orders.push(order),
            Err(e) => errors.push(e),
        }
    }
    (orders, errors)
}

fn err(at: &str, id: Option<&str>, kind: OrderErrorKind) -> OrderError {
    OrderError {
        at: at.to_string(),
        id: id.map(str::to_string),
        kind,
    }
}

fn parse_at(resource: &Value, path: &str) -> Result<Order, OrderError> {
    let Some(obj) = resource.as_object() else {
        return Err(err(path, None, OrderErrorKind::NotAnObject));
    };
    match obj.get("resourceType").and_then(Value::as_str) {
        Some("ServiceRequest") => {}
        other => {
            return Err(err(
                &format!("{path}.resourceType"),
                None,
                OrderErrorKind::NotAServiceRequest {
                    found: other.unwrap_or("(no resourceType)").to_string(),
                },
            ))
        }
    }
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let fail = |suffix: &str, kind| Err(err(&format!("{path}{suffix}"), id, kind));

    let codings: Vec<(&str, &str)> = crate::fhir::profile::codings(obj.get("code")).collect();
    let standing = codings.contains(&(CGM_CODESYSTEM, STANDING_ORDER_CODE));
    let one_time = codings.contains(&(CGM_CODESYSTEM, ONE_TIME_ORDER_CODE));
    if standing && one_time {
        return fail(".code", OrderErrorKind::BothOrderCodes);
    }
    if !standing && !one_time {
        return fail(".code", OrderErrorKind::NotACgmOrder);
    }
    match obj.get("intent") {
        Some(Value::String(s)) if s == "order" => {}
        other => {
            return fail(
                ".intent",
                OrderErrorKind::WrongIntent {
                    found: other.map_or("nothing".to_string(), |v| v.to_string()),
                },
            )
        }
    }
    let status = match obj.get("status") {
        None => return fail(".status", OrderErrorKind::MissingStatus),
        Some(v) => match v.as_str().and_then(OrderStatus::from_code) {
            Some(s) => s,
            None => {
                return fail(
                    ".status",
                    OrderErrorKind::UnknownStatus {
                        found: v.to_string(),
                    },
                )
            }
        },
    };
    let subject = match obj
        .get("subject")
        .and_then(|s| s.get("reference"))
        .and_then(Value::as_str)
    {
        Some(r) if !r.trim().is_empty() => r.to_string(),
        _ => return fail(".subject", OrderErrorKind::MissingSubject),
    };
    let Some(id) = id else {
        return fail(".id", OrderErrorKind::MissingId);
    };
    let version = obj
        .get("meta")
        .and_then(|m| m.get("versionId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let extensions = obj
        .get("extension")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let with_id = |mut e: OrderError| {
        e.id = Some(id.to_string());
        e
    };

    if standing {
        let mut schedules = Vec::new();
        for (i, ext) in extensions.iter().enumerate() {
            if ext.get("url").and_then(Value::as_str) == Some(EXT_SUBMISSION_SCHEDULE) {
                schedules
                    .push(parse_schedule(ext, &format!("{path}.extension[{i}]")).map_err(with_id)?);
            }
        }
        // D1: occurrencePeriod.start, else authoredOn; occurrenceTiming is ignored (the extension wins).
        let not_before = match obj.get("occurrencePeriod").and_then(|p| p.get("start")) {
            Some(v) => Some(parse_bound(
                v,
                false,
                &format!("{path}.occurrencePeriod.start"),
            )),
            None => obj
                .get("authoredOn")
                .map(|v| parse_bound(v, false, &format!("{path}.authoredOn"))),
        }
        .transpose()
        .map_err(with_id)?;
        Ok(Order::Standing(StandingOrder {
            id: id.to_string(),
            version,
            status,
            subject,
            schedules,
            not_before,
        }))
    } else {
        let specs: Vec<usize> = (0..extensions.len())
            .filter(|i| {
                extensions[*i].get("url").and_then(Value::as_str) == Some(EXT_ONE_TIME_SPEC)
            })
            .collect();
        let i = match specs.as_slice() {
            [i] => *i,
            [] => return fail(".extension", OrderErrorKind::MissingOneTimeSpec),
            several => {
                return fail(
                    ".extension",
                    OrderErrorKind::SeveralOneTimeSpecs {
                        found: several.len(),
                    },
                )
            }
        };
        let (period, profiles, unknown_profiles) =
            parse_one_time_spec(&extensions[i], &format!("{path}.extension[{i}]"))
                .map_err(with_id)?;
        Ok(Order::OneTime(OneTimeOrder {
            id: id.to_string(),
            version,
            status,
            subject,
            period,
            profiles,
            unknown_profiles,
        }))
    }
}

/// The `(index, url, sub-extension)` triples of a complex extension.
fn sub_extensions(ext: &Value) -> impl Iterator<Item = (usize, &str, &Value)> {
    ext.get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, s)| Some((i, s.get("url")?.as_str()?, s)))
}

/// Collects a `submissionDataProfile` canonical into known (deduplicated) or unknown profiles (D5).
fn data_profile(
    sub: &Value,
    at: &str,
    known: &mut Vec<CgmProfile>,
    unknown: &mut Vec<String>,
) -> Result<(), OrderError> {
    let Some(url) = sub.get("valueCanonical").and_then(Value::as_str) else {
        return Err(err(
            &format!("{at}.valueCanonical"),
            None,
            OrderErrorKind::MissingValue {
                element: "valueCanonical",
            },
        ));
    };
    match CgmProfile::from_canonical(url.trim()) {
        // An order profile asks for no data: not something we can send.
        Some(CgmProfile::StandingOrder | CgmProfile::OneTimeOrder) | None => {
            unknown.push(url.to_string())
        }
        Some(p) if !known.contains(&p) => known.push(p),
        Some(_) => {}
    }
    Ok(())
}

fn parse_schedule(ext: &Value, at: &str) -> Result<Schedule, OrderError> {
    let mut periods = Vec::new();
    let mut lookbacks = Vec::new();
    let mut profiles = Vec::new();
    let mut unknown_profiles = Vec::new();
    let mut seen_profiles = 0;
    for (i, url, sub) in sub_extensions(ext) {
        let sub_at = format!("{at}.extension[{i}]");
        match url {
            "submissionPeriod" => periods.push(parse_time_quantity(sub, &sub_at)?),
            "lookbackPeriod" => lookbacks.push(parse_time_quantity(sub, &sub_at)?),
            "submissionDataProfile" => {
                seen_profiles += 1;
                data_profile(sub, &sub_at, &mut profiles, &mut unknown_profiles)?;
            }
            _ => {}
        }
    }
    let submission_period = match periods.as_slice() {
        [p] => *p,
        _ => {
            return Err(err(
                at,
                None,
                OrderErrorKind::SubmissionPeriodCount {
                    found: periods.len(),
                },
            ))
        }
    };
    if lookbacks.len() > 1 {
        return Err(err(
            at,
            None,
            OrderErrorKind::SeveralLookbackPeriods {
                found: lookbacks.len(),
            },
        ));
    }
    if seen_profiles == 0 {
        return Err(err(at, None, OrderErrorKind::NoDataProfile));
    }
    Ok(Schedule {
        submission_period,
        lookback: lookbacks.first().copied(),
        profiles,
        unknown_profiles,
    })
}

/// A `valueQuantity` of units-of-time (ORD-2) as a [`TimePeriod`]. Fractions are converted exactly to a smaller
/// unit (1.5 `d` = 36 `h`, 1.5 `a` = 18 `mo`); 0.5 `mo` has no exact meaning and is refused.
fn parse_time_quantity(sub: &Value, at: &str) -> Result<TimePeriod, OrderError> {
    let q_at = format!("{at}.valueQuantity");
    let Some(q) = sub.get("valueQuantity").filter(|q| q.is_object()) else {
        return Err(err(
            &q_at,
            None,
            OrderErrorKind::MissingValue {
                element: "valueQuantity",
            },
        ));
    };
    if let Some(system) = q.get("system") {
        if system.as_str() != Some(UCUM) {
            return Err(err(
                &format!("{q_at}.system"),
                None,
                OrderErrorKind::WrongUnitSystem {
                    found: system.to_string(),
                },
            ));
        }
    }
    let unit = match q.get("code").and_then(Value::as_str) {
        Some(code) => TimeUnit::from_ucum(code).ok_or_else(|| {
            err(
                &format!("{q_at}.code"),
                None,
                OrderErrorKind::UnknownTimeUnit {
                    found: format!("'{code}'"),
                    hint: unit_hint(code),
                },
            )
        })?,
        None => {
            return Err(err(
                &format!("{q_at}.code"),
                None,
                OrderErrorKind::UnknownTimeUnit {
                    found: "(missing)".into(),
                    hint: "",
                },
            ))
        }
    };
    let value_at = format!("{q_at}.value");
    let Some(number) = q.get("value") else {
        return Err(err(
            &value_at,
            None,
            OrderErrorKind::MissingValue { element: "value" },
        ));
    };
    let (Some(value), true) = (number.as_f64(), number.is_number()) else {
        return Err(err(&value_at, None, OrderErrorKind::NotANumber));
    };
    let written = number.to_string();
    if value <= 0.0 {
        return Err(err(
            &value_at,
            None,
            OrderErrorKind::NonPositivePeriod { found: written },
        ));
    }
    whole_period(value, unit).map_err(|kind| err(&value_at, None, kind(written)))
}

type KindOf = fn(String) -> OrderErrorKind;

fn whole_period(value: f64, unit: TimeUnit) -> Result<TimePeriod, KindOf> {
    let whole = |x: f64| {
        let r = x.round();
        ((x - r).abs() < 1e-6).then_some(r)
    };
    let fits = |x: f64| -> Result<u32, KindOf> {
        if x > f64::from(u32::MAX) {
            Err(|found| OrderErrorKind::PeriodTooLong { found })
        } else {
            // x is a whole number in 1..=u32::MAX here.
            Ok(x as u32)
        }
    };
    if let Some(n) = whole(value) {
        return Ok(TimePeriod::new(fits(n)?, unit));
    }
    let (smaller, factor): (&[TimeUnit], f64) = match unit {
        TimeUnit::A => (&[TimeUnit::Mo], 12.0),
        TimeUnit::Mo => (&[], 1.0),
        fixed => (
            &[TimeUnit::D, TimeUnit::H, TimeUnit::Min, TimeUnit::S],
            fixed.fixed_seconds().unwrap_or(1) as f64,
        ),
    };
    for small in smaller {
        let per = small.fixed_seconds().map_or(1.0, |s| s as f64);
        let scaled = if unit == TimeUnit::A {
            value * factor
        } else {
            value * factor / per
        };
        if let Some(n) = whole(scaled) {
            return Ok(TimePeriod::new(fits(n)?, *small));
        }
    }
    match unit {
        TimeUnit::Mo => Err(|found| OrderErrorKind::FractionalPeriod { found, unit: "mo" }),
        TimeUnit::A => Err(|found| OrderErrorKind::FractionalPeriod { found, unit: "a" }),
        _ => Err(|found| OrderErrorKind::FractionalPeriod { found, unit: "s" }),
    }
}

fn unit_hint(code: &str) -> &'static str {
    match code.to_ascii_lowercase().as_str() {
        "month" | "months" | "mon" => "; for months use 'mo'",
        "week" | "weeks" | "w" => "; for weeks use 'wk'",
        "day" | "days" => "; for days use 'd'",
        "year" | "years" | "y" | "yr" => "; for years use 'a'",
        "hour" | "hours" | "hr" => "; for hours use 'h'",
        "minute" | "minutes" | "m" => "; for minutes use 'min'",
        "second" | "seconds" | "sec" => "; for seconds use 's'",
        _ => "",
    }
}

fn parse_one_time_spec(
    ext: &Value,
    at: &str,
) -> Result<(OrderPeriod, Vec<CgmProfile>, Vec<String>), OrderError> {
    let mut periods = Vec::new();
    let mut profiles = Vec::new();
    let mut unknown = Vec::new();
    let mut seen_profiles = 0;
    for (i, url, sub) in sub_extensions(ext) {
        let sub_at = format!("{at}.extension[{i}]");
        match url {
            "timePeriod" => periods.push((sub, sub_at)),
            "submissionDataProfile" => {
                seen_profiles += 1;
                data_profile(sub, &sub_at, &mut profiles, &mut unknown)?;
            }
            _ => {}
        }
    }
    let (sub, sub_at) = match periods.as_slice() {
        [one] => one,
        _ => {
            return Err(err(
                at,
                None,
                OrderErrorKind::TimePeriodCount {
                    found: periods.len(),
                },
            ))
        }
    };
    let p_at = format!("{sub_at}.valuePeriod");
    let Some(p) = sub.get("valuePeriod").filter(|p| p.is_object()) else {
        return Err(err(
            &p_at,
            None,
            OrderErrorKind::MissingValue {
                element: "valuePeriod",
            },
        ));
    };
    let bound = |name: &'static str, is_end: bool| match p.get(name) {
        Some(v) => parse_bound(v, is_end, &format!("{p_at}.{name}")),
        None => Err(err(
            &format!("{p_at}.{name}"),
            None,
            OrderErrorKind::MissingPeriodBound { bound: name },
        )),
    };
    let period = OrderPeriod::from_bounds(bound("start", false)?, bound("end", true)?);
    let backwards = match period {
        OrderPeriod::Dates { first, last } => last < first,
        OrderPeriod::Instants { start, end } => end < start,
        // Without the patient's zone a date and an instant compare only roughly; the window clamps.
        OrderPeriod::Mixed { .. } => false,
    };
    if backwards {
        return Err(err(&p_at, None, OrderErrorKind::PeriodEndsBeforeStart));
    }
    if seen_profiles == 0 {
        return Err(err(at, None, OrderErrorKind::NoDataProfile));
    }
    Ok((period, profiles, unknown))
}

/// A FHIR `date`/`dateTime` as a [`Bound`]: `YYYY` and `YYYY-MM` widen to their first day (a start) or last day
/// (an end, inclusive); date-times need a zone, as FHIR requires with a time.
fn parse_bound(v: &Value, is_end: bool, at: &str) -> Result<Bound, OrderError> {
    let bad = || {
        err(
            at,
            None,
            OrderErrorKind::BadDateTime {
                found: v.to_string(),
            },
        )
    };
    let s = v.as_str().ok_or_else(bad)?;
    if s.len() > 10 {
        return DateTime::parse_from_rfc3339(s)
            .map(|t| Bound::Instant(t.with_timezone(&Utc)))
            .map_err(|_| bad());
    }
    let ymd = |y: &str, m: &str, d: &str| -> Option<NaiveDate> {
        if !(y.len() == 4 && m.len() == 2 && d.len() == 2) {
            return None;
        }
        NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
    };
    let last_of_month = |y: i32, m: u32| -> Option<NaiveDate> {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        NaiveDate::from_ymd_opt(ny, nm, 1)?.pred_opt()
    };
    let parts: Vec<&str> = s.split('-').collect();
    let day = match parts.as_slice() {
        [y, m, d] => ymd(y, m, d),
        [y, m] => {
            let first = ymd(y, m, "01");
            if is_end {
                first.and_then(|f| last_of_month(f.year(), f.month()))
            } else {
                first
            }
        }
        [y] => ymd(y, "01", "01").map(|f| {
            if is_end {
                NaiveDate::from_ymd_opt(f.year(), 12, 31).unwrap_or(f)
            } else {
                f
            }
        }),
        _ => None,
    };
    day.map(Bound::Date).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fhir::validate;
    use serde_json::json;

    const STANDING: &str = include_str!(
        "../../tests/fixtures/ig/ServiceRequest-cgmDataSubmissionStandingOrderExample.json"
    );
    const ONE_TIME_2024: &str = include_str!(
        "../../tests/fixtures/ig/ServiceRequest-cgmDataSubmissionOneTimeOrderExample.json"
    );
    const ONE_TIME_30_DAY: &str = include_str!(
        "../../tests/fixtures/ig/ServiceRequest-cgmDataSubmissionOneTimeOrder30DayExample.json"
    );

    fn fixture(text: &str) -> Value {
        serde_json::from_str(text).expect("IG fixture is JSON")
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn standing(order: Order) -> StandingOrder {
        match order {
            Order::Standing(o) => o,
            other => panic!("expected a standing order, got {other:?}"),
        }
    }

    fn one_time(order: Order) -> OneTimeOrder {
        match order {
            Order::OneTime(o) => o,
            other => panic!("expected a one-time order, got {other:?}"),
        }
    }

    #[test]
    fn ord_1_ord_2_the_ig_standing_order_is_every_2_weeks_summary_and_pdf_without_lookback() {
        let o = standing(parse_order(&fixture(STANDING)).unwrap());
        assert_eq!(o.id, "cgmDataSubmissionStandingOrderExample");
        assert_eq!(o.version, None);
        assert_eq!(o.status, OrderStatus::Active);
        assert_eq!(o.subject, "Patient/patientExample");
        assert_eq!(o.not_before, None);
        assert_eq!(
            o.schedules,
            vec![Schedule {
                submission_period: TimePeriod::new(2, TimeUnit::Wk),
                lookback: None,
                profiles: vec![CgmProfile::SummaryPanel, CgmProfile::SummaryPdf],
                unknown_profiles: vec![],
            }]
        );
        assert_eq!(
            o.schedules[0].effective_lookback(),
            TimePeriod::new(2, TimeUnit::Wk)
        );
    }

    #[test]
    fn ord_4_the_ig_one_time_orders_are_the_2024_readings_and_the_30_day_summary() {
        let year = one_time(parse_order(&fixture(ONE_TIME_2024)).unwrap());
        assert_eq!(year.id, "cgmDataSubmissionOneTimeOrderExample");
        assert_eq!(year.status, OrderStatus::Active);
        assert_eq!(
            year.period,
            OrderPeriod::Dates {
                first: d(2024, 1, 1),
                last: d(2024, 12, 31)
            }
        );
        assert_eq!(year.profiles, vec![CgmProfile::SensorReadingMass]);
        assert!(year.unknown_profiles.is_empty());
        assert_eq!(
            year.fulfilment_key(),
            "ServiceRequest/cgmDataSubmissionOneTimeOrderExample"
        );

        let month = one_time(parse_order(&fixture(ONE_TIME_30_DAY)).unwrap());
        assert_eq!(
            month.period,
            OrderPeriod::Dates {
                first: d(2024, 12, 17),
                last: d(2025, 1, 16)
            }
        );
        assert_eq!(month.profiles, vec![CgmProfile::SummaryPanel]);
        // 2024-12-17 … 2025-01-16 inclusive is 31 local days (C4).
        let tz = crate::localtime::parse_tz("Europe/Berlin").unwrap();
        let w = super::super::one_time_window(&month.period, tz);
        assert_eq!(w.duration(), chrono::Duration::days(31));
    }

    /// The standing order with `edit` applied, parsed; also checks the core validator rejects it too
    /// (VAL-10 consistency).
    fn broken(base: &str, edit: impl FnOnce(&mut Value)) -> OrderError {
        let mut v = fixture(base);
        edit(&mut v);
        let e = parse_order(&v).expect_err("must be rejected");
        let profile = if base == STANDING {
            CgmProfile::StandingOrder
        } else {
            CgmProfile::OneTimeOrder
        };
        assert!(
            crate::fhir::has_errors(&validate(profile, &v, "ServiceRequest")),
            "the validator accepts what parse_order rejects: {e}"
        );
        e
    }

    #[test]
    fn val_10_intent_plan_is_refused_at_intent() {
        let e = broken(STANDING, |v| v["intent"] = json!("plan"));
        assert_eq!(e.at, "ServiceRequest.intent");
        assert_eq!(
            e.kind,
            OrderErrorKind::WrongIntent {
                found: "\"plan\"".into()
            }
        );
        assert_eq!(
            e.id.as_deref(),
            Some("cgmDataSubmissionStandingOrderExample")
        );
        assert!(e.to_string().contains("VAL-10"), "{e}");
    }

    #[test]
    fn ord_1_a_missing_subject_is_refused() {
        let e = broken(STANDING, |v| {
            v.as_object_mut().unwrap().remove("subject");
        });
        assert_eq!(e.at, "ServiceRequest.subject");
        assert_eq!(e.kind, OrderErrorKind::MissingSubject);
    }

    #[test]
    fn ord_2_a_schedule_without_submission_period_is_refused_at_the_extension() {
        let e = broken(STANDING, |v| {
            v["extension"][0]["extension"]
                .as_array_mut()
                .unwrap()
                .remove(0);
        });
        assert_eq!(e.at, "ServiceRequest.extension[0]");
        assert_eq!(e.kind, OrderErrorKind::SubmissionPeriodCount { found: 0 });
    }

    #[test]
    fn ord_2_unit_month_is_not_a_units_of_time_code_and_the_error_suggests_mo() {
        let e = broken(STANDING, |v| {
            v["extension"][0]["extension"][0]["valueQuantity"]["code"] = json!("month")
        });
        assert_eq!(
            e.at,
            "ServiceRequest.extension[0].extension[0].valueQuantity.code"
        );
        assert!(matches!(e.kind, OrderErrorKind::UnknownTimeUnit { .. }));
        assert!(e.to_string().contains("use 'mo'"), "{e}");
    }

    #[test]
    fn ord_4_a_one_time_order_without_end_is_refused_at_the_period() {
        let e = broken(ONE_TIME_2024, |v| {
            v["extension"][0]["extension"][0]["valuePeriod"]
                .as_object_mut()
                .unwrap()
                .remove("end");
        });
        assert_eq!(
            e.at,
            "ServiceRequest.extension[0].extension[0].valuePeriod.end"
        );
        assert_eq!(e.kind, OrderErrorKind::MissingPeriodBound { bound: "end" });
    }

    #[test]
    fn ord_1_a_service_request_with_another_code_is_not_a_cgm_order() {
        let e = broken(STANDING, |v| {
            v["code"]["coding"][0]["code"] = json!("cgm-data-submission-order")
        });
        assert_eq!(e.at, "ServiceRequest.code");
        assert_eq!(e.kind, OrderErrorKind::NotACgmOrder);
    }

    #[test]
    fn val_10_a_resource_that_is_not_a_service_request_is_refused() {
        let e = broken(STANDING, |v| v["resourceType"] = json!("Task"));
        assert_eq!(e.at, "ServiceRequest.resourceType");
        assert_eq!(
            e.kind,
            OrderErrorKind::NotAServiceRequest {
                found: "Task".into()
            }
        );
        assert_eq!(
            parse_order(&json!([1])).unwrap_err().kind,
            OrderErrorKind::NotAnObject
        );
    }

    #[test]
    fn ord_4_a_period_ending_before_it_starts_and_a_second_spec_are_refused() {
        let e = broken(ONE_TIME_2024, |v| {
            v["extension"][0]["extension"][0]["valuePeriod"]["end"] = json!("2023-12-31")
        });
        assert_eq!(e.kind, OrderErrorKind::PeriodEndsBeforeStart);
        let e = broken(ONE_TIME_2024, |v| {
            let spec = v["extension"][0].clone();
            v["extension"].as_array_mut().unwrap().push(spec);
        });
        assert_eq!(e.kind, OrderErrorKind::SeveralOneTimeSpecs { found: 2 });
    }

    #[test]
    fn ord_2_zero_and_negative_periods_and_a_foreign_unit_system_are_refused() {
        let e = broken(STANDING, |v| {
            v["extension"][0]["extension"][0]["valueQuantity"]["value"] = json!(0)
        });
        assert!(matches!(e.kind, OrderErrorKind::NonPositivePeriod { .. }));
        let e = broken(STANDING, |v| {
            v["extension"][0]["extension"][0]["valueQuantity"]["system"] =
                json!("http://example.org/units")
        });
        assert!(matches!(e.kind, OrderErrorKind::WrongUnitSystem { .. }));
    }

    #[test]
    fn ord_2_fractions_convert_exactly_to_a_smaller_unit_or_are_refused() {
        let with_value = |value: Value, unit: &str| {
            let mut v = fixture(STANDING);
            v["extension"][0]["extension"][0]["valueQuantity"]["value"] = value;
            v["extension"][0]["extension"][0]["valueQuantity"]["code"] = json!(unit);
            parse_order(&v).map(|o| standing(o).schedules[0].submission_period)
        };
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(
            with_value(v("1.5"), "d"),
            Ok(TimePeriod::new(36, TimeUnit::H))
        );
        assert_eq!(
            with_value(v("2.0"), "wk"),
            Ok(TimePeriod::new(2, TimeUnit::Wk))
        );
        assert_eq!(
            with_value(v("1.5"), "a"),
            Ok(TimePeriod::new(18, TimeUnit::Mo))
        );
        assert!(matches!(
            with_value(v("0.5"), "mo").unwrap_err().kind,
            OrderErrorKind::FractionalPeriod { .. }
        ));
        assert!(matches!(
            with_value(json!("2"), "wk").unwrap_err().kind,
            OrderErrorKind::NotANumber
        ));
    }

    #[test]
    fn d5_versioned_canonicals_match_and_unknown_ones_are_kept_for_the_log() {
        let mut v = fixture(STANDING);
        let subs = v["extension"][0]["extension"].as_array_mut().unwrap();
        subs[1]["valueCanonical"] =
            json!("http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary|1.0.0");
        subs.push(json!({"url": "submissionDataProfile", "valueCanonical": "http://example.org/StructureDefinition/insulin"}));
        subs.push(json!({"url": "submissionDataProfile", "valueCanonical": "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-summary"}));
        subs.push(json!({"url": "lookbackPeriod", "valueQuantity": {"value": 30, "code": "d", "system": "http://unitsofmeasure.org"}}));
        let o = standing(parse_order(&v).unwrap());
        let s = &o.schedules[0];
        assert_eq!(
            s.profiles,
            vec![CgmProfile::SummaryPanel, CgmProfile::SummaryPdf]
        );
        assert_eq!(
            s.unknown_profiles,
            vec!["http://example.org/StructureDefinition/insulin".to_string()]
        );
        assert_eq!(s.lookback, Some(TimePeriod::new(30, TimeUnit::D)));
    }

    #[test]
    fn d1_not_before_comes_from_occurrence_period_start_else_authored_on() {
        let mut v = fixture(STANDING);
        v["authoredOn"] = json!("2024-05-01T10:00:00+02:00");
        v["meta"] = json!({"versionId": "3"});
        let o = standing(parse_order(&v).unwrap());
        assert_eq!(
            o.not_before,
            Some(Bound::Instant("2024-05-01T08:00:00Z".parse().unwrap()))
        );
        assert_eq!(o.version.as_deref(), Some("3"));
        v["occurrencePeriod"] = json!({"start": "2024-06"});
        let o = standing(parse_order(&v).unwrap());
        assert_eq!(o.not_before, Some(Bound::Date(d(2024, 6, 1))));
        v["occurrencePeriod"] = json!({"start": "June"});
        assert!(matches!(
            parse_order(&v).unwrap_err().kind,
            OrderErrorKind::BadDateTime { .. }
        ));
    }

    #[test]
    fn d4_a_standing_order_without_schedule_parses_with_no_schedules() {
        let mut v = fixture(STANDING);
        v.as_object_mut().unwrap().remove("extension");
        v["status"] = json!("on-hold");
        let o = standing(parse_order(&v).unwrap());
        assert!(o.schedules.is_empty());
        assert_eq!(o.status, OrderStatus::OnHold);
    }

    #[test]
    fn c4_partial_dates_widen_to_whole_years_and_months_and_date_times_are_exact() {
        let mut v = fixture(ONE_TIME_2024);
        v["extension"][0]["extension"][0]["valuePeriod"] =
            json!({"start": "2023", "end": "2024-02"});
        let o = one_time(parse_order(&v).unwrap());
        assert_eq!(
            o.period,
            OrderPeriod::Dates {
                first: d(2023, 1, 1),
                last: d(2024, 2, 29)
            }
        );
        v["extension"][0]["extension"][0]["valuePeriod"] =
            json!({"start": "2024-05-01T00:00:00Z", "end": "2024-05-02T12:00:00+02:00"});
        let o = one_time(parse_order(&v).unwrap());
        assert_eq!(
            o.period,
            OrderPeriod::Instants {
                start: "2024-05-01T00:00:00Z".parse().unwrap(),
                end: "2024-05-02T10:00:00Z".parse().unwrap()
            }
        );
        v["extension"][0]["extension"][0]["valuePeriod"] =
            json!({"start": "2024-02-30", "end": "2024-03-01"});
        assert!(matches!(
            parse_order(&v).unwrap_err().kind,
            OrderErrorKind::BadDateTime { .. }
        ));
    }

    #[test]
    fn d7_a_search_bundle_keeps_good_orders_skips_includes_and_reports_bad_entries() {
        let mut bad = fixture(STANDING);
        bad["id"] = json!("bad");
        bad["intent"] = json!("proposal");
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {"resource": fixture(STANDING), "search": {"mode": "match"}},
                {"resource": bad, "search": {"mode": "match"}},
                {"resource": fixture(ONE_TIME_30_DAY)},
                {"resource": {"resourceType": "Patient", "id": "p"}, "search": {"mode": "include"}},
                {"resource": {"resourceType": "OperationOutcome"}, "search": {"mode": "outcome"}},
                {"fullUrl": "x"}
            ]
        });
        let (orders, errors) = parse_search_bundle(&bundle);
        let ids: Vec<&str> = orders.iter().map(Order::id).collect();
        assert_eq!(
            ids,
            vec![
                "cgmDataSubmissionStandingOrderExample",
                "cgmDataSubmissionOneTimeOrder30DayExample"
            ]
        );
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].at, "Bundle.entry[1].resource.intent");
        assert_eq!(errors[0].id.as_deref(), Some("bad"));
        assert_eq!(errors[1].at, "Bundle.entry[5].resource");
        let (none, errors) = parse_search_bundle(&fixture(STANDING));
        assert!(none.is_empty());
        assert!(matches!(
            errors[0].kind,
            OrderErrorKind::NotASearchBundle { .. }
        ));
    }
}
