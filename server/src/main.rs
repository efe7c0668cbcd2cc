//! The `cloudcgm` binary: parses the command line and hands over to the library.

use clap::Parser;
use cloudcgm_server::cli::{Cli, Command, DbArgs, ServeArgs};
use cloudcgm_server::config::Config;
use cloudcgm_server::startup::Application;
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

async fn run_async(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let mut config = config_with(&args.db)?;
            if let Some(addr) = args.addr {
                config.addr = addr;
            }
            config.demo_mode |= args.demo || args.seed_demo;
            config.seed_demo |= args.seed_demo;
            let app = Application::build(config.clone()).await?;
            let addr = app.local_addr()?;
            tracing::info!(%addr, demo = config.demo_mode, "CloudCGM is listening");
            println!("CloudCGM is running at http://{addr}/");
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
        Command::Report(_) => unreachable!("handled without a runtime"),
    }
}
