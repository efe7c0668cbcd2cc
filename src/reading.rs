//! One CGM reading: an instant in UTC, the value as reported with its unit, the device that measured it
//! and whether it was a Low/High sentinel (METRICS.md "Inputs").

use crate::units::{GlucoseUnit, GlucoseValue};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Identifies the device (sensor/receiver) a reading came from, within one patient.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceId(pub String);

impl DeviceId {
    pub fn new(s: impl Into<String>) -> Self {
        DeviceId(s.into())
    }
}

/// A "Low" or "High" reading: the sensor said the value is outside what it can measure.
/// It counts as a reading at the sentinel bound (e.g. 39 or 401 mg/dL) and stays flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentinel {
    Low,
    High,
}

/// One reading. `interval_s` is the device's nominal sampling interval (300 for 5-minute, 900 for
/// 15-minute sensors): metrics weight each reading by it so mixed 5/15-minute data stays fair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub at: DateTime<Utc>,
    pub value: f64,
    pub unit: GlucoseUnit,
    pub sentinel: Option<Sentinel>,
    pub device: DeviceId,
    pub interval_s: u32,
}

impl Reading {
    pub fn glucose(&self) -> GlucoseValue {
        GlucoseValue::new(self.value, self.unit)
    }

    /// The value in mg/dL (unrounded).
    pub fn mg_dl(&self) -> f64 {
        self.glucose().as_mg_dl()
    }

    /// The value in `unit` (unrounded).
    pub fn in_unit(&self, unit: GlucoseUnit) -> f64 {
        self.glucose().in_unit(unit)
    }
}
