//! Safe wrappers for the socket calls socket2 does not offer: setting an option from any plain
//! C value, and recvmsg(2) with the IPv4 control messages mgm asks for (IP_TTL, IP_PKTINFO).
use socket2::Socket;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// setsockopt(2) with a plain C value (`c_int`, `ip_mreqn`, `vifctl`, ...).
pub fn set_opt<T: Copy>(
    socket: &Socket,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points at a live `T` whose size is passed along; T is plain data.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
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
    pub from: SocketAddrV4,
    /// IP_TTL control message, if IP_RECVTTL is on.
    pub ttl: Option<u8>,
    /// Interface of arrival from IP_PKTINFO, if IP_PKTINFO is on.
    pub ifindex: Option<u32>,
}

/// Receives one datagram (up to 64 KiB), waiting up to `timeout`; `None` on timeout.
pub fn recv(socket: &Socket, timeout: Duration) -> io::Result<Option<Recv>> {
    let mut buf = vec![0u8; 65536];
    socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
    // SAFETY: all-zero is a valid sockaddr_in and msghdr.
    let mut addr: libc::sockaddr_in = unsafe { mem::zeroed() };
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_name = (&mut addr as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
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
    // `msg_controllen`; IP_TTL carries a c_int and IP_PKTINFO an in_pktinfo.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_TTL) => {
                    ttl = u8::try_from((data as *const libc::c_int).read_unaligned()).ok();
                }
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let info = (data as *const libc::in_pktinfo).read_unaligned();
                    ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    buf.truncate(len);
    Ok(Some(Recv {
        data: buf,
        from: SocketAddrV4::new(
            Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr)),
            u16::from_be(addr.sin_port),
        ),
        ttl,
        ifindex,
    }))
}
