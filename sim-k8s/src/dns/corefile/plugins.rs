//! Server blocks' directives turned into plugin configurations ([`ServerConfig`]), checked as
//! CoreDNS's `setup.go` files check them.
//!
//! | plugin | modelled |
//! | --- | --- |
//! | `kubernetes [ZONES]` | `pods`, `ttl` (0–3600), `endpoint_pod_names`, `fallthrough [ZONES]`, `namespaces`; `kubeconfig`, `endpoint`, `tls`, `startup_timeout` accepted and ignored (API connection) |
//! | `forward FROM TO...` | addresses `IP[:PORT]`, `dns://IP[:PORT]`, or a resolv.conf path read from the supplied files; `except`; other options accepted, recorded in [`ServerConfig::ignored`] |
//! | `cache [TTL] [ZONES]` | `success`/`denial CAPACITY [TTL [MINTTL]]`, `disable success|denial [ZONES]`; `prefetch`, `serve_stale`, `keepttl`, `servfail` recorded as ignored |
//! | `hosts [FILE [ZONES]]` | inline lines, FILE from the supplied files (absent = empty, as CoreDNS warns and goes on), `ttl`, `no_reverse`, `fallthrough`; `reload` ignored |
//! | `rewrite [continue|stop] name [exact|prefix|suffix|substring] FROM TO [answer auto]` | see [`crate::dns::rewrite`] |
//! | `errors`, `log` | append to the server's log |
//! | `health`, `ready`, `prometheus`, `loop`, `reload`, `loadbalance` | accepted, no effect (no HTTP endpoints, no reload, A records in fixed order) |
//!
//! Plugins run in CoreDNS's `plugin.cfg` order, whatever the Corefile order: errors, log,
//! cache, rewrite, hosts, kubernetes, forward. A plugin given twice in a block is an error
//! (except `rewrite`), as in CoreDNS. Any other plugin name is an error naming its line.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;

use super::{CorefileError, Directive, ServerBlock};
use crate::dns::cache::CacheConfig;
use crate::dns::forward::ForwardConfig;
use crate::dns::hosts::HostsConfig;
use crate::dns::kubernetes::{Fallthrough, KubernetesConfig, PodMode};
use crate::dns::reply::parse_fqdn;
use crate::dns::rewrite::{MatchType, RewriteRule};
use crate::kubelet::resolv_conf::parse_resolv_conf;

/// Plugins accepted without effect.
pub const IGNORED_PLUGINS: [&str; 6] = [
    "health",
    "ready",
    "prometheus",
    "loop",
    "reload",
    "loadbalance",
];

/// One server block's plugin chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `(zone, port)` of each key.
    pub keys: Vec<(Name, u16)>,
    pub errors: bool,
    pub log: bool,
    pub cache: Option<CacheConfig>,
    pub rewrites: Vec<RewriteRule>,
    pub hosts: Option<HostsConfig>,
    pub kubernetes: Option<KubernetesConfig>,
    pub forward: Option<ForwardConfig>,
    /// Directives and options accepted without effect, as `line: text`.
    pub ignored: Vec<String>,
}

