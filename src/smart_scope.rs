//! SMART App Launch scopes, v1 (`patient/Observation.read`) and v2 (`patient/Observation.rs?category=…`):
//! parsing, printing, narrowing a requested set to what a client may have, and checking one interaction
//! against a granted set (SMART App Launch 2.x "Scopes and Launch Context"; SMART.md; DIGEST §10; NOTES E1).
//!
//! Parsing never fails: a string that is not a known scope is kept as [`Scope::Other`] so a server can drop it
//! and a client can see it. v1 `.read` means read + search, `.write` means create + update + delete, `.*` all
//! five; printing keeps the syntax the scope was written in when it still means the same.

use std::fmt;

/// Whose data a resource scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    /// The patient in context (`patient/`).
    Patient,
    /// Whatever the signed-in user may see (`user/`).
    User,
    /// A backend system, no user (`system/`, Backend Services).
    System,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Patient => "patient",
            Context::User => "user",
            Context::System => "system",
        }
    }

    fn parse(s: &str) -> Option<Context> {
        match s {
            "patient" => Some(Context::Patient),
            "user" => Some(Context::User),
            "system" => Some(Context::System),
            _ => None,
        }
    }
}

/// One of the five v2 permission letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Permission {
    const ALL: [Permission; 5] = [
        Permission::Create,
        Permission::Read,
        Permission::Update,
        Permission::Delete,
        Permission::Search,
    ];

    fn bit(self) -> u8 {
        match self {
            Permission::Create => 1,
            Permission::Read => 2,
            Permission::Update => 4,
            Permission::Delete => 8,
            Permission::Search => 16,
        }
    }

    fn letter(self) -> char {
        match self {
            Permission::Create => 'c',
            Permission::Read => 'r',
            Permission::Update => 'u',
            Permission::Delete => 'd',
            Permission::Search => 's',
        }
    }
}

/// A set of permissions (`cruds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub const NONE: Permissions = Permissions(0);
    /// v1 `.read`: read and search.
    pub const READ: Permissions = Permissions(2 | 16);
    /// v1 `.write`: create, update and delete.
    pub const WRITE: Permissions = Permissions(1 | 4 | 8);
    /// v1 `.*`, v2 `.cruds`.
    pub const ALL: Permissions = Permissions(31);

    pub fn of(perms: &[Permission]) -> Permissions {
        Permissions(perms.iter().fold(0, |acc, p| acc | p.bit()))
    }

    pub fn has(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every permission of `other` is in `self`.
    pub fn includes(self, other: Permissions) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn intersection(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    /// The v2 letters, in the required order `c r u d s`.
    pub fn letters(self) -> String {
        Permission::ALL
            .iter()
            .filter(|p| self.has(**p))
            .map(|p| p.letter())
            .collect()
    }

    /// v2 letters: non-empty, each at most once, in the order `c r u d s`.
    fn parse_v2(s: &str) -> Option<Permissions> {
        let mut bits = 0u8;
        let mut last = 0usize;
        for ch in s.chars() {
            let pos = Permission::ALL.iter().position(|p| p.letter() == ch)? + 1;
            if pos <= last {
                return None;
            }
            last = pos;
            bits |= Permission::ALL[pos - 1].bit();
        }
        (bits != 0).then_some(Permissions(bits))
    }
}

/// A resource-access scope, e.g. `patient/Observation.cu?category=laboratory`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceScope {
    pub context: Context,
    /// A resource type, or `*` for every type.
    pub resource_type: String,
    pub permissions: Permissions,
    /// `?name=value&…` search-parameter constraints, in the order written, values as written.
    pub constraints: Vec<(String, String)>,
    /// Written in v1 syntax (`.read`, `.write`, `.*`).
    pub v1: bool,
}

impl ResourceScope {
    /// A v2 scope without constraints.
    pub fn new(
        context: Context,
        resource_type: impl Into<String>,
        permissions: Permissions,
    ) -> ResourceScope {
        ResourceScope {
            context,
            resource_type: resource_type.into(),
            permissions,
            constraints: Vec::new(),
            v1: false,
        }
    }

    /// True when this scope names `resource_type` (or every type).
    pub fn covers_type(&self, resource_type: &str) -> bool {
        self.resource_type == "*" || self.resource_type == resource_type
    }

    /// True when this scope allows `permission` on `resource_type`, ignoring constraints.
    pub fn allows(&self, permission: Permission, resource_type: &str) -> bool {
        self.covers_type(resource_type) && self.permissions.has(permission)
    }

