//! A memory budget for the service's largest work: answering stored submission versions
//! and running the submission pipeline on a posted body. Reading a version and answering
//! it holds copies of it (the driver's, the stored text, for a parsed document its tree
//! and the JSON written), so eight answers of a 95,000-line register at once ran the
//! process to 900 MB; a posted register's rules, rows and receipt hold many times its
//! body. Each piece of work reserves its weight before it starts and keeps
//! it until it is done (an answer: until its last byte is sent); work that does not fit
//! waits its turn, so memory stays bounded whoever asks. A week's 500-line register
//! weighs about 2 MiB, so ordinary traffic never waits.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::problem::ApiError;

/// The budget, in bytes: what the work it weighs may hold at once.
pub const BUDGET_BYTES: usize = 128 * 1024 * 1024;

/// Copies of an answer we hold besides the driver's when it is parsed into its document and
/// written again: the stored text, the document, the JSON written.
pub const PARSED_ANSWER_WEIGHT: usize = 3;

/// Copies of an answer we hold besides the driver's when it is sent from its stored text:
/// the text.
pub const STORED_ANSWER_WEIGHT: usize = 1;

/// Copies of a stored text the database driver holds while it is read, chosen by
/// measurement (`memory-bench --case big`): libpq two (its input buffer and its result);
/// SQLite two as well, its result and the pages it reads the text from, which with one
/// counted two answers of a 95,000-line register went at once and peaked at up to 266 MB.
pub const DRIVER_COPIES: usize = 2;

/// A submission's pipeline holds about this many times its body: the parsed input, the
/// findings, the rows and canonical JSON written, the receipt. Chosen by measurement
/// (`memory-bench --case many`, README).
pub const SUBMISSION_WEIGHT: usize = 32;

/// Reservations are counted in KiB, so the budget fits the semaphore's `u32` permits.
const UNIT: usize = 1024;

pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    capacity: u32,
}

impl MemoryBudget {
    pub fn new(bytes: usize) -> Self {
        let capacity = u32::try_from((bytes / UNIT).max(1)).unwrap_or(u32::MAX);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Waits until an answer of a version `stored` bytes long, holding `weight` times
    /// that, fits, and reserves it. One larger than the whole budget waits for the whole
    /// budget.
    pub async fn reserve_answer(
        &self,
        stored: i64,
        weight: usize,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        let bytes = usize::try_from(stored.max(0)).unwrap_or(usize::MAX);
        self.reserve(bytes.saturating_mul(weight)).await
    }

    /// Waits until the pipeline's work on a body `body_len` bytes long fits, and
    /// reserves it.
    pub async fn reserve_submission(
        &self,
        body_len: usize,
    ) -> Result<OwnedSemaphorePermit, ApiError> {
        self.reserve(body_len.saturating_mul(SUBMISSION_WEIGHT))
            .await
    }

    /// Waits until `bytes` fit, and reserves them (the whole budget at most).
    async fn reserve(&self, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
        let units = (bytes / UNIT).max(1);
        let units = u32::try_from(units).unwrap_or(u32::MAX).min(self.capacity);
        self.permits
            .clone()
            .acquire_many_owned(units)
            .await
            .map_err(|e| ApiError::Internal(format!("the answer budget is closed: {e}")))
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::new(BUDGET_BYTES)
    }
}

/// A body sent piece by piece that keeps its reservation until it has been sent (or
/// dropped). actix copies each piece into its write buffer only when that has room, so
/// pieces cut from one stored text (`Bytes::slice` shares it) add nothing while they wait.
pub struct Budgeted {
    pieces: VecDeque<Bytes>,
    _reservation: OwnedSemaphorePermit,
}

impl Budgeted {
    pub fn new(pieces: Vec<Bytes>, reservation: OwnedSemaphorePermit) -> Self {
        Budgeted {
            pieces: pieces.into_iter().filter(|p| !p.is_empty()).collect(),
            _reservation: reservation,
        }
    }
}

impl MessageBody for Budgeted {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.pieces.iter().map(|p| p.len() as u64).sum())
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.pieces.pop_front().map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn pieces_are_sent_in_order_and_the_room_freed_after() {
        let budget = MemoryBudget::new(1024 * 1024);
        let reservation = budget.reserve(512 * 1024).await.unwrap();
        let text = Bytes::from_static(b"0123456789");
        let pieces = vec![
            Bytes::from_static(b"["),
            text.slice(0..4),
            Bytes::new(),
            text.slice(4..10),
            Bytes::from_static(b"]"),
        ];
        let body = Budgeted::new(pieces, reservation);
        assert_eq!(body.size(), BodySize::Sized(12));
        assert_eq!(budget.permits.available_permits(), 512);
        let sent = actix_web::body::to_bytes(body).await.unwrap();
        assert_eq!(&sent[..], b"[0123456789]");
        assert_eq!(budget.permits.available_permits(), 1024);
    }

    #[actix_web::test]
    async fn answers_wait_for_room_and_free_it_when_sent() {
        let budget = MemoryBudget::new(4 * 1024 * 1024);
        // 1 MiB stored, parsed, weighs 3 MiB; read from SQLite, 5 MiB: more than the
        // whole budget, so it takes all of it.
        let first = budget
            .reserve_answer(1024 * 1024, PARSED_ANSWER_WEIGHT + DRIVER_COPIES)
            .await
            .unwrap();
        assert_eq!(budget.permits.available_permits(), 0);
        let body = Budgeted::new(vec![Bytes::from_static(b"answer")], first);
        // A second answer waits while the first is held.
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(10)).await;
        assert!(waiting.is_err());
        drop(body);
        // A version larger than the budget waits for all of it, then goes alone.
        let huge = budget
            .reserve_answer(i64::MAX, STORED_ANSWER_WEIGHT)
            .await
            .unwrap();
        assert_eq!(huge.num_permits(), 4 * 1024);
    }
}
