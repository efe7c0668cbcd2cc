//! SMART App Launch scopes, v1 (`patient/Observation.read`) and v2 (`patient/Observation.rs?category=…`):
//! parsing, printing and checking a requested interaction against a granted set (SMART.md, DIGEST §10).
//!
//! (Skeleton: filled in by the authorization-server work of issue 3.)

/// A parsed `scope` string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    raw: Vec<String>,
}
