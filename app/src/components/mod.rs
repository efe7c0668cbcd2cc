//! Reusable pieces of the report page and the error display.

pub mod error_box;
pub mod metrics_table;
pub mod report_controls;
pub mod send_to_ehr;
