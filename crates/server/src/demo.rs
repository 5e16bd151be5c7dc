//! A demo council that looks real: four providers of different service types, contracts
//! priced over four need bands at the rates other councils publish, an annual uplift on
//! 1 April 2026, and 74 service agreements with planned sessions, band changes,
//! suspensions and cohorts: 60 placed in 2025/26 and 14 joining in 2026/27 at high or
//! complex need, against a 2026/27 budget they overspend. Loading is idempotent: a second
//! run changes nothing.

use std::fmt;

use chrono::{Days, NaiveDate};
use serde_json::json;

use dayops_domain::agreement::AgreementInput;
use dayops_domain::audit::Actor;
use dayops_domain::contract::ContractInput;
use dayops_domain::matrix::{RateCell, RateMatrixInput};
use dayops_domain::provider::ProviderInput;
use dayops_domain::types::{DayCategory, Item, ProviderStatus, Role, SessionType};
use dayops_persistence::{agreements, contracts, matrices, providers, DbConnection, StoreError};

/// What the loader did, printed by `dayops demo`.
pub struct DemoSummary {
    pub already_loaded: bool,
    pub providers: Vec<(String, String)>,
    pub contracts: Vec<(String, String)>,
    pub agreements: usize,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The ids are printed on every start: they are what a newcomer's first requests name.
        if self.already_loaded {
            writeln!(f, "demo council already loaded")?;
        } else {
            writeln!(f, "demo council loaded: {} agreements", self.agreements)?;
        }
        for (id, name) in &self.providers {
            writeln!(f, "provider {id}  {name}")?;
        }
        for (id, reference) in &self.contracts {
            writeln!(f, "contract {id}  {reference}")?;
        }
        Ok(())
    }
}

struct DemoService {
    provider: &'static str,
    cqc: Option<&'static str>,
    reference: &'static str,
    service_type: &'static str,
    start: &'static str,
    session_hours: serde_json::Value,
    payment_period: &'static str,
    /// Session prices per band (low, medium, high, complex) for each session type, in
    /// pence, for 2025/26.
    sessions: Vec<(SessionType, [i64; 4])>,
    people: usize,
    /// Budgets for 2025/26 and 2026/27, in pence: the first about what the year cost, the
    /// second below what 2026/27 will cost (the council's overspend).
    budgets: [i64; 2],
}

const BANDS: [&str; 4] = ["low", "medium", "high", "complex"];
const FIRST_REFERENCE: &str = "NCC-DO-2023-001";

fn services() -> Vec<DemoService> {
    use SessionType::*;
    vec![
        DemoService {
            provider: "Riverside Day Centre Ltd",
            cqc: Some("1-4021187713"),
            reference: FIRST_REFERENCE,
            service_type: "building_based",
            start: "2023-04-01",
            session_hours: json!({"am": 3, "pm": 3, "full_day": 6}),
            payment_period: "four_weekly",
            // About £20 an hour building based, rising with need.
            sessions: vec![
                (Am, [2900, 3800, 5000, 6500]),
                (Pm, [2900, 3800, 5000, 6500]),
                (FullDay, [5400, 7200, 9600, 12600]),
            ],
            people: 20,
            budgets: [12_100_000, 15_900_000],
        },
        DemoService {
            provider: "Northfield Community Connections CIC",
            cqc: None,
            reference: "NCC-DO-2023-002",
            service_type: "community",
            start: "2023-04-01",
            session_hours: json!({"am": 3, "pm": 3, "evening": 3}),
            payment_period: "weekly",
            // £16 an hour in 3-hour sessions (£48) at medium need.
            sessions: vec![
                (Am, [4200, 4800, 5800, 7200]),
                (Pm, [4200, 4800, 5800, 7200]),
                (Evening, [4500, 5100, 6100, 7500]),
            ],
            people: 18,
            budgets: [9_650_000, 11_750_000],
        },
        DemoService {
            provider: "Hollybank Dementia Day Service",
            cqc: Some("1-5530981102"),
            reference: "NCC-DO-2024-003",
            service_type: "specialist",
            start: "2024-04-01",
            session_hours: json!({"full_day": 6}),
            payment_period: "monthly",
            // Tier 1 specialist: £35 to £70 a day.
            sessions: vec![(FullDay, [3500, 4600, 5800, 7000])],
            people: 12,
            budgets: [7_500_000, 9_400_000],
        },
        DemoService {
            provider: "Pathways Supported Employment Trust",
            cqc: None,
            reference: "NCC-DO-2024-004",
            service_type: "supported_employment",
            start: "2024-04-01",
            session_hours: json!({"am": 3.5, "pm": 3.5}),
            payment_period: "four_weekly",
            sessions: vec![
                (Am, [3000, 3600, 4500, 5600]),
                (Pm, [3000, 3600, 4500, 5600]),
            ],
            people: 10,
            budgets: [3_800_000, 4_700_000],
        },
    ]
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("demo date {text}: {e}")))
}

