//! mgm's control plane: the Multicast Group Manager core, IGMP, routing protocols, the XDP
//! forwarding backend, and the network lab used by tests, the demo and the benchmarks.
//!
//! Four public modules serve the project's programs beside mgmd, and stay in the library
//! because those programs and the benchmarks build on it: [`lab`] (network namespaces and veth
//! pairs: the `mgm-lab` demo and `cargo xtask lab`, the benchmarks, the integration tests),
//! [`leaf`] (joining and sending as a host: the `mcast` tool, and mgmd's own host-side joins),
//! [`ipmr`] (the kernel's multicast routing: the benchmarks' baseline and the fallback backend
//! of spec §10) and [`ip6mr`] (its IPv6 counterpart: the benchmarks' IPv6 baseline). [`rawio`]
//! is the one wrapper of raw socket calls (options, `recvmsg`, packet sockets) for all of them.
//!
//! Comments cite the behavioural specification `docs/mgm-spec.md` ("spec §N" is its section N,
//! "A-NN" a row of its decision register, §11) and the design notes `docs/design.md`.
pub mod api;
pub mod cli_docs;
pub mod cli_pipe;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod ip6mr;
pub mod ipmr;
pub mod lab;
pub mod leaf;
pub mod netns;
pub mod rawio;

// The sans-IO parts live in their own crate (no I/O dependencies), under the same paths.
pub use mgm_core::{compact, igmp, mgm, mld, wire};
