//! The window presets, custom dates and units switch. They are links and a GET form, so they work before
//! hydration (full page loads) and, once hydrated, navigate on the client without reloading the page.

use crate::views::{ReportView, WindowView};
use leptos::prelude::*;
use leptos_router::components::{Form, A};

/// The report's address (`base` is the page's path) for a preset window and unit.
pub fn report_href(base: &str, days: u32, unit_key: &str, all_days: bool) -> String {
    let all = if all_days { "&all_days=1" } else { "" };
    format!("{base}?days={days}&unit={unit_key}{all}")
}

/// The same window with another unit, on the page (`base` = `base_path`) or as the PDF (`pdf_path`).
fn window_href(r: &ReportView, base: &str, unit_key: &str) -> String {
    let w: &WindowView = &r.window;
    match w.preset {
        Some(d) => report_href(base, d, unit_key, false),
        None => format!(
            "{base}?from={}&to={}&unit={unit_key}",
            w.first_day, w.last_day
        ),
    }
}

fn unit_href(r: &ReportView, unit_key: &str) -> String {
    window_href(r, &r.base_path, unit_key)
}

#[component]
pub fn ReportControls(report: ReportView) -> impl IntoView {
    let base = report.base_path.clone();
    let unit_key = report.unit_key.clone();
    let preset = report.window.preset;
    let presets = [14u32, 30, 90].map(|d| {
        let current = preset == Some(d);
        view! {
            <A href=report_href(&base, d, &unit_key, false) attr:class=if current { "btn current" } else { "btn" } attr:aria-current=if current { Some("true") } else { None } attr:data-preset=d.to_string()>
                {format!("{d} days")}
            </A>
        }
    });
    let mg = unit_href(&report, "mg");
    let mmol = unit_href(&report, "mmol");
    let is_mg = report.unit_key == "mg";
    let action = report.base_path.clone();
    let pdf = window_href(&report, &report.pdf_path, &report.unit_key);
    view! {
        <nav class="controls no-print" aria-label="Report window and units">
            <div class="group" role="group" aria-label="Window">
                {presets.into_iter().collect_view()}
            </div>
            <Form method="GET" action=action attr:class="custom-window">
                <label>"From " <input type="date" name="from" value=report.window.first_day.clone() min=report.window.data_first_day.clone() max=report.window.data_last_day.clone() required/></label>
                <label>"to " <input type="date" name="to" value=report.window.last_day.clone() min=report.window.data_first_day.clone() max=report.window.data_last_day.clone() required/></label>
                <input type="hidden" name="unit" value=report.unit_key.clone()/>
                <button type="submit" class="btn">"Show"</button>
            </Form>
            <div class="group" role="group" aria-label="Units">
                <A href=mg attr:class=if is_mg { "btn current" } else { "btn" } attr:data-unit="mg">"mg/dL"</A>
                <A href=mmol attr:class=if !is_mg { "btn current" } else { "btn" } attr:data-unit="mmol">"mmol/L"</A>
            </div>
            <button type="button" class="btn" on:click=|_| { let _ = window().print(); }>"Print"</button>
            <a class="btn" href=pdf rel="external" download
                data-testid="pdf-download">"Download PDF"</a>
        </nav>
    }
}
