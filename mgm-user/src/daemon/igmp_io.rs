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
use std::{
    io,
    mem::{size_of, zeroed},
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
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
    receive: AsyncFd<OwnedFd>,
    send: OwnedFd,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn socket(domain: i32, kind: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = check(unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl IgmpIo {
    /// Opens both sockets (needs CAP_NET_RAW).
    pub fn open() -> io::Result<Self> {
        let eth_p_ip = (libc::ETH_P_IP as u16).to_be();
        let receive = socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK,
            i32::from(eth_p_ip),
        )?;
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
        setsockopt(&receive, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &program)?;
        let send = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW)?;
        setsockopt(&send, libc::IPPROTO_IP, libc::IP_HDRINCL, &1i32)?;
        let loop_off: u8 = 0;
        setsockopt(&send, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &loop_off)?;
        // SAFETY: the OwnedFd stays open, and the same, for as long as the AsyncFd owns it.
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
        setsockopt(
            &self.send,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &request,
        )?;
        // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
        let mut to: libc::sockaddr_in = unsafe { zeroed() };
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_addr.s_addr = u32::from(destination).to_be();
        // SAFETY: buffer and address are valid for the lengths passed.
        check(unsafe {
            libc::sendto(
                self.send.as_raw_fd(),
                datagram.as_ptr().cast(),
                datagram.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            ) as i32
        })
        .map(drop)
    }
}

/// Reads one frame; `None` for frames to skip (sent by this host).
fn recv_one(fd: &OwnedFd) -> io::Result<Option<Received>> {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut from: libc::sockaddr_ll = unsafe { zeroed() };
    let mut from_len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buffer and address are valid for the lengths passed.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            0,
            (&mut from as *mut libc::sockaddr_ll).cast(),
            &mut from_len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let ifindex = from.sll_ifindex as u32;
    match from.sll_pkttype {
        libc::PACKET_OUTGOING => Ok(None),
        libc::PACKET_OTHERHOST => Ok(Some(Received::Dropped(ifindex, DropReason::OtherHost))),
        _ => {
            buffer.truncate(n as usize);
            Ok(Some(Received::Datagram(ifindex, buffer)))
        }
    }
}
