//! Tests for the sets, packet matching, and their text.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const NONE: EntryOptions = EntryOptions {
    timeout: None,
    nomatch: false,
    comment: None,
};

/// The sets kube-proxy's IPVS mode keeps (pkg/proxy/ipvs/ipset.go), abridged.
const KUBE: &str = "\
create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
add KUBE-CLUSTER-IP 10.96.0.10,tcp:53
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 192.168.5.1,tcp:80,10.0.0.0/8
add KUBE-LOAD-BALANCER-SOURCE-CIDR 192.168.5.1,tcp:80,10.1.0.0/16 nomatch
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
create KUBE-6-CLUSTER-IP hash:ip,port family inet6 hashsize 1024 maxelem 65536
add KUBE-6-CLUSTER-IP fd00:10:96::1,tcp:443
";

#[test]
fn restore_then_save_reproduces_kube_proxy_sets() {
    let mut sets = IpSets::new();
    sets.restore(KUBE, false).unwrap();
    assert_eq!(sets.save(), KUBE);
}

#[test]
fn packet_matching_follows_the_flags() {
    let mut sets = IpSets::new();
    sets.restore(KUBE, false).unwrap();
    let dd = [SetDir::Dst, SetDir::Dst];
    let to_dns = PacketFields::new(ip("10.244.1.5"), 40000, ip("10.96.0.10"), 53, 17);
    assert!(sets.match_packet("KUBE-CLUSTER-IP", &to_dns, &dd).unwrap());
    let to_api = PacketFields::new(ip("10.244.1.5"), 40000, ip("10.96.0.1"), 443, 6);
    assert!(sets.match_packet("KUBE-CLUSTER-IP", &to_api, &dd).unwrap());
    let udp_api = PacketFields {
        proto: 17,
        ..to_api
    };
    assert!(!sets.match_packet("KUBE-CLUSTER-IP", &udp_api, &dd).unwrap());
    // Too few flags never match; extra flags are ignored.
    assert!(
        !sets
            .match_packet("KUBE-CLUSTER-IP", &to_api, &[SetDir::Dst])
            .unwrap()
    );
    let ddd = [SetDir::Dst, SetDir::Dst, SetDir::Dst];
    assert!(sets.match_packet("KUBE-CLUSTER-IP", &to_api, &ddd).unwrap());
    // Wrong family.
    let v6 = PacketFields::new(ip("fd00::5"), 1, ip("fd00:10:96::1"), 443, 6);
    assert!(!sets.match_packet("KUBE-CLUSTER-IP", &v6, &dd).unwrap());
    assert!(sets.match_packet("KUBE-6-CLUSTER-IP", &v6, &dd).unwrap());

    // Hairpin: a pod reaching itself through its Service (dst,dst,src).
    let hairpin = PacketFields::new(ip("10.244.1.5"), 5000, ip("10.244.1.5"), 8080, 6);
    let dds = [SetDir::Dst, SetDir::Dst, SetDir::Src];
    assert!(sets.match_packet("KUBE-LOOP-BACK", &hairpin, &dds).unwrap());
    let other = PacketFields {
        src: ip("10.244.1.6"),
        ..hairpin
    };
    assert!(!sets.match_packet("KUBE-LOOP-BACK", &other, &dds).unwrap());

    // LoadBalancer source ranges with an exception carved out.
    let lb = |src| PacketFields::new(ip(src), 5000, ip("192.168.5.1"), 80, 6);
    let name = "KUBE-LOAD-BALANCER-SOURCE-CIDR";
    assert!(sets.match_packet(name, &lb("10.2.3.4"), &dds).unwrap());
    assert!(!sets.match_packet(name, &lb("10.1.3.4"), &dds).unwrap());
    assert!(!sets.match_packet(name, &lb("11.0.0.1"), &dds).unwrap());

    // bitmap:port matches either family, TCP and UDP only.
    let np = PacketFields::new(ip("192.168.1.20"), 5000, ip("192.168.1.10"), 30080, 6);
    assert!(
        sets.match_packet("KUBE-NODE-PORT-TCP", &np, &[SetDir::Dst])
            .unwrap()
    );
    let np6 = PacketFields::new(ip("fd00::20"), 5000, ip("fd00::10"), 30080, 17);
    assert!(
        sets.match_packet("KUBE-NODE-PORT-TCP", &np6, &[SetDir::Dst])
            .unwrap()
    );
    let sctp = PacketFields { proto: 132, ..np };
    assert!(
        !sets
            .match_packet("KUBE-NODE-PORT-TCP", &sctp, &[SetDir::Dst])
            .unwrap()
    );
    assert!(
        !sets
            .match_packet("KUBE-NODE-PORT-TCP", &np, &[SetDir::Src])
            .unwrap()
    );

    assert_eq!(
        sets.match_packet("NOPE", &np, &[SetDir::Dst]),
        Err(IpSetError::NoSuchSet("NOPE".into()))
    );
}