/// Builds the chain of `block`; `files` holds the contents of files plugins name
/// (`/etc/resolv.conf` for `forward`, hosts files), keyed by path.
pub fn setup(
    block: &ServerBlock,
    files: &BTreeMap<String, String>,
) -> Result<ServerConfig, CorefileError> {
    let block_zones: Vec<Name> = block.keys.iter().map(|k| k.zone.clone()).collect();
    let mut cfg = ServerConfig {
        keys: block
            .keys
            .iter()
            .map(|k| (k.zone.clone(), k.port))
            .collect(),
        errors: false,
        log: false,
        cache: None,
        rewrites: Vec::new(),
        hosts: None,
        kubernetes: None,
        forward: None,
        ignored: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for d in &block.directives {
        if d.name != "rewrite" && !seen.insert(d.name.clone()) {
            return Err(err(
                d,
                "this plugin can only be used once per server block".into(),
            ));
        }
        match d.name.as_str() {
            "errors" => cfg.errors = true,
            "log" => cfg.log = true,
            "kubernetes" => cfg.kubernetes = Some(kubernetes(d, &block_zones)?),
            "forward" => cfg.forward = Some(forward(d, files)?),
            "cache" => cfg.cache = Some(cache(d, &block_zones, &mut cfg.ignored)?),
            "hosts" => cfg.hosts = Some(hosts(d, &block_zones, files)?),
            "rewrite" => cfg.rewrites.push(rewrite(d)?),
            name if IGNORED_PLUGINS.contains(&name) => {
                cfg.ignored.push(format!("{}: {name}", d.line))
            }
            name => {
                return Err(err(
                    d,
                    format!(
                        "unknown plugin '{name}' (expected one of errors, log, cache, rewrite, hosts, kubernetes, forward, {})",
                        IGNORED_PLUGINS.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(cfg)
}

fn err(d: &Directive, message: String) -> CorefileError {
    CorefileError::plugin(d.line, d.column, &d.name, message)
}

fn zones(d: &Directive, args: &[String], default: &[Name]) -> Result<Vec<Name>, CorefileError> {
    if args.is_empty() {
        return Ok(default.to_vec());
    }
    args.iter()
        .map(|a| {
            parse_fqdn(&a.to_ascii_lowercase())
                .ok_or_else(|| err(d, format!("expected a zone name, found '{a}'")))
        })
        .collect()
}

fn number<T: std::str::FromStr>(
    d: &Directive,
    what: &str,
    s: Option<&String>,
) -> Result<T, CorefileError> {
    let s = s.ok_or_else(|| err(d, format!("expected {what}")))?;
    s.parse()
        .map_err(|_| err(d, format!("expected {what}, found '{s}'")))
}

fn no_block(d: &Directive) -> Result<(), CorefileError> {
    match d.block.first() {
        Some(o) => Err(err(o, format!("{} takes no block", d.name))),
        None => Ok(()),
    }
}

fn kubernetes(d: &Directive, block_zones: &[Name]) -> Result<KubernetesConfig, CorefileError> {
    let mut k = KubernetesConfig::new(zones(d, &d.args, block_zones)?);
    for o in &d.block {
        match o.name.as_str() {
            "pods" => {
                k.pods = match o.args.first().map(String::as_str) {
                    Some("disabled") => PodMode::Disabled,
                    Some("verified") => PodMode::Verified,
                    Some("insecure") => PodMode::Insecure,
                    other => {
                        return Err(err(
                            o,
                            format!(
                                "expected disabled, verified or insecure, found {}",
                                other.map_or("nothing".into(), |s| format!("'{s}'"))
                            ),
                        ));
                    }
                }
            }
            "ttl" => {
                let ttl: u32 = number(o, "a TTL in seconds", o.args.first())?;
                if ttl > 3600 {
                    return Err(err(o, format!("ttl must be in range [0, 3600]: {ttl}")));
                }
                k.ttl_s = ttl;
            }
            "endpoint_pod_names" => k.endpoint_pod_names = true,
            "fallthrough" => k.fallthrough = Fallthrough::Zones(zones(o, &o.args, &[])?),
            "namespaces" => k.namespaces = o.args.iter().cloned().collect(),
            "kubeconfig" | "endpoint" | "tls" | "startup_timeout" => {}
            other => return Err(err(o, format!("unknown property '{other}'"))),
        }
    }
    Ok(k)
}

/// `IP`, `IP:PORT`, `[IPv6]:PORT`, with an optional `dns://`.
fn upstream(text: &str) -> Option<SocketAddr> {
    let text = text.strip_prefix("dns://").unwrap_or(text);
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    text.parse().ok()
}

fn forward(
    d: &Directive,
    files: &BTreeMap<String, String>,
) -> Result<ForwardConfig, CorefileError> {
    let Some(from) = d.args.first() else {
        return Err(err(d, "expected FROM and at least one TO".into()));
    };
    let from = parse_fqdn(&from.to_ascii_lowercase())
        .ok_or_else(|| err(d, format!("expected a zone to forward, found '{from}'")))?;
    let mut upstreams = Vec::new();
    for to in &d.args[1..] {
        if to.starts_with('/') {
            let text = files
                .get(to)
                .ok_or_else(|| err(d, format!("file '{to}' was not supplied to the simulation")))?;
            let rc = parse_resolv_conf(text).map_err(|e| err(d, format!("{to}: {e}")))?;
            upstreams.extend(rc.nameservers.iter().filter_map(|ns| upstream(ns)));
        } else if let Some(addr) = upstream(to) {
            upstreams.push(addr);
        } else {
            return Err(err(
                d,
                format!("expected IP[:PORT], dns://IP[:PORT] or a resolv.conf path, found '{to}'"),
            ));
        }
    }
    if upstreams.is_empty() {
        return Err(err(d, "expected at least one upstream".into()));
    }
    let mut except = Vec::new();
    for o in &d.block {
        if o.name == "except" {
            except = zones(o, &o.args, &[])?;
        }
    }
    Ok(ForwardConfig {
        from,
        upstreams,
        except,
    })
}

fn cache(
    d: &Directive,
    block_zones: &[Name],
    ignored: &mut Vec<String>,
) -> Result<CacheConfig, CorefileError> {
    let mut args = d.args.as_slice();
    let mut ttl = None;
    if let Some(first) = args.first()
        && first.chars().all(|c| c.is_ascii_digit())
    {
        ttl = Some(number::<u32>(d, "a TTL in seconds", Some(first))?);
        args = &args[1..];
    }
    let mut c = CacheConfig::new(zones(d, args, block_zones)?);
    if let Some(ttl) = ttl {
        c.success.max_ttl_s = ttl;
        c.denial.max_ttl_s = ttl;
    }
    for o in &d.block {
        match o.name.as_str() {
            "success" | "denial" => {
                let kind = if o.name == "success" {
                    &mut c.success
                } else {
                    &mut c.denial
                };
                kind.capacity = number(o, "a capacity", o.args.first())?;
                if o.args.len() > 1 {
                    kind.max_ttl_s = number(o, "a TTL in seconds", o.args.get(1))?;
                }
                if o.args.len() > 2 {
                    kind.min_ttl_s = number(o, "a minimum TTL in seconds", o.args.get(2))?;
                }
            }
            "disable" => {
                let kind = match o.args.first().map(String::as_str) {
                    Some("success") => &mut c.success,
                    Some("denial") => &mut c.denial,
                    _ => return Err(err(o, "expected success or denial".into())),
                };
                kind.disabled = zones(o, &o.args[1..], block_zones)?;
            }
            "prefetch" | "serve_stale" | "keepttl" | "servfail" => {
                ignored.push(format!("{}: cache {}", o.line, o.name));
            }
            other => return Err(err(o, format!("unknown property '{other}'"))),
        }
    }
    Ok(c)
}

fn hosts(
    d: &Directive,
    block_zones: &[Name],
    files: &BTreeMap<String, String>,
) -> Result<HostsConfig, CorefileError> {
    let file = d.args.first().map_or("/etc/hosts", String::as_str);
    let origins = zones(d, d.args.get(1..).unwrap_or(&[]), block_zones)?;
    let mut h = HostsConfig::new(origins);
    for line in files.get(file).map(String::as_str).unwrap_or("").lines() {
        h.add_line(line);
    }
    for o in &d.block {
        match o.name.as_str() {
            "ttl" => h.ttl_s = number(o, "a TTL in seconds", o.args.first())?,
            "no_reverse" => h.no_reverse = true,
            "reload" => {}
            "fallthrough" => h.fallthrough = Fallthrough::Zones(zones(o, &o.args, &[])?),
            name if name.parse::<IpAddr>().is_ok() => {
                h.add_line(&format!("{name} {}", o.args.join(" ")));
            }
            other => {
                return Err(err(
                    o,
                    format!(
                        "expected an inline hosts line or ttl, no_reverse, reload, fallthrough; found '{other}'"
                    ),
                ));
            }
        }
    }
    Ok(h)
}

fn rewrite(d: &Directive) -> Result<RewriteRule, CorefileError> {
    no_block(d)?;
    let mut args: Vec<&str> = d.args.iter().map(String::as_str).collect();
    let stop = match args.first() {
        Some(&"continue") => {
            args.remove(0);
            false
        }
        Some(&"stop") => {
            args.remove(0);
            true
        }
        _ => true,
    };
    match args.first() {
        Some(&"name") => {}
        Some(field) => {
            return Err(err(
                d,
                format!("only 'name' rewrites are modelled, found '{field}'"),
            ));
        }
        None => return Err(err(d, "expected a field such as 'name'".into())),
    }
    let rest = &args[1..];
    let (match_type, rest) =
        match rest.first() {
            Some(&"exact") => (MatchType::Exact, &rest[1..]),
            Some(&"prefix") => (MatchType::Prefix, &rest[1..]),
            Some(&"suffix") => (MatchType::Suffix, &rest[1..]),
            Some(&"substring") => (MatchType::Substring, &rest[1..]),
            Some(&"regex") => return Err(err(
                d,
                "regex rewrites are not supported (no regular-expression engine in the simulator)"
                    .into(),
            )),
            _ => (MatchType::Exact, rest),
        };
    let answer_auto = match rest.get(2..) {
        None | Some([]) => false,
        Some(["answer", "auto"]) => true,
        Some(other) => {
            return Err(err(
                d,
                format!(
                    "expected 'answer auto' after FROM TO, found '{}'",
                    other.join(" ")
                ),
            ));
        }
    };
    match rest {
        [from, to, ..] => Ok(RewriteRule::new(stop, match_type, from, to, answer_auto)),
        _ => Err(err(d, "expected FROM and TO names".into())),
    }
}
