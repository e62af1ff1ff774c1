//! `NF_HOOK`: where the packet path calls into netfilter. The namespace's [`Netfilter`] runs
//! the hook; this glue answers its questions about the namespace (address types, interface
//! addresses), records a hop when netfilter did something, and carries out REJECT.

use std::net::Ipv4Addr;

use smoltcp::wire::IpProtocol;

use crate::datapath::Effects;
use crate::device::DeviceId;
use crate::hop::{DropReason, Point, Verdict};
use crate::netfilter::chain::Hook;
use crate::netfilter::hooks::{HookIfaces, HookReport, HookVerdict, Host, NfSkb, Seeded};
use crate::netfilter::matches::AddrTypes;
use crate::netfilter::target::RejectWith;
use crate::netns::NetNsId;
use crate::network::Network;
use crate::packet;
use crate::route::RouteType;

/// A namespace as netfilter's [`Host`].
struct NsHost<'a> {
    net: &'a Network,
    ns: NetNsId,
}

impl Host for NsHost<'_> {
    fn addr_type(&self, addr: Ipv4Addr, iface: Option<&str>) -> u16 {
        // `inet_dev_addr_type`: zeronet and limited broadcast, multicast, then the local table.
        if addr.is_unspecified() || addr.is_broadcast() {
            return AddrTypes::BROADCAST;
        }
        if addr.is_multicast() {
            return AddrTypes::MULTICAST;
        }
        let route = self.net.netns(self.ns).local.lookup(addr);
        match route {
            Some(r)
                if iface.is_none_or(|i| r.dev.is_some_and(|d| self.net.device(d).name == i)) =>
            {
                match r.kind {
                    RouteType::Local => AddrTypes::LOCAL,
                    RouteType::Broadcast => AddrTypes::BROADCAST,
                    _ => AddrTypes::UNICAST,
                }
            }
            _ => AddrTypes::UNICAST,
        }
    }

    fn iface_addr(&self, iface: &str, dst: Ipv4Addr) -> Option<Ipv4Addr> {
        let ns = self.net.netns(self.ns);
        let dev = ns
            .devices
            .iter()
            .copied()
            .find(|&d| self.net.device(d).name == iface)?;
        // The route's preferred source if it leaves through this device, else the device's
        // primary address (`inet_select_addr`).
        let preferred = ns
            .main
            .lookup(dst)
            .filter(|r| r.dev == Some(dev))
            .and_then(|r| r.src);
        preferred.or_else(|| self.net.device(dev).ipv4())
    }
}

