//! The orders page (`/ehr/{practitioner}/patients/{patient}/orders`): the patient's CGM data-submission
//! ServiceRequests (standing and one-time, DIGEST §4.15–4.16), and forms that create them, edit them (a new
//! version), put them on hold, resume and cancel them. Every POST passes the cross-site check and answers
//! with a 303; bad input re-renders the form with what was typed and a message, and stores nothing. Before
//! anything is stored it passes the same IG profile check as the FHIR API's ServiceRequest writes (VAL-10,
//! ORD-1…4), so the EHR never holds an order a submitter would have to reject.

use super::html::{self, esc, pct, Context};
use super::{or_dash, same_origin, view, ChartSubject, Failure, PageError, Tab};
use crate::sandbox::fhir::rest::order_issues;
use crate::sandbox::fhir::store::Stored;
use crate::sandbox::SandboxState;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use serde_json::{json, Value};

pub const CGM_CODE_SYSTEM: &str = "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm";
pub const STANDING_ORDER: &str = "cgm-data-submission-standing-order";
pub const ONE_TIME_ORDER: &str = "cgm-data-submission-one-time-order";
pub const SCHEDULE_URL: &str =
    "http://hl7.org/fhir/uv/cgm/StructureDefinition/data-submission-schedule";
pub const ONE_TIME_URL: &str =
    "http://hl7.org/fhir/uv/cgm/StructureDefinition/data-submission-one-time-spec";
const PROFILE_BASE: &str = "http://hl7.org/fhir/uv/cgm/StructureDefinition/";
const UCUM: &str = "http://unitsofmeasure.org";

/// The profiles a provider can ask for (NOTES D5), with their labels.
const PROFILES: [(&str, &str); 5] = [
    ("cgm-summary", "CGM summary (panel and metrics)"),
    ("cgm-summary-pdf", "PDF report"),
    (
        "cgm-sensor-reading-mass-per-volume",
        "Sensor readings in mg/dL",
    ),
    (
        "cgm-sensor-reading-moles-per-volume",
        "Sensor readings in mmol/L",
    ),
    ("cgm-device", "CGM device"),
];

/// units-of-time (UCUM), with the `unit` text written next to the code.
const UNITS: [(&str, &str); 7] = [
    ("s", "second"),
    ("min", "minute"),
    ("h", "hour"),
    ("d", "day"),
    ("wk", "week"),
    ("mo", "month"),
    ("a", "year"),
];

type Pairs = Vec<(String, String)>;

fn field<'a>(form: &'a Pairs, key: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .unwrap_or("")
}

