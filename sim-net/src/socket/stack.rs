//! A namespace's local stack: a smoltcp [`Interface`] (`Medium::Ip`, AnyIP) over two packet
//! queues, the sockets of the processes in the namespace, and those processes ([`ServerSpec`],
//! [`ClientSpec`]). The kernel model decides what is local and hands it here; what the stack
//! sends goes back through `ip_local_out`, so OUTPUT, routing and POSTROUTING apply to it.
//!
//! Modelled after Linux:
//! - Ephemeral ports from `ip_local_port_range` (32768–60999). `connect()` starts from a
//!   random even port and walks by two (Linux ≥ 4.2 keeps odd ports for `bind()`); UDP takes
//!   a random free port. The randomness is the namespace's named stream of the seed.
//! - ICMP destination unreachable about a connection in SYN_SENT aborts it (`tcp_v4_err`),
//!   and about a connected UDP socket fails it, with the errno `icmp_err_convert` gives.
//! - A UDP client's socket is connected: it takes datagrams from its peer only. (Linux finds
//!   no socket for a datagram from another address and answers port unreachable; here it is
//!   dropped silently.) A datagram netfilter refuses on its way out fails the send with
//!   EPERM, as `ip_local_out`'s verdict reaches `sendmsg`.
//! - A connection still in SYN_SENT that an ICMP error aborts or its client gives up on goes
//!   away without a packet (no RST), as in Linux.
//! - Servers accept any number of connections: a pool of listening sockets is refilled after
//!   each poll, so the backlog is never the bottleneck.
//!
//! - `ping` runs on an ICMP datagram socket ([`crate::socket::ping`]).
//!
//! Simplified: TCP is smoltcp's (RTO initial and minimum 1 s — Linux's minimum is 200 ms;
//! delayed ACK 10 ms — Linux 40 ms; no SACK, no PMTU discovery), one MTU per namespace (its
//! largest non-loopback device's) bounds the MSS, and TIME_WAIT lasts smoltcp's 10 s.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use sim_core::{SimDuration, SimRng, SimTime};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpEndpoint, IpListenEndpoint, IpProtocol, Ipv4Address,
};

use crate::netns::{NetNsId, SocketProto};
use crate::packet;
use crate::socket::app::{ClientResult, ClientSpec, Outcome, Request, ServerSpec, Service};
use crate::socket::deferred::{self, DeferredQuery};
use crate::socket::http::{self, RequestReader};
use crate::socket::phy::PacketQueues;
use crate::socket::ping::{self, Ping};

/// Linux's default `net.ipv4.ip_local_port_range`.
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);
/// Listening sockets kept ready per TCP server.
const LISTEN_POOL: usize = 4;
/// Socket buffer sizes (each direction).
const TCP_BUFFER: usize = 64 * 1024;
const UDP_PACKETS: usize = 16;
const UDP_BUFFER: usize = 16 * 1024;
/// Polls in a row without the apps making progress before the stack yields.
const MAX_POLL_ROUNDS: usize = 16;

fn instant(t: SimTime) -> Instant {
    Instant::from_micros((t.as_nanos() / 1_000) as i64)
}

fn sim_time(i: Instant) -> SimTime {
    SimTime::from_nanos(i.total_micros().max(0) as u64 * 1_000)
}

fn v4(addr: IpAddress) -> Ipv4Addr {
    match addr {
        IpAddress::Ipv4(a) => a,
        IpAddress::Ipv6(_) => Ipv4Addr::UNSPECIFIED,
    }
}

fn endpoint_v4(e: IpEndpoint) -> SocketAddrV4 {
    SocketAddrV4::new(v4(e.addr), e.port)
}

/// A failure the caller caused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    #[error("{proto:?} port {port} is already in use (EADDRINUSE)")]
    AddrInUse { proto: SocketProto, port: u16 },
    #[error("no free port in ip_local_port_range {}-{}", EPHEMERAL_PORTS.0, EPHEMERAL_PORTS.1)]
    PortsExhausted,
}

