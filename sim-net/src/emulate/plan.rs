//! A [`Network`] as the ordered list of commands a person would type to build it in real
//! network namespaces: `ip netns add`, `ip link add … type veth|bridge|vxlan`, `ip addr add`,
//! `ip route add`, `ip neigh add … nud permanent`, `bridge fdb append`, `sysctl -w`,
//! `ipset restore`, `iptables-restore`. [`Plan::to_shell_script`] prints them as a POSIX shell
//! script (the future `kube-netsim export --format sh`); [`crate::emulate::run`] executes them.
//!
//! Namespaces are named `${PREFIX}NAME` (the simulator's name behind a unique prefix); device
//! names are the simulator's, which [`Network`] already holds to IFNAMSIZ (15 bytes). Every
//! command names its namespace (`ip -n`, `bridge -n`, `ip netns exec`), and no device is ever
//! created in the caller's namespace: a veth pair is created inside its first namespace with
//! its peer placed straight into the second. So a plan touches nothing outside the namespaces
//! it creates, and nothing it builds is connected to the outside.
//!
//! Order: namespaces; sysctls (before any device, so `conf.default` reaches every device);
//! loopback up; veth pairs, NIC links (as veth pairs) and bridges in device order, with the
//! simulator's MAC addresses and MTUs; then VXLAN devices (their underlay exists by then);
//! bridge ports and hairpin; addresses (`brd +`, as the simulator installs broadcast routes);
//! links up; routes of the main table in the order they were added; permanent neighbours;
//! VXLAN FDB entries; IP sets; iptables rules.
//!
//! Decisions:
//! - A NIC joined by a [`Link`](crate::link::Link) becomes a veth pair between the two
//!   namespaces. Latency, bandwidth, queue length and loss are not emulated (netem is not
//!   available here, and the differential harness never compares timings); a link that is
//!   down, or a NIC on no link, is refused ([`PlanError::Unsupported`]).
//! - Dummy devices are refused: this kernel has no `dummy` driver.
//! - Bridges get `mcast_snooping 0`: with snooping on, a Linux bridge joins the all-snoopers
//!   group (224.0.0.106) when it comes up and sends IGMPv3 reports, which the model (no
//!   IGMP) never sends; they would also show in conntrack.
//! - Sysctls: the ones the model has are written explicitly in every namespace (a new
//!   namespace inherits IPv4 `conf/all` and `conf/default` from the host, which may differ
//!   from Linux's defaults). So are the settings the model assumes but does not model:
//!   IPv6 off (the model is IPv4; no router solicitations or MLD on the wire), `rp_filter=0`,
//!   no ICMP redirects sent or accepted, `arp_ignore`/`arp_announce`/`proxy_arp` at 0.
//! - Rules: the iptables-restore text given for a namespace in [`PlanOptions::rules`] (what the
//!   user or kube-proxy wrote — the kernel should read the same bytes the model parsed), else
//!   the model's own `iptables-save`. IP sets: the model's `ipset save`.
//! - VXLAN devices get `nolearning` (as flannel creates them: the FDB is static) and
//!   `dev UNDERLAY` when a device of the namespace holds the `local` address.
//! - Only permanent neighbours are written; learned ones (and learned bridge FDB entries) are
//!   the kernel's to learn. Listening sockets of the model ([`Network::listen`]) are not
//!   started: the harness starts its own servers.

use std::collections::BTreeMap;
use std::fmt::Write;

use ipnet::IpNet;
use sim_core::SimTime;

use crate::DeviceId;
use crate::device::{DeviceKind, ETH_MTU};
use crate::neigh::NeighState;
use crate::netns::NetNsId;
use crate::network::Network;
use crate::packet::mac;
use crate::route::{Route, RouteProto, RouteType};

/// One word of a command: literal text, or a namespace the runner names with its prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Arg {
    Lit(String),
    Netns(String),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Lit(s.to_string())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Lit(s)
    }
}

/// The programs a plan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Program {
    Ip,
    Bridge,
    Sysctl,
    /// `iptables-restore` in the backend the runner chose (nft or legacy).
    IptablesRestore,
    Ipset,
}

