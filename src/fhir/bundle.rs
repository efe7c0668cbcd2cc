//! The CGM Data Submission Bundle builder (issue 5; SUB-2, SUB-6, SUB-7, SUB-10; DIGEST §4.1, §5; NOTES A5, A7,
//! B1–B6, C1–C9, D5): from one patient's trace, a window and the profiles an order asks for, the transaction
//! Bundles to POST to `$submit-cgm-bundle`. Pure: rendering the PDF and sending are elsewhere.
//!
//! What is sent (D5): `cgm-summary` → the panel with all its members, both means included (C2); `cgm-summary-pdf`
//! → the PDF report, pointing at the panel when one is sent; `cgm-sensor-reading-*` → the raw readings in that
//! unit, each with the Device it came from (B5); `cgm-device` → the Devices; a member profile alone → just that
//! Observation. Order profiles are ignored.
//!
//! Decisions:
//! - A summary is only sent when the window has readings: a summary of nothing would store zeros (days of wear,
//!   sensor active %) that read like measurements. The panel is only sent when it can satisfy VAL-7 (e.g. CV needs
//!   two readings); without it, the members that only the panel asked for are left out too, so a receiver never
//!   gets a partial summary group (A5). Members and the PDF asked for on their own are still sent when they have
//!   a value. Everything left out is listed in [`Submission::omitted`].
//! - Chunking (A7, ORD-6): the first bundle starts with the summary group (PDF report, panel, members, in the IG
//!   example's order), never split even if it alone exceeds `max_entries`; readings follow in time order and
//!   fill bundles up to `max_entries` entries. A bundle with readings carries the Device of each of its readings,
//!   with the same identifier and fullUrl in every bundle (`ifNoneExist` stores it once).
//! - Every entry has an identifier and `ifNoneExist` (SUB-7) and a `urn:uuid` fullUrl derived from it (B1), so
//!   the same input gives byte-identical bundles. No Patient entry (B3). Nothing to send → no bundle at all
//!   (a Bundle needs ≥ 1 entry, VAL-1).
//!
//! The bundles come as `serde_json::Value`s here, for inspection and tests; what is POSTed should come from
//! [`super::bundle_json::build_submission_json`], the same bytes without the cost of the trees
//! (docs/PERFORMANCE.md).

use super::codes::SUBMISSION_BUNDLE_PROFILE;
use super::device::{cgm_device, default_device_name, device_urn};
use super::profile::CgmProfile;
use super::readings::{post_entry, reading_entry};
use super::summary::{self, Built, SummaryContext, PANEL_MEMBERS};
use crate::metrics::compute_metrics;
use crate::{DeviceId, GlucoseUnit, Reading, Trace, Window};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Everything one submission is built from.
#[derive(Debug, Clone, Copy)]
pub struct BundleInput<'a> {
    /// `Patient/{EHR logical id}` (SUB-6).
    pub subject: &'a str,
    /// The CloudCGM patient's readings.
    pub trace: &'a Trace,
    /// Half-open UTC window; summaries cover it, readings are those inside it.
    pub window: Window,
    /// The patient's zone: decides whether the summary period is whole local days (NOTES C4).
    pub tz: chrono_tz::Tz,
    /// What the order asks for (NOTES D5); order profiles are ignored.
    pub profiles: &'a [CgmProfile],
    /// The PDF report bytes, when `SummaryPdf` is asked for (rendered elsewhere).
    pub pdf: Option<&'a [u8]>,
    /// `Bundle.timestamp` and `DiagnosticReport.issued`.
    pub timestamp: DateTime<Utc>,
    /// Most entries per bundle (receivers limit size, NOTES A7).
    pub max_entries: usize,
    /// `Device.deviceName.name` per device id (manufacturer and model); others get [`default_device_name`].
    pub device_names: &'a [(DeviceId, &'a str)],
}

/// The bundles of one submission and what was asked for but left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// Transaction Bundles in sending order; empty when there is nothing to send.
    pub bundles: Vec<Value>,
    pub omitted: Vec<Omission>,
}

/// A profile the order asked for that this submission does not carry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Omission {
    pub profile: CgmProfile,
    pub reason: String,
}

/// One or more transaction Bundles (chunks) for `input`; see the module documentation.
pub fn build_submission(input: &BundleInput) -> Vec<Value> {
    assemble(input).bundles
}