struct Server {
    spec: ServerSpec,
    /// Uploads taken so far (netexec names each file after it).
    uploads: u32,
    listeners: Vec<SocketHandle>,
    conns: Vec<Conn>,
    udp: Option<SocketHandle>,
}

struct Conn {
    handle: SocketHandle,
    /// The stack's number for it (deferred answers find their connection by it).
    serial: u64,
    /// Deferred queries read from it and not answered yet.
    awaiting: usize,
    peer: SocketAddrV4,
    /// Echo: bytes still to send back.
    inbuf: Vec<u8>,
    /// netexec: the request so far.
    request: RequestReader,
    answered: bool,
}

struct Client {
    id: u32,
    spec: ClientSpec,
    handle: SocketHandle,
    local: SocketAddrV4,
    started: SimTime,
    deadline: SimTime,
    established: bool,
    /// Bytes of the request handed to the socket so far.
    sent: usize,
    inbuf: Vec<u8>,
    done: bool,
    /// The socket was dropped without a word (a connect that never completed).
    released: bool,
}

/// The sockets and processes of one namespace.
pub struct LocalStack {
    ns: NetNsId,
    iface: Interface,
    queues: PacketQueues,
    sockets: SocketSet<'static>,
    servers: Vec<Server>,
    clients: Vec<Client>,
    pings: Vec<Ping>,
    /// `ping_get_port`'s rover: the last identifier handed out.
    ping_rover: u16,
    /// IPv4 identification of the echo requests sent.
    ip_id: u16,
    ports: SimRng,
    /// Finished client requests, in the order they finished.
    pub results: Vec<ClientResult>,
    /// Queries for [`Service::Dns`] servers' owner, and the connection counter.
    deferred: Deferred,
}

/// What servers hand their owner.
struct Deferred {
    ns: NetNsId,
    next_conn: u64,
    queries: Vec<DeferredQuery>,
}

impl LocalStack {
    /// A stack for namespace `ns` (named `name`, for its random streams) whose packets are at
    /// most `mtu` bytes.
    pub fn new(ns: NetNsId, name: &str, seed: u64, mtu: usize, now: SimTime) -> Self {
        let mut queues = PacketQueues {
            mtu,
            ..PacketQueues::default()
        };
        let mut isn = SimRng::stream(seed, &format!("sim-net/stack/{name}"));
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = isn.next_u64();
        let mut iface = Interface::new(config, &mut queues, instant(now));
        // The kernel model has already decided the packet is local; smoltcp takes it as is.
        iface.set_any_ip(true);
        // And it has decided the route: smoltcp only needs to believe there is one.
        iface
            .routes_mut()
            .add_default_ipv4_route(Ipv4Address::new(0, 0, 0, 1))
            .expect("room for one route");
        LocalStack {
            ns,
            iface,
            queues,
            sockets: SocketSet::new(Vec::new()),
            servers: Vec::new(),
            clients: Vec::new(),
            pings: Vec::new(),
            ping_rover: 0,
            ip_id: 0,
            ports: SimRng::stream(seed, &format!("sim-net/ports/{name}")),
            results: Vec::new(),
            deferred: Deferred {
                ns,
                next_conn: 0,
                queries: Vec::new(),
            },
        }
    }

    /// Ports with a socket bound, listening or connected (what the kernel's socket lookup sees).
    pub fn bound_ports(&self) -> BTreeSet<(SocketProto, u16)> {
        let mut out = BTreeSet::new();
        for s in &self.servers {
            out.insert((s.spec.proto, s.spec.port));
        }
        for c in &self.clients {
            out.insert((c.spec.proto, c.local.port()));
        }
        out
    }

    /// Starts a server.
    pub fn listen(&mut self, spec: ServerSpec) -> Result<(), StackError> {
        if self.bound_ports().contains(&(spec.proto, spec.port)) {
            return Err(StackError::AddrInUse {
                proto: spec.proto,
                port: spec.port,
            });
        }
        let mut server = Server {
            spec,
            uploads: 0,
            listeners: Vec::new(),
            conns: Vec::new(),
            udp: None,
        };
        match server.spec.proto {
            SocketProto::Tcp => {
                refill_listeners(&mut self.sockets, &mut server, &mut self.deferred.next_conn)
            }
            SocketProto::Udp => {
                let mut sock = udp_socket();
                sock.bind(server.spec.port).expect("port is not 0");
                server.udp = Some(self.sockets.add(sock));
            }
        }
        self.servers.push(server);
        Ok(())
    }

