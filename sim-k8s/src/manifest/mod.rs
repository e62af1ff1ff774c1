//! # Manifests
//!
//! Loads Kubernetes manifests the way `kubectl apply -f` reads them: multi-document YAML
//! (`---`), JSON, files or directories (the directory's `*.yaml`, `*.yml` and `*.json` files in
//! name order, not recursing — kubectl's default without `-R`), text from stdin, and `kind: List`
//! (any `*List` with `items`) flattened into its items. Each document becomes a typed object
//! (k8s-openapi, Kubernetes 1.35) chosen by `apiVersion`/`kind`, or one of the component configs
//! of [`crate::config`].
//!
//! Parsing goes YAML → a tree of located nodes ([`located`]) → the typed object, through a
//! deserializer that tracks the field path ([`deserializer`]). The tree plays the role of the
//! `serde_json::Value` step of kubectl's YAML→JSON→object decoding, keeping line and column for
//! every node, so errors read
//! `deploy.yaml:14:7: spec.template.spec.containers[0].ports[0].containerPort: invalid type:
//! string "http", expected i32`.
//!
//! Field validation follows `kubectl --validate`: `strict` (the default since 1.27) rejects
//! fields the kind does not have, `warn` reports them, `ignore` drops them. Objects exported
//! from a live cluster (`kubectl get -o yaml`, with `status`, `uid`, `resourceVersion`,
//! `managedFields`, `creationTimestamp: null`) load unchanged.
//!
//! Not supported: YAML tags beyond the core schema, `kubectl apply --prune`, kustomize.

pub mod deserializer;
pub mod error;
pub mod located;
pub mod location;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Node as K8sNode, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::de::DeserializeOwned;

use crate::config::{ComponentConfig, KubeProxyConfiguration, KubeletConfiguration};
use crate::object::name::{NameRule, check_name};
use crate::object::{Kind, Object, ObjectKey};
use deserializer::{DeError, UnknownField, decode};
use located::{Node, Pos, Value};

pub use error::{ManifestError, ManifestWarning, UnknownFieldAt};
pub use location::Location;

/// How fields a kind does not have are treated (kubectl's `--validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Reject the document (kubectl's default since 1.27).
    #[default]
    Strict,
    /// Accept it and return a warning per field.
    Warn,
    /// Accept it silently.
    Ignore,
}

/// Loader settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    pub field_validation: FieldValidation,
    /// The namespace given to namespaced objects that name none (kubectl's context
    /// namespace; `default` out of the box).
    pub default_namespace: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            field_validation: FieldValidation::Strict,
            default_namespace: "default".to_owned(),
        }
    }
}

/// What one document holds.
// Documents are few and built once; boxing the common case is not worth its noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    Object(Object),
    KubeletConfiguration(Box<KubeletConfiguration>),
    KubeProxyConfiguration(Box<KubeProxyConfiguration>),
}

/// One loaded document and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub location: Location,
    pub content: Content,
}

/// Everything loaded by one call, in source order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Manifests {
    pub documents: Vec<Document>,
    pub warnings: Vec<ManifestWarning>,
}

impl Manifests {
    /// The API objects, in source order.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.documents.iter().filter_map(|d| match &d.content {
            Content::Object(o) => Some(o),
            _ => None,
        })
    }

    /// The kubelet configurations, in source order.
    pub fn kubelet_configurations(&self) -> impl Iterator<Item = &KubeletConfiguration> {
        self.documents.iter().filter_map(|d| match &d.content {
            Content::KubeletConfiguration(c) => Some(c.as_ref()),
            _ => None,
        })
    }

    /// The kube-proxy configurations, in source order.
    pub fn kube_proxy_configurations(&self) -> impl Iterator<Item = &KubeProxyConfiguration> {
        self.documents.iter().filter_map(|d| match &d.content {
            Content::KubeProxyConfiguration(c) => Some(c.as_ref()),
            _ => None,
        })
    }
}

/// Loads manifests from text; `source` names it in locations (a file name, `<stdin>`).
pub fn load_str(source: &str, text: &str, opts: &LoadOptions) -> Result<Manifests, ManifestError> {
    let mut loader = Loader::new(opts);
    loader.load_text(source, text)?;
    Ok(loader.finish())
}

/// Loads manifests from a reader (stdin), named `source` in locations.
pub fn load_reader(
    source: &str,
    mut reader: impl Read,
    opts: &LoadOptions,
) -> Result<Manifests, ManifestError> {
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| ManifestError::Io {
            path: PathBuf::from(source),
            source: e,
        })?;
    load_str(source, &text, opts)
}

/// Loads a file, or a directory's `*.yaml`, `*.yml` and `*.json` files in name order.
pub fn load_path(path: &Path, opts: &LoadOptions) -> Result<Manifests, ManifestError> {
    load_paths(&[path], opts)
}

