//! The `bandwidth` plugin's config (`plugins/meta/bandwidth`): token-bucket rates and bursts
//! in bits per second and bits, for ingress (a tbf qdisc on the host veth) and egress (an ifb
//! device the host veth's ingress is redirected to). Parsed only: traffic control is not
//! modelled yet, so running it with a rate set is refused rather than silently ignored; with
//! no rate (the usual conflist entry that only declares the capability) it passes the
//! previous result through, as upstream does.

use super::error::CniError;
use super::json::Obj;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BandwidthConfig {
    pub ingress_rate: u64,
    pub ingress_burst: u64,
    pub egress_rate: u64,
    pub egress_burst: u64,
}

impl BandwidthConfig {
    pub(crate) fn parse(o: &Obj<'_>) -> Result<Self, CniError> {
        Ok(BandwidthConfig {
            ingress_rate: o.u64("ingressRate")?.unwrap_or(0),
            ingress_burst: o.u64("ingressBurst")?.unwrap_or(0),
            egress_rate: o.u64("egressRate")?.unwrap_or(0),
            egress_burst: o.u64("egressBurst")?.unwrap_or(0),
        })
    }

    /// Whether the plugin would shape anything.
    pub fn shapes(&self) -> bool {
        self.ingress_rate > 0 || self.egress_rate > 0
    }
}