    /// Swaps what the server on `(proto, port)` answers; false if there is none.
    pub fn set_service(&mut self, proto: SocketProto, port: u16, service: Service) -> bool {
        match self
            .servers
            .iter_mut()
            .find(|s| s.spec.proto == proto && s.spec.port == port)
        {
            Some(s) => {
                s.spec.service = service;
                true
            }
            None => false,
        }
    }

    /// The queries [`Service::Dns`] servers received since the last call.
    pub fn take_deferred(&mut self) -> Vec<DeferredQuery> {
        std::mem::take(&mut self.deferred.queries)
    }

    /// Sends `answer` to `query` (framed on TCP, where the connection closes once nothing it
    /// brought is unanswered); false if its socket or connection is gone.
    pub fn answer(&mut self, query: &DeferredQuery, answer: &[u8]) -> bool {
        let Some(server) = self.servers.iter_mut().find(|s| {
            s.spec.proto == query.proto
                && s.spec.port == query.port
                && s.spec.service == Service::Dns
        }) else {
            return false;
        };
        match (server.udp, query.conn) {
            (Some(h), None) => {
                let meta = udp::UdpMetadata {
                    endpoint: IpEndpoint::new(IpAddress::Ipv4(*query.peer.ip()), query.peer.port()),
                    local_address: Some(IpAddress::Ipv4(query.local)),
                    meta: Default::default(),
                };
                // A full send buffer drops the answer, as a full socket buffer would.
                self.sockets
                    .get_mut::<udp::Socket>(h)
                    .send_slice(answer, meta)
                    .is_ok()
            }
            (None, Some(serial)) => {
                let Some(conn) = server.conns.iter_mut().find(|c| c.serial == serial) else {
                    return false;
                };
                let sock = self.sockets.get_mut::<tcp::Socket>(conn.handle);
                conn.awaiting = conn.awaiting.saturating_sub(1);
                let framed = deferred::frame(answer);
                let sent = sock.send_slice(&framed).unwrap_or(0) == framed.len();
                if conn.awaiting == 0 && conn.inbuf.is_empty() {
                    sock.close();
                }
                sent
            }
            _ => false,
        }
    }

    /// A free ephemeral port for `proto`.
    fn ephemeral_port(&mut self, proto: SocketProto) -> Result<u16, StackError> {
        let bound = self.bound_ports();
        let (lo, hi) = EPHEMERAL_PORTS;
        let span = u64::from(hi - lo) + 1;
        let (start, step) = match proto {
            SocketProto::Tcp => (self.ports.below(span) & !1, 2),
            SocketProto::Udp => (self.ports.below(span), 1),
        };
        (0..span)
            .map(|i| lo + ((start + i * step) % span) as u16)
            .find(|p| !bound.contains(&(proto, *p)))
            .ok_or(StackError::PortsExhausted)
    }

