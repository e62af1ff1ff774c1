//! The `cache` plugin (CoreDNS `plugin/cache`): answers kept for their TTL, capped — so an
//! answer given before a change keeps being given until it expires, which is how stale DNS
//! after a Service change shows up.
//!
//! Modelled: positive (NOERROR with answers) and denial (NXDOMAIN, NODATA) caches; the entry's
//! lifetime is the smallest TTL in the reply (for denials the SOA's, bounded by its MINIMUM),
//! clamped to `[MIN, MAX]` — CoreDNS defaults MAX 3600 s positive / 1800 s denial, MIN 5 s,
//! `cache TTL` setting both MAXes; records served from the cache carry the remaining TTL;
//! `disable success|denial [ZONES]`; cache zones; capacity (default 9984 per cache) with the
//! soonest-expiring entry evicted (CoreDNS evicts at random). Key: lowercase name, type, class.
//!
//! Not modelled: `prefetch`, `serve_stale`, `keepttl`, SERVFAIL caching, the DO/CD bits in the
//! key.

use std::collections::BTreeMap;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use sim_core::{SimDuration, SimTime};

use super::reply::Reply;

/// `maxTTL`: 3600 s.
pub const DEFAULT_SUCCESS_MAX_TTL_S: u32 = 3600;
/// `maxNTTL`: 1800 s.
pub const DEFAULT_DENIAL_MAX_TTL_S: u32 = 1800;
/// `minTTL` / `minNTTL`: 5 s.
pub const DEFAULT_MIN_TTL_S: u32 = 5;
/// `defaultCap`: 9984 entries per cache.
pub const DEFAULT_CAPACITY: usize = 9984;

/// One of the two caches' settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKindConfig {
    pub capacity: usize,
    pub max_ttl_s: u32,
    pub min_ttl_s: u32,
    /// `disable success|denial ZONES`: not cached under these zones.
    pub disabled: Vec<Name>,
}

/// The plugin's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Only answers under these zones are cached.
    pub zones: Vec<Name>,
    pub success: CacheKindConfig,
    pub denial: CacheKindConfig,
}

impl CacheConfig {
    /// `cache` with CoreDNS's defaults for `zones`.
    pub fn new(zones: Vec<Name>) -> CacheConfig {
        let kind = |max_ttl_s| CacheKindConfig {
            capacity: DEFAULT_CAPACITY,
            max_ttl_s,
            min_ttl_s: DEFAULT_MIN_TTL_S,
            disabled: Vec::new(),
        };
        CacheConfig {
            zones,
            success: kind(DEFAULT_SUCCESS_MAX_TTL_S),
            denial: kind(DEFAULT_DENIAL_MAX_TTL_S),
        }
    }
}

/// Cache key: lowercase name, type.
type Key = (String, RecordType);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    reply: Reply,
    stored: SimTime,
    ttl_s: u32,
}

/// Cache contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cache {
    success: BTreeMap<Key, Entry>,
    denial: BTreeMap<Key, Entry>,
}

fn key(qname: &Name, qtype: RecordType) -> Key {
    (qname.to_ascii().to_ascii_lowercase(), qtype)
}

impl Cache {
    /// A cached reply with TTLs aged to `now`, if one is live.
    pub fn get(&self, now: SimTime, qname: &Name, qtype: RecordType) -> Option<Reply> {
        let k = key(qname, qtype);
        let entry = self.success.get(&k).or_else(|| self.denial.get(&k))?;
        let age_s = now.saturating_duration_since(entry.stored).as_nanos() / 1_000_000_000;
        let age_s = u32::try_from(age_s).unwrap_or(u32::MAX);
        if age_s >= entry.ttl_s {
            return None;
        }
        let remaining = entry.ttl_s - age_s;
        let mut reply = entry.reply.clone();
        for r in reply.records_mut() {
            r.ttl = remaining;
        }
        Some(reply)
    }

