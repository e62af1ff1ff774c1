//! One namespace's netfilter ([`Netfilter`]) and what runs at each hook: the tables in the
//! kernel's priority order, conntrack, NAT bindings and their rewrites, and confirmation.
//!
//! | hook | stages, in priority order (`enum nf_ip_hook_priorities`) |
//! | --- | --- |
//! | PREROUTING | raw (-300), conntrack (-200), mangle (-150), nat DNAT (-100) |
//! | INPUT | mangle (-150), filter (0), security (50), nat SNAT (100), confirm |
//! | FORWARD | mangle (-150), filter (0), security (50) |
//! | OUTPUT | raw (-300), conntrack (-200), mangle (-150), nat DNAT (-100), filter (0), security (50) |
//! | POSTROUTING | mangle (-150), nat SNAT (100), confirm |
//!
//! The nat table sees only the first packet of a connection (`nf_nat_inet_fn`): its verdict
//! becomes the connection's binding — or a null binding when no NAT rule matched — and every
//! packet of the connection, in either direction, is then rewritten from conntrack. Packets
//! conntrack finds INVALID skip NAT. Conntrack runs in a namespace only while a rule there
//! needs it ([`Ruleset::needs_conntrack`]: the kernel registers its hooks on demand, from the
//! `checkentry` of the `conntrack`/`state` matches and the NAT and CONNMARK targets); without
//! it no packet has a connection, and the nat table is not consulted at all (`nf_nat_inet_fn`
//! accepts a packet without one). Found by the kernel differential tests: a namespace whose
//! only rule is a FORWARD DROP has no conntrack entries. Namespaces without any table cost
//! nothing.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use sim_core::hash::FastHashMap;
use sim_core::{SimRng, SimTime};
use smoltcp::wire::IpProtocol;

use crate::netfilter::chain::ChainKind;
use crate::netfilter::chain::Hook;
use crate::netfilter::conntrack::{
    Conntrack, CtDrop, CtPacket, CtState, CtVerdict, Direction, EntryId, L4Proto, Manip, NatRange,
    TcpFlags, Tuple,
};
use crate::netfilter::error::RestoreError;
use crate::netfilter::eval::{
    Choice, CtView, IndexCache, Oracle, PacketView, Physdev, Step, TableVerdict, Walker,
};
use crate::netfilter::ipset::{self, IpSets, PacketFields};
use crate::netfilter::manip::{ManipSide, manip, manip_icmp_error_inner};
use crate::netfilter::matches::{CtStates, Probability, SetDir};
use crate::netfilter::recent::RecentTables;
use crate::netfilter::restore::RestoreOptions;
use crate::netfilter::rule::Counters;
use crate::netfilter::ruleset::Ruleset;
use crate::netfilter::save::SaveOptions;
use crate::netfilter::table::TableName;
use crate::netfilter::target::{RejectWith, Target};
use crate::packet;

/// The netfilter state of one namespace.
#[derive(Debug, Default, Clone)]
pub struct Netfilter {
    pub ruleset: Ruleset,
    pub conntrack: Conntrack,
    pub ipsets: IpSets,
    pub recent: RecentTables,
    /// `-m statistic --mode nth` counters, per rule.
    nth: BTreeMap<(TableName, String, usize), u32>,
    /// Bumped on every ruleset change; invalidates the chain indexes.
    generation: u64,
    index: IndexCache,
    /// Walk every rule instead of using the destination index (the plain evaluator, kept
    /// for benchmarks and cross-checks).
    linear: bool,
    /// What LOG targets wrote since the hook began (moved into its report).
    logs: Vec<String>,
    /// Rule and policy hits not yet folded into the ruleset's counters, per table and chain
    /// (index 0 the policy, n the n-th rule): counting a hit is then one hash lookup. Folding
    /// them in adds counts, so the map's order reaches no result.
    hits: BTreeMap<TableName, FastHashMap<String, Vec<Counters>>>,
    /// Whether conntrack runs ([`Ruleset::needs_conntrack`]), for the ruleset generation
    /// it was computed for.
    tracking: Option<(u64, bool)>,
}

