//! Finding the EHR's CGM Data Receiver (RCV-1, RCV-2, NOTES A4, E3): its `/metadata` must instantiate the
//! IG's receiver CapabilityStatement or declare the `submit-cgm-bundle` operation; whether it supports
//! conditional create decides if entries carry `ifNoneExist` (NOTES A4: a receiver without it would reject
//! exactly those entries). A short cache keeps a job of many chunks from asking for every chunk.

use cloudcgm::fhir::codes::{CGM_RECEIVER_CAPABILITY, SUBMIT_OPERATION};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const RECEIVER_TTL: Duration = Duration::from_secs(300);

/// What CloudCGM needs to know about a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    /// `[base]/$submit-cgm-bundle` (system level, RCV-2).
    pub submit_url: String,
    /// Observation, DiagnosticReport and Device all declare `conditionalCreate` (NOTES A4).
    pub conditional_create: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiverError {
    /// Permanent until the EHR changes: shown to admins.
    #[error("{0}")]
    NotAReceiver(String),
    /// The EHR did not answer: try again later.
    #[error("the EHR's /metadata could not be read: {0}")]
    Unreachable(String),
}

/// Reads a receiver from the EHR's CapabilityStatement.
pub fn from_capability_statement(base: &str, cs: &Value) -> Result<Receiver, ReceiverError> {
    if cs["resourceType"] != "CapabilityStatement" {
        return Err(ReceiverError::NotAReceiver(
            "the EHR's /metadata is not a CapabilityStatement".into(),
        ));
    }
    let instantiates = cs["instantiates"]
        .as_array()
        .is_some_and(|all| all.iter().any(|c| canonical_is(c, CGM_RECEIVER_CAPABILITY)));
    let rests = cs["rest"].as_array().cloned().unwrap_or_default();
    let declares_operation = rests.iter().any(|rest| {
        rest["operation"].as_array().is_some_and(|ops| {
            ops.iter().any(|op| {
                op["name"] == "submit-cgm-bundle"
                    || canonical_is(&op["definition"], SUBMIT_OPERATION)
            })
        })
    });
    if !instantiates && !declares_operation {
        return Err(ReceiverError::NotAReceiver(format!(
            "the EHR at {base} is not a CGM Data Receiver: its CapabilityStatement neither instantiates \
             {CGM_RECEIVER_CAPABILITY} nor declares the submit-cgm-bundle operation (RCV-1, RCV-2)"
        )));
    }
    let conditional = |kind: &str| {
        rests.iter().any(|rest| {
            rest["resource"].as_array().is_some_and(|resources| {
                resources
                    .iter()
                    .any(|r| r["type"] == kind && r["conditionalCreate"] == true)
            })
        })
    };
    Ok(Receiver {
        submit_url: format!("{}/$submit-cgm-bundle", base.trim_end_matches('/')),
        conditional_create: ["Observation", "DiagnosticReport", "Device"]
            .iter()
            .all(|kind| conditional(kind)),
    })
}

/// A canonical equal to `url`, ignoring a `|version` suffix.
fn canonical_is(value: &Value, url: &str) -> bool {
    value
        .as_str()
        .is_some_and(|c| c.split('|').next() == Some(url))
}

/// Receivers by FHIR base, reused for a few minutes.
#[derive(Default)]
pub struct ReceiverCache {
    known: Mutex<HashMap<String, (Receiver, Instant)>>,
}

impl ReceiverCache {
    pub async fn receiver(
        &self,
        http: &reqwest::Client,
        base: &str,
    ) -> Result<Receiver, ReceiverError> {
        if let Ok(known) = self.known.lock() {
            if let Some((r, at)) = known.get(base) {
                if at.elapsed() < RECEIVER_TTL {
                    return Ok(r.clone());
                }
            }
        }
        let url = format!("{}/metadata", base.trim_end_matches('/'));
        let response = http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/fhir+json")
            .send()
            .await
            .map_err(|e| ReceiverError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(ReceiverError::Unreachable(format!(
                "HTTP {}",
                response.status().as_u16()
            )));
        }
        let cs: Value = response
            .json()
            .await
            .map_err(|e| ReceiverError::Unreachable(e.without_url().to_string()))?;
        let receiver = from_capability_statement(base, &cs)?;
        if let Ok(mut known) = self.known.lock() {
            known.insert(base.to_string(), (receiver.clone(), Instant::now()));
        }
        Ok(receiver)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rcv_1_the_igs_own_capability_statement_makes_a_receiver() {
        let cs = json!({"resourceType":"CapabilityStatement",
            "instantiates":[format!("{CGM_RECEIVER_CAPABILITY}|1.0.0")],
            "rest":[{"mode":"server","resource":[
                {"type":"Observation","conditionalCreate":true},
                {"type":"DiagnosticReport","conditionalCreate":true},
                {"type":"Device","conditionalCreate":true}]}]});
        let r = from_capability_statement("https://ehr.example/fhir/", &cs).unwrap();
        assert_eq!(r.submit_url, "https://ehr.example/fhir/$submit-cgm-bundle");
        assert!(r.conditional_create);
    }

    #[test]
    fn dup_4_without_conditional_create_on_every_type_no_if_none_exist_is_sent() {
        let cs = json!({"resourceType":"CapabilityStatement",
            "rest":[{"mode":"server","operation":[{"name":"submit-cgm-bundle","definition":SUBMIT_OPERATION}],
              "resource":[{"type":"Observation","conditionalCreate":true}]}]});
        let r = from_capability_statement("https://ehr.example/fhir", &cs).unwrap();
        assert!(!r.conditional_create);
    }

    #[test]
    fn an_ehr_without_the_operation_is_named_as_not_a_receiver() {
        let cs = json!({"resourceType":"CapabilityStatement","rest":[{"mode":"server"}]});
        let err = from_capability_statement("https://ehr.example/fhir", &cs).unwrap_err();
        assert!(
            matches!(&err, ReceiverError::NotAReceiver(m) if m.contains("not a CGM Data Receiver"))
        );
        let err =
            from_capability_statement("https://x", &json!({"resourceType":"Bundle"})).unwrap_err();
        assert!(matches!(err, ReceiverError::NotAReceiver(_)));
    }
}
