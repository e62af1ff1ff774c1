//! `kns-probe`: the small program the differential harness runs inside emulated namespaces,
//! speaking the same traffic as the simulator's agnhost-netexec-like apps
//! ([`crate::socket::http`]) with std sockets only.
//!
//! ```text
//! kns-probe serve NAME [tcp:PORT|udp:PORT]...   servers; prints "ready", logs one line per request
//! kns-probe tcp IP:PORT TOKEN TIMEOUT_MS        GET /clientip?probe=TOKEN, read to EOF
//! kns-probe udp IP:PORT TOKEN TIMEOUT_MS        send "clientip TOKEN" on a connected socket
//! ```
//!
//! A server answers every request with the peer address it saw (`ip:port`, netexec's
//! `/clientip`): over TCP as an HTTP/1.1 response after the whole request head has arrived
//! (closing with unread bytes would make Linux send a RST), then it closes; over UDP as one
//! datagram. It writes `TOKEN PROTO PEER` to its standard output for each request, so the
//! harness knows which server got which probe.
//!
//! A client prints one line: `ok local=IP:PORT peer=IP:PORT body=TEXT`,
//! `err errno=NAME local=IP:PORT` or `timeout local=IP:PORT` (`local=-` when the socket never
//! got an address). UDP uses a connected socket, as Go's `net.Dial("udp")` in agnhost does: a
//! reply from another source is not taken, and ICMP errors come back as errnos.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The errno names of the failures a probe can meet (Linux numbers).
pub fn errno_name(code: i32) -> String {
    match code {
        1 => "EPERM".into(),
        22 => "EINVAL".into(),
        92 => "ENOPROTOOPT".into(),
        99 => "EADDRNOTAVAIL".into(),
        101 => "ENETUNREACH".into(),
        104 => "ECONNRESET".into(),
        110 => "ETIMEDOUT".into(),
        111 => "ECONNREFUSED".into(),
        113 => "EHOSTUNREACH".into(),
        n => format!("E{n}"),
    }
}

fn describe(e: &std::io::Error) -> Option<String> {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => None,
        _ => Some(e.raw_os_error().map_or_else(|| e.to_string(), errno_name)),
    }
}

fn local_text(local: Option<SocketAddr>) -> String {
    local.map_or_else(|| "-".to_string(), |a| a.to_string())
}

/// The line a client prints for a failure.
fn failure(e: &std::io::Error, local: Option<SocketAddr>) -> String {
    match describe(e) {
        Some(name) => format!("err errno={name} local={}", local_text(local)),
        None => format!("timeout local={}", local_text(local)),
    }
}

/// `tcp IP:PORT TOKEN TIMEOUT_MS`.
pub fn tcp_client(dst: SocketAddr, token: &str, timeout: Duration) -> String {
    let start = Instant::now();
    let mut s = match TcpStream::connect_timeout(&dst, timeout) {
        Ok(s) => s,
        Err(e) => return failure(&e, None),
    };
    let local = s.local_addr().ok();
    let left = |start: Instant| {
        timeout
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1))
    };
    let _ = s.set_write_timeout(Some(left(start)));
    let req = format!(
        "GET /clientip?probe={token} HTTP/1.1\r\nHost: {dst}\r\nUser-Agent: kube-netsim\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = s.write_all(req.as_bytes()) {
        return failure(&e, local);
    }
    let mut buf = Vec::new();
    loop {
        let _ = s.set_read_timeout(Some(left(start)));
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return failure(&e, local),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let peer = s.peer_addr().map_or_else(|_| "-".into(), |a| a.to_string());
    format!(
        "ok local={} peer={peer} body={}",
        local_text(local),
        body.trim()
    )
}

/// `udp IP:PORT TOKEN TIMEOUT_MS`.
pub fn udp_client(dst: SocketAddr, token: &str, timeout: Duration) -> String {
    let sock = match UdpSocket::bind("0.0.0.0:0") {
        Ok(s) => s,
        Err(e) => return failure(&e, None),
    };
    if let Err(e) = sock.connect(dst) {
        return failure(&e, None);
    }
    let local = sock.local_addr().ok();
    if let Err(e) = sock.send(format!("clientip {token}").as_bytes()) {
        return failure(&e, local);
    }
    let _ = sock.set_read_timeout(Some(timeout));
    let mut buf = [0u8; 2048];
    match sock.recv(&mut buf) {
        Ok(n) => format!(
            "ok local={} peer={dst} body={}",
            local_text(local),
            String::from_utf8_lossy(&buf[..n]).trim()
        ),
        Err(e) => failure(&e, local),
    }
}

