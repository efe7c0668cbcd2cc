//! CSRF protection for every state-changing request (SMART.md: with `SameSite=None` cookies the browser
//! sends the session cookie on cross-site requests too, and Leptos server functions do not check).
//! A non-safe method passes only when `Origin` is CloudCGM's own origin, or, for a browser that sends no
//! `Origin`, when `Sec-Fetch-Site` says `same-origin`. Everything else, including a request with neither
//! header, is refused: deny by default.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The origin the check accepts.
#[derive(Clone)]
pub struct CsrfOrigin(pub Arc<str>);

pub fn is_allowed(
    method: &Method,
    origin: Option<&str>,
    fetch_site: Option<&str>,
    ours: &str,
) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    match origin {
        Some(o) => o == ours,
        None => fetch_site == Some("same-origin"),
    }
}

pub async fn check(State(ours): State<CsrfOrigin>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if is_allowed(req.method(), origin, text("sec-fetch-site"), &ours.0) {
        return next.run(req).await;
    }
    tracing::warn!(
        method = %req.method(),
        path = %req.uri().path(),
        origin = origin.unwrap_or("(none)"),
        "refused a state-changing request from another origin (CSRF check)"
    );
    (
        StatusCode::FORBIDDEN,
        "This request did not come from a CloudCGM page, so it was refused. Reload CloudCGM and try again.",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "https://cgm.example";

    #[test]
    fn safe_methods_pass_and_unsafe_ones_need_our_origin() {
        assert!(is_allowed(
            &Method::GET,
            Some("https://evil.example"),
            None,
            OURS
        ));
        assert!(is_allowed(&Method::POST, Some(OURS), None, OURS));
        assert!(!is_allowed(
            &Method::POST,
            Some("https://evil.example"),
            None,
            OURS
        ));
        assert!(!is_allowed(&Method::POST, Some("null"), None, OURS));
        assert!(!is_allowed(
            &Method::DELETE,
            Some("https://cgm.example.evil"),
            None,
            OURS
        ));
    }

    #[test]
    fn without_origin_only_a_same_origin_fetch_passes() {
        assert!(is_allowed(&Method::POST, None, Some("same-origin"), OURS));
        assert!(!is_allowed(&Method::POST, None, Some("cross-site"), OURS));
        assert!(!is_allowed(&Method::POST, None, Some("same-site"), OURS));
        assert!(
            !is_allowed(&Method::POST, None, None, OURS),
            "neither header: refused"
        );
    }
}
