//! Planning of a `$submit-cgm-bundle` request (DIGEST §5, §8, §14; NOTES A1, A2, A5, B1, B3, B7): unwrapping the
//! body, the whole-request checks of VAL-1, a verdict per entry (the allow-list of RCV-9, profile validation, VAL-7
//! for summary panels), resolution of every reference inside the Bundle, and the acceptance groups that keep a
//! summary panel, its members and its PDF report together. Pure: the server applies the plan (authorization,
//! conditional create, storage, id rewriting) and may add rejections of its own before calling
//! [`SubmissionPlan::propagate_group_rejections`] again.
//!
//! Decisions beyond the brief of NOTES A2: a ServiceRequest without a CGM order code is rejected with 422 like a
//! foreign Observation (a submitter has no business creating other orders); an Invalid reference anywhere but in
//! `subject` only warns.

use super::outcome::Issue;
use super::profile::{classify, CgmProfile, Classification};
use super::validate::{validate, FhirDateTime};
use serde_json::Value;
use std::collections::HashMap;

/// The resource types a submission may contain (RCV-9).
pub const ALLOWED_TYPES: [&str; 5] = [
    "Observation",
    "Device",
    "Patient",
    "DiagnosticReport",
    "ServiceRequest",
];

/// A failure of the whole request: the answer is a single OperationOutcome with this HTTP status (NOTES A2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionError {
    /// 400 (not a transaction Bundle) or 422 (a Bundle-level profile failure).
    pub status: u16,
    pub issues: Vec<Issue>,
}

impl SubmissionError {
    fn new(status: u16, issue: Issue) -> SubmissionError {
        SubmissionError {
            status,
            issues: vec![issue],
        }
    }
}

/// What to do with each entry of a submission, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionPlan {
    pub entries: Vec<EntryPlan>,
}

/// The plan for one `Bundle.entry`.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryPlan {
    /// Position in `Bundle.entry`.
    pub index: usize,
    pub full_url: Option<String>,
    pub resource_type: Option<String>,
    /// `None` when the entry has no resource.
    pub classification: Option<Classification>,
    /// `request.ifNoneExist` verbatim (the server decides on conditional create, DUP-3/DUP-4).
    pub if_none_exist: Option<String>,
    pub verdict: Verdict,
    /// Every `reference` string inside the resource, resolved (NOTES B1).
    pub references: Vec<ReferenceSite>,
    /// The target of `subject` (Observation, DiagnosticReport, ServiceRequest) or `patient` (Device); `None` for
    /// other types.
    pub patient: Option<PatientRef>,
    /// Acceptance group (NOTES A5): the smallest entry index of the group; an entry outside any panel group is
    /// its own group.
    pub group: usize,
}

/// Accept (possibly with warnings) or reject with a per-entry HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accept { warnings: Vec<Issue> },
    Reject { status: u16, issues: Vec<Issue> },
}

impl Verdict {
    pub fn is_accept(&self) -> bool {
        matches!(self, Verdict::Accept { .. })
    }

    /// The issues to report in `entry.response.outcome`.
    pub fn issues(&self) -> &[Issue] {
        match self {
            Verdict::Accept { warnings } => warnings,
            Verdict::Reject { issues, .. } => issues,
        }
    }
}

/// One `reference` string inside a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceSite {
    /// RFC 6901 pointer into the resource, e.g. `/hasMember/2/reference`.
    pub pointer: String,
    pub reference: String,
    pub target: RefTarget,
}

/// What a reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefTarget {
    /// Another (or the same) entry of this Bundle.
    Entry(usize),
    /// `Type/id` not in the Bundle: an existing resource on the server.
    Server { resource_type: String, id: String },
    /// `#id`: a contained resource.
    Contained,
    /// An absolute URL (or urn) that is not an entry's fullUrl.
    External(String),
    /// Not a FHIR reference.
    Invalid,
}

/// The patient a resource belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientRef {
    /// A Patient entry of this Bundle.
    Entry(usize),
    /// An existing server Patient, by logical id.
    Server(String),
    /// No `subject`/`patient` reference string.
    Missing,
    /// Anything else: the reference as written.
    Unresolvable(String),
}

