//! A small controller of the kernel's IPv4 multicast routing (ipmr): the baseline the benchmarks
//! compare mgm's XDP forwarder with, and the fallback forwarding backend of docs/mgm-spec.md §10.
//! [`crate::ip6mr`] is its IPv6 counterpart (the benchmarks' IPv6 baseline).
//!
//! The kernel takes its multicast routing instructions from one raw IGMP socket per network
//! namespace (and routing table), switched into routing mode with `MRT_INIT`:
//!
//! - every interface that can appear in an entry is a VIF (`MRT_ADD_VIF`, named by ifindex with
//!   `VIFF_USE_IFINDEX`); at most [`MAX_VIFS`] of them;
//! - an entry (`MRT_ADD_MFC`) names a source, a group, the VIF packets must arrive on, and a
//!   TTL threshold per VIF (0 = not an outgoing interface);
//! - `SIOCGETSGCNT` reads an entry's counters;
//! - the kernel reports packets it has no entry for (and, with `MRT_ASSERT`, packets on the
//!   wrong interface) as [`Upcall`]s read from the same socket; it holds the unresolved
//!   packets and forwards them once an entry is added.
//!
//! Closing the socket (dropping [`Ipmr`]) ends routing mode: the kernel removes every VIF and
//! entry made through it. Everything happens in the network namespace the socket was opened in.
use std::{
    collections::BTreeMap,
    io,
    net::Ipv4Addr,
    os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd},
    time::Duration,
};

/// The kernel's limit on VIFs per routing table (`MAXVIFS`).
pub const MAX_VIFS: usize = 32;

// Socket options and ioctls of <linux/mroute.h>.
const MRT_INIT: libc::c_int = 200;
const MRT_DONE: libc::c_int = 201;
const MRT_ADD_VIF: libc::c_int = 202;
const MRT_DEL_VIF: libc::c_int = 203;
const MRT_ADD_MFC: libc::c_int = 204;
const MRT_DEL_MFC: libc::c_int = 205;
const VIFF_USE_IFINDEX: u8 = 0x8;
const SIOCGETSGCNT: libc::c_ulong = 0x89e1;

/// `struct igmpmsg` bytes: message type, must-be-zero, VIF (low, high), source, group.
const UPCALL_LEN: usize = 20;

/// `struct vifctl`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct VifCtl {
    vifi: u16,
    flags: u8,
    threshold: u8,
    rate_limit: u32,
    /// `vifc_lcl_ifindex` (a union with the local address; the ifindex with `VIFF_USE_IFINDEX`).
    ifindex: i32,
    remote: u32,
}

/// `struct mfcctl`.
#[repr(C)]
#[derive(Clone, Copy)]
struct MfcCtl {
    origin: u32,
    group: u32,
    parent: u16,
    ttls: [u8; MAX_VIFS],
    packets: u32,
    bytes: u32,
    wrong_if: u32,
    expire: i32,
}

/// `struct sioc_sg_req` (`A`: `in_addr`) and `struct sioc_sg_req6` (`A`: `sockaddr_in6`).
#[repr(C)]
pub(crate) struct SgReq<A> {
    source: A,
    group: A,
    packets: libc::c_ulong,
    bytes: libc::c_ulong,
    wrong_if: libc::c_ulong,
}

/// The kernel's counters of the entry (`source`, `group`) by the family's ioctl `request`
/// (`SIOCGETSGCNT` with `in_addr`s, `SIOCGETSGCNT_IN6` with `sockaddr_in6`s).
pub(crate) fn sg_counters<A>(
    socket: &impl AsRawFd,
    request: libc::c_ulong,
    name: &'static str,
    source: A,
    group: A,
) -> Result<SgCounters, IpmrError> {
    let mut req = SgReq {
        source,
        group,
        packets: 0,
        bytes: 0,
        wrong_if: 0,
    };
    // SAFETY: both requests read and write the family's `struct sioc_sg_req(6)`, which `req`
    // is, given the address type the caller passes with the request.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), request, &mut req as *mut SgReq<A>) };
    if rc != 0 {
        return Err(sys(name));
    }
    #[allow(
        clippy::unnecessary_cast,
        reason = "c_ulong is 32 bits wide on 32-bit targets"
    )]
    Ok(SgCounters {
        packets: req.packets as u64,
        bytes: req.bytes as u64,
        wrong_if: req.wrong_if as u64,
    })
}

/// Errors of the ipmr controller.
#[derive(Debug, thiserror::Error)]
pub enum IpmrError {
    /// A socket call failed (`MRT_INIT` fails with `EADDRINUSE` when another process already
    /// routes multicast in this namespace).
    #[error("{call}: {source}")]
    Sys {
        /// The call.
        call: &'static str,
        /// The error.
        source: io::Error,
    },
    /// All [`MAX_VIFS`] VIFs are taken (MGM's `ERROR_CAN_NOT_COMPLETE`).
    #[error("no free VIF (the kernel allows {MAX_VIFS})")]
    NoFreeVif,
    /// The interface is not a VIF (or, for ip6mr, a MIF).
    #[error("ifindex {0} is not a VIF")]
    NotAVif(u32),
    /// ip6mr names a MIF's interface in 16 bits; this ifindex does not fit.
    #[error("ifindex {0} does not fit an ip6mr MIF (16 bits)")]
    IfindexTooLarge(u32),
}

