//! One Service port's share of a sync's `iptables-restore` text: the body of the per-Service
//! loop of `syncProxyRules` (`pkg/proxy/iptables/proxier.go`, Kubernetes 1.35), rule for rule.
//!
//! A Service port writes lines into the chains every Service shares (filter's
//! `KUBE-SERVICES`, `KUBE-EXTERNAL-SERVICES`, `KUBE-PROXY-FIREWALL`, `KUBE-NODEPORTS`; nat's
//! `KUBE-SERVICES`, `KUBE-NODEPORTS`) and into its own nat chains (`KUBE-SVC-`, `KUBE-SVL-`,
//! `KUBE-EXT-`, `KUBE-FW-`, `KUBE-SEP-`). Upstream writes both straight into its four
//! buffers; here they are kept apart, so that a proxier can keep each Service port's share
//! from its last sync and re-render only the Service ports that changed
//! ([`Proxier`](super::proxier::Proxier)), and [`render_on`](super::iptables::render_on)
//! lays them out in the same buffers, in the same order, as upstream's single loop does.
//!
//! What a Service port writes depends on it, its endpoints, the [`ProxierConfig`] (node name,
//! zone, node IP, masquerading, local detection, localhost NodePorts, nfacct) and whether the
//! sync is in large-cluster mode (no per-endpoint comments) — nothing else.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::endpoint::Endpoint;
use super::iptables::{
    KUBE_EXTERNAL_SERVICES, KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL, KUBE_SERVICES,
    NFACCT_LOCALHOST_NODEPORTS, ProxierConfig,
};
use super::service_port::ServicePort;
use super::topology::categorize;

/// What one Service port writes in one sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePortRules {
    /// Its rule lines in filter's shared chains, in the order written.
    pub filter: String,
    /// Its rule lines in nat's `KUBE-SERVICES` and `KUBE-NODEPORTS`, in the order written.
    pub nat_shared: String,
    /// The declarations (`:NAME - [0:0]`) of its own nat chains: the chains it uses, which a
    /// sync keeps.
    pub nat_chains: String,
    /// The rules of its own nat chains.
    pub nat_rules: String,
}

/// Appends one line.
fn line(buf: &mut String, args: std::fmt::Arguments<'_>) {
    let _ = buf.write_fmt(args);
    buf.push('\n');
}

/// Text appended to a line without the formatter: a full sync at 10,000 Services writes
/// 320,000 lines, most of them through [`push_line!`].
trait Push {
    fn push_to(&self, out: &mut String);
}

impl Push for str {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl Push for String {
    fn push_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

impl<T: Push + ?Sized> Push for &T {
    fn push_to(&self, out: &mut String) {
        (**self).push_to(out);
    }
}

/// Appends the pieces and a newline to a `String`.
macro_rules! push_line {
    ($buf:expr, $($piece:expr),+ $(,)?) => {{
        let buf: &mut String = $buf;
        $( Push::push_to(&$piece, buf); )+
        buf.push('\n');
    }};
}

/// [`Push`] as `Display`, for the lines still written through the formatter.
fn display(p: &impl Push, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let mut s = String::with_capacity(32);
    p.push_to(&mut s);
    f.write_str(&s)
}

impl ServicePortRules {
    /// The nat chains it uses, in the order declared.
    pub fn active_nat_chains(&self) -> impl Iterator<Item = &str> {
        self.nat_chains
            .lines()
            .filter_map(|l| l.strip_prefix(':')?.split(' ').next())
    }

    /// The bytes it adds to a sync's text: its shared lines, and with `own` its own chains.
    pub fn len(&self, own: bool) -> usize {
        let shared = self.filter.len() + self.nat_shared.len();
        if own {
            shared + self.nat_chains.len() + self.nat_rules.len()
        } else {
            shared
        }
    }

    /// Renders `svc` with its `endpoints` for the node in `cfg`.
    pub fn render(
        cfg: &ProxierConfig,
        large_cluster_mode: bool,
        svc: &ServicePort,
        endpoints: &[Endpoint],
    ) -> ServicePortRules {
        let mut out = ServicePortRules {
            nat_shared: String::with_capacity(256),
            ..ServicePortRules::default()
        };
        let mut sink = out.sink(true);
        ServicePortRules::render_into(cfg, large_cluster_mode, svc, endpoints, &mut sink);
        out
    }

