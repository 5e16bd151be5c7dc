//! `/v1/workbooks`: quarterly monitoring returns (JSON; the XLSX template is to come).

use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::finding::Report;
use dayops_domain::submission::SubmissionKind;
use dayops_domain::workbook::{CaseStudy, KpiResult, Measures, PersonOutcome, WorkbookInput};
use dayops_persistence::submissions::{StoredVersion, SubmissionSummary};
use dayops_persistence::{workbooks, Page, StoreError};

use super::submissions::{
    create_idempotent, idempotency_key, if_match, keyed_request, list_kind, today, version_number,
    with_version_headers, SubmissionListQuery, SubmissionReceipt,
};
use crate::auth::{Principal, Submitter};
use crate::extract::{media_type, parse_json, read_body, Query};
use crate::problem::{ApiError, ProblemKind, ReadProblems, SubmissionProblems};
use crate::{run, AppState};

const KIND: SubmissionKind = SubmissionKind::Workbook;

/// A version of a workbook: the envelope, its content and its KPI results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Workbook {
    #[serde(flatten)]
    pub receipt: SubmissionReceipt,
    pub quarter: String,
    pub template_version: String,
    pub measures: Measures,
    pub person_outcomes: Vec<PersonOutcome>,
    pub case_studies: Vec<CaseStudy>,
    pub acknowledged_warnings: Vec<String>,
    /// Each KPI target of the contract against this return, red, amber or green.
    pub kpis: Vec<KpiResult>,
}

fn document(stored: &StoredVersion, kpis: Vec<KpiResult>) -> Result<Workbook, StoreError> {
    let body: WorkbookInput = serde_json::from_value(stored.body.clone())
        .map_err(|e| StoreError::Corrupt(format!("stored workbook body: {e}")))?;
    Ok(Workbook {
        receipt: SubmissionReceipt::of(stored),
        quarter: body.quarter,
        template_version: body.template_version,
        measures: body.measures,
        person_outcomes: body.person_outcomes,
        case_studies: body.case_studies,
        acknowledged_warnings: body.acknowledged_warnings,
        kpis,
    })
}

fn document_json(stored: &StoredVersion, kpis: &[KpiResult]) -> Result<String, StoreError> {
    serde_json::to_string(&document(stored, kpis.to_vec())?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

async fn read_workbook(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(WorkbookInput, web::BytesMut), ApiError> {
    match media_type(req).as_deref() {
        Some("application/json") => {}
        other => {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                format!(
                    "expected application/json, got {}",
                    other.unwrap_or("no content type")
                ),
            ))
        }
    }
    let bytes = read_body(req, &mut payload.into_inner()).await?;
    Ok((parse_json(&bytes)?, bytes))
}

/// Submit a quarter's workbook; stored whatever its findings (201), with its KPI results.
#[utoipa::path(
    operation_id = "create_workbook",
    tag = "workbooks",
    params(("Idempotency-Key" = String, Header, description = "Required; replays the stored response for the same request")),
    request_body = WorkbookInput,
    responses((status = 201, body = Workbook, headers(("ETag" = String), ("Location" = String))), SubmissionProblems)
)]
#[post("/v1/workbooks")]
pub async fn create(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let (workbook, bytes) = read_workbook(&req, payload).await?;
    let keyed = keyed_request(&req, &principal, key, &bytes);
    let actor = principal.actor();
    let scope = principal.provider_id.clone();
    let today = today();
    create_idempotent(&state, KIND, keyed, move |conn, keyed| {
        let (stored, kpis) = workbooks::submit(
            conn,
            &actor,
            scope.as_deref(),
            workbook,
            today,
            Some((keyed, &document_json)),
        )?;
        Ok((
            stored.envelope.id.clone(),
            stored.envelope.version,
            document_json(&stored, &kpis)?,
        ))
    })
    .await
}

/// Validate a workbook; nothing is stored.
#[utoipa::path(operation_id = "validate_workbook", tag = "workbooks", request_body = WorkbookInput, responses((status = 200, body = Report), SubmissionProblems))]
#[post("/v1/workbooks/validate")]
pub async fn validate(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (workbook, _) = read_workbook(&req, payload).await?;
    let scope = principal.provider_id.clone();
    let today = today();
    let report = run(&state, move |conn| {
        Ok(workbooks::validate(
            conn,
            scope.as_deref(),
            &workbook,
            today,
        )?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Amend a workbook: stores the next version and revalidates it.
#[utoipa::path(
    operation_id = "amend_workbook",
    tag = "workbooks",
    params(("If-Match" = String, Header, description = "The ETag of the current version")),
    request_body = WorkbookInput,
    responses((status = 200, body = Workbook, headers(("ETag" = String))), SubmissionProblems)
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
    let (workbook, _) = read_workbook(&req, payload).await?;
    let id = id.into_inner();
    let actor = principal.actor();
    let scope = principal.provider_id.clone();
    let today = today();
    let (stored, kpis) = run(&state, move |conn| {
        Ok(workbooks::amend(
            conn,
            &actor,
            scope.as_deref(),
            &id,
            &expected,
            workbook,
            today,
        )?)
    })
    .await?;
    let (id, version) = (stored.envelope.id.clone(), stored.envelope.version);
    Ok(with_version_headers(
        HttpResponse::Ok().json(document(&stored, kpis)?),
        KIND,
        &id,
        version,
        false,
    ))
}

async fn read_version(
    state: web::Data<AppState>,
    principal: Principal,
    id: String,
    version: Option<i32>,
) -> Result<HttpResponse, ApiError> {
    let scope = principal.own_provider().map(str::to_string);
    let (stored, kpis) = run(&state, move |conn| {
        let stored = dayops_persistence::submissions::get_version(
            conn,
            KIND,
            &id,
            version,
            scope.as_deref(),
        )?
        .ok_or_else(ApiError::not_found)?;
        let kpis = workbooks::kpis(conn, &id, stored.envelope.version)?;
        Ok((stored, kpis))
    })
    .await?;
    let (id, version) = (stored.envelope.id.clone(), stored.envelope.version);
    Ok(with_version_headers(
        HttpResponse::Ok().json(document(&stored, kpis)?),
        KIND,
        &id,
        version,
        false,
    ))
}

/// Read the current version of a workbook.
#[utoipa::path(operation_id = "get_workbook", tag = "workbooks", responses((status = 200, body = Workbook, headers(("ETag" = String))), ReadProblems))]
#[get("/v1/workbooks/{id}")]
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    read_version(state, principal, id.into_inner(), None).await
}

/// Read one version of a workbook.
#[utoipa::path(operation_id = "get_workbook_version", tag = "workbooks", responses((status = 200, body = Workbook, headers(("ETag" = String))), ReadProblems))]
#[get("/v1/workbooks/{id}/versions/{version}")]
pub async fn get_version(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    let version = version_number(&version)?;
    read_version(state, principal, id, Some(version)).await
}

/// List workbooks (a provider sees its own).
#[utoipa::path(operation_id = "list_workbooks", tag = "workbooks", params(SubmissionListQuery), responses((status = 200, body = Page<SubmissionSummary>), ReadProblems))]
#[get("/v1/workbooks")]
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    Query(query): Query<SubmissionListQuery>,
) -> Result<HttpResponse, ApiError> {
    list_kind(principal, &state, query, KIND).await
}
