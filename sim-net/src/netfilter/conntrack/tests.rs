//! State-machine tests for the conntrack table, built from small packet templates.

use std::net::IpAddr;

use proptest::prelude::*;
use sim_core::{SimDuration, SimRng, SimTime};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

const T0: SimTime = SimTime::ZERO;

/// A pod talking to a ClusterIP.
fn client_tuple() -> Tuple {
    Tuple::tcp(ip("10.244.1.5"), 40000, ip("10.96.0.10"), 80)
}

fn tracked(v: CtVerdict) -> (EntryId, Direction, CtState) {
    match v {
        CtVerdict::Tracked { id, dir, state } => (id, dir, state),
        other => panic!("expected a tracked packet, got {other:?}"),
    }
}

/// Tracks and confirms one packet, as a packet crossing the whole netns would be.
fn pass(ct: &mut Conntrack, pkt: CtPacket, now: SimTime) -> (EntryId, Direction, CtState) {
    let r = tracked(ct.track(&pkt, now));
    ct.confirm(r.0, now).unwrap();
    r
}

/// Plays a full TCP handshake from `t` and returns the entry.
fn handshake(ct: &mut Conntrack, t: Tuple, now: SimTime) -> EntryId {
    let (id, _, _) = pass(ct, CtPacket::tcp(t, TcpFlags::SYN), now);
    let reply = *ct.entry(id).unwrap().tuple(Direction::Reply);
    pass(ct, CtPacket::tcp(reply, TcpFlags::SYN_ACK), now);
    pass(ct, CtPacket::tcp(t, TcpFlags::ACK), now);
    id
}

#[test]
fn tcp_handshake_states_and_ctstates() {
    let mut ct = Conntrack::default();
    let t = client_tuple();
    let (id, dir, state) = tracked(ct.track(&CtPacket::tcp(t, TcpFlags::SYN), T0));
    assert_eq!((dir, state), (Direction::Original, CtState::New));
    // Unconfirmed: invisible to lookups, not listed, but counted.
    assert_eq!(ct.lookup(&t, T0), None);
    assert_eq!((ct.len(), ct.count()), (0, 1));
    ct.confirm(id, T0).unwrap();
    assert_eq!(ct.lookup(&t, T0), Some((id, Direction::Original)));

    // A retransmitted SYN is still NEW (no reply yet) and does not move the expiry.
    let expires = ct.entry(id).unwrap().expires;
    assert_eq!(expires, secs(120));
    let (_, _, state) = pass(&mut ct, CtPacket::tcp(t, TcpFlags::SYN), secs(1));
    assert_eq!(state, CtState::New);
    assert_eq!(ct.entry(id).unwrap().expires, expires);

    let reply = t.invert().unwrap();
    let (rid, dir, state) = pass(&mut ct, CtPacket::tcp(reply, TcpFlags::SYN_ACK), secs(1));
    assert_eq!(
        (rid, dir, state),
        (id, Direction::Reply, CtState::Established)
    );
    let (_, dir, state) = pass(&mut ct, CtPacket::tcp(t, TcpFlags::ACK), secs(1));
    assert_eq!((dir, state), (Direction::Original, CtState::Established));
    let e = ct.entry(id).unwrap();
    assert_eq!(e.tcp_state(), Some(TcpState::Established));
    assert!(e.status.contains(Status::ASSURED | Status::SEEN_REPLY));
    assert_eq!(e.expires, secs(1 + 432_000));
    assert_eq!(ct.next_expiry(), Some(secs(1 + 432_000)));
}

#[test]
fn loose_pickup_and_strict_mode() {
    let t = client_tuple();
    let mut ct = Conntrack::default();
    let (id, _, state) = pass(&mut ct, CtPacket::tcp(t, TcpFlags::ACK), T0);
    assert_eq!(state, CtState::New);
    let e = ct.entry(id).unwrap();
    assert_eq!(e.tcp_state(), Some(TcpState::Established));
    assert_eq!(e.expires, secs(300), "capped at tcp_timeout_unacknowledged");

    let mut strict = Conntrack::new(ConntrackConfig {
        tcp_loose: false,
        ..ConntrackConfig::default()
    });
    assert_eq!(
        strict.track(&CtPacket::tcp(t, TcpFlags::ACK), T0),
        CtVerdict::Invalid(InvalidReason::TcpNoPickup(TcpFlags::ACK))
    );
    assert_eq!(
        strict.track(&CtPacket::tcp(t, TcpFlags::FIN_ACK), T0),
        CtVerdict::Invalid(InvalidReason::TcpInvalidNew(TcpFlags::FIN_ACK))
    );
    assert_eq!(strict.stats().invalid, 2);
    assert_eq!(strict.count(), 0);
}

