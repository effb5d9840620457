//! The daemon's side of the core: the XDP backend and [`DaemonIo`], which performs the core's
//! I/O with the data plane's attachments, AF_XDP punt sockets, the IGMP and MLD sockets and host
//! sockets; [`Router`] is the core as mgmd runs it.
use super::{
    ports::{HostJoin, Punted, RouterIo},
    RouterCore,
};
use crate::{
    config::OnStop,
    daemon::{
        hold::{FrameOut, Hold, HoldLimits},
        igmp_io::IgmpIo,
        mld_io::MldIo,
        punt_reader::PuntBuffer,
        veth::{kernel, VethReading},
    },
    dataplane::{monotonic_ns, DataPlane, PuntSockets, SharedSockets, XdpBackend, XskConfig},
    rawio::{Framing, PacketSocket},
};
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, Ipv6Addr},
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::{debug, info, warn};

/// The core as mgmd runs it.
pub type Router = RouterCore<XdpBackend, DaemonIo>;

/// The daemon's I/O.
pub struct DaemonIo {
    plane: DataPlane,
    punt: PuntSockets,
    /// What the creation thread took from the rings (`daemon::punt_reader`).
    punted: Arc<PuntBuffer>,
    igmp_io: Option<Arc<IgmpIo>>,
    mld_io: Option<Arc<MldIo>>,
    host_joins: BTreeMap<HostJoin, socket2::Socket>,
    /// Sends the packets released from the hold queues (AF_PACKET, whole frames).
    released: PacketSocket,
    /// The refusal counters at the last [`Router::log_refusals`].
    refusals_logged: BTreeMap<&'static str, u64>,
}

/// Counters of refusals by the data plane's report budget, the hold queues' bounds and the
/// punt buffer's and the punt sockets' UMEM, logged by [`Router::log_refusals`].
const REFUSALS: [&str; 7] = [
    "report_rate_limited",
    "report_repeat_rate_limited",
    "report_ring_full",
    "hold_overflow",
    "hold_aged_out",
    "punt_buffer_full",
    "punt_umem_dropped",
];

impl Router {
    /// Builds the router on a loaded data plane: adopts the entries pinned by a previous run
    /// and registers the built-in protocols.
    pub fn new(
        config: crate::config::Config,
        mut plane: DataPlane,
        igmp_io: Option<IgmpIo>,
        mld_io: Option<MldIo>,
    ) -> anyhow::Result<Self> {
        let mut backend = XdpBackend::new(&mut plane)?;
        backend.reserve_sets()?;
        if let Some(mirror) = &config.mirror {
            // The first heartbeat follows the first dump: until then, entries a previous run
            // left may not be the kernel's routes any more.
            backend.set_mirror_timing(
                Duration::from_secs(mirror.sample_interval_s.into()),
                Duration::from_secs(mirror.heartbeat_timeout_s.into()),
            )?;
        }
        let punt_config = XskConfig {
            frames: config.daemon.punt_umem_frames,
            ..XskConfig::default()
        };
        let punt = PuntSockets::new(&mut plane, punt_config)?;
        let io = DaemonIo {
            plane,
            punt,
            punted: Arc::default(),
            igmp_io: igmp_io.map(Arc::new),
            mld_io: mld_io.map(Arc::new),
            host_joins: BTreeMap::new(),
            // Protocol 0: a socket that only sends.
            released: PacketSocket::open(Framing::Frames, 0)?,
            refusals_logged: BTreeMap::new(),
        };
        let hold = Hold::new(HoldLimits::default());
        Self::with_parts(config, backend, io, hold, Instant::now())
    }

    /// Tells the data plane that mgmd runs (its clock is read here): while the heartbeat is
    /// fresh, mirrored entries forward in XDP.
    pub fn mirror_heartbeat(&mut self) {
        if let Err(e) = self.backend.mirror_heartbeat(monotonic_ns()) {
            warn!(error = %e, "writing the heartbeat failed");
        }
    }

    /// Logs one warning with the refusals of the report budget and the hold queues since the
    /// last call, if there were any (mgmd calls it with each statistics refresh).
    pub fn log_refusals(&mut self) {
        let mut now = self.counters();
        if let Ok(global) = self.io.global_stats() {
            now.extend(global.into_iter().map(|(k, v)| (k.to_owned(), v)));
        }
        let mut refused = Vec::new();
        for name in REFUSALS {
            let value = now.get(name).copied().unwrap_or(0);
            let last = self.io.refusals_logged.insert(name, value).unwrap_or(0);
            if value > last {
                refused.push(format!("{name} {}", value - last));
            }
        }
        if !refused.is_empty() {
            warn!(
                refused = %refused.join(", "),
                "bounds refused creation alerts or punted packets since the last statistics refresh"
            );
        }
    }

    /// The IGMP sockets (shared with the main loop, which waits on them without the router).
    pub fn igmp_io(&self) -> Option<Arc<IgmpIo>> {
        self.io.igmp_io.clone()
    }

    /// The MLD sockets (as [`Router::igmp_io`]).
    pub fn mld_io(&self) -> Option<Arc<MldIo>> {
        self.io.mld_io.clone()
    }

    /// The punt sockets and the buffer the creation thread fills.
    pub fn punt_reader(&self) -> (SharedSockets, Arc<PuntBuffer>) {
        (self.io.punt.shared(), self.io.punted.clone())
    }

