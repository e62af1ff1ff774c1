//! Netfilter: tables, chains and rules, conntrack, NAT, ipsets, and the hooks of the packet
//! path that run them.
//!
//! | module | holds |
//! | --- | --- |
//! | [`manip`] | rewriting addresses and ports with their checksums (`nf_nat_manip_pkt`) |

pub mod manip;