#[test]
fn rst_answering_a_syn_kills_the_entry_but_keeps_it_readable() {
    let mut ct = Conntrack::new(ConntrackConfig::kube_proxy());
    let t = client_tuple();
    let (id, _, _) = pass(&mut ct, CtPacket::tcp(t, TcpFlags::SYN), T0);
    ct.set_mark(id, 0x4000).unwrap();
    let rst = CtPacket::tcp(t.invert().unwrap(), TcpFlags::RST_ACK);
    let (rid, dir, state) = tracked(ct.track(&rst, secs(1)));
    assert_eq!(
        (rid, dir, state),
        (id, Direction::Reply, CtState::Established)
    );
    assert_eq!(ct.lookup(&t, secs(1)), None);
    assert_eq!(
        ct.entry(id).unwrap().mark,
        0x4000,
        "readable while its packet is in flight"
    );
    ct.confirm(id, secs(1)).unwrap();
    assert!(ct.entry(id).is_none());
    assert!(ct.is_empty());
}

#[test]
fn reopening_after_time_wait_makes_a_new_entry() {
    let mut ct = Conntrack::default();
    let t = client_tuple();
    let r = t.invert().unwrap();
    let id = handshake(&mut ct, t, T0);
    for (tuple, flags) in [
        (t, TcpFlags::FIN_ACK),
        (r, TcpFlags::ACK),
        (r, TcpFlags::FIN_ACK),
        (t, TcpFlags::ACK),
    ] {
        pass(&mut ct, CtPacket::tcp(tuple, flags), secs(1));
    }
    assert_eq!(ct.entry(id).unwrap().tcp_state(), Some(TcpState::TimeWait));
    assert_eq!(ct.entry(id).unwrap().expires, secs(121));
    let (new, _, state) = pass(&mut ct, CtPacket::tcp(t, TcpFlags::SYN), secs(5));
    assert_ne!(new, id);
    assert_eq!(state, CtState::New);
    assert!(ct.entry(id).is_none());
    assert_eq!(ct.entry(new).unwrap().tcp_state(), Some(TcpState::SynSent));
}

#[test]
fn invalid_tcp_segments_get_no_conntrack() {
    let mut ct = Conntrack::default();
    let t = client_tuple();
    pass(&mut ct, CtPacket::tcp(t, TcpFlags::SYN), T0);
    assert!(matches!(
        ct.track(&CtPacket::tcp(t, TcpFlags::ACK), T0),
        CtVerdict::Invalid(InvalidReason::TcpTransition { .. })
    ));
    assert_eq!(
        ct.track(&CtPacket::tcp(t, TcpFlags(0)), T0),
        CtVerdict::Invalid(InvalidReason::TcpFlags(TcpFlags(0)))
    );
    assert_eq!(
        ct.track(&CtPacket::tcp(t, TcpFlags(0)), T0).ctstate(),
        Some(CtState::Invalid)
    );
}

#[test]
fn udp_becomes_a_stream_after_two_seconds_of_two_way_traffic() {
    let mut ct = Conntrack::default();
    let q = Tuple::udp(ip("10.244.1.5"), 5353, ip("10.96.0.10"), 53);
    let (id, _, _) = pass(&mut ct, CtPacket::new(q), T0);
    assert_eq!(ct.entry(id).unwrap().expires, secs(30));
    let (_, dir, state) = pass(&mut ct, CtPacket::new(q.invert().unwrap()), secs(1));
    assert_eq!((dir, state), (Direction::Reply, CtState::Established));
    let e = ct.entry(id).unwrap();
    assert!(e.status.contains(Status::SEEN_REPLY) && !e.status.contains(Status::ASSURED));
    assert_eq!(e.expires, secs(31));
    // Within the 2 s grace period: still the short timeout.
    pass(&mut ct, CtPacket::new(q), secs(2));
    assert!(!ct.entry(id).unwrap().status.contains(Status::ASSURED));
    pass(&mut ct, CtPacket::new(q), secs(3));
    let e = ct.entry(id).unwrap();
    assert!(e.status.contains(Status::ASSURED));
    assert_eq!(e.expires, secs(123));
}

