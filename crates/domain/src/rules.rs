//! The rule catalogue (SPEC §5): every finding code with its severity policy and the
//! SPEC's words. Findings are made from a [`Rule`], never from a bare code, so a code's
//! severity is decided here and nowhere else; `docs/rules.md` is generated from it.

use crate::finding::Severity;

/// How severe a rule's findings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeverityPolicy {
    /// Always an error: the submission (or the claim line) is rejected.
    Error,
    /// Always a warning.
    Warning,
    /// A warning within what the contract tolerates, an error beyond it (`W/E`).
    WarningOrError,
}

impl SeverityPolicy {
    /// As SPEC §5 writes it: `E`, `W` or `W/E`.
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityPolicy::Error => "E",
            SeverityPolicy::Warning => "W",
            SeverityPolicy::WarningOrError => "W/E",
        }
    }

    /// The severity of a finding raised outside any tolerance: the stricter one.
    pub fn severity(self) -> Severity {
        match self {
            SeverityPolicy::Warning => Severity::Warning,
            SeverityPolicy::Error | SeverityPolicy::WarningOrError => Severity::Error,
        }
    }
}

/// Declares the catalogue: a variant, its code, its policy and the SPEC's text a line.
macro_rules! rules {
    ($($variant:ident => $code:literal, $policy:ident, $text:literal;)+) => {
        /// A business rule of SPEC §5.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule { $($variant),+ }

        impl Rule {
            /// Every rule, in SPEC order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),+];

            pub fn code(self) -> &'static str {
                match self { $(Rule::$variant => $code),+ }
            }

            pub fn policy(self) -> SeverityPolicy {
                match self { $(Rule::$variant => SeverityPolicy::$policy),+ }
            }

            /// What the rule checks, in the SPEC's words.
            pub fn text(self) -> &'static str {
                match self { $(Rule::$variant => $text),+ }
            }

            pub fn parse(code: &str) -> Option<Rule> {
                match code { $($code => Some(Rule::$variant),)+ _ => None }
            }
        }
    };
}

rules! {
    Sub001 => "SUB-001", Error, "period malformed: register not Monday–Sunday, claim not one payment period, workbook not a financial quarter, or period not yet ended";
    Sub002 => "SUB-002", Warning, "submitted after the deadline (`register_deadline_days` after period end; workbooks 15 working days after quarter end)";
    Sub003 => "SUB-003", Error, "period outside the contract's dates, or contract not active";
    Sub005 => "SUB-005", Error, "amendment after the correction window, or of a claim already paid";
    Agr001 => "AGR-001", Error, "`person_ref` has no service agreement on this contract";
    Agr002 => "AGR-002", Error, "date outside the agreement's start and end";
    Agr003 => "AGR-003", Error, "agreement suspended on that date";
    Agr004 => "AGR-004", Error, "item or session type not offered by the contract on that date (no cell for it in any band)";
    Agr005 => "AGR-005", WarningOrError, "session not in the planned schedule (an extra): warning with a comment when the contract allows extras, error otherwise";
    Agr006 => "AGR-006", WarningOrError, "one-to-one hours or transport journeys over the weekly authorisation (warning within `over_delivery_tolerance_pct`, error beyond)";
    Agr007 => "AGR-007", Warning, "an `enabling` placement attended more than 12 weeks after its start date (enablement is time-limited)";
    Rate001 => "RATE-001", Error, "no rate cell for band, item, session type and day category on that date";
    Rate002 => "RATE-002", Warning, "claimed unit price differs from the matrix: line priced at the matrix";
    Rate003 => "RATE-003", Warning, "claimed band differs from the band assessed on that date: line priced at the assessed band";
    Rate004 => "RATE-004", Warning, "line amount is not quantity × unit price";
    Reg001 => "REG-001", Error, "a planned session of an active, unsuspended agreement has no line";
    Reg002 => "REG-002", Error, "absence without a reason";
    Reg003 => "REG-003", Error, "line differs from the plan (extra session, other session type) without a comment";
    Reg004 => "REG-004", Error, "hours not a non-negative multiple of 0.25, or more than 24";
    Reg005 => "REG-005", Error, "the same person, date and session type twice in one register";
    Reg006 => "REG-006", Error, "the person attends an overlapping session (same date; `full_day` overlaps `am` and `pm`) in another current register, under any provider";
    Reg007 => "REG-007", Error, "attendance on one of the contract's closure dates";
    Reg008 => "REG-008", Warning, "more people attended a session than the contract's capacity";
    Reg009 => "REG-009", Error, "one-to-one hours, transport or a meal on a line that was not attended";
    Reg010 => "REG-010", Error, "one-to-one hours longer than the session";
    Reg011 => "REG-011", Error, "line date outside the register period";
    Reg012 => "REG-012", Warning, "a person attended during the week but no line for them carries an outcome tag or community access";
    Reg013 => "REG-013", Warning, "a person attended while their agreement's `care_plan_review_due` is more than 28 days past";
    Clm001 => "CLM-001", Error, "no attended line, or chargeable absence, in the current version of a register that is not rejected, behind the claim line";
    Clm002 => "CLM-002", Error, "absence not chargeable: reason not in `chargeable_reasons`, or notice of at least `min_notice_hours`";
    Clm003 => "CLM-003", Error, "the same person, date, session type and item twice in this claim, or already in another claim that is not rejected or declined, under any provider";
    Clm005 => "CLM-005", Warning, "`total_pence` is not the sum of line amounts";
    Clm006 => "CLM-006", Error, "line date outside the claim period";
    Clm007 => "CLM-007", Warning, "sessions for a person in a week exceed the plan by more than the tolerance";
    Wbk001 => "WBK-001", Error, "a required measure is missing";
    Wbk002 => "WBK-002", Error, "a count exceeds its whole (e.g. `people_accessing_community_weekly` > `people_supported`; `staff_leavers` > `staff_headcount`)";
    Wbk003 => "WBK-003", Warning, "`people_supported` differs by more than 10% from the distinct people attending in the quarter's registers";
    Wbk004 => "WBK-004", Warning, "a KPI is below its contract target (amber) or below `amber_below` (red)";
    Wbk005 => "WBK-005", Error, "a person outcome for a person with no agreement on the contract in the quarter";
    Wbk006 => "WBK-006", Warning, "a person who attended in the quarter has no outcome record";
    Wbk007 => "WBK-007", Error, "`template_version` is not the current one";
    Wbk008 => "WBK-008", Warning, "free text looks like it holds personal identifiers (an NHS number, email address, phone number or postcode)";
    Wbk009 => "WBK-009", Warning, "`people_accessing_community_weekly` differs by more than 10 percentage points of `people_supported` from the share of people the quarter's registers show with community access in an average week";
}