    /// Starts client request `id` from source address `src`; its first packets come out of
    /// the next [`LocalStack::poll`].
    pub fn connect(
        &mut self,
        id: u32,
        spec: ClientSpec,
        src: Ipv4Addr,
        now: SimTime,
    ) -> Result<(), StackError> {
        if let Request::Ping { seq, size } = spec.request {
            self.ping(id, spec, seq, size, src, now);
            return Ok(());
        }
        let port = self.ephemeral_port(spec.proto)?;
        let local = SocketAddrV4::new(src, port);
        let handle = match (&spec.proto, &spec.request) {
            (SocketProto::Tcp, _) => {
                let mut sock = tcp_socket();
                let remote = IpEndpoint::new(IpAddress::Ipv4(*spec.dst.ip()), spec.dst.port());
                let local_ep = IpListenEndpoint {
                    addr: Some(IpAddress::Ipv4(src)),
                    port,
                };
                sock.connect(self.iface.context(), remote, local_ep)
                    .expect("the remote endpoint is addressable and the socket new");
                self.sockets.add(sock)
            }
            (SocketProto::Udp, request) => {
                let mut sock = udp_socket();
                sock.bind(IpListenEndpoint {
                    addr: Some(IpAddress::Ipv4(src)),
                    port,
                })
                .expect("port is not 0");
                let payload = match request {
                    Request::Send { payload } => payload.clone(),
                    Request::Connect | Request::Ping { .. } => Vec::new(),
                    Request::HttpGet { path } => http::get_request(spec.dst, path),
                    Request::Upload { bytes } => {
                        let up = http::Upload::new(spec.dst, *bytes);
                        let mut buf = vec![0; up.total_len() as usize];
                        up.fill(0, &mut buf);
                        buf
                    }
                };
                let to = IpEndpoint::new(IpAddress::Ipv4(*spec.dst.ip()), spec.dst.port());
                sock.send_slice(&payload, to)
                    .expect("a fresh socket has room for one datagram");
                self.sockets.add(sock)
            }
        };
        let deadline = now + spec.timeout;
        self.clients.push(Client {
            id,
            spec,
            handle,
            local,
            started: now,
            deadline,
            established: false,
            sent: 0,
            inbuf: Vec::new(),
            done: false,
            released: false,
        });
        Ok(())
    }

    /// Opens a ping socket for one echo request; it goes out at the next poll.
    fn ping(
        &mut self,
        id: u32,
        spec: ClientSpec,
        seq: u16,
        size: usize,
        src: Ipv4Addr,
        now: SimTime,
    ) {
        let used: BTreeSet<u16> = self
            .pings
            .iter()
            .filter(|p| !p.done)
            .map(|p| p.ident)
            .collect();
        let mut ident = self.ping_rover;
        loop {
            ident = ident.wrapping_add(1).max(1);
            if !used.contains(&ident) {
                break;
            }
        }
        self.ping_rover = ident;
        let ping = Ping {
            id,
            deadline: now + spec.timeout,
            spec,
            ident,
            seq,
            size,
            src,
            started: now,
            sent: false,
            done: false,
        };
        if !ping.fits(self.queues.mtu) {
            self.results.push(ping.result(
                self.ns,
                now,
                Outcome::Unreachable { errno: "EMSGSIZE" },
            ));
            return;
        }
        self.pings.push(ping);
    }

    /// The echo requests not yet sent, as IPv4 packets.
    fn send_pings(&mut self, now: SimTime) {
        for p in self.pings.iter_mut().filter(|p| !p.sent) {
            p.sent = true;
            self.ip_id = self.ip_id.wrapping_add(1);
            self.queues.tx.push(p.echo_request(now, self.ip_id));
        }
    }

    /// An echo reply or an ICMP error about an echo request, for one of our pings: it ends
    /// that ping. Anything else is not for a ping socket (false).
    fn ping_answer(&mut self, pkt: &[u8], now: SimTime) -> bool {
        let Some((ident, seq, outcome)) = ping::answer(pkt) else {
            return false;
        };
        let Some(p) = self
            .pings
            .iter_mut()
            .find(|p| !p.done && p.ident == ident && p.seq == seq)
        else {
            return false;
        };
        p.done = true;
        let result = p.result(self.ns, now, outcome);
        self.results.push(result);
        true
    }

    /// Records a request that failed before it had a socket (no route, no port).
    pub fn fail(&mut self, id: u32, spec: &ClientSpec, src: Ipv4Addr, now: SimTime, why: Outcome) {
        self.results.push(ClientResult {
            id,
            ns: self.ns,
            local: SocketAddrV4::new(src, 0),
            dst: spec.dst,
            started: now,
            finished: now,
            outcome: why,
        });
    }

    /// A packet the kernel delivered to this namespace's sockets. ICMP errors are the
    /// kernel's business (`icmp_unreach` → `tcp_v4_err`/`udp_err`); everything else goes to
    /// smoltcp.
    pub fn receive(&mut self, pkt: Vec<u8>, now: SimTime) {
        if self.ping_answer(&pkt, now) {
            return;
        }
        if let Some((proto, local_port, code)) = icmp_unreachable(&pkt) {
            self.icmp_error(proto, local_port, code, now);
            return;
        }
        self.queues.rx.push_back(pkt);
    }