impl SubmissionPlan {
    /// Rejects every entry in the same acceptance group as a rejected one, with the same status and an issue
    /// saying which entry failed (NOTES A5). Call again after the server adds its own rejections.
    pub fn propagate_group_rejections(&mut self) {
        let mut cause: HashMap<usize, (usize, u16)> = HashMap::new();
        for e in &self.entries {
            if let Verdict::Reject { status, .. } = &e.verdict {
                if !self.is_propagated(e) {
                    cause.entry(e.group).or_insert((e.index, *status));
                }
            }
        }
        for i in 0..self.entries.len() {
            let group = self.entries[i].group;
            let Some(&(failed, status)) = cause.get(&group) else {
                continue;
            };
            if !self.entries[i].verdict.is_accept() {
                continue;
            }
            let failed_url = self.entries[failed]
                .full_url
                .clone()
                .unwrap_or_else(|| "(no fullUrl)".into());
            let mut issues = vec![Issue::error(
                "processing",
                format!(
                    "not accepted because entry {failed} ({failed_url}) of the same summary group failed: a summary \
                     panel, its members and its PDF report are accepted or rejected together"
                ),
            )
            .at(format!("Bundle.entry[{failed}]"))];
            issues.extend(self.entries[i].verdict.issues().iter().cloned());
            self.entries[i].verdict = Verdict::Reject { status, issues };
        }
    }

    /// Whether an entry was rejected only because another entry of its group was.
    fn is_propagated(&self, entry: &EntryPlan) -> bool {
        match &entry.verdict {
            Verdict::Reject { issues, .. } => issues.first().is_some_and(|i| {
                i.code == "processing"
                    && i.expression.as_deref().is_some_and(|e| {
                        e.starts_with("Bundle.entry[")
                            && e.ends_with(']')
                            && *e != format!("Bundle.entry[{}]", entry.index)
                    })
            }),
            Verdict::Accept { .. } => false,
        }
    }
}

