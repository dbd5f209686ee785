//! JSON keys matched as Go's `encoding/json` matches them: a key names the field spelled exactly
//! like it, else the field whose name equals it ignoring case. dockerd decodes every request
//! body that way, so `{"Mode": {"global": {}}}` is a global service there; serde alone would
//! skip `global` and leave a replicated service — a silent wrong result.
//!
//! ```text
//! body bytes ─► serde_json::Value ─► Folded ─► T::deserialize
//!                                      │ deserialize_struct: keys renamed to the declared fields
//!                                      │ deserialize_enum:   variant names likewise
//!                                      └ maps and lists: values stay Folded, map keys kept as sent
//! ```
//!
//! A struct with `#[serde(flatten)]` is decoded through `deserialize_map`, which does not
//! name its fields; such a struct renames its keys first with [`canonical_keys`] (the
//! ContainerSpec does, see `task_spec.rs`). Folding is ASCII: Docker's field names are ASCII.

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// Decodes `T` from `value` with Go's key matching.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, serde_json::Error> {
    T::deserialize(Folded(value))
}

/// A JSON value whose object keys match struct fields and enum variants case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded(pub Value);

/// The field `key` names among `names`: the exact spelling first, else the first equal to it
/// ignoring ASCII case.
fn field_for<'n>(key: &str, names: &[&'n str]) -> Option<&'n str> {
    names
        .iter()
        .find(|n| **n == key)
        .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(key)))
        .copied()
}

/// `map`'s keys renamed to the `names` they match. When two keys land on one name the one
/// spelled exactly wins, else the first in the map's (byte) order; serde would refuse the
/// duplicate where dockerd accepts it.
fn rename_keys(map: Map<String, Value>, names: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    let mut folded = Vec::new();
    for (key, value) in map {
        match field_for(&key, names) {
            Some(name) if name != key => folded.push((name.to_string(), value)),
            _ => {
                out.insert(key, value);
            }
        }
    }
    for (name, value) in folded {
        out.entry(name).or_insert(value);
    }
    out
}

/// Renames, throughout `value`, every object key that matches one of `names` ignoring case;
/// the keys of the maps under a key in `free_form` (labels, options) are left as sent. For
/// shapes kept as JSON rather than typed, where serde cannot name the fields.
pub fn canonical_keys(value: Value, names: &[&str], free_form: &[&str]) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            rename_keys(map, names)
                .into_iter()
                .map(|(key, value)| {
                    let value = if free_form.contains(&key.as_str()) {
                        value
                    } else {
                        canonical_keys(value, names, free_form)
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| canonical_keys(v, names, free_form))
                .collect(),
        ),
        other => other,
    }
}

impl<'de> de::Deserializer<'de> for Folded {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.into_iter())),
            Value::Object(map) => visitor.visit_map(Entries::new(map)),
            scalar => de::Deserializer::deserialize_any(scalar, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Entries::new(rename_keys(map, fields))),
            // serde's derived structs also take a list of field values in declaration order; Go's
            // decoder takes a struct only from an object, and dockerd answers such a body 400.
            Value::Array(_) => Err(de::Error::invalid_type(
                de::Unexpected::Seq,
                &format!("a JSON object for {name}").as_str(),
            )),
            other => Folded(other).deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let (variant, payload) = match self.0 {
            Value::String(tag) => (tag, None),
            Value::Object(map) if map.len() == 1 => {
                let Some((tag, payload)) = map.into_iter().next() else {
                    return Err(de::Error::invalid_length(0, &"an object with one key"));
                };
                (tag, Some(payload))
            }
            other => return de::Deserializer::deserialize_enum(other, name, variants, visitor),
        };
        let variant = field_for(&variant, variants).map_or(variant, str::to_string);
        visitor.visit_enum(Variant { variant, payload })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier
    }
}

/// A JSON array's elements, each `Folded`.
struct Items(std::vec::IntoIter<Value>);

