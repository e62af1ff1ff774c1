//! Entry selection for `conntrack -L`/`-D`: the options conntrack-tools takes and kube-proxy
//! passes through netlink (pkg/proxy/conntrack/filter.go: `conntrackFilter`), combined with
//! AND. kube-proxy's stale-UDP cleanup deletes by original destination and reply source
//! (`--orig-dst SVC -p udp --reply-src ENDPOINT`) and by NodePort
//! (`-p udp --orig-port-dst N --reply-src ENDPOINT`).

use std::net::IpAddr;

use super::{Entry, L4Proto, Tuple};

/// An address family (`-f ipv4|ipv6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

/// A conjunction of conditions on an entry; unset fields match anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CtFilter {
    /// `-f`.
    pub family: Option<Family>,
    /// `-p`.
    pub proto: Option<L4Proto>,
    /// `-s` / `--orig-src`.
    pub orig_src: Option<IpAddr>,
    /// `-d` / `--orig-dst`.
    pub orig_dst: Option<IpAddr>,
    /// `--sport` / `--orig-port-src`.
    pub orig_sport: Option<u16>,
    /// `--dport` / `--orig-port-dst`.
    pub orig_dport: Option<u16>,
    /// `-r` / `--reply-src`.
    pub reply_src: Option<IpAddr>,
    /// `-q` / `--reply-dst`.
    pub reply_dst: Option<IpAddr>,
    /// `--reply-port-src`.
    pub reply_sport: Option<u16>,
    /// `--reply-port-dst`.
    pub reply_dport: Option<u16>,
    /// `-m` / `--mark`.
    pub mark: Option<u32>,
}

impl CtFilter {
    pub fn new() -> CtFilter {
        CtFilter::default()
    }

    pub fn family(mut self, f: Family) -> Self {
        self.family = Some(f);
        self
    }
    pub fn proto(mut self, p: L4Proto) -> Self {
        self.proto = Some(p);
        self
    }
    pub fn orig_src(mut self, a: IpAddr) -> Self {
        self.orig_src = Some(a);
        self
    }
    pub fn orig_dst(mut self, a: IpAddr) -> Self {
        self.orig_dst = Some(a);
        self
    }
    pub fn orig_sport(mut self, p: u16) -> Self {
        self.orig_sport = Some(p);
        self
    }
    pub fn orig_dport(mut self, p: u16) -> Self {
        self.orig_dport = Some(p);
        self
    }
    pub fn reply_src(mut self, a: IpAddr) -> Self {
        self.reply_src = Some(a);
        self
    }
    pub fn reply_dst(mut self, a: IpAddr) -> Self {
        self.reply_dst = Some(a);
        self
    }
    pub fn reply_sport(mut self, p: u16) -> Self {
        self.reply_sport = Some(p);
        self
    }
    pub fn reply_dport(mut self, p: u16) -> Self {
        self.reply_dport = Some(p);
        self
    }
    pub fn mark(mut self, m: u32) -> Self {
        self.mark = Some(m);
        self
    }

    /// No condition set.
    pub fn is_empty(&self) -> bool {
        *self == CtFilter::default()
    }

    /// Whether `entry` satisfies every condition. An empty filter matches nothing, as in
    /// kube-proxy; port conditions never match a protocol without ports.
    pub fn matches(&self, entry: &Entry) -> bool {
        if self.is_empty() {
            return false;
        }
        let family = if entry.original.src.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        self.family.is_none_or(|f| f == family)
            && self.proto.is_none_or(|p| p == entry.original.proto)
            && self.mark.is_none_or(|m| m == entry.mark)
            && tuple_matches(
                &entry.original,
                self.orig_src,
                self.orig_dst,
                self.orig_sport,
                self.orig_dport,
            )
            && tuple_matches(
                &entry.reply,
                self.reply_src,
                self.reply_dst,
                self.reply_sport,
                self.reply_dport,
            )
    }
}

fn tuple_matches(
    t: &Tuple,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    sport: Option<u16>,
    dport: Option<u16>,
) -> bool {
    let ports = t.proto.has_ports();
    src.is_none_or(|a| a == t.src)
        && dst.is_none_or(|a| a == t.dst)
        && sport.is_none_or(|p| ports && p == t.sport)
        && dport.is_none_or(|p| ports && p == t.dport)
}