#[test]
fn icmp_echo_pairs_and_errors() {
    let mut ct = Conntrack::default();
    let req = Tuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), icmp::ECHO_REQUEST, 0, 99);
    let (id, _, state) = pass(&mut ct, CtPacket::new(req), T0);
    assert_eq!(state, CtState::New);
    let rep = Tuple::icmp(ip("10.0.0.2"), ip("10.0.0.1"), icmp::ECHO_REPLY, 0, 99);
    let (rid, dir, state) = pass(&mut ct, CtPacket::new(rep), T0);
    assert_eq!(
        (rid, dir, state),
        (id, Direction::Reply, CtState::Established)
    );
    assert_eq!(ct.entry(id).unwrap().expires, secs(30));

    // A stray echo-reply cannot open a conntrack; neither can a type without an answer.
    let stray = Tuple::icmp(ip("10.0.0.9"), ip("10.0.0.1"), icmp::ECHO_REPLY, 0, 5);
    assert_eq!(
        ct.track(&CtPacket::new(stray), T0),
        CtVerdict::Invalid(InvalidReason::IcmpNotRequest)
    );
    let advert = Tuple::icmp(ip("10.0.0.9"), ip("10.0.0.1"), 9, 0, 0);
    assert_eq!(
        ct.track(&CtPacket::new(advert), T0),
        CtVerdict::Invalid(InvalidReason::IcmpNotRequest)
    );

    // Port unreachable about a tracked UDP flow, coming back from the server: RELATED in the
    // reply direction.
    let q = Tuple::udp(ip("10.0.0.1"), 4000, ip("10.0.0.2"), 53);
    let (uid, _, _) = pass(&mut ct, CtPacket::new(q), T0);
    let err = Tuple::icmp(ip("10.0.0.2"), ip("10.0.0.1"), icmp::DEST_UNREACH, 3, 0);
    let (eid, dir, state) = tracked(ct.track(&CtPacket::icmp_error(err, q), T0));
    assert_eq!((eid, dir, state), (uid, Direction::Reply, CtState::Related));
    assert_eq!(
        ct.related(&q, ip("10.0.0.1"), T0),
        Some((uid, Direction::Reply))
    );
    // Wrong outer destination, unknown flow, missing inner packet: INVALID.
    assert_eq!(ct.related(&q, ip("10.0.0.7"), T0), None);
    let other = Tuple::udp(ip("10.0.0.1"), 4001, ip("10.0.0.2"), 53);
    assert_eq!(
        ct.track(&CtPacket::icmp_error(err, other), T0),
        CtVerdict::Invalid(InvalidReason::NoRelatedFlow)
    );
    assert_eq!(
        ct.track(&CtPacket::new(err), T0),
        CtVerdict::Invalid(InvalidReason::Malformed)
    );
}

#[test]
fn generic_and_sctp_use_the_generic_timeout() {
    let mut ct = Conntrack::default();
    let sctp = Tuple::new(L4Proto::SCTP, ip("10.0.0.1"), 3868, ip("10.0.0.2"), 3868);
    let (id, _, _) = pass(&mut ct, CtPacket::new(sctp), T0);
    assert_eq!(ct.entry(id).unwrap().expires, secs(600));
    let esp = Tuple::new(L4Proto(50), ip("10.0.0.1"), 0, ip("10.0.0.2"), 0);
    let (id, _, _) = pass(&mut ct, CtPacket::new(esp), T0);
    assert_eq!(ct.entry(id).unwrap().expires, secs(600));
    assert_eq!(
        ct.track(
            &CtPacket::new(Tuple::udp(ip("10.0.0.1"), 1, ip("fd00::1"), 2)),
            T0
        ),
        CtVerdict::Invalid(InvalidReason::Malformed)
    );
}

