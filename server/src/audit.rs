//! The audit log (issue 4 item 7): writing events, and the CSV export admins download. Events are written
//! after the action they record; a failed write is logged as an error and does not undo the action.

use crate::state::AppState;
use crate::store::access::{AuditEventRow, NewAuditEvent};
use chrono::{SecondsFormat, Utc};

pub async fn record(state: &AppState, event: NewAuditEvent) {
    if let Err(e) = state.access.audit(&event, Utc::now()).await {
        tracing::error!(error = %e, action = ?event.action, "could not write an audit event");
    }
}

/// One CSV field: quoted when needed, and a leading `=`, `+`, `-` or `@` defused so a spreadsheet does not
/// run it as a formula (OWASP "CSV injection").
fn field(text: &str) -> String {
    let defused = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// The audit events as CSV (RFC 4180, CRLF line ends, a header row).
pub fn to_csv(events: &[AuditEventRow]) -> String {
    let mut out =
        String::from("time,ehr,actor,action,ehr_patient,cloudcgm_patient,source_ip,detail\r\n");
    for e in events {
        let row = [
            e.at.to_rfc3339_opts(SecondsFormat::Millis, true),
            e.ehr_id.clone().unwrap_or_default(),
            e.actor.clone(),
            e.action.clone(),
            e.ehr_patient_id.clone().unwrap_or_default(),
            e.patient_id.map(|p| p.0.to_string()).unwrap_or_default(),
            e.source_ip.clone().unwrap_or_default(),
            e.detail.clone().unwrap_or_default(),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PatientId;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let row = AuditEventRow {
            id: 1,
            at: chrono::TimeZone::timestamp_millis_opt(&Utc, 0).unwrap(),
            ehr_id: Some("sandbox".into()),
            actor: "Practitioner/1".into(),
            action: "unlink".into(),
            ehr_patient_id: Some("p1".into()),
            patient_id: Some(PatientId(7)),
            source_ip: None,
            detail: Some("=HYPERLINK(\"x\"), wrong patient".into()),
        };
        let csv = to_csv(&[row]);
        let line = csv.lines().nth(1).unwrap();
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000Z,sandbox,Practitioner/1,unlink,p1,7,,\"'=HYPERLINK(\"\"x\"\"), wrong patient\""
        );
    }
}