    /// Netfilter dropped or rejected a datagram this namespace's UDP client on `local_port`
    /// sent, in OUTPUT or POSTROUTING: `sendmsg` fails with EPERM (Linux's `ip_local_out`
    /// returns the verdict to the caller). Found by the kernel differential tests: a node's
    /// UDP request to a Service without endpoints (kube-proxy REJECTs it in OUTPUT) fails
    /// with EPERM, not with the ICMP error the REJECT also sends.
    pub fn send_refused(&mut self, local_port: u16, now: SimTime) {
        let Some(i) = self.clients.iter().position(|c| {
            !c.done && c.spec.proto == SocketProto::Udp && c.local.port() == local_port
        }) else {
            return;
        };
        self.finish(i, now, Outcome::Unreachable { errno: "EPERM" });
        let handle = self.clients[i].handle;
        self.sockets.get_mut::<udp::Socket>(handle).close();
    }

    fn icmp_error(&mut self, proto: SocketProto, local_port: u16, code: u8, now: SimTime) {
        let outcome = match code {
            3 => Outcome::Refused,
            0 | 6 | 11 => Outcome::Unreachable {
                errno: "ENETUNREACH",
            },
            // Fragmentation needed is PMTU discovery's business, not a failure.
            4 => return,
            2 => Outcome::Unreachable {
                errno: "ENOPROTOOPT",
            },
            _ => Outcome::Unreachable {
                errno: "EHOSTUNREACH",
            },
        };
        let Some(i) = self.clients.iter().position(|c| {
            !c.done
                && c.spec.proto == proto
                && c.local.port() == local_port
                && (proto == SocketProto::Udp || !c.established)
        }) else {
            return;
        };
        self.finish(i, now, outcome);
        if proto == SocketProto::Tcp {
            // `tcp_v4_err` on a connection in SYN_SENT: `tcp_done`, nothing sent.
            self.release(i);
        }
    }

    /// Drops client `i`'s TCP socket without sending anything: what Linux does to a
    /// connection still in SYN_SENT that an ICMP error aborts (`tcp_done`) or its process
    /// closes (`tcp_close`: SYN_SENT goes straight to CLOSE, no FIN, no RST). smoltcp's
    /// `abort`/`close` would send a RST from there.
    fn release(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if !c.released {
            self.sockets.remove(c.handle);
            c.released = true;
        }
    }

    /// Runs the stack at `now`: takes in queued packets, lets the processes act, and returns
    /// the packets to send (each an IPv4 packet for `ip_local_out`).
    pub fn poll(&mut self, now: SimTime) -> Vec<Vec<u8>> {
        let at = instant(now);
        for _ in 0..MAX_POLL_ROUNDS {
            self.iface.poll(at, &mut self.queues, &mut self.sockets);
            if !self.run_apps(now) && self.queues.rx.is_empty() {
                break;
            }
        }
        self.iface.poll(at, &mut self.queues, &mut self.sockets);
        self.send_pings(now);
        for i in 0..self.pings.len() {
            let p = &mut self.pings[i];
            if !p.done && now >= p.deadline {
                p.done = true;
                let result = p.result(self.ns, now, Outcome::TimedOut);
                self.results.push(result);
            }
        }
        self.reap();
        std::mem::take(&mut self.queues.tx)
    }

