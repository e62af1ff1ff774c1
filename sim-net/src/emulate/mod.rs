//! # emulate — simulated topologies in real network namespaces, and the kernel differential tests
//!
//! Feature `emulate` (Linux; root, or root of a user namespace). A [`Network`](crate::Network)
//! is turned into the commands a person would type — iproute2 for namespaces, veth pairs,
//! bridges (ports, hairpin), VXLAN devices, addresses, routes, permanent neighbours, VXLAN FDB;
//! `sysctl`; `ipset restore`; `iptables-restore` — which can be printed as a shell script or
//! run in namespaces named behind a unique prefix. The same probes then run in the simulator
//! and in the kernel, and their observations are compared.
//!
//! | module | holds |
//! | --- | --- |
//! | [`plan`] | [`Plan`]: a network as ordered commands; [`Plan::to_shell_script`] |
//! | [`run`] | [`Env`] (tools, privileges), [`Emulation`]: runs a plan, owns its namespaces and processes, tears down on drop, panic, SIGINT/SIGTERM |
//! | [`probe`] | [`Case`], probes (ICMP echo, TCP, UDP), [`run_sim`] and [`run_kernel`] giving [`Observation`]s |
//! | [`compare`] | normalisation, [`compare()`](compare::compare), [`difftest`] (with the search over the simulator's random branches) |
//! | [`helper`] | `kns-probe`, the servers and clients run inside the namespaces |
//!
//! Guarantees: nothing outside the namespaces an [`Emulation`] creates is changed (every
//! command names its namespace; no device is created in the caller's namespace), and since no
//! emulated namespace is connected to the caller's, no probe packet can leave them.
//!
//! This kernel has no IPVS, dummy devices or netem: plans with a dummy device are refused,
//! link timings are not emulated, and IPVS is not compared (its behaviour is checked against
//! upstream expectations in the unit tests instead).
//!
//! Kernel behaviour the emulation turns off because the model does not have it (see
//! [`plan`]): IPv6, reverse-path filtering, ICMP redirects (sent when a router forwards a
//! packet back out the interface it came in on), host-wide ARP settings inherited from the
//! machine (all sysctls in every namespace), and bridge multicast snooping (a bridge would
//! join the all-snoopers group and send IGMP reports). Not compared: timings, TCP windows and
//! options, conntrack timeouts, ephemeral and NAT-chosen ports (only whether NAT kept the
//! source port), ICMP ids.
//!
//! What the differential tests found in the simulator, each fixed and kept as a regression
//! case under `sim-net/tests/fixtures/difftest/`: conntrack ran as soon as any table was
//! loaded (the kernel turns it on only for rules that need it); a SYN_SENT connection aborted
//! by an ICMP error or given up sent a RST; the RST and ICMP errors a REJECT (or the forward
//! path) sends were not attached to the rejected packet's connection, so a DNATed client never
//! recognised them — and a RST for a packet that came in through a bridge port must *not* be
//! NATed (it leaves straight through that port); a FAILED neighbour refused the next packet
//! instead of resolving again; a UDP datagram refused in OUTPUT did not fail the send with
//! EPERM; a UDP client took an answer from another address than the one it sent to.

pub mod compare;
pub mod helper;
pub mod plan;
pub mod probe;
pub mod run;

pub use compare::{Divergence, Report, compare, difftest};
pub use plan::{Plan, PlanError, PlanOptions};
pub use probe::{Case, Delivery, Observation, Probe, ProbeKind, ProbeResult, run_kernel, run_sim};
pub use run::{EmulateError, Emulation, Env, IptablesBackend, Tool};
