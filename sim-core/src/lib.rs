//! # sim-core — kube-netsim's deterministic discrete-event engine
//!
//! The bottom layer: it knows nothing of packets or Kubernetes.
//!
//! | module | holds |
//! | --- | --- |
//! | [`time`] | [`SimTime`] / [`SimDuration`]: `u64` nanoseconds, checked arithmetic, Go-style parsing |
//! | [`queue`] | [`EventQueue`]: total order on `(time, seq)`, FIFO ties, lazy cancellation by [`Token`] |
//! | [`hash`] | FNV-1a 64 (the stable hash of stream names and flow keys) and the fast hasher of lookup-only maps |
//! | [`rng`] | [`SimRng`]: ChaCha8 behind our own `below`/`chance`/`shuffle`, named streams per component |
//! | [`trace`] | [`Trace`] of typed [`TraceRecord`]s, canonical JSON Lines, stable [`Digest`] |
//! | [`engine`] | [`Engine`] driving a [`World`] through a [`Ctx`], with an event budget |
//! | [`determinism`] | [`check_determinism`]: run twice, report the first divergent record |
//!
//! Everything here is deterministic by construction: no wall clock, no unseeded randomness,
//! no hash-map iteration that can reach an output.

pub mod determinism;
pub mod engine;
pub mod hash;
pub mod queue;
pub mod rng;
pub mod time;
pub mod trace;

pub use determinism::{Divergence, check_determinism, first_divergence};
pub use engine::{Ctx, Engine, EngineError, RngStreams, RunStats, World};
pub use queue::{EventQueue, Token};
pub use rng::SimRng;
pub use time::{ParseDurationError, SimDuration, SimTime};
pub use trace::{Digest, Trace, TraceRecord, Value};
