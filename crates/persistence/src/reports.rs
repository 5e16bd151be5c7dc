//! The reports of SPEC §6, aggregated in SQL (one statement text for both back ends) and
//! finished by the domain's arithmetic.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::deserialize::FromSqlRow;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Double, Integer, Nullable, Text};
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::budget::period_index;
use dayops_domain::contract::{budget_for, Budget};
use dayops_domain::outcomes::{CohortCounts, CohortOutcomes, RegisterOutcomes, WeekMeasures};
use dayops_domain::register::OutcomeTag;
use dayops_domain::report::{
    most_frequent, share_pct, BandShare, FinancialYear, MonthSpend, ReviewKind, SpendBucket,
    SpendTotals,
};
use dayops_domain::submission::SubmissionStatus;
use dayops_domain::workbook::{Quarter, Rag};

use crate::contracts::IdShare;
use crate::day::Day;
use crate::error::{from_json, vocab, StoreError};
use crate::monitoring::cohort_keys;
use crate::schema::contracts;
use crate::vocabulary::StoredStatus;
use crate::{Backend, DbConnection};

/// Who may see which rows: `None` for everyone's, or one provider's.
fn provider_bind(provider_id: Option<&str>) -> String {
    provider_id.unwrap_or("").to_string()
}

/// `sql` with the optional filter `(? = '' OR column = ?)` on each of `columns` not asked
/// for (`false`) written `? = ?` instead. Its two values are then `''` and `''`: a
/// comparison that names no column, which SQLite makes once before it reads a row,
/// where the first form, with its values bound, is compared on every row (SQLite cannot
/// fold a bound value away; the reviews report's statement on the national database:
/// 184 ms that way, 159 this way, 147 with `'' = ''` inlined). The binds are the same
/// either way. A statement without the filter is a mistake of ours: a debug build panics.
pub fn optional_filters(sql: &str, columns: &[(&str, bool)]) -> String {
    let mut sql = sql.to_string();
    for (column, asked) in columns {
        let filter = format!("(? = '' OR {column} = ?)");
        debug_assert!(sql.contains(&filter), "no optional filter on {column}");
        if !asked {
            sql = sql.replace(&filter, "? = ?");
        }
    }
    sql
}

/// `sql` with its optional filter on `s.provider_id` as [`optional_filters`] writes it:
/// a provider's own rows when `provider_id` is given.
pub fn by_provider(sql: &str, provider_id: Option<&str>) -> String {
    optional_filters(sql, &[("s.provider_id", provider_id.is_some())])
}

// ---------------------------------------------------------------------------------------
// Spend

/// One contract's spend in a financial year, in pence. Every priced line counts in the
/// financial year and month of its service date, whatever the claim's period.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SpendRow {
    pub contract_id: String,
    pub contract_reference: String,
    pub provider_id: String,
    /// The contract's budget for the year; none when it has none.
    pub budget_pence: Option<i64>,
    /// Claims the council approved (including those since paid).
    pub approved_pence: i64,
    pub paid_pence: i64,
    /// Claims accepted by validation and awaiting the council's decision.
    pub pending_pence: i64,
    /// Approved and pending, scaled from the days claimed so far to the whole year.
    pub forecast_pence: i64,
    /// Forecast minus budget: positive is an overspend; none without a budget.
    pub variance_pence: Option<i64>,
    /// The latest claim period end counted, at most the year's last day.
    pub claimed_to: Option<NaiveDate>,
    /// Approved, paid and pending spend by month of service, April to March.
    pub by_month: Vec<MonthSpend>,
    /// Approved and pending spend by the band each line is priced at, in band name order.
    pub by_need_band: Vec<BandShare>,
}

/// The counted claims of one share of the contracts whose period can reach into a window
/// of days (approved or pending, as the domain's buckets say): the `FROM` and `WHERE` of
/// [`counted_claims_sql`] and of [`counted_lines_sql`]'s claims. Binds: the earliest
/// period start that can reach into the window, its last day and its first
/// ([`claim_binds`]), provider (`''` for all) twice, then the share's
/// ([`IdShare::binds`]). The two-sided range on `period_start` keeps the scan of claims to
/// the window's (index `submissions_period`).
fn counted_claims_from() -> String {
    format!(
        "FROM submissions s \
         WHERE s.kind = 'claim' AND s.period_start >= ? AND s.period_start <= ? AND s.period_end >= ? \
         AND (? = '' OR s.provider_id = ?) AND s.status IN ({}) AND {}",
        counted_statuses(),
        IdShare::condition("s.contract_id")
    )
}

/// The SQL of the counted claims ([`counted_claims_from`]) in id order: each one's
/// contract, status and period end. [`counted_lines_sql`]'s lines name their claim by its
/// place here, so that a nation's year of lines does not carry its claim's contract id,
/// status and period end on every line (on PostgreSQL a share's 207,000 lines, sent in
/// binary, took 276 ms with them and 210 without).
pub fn counted_claims_sql() -> String {
    format!(
        "SELECT s.contract_id, s.status, s.period_end {} ORDER BY s.id",
        counted_claims_from()
    )
}

