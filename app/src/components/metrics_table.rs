//! The metrics table with consensus goals and met / not-met marks, the time-in-ranges table (the text
//! alternative of the stacked bar) and the event counts.

use crate::views::{EventRowView, MetricRowView, RangeRowView};
use leptos::prelude::*;

fn goal_mark(met: Option<bool>) -> impl IntoView {
    match met {
        Some(true) => view! { <span class="goal-met" title="Goal met">"✓ met"</span> }.into_any(),
        Some(false) => {
            view! { <span class="goal-not-met" title="Goal not met">"✗ not met"</span> }.into_any()
        }
        None => view! { <span class="goal-none">""</span> }.into_any(),
    }
}

#[component]
pub fn MetricsTable(rows: Vec<MetricRowView>) -> impl IntoView {
    view! {
        <table class="metrics" aria-label="Glucose statistics and targets">
            <thead>
                <tr><th scope="col">"Metric"</th><th scope="col">"Value"</th><th scope="col">"Goal"</th><th scope="col"><span class="sr-only">"Goal status"</span></th></tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|r| view! {
                    <tr data-metric=r.key.clone()>
                        <th scope="row">{r.label}</th>
                        <td class="num value">{r.value}</td>
                        <td class="goal">{r.goal.unwrap_or_default()}</td>
                        <td>{goal_mark(r.met)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn RangesTable(rows: Vec<RangeRowView>) -> impl IntoView {
    view! {
        <table class="ranges" aria-label="Time in ranges">
            <thead>
                <tr><th scope="col">"Range"</th><th scope="col">"Glucose"</th><th scope="col">"% of time"</th><th scope="col">"Per day"</th><th scope="col">"Goal"</th><th scope="col"><span class="sr-only">"Goal status"</span></th></tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|r| view! {
                    <tr data-range=r.key.clone()>
                        <th scope="row"><span class=format!("swatch swatch-{}", r.key)></span>{r.label}</th>
                        <td>{r.range}</td>
                        <td class="num value">{r.percent}</td>
                        <td class="num">{r.per_day}</td>
                        <td class="goal">{r.goal.unwrap_or_default()}</td>
                        <td>{goal_mark(r.met)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn EventsTable(rows: Vec<EventRowView>) -> impl IntoView {
    view! {
        <table class="events" aria-label="Hypoglycaemia and hyperglycaemia events">
            <thead>
                <tr><th scope="col">"Event"</th><th scope="col">"Count"</th><th scope="col">"Per day"</th><th scope="col">"Mean duration"</th></tr>
            </thead>
            <tbody>
                {rows.into_iter().map(|r| view! {
                    <tr data-event=r.key.clone()>
                        <th scope="row">{r.label}</th>
                        <td class="num">{r.count}</td>
                        <td class="num">{r.per_day}</td>
                        <td class="num">{r.mean_duration}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
