//! mgm's XDP data plane: the ingress program (parse, (S,G) lookup, checks, replication by one
//! devmap broadcast, punt of misses; IPv4 and IPv6), the devmap egress program run once per
//! copy, and the TC program replicating the jumbo frames the broadcast cannot.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod bucket;
#[cfg(target_arch = "bpf")]
mod egress;
#[cfg(target_arch = "bpf")]
mod exthdr;
#[cfg(target_arch = "bpf")]
mod hold;
#[cfg(target_arch = "bpf")]
mod ingress;
#[cfg(target_arch = "bpf")]
mod ingress6;
#[cfg(target_arch = "bpf")]
mod jumbo;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod mirror;
#[cfg(target_arch = "bpf")]
mod options;
#[cfg(target_arch = "bpf")]
mod packet;
#[cfg(target_arch = "bpf")]
mod probe;
#[cfg(target_arch = "bpf")]
mod report;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Host builds (`cargo build --workspace`) compile this crate as an empty program.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
