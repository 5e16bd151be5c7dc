//! Route registration: registering a handler here registers its OpenAPI path too.

pub mod agreements;
pub mod audit;
pub mod claims;
pub mod contracts;
pub mod health;
pub mod matrices;
pub mod providers;
pub mod registers;
pub mod reports;
pub mod submissions;
pub mod workbooks;

use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use validator::Validate;

use dayops_domain::{FieldError, FieldErrors};
use dayops_persistence::page::MAX_LIMIT;
use dayops_persistence::StoreError;

use crate::problem::ApiError;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(providers::create)
        .service(providers::list)
        .service(providers::get)
        .service(providers::update)
        .service(contracts::create)
        .service(contracts::list)
        .service(contracts::get)
        .service(contracts::update)
        .service(matrices::create)
        .service(matrices::list)
        .service(matrices::rate)
        .service(agreements::upsert)
        .service(agreements::list)
        .service(agreements::get)
        .service(registers::validate)
        .service(registers::create)
        .service(registers::list)
        .service(registers::get)
        .service(registers::get_version)
        .service(registers::amend)
        .service(claims::validate)
        .service(claims::draft)
        .service(claims::create)
        .service(claims::list)
        .service(claims::get)
        .service(claims::get_version)
        .service(claims::amend)
        .service(claims::decide)
        .service(claims::pay)
        .service(workbooks::validate)
        .service(workbooks::template)
        .service(workbooks::create)
        .service(workbooks::list)
        .service(workbooks::get)
        .service(workbooks::get_version)
        .service(workbooks::amend)
        .service(submissions::list)
        .service(reports::spend)
        .service(reports::kpis)
        .service(reports::kpi_catalogue)
        .service(reports::compliance)
        .service(audit::list)
        .service(audit::verify);
}

/// Cursor paging parameters.
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    #[validate(range(min = 1, max = 500))]
    pub limit: Option<i64>,
}

impl PageQuery {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, MAX_LIMIT)
    }
}

/// The provider filter a list runs with. A provider is confined to itself: asking for
/// another provider's rows gives `None` (answer an empty page, revealing nothing);
/// commissioners and auditors get the filter they asked for.
pub fn provider_filter(
    principal: &crate::auth::Principal,
    asked: Option<String>,
) -> Option<Option<String>> {
    match principal.own_provider() {
        Some(own) if asked.as_deref().is_some_and(|asked| asked != own) => None,
        Some(own) => Some(Some(own.to_string())),
        None => Some(asked),
    }
}

/// An empty page, for a filter that can match nothing the caller may see.
pub fn empty_page<T: serde::Serialize>() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(dayops_persistence::Page::<T> {
        items: Vec::new(),
        next_cursor: None,
    })
}

/// A `quarter` query parameter (`YYYY-Qn` of the financial year), or 422 pointing at it.
pub fn quarter_param(text: &str) -> Result<dayops_domain::workbook::Quarter, ApiError> {
    dayops_domain::workbook::Quarter::parse(text).ok_or_else(|| {
        ApiError::invalid(vec![FieldError::new(
            "/query/quarter",
            dayops_domain::workbook::Quarter::FORMAT_HINT,
        )])
    })
}

/// Turns `validator` errors into field errors under `/query`.
pub fn validate_query(query: &impl Validate) -> Result<(), ApiError> {
    query.validate().map_err(|errors| {
        let mut fields: Vec<FieldError> = errors
            .field_errors()
            .into_iter()
            .flat_map(|(field, list)| {
                list.iter().map(move |e| {
                    let detail = match (e.params.get("min"), e.params.get("max")) {
                        (Some(min), Some(max)) => format!("must be from {min} to {max}"),
                        _ => e.code.to_string(),
                    };
                    FieldError::new(format!("/query/{field}"), detail)
                })
            })
            .collect();
        fields.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        ApiError::invalid(fields)
    })
}

/// 422 unless the domain found nothing wrong.
pub fn ensure_valid(errors: FieldErrors) -> Result<(), ApiError> {
    errors.into_result().map_err(ApiError::invalid)
}

/// Applies a JSON merge patch (RFC 7386) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(members) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(target) = target {
                for (key, value) in members {
                    if value.is_null() {
                        target.remove(key);
                    } else {
                        merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Applies `patch` to `current` and reads the result back as `T`, so a patch is checked
/// exactly as a full body would be, with pointers that name the patched fields.
pub fn patched<T: serde::Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: &Value,
) -> Result<T, StoreError> {
    if !patch.is_object() {
        return Err(StoreError::invalid(
            "",
            "a merge patch must be a JSON object",
        ));
    }
    let mut value =
        serde_json::to_value(current).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    merge_patch(&mut value, patch);
    let result: T =
        crate::extract::from_value(value).map_err(|e| StoreError::Invalid(e.problem().errors))?;
    // `null` removes a member (RFC 7386). A member that comes back with a value of its
    // own (a default such as a contract's `status`) is required: removing it would be
    // silently ignored, so it is refused.
    let read_back =
        serde_json::to_value(&result).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut refused = FieldErrors::new();
    for pointer in null_pointers(patch, String::new()) {
        let kept = read_back.pointer(&pointer).is_some_and(|v| match v {
            Value::Null => false,
            Value::Array(items) => !items.is_empty(),
            Value::Object(members) => !members.is_empty(),
            _ => true,
        });
        refused.check(
            kept,
            pointer,
            "is required and cannot be removed; send a value instead",
        );
    }
    refused.into_result().map_err(StoreError::Invalid)?;
    Ok(result)
}

/// The pointers of the members a merge patch sets to `null`.
fn null_pointers(patch: &Value, base: String) -> Vec<String> {
    let Value::Object(members) = patch else {
        return Vec::new();
    };
    members
        .iter()
        .flat_map(|(key, value)| {
            let pointer = format!("{base}/{}", dayops_domain::error::escape_token(key));
            match value {
                Value::Null => vec![pointer],
                _ => null_pointers(value, pointer),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_on_a_required_member_is_refused() {
        use dayops_domain::provider::ProviderInput;
        let current: ProviderInput = serde_json::from_value(
            json!({"name": "Riverside", "cqc_location_id": "1-234", "status": "suspended"}),
        )
        .unwrap();
        let ok: ProviderInput = patched(&current, &json!({"cqc_location_id": null})).unwrap();
        assert_eq!(ok.cqc_location_id, None);
        for (patch, pointer) in [
            (json!({"status": null}), "/status"),
            (json!({"name": null}), "/name"),
        ] {
            let Err(StoreError::Invalid(errors)) = patched(&current, &patch) else {
                panic!("{patch} was taken");
            };
            assert_eq!(errors[0].pointer, pointer, "{patch}");
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        // The examples of RFC 7386 §3.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected);
        }
    }

    #[test]
    fn page_limit_is_checked() {
        let q = PageQuery {
            cursor: None,
            limit: Some(501),
        };
        let problem = validate_query(&q).unwrap_err().problem();
        assert_eq!(problem.errors[0].pointer, "/query/limit");
        assert_eq!(
            PageQuery {
                cursor: None,
                limit: None
            }
            .limit(),
            100
        );
    }
}
