//! Benchmark-only XDP programs, built as a second object beside mgm's data plane
//! (`mgm_user::dataplane::BENCH_OBJECT`):
//!
//! - `bench_gen`: the traffic generator's program, run by BPF_PROG_RUN in live-frames mode. It
//!   restores the frame's first 34 bytes from `GEN_HEADER` (live-frame pages are recycled, and
//!   a forwarder downstream rewrites the TTL, checksum and source MAC in the same page): the
//!   Ethernet and IPv4 headers, or Ethernet and the IPv6 header up to its hop limit and beyond
//!   (IPv6 has no checksum). It redirects the frame out of the interface in `GEN_TX[0]`.
//! - `bench_gen_alternate`: as `bench_gen`, but every other frame gets the headers of
//!   `GEN_HEADER[1]` (two flows whose frames arrive interleaved in the same batches).
//! - `bench_count`: counts packets and bytes in `COUNTER` and drops (receivers, and the XDP_DROP
//!   ceiling at the router).
//! - `bench_broadcast`: the replication ceiling, one broadcast redirect to every interface of
//!   `BROADCAST` with no parsing and no lookup.
//! - `bench_parse`: the parse-only baseline of the per-packet micro-benchmark: validates the
//!   Ethernet and IPv4 headers as a forwarder must before its lookup, then passes.
//! - `bench_empty`: passes every frame and does nothing else: what the micro-benchmark's
//!   test-run loop costs per run by itself.
//! - `bench_tc_clone` (a TC classifier, not XDP): the eBPF alternative to mgm a user might pick,
//!   replication at TC with one `bpf_clone_redirect` per outgoing interface of `TC_OIFS` (the
//!   mechanism of Cilium's multicast), then the original is dropped. Like `bench_broadcast` it
//!   does not parse or rewrite, so it is a lower bound of that design's cost.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod programs {
    use aya_ebpf::{
        bindings::{xdp_action, BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, TC_ACT_SHOT},
        btf_maps::{Array, DevMap, DevMapHash, PerCpuArray},
        helpers::bpf_xdp_get_buff_len,
        macros::{btf_map, classifier, xdp},
        programs::{TcContext, XdpContext},
    };

    /// Bytes restored by the generator: the Ethernet and IPv4 headers (for IPv6, they cover
    /// its hop limit).
    const HEADER_LEN: usize = 34;
    const ETH_HDR_LEN: usize = 14;
    const IPV4_HDR_LEN: usize = 20;
    const ETH_P_IP: u16 = 0x0800;

    /// The generated frame's first bytes, written by userspace (slot 1: those of every other
    /// frame of `bench_gen_alternate`).
    #[btf_map]
    static GEN_HEADER: Array<[u8; HEADER_LEN], 2> = Array::new();

    /// Frames `bench_gen_alternate` generated on each CPU.
    #[btf_map]
    static GEN_SENT: PerCpuArray<u64, 1> = PerCpuArray::new();

    /// Slot 0: the interface generated frames leave through.
    #[btf_map]
    static GEN_TX: DevMap<1> = DevMap::new();

    /// Per-CPU counters: slot 0 packets, slot 1 bytes.
    #[btf_map]
    static COUNTER: PerCpuArray<u64, 2> = PerCpuArray::new();

    /// The interfaces `bench_broadcast` replicates to.
    #[btf_map]
    static BROADCAST: DevMapHash<256> = DevMapHash::new();

    /// Most interfaces `bench_tc_clone` copies to.
    const TC_MAX_OIFS: u32 = 16;

    /// The interfaces `bench_tc_clone` copies to, as ifindexes; the first 0 ends the list.
    #[btf_map]
    static TC_OIFS: Array<u32, 16> = Array::new();

    /// Restores the headers and sends the frame out of `GEN_TX[0]`.
    #[xdp]
    pub fn bench_gen(ctx: XdpContext) -> u32 {
        generate(&ctx, 0)
    }

    /// Restores the headers of `GEN_HEADER[0]` or `[1]`, in turns from `[0]`, and sends the
    /// frame out of `GEN_TX[0]`.
    #[xdp]
    pub fn bench_gen_alternate(ctx: XdpContext) -> u32 {
        let Some(sent) = GEN_SENT.get_ptr_mut(0) else {
            return xdp_action::XDP_ABORTED;
        };
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        let slot = unsafe {
            let slot = (*sent & 1) as u32;
            *sent += 1;
            slot
        };
        generate(&ctx, slot)
    }

    /// Writes the headers of `GEN_HEADER[slot]` and redirects to `GEN_TX[0]`.
    #[inline(always)]
    fn generate(ctx: &XdpContext, slot: u32) -> u32 {
        let start = ctx.data();
        if start + HEADER_LEN > ctx.data_end() {
            return xdp_action::XDP_ABORTED;
        }
        let Some(header) = GEN_HEADER.get(slot) else {
            return xdp_action::XDP_ABORTED;
        };
        // SAFETY: HEADER_LEN bytes are inside the frame (checked above).
        unsafe { (start as *mut [u8; HEADER_LEN]).write_unaligned(*header) };
        GEN_TX.redirect(0, 0).unwrap_or(xdp_action::XDP_ABORTED)
    }

    /// Counts the frame and drops it. Frags-aware, so that it attaches to jumbo links too
    /// (`bench jumbo`): the bytes are the whole frame's.
    #[xdp(frags)]
    pub fn bench_count(ctx: XdpContext) -> u32 {
        // SAFETY: helper without preconditions.
        let len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) };
        if let Some(packets) = COUNTER.get_ptr_mut(0) {
            // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
            unsafe { *packets += 1 };
        }
        if let Some(bytes) = COUNTER.get_ptr_mut(1) {
            // SAFETY: as above.
            unsafe { *bytes += len };
        }
        xdp_action::XDP_DROP
    }

    /// Replicates every frame to all of `BROADCAST` except the ingress interface.
    #[xdp]
    pub fn bench_broadcast(_ctx: XdpContext) -> u32 {
        BROADCAST
            .redirect(0, u64::from(BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS))
            .unwrap_or(xdp_action::XDP_DROP)
    }

    /// Validates Ethernet and IPv4 (version, header length, total length, checksum); drops
    /// malformed frames and passes the rest.
    #[xdp]
    pub fn bench_parse(ctx: XdpContext) -> u32 {
        let start = ctx.data();
        let end = ctx.data_end();
        if start + ETH_HDR_LEN + IPV4_HDR_LEN > end {
            return xdp_action::XDP_DROP;
        }
        // SAFETY: the Ethernet and fixed IPv4 headers are inside the frame (checked above).
        let (ethertype, words) = unsafe {
            (
                u16::from_be(((start + 12) as *const u16).read_unaligned()),
                ((start + ETH_HDR_LEN) as *const [u16; IPV4_HDR_LEN / 2]).read_unaligned(),
            )
        };
        if ethertype != ETH_P_IP {
            return xdp_action::XDP_PASS;
        }
        let version_ihl = u16::from_be(words[0]) >> 8;
        let total_len = usize::from(u16::from_be(words[1]));
        if version_ihl != 0x45 || ETH_HDR_LEN + total_len > end - start || total_len < IPV4_HDR_LEN
        {
            return xdp_action::XDP_DROP;
        }
        let mut sum: u32 = 0;
        for word in words {
            sum += u32::from(word);
        }
        sum = (sum & 0xffff) + (sum >> 16);
        sum = (sum & 0xffff) + (sum >> 16);
        if sum != 0xffff {
            return xdp_action::XDP_DROP;
        }
        xdp_action::XDP_PASS
    }

    /// Passes the frame, nothing else.
    #[xdp]
    pub fn bench_empty(_ctx: XdpContext) -> u32 {
        xdp_action::XDP_PASS
    }

    /// Sends one clone of the packet out of every interface of `TC_OIFS`, then drops it.
    #[classifier]
    pub fn bench_tc_clone(ctx: TcContext) -> i32 {
        for slot in 0..TC_MAX_OIFS {
            let Some(&oif) = TC_OIFS.get(slot) else {
                break;
            };
            if oif == 0 {
                break;
            }
            // A failed copy shows as a receiver's shortfall.
            let _ = ctx.clone_redirect(oif, 0);
        }
        TC_ACT_SHOT as i32
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

/// Host builds (`cargo build --workspace`) compile this crate as an empty program.
#[cfg(not(target_arch = "bpf"))]
fn main() {}
