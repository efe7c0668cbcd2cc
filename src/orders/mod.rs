//! Order semantics for the submitter: what a receiver's CGM standing and one-time orders (ServiceRequests) ask
//! for, and when and over which window to submit (ORD-1…6, VAL-10, SUB-4, SUB-5, SUB-8; NOTES C4, D1…D7).
//! Pure: no I/O, and every function that depends on the time takes `now`, so the server's scheduler can be
//! tested with a simulated clock. The server owns fetching orders, storing [`ScheduleState`] per
//! [`schedule_key`] and building the Bundles.
//!
//! Decisions (see the items for details):
//! - **Parsing** ([`parse_order`], VAL-10, ORD-1…4): the order must be a ServiceRequest with `intent=order`, a
//!   CGM order code, a `subject` reference, an `id` and a known `status`; each schedule needs exactly one
//!   `submissionPeriod` and at most one `lookbackPeriod` (UCUM units-of-time, positive, whole multiples of the
//!   unit or exactly convertible to a smaller one: 1.5 `d` = 36 `h`), and ≥ 1 `submissionDataProfile`. A missing
//!   Quantity `system` is tolerated (the code is unambiguous), a different one is an error. Errors name the
//!   FHIRPath of the fault. Canonicals are compared ignoring `|version`; URLs we do not know, and our own order
//!   profiles, land in `unknown_profiles` for the server to log (D5).
//! - **Status** (D4): `active` acts; `on-hold` pauses; `revoked`, `completed`, `entered-in-error` stop; `draft`
//!   and `unknown` do nothing.
//! - **Several orders** ([`effective_schedules`], D4): union of the schedules of active orders; schedules with
//!   the same cadence ([`Span`]: 2 `wk` = 14 `d`) and the same set of known profiles are one schedule, keeping
//!   the longest lookback; an active order without a schedule means the configured default
//!   ([`default_schedule`]: every 2 weeks, summary + PDF); a schedule with no known profile is dropped.
//! - **When** ([`next_due`], D1): first promptly at `max(anchor, not_before)`, then `submissionPeriod` after the
//!   last *successful* submission, never before `not_before` (`occurrencePeriod.start`, else `authoredOn`). A
//!   failed submission does not advance the state, so the schedule stays due; retry pacing is the caller's.
//!   `mo`/`a` are calendar months/years in the patient's zone, other units fixed durations (D3).
//! - **What window** ([`next_due`], D2): lookback defaults to `submissionPeriod`. Schedules of a day or more
//!   use whole local days ending at the local midnight that starts the current day (summaries get date-only
//!   periods, C4; today's readings go in the next window); sub-day schedules end at `now` truncated to the
//!   minute. The window starts at the end of the last successful window (`covered_until`), or earlier if the
//!   lookback reaches further (a 30-day lookback every week re-covers 30 days, as asked; receivers deduplicate
//!   readings by identifier). The first-ever window reaches back the lookback, at most 90 days. After an
//!   outage the window reaches back to `covered_until` however long ago, so no reading is lost, and the
//!   summaries are split into lookback-long periods ending at the window end ([`Due::summary_windows`]), so the
//!   clinician gets the summaries of the missed cycles instead of one odd 2-month summary, with the latest
//!   summary always a regular one. A window that would be empty moves the due time to when it is not.
//! - **One-time orders** ([`one_time_window`], [`chunk_window`], C4, D6, ORD-6): dates are whole local days with
//!   the end day included, date-times exact; long windows are split per local calendar month; each order is
//!   fulfilled once per [`OneTimeOrder::fulfilment_key`] (`id` + `meta.versionId`).
//! - **Searching** ([`order_search_query`], D7): `patient` and `code` with `system|code`, then the bare code if
//!   the server refuses it; status is filtered here, not on the server.

mod chunks;
mod parse;
mod period;
mod schedule;

use serde_json::Value;

use crate::fhir::codes::{CGM_CODESYSTEM, ONE_TIME_ORDER_CODE, STANDING_ORDER_CODE};
use crate::fhir::CgmProfile;

pub use chunks::chunk_window;
pub use parse::{parse_order, parse_search_bundle, OrderError, OrderErrorKind};
pub use period::{one_time_window, Bound, OrderPeriod, Span, TimePeriod, TimeUnit};
pub use schedule::{
    default_schedule, effective_schedules, next_due, not_before_for, schedule_key, Due,
    ScheduleState, FIRST_LOOKBACK_CAP_DAYS,
};

/// One `data-submission-schedule` extension (ORD-2, ORD-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub submission_period: TimePeriod,
    /// `None`: the lookback defaults to the submission period (D2).
    pub lookback: Option<TimePeriod>,
    /// Known data profiles, in the order written, without repeats.
    pub profiles: Vec<CgmProfile>,
    /// `submissionDataProfile` values we do not act on; the server logs them (D5).
    pub unknown_profiles: Vec<String>,
}

impl Schedule {
    /// The lookback in force: `lookbackPeriod`, else `submissionPeriod` (D2).
    pub fn effective_lookback(&self) -> TimePeriod {
        self.lookback.unwrap_or(self.submission_period)
    }
}

/// `ServiceRequest.status` as far as submissions go (D4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderStatus {
    /// `active`: submit.
    Active,
    /// `on-hold`: pause, keep the schedule state.
    OnHold,
    /// `revoked`, `completed` or `entered-in-error`: stop.
    Stopped,
    /// `draft` or `unknown`: not (yet) an order to act on.
    Other(String),
}

