//! Deferred answers: a `Service::Dns` server hands each query to the namespace's owner, which
//! answers it later; the client sees the answer over UDP, and over TCP with RFC 1035's
//! length framing, from the address it asked.

mod common;

use common::*;
use sim_core::{Ctx, Engine, SimDuration, SimTime, World};
use sim_net::socket::{ClientSpec, DeferredQuery, Outcome, Request, ServerSpec, Service};
use sim_net::{LinkProps, NetSim, SimEvent, SocketProto};

/// A network whose owner answers every query with its bytes reversed, after `delay`.
struct Owner {
    sim: NetSim,
    delay: SimDuration,
    seen: Vec<DeferredQuery>,
}

#[derive(Debug, Clone)]
enum Ev {
    Net(SimEvent),
    Answer(Box<DeferredQuery>),
}

impl From<SimEvent> for Ev {
    fn from(e: SimEvent) -> Self {
        Ev::Net(e)
    }
}

impl World for Owner {
    type Event = Ev;
    fn handle(&mut self, ctx: &mut Ctx<'_, Ev>, event: Ev) {
        match event {
            Ev::Net(e) => self.sim.handle_event(ctx, e),
            Ev::Answer(q) => {
                let mut answer = q.message.clone();
                answer.reverse();
                assert!(self.sim.answer_deferred(ctx, &q, &answer));
            }
        }
        for q in self.sim.take_deferred() {
            self.seen.push(q.clone());
            ctx.schedule_at(ctx.now() + self.delay, Ev::Answer(Box::new(q)));
        }
    }
}

fn send(proto: SocketProto, payload: &[u8]) -> ClientSpec {
    ClientSpec {
        proto,
        dst: "10.244.2.3:53".parse().unwrap(),
        request: Request::Send {
            payload: payload.to_vec(),
        },
        timeout: SimDuration::from_secs(5),
    }
}

#[test]
fn queries_wait_for_the_owner_and_answers_return_over_udp_and_framed_tcp() {
    let t = two_nodes_routed(LinkProps::default());
    let mut sim = NetSim::new(t.net, 1);
    for proto in [SocketProto::Udp, SocketProto::Tcp] {
        sim.serve(
            t.pod_b,
            ServerSpec {
                proto,
                port: 53,
                service: Service::Dns,
            },
        )
        .unwrap();
    }
    // Over TCP the client writes two framed messages in one request.
    let mut framed = sim_net::socket::deferred::frame(b"first");
    framed.extend(sim_net::socket::deferred::frame(b"second"));
    let events = [
        sim.request(SimTime::ZERO, t.pod_a, send(SocketProto::Udp, b"query")),
        sim.request(SimTime::ZERO, t.pod_a, send(SocketProto::Tcp, &framed)),
    ];
    let delay = SimDuration::from_millis(3);
    let mut engine = Engine::new(
        Owner {
            sim,
            delay,
            seen: Vec::new(),
        },
        1,
    )
    .with_budget(1_000_000);
    for e in events {
        engine.schedule_at(e.at, e.event.into());
    }
    engine.run_to_quiescence().unwrap();
    let owner = engine.world();
    let results = owner.sim.results();
    let udp = results.iter().find(|r| r.id == 0).unwrap();
    assert_eq!(udp.outcome, Outcome::Reply(b"yreuq".to_vec()));
    // The answer took the owner's delay on top of the network's.
    assert!(udp.finished - udp.started >= delay, "{udp:?}");
    let tcp = results.iter().find(|r| r.id == 1).unwrap();
    let mut want = sim_net::socket::deferred::frame(b"tsrif");
    want.extend(sim_net::socket::deferred::frame(b"dnoces"));
    // Both answered, then the server closed: the client read until the close.
    assert_eq!(tcp.outcome, Outcome::Reply(want));
    let seen: Vec<(SocketProto, &[u8], String)> = owner
        .seen
        .iter()
        .map(|q| (q.proto, q.message.as_slice(), q.local.to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            (SocketProto::Udp, &b"query"[..], "10.244.2.3".to_string()),
            (SocketProto::Tcp, &b"first"[..], "10.244.2.3".to_string()),
            (SocketProto::Tcp, &b"second"[..], "10.244.2.3".to_string()),
        ]
    );
    assert!(
        owner
            .seen
            .iter()
            .all(|q| q.peer.ip().to_string() == "10.244.1.2")
    );
}
