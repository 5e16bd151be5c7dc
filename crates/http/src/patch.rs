//! JSON merge patch (RFC 7386) of providers and contracts: the patch's schema in the
//! document, derived from the input schema, and its application, checked exactly as a
//! full body is.

use std::borrow::Cow;

use serde_json::Value;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use dayops_domain::contract::ContractInput;
use dayops_domain::provider::ProviderInput;
use dayops_domain::FieldErrors;
use dayops_persistence::StoreError;

/// The schema of `T` with no member required and without the members a patch may not
/// touch: the body of a JSON merge patch (RFC 7386) of `T`, without a second hand-kept
/// copy of its fields.
fn patch_schema<T: PartialSchema>(description: &str, fixed: &[&str]) -> RefOr<Schema> {
    let mut schema = T::schema();
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.required.clear();
        object
            .properties
            .retain(|name, _| !fixed.contains(&name.as_str()));
        object.description = Some(description.to_string());
    }
    schema
}

/// The contract terms a patch may not change: a contract belongs to one provider for life.
pub const CONTRACT_FIXED: &[&str] = &["provider_id"];

/// A merge patch of a provider: any subset of its fields; `null` clears an optional one.
pub struct ProviderPatch;

impl PartialSchema for ProviderPatch {
    fn schema() -> RefOr<Schema> {
        patch_schema::<ProviderInput>(
            "Any subset of the provider's fields (JSON merge patch, RFC 7386).",
            &[],
        )
    }
}

impl ToSchema for ProviderPatch {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProviderPatch")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ProviderInput::schemas(schemas);
    }
}

/// A merge patch of a contract: any subset of its terms; `null` clears an optional one.
pub struct ContractPatch;

impl PartialSchema for ContractPatch {
    fn schema() -> RefOr<Schema> {
        patch_schema::<ContractInput>(
            "Any subset of the contract's terms but its provider_id (JSON merge patch, RFC 7386): a contract belongs to one provider; a new provider needs a new contract.",
            CONTRACT_FIXED,
        )
    }
}

impl ToSchema for ContractPatch {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ContractPatch")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ContractInput::schemas(schemas);
    }
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
    // Read each `null` back as the type reads it: an optional member becomes absent, a
    // member the type does not know, or one it cannot be without, is refused with its
    // pointer (as the document's schema refuses it), instead of being dropped unseen.
    restore_nulls(&mut value, patch);
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

/// Puts back, as explicit `null`s, the members `patch` removed (RFC 7386 removal leaves
/// no trace for the type to check).
fn restore_nulls(value: &mut Value, patch: &Value) {
    let (Value::Object(target), Value::Object(members)) = (value, patch) else {
        return;
    };
    for (key, member) in members {
        if member.is_null() {
            target.insert(key.clone(), Value::Null);
        } else if let Some(inner) = target.get_mut(key) {
            restore_nulls(inner, member);
        }
    }
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
    fn null_on_an_unknown_member_is_refused() {
        use dayops_domain::provider::ProviderInput;
        let current: ProviderInput =
            serde_json::from_value(json!({"name": "Riverside", "status": "active"})).unwrap();
        for patch in [json!({"": null}), json!({"colour": null})] {
            assert!(
                matches!(patched(&current, &patch), Err(StoreError::Invalid(_))),
                "{patch} was taken"
            );
        }
        // A null for an optional member already absent is no change.
        let same: ProviderInput = patched(&current, &json!({"cqc_location_id": null})).unwrap();
        assert_eq!(same.cqc_location_id, None);
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
}
