//! Applying a planned `$submit-cgm-bundle` to the store: the receiver's own decisions on top of the core's
//! plan (which already validated every entry against its profile, VAL-1…10, and resolved references).
//!
//! Per entry, in this order: the patient check (RCV-9, NOTES B3/B4), the scope check (AUTH-2), references to
//! server resources must exist in the same compartment, conditional create on `identifier` (DUP-1, DUP-3,
//! DUP-4), server-side dedup on identifiers (DUP-5, NOTES A3), acceptance groups (NOTES A5) and entries that
//! depend on a rejected entry. Then fresh ids are assigned, every reference inside the Bundle is rewritten to
//! `Type/id`, and everything accepted is written in the caller's transaction (RCV-4, RCV-5). Client ids are
//! never kept; client identifiers always are (DUP-2).

use super::conditional::{dedup_keys, parse_if_none_exist, IdentifierKey, SystemMatch};
use super::store::{self, FhirStoreError};
use crate::sandbox::auth::grant::{Access, Grant, Interaction};
use cloudcgm::fhir::outcome::Issue;
use cloudcgm::fhir::profile::Classification;
use cloudcgm::fhir::submission::{PatientRef, RefTarget, SubmissionPlan, Verdict};
use serde_json::Value;
use sqlx::SqliteConnection;
use std::collections::HashMap;

/// Who is submitting, and for whom.
pub struct Context<'a> {
    pub grant: &'a Grant,
    /// The patient every entry must belong to: the token's, or the single linked patient of a system token
    /// (NOTES B4).
    pub patient: &'a str,
    /// That patient as stored, to recognise a Patient entry by its identifiers.
    pub patient_resource: &'a Value,
    pub fhir_base: &'a str,
}

/// What happened to one entry.
#[derive(Debug, Clone)]
pub struct EntryResult {
    pub status: u16,
    /// `Type/id/_history/v` of the created or matching resource.
    pub location: Option<String>,
    pub version: Option<i64>,
    pub last_modified: Option<String>,
    pub issues: Vec<Issue>,
    pub resource_type: Option<String>,
    pub code: Option<String>,
}

/// The accepted-so-far decision for an entry whose verdict is still Accept.
#[derive(Debug, Clone)]
enum Action {
    /// To be created (id assigned later).
    Pending,
    Create {
        id: String,
    },
    /// Already on the server (conditional create or dedup match), or earlier in this Bundle.
    Match {
        id: String,
        version: i64,
        last_updated: Option<String>,
        note: Issue,
    },
    /// A Patient entry naming the patient in context: processed, never stored (NOTES B3).
    PatientInfo,
}

fn reject(plan: &mut SubmissionPlan, i: usize, status: u16, issue: Issue) {
    let mut issues = vec![issue];
    issues.extend(plan.entries[i].verdict.issues().iter().cloned());
    plan.entries[i].verdict = Verdict::Reject { status, issues };
}

fn at(i: usize, path: &str) -> String {
    format!("Bundle.entry[{i}].resource{path}")
}

