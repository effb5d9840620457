//! A small AF_XDP socket that receives the frames the XDP program punts (copy mode): the UMEM,
//! its fill and completion rings and the RX ring, on libc.
//!
//! Written here because no maintained crate under a compatible licence fits: `xsk-rs` builds
//! the C libxdp, `afxdp` is unmaintained on an old libbpf-sys, `xdpilone` is EUPL-1.2.
use crate::rawio;
use mgm_common::PuntMeta;
use std::{
    io,
    mem::size_of,
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
    ptr::NonNull,
    sync::atomic::{AtomicU32, Ordering},
};

/// Sizes of a punt socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskConfig {
    /// Frames of the UMEM, and entries of each ring (a power of two).
    pub frames: u32,
    /// Bytes per frame (2048 or 4096).
    pub frame_size: u32,
}

impl Default for XskConfig {
    fn default() -> Self {
        Self {
            frames: 2048,
            frame_size: 2048,
        }
    }
}

/// An anonymous or socket memory mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize, fd: Option<RawFd>, offset: u64) -> io::Result<Self> {
        let (flags, fd) = match fd {
            Some(fd) => (libc::MAP_SHARED | libc::MAP_POPULATE, fd),
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
        };
        // SAFETY: a fresh mapping; the kernel checks fd and offset.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `new` mapped.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// One single-producer single-consumer ring shared with the kernel.
struct Ring {
    mapping: Mapping,
    producer: usize,
    consumer: usize,
    flags: usize,
    desc: usize,
    mask: u32,
}

impl Ring {
    fn map(
        fd: RawFd,
        offsets: &libc::xdp_ring_offset,
        entries: u32,
        entry_size: usize,
        pgoff: u64,
    ) -> io::Result<Self> {
        let len = offsets.desc as usize + entries as usize * entry_size;
        Ok(Self {
            mapping: Mapping::new(len, Some(fd), pgoff)?,
            producer: offsets.producer as usize,
            consumer: offsets.consumer as usize,
            flags: offsets.flags as usize,
            desc: offsets.desc as usize,
            mask: entries - 1,
        })
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the kernel's offsets point at aligned u32 indexes inside the mapping, which
        // lives as long as self; the kernel updates them concurrently, hence atomics.
        unsafe { &*self.mapping.ptr.as_ptr().add(offset).cast::<AtomicU32>() }
    }

    /// Pointer to descriptor `i` (modulo the ring size) of type `T`.
    fn slot<T>(&self, i: u32) -> *mut T {
        let at = self.desc + (i & self.mask) as usize * size_of::<T>();
        // SAFETY: the descriptor array holds `mask + 1` entries of T after `desc`.
        unsafe { self.mapping.ptr.as_ptr().add(at).cast() }
    }
}

/// An AF_XDP socket bound to one receive queue of one interface.
pub struct XskSocket {
    // Field order is drop order: rings and UMEM are unmapped before the socket closes.
    fill: Ring,
    _completion: Ring,
    rx: Ring,
    umem: Mapping,
    fd: OwnedFd,
    frame_size: u32,
}

