//! Host-side ("leaf") multicast: joining and leaving groups on an interface (any-source with
//! IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP, source-specific with IP_ADD_SOURCE_MEMBERSHIP /
//! IP_DROP_SOURCE_MEMBERSHIP), and sending with a chosen TTL (IP_MULTICAST_TTL), interface
//! (IP_MULTICAST_IF) and loopback (IP_MULTICAST_LOOP).
//!
//! On Linux, as on other UNIX systems, IP_MULTICAST_LOOP acts on the **sending** socket: it
//! decides whether that socket's own datagrams are looped back to listeners on the same host.
//! Set on a receiving socket it has no effect on what that socket receives. Winsock is the
//! opposite: there the option is set on the receiving socket (docs/mgm-spec.md §8.2).
use crate::rawio;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use std::ffi::{CStr, CString};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// A local interface, by name, index and IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// First IPv4 address of the interface.
    pub addr: Ipv4Addr,
}

impl Iface {
    /// Looks an interface up by name in the calling thread's network namespace.
    pub fn lookup(name: &str) -> io::Result<Iface> {
        let cname =
            CString::new(name).map_err(|_| invalid(format!("bad interface name {name:?}")))?;
        // SAFETY: `cname` is a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Iface {
            name: name.to_owned(),
            index,
            addr: ipv4_of(name)?,
        })
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// The first IPv4 address of interface `name`.
fn ipv4_of(name: &str) -> io::Result<Ipv4Addr> {
    ipv4_net_of(name).map(|(addr, _)| addr)
}

/// The first IPv4 address of interface `name` and its prefix length.
pub fn ipv4_net_of(name: &str) -> io::Result<(Ipv4Addr, u8)> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs stores a list in `head` that is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list, valid until freeifaddrs; `ifa_name` is a C
        // string; `ifa_addr` and `ifa_netmask` (when not null) point at sockaddrs of the
        // family `ifa_addr` names, here sockaddr_in.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
                && CStr::from_ptr(ifa.ifa_name).to_bytes() == name.as_bytes()
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let prefix = if ifa.ifa_netmask.is_null() {
                    32
                } else {
                    let mask = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                    u32::from_be(mask.sin_addr.s_addr).count_ones() as u8
                };
                found = Some((Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), prefix));
                break;
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    found.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name} has no IPv4 address"),
        )
    })
}

/// What to receive: a group, optionally from one source only (SSM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    /// Multicast group.
    pub group: Ipv4Addr,
    /// Source for a source-specific join; `None` for any source.
    pub source: Option<Ipv4Addr>,
}

/// Joins `channel` on `iface` with IP_ADD_MEMBERSHIP (by interface index) or
/// IP_ADD_SOURCE_MEMBERSHIP (by interface address); the kernel then reports it with IGMP.
pub fn join(socket: &Socket, channel: Channel, iface: &Iface) -> io::Result<()> {
    match channel.source {
        None => {
            socket.join_multicast_v4_n(&channel.group, &InterfaceIndexOrAddress::Index(iface.index))
        }
        Some(source) => socket.join_ssm_v4(&source, &channel.group, &iface.addr),
    }
}

/// Leaves `channel` on `iface` with IP_DROP_MEMBERSHIP or IP_DROP_SOURCE_MEMBERSHIP.
pub fn leave(socket: &Socket, channel: Channel, iface: &Iface) -> io::Result<()> {
    match channel.source {
        None => socket
            .leave_multicast_v4_n(&channel.group, &InterfaceIndexOrAddress::Index(iface.index)),
        Some(source) => socket.leave_ssm_v4(&source, &channel.group, &iface.addr),
    }
}

/// The payload `mcast send` writes: a magic, a sequence number and the TTL it was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Payload {
    /// Sequence number, from 0.
    pub seq: u64,
    /// TTL the sender set.
    pub sent_ttl: u8,
}

impl Payload {
    const MAGIC: [u8; 4] = *b"MGMc";
    /// Encoded length.
    pub const LEN: usize = 13;