/// What netfilter keeps on a packet while it is in one namespace (`skb->mark`,
/// `skb->_nfct`). Crossing into another namespace scrubs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NfSkb {
    pub mark: u32,
    pub ct: Option<(EntryId, Direction, CtState)>,
    /// Conntrack looked and found the packet INVALID.
    pub invalid: bool,
    /// The raw table said NOTRACK.
    pub untracked: bool,
    /// br_netfilter already ran PREROUTING on this bridged packet (`ip_sabotage_in` skips it
    /// when the packet then goes up to IP).
    pub prerouting_done: bool,
}

/// The interfaces a hook sees.
#[derive(Debug, Clone, Default)]
pub struct HookIfaces {
    pub in_iface: Option<String>,
    pub out_iface: Option<String>,
    pub physdev: Option<Physdev>,
}

/// What the namespace's routing and addresses answer for the rules and NAT targets.
pub trait Host {
    /// `inet_addr_type` as `-m addrtype` bits (LOCAL, BROADCAST, MULTICAST or UNICAST),
    /// restricted to `iface` when given.
    fn addr_type(&self, addr: Ipv4Addr, iface: Option<&str>) -> u16;
    /// The address MASQUERADE takes for a packet to `dst` leaving through `out_iface`
    /// (`inet_select_addr`), or REDIRECT's address of `in_iface`.
    fn iface_addr(&self, iface: &str, dst: Ipv4Addr) -> Option<Ipv4Addr>;
}

/// Who decides what is random or stateful.
pub trait Decider {
    /// `statistic --mode random`: true with `probability` (the kernel's 31-bit fixed point).
    fn random(&mut self, probability: Probability) -> bool;
    /// `statistic --mode nth`, with the rule's counter.
    fn nth(&mut self, every: u32, counter: &mut u32) -> bool;
    /// `-m recent`.
    fn recent(
        &mut self,
        tables: &mut RecentTables,
        m: &crate::netfilter::matches::RecentMatch,
        addr: Ipv4Addr,
        now: SimTime,
    ) -> bool;
    /// Randomness for NAT port choice (`--random`, clashes).
    fn rng(&mut self) -> &mut SimRng;
}

/// The engine's decider: the seeded RNG and the real `recent` lists and `nth` counters.
pub struct Seeded<'r>(pub &'r mut SimRng);

impl Decider for Seeded<'_> {
    fn random(&mut self, p: Probability) -> bool {
        // `get_random_u32() & 0x7FFFFFFF < probability`.
        (self.0.below(1 << 31) as u32) < p.0
    }

    fn nth(&mut self, every: u32, counter: &mut u32) -> bool {
        nth_step(every, counter)
    }

    fn recent(
        &mut self,
        tables: &mut RecentTables,
        m: &crate::netfilter::matches::RecentMatch,
        addr: Ipv4Addr,
        now: SimTime,
    ) -> bool {
        tables.check(m, addr, now)
    }

    fn rng(&mut self) -> &mut SimRng {
        self.0
    }
}

/// `xt_statistic` nth: the counter starts at `--packet` and the rule matches when it wraps
/// past `--every - 1` back to 0.
pub fn nth_step(every: u32, counter: &mut u32) -> bool {
    let last = every.saturating_sub(1);
    if *counter >= last {
        *counter = 0;
        true
    } else {
        *counter += 1;
        false
    }
}

/// How a hook let the packet go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookVerdict {
    Accept,
    /// DROP by a rule or a policy (`table`, `chain`, rule text or `policy`).
    Drop {
        table: TableName,
        chain: String,
        rule: String,
    },
    Reject {
        with: RejectWith,
        table: TableName,
        chain: String,
        rule: String,
    },
    /// Conntrack refused the packet (table full, insert clash).
    Conntrack(CtDrop),
}

/// What a hook did besides its verdict, for hops and the explained trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookReport {
    /// `conntrack: NEW`, `DNAT 10.96.0.10:80 -> 10.244.2.3:8080`...
    pub events: Vec<String>,
    /// Skip writing `events` (when nobody will read them).
    pub quiet: bool,
    /// A NAT target rewrote the source (SNAT, MASQUERADE) at this hook.
    pub masqueraded: bool,
}

impl HookReport {
    fn event(&mut self, text: impl FnOnce() -> String) {
        if !self.quiet {
            self.events.push(text());
        }
    }
}

/// The stages of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Table(TableName),
    Track,
    Nat(Manip),
    Confirm,
}