/// Plans a submission: `body` is a Bundle, or a Parameters with exactly one parameter `resource` holding the
/// Bundle (NOTES A1).
pub fn plan_submission(body: &Value) -> Result<SubmissionPlan, SubmissionError> {
    let bundle = unwrap_body(body)?;
    let entries = check_bundle(bundle)?;
    let n = entries.len();

    let full_urls: Vec<Option<&str>> = entries
        .iter()
        .map(|e| e.get("fullUrl").and_then(Value::as_str))
        .collect();
    let mut by_url: HashMap<&str, usize> = HashMap::new();
    for (i, url) in full_urls.iter().enumerate() {
        if let Some(url) = url {
            by_url.insert(url, i);
        }
    }
    let resources: Vec<Option<&Value>> = entries
        .iter()
        .map(|e| e.get("resource").filter(|r| r.is_object()))
        .collect();
    let types: Vec<Option<&str>> = resources
        .iter()
        .map(|r| {
            r.and_then(|r| r.get("resourceType"))
                .and_then(Value::as_str)
        })
        .collect();
    let classifications: Vec<Option<Classification>> =
        resources.iter().map(|r| r.map(classify)).collect();
    let resolver = Resolver {
        by_url: &by_url,
        full_urls: &full_urls,
    };

    let mut plans = Vec::with_capacity(n);
    for (i, entry) in entries.iter().enumerate() {
        let references = resources[i].map_or_else(Vec::new, |r| {
            let mut sites = Vec::new();
            collect_references(r, &mut String::new(), &mut sites);
            sites
                .into_iter()
                .map(|(pointer, reference)| {
                    let target = resolver.resolve(i, &reference);
                    ReferenceSite {
                        pointer,
                        reference,
                        target,
                    }
                })
                .collect()
        });
        let patient = patient_ref(types[i], &references, &types);
        let verdict = entry_verdict(
            i,
            entry,
            resources[i],
            types[i],
            classifications[i].as_ref(),
            &references,
            &classifications,
        );
        plans.push(EntryPlan {
            index: i,
            full_url: full_urls[i].map(str::to_owned),
            resource_type: types[i].map(str::to_owned),
            classification: classifications[i].clone(),
            if_none_exist: entry
                .get("request")
                .and_then(|r| r.get("ifNoneExist"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            verdict,
            references,
            patient,
            group: i,
        });
    }

    let mut groups = UnionFind::new(n);
    for plan in &plans {
        let field = match plan.classification {
            Some(Classification::Profile(CgmProfile::SummaryPanel)) => "/hasMember/",
            Some(Classification::Profile(CgmProfile::SummaryPdf)) => "/result/",
            _ => continue,
        };
        for site in plan
            .references
            .iter()
            .filter(|s| is_element_reference(&s.pointer, field))
        {
            if let RefTarget::Entry(j) = site.target {
                let joins = field == "/hasMember/"
                    || classifications[j]
                        == Some(Classification::Profile(CgmProfile::SummaryPanel));
                if joins && j != plan.index {
                    groups.union(plan.index, j);
                }
            }
        }
    }
    for plan in &mut plans {
        plan.group = groups.smallest(plan.index);
    }

    let mut plan = SubmissionPlan { entries: plans };
    plan.propagate_group_rejections();
    Ok(plan)
}

/// Whether `pointer` is `{field}{k}/reference`, e.g. `/hasMember/3/reference`.
fn is_element_reference(pointer: &str, field: &str) -> bool {
    pointer
        .strip_prefix(field)
        .and_then(|rest| rest.strip_suffix("/reference"))
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

fn unwrap_body(body: &Value) -> Result<&Value, SubmissionError> {
    let bad = |msg: &str| SubmissionError::new(400, Issue::error("invalid", msg));
    match body.get("resourceType").and_then(Value::as_str) {
        Some("Bundle") => Ok(body),
        Some("Parameters") => {
            let params = body
                .get("parameter")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            match params {
                [p] if p.get("name").and_then(Value::as_str) == Some("resource") => {
                    match p.get("resource") {
                        Some(b) if b.get("resourceType").and_then(Value::as_str) == Some("Bundle") => Ok(b),
                        _ => Err(bad("the parameter 'resource' must hold a Bundle")),
                    }
                }
                _ => Err(bad(
                    "a Parameters body must have exactly one parameter, named 'resource', holding the Bundle; \
                     or POST the bare Bundle",
                )),
            }
        }
        Some(other) => Err(bad(&format!(
            "expected a transaction Bundle, got a {other}"
        ))),
        None => Err(bad("expected a FHIR JSON Bundle (no resourceType)")),
    }
}

/// The whole-request rules (VAL-1, `bdl-7`, `bdl-8`); returns the entries.
fn check_bundle(bundle: &Value) -> Result<&[Value], SubmissionError> {
    match bundle.get("type").and_then(Value::as_str) {
        Some("transaction") => {}
        Some(other) => {
            return Err(SubmissionError::new(
                400,
                Issue::error(
                    "invalid",
                    format!("Bundle.type must be 'transaction', not '{other}' (VAL-1)"),
                )
                .at("Bundle.type"),
            ))
        }
        None => {
            return Err(SubmissionError::new(
                400,
                Issue::error("required", "Bundle.type must be 'transaction' (VAL-1)")
                    .at("Bundle.type"),
            ))
        }
    }
    let entries = match bundle.get("entry").and_then(Value::as_array) {
        Some(entries) if !entries.is_empty() => entries.as_slice(),
        _ => {
            return Err(SubmissionError::new(
                400,
                Issue::error("required", "the Bundle has no entries (VAL-1)").at("Bundle.entry"),
            ))
        }
    };
    let mut issues = Vec::new();
    match bundle.get("timestamp") {
        None => issues.push(
            Issue::error("required", "Bundle.timestamp is required (VAL-1)").at("Bundle.timestamp"),
        ),
        Some(t) => {
            if !matches!(
                t.as_str().and_then(FhirDateTime::parse),
                Some(FhirDateTime::Full(_))
            ) {
                issues.push(
                    Issue::error(
                        "value",
                        "Bundle.timestamp must be an instant with seconds and a zone",
                    )
                    .at("Bundle.timestamp"),
                );
            }
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(url) = entry.get("fullUrl").and_then(Value::as_str) else {
            continue;
        };
        if url.contains("/_history/") {
            issues.push(
                Issue::error(
                    "invariant",
                    format!("bdl-8: fullUrl '{url}' must not contain a version (/_history/)"),
                )
                .at(format!("Bundle.entry[{i}].fullUrl")),
            );
        }
        if let Some(first) = seen.insert(url, i) {
            issues.push(
                Issue::error(
                    "invariant",
                    format!("bdl-7: fullUrl '{url}' is also the fullUrl of entry {first}"),
                )
                .at(format!("Bundle.entry[{i}].fullUrl")),
            );
        }
    }
    if issues.is_empty() {
        Ok(entries)
    } else {
        Err(SubmissionError {
            status: 422,
            issues,
        })
    }
}

fn entry_verdict(
    i: usize,
    entry: &Value,
    resource: Option<&Value>,
    resource_type: Option<&str>,
    classification: Option<&Classification>,
    references: &[ReferenceSite],
    classifications: &[Option<Classification>],
) -> Verdict {
    let at = |suffix: &str| format!("Bundle.entry[{i}]{suffix}");
    let reject = |status: u16, issue: Issue| Verdict::Reject {
        status,
        issues: vec![issue],
    };

    let Some(request) = entry.get("request").filter(|r| r.is_object()) else {
        return reject(
            400,
            Issue::error(
                "required",
                "entry.request is required in a transaction (bdl-3)",
            )
            .at(at("")),
        );
    };
    let (Some(resource), Some(resource_type)) = (resource, resource_type) else {
        return reject(
            400,
            Issue::error("required", "entry.resource with a resourceType is required")
                .at(at(".resource")),
        );
    };
    let method = request.get("method").and_then(Value::as_str);
    let Some(method) = method else {
        return reject(
            400,
            Issue::error("required", "request.method is required").at(at(".request.method")),
        );
    };
    let url = request.get("url").and_then(Value::as_str).unwrap_or("");
    let url_type = url.split(['?', '/']).next().unwrap_or("");
    if url_type != resource_type {
        return reject(
            400,
            Issue::error(
                "invalid",
                format!("request.url '{url}' does not name the resource's type {resource_type}"),
            )
            .at(at(".request.url")),
        );
    }
    if method != "POST" {
        return reject(
            405,
            Issue::error(
                "not-supported",
                format!("only POST entries are accepted, not {method} (RCV-9)"),
            )
            .at(at(".request.method")),
        );
    }
    if !ALLOWED_TYPES.contains(&resource_type) {
        return reject(
            403,
            Issue::error(
                "forbidden",
                format!(
                    "{resource_type} is not accepted; allowed: {} (RCV-9)",
                    ALLOWED_TYPES.join(", ")
                ),
            )
            .at(at(".resource")),
        );
    }
    if let Some(query) = request.get("ifNoneExist") {
        match query.as_str() {
            Some(q) if is_query_only(q) => {}
            _ => {
                return reject(
                    400,
                    Issue::error(
                        "invalid",
                        format!(
                            "request.ifNoneExist must be the query part only, e.g. identifier=system|value, not {query}"
                        ),
                    )
                    .at(at(".request.ifNoneExist")),
                )
            }
        }
    }
    let path = at(".resource");
    let mut issues = match classification {
        Some(Classification::Profile(profile)) => validate(*profile, resource, &path),
        Some(Classification::Obsolete(message)) => {
            return reject(422, Issue::error("code-invalid", message.clone()).at(format!("{path}.code")))
        }
        Some(Classification::Patient) => Vec::new(),
        Some(Classification::Other) | None => {
            return reject(
                422,
                Issue::error(
                    "not-supported",
                    format!("this {resource_type} is not a CGM profile: its code routes to none of the IG's profiles"),
                )
                .at(format!("{path}.code")),
            )
        }
    };
    for site in references {
        if site.target == RefTarget::Invalid {
            let subject =
                site.pointer == "/subject/reference" || site.pointer == "/patient/reference";
            let issue = format!("'{}' is not a valid FHIR reference", site.reference);
            let expression = format!("{path}{}", pointer_to_fhirpath(&site.pointer));
            issues.push(if subject {
                Issue::error("invalid", issue).at(expression)
            } else {
                Issue::warning("invalid", issue).at(expression)
            });
        }
    }
    if classification == Some(&Classification::Profile(CgmProfile::SummaryPanel)) {
        panel_members(resource, references, classifications, &path, &mut issues);
    }
    if super::outcome::has_errors(&issues) {
        Verdict::Reject {
            status: 422,
            issues,
        }
    } else {
        Verdict::Accept { warnings: issues }
    }
}

/// VAL-7: every `hasMember` resolves to an entry; by the target's profile, exactly one each of TIR, GMI, CV, days
/// of wear and sensor active %, at most one of each mean, at least 6 in all.
fn panel_members(
    resource: &Value,
    references: &[ReferenceSite],
    classifications: &[Option<Classification>],
    path: &str,
    issues: &mut Vec<Issue>,
) {
    let members = resource
        .get("hasMember")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let mut resolved = 0;
    let mut counts: HashMap<CgmProfile, usize> = HashMap::new();
    for k in 0..members.len() {
        let pointer = format!("/hasMember/{k}/reference");
        let at = format!("{path}.hasMember[{k}]");
        let Some(site) = references.iter().find(|s| s.pointer == pointer) else {
            issues.push(
                Issue::error(
                    "required",
                    "hasMember needs a reference to an entry of this Bundle (VAL-7)",
                )
                .at(at),
            );
            continue;
        };
        match site.target {
            RefTarget::Entry(j) => {
                resolved += 1;
                if let Some(Classification::Profile(p)) = &classifications[j] {
                    *counts.entry(*p).or_default() += 1;
                }
            }
            _ => issues.push(
                Issue::error(
                    "not-found",
                    format!(
                        "hasMember '{}' does not resolve to an entry of this Bundle (VAL-7)",
                        site.reference
                    ),
                )
                .at(format!("{at}.reference")),
            ),
        }
    }
    let at = format!("{path}.hasMember");
    for required in [
        CgmProfile::TimesInRanges,
        CgmProfile::Gmi,
        CgmProfile::CoefficientOfVariation,
        CgmProfile::DaysOfWear,
        CgmProfile::SensorActivePercentage,
    ] {
        let found = counts.get(&required).copied().unwrap_or(0);
        if found != 1 {
            issues.push(
                Issue::error(
                    if found == 0 { "required" } else { "structure" },
                    format!(
                        "the summary panel needs exactly one {} member, found {found} (VAL-7)",
                        required.title()
                    ),
                )
                .at(at.clone()),
            );
        }
    }
    for optional in [CgmProfile::MeanGlucoseMass, CgmProfile::MeanGlucoseMolar] {
        let found = counts.get(&optional).copied().unwrap_or(0);
        if found > 1 {
            issues.push(
                Issue::error(
                    "structure",
                    format!(
                        "the summary panel allows at most one {} member, found {found} (VAL-7)",
                        optional.title()
                    ),
                )
                .at(at.clone()),
            );
        }
    }
    // validate() already reported fewer than 6 references; here only unresolved ones can bring the count down.
    if members.len() >= 6 && resolved < 6 {
        issues.push(
            Issue::error(
                "required",
                format!("the summary panel needs at least 6 members in this Bundle, {resolved} resolve (VAL-7)"),
            )
            .at(at),
        );
    }
}

/// `identifier=system|value`-style: `name=value` pairs joined by `&`, no resource type or `?` (FHIR-48995).
fn is_query_only(q: &str) -> bool {
    !q.is_empty()
        && !q.contains('?')
        && q.split('&').all(|part| {
            part.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
            })
        })
}

/// `/hasMember/2/reference` → `.hasMember[2].reference`.
fn pointer_to_fhirpath(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            out.push('.');
            out.push_str(&token);
        }
    }
    out
}

