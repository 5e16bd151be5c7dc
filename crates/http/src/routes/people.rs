//! A person's timeline across providers (SPEC §6): commissioners and auditors only, since
//! it crosses every provider's records of the person.

use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use dayops_domain::agreement::is_person_ref;
use dayops_persistence::people::{self, Timeline};

use crate::auth::Overseer;
use crate::csv_export::{cell, csv_response, opt_cell, wants_csv, CsvRow};
use crate::extract::Query;
use crate::problem::{may, ApiError, Problems};
use crate::{run, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Only what happened on or after this date.
    pub period_from: Option<NaiveDate>,
    /// Only what happened on or before this date.
    pub period_to: Option<NaiveDate>,
}

/// One dated entry of a timeline, as a CSV row: the timeline's parts interleaved in date
/// order.
pub struct TimelineRow {
    date: NaiveDate,
    kind: &'static str,
    provider_id: String,
    contract_id: String,
    /// The agreement, register, claim or workbook the entry comes from.
    source_id: String,
    detail: String,
}

impl CsvRow for TimelineRow {
    fn headers() -> &'static [&'static str] {
        &[
            "date",
            "kind",
            "provider_id",
            "contract_id",
            "source_id",
            "detail",
        ]
    }

    fn record(&self) -> Vec<String> {
        vec![
            cell(self.date),
            self.kind.to_string(),
            self.provider_id.clone(),
            self.contract_id.clone(),
            self.source_id.clone(),
            self.detail.clone(),
        ]
    }
}

/// The timeline's parts as dated rows, in date order (a part's own order within a date).
fn rows(t: &Timeline) -> Vec<TimelineRow> {
    let mut rows = Vec::new();
    for p in &t.placements {
        let row = |date, kind, detail: String| TimelineRow {
            date,
            kind,
            provider_id: p.provider_id.clone(),
            contract_id: p.contract_id.clone(),
            source_id: p.agreement_id.clone(),
            detail,
        };
        rows.push(row(
            p.start_date,
            "placement_started",
            format!(
                "{} {} ({}), {}, funding {}",
                p.provider_name, p.contract_reference, p.service_type, p.pathway, p.funding
            ),
        ));
        for band in &p.need_bands {
            rows.push(row(band.from, "band_assessed", band.band.clone()));
        }
        for s in &p.suspensions {
            rows.push(row(
                s.from,
                "suspended",
                format!("to {}: {}", s.to, s.reason),
            ));
        }
        if let Some(end) = p.end_date {
            rows.push(row(end, "placement_ended", String::new()));
        }
    }
    for w in &t.attendance {
        let tags: Vec<&str> = w.outcome_tags.iter().map(|t| t.as_str()).collect();
        rows.push(TimelineRow {
            date: w.week_start,
            kind: "attendance_week",
            provider_id: w.provider_id.clone(),
            contract_id: w.contract_id.clone(),
            source_id: w.register_id.clone(),
            detail: format!(
                "{} attended ({} in the community), {} absent, {} cancelled; outcomes: {}",
                w.sessions_attended,
                w.sessions_in_community,
                w.absences.len(),
                w.provider_cancelled,
                tags.join(" ")
            ),
        });
        for a in &w.absences {
            rows.push(TimelineRow {
                date: a.date,
                kind: "absence",
                provider_id: w.provider_id.clone(),
                contract_id: w.contract_id.clone(),
                source_id: w.register_id.clone(),
                detail: format!(
                    "{} {} notice {}h",
                    a.session_type,
                    opt_cell(a.absence_reason),
                    opt_cell(a.notice_hours)
                ),
            });
        }
    }
    for l in &t.claim_lines {
        rows.push(TimelineRow {
            date: l.date,
            kind: "claim_line",
            provider_id: l.provider_id.clone(),
            contract_id: l.contract_id.clone(),
            source_id: l.claim_id.clone(),
            detail: format!(
                "{} {} x{} at {}: {} pence, claim {}{}",
                l.item,
                opt_cell(l.session_type),
                l.accepted_quantity.as_f64(),
                l.need_band,
                l.accepted_amount_pence,
                l.claim_status,
                l.paid_on
                    .map(|d| format!(", paid on {d}"))
                    .unwrap_or_default()
            ),
        });
    }
    for o in &t.outcomes {
        rows.push(TimelineRow {
            // Dated at the quarter's start, from its name.
            date: dayops_domain::workbook::Quarter::parse(&o.quarter)
                .map_or(NaiveDate::MIN, |q| q.start()),
            kind: "outcome",
            provider_id: o.provider_id.clone(),
            contract_id: o.contract_id.clone(),
            source_id: o.workbook_id.clone(),
            detail: format!("{} {}: {}", o.quarter, o.domain, o.status),
        });
    }
    rows.sort_by_key(|r| r.date);
    rows
}

/// Everything the council holds about one person, across every provider: placements
/// (with each assessed band and suspension), attendance by week from the current version
/// of each register (sessions attended and in the community, absences with their reasons,
/// sessions the provider cancelled, outcome tags), priced claim lines from the current
/// version of each claim with its status and payment, and the outcomes the quarterly
/// workbooks record. Each part is in date order; with `Accept: text/csv` the parts come
/// interleaved as one dated row each. A person of whom nothing is held in the period is
/// 404. Commissioners and auditors only.
#[utoipa::path(
    operation_id = "get_person_timeline",
    tag = "reports",
    params(
        ("person_ref" = String, Path, description = "The council's person identifier", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        TimelineQuery,
    ),
    responses(
        (status = 200, description = "The timeline, or with `Accept: text/csv` its dated rows",
            content((Timeline = "application/json"), (String = "text/csv"))),
        Problems<{ may::ROLE | may::FIND | may::QUERY }>,
    )
)]
#[get("/v1/people/{person_ref}")]
pub async fn timeline(
    _: Overseer,
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    Query(query): Query<TimelineQuery>,
) -> Result<HttpResponse, ApiError> {
    let person_ref = path.into_inner();
    if !is_person_ref(&person_ref) {
        return Err(ApiError::not_found());
    }
    let (from, to) = super::date_bounds(query.period_from, query.period_to);
    let timeline = run(&state, move |conn| {
        Ok(people::timeline(conn, &person_ref, from, to)?)
    })
    .await?;
    if timeline.is_empty() {
        return Err(ApiError::not_found());
    }
    if wants_csv(&req) {
        return csv_response(&rows(&timeline));
    }
    Ok(HttpResponse::Ok().json(timeline))
}