/// An entry's counters, as the kernel keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SgCounters {
    /// Packets that matched the entry (wrong-interface ones included).
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Packets that arrived on another interface than the entry's.
    pub wrong_if: u64,
}

/// What an upcall reports (`im_msgtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpcallKind {
    /// `IGMPMSG_NOCACHE`: a packet matched no entry (the creation path).
    NoCache,
    /// `IGMPMSG_WRONGVIF`: a packet of an entry arrived on another VIF.
    WrongVif,
    /// Any other message type (PIM whole-packet upcalls).
    Other(u8),
}

/// One message of the kernel on the routing socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upcall {
    /// What happened.
    pub kind: UpcallKind,
    /// The VIF the packet arrived on.
    pub vif: u16,
    /// The packet's source.
    pub source: Ipv4Addr,
    /// The packet's group.
    pub group: Ipv4Addr,
}

impl Upcall {
    /// Parses what the routing socket received: `None` for IGMP packets (which the raw socket
    /// receives too, with their protocol number where an upcall has its must-be-zero byte) and
    /// for short reads.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < UPCALL_LEN || bytes[9] != 0 {
            return None;
        }
        let address =
            |at: usize| Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
        Some(Self {
            kind: match bytes[8] {
                1 => UpcallKind::NoCache,
                2 => UpcallKind::WrongVif,
                other => UpcallKind::Other(other),
            },
            vif: u16::from(bytes[10]) | u16::from(bytes[11]) << 8,
            source: address(12),
            group: address(16),
        })
    }
}

/// The multicast routing socket of one network namespace, and its VIFs by ifindex.
pub struct Ipmr {
    socket: OwnedFd,
    vifs: BTreeMap<u32, u16>,
}

impl Ipmr {
    /// Opens the routing socket of the calling thread's network namespace and takes over
    /// multicast routing there.
    pub fn open() -> Result<Self, IpmrError> {
        let ipmr = Self {
            socket: routing_socket(
                socket2::Domain::IPV4,
                libc::IPPROTO_IGMP,
                "socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)",
            )?,
            vifs: BTreeMap::new(),
        };
        ipmr.set(MRT_INIT, &1_i32, "MRT_INIT")?;
        Ok(ipmr)
    }

    /// Makes interface `ifindex` a VIF with TTL threshold `threshold` (packets leave through it
    /// only if their TTL is above it); returns its VIF number. Idempotent.
    pub fn add_vif(&mut self, ifindex: u32, threshold: u8) -> Result<u16, IpmrError> {
        if let Some(vif) = self.vifs.get(&ifindex) {
            return Ok(*vif);
        }
        let vifi = free_vif(&self.vifs)?;
        let ctl = VifCtl {
            vifi,
            flags: VIFF_USE_IFINDEX,
            threshold,
            ifindex: ifindex as i32,
            ..VifCtl::default()
        };
        self.set(MRT_ADD_VIF, &ctl, "MRT_ADD_VIF")?;
        self.vifs.insert(ifindex, vifi);
        Ok(vifi)
    }

    /// Removes the VIF of `ifindex` (the kernel drops it from every entry).
    pub fn del_vif(&mut self, ifindex: u32) -> Result<(), IpmrError> {
        let vifi = self.vif(ifindex)?;
        let ctl = VifCtl {
            vifi,
            ..VifCtl::default()
        };
        self.set(MRT_DEL_VIF, &ctl, "MRT_DEL_VIF")?;
        self.vifs.remove(&ifindex);
        Ok(())
    }

    /// Installs (or replaces) the entry (`source`, `group`): packets arriving on VIF interface
    /// `iif` go out of every interface of `oifs` (`(ifindex, ttl threshold)`, the threshold at
    /// least 1), all of which must be VIFs.
    pub fn add_mfc(
        &self,
        source: Ipv4Addr,
        group: Ipv4Addr,
        iif: u32,
        oifs: &[(u32, u8)],
    ) -> Result<(), IpmrError> {
        let mut ctl = self.mfc(source, group, iif)?;
        for (ifindex, threshold) in oifs {
            ctl.ttls[usize::from(self.vif(*ifindex)?)] = (*threshold).max(1);
        }
        self.set(MRT_ADD_MFC, &ctl, "MRT_ADD_MFC")
    }

    /// Removes the entry (`source`, `group`) that arrives on `iif`.
    pub fn del_mfc(&self, source: Ipv4Addr, group: Ipv4Addr, iif: u32) -> Result<(), IpmrError> {
        let ctl = self.mfc(source, group, iif)?;
        self.set(MRT_DEL_MFC, &ctl, "MRT_DEL_MFC")
    }