/// Applies the plan: decides every entry, writes what is accepted on `conn`, and returns one result per entry
/// in request order.
pub async fn receive(
    conn: &mut SqliteConnection,
    mut plan: SubmissionPlan,
    mut resources: Vec<Option<Value>>,
    ctx: &Context<'_>,
) -> Result<Vec<EntryResult>, FhirStoreError> {
    let n = plan.entries.len();
    let codes: Vec<Option<String>> = resources
        .iter()
        .map(|r| r.as_ref().and_then(first_code))
        .collect();
    absolute_local_references(&mut plan, ctx.fhir_base);
    let mut actions = vec![Action::Pending; n];
    let mut compartments: Vec<Option<String>> = vec![None; n];

    check_patients_and_scopes(&mut plan, &resources, ctx, &mut actions, &mut compartments);
    check_server_references(conn, &mut plan, ctx.patient).await?;
    let lookups =
        conditional_and_dedup(conn, &mut plan, &resources, &compartments, &mut actions).await?;
    settle_groups_and_dependencies(&mut plan, &actions);
    dedup_within_bundle(&plan, &resources, &lookups, &compartments, &mut actions);

    let last_updated = store::now_instant();
    let mut to_insert = Vec::new();
    for i in 0..n {
        if !plan.entries[i].verdict.is_accept() {
            continue;
        }
        if let Action::Create { id } = &actions[i] {
            let Some(mut resource) = resources[i].take() else {
                continue;
            };
            rewrite_references(&plan, i, &actions, ctx.patient, &mut resource);
            to_insert.push((id.clone(), resource));
        }
    }
    store::insert_many(conn, to_insert, &last_updated).await?;

    Ok((0..n)
        .map(|i| {
            let e = &plan.entries[i];
            let (status, location, version, last_modified, issues) = match (&e.verdict, &actions[i]) {
                (Verdict::Reject { status, issues }, _) => (*status, None, None, None, issues.clone()),
                (Verdict::Accept { warnings }, Action::Create { id }) => (
                    201,
                    Some(format!("{}/{id}/_history/1", type_of(&plan, i))),
                    Some(1),
                    Some(last_updated.clone()),
                    warnings.clone(),
                ),
                (Verdict::Accept { warnings }, Action::Match { id, version, last_updated: lu, note }) => {
                    let mut issues = vec![note.clone()];
                    issues.extend(warnings.iter().cloned());
                    (
                        200,
                        Some(format!("{}/{id}/_history/{version}", type_of(&plan, i))),
                        Some(*version),
                        lu.clone().or_else(|| Some(last_updated.clone())),
                        issues,
                    )
                }
                (Verdict::Accept { warnings }, Action::PatientInfo) => {
                    let mut issues = vec![Issue::information(
                        "informational",
                        format!(
                            "Patient entries are never created or updated by a submission; this one is the patient in \
                             context (Patient/{}) and was not stored (NOTES B3)",
                            ctx.patient
                        ),
                    )
                    .at(format!("Bundle.entry[{i}]"))];
                    issues.extend(warnings.iter().cloned());
                    (200, None, None, None, issues)
                }
                (Verdict::Accept { .. }, Action::Pending) => (
                    500,
                    None,
                    None,
                    None,
                    vec![Issue::error("exception", "the entry was not processed")],
                ),
            };
            EntryResult {
                status,
                location,
                version,
                last_modified,
                issues,
                resource_type: e.resource_type.clone(),
                code: codes[i].clone(),
            }
        })
        .collect())
}

fn type_of(plan: &SubmissionPlan, i: usize) -> &str {
    plan.entries[i]
        .resource_type
        .as_deref()
        .unwrap_or("Resource")
}

fn first_code(resource: &Value) -> Option<String> {
    resource
        .pointer("/code/coding/0/code")
        .and_then(Value::as_str)
        .map(String::from)
}

/// Absolute references to this server (`{base}/Patient/x`) are server references like `Patient/x`.
fn absolute_local_references(plan: &mut SubmissionPlan, fhir_base: &str) {
    let prefix = format!("{fhir_base}/");
    let local = |url: &str| -> Option<(String, String)> {
        let rest = url.strip_prefix(&prefix)?;
        let (t, id) = rest.split_once('/')?;
        let ok = t.bytes().all(|b| b.is_ascii_alphabetic())
            && !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        ok.then(|| (t.to_string(), id.to_string()))
    };
    for e in &mut plan.entries {
        for site in &mut e.references {
            if let RefTarget::External(url) = &site.target {
                if let Some((resource_type, id)) = local(url) {
                    site.target = RefTarget::Server { resource_type, id };
                }
            }
        }
        if let Some(PatientRef::Unresolvable(r)) = &e.patient {
            if let Some((t, id)) = local(r) {
                if t == "Patient" {
                    e.patient = Some(PatientRef::Server(id));
                }
            }
        }
    }
}

