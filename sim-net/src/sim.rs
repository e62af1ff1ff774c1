//! The engine driver: the network as a sim-core [`World`]. Links delay, queue and lose;
//! neighbour timers run; every hop is also written to the run's trace. Namespaces with
//! processes ([`NetSim::serve`], [`NetSim::request`]) get a [`LocalStack`]: the packets the
//! kernel delivers there go to it, what it sends enters `ip_local_out`, and its timers are
//! engine events.

use std::collections::BTreeMap;

use sim_core::{Ctx, Engine, SimRng, SimTime, Token, TraceRecord, World};

use crate::datapath::{Clock, Delivered, Effects, Job, Work};
use crate::hop::Hop;
use crate::netns::NetNsId;
use crate::netns::SocketProto;
use crate::network::Network;
use crate::pcapng::{Capture, CapturedPacket, Direction, LinkType};
use crate::socket::{
    ClientResult, ClientSpec, DeferredQuery, LocalStack, Outcome, ServerSpec, Service, StackError,
};

/// What the engine runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimEvent {
    /// Work for the kernel's packet path.
    Packet(Job),
    /// A namespace's local stack is due (a TCP timer or a client's deadline).
    StackPoll(NetNsId),
    /// A client in `ns` starts request `id`.
    Request {
        ns: NetNsId,
        id: u32,
        spec: ClientSpec,
    },
}

/// An event and when it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub at: SimTime,
    pub event: SimEvent,
}

impl From<Job> for Scheduled {
    fn from(job: Job) -> Self {
        Scheduled {
            at: job.at,
            event: SimEvent::Packet(job),
        }
    }
}

/// A network running in the engine.
pub struct NetSim {
    pub net: Network,
    /// Every hop, in order (kept when `record_hops`).
    pub hops: Vec<Hop>,
    pub record_hops: bool,
    /// Packets handed to local sockets.
    pub delivered: Vec<Delivered>,
    /// Hops processed so far (counted even when not recorded).
    pub hop_count: u64,
    /// Every frame received or sent by every device, when enabled with [`NetSim::capture`].
    pub capture: Option<Capture>,
    next_tag: u32,
    rng: SimRng,
    seed: u64,
    /// Local stacks of the namespaces that run processes, with their pending wake-up.
    stacks: BTreeMap<NetNsId, (LocalStack, Option<(SimTime, Token)>)>,
    next_request: u32,
    /// Queries [`Service::Dns`] servers wait to have answered, oldest first.
    deferred: Vec<DeferredQuery>,
}

impl NetSim {
    /// `seed` feeds the `"sim-net/links"` stream (loss).
    pub fn new(net: Network, seed: u64) -> Self {
        NetSim {
            net,
            hops: Vec::new(),
            record_hops: true,
            delivered: Vec::new(),
            hop_count: 0,
            capture: None,
            next_tag: 0,
            rng: SimRng::stream(seed, "sim-net/links"),
            seed,
            stacks: BTreeMap::new(),
            next_request: 0,
            deferred: Vec::new(),
        }
    }

    fn stack(&mut self, ns: NetNsId, now: SimTime) -> &mut LocalStack {
        let (net, seed) = (&self.net, self.seed);
        &mut self
            .stacks
            .entry(ns)
            .or_insert_with(|| {
                let name = &net.netns(ns).name;
                (
                    LocalStack::new(ns, name, seed, net.stack_mtu(ns), now),
                    None,
                )
            })
            .0
    }

    /// Starts a server in `ns` (at time zero: servers are up before the run starts).
    pub fn serve(&mut self, ns: NetNsId, spec: ServerSpec) -> Result<(), StackError> {
        self.stack(ns, SimTime::ZERO).listen(spec)?;
        self.sync_ports(ns);
        Ok(())
    }

    /// Serves `service` on `(proto, port)` in `ns`: swaps the answer of the server already
    /// there, or starts one.
    pub fn set_service(
        &mut self,
        ns: NetNsId,
        proto: SocketProto,
        port: u16,
        service: Service,
    ) -> Result<(), StackError> {
        if self
            .stack(ns, SimTime::ZERO)
            .set_service(proto, port, service.clone())
        {
            return Ok(());
        }
        self.serve(
            ns,
            ServerSpec {
                proto,
                port,
                service,
            },
        )
    }

    /// The queries [`Service::Dns`] servers received and nobody has answered yet.
    pub fn take_deferred(&mut self) -> Vec<DeferredQuery> {
        std::mem::take(&mut self.deferred)
    }

