//! # API store
//!
//! The API server's storage as the simulator needs it: typed objects keyed by
//! `(kind, namespace, name)` in a `BTreeMap`, one global resourceVersion counter (etcd's
//! revision), create / update / delete with the API server's refusals ([`StoreError`]), and
//! watches whose events come back as [`Delivery`]s — `(due time, watcher, event)` — for the
//! engine to schedule. The store is sans-IO: it owns no clock; every write takes `now`.
//!
//! Modelled:
//! * the system namespaces `default`, `kube-system`, `kube-public`, `kube-node-lease` exist from
//!   the start; the first three cannot be deleted; objects of namespaced kinds without a
//!   namespace go to `default`; creating in a missing namespace fails (NamespaceLifecycle);
//! * `generateName` (`<prefix><5 characters>`, deterministic: see [`Store::create`]);
//! * system fields set on create — `uid` (deterministic, counter-based), `creationTimestamp`
//!   (the store's epoch + `now`, whole seconds), `resourceVersion` — and kept on update;
//!   [`Store::restore`] instead keeps an exported object's uid and timestamps, as restoring
//!   etcd would, so `ownerReferences` and `targetRef`s in an exported cluster stay valid;
//! * optimistic concurrency: an update naming a stale resourceVersion is a conflict; one naming
//!   none is unconditional; an update that changes nothing is a no-op (no new resourceVersion,
//!   no event), as in the API server;
//! * graceful pod deletion: `deletionTimestamp = now + grace`, the pod stays until deleted with
//!   grace 0; unscheduled and terminal pods go at once; a second delete may only shorten the
//!   grace period;
//! * the write-time defaults of [`crate::object::defaults`].
//!
//! Simplified: status is written with the object (no status subresource), `managedFields` are
//! dropped, finalizers and ownerReference garbage collection are not honoured (deleting a
//! namespace deletes its objects at once), there is no admission beyond the namespace checks.

pub mod change;
pub mod error;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use sim_core::{SimDuration, SimTime};

use crate::object::name::{NameRule, check_name};
use crate::object::{Kind, Object, ObjectKey, Typed, defaults};
use crate::selector::Selector;

pub use change::Change;
pub use error::StoreError;
pub use watch::{DEFAULT_WATCH_LAG, Delivery, EventType, WatchEvent, WatchSpec, WatcherId};

/// The namespaces the API server creates for itself, in the order it creates them.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Namespaces the NamespaceLifecycle admission plugin refuses to delete.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// The alphabet of generated name suffixes (apimachinery `utilrand.String`: no vowels, no
/// look-alikes).
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// `names.SimpleNameGenerator`: 5 random characters, base truncated to 58.
const SUFFIX_LEN: usize = 5;
const MAX_GENERATED_BASE: usize = 63 - SUFFIX_LEN;

/// How an object enters the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// As the API server creates it: new uid and timestamps.
    Create,
    /// As an etcd restore puts it back: its own metadata kept.
    Restore,
}

#[derive(Debug, Clone)]
struct Entry {
    object: Object,
    /// The resourceVersion current for this object.
    rv: u64,
    /// The resourceVersion it was created at: creation order.
    created_rv: u64,
}

/// What a successful write produced: the object as stored (for a delete, as it was last
/// seen) and the watch deliveries it caused.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub object: Object,
    pub deliveries: Vec<Delivery>,
}

/// The API store.
#[derive(Debug, Clone)]
pub struct Store {
    objects: BTreeMap<ObjectKey, Entry>,
    /// Every uid in use.
    uids: BTreeSet<String>,
    resource_version: u64,
    uid_seq: u64,
    watchers: BTreeMap<WatcherId, WatchSpec>,
    next_watcher: u64,
    epoch: Timestamp,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// A store holding the system namespaces, with the Unix epoch as simulated time zero.
    pub fn new() -> Store {
        Store::with_epoch(Timestamp::UNIX_EPOCH)
    }