#[test]
fn icmp_and_portless_protocols_in_port_sets() {
    let mut sets = IpSets::new();
    sets.run("create P hash:ip,port").unwrap();
    sets.run("add P 10.0.0.1,icmp:echo-request").unwrap();
    sets.run("add P 10.0.0.1,gre:0").unwrap();
    let ping = PacketFields::icmp(ip("10.0.0.9"), ip("10.0.0.1"), 8, 0);
    let dd = [SetDir::Dst, SetDir::Dst];
    assert!(sets.match_packet("P", &ping, &dd).unwrap());
    let pong = PacketFields::icmp(ip("10.0.0.9"), ip("10.0.0.1"), 0, 0);
    assert!(!sets.match_packet("P", &pong, &dd).unwrap());
    let gre = PacketFields::new(ip("10.0.0.9"), 0, ip("10.0.0.1"), 0, 47);
    assert!(sets.match_packet("P", &gre, &dd).unwrap());
    assert!(sets.test("P", "10.0.0.1,icmp:8/0").unwrap());
}

#[test]
fn hash_net_most_specific_prefix_decides() {
    let mut sets = IpSets::new();
    sets.restore(
        "create N hash:net\n\
         add N 10.0.0.0/8\n\
         add N 10.1.0.0/16 nomatch\n\
         add N 10.1.2.0/24\n",
        false,
    )
    .unwrap();
    let t = |e: &str| sets.test("N", e).unwrap();
    assert!(t("10.1.2.3"), "the /24 inside the nomatch /16");
    assert!(!t("10.1.3.3"), "the nomatch /16");
    assert!(t("10.200.0.1"), "the /8");
    assert!(!t("11.0.0.1"));
    // A network tests exactly.
    assert!(!t("10.1.0.0/16"));
    assert!(t("10.0.0.0/8"));
    assert!(!t("10.0.0.0/9"));
    let pkt = PacketFields::new(ip("10.1.3.3"), 1, ip("10.9.9.9"), 2, 6);
    assert!(!sets.match_packet("N", &pkt, &[SetDir::Src]).unwrap());
    assert!(sets.match_packet("N", &pkt, &[SetDir::Dst]).unwrap());
    // Deleting the exception restores the /8's verdict.
    sets.del("N", "10.1.0.0/16", false).unwrap();
    assert!(sets.test("N", "10.1.3.3").unwrap());
}

#[test]
fn add_del_and_their_errors() {
    let mut sets = IpSets::new();
    assert_eq!(
        sets.add("S", "10.0.0.1", &NONE, false),
        Err(IpSetError::NoSuchSet("S".into()))
    );
    sets.run("create S hash:ip maxelem 2").unwrap();
    sets.add("S", "10.0.0.1", &NONE, false).unwrap();
    let dup = sets.add("S", "10.0.0.1", &NONE, false).unwrap_err();
    assert_eq!(
        dup.to_string(),
        "Element cannot be added to the set: it's already added"
    );
    sets.add("S", "10.0.0.1", &NONE, true).unwrap();
    sets.add("S", "10.0.0.2", &NONE, false).unwrap();
    assert_eq!(
        sets.add("S", "10.0.0.3", &NONE, false),
        Err(IpSetError::HashFull("S".into()))
    );
    assert!(matches!(
        sets.del("S", "10.0.0.9", false),
        Err(IpSetError::NotAdded(_))
    ));
    sets.del("S", "10.0.0.9", true).unwrap();
    assert!(matches!(
        sets.add("S", "fd00::1", &NONE, false),
        Err(IpSetError::BadElement(ElementError::BadAddress(..)))
    ));
    let nomatch = EntryOptions {
        nomatch: true,
        ..NONE
    };
    assert!(matches!(
        sets.add("S", "10.0.0.1", &nomatch, true),
        Err(IpSetError::OptionNotAllowed {
            option: "nomatch",
            ..
        })
    ));
    let timed = EntryOptions {
        timeout: Some(5),
        ..NONE
    };
    assert_eq!(
        sets.add("S", "10.0.0.1", &timed, true),
        Err(IpSetError::NoTimeoutSupport)
    );
    sets.run("create B bitmap:port range 1000-2000").unwrap();
    assert!(matches!(
        sets.add("B", "999", &NONE, false),
        Err(IpSetError::OutOfRange(Element::Port(999)))
    ));
    assert!(matches!(
        sets.add_element("B", Element::Ip(ip("10.0.0.1")), &NONE, false),
        Err(IpSetError::WrongElementType { .. })
    ));
    sets.add_element("B", Element::Port(1500), &NONE, false)
        .unwrap();
    assert!(sets.test("B", "1500").unwrap());
}

