//! # Controllers
//!
//! kube-controller-manager's networking controllers and kubelet's readiness rule, as pure
//! functions and state machines over the [`Store`](crate::store::Store): each `reconcile`
//! reads the store and returns the writes ([`Change`](crate::store::Change)s) that bring it in
//! line; the engine applies them. Reconciling again after applying them yields no writes.
//!
//! | module | models |
//! | --- | --- |
//! | [`pod_readiness`] | Ready = containers ready and readiness gates True (kubelet `generate.go`, KEP-580) |
//! | [`membership`] | which pods back a Service, on which port (`ShouldPodBeInEndpoints`, `FindPort`, ...) |
//! | [`repack`] | `endpoints.RepackSubsets` |
//! | [`endpoints`] | the Endpoints controller |
//! | [`endpointslice`] | the EndpointSlice controller and its reconciler |
//! | [`cidr_set`], [`node_ipam`] | node IPAM, the range allocator |
//!
//! Upstream controllers react to informer events through work queues with batching delays
//! and retries; here a reconcile looks at everything and the caller decides when to run it
//! (on each watch delivery, say). The results are those of a sync that sees the same state.
//! Not modelled: the EndpointSlice mirroring controller, the route and service (cloud load
//! balancer) controllers.

pub mod cidr_set;
pub mod endpoints;
pub mod endpointslice;
pub mod membership;
pub mod node_ipam;
pub mod pod_readiness;
pub mod repack;
#[cfg(test)]
mod testutil;

pub use endpointslice::EndpointSliceController;
pub use node_ipam::{IpamError, IpamOutcome, NodeIpam, NodeIpamConfig};
pub use pod_readiness::{pod_ready, set_pod_condition};
