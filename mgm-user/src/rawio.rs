//! Safe wrappers for the socket calls socket2 does not offer: setting an option from any plain C
//! value, recvmsg(2) with the control messages mgm asks for (TTL or hop limit, arrival interface),
//! and packet sockets (AF_PACKET) sending and receiving whole frames on a chosen interface.
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

/// setsockopt(2) with a plain C value (`c_int`, `ip_mreqn`, `vifctl`, `sock_fprog`, ...).
pub fn set_opt<T: Copy>(
    socket: &impl AsFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points at a live `T` whose size is passed along; T is plain data.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A datagram from recvmsg(2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recv {
    /// The datagram's bytes.
    pub data: Vec<u8>,
    /// Sender address (port 0 for raw sockets).
    pub from: SocketAddr,
    /// TTL (IP_TTL) or hop limit (IPV6_HOPLIMIT) as received, if IP_RECVTTL/IPV6_RECVHOPLIMIT is
    /// on.
    pub ttl: Option<u8>,
    /// Interface of arrival from IP_PKTINFO/IPV6_PKTINFO, if asked for.
    pub ifindex: Option<u32>,
}

/// Receives one datagram (up to 64 KiB) on a socket of either family, waiting up to
/// `timeout`; `None` on timeout.
pub fn recv(socket: &Socket, timeout: Duration) -> io::Result<Option<Recv>> {
    let mut buf = vec![0u8; 65536];
    socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    // SAFETY: all-zero is a valid sockaddr_storage and msghdr.
    let mut addr: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control);
    // SAFETY: every pointer in `msg` refers to a live buffer of the stated length.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, 0) };
    let Ok(len) = usize::try_from(n) else {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(None),
            _ => Err(err),
        };
    };
    let (mut ttl, mut ifindex) = (None, None);
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within
    // `msg_controllen`; IP_TTL and IPV6_HOPLIMIT carry a c_int, IP_PKTINFO an in_pktinfo and
    // IPV6_PKTINFO an in6_pktinfo.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_TTL) | (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                    ttl = u8::try_from((data as *const libc::c_int).read_unaligned()).ok();
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = (data as *const libc::in_pktinfo).read_unaligned();
                    ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let info = (data as *const libc::in6_pktinfo).read_unaligned();
                    ifindex = Some(info.ipi6_ifindex);
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    buf.truncate(len);
    Ok(Some(Recv {
        data: buf,
        from: socket_addr(&addr)?,
        ttl,
        ifindex,
    }))
}

/// The address recvmsg wrote into `storage`.
fn socket_addr(storage: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough and aligned for.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        family => Err(io::Error::other(format!(
            "recvmsg returned an address of family {family}"
        ))),
    }
}

/// What a packet socket exchanges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Whole Ethernet frames, link-layer header included (`SOCK_RAW`).
    Frames,
    /// Network-layer packets: the kernel writes and strips the link-layer header (`SOCK_DGRAM`).
    Cooked,
}

/// Where a received frame came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The interface it was seen on.
    pub ifindex: u32,
    /// Whether this host sent it (a copy of an outgoing frame), rather than received it.
    pub outgoing: bool,
    /// Whether the kernel found it not addressed to this host (`PACKET_OTHERHOST`): sent to
    /// another station's unicast MAC, or tagged for a VLAN this host has no device for.
    pub other_host: bool,
    /// The link's `ARPHRD_*` type: whether a whole frame ([`Framing::Frames`]) starts with an
    /// Ethernet header.
    pub link_type: u16,
}

/// A packet socket (AF_PACKET, needs CAP_NET_RAW) of the calling thread's network namespace.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
    framing: Framing,
    protocol: u16,
}

impl PacketSocket {
    /// Opens a socket receiving the EtherType `protocol` (`ETH_P_ALL` for every frame, 0 for
    /// none: a socket that only sends), on every interface until [`PacketSocket::bind`].
    pub fn open(framing: Framing, protocol: u16) -> io::Result<Self> {
        let kind = match framing {
            Framing::Frames => Type::RAW,
            Framing::Cooked => Type::DGRAM,
        };
        let socket = Socket::new(
            Domain::PACKET,
            kind,
            Some(Protocol::from(i32::from(protocol.to_be()))),
        )?;
        Ok(Self {
            socket,
            framing,
            protocol,
        })
    }

    /// The socket, for options (`set_opt`, `set_nonblocking`, buffer sizes).
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Receives only what arrives on `ifindex`.
    pub fn bind(&self, ifindex: u32) -> io::Result<()> {
        let address = self.address(ifindex, [0; 6])?;
        // SAFETY: a valid sockaddr_ll of the length passed.
        let rc = unsafe {
            libc::bind(
                self.socket.as_raw_fd(),
                (&address as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Sends `data` out of `ifindex`: a whole frame ([`Framing::Frames`]), or a packet the
    /// kernel frames with `destination` as the link-layer address ([`Framing::Cooked`]).
    pub fn send_to(&self, ifindex: u32, destination: [u8; 6], data: &[u8]) -> io::Result<()> {
        let address = self.address(ifindex, destination)?;
        // SAFETY: the data and the address are valid for the lengths passed.
        let sent = unsafe {
            libc::sendto(
                self.socket.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                (&address as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        match usize::try_from(sent) {
            Ok(n) if n == data.len() => Ok(()),
            Ok(n) => Err(io::Error::other(format!(
                "sent {n} of {} bytes",
                data.len()
            ))),
            Err(_) => Err(io::Error::last_os_error()),
        }
    }

    /// Receives one frame (or cooked packet) into `buffer`: its length, cut to the buffer, and
    /// where it came from. Without data, a non-blocking socket fails with `WouldBlock`.
    pub fn recv_from(&self, buffer: &mut [u8]) -> io::Result<(usize, Arrival)> {
        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut from: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut from_len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buffer and address are valid for the lengths passed.
        let n = unsafe {
            libc::recvfrom(
                self.socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut from_len,
            )
        };
        let len = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        Ok((
            len.min(buffer.len()),
            Arrival {
                ifindex: from.sll_ifindex as u32,
                outgoing: from.sll_pkttype == libc::PACKET_OUTGOING,
                other_host: from.sll_pkttype == libc::PACKET_OTHERHOST,
                link_type: from.sll_hatype,
            },
        ))
    }

    fn address(&self, ifindex: u32, destination: [u8; 6]) -> io::Result<libc::sockaddr_ll> {
        // SAFETY: sockaddr_ll is plain data; all-zero is valid.
        let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_protocol = self.protocol.to_be();
        address.sll_ifindex = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
        if self.framing == Framing::Cooked || destination != [0; 6] {
            address.sll_halen = 6;
            address.sll_addr[..6].copy_from_slice(&destination);
        }
        Ok(address)
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }
}

/// The index of the interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c_name = std::ffi::CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: a valid NUL-terminated name.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        index => Ok(index),
    }
}
