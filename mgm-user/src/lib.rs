//! mgm's control plane: the Multicast Group Manager core, IGMP, routing protocols, the XDP
//! forwarding backend, and the network lab used by tests, the demo and the benchmarks.
pub mod api;
pub mod cli_docs;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod igmp;
pub mod ipmr;
pub mod lab;
pub mod leaf;
pub mod mgm;
pub mod rawio;
pub mod wire;
