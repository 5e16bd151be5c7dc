//! `/v1/registers`: weekly attendance registers, as JSON or CSV.

use actix_web::web::Bytes;
use actix_web::{get, post, put, web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::finding::Report;
use dayops_domain::register::{RegisterInput, RegisterLine};
use dayops_domain::submission::SubmissionKind;
use dayops_persistence::registers::Registers;
use dayops_persistence::submissions::{self, StoredVersion};
use dayops_persistence::DbConnection;

use super::submissions::{idempotency_key, if_match, SubmissionReceipt};
use crate::auth::Submitter;
use crate::budget::STORED_ANSWER_WEIGHT;
use crate::csv_register::{self, CsvRegisterQuery};
use crate::extract::{media_type, parse_json, parse_query, read_body};
use crate::pipeline::AnswerPieces;
use crate::problem::{may, ApiError, ProblemKind, Problems};
use crate::{pipeline, AppState};

const KIND: SubmissionKind = SubmissionKind::Register;

/// A register body as posted: JSON, or CSV with contract and period in the query.
struct Posted {
    register: RegisterInput,
    csv: bool,
}

async fn read_register(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<(Posted, web::BytesMut), ApiError> {
    let mut payload = payload.into_inner();
    let media = media_type(req);
    let csv = match media.as_deref() {
        Some("text/csv") => true,
        Some("application/json") => false,
        Some(m) => {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                format!("expected application/json or text/csv, got {m}"),
            ))
        }
        None => {
            return Err(ApiError::new(
                ProblemKind::UnsupportedMediaType,
                "a Content-Type of application/json or text/csv is required",
            ))
        }
    };
    let bytes = read_body(req, &mut payload).await?;
    let register = if csv {
        let query: CsvRegisterQuery = parse_query(req.query_string())?;
        csv_register::parse(&query, &bytes)?
    } else {
        if !req.query_string().is_empty() {
            return Err(ApiError::invalid(vec![dayops_domain::FieldError::new(
                "/query",
                "query parameters apply to CSV registers only",
            )]));
        }
        parse_json(&bytes)?
    };
    Ok((Posted { register, csv }, bytes))
}

/// The receipt, with findings pointing at CSV rows and columns for a CSV body.
fn receipt(stored: &StoredVersion, csv: bool) -> SubmissionReceipt {
    let mut receipt = SubmissionReceipt::of(stored);
    if csv {
        let findings = std::mem::take(&mut receipt.envelope.validation.findings);
        receipt.envelope.validation.findings = csv_register::repoint_findings(findings);
    }
    receipt
}

/// Submit a week's register. It is stored whatever its findings (201); a second
/// register for the same contract and week is 409 with the existing id.
#[utoipa::path(
    operation_id = "create_register",
    tag = "registers",
    params(
        ("Idempotency-Key" = String, Header, description = "Required; replays the stored response for the same request"),
        CsvRegisterQuery,
    ),
    request_body(
        description = "A register as JSON, or as CSV (one line a row, the line fields as columns; contract_id, period_start and period_end in the query)",
        content((RegisterInput = "application/json"), (String = "text/csv")),
    ),
    responses(
        (status = 201, body = SubmissionReceipt, description = "Stored; `status` says how it validated",
            headers(("ETag" = String, description = "The version's entity tag, for If-Match"), ("Location" = String))),
        Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT | may::IDEMPOTENT }>,
    )
)]
#[post("/v1/registers")]
pub async fn create(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let (posted, bytes) = read_register(&req, payload).await?;
    let csv = posted.csv;
    pipeline::create::<Registers, _>(
        &state,
        &req,
        &principal,
        (key, &bytes),
        posted.register,
        move |prepared| {
            let mut receipt = receipt(&prepared.version, csv);
            receipt.audit_event_id = Some(prepared.audit_event_id.clone());
            pipeline::json(&receipt)
        },
    )
    .await
}

/// Validate a register against the contract, matrix, agreements and other registers;
/// nothing is stored.
#[utoipa::path(
    operation_id = "validate_register",
    tag = "registers",
    params(CsvRegisterQuery),
    request_body(content((RegisterInput = "application/json"), (String = "text/csv"))),
    responses((status = 200, body = Report), Problems<{ may::ROLE | may::FIND | may::BODY }>)
)]
#[post("/v1/registers/validate")]
pub async fn validate(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (posted, _) = read_register(&req, payload).await?;
    let (_, mut report) =
        pipeline::validate::<Registers>(&state, &principal, posted.register).await?;
    if posted.csv {
        report.findings = csv_register::repoint_findings(report.findings);
    }
    Ok(HttpResponse::Ok().json(report))
}