    /// The kernel's counters of the entry (`source`, `group`).
    pub fn counters(&self, source: Ipv4Addr, group: Ipv4Addr) -> Result<SgCounters, IpmrError> {
        sg_counters(
            &self.socket,
            SIOCGETSGCNT,
            "SIOCGETSGCNT",
            in_addr(source),
            in_addr(group),
        )
    }

    /// The ifindex of VIF `vif`, if it is one of this controller's.
    pub fn ifindex_of(&self, vif: u16) -> Option<u32> {
        self.vifs
            .iter()
            .find_map(|(ifindex, v)| (*v == vif).then_some(*ifindex))
    }

    /// Waits up to `timeout` for the next upcall; IGMP packets read on the way are skipped.
    pub fn next_upcall(&self, timeout: Duration) -> Result<Option<Upcall>, IpmrError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut buffer = [0u8; 1500];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut poll = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = libc::c_int::try_from(left.as_millis()).unwrap_or(libc::c_int::MAX);
            // SAFETY: one valid pollfd.
            match unsafe { libc::poll(&mut poll, 1, millis) } {
                0 => return Ok(None),
                n if n < 0 => return Err(sys("poll")),
                _ => {}
            }
            // SAFETY: `buffer` is writable for its length.
            let len = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if len < 0 {
                return Err(sys("recv"));
            }
            if let Some(upcall) = Upcall::parse(&buffer[..len as usize]) {
                return Ok(Some(upcall));
            }
        }
    }

    fn vif(&self, ifindex: u32) -> Result<u16, IpmrError> {
        self.vifs
            .get(&ifindex)
            .copied()
            .ok_or(IpmrError::NotAVif(ifindex))
    }

    fn mfc(&self, source: Ipv4Addr, group: Ipv4Addr, iif: u32) -> Result<MfcCtl, IpmrError> {
        Ok(MfcCtl {
            origin: in_addr(source),
            group: in_addr(group),
            parent: self.vif(iif)?,
            ttls: [0; MAX_VIFS],
            packets: 0,
            bytes: 0,
            wrong_if: 0,
            expire: 0,
        })
    }

    fn set<T: Copy>(
        &self,
        option: libc::c_int,
        value: &T,
        call: &'static str,
    ) -> Result<(), IpmrError> {
        crate::rawio::set_opt(&self.socket, libc::IPPROTO_IP, option, value)
            .map_err(|source| IpmrError::Sys { call, source })
    }
}

impl AsFd for Ipmr {
    /// The routing socket, on which the kernel's upcalls (`struct igmpmsg`) arrive.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl Drop for Ipmr {
    /// Ends routing mode explicitly (closing the socket would too): the kernel removes the
    /// VIFs and entries.
    fn drop(&mut self) {
        let _ = self.set(MRT_DONE, &1_i32, "MRT_DONE");
    }
}

/// The lowest VIF number not in `vifs` (ifindex → VIF); ip6mr's MIFs are numbered the same way.
pub(crate) fn free_vif(vifs: &BTreeMap<u32, u16>) -> Result<u16, IpmrError> {
    (0..MAX_VIFS as u16)
        .find(|v| !vifs.values().any(|used| used == v))
        .ok_or(IpmrError::NoFreeVif)
}

fn in_addr(address: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(address.octets())
}

/// A raw socket of `domain` and `protocol`, the kind the kernel takes multicast routing
/// instructions from (`call` names it in the error).
pub(crate) fn routing_socket(
    domain: socket2::Domain,
    protocol: libc::c_int,
    call: &'static str,
) -> Result<OwnedFd, IpmrError> {
    socket2::Socket::new(domain, socket2::Type::RAW, Some(protocol.into()))
        .map(OwnedFd::from)
        .map_err(|source| IpmrError::Sys { call, source })
}

pub(crate) fn sys(call: &'static str) -> IpmrError {
    IpmrError::Sys {
        call,
        source: io::Error::last_os_error(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upcalls_are_told_from_igmp_packets() {
        let mut upcall = [0u8; 20];
        upcall[8] = 1;
        upcall[10] = 3;
        upcall[12..16].copy_from_slice(&[10, 0, 0, 1]);
        upcall[16..20].copy_from_slice(&[239, 1, 2, 3]);
        assert_eq!(
            Upcall::parse(&upcall),
            Some(Upcall {
                kind: UpcallKind::NoCache,
                vif: 3,
                source: Ipv4Addr::new(10, 0, 0, 1),
                group: Ipv4Addr::new(239, 1, 2, 3),
            })
        );
        // An IGMP packet: TTL 1, protocol 2 where the upcall's must-be-zero byte is.
        let mut igmp = upcall;
        igmp[8] = 1;
        igmp[9] = 2;
        assert_eq!(Upcall::parse(&igmp), None);
        assert_eq!(Upcall::parse(&upcall[..12]), None);
    }

    #[test]
    fn kernel_struct_sizes() {
        assert_eq!(size_of::<VifCtl>(), 16);
        assert_eq!(size_of::<MfcCtl>(), 60);
        assert_eq!(size_of::<SgReq<u32>>(), 8 + 3 * size_of::<libc::c_ulong>());
    }
}
