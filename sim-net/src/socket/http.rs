//! The HTTP/1.1 that the simulated apps speak: the requests our client sends, and the answers of
//! a server shaped like Kubernetes' test image `agnhost netexec`
//! (`test/images/agnhost/netexec/netexec.go`): `/hostname` (and `/hostName`) answer the pod's
//! hostname, `/clientip` the peer's `ip:port` as the server saw it (Go's `r.RemoteAddr`),
//! `/echo?msg=M` echoes `M`, `/healthz` answers 200 with no body, `/upload` takes a
//! `multipart/form-data` body (read to its `Content-Length`, counted, not kept) and answers
//! `201 Created` with `{"output":"/uploads/uploadN"}` (Go's `TempFile` names it with random
//! digits; here N counts the server's uploads, from 1), and every other path is the
//! root handler's `NOW: <time>` (simulated time). Its UDP server answers `hostname`,
//! `echo M` and `clientip` the same way. Responses carry `Content-Length`,
//! `Content-Type: text/plain; charset=utf-8` and `Connection: close`; unlike Go they carry no
//! `Date` header, which would be the one non-deterministic byte.

use std::net::SocketAddrV4;

use sim_core::SimTime;

/// The request line and headers our client sends for `GET path`.
pub fn get_request(host: SocketAddrV4, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kube-netsim\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The multipart boundary of our uploads.
const BOUNDARY: &str = "kube-netsim-boundary";

/// The `POST /upload` our client sends: `curl -F file=@FILE` of a `bytes`-long file, the
/// file's bytes generated (a repeating pattern) rather than stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Request head and the multipart part's own head.
    head: Vec<u8>,
    file_bytes: u64,
    /// The closing boundary.
    tail: Vec<u8>,
}

impl Upload {
    pub fn new(host: SocketAddrV4, file_bytes: u64) -> Self {
        let part = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bulk\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        );
        let tail = format!("\r\n--{BOUNDARY}--\r\n").into_bytes();
        let body_len = part.len() as u64 + file_bytes + tail.len() as u64;
        let mut head = format!(
            "POST /upload HTTP/1.1\r\nHost: {host}\r\nUser-Agent: kube-netsim\r\nAccept: */*\r\nContent-Length: {body_len}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        head.extend_from_slice(part.as_bytes());
        Upload {
            head,
            file_bytes,
            tail,
        }
    }

    /// The whole request's length.
    pub fn total_len(&self) -> u64 {
        self.head.len() as u64 + self.file_bytes + self.tail.len() as u64
    }

    /// Copies the request's bytes from `offset` into `buf`; returns how many.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) -> usize {
        let head = self.head.len() as u64;
        let file_end = head + self.file_bytes;
        let mut n = 0;
        while n < buf.len() {
            let at = offset + n as u64;
            buf[n] = if at < head {
                self.head[at as usize]
            } else if at < file_end {
                b'a' + ((at - head) % 26) as u8
            } else if let Some(b) = self.tail.get((at - file_end) as usize) {
                *b
            } else {
                break;
            };
            n += 1;
        }
        n
    }
}

/// A server's view of one request as it arrives: the head kept, the body counted up to
/// its `Content-Length` (a request without one has no body, as Go's server reads it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestReader {
    head: Vec<u8>,
    /// Body bytes still to come, once the head is whole.
    body_left: Option<u64>,
}

impl RequestReader {
    /// Takes the next bytes of the connection.
    pub fn feed(&mut self, data: &[u8]) {
        match &mut self.body_left {
            Some(left) => *left = left.saturating_sub(data.len() as u64),
            None => {
                self.head.extend_from_slice(data);
                if let Some(end) = head_end(&self.head) {
                    let body = (self.head.len() - end) as u64;
                    self.head.truncate(end);
                    let length = header_value(&self.head, "content-length")
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                    self.body_left = Some(length.saturating_sub(body));
                }
            }
        }
    }

