//! mgm's control plane: the Multicast Group Manager core, IGMP, routing protocols, the XDP
//! forwarding backend, and the network lab used by tests, the demo and the benchmarks.
pub mod api;
pub mod cli_docs;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod ipmr;
pub mod lab;
pub mod leaf;
pub mod rawio;

// The sans-IO parts live in their own crate (no I/O dependencies), under the same paths.
pub use mgm_core::{igmp, mgm, wire};
