//! kube-netsim's scenario runner (the library behind `kube-netsim run`), the exports of a
//! run (`kube-netsim run --export`, `kube-netsim export`), and capture replay into a running
//! cluster (behind `kube-netsim replay` and the runner's `replay` step), and the cluster's DNS
//! asked from outside (behind `kube-netsim dns`).

pub mod dns;
pub mod export;
pub mod pod_files;
pub mod replay;
pub mod scenario;
pub mod source;
