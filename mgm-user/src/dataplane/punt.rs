//! The punt path: AF_XDP sockets receiving the misses of each interface, their slots in the
//! `PUNT_SOCKETS` map, and the interface settings that point the XDP program at them.
//!
//! An interface's sockets are opened when it enters service and closed when it leaves
//! ([`PuntSockets::close`]): the slots, the UMEM and the descriptors are freed, so that an
//! interface that comes back (under the same or a new ifindex) gets fresh sockets. The UMEM of
//! an interface is [`XskConfig::frames`] frames in all, shared out among its receive queues.
//! At most [`MAX_PUNT_QUEUES`] queues of an interface get a socket: misses arriving on a queue
//! beyond go to the kernel (`miss_passed`), and the queues left so are counted
//! ([`PuntSockets::unserved_queues`], `punt_queues_unserved_now` in `show stats`) and logged.
//! The sockets themselves sit in a [`SharedSockets`] map, so that a thread of their own can
//! read them ([`PuntSockets::shared`]) while the slots are managed here.
//!
//! The XDP program numbers the frames it punts to each slot (`PUNTED`, `mgm_common::PuntMeta`)
//! and userspace tells it how far it has dealt with them (`PUNTS_HANDLED`,
//! [`PuntSockets::set_handled`]): an entry in hold mode goes on to the fast path only when
//! nothing punted before on its receive queue is left behind (`daemon::hold`), or nothing of
//! the entry's own (its count is the backend's: `ForwardingBackend::held_sent`).
use super::{
    backend::ForwardingBackend,
    loader::{map_name, DataPlane},
    xdp_backend::XdpBackend,
    xsk::{XskConfig, XskSocket},
    DataPlaneError,
};
use aya::maps::{Array, MapData, XskMap};
use mgm_common::limits;
use std::{
    collections::BTreeMap,
    os::fd::AsRawFd,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// Fewest frames a punt socket gets, however many queues share the interface's UMEM; also the
/// smallest UMEM of an interface (`daemon.punt_umem_frames`).
pub const MIN_FRAMES_PER_QUEUE: u32 = 64;

/// UMEM of one interface's punt sockets by default, in 2 KiB frames: 8 MiB, resident (the
/// kernel pins it). A new entry starts in hold mode, so the first burst of a flow goes through
/// the punt path whole; the creation thread takes it from the rings as it arrives
/// (`daemon::creation`, into a buffer of its own while the main loop has the router), and the
/// router reads the rings again while it sends the punted packets on, so the UMEM only covers
/// the thread's wake-up and the sending of 64 packets, not the main loop's work.
pub const DEFAULT_UMEM_FRAMES: u32 = 4096;

/// Largest UMEM of one interface (`daemon.punt_umem_frames`), in frames: 128 MiB.
pub const MAX_UMEM_FRAMES: u32 = 65536;

/// Receive queues of one interface that get a punt socket, at most: with the default UMEM
/// ([`DEFAULT_UMEM_FRAMES`]) each still gets [`MIN_FRAMES_PER_QUEUE`] frames, so the UMEM
/// stays as large.
pub const MAX_PUNT_QUEUES: u32 = 64;

/// The punt sockets of one interface, one per receive queue, in consecutive slots.
pub struct IfaceSockets {
    /// The slot of the socket of receive queue 0.
    pub first_slot: u32,
    /// The sockets, by receive queue.
    pub sockets: Vec<XskSocket>,
}

/// The punt sockets of every interface by ifindex.
pub type SharedSockets = Arc<Mutex<BTreeMap<u32, IfaceSockets>>>;

/// The punt sockets of every interface and their slots.
pub struct PuntSockets {
    map: XskMap<MapData>,
    punted: Array<MapData, u32>,
    handled: Array<MapData, u32>,
    /// Which `PUNT_SOCKETS` slots are taken.
    used: Vec<bool>,
    /// The first slot and the number of sockets of each interface.
    slots: BTreeMap<u32, (u32, u32)>,
    /// Receive queues beyond [`MAX_PUNT_QUEUES`] of each interface that has them.
    unserved: BTreeMap<u32, u32>,
    sockets: SharedSockets,
    config: XskConfig,
    /// Frames dropped for want of room on the way to sockets since closed.
    dropped_closed: u64,
}

impl PuntSockets {
    /// Takes the punt-socket map of `plane`; `config.frames` is the UMEM of one interface, in
    /// frames, divided among its receive queues.
    pub fn new(plane: &mut DataPlane, config: XskConfig) -> Result<Self, DataPlaneError> {
        Ok(Self {
            map: plane.take_map(map_name::PUNT_SOCKETS)?.try_into()?,
            punted: plane.take_map(map_name::PUNTED)?.try_into()?,
            handled: plane.take_map(map_name::PUNTS_HANDLED)?.try_into()?,
            used: vec![false; limits::PUNT_SOCKETS as usize],
            slots: BTreeMap::new(),
            unserved: BTreeMap::new(),
            sockets: SharedSockets::default(),
            config,
            dropped_closed: 0,
        })
    }

    /// Opens one socket per receive queue `0..queues` of `ifindex` (from the router's network
    /// namespace) and points the interface's misses at them.
    pub fn open(
        &mut self,
        backend: &mut XdpBackend,
        ifindex: u32,
        queues: u32,
    ) -> Result<(), DataPlaneError> {
        let (first, queues) = self.bind(ifindex, queues)?;
        if let Err(e) = backend.set_punt_slots(ifindex, first, queues) {
            self.close(ifindex);
            return Err(e);
        }
        Ok(())
    }

    /// Opens one socket per receive queue `0..queues` of `ifindex` (at most
    /// [`MAX_PUNT_QUEUES`]) in free slots of the map and returns (first slot, sockets): the
    /// caller points the interface at them ([`ForwardingBackend::set_punt_slots`]). Refused
    /// while `ifindex` has sockets.
    pub fn bind(&mut self, ifindex: u32, queues: u32) -> Result<(u32, u32), DataPlaneError> {
        if self.slots.contains_key(&ifindex) {
            return Err(DataPlaneError::Invalid(format!(
                "interface {ifindex} already has punt sockets"
            )));
        }
        let unserved = queues.saturating_sub(MAX_PUNT_QUEUES);
        let queues = queues.min(MAX_PUNT_QUEUES);
        let first = self
            .free_run(queues)
            .ok_or(DataPlaneError::Full("the punt socket slots"))?;
        let config = XskConfig {
            frames: frames_per_queue(self.config.frames, queues),
            ..self.config
        };
        let mut sockets = Vec::new();
        for queue in 0..queues {
            let socket =
                XskSocket::bind(ifindex, queue, config).map_err(|source| DataPlaneError::Sys {
                    call: "binding an AF_XDP punt socket",
                    source,
                });
            let set = socket.and_then(|socket| {
                // Nothing punted to the slot before is waiting for this socket: frames are
                // numbered there only while a socket is in it.
                let punted = self.punted.get(&(first + queue), 0)?;
                self.handled.set(first + queue, punted, 0)?;
                self.map.set(first + queue, socket.as_raw_fd(), 0)?;
                Ok(socket)
            });
            match set {
                Ok(socket) => sockets.push(socket),
                Err(e) => {
                    for slot in first..first + queue {
                        let _ = self.map.unset(slot);
                    }
                    return Err(e);
                }
            }
        }
        self.used[first as usize..(first + queues) as usize].fill(true);
        self.slots.insert(ifindex, (first, queues));
        if unserved > 0 {
            self.unserved.insert(ifindex, unserved);
        }
        self.lock().insert(
            ifindex,
            IfaceSockets {
                first_slot: first,
                sockets,
            },
        );
        Ok((first, queues))
    }

    /// Closes the sockets of `ifindex` and frees their slots; false if it had none. The
    /// caller stops pointing the interface at them first (or the interface is gone).
    pub fn close(&mut self, ifindex: u32) -> bool {
        let Some((first, count)) = self.slots.remove(&ifindex) else {
            return false;
        };
        self.unserved.remove(&ifindex);
        for slot in first..first + count {
            let _ = self.map.unset(slot);
        }
        self.used[first as usize..(first + count) as usize].fill(false);
        // Closed here and now (not when a reader lets go), so that the queues can be bound again.
        let closed = self.lock().remove(&ifindex);
        self.dropped_closed += closed.as_ref().map_or(0, dropped);
        drop(closed);
        true
    }

    /// Every frame punted to `slot` up to number `mark` has been sent on or dropped.
    pub fn set_handled(&mut self, slot: u32, mark: u32) -> Result<(), DataPlaneError> {
        Ok(self.handled.set(slot, mark, 0)?)
    }

    /// The interfaces that have punt sockets.
    pub fn interfaces(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.keys().copied()
    }

    /// Receive queues of the interfaces with punt sockets that have none (beyond
    /// [`MAX_PUNT_QUEUES`]): their misses go to the kernel.
    pub fn unserved_queues(&self) -> u64 {
        self.unserved.values().map(|&q| u64::from(q)).sum()
    }

    /// Bytes of UMEM the open punt sockets hold (resident: the kernel pins them).
    pub fn umem_bytes(&self) -> u64 {
        self.slots
            .values()
            .map(|&(_, queues)| {
                u64::from(queues)
                    * u64::from(frames_per_queue(self.config.frames, queues))
                    * u64::from(self.config.frame_size)
            })
            .sum()
    }

    /// Frames the kernel dropped for want of room on the way to the punt sockets (their UMEM
    /// all taken, or their RX ring full), since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped_closed + self.lock().values().map(dropped).sum::<u64>()
    }

    /// Slots in use.
    pub fn slots_in_use(&self) -> usize {
        self.used.iter().filter(|u| **u).count()
    }

    /// The sockets of every interface, for a reader of their own.
    pub fn shared(&self) -> SharedSockets {
        self.sockets.clone()
    }

    /// The sockets of every interface, locked.
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, IfaceSockets>> {
        // A reader that panicked leaves the map as it was.
        self.sockets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first of `count` consecutive free slots.
    fn free_run(&self, count: u32) -> Option<u32> {
        if count == 0 {
            return None;
        }
        let count = count as usize;
        (0..self.used.len().checked_sub(count)? + 1)
            .find(|&first| self.used[first..first + count].iter().all(|u| !u))
            .map(|first| first as u32)
    }
}

/// Frames dropped on the way to the sockets of one interface (a socket the kernel does not
/// answer for counts none).
fn dropped(iface: &IfaceSockets) -> u64 {
    iface.sockets.iter().map(|s| s.dropped().unwrap_or(0)).sum()
}

/// Frames of each socket when `queues` sockets share `total` frames: a power of two, at least
/// [`MIN_FRAMES_PER_QUEUE`].
fn frames_per_queue(total: u32, queues: u32) -> u32 {
    let share = (total / queues.max(1)).max(MIN_FRAMES_PER_QUEUE);
    // The largest power of two not above the share.
    1 << (31 - share.leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::{frames_per_queue, DEFAULT_UMEM_FRAMES, MAX_PUNT_QUEUES, MIN_FRAMES_PER_QUEUE};

    #[test]
    fn an_interfaces_umem_is_shared_by_its_queues() {
        assert_eq!(frames_per_queue(8192, 1), 8192);
        assert_eq!(frames_per_queue(8192, 4), 2048);
        assert_eq!(frames_per_queue(8192, 3), 2048);
        assert_eq!(frames_per_queue(8192, 1024), 64);
    }

    #[test]
    fn the_queue_bound_keeps_the_default_umem_whole() {
        // 4096 frames (8 MiB) per interface: at the bound each queue still gets the fewest
        // frames a socket may have, so the sockets together take no more than that.
        let per_queue = frames_per_queue(DEFAULT_UMEM_FRAMES, MAX_PUNT_QUEUES);
        assert_eq!(per_queue, MIN_FRAMES_PER_QUEUE);
        assert_eq!(per_queue * MAX_PUNT_QUEUES, DEFAULT_UMEM_FRAMES);
    }
}
