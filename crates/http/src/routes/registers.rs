//! `/v1/registers`: weekly attendance registers, as JSON or CSV.

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
use crate::csv_register::{self, CsvRegisterQuery};
use crate::extract::{media_type, parse_json, parse_query, read_body};
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

/// A stored register as answered: its lines written straight from the stored canonical
/// JSON, unparsed and uncopied (a 95,000-line register is 28 MB of stored text and would be
/// ten times that as a parsed tree), beside the receipt. Serialises as [`Register`]; the
/// stored text is read once, as it is written out.
struct StoredRegister {
    receipt: SubmissionReceipt,
    body: String,
}

impl Serialize for StoredRegister {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        #[derive(serde::Deserialize)]
        struct Stored<'a> {
            #[serde(borrow)]
            lines: &'a serde_json::value::RawValue,
            #[serde(default)]
            acknowledged_warnings: Vec<String>,
        }
        #[derive(Serialize)]
        struct Answer<'a> {
            #[serde(flatten)]
            receipt: &'a SubmissionReceipt,
            lines: &'a serde_json::value::RawValue,
            acknowledged_warnings: Vec<String>,
        }
        let stored: Stored = serde_json::from_str(&self.body)
            .map_err(|e| S::Error::custom(format!("stored register body: {e}")))?;
        Answer {
            receipt: &self.receipt,
            lines: stored.lines,
            acknowledged_warnings: stored.acknowledged_warnings,
        }
        .serialize(serializer)
    }
}

fn document(stored: StoredVersion) -> StoredRegister {
    StoredRegister {
        receipt: SubmissionReceipt::of(&stored),
        body: stored.body,
    }
}

fn read(
    conn: &mut DbConnection,
    id: &str,
    version: Option<i32>,
    scope: Option<&str>,
) -> Result<Option<(i32, StoredRegister)>, ApiError> {
    Ok(submissions::get_version(conn, KIND, id, version, scope)?
        .map(|stored| (stored.envelope.version, document(stored))))
}

pipeline::submission_reads! {
    kind: KIND, tag: "registers", document: Register, read: read,
    get: ("get_register", "/v1/registers/{id}", "Read the current version of a register."),
    version: ("get_register_version", "/v1/registers/{id}/versions/{version}",
        "Read one version of a register, as it was stored."),
    list: ("list_registers", "/v1/registers", "List registers (a provider sees its own)."),
}