#[test]
fn expiry_is_ordered_and_lookups_stop_at_the_deadline() {
    let mut ct = Conntrack::default();
    let a = Tuple::udp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 53);
    let b = Tuple::icmp(ip("10.0.0.1"), ip("10.0.0.2"), icmp::ECHO_REQUEST, 0, 1);
    let c = Tuple::udp(ip("10.0.0.1"), 2, ip("10.0.0.2"), 53);
    let (ia, _, _) = pass(&mut ct, CtPacket::new(a), secs(0));
    let (ib, _, _) = pass(&mut ct, CtPacket::new(b), secs(0));
    let (ic, _, _) = pass(&mut ct, CtPacket::new(c), secs(5));
    assert_eq!(ct.next_expiry(), Some(secs(30)));
    assert_eq!(ct.lookup(&a, secs(29)), Some((ia, Direction::Original)));
    assert_eq!(ct.lookup(&a, secs(30)), None, "expired at its deadline");
    assert_eq!(ct.expire(secs(29)), vec![]);
    assert_eq!(ct.expire(secs(34)), vec![ia, ib]);
    assert_eq!(ct.next_expiry(), Some(secs(35)));
    assert_eq!(ct.expire(secs(1000)), vec![ic]);
    assert_eq!(ct.next_expiry(), None);
    // An expired entry found by a packet is collected and the packet starts afresh.
    let (id, _, _) = pass(&mut ct, CtPacket::new(a), secs(2000));
    let (again, _, state) = pass(&mut ct, CtPacket::new(a), secs(2030));
    assert_ne!(id, again);
    assert_eq!(state, CtState::New);
}

#[test]
fn full_table_early_drops_unassured_entries_then_drops_packets() {
    let mut ct = Conntrack::new(ConntrackConfig {
        max: 2,
        ..ConntrackConfig::default()
    });
    let a = handshake(&mut ct, client_tuple(), T0);
    let probe = Tuple::udp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 53);
    let (p, _, _) = pass(&mut ct, CtPacket::new(probe), T0);
    // Full: the unreplied UDP entry is evicted for the newcomer.
    let other = Tuple::udp(ip("10.0.0.1"), 2, ip("10.0.0.2"), 53);
    let (o, _, _) = pass(&mut ct, CtPacket::new(other), T0);
    assert!(ct.entry(p).is_none());
    assert_eq!(ct.stats().early_drop, 1);
    // Make the survivor assured too: nothing left to evict.
    pass(&mut ct, CtPacket::new(other.invert().unwrap()), secs(1));
    pass(&mut ct, CtPacket::new(other), secs(3));
    assert!(ct.entry(o).unwrap().status.contains(Status::ASSURED));
    let third = Tuple::udp(ip("10.0.0.1"), 3, ip("10.0.0.2"), 53);
    assert_eq!(
        ct.track(&CtPacket::new(third), secs(3)),
        CtVerdict::Drop(CtDrop::TableFull)
    );
    assert_eq!(CtDrop::TableFull.as_str(), "conntrack-full");
    assert_eq!(ct.stats().drop, 1);
    assert!(ct.entry(a).is_some());
    // Unconfirmed entries count against the limit too.
    let mut ct = Conntrack::new(ConntrackConfig {
        max: 1,
        ..ConntrackConfig::default()
    });
    tracked(ct.track(&CtPacket::new(probe), T0));
    assert_eq!(
        ct.track(&CtPacket::new(other), T0),
        CtVerdict::Drop(CtDrop::TableFull)
    );
}

#[test]
fn dnat_to_an_endpoint_and_back() {
    let mut ct = Conntrack::new(ConntrackConfig::kube_proxy());
    let t = client_tuple();
    let (id, _, _) = tracked(ct.track(&CtPacket::tcp(t, TcpFlags::SYN), T0));
    assert!(!ct.nat_initialized(id, Manip::Dst));
    let after = ct.set_dnat(id, ip("10.244.2.3"), Some(8080)).unwrap();
    assert_eq!(
        after,
        Tuple::tcp(ip("10.244.1.5"), 40000, ip("10.244.2.3"), 8080)
    );
    assert!(ct.nat_initialized(id, Manip::Dst));
    assert_eq!(
        ct.set_dnat(id, ip("10.244.2.4"), None),
        Err(ConntrackError::NatInitialized {
            id,
            manip: Manip::Dst
        })
    );
    // PREROUTING rewrites the destination; POSTROUTING leaves the source alone.
    assert_eq!(ct.manip(id, Direction::Original, Manip::Dst, &t), after);
    assert_eq!(ct.manip(id, Direction::Original, Manip::Src, &after), after);
    ct.null_binding(id, Manip::Src, &mut SimRng::new(1))
        .unwrap();
    ct.confirm(id, T0).unwrap();
    assert_eq!(
        ct.set_dnat(id, ip("10.244.2.4"), None),
        Err(ConntrackError::Confirmed(id))
    );

    // The endpoint answers itself; the reply is un-DNATed on the way out.
    let from_pod = after.invert().unwrap();
    let (rid, dir, _) = pass(&mut ct, CtPacket::tcp(from_pod, TcpFlags::SYN_ACK), T0);
    assert_eq!((rid, dir), (id, Direction::Reply));
    assert_eq!(ct.translate(id, dir, &from_pod), t.invert().unwrap());
    pass(&mut ct, CtPacket::tcp(t, TcpFlags::ACK), T0);
    insta::assert_snapshot!("dnat_dump", ct.dump(secs(1)));
}