fn fields(form: &Pairs, key: &str) -> Vec<String> {
    form.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// Form input, as typed

/// One schedule block of the standing-order form, as typed (also how the seed data describes its orders).
#[derive(Debug, Clone, Default)]
pub(crate) struct ScheduleInput {
    pub(crate) period_value: String,
    pub(crate) period_unit: String,
    pub(crate) lookback_value: String,
    pub(crate) lookback_unit: String,
    /// Short names (`cgm-summary`) or full canonicals.
    pub(crate) profiles: Vec<String>,
}

impl ScheduleInput {
    fn is_blank(&self) -> bool {
        self.period_value.is_empty() && self.lookback_value.is_empty() && self.profiles.is_empty()
    }

    fn from_extension(ext: &Value) -> ScheduleInput {
        let mut input = ScheduleInput::default();
        for sub in sub_extensions(ext) {
            match view::text(sub, "url") {
                "submissionPeriod" => {
                    (input.period_value, input.period_unit) = quantity_input(sub);
                }
                "lookbackPeriod" => {
                    (input.lookback_value, input.lookback_unit) = quantity_input(sub);
                }
                "submissionDataProfile" => input
                    .profiles
                    .push(short_profile(view::text(sub, "valueCanonical"))),
                _ => {}
            }
        }
        input
    }
}

fn quantity_input(sub: &Value) -> (String, String) {
    let q = sub.get("valueQuantity");
    (
        q.and_then(|q| q.get("value"))
            .and_then(view::scalar)
            .unwrap_or_default(),
        q.map(|q| view::text(q, "code").to_string())
            .unwrap_or_default(),
    )
}

fn sub_extensions(ext: &Value) -> impl Iterator<Item = &Value> {
    ext.get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `cgm-summary` for the IG's own canonicals (ignoring a `|version`), the canonical otherwise.
fn short_profile(canonical: &str) -> String {
    let bare = canonical.split('|').next().unwrap_or(canonical);
    match bare.strip_prefix(PROFILE_BASE) {
        Some(name) if PROFILES.iter().any(|(p, _)| *p == name) => name.to_string(),
        _ => canonical.to_string(),
    }
}

/// The blocks of a standing-order form: fields `s{n}_period_value`, `s{n}_period_unit`,
/// `s{n}_lookback_value`, `s{n}_lookback_unit`, `s{n}_profile` (repeated), n = 1, 2, …
fn schedules_from_form(form: &Pairs) -> Vec<ScheduleInput> {
    let mut numbers: Vec<usize> = form
        .iter()
        .filter_map(|(k, _)| k.strip_prefix('s')?.split_once('_')?.0.parse().ok())
        .filter(|n| (1..=20).contains(n))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
        .into_iter()
        .map(|n| ScheduleInput {
            period_value: field(form, &format!("s{n}_period_value")).to_string(),
            period_unit: field(form, &format!("s{n}_period_unit")).to_string(),
            lookback_value: field(form, &format!("s{n}_lookback_value")).to_string(),
            lookback_unit: field(form, &format!("s{n}_lookback_unit")).to_string(),
            profiles: fields(form, &format!("s{n}_profile")),
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
struct OneTimeInput {
    start: String,
    end: String,
    profiles: Vec<String>,
}

impl OneTimeInput {
    fn from_form(form: &Pairs) -> OneTimeInput {
        OneTimeInput {
            start: field(form, "start").to_string(),
            end: field(form, "end").to_string(),
            profiles: fields(form, "profile"),
        }
    }

    fn from_order(order: &Value) -> OneTimeInput {
        let mut input = OneTimeInput::default();
        for ext in extensions(order, ONE_TIME_URL) {
            for sub in sub_extensions(ext) {
                match view::text(sub, "url") {
                    "timePeriod" => {
                        let p = sub.get("valuePeriod");
                        input.start = p.map(|p| view::text(p, "start")).unwrap_or("").into();
                        input.end = p.map(|p| view::text(p, "end")).unwrap_or("").into();
                    }
                    "submissionDataProfile" => input
                        .profiles
                        .push(short_profile(view::text(sub, "valueCanonical"))),
                    _ => {}
                }
            }
        }
        input
    }
}

// ---------------------------------------------------------------------------------------------------------
// Validation: typed input to extension JSON, or messages that say what to fix

/// A positive decimal as typed ("2", "1.5"), kept as written.
fn positive_decimal(text: &str) -> Option<Value> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_ok = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && (fraction.is_empty() != text.contains('.'));
    if !digits_ok || !text.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return None;
    }
    serde_json::from_str(text).ok()
}

fn unit_quantity(value: Value, code: &str) -> Option<Value> {
    let unit = UNITS.iter().find(|(c, _)| *c == code)?.1;
    Some(json!({"value": value, "system": UCUM, "code": code, "unit": unit}))
}

fn profile_canonicals(profiles: &[String], what: &str, errors: &mut Vec<String>) -> Vec<Value> {
    if profiles.is_empty() {
        errors.push(format!(
            "{what}: choose at least one kind of data to submit."
        ));
    }
    let mut out = Vec::new();
    for p in profiles {
        if PROFILES.iter().any(|(name, _)| name == p) {
            out.push(json!({"url": "submissionDataProfile", "valueCanonical": format!("{PROFILE_BASE}{p}")}));
        } else if p.starts_with(PROFILE_BASE) {
            out.push(json!({"url": "submissionDataProfile", "valueCanonical": p}));
        } else {
            errors.push(format!("{what}: “{p}” is not a CGM profile."));
        }
    }
    out
}

/// The `data-submission-schedule` extensions (ORD-2, ORD-3), or what to fix.
pub(crate) fn schedule_extensions(inputs: &[ScheduleInput]) -> Result<Vec<Value>, Vec<String>> {
    let mut errors = Vec::new();
    let mut extensions = Vec::new();
    let used: Vec<(usize, &ScheduleInput)> = inputs
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_blank())
        .collect();
    if used.is_empty() {
        errors.push(
            "Fill in at least one schedule: how often to submit, and which data.".to_string(),
        );
    }
    for (i, s) in used {
        let what = format!("Schedule {}", i + 1);
        let mut subs = Vec::new();
        match positive_decimal(&s.period_value) {
            Some(value) => match unit_quantity(value, &s.period_unit) {
                Some(q) => subs.push(json!({"url": "submissionPeriod", "valueQuantity": q})),
                None => errors.push(format!(
                    "{what}: choose the unit of the submission period."
                )),
            },
            None => errors.push(format!(
                "{what}: the submission period must be a number greater than 0 (for example 2 weeks)."
            )),
        }
        if !s.lookback_value.is_empty() {
            match positive_decimal(&s.lookback_value) {
                Some(value) => match unit_quantity(value, &s.lookback_unit) {
                    Some(q) => subs.push(json!({"url": "lookbackPeriod", "valueQuantity": q})),
                    None => {
                        errors.push(format!("{what}: choose the unit of the look-back period."))
                    }
                },
                None => errors.push(format!(
                    "{what}: the look-back period must be a number greater than 0, or left empty \
                     (it then equals the submission period)."
                )),
            }
        }
        subs.extend(profile_canonicals(&s.profiles, &what, &mut errors));
        extensions.push(json!({"extension": subs, "url": SCHEDULE_URL}));
    }
    if errors.is_empty() {
        Ok(extensions)
    } else {
        Err(errors)
    }
}

/// The `data-submission-one-time-spec` extension, or what to fix.
fn one_time_extension(input: &OneTimeInput) -> Result<Value, Vec<String>> {
    let mut errors = Vec::new();
    let start = NaiveDate::parse_from_str(&input.start, "%Y-%m-%d");
    let end = NaiveDate::parse_from_str(&input.end, "%Y-%m-%d");
    if start.is_err() {
        errors.push("Enter the first day of the period (YYYY-MM-DD).".to_string());
    }
    if end.is_err() {
        errors.push("Enter the last day of the period (YYYY-MM-DD).".to_string());
    }
    if let (Ok(start), Ok(end)) = (start, end) {
        if end < start {
            errors.push(
                "The period ends before it starts: the last day must be on or after the first day."
                    .to_string(),
            );
        }
    }
    let mut subs =
        vec![json!({"valuePeriod": {"start": input.start, "end": input.end}, "url": "timePeriod"})];
    subs.extend(profile_canonicals(
        &input.profiles,
        "The order",
        &mut errors,
    ));
    if errors.is_empty() {
        Ok(json!({"extension": subs, "url": ONE_TIME_URL}))
    } else {
        Err(errors)
    }
}

fn new_order(subject: &ChartSubject, code: &str, extensions: Vec<Value>) -> Value {
    build_order(
        &subject.patient.id,
        &subject.practitioner.id,
        code,
        extensions,
    )
}

/// An active CGM order in the shape of the IG examples (ORD-1, ORD-4): `status`, `intent` `order`, `code`,
/// `subject`, with the schedule or period only in `extensions`, plus `requester` and `authoredOn` (now).
pub(crate) fn build_order(
    patient_id: &str,
    practitioner_id: &str,
    code: &str,
    extensions: Vec<Value>,
) -> Value {
    json!({
        "resourceType": "ServiceRequest",
        "extension": extensions,
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": CGM_CODE_SYSTEM, "code": code}]},
        "subject": {"reference": format!("Patient/{patient_id}")},
        "authoredOn": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "requester": {"reference": format!("Practitioner/{practitioner_id}")},
    })
}

/// The order with its extensions of `url` replaced by `new` (at the place of the first one).
fn replace_extensions(order: &Value, url: &str, new: Vec<Value>) -> Value {
    let mut order = order.clone();
    let old: Vec<Value> = order
        .get("extension")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let at = old
        .iter()
        .position(|e| view::text(e, "url") == url)
        .unwrap_or(0);
    let mut kept: Vec<Value> = old
        .into_iter()
        .filter(|e| view::text(e, "url") != url)
        .collect();
    let at = at.min(kept.len());
    kept.splice(at..at, new);
    if let Some(obj) = order.as_object_mut() {
        obj.insert("extension".into(), Value::Array(kept));
    }
    order
}

fn extensions<'a>(order: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    order
        .get("extension")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |e| view::text(e, "url") == url)
}

