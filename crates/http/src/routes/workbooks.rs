//! `/v1/workbooks`: quarterly monitoring returns, as JSON or as the council's XLSX template
//! filled in.

use actix_web::http::header;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use dayops_domain::finding::Report;
use dayops_domain::submission::SubmissionKind;
use dayops_domain::workbook::{
    CaseStudy, KpiResult, Measures, PersonOutcome, Quarter, WorkbookInput,
};
use dayops_persistence::pipeline::Prepared;
use dayops_persistence::submissions::{self, StoredVersion};
use dayops_persistence::workbooks::{self, Workbooks};
use dayops_persistence::DbConnection;
use dayops_persistence::StoreError;

use super::submissions::{idempotency_key, if_match, SubmissionReceipt};
use crate::auth::{Principal, Submitter};
use crate::budget::PARSED_ANSWER_WEIGHT;
use crate::extract::{media_type, parse_json, read_body, Query};
use crate::pipeline::AnswerPieces;
use crate::problem::{may, ApiError, ProblemKind, Problems};
use crate::xlsx_workbook::{self, SheetMap, TemplateContent, XLSX_MEDIA_TYPE};
use crate::{pipeline, run, AppState};

const KIND: SubmissionKind = SubmissionKind::Workbook;

/// A version of a workbook: the envelope, its content and its KPI results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Workbook {
    #[serde(flatten)]
    pub receipt: SubmissionReceipt,
    pub quarter: Quarter,
    pub template_version: String,
    pub measures: Measures,
    pub person_outcomes: Vec<PersonOutcome>,
    pub case_studies: Vec<CaseStudy>,
    pub acknowledged_warnings: Vec<String>,
    /// Each KPI target of the contract against this return, red, amber or green.
    pub kpis: Vec<KpiResult>,
}

/// An XLSX file.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct XlsxFile(pub Vec<u8>);

/// A workbook as posted: JSON, or the XLSX template filled in (with where each part of it
/// stands in the spreadsheet).
struct Posted {
    workbook: WorkbookInput,
    sheets: Option<SheetMap>,
}

/// The workbook version; for a spreadsheet its findings point at sheet, row and column.
fn workbook_version(
    stored: &StoredVersion,
    body: WorkbookInput,
    kpis: Vec<KpiResult>,
    sheets: Option<&SheetMap>,
) -> Workbook {
    let mut receipt = SubmissionReceipt::of(stored);
    if let Some(sheets) = sheets {
        let findings = std::mem::take(&mut receipt.envelope.validation.findings);
        receipt.envelope.validation.findings = sheets.repoint(findings);
    }
    Workbook {
        receipt,
        quarter: body.quarter,
        template_version: body.template_version,
        measures: body.measures,
        person_outcomes: body.person_outcomes,
        case_studies: body.case_studies,
        acknowledged_warnings: body.acknowledged_warnings,
        kpis,
    }
}

/// A stored workbook version, read back.
fn document(stored: &StoredVersion, kpis: Vec<KpiResult>) -> Result<Workbook, StoreError> {
    let body: WorkbookInput = serde_json::from_str(&stored.body)
        .map_err(|e| StoreError::Corrupt(format!("stored workbook body: {e}")))?;
    Ok(workbook_version(stored, body, kpis, None))
}

/// The answer to a create or an amendment: the version about to be stored.
fn prepared_json(
    prepared: &Prepared<'_, Workbooks>,
    sheets: Option<&SheetMap>,
) -> Result<String, ApiError> {
    let mut workbook = workbook_version(
        &prepared.version,
        prepared.input.clone(),
        prepared.assessment.1.clone(),
        sheets,
    );
    workbook.receipt.audit_event_id = Some(prepared.audit_event_id.clone());
    pipeline::json(&workbook)
}

async fn read_workbook(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Posted, web::BytesMut), ApiError> {
    let xlsx = match media_type(req).as_deref() {
        Some("application/json") => false,
        Some(XLSX_MEDIA_TYPE) => true,
        other => {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                format!(
                    "expected application/json or {XLSX_MEDIA_TYPE}, got {}",
                    other.unwrap_or("no content type")
                ),
            ))
        }
    };
    let bytes = read_body(req, &mut payload.into_inner()).await?;
    let posted = if xlsx {
        // Unzipping and reading a spreadsheet is CPU work: off the actix worker.
        let file = bytes.clone().freeze();
        let (workbook, sheets) = crate::off_the_workers(move || xlsx_workbook::read(&file)).await?;
        Posted {
            workbook,
            sheets: Some(sheets),
        }
    } else {
        Posted {
            workbook: parse_json(&bytes)?,
            sheets: None,
        }
    };
    Ok((posted, bytes))
}

const WORKBOOK_BODY: &str = "A workbook as JSON, or the council's XLSX template (`GET /v1/workbooks/template`) filled in; findings on a spreadsheet point at `/sheets/<sheet>/rows/<row>/columns/<column>`";

