//! Coded validation findings (SPEC §5) and the report they make.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::rules::Rule;

crate::types::vocabulary!(
    /// An error rejects the submission; a warning does not.
    Severity { Error => "error", Warning => "warning" }
);

/// One business-rule finding, pointing at the offending member of the submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Finding {
    #[schema(value_type = crate::rules::FindingCode, example = "REG-002")]
    pub code: String,
    pub severity: Severity,
    #[schema(example = "/lines/14/absence_reason")]
    pub pointer: String,
    pub message: String,
    /// The person a finding is about when no member of the body names them (WBK-006: an
    /// attender with no outcome record), so that a spreadsheet can point at their row. Held
    /// in memory beside a fresh report only; never written or answered.
    #[serde(skip)]
    pub person_ref: Option<String>,
}

impl Finding {
    /// A finding of `rule` at the severity its policy gives (the stricter for `W/E` rules).
    pub fn of(rule: Rule, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            code: rule.code().to_string(),
            severity: rule.policy().severity(),
            pointer: pointer.into(),
            message: message.into(),
            person_ref: None,
        }
    }

    /// The finding, about `person`.
    pub fn about(self, person: &str) -> Self {
        Finding {
            person_ref: Some(person.to_string()),
            ..self
        }
    }

    /// A finding of a `W/E` rule within what the contract tolerates: a warning.
    pub fn tolerated(rule: Rule, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::of(rule, pointer, message)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    AcceptedWithWarnings,
    Rejected,
}

/// The validation report of a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Errors reject; warnings only accept with warnings.
    pub fn of(findings: Vec<Finding>) -> Self {
        let outcome = if findings.iter().any(|f| f.severity == Severity::Error) {
            Outcome::Rejected
        } else if findings.is_empty() {
            Outcome::Accepted
        } else {
            Outcome::AcceptedWithWarnings
        };
        Report { outcome, findings }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_follows_severity() {
        assert_eq!(Report::of(vec![]).outcome, Outcome::Accepted);
        assert_eq!(
            Report::of(vec![Finding::of(Rule::Sub002, "", "late")]).outcome,
            Outcome::AcceptedWithWarnings
        );
        let mixed = vec![
            Finding::of(Rule::Sub002, "", "late"),
            Finding::of(Rule::Reg002, "/lines/0", "x"),
        ];
        assert_eq!(Report::of(mixed).outcome, Outcome::Rejected);
    }
}
