//! Running one table's built-in chain on one packet: first match wins, `-j` calls a chain,
//! `-g` replaces the current one, `RETURN` (or falling off a user chain) goes back, and falling
//! off a built-in chain applies its policy (`ipt_do_table`).
//!
//! Matches read a [`PacketView`] (headers, interfaces, mark, conntrack state); what only the
//! host knows (address types, ipsets) and what is random or stateful (`statistic`, `recent`)
//! comes from an [`Oracle`], so the same walk serves the engine (a seeded RNG, real `recent`
//! tables) and the explained trace (which forces each choice both ways to enumerate
//! outcomes).
//!
//! Compiled evaluation: chains longer than [`INDEX_MIN_RULES`] are indexed by the exact
//! destination (`-d ADDR/32`) of their rules, so a packet only visits rules that could match
//! it. A rule whose `-d ADDR/32` excludes the packet is skipped silently by both the indexed
//! and the plain walk, so both produce the same [`Step`]s.
//!
//! Not modelled: `-f` fragments (rules never carry it from our parser), `--log-*` output
//! formats (LOG records a step), the `limit` and `socket` matches (always match, as the parser
//! documents).

use std::net::Ipv4Addr;
use std::sync::Arc;

use sim_core::hash::FastHashMap;

use crate::netfilter::chain::{Chain, Hook, Policy};
use crate::netfilter::matches::{
    AddrTypeMatch, ConntrackMatch, CtStates, LimitIface, Match, MultiportDir, Negatable,
    PhysdevMatch, PortRange, Probability, RecentMatch, SetDir, StatisticMatch,
};
use crate::netfilter::rule::{Protocol, Rule};
use crate::netfilter::table::{Table, TableName};
use crate::netfilter::target::{ConnmarkTarget, Target};

/// Chains with more rules than this are indexed by destination address.
pub const INDEX_MIN_RULES: usize = 16;

/// Limit on nested `-j` calls (the kernel's stack is bounded by the ruleset's loop check;
/// iptables-restore rejects loops, so this only guards hand-built tables).
const MAX_CALL_DEPTH: usize = 64;

/// Which bridge ports a bridged packet came in and goes out on (br_netfilter's physdev).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Physdev {
    pub in_port: Option<String>,
    pub out_port: Option<String>,
}

/// Conntrack's view of the packet, for `-m conntrack`/`-m state`/CONNMARK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CtView {
    /// One of INVALID/NEW/RELATED/ESTABLISHED/UNTRACKED, plus SNAT/DNAT when the entry has
    /// that NAT (the bits of [`CtStates`]).
    pub states: u8,
    pub orig_src: Ipv4Addr,
    pub orig_dst: Ipv4Addr,
    pub orig_dport: Option<u16>,
    /// `--ctstatus` bits: EXPECTED 1, SEEN_REPLY 2, ASSURED 4, CONFIRMED 8.
    pub status: u8,
    pub mark: u32,
}

/// What the rules see of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketView<'v> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    /// TCP/UDP/SCTP ports (absent for other protocols and non-first fragments).
    pub ports: Option<(u16, u16)>,
    pub tcp_flags: Option<u8>,
    /// ICMP type and code.
    pub icmp: Option<(u8, u8)>,
    pub len: u32,
    pub in_iface: Option<&'v str>,
    pub out_iface: Option<&'v str>,
    /// Present when the packet is bridged (br_netfilter).
    pub physdev: Option<&'v Physdev>,
    pub mark: u32,
    pub ct: Option<CtView>,
}