/// Reads an HTTP request head (until the blank line, EOF or 2 s) and returns its target.
fn read_head(s: &mut TcpStream) -> String {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
        .to_string()
}

fn token_of(target: &str) -> String {
    target
        .split_once("probe=")
        .map_or("-", |(_, t)| t.split('&').next().unwrap_or("-"))
        .to_string()
}

/// `serve NAME tcp:PORT udp:PORT...`: runs until killed.
pub fn serve(listen: &[(bool, u16)]) -> std::io::Result<()> {
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let log = move |line: String| {
        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    };
    let mut threads = Vec::new();
    for &(tcp, port) in listen {
        let log = log.clone();
        if tcp {
            let l = TcpListener::bind(("0.0.0.0", port))?;
            threads.push(std::thread::spawn(move || {
                for conn in l.incoming() {
                    let Ok(mut s) = conn else { continue };
                    let log = log.clone();
                    std::thread::spawn(move || {
                        let peer = s.peer_addr().map_or_else(|_| "-".into(), |a| a.to_string());
                        let target = read_head(&mut s);
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{peer}",
                            peer.len()
                        );
                        let _ = s.write_all(resp.as_bytes());
                        log(format!("{} tcp {peer}", token_of(&target)));
                    });
                }
            }));
        } else {
            let u = UdpSocket::bind(("0.0.0.0", port))?;
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while let Ok((n, peer)) = u.recv_from(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).to_string();
                    let token = text.split_whitespace().nth(1).unwrap_or("-").to_string();
                    let _ = u.send_to(peer.to_string().as_bytes(), peer);
                    log(format!("{token} udp {peer}"));
                }
            }));
        }
    }
    log("ready".into());
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// The program's entry point: `args` without the program name. Returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let usage =
        "usage: kns-probe serve NAME [tcp:PORT|udp:PORT]... | tcp|udp IP:PORT TOKEN TIMEOUT_MS";
    match args {
        [cmd, name, ports @ ..] if cmd == "serve" => {
            let _ = name;
            let mut listen = Vec::new();
            for p in ports {
                let parsed = p.split_once(':').and_then(|(proto, port)| {
                    Some((proto == "tcp", port.parse::<u16>().ok()?))
                        .filter(|_| proto == "tcp" || proto == "udp")
                });
                match parsed {
                    Some(x) => listen.push(x),
                    None => {
                        eprintln!("{usage}");
                        return 2;
                    }
                }
            }
            match serve(&listen) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("kns-probe serve: {e}");
                    1
                }
            }
        }
        [cmd, dst, token, timeout_ms] if cmd == "tcp" || cmd == "udp" => {
            let (Ok(dst), Ok(ms)) = (dst.parse::<SocketAddr>(), timeout_ms.parse::<u64>()) else {
                eprintln!("{usage}");
                return 2;
            };
            let t = Duration::from_millis(ms);
            let line = if cmd == "tcp" {
                tcp_client(dst, token, t)
            } else {
                udp_client(dst, token, t)
            };
            println!("{line}");
            0
        }
        _ => {
            eprintln!("{usage}");
            2
        }
    }
}

/// Waits for a server's `ready` line on its standard output; the rest of its output stays
/// readable through the returned reader.
pub fn wait_ready<R: Read>(out: R) -> std::io::Result<BufReader<R>> {
    let mut r = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("server exited before it was ready"));
        }
        if line.trim() == "ready" {
            return Ok(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_errnos() {
        assert_eq!(token_of("/clientip?probe=7"), "7");
        assert_eq!(token_of("/"), "-");
        assert_eq!(errno_name(111), "ECONNREFUSED");
        assert_eq!(errno_name(5), "E5");
    }

    #[test]
    fn a_server_and_clients_over_loopback() {
        // Loopback of this machine only: port 0 picks a free port.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        std::thread::spawn(move || serve(&[(true, port), (false, port)]));
        let dst: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut line = String::new();
        for _ in 0..100 {
            line = tcp_client(dst, "1", Duration::from_millis(500));
            if line.starts_with("ok") {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(line.starts_with("ok local=127.0.0.1:"), "{line}");
        assert!(line.contains("body=127.0.0.1:"), "{line}");
        let line = udp_client(dst, "2", Duration::from_millis(500));
        assert!(line.starts_with("ok "), "{line}");
    }
}
