//! Local interfaces: index by name, the first IPv4 address, the link-local IPv6 address.
use std::ffi::{CStr, CString};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A local interface, by name and index (both families join and send by index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub index: u32,
}

impl Iface {
    /// Looks an interface up by name in the calling thread's network namespace.
    pub fn lookup(name: &str) -> io::Result<Iface> {
        let cname = CString::new(name).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            )
        })?;
        // SAFETY: `cname` is a valid NUL-terminated string.
        let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if index == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Iface {
            name: name.to_owned(),
            index,
        })
    }
}

/// The first IPv4 address of interface `name` and its prefix length.
pub fn ipv4_net_of(name: &str) -> io::Result<(Ipv4Addr, u8)> {
    let found = first_address(name, |ifa| {
        // SAFETY: `first_address` passes nodes with an address; that address, and the mask
        // when not null, are sockaddr_in when the family is AF_INET.
        unsafe {
            if i32::from((*ifa.ifa_addr).sa_family) != libc::AF_INET {
                return None;
            }
            let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
            let prefix = if ifa.ifa_netmask.is_null() {
                32
            } else {
                let mask = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                u32::from_be(mask.sin_addr.s_addr).count_ones() as u8
            };
            Some((Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), prefix))
        }
    })?;
    found.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name} has no IPv4 address"),
        )
    })
}

/// The first link-local IPv6 address (fe80::/10) of interface `name`.
pub fn link_local_of(name: &str) -> io::Result<Ipv6Addr> {
    let found = first_address(name, |ifa| {
        // SAFETY: `first_address` passes nodes with an address, a sockaddr_in6 when the family
        // is AF_INET6.
        unsafe {
            if i32::from((*ifa.ifa_addr).sa_family) != libc::AF_INET6 {
                return None;
            }
            let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
            let address = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            address.is_unicast_link_local().then_some(address)
        }
    })?;
    found.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{name} has no link-local IPv6 address"),
        )
    })
}

/// The first address of interface `name` that `pick` takes (it sees the nodes of
/// getifaddrs(3) that have an address).
fn first_address<T>(
    name: &str,
    pick: impl Fn(&libc::ifaddrs) -> Option<T>,
) -> io::Result<Option<T>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs stores a list in `head` that is freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list, valid until freeifaddrs; `ifa_name` is a C
        // string.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() && CStr::from_ptr(ifa.ifa_name).to_bytes() == name.as_bytes()
            {
                found = pick(ifa);
                if found.is_some() {
                    break;
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_interface_lookup() {
        let lo = Iface::lookup("lo").unwrap();
        assert!(lo.index > 0);
        assert_eq!(ipv4_net_of("lo").unwrap(), (Ipv4Addr::LOCALHOST, 8));
        assert!(Iface::lookup("no-such-if0").is_err());
        assert!(Iface::lookup("bad\0name").is_err());
    }
}
