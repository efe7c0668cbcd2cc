//! Configuration: defaults, then environment variables (`CLOUDCGM_*`), then command-line flags.
//! Demo mode is off unless asked for, so a production configuration never shows the demo patient list.

use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen. Port 0 picks a free port (tests).
    pub addr: SocketAddr,
    /// `sqlite://path?mode=rwc` (created on first run).
    pub database_url: String,
    /// Enables the demo patient list and demo report access. Never in production.
    pub demo_mode: bool,
    /// Seed the demo patients at start when they are missing.
    pub seed_demo: bool,
    /// Where cargo-leptos put the site (`pkg/` with the wasm, JS and CSS).
    pub site_root: String,
    /// The origin browsers reach CloudCGM at (`https://cgm.example.org`, no trailing slash). `None`:
    /// `http://{the bound address}`, right for a local demo; set it behind a proxy or on 0.0.0.0.
    pub public_origin: Option<String>,
    /// Mount the built-in sandbox EHR under `/sandbox` (seeded when `seed_demo` is on). Test systems only.
    pub sandbox: bool,
    /// The sandbox EHR's own database.
    pub sandbox_database_url: String,
    /// The origin the mounted sandbox EHR announces (its pages, `iss`). `None`: CloudCGM's own origin. Set
    /// it to another name of this server (`http://localhost:3000` for `http://127.0.0.1:3000`) to make the
    /// EHR and CloudCGM different sites, as with a real EHR.
    pub sandbox_origin: Option<String>,
    /// The sandbox's SMART client registry; `None` uses the demo registry `config/sandbox-clients.json`.
    pub sandbox_clients_file: Option<std::path::PathBuf>,
    /// The EHR registry file (`CLOUDCGM_EHRS`); the mounted sandbox is registered without one.
    pub ehrs_file: Option<std::path::PathBuf>,
    /// A development secrets file to use (and create) where `CLOUDCGM_SECRET_KEYS` & co. are unset.
    /// `None`: the secrets must come from the environment (production).
    pub dev_secrets_file: Option<std::path::PathBuf>,
    /// How long a new sharing code stays valid, in hours (`CLOUDCGM_SHARING_CODE_TTL_HOURS`, default 24).
    pub code_ttl_hours: i64,
}

/// Where demo and sandbox servers keep generated development secrets.
pub const DEFAULT_DEV_SECRETS_FILE: &str = "data/dev-secrets.json";

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/cloudcgm.db?mode=rwc";

/// Reads an environment variable, treating an empty or blank value as unset.
pub fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// A boolean environment variable (`1/true/yes/on`, `0/false/no/off`); unset is false.
pub fn env_flag(key: &str) -> anyhow::Result<bool> {
    match env_var(key).as_deref() {
        None => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => anyhow::bail!("{key}={other:?}: use true or false"),
    }
}

/// `CLOUDCGM_SANDBOX_DATABASE_URL`, else the sandbox's default (`sqlite://data/sandbox.db?mode=rwc`).
pub fn sandbox_database_url_from_env() -> String {
    env_var("CLOUDCGM_SANDBOX_DATABASE_URL")
        .unwrap_or_else(|| crate::sandbox::config::DEFAULT_DATABASE_URL.into())
}

/// An origin as given on the command line or in the environment: `scheme://host[:port]`, no path.
pub fn parse_origin(text: &str) -> anyhow::Result<String> {
    let origin = text.trim().trim_end_matches('/');
    let ok = crate::sandbox::ui::html::origin_of(origin).is_some_and(|o| o == origin);
    anyhow::ensure!(
        ok,
        "{text:?} is not an origin: write scheme://host[:port], e.g. http://127.0.0.1:3000"
    );
    Ok(origin.to_string())
}

impl Config {
    /// Reads `CLOUDCGM_ADDR`, `CLOUDCGM_DATABASE_URL`, `CLOUDCGM_DEMO`, `CLOUDCGM_SEED_DEMO`,
    /// `CLOUDCGM_PUBLIC_ORIGIN`, `CLOUDCGM_SANDBOX`, `CLOUDCGM_SANDBOX_DATABASE_URL`,
    /// `CLOUDCGM_SANDBOX_CLIENTS`, `CLOUDCGM_SANDBOX_ORIGIN`, `CLOUDCGM_EHRS`, `CLOUDCGM_DEV_SECRETS_FILE`,
    /// `CLOUDCGM_SHARING_CODE_TTL_HOURS` and `LEPTOS_SITE_ROOT` (set by cargo-leptos), falling back to defaults.
    pub fn from_env() -> anyhow::Result<Config> {
        let var = env_var;
        let addr = match var("CLOUDCGM_ADDR").or_else(|| var("LEPTOS_SITE_ADDR")) {
            Some(a) => a
                .parse()
                .map_err(|e| anyhow::anyhow!("CLOUDCGM_ADDR {a:?} is not host:port ({e})"))?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        Ok(Config {
            addr,
            database_url: var("CLOUDCGM_DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            demo_mode: env_flag("CLOUDCGM_DEMO")?,
            seed_demo: env_flag("CLOUDCGM_SEED_DEMO")?,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            public_origin: var("CLOUDCGM_PUBLIC_ORIGIN")
                .map(|o| parse_origin(&o))
                .transpose()?,
            sandbox: env_flag("CLOUDCGM_SANDBOX")?,
            sandbox_database_url: sandbox_database_url_from_env(),
            sandbox_origin: var("CLOUDCGM_SANDBOX_ORIGIN")
                .map(|o| parse_origin(&o))
                .transpose()?,
            sandbox_clients_file: var("CLOUDCGM_SANDBOX_CLIENTS").map(Into::into),
            ehrs_file: var("CLOUDCGM_EHRS").map(Into::into),
            dev_secrets_file: var("CLOUDCGM_DEV_SECRETS_FILE").map(Into::into),
            code_ttl_hours: match var("CLOUDCGM_SHARING_CODE_TTL_HOURS") {
                None => 24,
                Some(h) => h
                    .parse()
                    .ok()
                    .filter(|h| (1..=24 * 30).contains(h))
                    .ok_or_else(|| {
                        anyhow::anyhow!("CLOUDCGM_SHARING_CODE_TTL_HOURS={h:?}: use 1 to 720 hours")
                    })?,
            },
        })
    }
}