fn contract_terms(service: &DemoService, provider_id: &str) -> Result<ContractInput, StoreError> {
    serde_json::from_value(json!({
        "reference": service.reference,
        "provider_id": provider_id,
        "service_type": service.service_type,
        "start_date": service.start,
        "need_bands": BANDS,
        "session_hours": service.session_hours,
        "capacity_per_session": 24,
        "allows_extras": service.service_type != "specialist",
        "over_delivery_tolerance_pct": 10,
        "register_deadline_days": 7,
        "correction_window_days": 56,
        "payment_period": service.payment_period,
        "payment_anchor_date": "2025-03-31",
        "absence_policy": {"chargeable_reasons": ["illness", "unknown"], "min_notice_hours": 24},
        "closure_dates": ["2025-12-29", "2025-12-30", "2025-12-31"],
        // Priced by the built-in calendar of England and Wales; no local days.
        "bank_holiday_region": "england_and_wales",
        "kpi_targets": [
            {"code": "community_access_pct", "target": 80, "amber_below": 60},
            {"code": "care_plans_up_to_date_pct", "target": 95, "amber_below": 85},
            {"code": "outcomes_progressing_pct", "target": 70, "amber_below": 50},
        ],
        "budgets": [
            {"financial_year": 2025, "budget_pence": service.budgets[0]},
            {"financial_year": 2026, "budget_pence": service.budgets[1]},
        ],
    }))
    .map_err(|e| StoreError::Corrupt(format!("demo contract: {e}")))
}

/// Applies an uplift in per mille, rounding half up to whole pence.
fn uplift(pence: i64, per_mille: i64) -> i64 {
    (pence * (1000 + per_mille) + 500) / 1000
}

fn matrix(
    service: &DemoService,
    from: &str,
    to: Option<&str>,
    per_mille: i64,
) -> Result<RateMatrixInput, StoreError> {
    let mut cells = Vec::new();
    for (session_type, prices) in &service.sessions {
        for (band, price) in BANDS.iter().zip(prices) {
            cells.push(RateCell {
                item: Item::Session,
                need_band: (*band).to_string(),
                session_type: Some(*session_type),
                day_category: DayCategory::Any,
                rate_pence: uplift(*price, per_mille),
            });
        }
        // Bank holidays and weekends cost more to staff: every band at a premium.
        cells.push(RateCell {
            item: Item::Session,
            need_band: "*".into(),
            session_type: Some(*session_type),
            day_category: DayCategory::BankHoliday,
            rate_pence: uplift(prices[3] * 3 / 2, per_mille),
        });
        cells.push(RateCell {
            item: Item::Session,
            need_band: "complex".into(),
            session_type: Some(*session_type),
            day_category: DayCategory::Weekend,
            rate_pence: uplift(prices[3] * 5 / 4, per_mille),
        });
    }
    for (item, pence) in [
        (Item::OneToOneHour, 1800),
        (Item::TransportJourney, 850),
        (Item::Meal, 450),
    ] {
        cells.push(RateCell {
            item,
            need_band: "*".into(),
            session_type: None,
            day_category: DayCategory::Any,
            rate_pence: uplift(pence, per_mille),
        });
    }
    Ok(RateMatrixInput {
        effective_from: date(from)?,
        effective_to: to.map(date).transpose()?,
        cells,
    })
}

