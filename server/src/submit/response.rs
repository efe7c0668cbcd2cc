//! Reading the receiver's answer to one `$submit-cgm-bundle` POST (RCV-3, RCV-10, NOTES A2, A3): a
//! `transaction-response` Bundle gives every entry a status (2xx: the data is there, whether stored now or
//! already; anything else: rejected, with the entry's OperationOutcome as the reason); 429 and 503 with
//! `Retry-After`, other 5xx and no answer at all mean "send the same chunk again later" (RCV-6); 401 means the
//! token must be renewed; any other whole-request refusal carries an OperationOutcome and is not retried
//! blindly (NOTES A2: "never retry 4xx blindly").

use crate::store::jobs::SubmissionResult;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

/// The most text kept from a receiver's OperationOutcome: enough to say why, never a whole document.
const MAX_DETAIL_CHARS: usize = 2_000;

/// The receiver's answer for one entry, in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryAnswer {
    pub status: u16,
    pub location: Option<String>,
    /// The entry's OperationOutcome as text (diagnostics and paths).
    pub outcome: Option<String>,
}

/// What one POST came back with.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkAnswer {
    /// `None` when no HTTP answer came at all.
    pub http_status: Option<u16>,
    pub result: SubmissionResult,
    /// Filled only for [`SubmissionResult::Answered`], one per sent entry.
    pub entries: Vec<EntryAnswer>,
    pub retry_after: Option<Duration>,
    /// The token was refused (401): renew it and send again.
    pub unauthorized: bool,
    pub detail: Option<String>,
}

impl ChunkAnswer {
    /// No HTTP answer (timeout, refused or dropped connection): the chunk may or may not have arrived, and
    /// sending it again is safe because every entry carries `ifNoneExist` on a deterministic identifier.
    pub fn no_answer(detail: impl Into<String>) -> ChunkAnswer {
        ChunkAnswer {
            http_status: None,
            result: SubmissionResult::Retry,
            entries: Vec::new(),
            retry_after: None,
            unauthorized: false,
            detail: Some(clip(detail.into())),
        }
    }
}

/// Reads an HTTP answer to a POST of a bundle with `sent_entries` entries.
pub fn read_answer(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    sent_entries: usize,
    now: DateTime<Utc>,
) -> ChunkAnswer {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let refused = |result: SubmissionResult, detail: String| ChunkAnswer {
        http_status: Some(status),
        result,
        entries: Vec::new(),
        retry_after: retry_after.and_then(|h| parse_retry_after(h, now)),
        unauthorized: status == 401,
        detail: Some(clip(detail)),
    };
    match status {
        200..=299 => {
            let Some(bundle) = json
                .filter(|j| j["resourceType"] == "Bundle" && j["type"] == "transaction-response")
            else {
                return refused(
                    SubmissionResult::Refused,
                    format!("HTTP {status} without a transaction-response Bundle"),
                );
            };
            let answered = bundle["entry"].as_array().cloned().unwrap_or_default();
            if answered.len() != sent_entries {
                return refused(
                    SubmissionResult::Refused,
                    format!(
                        "the transaction-response has {} entries for the {sent_entries} sent (RCV-10)",
                        answered.len()
                    ),
                );
            }
            let entries = answered.iter().map(entry_answer).collect();
            ChunkAnswer {
                http_status: Some(status),
                result: SubmissionResult::Answered,
                entries,
                retry_after: None,
                unauthorized: false,
                detail: None,
            }
        }
        429 | 500..=599 => refused(
            SubmissionResult::Retry,
            format!(
                "HTTP {status}{}",
                outcome_text(json.as_ref())
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default()
            ),
        ),
        _ => refused(
            SubmissionResult::Refused,
            format!(
                "HTTP {status}{}",
                outcome_text(json.as_ref())
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default()
            ),
        ),
    }
}

