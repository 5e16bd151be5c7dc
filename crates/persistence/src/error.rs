//! The persistence crate's one error type.

use dayops_domain::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row, or not visible to the caller.
    #[error("not found")]
    NotFound,
    /// The write conflicts with stored state (a unique key, an overlapping version).
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// A submission for the same contract, kind and period exists already.
    #[error("a submission for this period exists: {existing_id}")]
    Duplicate { existing_id: String },
    /// `If-Match` does not name the current version.
    #[error("stale version")]
    PreconditionFailed { current_etag: String },
    /// The input breaks a rule that needs stored state to check.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// A rule of our own code was broken (a bug): a plain 500.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl StoreError {
    pub fn invalid(pointer: &str, detail: impl Into<String>) -> Self {
        StoreError::Invalid(vec![FieldError::new(pointer, detail)])
    }

    pub fn conflict(
        detail: impl Into<String>,
        pointer: &str,
        field_detail: impl Into<String>,
    ) -> Self {
        StoreError::Conflict {
            detail: detail.into(),
            errors: vec![FieldError::new(pointer, field_detail)],
        }
    }

    /// Whether a database error is a unique-key violation (the constraint decided).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Database(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// Parses a JSON column; a failure means the stored row is not what this code wrote.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    column: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// Parses a vocabulary column.
pub(crate) fn vocab<T>(
    column: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("{column}: unknown value {text:?}")))
}

/// Narrows a stored integer to the unsigned domain type.
pub(crate) fn unsigned(column: &str, value: i32) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column}: negative value")))
}

/// Widens a validated domain count to the column type.
pub(crate) fn signed(column: &str, value: u32) -> Result<i32, StoreError> {
    i32::try_from(value).map_err(|_| StoreError::invalid(&format!("/{column}"), "is too large"))
}

pub(crate) fn to_json_value<T: serde::Serialize>(
    value: &T,
) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

impl From<dayops_domain::lifecycle::Refusal> for StoreError {
    fn from(r: dayops_domain::lifecycle::Refusal) -> Self {
        StoreError::conflict(r.detail, r.pointer, r.reason)
    }
}