fn stages(hook: Hook) -> &'static [Stage] {
    use Stage::{Confirm, Table, Track};
    use TableName::{Filter, Mangle, Raw, Security};
    const DNAT: Stage = Stage::Nat(Manip::Dst);
    const SNAT: Stage = Stage::Nat(Manip::Src);
    match hook {
        Hook::Prerouting => &[Table(Raw), Track, Table(Mangle), DNAT],
        Hook::Input => &[Table(Mangle), Table(Filter), Table(Security), SNAT, Confirm],
        Hook::Forward => &[Table(Mangle), Table(Filter), Table(Security)],
        Hook::Output => &[
            Table(Raw),
            Track,
            Table(Mangle),
            DNAT,
            Table(Filter),
            Table(Security),
        ],
        Hook::Postrouting => &[Table(Mangle), SNAT, Confirm],
    }
}

/// The oracle the rules consult during one table walk.
struct HookOracle<'a> {
    host: &'a dyn Host,
    ipsets: &'a IpSets,
    recent: &'a mut RecentTables,
    nth: &'a mut BTreeMap<(TableName, String, usize), u32>,
    decide: &'a mut dyn Decider,
    now: SimTime,
}

impl Oracle for HookOracle<'_> {
    fn addr_type(&self, addr: Ipv4Addr, iface: Option<&str>) -> u16 {
        self.host.addr_type(addr, iface)
    }

    fn set_test(&self, name: &str, dirs: &[SetDir], pkt: &PacketView<'_>) -> Option<bool> {
        let (sport, dport) = pkt.ports.unwrap_or((0, 0));
        let fields = match pkt.icmp {
            Some((t, c)) => PacketFields::icmp(pkt.src.into(), pkt.dst.into(), t, c),
            None => PacketFields::new(pkt.src.into(), sport, pkt.dst.into(), dport, pkt.proto),
        };
        let dirs: Vec<ipset::SetDir> = dirs
            .iter()
            .map(|d| match d {
                SetDir::Src => ipset::SetDir::Src,
                SetDir::Dst => ipset::SetDir::Dst,
            })
            .collect();
        self.ipsets.match_packet(name, &fields, &dirs).ok()
    }

    fn choose(&mut self, choice: Choice<'_>) -> bool {
        match choice {
            Choice::Random { probability } => self.decide.random(probability),
            Choice::Nth {
                every,
                packet,
                rule: (t, c, i),
            } => {
                let counter = self.nth.entry((t, c.to_string(), i)).or_insert(packet);
                self.decide.nth(every, counter)
            }
            Choice::Recent { m, addr } => self.decide.recent(self.recent, m, addr, self.now),
        }
    }
}

/// Two namespaces' netfilter states are equal when their rules, connections, sets, lists and
/// counters are (the chain indexes are a cache).
impl PartialEq for Netfilter {
    fn eq(&self, other: &Self) -> bool {
        self.ruleset == other.ruleset
            && self.conntrack.iter().eq(other.conntrack.iter())
            && self.ipsets == other.ipsets
            && self.recent == other.recent
            && self.nth == other.nth
            && self.hits == other.hits
    }
}

impl Eq for Netfilter {}

impl Netfilter {
    /// Whether any table is loaded (and so conntrack runs).
    pub fn active(&self) -> bool {
        self.ruleset.tables().next().is_some()
    }

    /// `iptables-restore [--noflush]`: all or nothing.
    pub fn restore(&mut self, text: &str, opts: RestoreOptions) -> Result<(), RestoreError> {
        self.fold_counters();
        self.ruleset.restore(text, opts)?;
        self.generation += 1;
        Ok(())
    }

    /// `iptables-save` of the current rules, counters included.
    pub fn save_with(&mut self, opts: SaveOptions) -> String {
        self.fold_counters();
        self.ruleset.save_with(opts)
    }

