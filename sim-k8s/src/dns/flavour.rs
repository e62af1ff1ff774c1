//! [`Flavour`]: the three historic shapes of cluster DNS as configurations of the one engine.
//!
//! | flavour | Kubernetes | shape | as configured here |
//! | --- | --- | --- | --- |
//! | v1 `skydns` | ≤ 1.2 | kube2sky watches the API and writes records into etcd; skydns answers from etcd | `kubernetes` with TTL 30 s, `pods insecure`, no cache; data reaches DNS [`Flavour::extra_watch_lag`] after the informer would see it (kube2sky's etcd write) |
//! | v2 `kube-dns` | 1.3–1.10 | kubedns (informers + SkyDNS tree) behind dnsmasq (`--cache-size=1000 --no-negcache`) | `kubernetes` TTL 30 s behind `cache` with 1000 positive entries and no denial cache |
//! | v3 `coredns` | ≥ 1.11 | CoreDNS with the kubeadm Corefile | [`KUBEADM_COREFILE`] |
//!
//! The TTL of 30 s is kube-dns's answer TTL; the 100 ms etcd hop of v1 is a round figure
//! (one etcd write and skydns's read), not a measurement — scenarios that study it set their
//! own. Not modelled: dnsmasq's own forwarding rules (`--server=/cluster.local/...`) beyond
//! the zone split the Corefile expresses, skydns's etcd layout, kube-dns's ConfigMap
//! (stubDomains, upstreamNameservers).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use sim_core::SimDuration;

use super::corefile::{CorefileError, KUBEADM_COREFILE};
use super::server::DnsServer;

/// Which cluster DNS a cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flavour {
    /// v1: kube2sky → etcd → skydns.
    SkyDns,
    /// v2: kubedns + dnsmasq cache.
    KubeDns,
    /// v3: CoreDNS.
    CoreDns,
}

/// The lag v1 adds for kube2sky's write into etcd before skydns can read it.
pub const SKYDNS_ETCD_LAG: SimDuration = SimDuration::from_millis(100);

/// An unknown flavour name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown DNS flavour '{0}' (expected v1|skydns, v2|kube-dns, v3|coredns)")]
pub struct UnknownFlavour(pub String);

impl FromStr for Flavour {
    type Err = UnknownFlavour;

    fn from_str(s: &str) -> Result<Flavour, UnknownFlavour> {
        match s.to_ascii_lowercase().as_str() {
            "v1" | "skydns" => Ok(Flavour::SkyDns),
            "v2" | "kube-dns" | "kubedns" => Ok(Flavour::KubeDns),
            "v3" | "coredns" => Ok(Flavour::CoreDns),
            _ => Err(UnknownFlavour(s.to_owned())),
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flavour::SkyDns => "skydns",
            Flavour::KubeDns => "kube-dns",
            Flavour::CoreDns => "coredns",
        })
    }
}

impl Flavour {
    /// The engine configuration, as a Corefile for `cluster_domain`.
    pub fn corefile(self, cluster_domain: &str) -> String {
        let kubernetes = format!(
            "    kubernetes {cluster_domain} in-addr.arpa ip6.arpa {{\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }}\n"
        );
        let forward = "    forward . /etc/resolv.conf\n";
        match self {
            Flavour::SkyDns => format!(".:53 {{\n    errors\n{kubernetes}{forward}}}\n"),
            Flavour::KubeDns => format!(
                ".:53 {{\n    errors\n    cache {{\n       success 1000\n       disable denial\n    }}\n{kubernetes}{forward}}}\n"
            ),
            Flavour::CoreDns => KUBEADM_COREFILE.replace("cluster.local", cluster_domain),
        }
    }

    /// Lag between the informer seeing a change and DNS data reflecting it, on top of the
    /// API watch lag: the caller builds the DNS's view from the store as it was this much
    /// earlier.
    pub fn extra_watch_lag(self) -> SimDuration {
        match self {
            Flavour::SkyDns => SKYDNS_ETCD_LAG,
            Flavour::KubeDns | Flavour::CoreDns => SimDuration::ZERO,
        }
    }

    /// The server for this flavour on port 53.
    pub fn server(
        self,
        cluster_domain: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<DnsServer, CorefileError> {
        DnsServer::from_corefile(&self.corefile(cluster_domain), 53, files)
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    use sim_core::SimTime;

    use super::*;
    use crate::dns::kubernetes::tests::spec_view;
    use crate::dns::server::{Outcome, Transport};
    use crate::dns::view::ServiceKind;

    fn ask(s: &mut DnsServer, view: &crate::dns::DnsView, t: u64) -> String {
        let mut m = Message::query();
        m.metadata.id = 1;
        let name = Name::from_ascii("kubernetes.default.svc.cluster.local.").unwrap();
        m.add_query(Query::query(name, RecordType::A));
        let now = SimTime::from_nanos(t * 1_000_000_000);
        match s.handle(now, view, Transport::Udp, &m.to_vec().unwrap()) {
            Outcome::Reply(b) => Message::from_vec(&b).unwrap().answers[0].to_string(),
            other => panic!("{other:?}"),
        }
    }

    /// v2's dnsmasq keeps an answer for its TTL after the Service changed; v1 and v3 (kubeadm
    /// disables the cache for cluster.local) answer fresh.
    #[test]
    fn stale_answers_by_flavour() {
        let files = BTreeMap::from([("/etc/resolv.conf".into(), "nameserver 8.8.8.8\n".into())]);
        for (flavour, stale) in [
            (Flavour::SkyDns, false),
            (Flavour::KubeDns, true),
            (Flavour::CoreDns, false),
        ] {
            let mut s = flavour.server("cluster.local", &files).unwrap();
            let mut view = spec_view();
            assert!(
                ask(&mut s, &view, 0).ends_with(" 30 IN A 10.3.0.1"),
                "{flavour}"
            );
            let svc = view
                .services
                .get_mut(&("default".into(), "kubernetes".into()))
                .unwrap();
            svc.kind = ServiceKind::ClusterIp(vec!["10.3.0.77".parse().unwrap()]);
            let later = ask(&mut s, &view, 10);
            assert_eq!(
                later.ends_with("IN A 10.3.0.1"),
                stale,
                "{flavour}: {later}"
            );
            assert!(
                ask(&mut s, &view, 31).ends_with("IN A 10.3.0.77"),
                "{flavour}"
            );
        }
        assert_eq!("v1".parse(), Ok(Flavour::SkyDns));
        assert_eq!(Flavour::SkyDns.extra_watch_lag(), SKYDNS_ETCD_LAG);
        assert!("v4".parse::<Flavour>().is_err());
    }
}
