//! Host-side ("leaf") multicast for both families: joining and leaving groups on an interface
//! and sending with a chosen TTL or hop limit, interface and loopback.
//!
//! | what              | IPv4                                  | IPv6                                 |
//! |-------------------|---------------------------------------|--------------------------------------|
//! | any-source join   | IP_ADD_MEMBERSHIP (by index)          | IPV6_JOIN_GROUP (by index)           |
//! | source-specific   | MCAST_JOIN_SOURCE_GROUP (by index)    | MCAST_JOIN_SOURCE_GROUP (by index)   |
//! | TTL / hop limit   | IP_MULTICAST_TTL                      | IPV6_MULTICAST_HOPS                  |
//! | interface         | IP_MULTICAST_IF (`ip_mreqn`, by index)| IPV6_MULTICAST_IF (by index)         |
//! | loopback          | IP_MULTICAST_LOOP                     | IPV6_MULTICAST_LOOP                  |
//!
//! Leaving uses the matching drop options (IP_DROP_MEMBERSHIP, IPV6_LEAVE_GROUP,
//! MCAST_LEAVE_SOURCE_GROUP). The kernel reports the memberships with IGMP or MLD.
//!
//! On Linux, as on other UNIX systems, IP_MULTICAST_LOOP (and IPV6_MULTICAST_LOOP) acts on the
//! **sending** socket: it decides whether that socket's own datagrams are looped back to
//! listeners on the same host. Set on a receiving socket it has no effect on what that socket
//! receives. Winsock is the opposite: there the option is set on the receiving socket
//! (docs/mgm-spec.md §8.2).
mod iface;
mod payload;
mod recv;

pub use iface::{ipv4_net_of, link_local_of, Iface};
pub use payload::Payload;
pub use recv::Datagram;

use crate::rawio;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The socket domain of the family.
    pub fn domain(self) -> Domain {
        match self {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        }
    }
}

/// What to receive: a group, optionally from one source only (SSM). `A` is [`Ipv4Addr`],
/// [`std::net::Ipv6Addr`] or [`IpAddr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel<A = Ipv4Addr> {
    /// Multicast group.
    pub group: A,
    /// Source for a source-specific join; `None` for any source.
    pub source: Option<A>,
}

/// Why a channel cannot be joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The group is not a multicast address.
    #[error("{0} is not a multicast group")]
    NotMulticast(IpAddr),
    /// The source is not a unicast address.
    #[error("source {0} is not a unicast address")]
    SourceNotUnicast(IpAddr),
    /// Group (first) and source (second) are of different families.
    #[error("source {1} and group {0} are of different address families")]
    FamilyMismatch(IpAddr, IpAddr),
}

/// Checks that `group` is a multicast address (of any scope: which scope a host uses is its
/// own business).
pub fn check_group(group: IpAddr) -> Result<(), ChannelError> {
    if group.is_multicast() {
        Ok(())
    } else {
        Err(ChannelError::NotMulticast(group))
    }
}

impl<A: Copy + Into<IpAddr>> Channel<A> {
    /// The channel over [`IpAddr`] once checked: a multicast group and, if given, a unicast
    /// source of the same family.
    pub fn checked(self) -> Result<Channel<IpAddr>, ChannelError> {
        let group = self.group.into();
        check_group(group)?;
        let source = self.source.map(Into::into);
        if let Some(source) = source {
            if Family::of(source) != Family::of(group) {
                return Err(ChannelError::FamilyMismatch(group, source));
            }
            if source.is_multicast() || source.is_unspecified() {
                return Err(ChannelError::SourceNotUnicast(source));
            }
        }
        Ok(Channel { group, source })
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

/// Joins `channel` on `iface`: IP_ADD_MEMBERSHIP or IPV6_JOIN_GROUP for any source,
/// MCAST_JOIN_SOURCE_GROUP for one source; the kernel then reports it with IGMP or MLD. The
/// socket must be of the channel's family.
pub fn join<A: Copy + Into<IpAddr>>(
    socket: &Socket,
    channel: Channel<A>,
    iface: &Iface,
) -> io::Result<()> {
    let channel = channel.checked().map_err(invalid)?;
    match (channel.group, channel.source) {
        (IpAddr::V4(group), None) => {
            socket.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(iface.index))
        }
        (IpAddr::V6(group), None) => socket.join_multicast_v6(&group, iface.index),
        (group, Some(source)) => {
            source_group(socket, libc::MCAST_JOIN_SOURCE_GROUP, group, source, iface)
        }
    }
}

/// Leaves `channel` on `iface` (IP_DROP_MEMBERSHIP, IPV6_LEAVE_GROUP or
/// MCAST_LEAVE_SOURCE_GROUP).
pub fn leave<A: Copy + Into<IpAddr>>(
    socket: &Socket,
    channel: Channel<A>,
    iface: &Iface,
) -> io::Result<()> {
    let channel = channel.checked().map_err(invalid)?;
    match (channel.group, channel.source) {
        (IpAddr::V4(group), None) => {
            socket.leave_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(iface.index))
        }
        (IpAddr::V6(group), None) => socket.leave_multicast_v6(&group, iface.index),
        (group, Some(source)) => {
            source_group(socket, libc::MCAST_LEAVE_SOURCE_GROUP, group, source, iface)
        }
    }
}