    /// Its buffers as a [`Sink`]; without `rules_apart`, own chains' rules go with the shared
    /// nat lines.
    pub(crate) fn sink(&mut self, rules_apart: bool) -> Sink<'_> {
        Sink {
            filter: &mut self.filter,
            nat_chains: &mut self.nat_chains,
            nat_shared: &mut self.nat_shared,
            nat_rules: rules_apart.then_some(&mut self.nat_rules),
        }
    }

    /// [`ServicePortRules::render`], appended to `out`.
    pub(crate) fn render_into(
        cfg: &ProxierConfig,
        large_cluster_mode: bool,
        svc: &ServicePort,
        endpoints: &[Endpoint],
        out: &mut Sink<'_>,
    ) {
        let proto = svc.name.protocol.lower();
        let name = svc.name_string();
        let comment = |endpoint| Comment {
            off: large_cluster_mode,
            name: &name,
            endpoint,
        };
        let cat = categorize(endpoints, svc, &cfg.node_name, &cfg.zone);
        let cluster_chain = svc.cluster_policy_chain();
        let local_chain = svc.local_policy_chain();
        let uses_cluster_chain = !cat.cluster.is_empty() && svc.uses_cluster_endpoints();
        let uses_local_chain = !cat.local.is_empty() && svc.uses_local_endpoints();
        let has_endpoints = cat.has_any;

        let mut internal_chain = cluster_chain;
        let mut has_internal = has_endpoints;
        if svc.internal_policy_local {
            internal_chain = local_chain;
            has_internal &= !cat.local.is_empty();
        }
        let mut external_policy_chain = cluster_chain;
        let mut has_external = has_endpoints;
        if svc.external_policy_local {
            external_policy_chain = local_chain;
            has_external &= !cat.local.is_empty();
        }
        let external_chain = svc.external_chain();
        let uses_external_chain = has_endpoints && svc.externally_accessible();
        let fw_chain = svc.firewall_chain();
        let uses_fw_chain = has_endpoints
            && !svc.load_balancer_vips.is_empty()
            && !svc.load_balancer_source_ranges.is_empty();
        let lb_chain = if uses_fw_chain {
            fw_chain
        } else {
            external_chain
        };

        // The REJECT or DROP of internal and external traffic, and its comment's tail.
        let (internal_filter, external_filter, why) = if !has_endpoints {
            (Some("REJECT"), Some("REJECT"), "has no endpoints")
        } else {
            let drop = |has: bool| (!has).then_some("DROP");
            (
                drop(has_internal),
                drop(has_external),
                "has no local endpoints",
            )
        };
        let dst = |ip: Ipv4Addr, port: u16| Destination { proto, ip, port };
        let (filter, nat) = (&mut *out.filter, &mut *out.nat_shared);

        // ClusterIP.
        if has_internal {
            push_line!(
                nat,
                "-A ",
                KUBE_SERVICES,
                " -m comment --comment \"",
                name,
                " cluster IP\" ",
                dst(svc.cluster_ip, svc.port),
                " -j ",
                internal_chain
            );
        } else if let Some(target) = internal_filter {
            line(
                filter,
                format_args!(
                    "-A {KUBE_SERVICES} -m comment --comment \"{name} {why}\" {} -j {target}",
                    dst(svc.cluster_ip, svc.port)
                ),
            );
        }
        // External IPs.
        for ip in &svc.external_ips {
            if has_endpoints {
                line(
                    nat,
                    format_args!(
                        "-A {KUBE_SERVICES} -m comment --comment \"{name} external IP\" {} -j {external_chain}",
                        dst(*ip, svc.port)
                    ),
                );
            }
            if let Some(target) = external_filter {
                line(
                    filter,
                    format_args!(
                        "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment \"{name} {why}\" {} -j {target}",
                        dst(*ip, svc.port)
                    ),
                );
            }
        }
        // Load balancer VIPs.
        for ip in &svc.load_balancer_vips {
            if has_endpoints {
                line(
                    nat,
                    format_args!(
                        "-A {KUBE_SERVICES} -m comment --comment \"{name} loadbalancer IP\" {} -j {lb_chain}",
                        dst(*ip, svc.port)
                    ),
                );
            }
            if uses_fw_chain {
                line(
                    filter,
                    format_args!(
                        "-A {KUBE_PROXY_FIREWALL} -m comment --comment \"{name} traffic not accepted by {fw_chain}\" {} -j DROP",
                        dst(*ip, svc.port)
                    ),
                );
            }
        }
        if let Some(target) = external_filter {
            for ip in &svc.load_balancer_vips {
                line(
                    filter,
                    format_args!(
                        "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment \"{name} {why}\" {} -j {target}",
                        dst(*ip, svc.port)
                    ),
                );
            }
        }
        // NodePorts.
        if svc.node_port != 0 {
            if has_endpoints {
                if cfg.localhost_node_ports && cfg.nfacct {
                    line(
                        nat,
                        format_args!(
                            "-A {KUBE_NODEPORTS} -m comment --comment {} -m {proto} -p {proto} -d 127.0.0.0/8 --dport {} -m nfacct --nfacct-name {NFACCT_LOCALHOST_NODEPORTS} -j {external_chain}",
                            quote(&name),
                            svc.node_port
                        ),
                    );
                }
                line(
                    nat,
                    format_args!(
                        "-A {KUBE_NODEPORTS} -m comment --comment {} -m {proto} -p {proto} --dport {} -j {external_chain}",
                        quote(&name),
                        svc.node_port
                    ),
                );
            }
            if let Some(target) = external_filter {
                line(
                    filter,
                    format_args!(
                        "-A {KUBE_EXTERNAL_SERVICES} -m comment --comment \"{name} {why}\" -m addrtype --dst-type LOCAL -m {proto} -p {proto} --dport {} -j {target}",
                        svc.node_port
                    ),
                );
            }
        }
        if svc.health_check_node_port != 0 {
            line(
                filter,
                format_args!(
                    "-A {KUBE_NODEPORTS} -m comment --comment \"{name} health check node port\" -m tcp -p tcp --dport {} -j ACCEPT",
                    svc.health_check_node_port
                ),
            );
        }

        // Its own chains.
        if has_internal && (cfg.masquerade_all || cfg.local_detector.is_implemented()) {
            let nat = out.nat_rules();
            for piece in ["-A ", internal_chain, " -m comment --comment \"", &name] {
                nat.push_str(piece);
            }
            nat.push_str(" cluster IP\" ");
            dst(svc.cluster_ip, svc.port).push_to(nat);
            if !cfg.masquerade_all {
                nat.push(' ');
                cfg.local_detector.push_if_not_local(nat);
            }
            push_line!(nat, " -j ", KUBE_MARK_MASQ);
        }
        if uses_external_chain {
            out.chain(external_chain);
            let nat = out.nat_rules();
            if !svc.external_policy_local {
                line(
                    nat,
                    format_args!(
                        "-A {external_chain} -m comment --comment \"masquerade traffic for {name} external destinations\" -j {KUBE_MARK_MASQ}"
                    ),
                );
            } else {
                if cfg.local_detector.is_implemented() {
                    line(
                        nat,
                        format_args!(
                            "-A {external_chain} -m comment --comment \"pod traffic for {name} external destinations\" {} -j {cluster_chain}",
                            cfg.local_detector.if_local()
                        ),
                    );
                }
                line(
                    nat,
                    format_args!(
                        "-A {external_chain} -m comment --comment \"masquerade LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}"
                    ),
                );
                line(
                    nat,
                    format_args!(
                        "-A {external_chain} -m comment --comment \"route LOCAL traffic for {name} external destinations\" -m addrtype --src-type LOCAL -j {cluster_chain}"
                    ),
                );
            }
            if has_external {
                line(
                    nat,
                    format_args!("-A {external_chain} -j {external_policy_chain}"),
                );
            }
        }
        if uses_fw_chain {
            out.chain(fw_chain);
            let nat = out.nat_rules();
            let head = format!("-A {fw_chain} -m comment --comment \"{name} loadbalancer IP\"");
            let mut allow_from_node = false;
            for cidr in &svc.load_balancer_source_ranges {
                line(nat, format_args!("{head} -s {cidr} -j {external_chain}"));
                allow_from_node |= cidr.contains(&cfg.node_ip);
            }
            if allow_from_node {
                for ip in &svc.load_balancer_vips {
                    line(nat, format_args!("{head} -s {ip} -j {external_chain}"));
                }
            }
            line(
                nat,
                format_args!(
                    "-A {fw_chain} -m comment --comment \"other traffic to {name} will be dropped by {KUBE_PROXY_FIREWALL}\""
                ),
            );
        }
        // About the size of an endpoint's three lines.
        out.nat_rules().reserve(cat.all_reachable.len() * 320);
        out.nat_chains.reserve((cat.all_reachable.len() + 2) * 32);
        if uses_cluster_chain {
            out.chain(cluster_chain);
            write_service_to_endpoints(
                out.nat_rules(),
                svc.sticky_seconds,
                cluster_chain,
                &cat.cluster,
                &comment,
            );
        }
        if uses_local_chain {
            out.chain(local_chain);
            write_service_to_endpoints(
                out.nat_rules(),
                svc.sticky_seconds,
                local_chain,
                &cat.local,
                &comment,
            );
        }
        for ep in &cat.all_reachable {
            let chain = &ep.chain;
            out.chain(chain);
            let c = comment(None);
            push_line!(
                out.nat_rules(),
                "-A ",
                chain,
                c,
                " -s ",
                Ip(ep.ip),
                " -j ",
                KUBE_MARK_MASQ
            );
            let (recent, set) = match svc.sticky_seconds {
                Some(_) => (" -m recent --name ", " --set"),
                None => ("", ""),
            };
            let recent_name = if set.is_empty() { "" } else { chain.as_str() };
            push_line!(
                out.nat_rules(),
                "-A ",
                chain,
                c,
                recent,
                recent_name,
                set,
                " -m ",
                proto,
                " -p ",
                proto,
                " -j DNAT --to-destination ",
                Ip(ep.ip),
                ":",
                Port(ep.port)
            );
        }
    }
}

/// Where a Service port's lines go: a [`ServicePortRules`]' four buffers, or, for a whole
/// sync laid out at once, buffers every Service port appends to, in which a Service port's own
/// chains' rules follow its lines in the shared nat chains, as a sync writes them.
pub(crate) struct Sink<'a> {
    filter: &'a mut String,
    nat_chains: &'a mut String,
    nat_shared: &'a mut String,
    /// `None`: into `nat_shared`.
    nat_rules: Option<&'a mut String>,
}

