//! A serde `Deserializer` over a located [`Node`] tree that knows, at every step, the field path
//! it is at (`spec.template.spec.containers[0].ports[0].containerPort`) and the source position
//! of the node it is reading. Errors leave it carrying both, innermost first, so a type error
//! is reported where it is, not at the top of the document.
//!
//! It also notices *unknown fields*: the k8s-openapi types skip a field they do not know by
//! deserializing it as `IgnoredAny`, and a struct asking for `IgnoredAny` here is recorded with
//! its path and position. That is the information `kubectl apply --validate=strict` (the
//! default since Kubernetes 1.27) reports as `unknown field "spec.contianers"`.
//!
//! Paths are written the way apimachinery's `field.Path` writes them: struct fields joined by
//! `.`, list indices and map keys in brackets (`metadata.labels[app]`).

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::located::{Node, Pos, Value};

/// A field path, as a linked list of borrowed segments from the root down.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Field(&'a str),
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    pub(crate) const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    fn child(&'a self, seg: Seg<'a>) -> Path<'a> {
        Path {
            parent: Some(self),
            seg,
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            segs.push(p.seg);
            cur = p.parent;
        }
        let mut first = true;
        for seg in segs.iter().rev() {
            match seg {
                Seg::Root => continue,
                Seg::Field(name) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(name)?;
                }
                Seg::Key(key) => write!(f, "[{key}]")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// A decoding error with the path and position of the innermost node that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeError {
    pub message: String,
    pub path: Option<String>,
    pub pos: Option<Pos>,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            path: None,
            pos: None,
        }
    }
}

impl DeError {
    fn at(mut self, path: &Path<'_>, pos: Pos) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_string());
            self.pos = Some(pos);
        }
        self
    }
}

/// A field a struct did not know, found while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnknownField {
    pub path: String,
    pub pos: Pos,
}

/// State shared by every deserializer of one document.
#[derive(Default)]
pub(crate) struct Ctx {
    unknown: RefCell<Vec<UnknownField>>,
}

impl Ctx {
    pub(crate) fn take_unknown(&self) -> Vec<UnknownField> {
        self.unknown.take()
    }
}

/// Whether the mapping being read is a struct (fields) or a map (keys).
#[derive(Clone, Copy, PartialEq, Eq)]
enum MapMode {
    Struct,
    Map,
}

/// Deserializes one node.
pub(crate) struct NodeDe<'a> {
    node: &'a Node,
    path: Path<'a>,
    ctx: &'a Ctx,
    /// Set when this node is the value of a struct field: where its key was written.
    field_key: Option<Pos>,
}

impl<'a> NodeDe<'a> {
    pub(crate) fn new(node: &'a Node, ctx: &'a Ctx) -> Self {
        NodeDe {
            node,
            path: Path::ROOT,
            ctx,
            field_key: None,
        }
    }

    fn fail<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| e.at(&self.path, self.node.pos))
    }
}

impl<'de> Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::UInt(u) => visitor.visit_u64(*u),
            Value::Float(x) => visitor.visit_f64(*x),
            Value::Str(s) => visitor.visit_str(s),
            Value::Seq(items) => visitor.visit_seq(SeqDe {
                items,
                index: 0,
                path: &self.path,
                ctx: self.ctx,
            }),
            Value::Map(entries) => {
                visitor.visit_map(MapDe::new(entries, &self.path, self.ctx, MapMode::Map))
            }
        };
        self.fail(r)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if matches!(self.node.value, Value::Null) {
            let r = visitor.visit_none();
            self.fail(r)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Map(entries) => {
                visitor.visit_map(MapDe::new(entries, &self.path, self.ctx, MapMode::Struct))
            }
            _ => return self.deserialize_any(visitor),
        };
        self.fail(r)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if let Some(key_pos) = self.field_key {
            self.ctx.unknown.borrow_mut().push(UnknownField {
                path: self.path.to_string(),
                pos: key_pos,
            });
        }
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.node.value {
            Value::Str(s) => visitor.visit_enum(UnitVariant(s)),
            _ => return self.deserialize_any(visitor),
        };
        self.fail(r)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

/// A unit enum variant named by a string scalar (`mode: ipvs`).
struct UnitVariant<'a>(&'a str);

impl<'de> EnumAccess<'de> for UnitVariant<'_> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), DeError> {
        let v = seed.deserialize(IntoDeserializer::<DeError>::into_deserializer(self.0))?;
        Ok((v, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _seed: S) -> Result<S::Value, DeError> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _v: V) -> Result<V::Value, DeError> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, DeError> {
        Err(de::Error::invalid_type(
            de::Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}

struct SeqDe<'a> {
    items: &'a [Node],
    index: usize,
    path: &'a Path<'a>,
    ctx: &'a Ctx,
}

impl<'de> SeqAccess<'de> for SeqDe<'_> {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        let Some(node) = self.items.get(self.index) else {
            return Ok(None);
        };
        let path = self.path.child(Seg::Index(self.index));
        self.index += 1;
        let de = NodeDe {
            node,
            path,
            ctx: self.ctx,
            field_key: None,
        };
        // Errors a Deserialize impl raises after reading the node (a bad duration string)
        // belong to the node too.
        seed.deserialize(de)
            .map(Some)
            .map_err(|e| e.at(&path, node.pos))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.index)
    }
}

