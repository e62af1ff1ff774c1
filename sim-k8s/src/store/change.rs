//! A write a controller asks for, applied by the store.

use crate::object::{Object, ObjectKey};

/// One write. `Update` carries the resourceVersion the controller read, so a stale write
/// fails with a conflict as it would against the API server.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Create(Object),
    Update(Object),
    Delete(ObjectKey),
}

impl Change {
    /// The object the change is about (for `Create` with only `generateName`, the name is
    /// empty).
    pub fn key(&self) -> ObjectKey {
        match self {
            Change::Create(o) | Change::Update(o) => o.key(),
            Change::Delete(k) => k.clone(),
        }
    }
}
