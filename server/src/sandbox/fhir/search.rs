//! FHIR R4 search on the sandbox (`GET /fhir/{type}?…` and `POST /fhir/{type}/_search`, issue 3 item 1;
//! RCV-12/RCV-13 order and observation searches, AUTH-2 scope constraints): parsing the parameters that
//! [`index::param_kind`] declares, turning them into one bound SQL query over `resources` + `search_index`,
//! restricting it to what the token may see, and answering a `searchset` Bundle with exact `total`, `self` /
//! `next` / `previous` links and `_count` / `_offset` paging. Semantics are documented in
//! docs/sandbox-fhir-api.md.
//!
//! Every value reaches SQL as a bound parameter through `sqlx::QueryBuilder`; only fixed fragments are pushed
//! as text.

use super::http::{error, fhir_json, forbidden, internal, require_grant};
use super::index::{date_range, normalize_string, param_kind, ParamKind, SEARCHABLE_TYPES};
use super::rest::{check_format, in_reach, unsupported_type};
use super::store::{new_id, now_instant, Stored};
use crate::sandbox::auth::grant::{Access, Grant, Interaction};
use crate::sandbox::auth::util::form_decode;
use crate::sandbox::ui::html::pct as url_encode;
use crate::sandbox::SandboxState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use cloudcgm::smart_scope::{Context, Permission};
use serde_json::{json, Value};
use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;

/// Page size when `_count` is absent.
pub const DEFAULT_COUNT: usize = 50;
/// Largest page served; a bigger `_count` is lowered to it (R4 lets the server return fewer).
pub const MAX_COUNT: usize = 1000;

/// Every search parameter name [`param_kind`] may know, so the CapabilityStatement can list the supported
/// ones by asking `param_kind` (the unit test below keeps this list in step with the index).
pub const KNOWN_PARAMS: [&str; 15] = [
    "_id",
    "identifier",
    "name",
    "family",
    "given",
    "birthdate",
    "gender",
    "code",
    "category",
    "status",
    "intent",
    "patient",
    "subject",
    "date",
    "authored",
];

/// A search the client asked for that cannot be run: answered 400 naming the parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSearch {
    /// `not-supported` for an unknown parameter or modifier, `value` / `invalid` for a bad value.
    pub code: &'static str,
    pub message: String,
}

impl BadSearch {
    fn unsupported(message: impl Into<String>) -> BadSearch {
        BadSearch {
            code: "not-supported",
            message: message.into(),
        }
    }

    fn value(message: impl Into<String>) -> BadSearch {
        BadSearch {
            code: "value",
            message: message.into(),
        }
    }
}

/// One token alternative: `system|code`, `|code` (no system), `code` (any system) or `system|` (any code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Code(String),
    SystemCode(String, String),
    NoSystem(String),
    System(String),
}

/// A date prefix (R4 search §3.1.1.4.6); `ap` is not supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Sa,
    Eb,
}

/// A date alternative: the prefix and the instant range (ms, inclusive) the written value covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTest {
    pub prefix: Prefix,
    pub lo: i64,
    pub hi: i64,
}

/// One search parameter occurrence; its alternatives are ORed, occurrences are ANDed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Ids(Vec<String>),
    /// A reference to Patients (`patient`, `subject`): the resource's compartment, `resources.patient_id`.
    Patients(Vec<String>),
    Token {
        param: String,
        any_of: Vec<Token>,
    },
    /// Lower-cased prefixes.
    Prefix {
        param: String,
        any_of: Vec<String>,
    },
    /// `:exact`: values as written (case and accents count).
    Exact {
        param: String,
        any_of: Vec<String>,
    },
    Date {
        param: String,
        any_of: Vec<DateTest>,
    },
}

/// One `_sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    LastUpdated,
    Id,
    /// A date parameter, by the start of the range it covers.
    Date(String),
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub filters: Vec<Filter>,
    /// Keys with `true` for descending. Empty: `last_updated`, then `id`.
    pub sort: Vec<(SortKey, bool)>,
    pub count: usize,
    pub offset: usize,
    /// The parameters to repeat in paging links (filters and `_sort`, as written).
    pub echo: Vec<(String, String)>,
}

/// Splits a query string or form body into decoded pairs; a malformed escape is a 400.
pub fn parse_pairs(raw: &str) -> Result<Vec<(String, String)>, BadSearch> {
    let mut out = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let key = form_decode(k).ok_or_else(|| {
            BadSearch::value(format!(
                "the parameter name '{k}' is not valid URL encoding"
            ))
        })?;
        let value = form_decode(v).ok_or_else(|| {
            BadSearch::value(format!("the value of '{key}' is not valid URL encoding"))
        })?;
        out.push((key, value));
    }
    Ok(out)
}