#[test]
fn masquerade_clash_gives_the_second_client_another_port() {
    // Two pods on one node use the same source port to the same external server; the node
    // masquerades both to its own address.
    let mut ct = Conntrack::default();
    let mut rng = SimRng::stream(7, "node-1/conntrack");
    let node = NatRange::to(ip("192.168.1.10"));
    let server = ip("93.184.216.34");
    let mut outs = Vec::new();
    let mut ids = Vec::new();
    for pod in ["10.244.1.5", "10.244.1.6"] {
        let t = Tuple::tcp(ip(pod), 33000, server, 443);
        let (id, _, _) = tracked(ct.track(&CtPacket::tcp(t, TcpFlags::SYN), T0));
        ct.null_binding(id, Manip::Dst, &mut rng).unwrap();
        let out = ct.set_snat(id, &node, &mut rng).unwrap();
        assert_eq!(ct.manip(id, Direction::Original, Manip::Src, &t), out);
        ct.confirm(id, T0).unwrap();
        outs.push(out);
        ids.push(id);
    }
    assert_eq!(outs[0].sport, 33000, "the first keeps its port");
    assert_ne!(outs[1].sport, 33000, "the second is remapped");
    assert!((1024..=65535).contains(&outs[1].sport));
    assert!(ct.entry(ids[1]).unwrap().status.contains(Status::SRC_NAT));
    // Replies reach the right pod.
    for (i, out) in outs.iter().enumerate() {
        let back = out.invert().unwrap();
        let (id, dir, _) = pass(&mut ct, CtPacket::tcp(back, TcpFlags::SYN_ACK), T0);
        assert_eq!((id, dir), (ids[i], Direction::Reply));
        let delivered = ct.translate(id, dir, &back);
        assert_eq!(delivered.dst, ct.entry(id).unwrap().original.src);
        assert_eq!(delivered.dport, 33000);
    }
    insta::assert_snapshot!("masquerade_clash_dump", ct.dump(secs(1)));

    // The same seed makes the same choice.
    let mut again = Conntrack::default();
    let mut rng = SimRng::stream(7, "node-1/conntrack");
    let mut second = None;
    for pod in ["10.244.1.5", "10.244.1.6"] {
        let t = Tuple::tcp(ip(pod), 33000, server, 443);
        let (id, _, _) = tracked(again.track(&CtPacket::tcp(t, TcpFlags::SYN), T0));
        again.null_binding(id, Manip::Dst, &mut rng).unwrap();
        second = Some(again.set_snat(id, &node, &mut rng).unwrap());
        again.confirm(id, T0).unwrap();
    }
    assert_eq!(second, Some(outs[1]));
}

#[test]
fn port_search_stays_in_the_original_ports_class() {
    let node = NatRange::to(ip("192.168.1.10"));
    let server = ip("10.0.0.53");
    for (sport, lo, hi) in [(53u16, 1u16, 511u16), (700, 600, 1023), (5000, 1024, 65535)] {
        let mut ct = Conntrack::default();
        let mut rng = SimRng::new(u64::from(sport));
        for pod in ["10.244.1.5", "10.244.1.6", "10.244.1.7"] {
            let t = Tuple::udp(ip(pod), sport, server, 53);
            let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
            let out = ct.set_snat(id, &node, &mut rng).unwrap();
            assert!((lo..=hi).contains(&out.sport), "{sport} -> {}", out.sport);
            ct.confirm(id, T0).unwrap();
        }
        assert_eq!(ct.len(), 3);
    }
    // --to-ports confines the choice.
    let mut ct = Conntrack::default();
    let mut rng = SimRng::new(3);
    let range = node.ports(40000, 40001);
    for pod in ["10.244.1.5", "10.244.1.6"] {
        let t = Tuple::udp(ip(pod), 5000, server, 53);
        let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
        let out = ct.set_snat(id, &range, &mut rng).unwrap();
        assert!((40000..=40001).contains(&out.sport));
        ct.confirm(id, T0).unwrap();
    }
    // The range is exhausted: the third binding clashes and confirmation fails.
    let t = Tuple::udp(ip("10.244.1.7"), 5000, server, 53);
    let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
    ct.set_snat(id, &range, &mut rng).unwrap();
    assert_eq!(ct.confirm(id, T0), Err(CtDrop::InsertFailed));
    assert_eq!(ct.stats().insert_failed, 1);
    assert!(ct.entry(id).is_none());
}