/// Loads several files or directories as one set (duplicates are detected across them).
pub fn load_paths<P: AsRef<Path>>(
    paths: &[P],
    opts: &LoadOptions,
) -> Result<Manifests, ManifestError> {
    let mut loader = Loader::new(opts);
    for path in paths {
        for file in expand(path.as_ref())? {
            let text = fs::read_to_string(&file).map_err(|e| ManifestError::Io {
                path: file.clone(),
                source: e,
            })?;
            loader.load_text(&file.display().to_string(), &text)?;
        }
    }
    Ok(loader.finish())
}

/// A file as itself; a directory as its manifest files, sorted by name.
fn expand(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let io = |e| ManifestError::Io {
        path: path.to_owned(),
        source: e,
    };
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let p = entry.path();
        let is_manifest = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        if is_manifest && entry.file_type().map_err(io)?.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

struct Loader<'o> {
    opts: &'o LoadOptions,
    out: Manifests,
    seen: BTreeMap<ObjectKey, Location>,
}

impl<'o> Loader<'o> {
    fn new(opts: &'o LoadOptions) -> Self {
        Loader {
            opts,
            out: Manifests::default(),
            seen: BTreeMap::new(),
        }
    }

    fn finish(self) -> Manifests {
        self.out
    }

    fn load_text(&mut self, source: &str, text: &str) -> Result<(), ManifestError> {
        let docs = serde_saphyr::from_multiple::<Node>(text).map_err(|e| syntax(source, &e))?;
        for doc in &docs {
            self.document(source, doc)?;
        }
        Ok(())
    }

    fn document(&mut self, source: &str, node: &Node) -> Result<(), ManifestError> {
        let location = Location::new(source, node.pos);
        if !matches!(node.value, Value::Map(_)) {
            return Err(ManifestError::NotAnObject {
                location,
                found: node.type_name(),
            });
        }
        let type_field = |field: &'static str| {
            node.get(field)
                .and_then(Node::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ManifestError::MissingTypeField {
                    location: location.clone(),
                    field,
                })
        };
        let kind = type_field("kind")?;
        let api_version = type_field("apiVersion")?;

        if kind.ends_with("List")
            && let Some(items) = node.get("items")
        {
            match &items.value {
                Value::Seq(items) => {
                    for item in items {
                        self.document(source, item)?;
                    }
                    return Ok(());
                }
                Value::Null => return Ok(()),
                _ => {
                    return Err(ManifestError::Decode {
                        location: Location::new(source, items.pos),
                        path: "items".into(),
                        message: format!("expected a sequence, found a {}", items.type_name()),
                    });
                }
            }
        }

