//! Budget monitoring (SPEC §6): per financial year, per contract, per service type and for
//! the council, the budget, actuals by month of service, commitments to the year's end,
//! the forecast of the two beside the run-rate, and the variance split into volume, mix
//! and price (the method is `dayops_domain::budget`'s). Cohorts by primary support reason
//! and funding beside them.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::budget::{
    funded_band_on, funded_days_by_band, period_index, split_variance, BudgetScope, MixInputs,
    PlanPrices, Pricer, UnitCost, UnitCostScope,
};
use dayops_domain::contract::budget_for;
use dayops_domain::report::{FinancialYear, SpendTotals};
use dayops_domain::submission::SubmissionStatus;
use dayops_domain::types::{Funding, Item, ServiceType, SessionType, SupportReason};

use crate::contracts::{ContractSet, IdShare};
use crate::day::Day;
use crate::error::{vocab, StoreError};
use crate::reports::{counted_lines_sql, each_counted_line, CountedClaim};
use crate::vocabulary::{StoredItem, StoredSessionType};
use crate::{agreements, contracts, matrices, Backend, DbConnection};

/// One period (month of service) of a row, 1 for April to 12 for March.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PeriodFigures {
    #[schema(minimum = 1, maximum = 12)]
    pub period: u8,
    /// The calendar month, `YYYY-MM`.
    #[schema(example = "2026-04")]
    pub month: String,
    /// Approved (including paid) and pending claims, by service date.
    pub actual_pence: i64,
    pub committed_pence: i64,
}

/// One row of the budget monitoring report, in pence.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BudgetRow {
    pub scope: BudgetScope,
    /// The contract's reference, the service type, `council`, the support reason
    /// (`not_recorded` where the agreement has none) or the funding.
    pub key: String,
    /// The contract and its provider, on a contract's row only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The year's budget: the contract's own, or the sum of its contracts' for a group;
    /// none for a cohort or without any.
    pub budget_pence: Option<i64>,
    /// Claims approved (including paid) and pending, for service in the year.
    pub actual_pence: i64,
    /// The last day the actuals cover (a contract's latest claimed day in the year).
    pub actual_to: Option<NaiveDate>,
    /// The current agreements' plans priced from the day after the actuals to year end.
    pub committed_pence: i64,
    /// Actuals plus commitments.
    pub forecast_pence: i64,
    /// Actuals scaled from the days claimed to the whole year (the spend report's
    /// forecast); none for a cohort.
    pub run_rate_forecast_pence: Option<i64>,
    /// Forecast minus budget (positive is an overspend); none without a budget. For a
    /// group, the sum of its budgeted contracts' variances.
    pub variance_pence: Option<i64>,
    /// The variance's three parts, which sum to it exactly.
    pub volume_variance_pence: Option<i64>,
    pub mix_variance_pence: Option<i64>,
    pub price_variance_pence: Option<i64>,
    /// Person-days funded in the year (in force, not suspended) over the year's days.
    pub funded_person_years: f64,
    /// People funded on the day before the year (the budget's baseline caseload).
    pub people_at_baseline: i64,
    pub periods: Vec<PeriodFigures>,
}

/// A row under construction: sums kept exact, made a [`BudgetRow`] at the end.
#[derive(Debug, Clone, Default)]
struct Tally {
    budget: Option<i64>,
    actual: [i64; 12],
    actual_to: Option<NaiveDate>,
    committed: [i64; 12],
    run_rate: Option<i64>,
    variance: Option<[i64; 4]>,
    funded_days: i64,
    people_at_baseline: i64,
}

impl Tally {
    /// Adds a contract's (or a cohort's) figures to a group's.
    fn absorb(&mut self, other: &Tally) {
        if let Some(b) = other.budget {
            self.budget = Some(self.budget.unwrap_or(0) + b);
        }
        for i in 0..12 {
            self.actual[i] += other.actual[i];
            self.committed[i] += other.committed[i];
        }
        self.actual_to = self.actual_to.max(other.actual_to);
        if let Some(r) = other.run_rate {
            self.run_rate = Some(self.run_rate.unwrap_or(0) + r);
        }
        if let Some(v) = other.variance {
            let mine = self.variance.get_or_insert([0; 4]);
            for i in 0..4 {
                mine[i] += v[i];
            }
        }
        self.funded_days += other.funded_days;
        self.people_at_baseline += other.people_at_baseline;
    }

