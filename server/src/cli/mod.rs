//! The command line: `serve` (default), `report` on a CSV file, `seed-demo`, `export` of a patient's
//! readings as plain CSV (the `report` command's input format), `sandbox`, the sandbox EHR alone, and
//! `keys`, fresh values for the server's secrets.

pub mod report;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "cloudcgm",
    version,
    about = "CloudCGM: CGM data for clinical care through FHIR"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server (the default). Configuration comes from CLOUDCGM_* variables; flags override.
    Serve(ServeArgs),
    /// Compute every metric and the AGP percentiles of a CSV of readings (header `time,glucose,unit`).
    Report(ReportArgs),
    /// Create the demo patients with 90 days of generated readings (skips patients that have data).
    SeedDemo(DbArgs),
    /// Print a patient's readings as plain CSV (the input format of `report`).
    Export(ExportArgs),
    /// Run the built-in sandbox EHR alone (SMART server, FHIR API, CGM Data Receiver, launcher) on its own
    /// port, at the same `/sandbox/...` paths as when `serve --sandbox` mounts it. Test data only.
    Sandbox(SandboxArgs),
    /// Print fresh secrets for a production server: CLOUDCGM_SECRET_KEYS and CLOUDCGM_SHARING_CODE_KEY as
    /// environment lines, and CloudCGM's client key (P-384, PKCS#8 PEM) written to the given file.
    Keys(KeysArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct KeysArgs {
    /// Where to write the new client key (refused if the file exists).
    #[arg(long, default_value = "cloudcgm-client-key.pem")]
    pub client_key_file: PathBuf,
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct DbArgs {
    /// Database URL, e.g. sqlite://data/cloudcgm.db?mode=rwc (default: CLOUDCGM_DATABASE_URL or that).
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, clap::Args, Default)]
pub struct ServeArgs {
    /// Address to listen on (host:port).
    #[arg(long)]
    pub addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub db: DbArgs,
    /// Enable demo mode: the demo patient list and demo reports. Never in production.
    #[arg(long)]
    pub demo: bool,
    /// Seed the demo patients at start when missing (implies --demo and --sandbox).
    #[arg(long)]
    pub seed_demo: bool,
    /// Mount the sandbox EHR under /sandbox (default: CLOUDCGM_SANDBOX). Test systems only.
    #[arg(long)]
    pub sandbox: bool,
    /// The origin browsers reach CloudCGM at, e.g. https://cgm.example.org (default:
    /// CLOUDCGM_PUBLIC_ORIGIN, else http://{addr}).
    #[arg(long)]
    pub public_origin: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on (host:port).
    #[arg(long, default_value = "127.0.0.1:3001")]
    pub addr: std::net::SocketAddr,
    /// The sandbox's database (default: CLOUDCGM_SANDBOX_DATABASE_URL or sqlite://data/sandbox.db?mode=rwc).
    #[arg(long)]
    pub database_url: Option<String>,
    /// The origin browsers and apps reach the sandbox at; its FHIR base is {origin}/sandbox/fhir
    /// (default: http://{addr}).
    #[arg(long)]
    pub origin: Option<String>,
    /// CloudCGM's origin, for the registered client's launch URL, redirect URI and JWKS
    /// (default: CLOUDCGM_SANDBOX_APP_ORIGIN, else http://127.0.0.1:3000).
    #[arg(long)]
    pub app_origin: Option<String>,
    /// The SMART client registry (JSON; default: CLOUDCGM_SANDBOX_CLIENTS, else the demo registry).
    #[arg(long)]
    pub clients: Option<PathBuf>,
    /// Create the demo patients, practitioners and standing orders when missing.
    #[arg(long)]
    pub seed: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum UnitArg {
    #[value(name = "mg")]
    Mg,
    #[value(name = "mmol")]
    Mmol,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// CSV file with columns time, glucose, unit (optional id, device).
    #[arg(long)]
    pub input: PathBuf,
    /// First day (YYYY-MM-DD, local) or instant (RFC 3339) of the window. Default: the first reading's day.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day (inclusive, YYYY-MM-DD) or end instant (exclusive, RFC 3339). Default: the last reading's day.
    #[arg(long)]
    pub to: Option<String>,
    /// The last N days ending with the last reading's day (instead of --from/--to).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub days: Option<u32>,
    /// IANA time zone of the patient: local days, nights and the AGP clock. Times without offset are read in it.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Display unit (default: the unit of the first reading).
    #[arg(long, value_enum)]
    pub unit: Option<UnitArg>,
    /// Indent the JSON (the default is compact: same schema, a third of the size).
    #[arg(long)]
    pub pretty: bool,
    /// Only this subject of a file with an `id` column.
    #[arg(long)]
    pub id: Option<String>,
    /// Nominal sampling interval of the device in seconds (300 for 5-minute, 900 for 15-minute sensors).
    #[arg(long, default_value_t = 300)]
    pub interval: u32,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// CloudCGM patient id.
    #[arg(long)]
    pub patient: i64,
    #[command(flatten)]
    pub db: DbArgs,
}
