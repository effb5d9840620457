//! The lab of the XDP lab tests that send real traffic (`xdp_lab`, `xdp_bare_member`): a
//! source, the router running the XDP backend, five receivers, and captures on each host.
use super::lab::{
    capture_on, receiver_captures, receiver_ports, start_router, udp_sender, Port, Router,
};
use mgm_common::SgKey;
use mgm_user::{
    dataplane::{ForwardingBackend, IfaceSettings},
    lab::{Host, Lab},
    rawio::PacketSocket,
};
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, UdpSocket},
    path::PathBuf,
    time::{Duration, Instant},
};

pub const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
pub const PORT: u16 = 5000;
pub const SEND_TTL: u32 = 8;
pub const RECEIVERS: u8 = 5;

/// One captured copy of a test packet.
#[derive(Debug, Clone, Copy)]
pub struct Copy {
    pub seq: u64,
    pub ttl: u8,
    pub source_mac: [u8; 6],
}

/// The receive buffer of the captures: large, so that nothing is lost while the test sends.
pub const CAPTURE_BUFFER: libc::c_int = 64 << 20;

/// Parses a captured frame: a UDP packet of the test group and port, carrying a sequence number.
pub fn parse(frame: &[u8]) -> Option<Copy> {
    if frame.len() < 14 + 20 + 8 + 8 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    if ip[9] != 17 || ip[16..20] != GROUP.octets() || ip.len() < header_len + 16 {
        return None;
    }
    let udp = &ip[header_len..];
    if udp[2..4] != PORT.to_be_bytes() {
        return None;
    }
    let mut source_mac = [0u8; 6];
    source_mac.copy_from_slice(&frame[6..12]);
    Some(Copy {
        seq: u64::from_be_bytes(udp[8..16].try_into().ok()?),
        ttl: ip[8],
        source_mac,
    })
}

/// Reads every frame received on `capture` (not those sent from it) until none came for
/// `idle`.
pub fn drain(capture: &PacketSocket, idle: Duration) -> Vec<Copy> {
    let mut copies = Vec::new();
    receive_each(capture, idle, |frame| copies.extend(parse(frame)));
    copies
}

/// Hands every frame received on `capture` (not those sent from it) to `each` until none came
/// for `idle`.
pub fn receive_each(capture: &PacketSocket, idle: Duration, mut each: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 2048];
    let mut last = Instant::now();
    while last.elapsed() < idle {
        let Ok((len, arrival)) = capture.recv_from(&mut buf) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        last = Instant::now();
        if !arrival.outgoing {
            each(&buf[..len]);
        }
    }
}

/// How many copies of each sequence number arrived.
pub fn histogram(copies: &[Copy]) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for copy in copies {
        *seen.entry(copy.seq).or_insert(0) += 1;
    }
    seen
}

pub fn send(socket: &UdpSocket, seqs: std::ops::Range<u64>, pace: Option<Duration>) {
    for seq in seqs {
        let mut payload = seq.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0u8; 24]);
        socket.send_to(&payload, (GROUP, PORT)).expect("send");
        if let Some(pause) = pace {
            if seq % 50 == 49 {
                std::thread::sleep(pause);
            }
        }
    }
}

/// The lab with the XDP backend forwarding on its router.
pub struct Rig {
    pub lab: Lab,
    pub router: Option<Router>,
    /// The bpffs directory of the router's pinned state, if pinned.
    pub pins: Option<PathBuf>,
    pub iif: u32,
    pub ports: BTreeMap<u8, Port>,
    pub captures: BTreeMap<u8, PacketSocket>,
    pub source_capture: PacketSocket,
    pub sender: UdpSocket,
}

impl Rig {
    /// The lab with the router running, unpinned.
    pub fn new() -> Self {
        Self::with_pins(None)
    }

    /// The lab with the router running, its state pinned under `pins` if given.
    pub fn with_pins(pins: Option<PathBuf>) -> Self {
        let lab = Lab::star(RECEIVERS).expect("lab");
        let iif = lab.ifindex(Host::Router, "up0").expect("ifindex");
        let ports = receiver_ports(&lab, RECEIVERS);
        let captures = receiver_captures(&lab, RECEIVERS, CAPTURE_BUFFER);
        let source_capture = capture_on(&lab, Host::Source, CAPTURE_BUFFER);
        let sender = udp_sender(&lab, SOURCE, SEND_TTL);
        let mut rig = Self {
            lab,
            router: None,
            pins,
            iif,
            ports,
            captures,
            source_capture,
            sender,
        };
        rig.start();
        rig
    }

    /// Starts the router's data plane: loads (or reopens the pinned state), configures the
    /// receivers' interfaces, attaches to `up0`.
    pub fn start(&mut self) {
        let router = start_router(&self.lab, self.pins.as_deref(), &self.ports, |_| 1500);
        self.router = Some(router);
    }

    /// Ends the router's process state (as if mgmd exited): pinned state stays in the kernel.
    pub fn stop(&mut self) {
        self.router = None;
    }

    pub fn router(&mut self) -> &mut Router {
        self.router.as_mut().expect("the router runs")
    }

    pub fn oifs(&self, receivers: &[u8]) -> Vec<u32> {
        receivers.iter().map(|n| self.ports[n].ifindex).collect()
    }

    /// Installs or changes the entry, from the router's namespace.
    pub fn set_list(&mut self, receivers: &[u8]) {
        let oifs = self.oifs(receivers);
        let iif = self.iif;
        let backend = &mut self.router.as_mut().expect("the router runs").backend;
        self.lab
            .in_ns(Host::Router, || backend.install_mfe(sg(), iif, &oifs))
            .expect("enter router")
            .expect("install");
    }

    pub fn collect(&mut self) {
        let backend = &mut self.router.as_mut().expect("the router runs").backend;
        self.lab
            .in_ns(Host::Router, || backend.collect())
            .expect("enter router")
            .expect("grace period");
    }

    /// Configures receiver `n`'s interface with TTL threshold `ttl_threshold` and MTU `mtu`.
    pub fn configure(&mut self, n: u8, ttl_threshold: u8, mtu: u32) {
        let port = self.ports[&n];
        let backend = &mut self.router.as_mut().expect("the router runs").backend;
        let settings = IfaceSettings {
            mac: port.mac,
            ttl_threshold,
            mtu,
            mirrored: false,
        };
        self.lab
            .in_ns(Host::Router, || {
                backend.configure_interface(port.ifindex, settings)
            })
            .expect("enter router")
            .expect("configure");
    }

    /// The receiver behind the router's interface `ifindex`.
    pub fn receiver_of(&self, ifindex: u32) -> u8 {
        let found = self.ports.iter().find(|(_, port)| port.ifindex == ifindex);
        *found.expect("a receiver's interface").0
    }

    /// The bare member of `sg`'s set and its members without an egress program, as written
    /// in the kernel.
    pub fn bare(&mut self, sg: SgKey) -> (u32, Vec<u32>) {
        let backend = &self.router().backend;
        backend.bare_member(sg).expect("read back").expect("a set")
    }

    /// Everything each receiver (and the source) captured since the last call.
    pub fn captured(&self) -> (BTreeMap<u8, Vec<Copy>>, Vec<Copy>) {
        let idle = Duration::from_millis(300);
        let per_receiver = self
            .captures
            .iter()
            .map(|(n, fd)| (*n, drain(fd, idle)))
            .collect();
        (per_receiver, drain(&self.source_capture, idle))
    }
}

pub fn sg() -> SgKey {
    SgKey::new(SOURCE, GROUP)
}