impl Program {
    /// The name in a shell script (`iptables-restore` is a variable there).
    fn shell_name(self) -> &'static str {
        match self {
            Program::Ip => "ip",
            Program::Bridge => "bridge",
            Program::Sysctl => "sysctl",
            Program::IptablesRestore => "$IPTABLES_RESTORE",
            Program::Ipset => "ipset",
        }
    }
}

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Run inside this namespace (`ip netns exec`); `None` for commands that name their
    /// namespace themselves (`ip -n`, `bridge -n`, `ip netns add`).
    pub exec_in: Option<String>,
    pub program: Program,
    pub args: Vec<Arg>,
    /// Text fed on standard input (rules for `iptables-restore`, sets for `ipset restore`).
    pub stdin: Option<String>,
}

impl Command {
    fn ip(ns: &str, args: &[&str]) -> Command {
        let mut v = vec![Arg::from("-n"), Arg::Netns(ns.to_string())];
        v.extend(args.iter().map(|&a| Arg::from(a)));
        Command {
            exec_in: None,
            program: Program::Ip,
            args: v,
            stdin: None,
        }
    }

    /// The command as one line, namespaces shown with `prefix`.
    pub fn display(&self, prefix: &str) -> String {
        let mut words = Vec::new();
        if let Some(ns) = &self.exec_in {
            words.extend(["ip", "netns", "exec"].map(String::from));
            words.push(format!("{prefix}{ns}"));
        }
        words.push(
            self.program
                .shell_name()
                .trim_start_matches('$')
                .to_lowercase(),
        );
        for a in &self.args {
            words.push(match a {
                Arg::Lit(s) => s.clone(),
                Arg::Netns(n) => format!("{prefix}{n}"),
            });
        }
        words.join(" ")
    }
}

/// What cannot be emulated, naming the object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("cannot emulate {what}: {why}")]
    Unsupported { what: String, why: &'static str },
}

/// Choices for building a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// `iptables-restore` input per namespace (by the simulator's name), used instead of the
    /// model's `iptables-save`.
    pub rules: BTreeMap<String, String>,
}

/// The commands that build a network, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The namespaces it creates, by the simulator's names, in creation order.
    pub netns: Vec<String>,
    pub commands: Vec<Command>,
    /// What of the model is not reproduced (link timings...), for people reading the plan.
    pub notes: Vec<String>,
}

/// `02:00:00:00:00:05`.
fn mac_of(net: &Network, d: DeviceId) -> String {
    mac(net.device(d).mac)
}

impl Plan {
    /// The plan for `net` with the model's own rules.
    pub fn from_network(net: &Network) -> Result<Plan, PlanError> {
        Plan::from_network_with(net, &PlanOptions::default())
    }

    /// The plan for `net`.
    pub fn from_network_with(net: &Network, opts: &PlanOptions) -> Result<Plan, PlanError> {
        let mut b = Builder {
            net,
            cmds: Vec::new(),
            notes: Vec::new(),
        };
        b.check()?;
        let netns: Vec<String> = net.all_netns().map(|(_, n)| n.name.clone()).collect();
        for name in &netns {
            b.cmds.push(Command {
                exec_in: None,
                program: Program::Ip,
                args: vec!["netns".into(), "add".into(), Arg::Netns(name.clone())],
                stdin: None,
            });
        }
        for (id, _) in net.all_netns() {
            b.sysctls(id);
        }
        for (_, n) in net.all_netns() {
            if net.device(n.devices[0]).up {
                b.cmds
                    .push(Command::ip(&n.name, &["link", "set", "dev", "lo", "up"]));
            }
        }
        b.devices()?;
        b.masters();
        b.addresses();
        b.ups();
        b.routes();
        b.neighbours();
        b.vxlan_fdb();
        b.netfilter(opts);
        if net.all_links().next().is_some() {
            b.notes.push(
                "links are veth pairs: latency, bandwidth, queue and loss are not emulated".into(),
            );
        }
        if net.all_netns().any(|(_, n)| !n.listening.is_empty()) {
            b.notes
                .push("listening sockets of the model are not started (no process)".into());
        }
        Ok(Plan {
            netns,
            commands: b.cmds,
            notes: b.notes,
        })
    }

