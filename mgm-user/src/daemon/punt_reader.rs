//! The punted frames the creation thread (`daemon::creation`) read while the main loop had the
//! router, so that a flow's first burst leaves the punt rings as fast as it arrives, however
//! busy the main loop is: the frames wait in a bounded buffer ([`PuntBuffer`]) until the router
//! takes them, and the UMEM only has to cover the thread's wake-up (which is why it can be
//! small, see `executor.rs`).
//!
//! The router takes the buffer and then reads the rings itself
//! ([`PuntBuffer::take_with_rings`]), under the sockets' lock that the thread holds while it
//! moves frames from the rings to the buffer: what was punted before a call is always in its
//! answer, in arrival order (an entry's hold queue is released only after that).
//!
//! Bound: the thread stops reading while the buffer holds [`PUNT_BUFFER_FRAMES`] frames (it
//! reads whole rings, so the buffer may pass the bound by one ring per socket); frames then
//! wait in the UMEM, and what it cannot take the kernel drops, as without the thread. Each
//! such stop counts in `punt_buffer_full` (logged with the statistics refresh).
use super::{hold::PuntTag, router::Punted};
use crate::dataplane::{IfaceSockets, SharedSockets};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Condvar, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};

/// Frames the buffer holds before the thread stops reading the rings (the 5000 back-to-back
/// first packets of `tests/no_loss_creation.rs` fit).
pub const PUNT_BUFFER_FRAMES: usize = 8192;

/// How long the thread waits at most for room in the buffer.
const WAIT: Duration = Duration::from_millis(50);

/// Punted frames between the thread and the main loop.
#[derive(Default)]
pub struct PuntBuffer {
    frames: Mutex<Vec<Punted>>,
    room: Condvar,
    /// Times the thread found the buffer full and stopped reading.
    full: AtomicU64,
    /// Times the thread found the router busy and left its work to the main loop.
    deferred: AtomicU64,
}

impl PuntBuffer {
    fn lock(&self) -> MutexGuard<'_, Vec<Punted>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the buffered frames, then those still in the rings of `sockets`, to `out`.
    pub fn take_with_rings(&self, sockets: &SharedSockets, out: &mut Vec<Punted>) {
        let mut sockets = sockets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut frames = self.lock();
        // Only the reader of a full buffer waits for room (and a notification is a syscall).
        if frames.len() >= PUNT_BUFFER_FRAMES {
            self.room.notify_one();
        }
        out.append(&mut frames);
        read_rings(&mut sockets, out);
    }

    /// Times the thread found the buffer full (`punt_buffer_full`).
    pub fn times_full(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
    }

    /// Counts a time the thread found the router busy (`creation_deferred`).
    pub fn count_deferred(&self) {
        self.deferred.fetch_add(1, Ordering::Relaxed);
    }

    /// Times the thread found the router busy and left its work to the main loop.
    pub fn times_deferred(&self) -> u64 {
        self.deferred.load(Ordering::Relaxed)
    }

    /// Waits up to [`WAIT`] for the buffer to hold fewer than [`PUNT_BUFFER_FRAMES`] frames.
    fn has_room(&self) -> bool {
        let frames = self.lock();
        if frames.len() >= PUNT_BUFFER_FRAMES {
            self.full.fetch_add(1, Ordering::Relaxed);
        }
        let (frames, _) = self
            .room
            .wait_timeout_while(frames, WAIT, |f| f.len() >= PUNT_BUFFER_FRAMES)
            .unwrap_or_else(PoisonError::into_inner);
        frames.len() < PUNT_BUFFER_FRAMES
    }
}

/// Appends every frame in the rings of `sockets` to `out`, each with its arrival interface and
/// its number in its socket's slot.
fn read_rings(sockets: &mut BTreeMap<u32, IfaceSockets>, out: &mut Vec<Punted>) {
    for (&arrival, iface) in sockets.iter_mut() {
        for (slot, socket) in (iface.first_slot..).zip(iface.sockets.iter_mut()) {
            socket.recv(|meta, frame| {
                out.push(Punted {
                    arrival,
                    tag: meta.map(|m| PuntTag {
                        slot,
                        seq: m.seq,
                        held: m.held,
                    }),
                    frame: frame.to_vec(),
                })
            });
        }
    }
}

/// Moves what the rings of `sockets` hold to `buffer` (the creation thread's step while the
/// main loop has the router): the number of frames moved, 0 when the buffer had no room.
pub fn buffer_rings(sockets: &SharedSockets, buffer: &PuntBuffer) -> usize {
    if !buffer.has_room() {
        return 0;
    }
    let mut sockets = sockets.lock().unwrap_or_else(PoisonError::into_inner);
    let mut frames = buffer.lock();
    let before = frames.len();
    read_rings(&mut sockets, &mut frames);
    frames.len() - before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_stops_the_reader_and_counts_until_the_main_loop_takes_it() {
        let buffer = PuntBuffer::default();
        buffer
            .lock()
            .extend((0..PUNT_BUFFER_FRAMES).map(|_| Punted {
                arrival: 1,
                tag: None,
                frame: vec![0; 64],
            }));
        assert!(!buffer.has_room());
        assert_eq!(buffer.times_full(), 1);
        let mut taken = Vec::new();
        buffer.take_with_rings(&SharedSockets::default(), &mut taken);
        assert_eq!(taken.len(), PUNT_BUFFER_FRAMES);
        assert!(buffer.has_room());
        assert_eq!(buffer.times_full(), 1);
    }
}
