//! mgm's control plane: the Multicast Group Manager core, IGMP, routing protocols, the XDP
//! forwarding backend, and the network lab used by tests, the demo and the benchmarks.
//!
//! Comments cite the behavioural specification `docs/mgm-spec.md` ("spec §N" is its section N,
//! "A-NN" a row of its decision register, §11) and the design notes `docs/design.md`.
pub mod api;
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
