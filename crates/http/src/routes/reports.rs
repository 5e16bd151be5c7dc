//! The council's reports (SPEC §6): spend, budget monitoring, KPIs, compliance and time
//! limits. Providers see their own
//! rows; commissioners and auditors see all. Each answers `text/csv` when asked.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use dayops_domain::kpi::{self, KpiDefinition};
use dayops_domain::outcomes::CohortOutcomes;
use dayops_domain::report::FinancialYear;
use dayops_domain::workbook::Quarter;
use dayops_domain::FieldError;
use dayops_persistence::monitoring::{self, BudgetRow, UnitCostRow};
use dayops_persistence::reports::{self, ComplianceRow, KpiRow, MeasuredRow, ReviewRow, SpendRow};
use dayops_persistence::StoreError;

use crate::auth::Principal;
use crate::csv_export::{cell, csv_response, opt_cell, wants_csv, CsvRow};
use crate::extract::Query;
use crate::problem::{may, ApiError, Problems};
use crate::{run, run_shares, AppState};
use dayops_persistence::contracts::{id_shares, in_force_during};

/// The rows of a report, or with `Accept: text/csv` the same rows as CSV.
fn answer<T: CsvRow, R: Serialize>(
    req: &HttpRequest,
    wrap: impl FnOnce(Vec<T>) -> R,
    rows: Vec<T>,
) -> Result<HttpResponse, ApiError> {
    if wants_csv(req) {
        return csv_response(&rows);
    }
    // Sized up front: a report can run to megabytes, and growing the buffer copies it.
    let capacity = 256 + rows.len() * 512;
    Ok(json_response(write_json(&wrap(rows), capacity)?))
}

/// A report written as JSON into a buffer of `capacity` bytes to start with.
fn write_json(report: &impl Serialize, capacity: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut body, report)
        .map_err(|e| ApiError::Internal(format!("writing a report: {e}")))?;
    Ok(body)
}

/// A report's JSON as the answer.
fn json_response(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body)
}

/// Rows handed from the thread reading them to the thread writing them, a batch at once.
const BATCH: usize = 1024;

/// A report's items, written as a JSON array as their batches arrive from the thread
/// reading them; the array ends when that thread is done (or has failed, and then the
/// answer is its error, not this).
struct Arriving<T>(std::cell::RefCell<Option<std::sync::mpsc::Receiver<Vec<T>>>>);

impl<T: Serialize> Serialize for Arriving<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut items = serializer.serialize_seq(None)?;
        for batch in self.0.borrow_mut().take().into_iter().flatten() {
            for item in &batch {
                items.serialize_element(item)?;
            }
        }
        items.end()
    }
}

/// The report as [`answer`] gives it, but its JSON written on a blocking thread of its own
/// while `read` is still reading the rows on another: the reviews report's 30,000 rows
/// were written after they had all been read, a sixth of its time (CSV is still written
/// after).
async fn answer_as_read<T, R>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    wrap: impl FnOnce(Arriving<T>) -> R + Send + 'static,
    read: impl FnOnce(
            &mut dayops_persistence::DbConnection,
            &mut dyn FnMut(T) -> Result<(), StoreError>,
        ) -> Result<(), StoreError>
        + Send
        + 'static,
) -> Result<HttpResponse, ApiError>
where
    T: CsvRow + Serialize + Send + 'static,
    R: Serialize,
{
    if wants_csv(req) {
        let rows = run(state, move |conn| {
            let mut rows = Vec::new();
            read(conn, &mut |row| {
                rows.push(row);
                Ok(())
            })?;
            Ok(rows)
        })
        .await?;
        return csv_response(&rows);
    }
    let (batches, arriving) = std::sync::mpsc::channel::<Vec<T>>();
    let writer = crate::off_the_workers(move || {
        write_json(&wrap(Arriving(Some(arriving).into())), BATCH * 512)
    });
    let reader = run(state, move |conn| {
        let mut batch = Vec::with_capacity(BATCH);
        // A send fails only when the writer has failed, whose error is then the answer.
        read(conn, &mut |row| {
            batch.push(row);
            if batch.len() == BATCH {
                let _ = batches.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
            Ok(())
        })?;
        let _ = batches.send(batch);
        Ok(())
    });
    // The reader is polled, and so queued on the blocking pool, before the writer: the
    // pool starts its tasks in order, so no writer holds a thread waiting on a reader
    // that has none (and the channel is unbounded, so the reader never waits on it).
    let (read, written) = futures_util::future::join(reader, writer).await;
    read?;
    Ok(json_response(written?))
}

// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpendQuery {
    /// The UK financial year by its starting year: `2025` is April 2025 to March 2026.
    #[param(example = 2025, minimum = 2000, maximum = 2100)]
    pub financial_year: i32,
}

