//! Request bodies read strictly, and described in JSON's words.
//!
//! serde's derived `Deserialize` accepts a JSON array wherever a struct is expected (its fields in
//! order) and phrases errors with Rust's names (`expected struct TenantIn`, `u32`, `sequence`).
//! The API accepts an object only where its document says object, refuses text holding the NUL
//! character (which PostgreSQL text cannot store, and receivers rarely expect), and explains
//! failures with JSON's vocabulary. [`Strict`] reads a parsed [`Value`] for serde with those
//! rules; [`humanize`] rewrites serde's messages.

use serde::de::{self, DeserializeSeed, Expected, IntoDeserializer, Unexpected, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// A borrowed JSON value as a serde `Deserializer` that refuses arrays where an object is
/// expected and strings holding NUL.
#[derive(Debug)]
pub struct Strict<'a>(pub &'a Value);

type Error = serde_json::Error;

const NUL_MESSAGE: &str = "text must not contain the NUL character (U+0000)";

/// Whether the visitor wants an object (a struct, or an enum tagged by a field inside one).
fn wants_object(visitor: &dyn Expected) -> bool {
    let expecting = visitor.to_string();
    expecting.starts_with("struct ") || expecting.starts_with("internally tagged enum")
}

fn visit_str<'de, V: Visitor<'de>>(s: &str, visitor: V) -> Result<V::Value, Error> {
    if s.contains('\0') {
        return Err(de::Error::custom(NUL_MESSAGE));
    }
    visitor.visit_str(s)
}

impl<'de> de::Deserializer<'de> for Strict<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visit_str(s, visitor),
            Value::Array(items) => {
                if wants_object(&visitor) {
                    return Err(de::Error::invalid_type(Unexpected::Seq, &visitor));
                }
                visitor.visit_seq(Items(items.iter()))
            }
            Value::Object(map) => visitor.visit_map(Fields::new(map)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Fields::new(map)),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => {
                if s.contains('\0') {
                    return Err(de::Error::custom(NUL_MESSAGE));
                }
                visitor.visit_enum(s.as_str().into_deserializer())
            }
            Value::Object(map) if map.len() == 1 => {
                let (variant, value) = map.iter().next().ok_or_else(|| de::Error::custom("empty object"))?;
                visitor.visit_enum(Variant { name: variant, value })
            }
            other => Err(de::Error::invalid_type(unexpected(other), &"a string")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (_, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de> de::SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|value| seed.deserialize(Strict(value))).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Fields<'a> {
    entries: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Fields<'a> {
    fn new(map: &'a Map<String, Value>) -> Self {
        Self { entries: map.iter(), value: None }
    }
}

impl<'de> de::MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        if key.contains('\0') {
            return Err(de::Error::custom(NUL_MESSAGE));
        }
        self.value = Some(value);
        seed.deserialize(key.as_str().into_deserializer()).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self.value.take().ok_or_else(|| de::Error::custom("a value without its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// An externally tagged enum written as `{"variant": value}`.
struct Variant<'a> {
    name: &'a str,
    value: &'a Value,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = Strict<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Strict<'a>), Error> {
        let variant = seed.deserialize(self.name.into_deserializer())?;
        Ok((variant, Strict(self.value)))
    }
}

impl<'de> de::VariantAccess<'de> for Strict<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(other), &"null")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

