//! The identity of a stored object: kind, namespace, name.

use std::fmt;

use super::kind::Kind;

/// `(kind, namespace, name)`; the namespace is empty for cluster-scoped kinds. Ordered by kind,
/// then namespace, then name — the order every listing uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        let namespace = if kind.namespaced() {
            namespace.into()
        } else {
            String::new()
        };
        ObjectKey {
            kind,
            namespace,
            name: name.into(),
        }
    }

    /// A key for a cluster-scoped kind.
    pub fn cluster(kind: Kind, name: impl Into<String>) -> Self {
        ObjectKey::new(kind, "", name)
    }
}

/// `Pod default/web-0`, `Node node-1`.
impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}
