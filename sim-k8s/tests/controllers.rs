//! The controllers on an exported cluster: the deployment/service/pods/nodes of
//! `fixtures/web`, and the EndpointSlice the real controller wrote for them.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use sim_core::SimTime;
use sim_k8s::controller::{EndpointSliceController, endpoints};
use sim_k8s::manifest::{LoadOptions, load_paths};
use sim_k8s::store::Store;
use sim_k8s::{Kind, Object};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn restored(paths: &[&str]) -> Store {
    let paths: Vec<PathBuf> = paths.iter().map(|p| fixture(p)).collect();
    let m = load_paths(&paths, &LoadOptions::default()).unwrap();
    let mut store = Store::new();
    store.restore_all(SimTime::ZERO, m.objects()).unwrap();
    store
}

/// Our EndpointSlice controller, given what the cluster held, finds the real controller's
/// slice already right: no writes.
#[test]
fn exported_slice_is_what_we_would_write() {
    let store = restored(&["web", "endpointslice.yaml"]);
    assert_eq!(EndpointSliceController::default().reconcile(&store), vec![]);
}

#[test]
fn endpoints_for_the_exported_cluster() {
    let mut store = restored(&["web"]);
    let changes = endpoints::reconcile(&store);
    assert_eq!(changes.len(), 1);
    store.apply_changes(SimTime::ZERO, changes).unwrap();
    assert_eq!(endpoints::reconcile(&store), vec![]);
    let ep = store.get_as::<Endpoints>("default", "web").unwrap();
    // The ready pod is an address, the unready one a not-ready address; the terminating pod
    // is gone.
    insta::assert_json_snapshot!("endpoints_web", Object::from(ep.clone()).to_json());
}

#[test]
fn fresh_slices_for_the_exported_cluster() {
    let mut store = restored(&["web"]);
    let ctrl = EndpointSliceController::new(2);
    let changes = ctrl.reconcile(&store);
    store.apply_changes(SimTime::ZERO, changes).unwrap();
    assert_eq!(ctrl.reconcile(&store), vec![]);
    let slices: Vec<serde_json::Value> = store
        .list_as::<EndpointSlice>(Some("default"))
        .map(|s| Object::from(s.clone()).to_json())
        .collect();
    assert_eq!(slices.len(), 2, "three endpoints, two per slice");
    insta::assert_json_snapshot!("endpointslices_web_max2", slices);
    // Deterministic names: the same run names them the same.
    let again = restored(&["web"]);
    let mut again = again;
    let changes = ctrl.reconcile(&again);
    again.apply_changes(SimTime::ZERO, changes).unwrap();
    let names = |s: &Store| -> Vec<String> {
        s.list(
            Kind::EndpointSlice,
            Some("default"),
            &sim_k8s::Selector::everything(),
        )
        .iter()
        .map(|o| o.name().to_owned())
        .collect()
    };
    assert_eq!(names(&store), names(&again));
}