/// Whether a Patient entry is the patient in context: same id (or fullUrl), or a shared identifier.
fn patient_entry_matches(full_url: Option<&str>, resource: &Value, ctx: &Context<'_>) -> bool {
    let same_id = resource.get("id").and_then(Value::as_str) == Some(ctx.patient);
    let same_url =
        full_url.is_some_and(|u| u == format!("{}/Patient/{}", ctx.fhir_base, ctx.patient));
    let ids = |r: &Value| -> Vec<(String, String)> {
        r.get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| {
                Some((
                    i.get("system")?.as_str()?.to_string(),
                    i.get("value")?.as_str()?.to_string(),
                ))
            })
            .collect()
    };
    let known = ids(ctx.patient_resource);
    same_id || same_url || ids(resource).iter().any(|i| known.contains(i))
}

fn check_patients_and_scopes(
    plan: &mut SubmissionPlan,
    resources: &[Option<Value>],
    ctx: &Context<'_>,
    actions: &mut [Action],
    compartments: &mut [Option<String>],
) {
    let n = plan.entries.len();
    let patient_entry_ok: Vec<bool> = (0..n)
        .map(|i| {
            plan.entries[i].classification == Some(Classification::Patient)
                && resources[i].as_ref().is_some_and(|r| {
                    patient_entry_matches(plan.entries[i].full_url.as_deref(), r, ctx)
                })
        })
        .collect();
    let context = format!("Patient/{}", ctx.patient);
    for i in 0..n {
        if !plan.entries[i].verdict.is_accept() {
            continue;
        }
        let Some(resource) = resources[i].as_ref() else {
            continue;
        };
        if plan.entries[i].classification == Some(Classification::Patient) {
            if patient_entry_ok[i] {
                actions[i] = Action::PatientInfo;
            } else {
                reject(
                    plan,
                    i,
                    403,
                    Issue::error(
                        "forbidden",
                        format!("this Patient is not the patient in context ({context}) (RCV-9, NOTES B3)"),
                    )
                    .at(format!("Bundle.entry[{i}].resource")),
                );
            }
            continue;
        }
        let resource_type = type_of(plan, i).to_string();
        let field = if resource_type == "Device" {
            ".patient"
        } else {
            ".subject"
        };
        let compartment = match &plan.entries[i].patient {
            Some(PatientRef::Server(id)) if id == ctx.patient => Ok(Some(ctx.patient.to_string())),
            Some(PatientRef::Entry(j)) if patient_entry_ok[*j] => Ok(Some(ctx.patient.to_string())),
            Some(PatientRef::Missing) if resource_type == "Device" => Ok(None),
            Some(PatientRef::Server(id)) => Err(format!(
                "{resource_type}{field} is Patient/{id}, not the patient in context ({context}) (RCV-9)"
            )),
            Some(PatientRef::Entry(j)) => Err(format!(
                "{resource_type}{field} points at entry {j}, a Patient that is not the patient in context ({context}) (RCV-9)"
            )),
            Some(PatientRef::Missing) | None => Err(format!(
                "{resource_type}{field} must reference the patient in context ({context}) (RCV-9)"
            )),
            Some(PatientRef::Unresolvable(r)) => Err(format!(
                "{resource_type}{field} '{r}' is not a Patient of this server; it must be {context} (RCV-9)"
            )),
        };
        let compartment = match compartment {
            Ok(c) => c,
            Err(message) => {
                reject(
                    plan,
                    i,
                    403,
                    Issue::error("forbidden", message).at(at(i, field)),
                );
                continue;
            }
        };
        let denied = match ctx.grant.access_to(Interaction::Create, resource) {
            Access::All => None,
            Access::Patient(p) if compartment.as_deref() == Some(p.as_str()) => None,
            Access::Patient(_) => Some(format!(
                "a patient/ scope can only create resources in the patient's compartment: set {resource_type}{field} \
                 to {context} (NOTES B5)"
            )),
            Access::Denied => Some(format!(
                "the access token has no scope to create this {resource_type} (scopes: {}); scopes may be limited \
                 by category, e.g. patient/Observation.c?category=laboratory (AUTH-2, NOTES B6)",
                ctx.grant.scopes
            )),
        };
        if let Some(message) = denied {
            reject(
                plan,
                i,
                403,
                Issue::error("forbidden", message).at(at(i, "")),
            );
            continue;
        }
        compartments[i] = compartment;
    }
}