/// MCAST_JOIN_SOURCE_GROUP, MCAST_LEAVE_SOURCE_GROUP or MCAST_BLOCK_SOURCE (RFC 3678) at the
/// family's level.
fn source_group(
    socket: &Socket,
    option: libc::c_int,
    group: IpAddr,
    source: IpAddr,
    iface: &Iface,
) -> io::Result<()> {
    let level = match Family::of(group) {
        Family::V4 => libc::IPPROTO_IP,
        Family::V6 => libc::IPPROTO_IPV6,
    };
    let req = libc::group_source_req {
        gsr_interface: iface.index,
        gsr_group: storage(SocketAddr::new(group, 0)),
        gsr_source: storage(SocketAddr::new(source, 0)),
    };
    rawio::set_opt(socket, level, option, &req)
}

/// `addr` as a `sockaddr_storage`.
fn storage(addr: SocketAddr) -> libc::sockaddr_storage {
    let addr = SockAddr::from(addr);
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut out: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: `addr` holds `len()` valid bytes, at most the size of a sockaddr_storage.
    unsafe {
        std::ptr::copy_nonoverlapping(
            addr.as_ptr().cast::<u8>(),
            (&mut out as *mut libc::sockaddr_storage).cast::<u8>(),
            addr.len() as usize,
        );
    }
    out
}

/// The socket address of `group:port` out of or on `iface` (the scope matters for IPv6
/// link- and interface-local groups and is ignored for the others).
fn group_addr(group: IpAddr, port: u16, iface: &Iface) -> SocketAddr {
    match group {
        IpAddr::V4(_) => SocketAddr::new(group, port),
        IpAddr::V6(group) => SocketAddr::V6(SocketAddrV6::new(group, port, 0, iface.index)),
    }
}

/// A socket that has joined a channel on an interface.
#[derive(Debug)]
pub struct Receiver {
    socket: Socket,
    channel: Channel<IpAddr>,
    iface: Iface,
}

/// Receive buffer asked for: a burst of thousands of small datagrams must not overflow it.
const RECV_BUFFER: usize = 16 << 20;