    /// The commands that remove what the plan built: every namespace (its devices go with
    /// it; veth pairs die with either end).
    pub fn teardown(&self) -> Vec<Command> {
        self.netns
            .iter()
            .rev()
            .map(|n| Command {
                exec_in: None,
                program: Program::Ip,
                args: vec!["netns".into(), "del".into(), Arg::Netns(n.clone())],
                stdin: None,
            })
            .collect()
    }

    /// A POSIX shell script that builds the network (`sh script.sh`, or `sh script.sh down`
    /// to remove it). Namespaces are `${PREFIX}NAME`; `PREFIX` defaults to `kns-` and the
    /// `iptables-restore` binary to `$IPTABLES_RESTORE` (default `iptables-restore`). If a
    /// command fails, what was built is removed.
    pub fn to_shell_script(&self) -> String {
        let mut s = String::new();
        s.push_str("#!/bin/sh\n");
        s.push_str(
            "# Generated by kube-netsim: a simulated topology as iproute2/iptables commands.\n",
        );
        s.push_str("# Run as root (or inside `unshare -rnm`). `sh THIS down` removes it.\n");
        for n in &self.notes {
            let _ = writeln!(s, "# Note: {n}.");
        }
        s.push_str("set -eu\n");
        s.push_str("PREFIX=${PREFIX:-kns-}\n");
        s.push_str("IPTABLES_RESTORE=${IPTABLES_RESTORE:-iptables-restore}\n\n");
        s.push_str("teardown() {\n");
        for c in self.teardown() {
            let _ = writeln!(s, "  {} 2>/dev/null || true", shell_line(&c));
        }
        s.push_str("}\n");
        s.push_str("if [ \"${1:-up}\" = down ]; then teardown; exit 0; fi\n");
        s.push_str("trap 'rc=$?; if [ $rc -ne 0 ]; then echo \"failed; removing what was built\" >&2; teardown; fi' EXIT\n\n");
        for c in &self.commands {
            match &c.stdin {
                None => {
                    let _ = writeln!(s, "{}", shell_line(c));
                }
                Some(text) => {
                    let mut delim = String::from("KNS_EOF");
                    while text.lines().any(|l| l == delim) {
                        delim.push('_');
                    }
                    let _ = writeln!(s, "{} <<'{delim}'", shell_line(c));
                    s.push_str(text);
                    if !text.ends_with('\n') {
                        s.push('\n');
                    }
                    let _ = writeln!(s, "{delim}");
                }
            }
        }
        s
    }
}

/// Quotes a word for the shell when it needs it.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+,@%".contains(&b));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

fn shell_line(c: &Command) -> String {
    let ns = |n: &str| format!("\"${{PREFIX}}{}\"", n.replace(['"', '$', '`', '\\'], "_"));
    let mut words = Vec::new();
    if let Some(n) = &c.exec_in {
        words.extend(["ip".to_string(), "netns".into(), "exec".into(), ns(n)]);
    }
    words.push(c.program.shell_name().to_string());
    for a in &c.args {
        words.push(match a {
            Arg::Lit(w) => shell_word(w),
            Arg::Netns(n) => ns(n),
        });
    }
    words.join(" ")
}

struct Builder<'n> {
    net: &'n Network,
    cmds: Vec<Command>,
    notes: Vec<String>,
}

