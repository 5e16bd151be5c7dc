//! Providers: the organisations that run day services.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldErrors;
use crate::types::ProviderStatus;

/// What a commissioner writes about a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]",
        example = "Riverside Day Centre Ltd"
    )]
    pub name: String,
    /// CQC location identifier, where the service is registered with the CQC.
    #[serde(default)]
    #[schema(max_length = 20, pattern = "^1-[0-9]{1,18}$", example = "1-123456789")]
    pub cqc_location_id: Option<String>,
    #[serde(default = "default_provider_status")]
    pub status: ProviderStatus,
}

fn default_provider_status() -> ProviderStatus {
    ProviderStatus::Active
}

impl ProviderInput {
    pub fn validate(&self) -> FieldErrors {
        let mut errors = FieldErrors::new();
        let name = self.name.trim();
        errors.check(name.is_empty(), "/name", "must not be blank");
        errors.check(
            self.name.chars().count() > 200,
            "/name",
            "must be at most 200 characters",
        );
        if let Some(cqc) = &self.cqc_location_id {
            let well_formed = cqc.starts_with("1-")
                && cqc.len() <= 20
                && cqc.len() > 2
                && cqc[2..].chars().all(|c| c.is_ascii_digit());
            errors.check(
                !well_formed,
                "/cqc_location_id",
                "must look like a CQC location id, e.g. 1-123456789",
            );
        }
        errors
    }
}

/// A provider as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Provider {
    pub id: String,
    #[serde(flatten)]
    pub details: ProviderInput,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_validation() {
        let mut p = ProviderInput {
            name: "Riverside".into(),
            cqc_location_id: Some("1-101".into()),
            status: ProviderStatus::Active,
        };
        assert!(p.validate().is_empty());
        p.name = "  ".into();
        p.cqc_location_id = Some("X-1".into());
        let pointers: Vec<_> = p
            .validate()
            .into_vec()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(pointers, ["/name", "/cqc_location_id"]);
    }
}
