//! HTML output of the EHR pages: the one escaping helper every interpolated value goes through, URL
//! component encoding, the page layout (header bar, optional patient banner), the security headers every
//! page carries, and the stylesheet.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a URL path segment or query component: everything but RFC 3986 unreserved characters.
/// The result still goes through [`esc`] when written into HTML (it never needs changing there).
pub fn pct(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The origin (`scheme://host[:port]`) of an absolute URL, for CSP source lists; `None` for anything that
/// is not a plain http(s) URL, so nothing odd can reach a header.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    host_ok.then(|| format!("{scheme}://{authority}"))
}

/// Who is signed in and which patient's chart is open, for the header bar and the banner.
pub struct Context<'a> {
    /// Display name of the signed-in practitioner.
    pub user: Option<&'a str>,
    /// The patient banner, already rendered.
    pub banner: Option<String>,
}

/// A whole page: header bar ("Sandbox EHR", the signed-in user), the banner, then `main`.
pub fn layout(base: &str, title: &str, ctx: &Context<'_>, main: &str) -> String {
    let user = match ctx.user {
        Some(name) => format!(
            "<p class=\"user\">Signed in as <strong>{}</strong> · <a href=\"{}/ehr\">Switch user</a></p>",
            esc(name),
            esc(base)
        ),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · Sandbox EHR</title>\n\
         <link rel=\"stylesheet\" href=\"{base}/static/ehr.css\">\n</head>\n<body>\n\
         <header class=\"bar\"><p class=\"brand\"><a href=\"{base}/ehr\">Sandbox EHR</a> \
         <span class=\"tag\">test system: not for real patients</span></p>{user}</header>\n\
         {banner}<main>\n{main}\n</main>\n</body>\n</html>\n",
        title = esc(title),
        base = esc(base),
        banner = ctx.banner.as_deref().unwrap_or(""),
    )
}

/// The Content-Security-Policy of every EHR page: no scripts at all, styles and forms from the sandbox
/// itself, and frames only from the sandbox and the given app origins.
pub fn csp(frame_origins: &[String]) -> String {
    let mut frame_src = String::from("'self'");
    for origin in frame_origins {
        frame_src.push(' ');
        frame_src.push_str(origin);
    }
    format!(
        "default-src 'self'; script-src 'none'; object-src 'none'; style-src 'self'; img-src 'self' data:; \
         frame-src {frame_src}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// An HTML response with the page's own CSP (so the CloudCGM root router leaves it alone), no caching
/// (charts hold patient data) and the usual hardening headers.
pub fn page(status: StatusCode, csp: &str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    match HeaderValue::from_str(csp) {
        Ok(value) => headers.insert(header::CONTENT_SECURITY_POLICY, value),
        // Origins come from origin_of, so this cannot happen; fall back to the strictest policy.
        Err(_) => headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'self'"),
        ),
    };
    response
}

/// A plain page saying what went wrong and where to go next.
pub fn message_page(base: &str, status: StatusCode, title: &str, text: &str) -> Response {
    let main = format!(
        "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"{}/ehr\">Back to the launcher</a></p>",
        esc(title),
        esc(text),
        esc(base)
    );
    let ctx = Context {
        user: None,
        banner: None,
    };
    page(status, &csp(&[]), layout(base, title, &ctx, &main))
}

/// The stylesheet: a plain, quiet EHR look.
pub const STYLESHEET: &str = include_str!("ehr.css");

/// `GET /static/ehr.css`
pub async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quote_kinds() {
        assert_eq!(
            esc("<a href='x' title=\"y\">&</a>"),
            "&lt;a href=&#39;x&#39; title=&quot;y&quot;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(
            pct("http://a/b?c=d&e f"),
            "http%3A%2F%2Fa%2Fb%3Fc%3Dd%26e%20f"
        );
        assert_eq!(pct("pat-1.x_~"), "pat-1.x_~");
    }

    #[test]
    fn origins_are_taken_from_plain_http_urls_only() {
        assert_eq!(
            origin_of("http://127.0.0.1:3000/launch?x=1").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(
            origin_of("https://app.example").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("http://evil; script-src *"), None);
    }
}