struct MapDe<'a> {
    entries: &'a [(Node, Node)],
    index: usize,
    path: &'a Path<'a>,
    ctx: &'a Ctx,
    mode: MapMode,
    /// Text of each key, computed once.
    keys: Vec<String>,
}

impl<'a> MapDe<'a> {
    fn new(entries: &'a [(Node, Node)], path: &'a Path<'a>, ctx: &'a Ctx, mode: MapMode) -> Self {
        let keys = entries
            .iter()
            .map(|(k, _)| k.scalar_text().unwrap_or_else(|| k.to_json().to_string()))
            .collect();
        MapDe {
            entries,
            index: 0,
            path,
            ctx,
            mode,
            keys,
        }
    }

    fn seg(&self, i: usize) -> Seg<'_> {
        match self.mode {
            MapMode::Struct => Seg::Field(&self.keys[i]),
            MapMode::Map => Seg::Key(&self.keys[i]),
        }
    }
}

impl<'de> MapAccess<'de> for MapDe<'_> {
    type Error = DeError;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        let Some((key, _)) = self.entries.get(self.index) else {
            return Ok(None);
        };
        let text = self.keys[self.index].as_str();
        let r = seed.deserialize(IntoDeserializer::<DeError>::into_deserializer(text));
        let path = self.path.child(self.seg(self.index));
        r.map(Some).map_err(|e| e.at(&path, key.pos))
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let i = self.index;
        self.index += 1;
        let (key, value) = &self.entries[i];
        let path = self.path.child(self.seg(i));
        let de = NodeDe {
            node: value,
            path,
            ctx: self.ctx,
            field_key: (self.mode == MapMode::Struct).then_some(key.pos),
        };
        seed.deserialize(de).map_err(|e| e.at(&path, value.pos))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.index)
    }
}

/// Decodes `node` into `T`, returning it with the unknown fields met on the way.
pub(crate) fn decode<T: de::DeserializeOwned>(
    node: &Node,
) -> Result<(T, Vec<UnknownField>), DeError> {
    let ctx = Ctx::default();
    let value = T::deserialize(NodeDe::new(node, &ctx))?;
    Ok((value, ctx.take_unknown()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;

    fn node(text: &str) -> Node {
        serde_saphyr::from_str::<Node>(text).expect("valid YAML")
    }

    #[test]
    fn type_error_carries_path_and_position_of_the_value() {
        let n = node(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        ports:\n        - containerPort: http\n",
        );
        let err = decode::<Deployment>(&n).unwrap_err();
        assert_eq!(
            err.path.as_deref(),
            Some("spec.template.spec.containers[0].ports[0].containerPort")
        );
        assert_eq!(
            err.pos,
            Some(Pos {
                line: 11,
                column: 26
            })
        );
        assert_eq!(err.message, "invalid type: string \"http\", expected i32");
    }

    #[test]
    fn unknown_fields_are_recorded_at_their_key() {
        let n = node(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  selectr:\n    app: web\n  ports:\n  - port: 80\n    targetPrt: 8080\n",
        );
        let (svc, unknown) = decode::<Service>(&n).unwrap();
        assert_eq!(svc.metadata.name.as_deref(), Some("web"));
        assert_eq!(
            unknown,
            vec![
                UnknownField {
                    path: "spec.selectr".into(),
                    pos: Pos { line: 8, column: 3 }
                },
                UnknownField {
                    path: "spec.ports[0].targetPrt".into(),
                    pos: Pos {
                        line: 12,
                        column: 5
                    }
                },
            ]
        );
    }

    #[test]
    fn map_keys_are_bracketed_and_int_or_string_keeps_its_type() {
        let n = node(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    app: 3\nspec:\n  ports:\n  - port: 80\n    targetPort: \"8080\"\n",
        );
        let err = decode::<Service>(&n).unwrap_err();
        assert_eq!(err.path.as_deref(), Some("metadata.labels[app]"));
        assert_eq!(err.message, "invalid type: integer `3`, expected a string");

        let n = node(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n    targetPort: \"8080\"\n  - port: 81\n    targetPort: 8081\n",
        );
        let (svc, _) = decode::<Service>(&n).unwrap();
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        let ports = svc.spec.unwrap().ports.unwrap();
        assert_eq!(
            ports[0].target_port,
            Some(IntOrString::String("8080".into()))
        );
        assert_eq!(ports[1].target_port, Some(IntOrString::Int(8081)));
    }

    #[test]
    fn wrong_api_version_is_an_error_on_the_document() {
        let n = node("apiVersion: v2\nkind: Service\nmetadata:\n  name: web\n");
        let err = decode::<Service>(&n).unwrap_err();
        assert_eq!(err.path.as_deref(), Some(""));
        assert_eq!(err.message, "invalid value: string \"v2\", expected v1");
    }
}
