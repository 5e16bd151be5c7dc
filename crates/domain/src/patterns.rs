//! The patterns the document declares for text the server checks, each beside the check
//! it mirrors, so that a client generated from the document (and a fuzzer) knows exactly
//! which strings are taken. A test matches each pattern against its check.

/// Holds at least one character that `str::trim` keeps: Unicode White_Space, as Rust
/// defines it, excluded.
pub const NOT_BLANK: &str =
    "[^\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]";

/// `crate::contract::is_band_name`.
pub const BAND: &str = "^[a-z0-9_]{1,32}$";

/// A band, or `*` for every band (a rate cell's `need_band`).
pub const BAND_OR_ANY: &str = "^([a-z0-9_]{1,32}|\\*)$";

/// A contract reference (`ContractInput::validate`).
pub const CONTRACT_REFERENCE: &str = "^[A-Za-z0-9_./-]{1,64}$";

/// `crate::agreement::is_person_ref`.
pub const PERSON_REF: &str = "^[A-Za-z0-9_-]{1,64}$";

/// A CQC location id (`ProviderInput::validate`).
pub const CQC_LOCATION_ID: &str = "^1-[0-9]{1,18}$";

/// An `X-Request-Id` the service keeps (`request_id::RequestId::from_client`); others are
/// replaced.
pub const REQUEST_ID: &str = "^[A-Za-z0-9_.:-]{1,128}$";

/// An `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub const IDEMPOTENCY_KEY: &str = "^[!-~]{1,255}$";

/// The `ETag` of a provider, contract or agreement: its representation's digest.
pub const REPRESENTATION_ETAG: &str = "^\"[0-9a-f]{32}\"$";

/// An ETag of a submission version, as `If-Match` names it.
pub const VERSION_ETAG: &str = "^\"v[1-9][0-9]{0,9}\"$";
