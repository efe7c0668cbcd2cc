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
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/cloudcgm.db?mode=rwc";

impl Config {
    /// Reads `CLOUDCGM_ADDR`, `CLOUDCGM_DATABASE_URL`, `CLOUDCGM_DEMO`, `CLOUDCGM_SEED_DEMO` and
    /// `LEPTOS_SITE_ROOT` (set by cargo-leptos), falling back to defaults.
    pub fn from_env() -> anyhow::Result<Config> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let addr = match var("CLOUDCGM_ADDR").or_else(|| var("LEPTOS_SITE_ADDR")) {
            Some(a) => a
                .parse()
                .map_err(|e| anyhow::anyhow!("CLOUDCGM_ADDR {a:?} is not host:port ({e})"))?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let flag = |k: &str| -> anyhow::Result<bool> {
            match var(k).as_deref() {
                None => Ok(false),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(other) => anyhow::bail!("{k}={other:?}: use true or false"),
            }
        };
        Ok(Config {
            addr,
            database_url: var("CLOUDCGM_DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            demo_mode: flag("CLOUDCGM_DEMO")?,
            seed_demo: flag("CLOUDCGM_SEED_DEMO")?,
            site_root: var("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
        })
    }
}
