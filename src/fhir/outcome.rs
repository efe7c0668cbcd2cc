//! OperationOutcome issues: what validation and submission planning report, and their FHIR JSON form
//! (R4 OperationOutcome; NOTES A2 for how they travel in `entry.response.outcome`).

use serde_json::{json, Value};

/// `OperationOutcome.issue.severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Fatal,
    Error,
    Warning,
    Information,
}

impl Severity {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Fatal => "fatal",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Information => "information",
        }
    }

    /// Fatal or Error: the resource (or request) cannot be accepted.
    pub fn is_error(self) -> bool {
        matches!(self, Severity::Fatal | Severity::Error)
    }
}

/// One `OperationOutcome.issue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    /// FHIR IssueType code: `invalid`, `structure`, `required`, `value`, `invariant`, `code-invalid`,
    /// `not-supported`, `forbidden`, `processing`, `duplicate`, `business-rule`, `informational`, …
    pub code: &'static str,
    /// FHIRPath of the offending element, e.g. `Bundle.entry[3].resource.valueQuantity.unit`.
    pub expression: Option<String>,
    pub diagnostics: String,
}

impl Issue {
    /// An issue without an expression; add one with [`Issue::at`].
    pub fn new(severity: Severity, code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue {
            severity,
            code,
            expression: None,
            diagnostics: diagnostics.into(),
        }
    }

    /// An error: the resource or request is rejected.
    pub fn error(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue::new(Severity::Error, code, diagnostics)
    }

    /// A warning: accepted, but the sender should fix something.
    pub fn warning(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue::new(Severity::Warning, code, diagnostics)
    }

    /// Information only.
    pub fn information(code: &'static str, diagnostics: impl Into<String>) -> Issue {
        Issue::new(Severity::Information, code, diagnostics)
    }

    /// The same issue located at `expression`.
    pub fn at(mut self, expression: impl Into<String>) -> Issue {
        self.expression = Some(expression.into());
        self
    }

    /// Fatal or Error.
    pub fn is_error(&self) -> bool {
        self.severity.is_error()
    }

    /// The issue as an `OperationOutcome.issue` element.
    pub fn to_json(&self) -> Value {
        let mut issue = json!({
            "severity": self.severity.as_str(),
            "code": self.code,
        });
        if let Some(map) = issue.as_object_mut() {
            if !self.diagnostics.is_empty() {
                map.insert(
                    "diagnostics".into(),
                    Value::String(self.diagnostics.clone()),
                );
            }
            if let Some(expression) = &self.expression {
                map.insert("expression".into(), json!([expression]));
            }
        }
        issue
    }
}

/// `{"resourceType":"OperationOutcome","issue":[...]}`. R4 requires at least one issue, so an empty list
/// becomes a single `information`/`informational` "All OK" issue.
pub fn operation_outcome(issues: &[Issue]) -> Value {
    let issue: Vec<Value> = if issues.is_empty() {
        vec![Issue::information("informational", "All OK").to_json()]
    } else {
        issues.iter().map(Issue::to_json).collect()
    };
    json!({"resourceType": "OperationOutcome", "issue": issue})
}

/// Whether any issue is Fatal or Error.
pub fn has_errors(issues: &[Issue]) -> bool {
    issues.iter().any(Issue::is_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_outcome_lists_issues_with_fhir_codes_and_expression_arrays() {
        let issues = [
            Issue::error("value", "unit must be mg/dL").at("Observation.valueQuantity.code"),
            Issue::warning("value", "unit string should be 'mg/dl'"),
        ];
        let oo = operation_outcome(&issues);
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert_eq!(oo["issue"][0]["severity"], "error");
        assert_eq!(oo["issue"][0]["code"], "value");
        assert_eq!(
            oo["issue"][0]["expression"][0],
            "Observation.valueQuantity.code"
        );
        assert_eq!(oo["issue"][1]["severity"], "warning");
        assert!(oo["issue"][1].get("expression").is_none());
    }

    #[test]
    fn an_empty_outcome_still_has_one_issue_as_r4_requires() {
        let oo = operation_outcome(&[]);
        assert_eq!(oo["issue"].as_array().map(Vec::len), Some(1));
        assert_eq!(oo["issue"][0]["severity"], "information");
    }

    #[test]
    fn only_fatal_and_error_count_as_errors() {
        assert!(!has_errors(&[
            Issue::warning("value", "w"),
            Issue::information("informational", "i")
        ]));
        assert!(has_errors(&[
            Issue::warning("value", "w"),
            Issue::error("value", "e")
        ]));
        assert!(has_errors(&[Issue::new(Severity::Fatal, "exception", "f")]));
    }
}