/// [`build_submission`] with the list of what was left out, for the caller to log or show.
pub fn assemble(input: &BundleInput) -> Submission {
    let Prepared {
        head,
        readings,
        units,
        plans,
        omitted,
        timestamp,
    } = prepare(input);
    let mut head = Some(head);
    let bundles = plans
        .iter()
        .map(|plan| {
            let mut entries = Vec::with_capacity(plan.len(head.as_ref().map_or(0, Vec::len)));
            if plan.with_head {
                entries.extend(head.take().unwrap_or_default());
            }
            entries.extend(plan.devices.iter().map(|d| device_entry(input, d)));
            let mut urns = DeviceUrns::default();
            for k in plan.items.clone() {
                let (reading, unit) = (&readings[k / units.len()], units[k % units.len()]);
                entries.push(reading_entry(
                    input.subject,
                    reading,
                    unit,
                    urns.get(&reading.device),
                ));
            }
            transaction(&timestamp, entries)
        })
        .collect();
    Submission { bundles, omitted }
}

/// What both renderings of a submission (values here, bytes in [`super::bundle_json`]) share.
pub(crate) struct Prepared<'a> {
    /// The summary group (and Devices asked for on their own): the start of the first bundle.
    pub head: Vec<Value>,
    pub readings: &'a [Reading],
    /// Units of the readings to send; item `k` of a chunk is reading `k / units.len()` in unit `k % units.len()`.
    pub units: Vec<GlucoseUnit>,
    pub plans: Vec<ChunkPlan>,
    pub omitted: Vec<Omission>,
    pub timestamp: String,
}

/// One bundle: the head or not, the Devices its readings reference, and a range of reading items.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChunkPlan {
    pub with_head: bool,
    pub devices: Vec<DeviceId>,
    pub items: std::ops::Range<usize>,
}

impl ChunkPlan {
    fn len(&self, head_len: usize) -> usize {
        usize::from(self.with_head) * head_len + self.devices.len() + self.items.len()
    }
}

/// The urn of each device, computed once per device rather than once per reading.
#[derive(Default)]
pub(crate) struct DeviceUrns(Vec<(DeviceId, String)>);

impl DeviceUrns {
    pub fn get(&mut self, device: &DeviceId) -> &str {
        let i = match self.0.iter().position(|(d, _)| d == device) {
            Some(i) => i,
            None => {
                self.0.push((device.clone(), device_urn(device)));
                self.0.len() - 1
            }
        };
        &self.0[i].1
    }
}

pub(crate) fn prepare<'a>(input: &BundleInput<'a>) -> Prepared<'a> {
    let wants = |p: CgmProfile| input.profiles.contains(&p);
    let readings = input.trace.in_window(&input.window);
    let mut omitted = Vec::new();

    let mut head = summary_group(input, readings, &mut omitted);

    let units: Vec<GlucoseUnit> = [
        (CgmProfile::SensorReadingMass, GlucoseUnit::MgDl),
        (CgmProfile::SensorReadingMolar, GlucoseUnit::MmolL),
    ]
    .into_iter()
    .filter(|(p, _)| wants(*p))
    .map(|(_, u)| u)
    .collect();
    for profile in [
        CgmProfile::SensorReadingMass,
        CgmProfile::SensorReadingMolar,
    ] {
        if wants(profile) && readings.is_empty() {
            omitted.push(omission(profile, "the window has no readings"));
        }
    }
    if wants(CgmProfile::Device) && readings.is_empty() {
        omitted.push(omission(
            CgmProfile::Device,
            "no device measured in the window",
        ));
    } else if wants(CgmProfile::Device) && units.is_empty() {
        // Devices on their own: those that measured in the window. With readings they ride along instead.
        let devices = distinct_devices(readings);
        head.extend(devices.iter().map(|d| device_entry(input, d)));
    }

    let plans = plan_chunks(input.max_entries, head.len(), readings, units.len());
    Prepared {
        head,
        readings,
        units,
        plans,
        omitted,
        timestamp: input.timestamp.to_rfc3339_opts(SecondsFormat::Secs, true),
    }
}

fn omission(profile: CgmProfile, reason: &str) -> Omission {
    Omission {
        profile,
        reason: reason.to_string(),
    }
}

