//! The first packet of a new TCP connection through a node's netfilter, as the engine runs
//! it for a packet forwarded by the node: nat PREROUTING (DNAT), filter FORWARD and nat
//! POSTROUTING, with conntrack, the report quiet (no walk recorded). The workload of the
//! `new_connection` benchmarks of `netfilter` and `kube_proxy`.

use std::net::Ipv4Addr;

use sim_core::{SimRng, SimTime};
use sim_net::netfilter::hooks::{HookIfaces, HookReport, HookVerdict, Host, Seeded};
use sim_net::netfilter::matches::AddrTypes;
use sim_net::netfilter::{Hook, Netfilter, NfSkb};
use sim_net::packet::{self, Ipv4Header};
use smoltcp::wire::IpProtocol;

/// A node whose only address is `ip`: everything else is unicast.
pub struct Node {
    pub ip: Ipv4Addr,
}

impl Host for Node {
    fn addr_type(&self, addr: Ipv4Addr, _: Option<&str>) -> u16 {
        if addr == self.ip {
            AddrTypes::LOCAL
        } else {
            AddrTypes::UNICAST
        }
    }

    fn iface_addr(&self, _: &str, _: Ipv4Addr) -> Option<Ipv4Addr> {
        Some(self.ip)
    }
}

/// A TCP SYN from `src`:1024 to `dst`:`dport`.
pub fn syn(src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    packet::ipv4(
        Ipv4Header {
            src,
            dst,
            protocol: IpProtocol::Tcp,
            ttl: 64,
            ident: 1,
            dont_frag: true,
        },
        &packet::tcp(src, 1024, dst, dport, 1, 0, packet::TCP_SYN, 64240),
    )
}

/// One new connection (`template`, a [`syn`]) forwarded through `node`; `n` picks its source
/// port so every call is a new conntrack entry (the table is flushed every 64,000 calls).
/// True when every hook accepted it.
pub fn new_connection(
    nf: &mut Netfilter,
    node: &Node,
    template: &[u8],
    n: u64,
    rng: &mut SimRng,
) -> bool {
    let mut pkt = template.to_vec();
    let sport = 1024 + (n % 64_000) as u16;
    pkt[20..22].copy_from_slice(&sport.to_be_bytes());
    if n.is_multiple_of(64_000) {
        nf.conntrack.flush();
    }
    let mut skb = NfSkb::default();
    let eth0 = || Some("eth0".to_string());
    let mut ok = true;
    for (hook, ifs) in [
        (
            Hook::Prerouting,
            HookIfaces {
                in_iface: eth0(),
                ..HookIfaces::default()
            },
        ),
        (
            Hook::Forward,
            HookIfaces {
                in_iface: eth0(),
                out_iface: eth0(),
                physdev: None,
            },
        ),
        (
            Hook::Postrouting,
            HookIfaces {
                out_iface: eth0(),
                ..HookIfaces::default()
            },
        ),
    ] {
        let mut report = HookReport {
            quiet: true,
            ..HookReport::default()
        };
        let v = nf.hook(
            hook,
            &mut pkt,
            &mut skb,
            &ifs,
            node,
            &mut Seeded(rng),
            SimTime::ZERO,
            None,
            &mut report,
        );
        ok &= v == HookVerdict::Accept;
    }
    ok
}