/// Every object member `reference` holding a string, with its RFC 6901 pointer.
fn collect_references(value: &Value, pointer: &mut String, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                if key == "reference" {
                    if let Value::String(s) = child {
                        out.push((pointer.clone(), s.clone()));
                    }
                } else {
                    collect_references(child, pointer, out);
                }
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (k, child) in items.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&k.to_string());
                collect_references(child, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

struct Resolver<'a> {
    by_url: &'a HashMap<&'a str, usize>,
    full_urls: &'a [Option<&'a str>],
}

impl Resolver<'_> {
    /// NOTES B1, in order: exact fullUrl match; `Type/id` against the referring entry's RESTful fullUrl base;
    /// `Type/id` on the server; `#id` contained; other absolute URLs external.
    fn resolve(&self, from: usize, reference: &str) -> RefTarget {
        if let Some(&j) = self.by_url.get(reference) {
            return RefTarget::Entry(j);
        }
        if reference.starts_with('#') {
            return if reference.len() > 1 {
                RefTarget::Contained
            } else {
                RefTarget::Invalid
            };
        }
        if let Some((resource_type, id)) = relative(reference) {
            let base = self.full_urls[from].and_then(restful_base);
            if let Some(base) = base {
                let candidate = format!("{base}{resource_type}/{id}");
                if let Some(&j) = self.by_url.get(candidate.as_str()) {
                    return RefTarget::Entry(j);
                }
            }
            return RefTarget::Server {
                resource_type: resource_type.to_owned(),
                id: id.to_owned(),
            };
        }
        if is_absolute(reference) {
            return RefTarget::External(reference.to_owned());
        }
        RefTarget::Invalid
    }
}