/// What the IG profile (or R4) rejects in an order about to be stored, as messages for the form.
/// The order when the IG profile accepts it, else the errors to show on the form.
fn valid(order: Value) -> Result<Value, Vec<String>> {
    let problems = profile_errors(&order);
    if problems.is_empty() {
        Ok(order)
    } else {
        Err(problems)
    }
}

fn profile_errors(order: &Value) -> Vec<String> {
    order_issues(order)
        .into_iter()
        .filter(|i| i.is_error())
        .map(|i| match i.expression {
            Some(at) => format!(
                "The order does not conform to its IG profile at {at}: {}",
                i.diagnostics
            ),
            None => format!(
                "The order does not conform to its IG profile: {}",
                i.diagnostics
            ),
        })
        .collect()
}

fn order_kind(order: &Value) -> Option<&'static str> {
    [STANDING_ORDER, ONE_TIME_ORDER]
        .into_iter()
        .find(|code| view::has_coding(order.get("code"), CGM_CODE_SYSTEM, code))
}

// ---------------------------------------------------------------------------------------------------------
// Pages

/// What the orders page shows besides the lists: the two creation forms, possibly with errors.
#[derive(Default)]
struct OrdersForms {
    standing: Vec<ScheduleInput>,
    standing_errors: Vec<String>,
    one_time: OneTimeInput,
    one_time_errors: Vec<String>,
}

pub async fn orders_page(
    State(state): State<SandboxState>,
    Path((practitioner, patient)): Path<(String, String)>,
) -> Result<Response, Failure> {
    let subject = ChartSubject::load(&state, &practitioner, &patient)
        .await
        .map_err(|e| e.at(&state))?;
    render_orders(&state, &subject, OrdersForms::default(), StatusCode::OK)
        .await
        .map_err(|e| e.at(&state))
}

async fn patient_orders(
    state: &SandboxState,
    patient_id: &str,
    code: &str,
) -> Result<Vec<Stored>, PageError> {
    Ok(state
        .fhir
        .list_for_patient("ServiceRequest", patient_id, Some((CGM_CODE_SYSTEM, code)))
        .await?)
}

