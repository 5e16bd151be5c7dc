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

/// The canonical JSON of a typed value, written straight from it: no `serde_json::Value`
/// tree (ten times a large register's size) is built. Each object's members are written
/// to small buffers of their own, sorted by key and joined; everything else is written
/// as serde_json writes it. The same bytes as `canonical_json(&to_value(value))` (a
/// property test holds it).
pub fn to_canonical_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(4096);
    value.serialize(Canon { out: &mut out })?;
    // serde_json writes only valid UTF-8, and so does every member joined here.
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

mod typed {
    use serde::ser::{self, Serialize};
    use serde_json::Error;

    /// Writes one value canonically into `out`.
    pub(super) struct Canon<'a> {
        pub out: &'a mut Vec<u8>,
    }

    fn plain<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Error> {
        serde_json::to_writer(out, value)
    }

    /// An object being written: its members, to be sorted by key when it ends.
    pub(super) struct Object<'a> {
        out: &'a mut Vec<u8>,
        members: Vec<(String, Vec<u8>)>,
        key: Option<String>,
        /// For an externally tagged variant: the tag this object is wrapped in.
        tag: Option<&'static str>,
    }

    impl Object<'_> {
        fn member<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), Error> {
            let mut buf = Vec::new();
            value.serialize(Canon { out: &mut buf })?;
            self.members.push((key, buf));
            Ok(())
        }

        fn finish(mut self) -> Result<(), Error> {
            self.members.sort_by(|a, b| a.0.cmp(&b.0));
            if let Some(tag) = self.tag {
                self.out.push(b'{');
                plain(self.out, tag)?;
                self.out.push(b':');
            }
            self.out.push(b'{');
            for (i, (key, value)) in self.members.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                plain(self.out, key)?;
                self.out.push(b':');
                self.out.extend_from_slice(value);
            }
            self.out.push(b'}');
            if self.tag.is_some() {
                self.out.push(b'}');
            }
            Ok(())
        }
    }

    /// An array being written, or an externally tagged tuple variant's.
    pub(super) struct Array<'a> {
        out: &'a mut Vec<u8>,
        first: bool,
        tag: Option<&'static str>,
    }

    impl Array<'_> {
        fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
            if !self.first {
                self.out.push(b',');
            }
            self.first = false;
            value.serialize(Canon { out: self.out })
        }

        fn finish(self) -> Result<(), Error> {
            self.out.push(b']');
            if self.tag.is_some() {
                self.out.push(b'}');
            }
            Ok(())
        }
    }

    impl<'a> Canon<'a> {
        fn array(self, tag: Option<&'static str>) -> Result<Array<'a>, Error> {
            if let Some(tag) = tag {
                self.out.push(b'{');
                plain(self.out, tag)?;
                self.out.push(b':');
            }
            self.out.push(b'[');
            Ok(Array {
                out: self.out,
                first: true,
                tag,
            })
        }

        fn object(self, tag: Option<&'static str>) -> Object<'a> {
            Object {
                out: self.out,
                members: Vec::new(),
                key: None,
                tag,
            }
        }
    }

    macro_rules! plain_scalars {
        ($($method:ident: $ty:ty),* $(,)?) => {
            $(fn $method(self, v: $ty) -> Result<(), Error> { plain(self.out, &v) })*
        };
    }

    impl<'a> ser::Serializer for Canon<'a> {
        type Ok = ();
        type Error = Error;
        type SerializeSeq = Array<'a>;
        type SerializeTuple = Array<'a>;
        type SerializeTupleStruct = Array<'a>;
        type SerializeTupleVariant = Array<'a>;
        type SerializeMap = Object<'a>;
        type SerializeStruct = Object<'a>;
        type SerializeStructVariant = Object<'a>;

        plain_scalars!(
            serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
            serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
            serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
            serialize_f64: f64, serialize_char: char,
        );

        fn serialize_str(self, v: &str) -> Result<(), Error> {
            plain(self.out, v)
        }
        fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
            plain(self.out, v)
        }
        fn serialize_none(self) -> Result<(), Error> {
            self.out.extend_from_slice(b"null");
            Ok(())
        }
        fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
            value.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), Error> {
            self.serialize_none()
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
            self.serialize_none()
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<(), Error> {
            plain(self.out, variant)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            let mut object = self.object(None);
            object.member(variant.to_string(), value)?;
            object.finish()
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Array<'a>, Error> {
            self.array(None)
        }
        fn serialize_tuple(self, _: usize) -> Result<Array<'a>, Error> {
            self.array(None)
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Array<'a>, Error> {
            self.array(None)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<Array<'a>, Error> {
            self.array(Some(variant))
        }
        fn serialize_map(self, _: Option<usize>) -> Result<Object<'a>, Error> {
            Ok(self.object(None))
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Object<'a>, Error> {
            Ok(self.object(None))
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            _: usize,
        ) -> Result<Object<'a>, Error> {
            Ok(self.object(Some(variant)))
        }
    }

    impl ser::SerializeSeq for Array<'_> {
        type Ok = ();
        type Error = Error;
        fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
            self.element(value)
        }
        fn end(self) -> Result<(), Error> {
            self.finish()
        }
    }

    impl ser::SerializeTuple for Array<'_> {
        type Ok = ();
        type Error = Error;
        fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
            self.element(value)
        }
        fn end(self) -> Result<(), Error> {
            self.finish()
        }
    }

    impl ser::SerializeTupleStruct for Array<'_> {
        type Ok = ();
        type Error = Error;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
            self.element(value)
        }
        fn end(self) -> Result<(), Error> {
            self.finish()
        }
    }

    impl ser::SerializeTupleVariant for Array<'_> {
        type Ok = ();
        type Error = Error;
        fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
            self.element(value)
        }
        fn end(self) -> Result<(), Error> {
            self.finish()
        }
    }

    impl ser::SerializeMap for Object<'_> {
        type Ok = ();
        type Error = Error;
        fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
            // Keys are strings (JSON has no others): read back the one serde_json wrote.
            // A number key is written as its digits, as a `Value` map would hold it.
            let written = serde_json::to_string(key)?;
            self.key = Some(serde_json::from_str::<String>(&written).unwrap_or(written));
            Ok(())
        }
        fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
            let key = self.key.take().unwrap_or_default();
            self.member(key, value)
        }
        fn end(self) -> Result<(), Error> {
            self.finish()
        }
    }

    impl ser::SerializeStruct for Object<'_> {
        type Ok = ();
        type Error = Error;
        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            self.member(key.to_string(), value)
        }
        fn end(self) -> Result<(), Error> {
            self.finish()
        }
    }

    impl ser::SerializeStructVariant for Object<'_> {
        type Ok = ();
        type Error = Error;
        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            self.member(key.to_string(), value)
        }
        fn end(self) -> Result<(), Error> {
            self.finish()
        }
    }
}

