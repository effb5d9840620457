//! mgm's XDP data plane: classifies every frame and counts it by class.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod xdp;

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Host builds (`cargo build --workspace`) compile this crate as an empty program.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