impl Sink<'_> {
    fn nat_rules(&mut self) -> &mut String {
        match &mut self.nat_rules {
            Some(rules) => rules,
            None => self.nat_shared,
        }
    }

    /// Declares one of the Service port's own chains.
    fn chain(&mut self, name: &str) {
        push_line!(self.nat_chains, ":", name, " - [0:0]");
    }
}

/// `-m PROTO -p PROTO -d IP --dport PORT`.
struct Destination {
    proto: &'static str,
    ip: Ipv4Addr,
    port: u16,
}

impl Push for Destination {
    fn push_to(&self, out: &mut String) {
        let Destination { proto, ip, port } = self;
        for piece in ["-m ", proto, " -p ", proto, " -d "] {
            out.push_str(piece);
        }
        Ip(*ip).push_to(out);
        out.push_str(" --dport ");
        Port(*port).push_to(out);
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        display(self, f)
    }
}

/// ` -m comment --comment TEXT` (TEXT quoted when it has a space): the Service port's name,
/// or with an endpoint `NAME -> IP:PORT`; nothing in large-cluster mode.
struct Comment<'a> {
    off: bool,
    name: &'a str,
    endpoint: Option<&'a Endpoint>,
}

impl Push for Comment<'_> {
    fn push_to(&self, out: &mut String) {
        match (self.off, self.endpoint) {
            (true, _) => {}
            (false, Some(ep)) => {
                out.push_str(" -m comment --comment \"");
                out.push_str(self.name);
                out.push_str(" -> ");
                Ip(ep.ip).push_to(out);
                out.push(':');
                Port(ep.port).push_to(out);
                out.push('"');
            }
            (false, None) => {
                out.push_str(" -m comment --comment ");
                push_quoted(out, self.name);
            }
        }
    }
}