/// The SQL of `columns` of each current line of the counted claims served in the window,
/// after its claim's place among [`counted_claims_sql`]'s (from 1), one row a line, in no
/// order. Binds as [`counted_claims_from`], then the window's first and last day. Both
/// statements number the same claims in the same order when read in one snapshot.
///
/// The reports add the lines up in Rust rather than group them in SQL: a year's lines are
/// mostly one to a date, band and person, so grouping sorted them all for little
/// reduction (a nation's year on SQLite: 0.7 s to read, 1.7 s grouped by contract,
/// status, month and band).
///
/// Each claim's lines are read through their key, a claim at a time, on either back end
/// (SQLite's `CROSS JOIN` keeps the claims the outer loop). PostgreSQL, asked for a share
/// of a nation's claims, hashed them and read the whole of `claim_lines` to find theirs,
/// once for each share, and a provider's own report could do the same on statistics gone
/// stale: its lines are asked for in a subquery its planner may not merge into the join
/// (`OFFSET 0`), so that they are looked up by claim whatever the statistics say (a
/// share's 207,000 lines of a nation's year, sent in binary: 338 ms scanned and hashed,
/// 276 ms looked up).
pub fn counted_lines_sql(backend: Backend, columns: &str) -> String {
    let lines = match backend {
        Backend::Sqlite => {
            "CROSS JOIN claim_lines l ON l.submission_id = c.id AND l.version = c.current_version"
        }
        Backend::Postgresql => {
            "CROSS JOIN LATERAL (SELECT * FROM claim_lines l \
             WHERE l.submission_id = c.id AND l.version = c.current_version OFFSET 0) l"
        }
    };
    format!(
        "SELECT c.n, {columns} \
         FROM (SELECT s.id, s.current_version, row_number() OVER (ORDER BY s.id) AS n {}) c \
         {lines} WHERE l.date >= ? AND l.date <= ?",
        counted_claims_from()
    )
}

/// The values of [`counted_claims_from`]'s date binds for the lines served from `from` to
/// `to`. A claim is one payment period, a calendar month at the longest: one that ends in
/// the window started at most 30 days before it.
pub fn claim_binds(from: NaiveDate, to: NaiveDate) -> [NaiveDate; 3] {
    [from - chrono::Days::new(30), to, from]
}

/// A counted claim ([`counted_claims_sql`]): its contract, status and period end.
#[derive(Queryable)]
pub(crate) struct CountedClaim {
    pub contract_id: String,
    pub status: StoredStatus,
    #[diesel(deserialize_as = Day)]
    pub period_end: NaiveDate,
}

/// Hands each current line of the counted claims served from `from` to `to` of the
/// contracts in `share` (a provider's own when given), `sql` being [`counted_lines_sql`]'s
/// with `columns` of the SQL types `ST`, to `each` with its claim, as it is stepped. Call
/// it within [`crate::db::read_snapshot`], so that both statements see the same claims.
pub(crate) fn each_counted_line<ST, T>(
    conn: &mut DbConnection,
    sql: &str,
    (from, to): (NaiveDate, NaiveDate),
    provider_id: Option<&str>,
    share: &IdShare,
    each: &mut dyn FnMut(&CountedClaim, T) -> Result<(), StoreError>,
) -> Result<(), StoreError>
where
    (i64, T):
        FromSqlRow<(BigInt, ST), diesel::sqlite::Sqlite> + FromSqlRow<(BigInt, ST), diesel::pg::Pg>,
{
    let p = provider_bind(provider_id);
    let [earliest, last, first] = claim_binds(from, to);
    let [share_from, below, _] = share.binds();
    // Both statements bind the counted claims' values first ([`counted_claims_from`]),
    // written once here so that they cannot drift apart.
    macro_rules! claims_then {
        ($run:ident, $sql:expr, $st:ty, [$($more:tt)*] $(, $each:expr)?) => {
            crate::$run!(
                conn,
                &by_provider($sql, provider_id),
                $st,
                [
                    (Date, earliest),
                    (Date, last),
                    (Date, first),
                    (Text, &p),
                    (Text, &p),
                    (Text, share_from),
                    (Text, below),
                    (Text, below)
                    $($more)*
                ]
                $(, $each)?
            )
        };
    }
    let claims: Vec<CountedClaim> = claims_then!(
        load_sql_by_position,
        &counted_claims_sql(),
        (Text, Text, Date),
        []
    )?;
    claims_then!(
        each_sql_by_position,
        sql,
        (BigInt, ST),
        [, (Date, from), (Date, to)],
        &mut |(n, line): (i64, T)| {
            let claim = usize::try_from(n - 1)
                .ok()
                .and_then(|at| claims.get(at))
                .ok_or_else(|| {
                    StoreError::Internal(format!(
                        "a claim line names claim {n} of {}",
                        claims.len()
                    ))
                })?;
            each(claim, line)
        }
    )
}

/// The SQL of the spend report's lines: band, date and amount ([`counted_lines_sql`]).
pub fn spend_lines_sql(backend: Backend) -> String {
    counted_lines_sql(
        backend,
        "COALESCE(l.accepted_need_band, l.need_band), l.date, l.accepted_amount_pence",
    )
}

/// A row of [`spend_lines_sql`] after its claim's place, decoded by position.
#[derive(Queryable)]
struct SpendLine {
    need_band: String,
    #[diesel(deserialize_as = Day)]
    date: NaiveDate,
    amount_pence: i64,
}

/// The columns of [`spend_lines_sql`] after its claim's place.
type SpendLineColumns = (Text, Date, BigInt);

/// The claim statuses whose lines count as spend (approved or pending, as the domain's
/// buckets say), as a SQL list.
pub fn counted_statuses() -> String {
    let counted: Vec<String> = SubmissionStatus::ALL
        .iter()
        .filter(|s| SpendBucket::of(**s) != SpendBucket::None)
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    counted.join(", ")
}

/// A contract the spend report lists: id, reference, provider, budgets and the annual
/// budget.
pub type SpendContract = (String, String, String, String, Option<i64>);