/// `Type/id` references to resources not in the Bundle must name a resource of this server in the patient's
/// compartment (or in none): a submission cannot point at another patient's data.
async fn check_server_references(
    conn: &mut SqliteConnection,
    plan: &mut SubmissionPlan,
    patient: &str,
) -> Result<(), FhirStoreError> {
    let mut known: HashMap<(String, String), Option<Option<String>>> = HashMap::new();
    for i in 0..plan.entries.len() {
        if !plan.entries[i].verdict.is_accept()
            || plan.entries[i].classification == Some(Classification::Patient)
        {
            continue;
        }
        let mut failure = None;
        for site in &plan.entries[i].references {
            let RefTarget::Server { resource_type, id } = &site.target else {
                continue;
            };
            let key = (resource_type.clone(), id.clone());
            if !known.contains_key(&key) {
                let found = store::compartment_of(conn, resource_type, id).await?;
                known.insert(key.clone(), found);
            }
            let pointer = site
                .pointer
                .trim_end_matches("/reference")
                .replace('/', ".");
            match &known[&key] {
                None => {
                    failure = Some((
                        422,
                        Issue::error(
                            "not-found",
                            format!("{resource_type}/{id} does not exist on this server"),
                        )
                        .at(at(i, &pointer)),
                    ));
                }
                Some(Some(owner)) if owner != patient => {
                    failure = Some((
                        403,
                        Issue::error(
                            "forbidden",
                            format!("{resource_type}/{id} belongs to another patient (RCV-9)"),
                        )
                        .at(at(i, &pointer)),
                    ));
                }
                Some(_) => continue,
            }
            break;
        }
        if let Some((status, issue)) = failure {
            reject(plan, i, status, issue);
        }
    }
    Ok(())
}

/// What identifier to look for per entry: the `ifNoneExist` key (conditional create) or the resource's own
/// identifiers (server dedup).
enum Lookup {
    Conditional(IdentifierKey),
    Dedup(Vec<IdentifierKey>),
}