/// Rules of SPEC §5 that no validator raises yet (none since the outcome rules of issue
/// 20): a rule the SPEC adds is listed here until it is checked, so that the catalogue is
/// always the whole SPEC and the docs mark what waits.
pub const NOT_YET_CHECKED: &[Rule] = &[];

/// A finding's code, in the document: one of the catalogue's codes, each with its
/// severity policy and meaning (`GET /v1/finding-codes` serves the same catalogue).
pub struct FindingCode;

impl utoipa::PartialSchema for FindingCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::extensions::ExtensionsBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let mut description = String::from(
            "A rule of the catalogue (SPEC §5). Severity `E` rejects, `W` warns, `W/E` warns \
             within what the contract tolerates and rejects beyond it.\n",
        );
        for rule in Rule::ALL {
            description.push_str(&format!(
                "\n- `{}` ({}): {}",
                rule.code(),
                rule.policy().as_str(),
                rule.text()
            ));
        }
        let meanings: Vec<String> = Rule::ALL
            .iter()
            .map(|rule| format!("{}: {}", rule.policy().as_str(), rule.text()))
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Rule::ALL.iter().map(|rule| rule.code())))
            .description(Some(description))
            .extensions(Some(
                ExtensionsBuilder::new()
                    .add("x-enum-descriptions", meanings)
                    .build(),
            ))
            .into()
    }
}

impl utoipa::ToSchema for FindingCode {}

/// One rule of the catalogue, as `GET /v1/finding-codes` answers it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RuleEntry {
    #[schema(value_type = FindingCode)]
    pub code: &'static str,
    /// `E`, `W` or `W/E` (SPEC §5): the severity its findings take.
    #[schema(value_type = String, pattern = "^(E|W|W/E)$", example = "W/E")]
    pub severity: &'static str,
    /// What the rule checks, in the SPEC's words.
    pub rule: &'static str,
    /// The submissions it applies to.
    pub applies_to: Vec<crate::submission::SubmissionKind>,
    /// Whether validation raises it yet.
    pub checked: bool,
}

impl Rule {
    /// The kinds of submission whose validation may raise the rule.
    pub fn applies_to(self) -> Vec<crate::submission::SubmissionKind> {
        use crate::submission::SubmissionKind::{Claim, Register, Workbook};
        match self.code().split('-').next().unwrap_or("") {
            "SUB" => vec![Register, Claim, Workbook],
            "AGR" => vec![Register, Claim],
            "RATE" | "CLM" => vec![Claim],
            "REG" => vec![Register],
            _ => vec![Workbook],
        }
    }

    pub fn entry(self) -> RuleEntry {
        RuleEntry {
            code: self.code(),
            severity: self.policy().as_str(),
            rule: self.text(),
            applies_to: self.applies_to(),
            checked: !NOT_YET_CHECKED.contains(&self),
        }
    }
}

/// The catalogue as Markdown: `docs/rules.md`.
pub fn rules_markdown() -> String {
    let mut md = String::from(
        "# Validation rules\n\n\
         Generated from the rule catalogue (`crates/domain/src/rules.rs`); do not edit by hand.\n\
         Regenerate with `DAYOPS_WRITE_DOCS=1 cargo test -p dayops-domain rules`.\n\n\
         Severity `E` rejects (a claim line with an error is rejected on its own), `W` warns, \
         `W/E` warns within what the contract tolerates and rejects beyond it.\n\n\
         | code | severity | rule |\n|---|---|---|\n",
    );
    for rule in Rule::ALL {
        let pending = if NOT_YET_CHECKED.contains(rule) {
            " (not yet checked)"
        } else {
            ""
        };
        md.push_str(&format!(
            "| {} | {} | {}{pending} |\n",
            rule.code(),
            rule.policy().as_str(),
            rule.text()
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut codes: Vec<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.code()), Some(*rule));
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Rule::ALL.len());
        assert_eq!(Rule::parse("REG-999"), None);
    }

    /// `docs/rules.md` is the catalogue as it stands; `DAYOPS_WRITE_DOCS=1` rewrites it.
    #[test]
    fn rules_doc_is_generated_from_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md");
        let generated = rules_markdown();
        if std::env::var_os("DAYOPS_WRITE_DOCS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/rules.md is stale: run DAYOPS_WRITE_DOCS=1 cargo test -p dayops-domain rules"
        );
    }
}