/// Splits on an unescaped `sep`, dropping the `\` of `\{sep}` and keeping other escapes for [`unescape`].
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                if next != sep {
                    current.push('\\');
                }
                current.push(next);
            } else {
                current.push('\\');
            }
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next().unwrap_or('\\'));
        } else {
            out.push(c);
        }
    }
    out
}

/// A token value: `system|code`, `|code`, `code` or `system|`.
pub fn parse_token(value: &str) -> Option<Token> {
    let parts = split_escaped(value, '|');
    let token = match parts.as_slice() {
        [code] => Token::Code(unescape(code)),
        [system, code] if system.is_empty() => Token::NoSystem(unescape(code)),
        [system, code] if code.is_empty() => Token::System(unescape(system)),
        [system, code] => Token::SystemCode(unescape(system), unescape(code)),
        _ => return None,
    };
    match &token {
        Token::Code(c) | Token::NoSystem(c) if c.is_empty() => None,
        _ => Some(token),
    }
}

fn is_fhir_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// A Patient reference: `id`, `Patient/id` or an absolute URL ending in `/Patient/id`. The sandbox has no
/// other server's patients, so the origin of an absolute URL is not compared (documented).
fn parse_patient_reference(param: &str, value: &str) -> Result<String, BadSearch> {
    let bad = || {
        BadSearch::value(format!(
            "{param}: '{value}' is not a Patient reference (use id, Patient/id or an absolute URL ending in \
             Patient/id)"
        ))
    };
    let id = if is_fhir_id(value) {
        value
    } else if let Some(id) = value.strip_prefix("Patient/") {
        id
    } else if value.starts_with("http://") || value.starts_with("https://") {
        let (before, id) = value.rsplit_once("/Patient/").ok_or_else(bad)?;
        if before.ends_with(':') || before.ends_with('/') {
            return Err(bad());
        }
        id
    } else {
        return Err(bad());
    };
    if is_fhir_id(id) {
        Ok(id.to_string())
    } else {
        Err(bad())
    }
}

fn parse_date(param: &str, value: &str) -> Result<DateTest, BadSearch> {
    let (prefix, rest) = match value.get(..2) {
        Some(p) if p.bytes().all(|b| b.is_ascii_lowercase()) => {
            let prefix = match p {
                "eq" => Prefix::Eq,
                "ne" => Prefix::Ne,
                "lt" => Prefix::Lt,
                "le" => Prefix::Le,
                "gt" => Prefix::Gt,
                "ge" => Prefix::Ge,
                "sa" => Prefix::Sa,
                "eb" => Prefix::Eb,
                other => {
                    return Err(BadSearch::unsupported(format!(
                        "{param}: the prefix '{other}' is not supported (use eq, ne, lt, le, gt, ge, sa or eb)"
                    )))
                }
            };
            (prefix, &value[2..])
        }
        _ => (Prefix::Eq, value),
    };
    // An unencoded `+` of a zone offset arrives as a space (form decoding); put it back.
    let rest = rest.trim_end().replace(' ', "+");
    let (lo, hi) = date_range(&rest).ok_or_else(|| {
        BadSearch::value(format!(
            "{param}: '{value}' is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with a zone)"
        ))
    })?;
    Ok(DateTest { prefix, lo, hi })
}

fn parse_count(name: &str, value: &str) -> Result<usize, BadSearch> {
    value.trim().parse::<usize>().map_err(|_| {
        BadSearch::value(format!(
            "{name} must be a whole number of 0 or more, not '{value}'"
        ))
    })
}

fn parse_sort(resource_type: &str, value: &str) -> Result<Vec<(SortKey, bool)>, BadSearch> {
    let mut keys = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (desc, name) = match item.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, item),
        };
        let key = match name {
            "_lastUpdated" => SortKey::LastUpdated,
            "_id" => SortKey::Id,
            p if param_kind(resource_type, p) == Some(ParamKind::Date) => {
                SortKey::Date(p.to_string())
            }
            _ => {
                return Err(BadSearch::unsupported(format!(
                    "_sort: {resource_type} cannot be sorted by '{name}' (use _lastUpdated, _id{})",
                    date_params(resource_type)
                        .iter()
                        .map(|p| format!(" or {p}"))
                        .collect::<String>()
                )))
            }
        };
        keys.push((key, desc));
    }
    Ok(keys)
}

fn date_params(resource_type: &str) -> Vec<&'static str> {
    KNOWN_PARAMS
        .into_iter()
        .filter(|p| param_kind(resource_type, p) == Some(ParamKind::Date))
        .collect()
}