async fn conditional_and_dedup(
    conn: &mut SqliteConnection,
    plan: &mut SubmissionPlan,
    resources: &[Option<Value>],
    compartments: &[Option<String>],
    actions: &mut [Action],
) -> Result<Vec<Option<Lookup>>, FhirStoreError> {
    let n = plan.entries.len();
    let mut lookups: Vec<Option<Lookup>> = (0..n).map(|_| None).collect();
    for i in 0..n {
        if !plan.entries[i].verdict.is_accept() || !matches!(actions[i], Action::Pending) {
            continue;
        }
        let Some(resource) = resources[i].as_ref() else {
            continue;
        };
        lookups[i] = Some(match plan.entries[i].if_none_exist.as_deref() {
            Some(query) => match parse_if_none_exist(query) {
                Ok(key) => Lookup::Conditional(key),
                Err(message) => {
                    reject(
                        plan,
                        i,
                        400,
                        Issue::error("not-supported", format!("{message} (DUP-4)"))
                            .at(format!("Bundle.entry[{i}].request.ifNoneExist")),
                    );
                    continue;
                }
            },
            None => Lookup::Dedup(dedup_keys(resource)),
        });
    }

    // One query per (type, compartment) for all the values involved.
    let mut wanted: HashMap<(String, Option<String>), Vec<&str>> = HashMap::new();
    for i in 0..n {
        let keys: Vec<&IdentifierKey> = match &lookups[i] {
            Some(Lookup::Conditional(k)) => vec![k],
            Some(Lookup::Dedup(ks)) => ks.iter().collect(),
            None => continue,
        };
        let slot = wanted
            .entry((type_of(plan, i).to_string(), compartments[i].clone()))
            .or_default();
        slot.extend(keys.into_iter().map(|k| k.value.as_str()));
    }
    let mut hits: HashMap<(String, Option<String>), HashMap<String, Vec<store::IdentifierHit>>> =
        HashMap::new();
    for ((resource_type, compartment), mut values) in wanted {
        values.sort_unstable();
        values.dedup();
        let found =
            store::identifier_hits(conn, &resource_type, compartment.as_deref(), &values).await?;
        let mut by_value: HashMap<String, Vec<store::IdentifierHit>> = HashMap::new();
        for hit in found {
            by_value.entry(hit.value.clone()).or_default().push(hit);
        }
        hits.insert((resource_type, compartment), by_value);
    }

    for i in 0..n {
        let Some(lookup) = &lookups[i] else {
            continue;
        };
        let by_value = hits.get(&(type_of(plan, i).to_string(), compartments[i].clone()));
        let matching = |key: &IdentifierKey| -> Vec<(String, i64)> {
            let mut ids: Vec<(String, i64)> = by_value
                .and_then(|m| m.get(&key.value))
                .into_iter()
                .flatten()
                .filter(|h| key.matches(h.system.as_deref(), &h.value))
                .map(|h| (h.id.clone(), h.version))
                .collect();
            ids.sort();
            ids.dedup();
            ids
        };
        match lookup {
            Lookup::Conditional(key) => {
                let found = matching(key);
                match found.as_slice() {
                    [] => {}
                    [(id, version)] => {
                        actions[i] = Action::Match {
                            id: id.clone(),
                            version: *version,
                            last_updated: None,
                            note: Issue::information(
                                "informational",
                                format!(
                                    "ifNoneExist {} matched one existing resource, so nothing was created (DUP-3)",
                                    describe(key)
                                ),
                            ),
                        }
                    }
                    more => reject(
                        plan,
                        i,
                        412,
                        Issue::error(
                            "duplicate",
                            format!(
                                "ifNoneExist {} matched {} resources, so the server cannot tell which one this is (DUP-3)",
                                describe(key),
                                more.len()
                            ),
                        )
                        .at(format!("Bundle.entry[{i}].request.ifNoneExist")),
                    ),
                }
            }
            Lookup::Dedup(keys) => {
                if let Some((key, (id, version))) = keys
                    .iter()
                    .find_map(|k| matching(k).into_iter().next().map(|m| (k, m)))
                {
                    actions[i] = Action::Match {
                        id,
                        version,
                        last_updated: None,
                        note: Issue::information(
                            "informational",
                            format!(
                                "a resource with identifier {} is already stored; this duplicate was not stored again \
                                 (DUP-5, docs/sandbox-receiver.md)",
                                describe(key)
                            ),
                        ),
                    };
                }
            }
        }
    }
    Ok(lookups)
}

fn describe(key: &IdentifierKey) -> String {
    match &key.system {
        SystemMatch::Is(s) => format!("{s}|{}", key.value),
        SystemMatch::Absent => format!("|{}", key.value),
        SystemMatch::Any => key.value.clone(),
    }
}

