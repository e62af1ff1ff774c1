//! Shared workloads for kube-netsim's benchmarks.
//!
//! | module | workload |
//! | --- | --- |
//! | [`hold`] | the hold model on sim-core's engine and queue, shaped like `shared/anchors/ns3-hold.cc` |

pub mod hold;
