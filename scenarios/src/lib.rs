//! kube-netsim's scenario runner (the library behind `kube-netsim run`) and the exports of
//! a run (`kube-netsim run --export`, `kube-netsim export`).

pub mod export;
pub mod pod_files;
pub mod scenario;
