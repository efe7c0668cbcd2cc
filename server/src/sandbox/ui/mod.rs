//! The EHR's own pages (server-rendered HTML): the launcher, the patient chart that embeds CloudCGM in an
//! iframe and shows what it submitted, and the orders page.
//!
//! (Skeleton: filled in by the EHR user-interface work of issue 3.)

use super::SandboxState;
use axum::Router;

pub fn router() -> Router<SandboxState> {
    Router::new()
}
