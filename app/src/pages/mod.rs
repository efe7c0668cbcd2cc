//! One page component per file.

pub mod admin;
pub mod ehr;
pub mod home;
pub mod not_found;
pub mod portal;
pub mod report;
