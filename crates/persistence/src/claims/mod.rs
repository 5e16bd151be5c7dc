//! Claims: priced by the council from the matrix, checked against registers and every
//! other live claim, then decided and paid. One file a concern: `pricing` (what the claim
//! rules read, and drafts from registers), `write` (submit, amend, validate and the rows a
//! version keeps), `read` (a version with its priced lines) and `lifecycle` (decision,
//! payment and needs-adjustment).

mod lifecycle;
mod pricing;
mod read;
mod write;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use dayops_domain::claim::{ClaimLine, PricedLine};
use dayops_domain::submission::SubmissionKind;
use dayops_domain::types::{Quantity, SessionType};

use crate::error::StoreError;
use crate::submissions::StoredVersion;

pub use lifecycle::{apply, decision_sha256, mark_needs_adjustment, payment_sha256, ClaimDecision};
pub use pricing::{draft_from_registers, OTHER_UNITS_PG, REGISTER_FACTS_PG};
pub use read::{get, priced_sha256};
pub use write::Claims;

const KIND: SubmissionKind = SubmissionKind::Claim;
const INSERT_CHUNK: usize = 2_000;
const LOOKUP_CHUNK: usize = 5_000;

/// A line as stored: what was claimed and what the council accepted.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PricedClaimLine {
    #[serde(flatten)]
    pub claimed: ClaimLine,
    #[serde(flatten)]
    pub accepted: PricedLine,
}

/// Decision and payment, once made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ClaimState {
    /// `approve` or `reject`.
    pub decision: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub remittance_ref: Option<String>,
    pub paid_on: Option<NaiveDate>,
}

/// A version of a claim with its priced lines.
#[derive(Debug, Clone)]
pub struct ClaimView {
    pub stored: StoredVersion,
    pub lines: Vec<PricedClaimLine>,
    pub claimed_total_pence: i64,
    pub accepted_total_pence: i64,
    pub state: ClaimState,
}

/// How a held unit names its session type: the type, or `-` for items that are not
/// sessions (a unique key cannot hold a NULL that compares equal).
const NO_SESSION: &str = "-";

fn session_key(session_type: Option<SessionType>) -> &'static str {
    session_type.map_or(NO_SESSION, SessionType::as_str)
}

/// The session type of a held unit's key; an unknown word is an error.
fn session_of_key(key: &str) -> Result<Option<SessionType>, crate::StoreError> {
    match key {
        NO_SESSION => Ok(None),
        other => {
            crate::error::vocab("claimed_units.session_key", other, SessionType::parse).map(Some)
        }
    }
}

/// A stored quantity back as the domain's type; a value out of its range is an error.
fn stored_quantity(column: &str, quarters: i64) -> Result<Quantity, StoreError> {
    u32::try_from(quarters)
        .map(Quantity::from_quarters)
        .map_err(|_| StoreError::Corrupt(format!("{column}: {quarters} is out of range")))
}
