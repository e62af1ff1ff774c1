//! `kube-netsim dns serve`'s sockets: a [`Responder`] behind a real UDP socket and a real
//! TCP listener on the same address (loopback unless the user names another one).
//!
//! - UDP: one thread reads datagrams and sends each reply to the sender; the server
//!   truncates replies that do not fit the client's buffer (TC), so clients retry over TCP.
//! - TCP (RFC 1035 §4.2.2, RFC 7766): one thread accepts, one thread per connection reads
//!   messages with a two-byte length prefix, several per connection, in order, and closes
//!   the connection after [`TCP_IDLE_TIMEOUT`] without a message (CoreDNS's server default)
//!   or when a message is cut short. At most [`MAX_TCP_CONNECTIONS`] connections are served
//!   at once; a connection beyond that is closed at once (our bound, not CoreDNS's).
//! - Packets the server does not answer (shorter than a header, or a response) and the
//!   server's `log`/`errors` lines are reported on stderr, one line each.
//!
//! No signal handling: the server holds no state worth saving, so the default action of
//! SIGINT/SIGTERM (the process ends, the kernel closes the sockets) is a clean stop.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use sim_k8s::dns::Transport;
use sim_k8s::dns::server::wire::DropReason;

use super::Responder;

/// How long a TCP connection may sit without a message (CoreDNS's server default idle
/// timeout, 10 s).
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long writing a reply may take (CoreDNS's server default write timeout, 5 s).
pub const TCP_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP connections served at once.
pub const MAX_TCP_CONNECTIONS: usize = 128;
/// The largest UDP datagram.
const UDP_MAX_SIZE: usize = 65535;
/// Attempts at finding a port free for both UDP and TCP when asked for port 0.
const BIND_ATTEMPTS: usize = 16;

/// The bound sockets.
#[derive(Debug)]
pub struct Listeners {
    udp: UdpSocket,
    tcp: TcpListener,
}

impl Listeners {
    /// Binds UDP and TCP on `addr`; port 0 picks one port free for both.
    pub fn bind(addr: SocketAddr) -> io::Result<Listeners> {
        if addr.port() != 0 {
            let udp = UdpSocket::bind(addr)?;
            let tcp = TcpListener::bind(addr)?;
            return Ok(Listeners { udp, tcp });
        }
        let mut last = None;
        for _ in 0..BIND_ATTEMPTS {
            let udp = UdpSocket::bind(addr)?;
            match TcpListener::bind(udp.local_addr()?) {
                Ok(tcp) => return Ok(Listeners { udp, tcp }),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no free port")))
    }

    /// The address both sockets are bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Serves until a socket fails; returns that error.
    pub fn run(self, responder: Responder) -> io::Error {
        let shared = Arc::new(Mutex::new(responder));
        let (failed, first_failure) = mpsc::channel();
        let udp_failed = failed.clone();
        let udp_shared = Arc::clone(&shared);
        let udp = self.udp;
        thread::spawn(move || {
            let _ = udp_failed.send(serve_udp(&udp, &udp_shared));
        });
        let tcp = self.tcp;
        thread::spawn(move || {
            let _ = failed.send(serve_tcp(&tcp, &shared));
        });
        first_failure
            .recv()
            .unwrap_or_else(|_| io::Error::other("the server threads ended"))
    }
}

/// Answers one message, reporting drops and log lines on stderr.
fn respond(
    shared: &Mutex<Responder>,
    transport: Transport,
    peer: SocketAddr,
    message: &[u8],
) -> Option<Vec<u8>> {
    // A panic while holding the lock would be a broken invariant of the server; the
    // responder's data is still the fixed view, so go on with it.
    let mut responder = shared.lock().unwrap_or_else(|p| p.into_inner());
    let reply = responder.answer(transport, message);
    for entry in responder.take_log() {
        eprintln!("{}", entry.line);
    }
    drop(responder);
    match reply {
        Ok(bytes) => Some(bytes),
        Err(reason) => {
            let why = match reason {
                DropReason::NoHeader => "shorter than a DNS header",
                DropReason::NotAQuery => "a response, not a query",
            };
            eprintln!(
                "dropped a {}-byte message from {peer}: {why}",
                message.len()
            );
            None
        }
    }
}

/// Errors a socket returns now and then without being broken.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Interrupted
            | ErrorKind::WouldBlock
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionRefused
    )
}

fn serve_udp(socket: &UdpSocket, shared: &Mutex<Responder>) -> io::Error {
    let mut buf = vec![0u8; UDP_MAX_SIZE];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if transient(&e) => continue,
            Err(e) => return e,
        };
        if let Some(reply) = respond(shared, Transport::Udp, peer, &buf[..n])
            && let Err(e) = socket.send_to(&reply, peer)
            && !transient(&e)
        {
            eprintln!("udp reply to {peer}: {e}");
        }
    }
}

fn serve_tcp(listener: &TcpListener, shared: &Arc<Mutex<Responder>>) -> io::Error {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if transient(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait for connections to close.
                eprintln!("tcp accept: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= MAX_TCP_CONNECTIONS {
            active.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let shared = Arc::clone(shared);
        let active = Arc::clone(&active);
        let spawned = thread::Builder::new().spawn(move || {
            // A connection ends on EOF, timeout or error alike; nothing to report.
            let _ = serve_connection(stream, &shared);
            active.fetch_sub(1, Ordering::SeqCst);
        });
        if let Err(e) = spawned {
            return e;
        }
    }
}

/// Length-prefixed messages, in order, until EOF, idle timeout or a short message.
fn serve_connection(mut stream: TcpStream, shared: &Mutex<Responder>) -> io::Result<()> {
    stream.set_read_timeout(Some(TCP_IDLE_TIMEOUT))?;
    stream.set_write_timeout(Some(TCP_WRITE_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let peer = stream.peer_addr()?;
    loop {
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix)?;
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
        stream.read_exact(&mut message)?;
        if let Some(reply) = respond(shared, Transport::Tcp, peer, &message) {
            let len = u16::try_from(reply.len())
                .map_err(|_| io::Error::other("reply longer than a TCP message"))?;
            let mut framed = Vec::with_capacity(reply.len() + 2);
            framed.extend_from_slice(&len.to_be_bytes());
            framed.extend_from_slice(&reply);
            stream.write_all(&framed)?;
        }
    }
}
