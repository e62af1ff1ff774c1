//! The local socket layer: what runs above the kernel model in each namespace.
//!
//! | module | holds |
//! | --- | --- |
//! | [`stack`] | [`LocalStack`]: a smoltcp interface per namespace, its sockets, ephemeral ports |
//! | [`app`] | servers (echo, agnhost netexec) and clients, and the results clients record |
//! | [`deferred`] | queries a server hands to its owner to answer (the cluster's DNS servers) |
//! | [`http`] | the HTTP/1.1 (incl. `POST /upload`) and UDP commands of agnhost `netexec` |
//! | [`ping`] | `ping`'s ICMP datagram socket: echo requests, replies, ICMP errors |
//! | [`phy`] | the packet queues smoltcp sees as its device |
//!
//! The engine driver ([`crate::NetSim`]) owns the stacks: it feeds each the packets the
//! kernel delivers to that namespace, sends what the stack emits through `ip_local_out`, and
//! wakes the stack when its timers (TCP retransmission, client deadlines) are due.

pub mod app;
pub mod deferred;
pub mod http;
pub mod phy;
pub mod ping;
pub mod stack;

pub use app::{ClientResult, ClientSpec, HttpAnswer, Outcome, Request, ServerSpec, Service};
pub use deferred::DeferredQuery;
pub use stack::{LocalStack, StackError};
