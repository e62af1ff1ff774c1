//! # sim-k8s — the Kubernetes layer
//!
//! API objects, controllers, kubelet, CNI plugins, kube-proxy, DNS and NetworkPolicy, as state
//! machines that program sim-net. Filled in by the sim-k8s issues; see DESIGN.md §5.
//!
//! | module | holds |
//! | --- | --- |
//! | [`kubelet`] | `/etc/hosts` and `resolv.conf` as kubelet writes them; the pod sandbox |
//! | [`cni`] | CNI configs and plugins (bridge, host-local, loopback, portmap, bandwidth), kubenet's config |
//! | [`ipam`] | host-local's address allocator |

pub mod cni;
pub mod ipam;
pub mod kubelet;