/// `Type/id` or `Type/id/_history/vid` → (Type, id).
fn relative(reference: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = reference.split('/').collect();
    let (resource_type, id) = match parts.as_slice() {
        [t, id] => (*t, *id),
        [t, id, "_history", v] if is_id(v) => (*t, *id),
        _ => return None,
    };
    let type_ok = resource_type.starts_with(|c: char| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphanumeric());
    (type_ok && is_id(id)).then_some((resource_type, id))
}

/// FHIR `id`: 1–64 of `[A-Za-z0-9-.]`.
fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// The base of a RESTful absolute fullUrl (`https://x/fhir/Observation/1` → `https://x/fhir/`).
fn restful_base(full_url: &str) -> Option<&str> {
    if !(full_url.starts_with("http://") || full_url.starts_with("https://")) {
        return None;
    }
    let mut cut = full_url.rsplitn(3, '/');
    let id = cut.next()?;
    let resource_type = cut.next()?;
    let rest = cut.next()?;
    relative(&format!("{resource_type}/{id}"))?;
    Some(&full_url[..rest.len() + 1])
}

fn is_absolute(reference: &str) -> bool {
    if reference.starts_with("urn:uuid:") || reference.starts_with("urn:oid:") {
        return reference.len() > 9 && !reference.contains(char::is_whitespace);
    }
    match reference.split_once("://") {
        Some((scheme, rest)) => {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
                && !reference.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn patient_ref(
    resource_type: Option<&str>,
    references: &[ReferenceSite],
    types: &[Option<&str>],
) -> Option<PatientRef> {
    let pointer = match resource_type? {
        "Observation" | "DiagnosticReport" | "ServiceRequest" => "/subject/reference",
        "Device" => "/patient/reference",
        _ => return None,
    };
    let Some(site) = references.iter().find(|s| s.pointer == pointer) else {
        return Some(PatientRef::Missing);
    };
    Some(match &site.target {
        RefTarget::Entry(j) if types[*j] == Some("Patient") => PatientRef::Entry(*j),
        RefTarget::Server { resource_type, id } if resource_type == "Patient" => {
            PatientRef::Server(id.clone())
        }
        _ => PatientRef::Unresolvable(site.reference.clone()),
    })
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind((0..n).collect())
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    /// Keeps the smaller root, so a group's root is its smallest index.
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.0[hi] = lo;
    }

    fn smallest(&mut self, i: usize) -> usize {
        self.find(i)
    }
}
