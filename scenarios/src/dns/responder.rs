//! [`Responder`]: the cluster's DNS server as a function from a DNS message to its reply,
//! over a fixed picture of the cluster.
//!
//! The view is the cluster as built (`DnsView::from_store` once) and `now` stays the
//! cluster's simulated time after the build: nothing in the cluster changes while it is
//! queried, so the clock would only age the `cache` plugin's entries, which then never
//! go stale against the view. Upstreams are unreachable from outside the simulation: a
//! query the `forward` plugin sends upstream is resumed as timed out, upstream after
//! upstream, and ends in SERVFAIL as CoreDNS answers when every upstream fails (with the
//! `errors` plugin's line in the log when the Corefile has `errors`).

use sim_core::SimTime;
use sim_k8s::dns::server::LogEntry;
use sim_k8s::dns::server::wire::DropReason;
use sim_k8s::dns::{DnsServer, DnsView, Outcome, Transport};

/// A server, the view it answers from and the instant it answers at.
#[derive(Debug, Clone)]
pub struct Responder {
    server: DnsServer,
    view: DnsView,
    now: SimTime,
}

impl Responder {
    pub fn new(server: DnsServer, view: DnsView, now: SimTime) -> Responder {
        Responder { server, view, now }
    }

    /// The reply to one message that arrived over `transport`, or why the server sends
    /// none (shorter than a header, or not a query).
    pub fn answer(&mut self, transport: Transport, packet: &[u8]) -> Result<Vec<u8>, DropReason> {
        let mut outcome = self.server.handle(self.now, &self.view, transport, packet);
        loop {
            match outcome {
                Outcome::Reply(bytes) => return Ok(bytes),
                Outcome::Drop(reason) => return Err(reason),
                // No upstream answers from here: each one times out in turn, until the
                // server gives up with SERVFAIL.
                Outcome::Forward(request) => {
                    outcome = self
                        .server
                        .resume(self.now, request.token, None)
                        .expect("the server resumes the query it just forwarded");
                }
            }
        }
    }

    /// The `log`/`errors` lines written since the last call.
    pub fn take_log(&mut self) -> Vec<LogEntry> {
        self.server.take_log()
    }
}
