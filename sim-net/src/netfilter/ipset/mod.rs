//! # ipset — IP sets (`ip_set`) and the `ipset` command's text
//!
//! One [`IpSets`] is one network namespace's sets (net/netfilter/ipset/ in Linux, ipset 7.x
//! userspace). It answers `-m set --match-set NAME FLAGS` for a packet
//! ([`IpSets::match_packet`]) and reads and writes `ipset save` / `ipset restore` text.
//!
//! | file | holds |
//! | --- | --- |
//! | `element.rs` | [`SetType`], [`Element`], [`ProtoPort`]: the types and their element syntax |
//! | `text.rs` | `ipset save` output and `ipset restore` input, with line-numbered errors |
//!
//! Semantics kept from the kernel:
//! - Sets live in index slots; a new set takes the first free slot, `save` lists in slot
//!   order (so, without destroys, in creation order), `swap` exchanges contents and keeps the
//!   names in place (`ip_set_swap`), a set referenced by a rule cannot be destroyed.
//! - hash:net and hash:ip,port,net test a host by trying every prefix length present in the
//!   set, longest first; the first element found decides, and a `nomatch` element means "not
//!   in the set" (`mtype_test_cidrs`, `-ENOTEMPTY`).
//! - `-m set` needs at least as many flags as the type has dimensions, and a set of the
//!   packet's family (bitmap:port matches both); port dimensions take the packet's protocol,
//!   ICMP type/code for ICMP, 0 for portless protocols (`ip_set_get_ip4_port`); bitmap:port
//!   matches TCP and UDP only.
//! - `maxelem` bounds hash sets ("Hash is full"); bitmap:port holds its `range`.
//!
//! Simplified: entries never expire (a `timeout` is parsed, stored and printed as given);
//! `hashsize` is rounded up to a power of two (minimum 64) but does not grow; members print in
//! [`Element`] order, not hash order; `counters`, `skbinfo`, `forceadd` are stored flags only.

mod element;
mod text;

pub use element::{Element, ElementError, MAX_EXPANSION, ProtoPort, SetFamily, SetType};
pub use text::RestoreError;

use std::collections::BTreeMap;
use std::net::IpAddr;

use element::{ICMP, ICMPV6, TCP, UDP, net, parse_elements};

/// `IPSET_MAXNAMELEN` minus the terminating NUL.
pub const MAX_NAME_LEN: usize = 31;

/// Options of `ipset create`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// `family` (hash types; default inet).
    pub family: SetFamily,
    /// `hashsize`, Linux default 1024; rounded up to a power of two, at least 64.
    pub hashsize: u32,
    /// `maxelem`, Linux default 65536.
    pub maxelem: u32,
    /// `range FROM-TO` (bitmap:port; mandatory there).
    pub range: Option<(u16, u16)>,
    /// `timeout` default for entries, seconds (stored; entries do not expire in the model).
    pub timeout: Option<u32>,
    pub counters: bool,
    pub comment: bool,
    pub skbinfo: bool,
    pub forceadd: bool,
    /// `bucketsize` (ipset ≥ 7.11 prints it; stored and printed if given).
    pub bucketsize: Option<u32>,
    /// `initval` (the hash seed; stored and printed if given).
    pub initval: Option<u32>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            family: SetFamily::Inet,
            hashsize: 1024,
            maxelem: 65_536,
            range: None,
            timeout: None,
            counters: false,
            comment: false,
            skbinfo: false,
            forceadd: false,
            bucketsize: None,
            initval: None,
        }
    }
}

/// Per-element extensions of `ipset add`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EntryOptions {
    /// `timeout N` seconds (needs a set created with `timeout`).
    pub timeout: Option<u32>,
    /// `nomatch` (net types only): an exception inside a larger net.
    pub nomatch: bool,
    /// `comment "…"` (needs a set created with `comment`).
    pub comment: Option<String>,
}

/// One set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpSet {
    pub name: String,
    pub set_type: SetType,
    pub options: CreateOptions,
    members: BTreeMap<Element, EntryOptions>,
    /// Prefix lengths of the net component and how many members have each.
    prefixes: BTreeMap<u8, usize>,
    /// `-m set` / `SET` rules referring to the set.
    references: u32,
}

