//! mgm's sans-IO parts, which read no clock and do no I/O: every input (including the time)
//! comes in as an argument and every output leaves as a returned action. The crate depends on
//! nothing that does I/O (no tokio, aya, libc or sockets), so that a reader knows where I/O can
//! happen; `mgm-user` re-exports the modules under the same paths.
pub mod compact;
pub mod igmp;
pub mod mgm;
pub mod mld;
pub mod wire;