async fn render_orders(
    state: &SandboxState,
    subject: &ChartSubject,
    mut forms: OrdersForms,
    status: StatusCode,
) -> Result<Response, PageError> {
    let base = state.config.base();
    let orders_url = format!("{}/orders", subject.chart_url(&base));
    let standing = patient_orders(state, &subject.patient.id, STANDING_ORDER).await?;
    let one_time = patient_orders(state, &subject.patient.id, ONE_TIME_ORDER).await?;
    let practitioners = state.fhir.list("Practitioner").await?;
    let requester = |order: &Value| -> String {
        let reference = order
            .pointer("/requester/reference")
            .and_then(Value::as_str)
            .unwrap_or("");
        view::reference_id(reference, "Practitioner")
            .and_then(|id| practitioners.iter().find(|p| p.id == id))
            .map(|p| view::display_name(&p.body, &p.id))
            .unwrap_or_else(|| reference.to_string())
    };

    let mut main = String::from(
        "<h1>CGM data orders</h1>\n<p class=\"note\">Standing orders ask the CGM app to submit data on a \
         schedule; one-time orders ask for one period. The app finds them with \
         <code>ServiceRequest?patient=…&amp;code=…</code> and acts on active ones only.</p>\n",
    );

    main.push_str("<section aria-labelledby=\"so-h\"><h2 id=\"so-h\">Standing orders</h2>\n");
    if standing.is_empty() {
        main.push_str("<p class=\"empty\">No standing orders. Create one below to have CloudCGM submit data regularly.</p>\n");
    } else {
        main.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Status</th><th scope=\"col\">Schedules</th>\
             <th scope=\"col\">Ordered</th><th scope=\"col\">Version</th><th scope=\"col\">Actions</th></tr></thead>\n<tbody>\n",
        );
        for order in &standing {
            let schedules: Vec<String> = extensions(&order.body, SCHEDULE_URL)
                .map(|e| describe_schedule(&ScheduleInput::from_extension(e)))
                .collect();
            let schedules = if schedules.is_empty() {
                "no schedule (cadence agreed out of band)".to_string()
            } else {
                schedules
                    .iter()
                    .map(|s| esc(s))
                    .collect::<Vec<_>>()
                    .join("<br>")
            };
            main.push_str(&format!(
                "<tr id=\"order-{id}\"><td>{status}</td><td>{schedules}</td><td>{ordered}</td>\
                 <td class=\"num\">{version}</td><td>{actions}</td></tr>\n",
                id = esc(&order.id),
                status = status_cell(&order.body),
                ordered = esc(&ordered(&order.body, &requester(&order.body))),
                version = order.version,
                actions = actions(&orders_url, order),
            ));
        }
        main.push_str("</tbody>\n</table>\n");
    }
    main.push_str("</section>\n");

    main.push_str("<section aria-labelledby=\"ot-h\"><h2 id=\"ot-h\">One-time orders</h2>\n");
    if one_time.is_empty() {
        main.push_str("<p class=\"empty\">No one-time orders. Create one below to ask for a specific period once.</p>\n");
    } else {
        main.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Status</th><th scope=\"col\">Period</th>\
             <th scope=\"col\">Data</th><th scope=\"col\">Ordered</th><th scope=\"col\">Version</th>\
             <th scope=\"col\">Actions</th></tr></thead>\n<tbody>\n",
        );
        for order in &one_time {
            let input = OneTimeInput::from_order(&order.body);
            main.push_str(&format!(
                "<tr id=\"order-{id}\"><td>{status}</td><td>{start} – {end}</td><td>{profiles}</td>\
                 <td>{ordered}</td><td class=\"num\">{version}</td><td>{actions}</td></tr>\n",
                id = esc(&order.id),
                status = status_cell(&order.body),
                start = esc(or_dash(&input.start)),
                end = esc(or_dash(&input.end)),
                profiles = esc(&input.profiles.join(", ")),
                ordered = esc(&ordered(&order.body, &requester(&order.body))),
                version = order.version,
                actions = actions(&orders_url, order),
            ));
        }
        main.push_str("</tbody>\n</table>\n");
    }
    main.push_str("</section>\n");

    if forms.standing.is_empty() {
        forms.standing = vec![
            ScheduleInput {
                period_value: "2".into(),
                period_unit: "wk".into(),
                profiles: vec!["cgm-summary".into(), "cgm-summary-pdf".into()],
                ..ScheduleInput::default()
            },
            ScheduleInput::default(),
        ];
    }
    main.push_str(&format!(
        "<section aria-labelledby=\"new-so-h\"><h2 id=\"new-so-h\">New standing order</h2>\n{}</section>\n",
        standing_form(
            &format!("{orders_url}/standing"),
            &forms.standing,
            &forms.standing_errors,
            None,
            "Create standing order",
        )
    ));
    main.push_str(&format!(
        "<section aria-labelledby=\"new-ot-h\"><h2 id=\"new-ot-h\">New one-time order</h2>\n{}</section>\n",
        one_time_form(
            &format!("{orders_url}/one-time"),
            &forms.one_time,
            &forms.one_time_errors,
            None,
            "Create one-time order",
        )
    ));

    let ctx = Context {
        user: Some(&subject.practitioner_name),
        banner: Some(subject.banner(&base, Tab::Orders)),
    };
    Ok(html::page(
        status,
        &html::csp(&[]),
        html::layout(&base, "Orders", &ctx, &main),
    ))
}

fn unit_name(code: &str) -> &str {
    UNITS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
        .unwrap_or(code)
}

/// "2 weeks", "1 day", as typed.
fn amount(value: &str, unit: &str) -> String {
    let name = unit_name(unit);
    if value == "1" || !UNITS.iter().any(|(c, _)| *c == unit) {
        format!("{} {name}", or_dash(value))
    } else {
        format!("{} {name}s", or_dash(value))
    }
}