impl std::fmt::Display for Comment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        display(self, f)
    }
}

/// `writeServiceToEndpointRules`: affinity checks first, then the probability ladder.
fn write_service_to_endpoints<'a>(
    nat: &mut String,
    sticky_seconds: Option<u32>,
    chain: &str,
    endpoints: &[&'a Endpoint],
    comment: &dyn Fn(Option<&'a Endpoint>) -> Comment<'a>,
) {
    if let Some(seconds) = sticky_seconds {
        for ep in endpoints {
            let sep = &ep.chain;
            line(
                nat,
                format_args!(
                    "-A {chain}{} -m recent --name {sep} --rcheck --seconds {seconds} --reap -j {sep}",
                    comment(Some(ep))
                ),
            );
        }
    }
    let n = endpoints.len();
    for (i, ep) in endpoints.iter().enumerate() {
        let sep = &ep.chain;
        let c = comment(Some(ep));
        if i + 1 < n {
            push_line!(
                nat,
                "-A ",
                chain,
                c,
                " -m statistic --mode random --probability ",
                Probability(n - i),
                " -j ",
                sep
            );
        } else {
            push_line!(nat, "-A ", chain, c, " -j ", sep);
        }
    }
}

/// An address as `Ipv4Addr` prints it, written without the formatter's padding machinery (a
/// full sync at 10,000 Services prints 400,000 of them).
struct Ip(Ipv4Addr);

impl Push for Ip {
    fn push_to(&self, out: &mut String) {
        let mut buf = [0u8; 15];
        let mut n = 0;
        for (i, o) in self.0.octets().into_iter().enumerate() {
            if i > 0 {
                buf[n] = b'.';
                n += 1;
            }
            n += decimal(u32::from(o), &mut buf[n..]);
        }
        out.push_str(std::str::from_utf8(&buf[..n]).expect("ASCII digits"));
    }
}

/// A port as `u16` prints it (see [`Ip`]).
struct Port(u16);

impl Push for Port {
    fn push_to(&self, out: &mut String) {
        let mut buf = [0u8; 5];
        let n = decimal(u32::from(self.0), &mut buf);
        out.push_str(std::str::from_utf8(&buf[..n]).expect("ASCII digits"));
    }
}

/// Writes `v` in decimal at the start of `out`; returns its length.
fn decimal(mut v: u32, out: &mut [u8]) -> usize {
    let mut digits = [0u8; 10];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for (i, d) in digits[..n].iter().rev().enumerate() {
        out[i] = *d;
    }
    n
}

/// `computeProbability`'s `1/n` with ten decimals (Go's `%0.10f`); like upstream's
/// `precomputeProbabilities`, the strings for up to 1,000 endpoints are made once.
struct Probability(usize);

/// How many probabilities are kept made.
const PRECOMPUTED_PROBABILITIES: usize = 1000;

impl Push for Probability {
    fn push_to(&self, out: &mut String) {
        static MADE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        let made = MADE.get_or_init(|| {
            (0..=PRECOMPUTED_PROBABILITIES)
                .map(|n| format!("{:.10}", 1.0 / n as f64))
                .collect()
        });
        match made.get(self.0) {
            Some(p) => out.push_str(p),
            None => {
                let _ = write!(out, "{:.10}", 1.0 / self.0 as f64);
            }
        }
    }
}

/// A comment argument as kube-proxy writes it: bare when it has no space, else double-quoted.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    out
}

/// [`quote`], appended.
fn push_quoted(out: &mut String, s: &str) {
    if s.contains(' ') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: impl Push) -> String {
        let mut s = String::new();
        p.push_to(&mut s);
        s
    }

    #[test]
    fn numbers_print_as_the_standard_formatter_prints_them() {
        for v in [0u8, 1, 9, 10, 99, 100, 199, 200, 255] {
            let ip = Ipv4Addr::new(v, 255 - v, v / 2, 10);
            assert_eq!(text(Ip(ip)), ip.to_string());
        }
        for p in (0..=u16::MAX).step_by(7).chain([9, 10, 99, 100, 65535]) {
            assert_eq!(text(Port(p)), p.to_string());
        }
        for n in [1, 2, 3, 7, 10, 999, 1000, 1001, 5000] {
            assert_eq!(text(Probability(n)), format!("{:.10}", 1.0 / n as f64));
        }
    }
}
