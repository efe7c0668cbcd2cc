//! "Send to the EHR" inside a launch (SUB-8, issue 5 item 5): choose the period and the data, send, and
//! follow the submission: progress while it runs (the history refreshes every two seconds while anything is
//! queued or running), then what the EHR accepted and what it refused, with its reasons.

use crate::api::{submission_history, RequestSubmission};
use crate::components::error_box::{error_message, ErrorBox};
use crate::views::SubmissionJobView;
use leptos::prelude::*;
use std::time::Duration;

#[component]
pub fn SendToEhr(ctx: String) -> impl IntoView {
    let send = ServerAction::<RequestSubmission>::new();
    let tick = RwSignal::new(0u32);
    let ctx_history = ctx.clone();
    let history = Resource::new(
        move || (ctx_history.clone(), send.version().get(), tick.get()),
        |(ctx, _, _)| submission_history(ctx),
    );
    // Effects run only in the browser: the server renders the history once.
    Effect::new(move |_| {
        let busy = history.get().and_then(Result::ok).is_some_and(|h| {
            h.jobs
                .iter()
                .any(|j| matches!(j.status.as_str(), "queued" | "running"))
        });
        if busy {
            set_timeout(move || tick.update(|n| *n += 1), Duration::from_secs(2));
        }
    });
    view! {
        <section class="panel send-panel no-print" aria-labelledby="send-h" data-testid="send-panel">
            <h2 id="send-h">"Send to the EHR"</h2>
            <p class="hint">
                "CloudCGM sends the data to this patient's chart in the EHR as a CGM data submission. "
                "Periods are the patient's full days up to yesterday."
            </p>
            <ActionForm action=send attr:class="send-form">
                <input type="hidden" name="ctx" value=ctx/>
                <fieldset>
                    <legend>"Period"</legend>
                    <label><input type="radio" name="request[days]" value="14"/>" Last 14 days"</label>
                    <label><input type="radio" name="request[days]" value="30" checked/>" Last 30 days"</label>
                    <label><input type="radio" name="request[days]" value="90"/>" Last 90 days"</label>
                    <label><input type="radio" name="request[days]" value="0" data-testid="send-custom"/>" From "</label>
                    <input type="date" name="request[first]" aria-label="First day" data-testid="send-first"/>
                    <label>" to "<input type="date" name="request[last]" aria-label="Last day" data-testid="send-last"/></label>
                </fieldset>
                <fieldset>
                    <legend>"Data"</legend>
                    <label><input type="checkbox" name="request[summary]" value="true" checked data-testid="send-summary"/>
                        " Summary and PDF report"</label>
                    <label><input type="checkbox" name="request[readings]" value="true" data-testid="send-readings"/>
                        " Every sensor reading"</label>
                </fieldset>
                <button type="submit" class="btn" data-testid="send-button">"Send to the EHR"</button>
            </ActionForm>
            {move || match send.value().get() {
                Some(Err(e)) => Some(view! { <ErrorBox title="Nothing was sent" message=error_message(&e)/> }),
                _ => None,
            }}
            <h3>"Sent to the EHR"</h3>
            <Transition fallback=|| view! { <p class="loading">"Loading the history…"</p> }>
                {move || Suspend::new(async move {
                    match history.await {
                        Ok(h) if h.jobs.is_empty() => view! {
                            <p data-testid="history-empty">"Nothing has been sent for this patient yet."</p>
                        }.into_any(),
                        Ok(h) => view! {
                            <ol class="history" data-testid="history">
                                {h.jobs.into_iter().map(|j| view! { <JobItem job=j/> }).collect_view()}
                            </ol>
                        }.into_any(),
                        Err(e) => view! {
                            <ErrorBox title="The history cannot be shown" message=error_message(&e)/>
                        }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn JobItem(job: SubmissionJobView) -> impl IntoView {
    let progress = (job.status == "running" && job.chunks_total > 0).then(|| {
        view! {
            <progress max=job.chunks_total value=job.chunks_done data-testid="job-progress"
                aria-label="Parts sent"></progress>
        }
        .into_any()
    });
    let rejections = (!job.rejections.is_empty()).then(|| {
        view! {
            <table class="rejections" data-testid="job-rejections">
                <thead><tr><th scope="col">"Entry"</th><th scope="col">"Status"</th><th scope="col">"The EHR's reason"</th></tr></thead>
                <tbody>
                    {job.rejections.iter().map(|r| view! {
                        <tr>
                            <td>{r.resource.clone()}<br/><small>{r.identifier.clone().unwrap_or_default()}</small></td>
                            <td>{r.status}</td>
                            <td class="reason">{r.reason.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    });
    view! {
        <li class=format!("job job-{}", job.status) data-testid="job" data-status=job.status.clone()>
            <div class="job-head">
                <strong>{job.window.clone()}</strong>
                " · " {job.contents.clone()}
                <span class="badge">{job.status.clone()}</span>
            </div>
            <p class="job-status" data-testid="job-status">{job.status_text.clone()}</p>
            {progress}
            <p class="job-meta">
                {format!("Requested {} by {}", job.requested_at, job.requested_by)}
                {job.finished_at.clone().map(|t| format!(" · finished {t}"))}
                <span data-testid="job-counts">{format!(" · {} accepted, {} refused", job.accepted, job.rejected)}</span>
            </p>
            {rejections}
        </li>
    }
    // Erased: the nested history types otherwise exceed the compiler's query depth in the wasm build.
    .into_any()
}