#[test]
fn create_rules() {
    let mut sets = IpSets::new();
    sets.run("create A hash:ip hashsize 1000").unwrap();
    sets.run("create B hash:net family inet6 hashsize 10 maxelem 10 timeout 300")
        .unwrap();
    assert_eq!(sets.get("A").unwrap().options.hashsize, 1024);
    assert_eq!(sets.get("B").unwrap().options.hashsize, 64);
    assert_eq!(
        sets.run("create A hash:ip"),
        Err(IpSetError::SetExists("A".into()))
    );
    sets.run("create A hash:ip -exist").unwrap();
    assert_eq!(
        sets.run("create A hash:net -exist"),
        Err(IpSetError::SetExists("A".into()))
    );
    assert_eq!(
        sets.run("create C hash:mac"),
        Err(IpSetError::UnknownType("hash:mac".into()))
    );
    assert_eq!(
        sets.run("create C bitmap:port"),
        Err(IpSetError::MissingRange)
    );
    assert!(matches!(
        sets.run("create C bitmap:port range 0-10 family inet"),
        Err(IpSetError::OptionNotAllowed {
            option: "family",
            ..
        })
    ));
    assert!(matches!(
        sets.run("create C hash:ip range 0-10"),
        Err(IpSetError::OptionNotAllowed {
            option: "range",
            ..
        })
    ));
    assert!(matches!(
        sets.run("create C hash:ip maxelem lots"),
        Err(IpSetError::BadValue {
            option: "maxelem",
            ..
        })
    ));
    assert!(matches!(
        sets.run("create C hash:ip netmask 24"),
        Err(IpSetError::UnknownArgument(_))
    ));
    assert!(matches!(
        sets.run(&format!("create {} hash:ip", "X".repeat(32))),
        Err(IpSetError::NameTooLong(_))
    ));
    assert_eq!(
        sets.run("create iphash-alias iphash"),
        Ok(()),
        "old type aliases"
    );
    assert_eq!(sets.get("iphash-alias").unwrap().set_type, SetType::HashIp);
}

#[test]
fn swap_rename_destroy_and_slot_order() {
    let mut sets = IpSets::new();
    sets.restore(
        "create A hash:ip\nadd A 10.0.0.1\ncreate B hash:ip\nadd B 10.0.0.2\n\
         create C hash:net\n",
        false,
    )
    .unwrap();
    sets.reference("A").unwrap();
    sets.swap("A", "B").unwrap();
    assert!(sets.test("A", "10.0.0.2").unwrap());
    assert!(sets.test("B", "10.0.0.1").unwrap());
    assert_eq!(
        sets.get("A").unwrap().references(),
        1,
        "references stay with the name"
    );
    assert_eq!(sets.swap("A", "C"), Err(IpSetError::TypeMismatch));
    assert_eq!(
        sets.swap("A", "Z"),
        Err(IpSetError::SwapSecondMissing("Z".into()))
    );
    assert_eq!(sets.destroy(Some("A")), Err(IpSetError::InUse("A".into())));
    assert_eq!(sets.destroy(None), Err(IpSetError::InUse("A".into())));
    sets.release("A").unwrap();
    assert_eq!(
        sets.rename("B", "C"),
        Err(IpSetError::RenameExists("C".into()))
    );
    sets.rename("B", "B2").unwrap();
    sets.destroy(Some("A")).unwrap();
    // The new set takes the freed first slot, so it saves first.
    sets.run("create D bitmap:port range 0-100").unwrap();
    let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["D", "B2", "C"]);
    sets.flush(None).unwrap();
    assert!(sets.iter().all(IpSet::is_empty));
    sets.destroy(None).unwrap();
    assert_eq!(sets.save(), "");
}