impl Builder<'_> {
    fn ns_name(&self, id: NetNsId) -> &str {
        &self.net.netns(id).name
    }

    fn ip(&mut self, ns: NetNsId, args: &[&str]) {
        let c = Command::ip(self.ns_name(ns), args);
        self.cmds.push(c);
    }

    /// Refuses what the kernel here cannot build.
    fn check(&self) -> Result<(), PlanError> {
        let net = self.net;
        for (_, n) in net.all_netns() {
            for &d in &n.devices {
                let dev = net.device(d);
                let what = || format!("device {}", net.device_path(d));
                match &dev.kind {
                    DeviceKind::Dummy => {
                        return Err(PlanError::Unsupported {
                            what: what(),
                            why: "this kernel has no dummy driver",
                        });
                    }
                    DeviceKind::Nic { link: None } => {
                        return Err(PlanError::Unsupported {
                            what: what(),
                            why: "a NIC on no link has no kernel equivalent here",
                        });
                    }
                    DeviceKind::Nic { link: Some(l) } if !net.link(*l).up => {
                        return Err(PlanError::Unsupported {
                            what: what(),
                            why: "a link that is down is not emulated",
                        });
                    }
                    _ => {}
                }
                if dev.addrs.iter().any(|a| a.addr().is_ipv6()) {
                    return Err(PlanError::Unsupported {
                        what: what(),
                        why: "IPv6 addresses (the emulation turns IPv6 off, as the model is IPv4)",
                    });
                }
            }
        }
        Ok(())
    }

    fn sysctls(&mut self, ns: NetNsId) {
        let s = &self.net.netns(ns).sysctl;
        let b = |v: bool| if v { "1" } else { "0" };
        let mut kv: Vec<String> = Vec::new();
        for scope in ["all", "default"] {
            kv.push(format!("net.ipv6.conf.{scope}.disable_ipv6=1"));
        }
        for key in [
            "rp_filter",
            "send_redirects",
            "accept_redirects",
            "arp_ignore",
            "arp_announce",
            "proxy_arp",
        ] {
            for scope in ["all", "default"] {
                kv.push(format!("net.ipv4.conf.{scope}.{key}=0"));
            }
        }
        kv.push(format!("net.ipv4.ip_forward={}", b(s.ip_forward)));
        kv.push(format!(
            "net.ipv4.conf.all.route_localnet={}",
            b(s.route_localnet)
        ));
        kv.push(format!(
            "net.ipv4.icmp_echo_ignore_all={}",
            b(s.icmp_echo_ignore_all)
        ));
        kv.push(format!("net.ipv4.ip_default_ttl={}", s.ip_default_ttl));
        kv.push(format!(
            "net.bridge.bridge-nf-call-iptables={}",
            b(s.bridge_nf_call_iptables)
        ));
        let mut args = vec![Arg::from("-qw")];
        args.extend(kv.into_iter().map(Arg::Lit));
        self.cmds.push(Command {
            exec_in: Some(self.ns_name(ns).to_string()),
            program: Program::Sysctl,
            args,
            stdin: None,
        });
    }

    /// `ip link add` for every device but loopback: veth pairs and links first, then
    /// bridges, in device order; VXLAN devices last.
    fn devices(&mut self) -> Result<(), PlanError> {
        let net = self.net;
        let mut vxlans = Vec::new();
        for (_, n) in net.all_netns() {
            for &d in &n.devices {
                let dev = net.device(d);
                let peer = match &dev.kind {
                    DeviceKind::Loopback | DeviceKind::Dummy => continue,
                    DeviceKind::Vxlan(_) => {
                        vxlans.push(d);
                        continue;
                    }
                    DeviceKind::Bridge(_) => {
                        let (mac, mtu) = (mac_of(net, d), dev.mtu.to_string());
                        let name = dev.name.clone();
                        let args = [
                            "link",
                            "add",
                            &name,
                            "address",
                            &mac,
                            "mtu",
                            &mtu,
                            "type",
                            "bridge",
                            "mcast_snooping",
                            "0",
                        ];
                        self.ip(dev.ns, &args);
                        continue;
                    }
                    DeviceKind::Veth { peer } => *peer,
                    DeviceKind::Nic { link } => {
                        let l = link.expect("checked: every NIC is on a link");
                        net.link(l).peer_of(d).expect("a link joins its two ends")
                    }
                };
                if peer < d {
                    continue; // created with its peer
                }
                let p = net.device(peer);
                let mut args: Vec<Arg> = vec![
                    "-n".into(),
                    Arg::Netns(n.name.clone()),
                    "link".into(),
                    "add".into(),
                    dev.name.clone().into(),
                    "address".into(),
                    mac_of(net, d).into(),
                ];
                if dev.mtu != ETH_MTU {
                    args.extend(["mtu".into(), dev.mtu.to_string().into()]);
                }
                args.extend([
                    "type".into(),
                    "veth".into(),
                    "peer".into(),
                    "name".into(),
                    p.name.clone().into(),
                    "address".into(),
                    mac_of(net, peer).into(),
                ]);
                if p.mtu != ETH_MTU {
                    args.extend(["mtu".into(), p.mtu.to_string().into()]);
                }
                args.extend(["netns".into(), Arg::Netns(net.netns(p.ns).name.clone())]);
                self.cmds.push(Command {
                    exec_in: None,
                    program: Program::Ip,
                    args,
                    stdin: None,
                });
            }
        }
        for d in vxlans {
            let dev = net.device(d);
            let DeviceKind::Vxlan(v) = &dev.kind else {
                unreachable!("collected as VXLAN");
            };
            let underlay = net
                .netns(dev.ns)
                .devices
                .iter()
                .copied()
                .find(|&o| o != d && net.device(o).ipv4_addrs().any(|a| a == v.local));
            let (mac, mtu) = (mac_of(net, d), dev.mtu.to_string());
            let (vni, local, port) = (
                v.vni.to_string(),
                v.local.to_string(),
                v.dstport.to_string(),
            );
            let name = dev.name.clone();
            let mut args = vec![
                "link", "add", &name, "address", &mac, "mtu", &mtu, "type", "vxlan", "id", &vni,
                "local", &local, "dstport", &port,
            ];
            let under_name;
            if let Some(u) = underlay {
                under_name = net.device(u).name.clone();
                args.extend(["dev", &under_name]);
            }
            args.push("nolearning");
            self.ip(dev.ns, &args);
        }
        Ok(())
    }

    fn masters(&mut self) {
        let net = self.net;
        for (_, n) in net.all_netns() {
            for &d in &n.devices {
                let dev = net.device(d);
                if let Some(m) = dev.master {
                    let br = net.device(m).name.clone();
                    self.ip(dev.ns, &["link", "set", "dev", &dev.name, "master", &br]);
                    if dev.hairpin {
                        self.ip(
                            dev.ns,
                            &[
                                "link",
                                "set",
                                "dev",
                                &dev.name,
                                "type",
                                "bridge_slave",
                                "hairpin",
                                "on",
                            ],
                        );
                    }
                }
            }
        }
    }

    fn addresses(&mut self) {
        let net = self.net;
        for (_, n) in net.all_netns() {
            for &d in &n.devices {
                let dev = net.device(d);
                let loopback = matches!(dev.kind, DeviceKind::Loopback);
                for a in &dev.addrs {
                    let cidr = a.net.to_string();
                    if loopback && cidr == "127.0.0.1/8" {
                        continue; // the kernel's own
                    }
                    let brd = matches!(a.net, IpNet::V4(v) if v.prefix_len() < 31) && !loopback;
                    let mut args = vec!["addr", "add", &cidr];
                    if brd {
                        args.extend(["brd", "+"]);
                    }
                    args.extend(["dev", &dev.name]);
                    self.ip(dev.ns, &args);
                }
            }
        }
    }

    fn ups(&mut self) {
        let net = self.net;
        for (_, n) in net.all_netns() {
            for &d in n.devices.iter().skip(1) {
                let dev = net.device(d);
                if dev.up {
                    self.ip(dev.ns, &["link", "set", "dev", &dev.name, "up"]);
                }
            }
        }
    }

    fn routes(&mut self) {
        let net = self.net;
        for (ns, n) in net.all_netns() {
            let routes: Vec<&Route> = n
                .main
                .iter()
                .filter(|r| r.proto != RouteProto::Kernel)
                .collect();
            for r in routes {
                let mut args: Vec<String> = vec!["route".into(), "add".into()];
                match r.kind {
                    RouteType::Unicast => {}
                    other => args.push(other.to_string()),
                }
                args.push(if r.dst.prefix_len() == 0 {
                    "default".into()
                } else {
                    r.dst.to_string()
                });
                if let Some(v) = r.via {
                    args.extend(["via".into(), v.to_string()]);
                }
                if let Some(d) = r.dev {
                    args.extend(["dev".into(), net.device(d).name.clone()]);
                }
                if let Some(s) = r.src {
                    args.extend(["src".into(), s.to_string()]);
                }
                if r.metric != 0 {
                    args.extend(["metric".into(), r.metric.to_string()]);
                }
                if r.onlink {
                    args.push("onlink".into());
                }
                if r.proto == RouteProto::Static {
                    args.extend(["proto".into(), "static".into()]);
                }
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                self.ip(ns, &refs);
            }
        }
    }

    fn neighbours(&mut self) {
        let net = self.net;
        for (ns, n) in net.all_netns() {
            for (dev, ip, e) in n.neigh.entries() {
                if e.state(SimTime::ZERO) != NeighState::Permanent {
                    continue;
                }
                let Some(m) = e.mac else { continue };
                let (ip, m) = (ip.to_string(), mac(m));
                let name = net.device(dev).name.clone();
                self.ip(
                    ns,
                    &[
                        "neigh",
                        "add",
                        &ip,
                        "lladdr",
                        &m,
                        "dev",
                        &name,
                        "nud",
                        "permanent",
                    ],
                );
            }
        }
    }

    fn vxlan_fdb(&mut self) {
        let net = self.net;
        for (_, n) in net.all_netns() {
            for &d in &n.devices {
                let dev = net.device(d);
                let DeviceKind::Vxlan(v) = &dev.kind else {
                    continue;
                };
                let mut entries: Vec<(&str, String, String)> = v
                    .default_remotes
                    .iter()
                    .map(|r| ("append", "00:00:00:00:00:00".to_string(), r.to_string()))
                    .collect();
                for (m, r) in &v.fdb {
                    entries.push((
                        "add",
                        mac(smoltcp::wire::EthernetAddress(*m)),
                        r.to_string(),
                    ));
                }
                for (verb, m, dst) in entries {
                    let args: Vec<Arg> = vec![
                        "-n".into(),
                        Arg::Netns(n.name.clone()),
                        "fdb".into(),
                        verb.into(),
                        m.into(),
                        "dev".into(),
                        dev.name.clone().into(),
                        "dst".into(),
                        dst.into(),
                        "self".into(),
                        "permanent".into(),
                    ];
                    self.cmds.push(Command {
                        exec_in: None,
                        program: Program::Bridge,
                        args,
                        stdin: None,
                    });
                }
            }
        }
    }

    fn netfilter(&mut self, opts: &PlanOptions) {
        let net = self.net;
        for (_, n) in net.all_netns() {
            let nf = &n.netfilter;
            if nf.ipsets.iter().next().is_some() {
                self.cmds.push(Command {
                    exec_in: Some(n.name.clone()),
                    program: Program::Ipset,
                    args: vec!["restore".into()],
                    stdin: Some(nf.ipsets.save()),
                });
            }
            let text = match opts.rules.get(&n.name) {
                Some(t) => Some(t.clone()),
                None if nf.active() => Some(nf.ruleset.save()),
                None => None,
            };
            if let Some(text) = text {
                self.cmds.push(Command {
                    exec_in: Some(n.name.clone()),
                    program: Program::IptablesRestore,
                    args: Vec::new(),
                    stdin: Some(text),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LinkProps;
    use crate::netfilter::RestoreOptions;
    use crate::topology::{two_nodes_routed, two_nodes_vxlan};

    fn lines(p: &Plan) -> Vec<String> {
        p.commands.iter().map(|c| c.display("P-")).collect()
    }

    #[test]
    fn routed_two_nodes_as_commands() {
        let t = two_nodes_routed(LinkProps::default());
        let p = Plan::from_network(&t.net).unwrap();
        let l = lines(&p);
        assert_eq!(p.netns, ["node-1", "node-2", "pod-a", "pod-b"]);
        assert_eq!(l[0], "ip netns add P-node-1");
        let expect = [
            "ip -n P-node-1 link add cbr0 address 02:00:00:00:00:02 mtu 1500 type bridge mcast_snooping 0",
            "ip -n P-node-1 link add eth0 address 02:00:00:00:00:05 type veth peer name eth0 address 02:00:00:00:00:06 netns P-node-2",
            "ip -n P-node-1 link set dev veth-a master cbr0",
            "ip -n P-node-1 addr add 10.244.1.1/24 brd + dev cbr0",
            "ip -n P-node-1 route add 10.244.2.0/24 via 192.168.0.12 dev eth0",
            "ip -n P-pod-a route add default via 10.244.1.1 dev eth0",
            "ip netns exec P-node-1 sysctl -qw net.ipv6.conf.all.disable_ipv6=1",
        ];
        for e in expect {
            assert!(
                l.iter().any(|x| x.starts_with(e)),
                "missing {e:?} in\n{}",
                l.join("\n")
            );
        }
        // The pod's veth is created once, from the pod's side (its end has the lower id).
        assert_eq!(l.iter().filter(|x| x.contains("veth-a address")).count(), 1);
        let pos = |needle: &str| l.iter().position(|x| x.contains(needle)).unwrap();
        assert!(pos("sysctl") < pos("type bridge"), "sysctls before devices");
        assert!(pos("addr add 10.244.1.2") < pos("route add default"));
        assert!(
            p.to_shell_script()
                .contains("ip -n \"${PREFIX}node-1\" link add cbr0")
        );
    }

    #[test]
    fn vxlan_devices_neighbours_and_fdb() {
        let t = two_nodes_vxlan(1500, None);
        let l = lines(&Plan::from_network(&t.net).unwrap());
        let find = |needle: &str| {
            l.iter()
                .find(|x| x.contains(needle))
                .unwrap_or_else(|| panic!("no {needle:?} in\n{}", l.join("\n")))
                .clone()
        };
        assert!(find("type vxlan").ends_with(
            "mtu 1450 type vxlan id 1 local 192.168.0.11 dstport 8472 dev eth0 nolearning"
        ));
        assert!(find("neigh add 10.244.2.0").ends_with("dev flannel.1 nud permanent"));
        assert!(find("fdb add").contains("dev flannel.1 dst 192.168.0.12 self permanent"));
        assert!(find("route add 10.244.2.0/24").ends_with("dev flannel.1 onlink"));
    }

    #[test]
    fn rules_go_through_restore_and_the_script_quotes_them() {
        let mut t = two_nodes_routed(LinkProps::default());
        let rules = "*filter\n-A FORWARD -m comment --comment \"it's\" -j ACCEPT\nCOMMIT\n";
        t.net
            .netns_mut(t.node1)
            .netfilter
            .restore(rules, RestoreOptions::default())
            .unwrap();
        let p = Plan::from_network(&t.net).unwrap();
        let c = p
            .commands
            .iter()
            .find(|c| c.program == Program::IptablesRestore)
            .unwrap();
        assert_eq!(c.exec_in.as_deref(), Some("node-1"));
        assert!(c.stdin.as_ref().unwrap().contains("--comment \"it\\'s\""));
        let mut opts = PlanOptions::default();
        opts.rules.insert("node-1".into(), rules.into());
        let p = Plan::from_network_with(&t.net, &opts).unwrap();
        let script = p.to_shell_script();
        assert!(script.contains(
            "ip netns exec \"${PREFIX}node-1\" $IPTABLES_RESTORE <<'KNS_EOF'\n*filter\n"
        ));
        assert!(script.contains("teardown() {\n  ip netns del \"${PREFIX}pod-b\""));
        assert_eq!(p.teardown().len(), 4);
    }

    #[test]
    fn what_the_kernel_here_lacks_is_refused() {
        let mut n = Network::new();
        let ns = n.add_netns("node").unwrap();
        n.add_dummy(ns, "kube-ipvs0").unwrap();
        let e = Plan::from_network(&n).unwrap_err();
        assert!(e.to_string().contains("node/kube-ipvs0"), "{e}");
        let mut n = Network::new();
        let ns = n.add_netns("node").unwrap();
        n.add_nic(ns, "eth0").unwrap();
        assert!(Plan::from_network(&n).is_err());
    }
}