    /// When the stack next needs [`LocalStack::poll`]: a TCP timer or a client's deadline.
    pub fn poll_at(&mut self, now: SimTime) -> Option<SimTime> {
        let timer = self
            .iface
            .poll_at(instant(now), &self.sockets)
            .map(sim_time);
        let deadline = self
            .clients
            .iter()
            .filter(|c| !c.done)
            .map(|c| c.deadline)
            .chain(self.pings.iter().filter(|p| !p.done).map(|p| p.deadline))
            .min();
        let next = match (timer, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        // smoltcp counts in microseconds; never ask to be woken in the past.
        Some(next.max(now + SimDuration::from_micros(1)))
    }

    fn finish(&mut self, i: usize, now: SimTime, outcome: Outcome) {
        let c = &mut self.clients[i];
        c.done = true;
        self.results.push(ClientResult {
            id: c.id,
            ns: self.ns,
            local: c.local,
            dst: c.spec.dst,
            started: c.started,
            finished: now,
            outcome,
        });
    }

    /// Lets every process act on its sockets; true if any of them did something.
    fn run_apps(&mut self, now: SimTime) -> bool {
        let mut progress = false;
        for server in &mut self.servers {
            progress |= serve(&mut self.sockets, server, now, &mut self.deferred);
        }
        for i in 0..self.clients.len() {
            if !self.clients[i].done {
                progress |= self.run_client(i, now);
            }
        }
        progress
    }

    fn run_client(&mut self, i: usize, now: SimTime) -> bool {
        let c = &mut self.clients[i];
        let handle = c.handle;
        if now >= c.deadline {
            match c.spec.proto {
                SocketProto::Tcp => {
                    let sock = self.sockets.get_mut::<tcp::Socket>(handle);
                    if sock.state() == tcp::State::SynSent {
                        self.release(i);
                    } else {
                        // Simplified: Linux's close() would send a FIN (a RST only with
                        // unread data); the client gives up with a RST.
                        sock.abort();
                    }
                }
                SocketProto::Udp => self.sockets.get_mut::<udp::Socket>(handle).close(),
            }
            self.finish(i, now, Outcome::TimedOut);
            return true;
        }
        if c.spec.proto == SocketProto::Udp {
            let sock = self.sockets.get_mut::<udp::Socket>(handle);
            let mut progress = false;
            loop {
                let Ok((data, meta)) = sock.recv() else {
                    return progress;
                };
                // A connected socket (agnhost's `net.Dial("udp")`) takes datagrams from its
                // peer only: an answer that comes back from another address (a DNATed
                // request answered around the NAT) is not a reply.
                if endpoint_v4(meta.endpoint) != c.spec.dst {
                    progress = true;
                    continue;
                }
                let outcome = Outcome::Reply(data.to_vec());
                sock.close();
                self.finish(i, now, outcome);
                return true;
            }
        }
        let sock = self.sockets.get_mut::<tcp::Socket>(handle);
        let mut progress = false;
        if !c.established && sock.may_send() {
            c.established = true;
            progress = true;
            if c.spec.request == Request::Connect {
                sock.close();
                self.finish(i, now, Outcome::Connected);
                return true;
            }
        }
        // The request goes out as the send buffer takes it. `Send` then half-closes (like
        // `nc -N`) so an echo server knows it has everything; HTTP waits for the server.
        // An upload's bytes are generated as the buffer takes them.
        if let Request::Upload { bytes } = c.spec.request {
            let up = http::Upload::new(c.spec.dst, bytes);
            if c.established && (c.sent as u64) < up.total_len() && sock.can_send() {
                let offset = c.sent as u64;
                c.sent += sock
                    .send(|buf| {
                        let n = up.fill(offset, buf);
                        (n, n)
                    })
                    .unwrap_or(0);
                progress = true;
            }
        }
        let request = match &c.spec.request {
            Request::HttpGet { path } => Some((http::get_request(c.spec.dst, path), false)),
            Request::Send { payload } => Some((payload.clone(), true)),
            Request::Connect | Request::Upload { .. } | Request::Ping { .. } => None,
        };
        if let Some((bytes, half_close)) = request
            && c.established
            && c.sent < bytes.len()
            && sock.can_send()
        {
            c.sent += sock.send_slice(&bytes[c.sent..]).unwrap_or(0);
            if c.sent == bytes.len() && half_close {
                sock.close();
            }
            progress = true;
        }
        while sock.can_recv() {
            let mut buf = [0u8; 4096];
            let n = sock.recv_slice(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            c.inbuf.extend_from_slice(&buf[..n]);
            progress = true;
        }
        let outcome = if c.established && !sock.may_recv() && sock.state() != tcp::State::Closed {
            // The server closed after answering.
            sock.close();
            Some(match &c.spec.request {
                Request::HttpGet { .. } | Request::Upload { .. } => {
                    match http::parse_response(&c.inbuf) {
                        Ok(r) => Outcome::Http(r),
                        Err(why) => Outcome::BadResponse(why),
                    }
                }
                _ => Outcome::Reply(std::mem::take(&mut c.inbuf)),
            })
        } else if sock.state() == tcp::State::Closed {
            Some(if c.established {
                Outcome::Reset
            } else {
                Outcome::Refused
            })
        } else {
            None
        };
        if let Some(o) = outcome {
            self.finish(i, now, o);
            progress = true;
        }
        progress
    }

    /// Frees the sockets of finished clients and closed connections once they are closed.
    fn reap(&mut self) {
        let sockets = &mut self.sockets;
        self.clients.retain(|c| {
            if c.released {
                return false;
            }
            let closed = !c.done
                || match c.spec.proto {
                    SocketProto::Tcp => {
                        sockets.get::<tcp::Socket>(c.handle).state() != tcp::State::Closed
                    }
                    SocketProto::Udp => sockets.get::<udp::Socket>(c.handle).is_open(),
                };
            if !closed {
                sockets.remove(c.handle);
            }
            closed
        });
        self.pings.retain(|p| !p.done);
        for s in &mut self.servers {
            s.conns.retain(|c| {
                let open = sockets.get::<tcp::Socket>(c.handle).state() != tcp::State::Closed;
                if !open {
                    sockets.remove(c.handle);
                }
                open
            });
        }
    }
}

fn tcp_socket() -> tcp::Socket<'static> {
    tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER]),
    )
}