/// serde's message in JSON's words: no Rust type names, no Rust number types.
pub fn humanize(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    // Whole phrases first, then single words.
    let mut rest = message;
    let mut in_word = false;
    while let Some(c) = rest.chars().next() {
        if !in_word && let Some((replacement, used)) = phrase_at(rest) {
            out.push_str(replacement);
            rest = &rest[used..];
            in_word = false;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        in_word = c.is_alphanumeric() || c == '_';
    }
    out
}

/// A phrase of serde's at the start of `text`: its replacement and its length.
fn phrase_at(text: &str) -> Option<(&'static str, usize)> {
    const NAMED: [(&str, &str); 5] = [
        ("internally tagged enum ", "an object with a `type`"),
        ("tuple struct ", "an array"),
        ("newtype struct ", "a value"),
        ("struct ", "an object"),
        ("enum ", "one of the documented values"),
    ];
    for (prefix, replacement) in NAMED {
        if let Some(after) = text.strip_prefix(prefix)
            && after.starts_with(|c: char| c.is_ascii_uppercase())
        {
            let name_len =
                after.find(|c: char| !c.is_ascii_alphanumeric() && c != '_').unwrap_or(after.len());
            return Some((replacement, prefix.len() + name_len));
        }
    }
    const WORDS: [(&str, &str); 14] = [
        ("a sequence", "an array"),
        ("sequence", "array"),
        ("a map", "an object"),
        ("map", "object"),
        ("unit value", "null"),
        ("floating point", "number"),
        ("integer", "number"),
        ("usize", "a whole number"),
        ("u64", "a whole number"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u16", "a whole number from 0 to 65535"),
        ("u8", "a whole number from 0 to 255"),
        ("i64", "a whole number"),
        ("f64", "a number"),
    ];
    for (word, replacement) in WORDS {
        if let Some(after) = text.strip_prefix(word)
            && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            return Some((replacement, word.len()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        name: String,
        count: Option<u32>,
        inner: Option<Inner>,
        data: Option<Map<String, Value>>,
        tags: Option<Vec<String>>,
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        on: bool,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "camelCase")]
    enum Kind {
        Basic { user: String },
        Plain,
    }

    fn read(value: Value) -> Result<Thing, String> {
        Thing::deserialize(Strict(&value)).map_err(|e| humanize(&e.to_string()))
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let value = json!({"name": "a", "count": 3, "inner": {"on": true}, "data": {"x": [1, {"y": null}], "z": 1.5},
            "tags": ["t"], "kind": {"type": "basic", "user": "u"}});
        assert_eq!(read(value.clone()).unwrap(), serde_json::from_value::<Thing>(value).unwrap());
    }

    #[test]
    fn arrays_are_not_objects() {
        assert!(
            serde_json::from_value::<Thing>(json!(["a", 1, null, null, null, null])).is_ok(),
            "serde would"
        );
        for bad in [
            json!(["a"]),
            json!({"name": "a", "inner": [true]}),
            json!({"name": "a", "kind": ["basic", "u"]}),
        ] {
            let message = read(bad.clone()).unwrap_err();
            assert!(message.contains("invalid type: array, expected an object"), "{bad}: {message}");
        }
    }

    #[test]
    fn nul_is_refused_anywhere() {
        for bad in [
            json!({"name": "a\u{0}"}),
            json!({"name": "a", "data": {"k": ["x\u{0}"]}}),
            json!({"name": "a", "data": {"\u{0}": 1}}),
        ] {
            assert_eq!(read(bad).unwrap_err(), NUL_MESSAGE);
        }
    }

    #[test]
    fn messages_use_json_words() {
        assert_eq!(humanize("a bitmap of u32s, expected map"), "a bitmap of u32s, expected object");
        assert_eq!(
            read(json!({"name": "a", "count": -1})).unwrap_err(),
            "invalid value: number `-1`, expected a whole number from 0 to 4294967295"
        );
        assert_eq!(
            read(json!({"name": "a", "count": "x"})).unwrap_err(),
            "invalid type: string \"x\", expected a whole number from 0 to 4294967295"
        );
        assert_eq!(
            read(json!({"name": "a", "tags": {}})).unwrap_err(),
            "invalid type: object, expected an array"
        );
        assert_eq!(
            read(json!({"name": "a", "inner": 1})).unwrap_err(),
            "invalid type: number `1`, expected an object"
        );
        assert_eq!(read(json!("x")).unwrap_err(), "invalid type: string \"x\", expected an object");
        assert_eq!(read(json!({"name": null})).unwrap_err(), "invalid type: null, expected a string");
    }
}
