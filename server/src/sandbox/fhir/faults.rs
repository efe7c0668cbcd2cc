//! Faults the sandbox receiver can be told to inject into its next `$submit-cgm-bundle` calls, so a
//! submitter's recovery can be tested against real HTTP (issue 5 "Faults"): a status such as 429 or 503 with
//! `Retry-After`, or 500, answered before anything is stored; a stall before the answer (the client times out
//! while the receiver still stores the data); and a connection dropped after the data was stored and the
//! answer's headers sent (the client cannot know what arrived). Each queued fault is used by exactly one call.
//! Tests only: nothing queues faults unless a test does.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds, if any) before reading the body.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Store the submission, but wait this long before answering.
    Stall(Duration),
    /// Store the submission, then break the connection in the middle of the answer.
    DropAfterStoring,
}

#[derive(Debug, Default)]
pub struct FaultPlan(Mutex<VecDeque<Fault>>);

impl FaultPlan {
    /// Queues faults for the next calls, in order.
    pub fn push(&self, faults: impl IntoIterator<Item = Fault>) {
        if let Ok(mut queue) = self.0.lock() {
            queue.extend(faults);
        }
    }

    /// The fault for this call, if one is queued.
    pub fn next(&self) -> Option<Fault> {
        self.0.lock().ok().and_then(|mut q| q.pop_front())
    }

    pub fn pending(&self) -> usize {
        self.0.lock().map(|q| q.len()).unwrap_or(0)
    }
}
