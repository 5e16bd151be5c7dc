//! Quarterly monitoring workbooks (SPEC §4.3) and their rules (WBK and SUB of §5).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::agreement::AgreementInput;
use crate::calendar::ranges_overlap;
use crate::contract::ContractInput;
use crate::finding::Finding;
use crate::identifiers::identifiers_in;
use crate::kpi::{MEASURE_MEANINGS, OUTCOMES_PROGRESSING, PERCENT_KPIS};
use crate::outcomes::community_access_disagrees;
use crate::rules::Rule;

/// A quarter of the UK financial year: `2025-Q1` is April to June 2025, `2025-Q4` is
/// January to March 2026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quarter {
    pub year: i32,
    pub number: u32,
}

impl Quarter {
    /// What a malformed quarter is told.
    pub const FORMAT_HINT: &'static str = "must be a financial quarter, YYYY-Qn (n from 1 to 4)";

    pub fn parse(text: &str) -> Option<Quarter> {
        let (year, q) = text.split_once("-Q")?;
        let year: i32 = year.parse().ok().filter(|y| (2000..=2100).contains(y))?;
        let number: u32 = q.parse().ok().filter(|n| (1..=4).contains(n))?;
        (year.to_string().len() == 4 && q.len() == 1).then_some(Quarter { year, number })
    }

    pub fn start(self) -> NaiveDate {
        let (year, month) = match self.number {
            4 => (self.year + 1, 1),
            n => (self.year, 1 + 3 * n),
        };
        NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn end(self) -> NaiveDate {
        let next = if self.number == 4 {
            Quarter {
                year: self.year + 1,
                number: 1,
            }
        } else {
            Quarter {
                year: self.year,
                number: self.number + 1,
            }
        };
        next.start().pred_opt().unwrap_or(NaiveDate::MIN)
    }
}

impl std::fmt::Display for Quarter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-Q{}", self.year, self.number)
    }
}

/// Written as `YYYY-Qn` wherever it travels: JSON bodies, query parameters, spreadsheets.
impl Serialize for Quarter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quarter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Quarter::parse(&text).ok_or_else(|| serde::de::Error::custom(Quarter::FORMAT_HINT))
    }
}

impl utoipa::PartialSchema for Quarter {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^20[0-9]{2}-Q[1-4]$|^2100-Q[1-4]$"))
            .description(Some(
                "A quarter of the UK financial year, `YYYY-Qn`: `2025-Q1` is April to June 2025, `2025-Q4` is January to March 2026.",
            ))
            .examples([serde_json::json!("2025-Q3")])
            .into()
    }
}

impl ToSchema for Quarter {}

/// The day `working_days` working days (Monday to Friday, not a bank holiday) after `from`.
pub fn working_days_after(
    from: NaiveDate,
    working_days: u32,
    is_bank_holiday: impl Fn(NaiveDate) -> bool,
) -> NaiveDate {
    let mut day = from;
    let mut counted = 0;
    while counted < working_days {
        day = day + Days::new(1);
        if day.weekday().number_from_monday() <= 5 && !is_bank_holiday(day) {
            counted += 1;
        }
    }
    day
}

/// The quarter's measures; any may be missing in a body (WBK-001 reports it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Measures {
    pub people_supported: Option<u32>,
    pub people_moved_on: Option<u32>,
    pub people_accessing_community_weekly: Option<u32>,
    pub people_reporting_social_inclusion: Option<u32>,
    pub people_reporting_independence: Option<u32>,
    pub people_accessing_health_activities_weekly: Option<u32>,
    pub people_in_employment_volunteering_education: Option<u32>,
    pub care_plans_up_to_date: Option<u32>,
    pub staff_headcount: Option<u32>,
    pub staff_fte: Option<f64>,
    pub staff_leavers: Option<u32>,
    pub volunteers: Option<u32>,
    pub safeguarding_concerns: Option<u32>,
    pub complaints: Option<u32>,
    pub compliments: Option<u32>,
}

