//! A message box for errors that says what happened and what to do next.

use leptos::prelude::*;

/// The clinician-facing text of a server function error, without the framework's prefix.
pub fn error_message(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(msg) => msg.clone(),
        ServerFnError::Request(_) | ServerFnError::Response(_) => {
            "CloudCGM could not be reached. Check your connection and reload the page.".to_string()
        }
        other => other.to_string(),
    }
}

#[component]
pub fn ErrorBox(#[prop(into)] title: String, #[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="error-box" role="alert">
            <strong>{title}</strong>
            <p>{message}</p>
        </div>
    }
}