impl Network {
    /// Runs netfilter `hook` in `ns` on `pkt` (rewritten in place by NAT); true if the packet
    /// goes on. `at` is the device the hop is recorded on.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn nf_hook(
        &mut self,
        ns: NetNsId,
        hook: Hook,
        pkt: &mut [u8],
        skb: &mut NfSkb,
        ifs: HookIfaces,
        tag: u32,
        at: Option<DeviceId>,
        fx: &mut Effects<'_>,
    ) -> bool {
        if !self.netns(ns).netfilter.active() {
            return true;
        }
        let mut nf = std::mem::take(&mut self.netns_mut(ns).netfilter);
        let mut report = HookReport::default();
        let verdict = {
            let host = NsHost { net: self, ns };
            let now = fx.now;
            nf.hook(
                hook,
                pkt,
                skb,
                &ifs,
                &host,
                &mut Seeded(fx.rng),
                now,
                None,
                &mut report,
            )
        };
        self.netns_mut(ns).netfilter = nf;
        let events = report.events.join("; ");
        let note = |what: String| {
            if events.is_empty() {
                format!("{hook}: {what}")
            } else {
                format!("{hook}: {events}; {what}")
            }
        };
        match verdict {
            HookVerdict::Accept => {
                if !events.is_empty() {
                    self.hop(
                        fx,
                        tag,
                        (ns, at),
                        Point::Netfilter,
                        Verdict::Pass,
                        format!("{hook}: {events}"),
                    );
                }
                true
            }
            HookVerdict::Drop { table, chain, rule } => {
                let why = note(format!("DROP in {table} {chain}: {rule}"));
                self.hop(
                    fx,
                    tag,
                    (ns, at),
                    Point::Netfilter,
                    Verdict::Drop(DropReason::Filtered),
                    why,
                );
                false
            }
            HookVerdict::Reject {
                with,
                table,
                chain,
                rule,
            } => {
                let why = note(format!(
                    "REJECT ({}) in {table} {chain}: {rule}",
                    with.name()
                ));
                self.hop(
                    fx,
                    tag,
                    (ns, at),
                    Point::Netfilter,
                    Verdict::Drop(DropReason::Rejected),
                    why,
                );
                // br_netfilter's info stays on a packet that came in through a bridge port,
                // also once it is routed (`nf_bridge_info_exists`).
                let bridged = ifs.physdev.is_some() || skb.prerouting_done;
                self.nf_reject(ns, at, with, pkt, skb, bridged, fx);
                if let Some((id, _, _)) = skb.ct {
                    // Kept for the RST (see `Netfilter::hook`); a no-op if confirmed.
                    self.netns_mut(ns).netfilter.conntrack.discard(id);
                }
                false
            }
            HookVerdict::Conntrack(d) => {
                let why = note(d.as_str().to_string());
                self.hop(
                    fx,
                    tag,
                    (ns, at),
                    Point::Netfilter,
                    Verdict::Drop(DropReason::Conntrack),
                    why,
                );
                false
            }
        }
    }

    /// The REJECT target (`nf_send_unreach`, `nf_send_reset`): never about an ICMP error or a
    /// RST, as the kernel refuses those.
    ///
    /// The answer — the RST of `--reject-with tcp-reset`, or the ICMP error — carries the
    /// rejected packet's connection (`nf_ct_attach`, as RELATED in the reply direction), so
    /// NAT rewrites it like a reply: a client whose SYN was DNATed gets the RST, or the port
    /// unreachable about the packet it sent, from the address it connected to. Here the answer
    /// is rewritten through the connection's bindings when it is built
    /// ([`Netfilter::attach_reply`](crate::netfilter::Netfilter::attach_reply); found by the
    /// kernel differential tests: both used to leave with the backend's address and the client
    /// never took them). Simplified: the kernel would also consult the nat POSTROUTING chain
    /// for it when the connection had no source binding yet.
    ///
    /// A packet that came in through a bridge port with br_netfilter on is different, bridged
    /// or routed on: `nf_send_reset` sends its RST straight out of that port, MAC addresses
    /// swapped, through no routing and no NAT — so after DNAT the client gets a RST from the
    /// backend's address, which it ignores (also found by the differential tests: a pod's
    /// connection to a Service whose endpoint a FORWARD rule rejects with tcp-reset times
    /// out). The model keeps the addresses as they are but sends the RST as a local packet
    /// (routing, OUTPUT, POSTROUTING), which reaches the same port when the client is on the
    /// bridge.
    #[allow(clippy::too_many_arguments)]
    fn nf_reject(
        &mut self,
        ns: NetNsId,
        at: Option<DeviceId>,
        with: RejectWith,
        pkt: &[u8],
        skb: &NfSkb,
        bridged: bool,
        fx: &mut Effects<'_>,
    ) {
        let Some(s) = packet::parse_ipv4(pkt) else {
            return;
        };
        let code = match with {
            RejectWith::TcpReset => {
                if s.protocol == IpProtocol::Tcp {
                    let dev = at.unwrap_or(self.netns(ns).devices[0]);
                    let ct = skb.ct.filter(|_| !bridged).map(|(id, dir, _)| (id, dir));
                    self.tcp_reset_nat(dev, pkt, &s, ct, fx);
                }
                return;
            }
            RejectWith::IcmpNetUnreachable => 0,
            RejectWith::IcmpHostUnreachable => 1,
            RejectWith::IcmpProtoUnreachable => 2,
            RejectWith::IcmpPortUnreachable => 3,
            RejectWith::IcmpNetProhibited => 9,
            RejectWith::IcmpHostProhibited => 10,
            RejectWith::IcmpAdminProhibited => 13,
        };
        let ct = skb.ct.map(|(id, dir, _)| (id, dir));
        self.icmp_error_ct(ns, pkt, (3, code), [0; 4], ct, fx);
    }
}
