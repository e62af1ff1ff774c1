//! A resource record (and a message's header flags) in master-file presentation format, field by field, as BIND's `dig`
//! prints it (`lib/dns/masterdump.c`, `lib/dns/rdata/`, BIND 9.18).
//!
//! hickory-proto's `Display` gives the presentation form of most RDATA already (addresses,
//! names with their trailing dot, SRV and SOA fields in order); TXT is the exception, which
//! `dig` prints as quoted character-strings with `"` and `\` escaped and bytes outside
//! printable ASCII as `\DDD`. Types hickory does not know print as `TYPEnnn` (RFC 3597).

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::{RData, Record, RecordType};

/// One record's fields as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordText {
    pub name: String,
    pub ttl: u32,
    pub class: String,
    pub rtype: String,
    pub data: String,
}

impl RecordText {
    pub fn of(record: &Record) -> RecordText {
        RecordText {
            name: record.name.to_string(),
            ttl: record.ttl,
            class: record.dns_class.to_string(),
            rtype: type_text(record.record_type()),
            data: data_text(&record.data),
        }
    }
}

/// The header flags set in `m`, in `dig`'s order (qr aa tc rd ra ad cd).
pub fn header_flags(m: &Message) -> Vec<&'static str> {
    let h = &m.metadata;
    [
        (h.message_type == MessageType::Response, "qr"),
        (h.authoritative, "aa"),
        (h.truncation, "tc"),
        (h.recursion_desired, "rd"),
        (h.recursion_available, "ra"),
        (h.authentic_data, "ad"),
        (h.checking_disabled, "cd"),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect()
}

/// A type's mnemonic, `TYPEnnn` for those without one.
pub fn type_text(rtype: RecordType) -> String {
    match rtype {
        RecordType::Unknown(n) => format!("TYPE{n}"),
        t => t.to_string(),
    }
}

/// RDATA in presentation format.
pub fn data_text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => txt
            .txt_data
            .iter()
            .map(|s| character_string(s))
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// A quoted character-string (RFC 1035 §5.1) as BIND's `txt_totext` writes it.
fn character_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::TXT;

    #[test]
    fn txt_is_quoted_and_escaped_as_dig_prints_it() {
        let txt = RData::TXT(TXT::from_bytes(vec![b"1.1.0", b"a \"q\" \\ \x07\xff"]));
        assert_eq!(data_text(&txt), r#""1.1.0" "a \"q\" \\ \007\255""#);
    }

    #[test]
    fn unknown_types_print_as_type_and_number() {
        assert_eq!(type_text(RecordType::Unknown(65280)), "TYPE65280");
        assert_eq!(type_text(RecordType::SRV), "SRV");
    }
}