/// The year asked for, within the years the council reports on.
fn financial_year(query: &SpendQuery) -> Result<FinancialYear, ApiError> {
    if !(2000..=2100).contains(&query.financial_year) {
        return Err(ApiError::invalid(vec![FieldError::new(
            "/query/financial_year",
            "must be a year from 2000 to 2100",
        )]));
    }
    Ok(FinancialYear(query.financial_year))
}

/// The machine's cores: the shares a report that reads a nation's claim lines is split
/// into ([`id_shares`]).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Spend per contract for a financial year.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpendReport {
    pub financial_year: i32,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub items: Vec<SpendRow>,
}

impl CsvRow for SpendRow {
    fn headers() -> &'static [&'static str] {
        &[
            "contract_id",
            "contract_reference",
            "provider_id",
            "budget_pence",
            "approved_pence",
            "paid_pence",
            "pending_pence",
            "forecast_pence",
            "variance_pence",
            "claimed_to",
            "by_need_band",
            "by_month",
        ]
    }

    fn record(&self) -> Vec<String> {
        let bands: Vec<String> = self
            .by_need_band
            .iter()
            .map(|b| format!("{} {} ({}%)", b.need_band, b.amount_pence, b.share_pct))
            .collect();
        let months: Vec<String> = self
            .by_month
            .iter()
            .map(|m| {
                format!(
                    "{} {}/{}/{}",
                    m.month, m.approved_pence, m.paid_pence, m.pending_pence
                )
            })
            .collect();
        vec![
            self.contract_id.clone(),
            self.contract_reference.clone(),
            self.provider_id.clone(),
            opt_cell(self.budget_pence),
            cell(self.approved_pence),
            cell(self.paid_pence),
            cell(self.pending_pence),
            cell(self.forecast_pence),
            opt_cell(self.variance_pence),
            opt_cell(self.claimed_to),
            bands.join("; "),
            months.join("; "),
        ]
    }
}

/// Spend against budget per contract: approved (including paid), paid, pending (accepted,
/// awaiting decision), a run-rate forecast for the year (approved and pending, scaled
/// from the days claimed to the whole year), the variance against the year's budget
/// (positive is an overspend; none for a year without a budget), spend by month of
/// service and the share of spend by the need band each line is priced at. Every priced
/// line counts in the financial year and month of its service date, so a claim period
/// that crosses 31 March is split between the two years.
#[utoipa::path(
    operation_id = "report_spend",
    tag = "reports",
    params(SpendQuery),
    responses(
        (status = 200, description = "The report, or with `Accept: text/csv` its items (bands and months each folded into one cell; months as `YYYY-MM approved/paid/pending`)",
            content((SpendReport = "application/json"), (String = "text/csv"))),
        Problems<{ may::QUERY }>,
    )
)]
#[get("/v1/reports/spend")]
pub async fn spend(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<SpendQuery>,
) -> Result<HttpResponse, ApiError> {
    let year = financial_year(&query)?;
    let scope = principal.own_provider().map(str::to_string);
    let contracts = {
        let scope = scope.clone();
        run(&state, move |conn| {
            Ok(reports::spend_contracts(conn, year, scope.as_deref())?)
        })
        .await?
    };
    // The year's claim lines are read in shares of the contracts, each on a connection
    // and a core of its own.
    let ids: Vec<&str> = contracts.iter().map(|c| c.0.as_str()).collect();
    let shares = id_shares(&ids, cores());
    let spent = run_shares(&state, shares, move |conn, share| {
        Ok(reports::spend_share(conn, year, scope.as_deref(), &share)?)
    })
    .await?;
    let rows = crate::off_the_workers(move || reports::spend_rows(year, contracts, spent)).await?;
    answer(
        &req,
        |items| SpendReport {
            financial_year: year.0,
            period_start: year.start(),
            period_end: year.end(),
            items,
        },
        rows,
    )
}

