//! A small controller of the kernel's IPv6 multicast routing (ip6mr), the counterpart of
//! [`crate::ipmr`]: the IPv6 baseline the benchmarks compare mgm's XDP forwarder with.
//!
//! The kernel takes its IPv6 multicast routing instructions from one raw ICMPv6 socket per
//! network namespace, switched into routing mode with `MRT6_INIT` (which also turns on the
//! namespace's `mc_forwarding`: only then does IPv6 input hand multicast to ip6mr):
//!
//! - every interface that can appear in an entry is a MIF (`MRT6_ADD_MIF`, named by ifindex);
//!   at most [`MAX_VIFS`] of them, numbered like ipmr's VIFs;
//! - an entry (`MRT6_ADD_MFC`) names a source, a group, the MIF packets must arrive on, and the
//!   set of MIFs copies leave through (copies leave with a hop limit above 1 only);
//! - `MRT6_DEL_MFC` removes an entry;
//! - `SIOCGETSGCNT_IN6` reads an entry's counters.
//!
//! Closing the socket (dropping [`Ip6mr`]) ends routing mode: the kernel removes every MIF and
//! entry made through it. Everything happens in the network namespace the socket was opened in.
use crate::ipmr::{free_vif, routing_socket, sg_counters, IpmrError, SgCounters, MAX_VIFS};
use std::{collections::BTreeMap, net::Ipv6Addr, os::fd::OwnedFd};

// Socket options and ioctls of <linux/mroute6.h>.
const MRT6_INIT: libc::c_int = 200;
const MRT6_DONE: libc::c_int = 201;
const MRT6_ADD_MIF: libc::c_int = 202;
const MRT6_ADD_MFC: libc::c_int = 204;
const MRT6_DEL_MFC: libc::c_int = 205;
const SIOCGETSGCNT_IN6: libc::c_ulong = 0x89e1;
/// Words of `struct if_set` (`IF_SETSIZE` = 256 bits).
const IF_SET_WORDS: usize = 8;
// Every MIF number has its bit in an `if_set`.
const _: () = assert!(MAX_VIFS <= IF_SET_WORDS * 32);

/// `struct mif6ctl`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Mif6Ctl {
    mifi: u16,
    flags: u8,
    threshold: u8,
    /// The interface's ifindex (`mif6c_pifi`).
    ifindex: u16,
    rate_limit: u32,
}

/// `struct mf6cctl`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Mf6cCtl {
    origin: libc::sockaddr_in6,
    group: libc::sockaddr_in6,
    parent: u16,
    /// Bit `m` of word `m / 32`: MIF `m` is an outgoing interface.
    ifset: [u32; IF_SET_WORDS],
}

/// The IPv6 multicast routing socket of one network namespace, and its MIFs by ifindex.
pub struct Ip6mr {
    socket: OwnedFd,
    mifs: BTreeMap<u32, u16>,
}

impl Ip6mr {
    /// Opens the IPv6 routing socket of the calling thread's network namespace and takes over
    /// IPv6 multicast routing there (`MRT6_INIT` fails with `EADDRINUSE` when another process
    /// already does).
    pub fn open() -> Result<Self, IpmrError> {
        let ip6mr = Self {
            socket: routing_socket(
                socket2::Domain::IPV6,
                libc::IPPROTO_ICMPV6,
                "socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)",
            )?,
            mifs: BTreeMap::new(),
        };
        ip6mr.set(MRT6_INIT, &1_i32, "MRT6_INIT")?;
        Ok(ip6mr)
    }

    /// Makes interface `ifindex` a MIF; returns its MIF number. Idempotent.
    pub fn add_mif(&mut self, ifindex: u32) -> Result<u16, IpmrError> {
        if let Some(mif) = self.mifs.get(&ifindex) {
            return Ok(*mif);
        }
        let ctl = Mif6Ctl {
            mifi: free_vif(&self.mifs)?,
            threshold: 1,
            ifindex: u16::try_from(ifindex).map_err(|_| IpmrError::IfindexTooLarge(ifindex))?,
            ..Mif6Ctl::default()
        };
        self.set(MRT6_ADD_MIF, &ctl, "MRT6_ADD_MIF")?;
        self.mifs.insert(ifindex, ctl.mifi);
        Ok(ctl.mifi)
    }

    /// Installs (or replaces) the entry (`source`, `group`): packets arriving on MIF interface
    /// `iif` go out of every interface of `oifs`, all of which must be MIFs.
    pub fn add_mfc(
        &self,
        source: Ipv6Addr,
        group: Ipv6Addr,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), IpmrError> {
        let ctl = self.mfc_ctl(source, group, iif, oifs)?;
        self.set(MRT6_ADD_MFC, &ctl, "MRT6_ADD_MFC")
    }

    /// Removes the entry (`source`, `group`) that arrives on MIF interface `iif`.
    pub fn del_mfc(&self, source: Ipv6Addr, group: Ipv6Addr, iif: u32) -> Result<(), IpmrError> {
        let ctl = self.mfc_ctl(source, group, iif, &[])?;
        self.set(MRT6_DEL_MFC, &ctl, "MRT6_DEL_MFC")
    }

    /// The `struct mf6cctl` of an entry.
    fn mfc_ctl(
        &self,
        source: Ipv6Addr,
        group: Ipv6Addr,
        iif: u32,
        oifs: &[u32],
    ) -> Result<Mf6cCtl, IpmrError> {
        let mut ifset = [0u32; IF_SET_WORDS];
        for oif in oifs {
            let mif = usize::from(self.mif(*oif)?);
            ifset[mif / 32] |= 1 << (mif % 32);
        }
        Ok(Mf6cCtl {
            origin: sockaddr(source),
            group: sockaddr(group),
            parent: self.mif(iif)?,
            ifset,
        })
    }

    /// The kernel's counters of the entry (`source`, `group`).
    pub fn counters(&self, source: Ipv6Addr, group: Ipv6Addr) -> Result<SgCounters, IpmrError> {
        sg_counters(
            &self.socket,
            SIOCGETSGCNT_IN6,
            "SIOCGETSGCNT_IN6",
            sockaddr(source),
            sockaddr(group),
        )
    }

    fn mif(&self, ifindex: u32) -> Result<u16, IpmrError> {
        self.mifs
            .get(&ifindex)
            .copied()
            .ok_or(IpmrError::NotAVif(ifindex))
    }

    fn set<T: Copy>(
        &self,
        option: libc::c_int,
        value: &T,
        call: &'static str,
    ) -> Result<(), IpmrError> {
        crate::rawio::set_opt(&self.socket, libc::IPPROTO_IPV6, option, value)
            .map_err(|source| IpmrError::Sys { call, source })
    }
}

impl Drop for Ip6mr {
    /// Ends routing mode explicitly (closing the socket would too): the kernel removes the
    /// MIFs and entries.
    fn drop(&mut self) {
        let _ = self.set(MRT6_DONE, &1_i32, "MRT6_DONE");
    }
}

fn sockaddr(address: Ipv6Addr) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: 0,
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr {
            s6_addr: address.octets(),
        },
        sin6_scope_id: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmr::SgReq;

    #[test]
    fn kernel_struct_sizes() {
        assert_eq!(size_of::<Mif6Ctl>(), 12);
        assert_eq!(size_of::<Mf6cCtl>(), 92);
        assert_eq!(
            size_of::<SgReq<libc::sockaddr_in6>>(),
            56 + 3 * size_of::<libc::c_ulong>()
        );
    }
}