use typed::Canon;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of the canonical JSON of `value`, lower-case hex.
pub fn content_sha256(value: &Value) -> String {
    sha256_hex(canonical_json(value).as_bytes())
}

/// A strong entity tag for a representation: the SHA-256 of its canonical JSON, to 128
/// bits. Any change to what a client reads changes it.
pub fn representation_etag<T: Serialize + ?Sized>(value: &T) -> String {
    // A representation that does not serialise is never answered, so never compared.
    let canonical = to_canonical_string(value).unwrap_or_default();
    format!("\"{}\"", &sha256_hex(canonical.as_bytes())[..32])
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

        /// Written straight from a value, canonical JSON is byte for byte what the tree
        /// gives (stored hashes depend on it).
        #[test]
        fn typed_writes_what_the_tree_writes(value in json_value()) {
            prop_assert_eq!(to_canonical_string(&value).unwrap(), canonical_json(&value));
        }
    }

    /// The shapes serde gives typed values: nested structs, options, enums of every kind,
    /// flattened members, maps with enum and number keys.
    #[test]
    fn typed_values_are_written_as_their_tree_is() {
        use std::collections::BTreeMap;
        #[derive(serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        enum Kind {
            Unit,
            Newtype(u32),
            Tuple(u8, String),
            Struct { b: bool, a: Option<f64> },
        }
        #[derive(serde::Serialize)]
        struct Inner {
            zeta: i64,
            alpha: Vec<Kind>,
        }
        #[derive(serde::Serialize)]
        struct Outer {
            name: &'static str,
            absent: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<String>,
            #[serde(flatten)]
            inner: Inner,
            by_kind: BTreeMap<String, u32>,
            by_number: BTreeMap<u32, &'static str>,
            date: chrono::NaiveDate,
        }
        let value = Outer {
            name: "é\"q",
            absent: None,
            skipped: None,
            inner: Inner {
                zeta: -3,
                alpha: vec![
                    Kind::Unit,
                    Kind::Newtype(7),
                    Kind::Tuple(1, "x".into()),
                    Kind::Struct {
                        b: true,
                        a: Some(0.25),
                    },
                ],
            },
            by_kind: [("pm".to_string(), 2), ("am".to_string(), 1)].into(),
            by_number: [(10, "ten"), (9, "nine")].into(),
            date: "2026-12-02".parse().unwrap(),
        };
        let tree = serde_json::to_value(&value).unwrap();
        assert_eq!(to_canonical_string(&value).unwrap(), canonical_json(&tree));
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
