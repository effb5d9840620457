//! The router's raw IGMP socket: the I/O that feeds [`super::Router`] and carries out its
//! [`super::Transmit`]s. The state machine itself never touches it.
//!
//! Linux hands a raw IGMP socket only the IGMP it delivers locally. Reports for v3 (to
//! 224.0.0.22) and v2 leaves (to 224.0.0.2) are local once the router has joined those groups
//! on the interface, which [`IgmpSocket::add_interface`] does. v1/v2 reports go to the
//! reported group itself; the kernel passes them to the socket registered as multicast router
//! (MRT_INIT) when the interface is one of its virtual interfaces, which `mroute` arranges.
use crate::rawio;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::SocketAddrV4;
use std::time::Duration;

use super::Transmit;
use crate::wire::igmp::{ALL_ROUTERS, ALL_V3_ROUTERS};

/// `MRT_INIT` of linux/mroute.h: become the multicast routing daemon.
const MRT_INIT: libc::c_int = 200;
/// `MRT_ADD_VIF`: add a virtual interface.
const MRT_ADD_VIF: libc::c_int = 202;
/// `VIFF_USE_IFINDEX`: the VIF names its device by ifindex.
const VIFF_USE_IFINDEX: u8 = 0x8;

/// `struct vifctl` of linux/mroute.h, with the ifindex arm of its union.
#[repr(C)]
#[derive(Clone, Copy)]
struct VifCtl {
    vifi: u16,
    flags: u8,
    threshold: u8,
    rate_limit: u32,
    lcl_ifindex: libc::c_int,
    rmt_addr: u32,
}

/// A raw IGMP socket with IP_HDRINCL, IP_PKTINFO and multicast loopback off.
#[derive(Debug)]
pub struct IgmpSocket {
    socket: Socket,
    mroute: bool,
    vifs: u16,
}

impl IgmpSocket {
    /// Opens the socket; with `mroute` it also registers as the namespace's multicast router
    /// (MRT_INIT), so that v1/v2 reports for any group reach it. Needs CAP_NET_RAW (and
    /// CAP_NET_ADMIN for `mroute`).
    pub fn open(mroute: bool) -> io::Result<IgmpSocket> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_IGMP)),
        )?;
        socket.set_header_included_v4(true)?;
        socket.set_multicast_loop_v4(false)?;
        rawio::set_opt(
            &socket,
            libc::IPPROTO_IP,
            libc::IP_PKTINFO,
            &1 as &libc::c_int,
        )?;
        if mroute {
            rawio::set_opt(&socket, libc::IPPROTO_IP, MRT_INIT, &1 as &libc::c_int)?;
        }
        Ok(IgmpSocket {
            socket,
            mroute,
            vifs: 0,
        })
    }

    /// Listens on an interface: joins 224.0.0.22 and 224.0.0.2 there and, with `mroute`, adds
    /// it as a virtual interface.
    pub fn add_interface(&mut self, ifindex: u32) -> io::Result<()> {
        let iface = InterfaceIndexOrAddress::Index(ifindex);
        self.socket.join_multicast_v4_n(&ALL_V3_ROUTERS, &iface)?;
        self.socket.join_multicast_v4_n(&ALL_ROUTERS, &iface)?;
        if self.mroute {
            let vif = VifCtl {
                vifi: self.vifs,
                flags: VIFF_USE_IFINDEX,
                threshold: 1,
                rate_limit: 0,
                lcl_ifindex: libc::c_int::try_from(ifindex)
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
                rmt_addr: 0,
            };
            rawio::set_opt(&self.socket, libc::IPPROTO_IP, MRT_ADD_VIF, &vif)?;
            self.vifs += 1;
        }
        Ok(())
    }

    /// Waits up to `timeout` for an IGMP datagram: its interface of arrival and its bytes
    /// (IPv4 header included; interface 0 if the kernel did not say). `None` on timeout.
    pub fn recv(&self, timeout: Duration) -> io::Result<Option<(u32, Vec<u8>)>> {
        Ok(rawio::recv(&self.socket, timeout)?.map(|r| (r.ifindex.unwrap_or(0), r.data)))
    }

    /// Sends a datagram the router built, out of its interface.
    pub fn send(&self, transmit: &Transmit) -> io::Result<()> {
        let index = libc::c_int::try_from(transmit.ifindex)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mreqn = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr { s_addr: 0 },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: index,
        };
        rawio::set_opt(
            &self.socket,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreqn,
        )?;
        let to = SockAddr::from(SocketAddrV4::new(transmit.dst, 0));
        self.socket.send_to(&transmit.datagram, &to)?;
        Ok(())
    }
}
