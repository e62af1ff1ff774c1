//! A reply message as JSON (the shape of issue 9):
//! `{"rcode", "flags", "answer": [{"name", "ttl", "class", "type", "data"}], "authority",
//! "additional"}`. Fields are the text `dig` prints ([`super::presentation`]); `rcode` is the
//! mnemonic (`NOERROR`, `NXDOMAIN`), `flags` the header flags set, in `dig`'s order. The
//! OPT record is not a record of `additional` (as `dig` shows it apart).

use hickory_proto::op::Message;
use hickory_proto::rr::Record;
use serde_json::{Value, json};

use super::dig::rcode_text;
use super::presentation::{RecordText, header_flags};

/// The JSON of `reply`.
pub fn reply_json(reply: &Message) -> Value {
    json!({
        "rcode": rcode_text(reply.metadata.response_code),
        "flags": header_flags(reply),
        "answer": records(&reply.answers),
        "authority": records(&reply.authorities),
        "additional": records(&reply.additionals),
    })
}

fn records(records: &[Record]) -> Vec<Value> {
    records
        .iter()
        .map(|r| {
            let t = RecordText::of(r);
            json!({
                "name": t.name,
                "ttl": t.ttl,
                "class": t.class,
                "type": t.rtype,
                "data": t.data,
            })
        })
        .collect()
}
