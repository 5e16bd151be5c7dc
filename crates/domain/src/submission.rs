//! The envelope every submission kind shares (SPEC §4).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::finding::{Finding, Outcome, Report, Severity};

crate::types::vocabulary!(
    /// The three kinds of submission.
    SubmissionKind { Register => "register", Workbook => "workbook", Claim => "claim" }
);

crate::types::vocabulary!(
    /// Where a submission stands. Registers and workbooks are `accepted`,
    /// `accepted_with_warnings` or `rejected`; claims go on to be decided and paid.
    SubmissionStatus {
        Accepted => "accepted",
        AcceptedWithWarnings => "accepted_with_warnings",
        Rejected => "rejected",
        PartiallyAccepted => "partially_accepted",
        Approved => "approved",
        Declined => "declined",
        Paid => "paid",
        NeedsAdjustment => "needs_adjustment",
    }
);

impl SubmissionStatus {
    /// The status a validation report gives. Warnings the provider acknowledged do not
    /// hold a submission back from `accepted`; they stay in the report.
    pub fn of_report(report: &Report, acknowledged: &[String]) -> Self {
        match report.outcome {
            Outcome::Rejected => SubmissionStatus::Rejected,
            Outcome::Accepted => SubmissionStatus::Accepted,
            Outcome::AcceptedWithWarnings => {
                let all_acknowledged = report
                    .findings
                    .iter()
                    .filter(|f| f.severity == Severity::Warning)
                    .all(|f| acknowledged.iter().any(|code| code == &f.code));
                if all_acknowledged {
                    SubmissionStatus::Accepted
                } else {
                    SubmissionStatus::AcceptedWithWarnings
                }
            }
        }
    }
}

/// What every stored version of a submission carries besides its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Envelope {
    pub id: String,
    pub kind: SubmissionKind,
    /// The version this representation is (1, 2, …).
    pub version: i32,
    /// The newest version.
    pub current_version: i32,
    pub status: SubmissionStatus,
    /// The `sub` of the token that submitted this version.
    pub submitted_by: String,
    pub submitted_at: DateTime<Utc>,
    /// SHA-256 of the canonical JSON of the submitted content.
    pub content_sha256: String,
    pub validation: Report,
}

impl Envelope {
    /// The entity tag of this version, for `If-Match` on amendments.
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

pub fn etag(version: i32) -> String {
    format!("\"v{version}\"")
}

/// Whether an `If-Match` header value names `version` (strong comparison; `*` matches).
pub fn if_match_names(header: &str, version: i32) -> bool {
    let wanted = etag(version);
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == wanted)
}

/// Findings of a report, re-pointed (for CSV bodies, whose rows and columns stand where
/// JSON members would).
pub fn repoint(findings: Vec<Finding>, map: impl Fn(&str) -> String) -> Vec<Finding> {
    findings
        .into_iter()
        .map(|f| Finding {
            pointer: map(&f.pointer),
            ..f
        })
        .collect()
}

/// The day the correction window of a period closed, if it has closed by `today`: an
/// amendment then is refused (SUB-005, 409) and nothing is stored, so the version that
/// counts stays current.
pub fn correction_window_closed(
    period_end: chrono::NaiveDate,
    correction_window_days: u32,
    today: chrono::NaiveDate,
) -> Option<chrono::NaiveDate> {
    let closes = period_end + chrono::Days::new(u64::from(correction_window_days));
    (today > closes).then_some(closes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Rule;

    #[test]
    fn acknowledged_warnings_accept() {
        let report = Report::of(vec![Finding::tolerated(Rule::Agr005, "/lines/1", "extra")]);
        assert_eq!(
            SubmissionStatus::of_report(&report, &[]),
            SubmissionStatus::AcceptedWithWarnings
        );
        assert_eq!(
            SubmissionStatus::of_report(&report, &["AGR-005".into()]),
            SubmissionStatus::Accepted
        );
        let rejected = Report::of(vec![Finding::of(Rule::Reg002, "/lines/1", "x")]);
        assert_eq!(
            SubmissionStatus::of_report(&rejected, &["REG-002".into()]),
            SubmissionStatus::Rejected
        );
    }

    #[test]
    fn correction_window_edges() {
        let end: chrono::NaiveDate = "2025-06-08".parse().unwrap();
        assert_eq!(
            correction_window_closed(end, 7, "2025-06-15".parse().unwrap()),
            None
        );
        assert_eq!(
            correction_window_closed(end, 7, "2025-06-16".parse().unwrap()),
            Some("2025-06-15".parse().unwrap())
        );
    }

    #[test]
    fn if_match_is_strong() {
        assert!(if_match_names("\"v3\"", 3));
        assert!(if_match_names("\"v2\", \"v3\"", 3));
        assert!(if_match_names("*", 3));
        assert!(!if_match_names("W/\"v3\"", 3));
        assert!(!if_match_names("\"v2\"", 3));
    }
}