impl IpSet {
    fn new(name: &str, set_type: SetType, mut options: CreateOptions) -> IpSet {
        options.hashsize = options
            .hashsize
            .max(64)
            .checked_next_power_of_two()
            .unwrap_or(1 << 31);
        if let Some((a, b)) = options.range {
            options.range = Some((a.min(b), a.max(b)));
        }
        IpSet {
            name: name.to_string(),
            set_type,
            options,
            members: BTreeMap::new(),
            prefixes: BTreeMap::new(),
            references: 0,
        }
    }

    /// The family the set matches: `None` for bitmap:port, which matches both.
    pub fn family(&self) -> Option<SetFamily> {
        self.set_type.is_hash().then_some(self.options.family)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Members with their extensions, in [`Element`] order.
    pub fn members(&self) -> impl Iterator<Item = (&Element, &EntryOptions)> {
        self.members.iter()
    }

    pub fn references(&self) -> u32 {
        self.references
    }

    /// Whether `elem` is in the set, as `ipset test` answers: a host tested against a net
    /// type tries every prefix present, longest first; a `nomatch` member says no.
    pub fn contains(&self, elem: &Element) -> bool {
        let exact = |e: &Element| self.members.get(e).map(|o| !o.nomatch);
        let host = |n: &ipnet::IpNet| n.prefix_len() == n.max_prefix_len();
        match elem {
            Element::Net(n) if host(n) => self
                .prefixes
                .keys()
                .rev()
                .find_map(|&p| exact(&Element::Net(net(n.addr(), p))))
                .unwrap_or(false),
            Element::IpPortNet(ip, pp, n) if host(n) => self
                .prefixes
                .keys()
                .rev()
                .find_map(|&p| exact(&Element::IpPortNet(*ip, *pp, net(n.addr(), p))))
                .unwrap_or(false),
            _ => exact(elem).unwrap_or(false),
        }
    }

    fn same_create(&self, set_type: SetType, o: &CreateOptions) -> bool {
        let mut o = o.clone();
        o.hashsize = self.options.hashsize;
        o.bucketsize = self.options.bucketsize;
        o.initval = self.options.initval;
        if let Some((a, b)) = o.range {
            o.range = Some((a.min(b), a.max(b)));
        }
        self.set_type == set_type && self.options == o
    }

    fn insert(&mut self, elem: Element, opts: EntryOptions) {
        if let Some(p) = elem.prefix_len() {
            *self.prefixes.entry(p).or_default() += 1;
        }
        self.members.insert(elem, opts);
    }

    fn remove(&mut self, elem: &Element) -> bool {
        if self.members.remove(elem).is_none() {
            return false;
        }
        if let Some(p) = elem.prefix_len()
            && let Some(n) = self.prefixes.get_mut(&p)
        {
            *n -= 1;
            if *n == 0 {
                self.prefixes.remove(&p);
            }
        }
        true
    }

    fn clear(&mut self) {
        self.members.clear();
        self.prefixes.clear();
    }
}

/// `src` or `dst` in `--match-set NAME src,dst,…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetDir {
    Src,
    Dst,
}

/// The parts of a packet a set match reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketFields {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    /// TCP/UDP/SCTP/UDP-Lite source port; for ICMP, `type << 8 | code` (see
    /// [`PacketFields::icmp`]); 0 otherwise.
    pub sport: u16,
    pub dport: u16,
}

impl PacketFields {
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> PacketFields {
        PacketFields {
            src,
            dst,
            proto,
            sport,
            dport,
        }
    }

    /// An ICMP/ICMPv6 packet: both port dimensions read its type and code.
    pub fn icmp(src: IpAddr, dst: IpAddr, icmp_type: u8, code: u8) -> PacketFields {
        let typecode = u16::from_be_bytes([icmp_type, code]);
        let proto = if src.is_ipv4() { ICMP } else { ICMPV6 };
        PacketFields::new(src, typecode, dst, typecode, proto)
    }

    fn addr(&self, d: SetDir) -> IpAddr {
        match d {
            SetDir::Src => self.src,
            SetDir::Dst => self.dst,
        }
    }

    fn port(&self, d: SetDir) -> ProtoPort {
        let port = if ProtoPort::has_port(self.proto) || matches!(self.proto, ICMP | ICMPV6) {
            match d {
                SetDir::Src => self.sport,
                SetDir::Dst => self.dport,
            }
        } else {
            0
        };
        ProtoPort {
            proto: self.proto,
            port,
        }
    }
}

