//! CloudCGM server: the axum application, the command-line interface and every I/O adapter
//! (ARCHITECTURE.md "server/"). `main.rs` only parses the command line and calls in here.

pub mod backend;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod demo_seed;
pub mod report_view;
pub mod sandbox;
pub mod sharing_code;
pub mod smart_client;
pub mod startup;
pub mod store;
pub mod telemetry;