/// Submit a quarter's workbook; stored whatever its findings (201), with its KPI results.
#[utoipa::path(
    operation_id = "create_workbook",
    tag = "workbooks",
    params(("Idempotency-Key" = String, Header, description = "Required; replays the stored response for the same request")),
    request_body(description = WORKBOOK_BODY, content((WorkbookInput = "application/json"), (XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
    responses((status = 201, body = Workbook, headers(("ETag" = String), ("Location" = String))), Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT | may::IDEMPOTENT }>)
)]
#[post("/v1/workbooks")]
pub async fn create(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let (posted, bytes) = read_workbook(&req, payload).await?;
    let sheets = posted.sheets;
    pipeline::create::<Workbooks, _>(
        &state,
        &req,
        &principal,
        (key, &bytes),
        posted.workbook,
        move |prepared| prepared_json(prepared, sheets.as_ref()),
    )
    .await
}

/// Validate a workbook; nothing is stored.
#[utoipa::path(
    operation_id = "validate_workbook",
    tag = "workbooks",
    request_body(description = WORKBOOK_BODY, content((WorkbookInput = "application/json"), (XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
    responses((status = 200, body = Report), Problems<{ may::ROLE | may::FIND | may::BODY }>)
)]
#[post("/v1/workbooks/validate")]
pub async fn validate(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (posted, _) = read_workbook(&req, payload).await?;
    let (_, (mut report, _)) =
        pipeline::validate::<Workbooks>(&state, &principal, posted.workbook).await?;
    if let Some(sheets) = &posted.sheets {
        report.findings = sheets.repoint(report.findings);
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Amend a workbook: stores the next version and revalidates it. After the correction
/// window closes an amendment is refused (409 naming SUB-005) and nothing is stored.
#[utoipa::path(
    operation_id = "amend_workbook",
    tag = "workbooks",
    params(("If-Match" = String, Header, description = "The ETag of the current version")),
    request_body(description = WORKBOOK_BODY, content((WorkbookInput = "application/json"), (XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
    responses((status = 200, body = Workbook, headers(("ETag" = String))), Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT | may::IF_MATCH }>)
)]
#[put("/v1/workbooks/{id}")]
pub async fn amend(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req)?;
    let (posted, bytes) = read_workbook(&req, payload).await?;
    let sheets = posted.sheets;
    pipeline::amend::<Workbooks, _>(
        &state,
        &principal,
        (id.into_inner(), expected),
        (posted.workbook, bytes.len()),
        move |prepared| prepared_json(prepared, sheets.as_ref()),
    )
    .await
}

fn read(
    conn: &mut DbConnection,
    id: &str,
    version: Option<i32>,
    scope: Option<&str>,
) -> Result<Option<(i32, AnswerPieces)>, ApiError> {
    let Some(stored) = submissions::get_version(conn, KIND, id, version, scope)? else {
        return Ok(None);
    };
    let version = stored.envelope.version;
    let kpis = workbooks::kpis(conn, id, version)?;
    Ok(Some((
        version,
        AnswerPieces::json(&document(&stored, kpis)?)?,
    )))
}

pipeline::submission_reads! {
    kind: KIND, tag: "workbooks", document: Workbook, read: (read, PARSED_ANSWER_WEIGHT),
    get: ("get_workbook", "/v1/workbooks/{id}", "Read the current version of a workbook."),
    version: ("get_workbook_version", "/v1/workbooks/{id}/versions/{version}",
        "Read one version of a workbook."),
    list: ("list_workbooks", "/v1/workbooks", "List workbooks (a provider sees its own)."),
}

/// The contract and quarter of a workbook template.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TemplateQuery {
    pub contract_id: String,
    /// `YYYY-Qn` of the UK financial year.
    #[param(inline, example = "2025-Q3")]
    pub quarter: Quarter,
}

/// Download the council's pre-filled XLSX template for a contract's quarter: a measures
/// sheet (a row per measure, with the contract's KPI targets), a person-outcomes sheet (a
/// row per person on an agreement in the quarter, a column per outcome domain, with a
/// list of statuses to pick from), a case-studies sheet and a hidden sheet naming the
/// contract, quarter and template version. Fill in values and post it to `/v1/workbooks`.
#[utoipa::path(
    operation_id = "get_workbook_template",
    tag = "workbooks",
    params(TemplateQuery),
    responses(
        (status = 200, description = "The template", content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = XlsxFile,
            headers(("Content-Disposition" = String, description = "attachment, with a file name naming the contract and quarter"))),
        Problems<{ may::FIND | may::QUERY }>,
    )
)]
#[get("/v1/workbooks/template")]
pub async fn template(
    principal: Principal,
    state: web::Data<AppState>,
    Query(query): Query<TemplateQuery>,
) -> Result<HttpResponse, ApiError> {
    let quarter = query.quarter;
    let scope = principal.own_provider().map(str::to_string);
    // Written on the blocking pool too: a spreadsheet for many people is CPU work.
    let (contract, file) = run(&state, move |conn| {
        let (contract, people) =
            workbooks::template_content(conn, scope.as_deref(), &query.contract_id, quarter)?;
        let file = xlsx_workbook::template(&TemplateContent {
            contract: &contract,
            quarter,
            people: &people,
        })
        .map_err(|e| ApiError::Internal(format!("writing a workbook template: {e}")))?;
        Ok((contract, file))
    })
    .await?;
    let name: String = format!("workbook-{}-{quarter}.xlsx", contract.terms.reference)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(HttpResponse::Ok()
        .content_type(XLSX_MEDIA_TYPE)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(file))
}
