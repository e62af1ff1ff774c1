//! Wire formats we own (smoltcp's `wire` covers Ethernet, ARP, IPv4/6, ICMP, UDP, TCP).

pub mod vxlan;
