//! Watches: who wants which kinds, and the events the store hands back for the engine to
//! deliver later.

use std::collections::BTreeSet;

use sim_core::{SimDuration, SimTime};

use crate::object::{Kind, Object};

/// How long after a write a watcher sees it, unless its [`WatchSpec`] says otherwise.
///
/// 10 ms stands for the path a write takes to a watcher in a small cluster — etcd commit, the
/// API server's watch cache, the HTTP/2 stream, the informer's queue — which is milliseconds.
/// It is a round figure, not a measurement; scenarios that study propagation set their own.
pub const DEFAULT_WATCH_LAG: SimDuration = SimDuration::from_millis(10);

/// A registered watcher, numbered in registration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatcherId(pub u64);

/// `watch.EventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    /// The wire spelling: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One watch event: the object as of `resource_version` (for `Deleted`, its last state
/// stamped with the deletion's resourceVersion, as the API server sends it).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub object: Object,
    pub resource_version: u64,
}

/// An event due to reach a watcher at `due`; the engine schedules it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub due: SimTime,
    pub watcher: WatcherId,
    pub event: WatchEvent,
}

/// What a watcher wants to see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    pub kinds: BTreeSet<Kind>,
    /// Only this namespace (cluster-scoped kinds are always seen).
    pub namespace: Option<String>,
    pub lag: SimDuration,
}

impl WatchSpec {
    /// All objects of `kinds`, with [`DEFAULT_WATCH_LAG`].
    pub fn new(kinds: impl IntoIterator<Item = Kind>) -> Self {
        WatchSpec {
            kinds: kinds.into_iter().collect(),
            namespace: None,
            lag: DEFAULT_WATCH_LAG,
        }
    }

    pub fn in_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    pub fn with_lag(mut self, lag: SimDuration) -> Self {
        self.lag = lag;
        self
    }

    pub(crate) fn wants(&self, object: &Object) -> bool {
        let kind = object.kind();
        self.kinds.contains(&kind)
            && match &self.namespace {
                Some(ns) if kind.namespaced() => object.namespace() == ns,
                _ => true,
            }
    }
}