/// A small deterministic sequence, so every load makes the same council.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn agreements_for(
    service: &DemoService,
    first_person: usize,
    seq: &mut Sequence,
) -> Result<Vec<AgreementInput>, StoreError> {
    let base = date("2025-04-01")?;
    let mut batch = (0..service.people)
        .map(|i| {
            person(
                service,
                first_person + i,
                base + Days::new(seq.next(120)),
                None,
                seq,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    // 2026/27 brings more people than 2025/26 (one for every four), placed from May at
    // high or complex need: what drives the council's overspend.
    let joining = date("2026-05-04")?;
    for i in 0..service.people / 4 {
        let band = 2 + usize::try_from(seq.next(2)).unwrap_or(0);
        let start = joining + Days::new(7 * seq.next(20));
        batch.push(person(
            service,
            JOINERS + first_person + i,
            start,
            Some(band),
            seq,
        )?);
    }
    Ok(batch)
}

/// Joiners of 2026/27 are numbered from here, apart from the first year's people.
const JOINERS: usize = 5_000;

/// One demo person placed on `start`: assessed at `band` (a random one when not given).
fn person(
    service: &DemoService,
    person: usize,
    start: NaiveDate,
    band: Option<usize>,
    seq: &mut Sequence,
) -> Result<AgreementInput, StoreError> {
    const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    let session_types: Vec<&str> = service.sessions.iter().map(|(s, _)| s.as_str()).collect();
    let band = band.unwrap_or_else(|| usize::try_from(seq.next(4)).unwrap_or(0));
    let mut need_bands = vec![json!({"from": start, "band": BANDS[band]})];
    // Every fifth person was reassessed at a higher band during their first months, and
    // every sixth of the first year's again in the summer of 2026.
    if person.is_multiple_of(5) && band < 3 {
        need_bands
            .push(json!({"from": start + Days::new(90 + seq.next(60)), "band": BANDS[band + 1]}));
    } else if person < JOINERS && person % 6 == 5 && band < 3 {
        need_bands.push(json!({"from": date("2026-06-01")? + Days::new(7 * seq.next(12)), "band": BANDS[band + 1]}));
    }
    let days = 1 + seq.next(3);
    let first_day = seq.next(5);
    // Offsets 0, 2 and 4 (mod 5) never repeat a weekday.
    let planned: Vec<_> = (0..days)
        .map(|d| {
            let weekday = WEEKDAYS[usize::try_from((first_day + d * 2) % 5).unwrap_or(0)];
            let session_type =
                session_types[usize::try_from(seq.next(session_types.len() as u64)).unwrap_or(0)];
            json!({"weekday": weekday, "session_type": session_type})
        })
        .collect();
    let suspensions = if person % 7 == 3 {
        let from = start + Days::new(30 + seq.next(60));
        vec![
            json!({"from": from, "to": from + Days::new(6 + seq.next(14)), "reason": "hospital admission"}),
        ]
    } else {
        Vec::new()
    };
    let enabling = service.service_type == "enablement" || person.is_multiple_of(3);
    // Enablement ends after its twelve weeks, but for one placement in four that runs on
    // (AGR-007); a few other placements end after twelve weeks too.
    let ended = (enabling && !person.is_multiple_of(4)) || person % 11 == 4;
    let end_date = ended.then(|| start + Days::new(84));
    serde_json::from_value(json!({
        "person_ref": format!("P{:06}", 100_000 + person * 37),
        "need_bands": need_bands,
        "planned_sessions": planned,
        "one_to_one_hours_per_week": if band >= 2 { 2.5 } else { 0.0 },
        "transport_journeys_per_week": days * 2,
        "meals": days,
        "start_date": start,
        "end_date": end_date,
        "suspensions": suspensions,
        "pathway": if enabling { "enabling" } else { "therapeutic" },
        // Two in three reviews fell due a year in (many now overdue, as the council
        // found); the rest were reviewed and are next due in two years.
        "care_plan_review_due": start + Days::new(if person % 3 == 1 { 730 } else { 365 }),
        "primary_support_reason": support_reason(service, person),
        // One in six takes a direct payment, one in nine an individual service fund.
        "funding": if person % 6 == 1 { "direct_payment" } else if person % 9 == 2 { "individual_service_fund" } else { "commissioned" },
    }))
    .map_err(|e| StoreError::Corrupt(format!("demo agreement: {e}")))
}

/// Why a demo person is supported: a dementia service's people for dementia, the others
/// spread over the reasons day services see most.
fn support_reason(service: &DemoService, person: usize) -> &'static str {
    const REASONS: [&str; 6] = [
        "learning_disability",
        "learning_disability",
        "autism",
        "physical",
        "mental_health",
        "sensory",
    ];
    if service.provider.contains("Dementia") {
        "dementia"
    } else {
        REASONS[person % REASONS.len()]
    }
}

/// Loads the demo council unless it is already there.
pub fn load(conn: &mut DbConnection) -> Result<DemoSummary, StoreError> {
    if contracts::find_by_reference(conn, FIRST_REFERENCE)?.is_some() {
        let mut summary = DemoSummary {
            already_loaded: true,
            providers: vec![],
            contracts: vec![],
            agreements: 0,
        };
        for service in services() {
            let Some(contract) = contracts::find_by_reference(conn, service.reference)? else {
                continue;
            };
            if let Some(provider) = providers::get(conn, &contract.terms.provider_id)? {
                summary.providers.push((provider.id, provider.details.name));
            }
            summary
                .contracts
                .push((contract.id, contract.terms.reference));
        }
        return Ok(summary);
    }
    let actor = Actor {
        sub: "dayops-demo".into(),
        role: Role::Commissioner,
    };
    let mut summary = DemoSummary {
        already_loaded: false,
        providers: vec![],
        contracts: vec![],
        agreements: 0,
    };
    let mut seq = Sequence(20_260_401);
    let mut first_person = 1;
    for service in services() {
        let provider = providers::create(
            conn,
            &actor,
            ProviderInput {
                name: service.provider.into(),
                cqc_location_id: service.cqc.map(str::to_string),
                status: ProviderStatus::Active,
            },
        )?
        .value;
        let contract =
            contracts::create(conn, &actor, contract_terms(&service, &provider.id)?)?.value;
        matrices::create(
            conn,
            &actor,
            &contract.id,
            matrix(&service, "2025-04-01", Some("2026-03-31"), 0)?,
        )?;
        // The annual uplift: 3.5% from 1 April 2026.
        matrices::create(
            conn,
            &actor,
            &contract.id,
            matrix(&service, "2026-04-01", None, 35)?,
        )?;
        let batch = agreements_for(&service, first_person, &mut seq)?;
        first_person += service.people;
        summary.agreements += agreements::upsert_batch(conn, &actor, &contract.id, batch)?.created;
        summary.providers.push((provider.id, provider.details.name));
        summary
            .contracts
            .push((contract.id, contract.terms.reference));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uplift_rounds_to_whole_pence() {
        assert_eq!(uplift(4800, 35), 4968);
        assert_eq!(uplift(2900, 35), 3002); // 3001.5 rounds up
        assert_eq!(uplift(450, 0), 450);
    }

    #[test]
    fn demo_data_is_valid_for_its_contracts() {
        let mut seq = Sequence(1);
        for service in services() {
            let terms = contract_terms(&service, "p").unwrap();
            assert!(terms.validate().is_empty(), "{}", service.reference);
            let m = matrix(&service, "2025-04-01", Some("2026-03-31"), 0).unwrap();
            assert!(m.validate(&terms).is_empty(), "{}", service.reference);
            let batch = agreements_for(&service, 1, &mut seq).unwrap();
            let errors = dayops_domain::agreement::validate_batch(&batch, &terms);
            assert!(errors.is_empty(), "{}: {errors:?}", service.reference);
        }
    }
}
