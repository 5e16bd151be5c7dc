//! The KPIs a quarterly workbook computes (SPEC §3 `kpi_targets`, §4.3): the catalogue that
//! contracts set targets from and `GET /v1/kpis` lists.

use serde::Serialize;
use utoipa::ToSchema;

/// The percentage KPIs the council's contracts set targets on: each code, the measure it
/// counts as a share of `people_supported`, and what it measures.
pub(crate) const PERCENT_KPIS: [(&str, &str, &str); 5] = [
    (
        "community_access_pct",
        "people_accessing_community_weekly",
        "share of people supported who access the community in an average week",
    ),
    (
        "care_plans_up_to_date_pct",
        "care_plans_up_to_date",
        "share of people supported whose care plan is up to date",
    ),
    (
        "social_inclusion_pct",
        "people_reporting_social_inclusion",
        "share of people supported who report improved social inclusion",
    ),
    (
        "independence_pct",
        "people_reporting_independence",
        "share of people supported who report maintained or improved independence",
    ),
    (
        "employment_volunteering_education_pct",
        "people_in_employment_volunteering_education",
        "share of people supported in employment, volunteering or education",
    ),
];

/// The KPI that is the share of person outcomes achieved or progressing.
pub(crate) const OUTCOMES_PROGRESSING: &str = "outcomes_progressing_pct";

crate::types::vocabulary!(
    /// How a KPI is counted: `percent` (a share of people or of outcome records, 0 to
    /// 100), `count` (people, staff or events in the quarter) or `fte` (full-time
    /// equivalent staff).
    KpiUnit { Percent => "percent", Count => "count", Fte => "fte" }
);

/// A KPI a workbook computes, on which a contract may set a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct KpiDefinition {
    #[schema(example = "community_access_pct")]
    pub code: &'static str,
    /// What the KPI measures, in the council's words.
    pub measures: &'static str,
    pub unit: KpiUnit,
}

/// What each measure counts, in the order of SPEC §4.3 (a measure is its own KPI).
pub(crate) const MEASURE_MEANINGS: [(&str, &str); 15] = [
    ("people_supported", "people supported in the quarter"),
    (
        "people_moved_on",
        "people who moved on (achieved their life goals) in the quarter",
    ),
    (
        "people_accessing_community_weekly",
        "people accessing the community in an average week",
    ),
    (
        "people_reporting_social_inclusion",
        "people reporting improved social inclusion",
    ),
    (
        "people_reporting_independence",
        "people reporting maintained or improved independence",
    ),
    (
        "people_accessing_health_activities_weekly",
        "people taking part in physical or mental health activities in an average week",
    ),
    (
        "people_in_employment_volunteering_education",
        "people in employment, volunteering or education",
    ),
    (
        "care_plans_up_to_date",
        "people whose care plan is up to date",
    ),
    (
        "staff_headcount",
        "staff employed at the end of the quarter",
    ),
    ("staff_fte", "staff in full-time equivalents"),
    ("staff_leavers", "staff who left in the quarter"),
    ("volunteers", "volunteers active in the quarter"),
    (
        "safeguarding_concerns",
        "safeguarding concerns raised in the quarter",
    ),
    ("complaints", "complaints received in the quarter"),
    ("compliments", "compliments received in the quarter"),
];

/// Every KPI a workbook computes: the percentages the council's contracts set targets on,
/// the share of person outcomes achieved or progressing, and each measure as itself.
pub fn kpi_catalogue() -> Vec<KpiDefinition> {
    let mut kpis: Vec<KpiDefinition> = PERCENT_KPIS
        .into_iter()
        .map(|(code, _, measures)| KpiDefinition {
            code,
            measures,
            unit: KpiUnit::Percent,
        })
        .collect();
    kpis.push(KpiDefinition {
        code: OUTCOMES_PROGRESSING,
        measures: "share of the quarter's person outcomes that are achieved or progressing",
        unit: KpiUnit::Percent,
    });
    kpis.extend(
        MEASURE_MEANINGS
            .into_iter()
            .map(|(code, measures)| KpiDefinition {
                code,
                measures,
                unit: if code == "staff_fte" {
                    KpiUnit::Fte
                } else {
                    KpiUnit::Count
                },
            }),
    );
    kpis
}

/// Whether `code` is a KPI a workbook computes.
pub fn is_known_kpi(code: &str) -> bool {
    code == OUTCOMES_PROGRESSING
        || PERCENT_KPIS.iter().any(|(kpi, _, _)| *kpi == code)
        || MEASURE_MEANINGS.iter().any(|(measure, _)| *measure == code)
}
