//! The lab side of the XDP lab tests (`xdp_lab`, `xdp_lab6`, `xdp_jumbo`): the router's ports
//! towards the receivers, packet captures on the hosts, and the data plane started in the
//! router's namespace.
use mgm_user::{
    dataplane::{DataPlane, DataPlaneError, ForwardingBackend as _, IfaceSettings, XdpBackend},
    lab::{Host, Lab},
    rawio::{self, Framing, PacketSocket},
};
use std::{
    collections::BTreeMap,
    io,
    net::{Ipv4Addr, UdpSocket},
    path::Path,
};

/// The router's interface towards one receiver.
#[derive(Clone, Copy, Debug)]
pub struct Port {
    pub ifindex: u32,
    pub mac: [u8; 6],
}

/// The data plane of the router, with its backend.
pub struct Router {
    pub plane: DataPlane,
    pub backend: XdpBackend,
}

/// The router's ports towards receivers 1 to `receivers`, by receiver.
pub fn receiver_ports(lab: &Lab, receivers: u8) -> BTreeMap<u8, Port> {
    (1..=receivers)
        .map(|n| {
            let iface = Lab::router_iface(Host::Receiver(n));
            let port = Port {
                ifindex: lab.ifindex(Host::Router, &iface).expect("ifindex"),
                mac: lab.mac(Host::Router, &iface).expect("mac"),
            };
            (n, port)
        })
        .collect()
}

/// An AF_PACKET socket capturing every frame arriving on `iface` of the calling thread's
/// namespace, with a receive buffer of `buffer` bytes so that nothing is lost while the test
/// sends.
pub fn open_capture(iface: &str, buffer: libc::c_int) -> io::Result<PacketSocket> {
    let capture = PacketSocket::open(Framing::Frames, libc::ETH_P_ALL as u16)?;
    capture.socket().set_nonblocking(true)?;
    rawio::set_opt(
        capture.socket(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &buffer,
    )?;
    capture.bind(rawio::ifindex(iface)?)?;
    Ok(capture)
}

/// A capture ([`open_capture`]) on eth0 of `host`.
pub fn capture_on(lab: &Lab, host: Host, buffer: libc::c_int) -> PacketSocket {
    lab.in_ns(host, || open_capture("eth0", buffer))
        .expect("enter the host")
        .expect("capture socket")
}

/// A capture on eth0 of each receiver 1 to `receivers`, by receiver.
pub fn receiver_captures(
    lab: &Lab,
    receivers: u8,
    buffer: libc::c_int,
) -> BTreeMap<u8, PacketSocket> {
    (1..=receivers)
        .map(|n| (n, capture_on(lab, Host::Receiver(n), buffer)))
        .collect()
}

/// Starts the data plane in the router's namespace: loaded (or reopened from the state
/// pinned under `pins`), each port configured with the MTU `mtu` gives its receiver, attached
/// to up0.
pub fn start_router(
    lab: &Lab,
    pins: Option<&Path>,
    ports: &BTreeMap<u8, Port>,
    mtu: impl Fn(u8) -> u32 + Sync,
) -> Router {
    lab.in_ns(Host::Router, || {
        let mut plane = match pins {
            Some(dir) => DataPlane::load_pinned(dir)?,
            None => DataPlane::load()?,
        };
        let mut backend = XdpBackend::new(&mut plane)?;
        for (&n, port) in ports {
            let settings = IfaceSettings {
                mac: port.mac,
                ttl_threshold: 0,
                mtu: mtu(n),
                mirrored: false,
            };
            backend.configure_interface(port.ifindex, settings)?;
        }
        plane.attach("up0", false)?;
        Ok::<_, DataPlaneError>(Router { plane, backend })
    })
    .expect("enter router")
    .expect("data plane on the router")
}

/// A UDP socket of the source host bound to `source`, sending multicast with TTL `ttl`.
pub fn udp_sender(lab: &Lab, source: Ipv4Addr, ttl: u32) -> UdpSocket {
    lab.in_ns(Host::Source, || {
        let socket = UdpSocket::bind((source, 0))?;
        socket.set_multicast_ttl_v4(ttl)?;
        Ok::<_, io::Error>(socket)
    })
    .expect("enter source")
    .expect("sender")
}
