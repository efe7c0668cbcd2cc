//! CloudCGM UI: the Leptos application (routes, pages, components), the `#[server]` functions and the
//! serialisable `*View` types that cross the wire. Built twice: with `ssr` into the server, with `hydrate`
//! into the browser's wasm. The server-side backend is a trait ([`backend::Backend`]) implemented by the
//! server crate, so sqlx and HTTP clients never enter this crate.

pub mod api;
#[cfg(feature = "ssr")]
pub mod backend;
pub mod components;
pub mod pages;
pub mod views;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/cloudcgm.css"/>
        <Title text="CloudCGM"/>
        <Router>
            <header class="app-header no-print">
                <a class="brand" href="/">"CloudCGM"</a>
                <span class="tagline">"Continuous glucose monitoring for clinical care"</span>
            </header>
            <main>
                <Routes fallback=pages::not_found::NotFound>
                    <Route path=path!("/") view=pages::home::HomePage/>
                    <Route path=path!("/patients/:id/report") view=pages::report::ReportPage/>
                    <Route path=path!("/ehr/:ctx") view=pages::ehr::EhrPage/>
                    <Route path=path!("/ehr/:ctx/admin") view=pages::admin::AdminPage/>
                    <Route path=path!("/portal") view=pages::portal::PortalPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The browser entry point: attach to the server-rendered HTML.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // A marker for tests and scripts: clicks before this point are plain links and full page loads.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
