//! A memory budget for the service's largest work: answering stored submission versions
//! and running the submission pipeline on a posted body. Reading a version and answering
//! it holds several copies of it at once (the driver's, the stored text, the JSON
//! written), so a 95,000-line register costs about 100 MB while it is answered, and eight
//! at once ran the process to 900 MB; a posted register's rules, rows and receipt hold
//! many times its body. Each piece of work reserves its weight before it starts and keeps
//! it until it is done (an answer: until its last byte is sent); work that does not fit
//! waits its turn, so memory stays bounded whoever asks. A week's 500-line register
//! weighs about 2 MiB, so ordinary traffic never waits.

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

/// An answer holds about this many times its stored size while it is read and written.
pub const ANSWER_WEIGHT: usize = 4;

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

    /// Waits until an answer of a version `stored` characters long fits, and reserves it.
    /// One larger than the whole budget waits for the whole budget.
    pub async fn reserve_answer(&self, stored: i64) -> Result<OwnedSemaphorePermit, ApiError> {
        let bytes = usize::try_from(stored.max(0)).unwrap_or(usize::MAX);
        self.reserve(bytes.saturating_mul(ANSWER_WEIGHT)).await
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

/// A body that keeps its reservation until it has been sent (or dropped).
pub struct Budgeted {
    body: Option<Bytes>,
    _reservation: OwnedSemaphorePermit,
}

impl Budgeted {
    pub fn new(body: impl Into<Bytes>, reservation: OwnedSemaphorePermit) -> Self {
        Budgeted {
            body: Some(body.into()),
            _reservation: reservation,
        }
    }
}

impl MessageBody for Budgeted {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.body.as_ref().map_or(0, |b| b.len() as u64))
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.body.take().filter(|b| !b.is_empty()).map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn answers_wait_for_room_and_free_it_when_sent() {
        let budget = MemoryBudget::new(4 * 1024 * 1024);
        // 1 MiB stored weighs 4 MiB: the whole budget.
        let first = budget.reserve_answer(1024 * 1024).await.unwrap();
        assert_eq!(budget.permits.available_permits(), 0);
        let body = Budgeted::new(Bytes::from_static(b"answer"), first);
        // A second answer waits while the first is held.
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(10)).await;
        assert!(waiting.is_err());
        drop(body);
        // A version larger than the budget waits for all of it, then goes alone.
        let huge = budget.reserve_answer(i64::MAX).await.unwrap();
        assert_eq!(huge.num_permits(), 4 * 1024);
    }
}