        let content = if (api_version.as_str(), kind.as_str())
            == (
                KubeletConfiguration::API_VERSION,
                KubeletConfiguration::KIND,
            ) {
            let c = self.component::<KubeletConfiguration>(source, node, &kind)?;
            Content::KubeletConfiguration(Box::new(c))
        } else if (api_version.as_str(), kind.as_str())
            == (
                KubeProxyConfiguration::API_VERSION,
                KubeProxyConfiguration::KIND,
            )
        {
            let c = self.component::<KubeProxyConfiguration>(source, node, &kind)?;
            Content::KubeProxyConfiguration(Box::new(c))
        } else if let Some(k) = Kind::from_type(&api_version, &kind) {
            let (object, unknown) =
                decode_object(k, node).map_err(|e| decode_error(source, node, e))?;
            self.unknown_fields(source, &kind, unknown)?;
            let object = self.validate(object, &location)?;
            Content::Object(object)
        } else {
            let supported = Kind::ALL
                .iter()
                .map(|k| format!("{}/{}", k.api_version(), k.as_str()))
                .chain([
                    format!(
                        "{}/{}",
                        KubeletConfiguration::API_VERSION,
                        KubeletConfiguration::KIND
                    ),
                    format!(
                        "{}/{}",
                        KubeProxyConfiguration::API_VERSION,
                        KubeProxyConfiguration::KIND
                    ),
                ])
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ManifestError::UnknownKind {
                location,
                api_version,
                kind,
                supported,
            });
        };
        self.out.documents.push(Document { location, content });
        Ok(())
    }

    /// Decodes a component config: its opaque upstream fields are set aside as JSON, the rest
    /// goes through the strict, typed decoder.
    fn component<T: DeserializeOwned + ComponentConfig>(
        &mut self,
        source: &str,
        node: &Node,
        kind: &str,
    ) -> Result<T, ManifestError> {
        let Value::Map(entries) = &node.value else {
            unreachable!("checked by document()");
        };
        let mut typed = Vec::new();
        let mut other = BTreeMap::new();
        for (k, v) in entries {
            match k.scalar_text() {
                Some(key) if T::OPAQUE_FIELDS.contains(&key.as_str()) => {
                    other.insert(key, v.to_json());
                }
                _ => typed.push((k.clone(), v.clone())),
            }
        }
        let typed_node = Node {
            pos: node.pos,
            value: Value::Map(typed),
        };
        let (mut config, unknown): (T, _) =
            decode(&typed_node).map_err(|e| decode_error(source, node, e))?;
        self.unknown_fields(source, kind, unknown)?;
        config.set_other(other);
        Ok(config)
    }

    fn unknown_fields(
        &mut self,
        source: &str,
        kind: &str,
        unknown: Vec<UnknownField>,
    ) -> Result<(), ManifestError> {
        if unknown.is_empty() {
            return Ok(());
        }
        let fields: Vec<UnknownFieldAt> = unknown
            .into_iter()
            .map(|u| UnknownFieldAt {
                path: u.path,
                location: Location::new(source, u.pos),
            })
            .collect();
        match self.opts.field_validation {
            FieldValidation::Strict => Err(ManifestError::UnknownFields {
                kind: kind.to_owned(),
                fields,
            }),
            FieldValidation::Warn => {
                for f in fields {
                    self.out.warnings.push(ManifestWarning {
                        location: f.location,
                        message: format!("{kind}: unknown field \"{}\"", f.path),
                    });
                }
                Ok(())
            }
            FieldValidation::Ignore => Ok(()),
        }
    }

    /// What the API server would reject before storing: a missing or malformed name or
    /// namespace. Fills in the default namespace and checks for duplicates in this load.
    fn validate(
        &mut self,
        mut object: Object,
        location: &Location,
    ) -> Result<Object, ManifestError> {
        let kind = object.kind();
        let invalid = |path: &str, message: String| ManifestError::Invalid {
            location: location.clone(),
            kind: kind.as_str().to_owned(),
            path: path.to_owned(),
            message,
        };
        let meta = object.metadata();
        let name = meta.name.clone().unwrap_or_default();
        let generate_name = meta.generate_name.clone().unwrap_or_default();
        if name.is_empty() && generate_name.is_empty() {
            return Err(invalid(
                "metadata.name",
                "Required value: name or generateName is required".into(),
            ));
        }
        if !name.is_empty()
            && let Err(msg) = check_name(kind.name_rule(), &name)
        {
            return Err(invalid(
                "metadata.name",
                format!("Invalid value: \"{name}\": {msg}"),
            ));
        }
        if kind.namespaced() {
            let ns = meta.namespace.clone().unwrap_or_default();
            if ns.is_empty() {
                object.metadata_mut().namespace = Some(self.opts.default_namespace.clone());
            } else if let Err(msg) = check_name(NameRule::Dns1123Label, &ns) {
                return Err(invalid(
                    "metadata.namespace",
                    format!("Invalid value: \"{ns}\": {msg}"),
                ));
            }
        }
        if !name.is_empty() {
            let key = object.key();
            if let Some(first) = self.seen.get(&key) {
                return Err(ManifestError::Duplicate {
                    key: Box::new(key),
                    first: first.clone(),
                    second: location.clone(),
                });
            }
            self.seen.insert(key, location.clone());
        }
        Ok(object)
    }
}

fn decode_object(kind: Kind, node: &Node) -> Result<(Object, Vec<UnknownField>), DeError> {
    fn typed<T: DeserializeOwned + Into<Object>>(
        node: &Node,
    ) -> Result<(Object, Vec<UnknownField>), DeError> {
        decode::<T>(node).map(|(o, u)| (o.into(), u))
    }
    match kind {
        Kind::Namespace => typed::<Namespace>(node),
        Kind::Node => typed::<K8sNode>(node),
        Kind::ConfigMap => typed::<ConfigMap>(node),
        Kind::Pod => typed::<Pod>(node),
        Kind::Service => typed::<Service>(node),
        Kind::Endpoints => typed::<Endpoints>(node),
        Kind::EndpointSlice => typed::<EndpointSlice>(node),
        Kind::Deployment => typed::<Deployment>(node),
        Kind::ReplicaSet => typed::<ReplicaSet>(node),
        Kind::StatefulSet => typed::<StatefulSet>(node),
        Kind::DaemonSet => typed::<DaemonSet>(node),
        Kind::NetworkPolicy => typed::<NetworkPolicy>(node),
    }
}

fn decode_error(source: &str, doc: &Node, e: DeError) -> ManifestError {
    ManifestError::Decode {
        location: Location::new(source, e.pos.unwrap_or(doc.pos)),
        path: e.path.unwrap_or_default(),
        message: e.message,
    }
}

/// A YAML syntax error, without serde-saphyr's snippet and its " at line L, column C" suffix
/// (the location is ours to print) or its advice about parser options.
fn syntax(source: &str, e: &serde_saphyr::Error) -> ManifestError {
    let pos = e
        .location()
        .map(|l| Pos {
            line: l.line(),
            column: l.column(),
        })
        .unwrap_or(Pos { line: 1, column: 1 });
    let mut message = e.without_snippet().to_string();
    let suffix = format!(" at line {}, column {}", pos.line, pos.column);
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_owned();
    }
    if let Some(stripped) =
        message.strip_suffix(", set DuplicateKeyPolicy in Options if acceptable")
    {
        message = stripped.to_owned();
    }
    ManifestError::Syntax {
        location: Location::new(source, pos),
        message,
    }
}