// ---------------------------------------------------------------------------------------

/// The KPIs a workbook computes: the only codes a contract's `kpi_targets` may name.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiCatalogue {
    pub items: Vec<KpiDefinition>,
}

impl CsvRow for KpiDefinition {
    fn headers() -> &'static [&'static str] {
        &["code", "measures", "unit"]
    }

    fn record(&self) -> Vec<String> {
        vec![
            self.code.to_string(),
            self.measures.to_string(),
            self.unit.as_str().to_string(),
        ]
    }
}

/// Every KPI a quarterly workbook computes, with what it measures: the percentages the
/// council sets targets on, the share of person outcomes achieved or progressing, and
/// each measure as itself. Any role may read it.
#[utoipa::path(
    operation_id = "list_kpis",
    tag = "reports",
    responses(
        (status = 200, description = "The catalogue, or with `Accept: text/csv` its items",
            content((KpiCatalogue = "application/json"), (String = "text/csv"))),
        Problems<{ may::NO_DATABASE }>,
    )
)]
#[get("/v1/kpis")]
pub async fn kpi_catalogue(
    _principal: Principal,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    answer(&req, |items| KpiCatalogue { items }, kpi::kpi_catalogue())
}

// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiQuery {
    /// `YYYY-Qn` of the UK financial year.
    #[param(inline, example = "2025-Q3")]
    pub quarter: Quarter,
}

/// KPIs of a quarter's workbooks against the contracts' targets.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiReport {
    pub quarter: String,
    pub items: Vec<KpiRow>,
    /// What each contract's registers of the quarter show, measured from their lines:
    /// community access in an average week and outcome tags by domain.
    pub registers: Vec<MeasuredRow>,
    /// The same measures by cohort (the primary support reason and the funding of each
    /// person's agreement), with the workbooks' person outcomes achieved or progressing.
    pub cohorts: Vec<CohortOutcomes>,
}

impl CsvRow for KpiRow {
    fn headers() -> &'static [&'static str] {
        &[
            "contract_id",
            "contract_reference",
            "provider_id",
            "workbook_id",
            "version",
            "status",
            "code",
            "value",
            "target",
            "amber_below",
            "rag",
            "measured_from_registers",
        ]
    }

    fn record(&self) -> Vec<String> {
        vec![
            self.contract_id.clone(),
            self.contract_reference.clone(),
            self.provider_id.clone(),
            self.workbook_id.clone(),
            cell(self.version),
            cell(self.status),
            self.code.clone(),
            cell(self.value),
            cell(self.target),
            cell(self.amber_below),
            self.rag.as_str().to_string(),
            opt_cell(self.measured_from_registers),
        ]
    }
}