    fn row(
        &self,
        year: &ReportYear,
        scope: BudgetScope,
        key: String,
        ids: Option<(&str, &str)>,
    ) -> BudgetRow {
        let actual: i64 = self.actual.iter().sum();
        let committed: i64 = self.committed.iter().sum();
        let part = |i: usize| self.variance.map(|v| v[i]);
        BudgetRow {
            scope,
            key,
            contract_id: ids.map(|(c, _)| c.to_string()),
            provider_id: ids.map(|(_, p)| p.to_string()),
            budget_pence: self.budget,
            actual_pence: actual,
            actual_to: self.actual_to,
            committed_pence: committed,
            forecast_pence: actual + committed,
            run_rate_forecast_pence: self.run_rate,
            variance_pence: part(0),
            volume_variance_pence: part(1),
            mix_variance_pence: part(2),
            price_variance_pence: part(3),
            funded_person_years: (self.funded_days as f64 * 100.0 / year.days as f64).round()
                / 100.0,
            people_at_baseline: self.people_at_baseline,
            periods: year
                .months
                .iter()
                .enumerate()
                .map(|(i, month)| PeriodFigures {
                    period: i as u8 + 1,
                    month: month.clone(),
                    actual_pence: self.actual[i],
                    committed_pence: self.committed[i],
                })
                .collect(),
        }
    }
}

/// What every row of a year's report shows alike: the year's days and its months
/// (`YYYY-MM`), written once rather than twelve times a row.
struct ReportYear {
    days: i64,
    months: [String; 12],
}

impl ReportYear {
    fn of(year: FinancialYear) -> Self {
        ReportYear {
            days: year.days(),
            months: year
                .month_starts()
                .map(|start| start.format("%Y-%m").to_string()),
        }
    }
}

/// One contract's figures by cohort (support reason, funding): a handful, so a list.
#[derive(Default)]
struct CohortTallies(Vec<((&'static str, &'static str), Tally)>);