    /// Stores `reply` to `qname`/`qtype` if the configuration caches it.
    pub fn put(
        &mut self,
        config: &CacheConfig,
        now: SimTime,
        qname: &Name,
        qtype: RecordType,
        reply: &Reply,
    ) {
        if !config.zones.iter().any(|z| z.zone_of(qname)) {
            return;
        }
        let success = reply.rcode == ResponseCode::NoError && !reply.answers.is_empty();
        let denial = reply.rcode == ResponseCode::NXDomain
            || (reply.rcode == ResponseCode::NoError && reply.answers.is_empty());
        let (kind, map) = match (success, denial) {
            (true, _) => (&config.success, &mut self.success),
            (_, true) => (&config.denial, &mut self.denial),
            _ => return,
        };
        if kind.disabled.iter().any(|z| z.zone_of(qname)) || kind.capacity == 0 {
            return;
        }
        let ttl_s =
            minimal_ttl_s(reply, denial).clamp(kind.min_ttl_s, kind.max_ttl_s.max(kind.min_ttl_s));
        let ttl_s = ttl_s.min(kind.max_ttl_s);
        if ttl_s == 0 {
            return;
        }
        let k = key(qname, qtype);
        if map.len() >= kind.capacity && !map.contains_key(&k) {
            let expiry = |e: &Entry| e.stored + SimDuration::from_secs(u64::from(e.ttl_s));
            if let Some(victim) = map
                .iter()
                .min_by_key(|(_, e)| expiry(e))
                .map(|(k, _)| k.clone())
            {
                map.remove(&victim);
            }
        }
        map.insert(
            k,
            Entry {
                reply: reply.clone(),
                stored: now,
                ttl_s,
            },
        );
    }

    /// Number of live and expired entries held (for tests and dumps).
    pub fn len(&self) -> usize {
        self.success.len() + self.denial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `dnsutil.MinimalTTL`: the smallest TTL in the reply; for a denial, the SOA's TTL bounded by
/// its MINIMUM; a reply with no records at all gets the 5 s fail-safe.
fn minimal_ttl_s(reply: &Reply, denial: bool) -> u32 {
    if denial {
        for r in &reply.authorities {
            if let RData::SOA(soa) = &r.data {
                return r.ttl.min(soa.minimum);
            }
        }
    }
    reply
        .records()
        .filter(|r| r.record_type() != RecordType::OPT)
        .map(|r| r.ttl)
        .min()
        .unwrap_or(DEFAULT_MIN_TTL_S)
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::A;

    use super::*;

    fn a_reply(name: &Name, ttl: u32, ip: &str) -> Reply {
        let mut r = Reply::new(ResponseCode::NoError, true);
        r.answers.push(Record::from_rdata(
            name.clone(),
            ttl,
            RData::A(A(ip.parse().unwrap())),
        ));
        r
    }

    fn at(s: u64) -> SimTime {
        SimTime::from_nanos(s * 1_000_000_000)
    }

    /// A cached answer is served with the remaining TTL until it expires, capped by `cache 30`
    /// (stale after a change); below the 5 s minimum it is raised.
    #[test]
    fn ttl_capped_and_aged() {
        let mut config = CacheConfig::new(vec![Name::root()]);
        config.success.max_ttl_s = 30;
        let name = Name::from_ascii("web.default.svc.cluster.local.").unwrap();
        let mut cache = Cache::default();
        cache.put(
            &config,
            at(10),
            &name,
            RecordType::A,
            &a_reply(&name, 300, "10.96.0.1"),
        );
        let hit = cache.get(at(22), &name, RecordType::A).unwrap();
        assert_eq!(
            hit.answers[0].to_string(),
            "web.default.svc.cluster.local. 18 IN A 10.96.0.1"
        );
        assert!(cache.get(at(40), &name, RecordType::A).is_none());
        cache.put(
            &config,
            at(50),
            &name,
            RecordType::A,
            &a_reply(&name, 1, "10.96.0.2"),
        );
        assert_eq!(
            cache.get(at(54), &name, RecordType::A).unwrap().answers[0].ttl,
            1
        );
        assert!(cache.get(at(55), &name, RecordType::A).is_none());
        // disable success for the zone: nothing is stored.
        config.success.disabled = vec![Name::from_ascii("cluster.local.").unwrap()];
        let mut cache = Cache::default();
        cache.put(
            &config,
            at(0),
            &name,
            RecordType::A,
            &a_reply(&name, 300, "10.96.0.1"),
        );
        assert!(cache.is_empty());
    }
}
