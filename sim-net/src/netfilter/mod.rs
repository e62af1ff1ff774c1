//! Netfilter: the tables of rules (raw, mangle, nat, filter, security) and the state they
//! consult — connection tracking with NAT bindings, IP sets, `recent` lists — run at the hooks
//! of the packet path.
//!
//! | module | holds |
//! | --- | --- |
//! | [`conntrack`] | [`Conntrack`](conntrack::Conntrack): `nf_conntrack` + `nf_nat` bindings, timeouts, `conntrack -L` text |
//! | [`ipset`] | [`IpSets`](ipset::IpSets): `ip_set` hash/bitmap sets, `ipset save` / `ipset restore` text |

//! | [`manip`] | rewriting addresses and ports with their checksums (`nf_nat_manip_pkt`) |
//!
//! All are sans-IO state machines: time is passed in as [`SimTime`](sim_core::SimTime),
//! randomness as a [`SimRng`](sim_core::SimRng), and every iteration that can reach an output
//! runs over ordered collections.

pub mod conntrack;
pub mod ipset;
pub mod manip;
