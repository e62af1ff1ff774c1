//! # Cluster DNS from outside the simulation
//!
//! What `kube-netsim dns` and `kube-netsim dns serve` are made of: the cluster's DNS server
//! ([`sim_k8s::dns::DnsServer`]) answering raw DNS messages from a frozen view of a built
//! cluster, and the two ways a reply is shown.
//!
//! | module | holds |
//! | --- | --- |
//! | [`responder`] | [`Responder`]: a server, a fixed [`sim_k8s::dns::DnsView`] and a fixed `now`; packet in, reply out; upstreams unreachable |
//! | [`query`] | the query `dig` sends for NAME and TYPE (RD, EDNS0 buffer size), and NAME/TYPE parsing |
//! | [`presentation`] | a record's owner, TTL, class, type and data in master-file text as `dig` prints them |
//! | [`dig`] | a reply message as `dig` prints it: header, flags, OPT pseudosection, sections |
//! | [`json`] | a reply message as the JSON of issue 9 |
//! | [`serve`] | real loopback UDP and TCP sockets in front of a [`Responder`] |
//!
//! The printers take a parsed [`hickory_proto::op::Message`], so a reply that reached a pod
//! through the simulated dataplane prints the same way as one from a direct query.

pub mod dig;
pub mod json;
pub mod presentation;
pub mod query;
pub mod responder;
pub mod serve;

pub use responder::Responder;
