//! The app inside an EHR launch (`/ehr/:ctx`, where `ctx` is the launch's handle in this session): who is
//! signed in, the patient banner when the EHR asks for one, and then either the linked patient's AGP
//! report or the linking flow (sharing code → both identities side by side → confirm; a mismatch needs a
//! reason). The server binds every call to the launch's own user and EHR patient.

use crate::api::{launch_report, launch_state, ConfirmLink, ProposeLink};
use crate::components::error_box::{error_message, ErrorBox};
use crate::components::send_to_ehr::SendToEhr;
use crate::pages::report::{query_from_map, ReportPanel};
use crate::views::{LaunchView, LinkProposalView};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn EhrPage() -> impl IntoView {
    let params = use_params_map();
    let ctx = move || params.read().get("ctx").unwrap_or_default();
    let confirm = ServerAction::<ConfirmLink>::new();
    // Linking bumps the action's version, which reloads the state: the report then appears at once.
    let state = Resource::new(
        move || (ctx(), confirm.version().get()),
        |(ctx, _)| launch_state(ctx),
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Opening CloudCGM…"</p> }>
            {move || Suspend::new(async move {
                match state.await {
                    Ok(s) => view! { <LaunchBody ctx=ctx() state=s confirm/> }.into_any(),
                    Err(e) => view! {
                        <ErrorBox title="CloudCGM cannot show this launch" message=error_message(&e)/>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn LaunchBody(ctx: String, state: LaunchView, confirm: ServerAction<ConfirmLink>) -> impl IntoView {
    let admin_link = (state.role == "admin").then(|| {
        view! { <a class="btn" href=format!("/ehr/{ctx}/admin") data-testid="admin-link">"Practice administration"</a> }
    });
    let banner = match (&state.ehr_patient, state.show_banner) {
        (Some(p), true) => Some(view! {
            <div class="ehr-banner" data-testid="patient-banner" role="region" aria-label="Patient in context">
                <strong>{p.name.clone().unwrap_or_else(|| "Unnamed patient".into())}</strong>
                " · born " {p.birth_date.clone().unwrap_or_else(|| "unknown".into())}
                " · EHR id " {p.id.clone()}
            </div>
        }),
        _ => None,
    };
    let body = match (&state.ehr_patient, &state.linked) {
        (None, _) => view! {
            <section class="panel">
                <h1>"No patient is open"</h1>
                <p>"Open a patient's chart in your EHR and start CloudCGM from there to see their glucose report."</p>
            </section>
        }.into_any(),
        (Some(_), Some(_)) => view! { <LaunchReport ctx=ctx.clone()/> }.into_any(),
        (Some(p), None) => view! { <LinkPanel ctx=ctx.clone() ehr_name=p.name.clone() confirm/> }.into_any(),
    };
    view! {
        <div class="launch-bar no-print" data-testid="launch-bar">
            <span>{format!("{} · signed in as {} ({})", state.practice, state.user, state.role)}</span>
            {admin_link}
        </div>
        {banner}
        {body}
    }
}

#[component]
fn LaunchReport(ctx: String) -> impl IntoView {
    let query = use_query_map();
    let ctx_report = ctx.clone();
    let report = Resource::new(
        move || (ctx_report.clone(), query_from_map(&query.read())),
        |(ctx, q)| launch_report(ctx, q),
    );
    view! {
        <ReportPanel report/>
        <SendToEhr ctx/>
    }
}

#[component]
fn LinkPanel(
    ctx: String,
    ehr_name: Option<String>,
    confirm: ServerAction<ConfirmLink>,
) -> impl IntoView {
    let propose = ServerAction::<ProposeLink>::new();
    let who = ehr_name.unwrap_or_else(|| "this patient".into());
    let ctx_confirm = ctx.clone();
    view! {
        <section class="panel link-panel" aria-labelledby="link-h">
            <h1 id="link-h">{format!("Link {who} to CloudCGM")}</h1>
            <p>
                "CloudCGM does not know this patient yet. Ask the patient to open their CloudCGM account and "
                "read you their sharing code, then enter it here."
            </p>
            <ActionForm action=propose attr:class="code-form">
                <input type="hidden" name="ctx" value=ctx.clone()/>
                <label>
                    "Sharing code "
                    <input name="code" autocomplete="off" autocapitalize="characters" spellcheck="false"
                        placeholder="ABC-DEF-GHJK" required data-testid="code-input"/>
                </label>
                <button type="submit" class="btn" data-testid="check-code">"Check code"</button>
            </ActionForm>
            {move || match propose.value().get() {
                None => None,
                Some(Err(e)) => Some(view! {
                    <ErrorBox title="That code did not work" message=error_message(&e)/>
                }.into_any()),
                Some(Ok(p)) => Some(view! { <Comparison ctx=ctx_confirm.clone() proposal=p confirm/> }.into_any()),
            }}
            {move || match confirm.value().get() {
                Some(Err(e)) => Some(view! { <ErrorBox title="The patient was not linked" message=error_message(&e)/> }),
                _ => None,
            }}
        </section>
    }
}

#[component]
fn Comparison(
    ctx: String,
    proposal: LinkProposalView,
    confirm: ServerAction<ConfirmLink>,
) -> impl IntoView {
    let mismatch = !proposal.mismatches.is_empty();
    let unknown = || "—".to_string();
    view! {
        <div class="comparison" data-testid="comparison">
            <h2>"Is this the same person?"</h2>
            <table>
                <thead><tr><th scope="col"></th><th scope="col">"In your EHR"</th><th scope="col">"In CloudCGM"</th></tr></thead>
                <tbody>
                    <tr><th scope="row">"Name"</th>
                        <td data-testid="ehr-name">{proposal.ehr.name.clone().unwrap_or_else(unknown)}</td>
                        <td data-testid="cloudcgm-name">{proposal.cloudcgm_name.clone()}</td></tr>
                    <tr><th scope="row">"Birth date"</th>
                        <td>{proposal.ehr.birth_date.clone().unwrap_or_else(unknown)}</td>
                        <td>{proposal.cloudcgm_birth_date.clone()}</td></tr>
                </tbody>
            </table>
            {mismatch.then(|| view! {
                <div class="warning" role="alert" data-testid="mismatch">
                    <strong>"The records differ: "</strong>
                    {proposal.mismatches.join("; ")}
                    ". Link only if you are sure this is the same person, and say why."
                </div>
            })}
            <ActionForm action=confirm attr:class="confirm-form">
                <input type="hidden" name="ctx" value=ctx/>
                {mismatch.then(|| view! {
                    <label>"Reason for linking despite the difference "
                        <input name="reason" required minlength="5" data-testid="mismatch-reason"/>
                    </label>
                })}
                <button type="submit" class="btn primary" data-testid="confirm-link">"Confirm and link"</button>
            </ActionForm>
        </div>
    }
}
