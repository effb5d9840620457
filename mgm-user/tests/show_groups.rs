//! Root lab test of `show groups`: a host's IGMPv3 EXCLUDE-mode membership (any source but
//! one, made with the kernel's own IP_BLOCK_SOURCE) shows with its real flags, its filter mode
//! and the excluded source, in the API and in mgmctl's table.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use socket2::{Domain, Protocol, Socket, Type};
use std::{mem::size_of, net::Ipv4Addr, os::fd::AsRawFd as _, time::Duration};
use support::{wait_for, Mgmd, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 0, 1);
const EXCLUDED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// Joins `group` on the host's eth0 (address `local`) and blocks `source`: the kernel reports
/// EXCLUDE {source}. The membership lasts as long as the socket.
fn join_excluding(local: Ipv4Addr, group: Ipv4Addr, source: Ipv4Addr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.join_multicast_v4(&group, &local)?;
    let request = libc::ip_mreq_source {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(group).to_be(),
        },
        imr_interface: libc::in_addr {
            s_addr: u32::from(local).to_be(),
        },
        imr_sourceaddr: libc::in_addr {
            s_addr: u32::from(source).to_be(),
        },
    };
    // SAFETY: setsockopt with a valid ip_mreq_source of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BLOCK_SOURCE,
            (&request as *const libc::ip_mreq_source).cast(),
            size_of::<libc::ip_mreq_source>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_exclude_mode_membership_shows_its_mode_flags_and_excluded_source() -> Result<()> {
    let interfaces = support::interfaces(&[("up0", NO_IGMP), ("rcv1", "")]);
    let mgmd = Mgmd::start(Lab::star(1)?, &interfaces)?;
    let local = Lab::address_of(Host::Receiver(1));
    let _membership = mgmd
        .lab
        .in_ns(Host::Receiver(1), || join_excluding(local, GROUP, EXCLUDED))??;
    let row = wait_for("the EXCLUDE membership", Duration::from_secs(10), || {
        Ok(mgmd.groups()?.into_iter().find(|r| {
            r.group == GROUP && r.iface == "rcv1" && r.protocol == "igmp" && !r.excluded.is_empty()
        }))
    })?;
    ensure!(
        row.source.is_unspecified()
            && row.mode == "exclude"
            && row.excluded == [EXCLUDED]
            && row.flags == 3,
        "(*,G) JOIN|FORWARD, exclude {{{EXCLUDED}}}: {row:?}"
    );
    let table = mgmd.mgmctl_ok(&["show", "groups"])?;
    let line = table
        .lines()
        .find(|l| l.contains(&GROUP.to_string()))
        .context("a line for the group")?;
    ensure!(
        line.contains("JOIN|FORWARD") && line.contains("exclude") && line.contains("10.0.0.1"),
        "show groups: {table}"
    );
    Ok(())
}
