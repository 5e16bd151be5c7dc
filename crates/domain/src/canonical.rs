//! Canonical JSON: the byte form that content hashes are taken over.
//!
//! Object members sorted by key, no insignificant white space, numbers and strings as
//! serde_json writes them. Two bodies that mean the same JSON hash the same.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn canonical_json(value: &Value) -> String {
    // Serialising a `Value` cannot fail (its keys are strings and a String takes any
    // write), so the empty default is never taken.
    serde_json::to_string(&Canonical(value)).unwrap_or_default()
}

/// A value serialised with every object's members in key order, in one pass: serde_json
/// writes the keys, strings and numbers exactly as it writes them anywhere else.
struct Canonical<'a>(&'a Value);

impl Serialize for Canonical<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = serializer.serialize_map(Some(entries.len()))?;
                for (key, member) in entries {
                    out.serialize_entry(key, &Canonical(member))?;
                }
                out.end()
            }
            Value::Array(items) => serializer.collect_seq(items.iter().map(Canonical)),
            scalar => scalar.serialize(serializer),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the canonical JSON of `value`, lower-case hex.
pub fn content_sha256(value: &Value) -> String {
    sha256_hex(canonical_json(value).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"b": [1, {"y": 2, "x": "é"}], "a": null}"#).unwrap();
        let b = json!({"a": null, "b": [1, {"x": "é", "y": 2}]});
        assert_eq!(canonical_json(&a), r#"{"a":null,"b":[1,{"x":"é","y":2}]}"#);
        assert_eq!(content_sha256(&a), content_sha256(&b));
    }

    /// The member-by-member writer canonical JSON had first, kept to show that the one-pass
    /// form writes the same bytes (stored hashes depend on them).
    fn reference(value: &Value) -> String {
        let mut out = String::new();
        reference_write(value, &mut out);
        out
    }

    fn reference_write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (key, member)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    reference_write(member, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    reference_write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..8)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn one_pass_writes_what_the_first_writer_wrote(value in json_value()) {
            prop_assert_eq!(canonical_json(&value), reference(&value));
        }
    }

    #[test]
    fn escapes_and_numbers_are_written_as_serde_json_writes_them() {
        let value = json!({"z": "q\" b\\ n\n t\t c\u{1} é 😀", "n": [-1.5e300, 0.1, 12345678901234567890u64, 1.0]});
        assert_eq!(
            canonical_json(&value),
            r#"{"n":[-1.5e+300,0.1,12345678901234567890,1.0],"z":"q\" b\\ n\n t\t c\u0001 é 😀"}"#
        );
        assert_eq!(canonical_json(&value), reference(&value));
    }

    #[test]
    fn array_order_matters() {
        assert_ne!(
            content_sha256(&json!([1, 2])),
            content_sha256(&json!([2, 1]))
        );
    }
}
