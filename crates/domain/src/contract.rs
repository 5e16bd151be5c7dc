//! Contracts: what the council buys from a provider, on which terms.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::calendar::{day_category, is_monday};
use crate::error::FieldErrors;
use crate::kpi::{is_known_kpi, kpi_catalogue};
use crate::types::{
    AbsenceReason, BankHolidayRegion, ContractStatus, DayCategory, Hours, PaymentPeriod,
    ServiceType, SessionType,
};

/// When an absence is still paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AbsencePolicy {
    /// Reasons for which an absence may be charged.
    pub chargeable_reasons: Vec<AbsenceReason>,
    /// An absence notified with less notice than this many hours is chargeable.
    #[schema(minimum = 0, example = 24)]
    pub min_notice_hours: u32,
}

/// A KPI the provider reports against in its quarterly workbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiTarget {
    /// One of the KPIs a workbook computes (`GET /v1/kpis`).
    #[schema(example = "community_access_pct")]
    pub code: String,
    /// Green at or above this value.
    #[schema(example = 80.0)]
    pub target: f64,
    /// Red below this value; amber between it and the target.
    #[schema(example = 60.0)]
    pub amber_below: f64,
}

/// A financial year's budget for a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// The financial year by the year it starts in: `2025` runs 1 April 2025 to 31 March 2026.
    #[schema(minimum = 2000, maximum = 2100, example = 2026)]
    pub financial_year: i32,
    #[schema(minimum = 0, example = 125_000_000)]
    pub budget_pence: i64,
}

/// The budget of financial year `year` (by the year it starts in): its own in `budgets`,
/// or else the annual budget; none with neither (never another year's).
pub fn budget_for(budgets: &[Budget], annual_budget_pence: Option<i64>, year: i32) -> Option<i64> {
    budgets
        .iter()
        .find(|b| b.financial_year == year)
        .map(|b| b.budget_pence)
        .or(annual_budget_pence)
}

/// Everything a commissioner writes about a contract (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractInput {
    /// The council's contract reference, unique across contracts.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9_./-]{1,64}$",
        example = "NCC-DO-2023-017"
    )]
    pub reference: String,
    pub provider_id: String,
    pub service_type: ServiceType,
    pub start_date: NaiveDate,
    #[serde(default)]
    pub end_date: Option<NaiveDate>,
    /// Need bands from lowest to highest, as assessed by social workers.
    #[schema(example = json!(["low", "medium", "high", "complex"]), value_type = Vec<BandName>)]
    pub need_bands: Vec<String>,
    /// Length of each session type the contract offers, in hours.
    #[schema(example = json!({"am": 3.0, "pm": 3.0, "full_day": 6.0}))]
    pub session_hours: BTreeMap<SessionType, Hours>,
    #[schema(minimum = 1, maximum = 2_147_483_647, example = 20)]
    pub capacity_per_session: u32,
    /// Whether sessions outside the plan may be delivered (with a comment).
    pub allows_extras: bool,
    /// Percentage by which weekly authorisations may be exceeded with a warning only.
    #[schema(minimum = 0, maximum = 100, example = 10)]
    pub over_delivery_tolerance_pct: u32,
    /// Days after the period end by which a register is due.
    #[schema(minimum = 0, maximum = 365, example = 7)]
    pub register_deadline_days: u32,
    /// Days after the period end within which submissions may be amended.
    #[schema(minimum = 0, maximum = 3650, example = 56)]
    pub correction_window_days: u32,
    pub payment_period: PaymentPeriod,
    /// The Monday four-weekly payment periods are counted from.
    #[serde(default)]
    pub payment_anchor_date: Option<NaiveDate>,
    pub absence_policy: AbsencePolicy,
    /// Days with no service: attendance on them is not payable.
    #[serde(default)]
    pub closure_dates: Vec<NaiveDate>,
    /// The built-in UK bank-holiday calendar the contract is priced by.
    #[serde(default)]
    pub bank_holiday_region: BankHolidayRegion,
    /// Local days priced in the `bank_holiday` day category, on top of the region's
    /// calendar.
    #[serde(default)]
    pub bank_holidays: Vec<NaiveDate>,
    #[serde(default)]
    pub kpi_targets: Vec<KpiTarget>,
    /// The budget of each financial year, at most one a year.
    #[serde(default)]
    pub budgets: Vec<Budget>,
    /// The budget of any financial year without its own in `budgets`; with neither, the
    /// year has no budget.
    #[serde(default)]
    #[schema(minimum = 0, example = 125_000_000)]
    pub annual_budget_pence: Option<i64>,
    #[serde(default = "default_contract_status")]
    pub status: ContractStatus,
}

