//! CloudCGM core: everything that is true regardless of HTTP, database or browser.
//!
//! Glucose values and units, readings and traces, the patient's local time, every CGM metric and the AGP
//! percentile profile of `design/METRICS.md`, the plain CSV reading format, the deterministic demo-data
//! generator, FHIR profile rules and SMART scopes, the meaning of the receiver's CGM data-submission orders
//! (when to submit what), and (feature `charts`) the SVG charts. Pure functions: no I/O, no async; compiles
//! for wasm32.

pub mod agp;
pub mod demo;
pub mod events;
pub mod fhir;
pub mod import;
pub mod localtime;
pub mod metrics;
pub mod orders;
pub mod plain_csv;
pub mod reading;
pub mod report;
pub mod report_rows;
pub mod smart_scope;
pub mod trace;
pub mod units;
pub mod window;

#[cfg(feature = "charts")]
pub mod chart;

pub use reading::{DeviceId, Reading, Sentinel};
pub use trace::Trace;
pub use units::{GlucoseUnit, GlucoseValue, MGDL_PER_MMOLL};
pub use window::Window;