/// The contracts in force during the year (a provider's own only when `provider_id` is
/// given), in reference order: the spend report's rows.
pub fn spend_contracts(
    conn: &mut DbConnection,
    year: FinancialYear,
    provider_id: Option<&str>,
) -> Result<Vec<SpendContract>, StoreError> {
    let mut query = contracts::table
        .filter(contracts::start_date.le(year.end()))
        .filter(
            contracts::end_date
                .is_null()
                .or(contracts::end_date.ge(year.start())),
        )
        .select((
            contracts::id,
            contracts::reference,
            contracts::provider_id,
            contracts::budgets,
            contracts::annual_budget_pence,
        ))
        .order(contracts::reference.asc())
        .into_boxed();
    if let Some(p) = provider_id {
        query = query.filter(contracts::provider_id.eq(p.to_string()));
    }
    Ok(query.load(conn)?)
}

/// One share's spend, by contract. Hashed with foldhash: a nation's year looks each of
/// its lines' contract up.
#[derive(Default)]
pub struct SpendShare(foldhash::HashMap<String, ContractSpend>);

/// A contract's spend: its totals by status and month, and by band.
#[derive(Default)]
struct ContractSpend {
    totals: SpendTotals,
    by_band: BTreeMap<String, i64>,
}

/// The year's counted claim lines of the contracts in `share` (a provider's own when
/// given), added up by contract as they are read.
pub fn spend_share(
    conn: &mut DbConnection,
    year: FinancialYear,
    provider_id: Option<&str>,
    share: &IdShare,
) -> Result<SpendShare, StoreError> {
    let mut spend = SpendShare::default();
    // A transaction for its setting alone: the shares are the parallelism.
    crate::db::read_snapshot(conn, |conn| {
        crate::db::no_parallel_workers(conn)?;
        each_counted_line::<SpendLineColumns, _>(
            conn,
            &spend_lines_sql(Backend::of(conn)),
            (year.start(), year.end()),
            provider_id,
            share,
            &mut |claim, line: SpendLine| {
                let contract = match spend.0.get_mut(&claim.contract_id) {
                    Some(contract) => contract,
                    None => spend.0.entry(claim.contract_id.clone()).or_default(),
                };
                match contract.by_band.get_mut(&line.need_band) {
                    Some(pence) => *pence += line.amount_pence,
                    None => {
                        contract.by_band.insert(line.need_band, line.amount_pence);
                    }
                }
                contract.totals.add(
                    claim.status.0,
                    period_index(year, line.date),
                    line.amount_pence,
                    claim.period_end,
                );
                Ok(())
            },
        )
    })?;
    Ok(spend)
}

