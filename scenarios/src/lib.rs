//! kube-netsim's scenario runner (the library behind `kube-netsim run`).

pub mod export;
pub mod scenario;
