//! # sim-net — the Linux dataplane model
//!
//! Network namespaces, devices, routing, neighbours, netfilter and the local stack, as Linux
//! has them. Filled in by the dataplane issue; see DESIGN.md §4.