/// Each KPI of each contract's workbook for the quarter (the current version, unless
/// rejected) against its target, red, amber or green, as stored when it was submitted;
/// beside it, where registers measure the same thing, the figure the quarter's registers
/// show (`measured_from_registers`: community access in an average week, or the share of
/// attenders tagged with the outcome). `registers` holds each contract's measures in
/// full: weeks, people attending, community access and every outcome tag. `cohorts`
/// breaks the same measures down by the primary support reason and by the funding of
/// each attender's agreement on the contract (as it stands now; `not_recorded` and
/// `commissioned` without one), summed over contracts week by week, with the share of
/// the workbooks' person outcomes achieved or progressing. WBK-009 warns a workbook
/// whose community access is more than 10 points from its registers'. CSV carries the
/// items.
#[utoipa::path(
    operation_id = "report_kpis",
    tag = "reports",
    params(KpiQuery),
    responses(
        (status = 200, description = "The report, or with `Accept: text/csv` its items",
            content((KpiReport = "application/json"), (String = "text/csv"))),
        Problems<{ may::QUERY }>,
    )
)]
#[get("/v1/reports/kpis")]
pub async fn kpis(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<KpiQuery>,
) -> Result<HttpResponse, ApiError> {
    let quarter = query.quarter;
    let scope = principal.own_provider().map(str::to_string);
    let figures = run(&state, move |conn| {
        Ok(reports::kpis(conn, quarter, scope.as_deref())?)
    })
    .await?;
    let (registers, cohorts) = (figures.registers, figures.cohorts);
    answer(
        &req,
        |items| KpiReport {
            quarter: quarter.to_string(),
            items,
            registers,
            cohorts,
        },
        figures.items,
    )
}

// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// Submissions whose period starts on or after this date.
    pub period_from: Option<NaiveDate>,
    /// Submissions whose period starts on or before this date.
    pub period_to: Option<NaiveDate>,
}

/// Compliance per provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceReport {
    pub items: Vec<ComplianceRow>,
}

impl CsvRow for ComplianceRow {
    fn headers() -> &'static [&'static str] {
        &[
            "provider_id",
            "provider_name",
            "submissions",
            "passed_first_time",
            "first_time_pass_rate_pct",
            "late_submissions",
            "most_frequent_findings",
        ]
    }

    fn record(&self) -> Vec<String> {
        let codes: Vec<String> = self
            .most_frequent_findings
            .iter()
            .map(|c| format!("{} {}", c.code, c.occurrences))
            .collect();
        vec![
            self.provider_id.clone(),
            self.provider_name.clone(),
            cell(self.submissions),
            cell(self.passed_first_time),
            cell(self.first_time_pass_rate_pct),
            cell(self.late_submissions),
            codes.join("; "),
        ]
    }
}

/// Per provider: submissions, the share whose first version was not rejected, how many
/// were first submitted late (SUB-002), and the five most frequent finding codes over
/// every version.
#[utoipa::path(
    operation_id = "report_compliance",
    tag = "reports",
    params(ComplianceQuery),
    responses(
        (status = 200, description = "The report, or with `Accept: text/csv` its items (codes folded into one cell)",
            content((ComplianceReport = "application/json"), (String = "text/csv"))),
        Problems<{ may::QUERY }>,
    )
)]
#[get("/v1/reports/compliance")]
pub async fn compliance(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<ComplianceQuery>,
) -> Result<HttpResponse, ApiError> {
    let (from, to) = super::date_bounds(query.period_from, query.period_to);
    let scope = principal.own_provider().map(str::to_string);
    let rows = run(&state, move |conn| {
        Ok(reports::compliance(conn, from, to, scope.as_deref())?)
    })
    .await?;
    answer(&req, |items| ComplianceReport { items }, rows)
}

// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewsQuery {
    /// The day the limits are measured on; today when not given.
    pub as_of: Option<NaiveDate>,
    /// One provider's placements (a provider sees only its own).
    pub provider_id: Option<String>,
    /// One contract's placements.
    pub contract_id: Option<String>,
}

/// Placements past a time limit on a day.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewsReport {
    pub as_of: NaiveDate,
    pub items: Vec<ReviewRow>,
}

