//! The parts of a query name under a cluster zone — CoreDNS `plugin/kubernetes/parse.go`
//! `parseRequest` (multicluster and zonal names not modelled).
//!
//! `[_port._proto.|endpoint.]service.namespace.(svc|pod).<zone>`; labels are lowercased.

/// What a query name asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordRequest {
    /// The SRV service label without `_` (`https` of `_https._tcp`), empty if absent.
    pub port: String,
    /// The SRV protocol label without `_`, empty if absent.
    pub protocol: String,
    /// The endpoint hostname label, empty if absent.
    pub endpoint: String,
    pub service: String,
    pub namespace: String,
    /// `svc`, `pod`, or empty for the zone apex and the bare `svc`/`pod` names.
    pub pod_or_svc: String,
}

/// The name does not have a shape the plugin answers (CoreDNS `errInvalidRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidRequest;

/// Splits `base` (the labels left of the zone, lowercased, left to right).
pub fn parse_request(base: &[String]) -> Result<RecordRequest, InvalidRequest> {
    let mut r = RecordRequest::default();
    if base.is_empty() || (base.len() == 1 && (base[0] == "svc" || base[0] == "pod")) {
        return Ok(r);
    }
    let mut rest = base.iter().rev();
    let kind = rest.next().ok_or(InvalidRequest)?;
    if kind != "svc" && kind != "pod" {
        return Err(InvalidRequest);
    }
    r.pod_or_svc = kind.clone();
    let left: Vec<&String> = rest.collect();
    // left[0] = namespace, left[1] = service, then endpoint or protocol, port.
    if let Some(ns) = left.first() {
        r.namespace = (*ns).clone();
    }
    if let Some(svc) = left.get(1) {
        r.service = (*svc).clone();
    }
    match left.len() {
        0..=2 => {}
        3 => r.endpoint = left[2].clone(),
        4 => {
            r.protocol = strip_underscore(left[2]);
            r.port = strip_underscore(left[3]);
        }
        _ => return Err(InvalidRequest),
    }
    Ok(r)
}

fn strip_underscore(s: &str) -> String {
    s.strip_prefix('_').unwrap_or(s).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        if s.is_empty() {
            return Vec::new();
        }
        s.split('.').map(str::to_owned).collect()
    }

    /// CoreDNS `parse_test.go` `TestParseRequest` shapes.
    #[test]
    fn shapes() {
        let r = parse_request(&split("_http._tcp.webs.mynamespace.svc")).unwrap();
        assert_eq!(
            (r.port.as_str(), r.protocol.as_str(), r.service.as_str()),
            ("http", "tcp", "webs")
        );
        assert_eq!(r.namespace, "mynamespace");
        let r = parse_request(&split("1-2-3-4.webs.mynamespace.svc")).unwrap();
        assert_eq!(r.endpoint, "1-2-3-4");
        let r = parse_request(&split("mynamespace.svc")).unwrap();
        assert_eq!(
            (r.namespace.as_str(), r.service.as_str()),
            ("mynamespace", "")
        );
        assert_eq!(
            parse_request(&split("svc")).unwrap(),
            RecordRequest::default()
        );
        assert_eq!(parse_request(&split("")).unwrap(), RecordRequest::default());
        assert_eq!(
            parse_request(&split("webs.mynamespace.txt")),
            Err(InvalidRequest)
        );
        assert_eq!(
            parse_request(&split("too.long.for.a.valid.svc")),
            Err(InvalidRequest)
        );
    }
}
