//! How far userspace has dealt with the frames punted to each socket slot, for the handover
//! from the hold queue to the fast path.
//!
//! The XDP program numbers the frames it punts to each slot (`PuntMeta::seq`, wrapping) and
//! forwards a packet of an entry in hold mode itself only when userspace's mark for the slot
//! (`PUNTS_HANDLED`) equals the number of the last frame punted there: every earlier packet of
//! that receive queue has then been sent on (or dropped), so none is overtaken. The mark is the
//! number of the last frame read, or, while frames read from the slot are still held (waiting
//! for their entry, or not yet sent), the one before the oldest of them. Frames the kernel
//! dropped before userspace read them leave a gap in the numbers, which the next frame read
//! closes. A slot whose socket closed keeps its record: its next socket continues the data
//! plane's numbering, and a stale mark only delays a handover until the next frame is read.
use std::collections::{BTreeMap, BTreeSet};

/// Where a punted frame came from: its socket slot and number there, and its number among its
/// entry's packets punted in hold mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PuntTag {
    /// The `PUNT_SOCKETS` slot.
    pub slot: u32,
    /// The frame's number among those punted to the slot.
    pub seq: u32,
    /// Its number among its entry's packets punted in hold mode (`PuntMeta::held`); 0 for a
    /// miss.
    pub held: u32,
}

/// A frame read and not yet dealt with: its slot and its number, widened so that it keeps
/// its order across the wrap of the 32-bit numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    slot: u32,
    seq: u64,
}

/// One slot's progress.
#[derive(Debug, Default)]
struct Slot {
    /// The last frame read, widened.
    last: u64,
    /// Frames read and not yet dealt with, widened.
    pending: BTreeSet<u64>,
    /// The mark last handed to the data plane.
    written: Option<u32>,
}

impl Slot {
    fn mark(&self) -> u32 {
        let mark = self.pending.first().map_or(self.last, |oldest| oldest - 1);
        mark as u32
    }
}

/// The progress of every slot frames came from.
#[derive(Debug, Default)]
pub struct PuntProgress {
    slots: BTreeMap<u32, Slot>,
}

impl PuntProgress {
    /// A frame was read: it is pending until [`PuntProgress::done`].
    pub fn read(&mut self, tag: PuntTag) -> Pending {
        let slot = self.slots.entry(tag.slot).or_insert_with(|| Slot {
            // The first frame seen from a slot: the data plane's mark already stands just
            // before it (set when the socket took the slot).
            last: u64::from(tag.seq.wrapping_sub(1)),
            ..Slot::default()
        });
        let seq = slot.last + u64::from(tag.seq.wrapping_sub(slot.last as u32));
        slot.last = seq;
        slot.pending.insert(seq);
        Pending {
            slot: tag.slot,
            seq,
        }
    }

    /// A frame read earlier was sent on or dropped.
    pub fn done(&mut self, pending: Pending) {
        if let Some(slot) = self.slots.get_mut(&pending.slot) {
            slot.pending.remove(&pending.seq);
        }
    }

    /// The slots whose mark moved since the last call, with their new mark.
    pub fn moved(&mut self) -> Vec<(u32, u32)> {
        self.slots
            .iter_mut()
            .filter_map(|(&index, slot)| {
                let mark = slot.mark();
                (slot.written != Some(mark)).then(|| {
                    slot.written = Some(mark);
                    (index, mark)
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{PuntProgress, PuntTag};

    fn tag(slot: u32, seq: u32) -> PuntTag {
        PuntTag { slot, seq, held: 0 }
    }

    #[test]
    fn the_mark_stops_before_the_oldest_frame_not_dealt_with() {
        let mut progress = PuntProgress::default();
        let first = progress.read(tag(3, 1));
        let second = progress.read(tag(3, 2));
        assert_eq!(progress.moved(), vec![(3, 0)]);
        progress.done(second);
        assert_eq!(progress.moved(), vec![], "the first is still held");
        progress.done(first);
        assert_eq!(progress.moved(), vec![(3, 2)]);
        assert_eq!(progress.moved(), vec![], "written once");
    }

    #[test]
    fn frames_the_kernel_dropped_leave_a_gap_the_next_frame_closes() {
        let mut progress = PuntProgress::default();
        let a = progress.read(tag(0, 10));
        progress.done(a);
        // 11 and 12 never arrived (the socket's ring was full).
        let b = progress.read(tag(0, 13));
        assert_eq!(progress.moved(), vec![(0, 12)]);
        progress.done(b);
        assert_eq!(progress.moved(), vec![(0, 13)]);
    }

    #[test]
    fn numbers_keep_their_order_across_the_wrap() {
        let mut progress = PuntProgress::default();
        let old = progress.read(tag(1, u32::MAX));
        let new = progress.read(tag(1, 0));
        progress.done(new);
        assert_eq!(
            progress.moved(),
            vec![(1, u32::MAX - 1)],
            "held behind the older"
        );
        progress.done(old);
        assert_eq!(progress.moved(), vec![(1, 0)]);
    }

    #[test]
    fn slots_progress_independently() {
        let mut progress = PuntProgress::default();
        let held = progress.read(tag(0, 5));
        let sent = progress.read(tag(1, 7));
        progress.done(sent);
        assert_eq!(progress.moved(), vec![(0, 4), (1, 7)]);
        progress.done(held);
        assert_eq!(progress.moved(), vec![(0, 5)]);
    }
}