    /// Whether a [`Service::Dns`] server is waiting for an answer.
    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Sends `answer` to `query` now; false if its socket or connection is gone.
    pub fn answer_deferred<E: From<SimEvent>>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        query: &DeferredQuery,
        answer: &[u8],
    ) -> bool {
        let Some((stack, _)) = self.stacks.get_mut(&query.ns) else {
            return false;
        };
        let sent = stack.answer(query, answer);
        self.poll_stack(ctx, query.ns);
        sent
    }

    /// A client request from `ns` at `at`; its id is the event's, and its result appears in
    /// [`NetSim::results`].
    pub fn request(&mut self, at: SimTime, ns: NetNsId, spec: ClientSpec) -> Scheduled {
        let id = self.next_request;
        self.next_request += 1;
        Scheduled {
            at,
            event: SimEvent::Request { ns, id, spec },
        }
    }

    /// Every finished client request, by namespace then in finishing order.
    pub fn results(&self) -> Vec<&ClientResult> {
        let mut all: Vec<&ClientResult> =
            self.stacks.values().flat_map(|(s, _)| &s.results).collect();
        all.sort_by_key(|r| (r.finished, r.id));
        all
    }

    fn sync_ports(&mut self, ns: NetNsId) {
        if let Some((stack, _)) = self.stacks.get(&ns) {
            self.net.netns_mut(ns).stack_ports = stack.bound_ports();
        }
    }

    /// Starts capturing every frame on every device (one pcapng interface per device, named
    /// `netns/device`, created when it first sees a frame).
    pub fn capture(mut self) -> Self {
        self.capture = Some(Capture::new());
        self
    }

    /// An engine running this network (seeded with `seed`) with `events` scheduled.
    pub fn into_engine(
        self,
        seed: u64,
        events: impl IntoIterator<Item = impl Into<Scheduled>>,
    ) -> Engine<NetSim> {
        let mut engine = Engine::new(self, seed);
        for e in events {
            let e = e.into();
            engine.schedule_at(e.at, e.event);
        }
        engine
    }

    /// A job for an IPv4 packet a socket in `ns` sends at `at`; its tag is returned.
    pub fn send(&mut self, at: SimTime, ns: NetNsId, packet: Vec<u8>) -> Job {
        let tag = self.next_tag;
        self.next_tag += 1;
        Job {
            at,
            tag,
            work: Work::Output { ns, packet },
        }
    }
}

fn hop_record(h: &Hop) -> TraceRecord {
    let component = match &h.device {
        Some(d) => format!("{}/{d}", h.netns),
        None => h.netns.clone(),
    };
    TraceRecord::new(h.time, component, h.point.as_str())
        .with("tag", h.tag)
        .with("verdict", h.verdict.to_string())
        .with("note", h.note.clone())
}

impl NetSim {
    /// Runs one job of the packet path; packets delivered to namespaces with a stack go to it.
    fn packet<E: From<SimEvent>>(&mut self, ctx: &mut Ctx<'_, E>, job: Job) {
        let now = ctx.now();
        // A datagram from a local socket: a netfilter verdict against it on the way out
        // fails the send (see `Effects::local_out_refused`).
        let datagram = match &job.work {
            Work::Output { ns, packet } if self.stacks.contains_key(ns) => {
                crate::packet::parse_ipv4(packet)
                    .filter(|s| s.protocol == smoltcp::wire::IpProtocol::Udp)
                    .and_then(|s| s.ports)
                    .map(|(sport, _)| (*ns, job.tag, sport))
            }
            _ => None,
        };
        let mut fx = Effects::new(now, Clock::Timed, &mut self.rng, self.next_tag);
        if self.capture.is_some() {
            fx.captured = Some(Vec::new());
        }
        self.net.process(job, &mut fx);
        self.next_tag = fx.next_tag();
        let Effects {
            jobs,
            hops,
            delivered,
            captured,
            local_out_refused,
            ..
        } = fx;
        if let (Some(cap), Some(frames)) = (&mut self.capture, captured) {
            for (dev, inbound, data) in frames {
                let interface = cap.interface(&self.net.device_path(dev), LinkType::Ethernet);
                let direction = if inbound {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                };
                cap.record(CapturedPacket {
                    time: now,
                    interface,
                    direction,
                    data,
                });
            }
        }
        self.hop_count += hops.len() as u64;
        for j in jobs {
            ctx.schedule_at(j.at, SimEvent::Packet(j).into());
        }
        if ctx.tracing() {
            for h in &hops {
                ctx.trace(hop_record(h));
            }
        }
        if self.record_hops {
            self.hops.extend(hops);
        }
        let mut woken = Vec::new();
        if let Some((ns, tag, sport)) = datagram
            && local_out_refused.contains(&(ns, tag))
            && let Some((stack, _)) = self.stacks.get_mut(&ns)
        {
            stack.send_refused(sport, now);
            woken.push(ns);
        }
        for d in delivered {
            if !self.to_sink(&d)
                && let Some((stack, _)) = self.stacks.get_mut(&d.ns)
            {
                stack.receive(d.packet.clone(), now);
                if woken.last() != Some(&d.ns) {
                    woken.push(d.ns);
                }
            }
            self.delivered.push(d);
        }
        for ns in woken {
            self.poll_stack(ctx, ns);
        }
    }