impl CohortTallies {
    fn of(&mut self, reason: &'static str, funding: &'static str) -> &mut Tally {
        let at = match self.0.iter().position(|(c, _)| *c == (reason, funding)) {
            Some(at) => at,
            None => {
                self.0.push(((reason, funding), Tally::default()));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }
}

/// The SQL of the year's counted claim lines ([`counted_lines_sql`]): the actuals by
/// month, by cohort, and the units to price again at the baseline, from one reading of
/// the year's lines. They are added up in Rust rather than grouped in SQL: a year's lines
/// are mostly one to a date, band and person, so grouping them would sort them all for
/// little reduction (a nation's year: 0.33 s to read, 1.2 s to group by date).
pub fn actual_lines_sql(backend: Backend) -> String {
    counted_lines_sql(
        backend,
        "l.person_ref, l.item, l.session_type, COALESCE(l.accepted_need_band, l.need_band), \
         l.date, l.accepted_quantity_quarters, l.accepted_amount_pence",
    )
}

/// The columns of [`actual_lines_sql`] after its claim's place.
type LineColumns = (Text, Text, Nullable<Text>, Text, Date, BigInt, BigInt);

/// A row of [`actual_lines_sql`] after its claim's place, decoded by position.
#[derive(Queryable)]
struct LineRow {
    person_ref: String,
    item: StoredItem,
    session_type: Option<StoredSessionType>,
    need_band: String,
    #[diesel(deserialize_as = Day)]
    date: NaiveDate,
    quarters: i64,
    amount_pence: i64,
}

/// A counted claim line with its claim's status and period end.
struct ActualLine {
    status: SubmissionStatus,
    period_end: NaiveDate,
    person_ref: String,
    item: Item,
    session_type: Option<SessionType>,
    need_band: String,
    date: NaiveDate,
    quarters: i64,
    amount_pence: i64,
}

/// The cohort keys of an agreement: its support reason (`not_recorded` without one) and
/// its funding. Lines of a person with no agreement on the contract count as
/// `not_recorded` and `commissioned`.
pub(crate) fn cohort_keys(
    reason: Option<&str>,
    funding: Option<&str>,
) -> Result<(&'static str, &'static str), StoreError> {
    let reason = match reason {
        Some(r) => vocab("agreements.primary_support_reason", r, SupportReason::parse)?.as_str(),
        None => "not_recorded",
    };
    let funding = match funding {
        Some(f) => vocab("agreements.funding", f, Funding::parse)?.as_str(),
        None => Funding::default().as_str(),
    };
    Ok((reason, funding))
}

/// A share of budget monitoring's contracts, read and priced on a connection of its own:
/// a run of the contracts in id order, by their place in the report.
#[derive(Debug, Clone)]
pub struct BudgetShard {
    positions: Vec<usize>,
    contracts: ContractSet,
    claims: IdShare,
}

impl BudgetShard {
    /// The contracts whose rate versions and agreements the shard reads.
    pub fn contracts(&self) -> &ContractSet {
        &self.contracts
    }

    /// The share of the contract ids whose claims the shard reads: from its first
    /// contract's (the first shard's from the first id there could be) up to the next
    /// shard's first (the last's without an end).
    pub fn claims(&self) -> &IdShare {
        &self.claims
    }
}

/// The contracts budget monitoring of `year` reports on (a provider's own when
/// `provider_id` is given), in reference order.
pub fn budget_contracts(
    conn: &mut DbConnection,
    year: FinancialYear,
    provider_id: Option<&str>,
) -> Result<Vec<dayops_domain::contract::Contract>, StoreError> {
    contracts::in_force_during(conn, year.start(), year.end(), provider_id)
}

/// Splits `contracts` into shards of consecutive ids, one for each of the machine's
/// `parallel` cores (two at least, four at most), so that each is read and priced on a
/// connection and a core of its own: a nation's 200,000 agreements are most of the
/// report's time, and read in one statement they kept one core busy while the other
/// waited. A shard costs a pooled connection and a blocking thread for a moment, so even
/// a handful of contracts is split. Named when the report is a provider's own.
pub fn budget_shards(
    contracts: &[dayops_domain::contract::Contract],
    named: bool,
    parallel: usize,
) -> Vec<BudgetShard> {
    let mut positions: Vec<usize> = (0..contracts.len()).collect();
    positions.sort_by(|a, b| contracts[*a].id.cmp(&contracts[*b].id));
    let shards = parallel.clamp(2, 4);
    let size = positions.len().div_ceil(shards).max(1);
    let runs: Vec<&[usize]> = positions.chunks(size).collect();
    let firsts: Vec<&str> = runs
        .iter()
        .map(|run| contracts[run[0]].id.as_str())
        .collect();
    let id = |i: &usize| contracts[*i].id.clone();
    runs.iter()
        .zip(contracts::shares_of_runs(&firsts))
        .map(|(run, claims)| BudgetShard {
            positions: run.to_vec(),
            contracts: if named {
                ContractSet::Named(run.iter().map(id).collect())
            } else {
                ContractSet::Between(id(&run[0]), id(&run[run.len() - 1]))
            },
            claims,
        })
        .collect()
}

/// One shard's contracts priced: each with its place in the report.
pub struct PricedShard(Vec<(usize, Tally, CohortTallies)>);

/// Reads one shard's rate versions, agreements in force in `year` and counted claim
/// lines in one snapshot, and prices each of its contracts.
pub fn price_budget_shard(
    conn: &mut DbConnection,
    year: FinancialYear,
    contracts: &[dayops_domain::contract::Contract],
    shard: &BudgetShard,
    provider_id: Option<&str>,
) -> Result<PricedShard, StoreError> {
    let (versions, placed, lines) = crate::db::read_snapshot(conn, |conn| {
        crate::db::no_parallel_workers(conn)?;
        let versions = matrices::lookup_versions(conn, &shard.contracts)?;
        let placed = agreements::in_force_during(conn, year.start(), year.end(), &shard.contracts)?;
        let lines = claimed_lines(conn, year, provider_id, &shard.claims)?;
        Ok::<_, StoreError>((versions, placed, lines))
    })?;
    let priced = shard
        .positions
        .iter()
        .map(|&at| {
            let contract = &contracts[at];
            let (tally, cohorts) = contract_tally(
                year,
                contract,
                versions.get(&contract.id).map_or(&[][..], Vec::as_slice),
                lines.get(&contract.id).map_or(&[][..], Vec::as_slice),
                placed.get(&contract.id).map_or(&[][..], Vec::as_slice),
            )?;
            Ok((at, tally, cohorts))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(PricedShard(priced))
}

/// The counted claim lines served in `year` (a provider's own when given) of the
/// contracts in `share`, by contract.
fn claimed_lines(
    conn: &mut DbConnection,
    year: FinancialYear,
    provider_id: Option<&str>,
    share: &IdShare,
) -> Result<HashMap<String, Vec<ActualLine>>, StoreError> {
    let mut by_contract: HashMap<String, Vec<ActualLine>> = HashMap::new();
    each_counted_line::<LineColumns, _>(
        conn,
        &actual_lines_sql(Backend::of(conn)),
        (year.start(), year.end()),
        provider_id,
        share,
        &mut |claim: &CountedClaim, row: LineRow| {
            let line = ActualLine {
                status: claim.status.0,
                period_end: claim.period_end,
                person_ref: row.person_ref,
                item: row.item.0,
                session_type: row.session_type.map(|s| s.0),
                need_band: row.need_band,
                date: row.date,
                quarters: row.quarters,
                amount_pence: row.amount_pence,
            };
            match by_contract.get_mut(&claim.contract_id) {
                Some(lines) => lines.push(line),
                None => {
                    by_contract.insert(claim.contract_id.clone(), vec![line]);
                }
            }
            Ok(())
        },
    )?;
    Ok(by_contract)
}

/// One contract's figures for the year, and the same by cohort.
fn contract_tally(
    year: FinancialYear,
    contract: &dayops_domain::contract::Contract,
    matrix: &[dayops_domain::matrix::MatrixVersion<String>],
    lines: &[ActualLine],
    placements: &[dayops_domain::agreement::Placement],
) -> Result<(Tally, CohortTallies), StoreError> {
    let terms = &contract.terms;
    let baseline_date = year.start() - Days::new(1);
    let pricer = Pricer::new(terms, matrix, baseline_date);
    let mut tally = Tally {
        budget: budget_for(&terms.budgets, terms.annual_budget_pence, year.0),
        ..Tally::default()
    };
    // The cohort of each person placed on the contract in the year, for the claim lines
    // (none to build without them); a line of anyone else counts as `not_recorded` and
    // `commissioned`.
    let cohorts: HashMap<&str, (&'static str, &'static str)> = placements
        .iter()
        .filter(|_| !lines.is_empty())
        .map(|a| {
            let reason = a
                .primary_support_reason
                .map_or("not_recorded", |r| r.as_str());
            (a.person_ref.as_str(), (reason, a.funding.as_str()))
        })
        .collect();
    let unplaced = ("not_recorded", Funding::default().as_str());
    // The actuals as the spend report counts them: approved and pending, by month of
    // service; commitments run from the day after.
    let mut spend = SpendTotals::default();
    for line in lines {
        spend.add(
            line.status,
            period_index(year, line.date),
            line.amount_pence,
            line.period_end,
        );
    }
    for (i, (approved, _, pending)) in spend.months.iter().enumerate() {
        tally.actual[i] = approved + pending;
    }
    tally.actual_to = spend.claimed_to(year);
    tally.run_rate = Some(spend.run_rate_forecast(year));
    let from = tally.actual_to.map_or(year.start(), |to| to + Days::new(1));
    let mut prices = PlanPrices::new(&pricer, year, from);
    let mut mix = MixInputs::default();
    // A contract's people fall in a few cohorts: summed here, added to the rows once.
    let mut by_cohort = CohortTallies::default();
    // The actuals by cohort, and priced again at the baseline.
    for line in lines {
        let (reason, funding) = cohorts
            .get(line.person_ref.as_str())
            .copied()
            .unwrap_or(unplaced);
        by_cohort.of(reason, funding).actual[period_index(year, line.date)] += line.amount_pence;
        let baseline = prices
            .rates(line.date, line.item, &line.need_band, line.session_type)
            .map_or(line.amount_pence, |r| {
                dayops_domain::claim::amount_of(line.quarters.max(0) as u64, r.baseline)
            });
        mix.add_baseline_priced(&line.need_band, baseline);
    }
    for agreement in placements {
        let reason = agreement
            .primary_support_reason
            .map_or("not_recorded", |r| r.as_str());
        let person = by_cohort.of(reason, agreement.funding.as_str());
        let c = prices.commitment(agreement, from);
        for (band, priced) in &c.by_band {
            mix.add_baseline_priced(band, priced.baseline);
        }
        for (i, pence) in c.by_period.iter().enumerate() {
            tally.committed[i] += pence;
            person.committed[i] += pence;
        }
        for (band, days) in funded_days_by_band(agreement, year.start(), year.end()) {
            tally.funded_days += days;
            person.funded_days += days;
            mix.add_funded_days(band, days);
        }
        if let Some(band) = funded_band_on(agreement, baseline_date) {
            tally.people_at_baseline += 1;
            person.people_at_baseline += 1;
            mix.add_baseline_person(band);
        }
    }
    if let Some(budget) = tally.budget {
        let forecast: i64 = tally.actual.iter().sum::<i64>() + tally.committed.iter().sum::<i64>();
        let split = split_variance(budget, forecast, &mix);
        tally.variance = Some([
            forecast - budget,
            split.volume_pence,
            split.mix_pence,
            split.price_pence,
        ]);
    }
    Ok((tally, by_cohort))
}

/// The budget monitoring report of `year` from its contracts (in reference order) and
/// their shards priced: contracts in reference order, then service types, the council,
/// and the cohorts. No database, all arithmetic.
pub fn budget_rows(
    year: FinancialYear,
    contracts: &[dayops_domain::contract::Contract],
    shards: Vec<PricedShard>,
) -> Result<Vec<BudgetRow>, StoreError> {
    let mut priced: Vec<(usize, Tally, CohortTallies)> =
        shards.into_iter().flat_map(|shard| shard.0).collect();
    priced.sort_by_key(|(at, _, _)| *at);
    if priced.len() != contracts.len() || priced.iter().enumerate().any(|(i, p)| p.0 != i) {
        return Err(StoreError::Internal(
            "budget monitoring's shards did not price each contract once".into(),
        ));
    }
    let priced = priced
        .into_iter()
        .map(|(_, tally, cohorts)| (tally, cohorts));
    let shown = ReportYear::of(year);
    let mut rows = Vec::new();
    let mut by_type: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut council = Tally::default();
    let mut reasons: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let mut fundings: BTreeMap<&'static str, Tally> = BTreeMap::new();
    for (contract, (tally, by_cohort)) in contracts.iter().zip(priced) {
        let terms = &contract.terms;
        for ((reason, funding), cohort) in by_cohort.0 {
            reasons.entry(reason).or_default().absorb(&cohort);
            fundings.entry(funding).or_default().absorb(&cohort);
        }
        by_type
            .entry(terms.service_type.as_str())
            .or_default()
            .absorb(&tally);
        council.absorb(&tally);
        rows.push(tally.row(
            &shown,
            BudgetScope::Contract,
            terms.reference.clone(),
            Some((&contract.id, &terms.provider_id)),
        ));
    }
    for (service_type, tally) in by_type {
        rows.push(tally.row(
            &shown,
            BudgetScope::ServiceType,
            service_type.to_string(),
            None,
        ));
    }
    rows.push(council.row(&shown, BudgetScope::Council, "council".to_string(), None));
    for (reason, tally) in reasons {
        rows.push(tally.row(
            &shown,
            BudgetScope::PrimarySupportReason,
            reason.to_string(),
            None,
        ));
    }
    for (funding, tally) in fundings {
        rows.push(tally.row(&shown, BudgetScope::Funding, funding.to_string(), None));
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------
// Unit costs

/// Hours delivered and their cost for one slice of a period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UnitCostRow {
    pub scope: UnitCostScope,
    pub service_type: Option<ServiceType>,
    pub need_band: Option<String>,
    /// The support reason (`not_recorded` where the agreement has none).
    pub primary_support_reason: Option<String>,
    pub funding: Option<String>,
    /// Sessions at their contract's length plus one-to-one hours.
    pub hours_delivered: f64,
    /// Every accepted amount, transport and meals included.
    pub cost_pence: i64,
    /// Cost over hours, rounded to the penny; none without hours.
    pub cost_per_hour_pence: Option<i64>,
}

/// The SQL of the counted claim lines served in a period ([`counted_lines_sql`]) for their
/// unit costs: person, item, session type, band, quantity and amount.
pub fn unit_cost_lines_sql(backend: Backend) -> String {
    counted_lines_sql(
        backend,
        "l.person_ref, l.item, l.session_type, COALESCE(l.accepted_need_band, l.need_band), \
         l.accepted_quantity_quarters, l.accepted_amount_pence",
    )
}

/// A row of [`unit_cost_lines_sql`] after its claim's place, decoded by position.
#[derive(Queryable)]
struct UnitCostLine {
    person_ref: String,
    item: StoredItem,
    session_type: Option<StoredSessionType>,
    need_band: String,
    quarters: i64,
    amount_pence: i64,
}

/// The columns of [`unit_cost_lines_sql`] after its claim's place.
type UnitCostLineColumns = (Text, Text, Nullable<Text>, Text, BigInt, BigInt);

/// A contract's group of claim lines whose unit costs are figured together, as the
/// lines' item, session type, band and cohort (support reason, funding).
type UnitCostGroup = (
    Item,
    Option<SessionType>,
    String,
    &'static str,
    &'static str,
);

/// The SQL of the cohorts of every agreement (a provider's own when given: binds provider
/// twice, `''` for all), for the unit costs of its person's claim lines.
pub const AGREEMENT_COHORTS_SQL: &str = "\
SELECT a.contract_id, a.person_ref, a.primary_support_reason, a.funding \
FROM agreements a JOIN contracts c ON c.id = a.contract_id \
WHERE (? = '' OR c.provider_id = ?)";

/// [`AGREEMENT_COHORTS_SQL`] of one share of the contracts, as written for a provider's
/// own report or everyone's; binds then the share's ([`IdShare::binds`]).
pub fn agreement_cohorts_sql(provider_id: Option<&str>) -> String {
    let sql = format!(
        "{AGREEMENT_COHORTS_SQL} AND {}",
        IdShare::condition("a.contract_id")
    );
    crate::reports::optional_filters(&sql, &[("c.provider_id", provider_id.is_some())])
}

/// The cohort keys ([`cohort_keys`]) of each person with an agreement, by contract.
type Cohorts = foldhash::HashMap<String, foldhash::HashMap<String, (&'static str, &'static str)>>;

fn agreement_cohorts(
    conn: &mut DbConnection,
    provider_id: Option<&str>,
    share: &IdShare,
) -> Result<Cohorts, StoreError> {
    let p = provider_id.unwrap_or("").to_string();
    let [from, below, _] = share.binds();
    let mut cohorts = Cohorts::default();
    crate::each_sql_by_position!(
        conn,
        &agreement_cohorts_sql(provider_id),
        (Text, Text, Nullable<Text>, Nullable<Text>),
        [
            (Text, &p),
            (Text, &p),
            (Text, from),
            (Text, below),
            (Text, below)
        ],
        &mut |(contract_id, person_ref, reason, funding): (
            String,
            String,
            Option<String>,
            Option<String>,
        )|
         -> Result<(), StoreError> {
            let keys = cohort_keys(reason.as_deref(), funding.as_deref())?;
            cohorts
                .entry(contract_id)
                .or_default()
                .insert(person_ref, keys);
            Ok(())
        }
    )?;
    Ok(cohorts)
}

/// One share's counted claim lines served from `from` to `to`, summed by contract and
/// group (quarters, pence): a line's contract is its claim's, found without a copy of its
/// id. Hashed with foldhash: a nation's year hashes each of its lines' keys.
pub struct UnitCostShare(foldhash::HashMap<String, foldhash::HashMap<UnitCostGroup, (i64, i64)>>);

/// Reads the cohorts of the agreements and the counted claim lines served from `from` to
/// `to` of the contracts in `share` (a provider's own when given) in one snapshot, and
/// sums the lines by group as they are stepped: grouped in SQL, a nation's year of lines
/// was sorted whole (1.1 s on SQLite, 0.7 s to read them).
pub fn unit_cost_share(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    provider_id: Option<&str>,
    share: &IdShare,
) -> Result<UnitCostShare, StoreError> {
    let unplaced = cohort_keys(None, None)?;
    let mut by_contract = UnitCostShare(Default::default());
    crate::db::read_snapshot(conn, |conn| {
        crate::db::no_parallel_workers(conn)?;
        let cohorts = agreement_cohorts(conn, provider_id, share)?;
        each_counted_line::<UnitCostLineColumns, _>(
            conn,
            &unit_cost_lines_sql(Backend::of(conn)),
            (from, to),
            provider_id,
            share,
            &mut |claim, line: UnitCostLine| {
                let (reason, funding) = cohorts
                    .get(&claim.contract_id)
                    .and_then(|people| people.get(&line.person_ref))
                    .copied()
                    .unwrap_or(unplaced);
                let groups = match by_contract.0.get_mut(&claim.contract_id) {
                    Some(groups) => groups,
                    None => by_contract.0.entry(claim.contract_id.clone()).or_default(),
                };
                let key = (
                    line.item.0,
                    line.session_type.map(|s| s.0),
                    line.need_band,
                    reason,
                    funding,
                );
                let sums = groups.entry(key).or_default();
                sums.0 += line.quarters;
                sums.1 += line.amount_pence;
                Ok(())
            },
        )
    })?;
    Ok(by_contract)
}

/// Hours delivered and cost per hour of the shares' lines of `contracts`: by service type
/// and band, by service type, by cohort, and for the council.
pub fn unit_cost_rows(
    contracts: &[dayops_domain::contract::Contract],
    shares: Vec<UnitCostShare>,
) -> Vec<UnitCostRow> {
    let contracts: HashMap<&str, &dayops_domain::contract::Contract> =
        contracts.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut by_band: BTreeMap<(&'static str, String), UnitCost> = BTreeMap::new();
    let mut by_type: BTreeMap<&'static str, UnitCost> = BTreeMap::new();
    let mut reasons: BTreeMap<&'static str, UnitCost> = BTreeMap::new();
    let mut fundings: BTreeMap<&'static str, UnitCost> = BTreeMap::new();
    let mut council = UnitCost::default();
    // The shares hold different contracts, so no group is in two.
    for (contract_id, groups) in shares.into_iter().flat_map(|share| share.0) {
        // A claim's contract is always in force in its period; one that is not (its dates
        // since changed) still counts, without session lengths.
        let contract = contracts.get(contract_id.as_str());
        let service_type = contract.map_or("unknown", |c| c.terms.service_type.as_str());
        for ((item, session_type, need_band, reason, funding), (quarters, amount)) in groups {
            let session_quarters = match (contract, session_type) {
                (Some(c), Some(st)) => c
                    .terms
                    .session_hours
                    .get(&st)
                    .map_or(0, |h| i64::from(h.quarters())),
                _ => 0,
            };
            let mut cost = UnitCost::default();
            cost.add(item, quarters, session_quarters, amount);
            by_band
                .entry((service_type, need_band))
                .or_default()
                .absorb(cost);
            by_type.entry(service_type).or_default().absorb(cost);
            reasons.entry(reason).or_default().absorb(cost);
            fundings.entry(funding).or_default().absorb(cost);
            council.absorb(cost);
        }
    }
    let row = |scope, service_type: Option<&str>, cost: UnitCost| UnitCostRow {
        scope,
        service_type: service_type.and_then(ServiceType::parse),
        need_band: None,
        primary_support_reason: None,
        funding: None,
        hours_delivered: cost.hours(),
        cost_pence: cost.cost_pence,
        cost_per_hour_pence: cost.per_hour_pence(),
    };
    let mut out = Vec::new();
    for ((service_type, band), cost) in by_band {
        out.push(UnitCostRow {
            need_band: Some(band),
            ..row(UnitCostScope::ServiceTypeBand, Some(service_type), cost)
        });
    }
    for (service_type, cost) in by_type {
        out.push(row(UnitCostScope::ServiceType, Some(service_type), cost));
    }
    for (reason, cost) in reasons {
        out.push(UnitCostRow {
            primary_support_reason: Some(reason.to_string()),
            ..row(UnitCostScope::PrimarySupportReason, None, cost)
        });
    }
    for (funding, cost) in fundings {
        out.push(UnitCostRow {
            funding: Some(funding.to_string()),
            ..row(UnitCostScope::Funding, None, cost)
        });
    }
    out.push(row(UnitCostScope::Council, None, council));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(id: &str) -> dayops_domain::contract::Contract {
        let terms = serde_json::from_value(serde_json::json!({
            "reference": format!("REF-{id}"), "provider_id": "p1", "service_type": "community",
            "start_date": "2025-04-01", "need_bands": ["low"], "session_hours": {"am": 3},
            "capacity_per_session": 20, "allows_extras": false, "over_delivery_tolerance_pct": 0,
            "register_deadline_days": 7, "correction_window_days": 56,
            "payment_period": "monthly", "payment_anchor_date": "2025-04-01",
            "absence_policy": {"chargeable_reasons": [], "min_notice_hours": 24}
        }))
        .unwrap();
        dayops_domain::contract::Contract {
            id: id.to_string(),
            terms,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    fn holds(share: &IdShare, id: &str) -> bool {
        id >= share.from.as_str() && (share.below.is_empty() || id < share.below.as_str())
    }

    #[test]
    fn each_contract_is_in_one_shard_whose_claims_share_holds_it_and_no_other_shards() {
        for count in [1, 2, 3, 7, 10] {
            for parallel in [1, 2, 3, 4, 8] {
                // In reference order, which is not id order.
                let contracts: Vec<_> = (0..count)
                    .rev()
                    .map(|i| contract(&format!("c-{i:02}")))
                    .collect();
                let shards = budget_shards(&contracts, false, parallel);
                assert!(shards.len() <= parallel.clamp(2, 4));
                let mut placed: Vec<usize> =
                    shards.iter().flat_map(|s| s.positions.clone()).collect();
                placed.sort_unstable();
                assert_eq!(placed, (0..count).collect::<Vec<_>>());
                for shard in &shards {
                    for &at in &shard.positions {
                        let id = &contracts[at].id;
                        let holding: Vec<_> =
                            shards.iter().filter(|s| holds(s.claims(), id)).collect();
                        assert_eq!(holding.len(), 1, "{id} of {count} in {parallel}");
                        assert_eq!(holding[0].positions, shard.positions);
                    }
                }
                // Every id there could be, and one of a contract not reported on, falls in
                // exactly one share.
                for id in ["", "a", "c-05x", "z"] {
                    assert_eq!(shards.iter().filter(|s| holds(s.claims(), id)).count(), 1);
                }
            }
        }
    }
}
