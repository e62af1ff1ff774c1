//! Shared workloads for kube-netsim's benchmarks.
//!
//! | module | workload |
//! | --- | --- |
//! | [`hold`] | the hold model on sim-core's engine and queue, shaped like `shared/anchors/ns3-hold.cc` |
//! | [`new_connection`] | the first packet of a new connection forwarded through a node's netfilter |

pub mod hold;
pub mod new_connection;