fn describe_schedule(s: &ScheduleInput) -> String {
    let mut text = format!("every {}", amount(&s.period_value, &s.period_unit));
    if !s.lookback_value.is_empty() {
        text.push_str(&format!(
            ", looking back {}",
            amount(&s.lookback_value, &s.lookback_unit)
        ));
    }
    text.push_str(": ");
    text.push_str(&s.profiles.join(", "));
    text
}

fn status_cell(order: &Value) -> String {
    let status = view::text(order, "status");
    format!(
        "<span class=\"status status-{}\">{}</span>",
        esc(&pct(status)),
        esc(or_dash(status))
    )
}

fn ordered(order: &Value, requester: &str) -> String {
    let authored = view::text(order, "authoredOn");
    match (authored.is_empty(), requester.is_empty()) {
        (false, false) => format!("{authored} by {requester}"),
        (false, true) => authored.to_string(),
        (true, false) => format!("by {requester}"),
        (true, true) => "—".to_string(),
    }
}

/// Edit, hold/resume and cancel controls; none for a cancelled or finished order.
fn actions(orders_url: &str, order: &Stored) -> String {
    let status = view::text(&order.body, "status");
    if !matches!(status, "active" | "on-hold" | "draft") {
        return "<span class=\"note\">none (closed)</span>".to_string();
    }
    let order_url = format!("{orders_url}/{}", pct(&order.id));
    let status_form = |to: &str, label: &str, class: &str| {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"{action}/status\">\
             <input type=\"hidden\" name=\"status\" value=\"{to}\">\
             <input type=\"hidden\" name=\"version\" value=\"{version}\">\
             <button type=\"submit\" class=\"{class}\">{label}</button></form>",
            action = esc(&order_url),
            version = order.version,
        )
    };
    let toggle = if status == "on-hold" {
        status_form("active", "Resume", "secondary")
    } else {
        status_form("on-hold", "Put on hold", "secondary")
    };
    format!(
        "<a href=\"{}\">Edit</a> {toggle} {}",
        esc(&order_url),
        status_form("revoked", "Cancel order", "danger")
    )
}

fn errors_box(errors: &[String]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let items: String = errors
        .iter()
        .map(|e| format!("<li>{}</li>", esc(e)))
        .collect();
    format!("<div class=\"error\" role=\"alert\"><p>Nothing was saved. Please fix:</p><ul>{items}</ul></div>\n")
}

fn unit_select(id: &str, name: &str, selected: &str, allow_none: bool) -> String {
    let mut out = format!("<select id=\"{}\" name=\"{}\">", esc(id), esc(name));
    if allow_none {
        out.push_str("<option value=\"\">—</option>");
    }
    // Weeks are the usual cadence (the IG example's), so an empty required unit starts there.
    let selected = if selected.is_empty() && !allow_none {
        "wk"
    } else {
        selected
    };
    for (code, unit) in UNITS {
        let sel = if code == selected { " selected" } else { "" };
        out.push_str(&format!(
            "<option value=\"{code}\"{sel}>{unit}s ({code})</option>"
        ));
    }
    out.push_str("</select>");
    out
}

fn profile_checkboxes(prefix: &str, name: &str, chosen: &[String]) -> String {
    let mut out = String::new();
    let mut options: Vec<(String, String)> = PROFILES
        .iter()
        .map(|(p, label)| (p.to_string(), format!("{label} ({p})")))
        .collect();
    // Keep profiles an order already has that the form does not offer (e.g. a single member profile).
    for p in chosen {
        if !options.iter().any(|(o, _)| o == p) {
            options.push((p.clone(), p.clone()));
        }
    }
    for (i, (value, label)) in options.iter().enumerate() {
        let id = format!("{prefix}-profile-{i}");
        let checked = if chosen.contains(value) {
            " checked"
        } else {
            ""
        };
        out.push_str(&format!(
            "<div class=\"field\"><input type=\"checkbox\" id=\"{id}\" name=\"{name}\" value=\"{value}\"{checked}> \
             <label for=\"{id}\">{label}</label></div>\n",
            id = esc(&id),
            name = esc(name),
            value = esc(value),
            label = esc(label),
        ));
    }
    out
}

fn version_field(version: Option<i64>) -> String {
    version
        .map(|v| format!("<input type=\"hidden\" name=\"version\" value=\"{v}\">\n"))
        .unwrap_or_default()
}