#[test]
fn random_fully_draws_a_port_even_without_a_clash() {
    let node = NatRange::to(ip("192.168.1.10")).random_fully();
    let t = Tuple::udp(ip("10.244.1.5"), 5000, ip("10.0.0.53"), 53);
    let pick = |seed| {
        let mut ct = Conntrack::default();
        let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
        ct.set_snat(id, &node, &mut SimRng::new(seed))
            .unwrap()
            .sport
    };
    assert_eq!(pick(1), pick(1));
    let ports: std::collections::BTreeSet<u16> = (0..8).map(pick).collect();
    assert!(ports.len() > 1, "{ports:?}");
    assert!(ports.iter().all(|p| *p >= 1024));
}

#[test]
fn a_remapped_source_keeps_its_mapping_to_other_destinations() {
    let mut ct = Conntrack::default();
    let mut rng = SimRng::new(11);
    let node = NatRange::to(ip("192.168.1.10"));
    let x = ip("10.0.0.1");
    let y = ip("10.0.0.2");
    let a = Tuple::udp(ip("10.244.1.5"), 5000, x, 53);
    let b = Tuple::udp(ip("10.244.1.6"), 5000, x, 53);
    let mut snat = |ct: &mut Conntrack, t: Tuple| {
        let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
        let out = ct.set_snat(id, &node, &mut rng).unwrap();
        ct.confirm(id, T0).unwrap();
        out
    };
    assert_eq!(snat(&mut ct, a).sport, 5000);
    let b_out = snat(&mut ct, b);
    assert_ne!(b_out.sport, 5000);
    let b_to_y = snat(&mut ct, Tuple { dst: y, ..b });
    assert_eq!(b_to_y.sport, b_out.sport, "endpoint-independent mapping");
}

#[test]
fn null_binding_remaps_a_source_port_whose_reply_would_clash() {
    // One client port reaches the same endpoint through two Service IPs: after DNAT both
    // replies would be P:8080 -> C:1000.
    let mut ct = Conntrack::default();
    let mut rng = SimRng::new(5);
    let mut outs = Vec::new();
    for svc in ["10.96.0.10", "10.96.0.11"] {
        let t = Tuple::tcp(ip("10.244.1.5"), 1000, ip(svc), 80);
        let (id, _, _) = tracked(ct.track(&CtPacket::tcp(t, TcpFlags::SYN), T0));
        ct.set_dnat(id, ip("10.244.2.3"), Some(8080)).unwrap();
        outs.push(ct.null_binding(id, Manip::Src, &mut rng).unwrap());
        ct.confirm(id, T0).unwrap();
    }
    assert_eq!(outs[0].sport, 1000);
    assert_ne!(outs[1].sport, 1000);
    assert!((600..=1023).contains(&outs[1].sport), "{}", outs[1].sport);
}

#[test]
fn icmp_identifiers_are_remapped_on_clash() {
    let mut ct = Conntrack::default();
    let mut rng = SimRng::new(2);
    let node = NatRange::to(ip("192.168.1.10"));
    let mut ids = Vec::new();
    for pod in ["10.244.1.5", "10.244.1.6"] {
        let t = Tuple::icmp(ip(pod), ip("8.8.8.8"), icmp::ECHO_REQUEST, 0, 1);
        let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
        ids.push(ct.set_snat(id, &node, &mut rng).unwrap().icmp_id());
        ct.confirm(id, T0).unwrap();
    }
    assert_eq!(ids[0], 1);
    assert_ne!(ids[1], 1);
    insta::assert_snapshot!("icmp_masquerade_dump", ct.dump(secs(10)));
}

#[test]
fn icmp_error_inner_packet_is_un_natted() {
    let mut ct = Conntrack::default();
    let mut rng = SimRng::new(9);
    let t = Tuple::udp(ip("10.244.1.5"), 5000, ip("10.0.0.53"), 53);
    let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
    let out = ct
        .set_snat(id, &NatRange::to(ip("192.168.1.10")), &mut rng)
        .unwrap();
    ct.confirm(id, T0).unwrap();
    // A router beyond the node reports the masqueraded packet undeliverable.
    let err = Tuple::icmp(ip("10.0.0.1"), ip("192.168.1.10"), icmp::DEST_UNREACH, 1, 0);
    let (eid, dir, state) = tracked(ct.track(&CtPacket::icmp_error(err, out), T0));
    assert_eq!((eid, dir, state), (id, Direction::Reply, CtState::Related));
    assert_eq!(ct.translate_icmp_inner(id, dir, &out), t);
    assert_eq!(ct.translate(id, dir, &err).dst, ip("10.244.1.5"));
}