    /// Adds the hits counted aside into the rules' and policies' counters.
    pub fn fold_counters(&mut self) {
        let add =
            |a: Counters, b: &Counters| Counters::new(a.packets + b.packets, a.bytes + b.bytes);
        for (t, chains) in std::mem::take(&mut self.hits) {
            let table = self.ruleset.table_mut(t);
            for (name, counts) in chains {
                for (pos, c) in counts.iter().enumerate().filter(|(_, c)| c.packets > 0) {
                    let Some(chain) = table.chain(&name) else {
                        continue;
                    };
                    if pos == 0 {
                        if let ChainKind::Builtin {
                            policy, counters, ..
                        } = chain.kind
                        {
                            let _ = table.set_policy(&name, policy, Some(add(counters, c)));
                        }
                    } else if let Some(r) = chain.rules.get(pos - 1) {
                        let sum = add(r.counters, c);
                        let _ = table.set_rule_counters(&name, pos, sum);
                    }
                }
            }
        }
    }

    /// `nf_ct_attach` for a packet the kernel makes in answer to one of connection `id`
    /// travelling in `dir` (an ICMP error from `icmp_send`, a RST from REJECT): the answer
    /// belongs to the connection, in the other direction, and NAT rewrites it at OUTPUT and
    /// POSTROUTING as it would a reply — addresses, and an ICMP error's quoted packet.
    /// Returns whether it changed anything.
    ///
    /// Only an entry that is not yet confirmed needs this: the answer to a packet dropped
    /// before POSTROUTING (a REJECT, no route, TTL, MTU) would find no entry in the table. A
    /// confirmed entry is found by conntrack at OUTPUT as usual, so it is left alone here. The
    /// rewritten answer then meets OUTPUT's conntrack as a packet of no connection (the
    /// kernel's stays attached, RELATED, to the dying entry).
    pub fn attach_reply(&self, id: EntryId, dir: Direction, pkt: &mut [u8]) -> bool {
        if self.conntrack.entry(id).is_none_or(|e| e.is_confirmed()) {
            return false;
        }
        let before = pkt.to_vec();
        let mut report = HookReport {
            quiet: true,
            ..HookReport::default()
        };
        self.rewrite(id, dir.opposite(), Manip::Dst, pkt, &mut report);
        self.rewrite(id, dir.opposite(), Manip::Src, pkt, &mut report);
        pkt != before.as_slice()
    }

    /// Chooses the plain evaluator (`true`) or the indexed one (the default).
    pub fn set_linear(&mut self, linear: bool) {
        self.linear = linear;
    }

    /// The ruleset changed outside [`Netfilter::restore`] (rules built in code).
    pub fn touch(&mut self) {
        self.generation += 1;
    }

    /// Runs `hook` on `pkt` (an IPv4 packet, rewritten in place by NAT). `steps` collects
    /// every rule evaluated when explaining.
    #[allow(clippy::too_many_arguments)]
    pub fn hook(
        &mut self,
        hook: Hook,
        pkt: &mut [u8],
        skb: &mut NfSkb,
        ifs: &HookIfaces,
        host: &dyn Host,
        decide: &mut dyn Decider,
        now: SimTime,
        steps: Option<&mut Vec<Step>>,
        report: &mut HookReport,
    ) -> HookVerdict {
        if !self.active() {
            return HookVerdict::Accept;
        }
        self.index.validate(self.generation);
        if self.tracking.is_none_or(|(g, _)| g != self.generation) {
            self.tracking = Some((self.generation, self.ruleset.needs_conntrack()));
        }
        // Connections whose time is up are gone before this packet is looked up.
        if self.conntrack.next_expiry().is_some_and(|t| t <= now) {
            self.conntrack.expire(now);
        }
        let verdict = self.run_stages(hook, pkt, skb, ifs, host, decide, now, steps, report);
        report.events.append(&mut self.logs);
        verdict
    }

