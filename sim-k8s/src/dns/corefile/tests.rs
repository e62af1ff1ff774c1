//! Corefile parser and plugin setup tests: the kubeadm Corefile, CoreDNS manual examples,
//! and errors with line and column.

use std::collections::BTreeMap;

use super::plugins::setup;
use super::*;
use crate::dns::kubernetes::{Fallthrough, PodMode};

fn files() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "/etc/resolv.conf".to_owned(),
        "nameserver 192.168.0.2\nnameserver 192.168.0.3\n".to_owned(),
    )])
}

#[test]
fn kubeadm_corefile() {
    let cf = Corefile::parse(KUBEADM_COREFILE).unwrap();
    assert_eq!(cf.server_blocks.len(), 1);
    let b = &cf.server_blocks[0];
    assert_eq!(
        (b.keys[0].zone.to_string(), b.keys[0].port),
        (".".into(), 53)
    );
    let names: Vec<&str> = b.directives.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "errors",
            "health",
            "ready",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );
    let k = &b.directives[3];
    assert_eq!(k.args, ["cluster.local", "in-addr.arpa", "ip6.arpa"]);
    assert_eq!((k.line, k.column), (7, 5));
    assert_eq!(k.block[1].name, "fallthrough");

    let cfg = setup(b, &files()).unwrap();
    let kube = cfg.kubernetes.as_ref().unwrap();
    assert_eq!(kube.pods, PodMode::Insecure);
    assert_eq!(kube.ttl_s, 30);
    assert_eq!(kube.zones.len(), 3);
    assert!(matches!(&kube.fallthrough, Fallthrough::Zones(z) if z.len() == 2));
    let fwd = cfg.forward.as_ref().unwrap();
    assert_eq!(
        fwd.upstreams,
        [
            "192.168.0.2:53".parse().unwrap(),
            "192.168.0.3:53".parse().unwrap()
        ]
    );
    let cache = cfg.cache.as_ref().unwrap();
    assert_eq!((cache.success.max_ttl_s, cache.denial.max_ttl_s), (30, 30));
    assert_eq!(cache.success.disabled[0].to_string(), "cluster.local.");
    assert!(cfg.errors && !cfg.log);
    assert_eq!(cfg.ignored.len(), 6);
}

#[test]
fn keys_blocks_quotes_and_braceless_file() {
    let cf = Corefile::parse(
        "# comment\ndns://cluster.local:1053, Example.ORG {\n  hosts {\n    10.0.0.1 \"a.example.org\"\n    fallthrough\n  }\n  log\n}\n.:53 { forward . 1.1.1.1:5353 }\n",
    )
    .unwrap();
    let keys: Vec<(String, u16)> = cf.server_blocks[0]
        .keys
        .iter()
        .map(|k| (k.zone.to_string(), k.port))
        .collect();
    assert_eq!(
        keys,
        [("cluster.local.".into(), 1053), ("example.org.".into(), 53)]
    );
    let hosts = setup(&cf.server_blocks[0], &BTreeMap::new())
        .unwrap()
        .hosts
        .unwrap();
    assert_eq!(
        hosts.names["a.example.org"],
        ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(hosts.origins.len(), 2);
    let one_line = &cf.server_blocks[1].directives[0];
    assert_eq!(
        (one_line.name.as_str(), one_line.args.len()),
        ("forward", 2)
    );

    let braceless = Corefile::parse("example.org\nhosts\nlog\n").unwrap();
    assert_eq!(braceless.server_blocks[0].directives.len(), 2);
}

#[test]
fn syntax_errors_name_line_and_column() {
    let e = |text: &str| Corefile::parse(text).unwrap_err().to_string();
    assert_eq!(
        e(".:53 {\n  errors\n"),
        "Corefile:2:9: expected '}' to close the block opened at line 1, found end of file"
    );
    assert_eq!(
        e("{\n errors\n}"),
        "Corefile:1:1: expected a server address such as `.:53` or `cluster.local:53` before '{', found '{'"
    );
    assert_eq!(
        e(".:53 {\n}\n}\n"),
        "Corefile:3:1: expected a server address such as `.:53`, found '}' with no block open"
    );
    assert_eq!(
        e(".:53 {\n}\nexample.org\n"),
        "Corefile:3:1: expected '{' to open this server block, found end of file"
    );
    assert_eq!(
        e("tls://.:853 {\n}"),
        "Corefile:1:1: expected a server address [dns://]ZONE[:PORT] such as `.:53` (scheme tls:// is not supported), found 'tls://.:853'"
    );
    assert_eq!(
        e(".:dns {\n}"),
        "Corefile:1:1: expected a server address [dns://]ZONE[:PORT] such as `.:53` (the port is not a number), found '.:dns'"
    );
    assert_eq!(
        e(".:53 {\n  import common\n}"),
        "Corefile:2:3: import: import is not supported; paste the imported text in place"
    );
    assert_eq!(
        e(""),
        "Corefile:1:1: expected a server block such as `.:53 { ... }`, found an empty file"
    );
}

#[test]
fn plugin_errors_name_line() {
    let e = |text: &str| {
        let cf = Corefile::parse(text).unwrap();
        setup(&cf.server_blocks[0], &files())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e(".:53 {\n  errors\n  whoami\n}"),
        "Corefile:3:3: whoami: unknown plugin 'whoami' (expected one of errors, log, cache, rewrite, hosts, kubernetes, forward, health, ready, prometheus, loop, reload, loadbalance)"
    );
    assert_eq!(
        e(".:53 {\n  kubernetes cluster.local {\n    pods sometimes\n  }\n}"),
        "Corefile:3:5: pods: expected disabled, verified or insecure, found 'sometimes'"
    );
    assert_eq!(
        e(".:53 {\n  kubernetes {\n    ttl 7200\n  }\n}"),
        "Corefile:3:5: ttl: ttl must be in range [0, 3600]: 7200"
    );
    assert_eq!(
        e(".:53 {\n  cache\n  cache 10\n}"),
        "Corefile:3:3: cache: this plugin can only be used once per server block"
    );
    assert_eq!(
        e(".:53 {\n  forward . /etc/other.conf\n}"),
        "Corefile:2:3: forward: file '/etc/other.conf' was not supplied to the simulation"
    );
    assert_eq!(
        e(".:53 {\n rewrite name regex (.*)\\.a {1}.b\n}"),
        "Corefile:2:2: rewrite: regex rewrites are not supported (no regular-expression engine in the simulator)"
    );
    let cf = Corefile::parse(
        ".:53 {\n rewrite continue name prefix a. b.\n rewrite name suffix .x .y answer auto\n}",
    )
    .unwrap();
    let cfg = setup(&cf.server_blocks[0], &files()).unwrap();
    assert_eq!(cfg.rewrites.len(), 2);
    assert!(!cfg.rewrites[0].stop && cfg.rewrites[1].answer_auto);
}