#[test]
fn deletion_by_filter_tuple_and_flush() {
    let mut ct = Conntrack::default();
    let svc = ip("10.96.0.10");
    let mut ids = Vec::new();
    for (pod_port, endpoint) in [(1u16, "10.244.2.3"), (2, "10.244.2.4"), (3, "10.244.2.3")] {
        let t = Tuple::udp(ip("10.244.1.5"), pod_port, svc, 53);
        let (id, _, _) = tracked(ct.track(&CtPacket::new(t), T0));
        ct.set_dnat(id, ip(endpoint), None).unwrap();
        ct.confirm(id, T0).unwrap();
        ids.push(id);
    }
    let nodeport = Tuple::udp(ip("192.168.1.20"), 9, ip("192.168.1.10"), 30053);
    let (np, _, _) = tracked(ct.track(&CtPacket::new(nodeport), T0));
    ct.set_dnat(np, ip("10.244.2.3"), Some(53)).unwrap();
    ct.confirm(np, T0).unwrap();
    let tcp = handshake(&mut ct, client_tuple(), T0);

    assert!(
        !CtFilter::new().matches(ct.entry(tcp).unwrap()),
        "empty matches nothing"
    );
    // kube-proxy: endpoint 10.244.2.3 of the Service went away.
    let stale = CtFilter::new()
        .proto(L4Proto::UDP)
        .orig_dst(svc)
        .reply_src(ip("10.244.2.3"));
    assert_eq!(ct.delete_matching(&stale), vec![ids[0], ids[2]]);
    let stale_nodeport = CtFilter::new()
        .proto(L4Proto::UDP)
        .orig_dport(30053)
        .reply_src(ip("10.244.2.3"));
    assert_eq!(ct.delete_matching(&stale_nodeport), vec![np]);
    assert_eq!(
        ct.delete_matching(&CtFilter::new().family(Family::Ipv6)),
        vec![]
    );
    // An exact tuple finds its entry from either direction.
    let reply = *ct.entry(ids[1]).unwrap().tuple(Direction::Reply);
    assert_eq!(ct.delete_tuple(&reply), Some(ids[1]));
    ct.set_mark(tcp, 7).unwrap();
    assert!(CtFilter::new().mark(7).matches(ct.entry(tcp).unwrap()));
    assert_eq!(ct.flush(), 1);
    assert!(ct.is_empty());
}

#[test]
fn unconfirmed_entries_vanish_with_their_packet_and_clash_on_confirm() {
    let mut ct = Conntrack::default();
    let q = Tuple::udp(ip("10.0.0.1"), 1, ip("10.0.0.2"), 53);
    let (a, _, _) = tracked(ct.track(&CtPacket::new(q), T0));
    ct.discard(a);
    assert_eq!(ct.count(), 0);
    // Two packets of one flow both tracked before either is confirmed.
    let (a, _, _) = tracked(ct.track(&CtPacket::new(q), T0));
    let (b, _, _) = tracked(ct.track(&CtPacket::new(q), T0));
    assert_ne!(a, b);
    ct.confirm(a, T0).unwrap();
    assert_eq!(ct.confirm(b, T0), Err(CtDrop::InsertFailed));
    assert_eq!(ct.confirm(a, T0), Ok(()), "confirming twice is a no-op");
    ct.discard(a);
    assert_eq!(ct.len(), 1, "discard leaves confirmed entries alone");
}

#[test]
fn ipv6_flows_track_and_dump() {
    let mut ct = Conntrack::default();
    let t = Tuple::tcp(ip("fd00:10:244:1::5"), 40000, ip("fd00:10:96::a"), 80);
    handshake(&mut ct, t, T0);
    let ping = Tuple::icmp(ip("fd00::1"), ip("fd00::2"), icmpv6::ECHO_REQUEST, 0, 3);
    pass(&mut ct, CtPacket::new(ping), T0);
    let dump = ct.dump(secs(2));
    insta::assert_snapshot!("ipv6_dump", dump);
    let parsed = parse_dump(&dump).unwrap();
    assert_eq!(parsed, ct.dump_entries(secs(2)));
}