impl Measures {
    /// Every measure by name, `None` where missing (staff FTE as a number).
    pub fn by_name(&self) -> Vec<(&'static str, Option<f64>)> {
        let c = |v: Option<u32>| v.map(f64::from);
        vec![
            ("people_supported", c(self.people_supported)),
            ("people_moved_on", c(self.people_moved_on)),
            (
                "people_accessing_community_weekly",
                c(self.people_accessing_community_weekly),
            ),
            (
                "people_reporting_social_inclusion",
                c(self.people_reporting_social_inclusion),
            ),
            (
                "people_reporting_independence",
                c(self.people_reporting_independence),
            ),
            (
                "people_accessing_health_activities_weekly",
                c(self.people_accessing_health_activities_weekly),
            ),
            (
                "people_in_employment_volunteering_education",
                c(self.people_in_employment_volunteering_education),
            ),
            ("care_plans_up_to_date", c(self.care_plans_up_to_date)),
            ("staff_headcount", c(self.staff_headcount)),
            ("staff_fte", self.staff_fte),
            ("staff_leavers", c(self.staff_leavers)),
            ("volunteers", c(self.volunteers)),
            ("safeguarding_concerns", c(self.safeguarding_concerns)),
            ("complaints", c(self.complaints)),
            ("compliments", c(self.compliments)),
        ]
    }

    /// Whether a measure is a count of whole things (every measure but staff FTE).
    pub fn is_count(name: &str) -> bool {
        name != "staff_fte"
    }

    /// The slot of a count measure by name; `None` for staff FTE or an unknown name.
    pub fn count_mut(&mut self, name: &str) -> Option<&mut Option<u32>> {
        Some(match name {
            "people_supported" => &mut self.people_supported,
            "people_moved_on" => &mut self.people_moved_on,
            "people_accessing_community_weekly" => &mut self.people_accessing_community_weekly,
            "people_reporting_social_inclusion" => &mut self.people_reporting_social_inclusion,
            "people_reporting_independence" => &mut self.people_reporting_independence,
            "people_accessing_health_activities_weekly" => {
                &mut self.people_accessing_health_activities_weekly
            }
            "people_in_employment_volunteering_education" => {
                &mut self.people_in_employment_volunteering_education
            }
            "care_plans_up_to_date" => &mut self.care_plans_up_to_date,
            "staff_headcount" => &mut self.staff_headcount,
            "staff_leavers" => &mut self.staff_leavers,
            "volunteers" => &mut self.volunteers,
            "safeguarding_concerns" => &mut self.safeguarding_concerns,
            "complaints" => &mut self.complaints,
            "compliments" => &mut self.compliments,
            _ => return None,
        })
    }
}

crate::types::vocabulary!(
    /// Outcome domains reported per person.
    OutcomeDomain {
        Independence => "independence",
        SocialInclusion => "social_inclusion",
        Wellbeing => "wellbeing",
        LifeGoals => "life_goals",
        EmploymentVolunteeringEducation => "employment_volunteering_education",
        CarePlan => "care_plan",
        CommunityAccess => "community_access",
        CommunityNetworks => "community_networks",
    }
);

crate::types::vocabulary!(
    /// Where a person stands on an outcome domain.
    OutcomeStatus {
        Achieved => "achieved",
        Progressing => "progressing",
        NotStarted => "not_started",
        Declined => "declined",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonOutcome {
    pub person_ref: String,
    pub domain: OutcomeDomain,
    pub status: OutcomeStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseStudy {
    #[schema(max_length = 200)]
    pub title: String,
    #[schema(max_length = 5000)]
    pub summary: String,
}

/// A quarterly monitoring return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkbookInput {
    pub contract_id: String,
    pub quarter: Quarter,
    pub template_version: String,
    pub measures: Measures,
    #[serde(default)]
    pub person_outcomes: Vec<PersonOutcome>,
    #[serde(default)]
    pub case_studies: Vec<CaseStudy>,
    #[serde(default)]
    pub acknowledged_warnings: Vec<String>,
}

crate::types::vocabulary!(
    /// The traffic light of a KPI.
    Rag { Red => "red", Amber => "amber", Green => "green" }
);

/// A KPI of the contract measured by the workbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KpiResult {
    pub code: String,
    pub value: f64,
    pub target: f64,
    pub amber_below: f64,
    pub rag: Rag,
}

/// The measure a KPI code is read from (a measure is its own KPI); `None` for the
/// person-outcomes KPI and unknown codes.
pub fn kpi_measure(code: &str) -> Option<&'static str> {
    PERCENT_KPIS
        .iter()
        .find(|(kpi, _, _)| *kpi == code)
        .map(|(_, measure, _)| *measure)
        .or_else(|| {
            MEASURE_MEANINGS
                .iter()
                .map(|(name, _)| *name)
                .find(|name| *name == code)
        })
}

