//! kube-proxy's per-Service health check server (`pkg/proxy/healthcheck/service_health.go`):
//! for every LoadBalancer Service with `externalTrafficPolicy: Local`, an HTTP server on the
//! node at its `healthCheckNodePort` that cloud load balancers probe to find the nodes with
//! local endpoints. It answers 200 when the node has ready local endpoints (counted over all
//! the Service's ports, as `LocalReadyEndpoints` counts) and 503 when it has none, with the
//! headers and the JSON body upstream writes.
//!
//! Simplified: the proxy is always healthy (`serviceProxyHealthy: true`); a server whose
//! Service goes away keeps answering its last answer instead of closing.

use std::collections::BTreeMap;

use sim_net::socket::HttpAnswer;

use super::endpoint::EndpointsMap;
use super::service_port::ServicePort;
use super::service_port::ServicePortName;

/// The answer for Service `namespace/name` with `local_endpoints` ready local endpoints.
pub fn answer(namespace: &str, name: &str, local_endpoints: usize) -> HttpAnswer {
    let healthy = true;
    let (status, reason) = if local_endpoints != 0 && healthy {
        (200, "OK")
    } else {
        (503, "Service Unavailable")
    };
    HttpAnswer {
        status,
        reason: reason.into(),
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("X-Content-Type-Options".into(), "nosniff".into()),
            (
                "X-Load-Balancing-Endpoint-Weight".into(),
                local_endpoints.to_string(),
            ),
        ],
        body: format!(
            "{{\n\t\"service\": {{\n\t\t\"namespace\": {namespace:?},\n\t\t\"name\": {name:?}\n\t}},\n\t\"localEndpoints\": {local_endpoints},\n\t\"serviceProxyHealthy\": {healthy}\n}}"
        ),
    }
}

/// Every health check port the proxy serves, with its answer.
pub fn servers(
    services: &BTreeMap<ServicePortName, ServicePort>,
    endpoints: &EndpointsMap,
) -> BTreeMap<u16, HttpAnswer> {
    let mut local: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (k, eps) in endpoints {
        let n = eps.iter().filter(|e| e.local && e.ready).count();
        *local.entry((&k.namespace, &k.name)).or_default() += n;
    }
    services
        .values()
        .filter(|s| s.health_check_node_port != 0)
        .map(|s| {
            let n = local
                .get(&(s.name.namespace.as_str(), s.name.name.as_str()))
                .copied()
                .unwrap_or(0);
            (
                s.health_check_node_port,
                answer(&s.name.namespace, &s.name.name, n),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_upstreams_headers_and_body() {
        let ok = answer("ns", "lb", 2);
        assert_eq!(ok.status, 200);
        assert_eq!(
            ok.body,
            "{\n\t\"service\": {\n\t\t\"namespace\": \"ns\",\n\t\t\"name\": \"lb\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
        );
        assert!(
            ok.headers
                .contains(&("X-Load-Balancing-Endpoint-Weight".into(), "2".into()))
        );
        let none = answer("ns", "lb", 0);
        assert_eq!(
            (none.status, none.reason.as_str()),
            (503, "Service Unavailable")
        );
        assert!(none.body.contains("\"localEndpoints\": 0"));
    }
}
