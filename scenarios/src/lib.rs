//! kube-netsim's scenario runner (the library behind `kube-netsim run`), and capture replay
//! into a running cluster (behind `kube-netsim replay` and the runner's `replay` step).

pub mod replay;
pub mod scenario;