impl Receiver {
    /// Binds UDP `port` on the group address (so that only this group is delivered), turns
    /// IP_MULTICAST_ALL / IPV6_MULTICAST_ALL off, asks for the received TTL or hop limit, and
    /// joins `channel` on `iface`.
    pub fn join<A: Copy + Into<IpAddr>>(
        channel: Channel<A>,
        port: u16,
        iface: Iface,
    ) -> io::Result<Receiver> {
        let channel = channel.checked().map_err(invalid)?;
        let family = Family::of(channel.group);
        let socket = Socket::new(family.domain(), Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        // Room for bursts (capped by net.core.rmem_max).
        socket.set_recv_buffer_size(RECV_BUFFER)?;
        let on: libc::c_int = 1;
        match family {
            Family::V4 => {
                socket.set_multicast_all_v4(false)?;
                rawio::set_opt(&socket, libc::IPPROTO_IP, libc::IP_RECVTTL, &on)?;
            }
            Family::V6 => {
                socket.set_only_v6(true)?;
                socket.set_multicast_all_v6(false)?;
                rawio::set_opt(&socket, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)?;
            }
        }
        socket.bind(&SockAddr::from(group_addr(channel.group, port, &iface)))?;
        join(&socket, channel, &iface)?;
        Ok(Receiver {
            socket,
            channel,
            iface,
        })
    }

    /// The underlying socket (for options such as IP_MULTICAST_LOOP).
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Waits up to `timeout` for a datagram; `None` on timeout.
    pub fn recv(&self, timeout: Duration) -> io::Result<Option<Datagram>> {
        recv::recv(&self.socket, timeout)
    }

    /// Stops receiving from `source` on an any-source channel (MCAST_BLOCK_SOURCE: the host
    /// reports EXCLUDE {`source`} with IGMPv3 or MLDv2).
    pub fn block(&self, source: IpAddr) -> io::Result<()> {
        source_group(
            &self.socket,
            libc::MCAST_BLOCK_SOURCE,
            self.channel.group,
            source,
            &self.iface,
        )
    }

    /// Leaves the channel explicitly (closing the socket would too).
    pub fn leave(self) -> io::Result<()> {
        leave(&self.socket, self.channel, &self.iface)
    }
}

/// A socket for sending multicast of one family out of one interface.
#[derive(Debug)]
pub struct Sender {
    socket: Socket,
    family: Family,
    iface: Iface,
    ttl: u8,
}

impl Sender {
    /// A UDP socket sending out of `iface` (IP_MULTICAST_IF / IPV6_MULTICAST_IF, by index)
    /// with `ttl` as TTL or hop limit (IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS) and loopback of
    /// its own datagrams to local listeners on or off (IP_MULTICAST_LOOP /
    /// IPV6_MULTICAST_LOOP, which Linux applies on this, the sending, socket).
    pub fn new(iface: &Iface, family: Family, ttl: u8, loopback: bool) -> io::Result<Sender> {
        let socket = Socket::new(family.domain(), Type::DGRAM, Some(Protocol::UDP))?;
        match family {
            Family::V4 => {
                let by_index = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr { s_addr: 0 },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: libc::c_int::try_from(iface.index).map_err(invalid)?,
                };
                rawio::set_opt(&socket, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &by_index)?;
                socket.set_multicast_ttl_v4(u32::from(ttl))?;
                socket.set_multicast_loop_v4(loopback)?;
            }
            Family::V6 => {
                socket.set_only_v6(true)?;
                socket.set_multicast_if_v6(iface.index)?;
                socket.set_multicast_hops_v6(u32::from(ttl))?;
                socket.set_multicast_loop_v6(loopback)?;
            }
        }
        Ok(Sender {
            socket,
            family,
            iface: iface.clone(),
            ttl,
        })
    }

    /// Sends the numbered payload `seq` to `group:port`; the group must be a multicast
    /// address of the sender's family.
    pub fn send(&self, group: impl Into<IpAddr>, port: u16, seq: u64) -> io::Result<()> {
        let group = group.into();
        check_group(group).map_err(invalid)?;
        if Family::of(group) != self.family {
            return Err(invalid(format!(
                "group {group} is not of the sender's family ({:?})",
                self.family
            )));
        }
        let payload = Payload {
            seq,
            sent_ttl: self.ttl,
        };
        self.socket.send_to(
            &payload.encode(),
            &SockAddr::from(group_addr(group, port, &self.iface)),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn channels_are_checked() {
        let g6: Ipv6Addr = "ff3e::10:1".parse().unwrap();
        let s6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let ok = Channel {
            group: g6,
            source: Some(s6),
        };
        assert_eq!(
            ok.checked(),
            Ok(Channel {
                group: IpAddr::V6(g6),
                source: Some(IpAddr::V6(s6))
            })
        );
        // Any scope is the host's business, link-local included.
        let link_local = Channel::<Ipv6Addr> {
            group: "ff02::1:3".parse().unwrap(),
            source: None,
        };
        assert!(link_local.checked().is_ok());
        let unicast = Channel::<IpAddr> {
            group: s6.into(),
            source: None,
        };
        assert_eq!(
            unicast.checked(),
            Err(ChannelError::NotMulticast(s6.into()))
        );
        let mixed = Channel::<IpAddr> {
            group: g6.into(),
            source: Some(Ipv4Addr::new(10, 0, 0, 1).into()),
        };
        assert!(matches!(
            mixed.checked(),
            Err(ChannelError::FamilyMismatch(..))
        ));
        let multicast_source = Channel {
            group: Ipv4Addr::new(232, 1, 1, 1),
            source: Some(Ipv4Addr::new(239, 1, 1, 1)),
        };
        assert!(matches!(
            multicast_source.checked(),
            Err(ChannelError::SourceNotUnicast(_))
        ));
    }

    #[test]
    fn a_sender_refuses_a_group_of_the_other_family_or_no_group() {
        let lo = Iface::lookup("lo").unwrap();
        let sender = Sender::new(&lo, Family::V4, 1, false).unwrap();
        let err = sender
            .send("ff0e::1".parse::<Ipv6Addr>().unwrap(), 5000, 0)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = sender.send(Ipv4Addr::LOCALHOST, 5000, 0).unwrap_err();
        assert!(err.to_string().contains("not a multicast group"), "{err}");
    }
}
