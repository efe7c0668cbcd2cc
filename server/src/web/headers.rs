//! Security headers of CloudCGM's own pages. The CSP's `frame-ancestors` lists exactly the registered EHR
//! origins (and CloudCGM itself): an EHR may frame CloudCGM, nobody else may (SMART.md: never `'none'` or
//! `X-Frame-Options: DENY` on pages an EHR frames).

use axum::http::HeaderValue;

/// The content security policy with `frame_origins` as the allowed framers.
pub fn content_security_policy(frame_origins: &[String]) -> anyhow::Result<HeaderValue> {
    let mut ancestors = String::from("'self'");
    for origin in frame_origins {
        // Registry entries are validated origins; this keeps a stray character from ending the directive.
        anyhow::ensure!(
            !origin.contains([';', ',', ' ', '\'']),
            "frame origin {origin:?} cannot go into a CSP"
        );
        ancestors.push(' ');
        ancestors.push_str(origin);
    }
    // Hydration bootstraps from an inline module script and the charts carry inline styles.
    Ok(HeaderValue::from_str(&format!(
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         frame-ancestors {ancestors}; base-uri 'none'; form-action 'self'; object-src 'none'"
    ))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_lists_exactly_the_registered_origins() {
        let csp = content_security_policy(&[
            "https://ehr.example".into(),
            "http://localhost:3000".into(),
        ])
        .unwrap();
        let text = csp.to_str().unwrap();
        assert!(
            text.contains("frame-ancestors 'self' https://ehr.example http://localhost:3000;"),
            "{text}"
        );
        assert!(!text.contains("'none';\n"));
    }

    #[test]
    fn an_origin_that_would_break_the_policy_is_refused() {
        assert!(content_security_policy(&["https://a.example; script-src *".into()]).is_err());
    }
}
