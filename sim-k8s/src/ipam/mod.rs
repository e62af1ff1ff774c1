//! # ipam — host-local address allocation
//!
//! The allocator of the CNI `host-local` IPAM plugin (`containernetworking/plugins`
//! `plugins/ipam/host-local/backend/allocator/{range,range_set,allocator}.go`), as a plain
//! state machine over an in-memory [`Store`] that stands in for its on-disk backend
//! (`/var/lib/cni/networks/<network>/`: one file per reserved address naming the container
//! and interface, and `last_reserved_ip.<range set index>`).
//!
//! | module | holds |
//! | --- | --- |
//! | [`range`] | one range: subnet, `rangeStart`, `rangeEnd`, `gateway`, and `Canonicalize`'s defaults and checks |
//! | [`range_set`] | a range set (the ranges one address may come from) and its overlap checks |
//! | [`store`] | the reservations and the last reserved address per range set |
//! | [`allocator`] | `Get`/`Release` and the round-robin iterator |
//! | [`ip`] | address arithmetic for IPv4 and IPv6 |
//! | [`error`] | [`IpamError`], with upstream's messages |
//!
//! Semantics kept from upstream: allocation is round-robin — it starts *after* the last
//! address reserved in that range set (persisted across releases), wraps from `rangeEnd` to
//! the next range's `rangeStart`, and tries the last reserved address itself last; the
//! gateway is skipped; the network and (IPv4) broadcast addresses are excluded only because
//! the default `rangeStart`/`rangeEnd` leave them out — an explicit `rangeStart` equal to the
//! network address is honoured, as upstream does. Not modelled: the file lock (the store is
//! only ever touched by one caller at a time here) and the pod-name based reservations
//! (`GetByPodNsAndName`) some forks carry.

pub mod allocator;
pub mod error;
pub mod ip;
pub mod range;
pub mod range_set;
pub mod store;

pub use allocator::{Allocator, IpConfig, RangeIter};
pub use error::IpamError;
pub use range::{Range, RangeSpec};
pub use range_set::RangeSet;
pub use store::{Reservation, Store};