    /// The part of `self` that `allowed` also grants: same context, the narrower type, the common
    /// permissions, and the constraints of both. `None` when nothing is left.
    pub fn narrow_to(&self, allowed: &ResourceScope) -> Option<ResourceScope> {
        if self.context != allowed.context {
            return None;
        }
        let resource_type = if allowed.resource_type == "*" {
            self.resource_type.clone()
        } else if self.resource_type == "*" || self.resource_type == allowed.resource_type {
            allowed.resource_type.clone()
        } else {
            return None;
        };
        let permissions = self.permissions.intersection(allowed.permissions);
        if permissions.is_empty() {
            return None;
        }
        let mut constraints = self.constraints.clone();
        for c in &allowed.constraints {
            if !constraints.contains(c) {
                constraints.push(c.clone());
            }
        }
        // Keep v1 spelling only when the narrowed scope is still expressible in v1 and unconstrained.
        let v1 = self.v1 && constraints.is_empty() && v1_suffix(permissions).is_some();
        Some(ResourceScope {
            context: self.context,
            resource_type,
            permissions,
            constraints,
            v1,
        })
    }

    fn parse(s: &str) -> Option<ResourceScope> {
        let (context, rest) = s.split_once('/')?;
        let context = Context::parse(context)?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let (resource_type, perms) = path.rsplit_once('.')?;
        if !is_resource_type(resource_type) {
            return None;
        }
        let (permissions, v1) = match perms {
            "read" => (Permissions::READ, true),
            "write" => (Permissions::WRITE, true),
            "*" => (Permissions::ALL, true),
            letters => (Permissions::parse_v2(letters)?, false),
        };
        let mut constraints = Vec::new();
        if let Some(q) = query {
            // v1 has no constraints.
            if v1 || q.is_empty() {
                return None;
            }
            for pair in q.split('&') {
                let (name, value) = pair.split_once('=')?;
                if name.is_empty() || value.is_empty() {
                    return None;
                }
                constraints.push((name.to_string(), value.to_string()));
            }
        }
        Some(ResourceScope {
            context,
            resource_type: resource_type.to_string(),
            permissions,
            constraints,
            v1,
        })
    }
}

fn is_resource_type(s: &str) -> bool {
    s == "*"
        || (s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn v1_suffix(p: Permissions) -> Option<&'static str> {
    match p {
        Permissions::READ => Some("read"),
        Permissions::WRITE => Some("write"),
        Permissions::ALL => Some("*"),
        _ => None,
    }
}

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}.", self.context.as_str(), self.resource_type)?;
        match v1_suffix(self.permissions).filter(|_| self.v1) {
            Some(suffix) => f.write_str(suffix)?,
            None => f.write_str(&self.permissions.letters())?,
        }
        for (i, (name, value)) in self.constraints.iter().enumerate() {
            write!(f, "{}{}={}", if i == 0 { '?' } else { '&' }, name, value)?;
        }
        Ok(())
    }
}

/// One scope of a `scope` string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Resource(ResourceScope),
    /// `launch`: the EHR launch context.
    Launch,
    /// `launch/patient`: pick a patient at standalone launch.
    LaunchPatient,
    /// `launch/encounter`.
    LaunchEncounter,
    OpenId,
    FhirUser,
    Profile,
    OfflineAccess,
    OnlineAccess,
    /// Anything else, kept as written.
    Other(String),
}

impl Scope {
    pub fn parse(s: &str) -> Scope {
        match s {
            "launch" => Scope::Launch,
            "launch/patient" => Scope::LaunchPatient,
            "launch/encounter" => Scope::LaunchEncounter,
            "openid" => Scope::OpenId,
            "fhirUser" => Scope::FhirUser,
            "profile" => Scope::Profile,
            "offline_access" => Scope::OfflineAccess,
            "online_access" => Scope::OnlineAccess,
            _ => ResourceScope::parse(s)
                .map(Scope::Resource)
                .unwrap_or_else(|| Scope::Other(s.to_string())),
        }
    }

    pub fn as_resource(&self) -> Option<&ResourceScope> {
        match self {
            Scope::Resource(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Resource(r) => r.fmt(f),
            Scope::Launch => f.write_str("launch"),
            Scope::LaunchPatient => f.write_str("launch/patient"),
            Scope::LaunchEncounter => f.write_str("launch/encounter"),
            Scope::OpenId => f.write_str("openid"),
            Scope::FhirUser => f.write_str("fhirUser"),
            Scope::Profile => f.write_str("profile"),
            Scope::OfflineAccess => f.write_str("offline_access"),
            Scope::OnlineAccess => f.write_str("online_access"),
            Scope::Other(s) => f.write_str(s),
        }
    }
}

/// A parsed `scope` string: its scopes in the order written, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    scopes: Vec<Scope>,
}

impl ScopeSet {
    /// Parses a space-separated `scope` string. Never fails; unknown scopes are kept as [`Scope::Other`].
    pub fn parse(s: &str) -> ScopeSet {
        ScopeSet::from_scopes(s.split_ascii_whitespace().map(Scope::parse))
    }