fn standing_form(
    action: &str,
    schedules: &[ScheduleInput],
    errors: &[String],
    version: Option<i64>,
    submit: &str,
) -> String {
    let mut out = errors_box(errors);
    out.push_str(&format!(
        "<form method=\"post\" action=\"{}\">\n{}",
        esc(action),
        version_field(version)
    ));
    for (i, s) in schedules.iter().enumerate() {
        let n = i + 1;
        let legend = if n == 1 {
            "Schedule 1".to_string()
        } else {
            format!("Schedule {n} (optional: leave empty for none)")
        };
        out.push_str(&format!(
            "<fieldset><legend>{legend}</legend>\n\
             <div class=\"field\"><label for=\"s{n}-pv\">Submit every</label> \
             <input type=\"text\" inputmode=\"decimal\" size=\"5\" id=\"s{n}-pv\" name=\"s{n}_period_value\" value=\"{pv}\"> \
             <label for=\"s{n}-pu\">Unit</label> {pu}</div>\n\
             <div class=\"field\"><label for=\"s{n}-lv\">Look back (optional)</label> \
             <input type=\"text\" inputmode=\"decimal\" size=\"5\" id=\"s{n}-lv\" name=\"s{n}_lookback_value\" value=\"{lv}\"> \
             <label for=\"s{n}-lu\">Unit</label> {lu}</div>\n\
             <fieldset><legend>Data to submit</legend>\n{profiles}</fieldset>\n</fieldset>\n",
            legend = esc(&legend),
            pv = esc(&s.period_value),
            pu = unit_select(&format!("s{n}-pu"), &format!("s{n}_period_unit"), &s.period_unit, false),
            lv = esc(&s.lookback_value),
            lu = unit_select(&format!("s{n}-lu"), &format!("s{n}_lookback_unit"), &s.lookback_unit, true),
            profiles = profile_checkboxes(&format!("s{n}"), &format!("s{n}_profile"), &s.profiles),
        ));
    }
    out.push_str(&format!(
        "<p><button type=\"submit\">{}</button></p>\n</form>\n",
        esc(submit)
    ));
    out
}

fn one_time_form(
    action: &str,
    input: &OneTimeInput,
    errors: &[String],
    version: Option<i64>,
    submit: &str,
) -> String {
    format!(
        "{errors}<form method=\"post\" action=\"{action}\">\n{version}\
         <div class=\"field\"><label for=\"ot-start\">First day</label> \
         <input type=\"date\" id=\"ot-start\" name=\"start\" value=\"{start}\"> \
         <label for=\"ot-end\">Last day (inclusive)</label> \
         <input type=\"date\" id=\"ot-end\" name=\"end\" value=\"{end}\"></div>\n\
         <fieldset><legend>Data to submit</legend>\n{profiles}</fieldset>\n\
         <p><button type=\"submit\">{submit}</button></p>\n</form>\n",
        errors = errors_box(errors),
        action = esc(action),
        version = version_field(version),
        start = esc(&input.start),
        end = esc(&input.end),
        profiles = profile_checkboxes("ot", "profile", &input.profiles),
        submit = esc(submit),
    )
}

// ---------------------------------------------------------------------------------------------------------
// Actions

fn redirect_to_orders(state: &SandboxState, subject: &ChartSubject, order_id: &str) -> Response {
    let url = format!(
        "{}/orders#order-{}",
        subject.chart_url(&state.config.base()),
        pct(order_id)
    );
    Redirect::to(&url).into_response()
}

