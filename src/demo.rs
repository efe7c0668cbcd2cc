//! Deterministic demo data: the fictional demo patients and a seeded generator of realistic CGM traces
//! for them (daily rhythm, meals, dawn phenomenon, lows, sensor noise, sensor sessions with warm-up gaps,
//! signal loss, Low/High sentinels, device resolution).
//!
//! Stability: every random quantity is a pure function of (seed, patient key, what, when) through a
//! hand-written SplitMix64/xoshiro256** generator, and the only floating-point operations are +, −, ×, ÷,
//! √ and rounding (IEEE-exact everywhere) plus the series in `detmath`; no platform `exp`/`ln`/`cos`.
//! So a trace is identical on every platform (server and wasm) and crate version, and a reading at
//! instant t does not depend on the window asked for: moving `end` forward only appends readings, the
//! past stays the same.

use crate::localtime::{from_local, local_date, local_seconds_of_day, parse_tz};
use crate::reading::{DeviceId, Reading, Sentinel};
use crate::units::{convert, GlucoseUnit};
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The clinical picture a demo patient's trace is generated to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemoProfile {
    /// Time in range above 70 %, below range under 4 %, CV under 36 %.
    WellControlled,
    /// Low and very low together well above 4 %, with night-time lows.
    FrequentLows,
    /// CV above 36 %: missed boluses, long highs, correction lows.
    HighVariability,
    /// Under 70 % time CGM active: days without a sensor and frequent signal loss.
    SparseWear,
}

/// A CGM model as the generator needs it. Limits are the sensor's measuring range in mg/dL; outside
/// it the device reports a Low/High sentinel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DeviceModel {
    pub id: &'static str,
    pub display: &'static str,
    pub interval_s: u32,
    pub unit: GlucoseUnit,
    pub low_limit_mg_dl: f64,
    pub high_limit_mg_dl: f64,
    /// Wear time of one sensor.
    pub session_days: u32,
    /// No readings for this long after a new sensor is put on.
    pub warmup_min: u32,
}

impl DeviceModel {
    /// The value a Low/High sentinel is recorded with: one mg/dL past the limit, at device resolution
    /// (Low 39 mg/dL or 2.2 mmol/L; High 401 mg/dL, 22.3 mmol/L, or 501 mg/dL, 27.8 mmol/L).
    pub fn sentinel_value(&self, sentinel: Sentinel) -> f64 {
        let mg = match sentinel {
            Sentinel::Low => self.low_limit_mg_dl - 1.0,
            Sentinel::High => self.high_limit_mg_dl + 1.0,
        };
        self.unit
            .round_display(convert(mg, GlucoseUnit::MgDl, self.unit))
    }
}

/// Five-minute sensor, mg/dL, 40–400 mg/dL, 10-day sessions with a 2-hour warm-up.
pub const DEXCOM_G6_LIKE: DeviceModel = DeviceModel {
    id: "dexcom-g6-like",
    display: "Dexcom G6-like 5-minute CGM",
    interval_s: 300,
    unit: GlucoseUnit::MgDl,
    low_limit_mg_dl: 40.0,
    high_limit_mg_dl: 400.0,
    session_days: 10,
    warmup_min: 120,
};

/// Fifteen-minute sensor reporting mmol/L, 40–500 mg/dL (2.2–27.8 mmol/L), 14-day sessions with a
/// 1-hour warm-up.
pub const LIBRE_2_LIKE_MMOL: DeviceModel = DeviceModel {
    id: "libre-2-like",
    display: "FreeStyle Libre 2-like 15-minute CGM (mmol/L)",
    interval_s: 900,
    unit: GlucoseUnit::MmolL,
    low_limit_mg_dl: 40.0,
    high_limit_mg_dl: 500.0,
    session_days: 14,
    warmup_min: 60,
};

/// A fictional demo patient.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DemoPatient {
    /// Stable ASCII key (URLs, FHIR ids, seeds).
    pub key: &'static str,
    pub given: &'static str,
    pub family: &'static str,
    pub birth_date: NaiveDate,
    /// FHIR administrative gender: "female" or "male".
    pub sex: &'static str,
    /// IANA zone name.
    pub time_zone: &'static str,
    pub profile: DemoProfile,
    pub device_model: DeviceModel,
}

impl DemoPatient {
    /// The patient's zone (UTC if the name were ever invalid; the demo names are tested).
    pub fn tz(&self) -> Tz {
        parse_tz(self.time_zone).unwrap_or(Tz::UTC)
    }