/// A sequence of new flows from a few clients to a few servers, some DNATed, all masqueraded.
#[derive(Debug, Clone)]
struct Flow {
    client: u8,
    sport: u16,
    server: u8,
    dport: u16,
    udp: bool,
    dnat: Option<(u8, u16)>,
}

fn flow() -> impl Strategy<Value = Flow> {
    (
        0u8..4,
        prop_oneof![Just(1000u16), Just(1001), 1u16..600, 30000u16..30004],
        0u8..3,
        prop_oneof![Just(53u16), Just(80)],
        any::<bool>(),
        proptest::option::of((0u8..2, prop_oneof![Just(8080u16), Just(53)])),
    )
        .prop_map(|(client, sport, server, dport, udp, dnat)| Flow {
            client,
            sport,
            server,
            dport,
            udp,
            dnat,
        })
}

fn flow_tuple(f: &Flow) -> Tuple {
    let c = IpAddr::from([10, 244, 1, 10 + f.client]);
    let s = IpAddr::from([10, 96, 0, 10 + f.server]);
    if f.udp {
        Tuple::udp(c, f.sport, s, f.dport)
    } else {
        Tuple::tcp(c, f.sport, s, f.dport)
    }
}

fn flags(f: &Flow) -> TcpFlags {
    if f.udp {
        TcpFlags::default()
    } else {
        TcpFlags::SYN
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn translation_round_trips_to_the_original_endpoints(
        flows in proptest::collection::vec(flow(), 1..40),
        seed: u64,
    ) {
        let mut ct = Conntrack::default();
        let mut rng = SimRng::new(seed);
        let node = NatRange::to(IpAddr::from([192, 168, 1, 10]));
        for f in &flows {
            let t = flow_tuple(f);
            let pkt = CtPacket { tuple: t, tcp_flags: flags(f), icmp_inner: None };
            let CtVerdict::Tracked { id, dir, state } = ct.track(&pkt, T0) else { continue };
            if state != CtState::New || ct.entry(id).unwrap().is_confirmed() {
                // A later packet of a known flow: it must still translate consistently.
                let out = ct.translate(id, dir, &t);
                prop_assert_eq!(out, ct.entry(id).unwrap().tuple(dir.opposite()).invert().unwrap());
                continue;
            }
            match f.dnat {
                Some((ep, port)) => {
                    ct.set_dnat(id, IpAddr::from([10, 244, 2, 10 + ep]), Some(port)).unwrap();
                }
                None => {
                    ct.null_binding(id, Manip::Dst, &mut rng).unwrap();
                }
            }
            ct.set_snat(id, &node, &mut rng).unwrap();
            if ct.confirm(id, T0).is_err() {
                continue;
            }
            let out = ct.translate(id, Direction::Original, &t);
            // The server answers the packet it received...
            let answer = out.invert().unwrap();
            prop_assert_eq!(ct.lookup(&answer, T0), Some((id, Direction::Reply)));
            // ...and the client gets it from the address and port it sent to.
            let back = ct.translate(id, Direction::Reply, &answer);
            prop_assert_eq!(back, t.invert().unwrap());
        }
    }

    #[test]
    fn confirmed_entries_never_share_a_tuple(
        flows in proptest::collection::vec(flow(), 1..60),
        seed: u64,
    ) {
        let mut ct = Conntrack::default();
        let mut rng = SimRng::new(seed);
        let node = NatRange::to(IpAddr::from([192, 168, 1, 10]));
        for f in &flows {
            let t = flow_tuple(f);
            let pkt = CtPacket { tuple: t, tcp_flags: flags(f), icmp_inner: None };
            let CtVerdict::Tracked { id, .. } = ct.track(&pkt, T0) else { continue };
            if ct.entry(id).unwrap().is_confirmed() {
                continue;
            }
            if let Some((ep, port)) = f.dnat {
                ct.set_dnat(id, IpAddr::from([10, 244, 2, 10 + ep]), Some(port)).unwrap();
            }
            ct.set_snat(id, &node, &mut rng).unwrap();
            // With 64512 ports to choose from, a free one is always found.
            prop_assert_eq!(ct.confirm(id, T0), Ok(()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (_, e) in ct.iter() {
            prop_assert!(seen.insert(e.original), "duplicate tuple {}", e.original);
            prop_assert!(seen.insert(e.reply), "duplicate tuple {}", e.reply);
        }
    }
}