/// The summary group in the IG example's order (PDF report, panel, members) as entries (NOTES A5, D5).
fn summary_group(
    input: &BundleInput,
    readings: &[Reading],
    omitted: &mut Vec<Omission>,
) -> Vec<Value> {
    let wants = |p: CgmProfile| input.profiles.contains(&p);
    let want_panel = wants(CgmProfile::SummaryPanel);
    let want_pdf = wants(CgmProfile::SummaryPdf);
    let asked_members: Vec<CgmProfile> = PANEL_MEMBERS
        .into_iter()
        .filter(|p| want_panel || wants(*p))
        .collect();
    if asked_members.is_empty() && !want_pdf {
        return Vec::new();
    }
    if readings.is_empty() {
        let asked = want_panel
            .then_some(CgmProfile::SummaryPanel)
            .into_iter()
            .chain(want_pdf.then_some(CgmProfile::SummaryPdf))
            .chain(asked_members.iter().copied().filter(|p| wants(*p)));
        omitted.extend(asked.map(|p| {
            omission(
                p,
                "the window has no readings: a summary is only sent when there is data",
            )
        }));
        return Vec::new();
    }

    let ctx = SummaryContext::new(input.subject, &input.window, input.tz);
    // Readings are converted per value, so the metrics' unit only decides the (unused) `mean` field.
    let metrics = compute_metrics(readings, &input.window, input.tz, GlucoseUnit::MgDl);
    let mut members: Vec<Built> = Vec::with_capacity(asked_members.len());
    for profile in &asked_members {
        match summary::member(&ctx, *profile, &metrics) {
            Some(built) => members.push(built),
            None => omitted.push(omission(
                *profile,
                "the window's readings give no value for it (e.g. CV needs two readings)",
            )),
        }
    }
    let panel = if want_panel {
        if summary::panel_complete(&members) {
            Some(summary::panel(&ctx, &members))
        } else {
            omitted.push(omission(
                CgmProfile::SummaryPanel,
                "the panel could not have all members VAL-7 requires; its members are left out with it",
            ));
            members.retain(|m| wants(m.profile));
            None
        }
    } else {
        None
    };
    let pdf = match (want_pdf, input.pdf) {
        (true, Some(bytes)) => Some(summary::pdf_report(
            &ctx,
            bytes,
            input.timestamp,
            panel.as_ref().map(|p| p.urn.as_str()),
        )),
        (true, None) => {
            omitted.push(omission(CgmProfile::SummaryPdf, "no PDF bytes were given"));
            None
        }
        _ => None,
    };
    pdf.into_iter()
        .chain(panel)
        .chain(members)
        .map(|b| post_entry(b.urn, b.resource))
        .collect()
}

/// The devices of `readings` in order of first appearance (a trace has a handful).
fn distinct_devices(readings: &[Reading]) -> Vec<DeviceId> {
    let mut devices: Vec<DeviceId> = Vec::new();
    for r in readings {
        if !devices.contains(&r.device) {
            devices.push(r.device.clone());
        }
    }
    devices
}

pub(crate) fn device_entry(input: &BundleInput, device: &DeviceId) -> Value {
    let name = input
        .device_names
        .iter()
        .find(|(d, _)| d == device)
        .map_or_else(|| default_device_name(device), |(_, n)| (*n).to_string());
    post_entry(device_urn(device), cgm_device(input.subject, device, &name))
}

/// Splits the head and `readings.len() × units` reading items into bundles of at most `max_entries` entries
/// (NOTES A7): the head first and whole, then readings in time order, each bundle with the Devices its readings
/// reference.
fn plan_chunks(
    max_entries: usize,
    head_len: usize,
    readings: &[Reading],
    units: usize,
) -> Vec<ChunkPlan> {
    // A chunk of readings needs room for a Device and at least one reading.
    let max = max_entries.max(2);
    let mut plans = Vec::new();
    let mut current = ChunkPlan {
        with_head: head_len > 0,
        devices: Vec::new(),
        items: 0..0,
    };
    for k in 0..readings.len() * units {
        let device = &readings[k / units].device;
        let new_device = !current.devices.contains(device);
        let size = current.len(head_len);
        if size + 1 + usize::from(new_device) > max && size > 0 {
            plans.push(std::mem::replace(
                &mut current,
                ChunkPlan {
                    with_head: false,
                    devices: Vec::new(),
                    items: k..k,
                },
            ));
        }
        if !current.devices.contains(device) {
            current.devices.push(device.clone());
        }
        current.items.end = k + 1;
    }
    if current.len(head_len) > 0 {
        plans.push(current);
    }
    plans
}

/// A `cgm-data-submission-bundle` transaction (SUB-2, VAL-1).
pub(crate) fn transaction(timestamp: &str, entries: Vec<Value>) -> Value {
    let mut meta = Map::with_capacity(1);
    meta.insert(
        "profile".into(),
        Value::Array(vec![SUBMISSION_BUNDLE_PROFILE.into()]),
    );
    let mut bundle = Map::with_capacity(5);
    bundle.insert("resourceType".into(), "Bundle".into());
    bundle.insert("meta".into(), Value::Object(meta));
    bundle.insert("type".into(), "transaction".into());
    bundle.insert("timestamp".into(), timestamp.into());
    bundle.insert("entry".into(), Value::Array(entries));
    Value::Object(bundle)
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