    pub fn from_scopes(scopes: impl IntoIterator<Item = Scope>) -> ScopeSet {
        let mut set = ScopeSet::default();
        for s in scopes {
            set.insert(s);
        }
        set
    }

    /// Adds a scope unless it is already there.
    pub fn insert(&mut self, scope: Scope) {
        if !self.scopes.contains(&scope) {
            self.scopes.push(scope);
        }
    }

    /// Removes a scope; true when it was there.
    pub fn remove(&mut self, scope: &Scope) -> bool {
        let before = self.scopes.len();
        self.scopes.retain(|s| s != scope);
        before != self.scopes.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.scopes.iter()
    }

    pub fn len(&self) -> usize {
        self.scopes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scopes.is_empty()
    }

    /// True when exactly this scope is in the set.
    pub fn contains(&self, scope: &Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// True when the scope written as `s` is in the set (`"offline_access"`, `"patient/Patient.r"`).
    pub fn has(&self, s: &str) -> bool {
        self.contains(&Scope::parse(s))
    }

    pub fn resource_scopes(&self) -> impl Iterator<Item = &ResourceScope> {
        self.scopes.iter().filter_map(Scope::as_resource)
    }

    /// True when any resource scope is written in v2 syntax.
    pub fn is_v2(&self) -> bool {
        self.resource_scopes().any(|r| !r.v1)
    }

    /// True when `offline_access` or `online_access` is in the set (a refresh token may be issued).
    pub fn allows_refresh(&self) -> bool {
        self.contains(&Scope::OfflineAccess) || self.contains(&Scope::OnlineAccess)
    }

    /// The resource scopes that allow `permission` on `resource_type`, ignoring constraints.
    pub fn matching(
        &self,
        permission: Permission,
        resource_type: &str,
    ) -> impl Iterator<Item = &ResourceScope> {
        let resource_type = resource_type.to_string();
        self.resource_scopes()
            .filter(move |r| r.allows(permission, &resource_type))
    }

    /// What of `self` (a request) the `allowed` set grants: non-resource scopes present in both, and each
    /// requested resource scope narrowed to every allowed one it overlaps. Unknown scopes are dropped.
    pub fn intersect(&self, allowed: &ScopeSet) -> ScopeSet {
        let mut out = ScopeSet::default();
        for s in &self.scopes {
            match s {
                Scope::Other(_) => {}
                Scope::Resource(requested) => {
                    for a in allowed.resource_scopes() {
                        if let Some(n) = requested.narrow_to(a) {
                            out.insert(Scope::Resource(n));
                        }
                    }
                }
                other => {
                    if allowed.contains(other) {
                        out.insert(other.clone());
                    }
                }
            }
        }
        out
    }

    /// The subset whose scopes satisfy `keep`.
    pub fn filter(&self, keep: impl Fn(&Scope) -> bool) -> ScopeSet {
        ScopeSet {
            scopes: self.scopes.iter().filter(|s| keep(s)).cloned().collect(),
        }
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.scopes.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            s.fmt(f)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ScopeSet {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<ScopeSet, Self::Err> {
        Ok(ScopeSet::parse(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(s: &str) -> ResourceScope {
        match Scope::parse(s) {
            Scope::Resource(r) => r,
            other => panic!("{s} parsed as {other:?}"),
        }
    }

    #[test]
    fn v1_read_means_read_and_search() {
        let r = res("patient/Observation.read");
        assert_eq!(r.context, Context::Patient);
        assert_eq!(r.resource_type, "Observation");
        assert_eq!(r.permissions, Permissions::READ);
        assert!(r.v1);
        assert!(r.allows(Permission::Search, "Observation"));
        assert!(!r.allows(Permission::Create, "Observation"));
    }

    #[test]
    fn v1_write_means_create_update_and_delete() {
        let r = res("user/Device.write");
        assert_eq!(r.permissions, Permissions::WRITE);
        assert!(!r.permissions.has(Permission::Read));
    }

    #[test]
    fn v1_star_and_wildcard_type_cover_everything() {
        let r = res("system/*.*");
        assert_eq!(r.permissions, Permissions::ALL);
        assert!(r.allows(Permission::Delete, "Patient"));
        assert_eq!(res("patient/*.read").resource_type, "*");
    }

    #[test]
    fn v2_letters_must_be_in_cruds_order_without_repeats() {
        assert_eq!(res("patient/Observation.rs").permissions, Permissions::READ);
        assert_eq!(res("user/Observation.cruds").permissions, Permissions::ALL);
        assert!(matches!(
            Scope::parse("patient/Observation.sr"),
            Scope::Other(_)
        ));
        assert!(matches!(
            Scope::parse("patient/Observation.rr"),
            Scope::Other(_)
        ));
        assert!(matches!(
            Scope::parse("patient/Observation.x"),
            Scope::Other(_)
        ));
        assert!(matches!(
            Scope::parse("patient/Observation."),
            Scope::Other(_)
        ));
    }

    #[test]
    fn v2_constraints_are_kept_as_written_including_a_system_and_code() {
        let s = "patient/ServiceRequest.rs?code=http://hl7.org/fhir/uv/cgm/CodeSystem/cgm|cgm-data-submission-standing-order";
        let r = res(s);
        assert_eq!(
            r.constraints,
            vec![(
                "code".to_string(),
                "http://hl7.org/fhir/uv/cgm/CodeSystem/cgm|cgm-data-submission-standing-order"
                    .to_string()
            )]
        );
        assert_eq!(r.to_string(), s);
        let two = res("patient/Observation.cu?category=laboratory&code=http://loinc.org|97507-8");
        assert_eq!(two.constraints.len(), 2);
    }

    #[test]
    fn v1_scopes_with_a_query_are_not_valid() {
        assert!(matches!(
            Scope::parse("patient/Observation.read?category=laboratory"),
            Scope::Other(_)
        ));
    }

    #[test]
    fn context_scopes_and_unknown_scopes_round_trip() {
        let text = "launch launch/patient launch/encounter openid fhirUser profile offline_access online_access something/else";
        let set = ScopeSet::parse(text);
        assert_eq!(set.to_string(), text);
        assert!(set.contains(&Scope::Other("something/else".into())));
        assert!(set.allows_refresh());
    }

    #[test]
    fn an_unknown_context_is_kept_as_an_unknown_scope() {
        assert!(matches!(
            Scope::parse("group/Observation.rs"),
            Scope::Other(_)
        ));
    }

    #[test]
    fn printing_keeps_the_syntax_each_scope_was_written_in() {
        let text = "patient/Observation.read user/Device.write system/*.* patient/Patient.r";
        assert_eq!(ScopeSet::parse(text).to_string(), text);
    }

    #[test]
    fn duplicates_and_extra_whitespace_collapse() {
        let set = ScopeSet::parse("  openid  openid\tfhirUser ");
        assert_eq!(set.to_string(), "openid fhirUser");
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn is_v2_is_true_only_when_a_resource_scope_uses_v2_letters() {
        assert!(!ScopeSet::parse("launch patient/Observation.read").is_v2());
        assert!(ScopeSet::parse("launch patient/Observation.rs").is_v2());
        assert!(!ScopeSet::parse("launch openid").is_v2());
    }

    #[test]
    fn intersection_drops_scopes_the_client_is_not_registered_for() {
        let allowed =
            ScopeSet::parse("launch openid fhirUser patient/Observation.cu patient/Patient.r");
        let requested = ScopeSet::parse(
            "launch openid offline_access patient/Observation.cu patient/Condition.rs bogus",
        );
        assert_eq!(
            requested.intersect(&allowed).to_string(),
            "launch openid patient/Observation.cu"
        );
    }

    #[test]
    fn intersection_narrows_permissions_types_and_adds_registered_constraints() {
        let allowed = ScopeSet::parse("patient/Observation.cu?category=laboratory user/*.rs");
        let requested = ScopeSet::parse("patient/Observation.write user/Patient.cruds");
        assert_eq!(
            requested.intersect(&allowed).to_string(),
            "patient/Observation.cu?category=laboratory user/Patient.rs"
        );
    }

    #[test]
    fn intersection_keeps_v1_spelling_when_nothing_was_narrowed() {
        let allowed = ScopeSet::parse("patient/*.read");
        let requested = ScopeSet::parse("patient/Observation.read");
        assert_eq!(
            requested.intersect(&allowed).to_string(),
            "patient/Observation.read"
        );
    }

    #[test]
    fn intersection_never_crosses_contexts() {
        let allowed = ScopeSet::parse("system/Observation.cu");
        assert!(ScopeSet::parse("user/Observation.cu")
            .intersect(&allowed)
            .is_empty());
    }

    #[test]
    fn matching_finds_the_scopes_that_allow_an_interaction() {
        let set = ScopeSet::parse("patient/Observation.rs user/*.c openid");
        assert_eq!(set.matching(Permission::Create, "Observation").count(), 1);
        assert_eq!(set.matching(Permission::Read, "Observation").count(), 1);
        assert_eq!(set.matching(Permission::Read, "Patient").count(), 0);
    }

    #[test]
    fn has_compares_parsed_scopes() {
        let set = ScopeSet::parse("patient/Observation.rs launch");
        assert!(set.has("patient/Observation.rs"));
        assert!(set.has("launch"));
        assert!(!set.has("patient/Observation.read")); // same meaning, different spelling
    }
}