/// Amend a register: stores the next version and revalidates it. After the correction
/// window closes an amendment is refused (409 naming SUB-005) and nothing is stored.
#[utoipa::path(
    operation_id = "amend_register",
    tag = "registers",
    params(("If-Match" = String, Header, description = "The ETag of the current version"), CsvRegisterQuery),
    request_body(content((RegisterInput = "application/json"), (String = "text/csv"))),
    responses(
        (status = 200, body = SubmissionReceipt, headers(("ETag" = String))),
        Problems<{ may::ROLE | may::FIND | may::BODY | may::CONFLICT | may::IF_MATCH }>,
    )
)]
#[put("/v1/registers/{id}")]
pub async fn amend(
    Submitter(principal): Submitter,
    state: web::Data<AppState>,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req)?;
    let (posted, bytes) = read_register(&req, payload).await?;
    let csv = posted.csv;
    pipeline::amend::<Registers, _>(
        &state,
        &principal,
        (id.into_inner(), expected),
        (posted.register, bytes.len()),
        move |prepared| {
            let mut receipt = receipt(&prepared.version, csv);
            receipt.audit_event_id = Some(prepared.audit_event_id.clone());
            pipeline::json(&receipt)
        },
    )
    .await
}

/// A version of a register with its lines.
#[derive(Debug, Serialize, ToSchema)]
pub struct Register {
    #[serde(flatten)]
    pub receipt: SubmissionReceipt,
    pub lines: Vec<RegisterLine>,
    pub acknowledged_warnings: Vec<String>,
}

/// A stored register as answered: the receipt written beside its lines, which are sent
/// straight from the stored canonical JSON in slices of it, unparsed and uncopied (a
/// 95,000-line register is 28 MB of stored text, and ten times that as a parsed tree).
/// The same JSON as [`Register`] with the receipt's fields first.
fn stored_answer(stored: StoredVersion) -> Result<AnswerPieces, ApiError> {
    /// How large each slice of the stored lines is that actix copies into its buffer.
    const SLICE: usize = 256 * 1024;
    #[derive(serde::Deserialize)]
    struct Stored<'a> {
        #[serde(borrow)]
        lines: &'a serde_json::value::RawValue,
        #[serde(default)]
        acknowledged_warnings: Vec<String>,
    }
    let receipt = SubmissionReceipt::of(&stored);
    let (lines, acknowledged_warnings) = {
        let parsed: Stored = serde_json::from_str(&stored.body)
            .map_err(|e| ApiError::Internal(format!("stored register body: {e}")))?;
        // Where the lines sit in the stored text: `RawValue` borrows them from it.
        let start = parsed.lines.get().as_ptr() as usize - stored.body.as_ptr() as usize;
        (
            start..start + parsed.lines.get().len(),
            parsed.acknowledged_warnings,
        )
    };
    let mut head = pipeline::json(&receipt)?;
    if head.pop() != Some('}') {
        return Err(ApiError::Internal("a receipt written as no object".into()));
    }
    head.push_str(",\"lines\":");
    let tail = format!(
        ",\"acknowledged_warnings\":{}}}",
        pipeline::json(&acknowledged_warnings)?
    );
    let text = Bytes::from(stored.body);
    let mut pieces = vec![Bytes::from(head)];
    pieces.extend(
        lines
            .clone()
            .step_by(SLICE)
            .map(|at| text.slice(at..(at + SLICE).min(lines.end))),
    );
    pieces.push(Bytes::from(tail));
    Ok(AnswerPieces(pieces))
}

fn read(
    conn: &mut DbConnection,
    id: &str,
    version: Option<i32>,
    scope: Option<&str>,
) -> Result<Option<(i32, AnswerPieces)>, ApiError> {
    submissions::get_version(conn, KIND, id, version, scope)?
        .map(|stored| Ok((stored.envelope.version, stored_answer(stored)?)))
        .transpose()
}

pipeline::submission_reads! {
    kind: KIND, tag: "registers", document: Register, read: (read, STORED_ANSWER_WEIGHT),
    get: ("get_register", "/v1/registers/{id}", "Read the current version of a register."),
    version: ("get_register_version", "/v1/registers/{id}/versions/{version}",
        "Read one version of a register, as it was stored."),
    list: ("list_registers", "/v1/registers", "List registers (a provider sees its own)."),
}