    #[allow(clippy::too_many_arguments)]
    fn run_stages(
        &mut self,
        hook: Hook,
        pkt: &mut [u8],
        skb: &mut NfSkb,
        ifs: &HookIfaces,
        host: &dyn Host,
        decide: &mut dyn Decider,
        now: SimTime,
        mut steps: Option<&mut Vec<Step>>,
        report: &mut HookReport,
    ) -> HookVerdict {
        let tracking = self.tracking.is_none_or(|(_, on)| on);
        for &stage in stages(hook) {
            if !tracking && matches!(stage, Stage::Track | Stage::Nat(_) | Stage::Confirm) {
                continue;
            }
            let verdict = match stage {
                Stage::Table(t) => self.run_table(
                    t,
                    hook,
                    pkt,
                    skb,
                    ifs,
                    host,
                    decide,
                    now,
                    steps.as_deref_mut(),
                ),
                Stage::Track => {
                    self.track(pkt, skb, now, report);
                    match skb.ct {
                        None if !skb.invalid && !skb.untracked => {
                            // Only a full table leaves a trackable packet without an entry.
                            Some(HookVerdict::Conntrack(CtDrop::TableFull))
                        }
                        _ => None,
                    }
                }
                Stage::Nat(m) => self.nat(
                    m,
                    hook,
                    pkt,
                    skb,
                    ifs,
                    host,
                    decide,
                    now,
                    steps.as_deref_mut(),
                    report,
                ),
                Stage::Confirm => match skb.ct {
                    Some((id, _, _)) => self
                        .conntrack
                        .confirm(id, now)
                        .err()
                        .map(HookVerdict::Conntrack),
                    None => None,
                },
            };
            if let Some(v) = verdict {
                // A REJECT keeps the connection for the answer it sends (`nf_ct_attach`); the
                // caller discards it once the answer is built.
                let keep = matches!(v, HookVerdict::Reject { .. });
                if let Some((id, _, _)) = skb.ct
                    && !keep
                    && self.conntrack.entry(id).is_some_and(|e| !e.is_confirmed())
                {
                    self.conntrack.discard(id);
                }
                return v;
            }
        }
        HookVerdict::Accept
    }

    /// Runs one table; `Some` if it ended the packet's journey.
    #[allow(clippy::too_many_arguments)]
    fn run_table(
        &mut self,
        t: TableName,
        hook: Hook,
        pkt: &mut [u8],
        skb: &mut NfSkb,
        ifs: &HookIfaces,
        host: &dyn Host,
        decide: &mut dyn Decider,
        now: SimTime,
        steps: Option<&mut Vec<Step>>,
    ) -> Option<HookVerdict> {
        if t == TableName::Nat {
            return None;
        }
        let verdict = self.walk(t, hook, pkt, skb, ifs, host, decide, now, steps)?;
        match verdict.0 {
            TableVerdict::Accept | TableVerdict::Nat(_) => None,
            TableVerdict::Drop => Some(HookVerdict::Drop {
                table: t,
                chain: verdict.1,
                rule: verdict.2,
            }),
            TableVerdict::Reject(with) => Some(HookVerdict::Reject {
                with,
                table: t,
                chain: verdict.1,
                rule: verdict.2,
            }),
        }
    }

