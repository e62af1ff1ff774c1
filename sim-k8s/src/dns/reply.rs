//! [`Reply`]: the sections and flags one plugin's answer puts into a DNS response.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record};

/// A plugin's answer, before the server adds the question, id and EDNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub rcode: ResponseCode,
    /// AA: set by authoritative plugins (`kubernetes`, `hosts`).
    pub authoritative: bool,
    /// RA: copied from an upstream's reply by `forward`.
    pub recursion_available: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Reply {
    /// An empty reply with `rcode`.
    pub fn new(rcode: ResponseCode, authoritative: bool) -> Reply {
        Reply {
            rcode,
            authoritative,
            recursion_available: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
        }
    }

    /// Every record of every section, mutably (for `rewrite` and `cache` TTL aging).
    pub fn records_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.answers
            .iter_mut()
            .chain(self.authorities.iter_mut())
            .chain(self.additionals.iter_mut())
    }

    /// Every record of every section.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.answers
            .iter()
            .chain(self.authorities.iter())
            .chain(self.additionals.iter())
    }
}

/// `name`'s labels, lowercased, left to right.
pub fn lower_labels(name: &Name) -> Vec<String> {
    name.iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect()
}

/// `name` as a fully qualified name (trailing dot).
pub fn fqdn(mut name: Name) -> Name {
    name.set_fqdn(true);
    name
}

/// The fully qualified name for dotted text `s`, if it is a valid name.
pub fn parse_fqdn(s: &str) -> Option<Name> {
    Name::from_ascii(s).ok().map(fqdn)
}
