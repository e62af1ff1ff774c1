//! `resolv.conf` as glibc's stub resolver reads it (`resolv/res_init.c`, glibc 2.36).
//!
//! `nameserver` lines accumulate up to `MAXNS` = 3 (more are ignored); `search` and `domain`
//! replace the search list (the last one wins; `domain X` means `search X`); `options`
//! accumulate: `ndots:N` (capped at 15), `timeout:N` (capped at 30), `attempts:N` (capped at
//! 5), `rotate`, `use-vc`; other options are ignored. No nameserver means 127.0.0.1.
//! `#` and `;` start comments. Not modelled: `LOCALDOMAIN`/`RES_OPTIONS`, `sortlist`, the
//! hostname's domain as default search list, `edns0`, `single-request`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use sim_core::SimDuration;

/// `MAXNS`.
pub const MAXNS: usize = 3;
/// `RES_DFLRETRY`: 2 attempts.
pub const DEFAULT_ATTEMPTS: u32 = 2;
/// `RES_TIMEOUT`: 5 s.
pub const DEFAULT_TIMEOUT_S: u32 = 5;
/// `RES_MAXNDOTS`, `RES_MAXRETRANS`, `RES_MAXRETRY`.
pub const MAX_NDOTS: u32 = 15;
pub const MAX_TIMEOUT_S: u32 = 30;
pub const MAX_ATTEMPTS: u32 = 5;

/// The resolver's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConf {
    pub nameservers: Vec<SocketAddr>,
    /// Search domains without trailing dots.
    pub search: Vec<String>,
    pub ndots: u32,
    pub timeout_s: u32,
    pub attempts: u32,
    pub rotate: bool,
    /// `use-vc`: TCP from the start.
    pub use_vc: bool,
}

impl Default for ResolverConf {
    fn default() -> Self {
        ResolverConf {
            nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout_s: DEFAULT_TIMEOUT_S,
            attempts: DEFAULT_ATTEMPTS,
            rotate: false,
            use_vc: false,
        }
    }
}

impl ResolverConf {
    /// Reads resolv.conf text as glibc does (it never fails: bad lines are skipped).
    pub fn parse(text: &str) -> ResolverConf {
        let mut c = ResolverConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut fields = line.split_whitespace();
            match fields.next() {
                Some("nameserver") => {
                    if let Some(ip) = fields.next().and_then(|f| f.parse::<IpAddr>().ok())
                        && c.nameservers.len() < MAXNS
                    {
                        c.nameservers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("domain") => {
                    c.search = fields.next().map(|d| vec![trim(d)]).unwrap_or_default();
                }
                Some("search") => c.search = fields.map(trim).collect(),
                Some("options") => {
                    for o in fields {
                        c.option(o);
                    }
                }
                _ => {}
            }
        }
        if c.nameservers.is_empty() {
            c.nameservers
                .push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53));
        }
        c
    }

    fn option(&mut self, o: &str) {
        let num = |v: &str, max: u32| v.parse::<u32>().ok().map(|n| n.min(max));
        if let Some(v) = o.strip_prefix("ndots:") {
            self.ndots = num(v, MAX_NDOTS).unwrap_or(self.ndots);
        } else if let Some(v) = o.strip_prefix("timeout:") {
            self.timeout_s = num(v, MAX_TIMEOUT_S).unwrap_or(self.timeout_s).max(1);
        } else if let Some(v) = o.strip_prefix("attempts:") {
            self.attempts = num(v, MAX_ATTEMPTS).unwrap_or(self.attempts).max(1);
        } else if o == "rotate" {
            self.rotate = true;
        } else if o == "use-vc" {
            self.use_vc = true;
        }
    }

    /// The wait for a reply on attempt `attempt` (0-based): `send_dg`'s
    /// `(retrans << attempt) / nscount`, at least 1 s.
    pub fn timeout_for(&self, attempt: u32) -> SimDuration {
        let secs = u64::from(self.timeout_s) << attempt.min(16);
        let secs = (secs / self.nameservers.len().max(1) as u64).max(1);
        SimDuration::from_secs(secs)
    }
}

fn trim(d: &str) -> String {
    d.trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resolv.conf kubelet writes for a ClusterFirst pod.
    #[test]
    fn kubelet_cluster_first() {
        let c = ResolverConf::parse(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        );
        assert_eq!(c.nameservers, ["10.96.0.10:53".parse().unwrap()]);
        assert_eq!(
            c.search,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
        assert_eq!(
            (c.ndots, c.timeout_s, c.attempts, c.rotate),
            (5, 5, 2, false)
        );
        assert_eq!(c.timeout_for(0), SimDuration::from_secs(5));
        assert_eq!(c.timeout_for(1), SimDuration::from_secs(10));
    }

    #[test]
    fn glibc_limits_and_defaults() {
        let c = ResolverConf::parse(
            "nameserver 1.1.1.1\nnameserver bogus\nnameserver 1.0.0.1\nnameserver 8.8.8.8\nnameserver 9.9.9.9\n\
             search a.example\ndomain corp.example.\noptions ndots:99 timeout:0 attempts:9 rotate # x\n",
        );
        assert_eq!(c.nameservers.len(), 3);
        assert_eq!(c.search, ["corp.example"]);
        assert_eq!(
            (c.ndots, c.timeout_s, c.attempts, c.rotate),
            (15, 1, 5, true)
        );
        // (5 << 0) / 3 = 1; (5 << 2) / 3 = 6.
        let c = ResolverConf::parse("nameserver 1.1.1.1\nnameserver 1.0.0.1\nnameserver 8.8.8.8\n");
        assert_eq!(c.timeout_for(0), SimDuration::from_secs(1));
        assert_eq!(c.timeout_for(2), SimDuration::from_secs(6));
        assert_eq!(
            ResolverConf::parse("").nameservers,
            ["127.0.0.1:53".parse().unwrap()]
        );
    }
}
