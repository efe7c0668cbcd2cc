//! CloudCGM server: the axum application, the command-line interface and every I/O adapter
//! (ARCHITECTURE.md "server/"). `main.rs` only parses the command line and calls in here.

pub mod admin;
pub mod audit;
pub mod backend;
pub mod cli;
pub mod clinician;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo_seed;
pub mod ehr_registry;
pub mod jobs;
pub mod launch;
pub mod linking;
pub mod portal;
pub mod report_download;
pub mod report_pdf;
pub mod report_view;
pub mod sandbox;
pub mod secrets;
pub mod sharing_code;
pub mod smart_client;
pub mod startup;
pub mod state;
pub mod store;
pub mod submissions;
pub mod submit;
pub mod telemetry;
pub mod web;
