//! What a write to the store can be refused for, with the API server's wording.

use thiserror::Error;

use crate::object::ObjectKey;

/// A refused write. Messages follow the API server's (`pods "web-0" already exists`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error("{} \"{}\" already exists", key.kind.resource(), key.name)]
    AlreadyExists { key: ObjectKey },
    #[error("{} \"{}\" not found", key.kind.resource(), key.name)]
    NotFound { key: ObjectKey },
    /// The write named a resourceVersion that is no longer current.
    #[error(
        "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again (have resourceVersion {current}, got {given})",
        key.kind.resource(), key.name
    )]
    Conflict {
        key: ObjectKey,
        given: String,
        current: u64,
    },
    /// A namespaced object in a namespace that does not exist (NamespaceLifecycle admission).
    #[error("namespaces \"{namespace}\" not found")]
    NamespaceNotFound { namespace: String },
    /// The object fails validation.
    #[error("{} \"{}\" is invalid: {field}: {message}", key.kind.resource(), key.name)]
    Invalid {
        key: ObjectKey,
        field: String,
        message: String,
    },
    /// The operation is not allowed on this object.
    #[error("{} \"{}\" is forbidden: {message}", key.kind.resource(), key.name)]
    Forbidden { key: ObjectKey, message: String },
}
