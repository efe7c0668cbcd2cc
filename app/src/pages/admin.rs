//! Practice administration inside an EHR launch (`/ehr/:ctx/admin`, admins only; the server checks the role
//! on every call): every link of the practice with who linked it and when, unlinking with a reason, linking
//! from the console by EHR patient search plus the patient's sharing code, connections that need a new
//! launch, and the audit log with its CSV export.

use crate::api::{admin_overview, AdminLink, AdminSearchPatients, AdminUnlink};
use crate::components::error_box::{error_message, ErrorBox};
use crate::views::AdminView;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

#[component]
pub fn AdminPage() -> impl IntoView {
    let params = use_params_map();
    let ctx = move || params.read().get("ctx").unwrap_or_default();
    let unlink = ServerAction::<AdminUnlink>::new();
    let link = ServerAction::<AdminLink>::new();
    let overview = Resource::new(
        move || (ctx(), unlink.version().get(), link.version().get()),
        |(ctx, _, _)| admin_overview(ctx),
    );
    view! {
        <p class="no-print"><a href=move || format!("/ehr/{}", ctx())>"← Back to the patient"</a></p>
        <Suspense fallback=|| view! { <p class="loading">"Loading the practice…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(v) => view! { <AdminBody ctx=ctx() view=v unlink link/> }.into_any(),
                    Err(e) => view! {
                        <ErrorBox title="Practice administration is not available" message=error_message(&e)/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AdminBody(
    ctx: String,
    view: AdminView,
    unlink: ServerAction<AdminUnlink>,
    link: ServerAction<AdminLink>,
) -> impl IntoView {
    let csv = format!("/ehr/{ctx}/admin/audit.csv");
    let rows = view
        .links
        .clone()
        .into_iter()
        .map(|l| {
            let ctx = ctx.clone();
            view! {
                <tr data-testid="link-row">
                    <td>{l.ehr_patient_id.clone()}</td>
                    <td>{format!("{} (born {})", l.patient_name, l.patient_birth_date)}</td>
                    <td>{l.linked_by.clone()}</td>
                    <td>{l.linked_at.clone()}</td>
                    <td>{l.mismatch_reason.clone().unwrap_or_default()}</td>
                    <td>{l.last_submission.clone().unwrap_or_else(|| "—".into())}</td>
                    <td>
                        <ActionForm action=unlink attr:class="unlink-form">
                            <input type="hidden" name="ctx" value=ctx/>
                            <input type="hidden" name="link_id" value=l.id.to_string()/>
                            <input name="reason" required minlength="5" placeholder="Reason" aria-label="Reason for unlinking"/>
                            <button type="submit" class="btn">"Unlink"</button>
                        </ActionForm>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let audit = view
        .audit
        .clone()
        .into_iter()
        .map(|a| {
            view! {
                <tr>
                    <td>{a.at.clone()}</td>
                    <td>{a.actor.clone()}</td>
                    <td data-testid="audit-action">{a.action.clone()}</td>
                    <td>{a.ehr_patient_id.clone().unwrap_or_default()}</td>
                    <td>{a.patient_id.map(|p| p.to_string()).unwrap_or_default()}</td>
                    <td>{a.source_ip.clone().unwrap_or_default()}</td>
                    <td>{a.detail.clone().unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let relaunch = (!view.needs_relaunch.is_empty()).then(|| {
        view! {
            <div class="warning" role="status">
                <strong>"These connections need a new launch from the EHR: "</strong>
                {view.needs_relaunch.join(", ")}
            </div>
        }
    });
    let problems = (!view.submission_problems.is_empty()).then(|| {
        view! {
            <div class="warning" role="status" data-testid="submission-problems">
                <strong>"Submissions that need attention"</strong>
                <ul>
                    {view.submission_problems.iter().map(|(patient, job)| view! {
                        <li data-testid="submission-problem">
                            {format!("{patient}, {} ({}): {}", job.window, job.contents, job.status_text)}
                        </li>
                    }).collect_view()}
                </ul>
            </div>
        }
        .into_any()
    });
    view! {
        <section class="panel" aria-labelledby="links-h">
            <h1 id="links-h">{format!("{}: linked patients", view.practice)}</h1>
            {relaunch}
            {problems}
            {move || unlink.value().get().and_then(|r| r.err()).map(|e| view! {
                <ErrorBox title="The link was not removed" message=error_message(&e)/>
            })}
            <table class="admin-links">
                <thead><tr>
                    <th scope="col">"EHR patient"</th><th scope="col">"CloudCGM patient"</th>
                    <th scope="col">"Linked by"</th><th scope="col">"Linked"</th><th scope="col">"Mismatch reason"</th>
                    <th scope="col">"Last submission"</th><th scope="col"></th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
        <LinkFromConsole ctx=ctx.clone() link/>
        <section class="panel" aria-labelledby="audit-h">
            <h2 id="audit-h">"Audit log"</h2>
            <p><a href=csv download="cloudcgm-audit.csv" data-testid="audit-csv">"Download the audit log (CSV)"</a></p>
            <table class="audit">
                <thead><tr>
                    <th scope="col">"Time (UTC)"</th><th scope="col">"Who"</th><th scope="col">"What"</th>
                    <th scope="col">"EHR patient"</th><th scope="col">"CloudCGM patient"</th>
                    <th scope="col">"Address"</th><th scope="col">"Detail"</th>
                </tr></thead>
                <tbody>{audit}</tbody>
            </table>
        </section>
    }
}

#[component]
fn LinkFromConsole(ctx: String, link: ServerAction<AdminLink>) -> impl IntoView {
    let search = ServerAction::<AdminSearchPatients>::new();
    let ctx_results = ctx.clone();
    view! {
        <section class="panel" aria-labelledby="link-console-h">
            <h2 id="link-console-h">"Link a patient"</h2>
            <ActionForm action=search>
                <input type="hidden" name="ctx" value=ctx/>
                <label>"EHR patient name " <input name="name" required minlength="2" data-testid="patient-search"/></label>
                <button type="submit" class="btn">"Search the EHR"</button>
            </ActionForm>
            {move || {
                let ctx_results = ctx_results.clone();
                match search.value().get() {
                None => None,
                Some(Err(e)) => Some(view! { <ErrorBox title="The search failed" message=error_message(&e)/> }.into_any()),
                Some(Ok(list)) if list.is_empty() => Some(view! { <p>"No patient of that name in the EHR."</p> }.into_any()),
                Some(Ok(list)) => Some(view! {
                    <table class="search-results">
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Born"</th><th scope="col">"Sharing code"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|p| { let ctx = ctx_results.clone(); view! {
                                <tr>
                                    <td>{p.name.clone().unwrap_or_default()}</td>
                                    <td>{p.birth_date.clone().unwrap_or_default()}</td>
                                    <td>
                                        <ActionForm action=link>
                                            <input type="hidden" name="ctx" value=ctx/>
                                            <input type="hidden" name="ehr_patient_id" value=p.id.clone()/>
                                            <input name="code" required placeholder="ABC-DEF-GHJK" aria-label="Sharing code"/>
                                            <input name="reason" placeholder="Reason, if the records differ" aria-label="Reason"/>
                                            <button type="submit" class="btn">"Link"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }}).collect_view()}
                        </tbody>
                    </table>
                }.into_any()),
            }}}
            {move || match link.value().get() {
                Some(Err(e)) => Some(view! { <ErrorBox title="The patient was not linked" message=error_message(&e)/> }.into_any()),
                Some(Ok(())) => Some(view! { <p class="ok" role="status">"Linked."</p> }.into_any()),
                None => None,
            }}
        </section>
    }
}