/// The value of a KPI code: a measure by name, or one of the percentages the council's
/// contracts set targets on.
pub fn kpi_value(code: &str, workbook: &WorkbookInput) -> Option<f64> {
    let m = &workbook.measures;
    if code == OUTCOMES_PROGRESSING {
        let all = workbook.person_outcomes.len();
        let moving = workbook
            .person_outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o.status,
                    OutcomeStatus::Achieved | OutcomeStatus::Progressing
                )
            })
            .count();
        return (all > 0).then(|| 100.0 * moving as f64 / all as f64);
    }
    let measure = kpi_measure(code)?;
    let value = m
        .by_name()
        .into_iter()
        .find(|(name, _)| *name == measure)
        .and_then(|(_, v)| v)?;
    if measure == code {
        return Some(value);
    }
    let whole = f64::from(m.people_supported?);
    (whole > 0.0).then(|| 100.0 * value / whole)
}

/// Where a KPI's finding points: the measure it is read from, or the person outcomes.
fn kpi_pointer(code: &str) -> String {
    match kpi_measure(code) {
        Some(measure) => format!("/measures/{measure}"),
        None if code == OUTCOMES_PROGRESSING => "/person_outcomes".to_string(),
        None => "/measures".to_string(),
    }
}

/// People with an agreement on the contract at some time in the quarter, in order.
pub fn people_in_quarter(agreements: &[AgreementInput], quarter: Quarter) -> BTreeSet<&str> {
    agreements
        .iter()
        .filter(|a| {
            ranges_overlap(
                a.start_date,
                a.end_date,
                quarter.start(),
                Some(quarter.end()),
            )
        })
        .map(|a| a.person_ref.as_str())
        .collect()
}

/// Every KPI target of the contract the workbook measures, with its traffic light.
pub fn kpi_results(workbook: &WorkbookInput, contract: &ContractInput) -> Vec<KpiResult> {
    contract
        .kpi_targets
        .iter()
        .filter_map(|kpi| {
            let value = kpi_value(&kpi.code, workbook)?;
            let rag = if value < kpi.amber_below {
                Rag::Red
            } else if value < kpi.target {
                Rag::Amber
            } else {
                Rag::Green
            };
            Some(KpiResult {
                code: kpi.code.clone(),
                value,
                target: kpi.target,
                amber_below: kpi.amber_below,
                rag,
            })
        })
        .collect()
}

pub struct WorkbookContext<'a> {
    pub contract: &'a ContractInput,
    pub agreements: &'a [AgreementInput],
    /// People who attended at least one session in the quarter's current registers.
    pub attenders: &'a BTreeSet<String>,
    /// The share of a week's attenders with community access in the quarter's registers,
    /// averaged over its weeks; none without registers (WBK-009).
    pub community_access_pct: Option<f64>,
    pub current_template_version: &'a str,
    pub today: NaiveDate,
}

/// The template version the council currently issues (WBK-007).
pub const CURRENT_TEMPLATE_VERSION: &str = "2025.1";

/// Working days after the quarter end by which a workbook is due (SPEC §5, SUB-002).
pub const WORKBOOK_DEADLINE_WORKING_DAYS: u32 = 15;

/// Parts that may not exceed their whole (WBK-002).
const PARTS: [(&str, &str); 8] = [
    ("people_moved_on", "people_supported"),
    ("people_accessing_community_weekly", "people_supported"),
    ("people_reporting_social_inclusion", "people_supported"),
    ("people_reporting_independence", "people_supported"),
    (
        "people_accessing_health_activities_weekly",
        "people_supported",
    ),
    (
        "people_in_employment_volunteering_education",
        "people_supported",
    ),
    ("care_plans_up_to_date", "people_supported"),
    ("staff_leavers", "staff_headcount"),
];