/// Errors of the `ipset` commands; messages are ipset's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpSetError {
    #[error("The set with the given name does not exist")]
    NoSuchSet(String),
    #[error("Set cannot be created: set with the same name already exists")]
    SetExists(String),
    #[error("Syntax error: setname '{0}' is longer than {max} characters.", max = MAX_NAME_LEN)]
    NameTooLong(String),
    #[error("Syntax error: setname must not be empty")]
    EmptyName,
    #[error("Syntax error: typename '{0}' is unknown")]
    UnknownType(String),
    #[error("{option} parameter is not allowed with set type {set_type}")]
    OptionNotAllowed {
        option: &'static str,
        set_type: SetType,
    },
    #[error("Mandatory option `range' is missing")]
    MissingRange,
    #[error("Element cannot be added to the set: it's already added")]
    AlreadyAdded(Element),
    #[error("Element cannot be deleted from the set: it's not added")]
    NotAdded(Element),
    #[error("Hash is full, cannot add more elements")]
    HashFull(String),
    #[error("Element is out of the range of the set")]
    OutOfRange(Element),
    #[error("Timeout cannot be used: set was created without timeout support")]
    NoTimeoutSupport,
    #[error("Comment cannot be used: set was created without comment support")]
    NoCommentSupport,
    #[error("Element {element} is not of set type {set_type}")]
    WrongElementType { element: Element, set_type: SetType },
    #[error(transparent)]
    BadElement(#[from] ElementError),
    #[error("Sets cannot be swapped: the second set does not exist")]
    SwapSecondMissing(String),
    #[error("The sets cannot be swapped: their type does not match")]
    TypeMismatch,
    #[error("Set cannot be renamed: a set with the new name already exists")]
    RenameExists(String),
    #[error("Set cannot be destroyed: it is in use by a kernel component")]
    InUse(String),
    #[error("No command specified.")]
    NoCommand,
    #[error("No command specified: unknown argument {0}")]
    UnknownCommand(String),
    #[error("Missing mandatory argument to command {command} ({what})")]
    MissingArgument { command: String, what: &'static str },
    #[error("Unknown argument {0}")]
    UnknownArgument(String),
    #[error("Missing mandatory argument of option `{0}'")]
    MissingValue(&'static str),
    #[error("Syntax error: '{value}' is invalid as {option}")]
    BadValue { option: &'static str, value: String },
    #[error("Syntax error: missing closing quote")]
    UnterminatedQuote,
}

/// One network namespace's sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSets {
    /// Index slots (`ip_set_list`); `None` is a free slot.
    slots: Vec<Option<IpSet>>,
    /// Name → slot.
    by_name: BTreeMap<String, usize>,
}

fn check_name(name: &str) -> Result<(), IpSetError> {
    if name.is_empty() {
        return Err(IpSetError::EmptyName);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(IpSetError::NameTooLong(name.to_string()));
    }
    Ok(())
}

impl IpSets {
    pub fn new() -> IpSets {
        IpSets::default()
    }

    pub fn get(&self, name: &str) -> Option<&IpSet> {
        self.by_name.get(name).and_then(|&i| self.slots[i].as_ref())
    }

    fn get_mut(&mut self, name: &str) -> Result<&mut IpSet, IpSetError> {
        let i = *self
            .by_name
            .get(name)
            .ok_or_else(|| IpSetError::NoSuchSet(name.to_string()))?;
        Ok(self.slots[i].as_mut().expect("named slot is occupied"))
    }

    /// The sets in slot order (`ipset list` / `save` order).
    pub fn iter(&self) -> impl Iterator<Item = &IpSet> {
        self.slots.iter().flatten()
    }

    /// `ipset create NAME TYPE OPTIONS`. With `exist`, creating a set that exists with the
    /// same type and options succeeds.
    pub fn create(
        &mut self,
        name: &str,
        set_type: SetType,
        options: CreateOptions,
        exist: bool,
    ) -> Result<(), IpSetError> {
        check_name(name)?;
        match set_type {
            SetType::BitmapPort if options.range.is_none() => return Err(IpSetError::MissingRange),
            SetType::BitmapPort => {}
            _ if options.range.is_some() => {
                return Err(IpSetError::OptionNotAllowed {
                    option: "range",
                    set_type,
                });
            }
            _ => {}
        }
        if let Some(existing) = self.get(name) {
            if exist && existing.same_create(set_type, &options) {
                return Ok(());
            }
            return Err(IpSetError::SetExists(name.to_string()));
        }
        let set = IpSet::new(name, set_type, options);
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(set);
                i
            }
            None => {
                self.slots.push(Some(set));
                self.slots.len() - 1
            }
        };
        self.by_name.insert(name.to_string(), slot);
        Ok(())
    }

    /// `ipset destroy [NAME]`: one set, or every unreferenced set.
    pub fn destroy(&mut self, name: Option<&str>) -> Result<(), IpSetError> {
        match name {
            Some(name) => {
                let set = self
                    .get(name)
                    .ok_or_else(|| IpSetError::NoSuchSet(name.to_string()))?;
                if set.references > 0 {
                    return Err(IpSetError::InUse(name.to_string()));
                }
                let slot = self.by_name.remove(name).expect("found above");
                self.slots[slot] = None;
            }
            None => {
                if let Some(busy) = self.iter().find(|s| s.references > 0) {
                    return Err(IpSetError::InUse(busy.name.clone()));
                }
                self.slots.clear();
                self.by_name.clear();
            }
        }
        Ok(())
    }

    /// `ipset flush [NAME]`: empties one set or all.
    pub fn flush(&mut self, name: Option<&str>) -> Result<(), IpSetError> {
        match name {
            Some(name) => self.get_mut(name)?.clear(),
            None => self.slots.iter_mut().flatten().for_each(IpSet::clear),
        }
        Ok(())
    }

    /// `ipset rename FROM TO`.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), IpSetError> {
        check_name(to)?;
        self.get_mut(from)?;
        if self.by_name.contains_key(to) {
            return Err(IpSetError::RenameExists(to.to_string()));
        }
        let slot = self.by_name.remove(from).expect("checked above");
        self.slots[slot].as_mut().expect("occupied").name = to.to_string();
        self.by_name.insert(to.to_string(), slot);
        Ok(())
    }

    /// `ipset swap A B`: the contents (type, options, members) trade places; names, slots
    /// and references stay.
    pub fn swap(&mut self, a: &str, b: &str) -> Result<(), IpSetError> {
        let ia = *self
            .by_name
            .get(a)
            .ok_or_else(|| IpSetError::NoSuchSet(a.to_string()))?;
        let ib = *self
            .by_name
            .get(b)
            .ok_or_else(|| IpSetError::SwapSecondMissing(b.to_string()))?;
        let (ta, fa) = {
            let s = self.slots[ia].as_ref().expect("occupied");
            (s.set_type, s.family())
        };
        let (tb, fb) = {
            let s = self.slots[ib].as_ref().expect("occupied");
            (s.set_type, s.family())
        };
        if ta != tb || fa != fb {
            return Err(IpSetError::TypeMismatch);
        }
        if ia == ib {
            return Ok(());
        }
        self.slots.swap(ia, ib);
        for (slot, name) in [(ia, a), (ib, b)] {
            let set = self.slots[slot].as_mut().expect("occupied");
            set.name = name.to_string();
        }
        // References belong to the name (the rule holds the index), not to the contents.
        let ra = self.slots[ia].as_ref().map_or(0, |s| s.references);
        let rb = self.slots[ib].as_ref().map_or(0, |s| s.references);
        self.slots[ia].as_mut().expect("occupied").references = rb;
        self.slots[ib].as_mut().expect("occupied").references = ra;
        Ok(())
    }

    /// A rule starts referring to the set (`ip_set_nfnl_get_byindex`).
    pub fn reference(&mut self, name: &str) -> Result<(), IpSetError> {
        self.get_mut(name)?.references += 1;
        Ok(())
    }

    /// A rule referring to the set is gone.
    pub fn release(&mut self, name: &str) -> Result<(), IpSetError> {
        let set = self.get_mut(name)?;
        set.references = set.references.saturating_sub(1);
        Ok(())
    }

    /// `ipset add NAME ELEMENT [options]`, the element in ipset's syntax (ranges expand).
    /// With `exist`, re-adding updates the extensions instead of failing.
    pub fn add(
        &mut self,
        name: &str,
        element: &str,
        opts: &EntryOptions,
        exist: bool,
    ) -> Result<(), IpSetError> {
        let set = self.get_mut(name)?;
        let elems = parse_elements(set.set_type, set.family(), element)?;
        for e in elems {
            add_element(set, e, opts, exist)?;
        }
        Ok(())
    }

    /// Adds one parsed element.
    pub fn add_element(
        &mut self,
        name: &str,
        element: Element,
        opts: &EntryOptions,
        exist: bool,
    ) -> Result<(), IpSetError> {
        let set = self.get_mut(name)?;
        add_element(set, canonical(element), opts, exist)
    }

    /// `ipset del NAME ELEMENT`. With `exist`, deleting a missing element succeeds.
    pub fn del(&mut self, name: &str, element: &str, exist: bool) -> Result<(), IpSetError> {
        let set = self.get_mut(name)?;
        for e in parse_elements(set.set_type, set.family(), element)? {
            if !set.remove(&e) && !exist {
                return Err(IpSetError::NotAdded(e));
            }
        }
        Ok(())
    }

    /// `ipset test NAME ELEMENT`.
    pub fn test(&self, name: &str, element: &str) -> Result<bool, IpSetError> {
        let set = self
            .get(name)
            .ok_or_else(|| IpSetError::NoSuchSet(name.to_string()))?;
        let elems = parse_elements(set.set_type, set.family(), element)?;
        Ok(elems.iter().all(|e| set.contains(e)))
    }

    /// `-m set --match-set NAME FLAGS`: builds the element from the packet, one flag per
    /// dimension, and tests it. Fewer flags than dimensions, or a packet of the other family,
    /// never match (`ip_set_test`); extra flags are ignored.
    pub fn match_packet(
        &self,
        name: &str,
        pkt: &PacketFields,
        flags: &[SetDir],
    ) -> Result<bool, IpSetError> {
        let set = self
            .get(name)
            .ok_or_else(|| IpSetError::NoSuchSet(name.to_string()))?;
        if flags.len() < set.set_type.dimension()
            || set
                .family()
                .is_some_and(|f| f != SetFamily::of(pkt.src) || f != SetFamily::of(pkt.dst))
        {
            return Ok(false);
        }
        let host = |a: IpAddr| net(a, if a.is_ipv4() { 32 } else { 128 });
        let elem = match set.set_type {
            SetType::HashIp => Element::Ip(pkt.addr(flags[0])),
            SetType::HashNet => Element::Net(host(pkt.addr(flags[0]))),
            SetType::HashIpPort => Element::IpPort(pkt.addr(flags[0]), pkt.port(flags[1])),
            SetType::HashIpPortIp => {
                Element::IpPortIp(pkt.addr(flags[0]), pkt.port(flags[1]), pkt.addr(flags[2]))
            }
            SetType::HashIpPortNet => Element::IpPortNet(
                pkt.addr(flags[0]),
                pkt.port(flags[1]),
                host(pkt.addr(flags[2])),
            ),
            SetType::BitmapPort => {
                if pkt.proto != TCP && pkt.proto != UDP {
                    return Ok(false);
                }
                Element::Port(pkt.port(flags[0]).port)
            }
        };
        Ok(set.contains(&elem))
    }
}

