//! A memory budget for answering stored submission versions. Reading a version and
//! answering it holds several copies of it at once (the driver's, the stored text, the
//! JSON written), so a 95,000-line register costs about 100 MB while it is answered, and
//! eight at once ran the process to 900 MB. Each answer reserves its weight from the
//! budget before reading and keeps it until its last byte is sent; answers that do not
//! fit wait their turn, so memory stays bounded whoever asks.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::problem::ApiError;

/// The budget, in bytes: what all answers of stored versions may hold at once.
pub const BUDGET_BYTES: usize = 128 * 1024 * 1024;

/// An answer holds about this many times its stored size while it is read and written.
pub const WEIGHT: usize = 4;

/// Reservations are counted in KiB, so the budget fits the semaphore's `u32` permits.
const UNIT: usize = 1024;

pub struct AnswerBudget {
    permits: Arc<Semaphore>,
    capacity: u32,
}

impl AnswerBudget {
    pub fn new(bytes: usize) -> Self {
        let capacity = u32::try_from((bytes / UNIT).max(1)).unwrap_or(u32::MAX);
        AnswerBudget {
            permits: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Waits until an answer of a version `stored` characters long fits, and reserves it.
    /// One larger than the whole budget waits for the whole budget.
    pub async fn reserve(&self, stored: i64) -> Result<OwnedSemaphorePermit, ApiError> {
        let bytes = usize::try_from(stored.max(0)).unwrap_or(usize::MAX);
        let units = (bytes.saturating_mul(WEIGHT) / UNIT).max(1);
        let units = u32::try_from(units).unwrap_or(u32::MAX).min(self.capacity);
        self.permits
            .clone()
            .acquire_many_owned(units)
            .await
            .map_err(|e| ApiError::Internal(format!("the answer budget is closed: {e}")))
    }
}

impl Default for AnswerBudget {
    fn default() -> Self {
        AnswerBudget::new(BUDGET_BYTES)
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
        let budget = AnswerBudget::new(4 * 1024 * 1024);
        // 1 MiB stored weighs 4 MiB: the whole budget.
        let first = budget.reserve(1024 * 1024).await.unwrap();
        assert_eq!(budget.permits.available_permits(), 0);
        let body = Budgeted::new(Bytes::from_static(b"answer"), first);
        // A second answer waits while the first is held.
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.reserve(10)).await;
        assert!(waiting.is_err());
        drop(body);
        // A version larger than the budget waits for all of it, then goes alone.
        let huge = budget.reserve(i64::MAX).await.unwrap();
        assert_eq!(huge.num_permits(), 4 * 1024);
    }
}