// SAFETY: the raw mappings are owned by the socket and only touched through &mut self.
unsafe impl Send for XskSocket {}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl XskSocket {
    /// Creates a socket with its UMEM, binds it (copy mode) to queue `queue` of `ifindex`
    /// (of the calling thread's network namespace) and hands every frame to the kernel.
    pub fn bind(ifindex: u32, queue: u32, config: XskConfig) -> io::Result<Self> {
        if !config.frames.is_power_of_two() || !config.frame_size.is_power_of_two() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sizes must be powers of two",
            ));
        }
        // SAFETY: plain socket call.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        check(raw)?;
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem = Mapping::new(config.frames as usize * config.frame_size as usize, None, 0)?;
        let registration = libc::xdp_umem_reg {
            addr: umem.ptr.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: config.frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        rawio::set_opt(&fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &registration)?;
        for ring in [
            libc::XDP_UMEM_FILL_RING,
            libc::XDP_UMEM_COMPLETION_RING,
            libc::XDP_RX_RING,
        ] {
            rawio::set_opt(&fd, libc::SOL_XDP, ring, &config.frames)?;
        }
        // SAFETY: xdp_mmap_offsets is plain old data.
        let mut offsets: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::xdp_mmap_offsets>() as u32;
        // SAFETY: `offsets` is valid for `len` bytes.
        check(unsafe {
            libc::getsockopt(
                raw,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut offsets as *mut libc::xdp_mmap_offsets).cast(),
                &mut len,
            )
        })?;
        let fill = Ring::map(
            raw,
            &offsets.fr,
            config.frames,
            size_of::<u64>(),
            libc::XDP_UMEM_PGOFF_FILL_RING,
        )?;
        let completion = Ring::map(
            raw,
            &offsets.cr,
            config.frames,
            size_of::<u64>(),
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;
        let rx = Ring::map(
            raw,
            &offsets.rx,
            config.frames,
            size_of::<libc::xdp_desc>(),
            libc::XDP_PGOFF_RX_RING as u64,
        )?;
        let mut socket = Self {
            fill,
            _completion: completion,
            rx,
            umem,
            fd,
            frame_size: config.frame_size,
        };
        socket.give((0..config.frames).map(|i| u64::from(i) * u64::from(config.frame_size)));
        let address = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY | libc::XDP_USE_NEED_WAKEUP,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: a valid sockaddr_xdp of the size given.
        check(unsafe {
            libc::bind(
                raw,
                (&address as *const libc::sockaddr_xdp).cast(),
                size_of::<libc::sockaddr_xdp>() as u32,
            )
        })?;
        Ok(socket)
    }

    /// Puts frames (UMEM offsets) on the fill ring for the kernel to receive into.
    fn give(&mut self, frames: impl Iterator<Item = u64>) {
        let producer = self.fill.index(self.fill.producer).load(Ordering::Relaxed);
        let mut next = producer;
        for frame in frames {
            // SAFETY: the ring has room for every frame of the UMEM, and frames are only ever
            // on one of the fill ring, the RX ring or being read by `recv`.
            unsafe { self.fill.slot::<u64>(next).write(frame) };
            next = next.wrapping_add(1);
        }
        self.fill
            .index(self.fill.producer)
            .store(next, Ordering::Release);
        let flags = self.fill.index(self.fill.flags).load(Ordering::Acquire);
        if flags & libc::XDP_RING_NEED_WAKEUP != 0 {
            // SAFETY: a zero-length non-blocking receive only wakes the kernel side up.
            unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
    }

    /// Hands every frame received so far to `f` (the [`PuntMeta`] in front of it, if it has
    /// room for one, and the whole Ethernet frame), then returns the frames to the kernel.
    /// Returns how many were received.
    pub fn recv(&mut self, mut f: impl FnMut(Option<PuntMeta>, &[u8])) -> usize {
        let consumer = self.rx.index(self.rx.consumer).load(Ordering::Relaxed);
        let producer = self.rx.index(self.rx.producer).load(Ordering::Acquire);
        let count = producer.wrapping_sub(consumer);
        let mut frames = Vec::with_capacity(count as usize);
        for i in 0..count {
            // SAFETY: the kernel published descriptors consumer..producer.
            let desc = unsafe {
                self.rx
                    .slot::<libc::xdp_desc>(consumer.wrapping_add(i))
                    .read()
            };
            let start = desc.addr as usize;
            if let Some(end) = start
                .checked_add(desc.len as usize)
                .filter(|&end| end <= self.umem.len)
            {
                // SAFETY: inside the UMEM (checked), written by the kernel before publishing.
                let data = unsafe {
                    std::slice::from_raw_parts(self.umem.ptr.as_ptr().add(start), end - start)
                };
                // The metadata sits in the frame's headroom, inside its own UMEM frame.
                let headroom = desc.addr % u64::from(self.frame_size);
                let meta = (headroom >= size_of::<PuntMeta>() as u64).then(|| {
                    // SAFETY: inside this descriptor's UMEM frame (checked), in front of the
                    // data; the kernel copied the metadata there with the frame.
                    unsafe {
                        self.umem
                            .ptr
                            .as_ptr()
                            .add(start - size_of::<PuntMeta>())
                            .cast::<PuntMeta>()
                            .read_unaligned()
                    }
                });
                f(meta, data);
            }
            frames.push(desc.addr - desc.addr % u64::from(self.frame_size));
        }
        self.rx
            .index(self.rx.consumer)
            .store(producer, Ordering::Release);
        self.give(frames.into_iter());
        count as usize
    }

    /// Frames the kernel dropped on their way to this socket for want of room: no frame on
    /// the fill ring (the UMEM all taken), or the RX ring full (`XDP_STATISTICS`).
    pub fn dropped(&self) -> io::Result<u64> {
        // SAFETY: xdp_statistics is plain old data.
        let mut stats: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::xdp_statistics>() as u32;
        // SAFETY: `stats` is valid for `len` bytes.
        check(unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&mut stats as *mut libc::xdp_statistics).cast(),
                &mut len,
            )
        })?;
        Ok(stats.rx_dropped + stats.rx_ring_full)
    }

    /// Waits up to `timeout_ms` for frames (poll(2)); true if some are ready.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        check(ready)?;
        Ok(ready > 0)
    }
}

impl AsFd for XskSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for XskSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
