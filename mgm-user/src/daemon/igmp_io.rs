//! IGMP on the wire for the router: receives every IGMP datagram on every interface and sends
//! the queries the IGMP state machine builds.
//!
//! Receiving uses a packet socket (`AF_PACKET`, cooked, IPv4) with a classic BPF filter that
//! keeps only IGMP: unlike a raw IGMP socket it sees IGMPv2 reports sent to any group without
//! the router joining each group, and it needs no kernel multicast-routing socket (`MRT_INIT`),
//! which would divert data packets into ipmr. Sending uses a raw socket with `IP_HDRINCL`: the
//! state machine builds the whole datagram (TTL 1, Router Alert) and the interface is chosen
//! per datagram with `IP_MULTICAST_IF`.
//!
//! A packet socket also sees frames the IP stack would drop: those addressed to another
//! station's unicast MAC (`PACKET_OTHERHOST`, e.g. on a promiscuous or bridged port). They are
//! not for this router and are reported as dropped ([`DropReason::OtherHost`]).
use crate::igmp::DropReason;
use crate::rawio::{self, Framing, PacketSocket};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::{
    io,
    net::{Ipv4Addr, SocketAddrV4},
};
use tokio::io::{unix::AsyncFd, Interest};

/// Largest IGMP datagram read (a v3 report can fill an Ethernet frame).
const MAX_DATAGRAM: usize = 2048;

/// What the receive socket delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// An IPv4 datagram carrying IGMP, with the ifindex it arrived on.
    Datagram(u32, Vec<u8>),
    /// A frame dropped before parsing, with the ifindex it arrived on.
    Dropped(u32, DropReason),
}

/// The router's IGMP sockets.
pub struct IgmpIo {
    receive: AsyncFd<PacketSocket>,
    send: Socket,
}

impl IgmpIo {
    /// Opens both sockets (needs CAP_NET_RAW).
    pub fn open() -> io::Result<Self> {
        let receive = PacketSocket::open(Framing::Cooked, libc::ETH_P_IP as u16)?;
        receive.socket().set_nonblocking(true)?;
        // Keep IPv4 datagrams whose protocol byte (offset 9) is IGMP (2).
        let mut filter = [
            libc::sock_filter {
                code: 0x30,
                jt: 0,
                jf: 0,
                k: 9,
            }, // ldb [9]
            libc::sock_filter {
                code: 0x15,
                jt: 0,
                jf: 1,
                k: 2,
            }, // jeq #2
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0xffff,
            }, // ret all
            libc::sock_filter {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0,
            }, // ret 0
        ];
        let program = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_mut_ptr(),
        };
        rawio::set_opt(&receive, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;
        let send = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )?;
        send.set_header_included_v4(true)?;
        send.set_multicast_loop_v4(false)?;
        // SAFETY: the socket stays open, and the same, for as long as the AsyncFd owns it.
        let receive = unsafe { AsyncFd::register_with_interest(receive, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Self { receive, send })
    }

    /// Waits for the next IGMP datagram, or a frame to count as dropped. Frames the router
    /// sent itself are skipped.
    pub async fn recv(&self) -> io::Result<Received> {
        loop {
            let mut guard = self.receive.readable().await?;
            match guard.try_io(|fd| recv_one(fd.get_ref())) {
                Ok(Ok(Some(datagram))) => return Ok(datagram),
                Ok(Ok(None)) => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends a complete IPv4 datagram out of `ifindex` to `destination`.
    pub fn send(&self, ifindex: u32, destination: Ipv4Addr, datagram: &[u8]) -> io::Result<()> {
        let request = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr { s_addr: 0 },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: ifindex as i32,
        };
        rawio::set_opt(
            &self.send,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &request,
        )?;
        let to = SockAddr::from(SocketAddrV4::new(destination, 0));
        self.send.send_to(datagram, &to).map(drop)
    }
}

/// Reads one frame; `None` for frames to skip (sent by this host).
fn recv_one(socket: &PacketSocket) -> io::Result<Option<Received>> {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    let (len, arrival) = socket.recv_from(&mut buffer)?;
    if arrival.outgoing {
        return Ok(None);
    }
    if arrival.other_host {
        return Ok(Some(Received::Dropped(
            arrival.ifindex,
            DropReason::OtherHost,
        )));
    }
    buffer.truncate(len);
    Ok(Some(Received::Datagram(arrival.ifindex, buffer)))
}
