//! Map keys and values shared by mgm's XDP program (`mgm-ebpf`) and its control plane (`mgm-user`).
//!
//! Every type is `#[repr(C)]` and laid out without implicit padding, so that both sides agree on
//! the bytes. IPv4 addresses are kept exactly as they sit in the packet (network byte order): a
//! `u32` read from the header with a native load, never byte-swapped on the fast path; IPv6
//! addresses likewise as their 16 bytes.
#![no_std]

mod iface;
mod meta;
mod mfe;
mod probe;
mod report;
mod sets;
mod sg;

pub mod config;
pub mod limits;
pub mod stat;

pub use iface::*;
pub use meta::*;
pub use mfe::*;
pub use probe::*;
pub use report::*;
pub use sets::*;
pub use sg::*;

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all of these are repr(C) plain integers and byte arrays without padding.
    unsafe impl aya::Pod for SgKey {}
    unsafe impl aya::Pod for Sg6Key {}
    unsafe impl aya::Pod for MfeValue {}
    unsafe impl aya::Pod for MfeCounters {}
    unsafe impl aya::Pod for HeldCounters {}
    unsafe impl aya::Pod for OifCounterKey {}
    unsafe impl aya::Pod for OifCounters {}
    unsafe impl aya::Pod for IfaceConfig {}
    unsafe impl aya::Pod for Report {}
    unsafe impl aya::Pod for RateLimit {}
    unsafe impl aya::Pod for ReportedSg {}
    unsafe impl aya::Pod for SetMembers {}
    unsafe impl aya::Pod for SetBroadcast {}
    // SAFETY: two words and the keys' words (see `ProbeKey`): no padding.
    unsafe impl<K: ProbeKey + aya::Pod> aya::Pod for ProbeBucket<K> {}
}

#[cfg(test)]
extern crate std;

#[cfg(test)]
mod tests;
