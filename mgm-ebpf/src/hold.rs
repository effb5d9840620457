//! Hold mode: a packet of an entry that userspace still sends packets of goes to the punt
//! socket behind them, until the fast path can take the entry over without overtaking any.
//!
//! It can once userspace has sent on every frame punted before on the packet's receive queue
//! (`PUNTS_HANDLED` equals `PUNTED`), or every packet of the entry punted in hold mode and
//! those before them (`HOLD_SENT` equals `HOLD_PUNTED`, not 0: the entry's first packets,
//! punted as misses, precede them on the queue and userspace sends a flow's frames in order).
//! The second condition lets an entry go while other flows keep the queue busy (a spray of
//! new flows). The takeover is for good: `HOLD_PUNTED` becomes `HOLD_TAKEN_OVER`, so the
//! entry's later packets are forwarded whatever else is punted meanwhile, until userspace
//! ends hold mode in the entry itself.
use aya_ebpf::programs::XdpContext;
use mgm_common::{stat, HOLD_TAKEN_OVER};

use crate::{
    ingress::{iface_config, punt_slot, punt_to, Packet},
    maps::{count, HOLD_PUNTED, HOLD_SENT, PUNTED, PUNTS_HANDLED},
};

/// A packet of an entry in hold mode (its counter slot `slot`): `Some(action)` if it is
/// punted, `None` if the fast path forwards it (taken over, or no punt socket serves its
/// queue: with mgmd gone, nobody holds packets before it).
#[inline(always)]
pub fn punt(ctx: &XdpContext, slot: u32, packet: &Packet) -> Option<u32> {
    let Some(punted) = HOLD_PUNTED.get_ptr_mut(slot) else {
        count(stat::HOLD_NO_PUNT_SOCKET);
        return None;
    };
    // SAFETY: only the CPU serving the entry's receive queue writes it (see the map).
    let so_far = unsafe { *punted };
    if so_far == HOLD_TAKEN_OVER {
        count(stat::HOLD_HANDED_OVER);
        return None;
    }
    let Some(queue) = punt_slot(ctx, iface_config(packet.ingress)) else {
        count(stat::HOLD_NO_PUNT_SOCKET);
        return None;
    };
    if queue_sent(queue) || entry_sent(slot, so_far) {
        // SAFETY: as above.
        unsafe { *punted = HOLD_TAKEN_OVER };
        count(stat::HOLD_HANDED_OVER);
        return None;
    }
    let number = so_far.wrapping_add(1);
    match punt_to(ctx, queue, packet.frame_len, number) {
        Some(action) => {
            // SAFETY: as above.
            unsafe { *punted = number };
            count(stat::HOLD_PUNTED);
            Some(action)
        }
        None => {
            count(stat::HOLD_NO_PUNT_SOCKET);
            None
        }
    }
}

/// Whether userspace has dealt with every frame punted to the socket slot `queue` so far.
#[inline(always)]
fn queue_sent(queue: u32) -> bool {
    match (PUNTED.get(queue), PUNTS_HANDLED.get(queue)) {
        (Some(punted), Some(handled)) => punted == handled,
        _ => false,
    }
}

/// Whether userspace has sent on the `so_far` packets of the entry in counter slot `slot`
/// punted in hold mode (at least one), and every packet of the entry before them.
#[inline(always)]
fn entry_sent(slot: u32, so_far: u32) -> bool {
    so_far != 0 && HOLD_SENT.get(slot).is_some_and(|&sent| sent == so_far)
}