    /// A clean stop: with [`OnStop::Detach`] the XDP program is detached everywhere and the
    /// pinned state removed; with [`OnStop::Keep`] forwarding goes on for the next mgmd.
    pub fn shutdown(&mut self) {
        let plane = &mut self.io.plane;
        if self.config.daemon.on_stop == OnStop::Keep && plane.pin_dir().is_some() {
            info!("on_stop = keep: forwarding goes on from the pinned maps");
            return;
        }
        for name in self.active.keys() {
            match plane.detach(name) {
                Ok(()) => info!(interface = %name, "XDP program detached"),
                Err(e) => warn!(interface = %name, error = %e, "detach failed"),
            }
        }
        if let Some(dir) = plane.pin_dir() {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => info!(dir = %dir.display(), "pinned state removed"),
                Err(e) => warn!(dir = %dir.display(), error = %e, "removing the pinned state"),
            }
        }
    }
}

impl FrameOut for DaemonIo {
    fn send_frame(&mut self, ifindex: u32, frame: &[u8]) -> std::io::Result<()> {
        self.released.send_frame(ifindex, frame)
    }
}

impl RouterIo for DaemonIo {
    fn held_sent(&mut self) {
        crate::daemon::realtime::step_down();
    }

    fn attach(&mut self, name: &str, generic: bool) -> anyhow::Result<()> {
        Ok(self.plane.attach(name, generic)?)
    }

    fn detach(&mut self, name: &str) -> anyhow::Result<()> {
        Ok(self.plane.detach(name)?)
    }

    fn open_punt(&mut self, name: &str, ifindex: u32) -> anyhow::Result<(u32, u32)> {
        let queues = rx_queues(name);
        let (first, served) = self.punt.bind(ifindex, queues)?;
        if served < queues {
            warn!(
                interface = name,
                queues,
                served,
                "receive queues beyond the punt sockets' bound: misses there go to the kernel"
            );
        }
        Ok((first, served))
    }

    fn close_punt(&mut self, ifindex: u32) {
        if self.punt.close(ifindex) {
            debug!(
                ifindex,
                slots_in_use = self.punt.slots_in_use(),
                "punt sockets closed"
            );
        }
    }

    fn recv_punted(&mut self, frames: &mut Vec<Punted>) {
        self.punted.take_with_rings(&self.punt.shared(), frames);
    }

    fn set_punts_handled(&mut self, slot: u32, mark: u32) {
        if let Err(e) = self.punt.set_handled(slot, mark) {
            warn!(slot, error = %e, "updating the punt socket's handover mark failed");
        }
    }

    fn ipv4_of(&self, ifindex: u32) -> Option<(Ipv4Addr, u8)> {
        crate::leaf::ipv4_net_of(&name_of(ifindex)?).ok()
    }

    fn send_igmp(&mut self, ifindex: u32, dst: Ipv4Addr, datagram: &[u8]) {
        if let Some(io) = &self.igmp_io {
            if let Err(e) = io.send(ifindex, dst, datagram) {
                debug!(ifindex, error = %e, "IGMP send failed");
            }
        }
    }

    fn link_local_of(&self, ifindex: u32) -> Option<Ipv6Addr> {
        crate::leaf::link_local_of(&name_of(ifindex)?).ok()
    }

    fn send_mld(&mut self, ifindex: u32, dst: Ipv6Addr, packet: &[u8]) {
        if let Some(io) = &self.mld_io {
            if let Err(e) = io.send(ifindex, dst, packet) {
                debug!(ifindex, error = %e, "MLD send failed");
            }
        }
    }

    fn host_join(&mut self, join: &HostJoin) -> anyhow::Result<()> {
        let (iface, group, source) = join;
        let iface = crate::leaf::Iface::lookup(iface)?;
        let family = crate::leaf::Family::of(*group).domain();
        let socket = socket2::Socket::new(family, socket2::Type::DGRAM, None)?;
        let channel = crate::leaf::Channel {
            group: *group,
            source: *source,
        };
        crate::leaf::join(&socket, channel, &iface)?;
        self.host_joins.insert(join.clone(), socket);
        Ok(())
    }

    fn host_leave(&mut self, join: &HostJoin) {
        self.host_joins.remove(join);
    }

    fn is_veth(&self, name: &str) -> bool {
        kernel::is_veth(name)
    }

    fn read_veth(&self, name: &str, ifindex: u32) -> VethReading {
        kernel::read(name, ifindex)
    }

    fn takes_xdp_redirects(&self, ifindex: u32) -> Option<bool> {
        kernel::takes_xdp_redirects(ifindex)
    }

    fn interface_exists(&self, ifindex: u32) -> bool {
        ifindex != 0 && name_of(ifindex).is_some()
    }

    fn attached(&self) -> Vec<String> {
        self.plane.attached().map(str::to_owned).collect()
    }

    fn global_stats(&self) -> anyhow::Result<BTreeMap<&'static str, u64>> {
        let mut stats = self.plane.global_stats()?;
        stats.insert("punt_buffer_full", self.punted.times_full());
        stats.insert("creation_deferred", self.punted.times_deferred());
        stats.insert("punt_queues_unserved_now", self.punt.unserved_queues());
        stats.insert("punt_umem_bytes_now", self.punt.umem_bytes());
        stats.insert("punt_umem_dropped", self.punt.dropped());
        Ok(stats)
    }
}

/// The name of the interface with index `ifindex`, if the kernel has one.
fn name_of(ifindex: u32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes as if_indextoname requires.
    if unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) }.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) };
    name.to_str().ok().map(str::to_owned)
}

/// Receive queues of an interface (one punt socket each).
fn rx_queues(name: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{name}/queues"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}