/// Whether `_format` asks for JSON (the only format served). A `+` sent unencoded arrives as a space.
pub fn is_json_format(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "json" | "application/json" | "application/fhir+json" | "application/fhir json"
    )
}

/// Parses the search parameters of a search on `resource_type` (a served type).
pub fn parse_search(
    resource_type: &str,
    pairs: &[(String, String)],
) -> Result<SearchRequest, BadSearch> {
    let mut request = SearchRequest {
        filters: Vec::new(),
        sort: Vec::new(),
        count: DEFAULT_COUNT,
        offset: 0,
        echo: Vec::new(),
    };
    let mut seen_control: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        let (param, modifier) = match name.split_once(':') {
            Some((p, m)) => (p, Some(m)),
            None => (name.as_str(), None),
        };
        match param {
            "_format" | "_count" | "_offset" | "_sort" => {
                if modifier.is_some() {
                    return Err(BadSearch::unsupported(format!("{param} takes no modifier")));
                }
                if seen_control.contains(&param) {
                    return Err(BadSearch::value(format!("{param} is given more than once")));
                }
                seen_control.push(param);
                match param {
                    // Checked by `check_format` (406 for anything but JSON).
                    "_format" => {}
                    "_count" => request.count = parse_count(param, value)?.min(MAX_COUNT),
                    "_offset" => request.offset = parse_count(param, value)?,
                    _ => {
                        request.sort = parse_sort(resource_type, value)?;
                        request.echo.push((name.clone(), value.clone()));
                    }
                }
                continue;
            }
            _ => {}
        }
        let Some(kind) = param_kind(resource_type, param) else {
            return Err(BadSearch::unsupported(format!(
                "the search parameter '{param}' is not supported on {resource_type} (the supported ones are \
                 listed in /metadata)"
            )));
        };
        let modifier_ok = matches!(
            (kind, modifier),
            (_, None)
                | (ParamKind::String, Some("exact"))
                | (ParamKind::Reference, Some("Patient"))
        );
        if !modifier_ok {
            return Err(BadSearch::unsupported(format!(
                "the modifier ':{}' is not supported on the {resource_type} search parameter '{param}'",
                modifier.unwrap_or_default()
            )));
        }
        // R4 search §3.1.1.1: a parameter with an empty value is ignored.
        if value.is_empty() {
            continue;
        }
        // Alternatives keep their `\` escapes here; each kind removes them as it parses.
        let alternatives = value_alternatives(value);
        let filter = match kind {
            _ if param == "_id" => {
                let ids: Vec<String> = alternatives.iter().map(|a| unescape(a)).collect();
                if let Some(bad) = ids.iter().find(|id| !is_fhir_id(id)) {
                    return Err(BadSearch::value(format!("_id: '{bad}' is not a FHIR id")));
                }
                Filter::Ids(ids)
            }
            ParamKind::Token => Filter::Token {
                param: param.to_string(),
                any_of: alternatives
                    .iter()
                    .map(|a| {
                        parse_token(a).ok_or_else(|| {
                            BadSearch::value(format!(
                                "{param}: '{a}' is not a token (use system|code, |code, code or system|)"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            },
            ParamKind::String if modifier == Some("exact") => Filter::Exact {
                param: param.to_string(),
                any_of: alternatives.iter().map(|a| unescape(a)).collect(),
            },
            ParamKind::String => Filter::Prefix {
                param: param.to_string(),
                any_of: alternatives
                    .iter()
                    .map(|a| normalize_string(&unescape(a)))
                    .collect(),
            },
            ParamKind::Reference => Filter::Patients(
                alternatives
                    .iter()
                    .map(|a| parse_patient_reference(param, &unescape(a)))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            ParamKind::Date => Filter::Date {
                param: param.to_string(),
                any_of: alternatives
                    .iter()
                    .map(|a| parse_date(param, &unescape(a)))
                    .collect::<Result<Vec<_>, _>>()?,
            },
        };
        request.filters.push(filter);
        request.echo.push((name.clone(), value.clone()));
    }
    Ok(request)
}

/// The comma-separated alternatives of a token value with `\,` kept escaped for the token parser.
fn value_alternatives(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    parts
}

// ---------------------------------------------------------------------------------------------------------
// What the token may see

/// One granted scope as a search restriction: a compartment (or none) and `category` / `code` constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeView {
    pub patient: Option<String>,
    pub constraints: Vec<(String, Token)>,
}

/// What a search may return, per the token: `None` when some scope sees every resource of the type, else the
/// scopes whose union is visible (empty: nothing). This is the SQL form of `Grant::access_to` for the search
/// permission (the same constraint rules: `category` / `code` tokens, any other constraint matches nothing),
/// so `total` and paging stay exact; each returned resource is still checked with `access_to` afterwards.
pub fn visibility(grant: &Grant, resource_type: &str) -> Option<Vec<ScopeView>> {
    let mut views = Vec::new();
    'scopes: for scope in grant.scopes.matching(Permission::Search, resource_type) {
        let patient = match scope.context {
            // Practitioners are in no patient compartment: a patient/ scope reads them all (documented).
            Context::Patient if resource_type == "Practitioner" => match grant.patient {
                Some(_) => None,
                None => continue,
            },
            Context::Patient => match &grant.patient {
                Some(p) => Some(p.clone()),
                None => continue,
            },
            Context::User | Context::System => None,
        };
        let mut constraints = Vec::new();
        for (name, value) in &scope.constraints {
            match (name.as_str(), parse_token(value)) {
                ("category" | "code", Some(token)) => constraints.push((name.clone(), token)),
                _ => continue 'scopes,
            }
        }
        if patient.is_none() && constraints.is_empty() {
            return None;
        }
        views.push(ScopeView {
            patient,
            constraints,
        });
    }
    Some(views)
}

// ---------------------------------------------------------------------------------------------------------
// SQL

fn push_list<'a>(qb: &mut QueryBuilder<'a, Sqlite>, values: &[String]) {
    qb.push("(");
    let mut sep = qb.separated(", ");
    for v in values {
        sep.push_bind(v.clone());
    }
    sep.push_unseparated(")");
}

fn push_token(qb: &mut QueryBuilder<'_, Sqlite>, token: &Token) {
    match token {
        Token::Code(code) => {
            qb.push("value = ").push_bind(code.clone());
        }
        Token::SystemCode(system, code) => {
            qb.push("(value = ")
                .push_bind(code.clone())
                .push(" AND system = ")
                .push_bind(system.clone())
                .push(")");
        }
        Token::NoSystem(code) => {
            qb.push("(value = ")
                .push_bind(code.clone())
                .push(" AND system IS NULL)");
        }
        Token::System(system) => {
            qb.push("system = ").push_bind(system.clone());
        }
    }
}

/// `r.id IN (ids of this type whose `param` row satisfies one of the alternatives)`.
fn push_index_match<T>(
    qb: &mut QueryBuilder<'_, Sqlite>,
    resource_type: &str,
    param: &str,
    alternatives: &[T],
    push_one: impl Fn(&mut QueryBuilder<'_, Sqlite>, &T),
) {
    qb.push("r.id IN (SELECT id FROM search_index WHERE type = ")
        .push_bind(resource_type.to_string())
        .push(" AND param = ")
        .push_bind(param.to_string())
        .push(" AND (");
    for (i, alt) in alternatives.iter().enumerate() {
        if i > 0 {
            qb.push(" OR ");
        }
        push_one(qb, alt);
    }
    qb.push("))");
}

fn push_date(qb: &mut QueryBuilder<'_, Sqlite>, t: &DateTest) {
    // Search range [lo, hi] against the resource's range [lo_ms, hi_ms] (R4 search §3.1.1.4.6 on ranges).
    match t.prefix {
        Prefix::Eq => {
            qb.push("(lo_ms >= ")
                .push_bind(t.lo)
                .push(" AND hi_ms <= ")
                .push_bind(t.hi)
                .push(")");
        }
        Prefix::Ne => {
            qb.push("(lo_ms < ")
                .push_bind(t.lo)
                .push(" OR hi_ms > ")
                .push_bind(t.hi)
                .push(")");
        }
        Prefix::Lt => {
            qb.push("lo_ms < ").push_bind(t.lo);
        }
        Prefix::Le => {
            qb.push("lo_ms <= ").push_bind(t.hi);
        }
        Prefix::Gt => {
            qb.push("hi_ms > ").push_bind(t.hi);
        }
        Prefix::Ge => {
            qb.push("hi_ms >= ").push_bind(t.lo);
        }
        Prefix::Sa => {
            qb.push("lo_ms > ").push_bind(t.hi);
        }
        Prefix::Eb => {
            qb.push("hi_ms < ").push_bind(t.lo);
        }
    }
}

/// Where in a name the `:exact` value may sit, as a condition on `json_tree` rows under `$.name`.
fn exact_name_keys(param: &str) -> &'static str {
    match param {
        "family" => "t.key = 'family'",
        "given" => "(t.key = 'given' OR t.path LIKE '%.given')",
        _ => "(t.key IN ('family', 'given', 'text') OR t.path LIKE '%.given')",
    }
}

fn push_filter(qb: &mut QueryBuilder<'_, Sqlite>, resource_type: &str, filter: &Filter) {
    match filter {
        Filter::Ids(ids) => {
            qb.push("r.id IN ");
            push_list(qb, ids);
        }
        Filter::Patients(ids) => {
            // The index's patient/subject rows are exactly `patient_of`, which is the `patient_id` column.
            qb.push("r.patient_id IN ");
            push_list(qb, ids);
        }
        Filter::Token { param, any_of } => {
            push_index_match(qb, resource_type, param, any_of, push_token);
        }
        Filter::Prefix { param, any_of } => {
            // A prefix as a range, so the (type, param, value) index serves it; U+10FFFF sorts after any
            // character that can follow the prefix.
            push_index_match(qb, resource_type, param, any_of, |qb, prefix| {
                qb.push("(value >= ")
                    .push_bind(prefix.clone())
                    .push(" AND value < ")
                    .push_bind(format!("{prefix}\u{10FFFF}"))
                    .push(")");
            });
        }
        Filter::Exact { param, any_of } => {
            // The index narrows case-insensitively; the body decides case and accents.
            let lowered: Vec<String> = any_of.iter().map(|v| normalize_string(v)).collect();
            push_index_match(qb, resource_type, param, &lowered, |qb, v| {
                qb.push("value = ").push_bind(v.clone());
            });
            qb.push(" AND EXISTS (SELECT 1 FROM json_tree(r.body, '$.name') t WHERE t.type = 'text' AND ")
                .push(exact_name_keys(param))
                .push(" AND t.atom IN ");
            push_list(qb, any_of);
            qb.push(")");
        }
        Filter::Date { param, any_of } => {
            push_index_match(qb, resource_type, param, any_of, push_date);
        }
    }
}

fn push_view(qb: &mut QueryBuilder<'_, Sqlite>, resource_type: &str, view: &ScopeView) {
    qb.push("(1");
    if let Some(p) = &view.patient {
        if resource_type == "Patient" {
            qb.push(" AND r.id = ").push_bind(p.clone());
        } else {
            qb.push(" AND r.patient_id = ").push_bind(p.clone());
        }
    }
    for (name, token) in &view.constraints {
        qb.push(" AND ");
        push_index_match(
            qb,
            resource_type,
            name,
            std::slice::from_ref(token),
            push_token,
        );
    }
    qb.push(")");
}

fn push_where(
    qb: &mut QueryBuilder<'_, Sqlite>,
    resource_type: &str,
    request: &SearchRequest,
    views: Option<&[ScopeView]>,
) {
    qb.push(" WHERE r.type = ")
        .push_bind(resource_type.to_string());
    for filter in &request.filters {
        qb.push(" AND ");
        push_filter(qb, resource_type, filter);
    }
    if let Some(views) = views {
        if views.is_empty() {
            qb.push(" AND 0");
        } else {
            qb.push(" AND (");
            for (i, view) in views.iter().enumerate() {
                if i > 0 {
                    qb.push(" OR ");
                }
                push_view(qb, resource_type, view);
            }
            qb.push(")");
        }
    }
}

fn push_order(qb: &mut QueryBuilder<'_, Sqlite>, resource_type: &str, sort: &[(SortKey, bool)]) {
    qb.push(" ORDER BY ");
    for (key, desc) in sort {
        match key {
            SortKey::LastUpdated => {
                qb.push("r.last_updated");
            }
            SortKey::Id => {
                qb.push("r.id");
            }
            SortKey::Date(param) => {
                // Pinned to the (type, id, param, lo_ms) index of migration 0003: one seek per resource.
                qb.push(
                    "(SELECT MIN(s.lo_ms) FROM search_index s INDEXED BY search_index_by_resource_param \
                     WHERE s.type = ",
                )
                    .push_bind(resource_type.to_string())
                    .push(" AND s.id = r.id AND s.param = ")
                    .push_bind(param.clone())
                    .push(")");
            }
        }
        qb.push(if *desc { " DESC, " } else { " ASC, " });
    }
    // Ties (and the default order) are broken stably, so pages never overlap or skip. Ids increase in creation
    // order (store::new_id), so resources written in the same millisecond follow `-_lastUpdated` too.
    let newest_first = sort
        .iter()
        .any(|(key, desc)| matches!(key, SortKey::LastUpdated) && *desc);
    qb.push(if newest_first {
        "r.id DESC"
    } else {
        "r.last_updated ASC, r.id ASC"
    });
}

/// The matching resources' total and the requested page, in order.
pub async fn run(
    state: &SandboxState,
    resource_type: &str,
    request: &SearchRequest,
    views: Option<&[ScopeView]>,
) -> Result<(i64, Vec<Stored>), sqlx::Error> {
    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM resources r");
    push_where(&mut count, resource_type, request, views);
    let total: i64 = count
        .build_query_scalar::<i64>()
        .fetch_one(&state.db)
        .await?;
    if request.count == 0 || request.offset as i64 >= total {
        return Ok((total, Vec::new()));
    }
    // Ids first, bodies second: the sort then moves ids, not whole resources.
    let mut page = QueryBuilder::<Sqlite>::new("SELECT r.id FROM resources r");
    push_where(&mut page, resource_type, request, views);
    push_order(&mut page, resource_type, &request.sort);
    page.push(" LIMIT ")
        .push_bind(request.count as i64)
        .push(" OFFSET ")
        .push_bind(request.offset as i64);
    let ids: Vec<String> = page
        .build_query_scalar::<String>()
        .fetch_all(&state.db)
        .await?;
    if ids.is_empty() {
        return Ok((total, Vec::new()));
    }
    let mut bodies = QueryBuilder::<Sqlite>::new(
        "SELECT id, version, last_updated, body FROM resources WHERE type = ",
    );
    bodies
        .push_bind(resource_type.to_string())
        .push(" AND id IN ");
    push_list(&mut bodies, &ids);
    let rows: Vec<(String, i64, String, String)> = bodies
        .build_query_as::<(String, i64, String, String)>()
        .fetch_all(&state.db)
        .await?;
    let mut by_id: HashMap<String, (i64, String, String)> = rows
        .into_iter()
        .map(|(id, version, last_updated, body)| (id, (version, last_updated, body)))
        .collect();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        // A resource replaced between the two queries is served as it is now; one deleted is left out.
        let Some((version, last_updated, body)) = by_id.remove(&id) else {
            continue;
        };
        let body: Value =
            serde_json::from_str(&body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        out.push(Stored {
            resource_type: resource_type.to_string(),
            id,
            version,
            last_updated,
            body,
        });
    }
    Ok((total, out))
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

fn page_url(
    fhir_base: &str,
    resource_type: &str,
    echo: &[(String, String)],
    count: usize,
    offset: usize,
) -> String {
    let mut url = format!("{fhir_base}/{resource_type}?");
    for (k, v) in echo {
        url.push_str(&url_encode(k));
        url.push('=');
        url.push_str(&url_encode(v));
        url.push('&');
    }
    url.push_str(&format!("_count={count}&_offset={offset}"));
    url
}

/// The `searchset` Bundle for one page.
pub fn searchset(
    fhir_base: &str,
    resource_type: &str,
    request: &SearchRequest,
    total: i64,
    page: &[Stored],
) -> Value {
    let (count, offset) = (request.count, request.offset);
    let mut links = vec![json!({"relation": "self",
        "url": page_url(fhir_base, resource_type, &request.echo, count, offset)})];
    if count > 0 && ((offset + count) as i64) < total {
        links.push(json!({"relation": "next",
            "url": page_url(fhir_base, resource_type, &request.echo, count, offset + count)}));
    }
    if count > 0 && offset > 0 {
        links.push(json!({"relation": "previous",
            "url": page_url(fhir_base, resource_type, &request.echo, count, offset.saturating_sub(count))}));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": {"lastUpdated": now_instant()},
        "type": "searchset",
        "total": total,
        "link": links,
    });
    if !page.is_empty() {
        let entries: Vec<Value> = page
            .iter()
            .map(|s| {
                json!({
                    "fullUrl": format!("{fhir_base}/{}/{}", s.resource_type, s.id),
                    "resource": s.body,
                    "search": {"mode": "match"},
                })
            })
            .collect();
        bundle["entry"] = Value::Array(entries);
    }
    bundle
}

/// `GET /fhir/{type}?…`
pub async fn search_get(
    State(state): State<SandboxState>,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let pairs = match parse_pairs(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(bad) => return bad_request(&bad),
    };
    search(&state, &headers, &resource_type, pairs).await
}

/// `POST /fhir/{type}/_search` with an `application/x-www-form-urlencoded` body (parameters in the URL
/// count too, R4 search §3.1.1.0.2).
pub async fn search_post(
    State(state): State<SandboxState>,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "POST _search takes an application/x-www-form-urlencoded body",
        );
    }
    let Ok(body) = std::str::from_utf8(&body) else {
        return bad_request(&BadSearch::value("the form body is not UTF-8"));
    };
    let mut pairs = match parse_pairs(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(bad) => return bad_request(&bad),
    };
    match parse_pairs(body) {
        Ok(more) => pairs.extend(more),
        Err(bad) => return bad_request(&bad),
    }
    search(&state, &headers, &resource_type, pairs).await
}

fn bad_request(bad: &BadSearch) -> Response {
    error(StatusCode::BAD_REQUEST, bad.code, bad.message.clone())
}

async fn search(
    state: &SandboxState,
    headers: &HeaderMap,
    resource_type: &str,
    pairs: Vec<(String, String)>,
) -> Response {
    if !SEARCHABLE_TYPES.contains(&resource_type) {
        return unsupported_type(resource_type);
    }
    let grant = match require_grant(state, headers).await {
        Ok(g) => g,
        Err(response) => return response,
    };
    if grant.access(Interaction::Search, resource_type) == Access::Denied {
        return forbidden(format!(
            "the access token grants no search on {resource_type}: it needs a patient/, user/ or system/ \
             {resource_type} scope with the s (or v1 read) permission, and a patient in context for patient/"
        ));
    }
    if let Err(response) = check_format(&pairs) {
        return *response;
    }
    let request = match parse_search(resource_type, &pairs) {
        Ok(r) => r,
        Err(bad) => return bad_request(&bad),
    };
    let views = visibility(&grant, resource_type);
    let (total, page) = match run(state, resource_type, &request, views.as_deref()).await {
        Ok(found) => found,
        Err(e) => return internal(e),
    };
    let visible: Vec<Stored> = page
        .into_iter()
        .filter(|s| {
            let ok = in_reach(
                &grant.access_to(Interaction::Search, &s.body),
                resource_type,
                &s.body,
            );
            if !ok {
                // The SQL restriction and access_to disagree: never serve it, and say so in the log.
                tracing::warn!(resource_type, id = %s.id, "search result dropped by the scope check");
            }
            ok
        })
        .collect();
    let fhir_base = state.config.fhir_base();
    fhir_json(
        StatusCode::OK,
        &searchset(&fhir_base, resource_type, &request, total, &visible),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::fhir::index::index_rows;
    use cloudcgm::smart_scope::ScopeSet;

    fn pairs(q: &str) -> Vec<(String, String)> {
        parse_pairs(q).expect("pairs")
    }

    fn grant(scopes: &str, patient: Option<&str>) -> Grant {
        Grant {
            client_id: "c".into(),
            scopes: ScopeSet::parse(scopes),
            patient: patient.map(str::to_string),
            fhir_user: None,
        }
    }

    #[test]
    fn token_values_take_the_four_fhir_forms_and_escapes() {
        assert_eq!(
            parse_token("a|b"),
            Some(Token::SystemCode("a".into(), "b".into()))
        );
        assert_eq!(parse_token("|b"), Some(Token::NoSystem("b".into())));
        assert_eq!(parse_token("b"), Some(Token::Code("b".into())));
        assert_eq!(parse_token("a|"), Some(Token::System("a".into())));
        assert_eq!(parse_token(r"x\|y"), Some(Token::Code("x|y".into())));
        assert_eq!(parse_token("a|b|c"), None);
        assert_eq!(parse_token("|"), None);
    }

    #[test]
    fn comma_separated_token_values_are_alternatives_and_escaped_commas_are_not() {
        let r = parse_search("Observation", &pairs(r"code=http://loinc.org|1,2\,3")).unwrap();
        assert_eq!(
            r.filters,
            vec![Filter::Token {
                param: "code".into(),
                any_of: vec![
                    Token::SystemCode("http://loinc.org".into(), "1".into()),
                    Token::Code("2,3".into())
                ]
            }]
        );
    }

    #[test]
    fn patient_references_take_an_id_a_relative_or_an_absolute_reference() {
        for v in ["p1", "Patient/p1", "http://h:1/sandbox/fhir/Patient/p1"] {
            assert_eq!(
                parse_patient_reference("patient", v).as_deref(),
                Ok("p1"),
                "{v}"
            );
        }
        for v in [
            "Group/g1",
            "Patient/p1/_history/2",
            "https://x/Group/1",
            "a b",
        ] {
            assert!(parse_patient_reference("patient", v).is_err(), "{v}");
        }
    }

    #[test]
    fn date_prefixes_and_partial_dates_parse_into_ranges() {
        let t = parse_date("date", "ge2024-05").unwrap();
        assert_eq!(t.prefix, Prefix::Ge);
        assert_eq!((t.lo, t.hi), date_range("2024-05").unwrap());
        assert_eq!(parse_date("date", "2024").unwrap().prefix, Prefix::Eq);
        let plus = parse_date("date", "lt2024-05-02T10:00:00 02:00").unwrap();
        assert_eq!(plus.lo, date_range("2024-05-02T08:00:00Z").unwrap().0);
        assert_eq!(
            parse_date("date", "ap2024").unwrap_err().code,
            "not-supported"
        );
        assert_eq!(parse_date("date", "ge20240501").unwrap_err().code, "value");
    }

    #[test]
    fn unknown_parameters_and_modifiers_are_refused_by_name() {
        let e = parse_search("Observation", &pairs("foo=1")).unwrap_err();
        assert!(e.message.contains("'foo'"), "{}", e.message);
        let e = parse_search("Observation", &pairs("code:text=x")).unwrap_err();
        assert!(e.message.contains(":text"), "{}", e.message);
        let e = parse_search("Patient", &pairs("_sort=date")).unwrap_err();
        assert!(e.message.contains("_sort"), "{}", e.message);
        assert!(parse_search("Patient", &pairs("name:exact=Ada&_format=json")).is_ok());
    }

    #[test]
    fn count_is_capped_and_offset_must_be_a_number() {
        let r = parse_search("Observation", &pairs("_count=5000&_offset=7")).unwrap();
        assert_eq!((r.count, r.offset), (MAX_COUNT, 7));
        assert!(parse_search("Observation", &pairs("_count=-1")).is_err());
        assert!(parse_search("Observation", &pairs("_count=1&_count=2")).is_err());
    }

    #[test]
    fn empty_values_are_ignored() {
        let r = parse_search("Observation", &pairs("code=&patient=")).unwrap();
        assert!(r.filters.is_empty());
    }

    #[test]
    fn a_user_scope_sees_everything_and_a_patient_scope_one_compartment() {
        assert_eq!(
            visibility(&grant("user/Observation.rs", None), "Observation"),
            None
        );
        assert_eq!(
            visibility(&grant("patient/*.rs", Some("p1")), "Observation"),
            Some(vec![ScopeView {
                patient: Some("p1".into()),
                constraints: vec![]
            }])
        );
        assert_eq!(
            visibility(&grant("patient/*.rs", None), "Observation"),
            Some(vec![])
        );
        assert_eq!(
            visibility(&grant("patient/*.rs", Some("p1")), "Practitioner"),
            None,
            "practitioners are in no compartment"
        );
    }

    #[test]
    fn constrained_scopes_become_token_conditions_and_unknown_constraints_see_nothing() {
        let v = visibility(
            &grant(
                "user/Observation.rs?category=laboratory user/Observation.rs?status=final",
                None,
            ),
            "Observation",
        );
        assert_eq!(
            v,
            Some(vec![ScopeView {
                patient: None,
                constraints: vec![("category".into(), Token::Code("laboratory".into()))]
            }])
        );
    }

    #[test]
    fn every_indexed_parameter_is_a_known_parameter() {
        let resources = [
            (
                "Patient",
                json!({"resourceType": "Patient", "id": "p", "identifier": [{"value": "1"}],
                "name": [{"family": "F", "given": ["G"], "text": "T"}], "gender": "female", "birthDate": "2000"}),
            ),
            (
                "Practitioner",
                json!({"resourceType": "Practitioner", "id": "d", "identifier": [{"value": "1"}],
                "name": [{"family": "F", "given": ["G"]}]}),
            ),
            (
                "Observation",
                json!({"resourceType": "Observation", "id": "o", "status": "final",
                "identifier": [{"value": "1"}], "category": [{"coding": [{"code": "laboratory"}]}],
                "code": {"coding": [{"code": "x"}]}, "subject": {"reference": "Patient/p"},
                "effectiveDateTime": "2024"}),
            ),
            (
                "ServiceRequest",
                json!({"resourceType": "ServiceRequest", "id": "s", "status": "active",
                "intent": "order", "code": {"coding": [{"code": "x"}]}, "subject": {"reference": "Patient/p"},
                "authoredOn": "2024"}),
            ),
            (
                "Device",
                json!({"resourceType": "Device", "id": "d", "status": "active",
                "patient": {"reference": "Patient/p"}}),
            ),
        ];
        for (ty, r) in resources {
            for row in index_rows(ty, &r) {
                assert!(KNOWN_PARAMS.contains(&row.param), "{ty}.{}", row.param);
            }
        }
        for ty in SEARCHABLE_TYPES {
            assert_eq!(param_kind(ty, "_id"), Some(ParamKind::Token));
        }
    }
}
