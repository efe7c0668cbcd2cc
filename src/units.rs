//! Glucose units and values: mg/dL ↔ mmol/L with the one conversion factor, display precision, and the
//! consensus range thresholds expressed in each unit (METRICS.md "Inputs" and "Metrics").

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The only place the conversion factor lives: 1 mmol/L = 18.016 mg/dL.
pub const MGDL_PER_MMOLL: f64 = 18.016;

/// The unit a value was measured or is displayed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum GlucoseUnit {
    #[serde(rename = "mg/dL")]
    MgDl,
    #[serde(rename = "mmol/L")]
    MmolL,
}

impl GlucoseUnit {
    /// UCUM code, as FHIR Quantity.code wants it.
    pub fn ucum(self) -> &'static str {
        match self {
            GlucoseUnit::MgDl => "mg/dL",
            GlucoseUnit::MmolL => "mmol/L",
        }
    }

    /// Decimal places shown: integer mg/dL, 0.1 mmol/L.
    pub fn display_decimals(self) -> usize {
        match self {
            GlucoseUnit::MgDl => 0,
            GlucoseUnit::MmolL => 1,
        }
    }

    /// Rounds a value in this unit to display precision (half away from zero).
    pub fn round_display(self, v: f64) -> f64 {
        match self {
            GlucoseUnit::MgDl => v.round(),
            GlucoseUnit::MmolL => (v * 10.0).round() / 10.0,
        }
    }

    /// Formats a value in this unit at display precision, without the unit.
    pub fn format(self, v: f64) -> String {
        format!("{:.*}", self.display_decimals(), self.round_display(v))
    }

    /// The consensus thresholds in this unit (METRICS.md table).
    pub fn thresholds(self) -> Thresholds {
        match self {
            GlucoseUnit::MgDl => Thresholds {
                very_low_below: 54.0,
                low_below: 70.0,
                target_max: 180.0,
                tight_max: 140.0,
                high_max: 250.0,
            },
            GlucoseUnit::MmolL => Thresholds {
                very_low_below: 3.0,
                low_below: 3.9,
                target_max: 10.0,
                tight_max: 7.8,
                high_max: 13.9,
            },
        }
    }
}

impl fmt::Display for GlucoseUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ucum())
    }
}

/// Error for a unit string that is neither mg/dL nor mmol/L.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown glucose unit {0:?}: expected mg/dL or mmol/L")]
pub struct UnknownUnit(pub String);

impl FromStr for GlucoseUnit {
    type Err = UnknownUnit;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The exact UCUM spellings are what files almost always hold: no allocation for them.
        match s {
            "mg/dL" => return Ok(GlucoseUnit::MgDl),
            "mmol/L" => return Ok(GlucoseUnit::MmolL),
            _ => {}
        }
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        match norm.as_str() {
            "mg/dl" | "mgdl" | "mg_dl" => Ok(GlucoseUnit::MgDl),
            "mmol/l" | "mmoll" | "mmol_l" => Ok(GlucoseUnit::MmolL),
            _ => Err(UnknownUnit(s.to_string())),
        }
    }
}

/// Range thresholds in one unit. Classification (see [`RangeBand::classify`]) happens on the value rounded
/// to that unit's display precision, so 10.0 mmol/L is in range although 10.0 × 18.016 = 180.16 mg/dL.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub very_low_below: f64,
    pub low_below: f64,
    pub target_max: f64,
    pub tight_max: f64,
    pub high_max: f64,
}

/// The five consensus ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeBand {
    VeryLow,
    Low,
    Target,
    High,
    VeryHigh,
}

impl RangeBand {
    /// Classifies a value given in `unit`, on its display-rounded value (METRICS.md).
    pub fn classify(value: f64, unit: GlucoseUnit) -> RangeBand {
        let v = unit.round_display(value);
        let t = unit.thresholds();
        // Compare with a small epsilon so 3.9 rounded from 3.8999… is not split by float noise.
        const EPS: f64 = 1e-9;
        if v < t.very_low_below - EPS {
            RangeBand::VeryLow
        } else if v < t.low_below - EPS {
            RangeBand::Low
        } else if v <= t.target_max + EPS {
            RangeBand::Target
        } else if v <= t.high_max + EPS {
            RangeBand::High
        } else {
            RangeBand::VeryHigh
        }
    }

    /// Whether a value is in the tight range (TITR: 70–140 mg/dL, 3.9–7.8 mmol/L), inclusive.
    pub fn in_tight_range(value: f64, unit: GlucoseUnit) -> bool {
        let v = unit.round_display(value);
        let t = unit.thresholds();
        v >= t.low_below - 1e-9 && v <= t.tight_max + 1e-9
    }
}