    /// The request head, once head and body have both arrived.
    pub fn complete(&self) -> Option<&[u8]> {
        (self.body_left == Some(0)).then_some(&self.head[..])
    }
}

/// The value of header `name` (lower case) in a request or response head.
fn header_value(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head).lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// The end of the request head, if the bytes so far hold one.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// A netexec answer to a whole request head in `buf` (its body, if any, read), or `None`
/// while the head is incomplete; `uploads` counts the server's uploads.
pub fn netexec_response(
    buf: &[u8],
    hostname: &str,
    client: SocketAddrV4,
    now: SimTime,
    uploads: &mut u32,
) -> Option<Vec<u8>> {
    let end = head_end(buf)?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let line = head.lines().next().unwrap_or_default();
    let mut words = line.split(' ');
    let (method, target) = (words.next().unwrap_or_default(), words.next());
    let Some(target) = target.filter(|t| t.starts_with('/')) else {
        return Some(response(400, "Bad Request", "400 Bad Request"));
    };
    if method.is_empty() {
        return Some(response(400, "Bad Request", "400 Bad Request"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, body) = match path {
        "/hostname" | "/hostName" => (200, hostname.to_string()),
        "/clientip" => (200, client.to_string()),
        "/echo" => (200, query_value(query, "msg").unwrap_or_default()),
        "/healthz" => (200, String::new()),
        "/upload" => return Some(upload_response(&buf[..end], uploads)),
        _ => (200, format!("NOW: {now}")),
    };
    Some(response(status, "OK", &body))
}

/// `answer` to a whole request head in `buf`, or `None` while the head is incomplete.
pub fn fixed_response(buf: &[u8], answer: &super::app::HttpAnswer) -> Option<Vec<u8>> {
    head_end(buf)?;
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\n",
        answer.status,
        answer.reason,
        answer.body.len()
    );
    for (k, v) in &answer.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Connection: close\r\n\r\n");
    out.push_str(&answer.body);
    Some(out.into_bytes())
}

/// netexec's `uploadHandler`: a multipart form gets `201 Created` and the file's name as
/// JSON; anything else its error as JSON with Go's implicit 200.
fn upload_response(head: &[u8], uploads: &mut u32) -> Vec<u8> {
    let multipart =
        header_value(head, "content-type").is_some_and(|t| t.starts_with("multipart/form-data"));
    if !multipart {
        return response(200, "OK", r#"{"error":"Unable to upload file."}"#);
    }
    *uploads += 1;
    let body = format!(r#"{{"output":"/uploads/upload{uploads}"}}"#);
    response(201, "Created", &body)
}

fn response(status: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The first value of `key` in a query string, decoded as Go's `url.ParseQuery` decodes it
/// (`+` is a space, `%XX` a byte; a pair with a bad escape is skipped).
fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        (k == key).then_some(v)
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |at: usize| b.get(at).and_then(|&c| (c as char).to_digit(16));
                out.push((hex(i + 1)? * 16 + hex(i + 2)?) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The answer of agnhost's UDP server to one datagram, if it answers.
pub fn netexec_udp_answer(
    datagram: &[u8],
    hostname: &str,
    client: SocketAddrV4,
) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(datagram).trim().to_lowercase();
    let answer = if text == "hostname" {
        hostname.to_string()
    } else if let Some(msg) = text.strip_prefix("echo ") {
        msg.to_string()
    } else if text == "clientip" {
        client.to_string()
    } else {
        return None;
    };
    Some(answer.into_bytes())
}

/// A parsed HTTP response: the status code and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Parses a whole response (the server has closed); the body is cut to `Content-Length`.
pub fn parse_response(buf: &[u8]) -> Result<Response, String> {
    let end = head_end(buf).ok_or("response head never ended")?;
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| format!("malformed status line {status_line:?}"))?;
    let length = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    let body = &buf[end..];
    let body = match length {
        Some(n) if n <= body.len() => &body[..n],
        Some(n) => return Err(format!("body has {} of {n} bytes", body.len())),
        None => body,
    };
    Ok(Response {
        status,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> SocketAddrV4 {
        "10.244.1.2:40000".parse().unwrap()
    }

    fn ask(path: &str) -> Response {
        let req = get_request("10.244.2.3:8080".parse().unwrap(), path);
        let resp = netexec_response(
            &req,
            "pod-b",
            client(),
            SimTime::from_nanos(1_500_000),
            &mut 0,
        )
        .expect("whole request");
        parse_response(&resp).unwrap()
    }

    #[test]
    fn netexec_paths_answer_like_agnhost() {
        assert_eq!(ask("/hostname").body, "pod-b");
        assert_eq!(ask("/hostName").body, "pod-b");
        assert_eq!(ask("/clientip").body, "10.244.1.2:40000");
        assert_eq!(ask("/echo?msg=hello+world%21").body, "hello world!");
        assert_eq!(
            ask("/echo?x=1&msg=a%2").body,
            "",
            "a bad escape drops the pair"
        );
        assert_eq!(
            ask("/healthz"),
            Response {
                status: 200,
                body: String::new()
            }
        );
        assert_eq!(ask("/").body, "NOW: 1.500ms");
    }

    #[test]
    fn an_incomplete_head_waits_and_garbage_is_a_bad_request() {
        assert_eq!(
            netexec_response(
                b"GET /hostname HTTP/1.1\r\n",
                "p",
                client(),
                SimTime::ZERO,
                &mut 0
            ),
            None
        );
        let resp =
            netexec_response(b"nonsense\r\n\r\n", "p", client(), SimTime::ZERO, &mut 0).unwrap();
        assert_eq!(parse_response(&resp).unwrap().status, 400);
    }

    #[test]
    fn an_upload_is_answered_once_its_whole_body_arrived() {
        let up = Upload::new("10.244.2.3:8080".parse().unwrap(), 100_000);
        let len = up.total_len();
        let mut all = vec![0u8; len as usize + 10];
        assert_eq!(up.fill(0, &mut all), len as usize);
        let all = &all[..len as usize];
        // Filling from any offset gives the same bytes.
        let mut part = [0u8; 1000];
        assert_eq!(up.fill(5000, &mut part), 1000);
        assert_eq!(&part[..], &all[5000..6000]);
        assert!(all.ends_with(b"\r\n--kube-netsim-boundary--\r\n"));
        let mut reader = RequestReader::default();
        let mut uploads = 0;
        for chunk in all.chunks(1460) {
            assert_eq!(reader.complete(), None, "answered before the body ended");
            reader.feed(chunk);
        }
        let head = reader.complete().expect("whole request");
        let resp = netexec_response(head, "p", client(), SimTime::ZERO, &mut uploads).unwrap();
        let r = parse_response(&resp).unwrap();
        assert_eq!(
            (r.status, r.body.as_str()),
            (201, r#"{"output":"/uploads/upload1"}"#)
        );
        // Not a form: netexec's error, with Go's implicit 200.
        let mut reader = RequestReader::default();
        reader.feed(b"POST /upload HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
        let resp = netexec_response(
            reader.complete().unwrap(),
            "p",
            client(),
            SimTime::ZERO,
            &mut uploads,
        );
        let r = parse_response(&resp.unwrap()).unwrap();
        assert_eq!((r.status, uploads), (200, 1));
        assert!(r.body.contains("error"));
    }

    #[test]
    fn responses_are_checked() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
        let r = parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\nno").unwrap();
        assert_eq!((r.status, r.body.as_str()), (503, "no"));
    }

    #[test]
    fn the_udp_server_knows_three_commands() {
        let ans = |d: &[u8]| netexec_udp_answer(d, "pod-b", client());
        assert_eq!(ans(b"hostname\n"), Some(b"pod-b".to_vec()));
        assert_eq!(ans(b"echo Hi"), Some(b"hi".to_vec()));
        assert_eq!(ans(b"clientip"), Some(b"10.244.1.2:40000".to_vec()));
        assert_eq!(ans(b"what"), None);
    }
}