/// A random or stateful choice a rule makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice<'a> {
    /// `-m statistic --mode random --probability P`: true = the match succeeds.
    Random { probability: Probability },
    /// `-m statistic --mode nth`, keyed by the rule (table, chain, 0-based index).
    Nth {
        every: u32,
        packet: u32,
        rule: (TableName, &'a str, usize),
    },
    /// `-m recent`: whether the address is in the list (for --set, whether to record).
    Recent { m: &'a RecentMatch, addr: Ipv4Addr },
}

/// What the host knows and decides for the rules.
pub trait Oracle {
    /// The `RTN_*` type of `addr` as `-m addrtype` bits, optionally as seen from `iface`.
    fn addr_type(&self, addr: Ipv4Addr, iface: Option<&str>) -> u16;
    /// Whether the packet's element is in ipset `name`; `None` if the set does not exist.
    fn set_test(&self, name: &str, dirs: &[SetDir], pkt: &PacketView<'_>) -> Option<bool>;
    /// Decides a random or stateful match.
    fn choose(&mut self, choice: Choice<'_>) -> bool;
}

/// How a table let the packet go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableVerdict {
    Accept,
    Drop,
    Reject(crate::netfilter::target::RejectWith),
    /// A NAT target (DNAT, SNAT, MASQUERADE, REDIRECT): the packet is accepted and conntrack
    /// sets up the binding.
    Nat(Target),
}

/// One rule or policy on the walk (what `iptables -j TRACE` would report, plus the misses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub table: TableName,
    pub chain: String,
    /// 1-based rule number; `None` for the chain's policy or an implicit return.
    pub rule: Option<usize>,
    /// The rule as iptables-save prints it (after `-A CHAIN`); the policy as `-P CHAIN X`.
    pub text: String,
    pub matched: bool,
    /// What happened: `jump KUBE-SVC-...`, `DNAT`, `return`, `policy ACCEPT`, `continue`.
    pub action: String,
}

/// The destination index of one chain: rule positions by exact destination, and the rest.
#[derive(Debug, Default)]
struct ChainIndex {
    by_dst: FastHashMap<Ipv4Addr, Vec<usize>>,
    wildcard: Vec<usize>,
}

impl ChainIndex {
    fn build(chain: &Chain) -> Self {
        let mut idx = ChainIndex::default();
        for (i, r) in chain.rules.iter().enumerate() {
            match exact_dst(r) {
                Some(a) => idx.by_dst.entry(a).or_default().push(i),
                None => idx.wildcard.push(i),
            }
        }
        idx
    }

    /// The first rule at or after `from` that could match a packet to `dst`.
    fn next(&self, dst: Ipv4Addr, from: usize) -> Option<usize> {
        let after = |v: &[usize]| v.get(v.partition_point(|&i| i < from)).copied();
        let a = self.by_dst.get(&dst).and_then(|v| after(v));
        let b = after(&self.wildcard);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn exact_dst(r: &Rule) -> Option<Ipv4Addr> {
    r.destination
        .as_ref()
        .filter(|d| !d.invert && d.value.mask == u32::MAX)
        .map(|d| d.value.addr)
}

/// Indexes of long chains, valid for one generation of the ruleset. A clone starts empty.
#[derive(Debug, Default)]
pub struct IndexCache {
    generation: u64,
    /// Looked up only.
    chains: FastHashMap<TableName, FastHashMap<Arc<str>, ChainIndex>>,
}

impl Clone for IndexCache {
    fn clone(&self) -> Self {
        IndexCache::default()
    }
}

impl IndexCache {
    /// Forgets every index if the ruleset changed since they were built.
    pub fn validate(&mut self, generation: u64) {
        if generation != self.generation {
            self.chains.clear();
            self.generation = generation;
        }
    }
}

/// How a walk is run.
pub struct Walker<'a, O: Oracle> {
    pub oracle: &'a mut O,
    /// Indexes to use and fill; `None` walks every rule (the plain evaluator).
    pub index: Option<&'a mut IndexCache>,
    /// Steps are recorded here when explaining.
    pub steps: Option<&'a mut Vec<Step>>,
    /// What LOG targets wrote (`LOG prefix="..." level N`).
    pub logs: Vec<String>,
}

impl<'a, O: Oracle> Walker<'a, O> {
    pub fn new(oracle: &'a mut O) -> Self {
        Walker {
            oracle,
            index: None,
            steps: None,
            logs: Vec::new(),
        }
    }

    fn step(&mut self, s: impl FnOnce() -> Step) {
        if let Some(steps) = self.steps.as_deref_mut() {
            steps.push(s());
        }
    }

    /// The next rule of `chain` at or after `from` that could match.
    fn next_rule(
        &mut self,
        table: TableName,
        chain: &Chain,
        dst: Ipv4Addr,
        from: usize,
    ) -> Option<usize> {
        let n = chain.rules.len();
        match self.index.as_deref_mut() {
            Some(cache) if n > INDEX_MIN_RULES => {
                let chains = cache.chains.entry(table).or_default();
                match chains.get(&*chain.name) {
                    Some(index) => index.next(dst, from),
                    None => chains
                        .entry(Arc::clone(&chain.name))
                        .or_insert_with(|| ChainIndex::build(chain))
                        .next(dst, from),
                }
            }
            _ => (from..n).find(|&i| exact_dst(&chain.rules[i]).is_none_or(|a| a == dst)),
        }
    }

    /// Runs `table`'s built-in chain for `hook`; the packet's mark (and conntrack mark) may
    /// change on the way. A table without that chain accepts. `hits` gets the matched rules
    /// and applied policies, to count: (chain, 1-based rule, or 0 for the policy).
    pub fn run<'t>(
        &mut self,
        table: &'t Table,
        hook: Hook,
        pkt: &mut PacketView<'_>,
        hits: &mut Vec<(&'t str, usize)>,
    ) -> TableVerdict {
        let tname = table.name();
        let Some(start) = table.builtin_chain(hook) else {
            return TableVerdict::Accept;
        };
        // (chain, next rule index) to come back to.
        let mut stack: Vec<(&'t Chain, usize)> = Vec::new();
        let mut chain = start;
        let mut pos = 0;
        loop {
            let Some(i) = self.next_rule(tname, chain, pkt.dst, pos) else {
                // Fell off the end.
                if let Some(policy) = chain.policy() {
                    hits.push((&chain.name, 0));
                    self.step(|| Step {
                        table: tname,
                        chain: chain.name.to_string(),
                        rule: None,
                        text: format!("-P {} {policy}", chain.name),
                        matched: true,
                        action: format!("policy {policy}"),
                    });
                    return match policy {
                        Policy::Accept => TableVerdict::Accept,
                        Policy::Drop => TableVerdict::Drop,
                    };
                }
                self.step(|| Step {
                    table: tname,
                    chain: chain.name.to_string(),
                    rule: None,
                    text: String::new(),
                    matched: true,
                    action: "return (end of chain)".into(),
                });
                let (c, p) = stack.pop().expect("user chains are only entered by a jump");
                chain = c;
                pos = p;
                continue;
            };
            let rule = &chain.rules[i];
            let matched = self.rule_matches(tname, chain, i, rule, pkt);
            if !matched {
                self.step(|| Step {
                    table: tname,
                    chain: chain.name.to_string(),
                    rule: Some(i + 1),
                    text: rule.to_string(),
                    matched: false,
                    action: "no match".into(),
                });
                pos = i + 1;
                continue;
            }
            hits.push((&chain.name, i + 1));
            // Made only when the walk is recorded.
            let action = |a: String| Step {
                table: tname,
                chain: chain.name.to_string(),
                rule: Some(i + 1),
                text: rule.to_string(),
                matched: true,
                action: a,
            };
            let Some(target) = &rule.target else {
                self.step(|| action("continue".into()));
                pos = i + 1;
                continue;
            };
            match target {
                Target::Accept => {
                    self.step(|| action("ACCEPT".into()));
                    return TableVerdict::Accept;
                }
                Target::Drop => {
                    self.step(|| action("DROP".into()));
                    return TableVerdict::Drop;
                }
                Target::Reject(w) => {
                    self.step(|| action(format!("REJECT {}", w.name())));
                    return TableVerdict::Reject(*w);
                }
                Target::Dnat(_) | Target::Snat(_) | Target::Masquerade(_) | Target::Redirect(_) => {
                    self.step(|| action(target.name().into()));
                    return TableVerdict::Nat(target.clone());
                }
                Target::Return => {
                    self.step(|| action("return".into()));
                    match stack.pop() {
                        Some((c, p)) => {
                            chain = c;
                            pos = p;
                        }
                        None => {
                            // RETURN from a built-in chain applies its policy.
                            pos = chain.rules.len();
                        }
                    }
                }
                Target::Jump(name) | Target::Goto(name) => {
                    let Some(next) = table.chain(name) else {
                        // The restore path refuses dangling jumps; a hand-built table that has
                        // one behaves as if the rule did not match.
                        pos = i + 1;
                        continue;
                    };
                    let goto = matches!(target, Target::Goto(_));
                    self.step(|| action(format!("{} {name}", if goto { "goto" } else { "jump" })));
                    if !goto {
                        if stack.len() >= MAX_CALL_DEPTH {
                            return TableVerdict::Drop;
                        }
                        stack.push((chain, i + 1));
                    }
                    chain = next;
                    pos = 0;
                }
                Target::Mark(x) => {
                    pkt.mark = x.apply(pkt.mark);
                    self.step(|| action(format!("MARK → {:#x}", pkt.mark)));
                    pos = i + 1;
                }
                Target::Connmark(c) => {
                    if let Some(ct) = pkt.ct.as_mut() {
                        match c {
                            ConnmarkTarget::SetXmark(x) => ct.mark = x.apply(ct.mark),
                            ConnmarkTarget::Save { nfmask, ctmask } => {
                                ct.mark = (ct.mark & !ctmask) ^ (pkt.mark & nfmask);
                            }
                            ConnmarkTarget::Restore { nfmask, ctmask } => {
                                pkt.mark = (pkt.mark & !nfmask) ^ (ct.mark & ctmask);
                            }
                        }
                    }
                    self.step(|| action("CONNMARK".into()));
                    pos = i + 1;
                }
                Target::Log(l) => {
                    self.logs.push(format!(
                        "LOG {}:{}:{} prefix={:?} level {}",
                        tname.as_str(),
                        chain.name,
                        i + 1,
                        l.prefix,
                        l.level
                    ));
                    self.step(|| action(format!("LOG {:?}", l.prefix)));
                    pos = i + 1;
                }
                Target::Notrack | Target::Ct { .. } => {
                    if let Some(ct) = pkt.ct.as_mut() {
                        ct.states = CtStates::UNTRACKED;
                    } else {
                        pkt.ct = Some(untracked(pkt));
                    }
                    self.step(|| action("NOTRACK".into()));
                    pos = i + 1;
                }
            }
        }
    }

    fn rule_matches(
        &mut self,
        table: TableName,
        chain: &Chain,
        index: usize,
        r: &Rule,
        p: &PacketView<'_>,
    ) -> bool {
        if let Some(s) = &r.source
            && s.value.contains(p.src) == s.invert
        {
            return false;
        }
        if let Some(d) = &r.destination
            && d.value.contains(p.dst) == d.invert
        {
            return false;
        }
        if !iface_matches(&r.in_interface, p.in_iface)
            || !iface_matches(&r.out_interface, p.out_iface)
        {
            return false;
        }
        if let Some(proto) = &r.protocol {
            // `-p all` is protocol 0 and matches everything.
            let n = proto.value.number();
            let hit = n == 0 || n == p.proto;
            if hit == proto.invert {
                return false;
            }
        }
        r.matches
            .iter()
            .all(|m| self.match_one(table, chain, index, m, p))
    }

    fn match_one(
        &mut self,
        table: TableName,
        chain: &Chain,
        index: usize,
        m: &Match,
        p: &PacketView<'_>,
    ) -> bool {
        let (sport, dport) = match p.ports {
            Some((s, d)) => (Some(s), Some(d)),
            None => (None, None),
        };
        match m {
            Match::Tcp(t) => {
                p.proto == Protocol::Tcp.number()
                    && port_ok(&t.sport, sport)
                    && port_ok(&t.dport, dport)
                    && t.flags.as_ref().is_none_or(|f| {
                        let fl = p.tcp_flags.unwrap_or(0);
                        (fl & f.value.mask == f.value.comp) != f.invert
                    })
            }
            Match::Udp(u) => {
                p.proto == Protocol::Udp.number()
                    && port_ok(&u.sport, sport)
                    && port_ok(&u.dport, dport)
            }
            Match::Sctp(s) => {
                p.proto == Protocol::Sctp.number()
                    && port_ok(&s.sport, sport)
                    && port_ok(&s.dport, dport)
            }
            Match::Icmp(t) => {
                let Some((ty, code)) = p.icmp else {
                    return false;
                };
                // Type 0xFF is "any".
                let hit = t.value.icmp_type == 0xff
                    || (ty == t.value.icmp_type
                        && (t.value.code_min..=t.value.code_max).contains(&code));
                hit != t.invert
            }
            Match::Multiport(mp) => {
                let any = |port: Option<u16>| {
                    port.is_some_and(|x| mp.ports.iter().any(|r| r.contains(x)))
                };
                let hit = match mp.dir {
                    MultiportDir::Source => any(sport),
                    MultiportDir::Destination => any(dport),
                    MultiportDir::Either => any(sport) || any(dport),
                };
                hit != mp.invert
            }
            Match::Comment(_) | Match::Nfacct(_) | Match::Limit(_) | Match::Socket(_) => true,
            Match::AddrType(a) => self.addrtype_ok(a, p),
            Match::Mark(mm) => ((p.mark & mm.value.mask) == mm.value.value) != mm.invert,
            Match::Conntrack(c) => conntrack_ok(c, p),
            Match::State(s) => {
                let st = p.ct.map_or(CtStates::INVALID, |c| c.states);
                // -m state knows INVALID/NEW/RELATED/ESTABLISHED/UNTRACKED only.
                ((st & s.value.0 & 0x1f) != 0) != s.invert
            }
            Match::Statistic(st) => self.statistic(table, chain, index, st),
            Match::Recent(rm) => {
                let addr = match rm.side {
                    crate::netfilter::matches::RecentSide::Source => p.src,
                    crate::netfilter::matches::RecentSide::Dest => p.dst,
                };
                let hit = self.oracle.choose(Choice::Recent { m: rm, addr });
                hit != rm.invert
            }
            Match::Set(s) => {
                let hit = self.oracle.set_test(&s.name, &s.dirs, p).unwrap_or(false);
                hit != s.invert
            }
            Match::Physdev(ph) => physdev_ok(ph, p),
        }
    }

    fn addrtype_ok(&self, a: &AddrTypeMatch, p: &PacketView<'_>) -> bool {
        let iface = match a.limit_iface {
            Some(LimitIface::In) => p.in_iface,
            Some(LimitIface::Out) => p.out_iface,
            None => None,
        };
        let ok = |want: &Option<Negatable<crate::netfilter::matches::AddrTypes>>, addr| {
            want.as_ref().is_none_or(|w| {
                let have = self.oracle.addr_type(addr, iface);
                ((have & w.value.0) != 0) != w.invert
            })
        };
        ok(&a.src_type, p.src) && ok(&a.dst_type, p.dst)
    }

    fn statistic(
        &mut self,
        table: TableName,
        chain: &Chain,
        index: usize,
        st: &StatisticMatch,
    ) -> bool {
        use crate::netfilter::matches::StatisticMode;
        let hit = match st.mode {
            StatisticMode::Random { probability } => {
                self.oracle.choose(Choice::Random { probability })
            }
            StatisticMode::Nth { every, packet } => self.oracle.choose(Choice::Nth {
                every,
                packet,
                rule: (table, &chain.name, index),
            }),
        };
        hit != st.invert
    }
}

fn untracked(p: &PacketView<'_>) -> CtView {
    CtView {
        states: CtStates::UNTRACKED,
        orig_src: p.src,
        orig_dst: p.dst,
        orig_dport: p.ports.map(|(_, d)| d),
        status: 0,
        mark: 0,
    }
}

fn port_ok(want: &Option<Negatable<PortRange>>, have: Option<u16>) -> bool {
    match want {
        None => true,
        // A port match never matches a packet without ports (a non-first fragment).
        Some(w) => have.is_some_and(|x| w.value.contains(x) != w.invert),
    }
}

/// `-i`/`-o`: a name ending in `+` matches every interface with that prefix; a packet with
/// no such interface (no `-o` in PREROUTING) matches only an inverted test.
fn iface_matches(want: &Option<Negatable<String>>, have: Option<&str>) -> bool {
    let Some(w) = want else {
        return true;
    };
    let hit = have.is_some_and(|h| match w.value.strip_suffix('+') {
        Some(prefix) => h.starts_with(prefix),
        None => h == w.value,
    });
    hit != w.invert
}

fn conntrack_ok(c: &ConntrackMatch, p: &PacketView<'_>) -> bool {
    let ct = p.ct;
    if let Some(s) = &c.ctstate {
        let st = ct.map_or(CtStates::INVALID, |c| c.states);
        if ((st & s.value.0) != 0) == s.invert {
            return false;
        }
    }
    if let Some(d) = &c.ctorigdst {
        let Some(ct) = ct else { return false };
        if d.value.contains(&ct.orig_dst) == d.invert {
            return false;
        }
    }
    if let Some(dp) = &c.ctorigdstport {
        let Some(port) = ct.and_then(|c| c.orig_dport) else {
            return false;
        };
        if dp.value.contains(port) == dp.invert {
            return false;
        }
    }
    if let Some(s) = &c.ctstatus {
        let Some(ct) = ct else { return false };
        if ((ct.status & s.value.0) != 0) == s.invert {
            return false;
        }
    }
    true
}

fn physdev_ok(ph: &PhysdevMatch, p: &PacketView<'_>) -> bool {
    let dev = p.physdev;
    let in_port = dev.and_then(|d| d.in_port.as_deref());
    let out_port = dev.and_then(|d| d.out_port.as_deref());
    if let Some(b) = ph.is_bridged
        && (dev.is_some() && out_port.is_some()) != b
    {
        return false;
    }
    if let Some(b) = ph.is_in
        && in_port.is_some() != b
    {
        return false;
    }
    if let Some(b) = ph.is_out
        && out_port.is_some() != b
    {
        return false;
    }
    iface_matches(&ph.physdev_in, in_port) && iface_matches(&ph.physdev_out, out_port)
}
