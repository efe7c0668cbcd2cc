//! The `cloudcgm` binary: parses the command line and hands over to the library.

use clap::Parser;
use cloudcgm_server::cli::{Cli, Command, DbArgs, SandboxArgs, ServeArgs};
use cloudcgm_server::config::{env_var, parse_origin, sandbox_database_url_from_env, Config};
use cloudcgm_server::startup::{Application, SandboxApplication, SandboxSettings};
use cloudcgm_server::store::sqlite::SqliteStore;
use cloudcgm_server::store::{PatientId, Store};
use cloudcgm_server::{cli, demo_seed, telemetry};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Report(args)) => match cli::report::run(&args) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        other => {
            telemetry::init();
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match rt.block_on(run_async(
                other.unwrap_or(Command::Serve(ServeArgs::default())),
            )) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn config_with(db: &DbArgs) -> anyhow::Result<Config> {
    let mut config = Config::from_env()?;
    if let Some(url) = &db.database_url {
        config.database_url = url.clone();
    }
    Ok(config)
}

/// The sandbox subcommand's flags over its environment variables over the defaults.
fn sandbox_settings(args: SandboxArgs) -> anyhow::Result<SandboxSettings> {
    let app_origin = match args
        .app_origin
        .or_else(|| env_var("CLOUDCGM_SANDBOX_APP_ORIGIN"))
    {
        Some(origin) => parse_origin(&origin)?,
        None => "http://127.0.0.1:3000".to_string(),
    };
    Ok(SandboxSettings {
        addr: args.addr,
        origin: args.origin.as_deref().map(parse_origin).transpose()?,
        database_url: args
            .database_url
            .unwrap_or_else(sandbox_database_url_from_env),
        app_origin,
        clients_file: args
            .clients
            .or_else(|| env_var("CLOUDCGM_SANDBOX_CLIENTS").map(Into::into)),
        seed: args.seed,
    })
}

async fn run_async(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let mut config = config_with(&args.db)?;
            if let Some(addr) = args.addr {
                config.addr = addr;
            }
            config.demo_mode |= args.demo || args.seed_demo;
            config.seed_demo |= args.seed_demo;
            // Demo data comes with an EHR to open it from.
            config.sandbox |= args.sandbox || config.seed_demo;
            if let Some(origin) = &args.public_origin {
                config.public_origin = Some(parse_origin(origin)?);
            }
            // Demo and sandbox servers may run without configured secrets (generated once, kept on disk).
            if config.dev_secrets_file.is_none() && (config.demo_mode || config.sandbox) {
                config.dev_secrets_file =
                    Some(cloudcgm_server::config::DEFAULT_DEV_SECRETS_FILE.into());
            }
            let app = Application::build(config.clone()).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, demo = config.demo_mode, sandbox = config.sandbox, "CloudCGM is listening");
            println!("CloudCGM is running at {}/", app.origin);
            if app.sandbox.is_some() {
                println!(
                    "Sandbox EHR (test data only): {}{}",
                    app.origin,
                    cloudcgm_server::sandbox::LAUNCHER_PATH
                );
            }
            app.run().await?;
            Ok(())
        }
        Command::Sandbox(args) => {
            let app = SandboxApplication::build(sandbox_settings(args)?).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, fhir_base = %app.state.config.fhir_base(), "the sandbox EHR is listening");
            println!(
                "Sandbox EHR (test data only): {}{}",
                app.state.config.origin,
                cloudcgm_server::sandbox::LAUNCHER_PATH
            );
            println!("FHIR base (iss): {}", app.state.config.fhir_base());
            app.run().await?;
            Ok(())
        }
        Command::SeedDemo(db) => {
            let config = config_with(&db)?;
            let store = SqliteStore::connect(&config.database_url).await?;
            for o in demo_seed::seed_demo(&store, chrono::Utc::now()).await? {
                println!("{}: {} readings added", o.patient, o.added);
            }
            Ok(())
        }
        Command::Export(args) => {
            let config = config_with(&args.db)?;
            let store = SqliteStore::connect(&config.database_url).await?;
            let readings = store.all_readings(PatientId(args.patient)).await?;
            print!("{}", cloudcgm::plain_csv::write(&readings, None));
            Ok(())
        }
        Command::Keys(args) => {
            let (keys, code_key, pem) = cloudcgm_server::secrets::AppSecrets::generate_env()?;
            cloudcgm_server::secrets::write_private(&args.client_key_file, &pem)?;
            println!("CLOUDCGM_SECRET_KEYS={keys}");
            println!("CLOUDCGM_SHARING_CODE_KEY={code_key}");
            println!(
                "CLOUDCGM_CLIENT_KEY_FILE={}",
                args.client_key_file.display()
            );
            Ok(())
        }
        Command::Report(_) => unreachable!("handled without a runtime"),
    }
}