fn entry_answer(entry: &Value) -> EntryAnswer {
    let response = &entry["response"];
    let status = response["status"]
        .as_str()
        .map(str::trim_start)
        .and_then(|s| s.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        // An entry without a readable status was not confirmed: count it as rejected, never as stored.
        .unwrap_or(0);
    EntryAnswer {
        status,
        location: response["location"].as_str().map(String::from),
        outcome: outcome_text(Some(&response["outcome"])).or_else(|| {
            (status == 0).then(|| "the receiver gave this entry no status (RCV-3)".to_string())
        }),
    }
}

/// An OperationOutcome's issues as one line each: `severity code at path: diagnostics`.
fn outcome_text(outcome: Option<&Value>) -> Option<String> {
    let issues = outcome?.get("issue")?.as_array()?;
    let lines: Vec<String> = issues
        .iter()
        .map(|i| {
            let mut line = format!(
                "{} {}",
                i["severity"].as_str().unwrap_or("error"),
                i["code"].as_str().unwrap_or("unknown")
            );
            if let Some(path) = i["expression"][0].as_str() {
                line.push_str(&format!(" at {path}"));
            }
            let text = i["diagnostics"]
                .as_str()
                .or_else(|| i["details"]["text"].as_str());
            if let Some(text) = text {
                line.push_str(&format!(": {text}"));
            }
            line
        })
        .collect();
    (!lines.is_empty()).then(|| clip(lines.join("\n")))
}

fn clip(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_DETAIL_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3); capped at a day so a typo in a
/// header cannot park a job for years.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    const DAY: u64 = 86_400;
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs.min(DAY)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.with_timezone(&Utc) - now).num_seconds().max(0) as u64;
    Some(Duration::from_secs(secs.min(DAY)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    #[test]
    fn rcv_3_every_entry_status_is_read_in_request_order() {
        let body = json!({"resourceType":"Bundle","type":"transaction-response","entry":[
            {"response":{"status":"201 Created","location":"Observation/1/_history/1"}},
            {"response":{"status":"200 OK","location":"Observation/9/_history/2"}},
            {"response":{"status":"422 Unprocessable Entity","outcome":{"resourceType":"OperationOutcome",
              "issue":[{"severity":"error","code":"invalid","expression":["Bundle.entry[2].resource.valueQuantity.unit"],
              "diagnostics":"unit must be 'mg/dl'"}]}}},
            {"response":{}}]});
        let a = read_answer(200, None, body.to_string().as_bytes(), 4, now());
        assert_eq!(a.result, SubmissionResult::Answered);
        let statuses: Vec<u16> = a.entries.iter().map(|e| e.status).collect();
        assert_eq!(statuses, vec![201, 200, 422, 0]);
        assert_eq!(
            a.entries[2].outcome.as_deref(),
            Some("error invalid at Bundle.entry[2].resource.valueQuantity.unit: unit must be 'mg/dl'")
        );
        assert_eq!(
            a.entries[1].location.as_deref(),
            Some("Observation/9/_history/2")
        );
        assert!(a.entries[3]
            .outcome
            .as_deref()
            .unwrap()
            .contains("no status"));
    }

    #[test]
    fn a_response_with_another_number_of_entries_is_not_taken_as_an_answer() {
        let body = json!({"resourceType":"Bundle","type":"transaction-response","entry":[
            {"response":{"status":"201 Created"}}]});
        let a = read_answer(200, None, body.to_string().as_bytes(), 2, now());
        assert_eq!(a.result, SubmissionResult::Refused);
        assert!(a.detail.unwrap().contains("1 entries for the 2 sent"));
    }

    #[test]
    fn rcv_6_429_and_503_are_retried_after_the_time_the_receiver_asks_for() {
        let a = read_answer(429, Some("120"), b"{}", 3, now());
        assert_eq!(
            (a.result, a.retry_after),
            (SubmissionResult::Retry, Some(Duration::from_secs(120)))
        );
        let date = "Wed, 25 Nov 2026 12:01:30 GMT";
        let b = read_answer(503, Some(date), b"", 3, now());
        assert_eq!(
            (b.result, b.retry_after),
            (SubmissionResult::Retry, Some(Duration::from_secs(90)))
        );
        let c = read_answer(500, None, b"oops", 3, now());
        assert_eq!((c.result, c.retry_after), (SubmissionResult::Retry, None));
        assert_eq!(
            parse_retry_after("99999999", now()),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn a_whole_request_refusal_keeps_the_receivers_reason_and_is_not_retried() {
        let oo = json!({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"too-costly",
            "diagnostics":"more than 10000 entries"}]});
        let a = read_answer(413, None, oo.to_string().as_bytes(), 3, now());
        assert_eq!(a.result, SubmissionResult::Refused);
        assert_eq!(
            a.detail.as_deref(),
            Some("HTTP 413: error too-costly: more than 10000 entries")
        );
        let b = read_answer(401, None, b"", 3, now());
        assert!(b.unauthorized);
        let c = read_answer(200, None, b"<html>", 3, now());
        assert_eq!(c.result, SubmissionResult::Refused);
    }
}