    /// A store whose simulated time zero is `epoch` (for creation/deletion timestamps).
    pub fn with_epoch(epoch: Timestamp) -> Store {
        let mut store = Store {
            objects: BTreeMap::new(),
            uids: BTreeSet::new(),
            resource_version: 0,
            uid_seq: 0,
            watchers: BTreeMap::new(),
            next_watcher: 0,
            epoch,
        };
        for ns in SYSTEM_NAMESPACES {
            let namespace = Namespace {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(ns.to_owned()),
                    ..Default::default()
                },
                ..Default::default()
            };
            store
                .create(SimTime::ZERO, namespace.into())
                .expect("system namespaces are valid and new");
        }
        store
    }

    pub fn epoch(&self) -> Timestamp {
        self.epoch
    }

    /// The wall-clock time simulated instant `now` stands for, in whole seconds (the precision
    /// `metav1.Time` is serialized with).
    pub fn time_at(&self, now: SimTime) -> Time {
        let secs = i64::try_from(now.as_nanos() / 1_000_000_000).unwrap_or(i64::MAX);
        let t = self
            .epoch
            .checked_add(SignedDuration::from_secs(secs))
            .unwrap_or(Timestamp::MAX);
        Time(t)
    }

    /// The last resourceVersion handed out.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.get(key).map(|e| &e.object)
    }

    /// The typed object `namespace/name` (namespace ignored for cluster-scoped kinds).
    pub fn get_as<T: Typed>(&self, namespace: &str, name: &str) -> Option<&T> {
        self.get(&ObjectKey::new(T::OBJECT_KIND, namespace, name))
            .and_then(T::from_object)
    }

    /// Every object, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Object> {
        self.objects.values().map(|e| &e.object)
    }

    fn range(&self, kind: Kind, namespace: Option<&str>) -> impl Iterator<Item = &Entry> {
        let ns = namespace.filter(|_| kind.namespaced()).map(str::to_owned);
        let start = ObjectKey {
            kind,
            namespace: ns.clone().unwrap_or_default(),
            name: String::new(),
        };
        self.objects
            .range(start..)
            .take_while(move |(k, _)| {
                k.kind == kind && ns.as_ref().is_none_or(|ns| &k.namespace == ns)
            })
            .map(|(_, e)| e)
    }

    /// Objects of `kind` (in `namespace`, if given; ignored for cluster-scoped kinds) whose
    /// labels `selector` matches, in key order.
    pub fn list(&self, kind: Kind, namespace: Option<&str>, selector: &Selector) -> Vec<&Object> {
        self.range(kind, namespace)
            .map(|e| &e.object)
            .filter(|o| selector.matches(o.labels()))
            .collect()
    }

    /// All objects of type `T` (in `namespace`, if given), in key order.
    pub fn list_as<'a, T: Typed>(
        &'a self,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = &'a T> + 'a {
        self.range(T::OBJECT_KIND, namespace)
            .filter_map(|e| T::from_object(&e.object))
    }

    /// Objects of `kind` in the order they were created.
    pub fn creation_order(&self, kind: Kind) -> Vec<&Object> {
        let mut entries: Vec<&Entry> = self.range(kind, None).collect();
        entries.sort_by_key(|e| e.created_rv);
        entries.into_iter().map(|e| &e.object).collect()
    }

    /// The current resourceVersion of `key`.
    pub fn resource_version_of(&self, key: &ObjectKey) -> Option<u64> {
        self.objects.get(key).map(|e| e.rv)
    }

    /// Registers a watcher; returns its id and an `Added` event for every object it wants
    /// that exists now (an informer's initial list), in key order.
    pub fn watch(&mut self, now: SimTime, spec: WatchSpec) -> (WatcherId, Vec<Delivery>) {
        let id = WatcherId(self.next_watcher);
        self.next_watcher += 1;
        let due = now.checked_add(spec.lag).unwrap_or(SimTime::MAX);
        let deliveries = self
            .objects
            .values()
            .filter(|e| spec.wants(&e.object))
            .map(|e| Delivery {
                due,
                watcher: id,
                event: WatchEvent {
                    event_type: EventType::Added,
                    object: e.object.clone(),
                    resource_version: e.rv,
                },
            })
            .collect();
        self.watchers.insert(id, spec);
        (id, deliveries)
    }

    /// Removes a watcher; false if it was not registered.
    pub fn unwatch(&mut self, id: WatcherId) -> bool {
        self.watchers.remove(&id).is_some()
    }

    fn notify(
        &self,
        now: SimTime,
        event_type: EventType,
        object: &Object,
        rv: u64,
    ) -> Vec<Delivery> {
        self.watchers
            .iter()
            .filter(|(_, spec)| spec.wants(object))
            .map(|(id, spec)| Delivery {
                due: now.checked_add(spec.lag).unwrap_or(SimTime::MAX),
                watcher: *id,
                event: WatchEvent {
                    event_type,
                    object: object.clone(),
                    resource_version: rv,
                },
            })
            .collect()
    }

    fn next_rv(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    /// Puts the namespace right for the kind: `default` if a namespaced object has none,
    /// none at all for cluster-scoped kinds.
    fn normalize_namespace(object: &mut Object) {
        let namespaced = object.kind().namespaced();
        let meta = object.metadata_mut();
        if namespaced {
            if meta.namespace.as_deref().unwrap_or("").is_empty() {
                meta.namespace = Some("default".to_owned());
            }
        } else {
            meta.namespace = None;
        }
    }

    /// A deterministic `generateName` suffix: FNV-1a over `namespace/kind/base#attempt`, read
    /// as base-27 digits of [`SUFFIX_ALPHABET`]; the first attempt whose name is free wins.
    /// Upstream draws the 5 characters at random; ours depend only on what is being named.
    fn generate_name(&self, kind: Kind, namespace: &str, base: &str) -> String {
        let base: String = base.chars().take(MAX_GENERATED_BASE).collect();
        for attempt in 0u64.. {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            let seed = format!("{namespace}/{kind}/{base}#{attempt}");
            for b in seed.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            let mut name = base.clone();
            for _ in 0..SUFFIX_LEN {
                name.push(char::from(SUFFIX_ALPHABET[(h % 27) as usize]));
                h /= 27;
            }
            if !self
                .objects
                .contains_key(&ObjectKey::new(kind, namespace, name.as_str()))
            {
                return name;
            }
        }
        unreachable!("a free name exists among 27^5 suffixes")
    }

    /// Creates `object`. The name comes from `metadata.name`, or from `metadata.generateName`
    /// plus 5 characters of apimachinery's suffix alphabet (`bcdfghjklmnpqrstvwxz2456789`).
    /// Upstream draws them at random; here they are the base-27 digits of an FNV-1a hash of
    /// `namespace/kind/prefix#n`, for the first `n` whose name is free — so a name depends only
    /// on what is being named and what exists. Sets `uid`, `creationTimestamp`,
    /// `resourceVersion`; clears `deletionTimestamp`; applies defaults. Errors: invalid or
    /// missing name, missing namespace, already exists.
    pub fn create(&mut self, now: SimTime, object: Object) -> Result<Outcome, StoreError> {
        self.insert(now, object, Mode::Create)
    }

    /// Puts `object` back as it was exported (`kubectl get -o yaml`), the way restoring etcd
    /// would: `uid`, `creationTimestamp`, `deletionTimestamp` and the rest of the metadata
    /// are kept (a fresh uid or timestamp only where none is given); only the resourceVersion
    /// is new. Defaults are applied as on create. Use it to load a cluster's state; use
    /// [`Store::create`] for what `kubectl create` would do.
    pub fn restore(&mut self, now: SimTime, object: Object) -> Result<Outcome, StoreError> {
        self.insert(now, object, Mode::Restore)
    }

    /// [`Store::restore`]s several objects, Namespaces first (so objects can name them), the
    /// rest in the given order. Stops at the first refusal.
    pub fn restore_all<'a>(
        &mut self,
        now: SimTime,
        objects: impl IntoIterator<Item = &'a Object>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (namespaces, others): (Vec<&Object>, Vec<&Object>) = objects
            .into_iter()
            .partition(|o| o.kind() == Kind::Namespace);
        let mut deliveries = Vec::new();
        for o in namespaces.into_iter().chain(others) {
            if o.kind() == Kind::Namespace && self.objects.contains_key(&o.key()) {
                // A system namespace in an export: the one we have stands.
                continue;
            }
            deliveries.extend(self.restore(now, o.clone())?.deliveries);
        }
        Ok(deliveries)
    }

    fn fresh_uid(&mut self) -> String {
        loop {
            self.uid_seq += 1;
            let uid = format!("00000000-0000-0000-0000-{:012x}", self.uid_seq);
            if !self.uids.contains(&uid) {
                return uid;
            }
        }
    }

    fn insert(
        &mut self,
        now: SimTime,
        mut object: Object,
        mode: Mode,
    ) -> Result<Outcome, StoreError> {
        Self::normalize_namespace(&mut object);
        let kind = object.kind();
        let namespace = object.namespace().to_owned();
        if object.name().is_empty() {
            let base = object.metadata().generate_name.clone().unwrap_or_default();
            if base.is_empty() {
                return Err(StoreError::Invalid {
                    key: object.key(),
                    field: "metadata.name".into(),
                    message: "Required value: name or generateName is required".into(),
                });
            }
            let name = self.generate_name(kind, &namespace, &base);
            object.metadata_mut().name = Some(name);
        }
        let key = object.key();
        Self::check_names(&key)?;
        if kind.namespaced()
            && !self
                .objects
                .contains_key(&ObjectKey::cluster(Kind::Namespace, namespace.as_str()))
        {
            return Err(StoreError::NamespaceNotFound { namespace });
        }
        if self.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists { key });
        }
        let given_uid = object
            .metadata()
            .uid
            .clone()
            .filter(|u| !u.is_empty() && mode == Mode::Restore);
        if let Some(uid) = &given_uid
            && self.uids.contains(uid)
        {
            return Err(StoreError::Invalid {
                key,
                field: "metadata.uid".into(),
                message: format!("Duplicate value: \"{uid}\""),
            });
        }
        defaults::apply(&mut object);
        if let Object::Namespace(ns) = &mut object {
            // The namespace registry's PrepareForCreate: the `kubernetes` finalizer.
            ns.spec
                .get_or_insert_with(NamespaceSpec::default)
                .finalizers
                .get_or_insert_with(|| vec!["kubernetes".to_owned()]);
        }
        let uid = match given_uid {
            Some(uid) => uid,
            None => self.fresh_uid(),
        };
        let rv = self.next_rv();
        let created = self.time_at(now);
        let meta = object.metadata_mut();
        meta.uid = Some(uid.clone());
        meta.resource_version = Some(rv.to_string());
        meta.managed_fields = None;
        meta.self_link = None;
        match mode {
            Mode::Create => {
                meta.creation_timestamp = Some(created);
                meta.deletion_timestamp = None;
                meta.deletion_grace_period_seconds = None;
            }
            Mode::Restore => {
                meta.creation_timestamp.get_or_insert(created);
            }
        }
        let deliveries = self.notify(now, EventType::Added, &object, rv);
        self.uids.insert(uid);
        self.objects.insert(
            key,
            Entry {
                object: object.clone(),
                rv,
                created_rv: rv,
            },
        );
        Ok(Outcome { object, deliveries })
    }

    fn check_names(key: &ObjectKey) -> Result<(), StoreError> {
        check_name(key.kind.name_rule(), &key.name).map_err(|msg| StoreError::Invalid {
            key: key.clone(),
            field: "metadata.name".into(),
            message: format!("Invalid value: \"{}\": {msg}", key.name),
        })?;
        if key.kind.namespaced() {
            check_name(NameRule::Dns1123Label, &key.namespace).map_err(|msg| {
                StoreError::Invalid {
                    key: key.clone(),
                    field: "metadata.namespace".into(),
                    message: format!("Invalid value: \"{}\": {msg}", key.namespace),
                }
            })?;
        }
        Ok(())
    }

    /// Replaces an existing object. A `metadata.resourceVersion` other than the current one
    /// is a conflict; none means an unconditional update. `uid`, `creationTimestamp` and the
    /// deletion fields are kept from the stored object (they cannot be changed by an update).
    /// An update that changes nothing returns the stored object and no deliveries.
    pub fn update(&mut self, now: SimTime, mut object: Object) -> Result<Outcome, StoreError> {
        Self::normalize_namespace(&mut object);
        let key = object.key();
        let Some(entry) = self.objects.get(&key) else {
            return Err(StoreError::NotFound { key });
        };
        if let Some(given) = object.metadata().resource_version.clone()
            && !given.is_empty()
        {
            let Ok(n) = given.parse::<u64>() else {
                return Err(StoreError::Invalid {
                    key,
                    field: "metadata.resourceVersion".into(),
                    message: format!("Invalid value: \"{given}\": must be an integer"),
                });
            };
            if n != entry.rv {
                return Err(StoreError::Conflict {
                    key,
                    given,
                    current: entry.rv,
                });
            }
        }
        defaults::apply(&mut object);
        if let (Object::Namespace(new), Object::Namespace(old)) = (&mut object, &entry.object) {
            // The namespace registry's PrepareForUpdate: finalizers and status change only
            // through their subresources.
            new.spec = old.spec.clone();
            new.status = old.status.clone();
        }
        let old = entry.object.metadata().clone();
        let created_rv = entry.created_rv;
        let meta = object.metadata_mut();
        meta.uid = old.uid;
        meta.creation_timestamp = old.creation_timestamp;
        meta.deletion_timestamp = old.deletion_timestamp;
        meta.deletion_grace_period_seconds = old.deletion_grace_period_seconds;
        meta.generate_name = meta.generate_name.take().or(old.generate_name);
        meta.managed_fields = None;
        meta.self_link = None;
        meta.resource_version = old.resource_version;
        if object == entry.object {
            return Ok(Outcome {
                object,
                deliveries: Vec::new(),
            });
        }
        let rv = self.next_rv();
        object.metadata_mut().resource_version = Some(rv.to_string());
        let deliveries = self.notify(now, EventType::Modified, &object, rv);
        self.objects.insert(
            key,
            Entry {
                object: object.clone(),
                rv,
                created_rv,
            },
        );
        Ok(Outcome { object, deliveries })
    }

    /// `kubectl apply` without the three-way merge: create the object, or replace it
    /// unconditionally if it exists.
    pub fn apply(&mut self, now: SimTime, mut object: Object) -> Result<Outcome, StoreError> {
        Self::normalize_namespace(&mut object);
        if !object.name().is_empty() && self.objects.contains_key(&object.key()) {
            object.metadata_mut().resource_version = None;
            self.update(now, object)
        } else {
            self.create(now, object)
        }
    }

    /// Deletes `key`. `grace_period_s` matters for pods only (others go at once): `None`
    /// takes `spec.terminationGracePeriodSeconds` (default 30); a pod that is not scheduled
    /// or has finished goes at once; otherwise the pod gets `deletionTimestamp = now + grace`
    /// and stays until deleted again with grace 0 (what kubelet does once its containers
    /// stopped). Deleting a namespace deletes everything in it.
    pub fn delete(
        &mut self,
        now: SimTime,
        key: &ObjectKey,
        grace_period_s: Option<u64>,
    ) -> Result<Outcome, StoreError> {
        let Some(entry) = self.objects.get(key) else {
            return Err(StoreError::NotFound { key: key.clone() });
        };
        if key.kind == Kind::Namespace && IMMORTAL_NAMESPACES.contains(&key.name.as_str()) {
            return Err(StoreError::Forbidden {
                key: key.clone(),
                message: "this namespace may not be deleted".into(),
            });
        }
        if let Object::Pod(pod) = &entry.object {
            let grace = pod_grace_period(pod, grace_period_s);
            if grace > 0 {
                return Ok(self.begin_graceful_deletion(now, key, grace));
            }
        }
        let mut deliveries = Vec::new();
        if key.kind == Kind::Namespace {
            let contained: Vec<ObjectKey> = self
                .objects
                .keys()
                .filter(|k| k.kind.namespaced() && k.namespace == key.name)
                .cloned()
                .collect();
            for k in contained {
                deliveries.extend(self.remove(now, &k).deliveries);
            }
        }
        let mut outcome = self.remove(now, key);
        deliveries.append(&mut outcome.deliveries);
        outcome.deliveries = deliveries;
        Ok(outcome)
    }

    fn begin_graceful_deletion(&mut self, now: SimTime, key: &ObjectKey, grace: u64) -> Outcome {
        let entry = self.objects.get(key).expect("caller checked");
        let current = entry.object.metadata().deletion_grace_period_seconds;
        if entry.object.metadata().deletion_timestamp.is_some()
            && current.is_some_and(|c| u64::try_from(c).unwrap_or(0) <= grace)
        {
            // Already terminating with a grace period no longer than this one.
            return Outcome {
                object: entry.object.clone(),
                deliveries: Vec::new(),
            };
        }
        let mut object = entry.object.clone();
        let created_rv = entry.created_rv;
        let at = now
            .checked_add(SimDuration::from_secs(grace))
            .unwrap_or(SimTime::MAX);
        let rv = self.next_rv();
        let deletion_timestamp = self.time_at(at);
        let meta = object.metadata_mut();
        meta.deletion_timestamp = Some(deletion_timestamp);
        meta.deletion_grace_period_seconds = Some(i64::try_from(grace).unwrap_or(i64::MAX));
        meta.resource_version = Some(rv.to_string());
        let deliveries = self.notify(now, EventType::Modified, &object, rv);
        self.objects.insert(
            key.clone(),
            Entry {
                object: object.clone(),
                rv,
                created_rv,
            },
        );
        Outcome { object, deliveries }
    }

    fn remove(&mut self, now: SimTime, key: &ObjectKey) -> Outcome {
        let entry = self.objects.remove(key).expect("caller checked");
        if let Some(uid) = &entry.object.metadata().uid {
            self.uids.remove(uid);
        }
        let rv = self.next_rv();
        let mut object = entry.object;
        object.metadata_mut().resource_version = Some(rv.to_string());
        let deliveries = self.notify(now, EventType::Deleted, &object, rv);
        Outcome { object, deliveries }
    }

    /// Applies one controller write.
    pub fn apply_change(&mut self, now: SimTime, change: Change) -> Result<Outcome, StoreError> {
        match change {
            Change::Create(o) => self.create(now, o),
            Change::Update(o) => self.update(now, o),
            Change::Delete(k) => self.delete(now, &k, Some(0)),
        }
    }

    /// Applies controller writes in order, stopping at the first refused one (the writes
    /// before it stay applied, as a controller's sync that fails half-way leaves them).
    pub fn apply_changes(
        &mut self,
        now: SimTime,
        changes: impl IntoIterator<Item = Change>,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut deliveries = Vec::new();
        for change in changes {
            deliveries.extend(self.apply_change(now, change)?.deliveries);
        }
        Ok(deliveries)
    }
}

/// The grace period a pod deletion gets (`podStrategy.CheckGracefulDelete`).
fn pod_grace_period(pod: &Pod, requested: Option<u64>) -> u64 {
    let spec = pod.spec.as_ref();
    let scheduled = spec
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("");
    if !scheduled || matches!(phase, "Succeeded" | "Failed") {
        return 0;
    }
    requested.unwrap_or_else(|| {
        spec.and_then(|s| s.termination_grace_period_seconds)
            .map_or(defaults::DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS, |g| {
                g.max(0)
            })
            .unsigned_abs()
    })
}

#[cfg(test)]
mod tests;
