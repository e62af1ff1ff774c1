//! Conntrack configuration: the `net.netfilter.nf_conntrack_*` sysctls the model reads, with
//! Linux's defaults as documented in Documentation/networking/nf_conntrack-sysctl.rst and set
//! in the protocol trackers (nf_conntrack_proto_{tcp,udp,icmp,icmpv6,generic}.c).

use sim_core::SimDuration;

use super::tcp::TcpState;

/// Per-state and per-protocol timeouts: how long an entry lives after the last packet that
/// refreshed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Linux default: 120 s (`nf_conntrack_tcp_timeout_syn_sent`).
    pub tcp_syn_sent: SimDuration,
    /// Linux default: 60 s (`nf_conntrack_tcp_timeout_syn_recv`).
    pub tcp_syn_recv: SimDuration,
    /// Linux default: 432000 s, 5 days (`nf_conntrack_tcp_timeout_established`); kube-proxy
    /// sets 86400 s (`conntrack.tcpEstablishedTimeout: 24h`).
    pub tcp_established: SimDuration,
    /// Linux default: 120 s (`nf_conntrack_tcp_timeout_fin_wait`).
    pub tcp_fin_wait: SimDuration,
    /// Linux default: 60 s (`nf_conntrack_tcp_timeout_close_wait`); kube-proxy sets 3600 s
    /// (`conntrack.tcpCloseWaitTimeout: 1h`).
    pub tcp_close_wait: SimDuration,
    /// Linux default: 30 s (`nf_conntrack_tcp_timeout_last_ack`).
    pub tcp_last_ack: SimDuration,
    /// Linux default: 120 s (`nf_conntrack_tcp_timeout_time_wait`).
    pub tcp_time_wait: SimDuration,
    /// Linux default: 10 s (`nf_conntrack_tcp_timeout_close`); also the timeout after any RST.
    pub tcp_close: SimDuration,
    /// Linux default: 120 s, `tcp_timeouts[TCP_CONNTRACK_SYN_SENT2]` (no sysctl of its own).
    pub tcp_syn_sent2: SimDuration,
    /// Linux default: 300 s (`nf_conntrack_tcp_timeout_unacknowledged`); caps a connection
    /// picked up mid-stream until it sees a reply.
    pub tcp_unacknowledged: SimDuration,
    /// Linux default: 30 s (`nf_conntrack_udp_timeout`).
    pub udp: SimDuration,
    /// Linux default: 120 s (`nf_conntrack_udp_timeout_stream`); it was 180 s until Linux 5.0
    /// (commit 294304e4c522, "netfilter: conntrack: udp: set stream timeout to 2 minutes").
    pub udp_stream: SimDuration,
    /// Linux default: 30 s (`nf_conntrack_icmp_timeout`).
    pub icmp: SimDuration,
    /// Linux default: 30 s (`nf_conntrack_icmpv6_timeout`).
    pub icmpv6: SimDuration,
    /// Linux default: 600 s (`nf_conntrack_generic_timeout`); in this model also SCTP, DCCP,
    /// UDP-Lite and GRE, which Linux tracks with trackers of their own.
    pub generic: SimDuration,
}

impl Default for Timeouts {
    fn default() -> Self {
        let s = SimDuration::from_secs;
        Timeouts {
            tcp_syn_sent: s(120),
            tcp_syn_recv: s(60),
            tcp_established: s(432_000),
            tcp_fin_wait: s(120),
            tcp_close_wait: s(60),
            tcp_last_ack: s(30),
            tcp_time_wait: s(120),
            tcp_close: s(10),
            tcp_syn_sent2: s(120),
            tcp_unacknowledged: s(300),
            udp: s(30),
            udp_stream: s(120),
            icmp: s(30),
            icmpv6: s(30),
            generic: s(600),
        }
    }
}

impl Timeouts {
    /// The timeout of a TCP state (`tcp_timeouts[state]`). `None` has none: the tracker never
    /// leaves an entry in it.
    pub fn tcp(&self, state: TcpState) -> SimDuration {
        match state {
            TcpState::None => SimDuration::ZERO,
            TcpState::SynSent => self.tcp_syn_sent,
            TcpState::SynRecv => self.tcp_syn_recv,
            TcpState::Established => self.tcp_established,
            TcpState::FinWait => self.tcp_fin_wait,
            TcpState::CloseWait => self.tcp_close_wait,
            TcpState::LastAck => self.tcp_last_ack,
            TcpState::TimeWait => self.tcp_time_wait,
            TcpState::Close => self.tcp_close,
            TcpState::SynSent2 => self.tcp_syn_sent2,
        }
    }
}

/// Everything the conntrack table reads from `net.netfilter.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConntrackConfig {
    /// `nf_conntrack_max`. Linux sets it to `nf_conntrack_buckets` (max factor 1 when the
    /// bucket count is not given); the bucket count is RAM / 16384 / sizeof(hlist_head),
    /// clamped to 1024..=262144, and exactly 262144 on a 64-bit machine with more than 4 GiB
    /// (`nf_conntrack_init_start`, net/netfilter/nf_conntrack_core.c). Default here: 262144.
    /// kube-proxy raises it to max(`conntrack.maxPerCore` 32768 × cores, `conntrack.min`
    /// 131072).
    pub max: usize,
    /// `nf_conntrack_tcp_loose`, Linux default 1: a TCP packet other than a SYN may open a
    /// conntrack ("pick up" an established connection). With 0 such packets are INVALID.
    pub tcp_loose: bool,
    /// `nf_conntrack_tcp_be_liberal`, Linux default 0: out-of-window packets are INVALID.
    /// Windows are not tracked here, so it is only kept (kube-proxy reads and may set it).
    pub tcp_be_liberal: bool,
    pub timeouts: Timeouts,
}

