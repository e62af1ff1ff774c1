//! What the simulated processes do with their sockets: servers that answer (echo, agnhost
//! netexec) and clients that make one request and record what became of it.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use sim_core::{SimDuration, SimTime};

use crate::netns::{NetNsId, SocketProto};
use crate::socket::http::Response;

/// What a server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// Sends back every byte (TCP) or datagram (UDP) it receives.
    Echo,
    /// agnhost `netexec`: HTTP on TCP, its command protocol on UDP (see [`crate::socket::http`]).
    NetExec { hostname: String },
    /// One fixed HTTP answer to every request on TCP (a health check endpoint whose owner
    /// swaps the answer with [`crate::NetSim::set_service`]); UDP datagrams go unanswered.
    Http(HttpAnswer),
    /// A DNS server whose answers come from the namespace's owner: each query (a UDP
    /// datagram, or a length-prefixed message on TCP) waits as a
    /// [`DeferredQuery`](crate::socket::DeferredQuery) until the owner answers it
    /// ([`crate::NetSim::answer_deferred`]).
    Dns,
}

/// A whole HTTP answer: status line, extra headers (after `Content-Length`), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A server listening on every address of its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub proto: SocketProto,
    pub port: u16,
    pub service: Service,
}

/// What a client does once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// TCP: connect, then close (`nc -z`).
    Connect,
    /// TCP: `GET path` over HTTP/1.1 with `Connection: close`; read until the server closes.
    HttpGet { path: String },
    /// TCP: send the bytes, read until the server closes. UDP: send one datagram, wait for one.
    Send { payload: Vec<u8> },
    /// TCP: `POST /upload` of a `bytes`-long file as `multipart/form-data` (what
    /// `curl -F file=@FILE` sends to agnhost netexec), read the answer until the server closes.
    Upload { bytes: u64 },
    /// ICMP echo request `seq` with `size` data bytes (`ping -s`), from an ICMP datagram
    /// socket whose identifier the kernel picks; the destination port is not used.
    Ping { seq: u16, size: usize },
}

/// agnhost's HTTP client gives up after 5 s (`createHTTPClient` in netexec.go); our default.
pub const DEFAULT_CLIENT_TIMEOUT: SimDuration = SimDuration::from_secs(5);

/// One request by one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    pub proto: SocketProto,
    pub dst: SocketAddrV4,
    pub request: Request,
    /// From the first packet to giving up.
    pub timeout: SimDuration,
}

/// What became of a client's request. The errno names are what the same failure gives a
/// Linux process (`icmp_err_convert`, `tcp_reset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The TCP handshake completed (for [`Request::Connect`]).
    Connected,
    /// A whole HTTP response.
    Http(Response),
    /// The bytes that came back (TCP until close, or one UDP datagram).
    Reply(Vec<u8>),
    /// The server's answer was not HTTP.
    BadResponse(String),
    /// ECONNREFUSED: a RST to the SYN, or ICMP port unreachable.
    Refused,
    /// ICMP destination unreachable other than port (EHOSTUNREACH, ENETUNREACH...).
    Unreachable { errno: &'static str },
    /// ECONNRESET: a RST after the connection was established.
    Reset,
    /// No answer within the client's timeout.
    TimedOut,
    /// The local routing table had no route (ENETUNREACH at `connect`).
    NoRoute,
    /// An ICMP echo reply: its ICMP length and the TTL it arrived with.
    EchoReply { bytes: usize, ttl: u8 },
    /// An ICMP error about an echo request, from the hop that sent it, in `ping`'s words.
    IcmpError {
        from: Ipv4Addr,
        message: &'static str,
    },
}

impl Outcome {
    /// Whether the request got through to a server and back.
    pub fn is_success(&self) -> bool {
        matches!(
            self,
            Outcome::Connected | Outcome::Http(_) | Outcome::Reply(_) | Outcome::EchoReply { .. }
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Connected => f.write_str("connected"),
            Outcome::Http(r) => write!(f, "HTTP {} {:?}", r.status, r.body),
            Outcome::Reply(b) => write!(f, "reply {:?}", String::from_utf8_lossy(b)),
            Outcome::BadResponse(why) => write!(f, "bad response: {why}"),
            Outcome::Refused => f.write_str("refused (ECONNREFUSED)"),
            Outcome::Unreachable { errno } => write!(f, "unreachable ({errno})"),
            Outcome::Reset => f.write_str("reset (ECONNRESET)"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::NoRoute => f.write_str("no route (ENETUNREACH)"),
            Outcome::EchoReply { bytes, ttl } => write!(f, "echo reply ({bytes} bytes, ttl {ttl})"),
            Outcome::IcmpError { from, message } => write!(f, "from {from}: {message}"),
        }
    }
}

/// The record a client leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResult {
    pub id: u32,
    pub ns: NetNsId,
    /// The client's own address and (ephemeral) port; port 0 if it never got one.
    pub local: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub started: SimTime,
    pub finished: SimTime,
    pub outcome: Outcome,
}

impl ClientResult {
    pub fn elapsed(&self) -> SimDuration {
        self.finished.saturating_duration_since(self.started)
    }
}