/// Acceptance groups (NOTES A5), and entries to be created that reference a rejected entry: repeated until
/// nothing changes, since each rejection can reject a group and each group a dependent.
fn settle_groups_and_dependencies(plan: &mut SubmissionPlan, actions: &[Action]) {
    loop {
        plan.propagate_group_rejections();
        let mut changed = false;
        for (i, action) in actions.iter().enumerate() {
            if !plan.entries[i].verdict.is_accept() || !matches!(action, Action::Pending) {
                continue;
            }
            let failed = plan.entries[i]
                .references
                .iter()
                .find_map(|site| match site.target {
                    RefTarget::Entry(j) if j != i && !plan.entries[j].verdict.is_accept() => {
                        Some((j, site.pointer.clone()))
                    }
                    _ => None,
                });
            if let Some((j, pointer)) = failed {
                let path = pointer.trim_end_matches("/reference").replace('/', ".");
                reject(
                    plan,
                    i,
                    422,
                    Issue::error(
                        "business-rule",
                        format!("references entry {j}, which was not accepted, so it would point at nothing"),
                    )
                    .at(at(i, &path)),
                );
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// Entries of this Bundle that repeat an earlier entry's identifier match that entry instead of creating a
/// second copy; the rest get fresh ids.
fn dedup_within_bundle(
    plan: &SubmissionPlan,
    resources: &[Option<Value>],
    lookups: &[Option<Lookup>],
    compartments: &[Option<String>],
    actions: &mut [Action],
) {
    type Seen = HashMap<(String, Option<String>, String), Vec<(Option<String>, usize)>>;
    let mut seen: Seen = HashMap::new();
    for i in 0..plan.entries.len() {
        if !plan.entries[i].verdict.is_accept() || !matches!(actions[i], Action::Pending) {
            continue;
        }
        let Some(resource) = resources[i].as_ref() else {
            continue;
        };
        let resource_type = type_of(plan, i).to_string();
        // The keys the database was searched for: the same identity within the Bundle.
        let keys: Vec<&IdentifierKey> = match &lookups[i] {
            Some(Lookup::Conditional(key)) => vec![key],
            Some(Lookup::Dedup(keys)) => keys.iter().collect(),
            None => Vec::new(),
        };
        let earlier = keys.iter().find_map(|k| {
            seen.get(&(
                resource_type.clone(),
                compartments[i].clone(),
                k.value.clone(),
            ))
            .and_then(|list| list.iter().find(|(s, _)| k.matches(s.as_deref(), &k.value)))
            .map(|(_, j)| (k, *j))
        });
        if let Some((key, j)) = earlier {
            if let Action::Create { id } = &actions[j] {
                actions[i] = Action::Match {
                    id: id.clone(),
                    version: 1,
                    last_updated: None,
                    note: Issue::information(
                        "informational",
                        format!(
                            "entry {j} of this Bundle has the same identifier {}; this entry was not stored again (DUP-5)",
                            describe(key)
                        ),
                    ),
                };
                continue;
            }
        }
        actions[i] = Action::Create {
            id: store::new_id(),
        };
        for ident in resource
            .get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(value) = ident.get("value").and_then(Value::as_str) {
                let system = ident
                    .get("system")
                    .and_then(Value::as_str)
                    .map(String::from);
                seen.entry((
                    resource_type.clone(),
                    compartments[i].clone(),
                    value.to_string(),
                ))
                .or_default()
                .push((system, i));
            }
        }
    }
}

/// Points every reference at its stored target: Bundle entries become `Type/{assigned id}`, the Patient entry
/// the patient in context, and absolute references to this server become relative.
fn rewrite_references(
    plan: &SubmissionPlan,
    i: usize,
    actions: &[Action],
    patient: &str,
    resource: &mut Value,
) {
    for site in &plan.entries[i].references {
        let target = match &site.target {
            RefTarget::Entry(j) => match &actions[*j] {
                Action::Create { id } | Action::Match { id, .. } => {
                    format!("{}/{id}", type_of(plan, *j))
                }
                Action::PatientInfo => format!("Patient/{patient}"),
                Action::Pending => continue,
            },
            RefTarget::Server { resource_type, id } => format!("{resource_type}/{id}"),
            _ => continue,
        };
        if let Some(slot) = resource.pointer_mut(&site.pointer) {
            *slot = Value::String(target);
        }
    }
}