impl Default for ConntrackConfig {
    fn default() -> Self {
        ConntrackConfig {
            max: 262_144,
            tcp_loose: true,
            tcp_be_liberal: false,
            timeouts: Timeouts::default(),
        }
    }
}

/// A sysctl the model does not know, or a value it cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConntrackSysctlError {
    #[error("unknown conntrack sysctl {0:?}")]
    Unknown(String),
    #[error("invalid value {value:?} for {key}: expected {expected}")]
    Value {
        key: String,
        value: String,
        expected: &'static str,
    },
}

impl ConntrackConfig {
    /// kube-proxy's settings on top of Linux's (pkg/proxy/apis/config/v1alpha1/defaults.go):
    /// `tcp_timeout_established` 24 h, `tcp_timeout_close_wait` 1 h.
    pub fn kube_proxy() -> Self {
        let mut c = ConntrackConfig::default();
        c.timeouts.tcp_established = SimDuration::from_secs(86_400);
        c.timeouts.tcp_close_wait = SimDuration::from_secs(3_600);
        c
    }

    /// Sets a value by its `sysctl -w` name (`net.netfilter.nf_conntrack_udp_timeout`, dots
    /// or slashes; the `net.netfilter.` prefix is optional). Timeouts are whole seconds.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConntrackSysctlError> {
        let k = key.replace('/', ".");
        let name = k.strip_prefix("net.netfilter.").unwrap_or(&k);
        let int = |expected| {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| ConntrackSysctlError::Value {
                    key: k.clone(),
                    value: value.to_string(),
                    expected,
                })
        };
        let secs = || int("whole seconds").map(SimDuration::from_secs);
        let t = &mut self.timeouts;
        match name {
            "nf_conntrack_max" => {
                self.max = usize::try_from(int("an entry count")?).unwrap_or(usize::MAX)
            }
            "nf_conntrack_tcp_loose" => self.tcp_loose = int("0 or 1")? != 0,
            "nf_conntrack_tcp_be_liberal" => self.tcp_be_liberal = int("0 or 1")? != 0,
            "nf_conntrack_tcp_timeout_syn_sent" => t.tcp_syn_sent = secs()?,
            "nf_conntrack_tcp_timeout_syn_recv" => t.tcp_syn_recv = secs()?,
            "nf_conntrack_tcp_timeout_established" => t.tcp_established = secs()?,
            "nf_conntrack_tcp_timeout_fin_wait" => t.tcp_fin_wait = secs()?,
            "nf_conntrack_tcp_timeout_close_wait" => t.tcp_close_wait = secs()?,
            "nf_conntrack_tcp_timeout_last_ack" => t.tcp_last_ack = secs()?,
            "nf_conntrack_tcp_timeout_time_wait" => t.tcp_time_wait = secs()?,
            "nf_conntrack_tcp_timeout_close" => t.tcp_close = secs()?,
            "nf_conntrack_tcp_timeout_unacknowledged" => t.tcp_unacknowledged = secs()?,
            "nf_conntrack_udp_timeout" => t.udp = secs()?,
            "nf_conntrack_udp_timeout_stream" => t.udp_stream = secs()?,
            "nf_conntrack_icmp_timeout" => t.icmp = secs()?,
            "nf_conntrack_icmpv6_timeout" => t.icmpv6 = secs()?,
            "nf_conntrack_generic_timeout" => t.generic = secs()?,
            _ => return Err(ConntrackSysctlError::Unknown(key.to_string())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_linux_and_kube_proxy_overrides_two() {
        let d = ConntrackConfig::default();
        assert_eq!(d.max, 262_144);
        assert!(d.tcp_loose);
        assert_eq!(
            d.timeouts.tcp(TcpState::Established),
            SimDuration::from_secs(432_000)
        );
        assert_eq!(d.timeouts.udp_stream, SimDuration::from_secs(120));
        let k = ConntrackConfig::kube_proxy();
        assert_eq!(k.timeouts.tcp_established, SimDuration::from_secs(86_400));
        assert_eq!(k.timeouts.tcp_close_wait, SimDuration::from_secs(3_600));
        assert_eq!(k.timeouts.tcp_time_wait, d.timeouts.tcp_time_wait);
    }

    #[test]
    fn set_by_sysctl_name() {
        let mut c = ConntrackConfig::default();
        c.set("net/netfilter/nf_conntrack_udp_timeout", "60")
            .unwrap();
        c.set("nf_conntrack_max", "131072").unwrap();
        c.set("net.netfilter.nf_conntrack_tcp_loose", "0").unwrap();
        assert_eq!(c.timeouts.udp, SimDuration::from_secs(60));
        assert_eq!(c.max, 131_072);
        assert!(!c.tcp_loose);
        assert!(matches!(
            c.set("nf_conntrack_udp_timeout", "soon"),
            Err(ConntrackSysctlError::Value { .. })
        ));
        assert!(matches!(
            c.set("nf_conntrack_bogus", "1"),
            Err(ConntrackSysctlError::Unknown(_))
        ));
    }
}
