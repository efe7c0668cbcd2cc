//! The start page: in demo mode the list of demo patients; otherwise how to open CloudCGM from an EHR.

use crate::api::list_demo_patients;
use crate::components::error_box::{error_message, ErrorBox};
use leptos::prelude::*;

#[component]
pub fn HomePage() -> impl IntoView {
    let patients = Resource::new(|| (), |_| list_demo_patients());
    view! {
        <section class="panel">
            <h1>"Demo patients"</h1>
            <Suspense fallback=|| view! { <p>"Loading patients…"</p> }>
                {move || Suspend::new(async move {
                    match patients.await {
                        Ok(list) if list.is_empty() => view! {
                            <p>"No demo patients yet. Start CloudCGM with demo data (see the README) to seed them."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <p class="hint">
                                "Synthetic patients for trying CloudCGM. In production, clinicians open a "
                                "patient's report from their EHR. Patients share their data with a code from the "
                                <a href="/portal">"patient portal"</a> "."
                            </p>
                            <table class="patients">
                                <thead>
                                    <tr>
                                        <th scope="col">"Patient"</th>
                                        <th scope="col">"Born"</th>
                                        <th scope="col">"Time zone"</th>
                                        <th scope="col">"Device"</th>
                                        <th scope="col">"Readings"</th>
                                        <th scope="col">"Last reading"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list.into_iter().map(|p| view! {
                                        <tr>
                                            <td><a href=format!("/patients/{}/report", p.id)>{p.name.clone()}</a></td>
                                            <td>{p.birth_date}</td>
                                            <td>{p.time_zone}</td>
                                            <td>{p.device}</td>
                                            <td class="num">{p.readings}</td>
                                            <td>{p.last_reading.unwrap_or_else(|| "—".into())}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! {
                            <ErrorBox title="Demo patients are not available" message=error_message(&e)/>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}
