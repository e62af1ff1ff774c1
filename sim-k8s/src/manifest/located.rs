//! A YAML document as a tree of nodes that remember where they were written: every scalar,
//! sequence and mapping — keys included — carries the line and column serde-saphyr reported
//! for it. The tree is what the manifest loader reads `apiVersion`/`kind` from and what
//! [`super::deserializer`] turns into typed objects, so an error deep inside a Deployment can
//! still point at `deploy.yaml:14:7`.
//!
//! Scalars keep the type YAML resolved for them (`8080` is an integer, `"8080"` a string), which
//! is the distinction Kubernetes' own YAML→JSON step makes before decoding.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column in one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

/// One node of a parsed document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// What a node holds. Mapping entries keep their source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value of `key` if this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The node's text if it is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar written as text, the way a mapping key becomes a JSON object key
    /// (`1: x` has the key `"1"`). `None` for null, sequences and mappings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Null | Value::Seq(_) | Value::Map(_) => None,
        }
    }

    /// A short name for the node's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "floating point number",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }

    /// The node as JSON, dropping positions (mapping keys become strings; a key that is not a
    /// scalar is written as its JSON text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::UInt(u) => J::from(*u),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = k.scalar_text().unwrap_or_else(|| k.to_json().to_string());
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(d)?;
        Ok(Node {
            pos: Pos {
                line: spanned.referenced.line(),
                column: spanned.referenced.column(),
            },
            value: spanned.value,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Node> {
        serde_saphyr::from_multiple::<Node>(text).expect("valid YAML")
    }

    #[test]
    fn scalars_keep_their_yaml_type_and_position() {
        let docs = parse("port: 8080\nname: \"8080\"\nratio: 1.5\non: true\nnothing: ~\n");
        let doc = &docs[0];
        assert_eq!(doc.pos, Pos { line: 1, column: 1 });
        let port = doc.get("port").unwrap();
        assert_eq!(port.value, Value::UInt(8080));
        assert_eq!(port.pos, Pos { line: 1, column: 7 });
        assert_eq!(doc.get("name").unwrap().value, Value::Str("8080".into()));
        assert_eq!(doc.get("ratio").unwrap().value, Value::Float(1.5));
        assert_eq!(doc.get("nothing").unwrap().value, Value::Null);
    }

    #[test]
    fn empty_documents_are_skipped_and_positions_are_per_stream() {
        let docs = parse("a: 1\n---\n---\n# comment only\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].pos.line, 6);
    }

    #[test]
    fn json_is_yaml_and_converts_back() {
        let docs = parse("{\n\t\"a\": [1, \"x\"],\n\t\"b\": {\"c\": null}\n}\n");
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"a": [1, "x"], "b": {"c": null}})
        );
    }

    #[test]
    fn non_string_keys_become_text() {
        let docs = parse("1: one\ntrue: yes\n");
        assert_eq!(docs[0].get("1").unwrap().as_str(), Some("one"));
        assert_eq!(
            docs[0].to_json(),
            serde_json::json!({"1": "one", "true": true})
        );
    }
}