/// Masks net components so that a hand-built element finds its stored form.
fn canonical(e: Element) -> Element {
    match e {
        Element::Net(n) => Element::Net(net(n.addr(), n.prefix_len())),
        Element::IpPortNet(ip, pp, n) => Element::IpPortNet(ip, pp, net(n.addr(), n.prefix_len())),
        other => other,
    }
}

fn add_element(
    set: &mut IpSet,
    e: Element,
    opts: &EntryOptions,
    exist: bool,
) -> Result<(), IpSetError> {
    if e.set_type() != set.set_type {
        return Err(IpSetError::WrongElementType {
            element: e,
            set_type: set.set_type,
        });
    }
    if opts.nomatch && !set.set_type.has_net() {
        return Err(IpSetError::OptionNotAllowed {
            option: "nomatch",
            set_type: set.set_type,
        });
    }
    if opts.timeout.is_some() && set.options.timeout.is_none() {
        return Err(IpSetError::NoTimeoutSupport);
    }
    if opts.comment.is_some() && !set.options.comment {
        return Err(IpSetError::NoCommentSupport);
    }
    if let (Element::Port(p), Some((lo, hi))) = (e, set.options.range)
        && !(lo..=hi).contains(&p)
    {
        return Err(IpSetError::OutOfRange(e));
    }
    if let Some(existing) = set.members.get_mut(&e) {
        if !exist {
            return Err(IpSetError::AlreadyAdded(e));
        }
        *existing = opts.clone();
        return Ok(());
    }
    if set.set_type.is_hash() && set.members.len() >= set.options.maxelem as usize {
        return Err(IpSetError::HashFull(set.name.clone()));
    }
    set.insert(e, opts.clone());
    Ok(())
}

#[cfg(test)]
mod tests;