/// The spend report's rows: each of `contracts` with its spend from the shares.
pub fn spend_rows(
    year: FinancialYear,
    contracts: Vec<SpendContract>,
    shares: Vec<SpendShare>,
) -> Result<Vec<SpendRow>, StoreError> {
    // The shares hold different contracts.
    let mut spend: foldhash::HashMap<String, ContractSpend> = Default::default();
    for share in shares {
        spend.extend(share.0);
    }
    contracts
        .into_iter()
        .map(|(id, reference, provider_id, budgets, annual_budget)| {
            let budgets: Vec<Budget> = from_json("contracts.budgets", &budgets)?;
            let budget = budget_for(&budgets, annual_budget, year.0);
            let ContractSpend { totals: t, by_band } = spend.remove(&id).unwrap_or_default();
            let forecast = t.run_rate_forecast(year);
            let committed = t.committed_pence();
            let by_need_band = by_band
                .into_iter()
                .map(|(need_band, amount_pence)| BandShare {
                    share_pct: share_pct(amount_pence, committed),
                    need_band,
                    amount_pence,
                })
                .collect();
            Ok(SpendRow {
                contract_id: id,
                contract_reference: reference,
                provider_id,
                budget_pence: budget,
                approved_pence: t.approved_pence,
                paid_pence: t.paid_pence,
                pending_pence: t.pending_pence,
                forecast_pence: forecast,
                variance_pence: budget.map(|b| forecast - b),
                claimed_to: t.claimed_to(year),
                by_month: t.by_month(year),
                by_need_band,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// KPIs

/// A KPI of a contract's workbook for the quarter, against its target.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KpiRow {
    pub contract_id: String,
    pub contract_reference: String,
    pub provider_id: String,
    pub workbook_id: String,
    pub version: i32,
    pub status: SubmissionStatus,
    pub code: String,
    pub value: f64,
    pub target: f64,
    pub amber_below: f64,
    pub rag: Rag,
    /// The same figure measured from the quarter's registers, where registers measure it
    /// (community access; the share of attenders tagged with the outcome the KPI counts).
    pub measured_from_registers: Option<f64>,
}

/// The SQL of the KPI report (also run directly by the benchmark); binds: the quarter's
/// start, provider (`''` for all) twice.
pub const KPI_SQL: &str = "\
SELECT s.contract_id AS contract_id, c.reference AS contract_reference, \
       s.provider_id AS provider_id, s.id AS workbook_id, s.current_version AS version, \
       s.status AS status, k.code AS code, k.value AS value, k.target AS target, \
       k.amber_below AS amber_below, k.rag AS rag \
FROM submissions s \
JOIN contracts c ON c.id = s.contract_id \
JOIN workbook_kpis k ON k.submission_id = s.id AND k.version = s.current_version \
WHERE s.kind = 'workbook' AND s.period_start = ? AND s.status <> 'rejected' \
  AND (? = '' OR s.provider_id = ?) \
ORDER BY c.reference, k.code";

/// One row of [`KPI_SQL`], decoded by position: the fields follow its columns.
#[derive(Queryable)]
struct KpiSql {
    contract_id: String,
    contract_reference: String,
    provider_id: String,
    workbook_id: String,
    version: i32,
    status: String,
    code: String,
    value: f64,
    target: f64,
    amber_below: f64,
    rag: String,
}

/// The SQL types of [`KPI_SQL`]'s columns, in order.
type KpiColumns = (
    Text,
    Text,
    Text,
    Text,
    Integer,
    Text,
    Text,
    Double,
    Double,
    Double,
    Text,
);

/// The KPI report's figures: each workbook KPI, each contract's register measures, and
/// the outcomes by cohort.
pub struct KpiFigures {
    pub items: Vec<KpiRow>,
    pub registers: Vec<MeasuredRow>,
    pub cohorts: Vec<CohortOutcomes>,
}

/// Every KPI of the quarter's current, not rejected workbooks ([`KPI_SQL`]), each beside
/// its register-measured figure, what each contract's registers show, and the outcomes by
/// cohort.
pub fn kpis(
    conn: &mut DbConnection,
    quarter: Quarter,
    provider_id: Option<&str>,
) -> Result<KpiFigures, StoreError> {
    let measured = register_outcomes(conn, quarter, None, provider_id)?;
    let p = provider_bind(provider_id);
    let rows: Vec<KpiSql> = crate::load_sql_by_position!(
        conn,
        &by_provider(KPI_SQL, provider_id),
        KpiColumns,
        [(Date, quarter.start()), (Text, &p), (Text, &p)]
    )?;
    let rows = rows
        .into_iter()
        .map(|r| {
            Ok(KpiRow {
                measured_from_registers: measured
                    .get(&r.contract_id)
                    .and_then(|m| m.registers.beside_kpi(&r.code)),
                status: vocab("submissions.status", &r.status, SubmissionStatus::parse)?,
                rag: vocab("workbook_kpis.rag", &r.rag, Rag::parse)?,
                contract_id: r.contract_id,
                contract_reference: r.contract_reference,
                provider_id: r.provider_id,
                workbook_id: r.workbook_id,
                version: r.version,
                code: r.code,
                value: r.value,
                target: r.target,
                amber_below: r.amber_below,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut measured: Vec<MeasuredRow> = measured.into_values().collect();
    measured.sort_by(|a, b| a.contract_reference.cmp(&b.contract_reference));
    Ok(KpiFigures {
        items: rows,
        registers: measured,
        cohorts: kpi_cohorts(conn, quarter, provider_id)?,
    })
}

/// The SQL of a quarter's register attenders, one row a person and week: the support
/// reason and funding of the person's agreement on the register's contract (as it
/// stands now; none without one), the week, and the person's counts (one attending; one
/// or none in the community and for each outcome tag, in the order of
/// `OutcomeTag::ALL`); binds: the quarter's start and end, provider twice (`''` for all).
pub const REGISTER_PERSON_WEEKS_SQL: &str = "\
SELECT a.primary_support_reason AS primary_support_reason, a.funding AS funding, \
       s.period_start AS week, 1 AS attending, \
       CASE WHEN w.in_community THEN 1 ELSE 0 END AS in_community, \
       CASE WHEN w.independence THEN 1 ELSE 0 END AS independence, \
       CASE WHEN w.social_inclusion THEN 1 ELSE 0 END AS social_inclusion, \
       CASE WHEN w.wellbeing THEN 1 ELSE 0 END AS wellbeing, \
       CASE WHEN w.life_goals THEN 1 ELSE 0 END AS life_goals, \
       CASE WHEN w.employment_volunteering_education THEN 1 ELSE 0 END \
         AS employment_volunteering_education, \
       CASE WHEN w.community_networks THEN 1 ELSE 0 END AS community_networks \
FROM submissions s \
JOIN register_person_weeks w ON w.submission_id = s.id AND w.version = s.current_version \
LEFT JOIN agreements a ON a.contract_id = s.contract_id AND a.person_ref = w.person_ref \
WHERE s.kind = 'register' AND s.status <> 'rejected' AND s.period_start >= ? AND s.period_start <= ? \
  AND (? = '' OR s.provider_id = ?)";

/// The SQL of a quarter's register attenders counted by cohort and week, as `backend`
/// reads them fastest ([`Backend::groups_by_hash`]): [`REGISTER_PERSON_WEEKS_SQL`]
/// grouped on PostgreSQL (a nation's quarter: 0.6 s, against 1.2 s to send its 400,000
/// rows), one row a person on SQLite (0.3 s to read them, against 1.1 s grouped); either
/// way rows of the same columns, which Rust adds up by cohort and week.
pub fn register_cohort_weeks_sql(backend: Backend) -> String {
    if !backend.groups_by_hash() {
        return REGISTER_PERSON_WEEKS_SQL.to_string();
    }
    let sums: Vec<String> = ["attending", "in_community"]
        .into_iter()
        .chain(OutcomeTag::ALL.iter().map(|tag| tag.as_str()))
        .map(|c| format!("CAST(SUM({c}) AS BIGINT)"))
        .collect();
    format!(
        "SELECT primary_support_reason, funding, week, {} FROM ({REGISTER_PERSON_WEEKS_SQL}) p \
         GROUP BY primary_support_reason, funding, week",
        sums.join(", ")
    )
}

/// A row of [`register_cohort_weeks_sql`], decoded by position.
#[derive(Queryable)]
struct CohortWeekRow {
    primary_support_reason: Option<String>,
    funding: Option<String>,
    #[diesel(deserialize_as = Day)]
    week: NaiveDate,
    counts: WeekCountsSql,
}

/// The columns of [`register_cohort_weeks_sql`].
type CohortWeekColumns = (Nullable<Text>, Nullable<Text>, Date, WeekCountColumns);

/// The SQL of the person outcomes of a quarter's workbooks by the cohort of each
/// person's agreement on the workbook's contract; binds: the quarter's start, provider
/// twice.
pub const WORKBOOK_COHORTS_SQL: &str = "\
SELECT a.primary_support_reason AS primary_support_reason, a.funding AS funding, \
       CAST(COUNT(*) AS BIGINT) AS outcomes, \
       CAST(SUM(CASE WHEN o.status IN ('achieved', 'progressing') THEN 1 ELSE 0 END) AS BIGINT) \
         AS progressing \
FROM submissions s \
JOIN workbook_person_outcomes o ON o.submission_id = s.id AND o.version = s.current_version \
LEFT JOIN agreements a ON a.contract_id = s.contract_id AND a.person_ref = o.person_ref \
WHERE s.kind = 'workbook' AND s.period_start = ? AND s.status <> 'rejected' \
  AND (? = '' OR s.provider_id = ?) \
GROUP BY a.primary_support_reason, a.funding";

#[derive(QueryableByName)]
struct CohortOutcomesSql {
    #[diesel(sql_type = Nullable<Text>)]
    primary_support_reason: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    funding: Option<String>,
    #[diesel(sql_type = BigInt)]
    outcomes: i64,
    #[diesel(sql_type = BigInt)]
    progressing: i64,
}

/// A quarter's outcomes by cohort: the registers' attenders and the workbooks' person
/// outcomes, by the support reason and the funding of each person's agreement.
fn kpi_cohorts(
    conn: &mut DbConnection,
    quarter: Quarter,
    provider_id: Option<&str>,
) -> Result<Vec<CohortOutcomes>, StoreError> {
    let p = provider_bind(provider_id);
    let mut weeks: BTreeMap<(&'static str, &'static str, NaiveDate), WeekMeasures> =
        BTreeMap::new();
    let sql = by_provider(&register_cohort_weeks_sql(Backend::of(conn)), provider_id);
    crate::each_sql_by_position!(
        conn,
        &sql,
        CohortWeekColumns,
        [
            (Date, quarter.start()),
            (Date, quarter.end()),
            (Text, &p),
            (Text, &p)
        ],
        &mut |r: CohortWeekRow| -> Result<(), StoreError> {
            let (reason, funding) =
                cohort_keys(r.primary_support_reason.as_deref(), r.funding.as_deref())?;
            weeks
                .entry((reason, funding, r.week))
                .or_default()
                .absorb(&r.counts.measures());
            Ok(())
        }
    )?;
    let outcomes = crate::load_sql!(
        conn,
        &by_provider(WORKBOOK_COHORTS_SQL, provider_id),
        CohortOutcomesSql,
        [(Date, quarter.start()), (Text, &p), (Text, &p)]
    )?;
    let mut counts = CohortCounts::default();
    for ((reason, funding, week), measures) in weeks {
        counts.add_week(reason, funding, week, &measures);
    }
    for o in outcomes {
        let (reason, funding) =
            cohort_keys(o.primary_support_reason.as_deref(), o.funding.as_deref())?;
        counts.add_outcomes(reason, funding, o.outcomes, o.progressing);
    }
    Ok(counts.measure())
}

// ---------------------------------------------------------------------------------------
// Compliance

/// A finding code and how often it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CodeCount {
    pub code: String,
    pub occurrences: i64,
}

/// How a provider's submissions fare.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComplianceRow {
    pub provider_id: String,
    pub provider_name: String,
    pub submissions: i64,
    /// Submissions whose first version was not rejected.
    pub passed_first_time: i64,
    pub first_time_pass_rate_pct: f64,
    /// Submissions whose first version came after the deadline (SUB-002).
    pub late_submissions: i64,
    /// The five most frequent finding codes over every version.
    pub most_frequent_findings: Vec<CodeCount>,
}

/// The SQL of the compliance counts; binds: period from, period to, provider twice.
pub const COMPLIANCE_SQL: &str = "\
SELECT s.provider_id AS provider_id, p.name AS provider_name, \
       CAST(COUNT(*) AS BIGINT) AS submissions, \
       CAST(SUM(CASE WHEN v.status <> 'rejected' THEN 1 ELSE 0 END) AS BIGINT) AS passed_first_time, \
       CAST(SUM(CASE WHEN EXISTS (SELECT 1 FROM submission_findings f \
                WHERE f.submission_id = s.id AND f.version = 1 AND f.code = 'SUB-002') \
            THEN 1 ELSE 0 END) AS BIGINT) AS late_submissions \
FROM submissions s \
JOIN providers p ON p.id = s.provider_id \
JOIN submission_versions v ON v.submission_id = s.id AND v.version = 1 \
WHERE s.period_start >= ? AND s.period_start <= ? AND (? = '' OR s.provider_id = ?) \
GROUP BY s.provider_id, p.name \
ORDER BY p.name, s.provider_id";

/// The SQL of the finding codes per provider; binds as [`COMPLIANCE_SQL`].
pub const COMPLIANCE_CODES_SQL: &str = "\
SELECT s.provider_id AS provider_id, f.code AS code, \
       CAST(SUM(f.occurrences) AS BIGINT) AS occurrences \
FROM submissions s \
JOIN submission_findings f ON f.submission_id = s.id \
WHERE s.period_start >= ? AND s.period_start <= ? AND (? = '' OR s.provider_id = ?) \
GROUP BY s.provider_id, f.code";

#[derive(QueryableByName)]
struct ComplianceSql {
    #[diesel(sql_type = Text)]
    provider_id: String,
    #[diesel(sql_type = Text)]
    provider_name: String,
    #[diesel(sql_type = BigInt)]
    submissions: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    passed_first_time: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    late_submissions: Option<i64>,
}

#[derive(QueryableByName)]
struct CodeSql {
    #[diesel(sql_type = Text)]
    provider_id: String,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = BigInt)]
    occurrences: i64,
}

/// Compliance per provider over submissions whose period starts in `[from, to]`.
pub fn compliance(
    conn: &mut DbConnection,
    from: NaiveDate,
    to: NaiveDate,
    provider_id: Option<&str>,
) -> Result<Vec<ComplianceRow>, StoreError> {
    let p = provider_bind(provider_id);
    let rows = crate::load_sql!(
        conn,
        &by_provider(COMPLIANCE_SQL, provider_id),
        ComplianceSql,
        [(Date, from), (Date, to), (Text, &p), (Text, &p)]
    )?;
    let codes = crate::load_sql!(
        conn,
        &by_provider(COMPLIANCE_CODES_SQL, provider_id),
        CodeSql,
        [(Date, from), (Date, to), (Text, &p), (Text, &p)]
    )?;
    let mut by_provider: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for c in codes {
        by_provider
            .entry(c.provider_id)
            .or_default()
            .push((c.code, c.occurrences));
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let passed = r.passed_first_time.unwrap_or(0);
            let codes = by_provider.remove(&r.provider_id).unwrap_or_default();
            ComplianceRow {
                first_time_pass_rate_pct: share_pct(passed, r.submissions),
                most_frequent_findings: most_frequent(codes, 5)
                    .into_iter()
                    .map(|(code, occurrences)| CodeCount { code, occurrences })
                    .collect(),
                provider_id: r.provider_id,
                provider_name: r.provider_name,
                submissions: r.submissions,
                passed_first_time: passed,
                late_submissions: r.late_submissions.unwrap_or(0),
            }
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Reviews and time limits

/// A placement in force whose care plan review is more than 28 days overdue, or whose
/// enablement has run past its twelve weeks.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReviewRow {
    pub kind: ReviewKind,
    pub provider_id: String,
    pub provider_name: String,
    pub contract_id: String,
    pub contract_reference: String,
    pub agreement_id: String,
    pub person_ref: String,
    pub start_date: NaiveDate,
    /// The review's due date, or the last day of enablement's twelve weeks.
    pub due: NaiveDate,
    /// Days from `due` to the report's date.
    pub days_over: i64,
    /// The person's latest attended session on the contract (in a current register that
    /// is not rejected) up to the report's date.
    pub last_attended: Option<NaiveDate>,
}

/// The SQL of the reviews report: agreements in force on the date whose review was due
/// before the review cut-off or that are enabling and started before the enablement
/// cut-off, with the person's latest attended session on the contract. Binds: the date
/// (last attended), the date twice (in force), the review cut-off, the enablement
/// cut-off, provider twice, contract twice (`''` for all). The latest session is the first
/// found walking the person's lines back from the date (`register_lines_person_date`),
/// not the greatest of all of them: most people's latest line is in a current register,
/// so one or two of their lines are checked against their register rather than every one
/// (PostgreSQL, the national database: 0.60–0.82 s before, 0.36–0.45 s after).
const REVIEWS_SQL: &str = "\
SELECT a.id AS agreement_id, a.contract_id AS contract_id, c.reference AS contract_reference, \
       c.provider_id AS provider_id, p.name AS provider_name, a.person_ref AS person_ref, \
       a.pathway AS pathway, a.start_date AS start_date, a.care_plan_review_due AS care_plan_review_due, \
       (SELECT l.date FROM register_lines l \
          JOIN submissions s ON s.id = l.submission_id AND l.version = s.current_version \
         WHERE l.person_ref = a.person_ref AND l.date <= ? AND l.status = 'attended' \
           AND s.kind = 'register' AND s.contract_id = a.contract_id AND s.status <> 'rejected' \
         ORDER BY l.date DESC LIMIT 1) AS last_attended \
FROM agreements a \
JOIN contracts c ON c.id = a.contract_id \
JOIN providers p ON p.id = c.provider_id \
WHERE a.start_date <= ? AND (a.end_date IS NULL OR a.end_date >= ?) \
  AND (a.care_plan_review_due < ? OR (a.pathway = 'enabling' AND a.start_date < ?)) \
  AND (? = '' OR c.provider_id = ?) AND (? = '' OR a.contract_id = ?) \
ORDER BY p.name, c.reference, a.person_ref";

/// [`REVIEWS_SQL`] for one provider's placements or everyone's, one contract's or all
/// ([`optional_filters`]).
pub fn reviews_sql(by_provider: bool, by_contract: bool) -> String {
    optional_filters(
        REVIEWS_SQL,
        &[
            ("c.provider_id", by_provider),
            ("a.contract_id", by_contract),
        ],
    )
}

/// One row of [`REVIEWS_SQL`], decoded by position (its fields follow the columns) and
/// its dates without chrono's parser, as the KPI report's rows are: tens of thousands of
/// rows (statement and rows, single-threaded: 198 ms by name, 193 this way).
#[derive(Clone, Queryable)]
struct ReviewSql {
    agreement_id: String,
    contract_id: String,
    contract_reference: String,
    provider_id: String,
    provider_name: String,
    person_ref: String,
    pathway: String,
    #[diesel(deserialize_as = crate::day::Day)]
    start_date: NaiveDate,
    #[diesel(deserialize_as = crate::day::OptionalDay)]
    care_plan_review_due: Option<NaiveDate>,
    #[diesel(deserialize_as = crate::day::OptionalDay)]
    last_attended: Option<NaiveDate>,
}

/// The SQL types of [`REVIEWS_SQL`]'s columns, in order.
type ReviewColumns = (
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Text,
    Date,
    Nullable<Date>,
    Nullable<Date>,
);

/// The SQL's cut-offs for `as_of`: reviews due before the first are overdue, enablement
/// started before the second has run past its weeks.
/// The rows are then checked by the domain's own rules.
pub fn review_cutoffs(as_of: NaiveDate) -> (NaiveDate, NaiveDate) {
    use dayops_domain::agreement::{ENABLEMENT_WEEKS, REVIEW_GRACE_DAYS};
    (
        as_of - chrono::Days::new(REVIEW_GRACE_DAYS),
        as_of - chrono::Days::new(ENABLEMENT_WEEKS * 7),
    )
}

/// Placements in force on `as_of` past a time limit, by provider, contract and person
/// ([`REVIEWS_SQL`]; a provider's own when `provider_id` is given), each item handed to
/// `each` as soon as its row is read.
pub fn reviews_each(
    conn: &mut DbConnection,
    as_of: NaiveDate,
    provider_id: Option<&str>,
    contract_id: Option<&str>,
    each: &mut dyn FnMut(ReviewRow) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    use dayops_domain::agreement::{enablement_end, review_overdue};
    use dayops_domain::types::Pathway;
    let p = provider_bind(provider_id);
    let c = contract_id.unwrap_or("").to_string();
    let (review_cutoff, enablement_cutoff) = review_cutoffs(as_of);
    let mut item_of = |r: ReviewSql| -> Result<(), StoreError> {
        let pathway = vocab("agreements.pathway", &r.pathway, Pathway::parse)?;
        let mut lapsed = Vec::new();
        if let Some(due) = r
            .care_plan_review_due
            .filter(|due| review_overdue(*due, as_of))
        {
            lapsed.push((ReviewKind::ReviewOverdue, due));
        }
        let ends = enablement_end(r.start_date);
        if pathway == Pathway::Enabling && as_of > ends {
            lapsed.push((ReviewKind::EnablementOverrun, ends));
        }
        // A placement past both limits is two items; the row's text is copied only then.
        let Some(((kind, due), earlier)) = lapsed.split_last() else {
            return Ok(());
        };
        let item = |kind: ReviewKind, due: NaiveDate, r: ReviewSql| ReviewRow {
            kind,
            provider_id: r.provider_id,
            provider_name: r.provider_name,
            contract_id: r.contract_id,
            contract_reference: r.contract_reference,
            agreement_id: r.agreement_id,
            person_ref: r.person_ref,
            start_date: r.start_date,
            due,
            days_over: (as_of - due).num_days(),
            last_attended: r.last_attended,
        };
        for (kind, due) in earlier {
            each(item(*kind, *due, r.clone()))?;
        }
        each(item(*kind, *due, r))
    };
    crate::each_sql_by_position!(
        conn,
        &reviews_sql(provider_id.is_some(), contract_id.is_some()),
        ReviewColumns,
        [
            (Date, as_of),
            (Date, as_of),
            (Date, as_of),
            (Date, review_cutoff),
            (Date, enablement_cutoff),
            (Text, &p),
            (Text, &p),
            (Text, &c),
            (Text, &c)
        ],
        &mut item_of
    )
}

// ---------------------------------------------------------------------------------------
// Outcomes measured from registers

/// The SQL of the week measures of current, not rejected registers that start in a
/// quarter, a row a register, with its contract. Binds: the quarter's start and end,
/// contract twice, provider twice (`''` for all).
pub const REGISTER_WEEKS_SQL: &str = "\
SELECT s.contract_id AS contract_id, c.reference AS contract_reference, s.provider_id AS provider_id, \
       m.attending AS attending, m.in_community AS in_community, m.independence AS independence, \
       m.social_inclusion AS social_inclusion, m.wellbeing AS wellbeing, m.life_goals AS life_goals, \
       m.employment_volunteering_education AS employment_volunteering_education, \
       m.community_networks AS community_networks \
FROM submissions s \
JOIN register_week_measures m ON m.submission_id = s.id AND m.version = s.current_version \
JOIN contracts c ON c.id = s.contract_id \
WHERE s.kind = 'register' AND s.status <> 'rejected' AND s.period_start >= ? AND s.period_start <= ? \
  AND (? = '' OR s.contract_id = ?) AND (? = '' OR s.provider_id = ?)";

/// [`REGISTER_WEEKS_SQL`] for one contract's registers or all, one provider's or all
/// ([`optional_filters`]).
pub fn register_weeks_sql(by_contract: bool, by_provider: bool) -> String {
    optional_filters(
        REGISTER_WEEKS_SQL,
        &[
            ("s.contract_id", by_contract),
            ("s.provider_id", by_provider),
        ],
    )
}

/// A week's counts as the register measures' statements name them: the tags' columns
/// follow [`OutcomeTag::ALL`]. Read by name, or by position ([`WeekCountColumns`]).
#[derive(QueryableByName, Queryable)]
struct WeekCountsSql {
    #[diesel(sql_type = BigInt)]
    attending: i64,
    #[diesel(sql_type = BigInt)]
    in_community: i64,
    #[diesel(sql_type = BigInt)]
    independence: i64,
    #[diesel(sql_type = BigInt)]
    social_inclusion: i64,
    #[diesel(sql_type = BigInt)]
    wellbeing: i64,
    #[diesel(sql_type = BigInt)]
    life_goals: i64,
    #[diesel(sql_type = BigInt)]
    employment_volunteering_education: i64,
    #[diesel(sql_type = BigInt)]
    community_networks: i64,
}

/// The columns of [`WeekCountsSql`], in order.
type WeekCountColumns = (
    BigInt,
    BigInt,
    BigInt,
    BigInt,
    BigInt,
    BigInt,
    BigInt,
    BigInt,
);

impl WeekCountsSql {
    fn measures(&self) -> WeekMeasures {
        WeekMeasures {
            attending: self.attending,
            in_community: self.in_community,
            tagged: [
                self.independence,
                self.social_inclusion,
                self.wellbeing,
                self.life_goals,
                self.employment_volunteering_education,
                self.community_networks,
            ],
        }
    }
}

/// A row of [`REGISTER_WEEKS_SQL`].
#[derive(QueryableByName)]
struct WeekSql {
    #[diesel(sql_type = Text)]
    contract_id: String,
    #[diesel(sql_type = Text)]
    contract_reference: String,
    #[diesel(sql_type = Text)]
    provider_id: String,
    #[diesel(embed)]
    counts: WeekCountsSql,
}

/// What a contract's registers of a quarter show.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MeasuredRow {
    pub contract_id: String,
    pub contract_reference: String,
    pub provider_id: String,
    pub registers: RegisterOutcomes,
}

/// What each contract's registers of the quarter show (one contract's, or one
/// provider's, when given), by contract id; contracts without registers are absent.
pub fn register_outcomes(
    conn: &mut DbConnection,
    quarter: Quarter,
    contract_id: Option<&str>,
    provider_id: Option<&str>,
) -> Result<BTreeMap<String, MeasuredRow>, StoreError> {
    let c = contract_id.unwrap_or("").to_string();
    let p = provider_bind(provider_id);
    let weeks = crate::load_sql!(
        conn,
        &register_weeks_sql(contract_id.is_some(), provider_id.is_some()),
        WeekSql,
        [
            (Date, quarter.start()),
            (Date, quarter.end()),
            (Text, &c),
            (Text, &c),
            (Text, &p),
            (Text, &p)
        ]
    )?;
    let mut by_contract: BTreeMap<String, (String, String, Vec<WeekMeasures>)> = BTreeMap::new();
    for w in weeks {
        by_contract
            .entry(w.contract_id)
            .or_insert_with(|| (w.contract_reference, w.provider_id, Vec::new()))
            .2
            .push(w.counts.measures());
    }
    Ok(by_contract
        .into_iter()
        .map(|(contract_id, (contract_reference, provider_id, weeks))| {
            let row = MeasuredRow {
                contract_id: contract_id.clone(),
                contract_reference,
                provider_id,
                registers: RegisterOutcomes::measure(&weeks),
            };
            (contract_id, row)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement with an optional filter, and the columns it filters on.
    fn filtered() -> Vec<(String, Vec<&'static str>)> {
        let provider = vec!["s.provider_id"];
        vec![
            (counted_claims_sql(), provider.clone()),
            (
                crate::monitoring::actual_lines_sql(Backend::Sqlite),
                provider.clone(),
            ),
            (
                crate::monitoring::actual_lines_sql(Backend::Postgresql),
                provider.clone(),
            ),
            (
                crate::monitoring::AGREEMENT_COHORTS_SQL.to_string(),
                vec!["c.provider_id"],
            ),
            (KPI_SQL.to_string(), provider.clone()),
            (register_cohort_weeks_sql(Backend::Sqlite), provider.clone()),
            (
                register_cohort_weeks_sql(Backend::Postgresql),
                provider.clone(),
            ),
            (WORKBOOK_COHORTS_SQL.to_string(), provider.clone()),
            (COMPLIANCE_SQL.to_string(), provider.clone()),
            (COMPLIANCE_CODES_SQL.to_string(), provider),
            (
                REGISTER_WEEKS_SQL.to_string(),
                vec!["s.contract_id", "s.provider_id"],
            ),
            (
                REVIEWS_SQL.to_string(),
                vec!["c.provider_id", "a.contract_id"],
            ),
        ]
    }

    #[test]
    fn a_filter_not_asked_for_names_no_column_and_keeps_its_binds() {
        for (sql, columns) in filtered() {
            let asked: Vec<(&str, bool)> = columns.iter().map(|c| (*c, true)).collect();
            let unasked: Vec<(&str, bool)> = columns.iter().map(|c| (*c, false)).collect();
            let (everyone, filtered) = (
                optional_filters(&sql, &unasked),
                optional_filters(&sql, &asked),
            );
            assert_eq!(filtered, sql, "asked for, the filter is as written");
            for column in &columns {
                assert!(
                    !everyone.contains(&format!("{column} = ?")),
                    "{column} in {everyone}"
                );
            }
            assert_eq!(everyone.matches('?').count(), sql.matches('?').count());
        }
    }

    /// The check is a `debug_assert!`: a release build of the tests has nothing to catch.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "no optional filter")]
    fn a_statement_without_the_filter_is_a_mistake() {
        optional_filters("SELECT 1 WHERE ? = ?", &[("s.provider_id", false)]);
    }
}