#[test]
fn restore_reports_the_failing_line_and_keeps_earlier_ones() {
    let mut sets = IpSets::new();
    let text = "\
# kube-proxy sets
create S hash:ip,port

add S 10.0.0.1,tcp:80
add S 10.0.0.1,tcp:80
add S 10.0.0.2,tcp:80
COMMIT
";
    let err = sets.restore(text, false).unwrap_err();
    assert_eq!(err.line, 5);
    assert_eq!(
        err.to_string(),
        "Error in line 5: Element cannot be added to the set: it's already added"
    );
    assert_eq!(sets.get("S").unwrap().len(), 1);
    let mut again = IpSets::new();
    again.restore(text, true).unwrap();
    assert_eq!(again.get("S").unwrap().len(), 2);

    let mut sets = IpSets::new();
    for (text, line, want) in [
        ("list\n", 1, IpSetError::UnknownCommand("list".into())),
        (
            "create S hash:ip\nadd S\n",
            2,
            IpSetError::MissingArgument {
                command: "add".into(),
                what: "an element",
            },
        ),
        ("add T 1.2.3.4\n", 1, IpSetError::NoSuchSet("T".into())),
        (
            "del S 1.2.3.4 extra\n",
            1,
            IpSetError::UnknownArgument("extra".into()),
        ),
        (
            "add S 1.2.3.4 comment \"x\n",
            1,
            IpSetError::UnterminatedQuote,
        ),
    ] {
        let err = sets.restore(text, false).unwrap_err();
        assert_eq!((err.line, err.error), (line, want), "{text:?}");
    }
}

#[test]
fn extensions_round_trip() {
    let text = "\
create T hash:net family inet hashsize 1024 maxelem 65536 timeout 300 counters comment forceadd skbinfo bucketsize 12 initval 0x0badcafe
add T 10.0.0.0/8 timeout 120 comment \"pod cidr\"
add T 10.1.0.0/16 timeout 300 nomatch
";
    let mut sets = IpSets::new();
    sets.restore(text, false).unwrap();
    assert_eq!(sets.save(), text);
    let t = sets.get("T").unwrap();
    assert_eq!(t.options.initval, Some(0x0bad_cafe));
    let (_, ext) = t.members().next().unwrap();
    assert_eq!(ext.comment.as_deref(), Some("pod cidr"));
}

/// A random set and members, as restore text.
fn set_text() -> impl Strategy<Value = String> {
    let v4 = || (0u8..3, 0u8..4).prop_map(|(a, b)| format!("10.{a}.{b}.{}", a * 7 + b));
    let port = || {
        prop_oneof![
            (1u16..100).prop_map(|p| format!("{p}")),
            (1u16..100).prop_map(|p| format!("udp:{p}")),
            (1u16..100).prop_map(|p| format!("sctp:{p}")),
            Just("icmp:ping".to_string()),
            Just("icmp:3/7".to_string()),
            Just("esp:0".to_string()),
        ]
    };
    let net = || (0u8..3, 8u8..=32).prop_map(|(a, c)| format!("10.{a}.1.2/{c}"));
    let nomatch = || prop_oneof![Just(""), Just(" nomatch")];
    prop_oneof![
        proptest::collection::vec(v4(), 0..8).prop_map(|v| ("hash:ip", v)),
        proptest::collection::vec((v4(), port()).prop_map(|(a, p)| format!("{a},{p}")), 0..8)
            .prop_map(|v| ("hash:ip,port", v)),
        proptest::collection::vec(
            (v4(), port(), v4()).prop_map(|(a, p, b)| format!("{a},{p},{b}")),
            0..8
        )
        .prop_map(|v| ("hash:ip,port,ip", v)),
        proptest::collection::vec(
            (v4(), port(), net(), nomatch()).prop_map(|(a, p, n, x)| format!("{a},{p},{n}{x}")),
            0..8
        )
        .prop_map(|v| ("hash:ip,port,net", v)),
        proptest::collection::vec(
            (net(), nomatch()).prop_map(|(n, x)| format!("{n}{x}")),
            0..8
        )
        .prop_map(|v| ("hash:net", v)),
        proptest::collection::vec((0u16..200).prop_map(|p| p.to_string()), 0..8)
            .prop_map(|v| ("bitmap:port range 0-199", v)),
    ]
    .prop_map(|(ty, members)| {
        let mut text = format!("create S {ty}\n");
        for m in members {
            text.push_str(&format!("add S {m}\n"));
        }
        text
    })
}

proptest! {
    #[test]
    fn save_restore_save_is_identity(sets_text in proptest::collection::vec(set_text(), 1..4)) {
        let mut original = IpSets::new();
        for (i, text) in sets_text.iter().enumerate() {
            original.restore(&text.replace(" S ", &format!(" S{i} ")), true).unwrap();
        }
        let saved = original.save();
        let mut restored = IpSets::new();
        restored.restore(&saved, false).unwrap();
        prop_assert_eq!(restored.save(), saved);
        prop_assert_eq!(restored, original);
    }
}