    /// Walks table `t` at `hook` (if loaded): the verdict and where it was decided.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &mut self,
        t: TableName,
        hook: Hook,
        pkt: &mut [u8],
        skb: &mut NfSkb,
        ifs: &HookIfaces,
        host: &dyn Host,
        decide: &mut dyn Decider,
        now: SimTime,
        steps: Option<&mut Vec<Step>>,
    ) -> Option<(TableVerdict, String, String)> {
        let table = self.ruleset.table(t)?;
        let mut view = self.view(pkt, skb, ifs)?;
        let mut oracle = HookOracle {
            host,
            ipsets: &self.ipsets,
            recent: &mut self.recent,
            nth: &mut self.nth,
            decide,
            now,
        };
        let mut walker = Walker::new(&mut oracle);
        walker.index = (!self.linear).then_some(&mut self.index);
        walker.steps = steps;
        let mut hits: Vec<(&str, usize)> = Vec::new();
        let verdict = walker.run(table, hook, &mut view, &mut hits);
        self.logs.append(&mut walker.logs);
        // The rule (or policy) that decided a DROP or REJECT, as iptables-save prints it.
        let (chain, rule) = match (&verdict, hits.last()) {
            (TableVerdict::Drop | TableVerdict::Reject(_), Some((c, pos))) => {
                let text = table.chain(c).map_or_else(String::new, |ch| match pos {
                    0 => format!(
                        "-P {c} {}",
                        ch.policy().map_or("-".into(), |p| p.to_string())
                    ),
                    n => ch
                        .rules
                        .get(n - 1)
                        .map_or_else(String::new, |r| r.to_string()),
                });
                (c.to_string(), text)
            }
            _ => (String::new(), String::new()),
        };
        let len = pkt.len() as u64;
        let counted = self.hits.entry(t).or_default();
        for (name, pos) in hits {
            let slot = match counted.get_mut(name) {
                Some(v) => v,
                None => {
                    let n = table.chain(name).map_or(0, |c| c.rules.len());
                    counted
                        .entry(name.to_string())
                        .or_insert(vec![Counters::default(); n + 1])
                }
            };
            if let Some(c) = slot.get_mut(pos) {
                c.count(len);
            }
        }
        skb.mark = view.mark;
        if let (Some(ct), Some((id, _, _))) = (view.ct, skb.ct) {
            let _ = self.conntrack.set_mark(id, ct.mark);
        }
        if view.ct.is_some_and(|c| c.states == CtStates::UNTRACKED) && skb.ct.is_none() {
            skb.untracked = true;
        }
        Some((verdict, chain, rule))
    }

    /// The rules' view of the packet.
    fn view<'v>(&self, pkt: &[u8], skb: &NfSkb, ifs: &'v HookIfaces) -> Option<PacketView<'v>> {
        let s = packet::parse_ipv4(pkt)?;
        let l4 = &pkt[s.header_len..s.total_len.min(pkt.len())];
        let (ports, icmp, tcp_flags) = match (s.protocol, s.ports) {
            (IpProtocol::Icmp, Some((t, c))) => (None, Some((t as u8, c as u8)), None),
            (IpProtocol::Tcp, Some(p)) => (Some(p), None, l4.get(13).copied()),
            (_, p) => (p, None, None),
        };
        let ct = match skb.ct {
            Some((id, dir, state)) => {
                let e = self.conntrack.entry(id)?;
                let mut states = match state {
                    CtState::New => CtStates::NEW,
                    CtState::Established => CtStates::ESTABLISHED,
                    CtState::Related => CtStates::RELATED,
                    CtState::Invalid => CtStates::INVALID,
                };
                use crate::netfilter::conntrack::Status;
                if e.status.contains(Status::SRC_NAT) {
                    states |= CtStates::SNAT;
                }
                if e.status.contains(Status::DST_NAT) {
                    states |= CtStates::DNAT;
                }
                let _ = dir;
                Some(CtView {
                    states,
                    orig_src: v4(e.original.src),
                    orig_dst: v4(e.original.dst),
                    orig_dport: e.original.proto.has_ports().then_some(e.original.dport),
                    status: (e.status.0 & 0x0f) as u8,
                    mark: e.mark,
                })
            }
            None if skb.untracked => Some(CtView {
                states: CtStates::UNTRACKED,
                orig_src: s.src,
                orig_dst: s.dst,
                orig_dport: None,
                status: 0,
                mark: 0,
            }),
            None => None,
        };
        Some(PacketView {
            src: s.src,
            dst: s.dst,
            proto: u8::from(s.protocol),
            ports,
            tcp_flags,
            icmp,
            len: pkt.len() as u32,
            in_iface: ifs.in_iface.as_deref(),
            out_iface: ifs.out_iface.as_deref(),
            physdev: ifs.physdev.as_ref(),
            mark: skb.mark,
            ct,
        })
    }

    /// `nf_conntrack_in`.
    fn track(&mut self, pkt: &[u8], skb: &mut NfSkb, now: SimTime, report: &mut HookReport) {
        if skb.untracked || skb.ct.is_some() {
            return;
        }
        let Some(ctp) = ct_packet(pkt) else {
            skb.invalid = true;
            return;
        };
        match self.conntrack.track(&ctp, now) {
            CtVerdict::Tracked { id, dir, state } => {
                report.event(|| format!("conntrack: {state}"));
                skb.ct = Some((id, dir, state));
            }
            CtVerdict::Invalid(why) => {
                report.event(|| format!("conntrack: INVALID ({})", why.as_str()));
                skb.invalid = true;
            }
            CtVerdict::Drop(d) => {
                report.event(|| format!("conntrack: {d}"));
            }
        }
    }

    /// The nat stage: bind a new connection (from the nat table), then rewrite.
    #[allow(clippy::too_many_arguments)]
    fn nat(
        &mut self,
        m: Manip,
        hook: Hook,
        pkt: &mut [u8],
        skb: &mut NfSkb,
        ifs: &HookIfaces,
        host: &dyn Host,
        decide: &mut dyn Decider,
        now: SimTime,
        steps: Option<&mut Vec<Step>>,
        report: &mut HookReport,
    ) -> Option<HookVerdict> {
        let (id, dir, state) = skb.ct?;
        if state == CtState::New && !self.conntrack.nat_initialized(id, m) {
            let walked = self.walk(
                TableName::Nat,
                hook,
                pkt,
                skb,
                ifs,
                host,
                decide,
                now,
                steps,
            );
            let bound = match walked {
                Some((TableVerdict::Drop, chain, rule)) => {
                    return Some(HookVerdict::Drop {
                        table: TableName::Nat,
                        chain,
                        rule,
                    });
                }
                Some((TableVerdict::Nat(target), _, _)) => {
                    let s = packet::parse_ipv4(pkt)?;
                    let range = nat_range(&target, hook, &s, ifs, host);
                    match range {
                        Some(r) => {
                            if matches!(target, Target::Snat(_) | Target::Masquerade(_)) {
                                report.masqueraded = true;
                            }
                            self.conntrack.set_nat(id, m, &r, decide.rng()).is_ok()
                        }
                        // MASQUERADE with no address on the interface drops (`nf_nat_masquerade_ipv4`).
                        None => {
                            return Some(HookVerdict::Drop {
                                table: TableName::Nat,
                                chain: String::new(),
                                rule: format!("{} without an address", target.name()),
                            });
                        }
                    }
                }
                _ => false,
            };
            if !bound {
                let _ = self.conntrack.null_binding(id, m, decide.rng());
            }
        }
        self.rewrite(id, dir, m, pkt, report);
        None
    }

    /// Rewrites the packet (and an ICMP error's quote) as the connection's bindings say.
    fn rewrite(
        &self,
        id: EntryId,
        dir: Direction,
        m: Manip,
        pkt: &mut [u8],
        report: &mut HookReport,
    ) {
        let Some(ctp) = ct_packet(pkt) else {
            return;
        };
        let before = ctp.tuple;
        let (tuple, related_inner) = match ctp.icmp_inner {
            // An ICMP error travels on the related connection's addresses.
            Some(inner) => (before, Some(inner)),
            None => (before, None),
        };
        let after = self.conntrack.manip(id, dir, m, &tuple);
        if let Some(inner) = related_inner {
            let fixed = self.conntrack.translate_icmp_inner(id, dir, &inner);
            if fixed != inner {
                for side in [ManipSide::Source, ManipSide::Destination] {
                    let (a, p) = match side {
                        ManipSide::Source => (fixed.src, fixed.sport),
                        ManipSide::Destination => (fixed.dst, fixed.dport),
                    };
                    manip_icmp_error_inner(pkt, side, v4(a), fixed.proto.has_ports().then_some(p));
                }
            }
        }
        if after == tuple {
            return;
        }
        let (side, addr, port, old_addr, old_port) = match m {
            Manip::Dst => (
                ManipSide::Destination,
                after.dst,
                after.dport,
                tuple.dst,
                tuple.dport,
            ),
            Manip::Src => (
                ManipSide::Source,
                after.src,
                after.sport,
                tuple.src,
                tuple.sport,
            ),
        };
        let port = match tuple.proto.0 {
            6 | 17 | 132 => Some(port),
            // ICMP echo: the identifier is the source "port" at both ends.
            1 if related_inner.is_none() => Some(after.sport),
            _ => None,
        };
        manip(pkt, side, v4(addr), port);
        let kind = match (m, dir) {
            (Manip::Dst, Direction::Original) => "DNAT",
            (Manip::Src, Direction::Original) => "SNAT",
            (Manip::Dst, Direction::Reply) => "un-SNAT",
            (Manip::Src, Direction::Reply) => "un-DNAT",
        };
        let show = |a: IpAddr, p: u16| {
            if tuple.proto.has_ports() {
                format!("{a}:{p}")
            } else {
                a.to_string()
            }
        };
        report.event(|| {
            format!(
                "{kind} {} -> {}",
                show(old_addr, old_port),
                show(addr, port.unwrap_or(0))
            )
        });
    }
}