impl OrderStatus {
    /// The status for an R4 ServiceRequest status code; `None` outside the required value set.
    pub fn from_code(code: &str) -> Option<OrderStatus> {
        Some(match code {
            "active" => OrderStatus::Active,
            "on-hold" => OrderStatus::OnHold,
            "revoked" | "completed" | "entered-in-error" => OrderStatus::Stopped,
            "draft" | "unknown" => OrderStatus::Other(code.to_string()),
            _ => return None,
        })
    }
}

/// A CGM standing order (ORD-1…3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingOrder {
    pub id: String,
    /// `meta.versionId`.
    pub version: Option<String>,
    pub status: OrderStatus,
    /// `subject.reference` as written, e.g. `Patient/123`; the server checks it is the linked patient.
    pub subject: String,
    /// Zero or more schedules; zero means "cadence agreed out of band" (D4).
    pub schedules: Vec<Schedule>,
    /// No submission before this: `occurrencePeriod.start`, else `authoredOn` (D1). A date-only value is local
    /// midnight of that day in the patient's zone ([`Bound::start_instant`]).
    pub not_before: Option<Bound>,
}

/// A CGM one-time order (ORD-4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeOrder {
    pub id: String,
    /// `meta.versionId`.
    pub version: Option<String>,
    pub status: OrderStatus,
    /// `subject.reference` as written.
    pub subject: String,
    pub period: OrderPeriod,
    pub profiles: Vec<CgmProfile>,
    pub unknown_profiles: Vec<String>,
}

impl OneTimeOrder {
    /// What the server records once the order is fulfilled, so each version is fulfilled once (D6): a changed
    /// order (new `versionId`) is a new request.
    pub fn fulfilment_key(&self) -> String {
        match &self.version {
            Some(v) => format!("ServiceRequest/{}/_history/{v}", self.id),
            None => format!("ServiceRequest/{}", self.id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Order {
    Standing(StandingOrder),
    OneTime(OneTimeOrder),
}

impl Order {
    pub fn id(&self) -> &str {
        match self {
            Order::Standing(o) => &o.id,
            Order::OneTime(o) => &o.id,
        }
    }

    pub fn status(&self) -> &OrderStatus {
        match self {
            Order::Standing(o) => &o.status,
            Order::OneTime(o) => &o.status,
        }
    }
}

/// Splits parsed orders into standing and one-time ones.
pub fn split_orders(orders: Vec<Order>) -> (Vec<StandingOrder>, Vec<OneTimeOrder>) {
    let mut standing = Vec::new();
    let mut one_time = Vec::new();
    for order in orders {
        match order {
            Order::Standing(o) => standing.push(o),
            Order::OneTime(o) => one_time.push(o),
        }
    }
    (standing, one_time)
}

/// The query string (without `?`) of `GET [base]/ServiceRequest?…` for a patient's standing or one-time orders,
/// with the token as `system|code` (D7, DIGEST §4.15). Values are percent-encoded (`|` must be).
pub fn order_search_query(patient_id: &str, one_time: bool) -> String {
    let code = format!("{CGM_CODESYSTEM}|{}", order_code(one_time));
    format!(
        "patient={}&code={}",
        percent_encode(patient_id),
        percent_encode(&code)
    )
}

/// The fallback of [`order_search_query`] with the bare code, for servers that refuse `system|code` (D7).
pub fn order_search_query_bare_code(patient_id: &str, one_time: bool) -> String {
    format!(
        "patient={}&code={}",
        percent_encode(patient_id),
        order_code(one_time)
    )
}

fn order_code(one_time: bool) -> &'static str {
    if one_time {
        ONE_TIME_ORDER_CODE
    } else {
        STANDING_ORDER_CODE
    }
}

/// RFC 3986 percent-encoding of everything but the unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a JSON resource is a ServiceRequest coded as a CGM order of either kind (for routing before parsing).
pub fn is_cgm_order(resource: &Value) -> bool {
    matches!(
        crate::fhir::classify(resource),
        crate::fhir::Classification::Profile(CgmProfile::StandingOrder | CgmProfile::OneTimeOrder)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d7_the_search_uses_system_pipe_code_percent_encoded_and_has_a_bare_code_fallback() {
        assert_eq!(
            order_search_query("pat-1", false),
            "patient=pat-1&code=http%3A%2F%2Fhl7.org%2Ffhir%2Fuv%2Fcgm%2FCodeSystem%2Fcgm%7Ccgm-data-submission-standing-order"
        );
        assert_eq!(
            order_search_query("pat-1", true),
            "patient=pat-1&code=http%3A%2F%2Fhl7.org%2Ffhir%2Fuv%2Fcgm%2FCodeSystem%2Fcgm%7Ccgm-data-submission-one-time-order"
        );
        assert_eq!(
            order_search_query_bare_code("a b&c", false),
            "patient=a%20b%26c&code=cgm-data-submission-standing-order"
        );
    }

    #[test]
    fn d4_status_codes_map_to_act_pause_stop_or_nothing() {
        assert_eq!(OrderStatus::from_code("active"), Some(OrderStatus::Active));
        assert_eq!(OrderStatus::from_code("on-hold"), Some(OrderStatus::OnHold));
        for stop in ["revoked", "completed", "entered-in-error"] {
            assert_eq!(OrderStatus::from_code(stop), Some(OrderStatus::Stopped));
        }
        assert_eq!(
            OrderStatus::from_code("draft"),
            Some(OrderStatus::Other("draft".into()))
        );
        assert_eq!(OrderStatus::from_code("Active"), None);
    }
}