/// `POST …/orders/standing`
pub async fn create_standing(
    State(state): State<SandboxState>,
    Path((practitioner, patient)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<Pairs>,
) -> Result<Response, Failure> {
    let result: Result<Response, PageError> = async {
        same_origin(&state, &headers)?;
        let subject = ChartSubject::load(&state, &practitioner, &patient).await?;
        let inputs = schedules_from_form(&form);
        let order = schedule_extensions(&inputs)
            .and_then(|extensions| valid(new_order(&subject, STANDING_ORDER, extensions)));
        match order {
            Ok(order) => {
                let stored = store_new(&state, order).await?;
                Ok(redirect_to_orders(&state, &subject, &stored.id))
            }
            Err(errors) => {
                let forms = OrdersForms {
                    standing: padded(inputs),
                    standing_errors: errors,
                    ..OrdersForms::default()
                };
                render_orders(&state, &subject, forms, StatusCode::UNPROCESSABLE_ENTITY).await
            }
        }
    }
    .await;
    result.map_err(|e| e.at(&state))
}

/// `POST …/orders/one-time`
pub async fn create_one_time(
    State(state): State<SandboxState>,
    Path((practitioner, patient)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<Pairs>,
) -> Result<Response, Failure> {
    let result: Result<Response, PageError> = async {
        same_origin(&state, &headers)?;
        let subject = ChartSubject::load(&state, &practitioner, &patient).await?;
        let input = OneTimeInput::from_form(&form);
        let order = one_time_extension(&input)
            .and_then(|extension| valid(new_order(&subject, ONE_TIME_ORDER, vec![extension])));
        match order {
            Ok(order) => {
                let stored = store_new(&state, order).await?;
                Ok(redirect_to_orders(&state, &subject, &stored.id))
            }
            Err(errors) => {
                let forms = OrdersForms {
                    one_time: input,
                    one_time_errors: errors,
                    ..OrdersForms::default()
                };
                render_orders(&state, &subject, forms, StatusCode::UNPROCESSABLE_ENTITY).await
            }
        }
    }
    .await;
    result.map_err(|e| e.at(&state))
}

/// A standing-order form always offers one empty schedule more than it has.
fn padded(mut inputs: Vec<ScheduleInput>) -> Vec<ScheduleInput> {
    if inputs.is_empty() || inputs.last().is_some_and(|s| !s.is_blank()) {
        inputs.push(ScheduleInput::default());
    }
    inputs
}

async fn store_new(state: &SandboxState, order: Value) -> Result<Stored, PageError> {
    Ok(state.fhir.create(order).await?)
}

/// The order named in the URL, when it is one of this patient's CGM orders.
async fn load_order(
    state: &SandboxState,
    subject: &ChartSubject,
    order_id: &str,
) -> Result<(Stored, &'static str), PageError> {
    let not_found = || PageError::NotFound("That order".into());
    let order = state
        .fhir
        .read("ServiceRequest", order_id)
        .await?
        .ok_or_else(not_found)?;
    let subject_ref = order
        .body
        .pointer("/subject/reference")
        .and_then(Value::as_str)
        .unwrap_or("");
    if view::reference_id(subject_ref, "Patient") != Some(subject.patient.id.as_str()) {
        return Err(not_found());
    }
    let kind = order_kind(&order.body).ok_or_else(not_found)?;
    Ok((order, kind))
}

/// `GET …/orders/{order}`: the edit form, filled from the current version.
pub async fn edit_page(
    State(state): State<SandboxState>,
    Path((practitioner, patient, order_id)): Path<(String, String, String)>,
) -> Result<Response, Failure> {
    let result: Result<Response, PageError> = async {
        let subject = ChartSubject::load(&state, &practitioner, &patient).await?;
        let (order, kind) = load_order(&state, &subject, &order_id).await?;
        Ok(render_edit(
            &state,
            &subject,
            &order,
            kind,
            Vec::new(),
            None,
            StatusCode::OK,
        ))
    }
    .await;
    result.map_err(|e| e.at(&state))
}

/// What the edit form shows: the order as stored, or the input that was refused.
enum EditInput {
    Standing(Vec<ScheduleInput>),
    OneTime(OneTimeInput),
}

fn render_edit(
    state: &SandboxState,
    subject: &ChartSubject,
    order: &Stored,
    kind: &str,
    errors: Vec<String>,
    typed: Option<EditInput>,
    status: StatusCode,
) -> Response {
    let base = state.config.base();
    let action = format!("{}/orders/{}", subject.chart_url(&base), pct(&order.id));
    let closed = !matches!(
        view::text(&order.body, "status"),
        "active" | "on-hold" | "draft"
    );
    let mut main = format!(
        "<h1>Edit order</h1>\n<p>Status {} · version {} · {}</p>\n<p class=\"note\">Saving makes a new \
         version of the same ServiceRequest; the app sees the change on its next read.</p>\n",
        status_cell(&order.body),
        order.version,
        esc(&ordered(&order.body, "")),
    );
    if closed {
        main.push_str("<p class=\"error\">This order is closed and can no longer be edited. Create a new one on the orders page.</p>\n");
    } else {
        let form = match (kind, typed) {
            (_, Some(EditInput::Standing(inputs))) => standing_form(
                &action,
                &inputs,
                &errors,
                Some(order.version),
                "Save changes",
            ),
            (_, Some(EditInput::OneTime(input))) => one_time_form(
                &action,
                &input,
                &errors,
                Some(order.version),
                "Save changes",
            ),
            (STANDING_ORDER, None) => {
                let inputs: Vec<ScheduleInput> = extensions(&order.body, SCHEDULE_URL)
                    .map(ScheduleInput::from_extension)
                    .collect();
                standing_form(
                    &action,
                    &padded(inputs),
                    &errors,
                    Some(order.version),
                    "Save changes",
                )
            }
            _ => one_time_form(
                &action,
                &OneTimeInput::from_order(&order.body),
                &errors,
                Some(order.version),
                "Save changes",
            ),
        };
        main.push_str(&format!("<section>{form}</section>\n"));
    }
    main.push_str(&format!(
        "<p><a href=\"{}/orders\">Back to orders</a></p>\n",
        esc(&subject.chart_url(&base))
    ));
    let ctx = Context {
        user: Some(&subject.practitioner_name),
        banner: Some(subject.banner(&base, Tab::Orders)),
    };
    html::page(
        status,
        &html::csp(&[]),
        html::layout(&base, "Edit order", &ctx, &main),
    )
}

/// Whether the form was made from the version that is still current (else someone changed it meanwhile).
fn version_matches(form: &Pairs, order: &Stored) -> bool {
    let typed = field(form, "version");
    typed.is_empty() || typed.parse::<i64>().ok() == Some(order.version)
}

const STALE: &str = "This order was changed by someone else after you opened it. The form now shows the current version; make your change again.";

/// `POST …/orders/{order}`: saves the edit as a new version.
pub async fn save_edit(
    State(state): State<SandboxState>,
    Path((practitioner, patient, order_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<Pairs>,
) -> Result<Response, Failure> {
    let result: Result<Response, PageError> = async {
        same_origin(&state, &headers)?;
        let subject = ChartSubject::load(&state, &practitioner, &patient).await?;
        let (order, kind) = load_order(&state, &subject, &order_id).await?;
        if !matches!(
            view::text(&order.body, "status"),
            "active" | "on-hold" | "draft"
        ) {
            return Ok(render_edit(
                &state,
                &subject,
                &order,
                kind,
                Vec::new(),
                None,
                StatusCode::CONFLICT,
            ));
        }
        if !version_matches(&form, &order) {
            return Ok(render_edit(
                &state,
                &subject,
                &order,
                kind,
                vec![STALE.into()],
                None,
                StatusCode::CONFLICT,
            ));
        }
        let (updated, typed) = if kind == STANDING_ORDER {
            let inputs = schedules_from_form(&form);
            match schedule_extensions(&inputs) {
                Ok(exts) => (
                    replace_extensions(&order.body, SCHEDULE_URL, exts),
                    EditInput::Standing(padded(inputs)),
                ),
                Err(errors) => {
                    let typed = Some(EditInput::Standing(padded(inputs)));
                    return Ok(render_edit(
                        &state,
                        &subject,
                        &order,
                        kind,
                        errors,
                        typed,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    ));
                }
            }
        } else {
            let input = OneTimeInput::from_form(&form);
            match one_time_extension(&input) {
                Ok(ext) => (
                    replace_extensions(&order.body, ONE_TIME_URL, vec![ext]),
                    EditInput::OneTime(input),
                ),
                Err(errors) => {
                    let typed = Some(EditInput::OneTime(input));
                    return Ok(render_edit(
                        &state,
                        &subject,
                        &order,
                        kind,
                        errors,
                        typed,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    ));
                }
            }
        };
        let problems = profile_errors(&updated);
        if !problems.is_empty() {
            return Ok(render_edit(
                &state,
                &subject,
                &order,
                kind,
                problems,
                Some(typed),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        state
            .fhir
            .update("ServiceRequest", &order.id, updated)
            .await?;
        Ok(redirect_to_orders(&state, &subject, &order.id))
    }
    .await;
    result.map_err(|e| e.at(&state))
}

/// `POST …/orders/{order}/status` with `status` = `on-hold`, `active` (resume) or `revoked` (cancel).
pub async fn set_status(
    State(state): State<SandboxState>,
    Path((practitioner, patient, order_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<Pairs>,
) -> Result<Response, Failure> {
    let result: Result<Response, PageError> = async {
        same_origin(&state, &headers)?;
        let subject = ChartSubject::load(&state, &practitioner, &patient).await?;
        let (order, kind) = load_order(&state, &subject, &order_id).await?;
        let wanted = field(&form, "status");
        let current = view::text(&order.body, "status");
        let allowed = match wanted {
            "on-hold" => current == "active",
            "active" => current == "on-hold",
            "revoked" => matches!(current, "active" | "on-hold" | "draft"),
            _ => false,
        };
        if !allowed || !version_matches(&form, &order) {
            let message = if !version_matches(&form, &order) {
                STALE.to_string()
            } else {
                format!("An order that is “{current}” cannot be changed to “{wanted}”.")
            };
            return Ok(render_edit(
                &state,
                &subject,
                &order,
                kind,
                vec![message],
                None,
                StatusCode::CONFLICT,
            ));
        }
        let mut updated = order.body.clone();
        if let Some(obj) = updated.as_object_mut() {
            obj.insert("status".into(), Value::String(wanted.to_string()));
        }
        let problems = profile_errors(&updated);
        if !problems.is_empty() {
            return Ok(render_edit(
                &state,
                &subject,
                &order,
                kind,
                problems,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        state
            .fhir
            .update("ServiceRequest", &order.id, updated)
            .await?;
        Ok(redirect_to_orders(&state, &subject, &order.id))
    }
    .await;
    result.map_err(|e| e.at(&state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_decimals_are_kept_as_written_and_zero_is_refused() {
        assert_eq!(
            positive_decimal("2").map(|v| v.to_string()).as_deref(),
            Some("2")
        );
        assert_eq!(
            positive_decimal("1.50").map(|v| v.to_string()).as_deref(),
            Some("1.50")
        );
        for bad in ["0", "0.0", "", "-1", "1e3", "1.", ".5", "two", "1.2.3"] {
            assert!(positive_decimal(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_schedule_without_profiles_says_to_choose_one() {
        let input = ScheduleInput {
            period_value: "2".into(),
            period_unit: "wk".into(),
            ..ScheduleInput::default()
        };
        let errors = schedule_extensions(&[input]).expect_err("refused");
        assert!(
            errors[0].contains("at least one kind of data"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_one_time_period_must_not_end_before_it_starts() {
        let input = OneTimeInput {
            start: "2025-02-01".into(),
            end: "2025-01-31".into(),
            profiles: vec!["cgm-summary".into()],
        };
        let errors = one_time_extension(&input).expect_err("refused");
        assert!(errors[0].contains("ends before it starts"), "{errors:?}");
    }

    #[test]
    fn replacing_schedules_keeps_other_extensions_in_place() {
        let order = json!({"extension": [
            {"url": "urn:other-1"}, {"url": SCHEDULE_URL, "n": 1}, {"url": "urn:other-2"}, {"url": SCHEDULE_URL, "n": 2}
        ]});
        let replaced = replace_extensions(
            &order,
            SCHEDULE_URL,
            vec![json!({"url": SCHEDULE_URL, "n": 3})],
        );
        let urls: Vec<Value> = replaced["extension"].as_array().expect("array").clone();
        assert_eq!(
            urls,
            vec![
                json!({"url": "urn:other-1"}),
                json!({"url": SCHEDULE_URL, "n": 3}),
                json!({"url": "urn:other-2"})
            ]
        );
    }
}
