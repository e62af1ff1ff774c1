//! kube-netsim's scenario runner (the library behind `kube-netsim run`).

pub mod pod_files;
pub mod scenario;
