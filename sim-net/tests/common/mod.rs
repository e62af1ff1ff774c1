//! The library's ready-made topologies, for the scenario tests.

pub use sim_net::topology::*;