/// [`ReviewsReport`] as it is written, its items as they are read (a test holds the two to
/// the same JSON).
#[derive(Serialize)]
struct ArrivingReviews {
    as_of: NaiveDate,
    items: Arriving<ReviewRow>,
}

impl CsvRow for ReviewRow {
    fn headers() -> &'static [&'static str] {
        &[
            "kind",
            "provider_id",
            "provider_name",
            "contract_id",
            "contract_reference",
            "agreement_id",
            "person_ref",
            "start_date",
            "due",
            "days_over",
            "last_attended",
        ]
    }

    fn record(&self) -> Vec<String> {
        vec![
            self.kind.as_str().to_string(),
            self.provider_id.clone(),
            self.provider_name.clone(),
            self.contract_id.clone(),
            self.contract_reference.clone(),
            self.agreement_id.clone(),
            self.person_ref.clone(),
            cell(self.start_date),
            cell(self.due),
            cell(self.days_over),
            opt_cell(self.last_attended),
        ]
    }
}

/// Placements in force on the day that are past a time limit, by provider, contract and
/// person: care plan reviews more than 28 days overdue (`review_overdue`, as REG-013
/// warns on registers) and enabling placements past their twelve weeks
/// (`enablement_overrun`, as AGR-007 warns), each with how many days over and the
/// person's latest attended session on the contract. A placement past both limits is
/// listed twice, once for each. Providers see their own placements.
#[utoipa::path(
    operation_id = "report_reviews",
    tag = "reports",
    params(ReviewsQuery),
    responses(
        (status = 200, description = "The report, or with `Accept: text/csv` its items",
            content((ReviewsReport = "application/json"), (String = "text/csv"))),
        Problems<{ may::QUERY }>,
    )
)]
#[get("/v1/reports/reviews")]
pub async fn reviews(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<ReviewsQuery>,
) -> Result<HttpResponse, ApiError> {
    let as_of = query.as_of.unwrap_or_else(super::submissions::today);
    let Some(provider) = super::provider_filter(&principal, query.provider_id) else {
        return answer(&req, |items| ReviewsReport { as_of, items }, Vec::new());
    };
    let contract = query.contract_id;
    answer_as_read(
        &state,
        &req,
        move |items| ArrivingReviews { as_of, items },
        move |conn, each| {
            reports::reviews_each(conn, as_of, provider.as_deref(), contract.as_deref(), each)
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------

/// Budget monitoring for a financial year.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetReport {
    pub financial_year: i32,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    /// Contracts in reference order, then service types, the council, and the cohorts by
    /// primary support reason and by funding.
    pub items: Vec<BudgetRow>,
}

impl CsvRow for BudgetRow {
    fn headers() -> &'static [&'static str] {
        &[
            "scope",
            "key",
            "contract_id",
            "provider_id",
            "budget_pence",
            "actual_pence",
            "actual_to",
            "committed_pence",
            "forecast_pence",
            "run_rate_forecast_pence",
            "variance_pence",
            "volume_variance_pence",
            "mix_variance_pence",
            "price_variance_pence",
            "funded_person_years",
            "people_at_baseline",
            "periods",
        ]
    }

    fn record(&self) -> Vec<String> {
        let periods: Vec<String> = self
            .periods
            .iter()
            .map(|p| {
                format!(
                    "P{} {} {}/{}",
                    p.period, p.month, p.actual_pence, p.committed_pence
                )
            })
            .collect();
        vec![
            self.scope.as_str().to_string(),
            self.key.clone(),
            self.contract_id.clone().unwrap_or_default(),
            self.provider_id.clone().unwrap_or_default(),
            opt_cell(self.budget_pence),
            cell(self.actual_pence),
            opt_cell(self.actual_to),
            cell(self.committed_pence),
            cell(self.forecast_pence),
            opt_cell(self.run_rate_forecast_pence),
            opt_cell(self.variance_pence),
            opt_cell(self.volume_variance_pence),
            opt_cell(self.mix_variance_pence),
            opt_cell(self.price_variance_pence),
            cell(self.funded_person_years),
            cell(self.people_at_baseline),
            periods.join("; "),
        ]
    }
}

/// Budget monitoring as a finance business partner reports it, per contract, per service
/// type, for the council and by cohort (primary support reason, funding): the budget;
/// actuals (approved, paid and pending claims) by month of service, periods 1 (April) to
/// 12 (March); commitments (the current agreements' planned sessions, one-to-one hours,
/// transport and meals, priced at the rates and assessed bands in force on each date from
/// the day after the actuals to 31 March, net of suspensions, end dates, closures and bank
/// holidays); the forecast (actuals plus commitments) beside the run-rate; and the
/// variance against budget split into volume (people), mix (need bands) and price (rate
/// versions), which sum to it exactly. The method is in `docs/decisions.md`. Providers
/// see their own contracts.
#[utoipa::path(
    operation_id = "report_budget",
    tag = "reports",
    params(SpendQuery),
    responses(
        (status = 200, description = "The report, or with `Accept: text/csv` its items (periods folded into one cell as `Pn YYYY-MM actual/committed`)",
            content((BudgetReport = "application/json"), (String = "text/csv"))),
        Problems<{ may::QUERY }>,
    )
)]
#[get("/v1/reports/budget")]
pub async fn budget(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<SpendQuery>,
) -> Result<HttpResponse, ApiError> {
    let year = financial_year(&query)?;
    let scope = principal.own_provider().map(str::to_string);
    let contracts = {
        let scope = scope.clone();
        run(&state, move |conn| {
            Ok(monitoring::budget_contracts(conn, year, scope.as_deref())?)
        })
        .await?
    };
    // The contracts are read and priced in shards, each on a connection and a core of its
    // own (see `monitoring::budget_shards`).
    let shards = monitoring::budget_shards(&contracts, scope.is_some(), cores());
    let contracts = std::sync::Arc::new(contracts);
    let priced = {
        let contracts = contracts.clone();
        run_shares(&state, shards, move |conn, shard| {
            Ok(monitoring::price_budget_shard(
                conn,
                year,
                &contracts,
                &shard,
                scope.as_deref(),
            )?)
        })
        .await?
    };
    // The report's arithmetic (thousands of contracts) is done off the workers too.
    let rows =
        crate::off_the_workers(move || monitoring::budget_rows(year, &contracts, priced)).await?;
    answer(
        &req,
        |items| BudgetReport {
            financial_year: year.0,
            period_start: year.start(),
            period_end: year.end(),
            items,
        },
        rows,
    )
}

// ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UnitCostQuery {
    /// The first day of service counted.
    #[param(example = "2026-04-01")]
    pub period_from: NaiveDate,
    /// The last day of service counted.
    #[param(example = "2026-06-30")]
    pub period_to: NaiveDate,
}

/// Hours delivered and cost per hour over a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitCostReport {
    pub period_from: NaiveDate,
    pub period_to: NaiveDate,
    /// By service type and band, by service type, by primary support reason, by funding,
    /// then the council.
    pub items: Vec<UnitCostRow>,
}

impl CsvRow for UnitCostRow {
    fn headers() -> &'static [&'static str] {
        &[
            "scope",
            "service_type",
            "need_band",
            "primary_support_reason",
            "funding",
            "hours_delivered",
            "cost_pence",
            "cost_per_hour_pence",
        ]
    }

    fn record(&self) -> Vec<String> {
        vec![
            self.scope.as_str().to_string(),
            self.service_type
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            self.need_band.clone().unwrap_or_default(),
            self.primary_support_reason.clone().unwrap_or_default(),
            self.funding.clone().unwrap_or_default(),
            cell(self.hours_delivered),
            cell(self.cost_pence),
            opt_cell(self.cost_per_hour_pence),
        ]
    }
}

/// What an hour of day opportunity costs: for service from `period_from` to
/// `period_to` (claims approved, paid or pending, by each line's service date), the hours
/// delivered (sessions at their contract's length plus one-to-one hours) and what they
/// cost (every accepted amount, transport and meals included), with the cost per hour, by
/// service type and the band each line is priced at, by service type, by the people's
/// primary support reason and funding, and for the council. Providers see their own. A
/// period that ends before it starts holds nothing.
#[utoipa::path(
    operation_id = "report_unit_costs",
    tag = "reports",
    params(UnitCostQuery),
    responses(
        (status = 200, description = "The report, or with `Accept: text/csv` its items",
            content((UnitCostReport = "application/json"), (String = "text/csv"))),
        Problems<{ may::QUERY }>,
    )
)]
#[get("/v1/reports/unit-costs")]
pub async fn unit_costs(
    principal: Principal,
    req: HttpRequest,
    state: web::Data<AppState>,
    Query(query): Query<UnitCostQuery>,
) -> Result<HttpResponse, ApiError> {
    // A period that ends before it starts holds no service: an empty report, as the
    // compliance report answers such a period.
    let (from, to) = (query.period_from, query.period_to);
    let scope = principal.own_provider().map(str::to_string);
    let contracts = {
        let scope = scope.clone();
        run(&state, move |conn| {
            Ok(in_force_during(conn, from, to, scope.as_deref())?)
        })
        .await?
    };
    // The period's claim lines are read in shares of the contracts, as the spend report's.
    let ids: Vec<&str> = contracts.iter().map(|c| c.id.as_str()).collect();
    let shares = id_shares(&ids, cores());
    let summed = run_shares(&state, shares, move |conn, share| {
        Ok(monitoring::unit_cost_share(
            conn,
            from,
            to,
            scope.as_deref(),
            &share,
        )?)
    })
    .await?;
    let rows = crate::off_the_workers(move || {
        Ok::<_, ApiError>(monitoring::unit_cost_rows(&contracts, summed))
    })
    .await?;
    answer(
        &req,
        |items| UnitCostReport {
            period_from: from,
            period_to: to,
            items,
        },
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dayops_domain::report::ReviewKind;

    fn review(i: usize) -> ReviewRow {
        let day = |d: &str| d.parse::<NaiveDate>().unwrap();
        ReviewRow {
            kind: if i.is_multiple_of(2) {
                ReviewKind::ReviewOverdue
            } else {
                ReviewKind::EnablementOverrun
            },
            provider_id: format!("p-{i}"),
            provider_name: "Day \"Services\" \u{e9}".to_string(),
            contract_id: format!("c-{i}"),
            contract_reference: format!("NCC-{i}"),
            agreement_id: format!("a-{i}"),
            person_ref: format!("N-{i}"),
            start_date: day("2025-04-01"),
            due: day("2026-01-15"),
            days_over: i as i64,
            last_attended: (!i.is_multiple_of(3)).then(|| day("2026-11-27")),
        }
    }

    /// The reviews report written as its rows arrive, in batches or none, is the same
    /// JSON as the report its OpenAPI document describes.
    #[test]
    fn arriving_reviews_are_written_as_the_report_is() {
        let as_of: NaiveDate = "2026-11-30".parse().unwrap();
        for batches in [vec![], vec![0], vec![3], vec![2, 0, 5]] {
            let rows: Vec<ReviewRow> = (0..batches.iter().sum()).map(review).collect();
            let (send, arriving) = std::sync::mpsc::channel();
            let mut at = 0;
            for size in &batches {
                send.send(rows[at..at + size].to_vec()).unwrap();
                at += size;
            }
            drop(send);
            let written = serde_json::to_string(&ArrivingReviews {
                as_of,
                items: Arriving(Some(arriving).into()),
            })
            .unwrap();
            let report = serde_json::to_string(&ReviewsReport { as_of, items: rows }).unwrap();
            assert_eq!(written, report);
        }
    }
}