    /// The bytes of this payload.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        out[..4].copy_from_slice(&Self::MAGIC);
        out[4..12].copy_from_slice(&self.seq.to_be_bytes());
        out[12] = self.sent_ttl;
        out
    }

    /// Decodes a payload written by [`Self::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Payload> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        if bytes[..4] != Self::MAGIC {
            return None;
        }
        let mut seq = [0; 8];
        seq.copy_from_slice(&bytes[4..12]);
        Some(Payload {
            seq: u64::from_be_bytes(seq),
            sent_ttl: bytes[12],
        })
    }
}

/// A socket that has joined a channel on an interface.
#[derive(Debug)]
pub struct Receiver {
    socket: Socket,
    channel: Channel,
    iface: Iface,
}

/// Receive buffer asked for: a burst of thousands of small datagrams must not overflow it.
const RECV_BUFFER: usize = 16 << 20;

/// One received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Sender.
    pub from: SocketAddrV4,
    /// TTL in the IP header as received.
    pub ttl: Option<u8>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Receiver {
    /// Binds UDP `port` on the group address (so that only this group is delivered), turns
    /// IP_MULTICAST_ALL off, asks for the received TTL, and joins `channel` on `iface`.
    pub fn join(channel: Channel, port: u16, iface: Iface) -> io::Result<Receiver> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_multicast_all_v4(false)?;
        // Room for bursts (capped by net.core.rmem_max).
        socket.set_recv_buffer_size(RECV_BUFFER)?;
        rawio::set_opt(
            &socket,
            libc::IPPROTO_IP,
            libc::IP_RECVTTL,
            &1 as &libc::c_int,
        )?;
        socket.bind(&SockAddr::from(SocketAddrV4::new(channel.group, port)))?;
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
        Ok(rawio::recv(&self.socket, timeout)?.map(|r| Datagram {
            from: r.from,
            ttl: r.ttl,
            payload: r.data,
        }))
    }

    /// Leaves the channel explicitly (closing the socket would too).
    pub fn leave(self) -> io::Result<()> {
        leave(&self.socket, self.channel, &self.iface)
    }
}

/// A socket for sending multicast out of one interface.
#[derive(Debug)]
pub struct Sender {
    socket: Socket,
    ttl: u8,
}

impl Sender {
    /// A UDP socket sending out of `iface` (IP_MULTICAST_IF) with `ttl` (IP_MULTICAST_TTL) and
    /// loopback of its own datagrams to local listeners on or off (IP_MULTICAST_LOOP, which
    /// Linux applies on this, the sending, socket).
    pub fn new(iface: &Iface, ttl: u8, loopback: bool) -> io::Result<Sender> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_multicast_if_v4(&iface.addr)?;
        socket.set_multicast_ttl_v4(u32::from(ttl))?;
        socket.set_multicast_loop_v4(loopback)?;
        socket.bind(&SockAddr::from(SocketAddrV4::new(iface.addr, 0)))?;
        Ok(Sender { socket, ttl })
    }

    /// Sends the numbered payload `seq` to `group:port`.
    pub fn send(&self, group: Ipv4Addr, port: u16, seq: u64) -> io::Result<()> {
        let payload = Payload {
            seq,
            sent_ttl: self.ttl,
        };
        self.socket.send_to(
            &payload.encode(),
            &SockAddr::from(SocketAddrV4::new(group, port)),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_roundtrip_and_rejects() {
        let p = Payload {
            seq: 0x0102_0304_0506_0708,
            sent_ttl: 9,
        };
        assert_eq!(Payload::decode(&p.encode()), Some(p));
        assert_eq!(Payload::decode(b"hello"), None);
        let mut other = p.encode();
        other[0] = b'X';
        assert_eq!(Payload::decode(&other), None);
        assert_eq!(Payload::decode(&p.encode()[..12]), None);
    }

    #[test]
    fn loopback_interface_lookup() {
        let lo = Iface::lookup("lo").unwrap();
        assert_eq!(lo.addr, Ipv4Addr::LOCALHOST);
        assert!(lo.index > 0);
        assert!(Iface::lookup("no-such-if0").is_err());
        assert!(Iface::lookup("bad\0name").is_err());
    }
}