    /// Whether a delivered packet is for a port a packet sink holds (see
    /// [`crate::netns::NetNs::sink_ports`]): it is kept in `delivered`, not given to the stack.
    fn to_sink(&self, d: &Delivered) -> bool {
        let sink = &self.net.netns(d.ns).sink_ports;
        if sink.is_empty() {
            return false;
        }
        let Some(s) = crate::packet::parse_ipv4(&d.packet) else {
            return false;
        };
        let proto = match s.protocol {
            smoltcp::wire::IpProtocol::Tcp => crate::netns::SocketProto::Tcp,
            smoltcp::wire::IpProtocol::Udp => crate::netns::SocketProto::Udp,
            _ => return false,
        };
        s.ports
            .is_some_and(|(_, dport)| sink.contains(&(proto, dport)))
    }

    /// Starts a client request: routing picks its source address (or fails it at once).
    fn start_request<E: From<SimEvent>>(
        &mut self,
        ctx: &mut Ctx<'_, E>,
        ns: NetNsId,
        id: u32,
        spec: ClientSpec,
    ) {
        let now = ctx.now();
        let src = self.net.source_address(ns, *spec.dst.ip());
        let stack = self.stack(ns, now);
        match src {
            None => stack.fail(
                id,
                &spec,
                std::net::Ipv4Addr::UNSPECIFIED,
                now,
                Outcome::NoRoute,
            ),
            Some(src) => {
                if let Err(e) = stack.connect(id, spec.clone(), src, now) {
                    let errno = match e {
                        StackError::PortsExhausted => "EADDRNOTAVAIL",
                        StackError::AddrInUse { .. } => "EADDRINUSE",
                    };
                    stack.fail(id, &spec, src, now, Outcome::Unreachable { errno });
                }
            }
        }
        self.poll_stack(ctx, ns);
    }

    /// Lets a stack run at now: its packets enter `ip_local_out`, its next wake-up is set.
    fn poll_stack<E: From<SimEvent>>(&mut self, ctx: &mut Ctx<'_, E>, ns: NetNsId) {
        let now = ctx.now();
        let Some((stack, timer)) = self.stacks.get_mut(&ns) else {
            return;
        };
        let out = stack.poll(now);
        self.deferred.extend(stack.take_deferred());
        let next = stack.poll_at(now);
        if let Some((at, token)) = *timer
            && Some(at) != next
        {
            ctx.cancel(token);
            *timer = None;
        }
        if let Some(at) = next
            && timer.is_none()
        {
            *timer = Some((at, ctx.schedule_at(at, SimEvent::StackPoll(ns).into())));
        }
        for packet in out {
            let tag = self.next_tag;
            self.next_tag += 1;
            let job = Job {
                at: now,
                tag,
                work: Work::Output { ns, packet },
            };
            ctx.schedule_at(now, SimEvent::Packet(job).into());
        }
        self.sync_ports(ns);
    }
}

impl NetSim {
    /// Runs one event of the network inside an engine whose events wrap [`SimEvent`] (a
    /// larger world, such as a cluster, embeds the network this way).
    pub fn handle_event<E: From<SimEvent>>(&mut self, ctx: &mut Ctx<'_, E>, event: SimEvent) {
        match event {
            SimEvent::Packet(job) => self.packet(ctx, job),
            SimEvent::StackPoll(ns) => {
                if let Some((_, timer)) = self.stacks.get_mut(&ns) {
                    *timer = None;
                }
                self.poll_stack(ctx, ns);
            }
            SimEvent::Request { ns, id, spec } => self.start_request(ctx, ns, id, spec),
        }
    }
}

impl World for NetSim {
    type Event = SimEvent;

    fn handle(&mut self, ctx: &mut Ctx<'_, SimEvent>, event: SimEvent) {
        self.handle_event(ctx, event);
    }
}
