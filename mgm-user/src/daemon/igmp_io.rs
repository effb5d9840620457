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
//! not for this router and are reported as dropped ([`DropReason::OtherHost`]). So are frames
//! tagged for a VLAN the router has no interface of (no VLAN device for the tag on the port):
//! the kernel hands them to the socket on the port, tag stripped and marked as another host's
//! too; sent to a group (multicast) MAC, they count as [`DropReason::OtherVlan`]. The socket
//! reads whole frames for that destination MAC.
use crate::igmp::DropReason;
use crate::rawio::{self, Framing, PacketSocket};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::{
    io,
    net::{Ipv4Addr, SocketAddrV4},
    os::fd::AsRawFd,
};
use tokio::io::{unix::AsyncFd, Interest};

/// Largest frame read (a v3 or MLDv2 report can fill an Ethernet frame).
const MAX_DATAGRAM: usize = 2048;
/// Length of an Ethernet header (destination and source MAC, EtherType).
const ETHERNET_HEADER: usize = 14;

/// The receive sockets' buffer: room for a burst of about 1800 reports of a full frame (each
/// takes about 2.3 KiB of it) while mgmd's main loop is busy. The kernel's default (about 200
/// KiB) lost 372 of a burst of 900 (100 hosts reporting 1500 groups). What still does not fit
/// is counted ([`Arrived::Overflowed`]).
const RECEIVE_BUFFER: libc::c_int = 4 << 20;

/// What the receive socket delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// An IPv4 datagram carrying IGMP, with the ifindex it arrived on.
    Datagram(u32, Vec<u8>),
    /// A frame dropped before parsing, with the ifindex it arrived on.
    Dropped(u32, DropReason),
    /// Datagrams the kernel dropped since the last such report: the receive buffer was full.
    Overflowed(u32),
}

/// The router's IGMP sockets.
pub struct IgmpIo {
    receive: AsyncFd<PacketSocket>,
    send: Socket,
}

