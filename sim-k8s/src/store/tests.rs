//! Store behaviour, each expectation from the API server's documented behaviour.

use super::*;
use k8s_openapi::api::core::v1::{ConfigMap, Node, PodSpec, PodStatus, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeSet;

fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: ns.map(str::to_owned),
        ..Default::default()
    }
}

fn config_map(ns: Option<&str>, name: &str) -> Object {
    ConfigMap {
        metadata: meta(ns, name),
        ..Default::default()
    }
    .into()
}

fn scheduled_pod(name: &str, grace: Option<i64>) -> Object {
    Pod {
        metadata: meta(Some("default"), name),
        spec: Some(PodSpec {
            node_name: Some("node-1".into()),
            termination_grace_period_seconds: grace,
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Running".into()),
            ..Default::default()
        }),
    }
    .into()
}

const T0: SimTime = SimTime::ZERO;

fn at_ms(ms: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(ms)
}

#[test]
fn system_namespaces_exist_and_are_protected() {
    let mut s = Store::new();
    let names: Vec<&str> = s
        .list_as::<Namespace>(None)
        .map(|n| n.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    assert_eq!(s.resource_version(), 4);
    let ns = s.get_as::<Namespace>("", "default").unwrap();
    assert_eq!(ns.status.as_ref().unwrap().phase.as_deref(), Some("Active"));
    assert_eq!(
        ns.spec.as_ref().unwrap().finalizers.as_deref(),
        Some(&["kubernetes".to_owned()][..])
    );
    let err = s
        .delete(
            T0,
            &ObjectKey::cluster(Kind::Namespace, "kube-system"),
            None,
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "namespaces \"kube-system\" is forbidden: this namespace may not be deleted"
    );
}

#[test]
fn create_sets_system_fields_and_defaults_namespace() {
    let mut s = Store::new();
    let out = s.create(at_ms(2500), config_map(None, "cfg")).unwrap();
    let m = out.object.metadata();
    assert_eq!(m.namespace.as_deref(), Some("default"));
    assert_eq!(m.resource_version.as_deref(), Some("5"));
    assert_eq!(
        m.uid.as_deref(),
        Some("00000000-0000-0000-0000-000000000005")
    );
    assert_eq!(
        serde_json::to_value(m.creation_timestamp.as_ref().unwrap()).unwrap(),
        serde_json::json!("1970-01-01T00:00:02Z")
    );
    // Cluster-scoped objects lose a namespace they were given.
    let node = Node {
        metadata: meta(Some("default"), "node-1"),
        ..Default::default()
    };
    let out = s.create(T0, node.into()).unwrap();
    assert_eq!(out.object.metadata().namespace, None);
    assert!(s.get(&ObjectKey::cluster(Kind::Node, "node-1")).is_some());
}

#[test]
fn create_refusals() {
    let mut s = Store::new();
    s.create(T0, config_map(None, "cfg")).unwrap();
    let dup = s.create(T0, config_map(None, "cfg")).unwrap_err();
    assert_eq!(dup.to_string(), "configmaps \"cfg\" already exists");
    let no_ns = s.create(T0, config_map(Some("shop"), "cfg")).unwrap_err();
    assert_eq!(
        no_ns,
        StoreError::NamespaceNotFound {
            namespace: "shop".into()
        }
    );
    assert_eq!(no_ns.to_string(), "namespaces \"shop\" not found");
    let bad = s.create(T0, config_map(None, "Bad_Name")).unwrap_err();
    assert!(matches!(bad, StoreError::Invalid { ref field, .. } if field == "metadata.name"));
    let svc = Service {
        metadata: meta(None, "1web"),
        ..Default::default()
    };
    // Service names are DNS-1035 labels: no leading digit.
    assert!(matches!(
        s.create(T0, svc.into()),
        Err(StoreError::Invalid { .. })
    ));
    let nameless = s.create(T0, config_map(None, "")).unwrap_err();
    assert_eq!(
        nameless.to_string(),
        "configmaps \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );
}

#[test]
fn generate_name_is_deterministic_and_avoids_taken_names() {
    let mk = || {
        let mut cm = ConfigMap::default();
        cm.metadata.generate_name = Some("web-".into());
        Object::from(cm)
    };
    let mut a = Store::new();
    let mut b = Store::new();
    let n1 = a.create(T0, mk()).unwrap().object.name().to_owned();
    let n2 = a.create(T0, mk()).unwrap().object.name().to_owned();
    assert_eq!(b.create(T0, mk()).unwrap().object.name(), n1);
    assert!(
        n1.starts_with("web-") && n1.len() == "web-".len() + 5,
        "{n1}"
    );
    assert_ne!(n1, n2);
    assert!(n1[4..].bytes().all(|c| SUFFIX_ALPHABET.contains(&c)));
}

#[test]
fn update_conflicts_noops_and_keeps_system_fields() {
    let mut s = Store::new();
    let created = s.create(T0, config_map(None, "cfg")).unwrap().object;
    let rv = created.metadata().resource_version.clone().unwrap();

    // Same content, no resourceVersion: a no-op, nothing delivered, rv unchanged.
    let out = s.update(at_ms(1), config_map(None, "cfg")).unwrap();
    assert!(out.deliveries.is_empty());
    assert_eq!(
        out.object.metadata().resource_version.as_deref(),
        Some(rv.as_str())
    );
    assert_eq!(s.resource_version(), 5);

    let mut changed = created.clone();
    changed.metadata_mut().labels = Some([("a".to_owned(), "b".to_owned())].into());
    changed.metadata_mut().uid = Some("forged".into());
    let out = s.update(at_ms(2), changed.clone()).unwrap();
    assert_eq!(out.object.metadata().resource_version.as_deref(), Some("6"));
    assert_eq!(out.object.metadata().uid, created.metadata().uid);

    // Writing again with the old resourceVersion is a conflict.
    let err = s.update(at_ms(3), changed).unwrap_err();
    assert_eq!(
        err,
        StoreError::Conflict {
            key: ObjectKey::new(Kind::ConfigMap, "default", "cfg"),
            given: "5".into(),
            current: 6
        }
    );
    assert!(err.to_string().starts_with(
        "Operation cannot be fulfilled on configmaps \"cfg\": the object has been modified"
    ));
    let missing = s.update(T0, config_map(None, "nope")).unwrap_err();
    assert_eq!(missing.to_string(), "configmaps \"nope\" not found");
}

#[test]
fn watch_delivers_initial_list_then_changes_after_the_lag() {
    let mut s = Store::new();
    s.create(T0, config_map(None, "a")).unwrap();
    let (w, initial) = s.watch(
        at_ms(100),
        WatchSpec::new([Kind::ConfigMap]).with_lag(SimDuration::from_millis(5)),
    );
    assert_eq!(initial.len(), 1);
    assert_eq!(initial[0].due, at_ms(105));
    assert_eq!(initial[0].event.event_type, EventType::Added);
    assert_eq!(initial[0].event.resource_version, 5);

    let (other, _) = s.watch(at_ms(100), WatchSpec::new([Kind::Pod]));
    let out = s.create(at_ms(200), config_map(None, "b")).unwrap();
    assert_eq!(out.deliveries.len(), 1, "the Pod watcher sees nothing");
    assert_eq!(out.deliveries[0].watcher, w);
    assert_eq!(out.deliveries[0].due, at_ms(205));
    let out = s
        .delete(
            at_ms(300),
            &ObjectKey::new(Kind::ConfigMap, "default", "b"),
            None,
        )
        .unwrap();
    let d = &out.deliveries[0];
    assert_eq!(d.event.event_type, EventType::Deleted);
    assert_eq!(d.event.resource_version, 7);
    assert_eq!(
        d.event.object.metadata().resource_version.as_deref(),
        Some("7")
    );
    assert!(s.unwatch(other));
    assert!(!s.unwatch(other));
}

#[test]
fn default_lag_is_ten_milliseconds() {
    let mut s = Store::new();
    s.watch(T0, WatchSpec::new([Kind::ConfigMap]));
    let out = s.create(at_ms(1), config_map(None, "a")).unwrap();
    assert_eq!(out.deliveries[0].due, at_ms(11));
}

#[test]
fn namespace_scoped_watch() {
    let mut s = Store::new();
    s.create(
        T0,
        Namespace {
            metadata: meta(None, "shop"),
            ..Default::default()
        }
        .into(),
    )
    .unwrap();
    s.watch(
        T0,
        WatchSpec::new([Kind::ConfigMap, Kind::Node]).in_namespace("shop"),
    );
    assert!(
        s.create(T0, config_map(None, "a"))
            .unwrap()
            .deliveries
            .is_empty()
    );
    assert_eq!(
        s.create(T0, config_map(Some("shop"), "a"))
            .unwrap()
            .deliveries
            .len(),
        1
    );
    let node = Node {
        metadata: meta(None, "n1"),
        ..Default::default()
    };
    assert_eq!(s.create(T0, node.into()).unwrap().deliveries.len(), 1);
}

#[test]
fn list_with_selector_in_key_order() {
    let mut s = Store::new();
    for (name, app) in [("c", "web"), ("a", "web"), ("b", "db")] {
        let mut cm = config_map(None, name);
        cm.metadata_mut().labels = Some([("app".to_owned(), app.to_owned())].into());
        s.create(T0, cm).unwrap();
    }
    let web = Selector::parse("app=web").unwrap();
    let names: Vec<&str> = s
        .list(Kind::ConfigMap, Some("default"), &web)
        .iter()
        .map(|o| o.name())
        .collect();
    assert_eq!(names, ["a", "c"]);
    let all = s.list(Kind::ConfigMap, None, &Selector::everything());
    assert_eq!(all.len(), 3);
    assert!(
        s.list(
            Kind::ConfigMap,
            Some("kube-system"),
            &Selector::everything()
        )
        .is_empty()
    );
    let created: Vec<&str> = s
        .creation_order(Kind::ConfigMap)
        .iter()
        .map(|o| o.name())
        .collect();
    assert_eq!(created, ["c", "a", "b"]);
}

#[test]
fn graceful_pod_deletion() {
    let mut s = Store::new();
    s.create(T0, scheduled_pod("web-0", Some(20))).unwrap();
    let key = ObjectKey::new(Kind::Pod, "default", "web-0");
    let out = s.delete(at_ms(1000), &key, None).unwrap();
    let m = out.object.metadata();
    assert_eq!(m.deletion_grace_period_seconds, Some(20));
    assert_eq!(
        serde_json::to_value(m.deletion_timestamp.as_ref().unwrap()).unwrap(),
        serde_json::json!("1970-01-01T00:00:21Z")
    );
    assert!(s.get(&key).is_some(), "terminating, not gone");
    // A longer grace period does not extend it; a shorter one shortens it.
    let rv = s.resource_version();
    s.delete(at_ms(2000), &key, Some(60)).unwrap();
    assert_eq!(s.resource_version(), rv, "no write");
    assert_eq!(
        s.get(&key)
            .unwrap()
            .metadata()
            .deletion_grace_period_seconds,
        Some(20)
    );
    s.delete(at_ms(2000), &key, Some(5)).unwrap();
    assert_eq!(
        s.get(&key)
            .unwrap()
            .metadata()
            .deletion_grace_period_seconds,
        Some(5)
    );
    // An update cannot clear the deletion timestamp.
    s.update(at_ms(2500), scheduled_pod("web-0", Some(20)))
        .unwrap();
    assert!(s.get(&key).unwrap().metadata().deletion_timestamp.is_some());
    s.delete(at_ms(3000), &key, Some(0)).unwrap();
    assert!(s.get(&key).is_none());
}

#[test]
fn unscheduled_pods_and_other_kinds_go_at_once() {
    let mut s = Store::new();
    let mut pod = scheduled_pod("p", None);
    if let Object::Pod(p) = &mut pod {
        p.spec.as_mut().unwrap().node_name = None;
    }
    s.create(T0, pod).unwrap();
    s.delete(T0, &ObjectKey::new(Kind::Pod, "default", "p"), None)
        .unwrap();
    assert!(s.get(&ObjectKey::new(Kind::Pod, "default", "p")).is_none());
    let err = s
        .delete(T0, &ObjectKey::new(Kind::Pod, "default", "p"), None)
        .unwrap_err();
    assert_eq!(err.to_string(), "pods \"p\" not found");
}

#[test]
fn deleting_a_namespace_deletes_its_objects() {
    let mut s = Store::new();
    s.create(
        T0,
        Namespace {
            metadata: meta(None, "shop"),
            ..Default::default()
        }
        .into(),
    )
    .unwrap();
    s.create(T0, config_map(Some("shop"), "a")).unwrap();
    s.create(T0, config_map(Some("default"), "a")).unwrap();
    s.watch(T0, WatchSpec::new(Kind::ALL));
    let out = s
        .delete(T0, &ObjectKey::cluster(Kind::Namespace, "shop"), None)
        .unwrap();
    let deleted: BTreeSet<String> = out
        .deliveries
        .iter()
        .map(|d| d.event.object.key().to_string())
        .collect();
    assert_eq!(
        deleted,
        BTreeSet::from(["ConfigMap shop/a".to_owned(), "Namespace shop".to_owned()])
    );
    assert!(
        s.get(&ObjectKey::new(Kind::ConfigMap, "default", "a"))
            .is_some()
    );
}

#[test]
fn apply_creates_then_replaces() {
    let mut s = Store::new();
    let a = s.apply(T0, config_map(None, "cfg")).unwrap();
    assert_eq!(a.deliveries.len(), 0);
    let mut cm = config_map(None, "cfg");
    cm.metadata_mut().resource_version = Some("999".into());
    cm.metadata_mut().labels = Some([("x".to_owned(), "y".to_owned())].into());
    let b = s.apply(T0, cm).unwrap();
    assert_eq!(b.object.labels().get("x").map(String::as_str), Some("y"));
    assert_eq!(b.object.metadata().uid, a.object.metadata().uid);
}

#[test]
fn restore_keeps_exported_metadata_create_does_not() {
    let mut exported = scheduled_pod("web-0", Some(30));
    {
        let m = exported.metadata_mut();
        m.uid = Some("c1a2b3c4-0000-4000-8000-000000000001".into());
        m.resource_version = Some("1031".into());
        m.deletion_timestamp = Some(Time(Timestamp::from_second(1_740_823_530).unwrap()));
        m.deletion_grace_period_seconds = Some(30);
        m.creation_timestamp = Some(Time(Timestamp::from_second(1_740_823_200).unwrap()));
    }
    let mut s = Store::new();
    let restored = s.restore(T0, exported.clone()).unwrap().object;
    let m = restored.metadata();
    assert_eq!(
        m.uid.as_deref(),
        Some("c1a2b3c4-0000-4000-8000-000000000001")
    );
    assert_eq!(m.resource_version.as_deref(), Some("5"));
    assert_eq!(m.deletion_grace_period_seconds, Some(30));
    assert_eq!(m.creation_timestamp, exported.metadata().creation_timestamp);

    // The same uid twice is refused.
    let mut twin = exported.clone();
    twin.metadata_mut().name = Some("web-1".into());
    let err = s.restore(T0, twin).unwrap_err();
    assert!(matches!(err, StoreError::Invalid { ref field, .. } if field == "metadata.uid"));

    // create: a fresh uid and timestamps, no deletion in progress.
    let mut s = Store::new();
    let created = s.create(T0, exported).unwrap().object;
    let m = created.metadata();
    assert_eq!(
        m.uid.as_deref(),
        Some("00000000-0000-0000-0000-000000000005")
    );
    assert_eq!(m.deletion_timestamp, None);
    assert_eq!(
        serde_json::to_value(m.creation_timestamp.as_ref().unwrap()).unwrap(),
        serde_json::json!("1970-01-01T00:00:00Z")
    );
}

#[test]
fn restore_all_puts_namespaces_first_and_keeps_system_ones() {
    let objects: Vec<Object> = vec![
        config_map(Some("shop"), "cfg"),
        Namespace {
            metadata: meta(None, "shop"),
            ..Default::default()
        }
        .into(),
        Namespace {
            metadata: meta(None, "default"),
            ..Default::default()
        }
        .into(),
    ];
    let mut s = Store::new();
    s.restore_all(T0, &objects).unwrap();
    assert!(
        s.get(&ObjectKey::new(Kind::ConfigMap, "shop", "cfg"))
            .is_some()
    );
    assert_eq!(s.list_as::<Namespace>(None).count(), 5);
}

#[test]
fn epoch_maps_simulated_time_to_timestamps() {
    let epoch = Timestamp::from_second(1_735_689_600).unwrap(); // 2025-01-01T00:00:00Z
    let s = Store::with_epoch(epoch);
    assert_eq!(
        serde_json::to_value(s.time_at(at_ms(90_500))).unwrap(),
        serde_json::json!("2025-01-01T00:01:30Z")
    );
}
