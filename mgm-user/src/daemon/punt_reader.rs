//! Reads the punt sockets from a thread of its own, so that a flow's first burst leaves the
//! punt rings as fast as it arrives, however busy the main loop is: the frames wait in a
//! bounded buffer ([`PuntBuffer`]) until the main loop takes them, and the UMEM only has to
//! cover the thread's wake-up (which is why it can be small, see `executor.rs`).
//!
//! The main loop takes the buffer and then reads the rings itself
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
    os::fd::AsRawFd,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
    },
    time::Duration,
};
use tokio::sync::mpsc;

/// Frames the buffer holds before the thread stops reading the rings (the 5000 back-to-back
/// first packets of `tests/no_loss_creation.rs` fit).
pub const PUNT_BUFFER_FRAMES: usize = 8192;

/// How long the thread's waits last at most (poll, room in the buffer, no sockets), so that it
/// notices when the main loop has gone.
const WAIT: Duration = Duration::from_millis(50);

/// Punted frames between the thread and the main loop.
#[derive(Default)]
pub struct PuntBuffer {
    frames: Mutex<Vec<Punted>>,
    room: Condvar,
    /// Times the thread found the buffer full and stopped reading.
    full: AtomicU64,
}

impl PuntBuffer {
    fn lock(&self) -> MutexGuard<'_, Vec<Punted>> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the buffered frames, then those still in the rings of `sockets`, to `out`.
    pub fn take_with_rings(&self, sockets: &SharedSockets, out: &mut Vec<Punted>) {
        let mut sockets = sockets.lock().unwrap_or_else(PoisonError::into_inner);
        out.append(&mut self.lock());
        self.room.notify_one();
        read_rings(&mut sockets, out);
    }

    /// Times the thread found the buffer full (`punt_buffer_full`).
    pub fn times_full(&self) -> u64 {
        self.full.load(Ordering::Relaxed)
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
                    tag: meta.map(|m| PuntTag { slot, seq: m.seq }),
                    frame: frame.to_vec(),
                })
            });
        }
    }
}

/// Starts the thread that moves punted frames from the rings of `sockets` to `buffer`; the
/// receiver gets a message when there are frames to take (one at a time: a message not yet
/// received stands for every frame since).
pub fn spawn(sockets: SharedSockets, buffer: Arc<PuntBuffer>) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    std::thread::spawn(move || {
        while !tx.is_closed() {
            let mut polled: Vec<libc::pollfd> = sockets
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .flat_map(|iface| &iface.sockets)
                .map(|socket| libc::pollfd {
                    fd: socket.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            if polled.is_empty() {
                std::thread::sleep(WAIT);
                continue;
            }
            // SAFETY: `polled` is a valid array of pollfds for the call's duration. A socket
            // closed meanwhile (its interface left service) makes poll report POLLNVAL or
            // wake spuriously, which only costs one look at the rings.
            let ready = unsafe {
                libc::poll(
                    polled.as_mut_ptr(),
                    polled.len() as libc::nfds_t,
                    WAIT.as_millis() as i32,
                )
            };
            if ready <= 0 {
                continue;
            }
            if polled.iter().all(|p| p.revents & libc::POLLIN == 0) {
                // Readable without frames (an error or a closed socket): no busy loop.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            if !buffer.has_room() {
                continue;
            }
            let moved = {
                let mut sockets = sockets.lock().unwrap_or_else(PoisonError::into_inner);
                let mut frames = buffer.lock();
                let before = frames.len();
                read_rings(&mut sockets, &mut frames);
                frames.len() - before
            };
            // Nothing moved: the main loop took the frames first.
            if moved > 0 {
                let _ = tx.try_send(());
            }
        }
    });
    rx
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