impl IgmpIo {
    /// Opens both sockets (needs CAP_NET_RAW).
    pub fn open() -> io::Result<Self> {
        // Keep IPv4 datagrams whose protocol byte (offset 9) is IGMP (2).
        let filter = [
            bpf_statement(BPF_LD_B_ABS, 9),
            bpf_jump_if_equal(2, 0, 1),
            bpf_statement(BPF_RET, 0xffff),
            bpf_statement(BPF_RET, 0),
        ];
        let receive = open_filtered(libc::ETH_P_IP as u16, &filter)?;
        let send = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )?;
        send.set_header_included_v4(true)?;
        send.set_multicast_loop_v4(false)?;
        Ok(Self { receive, send })
    }

    /// Waits for the next IGMP datagram, or a frame to count as dropped. Frames the router
    /// sent itself are skipped.
    pub async fn recv(&self) -> io::Result<Received> {
        Ok(match recv_filtered(&self.receive).await? {
            Arrived::Packet(ifindex, datagram) => Received::Datagram(ifindex, datagram),
            Arrived::OtherHost(ifindex) => Received::Dropped(ifindex, DropReason::OtherHost),
            Arrived::OtherVlan(ifindex) => Received::Dropped(ifindex, DropReason::OtherVlan),
            Arrived::Overflowed(dropped) => Received::Overflowed(dropped),
        })
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

/// A frame a filtered receive socket delivered.
pub(super) enum Arrived {
    /// A packet (network layer on), with the ifindex it arrived on.
    Packet(u32, Vec<u8>),
    /// A frame addressed to another station's unicast MAC, with the ifindex it arrived on.
    OtherHost(u32),
    /// A frame tagged for a VLAN the host has no device for, with the ifindex of the port.
    OtherVlan(u32),
    /// Frames the kernel dropped since the last such report (the receive buffer was full).
    Overflowed(u32),
}

/// `BPF_LD | BPF_B | BPF_ABS`: loads the byte at an offset of the packet.
pub(super) const BPF_LD_B_ABS: u16 = 0x30;
/// Classic BPF's base of loads relative to the network header (`SKF_NET_OFF`, -0x100000).
const SKF_NET_OFF: u32 = 0xfff0_0000;
/// `BPF_RET | BPF_K`: accepts that many bytes (0: drops).
pub(super) const BPF_RET: u16 = 0x06;

/// A classic BPF statement.
pub(super) fn bpf_statement(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// `BPF_JMP | BPF_JEQ | BPF_K`: skips `jt` statements if the accumulator is `k`, else `jf`.
pub(super) fn bpf_jump_if_equal(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: 0x15,
        jt,
        jf,
        k,
    }
}

/// A non-blocking packet socket of EtherType `ethertype` on every interface, reading whole
/// frames, keeping what the classic BPF `filter` (its loads at network-layer offsets) accepts.
pub(super) fn open_filtered(
    ethertype: u16,
    filter: &[libc::sock_filter],
) -> io::Result<AsyncFd<PacketSocket>> {
    let receive = PacketSocket::open(Framing::Frames, ethertype)?;
    // The filter's loads are relative to the network header, wherever the frame puts it.
    let filter: Vec<_> = filter
        .iter()
        .map(|s| match s.code {
            BPF_LD_B_ABS => bpf_statement(BPF_LD_B_ABS, SKF_NET_OFF.wrapping_add(s.k)),
            _ => *s,
        })
        .collect();
    receive.socket().set_nonblocking(true)?;
    let mut filter = filter;
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    rawio::set_opt(&receive, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;
    // Root may exceed rmem_max; otherwise the ordinary limit applies.
    let forced = rawio::set_opt(
        &receive,
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &RECEIVE_BUFFER,
    );
    if forced.is_err() {
        rawio::set_opt(&receive, libc::SOL_SOCKET, libc::SO_RCVBUF, &RECEIVE_BUFFER)?;
    }
    // SAFETY: the socket stays open, and the same, for as long as the AsyncFd owns it.
    unsafe { AsyncFd::register_with_interest(receive, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// Waits for the next frame of a socket from [`open_filtered`]; frames this host sent are
/// skipped. Each time the socket has been read empty, the frames the kernel dropped for want
/// of buffer meanwhile are reported first.
pub(super) async fn recv_filtered(receive: &AsyncFd<PacketSocket>) -> io::Result<Arrived> {
    loop {
        let mut guard = receive.readable().await?;
        match guard.try_io(|fd| recv_one(fd.get_ref())) {
            Ok(Ok(Some(arrived))) => return Ok(arrived),
            Ok(Ok(None)) => continue,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => match dropped_since_last(receive.get_ref())? {
                0 => continue,
                dropped => return Ok(Arrived::Overflowed(dropped)),
            },
        }
    }
}

/// The frames the kernel dropped on `socket` (its receive buffer full) since the previous call
/// (`PACKET_STATISTICS` counts from the previous read).
fn dropped_since_last(socket: &PacketSocket) -> io::Result<u32> {
    let mut stats = libc::tpacket_stats {
        tp_packets: 0,
        tp_drops: 0,
    };
    let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: `stats` is a live tpacket_stats whose size is passed along.
    let rc = unsafe {
        libc::getsockopt(
            socket.socket().as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&mut stats as *mut libc::tpacket_stats).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stats.tp_drops)
}

/// Reads one frame; `None` for frames to skip (sent by this host).
fn recv_one(socket: &PacketSocket) -> io::Result<Option<Arrived>> {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    let (len, arrival) = socket.recv_from(&mut buffer)?;
    if arrival.outgoing {
        return Ok(None);
    }
    let ethernet = matches!(
        arrival.link_type,
        libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK
    );
    let header = if ethernet { ETHERNET_HEADER } else { 0 };
    if len < header {
        return Ok(None);
    }
    if arrival.other_host {
        // Not to another station's MAC, but to a group's: the kernel has no device for the
        // frame's VLAN.
        let to_group = ethernet && buffer[0] & 1 == 1;
        return Ok(Some(if to_group {
            Arrived::OtherVlan(arrival.ifindex)
        } else {
            Arrived::OtherHost(arrival.ifindex)
        }));
    }
    buffer.truncate(len);
    buffer.drain(..header);
    Ok(Some(Arrived::Packet(arrival.ifindex, buffer)))
}