/// A glucose value with the unit it was measured in. Keep what was measured; convert only for display.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GlucoseValue {
    pub value: f64,
    pub unit: GlucoseUnit,
}

impl GlucoseValue {
    pub fn new(value: f64, unit: GlucoseUnit) -> Self {
        GlucoseValue { value, unit }
    }
    pub fn mg_dl(value: f64) -> Self {
        Self::new(value, GlucoseUnit::MgDl)
    }
    pub fn mmol_l(value: f64) -> Self {
        Self::new(value, GlucoseUnit::MmolL)
    }

    /// The value expressed in `unit` (unrounded).
    pub fn in_unit(self, unit: GlucoseUnit) -> f64 {
        convert(self.value, self.unit, unit)
    }

    pub fn as_mg_dl(self) -> f64 {
        self.in_unit(GlucoseUnit::MgDl)
    }
}

/// Converts a number from one unit to another with [`MGDL_PER_MMOLL`].
pub fn convert(value: f64, from: GlucoseUnit, to: GlucoseUnit) -> f64 {
    match (from, to) {
        (GlucoseUnit::MgDl, GlucoseUnit::MmolL) => value / MGDL_PER_MMOLL,
        (GlucoseUnit::MmolL, GlucoseUnit::MgDl) => value * MGDL_PER_MMOLL,
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mg_dl_boundaries_fall_in_the_consensus_ranges() {
        use RangeBand::*;
        let u = GlucoseUnit::MgDl;
        assert_eq!(RangeBand::classify(53.0, u), VeryLow);
        assert_eq!(RangeBand::classify(53.4, u), VeryLow);
        assert_eq!(RangeBand::classify(53.5, u), Low, "rounds to 54");
        assert_eq!(RangeBand::classify(54.0, u), Low);
        assert_eq!(RangeBand::classify(69.0, u), Low);
        assert_eq!(RangeBand::classify(70.0, u), Target);
        assert_eq!(RangeBand::classify(180.0, u), Target);
        assert_eq!(RangeBand::classify(180.4, u), Target, "rounds to 180");
        assert_eq!(RangeBand::classify(181.0, u), High);
        assert_eq!(RangeBand::classify(250.0, u), High);
        assert_eq!(RangeBand::classify(251.0, u), VeryHigh);
    }

    #[test]
    fn mmol_l_boundaries_fall_in_the_consensus_ranges() {
        use RangeBand::*;
        let u = GlucoseUnit::MmolL;
        assert_eq!(RangeBand::classify(2.9, u), VeryLow);
        assert_eq!(RangeBand::classify(3.0, u), Low);
        assert_eq!(RangeBand::classify(3.8, u), Low);
        assert_eq!(RangeBand::classify(3.9, u), Target);
        assert_eq!(
            RangeBand::classify(10.0, u),
            Target,
            "10.0 mmol/L is in range"
        );
        assert_eq!(RangeBand::classify(10.04, u), Target);
        assert_eq!(RangeBand::classify(10.1, u), High);
        assert_eq!(RangeBand::classify(13.9, u), High);
        assert_eq!(RangeBand::classify(14.0, u), VeryHigh);
    }

    #[test]
    fn tight_range_is_inclusive_at_both_ends() {
        assert!(RangeBand::in_tight_range(70.0, GlucoseUnit::MgDl));
        assert!(RangeBand::in_tight_range(140.0, GlucoseUnit::MgDl));
        assert!(!RangeBand::in_tight_range(141.0, GlucoseUnit::MgDl));
        assert!(!RangeBand::in_tight_range(69.0, GlucoseUnit::MgDl));
        assert!(RangeBand::in_tight_range(7.8, GlucoseUnit::MmolL));
        assert!(!RangeBand::in_tight_range(7.9, GlucoseUnit::MmolL));
    }

    #[test]
    fn conversion_round_trips_and_uses_the_one_factor() {
        let v = GlucoseValue::mmol_l(10.0);
        assert!((v.as_mg_dl() - 180.16).abs() < 1e-9);
        let back = convert(v.as_mg_dl(), GlucoseUnit::MgDl, GlucoseUnit::MmolL);
        assert!((back - 10.0).abs() < 1e-12);
    }

    #[test]
    fn units_parse_from_common_spellings() {
        assert_eq!("mg/dL".parse::<GlucoseUnit>().unwrap(), GlucoseUnit::MgDl);
        assert_eq!(
            " MMOL/L ".parse::<GlucoseUnit>().unwrap(),
            GlucoseUnit::MmolL
        );
        assert!("mg".parse::<GlucoseUnit>().is_err());
    }
}
