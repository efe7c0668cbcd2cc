//! The HTTP plumbing around every CloudCGM page and server function (issue 4 item 3): sessions whose
//! cookies survive inside an EHR iframe, the CSRF check those cookies make necessary, security headers with
//! `frame-ancestors` limited to the registered EHRs, and the caller's address for rate limits.

pub mod csrf;
pub mod headers;
pub mod session;

use axum::extract::ConnectInfo;
use std::net::SocketAddr;

/// The peer address of the connection. Forwarded headers are not trusted: behind a proxy every caller
/// shares the proxy's address, which makes per-address limits stricter, never looser.
pub fn client_ip(extensions: &axum::http::Extensions) -> Option<String> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}