fn v4(a: IpAddr) -> Ipv4Addr {
    match a {
        IpAddr::V4(v) => v,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

/// The range a NAT target binds to.
fn nat_range(
    target: &Target,
    hook: Hook,
    s: &packet::Ipv4Summary,
    ifs: &HookIfaces,
    host: &dyn Host,
) -> Option<NatRange> {
    let ports = |r: Option<crate::netfilter::matches::PortRange>, base: NatRange| match r {
        Some(p) => base.ports(p.first, p.last),
        None => base,
    };
    Some(match target {
        Target::Dnat(d) => {
            let (lo, hi) = d.to.addrs.unwrap_or((s.dst, s.dst));
            let mut r = ports(d.to.ports, NatRange::addrs(lo.into(), hi.into()));
            if d.random {
                r = r.random();
            }
            if d.persistent {
                r = r.persistent();
            }
            r
        }
        Target::Snat(sn) => {
            let (lo, hi) = sn.to.addrs.unwrap_or((s.src, s.src));
            let mut r = ports(sn.to.ports, NatRange::addrs(lo.into(), hi.into()));
            if sn.random {
                r = r.random();
            }
            if sn.random_fully {
                r = r.random_fully();
            }
            if sn.persistent {
                r = r.persistent();
            }
            r
        }
        Target::Masquerade(mq) => {
            let out = ifs.out_iface.as_deref()?;
            let addr = host.iface_addr(out, s.dst)?;
            let mut r = ports(mq.to_ports, NatRange::to(addr.into()));
            if mq.random {
                r = r.random();
            }
            if mq.random_fully {
                r = r.random_fully();
            }
            r
        }
        Target::Redirect(rd) => {
            // PREROUTING: the primary address of the incoming interface; OUTPUT: loopback.
            let addr = match hook {
                Hook::Output => Ipv4Addr::LOCALHOST,
                _ => host.iface_addr(ifs.in_iface.as_deref()?, s.dst)?,
            };
            let mut r = ports(rd.to_ports, NatRange::to(addr.into()));
            if rd.random {
                r = r.random();
            }
            r
        }
        _ => return None,
    })
}

/// Conntrack's view of an IPv4 packet: its tuple, TCP flags, and for ICMP errors the tuple
/// of the quoted packet. `None` for what conntrack cannot parse.
pub fn ct_packet(pkt: &[u8]) -> Option<CtPacket> {
    let s = packet::parse_ipv4(pkt)?;
    let l4 = &pkt[s.header_len..s.total_len.min(pkt.len())];
    let (src, dst) = (IpAddr::V4(s.src), IpAddr::V4(s.dst));
    let proto = L4Proto(u8::from(s.protocol));
    match s.protocol {
        IpProtocol::Icmp => {
            let (t, c) = s.ports.map(|(t, c)| (t as u8, c as u8))?;
            let id = l4.get(4..6).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let tuple = Tuple::icmp(src, dst, t, c, id);
            if matches!(t, 3 | 4 | 5 | 11 | 12) {
                let inner = quoted_tuple(l4.get(8..)?)?;
                return Some(CtPacket::icmp_error(tuple, inner));
            }
            Some(CtPacket::new(tuple))
        }
        IpProtocol::Tcp => {
            let (sp, dp) = s.ports?;
            Some(CtPacket::tcp(
                Tuple::new(proto, src, sp, dst, dp),
                TcpFlags(*l4.get(13)?),
            ))
        }
        _ => {
            let (sp, dp) = s.ports.unwrap_or((0, 0));
            Some(CtPacket::new(Tuple::new(proto, src, sp, dst, dp)))
        }
    }
}

/// The tuple of the packet quoted in an ICMP error (header + at least 8 bytes).
fn quoted_tuple(q: &[u8]) -> Option<Tuple> {
    let ihl = usize::from(q.first()? & 0x0f) * 4;
    let proto = L4Proto(*q.get(9)?);
    let addr = |at: usize| -> Option<IpAddr> {
        let b = q.get(at..at + 4)?;
        Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
    };
    let (src, dst) = (addr(12)?, addr(16)?);
    let l4 = q.get(ihl..)?;
    if proto.0 == 1 {
        let t = *l4.first()?;
        let c = *l4.get(1)?;
        let id = u16::from_be_bytes([*l4.get(4)?, *l4.get(5)?]);
        return Some(Tuple::icmp(src, dst, t, c, id));
    }
    let (sp, dp) = if proto.has_ports() {
        (
            u16::from_be_bytes([*l4.first()?, *l4.get(1)?]),
            u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]),
        )
    } else {
        (0, 0)
    };
    Some(Tuple::new(proto, src, sp, dst, dp))
}
