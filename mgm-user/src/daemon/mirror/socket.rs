//! The mirror's I/O: a rtnetlink socket subscribed to the IPv4 and IPv6 multicast route and
//! netconf groups, and dumps of the kernel's multicast routes of one family on a socket of
//! their own.
use super::mfc::{decode_datagram, MfcEntry, MfcEvent, MfcFamily};
use std::{
    io,
    net::{Ipv4Addr, Ipv6Addr},
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    time::Duration,
};
use tokio::io::{unix::AsyncFd, Interest};

/// RTNLGRP_IPV4_MROUTE: additions, changes and deletions of MFC entries.
const RTNLGRP_IPV4_MROUTE: u32 = 6;
/// RTNLGRP_IPV4_NETCONF: per-interface settings, MC_FORWARDING among them (MRT_ADD/DEL_VIF).
const RTNLGRP_IPV4_NETCONF: u32 = 24;
/// RTNLGRP_IPV6_MROUTE: the same for the IPv6 MFC.
const RTNLGRP_IPV6_MROUTE: u32 = 10;
/// RTNLGRP_IPV6_NETCONF: MC_FORWARDING of IPv6 (MRT6_ADD/DEL_MIF).
const RTNLGRP_IPV6_NETCONF: u32 = 25;
const RTM_GETROUTE: u16 = 26;
/// The event socket's receive buffer: a burst of changes that overflows it costs a re-dump.
const RECEIVE_BUFFER: libc::c_int = 4 << 20;
/// Largest datagram read.
const DATAGRAM: usize = 64 << 10;
/// A dump that takes longer is abandoned (and tried again at the next re-sync).
const DUMP_TIMEOUT: Duration = Duration::from_secs(2);

/// What the event socket delivered.
pub enum Received {
    /// Changes of each family, in the kernel's order.
    Events(Vec<MfcEvent<Ipv4Addr>>, Vec<MfcEvent<Ipv6Addr>>),
    /// The socket overflowed (ENOBUFS): changes were lost, the table must be dumped again.
    Overflow,
}

/// The subscription to the kernel's multicast route changes.
pub struct MfcWatch {
    fd: AsyncFd<OwnedFd>,
    buffer: Vec<u8>,
}

impl MfcWatch {
    /// Subscribes (before the first dump, so that no change falls between the two).
    pub fn open() -> io::Result<Self> {
        let fd = netlink_socket(libc::SOCK_NONBLOCK)?;
        for group in [
            RTNLGRP_IPV4_MROUTE,
            RTNLGRP_IPV4_NETCONF,
            RTNLGRP_IPV6_MROUTE,
            RTNLGRP_IPV6_NETCONF,
        ] {
            set_option(&fd, libc::SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, group)?;
        }
        // Root may exceed rmem_max; otherwise the ordinary limit applies.
        if set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RECEIVE_BUFFER).is_err() {
            set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVBUF, RECEIVE_BUFFER)?;
        }
        // SAFETY: the socket stays open, and the same, for as long as the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Self {
            fd,
            buffer: vec![0; DATAGRAM],
        })
    }

    /// The next datagram's changes.
    pub async fn recv(&mut self) -> io::Result<Received> {
        loop {
            let mut guard = self.fd.readable().await?;
            let buffer = &mut self.buffer;
            match guard.try_io(|fd| receive(fd.get_ref(), buffer)) {
                Ok(Ok(length)) => {
                    let datagram = &self.buffer[..length];
                    let v4 = decode_datagram(datagram).map_err(io::Error::other)?;
                    let v6 = decode_datagram(datagram).map_err(io::Error::other)?;
                    return Ok(Received::Events(v4, v6));
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Ok(Received::Overflow)
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Dumps the kernel's multicast routes of family `A` (every table; blocking, at most
/// [`DUMP_TIMEOUT`]).
pub fn dump<A: MfcFamily>() -> io::Result<Vec<MfcEntry<A>>> {
    let fd = netlink_socket(0)?;
    let timeout = libc::timeval {
        tv_sec: DUMP_TIMEOUT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, timeout)?;
    let mut request = Vec::with_capacity(28);
    request.extend_from_slice(&28u32.to_ne_bytes());
    request.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    request.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    request.extend_from_slice(&1u32.to_ne_bytes());
    request.extend_from_slice(&0u32.to_ne_bytes());
    request.extend_from_slice(&[A::RTNL_FAMILY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // SAFETY: a valid buffer of that length.
    let sent = unsafe { libc::send(fd.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buffer = vec![0; DATAGRAM];
    let mut entries = Vec::new();
    loop {
        let length = receive(&fd, &mut buffer)?;
        for event in decode_datagram::<A>(&buffer[..length]).map_err(io::Error::other)? {
            match event {
                MfcEvent::Added(entry) => entries.push(entry),
                MfcEvent::DumpDone => return Ok(entries),
                MfcEvent::Refused(code) => return Err(io::Error::from_raw_os_error(-code)),
                MfcEvent::Removed(..) | MfcEvent::Resync => {}
            }
        }
    }
}

fn netlink_socket(flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | flags,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned by socket(2), owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // Bound (port chosen by the kernel): multicast reaches bound sockets only.
    // SAFETY: an all-zero sockaddr_nl is valid; the family is set below.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: a valid sockaddr_nl of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&address as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn set_option<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: T) -> io::Result<()> {
    // SAFETY: `value` lives for the call and its size is passed along.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reads one datagram; a truncated one is an error (the buffer is larger than rtnetlink's).
fn receive(fd: &OwnedFd, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: a valid buffer of that length.
    let length = unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            libc::MSG_TRUNC,
        )
    };
    if length < 0 {
        return Err(io::Error::last_os_error());
    }
    let length = length as usize;
    if length > buffer.len() {
        return Err(io::Error::other(format!(
            "a rtnetlink datagram of {length} bytes (read at most {})",
            buffer.len()
        )));
    }
    Ok(length)
}
