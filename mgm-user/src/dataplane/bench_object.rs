//! The benchmark-only XDP object (`mgm-ebpf`'s `mgm-bench-xdp` bin): the live-frames traffic
//! generator, the receivers' count-and-drop program, and the ceiling and baseline programs the
//! benchmarks compare mgm's forwarder with. Empty when built with `AYA_BUILD_SKIP=1`.
pub static BENCH_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mgm-bench-xdp"));