fn default_contract_status() -> ContractStatus {
    ContractStatus::Active
}

/// A need band's name, in the document: what [`is_band_name`] takes.
pub struct BandName;

impl utoipa::PartialSchema for BandName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(crate::patterns::BAND))
            .description(Some(
                "A need band: lower-case letters, digits and underscores",
            ))
            .into()
    }
}

impl utoipa::ToSchema for BandName {}

/// A band name: lower-case letters, digits and underscores, not the wildcard.
pub fn is_band_name(band: &str) -> bool {
    !band.is_empty()
        && band.len() <= 32
        && band
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl ContractInput {
    pub fn validate(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        let reference_ok = !self.reference.is_empty()
            && self.reference.len() <= 64
            && self
                .reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
        errors.check(
            !reference_ok,
            "/reference",
            "must be 1 to 64 letters, digits, '-', '_', '/' or '.'",
        );
        if let Some(end) = self.end_date {
            errors.check(
                end < self.start_date,
                "/end_date",
                "must not be before start_date",
            );
        }
        errors.check(
            self.need_bands.is_empty(),
            "/need_bands",
            "must name at least one band",
        );
        let mut seen = BTreeSet::new();
        for (i, band) in self.need_bands.iter().enumerate() {
            errors.check(
                !is_band_name(band),
                format!("/need_bands/{i}"),
                "must be lower-case letters, digits or '_' (at most 32)",
            );
            errors.check(
                !seen.insert(band),
                format!("/need_bands/{i}"),
                "is listed twice",
            );
        }
        errors.check(
            self.session_hours.is_empty(),
            "/session_hours",
            "must give the hours of at least one session type",
        );
        for (session_type, hours) in &self.session_hours {
            errors.check(
                hours.quarters() == 0 || hours.quarters() > 96,
                format!("/session_hours/{session_type}"),
                "must be more than 0 and at most 24 hours",
            );
        }
        errors.check(
            self.capacity_per_session == 0 || self.capacity_per_session > 10_000,
            "/capacity_per_session",
            "must be from 1 to 10000",
        );
        errors.check(
            self.over_delivery_tolerance_pct > 100,
            "/over_delivery_tolerance_pct",
            "must be at most 100",
        );
        errors.check(
            self.register_deadline_days > 365,
            "/register_deadline_days",
            "must be at most 365",
        );
        errors.check(
            self.correction_window_days > 3650,
            "/correction_window_days",
            "must be at most 3650",
        );
        match (self.payment_period, self.payment_anchor_date) {
            (PaymentPeriod::FourWeekly, None) => errors.push(
                "/payment_anchor_date",
                "is required when payment_period is four_weekly",
            ),
            (PaymentPeriod::FourWeekly, Some(anchor)) => errors.check(
                !is_monday(anchor),
                "/payment_anchor_date",
                "must be a Monday",
            ),
            (_, Some(anchor)) => errors.check(
                !is_monday(anchor),
                "/payment_anchor_date",
                "must be a Monday",
            ),
            (_, None) => {}
        }
        let mut reasons = BTreeSet::new();
        for (i, reason) in self.absence_policy.chargeable_reasons.iter().enumerate() {
            errors.check(
                !reasons.insert(*reason),
                format!("/absence_policy/chargeable_reasons/{i}"),
                "is listed twice",
            );
        }
        let mut codes = BTreeSet::new();
        for (i, kpi) in self.kpi_targets.iter().enumerate() {
            let pointer = format!("/kpi_targets/{i}/code");
            if !is_known_kpi(&kpi.code) {
                let known: Vec<&str> = kpi_catalogue().iter().map(|k| k.code).collect();
                errors.push(
                    pointer,
                    format!(
                        "is not a KPI a workbook computes; the known codes (GET /v1/kpis) are {}",
                        known.join(", ")
                    ),
                );
            } else {
                errors.check(
                    !codes.insert(kpi.code.as_str()),
                    pointer,
                    "has a target already",
                );
            }
            errors.check(
                !kpi.target.is_finite(),
                format!("/kpi_targets/{i}/target"),
                "must be a number",
            );
            errors.check(
                !kpi.amber_below.is_finite() || kpi.amber_below > kpi.target,
                format!("/kpi_targets/{i}/amber_below"),
                "must not be above the target",
            );
        }
        errors.check(
            self.annual_budget_pence.is_some_and(|b| b < 0),
            "/annual_budget_pence",
            "must not be negative",
        );
        let mut years = BTreeSet::new();
        for (i, budget) in self.budgets.iter().enumerate() {
            errors.check(
                !(2000..=2100).contains(&budget.financial_year)
                    || !years.insert(budget.financial_year),
                format!("/budgets/{i}/financial_year"),
                "must be a year from 2000 to 2100, listed once",
            );
            errors.check(
                budget.budget_pence < 0,
                format!("/budgets/{i}/budget_pence"),
                "must not be negative",
            );
        }
        errors
    }

    pub fn has_band(&self, band: &str) -> bool {
        self.need_bands.iter().any(|b| b == band)
    }

    pub fn offers_session_type(&self, session_type: SessionType) -> bool {
        self.session_hours.contains_key(&session_type)
    }

    /// Whether `date` is a bank holiday of the contract: in its region's calendar, or one
    /// of its own local days.
    pub fn is_bank_holiday(&self, date: NaiveDate) -> bool {
        self.bank_holiday_region.calendar().contains(date) || self.bank_holidays.contains(&date)
    }

    /// The day category `date` is priced in under this contract.
    pub fn day_category(&self, date: NaiveDate) -> DayCategory {
        day_category(date, self.is_bank_holiday(date))
    }
}

/// A contract as stored.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Contract {
    pub id: String,
    #[serde(flatten)]
    pub terms: ContractInput,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> ContractInput {
        serde_json::from_value(serde_json::json!({
            "reference": "NCC-DO-2023-017",
            "provider_id": "p1",
            "service_type": "building_based",
            "start_date": "2023-04-01",
            "need_bands": ["low", "medium", "high", "complex"],
            "session_hours": {"am": 3, "pm": 3, "full_day": 6},
            "capacity_per_session": 20,
            "allows_extras": true,
            "over_delivery_tolerance_pct": 10,
            "register_deadline_days": 7,
            "correction_window_days": 56,
            "payment_period": "four_weekly",
            "payment_anchor_date": "2025-03-31",
            "absence_policy": {"chargeable_reasons": ["illness", "unknown"], "min_notice_hours": 24},
            "bank_holidays": ["2025-12-25"],
            "kpi_targets": [{"code": "community_access_pct", "target": 80, "amber_below": 60}],
            "annual_budget_pence": 125_000_000
        }))
        .unwrap()
    }

    fn pointers(c: &ContractInput) -> Vec<String> {
        c.validate()
            .into_vec()
            .into_iter()
            .map(|e| e.pointer)
            .collect()
    }

    #[test]
    fn sample_is_valid() {
        assert_eq!(pointers(&sample()), Vec::<String>::new());
    }

    #[test]
    fn each_rule_points_at_its_field() {
        type Mutation = fn(&mut ContractInput);
        let cases: &[(Mutation, &str)] = &[
            (|c| c.reference = "bad ref".into(), "/reference"),
            (
                |c| c.end_date = Some("2023-03-31".parse().unwrap()),
                "/end_date",
            ),
            (|c| c.need_bands.clear(), "/need_bands"),
            (|c| c.need_bands.push("low".into()), "/need_bands/4"),
            (|c| c.need_bands[1] = "*".into(), "/need_bands/1"),
            (|c| c.session_hours.clear(), "/session_hours"),
            (
                |c| {
                    c.session_hours.insert(SessionType::Evening, Hours::ZERO);
                },
                "/session_hours/evening",
            ),
            (|c| c.capacity_per_session = 0, "/capacity_per_session"),
            (
                |c| c.over_delivery_tolerance_pct = 101,
                "/over_delivery_tolerance_pct",
            ),
            (
                |c| c.register_deadline_days = 400,
                "/register_deadline_days",
            ),
            (
                |c| c.correction_window_days = 4000,
                "/correction_window_days",
            ),
            (|c| c.payment_anchor_date = None, "/payment_anchor_date"),
            (
                |c| c.payment_anchor_date = Some("2025-04-01".parse().unwrap()),
                "/payment_anchor_date",
            ),
            (
                |c| {
                    c.absence_policy
                        .chargeable_reasons
                        .push(AbsenceReason::Illness)
                },
                "/absence_policy/chargeable_reasons/2",
            ),
            (
                |c| c.kpi_targets[0].amber_below = 90.0,
                "/kpi_targets/0/amber_below",
            ),
            (
                |c| c.kpi_targets[0].code = "bowling_scores".into(),
                "/kpi_targets/0/code",
            ),
            (
                |c| c.kpi_targets.push(c.kpi_targets[0].clone()),
                "/kpi_targets/1/code",
            ),
            // A measure is its own KPI, whatever the length of its name.
            (
                |c| {
                    c.kpi_targets[0].code = "people_in_employment_volunteering_education".into();
                    c.annual_budget_pence = Some(-1);
                },
                "/annual_budget_pence",
            ),
            (|c| c.annual_budget_pence = Some(-1), "/annual_budget_pence"),
            (
                |c| {
                    c.budgets = vec![
                        Budget {
                            financial_year: 2025,
                            budget_pence: 1,
                        },
                        Budget {
                            financial_year: 2025,
                            budget_pence: 2,
                        },
                    ]
                },
                "/budgets/1/financial_year",
            ),
            (
                |c| {
                    c.budgets = vec![Budget {
                        financial_year: 2026,
                        budget_pence: -5,
                    }]
                },
                "/budgets/0/budget_pence",
            ),
        ];
        for (mutate, pointer) in cases {
            let mut c = sample();
            mutate(&mut c);
            assert_eq!(pointers(&c), [pointer.to_string()], "{pointer}");
        }
    }

    #[test]
    fn budgets_are_per_financial_year() {
        let mut c = sample();
        c.annual_budget_pence = None;
        c.budgets = vec![Budget {
            financial_year: 2026,
            budget_pence: 700,
        }];
        assert_eq!(
            (
                budget_for(&c.budgets, c.annual_budget_pence, 2025),
                budget_for(&c.budgets, c.annual_budget_pence, 2026),
                budget_for(&c.budgets, c.annual_budget_pence, 2027)
            ),
            (None, Some(700), None)
        );
        c.annual_budget_pence = Some(500);
        assert_eq!(
            (
                budget_for(&c.budgets, c.annual_budget_pence, 2025),
                budget_for(&c.budgets, c.annual_budget_pence, 2026)
            ),
            (Some(500), Some(700))
        );
    }

    #[test]
    fn bank_holidays_come_from_the_region_and_the_contract() {
        let mut c = sample();
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(c.bank_holiday_region, BankHolidayRegion::EnglandAndWales);
        assert_eq!(c.day_category(d("2026-04-06")), DayCategory::BankHoliday);
        assert_eq!(c.day_category(d("2027-01-01")), DayCategory::BankHoliday);
        assert_eq!(c.day_category(d("2026-08-03")), DayCategory::Weekday);
        c.bank_holiday_region = BankHolidayRegion::Scotland;
        assert_eq!(c.day_category(d("2026-04-06")), DayCategory::Weekday);
        assert_eq!(c.day_category(d("2026-08-03")), DayCategory::BankHoliday);
        c.bank_holidays.push(d("2026-07-13"));
        assert_eq!(c.day_category(d("2026-07-13")), DayCategory::BankHoliday);
    }

    #[test]
    fn unknown_fields_and_values_are_refused() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["surprise"] = serde_json::json!(1);
        assert!(serde_json::from_value::<ContractInput>(v).is_err());
        let mut v = serde_json::to_value(sample()).unwrap();
        v["service_type"] = serde_json::json!("bowling");
        assert!(serde_json::from_value::<ContractInput>(v).is_err());
    }
}