impl<'de> de::SeqAccess<'de> for Items {
    type Error = serde_json::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next().map(|v| seed.deserialize(Folded(v))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// A JSON object's entries: keys as they stand, values `Folded`.
struct Entries {
    entries: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl Entries {
    fn new(map: Map<String, Value>) -> Self {
        Entries {
            entries: map.into_iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for Entries {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(value);
        let key: StringDeserializer<serde_json::Error> = key.into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        // serde asks for a value only after its key; a missing one is a caller's bug, told as JSON.
        let value = self
            .value
            .take()
            .ok_or_else(|| de::Error::custom("value asked before its key"))?;
        seed.deserialize(Folded(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An enum's variant name (already matched) and its payload, if any.
struct Variant {
    variant: String,
    payload: Option<Value>,
}

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = serde_json::Error;
    type Variant = Payload;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Payload), Self::Error> {
        let tag: StringDeserializer<serde_json::Error> = self.variant.into_deserializer();
        Ok((seed.deserialize(tag)?, Payload(self.payload)))
    }
}

/// What follows an enum's variant name.
struct Payload(Option<Value>);

impl<'de> de::VariantAccess<'de> for Payload {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::invalid_type(unexpected(&other), &"a unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Self::Error> {
        seed.deserialize(Folded(self.0.unwrap_or(Value::Null)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_seq(Folded(self.0.unwrap_or(Value::Null)), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        de::Deserializer::deserialize_struct(Folded(self.0.unwrap_or(Value::Null)), "", fields, visitor)
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Other("number"),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Shape {
        #[serde(default)]
        order: String,
        #[serde(default)]
        inner: Option<Box<Shape>>,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        Global,
        Replicated { count: u32 },
    }

    #[test]
    fn keys_and_variants_fold_but_map_keys_stay() {
        let shape: Shape = from_value(json!({
            "order": "start-first",
            "INNER": {"oRdEr": "stop-first", "kind": "global"},
            "labels": {"Zone": "a"},
            "Kind": {"replicated": {"COUNT": 2}},
        }))
        .unwrap();
        assert_eq!(shape.order, "start-first");
        let inner = shape.inner.unwrap();
        assert_eq!(inner.order, "stop-first");
        assert_eq!(inner.kind, Some(Kind::Global));
        assert_eq!(shape.labels.keys().collect::<Vec<_>>(), ["Zone"]);
        assert_eq!(shape.kind, Some(Kind::Replicated { count: 2 }));
    }

    #[test]
    fn the_exact_spelling_wins() {
        let shape: Shape = from_value(json!({"order": "b", "Order": "a", "ORDER": "c"})).unwrap();
        assert_eq!(shape.order, "a");
    }

    #[test]
    fn canonical_keys_leave_free_form_maps() {
        let value = canonical_keys(
            json!({"mounts": [{"source": "x"}], "labels": {"source": "y"}}),
            &["Mounts", "Source", "Labels"],
            &["Labels"],
        );
        assert_eq!(
            value,
            json!({"Mounts": [{"Source": "x"}], "Labels": {"source": "y"}})
        );
    }

    #[test]
    fn a_struct_is_never_taken_from_a_list() {
        let error = from_value::<Shape>(json!({"inner": ["start-first"]})).unwrap_err();
        assert!(
            error.to_string().contains("expected a JSON object for Shape"),
            "{error}"
        );
        // Lists of structs and maps are still lists.
        let shape: Shape = from_value(json!({"inner": {"order": "a"}})).unwrap();
        assert_eq!(shape.inner.unwrap().order, "a");
        let list: Vec<Shape> = from_value(json!([{"order": "a"}, {"ORDER": "b"}])).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].order, "b");
    }

    #[test]
    fn wrong_types_still_fail() {
        assert!(from_value::<Shape>(json!({"order": 5})).is_err());
        assert!(from_value::<Shape>(json!({"kind": "nope"})).is_err());
    }
}