fn udp_socket() -> udp::Socket<'static> {
    let buf = || {
        udp::PacketBuffer::new(
            vec![udp::PacketMetadata::EMPTY; UDP_PACKETS],
            vec![0; UDP_BUFFER],
        )
    };
    udp::Socket::new(buf(), buf())
}

/// Moves listeners that took a connection to the connection list and tops the pool up.
fn refill_listeners(sockets: &mut SocketSet<'static>, server: &mut Server, next_conn: &mut u64) {
    server.listeners.retain(|&h| {
        let sock = sockets.get::<tcp::Socket>(h);
        if sock.state() == tcp::State::Listen {
            return true;
        }
        let peer = sock.remote_endpoint().map(endpoint_v4);
        *next_conn += 1;
        server.conns.push(Conn {
            handle: h,
            serial: *next_conn,
            awaiting: 0,
            peer: peer.unwrap_or(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)),
            inbuf: Vec::new(),
            request: RequestReader::default(),
            answered: false,
        });
        false
    });
    while server.listeners.len() < LISTEN_POOL {
        let mut sock = tcp_socket();
        sock.listen(server.spec.port).expect("port is not 0");
        server.listeners.push(sockets.add(sock));
    }
}

/// One server's turn; true if it did something.
fn serve(
    sockets: &mut SocketSet<'static>,
    server: &mut Server,
    now: SimTime,
    deferred: &mut Deferred,
) -> bool {
    let mut progress = false;
    if let Some(h) = server.udp {
        let sock = sockets.get_mut::<udp::Socket>(h);
        while let Ok((data, meta)) = sock.recv() {
            let peer = endpoint_v4(meta.endpoint);
            let answer = match &server.spec.service {
                Service::Echo => Some(data.to_vec()),
                Service::NetExec { hostname } => http::netexec_udp_answer(data, hostname, peer),
                Service::Http(_) => None,
                Service::Dns => {
                    deferred.queries.push(DeferredQuery {
                        ns: deferred.ns,
                        proto: SocketProto::Udp,
                        port: server.spec.port,
                        peer,
                        local: match meta.local_address {
                            Some(IpAddress::Ipv4(a)) => a,
                            _ => Ipv4Addr::UNSPECIFIED,
                        },
                        message: data.to_vec(),
                        conn: None,
                    });
                    None
                }
            };
            if let Some(answer) = answer {
                let reply = udp::UdpMetadata {
                    endpoint: meta.endpoint,
                    local_address: meta.local_address,
                    meta: meta.meta,
                };
                // A full send buffer drops the answer, as a full socket buffer would.
                let _ = sock.send_slice(&answer, reply);
            }
            progress = true;
        }
        return progress;
    }
    let before = server.conns.len();
    refill_listeners(sockets, server, &mut deferred.next_conn);
    progress |= server.conns.len() != before;
    for conn in &mut server.conns {
        let sock = sockets.get_mut::<tcp::Socket>(conn.handle);
        while sock.can_recv() {
            let mut buf = [0u8; 4096];
            let n = sock.recv_slice(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            match &server.spec.service {
                // Echo what fits; the rest waits in our buffer for the next turn.
                Service::Echo | Service::Dns => conn.inbuf.extend_from_slice(&buf[..n]),
                Service::NetExec { .. } | Service::Http(_) => conn.request.feed(&buf[..n]),
            }
            progress = true;
        }
        match &server.spec.service {
            Service::Echo => {
                if !conn.inbuf.is_empty() && sock.can_send() {
                    let sent = sock.send_slice(&conn.inbuf).unwrap_or(0);
                    conn.inbuf.drain(..sent);
                    progress |= sent > 0;
                }
                if conn.inbuf.is_empty()
                    && !sock.may_recv()
                    && sock.state() == tcp::State::CloseWait
                {
                    sock.close();
                    progress = true;
                }
            }
            Service::Dns => {
                let local = match sock.local_endpoint().map(|e| e.addr) {
                    Some(IpAddress::Ipv4(a)) => a,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                for message in deferred::take_frames(&mut conn.inbuf) {
                    conn.awaiting += 1;
                    deferred.queries.push(DeferredQuery {
                        ns: deferred.ns,
                        proto: SocketProto::Tcp,
                        port: server.spec.port,
                        peer: conn.peer,
                        local,
                        message,
                        conn: Some(conn.serial),
                    });
                    progress = true;
                }
                // The client closed: nothing more will come.
                if conn.awaiting == 0 && sock.state() == tcp::State::CloseWait {
                    sock.close();
                    progress = true;
                }
            }
            Service::NetExec { .. } | Service::Http(_) => {
                let uploads = &mut server.uploads;
                let answer = |head: &[u8]| match &server.spec.service {
                    Service::NetExec { hostname } => {
                        http::netexec_response(head, hostname, conn.peer, now, uploads)
                    }
                    Service::Http(a) => http::fixed_response(head, a),
                    Service::Echo | Service::Dns => None,
                };
                if !conn.answered
                    && let Some(resp) = conn.request.complete().and_then(answer)
                {
                    sock.send_slice(&resp).expect("fits an empty buffer");
                    sock.close();
                    conn.answered = true;
                    progress = true;
                }
                // The client closed without a whole request.
                if !conn.answered && sock.state() == tcp::State::CloseWait {
                    sock.close();
                    conn.answered = true;
                    progress = true;
                }
            }
        }
    }
    progress
}

/// `(protocol, our port, code)` of an ICMP destination unreachable quoting one of our packets.
fn icmp_unreachable(pkt: &[u8]) -> Option<(SocketProto, u16, u8)> {
    let s = packet::parse_ipv4(pkt)?;
    if s.protocol != IpProtocol::Icmp {
        return None;
    }
    let icmp = pkt.get(s.header_len..s.total_len)?;
    if *icmp.first()? != 3 {
        return None;
    }
    // The quoted packet: our IPv4 header and the first 8 bytes after it, source port first.
    let quoted = icmp.get(8..)?;
    let ihl = usize::from(quoted.first()? & 0x0f) * 4;
    let proto = match IpProtocol::from(*quoted.get(9)?) {
        IpProtocol::Tcp => SocketProto::Tcp,
        IpProtocol::Udp => SocketProto::Udp,
        _ => return None,
    };
    let sport = u16::from_be_bytes([*quoted.get(ihl)?, *quoted.get(ihl + 1)?]);
    Some((proto, sport, icmp[1]))
}
