//! The ingress XDP program.
use aya_ebpf::{
    bindings::xdp_action,
    btf_maps::PerCpuArray,
    macros::{btf_map, xdp},
    programs::XdpContext,
};
use mgm_common::stat;

/// Why frames went where they went, per CPU.
#[btf_map]
static STATS: PerCpuArray<u64, { stat::COUNT as usize }> = PerCpuArray::new();

const ETH_HDR_LEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const IPPROTO_IGMP: u8 = 2;

#[inline(always)]
fn count(index: u32) {
    if let Some(counter) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, only this CPU writes it.
        unsafe { *counter += 1 };
    }
}

/// Classifies and counts every frame, then passes it to the kernel.
#[xdp]
pub fn mgm_xdp(ctx: XdpContext) -> u32 {
    count(stat::RX);
    let class = classify(&ctx);
    count(class);
    if class == stat::MALFORMED_ETH || class == stat::MALFORMED_IPV4 {
        xdp_action::XDP_DROP
    } else {
        xdp_action::XDP_PASS
    }
}

#[inline(always)]
fn classify(ctx: &XdpContext) -> u32 {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + ETH_HDR_LEN > end {
        return stat::MALFORMED_ETH;
    }
    // SAFETY: bounds checked above.
    let ethertype = u16::from_be(unsafe { *((start + 12) as *const u16) });
    if ethertype != ETH_P_IP {
        return stat::NOT_IPV4;
    }
    let ip = start + ETH_HDR_LEN;
    if ip + 20 > end {
        return stat::MALFORMED_IPV4;
    }
    // SAFETY: 20 bytes of IPv4 header are inside the packet.
    let (version_ihl, protocol, daddr) = unsafe {
        (
            *(ip as *const u8),
            *((ip + 9) as *const u8),
            *((ip + 16) as *const [u8; 4]),
        )
    };
    if version_ihl >> 4 != 4 || version_ihl & 0x0f < 5 {
        return stat::MALFORMED_IPV4;
    }
    if daddr[0] & 0xf0 != 0xe0 {
        return stat::NOT_MULTICAST;
    }
    if protocol == IPPROTO_IGMP {
        return stat::IGMP;
    }
    if daddr[0] == 224 && daddr[1] == 0 && daddr[2] == 0 {
        return stat::LINK_LOCAL;
    }
    stat::MULTICAST
}