    /// The one device id of this patient's device model; sensor changes show as gaps, not new devices.
    pub fn device_id(&self) -> DeviceId {
        DeviceId(format!("{}-{}", self.device_model.id, self.key))
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// The demo patients: four distinct clinical pictures in four zones, two device models, both units.
pub fn demo_patients() -> Vec<DemoPatient> {
    vec![
        DemoPatient {
            key: "elena",
            given: "Elena",
            family: "Fischer",
            birth_date: date(1968, 5, 14),
            sex: "female",
            time_zone: "Europe/Berlin",
            profile: DemoProfile::WellControlled,
            device_model: LIBRE_2_LIKE_MMOL,
        },
        DemoPatient {
            key: "james",
            given: "James",
            family: "Carter",
            birth_date: date(1989, 11, 2),
            sex: "male",
            time_zone: "America/New_York",
            profile: DemoProfile::FrequentLows,
            device_model: DEXCOM_G6_LIKE,
        },
        DemoPatient {
            key: "sofia",
            given: "Sofía",
            family: "Ramírez",
            birth_date: date(2004, 2, 29),
            sex: "female",
            time_zone: "America/Los_Angeles",
            profile: DemoProfile::HighVariability,
            device_model: DEXCOM_G6_LIKE,
        },
        DemoPatient {
            key: "liam",
            given: "Liam",
            family: "O'Brien",
            birth_date: date(1975, 8, 21),
            sex: "male",
            time_zone: "Australia/Sydney",
            profile: DemoProfile::SparseWear,
            device_model: LIBRE_2_LIKE_MMOL,
        },
    ]
}

/// Longest trace [`generate`] produces; longer requests are shortened to the last this many days.
pub const MAX_DAYS: u32 = 3_660;

/// The readings of `patient` in [end − days, end), sorted by time, deterministic for the arguments.
/// A reading's existence and value depend only on (patient, seed, its instant), so overlapping windows
/// agree.
pub fn generate(patient: &DemoPatient, end: DateTime<Utc>, days: u32, seed: u64) -> Vec<Reading> {
    let days = days.min(MAX_DAYS);
    let start = end
        .checked_sub_signed(Duration::days(i64::from(days)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut sim = Simulator::new(patient, seed);
    let interval = i64::from(patient.device_model.interval_s.max(1));
    let (from, to) = (start.timestamp(), end.timestamp());
    let mut out = Vec::with_capacity(((to - from).max(0) / interval) as usize + 1);
    let first_slot = (from - sim.epoch).div_euclid(sim.slot_len) - 1;
    let last_slot = (to - sim.epoch).div_euclid(sim.slot_len);
    for k in first_slot..=last_slot {
        let session = sim.session(k);
        // Jump straight to the first reading inside the window.
        let skip = ((from - session.first).max(0) + interval - 1) / interval;
        let mut t = session.first + skip * interval;
        while t < session.stop && t < to {
            let Some(at) = DateTime::from_timestamp(t, 0) else {
                break;
            };
            if at >= start && !session.lost(t) {
                out.push(sim.reading(at, &session));
            }
            t += interval;
        }
    }
    out
}

/// Platform-independent transcendental functions from +, −, ×, ÷ only, so generated data never depends on
/// a platform's libm. Accuracy is a few ulp, far below device resolution.
mod detmath {
    use std::f64::consts::{LN_2, PI, SQRT_2, TAU};

    fn pow2(k: i32) -> f64 {
        f64::from_bits(((k.clamp(-1022, 1023) + 1023) as u64) << 52)
    }

    pub fn exp(x: f64) -> f64 {
        if x.is_nan() {
            return x;
        }
        let x = x.clamp(-708.0, 709.0);
        let k = (x / LN_2).round();
        let r = x - k * LN_2;
        let (mut term, mut sum) = (1.0, 1.0);
        for i in 1..=17 {
            term *= r / f64::from(i);
            sum += term;
        }
        sum * pow2(k as i32)
    }

    /// Natural logarithm of x > 0 (non-positive input gives −∞).
    pub fn ln(x: f64) -> f64 {
        if x.is_nan() || x <= 0.0 {
            return f64::NEG_INFINITY;
        }
        let x = x.max(f64::MIN_POSITIVE);
        let bits = x.to_bits();
        let mut e = ((bits >> 52) & 0x7ff) as i32 - 1023;
        let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
        if m > SQRT_2 {
            m /= 2.0;
            e += 1;
        }
        // ln m = 2 artanh s with s = (m − 1)/(m + 1), |s| ≤ 0.172.
        let s = (m - 1.0) / (m + 1.0);
        let s2 = s * s;
        let (mut pow, mut sum) = (s, 0.0);
        for k in 0..14 {
            sum += pow / f64::from(2 * k + 1);
            pow *= s2;
        }
        f64::from(e) * LN_2 + 2.0 * sum
    }

    pub fn cos(x: f64) -> f64 {
        if !x.is_finite() {
            return f64::NAN;
        }
        let y = (x - (x / TAU).round() * TAU).abs();
        // Fold to [0, π/2], where the series converges fast.
        let (y, sign) = if y > PI / 2.0 {
            (PI - y, -1.0)
        } else {
            (y, 1.0)
        };
        let y2 = y * y;
        let (mut term, mut sum) = (1.0, 1.0);
        for i in 1..=12 {
            term *= -y2 / f64::from((2 * i - 1) * (2 * i));
            sum += term;
        }
        sign * sum
    }
}

fn mix(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** seeded through SplitMix64 from a list of keys (seed, patient, purpose, index).
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn from_keys(keys: &[u64]) -> Self {
        let mut h = 0x6A09_E667_F3BC_C909u64;
        for &k in keys {
            h = mix(h ^ k);
        }
        let mut s = [0u64; 4];
        for (i, slot) in s.iter_mut().enumerate() {
            *slot = mix(h.wrapping_add(i as u64));
        }
        Rng { s }
    }

    fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Standard normal by Box–Muller (one of the pair is enough here).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1], so ln is finite
        let u2 = self.uniform();
        (-2.0 * detmath::ln(u1)).sqrt() * detmath::cos(std::f64::consts::TAU * u2)
    }

    fn poisson(&mut self, mean: f64) -> u32 {
        let limit = detmath::exp(-mean);
        let (mut k, mut p) = (0u32, self.uniform());
        while p > limit && k < 1_000 {
            k += 1;
            p *= self.uniform();
        }
        k
    }
}

/// FNV-1a: a stable hash of the patient key (std's hasher may change between releases).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

// Purposes, so that the random streams are independent of each other.
const LAYOUT: u64 = 1;
const SLOT: u64 = 2;
const DAY: u64 = 3;
const DRIFT: u64 = 4;
const LEVEL: u64 = 5;
const SENSOR_DRIFT: u64 = 6;
const SENSOR_WHITE: u64 = 7;

/// How a profile's glucose behaves. Glucose in mg/dL, durations in minutes unless named otherwise.
struct Params {
    /// Fasting level.
    base: f64,
    /// Day-to-day level changes (illness, activity).
    day_sd: f64,
    /// Slow within-day wandering.
    drift_sd: f64,
    /// Dawn phenomenon: rise around 06:30 local.
    dawn: f64,
    /// Peak rise per gram of carbohydrate for a bolused meal.
    gain: f64,
    skip_breakfast: f64,
    missed_bolus: f64,
    /// Chance of an over-correction low some hours after a missed bolus.
    correction_low: f64,
    night_low: f64,
    night_nadir: (f64, f64),
    day_low: f64,
    day_nadir: (f64, f64),
    /// Signal-loss gaps per day of wear.
    loss_per_day: f64,
    /// Chance a new sensor goes on days late, and how many days.
    late_sensor: f64,
    late_days: (f64, f64),
    /// Sensor error: slowly varying (mg/dL), white (mg/dL) and per-sensor calibration bias (fraction).
    noise_slow: f64,
    noise_white: f64,
    bias_sd: f64,
}

fn params(profile: DemoProfile) -> Params {
    let common = Params {
        base: 112.0,
        day_sd: 10.0,
        drift_sd: 15.0,
        dawn: 15.0,
        gain: 1.3,
        skip_breakfast: 0.1,
        missed_bolus: 0.03,
        correction_low: 0.1,
        night_low: 0.03,
        night_nadir: (58.0, 68.0),
        day_low: 0.05,
        day_nadir: (56.0, 68.0),
        loss_per_day: 0.25,
        late_sensor: 0.0,
        late_days: (0.0, 0.0),
        noise_slow: 5.0,
        noise_white: 3.0,
        bias_sd: 0.04,
    };
    match profile {
        DemoProfile::WellControlled => common,
        DemoProfile::FrequentLows => Params {
            base: 104.0,
            day_sd: 10.0,
            drift_sd: 18.0,
            dawn: 10.0,
            gain: 1.1,
            missed_bolus: 0.05,
            night_low: 0.75,
            night_nadir: (36.0, 64.0),
            day_low: 0.7,
            day_nadir: (42.0, 66.0),
            loss_per_day: 0.3,
            ..common
        },
        DemoProfile::HighVariability => Params {
            base: 140.0,
            day_sd: 35.0,
            drift_sd: 50.0,
            dawn: 25.0,
            gain: 1.7,
            skip_breakfast: 0.25,
            missed_bolus: 0.45,
            correction_low: 0.5,
            night_low: 0.1,
            night_nadir: (42.0, 65.0),
            day_low: 0.15,
            day_nadir: (45.0, 65.0),
            loss_per_day: 0.4,
            ..common
        },
        DemoProfile::SparseWear => Params {
            base: 140.0,
            day_sd: 15.0,
            drift_sd: 20.0,
            dawn: 20.0,
            gain: 1.5,
            skip_breakfast: 0.3,
            missed_bolus: 0.12,
            correction_low: 0.15,
            night_low: 0.05,
            day_low: 0.08,
            loss_per_day: 1.5,
            late_sensor: 0.9,
            late_days: (4.0, 8.0),
            ..common
        },
    }
}

/// A meal (or hypo treatment) response: a gamma-shaped rise peaking after `peak_s` and returning.
struct Bump {
    at: i64,
    amp: f64,
    peak_s: f64,
}

impl Bump {
    fn value(&self, t: i64) -> f64 {
        let x = (t - self.at) as f64 / self.peak_s;
        if !(0.0..8.0).contains(&x) {
            return 0.0;
        }
        self.amp * x * x * detmath::exp(2.0 * (1.0 - x))
    }
}

/// A low: glucose is pulled towards `nadir` over `fall_s`, held, then released over `rise_s`.
struct Dip {
    at: i64,
    nadir: f64,
    fall_s: f64,
    hold_s: f64,
    rise_s: f64,
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

impl Dip {
    fn weight(&self, t: i64) -> f64 {
        let dt = (t - self.at) as f64;
        if dt <= 0.0 {
            0.0
        } else if dt < self.fall_s {
            smoothstep(dt / self.fall_s)
        } else if dt < self.fall_s + self.hold_s {
            1.0
        } else {
            1.0 - smoothstep((dt - self.fall_s - self.hold_s) / self.rise_s)
        }
    }
}

/// One local day's events (they may reach into the next day).
struct DayPlan {
    bumps: Vec<Bump>,
    dips: Vec<Dip>,
}

/// One sensor session: readings every interval from `first` until `stop`, except in `losses`.
struct Session {
    first: i64,
    stop: i64,
    losses: Vec<(i64, i64)>,
    bias: f64,
}

impl Session {
    fn lost(&self, t: i64) -> bool {
        self.losses.iter().any(|&(a, b)| t >= a && t < b)
    }
}

struct Simulator<'a> {
    patient: &'a DemoPatient,
    tz: Tz,
    params: Params,
    keys: [u64; 2],
    epoch: i64,
    slot_len: i64,
    plans: HashMap<NaiveDate, DayPlan>,
}

impl<'a> Simulator<'a> {
    fn new(patient: &'a DemoPatient, seed: u64) -> Self {
        let keys = [seed, fnv1a(patient.key)];
        let m = &patient.device_model;
        // A slot is one sensor's life plus warm-up and a few minutes to change it.
        let slot_len =
            i64::from(m.session_days.max(1)) * 86_400 + i64::from(m.warmup_min) * 60 + 600;
        // Sensor changes fall at a patient-specific time, not at a shared midnight.
        let offset =
            (Rng::from_keys(&[keys[0], keys[1], LAYOUT]).uniform() * slot_len as f64) as i64;
        Simulator {
            patient,
            tz: patient.tz(),
            params: params(patient.profile),
            keys,
            epoch: 1_578_268_800 + offset, // 2020-01-06T00:00:00Z
            slot_len,
            plans: HashMap::new(),
        }
    }

    fn rng(&self, purpose: u64, index: i64) -> Rng {
        Rng::from_keys(&[self.keys[0], self.keys[1], purpose, index as u64])
    }

    /// Smooth noise with unit-variance knots every `knot_s` seconds.
    fn smooth_noise(&self, purpose: u64, t: i64, knot_s: i64) -> f64 {
        let n = t.div_euclid(knot_s);
        let f = t.rem_euclid(knot_s) as f64 / knot_s as f64;
        let a = self.rng(purpose, n).normal();
        let b = self.rng(purpose, n + 1).normal();
        a + (b - a) * smoothstep(f)
    }

    fn session(&self, k: i64) -> Session {
        let m = &self.patient.device_model;
        let p = &self.params;
        let mut rng = self.rng(SLOT, k);
        let slot_start = self.epoch + k * self.slot_len;
        let slot_end = slot_start + self.slot_len;
        let mut insertion = slot_start + (rng.uniform() * 600.0) as i64;
        if rng.chance(p.late_sensor) {
            insertion += (rng.range(p.late_days.0, p.late_days.1) * 86_400.0) as i64;
        }
        let warmup = i64::from(m.warmup_min) * 60 + (rng.range(-5.0, 10.0) * 60.0) as i64;
        let first = insertion + warmup;
        let mut stop = (insertion + i64::from(m.session_days) * 86_400).min(slot_end);
        // Now and then a sensor fails early.
        if rng.chance(0.05) && stop > first {
            stop = first + (rng.range(0.3, 0.9) * (stop - first) as f64) as i64;
        }
        let wear_days = (stop - first).max(0) as f64 / 86_400.0;
        let n = rng.poisson(p.loss_per_day * wear_days);
        let losses = (0..n)
            .map(|_| {
                let at = first + (rng.uniform() * (stop - first).max(0) as f64) as i64;
                // Log-uniform 20 min … 3 h: short dropouts are much commoner than long ones.
                let minutes = detmath::exp(rng.range(detmath::ln(20.0), detmath::ln(180.0)));
                (at, at + (minutes * 60.0) as i64)
            })
            .collect();
        let bias = rng.normal() * p.bias_sd;
        Session {
            first,
            stop,
            losses,
            bias,
        }
    }

    fn at_local(&self, day: NaiveDate, minutes: f64) -> i64 {
        let minutes = minutes.clamp(0.0, 24.0 * 60.0 - 1.0);
        let time = NaiveTime::from_num_seconds_from_midnight_opt((minutes * 60.0) as u32, 0)
            .unwrap_or(NaiveTime::MIN);
        from_local(day.and_time(time), self.tz).timestamp()
    }

    fn plan(&self, day: NaiveDate) -> DayPlan {
        let p = &self.params;
        let mut rng = self.rng(DAY, i64::from(day.num_days_from_ce()));
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let appetite = rng.range(0.8, 1.2);
        let mut bumps = Vec::new();
        let mut dips = Vec::new();
        // (earliest, latest start in local minutes, carbs range g, chance)
        let late = if weekend { 60.0 } else { 0.0 };
        let meals = [
            (
                390.0 + late,
                510.0 + late,
                25.0,
                60.0,
                1.0 - p.skip_breakfast,
            ),
            (705.0, 825.0, 35.0, 80.0, 0.95),
            (1065.0, 1215.0, 45.0, 100.0, 1.0),
            (900.0, 990.0, 10.0, 25.0, 0.35),
            (1260.0, 1350.0, 10.0, 25.0, 0.2),
        ];
        for (early, latest, c_lo, c_hi, chance) in meals {
            // Draw everything first so one meal's choices never shift another's random stream.
            let (happens, minute, carbs) = (
                rng.chance(chance),
                rng.range(early, latest),
                rng.range(c_lo, c_hi),
            );
            let (missed, peak_min, corr, corr_after, corr_nadir, corr_hold) = (
                rng.chance(p.missed_bolus),
                rng.range(45.0, 70.0),
                rng.chance(p.correction_low),
                rng.range(240.0, 330.0),
                rng.range(48.0, 68.0),
                rng.range(20.0, 50.0),
            );
            if !happens {
                continue;
            }
            let at = self.at_local(day, minute);
            let amp = carbs * p.gain * appetite;
            if missed {
                bumps.push(Bump {
                    at,
                    amp: amp * 1.7,
                    peak_s: peak_min * 60.0 * 1.8,
                });
                if corr {
                    let dip_at = at + (corr_after * 60.0) as i64;
                    dips.push(Dip {
                        at: dip_at,
                        nadir: corr_nadir,
                        fall_s: 2_700.0,
                        hold_s: corr_hold * 60.0,
                        rise_s: 1_200.0,
                    });
                    bumps.push(Bump {
                        at: dip_at + 2_700 + (corr_hold * 60.0) as i64,
                        amp: 35.0,
                        peak_s: 2_400.0,
                    });
                }
            } else {
                bumps.push(Bump {
                    at,
                    amp,
                    peak_s: peak_min * 60.0,
                });
            }
        }
        let night = (
            rng.chance(p.night_low),
            rng.range(60.0, 270.0),
            rng.range(p.night_nadir.0, p.night_nadir.1),
            rng.range(40.0, 90.0),
            rng.range(30.0, 120.0),
            rng.range(20.0, 40.0),
        );
        let daytime = (
            rng.chance(p.day_low),
            rng.range(600.0, 1020.0),
            rng.range(p.day_nadir.0, p.day_nadir.1),
            rng.range(25.0, 45.0),
            rng.range(10.0, 40.0),
            rng.range(15.0, 25.0),
        );
        for (happens, minute, nadir, fall, hold, rise) in [night, daytime] {
            if happens {
                let at = self.at_local(day, minute);
                dips.push(Dip {
                    at,
                    nadir,
                    fall_s: fall * 60.0,
                    hold_s: hold * 60.0,
                    rise_s: rise * 60.0,
                });
                // Treated with fast carbs: a rebound as the low ends.
                let treated = at + ((fall + hold) * 60.0) as i64;
                bumps.push(Bump {
                    at: treated - 300,
                    amp: rng.range(20.0, 50.0),
                    peak_s: 2_400.0,
                });
            }
        }
        dips.sort_by_key(|d| d.at);
        DayPlan { bumps, dips }
    }

    /// True (interstitial) glucose in mg/dL.
    fn glucose(&mut self, at: DateTime<Utc>) -> f64 {
        let t = at.timestamp();
        let p = &self.params;
        let hour = f64::from(local_seconds_of_day(at, self.tz)) / 3_600.0;
        let dawn = p.dawn * detmath::exp(-0.5 * ((hour - 6.5) / 1.3) * ((hour - 6.5) / 1.3));
        let mut g = p.base
            + p.day_sd * self.smooth_noise(LEVEL, t, 86_400)
            + p.drift_sd * self.smooth_noise(DRIFT, t, 7_200)
            + dawn;
        let today = local_date(at, self.tz);
        let days = [today.pred_opt().unwrap_or(today), today];
        for d in days {
            if !self.plans.contains_key(&d) {
                let plan = self.plan(d);
                self.plans.insert(d, plan);
            }
        }
        let plans: Vec<&DayPlan> = days.iter().filter_map(|d| self.plans.get(d)).collect();
        g += plans
            .iter()
            .flat_map(|pl| pl.bumps.iter())
            .map(|b| b.value(t))
            .sum::<f64>();
        for dip in plans.iter().flat_map(|pl| pl.dips.iter()) {
            let w = dip.weight(t);
            g = g * (1.0 - w) + dip.nadir * w;
        }
        // Physiology keeps glucose within this band even when the model's terms pile up.
        g.clamp(25.0, 600.0)
    }

    fn reading(&mut self, at: DateTime<Utc>, session: &Session) -> Reading {
        let m = self.patient.device_model;
        let t = at.timestamp();
        let g = self.glucose(at);
        // New sensors are less accurate on their first day.
        let age_h = (t - session.first) as f64 / 3_600.0;
        let settling = 1.0 + detmath::exp(-age_h / 12.0);
        let p = &self.params;
        let noise = settling
            * (p.noise_slow * self.smooth_noise(SENSOR_DRIFT, t, 1_200)
                + p.noise_white * self.rng(SENSOR_WHITE, t).normal());
        let measured = g * (1.0 + session.bias) + noise;
        let rounded = measured.round();
        let (value, sentinel) = if rounded < m.low_limit_mg_dl {
            (m.sentinel_value(Sentinel::Low), Some(Sentinel::Low))
        } else if rounded > m.high_limit_mg_dl {
            (m.sentinel_value(Sentinel::High), Some(Sentinel::High))
        } else {
            (
                m.unit
                    .round_display(convert(rounded, GlucoseUnit::MgDl, m.unit)),
                None,
            )
        };
        Reading {
            at,
            value,
            unit: m.unit,
            sentinel,
            device: self.patient.device_id(),
            interval_s: m.interval_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{compute_metrics, Metrics};
    use crate::trace::Trace;
    use crate::window::Window;
    use chrono::TimeZone;

    fn end() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 11, 20, 12, 0, 0).unwrap()
    }

    fn patient(profile: DemoProfile) -> DemoPatient {
        demo_patients()
            .into_iter()
            .find(|p| p.profile == profile)
            .unwrap()
    }

    fn metrics_90_days(profile: DemoProfile) -> Metrics {
        let p = patient(profile);
        let trace = Trace::new(generate(&p, end(), 90, 7));
        let w = Window::new(end() - Duration::days(90), end()).unwrap();
        compute_metrics(trace.readings(), &w, p.tz(), p.device_model.unit)
    }

    fn below_range(m: &Metrics) -> f64 {
        m.ranges.map(|r| r.very_low + r.low).unwrap_or(f64::NAN)
    }

    #[test]
    fn the_same_arguments_give_identical_readings_and_another_seed_gives_others() {
        for p in demo_patients() {
            let a = generate(&p, end(), 14, 1);
            assert!(!a.is_empty());
            assert_eq!(a, generate(&p, end(), 14, 1), "{}", p.key);
            assert_ne!(a, generate(&p, end(), 14, 2), "{}", p.key);
        }
    }

    #[test]
    fn overlapping_windows_agree_on_every_shared_instant() {
        let p = patient(DemoProfile::FrequentLows);
        let long = generate(&p, end(), 30, 3);
        let earlier_end = end() - Duration::hours(50) - Duration::seconds(17);
        let short = generate(&p, earlier_end, 10, 3);
        let start = earlier_end - Duration::days(10);
        let expected: Vec<Reading> = long
            .iter()
            .filter(|r| r.at >= start && r.at < earlier_end)
            .cloned()
            .collect();
        assert_eq!(short, expected);
    }

    #[test]
    fn the_first_readings_for_a_fixed_seed_never_change() {
        // Pinned output: a change here changes every demo trace; do it on purpose or not at all.
        let p = patient(DemoProfile::FrequentLows);
        let got: Vec<(i64, f64)> = generate(&p, end(), 1, 42)
            .iter()
            .take(4)
            .map(|r| (r.at.timestamp(), r.value))
            .collect();
        assert_eq!(got, PINNED);
    }

    const PINNED: [(i64, f64); 4] = [
        (1_732_017_682, 112.0),
        (1_732_017_982, 122.0),
        (1_732_018_282, 134.0),
        (1_732_018_582, 143.0),
    ];

    #[test]
    fn readings_are_sorted_and_lie_in_the_half_open_window() {
        let end = Utc.with_ymd_and_hms(2024, 3, 12, 7, 3, 41).unwrap();
        for p in demo_patients() {
            let rs = generate(&p, end, 20, 5);
            let start = end - Duration::days(20);
            assert!(rs.iter().all(|r| r.at >= start && r.at < end), "{}", p.key);
            assert!(rs.windows(2).all(|w| w[0].at < w[1].at), "{}", p.key);
            assert!(rs.iter().all(|r| r.at.timestamp_subsec_nanos() == 0));
            assert!(generate(&p, end, 0, 5).is_empty());
        }
    }

    #[test]
    fn the_well_controlled_patient_is_in_range_over_70_percent_with_under_4_percent_low() {
        let m = metrics_90_days(DemoProfile::WellControlled);
        let tir = m.ranges.map(|r| r.target).unwrap_or(0.0);
        assert!(tir > 70.0, "TIR {tir}");
        assert!(below_range(&m) < 4.0, "below range {}", below_range(&m));
        assert!(
            m.cv_percent.unwrap_or(100.0) < 36.0,
            "CV {:?}",
            m.cv_percent
        );
        assert!(m.active_percent > 70.0, "active {}", m.active_percent);
    }

    #[test]
    fn the_frequent_lows_patient_is_below_range_well_over_4_percent() {
        let m = metrics_90_days(DemoProfile::FrequentLows);
        assert!(below_range(&m) > 6.0, "below range {}", below_range(&m));
        assert!(
            m.ranges.map(|r| r.very_low).unwrap_or(0.0) > 1.0,
            "{:?}",
            m.ranges
        );
        assert!(m.sentinel_low > 0);
    }

    #[test]
    fn the_frequent_lows_patient_has_lows_on_many_nights() {
        let p = patient(DemoProfile::FrequentLows);
        let tz = p.tz();
        let mut nights: Vec<NaiveDate> = generate(&p, end(), 90, 7)
            .iter()
            .filter(|r| r.mg_dl() < 70.0 && local_seconds_of_day(r.at, tz) < 6 * 3_600)
            .map(|r| local_date(r.at, tz))
            .collect();
        nights.dedup();
        assert!(nights.len() >= 30, "{} nights with lows", nights.len());
    }

    #[test]
    fn the_high_variability_patient_has_a_cv_above_36_percent() {
        let m = metrics_90_days(DemoProfile::HighVariability);
        assert!(m.cv_percent.unwrap_or(0.0) > 38.0, "CV {:?}", m.cv_percent);
        assert!(m.sentinel_high > 0);
    }

    #[test]
    fn the_sparse_wear_patient_has_cgm_active_under_70_percent() {
        let m = metrics_90_days(DemoProfile::SparseWear);
        assert!(
            m.active_percent < 70.0 && m.active_percent > 30.0,
            "active {}",
            m.active_percent
        );
        assert!(!m.sufficiency.sufficient);
    }

    #[test]
    fn sentinels_occur_and_carry_the_device_bound_while_other_values_stay_inside_the_limits() {
        let (mut lows, mut highs) = (0, 0);
        for p in demo_patients() {
            let m = p.device_model;
            for r in generate(&p, end(), 90, 7) {
                match r.sentinel {
                    Some(s) => {
                        assert_eq!(r.value, m.sentinel_value(s));
                        lows += usize::from(s == Sentinel::Low);
                        highs += usize::from(s == Sentinel::High);
                    }
                    None => {
                        let mg = r.mg_dl();
                        // One display step of slack: 2.2 mmol/L is 39.6 mg/dL.
                        assert!(
                            mg >= m.low_limit_mg_dl - 1.0 && mg <= m.high_limit_mg_dl + 1.0,
                            "{r:?}"
                        );
                    }
                }
            }
        }
        assert!(lows > 0 && highs > 0, "lows {lows}, highs {highs}");
        assert_eq!(DEXCOM_G6_LIKE.sentinel_value(Sentinel::Low), 39.0);
        assert_eq!(DEXCOM_G6_LIKE.sentinel_value(Sentinel::High), 401.0);
        assert_eq!(LIBRE_2_LIKE_MMOL.sentinel_value(Sentinel::Low), 2.2);
        assert_eq!(LIBRE_2_LIKE_MMOL.sentinel_value(Sentinel::High), 27.8);
    }

    #[test]
    fn every_sensor_change_leaves_a_warm_up_gap() {
        for p in demo_patients() {
            let m = p.device_model;
            let rs = generate(&p, end(), 90, 7);
            let warmup = Duration::minutes(i64::from(m.warmup_min) - 5);
            let gap_ends: Vec<DateTime<Utc>> = rs
                .windows(2)
                .filter(|w| w[1].at - w[0].at >= warmup)
                .map(|w| w[1].at)
                .collect();
            // A sensor lasts session_days, so no stretch of session_days + 1 days is without a change.
            let span = Duration::days(i64::from(m.session_days) + 1);
            let mut from = rs[0].at;
            while from + span < rs[rs.len() - 1].at {
                assert!(
                    gap_ends.iter().any(|&g| g > from && g <= from + span),
                    "{}: no gap after {from}",
                    p.key
                );
                from += Duration::days(1);
            }
        }
    }

    #[test]
    fn the_fifteen_minute_device_reports_mmol_l_with_one_decimal_and_the_five_minute_one_whole_mg_dl(
    ) {
        for p in demo_patients() {
            let m = p.device_model;
            let rs = generate(&p, end(), 30, 9);
            for r in &rs {
                assert_eq!(
                    (r.unit, r.interval_s, &r.device),
                    (m.unit, m.interval_s, &p.device_id())
                );
                let scaled = r.value * 10f64.powi(m.unit.display_decimals() as i32);
                assert!((scaled - scaled.round()).abs() < 1e-9, "{r:?}");
            }
            // Within a session readings are exactly one interval apart, so gaps are whole intervals.
            let steps_ok = rs
                .windows(2)
                .filter(|w| (w[1].at - w[0].at).num_seconds() % i64::from(m.interval_s) == 0)
                .count();
            assert!(steps_ok as f64 > 0.95 * (rs.len() - 1) as f64, "{}", p.key);
        }
        let libre: Vec<DemoPatient> = demo_patients()
            .into_iter()
            .filter(|p| p.device_model.interval_s == 900)
            .collect();
        assert!(libre
            .iter()
            .all(|p| p.device_model.unit == GlucoseUnit::MmolL));
        assert!(libre.iter().any(|p| p.time_zone.starts_with("Europe/")));
    }

    #[test]
    fn the_demo_patients_are_distinct_and_their_zones_are_real() {
        let ps = demo_patients();
        assert!(ps.len() >= 4);
        for p in &ps {
            assert!(parse_tz(p.time_zone).is_ok(), "{}", p.time_zone);
            assert!(p.key.bytes().all(|b| b.is_ascii_lowercase()));
            assert!(matches!(p.sex, "female" | "male"));
        }
        let mut keys: Vec<&str> = ps.iter().map(|p| p.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ps.len());
        let mut zones: Vec<&str> = ps.iter().map(|p| p.time_zone).collect();
        zones.sort_unstable();
        zones.dedup();
        assert_eq!(zones.len(), ps.len());
        assert!(ps.iter().any(|p| p.time_zone == "America/New_York"));
        for profile in [
            DemoProfile::WellControlled,
            DemoProfile::FrequentLows,
            DemoProfile::HighVariability,
            DemoProfile::SparseWear,
        ] {
            assert!(ps.iter().any(|p| p.profile == profile));
        }
    }

    #[test]
    fn readings_continue_through_dst_changes_in_new_york() {
        let p = patient(DemoProfile::FrequentLows);
        // 2024-11-03 is the 25-hour day in New York.
        let end = Utc.with_ymd_and_hms(2024, 11, 6, 0, 0, 0).unwrap();
        let rs = generate(&p, end, 6, 11);
        let tz = p.tz();
        let on_day = rs
            .iter()
            .filter(|r| local_date(r.at, tz) == date(2024, 11, 3))
            .count();
        assert!(on_day > 200, "{on_day} readings on the 25-hour day");
    }

    #[test]
    fn deterministic_math_matches_the_platform_functions_closely() {
        let mut x = -30.0;
        while x < 30.0 {
            assert!(
                (detmath::exp(x) - x.exp()).abs() <= 1e-14 * x.exp(),
                "exp {x}"
            );
            assert!((detmath::cos(x) - x.cos()).abs() <= 1e-14, "cos {x}");
            x += 0.0137;
        }
        let mut y = 1e-12;
        while y < 1e6 {
            assert!(
                (detmath::ln(y) - y.ln()).abs() <= 1e-14 * y.ln().abs().max(1.0),
                "ln {y}"
            );
            y *= 1.37;
        }
    }

    #[test]
    fn the_random_generator_is_uniform_and_normal_enough() {
        let mut rng = Rng::from_keys(&[1, 2, 3]);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.04,
            "mean {mean} var {var}"
        );
        let u: Vec<f64> = (0..n).map(|_| rng.uniform()).collect();
        assert!(u.iter().all(|x| (0.0..1.0).contains(x)));
    }
}