pub fn validate_workbook(workbook: &WorkbookInput, ctx: &WorkbookContext<'_>) -> Vec<Finding> {
    let contract = ctx.contract;
    let mut findings = Vec::new();
    let quarter = workbook.quarter;
    if quarter.end() >= ctx.today {
        findings.push(Finding::of(
            Rule::Sub001,
            "/quarter",
            "the quarter has not ended yet",
        ));
    } else {
        let due = working_days_after(quarter.end(), WORKBOOK_DEADLINE_WORKING_DAYS, |day| {
            contract.is_bank_holiday(day)
        });
        if ctx.today > due {
            findings.push(Finding::of(
                Rule::Sub002,
                "/quarter",
                format!("submitted after the deadline of {due}"),
            ));
        }
    }
    findings.extend(crate::checks::contract_not_active(contract));
    if !ranges_overlap(
        quarter.start(),
        Some(quarter.end()),
        contract.start_date,
        contract.end_date,
    ) {
        findings.push(Finding::of(
            Rule::Sub003,
            "/quarter",
            "the quarter is outside the contract's dates",
        ));
    }
    if workbook.template_version != ctx.current_template_version {
        findings.push(Finding::of(
            Rule::Wbk007,
            "/template_version",
            format!("the current template is {}", ctx.current_template_version),
        ));
    }
    let measures: BTreeMap<&str, Option<f64>> = workbook.measures.by_name().into_iter().collect();
    for (name, value) in &measures {
        if value.is_none() {
            findings.push(Finding::of(
                Rule::Wbk001,
                format!("/measures/{name}"),
                "this measure is required",
            ));
        }
    }
    for (part, whole) in PARTS {
        if let (Some(Some(p)), Some(Some(w))) = (measures.get(part), measures.get(whole)) {
            if p > w {
                findings.push(Finding::of(
                    Rule::Wbk002,
                    format!("/measures/{part}"),
                    format!("exceeds {whole}"),
                ));
            }
        }
    }
    if let Some(Some(supported)) = measures.get("people_supported") {
        let attending = ctx.attenders.len() as f64;
        if (supported - attending).abs() * 10.0 > attending.max(1.0) {
            findings.push(Finding::of(Rule::Wbk003,
                "/measures/people_supported",
                format!("differs by more than 10% from the {attending} people attending in the quarter's registers"),
            ));
        }
    }
    if let (Some(Some(community)), Some(Some(supported))) = (
        measures.get("people_accessing_community_weekly"),
        measures.get("people_supported"),
    ) {
        if let Some(reported) =
            community_access_disagrees(*community, *supported, ctx.community_access_pct)
        {
            findings.push(Finding::of(
                Rule::Wbk009,
                "/measures/people_accessing_community_weekly",
                format!(
                    "is {reported:.1}% of people supported; the quarter's registers show {:.1}% with community access in an average week",
                    ctx.community_access_pct.unwrap_or_default()
                ),
            ));
        }
    }
    for kpi in kpi_results(workbook, contract) {
        match kpi.rag {
            Rag::Red => findings.push(Finding::of(
                Rule::Wbk004,
                kpi_pointer(&kpi.code),
                format!(
                    "{} is {:.1}, below {} (red)",
                    kpi.code, kpi.value, kpi.amber_below
                ),
            )),
            Rag::Amber => findings.push(Finding::of(
                Rule::Wbk004,
                kpi_pointer(&kpi.code),
                format!(
                    "{} is {:.1}, below its target of {} (amber)",
                    kpi.code, kpi.value, kpi.target
                ),
            )),
            Rag::Green => {}
        }
    }
    let in_quarter = people_in_quarter(ctx.agreements, quarter);
    let mut recorded = BTreeSet::new();
    for (i, outcome) in workbook.person_outcomes.iter().enumerate() {
        recorded.insert(outcome.person_ref.as_str());
        if !in_quarter.contains(outcome.person_ref.as_str()) {
            findings.push(Finding::of(
                Rule::Wbk005,
                format!("/person_outcomes/{i}/person_ref"),
                "the person has no agreement on this contract in the quarter",
            ));
        }
    }
    for person in ctx.attenders {
        if !recorded.contains(person.as_str()) {
            findings.push(
                Finding::of(
                    Rule::Wbk006,
                    "/person_outcomes",
                    format!("{person} attended in the quarter but has no outcome record"),
                )
                .about(person),
            );
        }
    }
    for (i, study) in workbook.case_studies.iter().enumerate() {
        for (field, text) in [("title", &study.title), ("summary", &study.summary)] {
            for kind in identifiers_in(text) {
                // Never echo the identifier back: say only what it looks like.
                findings.push(Finding::of(
                    Rule::Wbk008,
                    format!("/case_studies/{i}/{field}"),
                    format!(
                        "the text looks like it holds {}; remove personal identifiers",
                        kind.describe()
                    ),
                ));
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Severity::{self, Error as E, Warning as W};
    use crate::types::ContractStatus;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn quarters_of_the_financial_year() {
        let cases = [
            ("2025-Q1", "2025-04-01", "2025-06-30"),
            ("2025-Q2", "2025-07-01", "2025-09-30"),
            ("2025-Q3", "2025-10-01", "2025-12-31"),
            ("2025-Q4", "2026-01-01", "2026-03-31"),
        ];
        for (text, start, end) in cases {
            let q = Quarter::parse(text).unwrap();
            assert_eq!((q.start(), q.end()), (d(start), d(end)), "{text}");
            assert_eq!(q.to_string(), text);
        }
        for bad in [
            "2025-Q5", "2025-Q0", "25-Q1", "2025Q1", "2025-Q1x", "2025-q1", "",
        ] {
            assert_eq!(Quarter::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn fifteen_working_days_skip_weekends_and_bank_holidays() {
        // 2025-Q3 ends on Wednesday 31 December; 1 January is a bank holiday.
        assert_eq!(
            working_days_after(d("2025-12-31"), 15, |day| day == d("2026-01-01")),
            d("2026-01-22")
        );
        assert_eq!(
            working_days_after(d("2025-12-31"), 15, |_| false),
            d("2026-01-21")
        );
    }

    fn workbook() -> WorkbookInput {
        serde_json::from_value(serde_json::json!({
            "contract_id": "c1",
            "quarter": "2025-Q3",
            "template_version": "2025.1",
            "measures": {
                "people_supported": 2, "people_moved_on": 0, "people_accessing_community_weekly": 2,
                "people_reporting_social_inclusion": 1, "people_reporting_independence": 1,
                "people_accessing_health_activities_weekly": 1, "people_in_employment_volunteering_education": 0,
                "care_plans_up_to_date": 2, "staff_headcount": 6, "staff_fte": 4.5, "staff_leavers": 1,
                "volunteers": 3, "safeguarding_concerns": 0, "complaints": 0, "compliments": 4
            },
            "person_outcomes": [
                {"person_ref": "P1", "domain": "wellbeing", "status": "progressing"},
                {"person_ref": "P2", "domain": "independence", "status": "achieved"}
            ],
            "case_studies": [{"title": "Back to the allotment", "summary": "A member now leads the Tuesday group."}]
        }))
        .unwrap()
    }

    struct Scenario {
        contract: ContractInput,
        agreements: Vec<AgreementInput>,
        attenders: BTreeSet<String>,
        community_access_pct: Option<f64>,
        workbook: WorkbookInput,
        today: NaiveDate,
    }

    fn scenario() -> Scenario {
        let agreement = |p: &str| -> AgreementInput {
            serde_json::from_value(serde_json::json!({"person_ref": p, "need_bands": [{"from": "2025-04-01", "band": "low"}],
                "planned_sessions": [], "start_date": "2025-04-01", "pathway": "enabling"}))
            .unwrap()
        };
        Scenario {
            contract: crate::contract::tests::sample(),
            agreements: vec![agreement("P1"), agreement("P2")],
            attenders: ["P1".to_string(), "P2".to_string()].into_iter().collect(),
            // The workbook reports both of its two people in the community weekly.
            community_access_pct: Some(95.0),
            workbook: workbook(),
            today: d("2026-01-10"),
        }
    }

    /// The findings of `workbook` in the scenario's context.
    fn validate(s: &Scenario, workbook: &WorkbookInput) -> Vec<Finding> {
        let ctx = WorkbookContext {
            contract: &s.contract,
            agreements: &s.agreements,
            attenders: &s.attenders,
            community_access_pct: s.community_access_pct,
            current_template_version: "2025.1",
            today: s.today,
        };
        validate_workbook(workbook, &ctx)
    }

    fn codes(s: &Scenario) -> Vec<(String, Severity, String)> {
        validate(s, &s.workbook)
            .into_iter()
            .map(|f| (f.code, f.severity, f.pointer))
            .collect()
    }

    #[test]
    fn quarters_travel_as_text_and_a_malformed_one_is_refused() {
        let q: Quarter = serde_json::from_value(serde_json::json!("2025-Q4")).unwrap();
        assert_eq!((q.start(), q.end()), (d("2026-01-01"), d("2026-03-31")));
        assert_eq!(
            serde_json::to_value(q).unwrap(),
            serde_json::json!("2025-Q4")
        );
        for bad in ["2025-Q5", "25-Q1", "2025-Q01", "2025Q1", ""] {
            let error = serde_json::from_value::<Quarter>(serde_json::json!(bad)).unwrap_err();
            assert!(error.to_string().contains("YYYY-Qn"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_clean_workbook_has_no_findings() {
        assert_eq!(codes(&scenario()), vec![]);
    }

    #[test]
    fn each_rule_fires_with_its_pointer() {
        type Mutation = fn(&mut Scenario);
        type Expected = Vec<(&'static str, Severity, &'static str)>;
        let cases: Vec<(&str, Mutation, Expected)> = vec![
            (
                "not ended",
                |s| s.today = d("2025-12-31"),
                vec![("SUB-001", E, "/quarter")],
            ),
            (
                "late",
                |s| s.today = d("2026-01-23"),
                vec![("SUB-002", W, "/quarter")],
            ),
            (
                "contract suspended",
                |s| s.contract.status = ContractStatus::Suspended,
                vec![("SUB-003", E, "/contract_id")],
            ),
            (
                "old template",
                |s| s.workbook.template_version = "2024.2".into(),
                vec![("WBK-007", E, "/template_version")],
            ),
            (
                "community access far from the registers",
                |s| s.community_access_pct = Some(87.5),
                vec![("WBK-009", W, "/measures/people_accessing_community_weekly")],
            ),
            (
                "community access with no registers to compare",
                |s| s.community_access_pct = None,
                vec![],
            ),
            (
                "missing measure",
                |s| s.workbook.measures.volunteers = None,
                vec![("WBK-001", E, "/measures/volunteers")],
            ),
            (
                "part exceeds whole",
                |s| s.workbook.measures.staff_leavers = Some(7),
                vec![("WBK-002", E, "/measures/staff_leavers")],
            ),
            (
                "people supported far from attenders",
                |s| s.workbook.measures.people_supported = Some(5),
                vec![
                    ("WBK-003", W, "/measures/people_supported"),
                    // Two of five in the community weekly is far from the registers' 95%.
                    ("WBK-009", W, "/measures/people_accessing_community_weekly"),
                    ("WBK-004", W, "/measures/people_accessing_community_weekly"),
                ],
            ),
            (
                "a measure with no KPI target",
                |s| s.workbook.measures.care_plans_up_to_date = Some(1),
                vec![],
            ),
            (
                "outcome for a stranger",
                |s| s.workbook.person_outcomes[1].person_ref = "P9".into(),
                vec![
                    ("WBK-005", E, "/person_outcomes/1/person_ref"),
                    ("WBK-006", W, "/person_outcomes"),
                ],
            ),
            (
                "attender without outcome",
                |s| {
                    s.workbook.person_outcomes.pop();
                },
                vec![("WBK-006", W, "/person_outcomes")],
            ),
            (
                "NHS number in a case study",
                |s| {
                    s.workbook.case_studies[0].summary =
                        "Her NHS no. 943 476 5919 was checked".into()
                },
                vec![("WBK-008", W, "/case_studies/0/summary")],
            ),
            (
                "invalid NHS number is fine",
                |s| s.workbook.case_studies[0].summary = "Reference 943 476 5918 on file".into(),
                vec![],
            ),
        ];
        for (name, mutate, expected) in cases {
            let mut s = scenario();
            mutate(&mut s);
            let expected: Vec<_> = expected
                .into_iter()
                .map(|(c, sev, p)| (c.to_string(), sev, p.to_string()))
                .collect();
            assert_eq!(codes(&s), expected, "{name}");
        }
    }

    #[test]
    fn kpis_against_targets() {
        let mut s = scenario();
        // Sample contract: community_access_pct target 80, amber below 60.
        let results = kpi_results(&s.workbook, &s.contract);
        assert_eq!(results.len(), 1);
        assert_eq!((results[0].value, results[0].rag), (100.0, Rag::Green));
        s.workbook.measures.people_accessing_community_weekly = Some(1);
        s.workbook.measures.people_supported = Some(2);
        let results = kpi_results(&s.workbook, &s.contract);
        assert_eq!((results[0].value, results[0].rag), (50.0, Rag::Red));
        s.workbook.measures.people_supported = Some(10);
        s.workbook.measures.people_accessing_community_weekly = Some(7);
        let results = kpi_results(&s.workbook, &s.contract);
        assert_eq!((results[0].value, results[0].rag), (70.0, Rag::Amber));
        s.workbook.measures.people_supported = Some(2);
        s.workbook.measures.people_accessing_community_weekly = Some(1);
        // The registers agree with the workbook's 50%: only the KPI is warned about.
        s.community_access_pct = Some(50.0);
        let found = codes(&s);
        assert_eq!(
            found,
            [(
                "WBK-004".to_string(),
                W,
                "/measures/people_accessing_community_weekly".to_string()
            )]
        );
        let mut with_number = workbook();
        with_number.case_studies[0].summary = "NHS 943 476 5919".into();
        let message_free_of_number = !validate(&s, &with_number)
            .iter()
            .any(|f| f.message.contains("943") || f.message.contains("5919"));
        assert!(
            message_free_of_number,
            "the warning never echoes the number"
        );
    }

    #[test]
    fn the_kpi_catalogue_is_what_a_workbook_computes() {
        use crate::kpi::{is_known_kpi, kpi_catalogue};
        let catalogue = kpi_catalogue();
        let codes: Vec<&str> = catalogue.iter().map(|k| k.code).collect();
        assert_eq!(codes.len(), 21);
        let unique: BTreeSet<&str> = codes.iter().copied().collect();
        assert_eq!(unique.len(), codes.len());
        // Every measure is in it, by name, and every code in it has a value on a full
        // workbook.
        let names: Vec<&str> = Measures::default()
            .by_name()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(
            MEASURE_MEANINGS.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            names
        );
        let wb = workbook();
        for kpi in &catalogue {
            assert!(is_known_kpi(kpi.code), "{}", kpi.code);
            assert!(kpi_value(kpi.code, &wb).is_some(), "{}", kpi.code);
        }
        assert!(is_known_kpi("people_accessing_health_activities_weekly"));
        assert!(!is_known_kpi("no_such_kpi"));
    }

    #[test]
    fn kpi_codes_read_their_measures() {
        let cases = [
            (
                "community_access_pct",
                Some("people_accessing_community_weekly"),
            ),
            ("care_plans_up_to_date_pct", Some("care_plans_up_to_date")),
            ("volunteers", Some("volunteers")),
            ("staff_fte", Some("staff_fte")),
            ("outcomes_progressing_pct", None),
            ("no_such_kpi", None),
        ];
        for (code, measure) in cases {
            assert_eq!(kpi_measure(code), measure, "{code}");
        }
        assert_eq!(kpi_pointer("outcomes_progressing_pct"), "/person_outcomes");
        assert_eq!(kpi_pointer("no_such_kpi"), "/measures");
    }

    #[test]
    fn every_count_measure_has_a_slot() {
        let mut m = Measures::default();
        for (name, _) in Measures::default().by_name() {
            assert_eq!(
                m.count_mut(name).is_some(),
                Measures::is_count(name),
                "{name}"
            );
        }
        assert!(m.count_mut("no_such_measure").is_none());
        if let Some(slot) = m.count_mut("volunteers") {
            *slot = Some(4);
        }
        assert_eq!(m.volunteers, Some(4));
    }

    #[test]
    fn a_missing_outcome_record_names_its_person() {
        let mut s = scenario();
        s.workbook.person_outcomes.pop();
        let found = validate(&s, &s.workbook);
        let people: Vec<_> = found
            .iter()
            .filter_map(|f| f.person_ref.as_deref())
            .collect();
        assert_eq!(people.len(), 1);
        assert!(s.attenders.contains(people[0]));
        assert!(found.iter().all(|f| f.code == "WBK-006"));
    }
}
