//! # sim-k8s — the Kubernetes layer
//!
//! API objects, controllers, kubelet, CNI plugins, kube-proxy, DNS and NetworkPolicy, as state
//! machines that program sim-net. Filled in by the sim-k8s issues; see DESIGN.md §5.
