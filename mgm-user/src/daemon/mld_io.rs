//! MLD on the wire for the router: receives every MLD message on every interface and sends the
//! queries the MLD state machine builds.
//!
//! Receiving uses a cooked packet socket (IPv6) with a classic BPF filter keeping packets whose
//! first header is Hop-by-Hop and whose next one is ICMPv6, as every MLD message is (it carries
//! a Router Alert, RFC 3810 §5): like IGMP's socket ([`super::igmp_io`]), it sees reports to
//! any group without the router joining them. The MLD core checks the rest (hop limit 1, the
//! Router Alert, a link-local source, the checksum) and counts what fails.
//!
//! Sending uses a cooked packet socket too: the state machine builds the whole IPv6 packet
//! (from the link-local address, hop limit 1, Hop-by-Hop Router Alert, checksum), which leaves
//! as built, framed to the destination's multicast MAC (33:33 and its last 32 bits).
use super::igmp_io::{
    bpf_jump_if_equal, bpf_statement, open_filtered, recv_filtered, Arrived, BPF_LD_B_ABS, BPF_RET,
};
use crate::rawio::{self, Framing, PacketSocket};
use crate::{mld::DropReason, wire::ethernet::multicast_mac};
use std::{io, net::Ipv6Addr};
use tokio::io::unix::AsyncFd;

/// What the receive socket delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// An IPv6 packet carrying ICMPv6 behind a Hop-by-Hop header, with the ifindex it arrived
    /// on.
    Packet(u32, Vec<u8>),
    /// A frame dropped before parsing, with the ifindex it arrived on.
    Dropped(u32, DropReason),
    /// Packets the kernel dropped since the last such report: the receive buffer was full.
    Overflowed(u32),
}

/// The router's MLD sockets.
pub struct MldIo {
    receive: AsyncFd<PacketSocket>,
    send: PacketSocket,
}

/// IPv6's Next Header value of a Hop-by-Hop Options header.
const HOP_BY_HOP: u32 = 0;
/// IPv6's Next Header value of ICMPv6.
const ICMPV6: u32 = 58;

impl MldIo {
    /// Opens both sockets (needs CAP_NET_RAW).
    pub fn open() -> io::Result<Self> {
        // Keep IPv6 packets whose Next Header (offset 6) is Hop-by-Hop and whose Hop-by-Hop
        // header's Next Header (offset 40) is ICMPv6.
        let filter = [
            bpf_statement(BPF_LD_B_ABS, 6),
            bpf_jump_if_equal(HOP_BY_HOP, 0, 3),
            bpf_statement(BPF_LD_B_ABS, 40),
            bpf_jump_if_equal(ICMPV6, 0, 1),
            bpf_statement(BPF_RET, 0xffff),
            bpf_statement(BPF_RET, 0),
        ];
        let receive = open_filtered(libc::ETH_P_IPV6 as u16, &filter)?;
        // The sending socket names IPv6 as its EtherType (cooked frames take it from the
        // socket) and receives nothing.
        let send = PacketSocket::open(Framing::Cooked, libc::ETH_P_IPV6 as u16)?;
        let mut none = [bpf_statement(BPF_RET, 0)];
        let program = libc::sock_fprog {
            len: 1,
            filter: none.as_mut_ptr(),
        };
        rawio::set_opt(&send, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;
        Ok(Self { receive, send })
    }

    /// Waits for the next MLD packet, or a frame to count as dropped. Frames the router sent
    /// itself are skipped.
    pub async fn recv(&self) -> io::Result<Received> {
        Ok(match recv_filtered(&self.receive).await? {
            Arrived::Packet(ifindex, packet) => Received::Packet(ifindex, packet),
            Arrived::OtherHost(ifindex) => Received::Dropped(ifindex, DropReason::OtherHost),
            Arrived::OtherVlan(ifindex) => Received::Dropped(ifindex, DropReason::OtherVlan),
            Arrived::Overflowed(dropped) => Received::Overflowed(dropped),
        })
    }

    /// Sends a complete IPv6 packet out of `ifindex` to the multicast address `destination`.
    pub fn send(&self, ifindex: u32, destination: Ipv6Addr, packet: &[u8]) -> io::Result<()> {
        self.send
            .send_to(ifindex, multicast_mac(destination.into()), packet)
    }
}
