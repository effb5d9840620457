//! Root lab test: a host whose kernel reports IGMPv3 EXCLUDE {S} for a group (any source but
//! S) gets nothing of S's flow on its link, from the flow's very first packet (held while the
//! entry is created) on, while another listener of the group gets all of it.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::{
    lab::{Host, Lab},
    leaf::{Channel, Iface, Receiver},
    rawio::{self, Framing, PacketSocket},
};
use std::{
    io,
    net::{IpAddr, Ipv4Addr},
    time::Duration,
};
use support::{interfaces, wait_for, Mgmd, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 0, 2);
const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PACKETS: u32 = 50;

/// A capture of the IPv4 packets arriving on the eth0 of receiver `n`.
fn capture(lab: &Lab, n: u8) -> Result<PacketSocket> {
    lab.in_ns(Host::Receiver(n), || -> io::Result<PacketSocket> {
        let capture = PacketSocket::open(Framing::Cooked, libc::ETH_P_IP as u16)?;
        capture.socket().set_nonblocking(true)?;
        capture.bind(rawio::ifindex("eth0")?)?;
        Ok(capture)
    })?
    .context("capture")
}

/// How many UDP packets from [`SOURCE`] to [`GROUP`] `capture` holds now.
fn count_flow(capture: &PacketSocket) -> Result<usize> {
    let mut buffer = [0u8; 2048];
    let mut count = 0;
    loop {
        match capture.recv_from(&mut buffer) {
            Ok((len, arrival)) if !arrival.outgoing && len >= 20 => {
                let p = &buffer[..len];
                let addr = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
                if p[9] == 17 && addr(12) == SOURCE && addr(16) == GROUP {
                    count += 1;
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(count),
            Err(e) => return Err(e).context("capture"),
        }
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_excluded_source_never_reaches_the_excluding_link() -> Result<()> {
    let body = interfaces(&[("up0", NO_IGMP), ("rcv1", ""), ("rcv2", "")]);
    let mut mgmd = Mgmd::start(Lab::star(2)?, &body)?;
    let excluding = mgmd.lab.in_ns(Host::Receiver(1), || {
        Receiver::join(
            Channel {
                group: GROUP,
                source: None,
            },
            5030,
            Iface::lookup("eth0")?,
        )
    })??;
    excluding.block(IpAddr::V4(SOURCE))?;
    let link = capture(&mgmd.lab, 1)?;
    let listener = mgmd.listen(Host::Receiver(2), GROUP, PACKETS, 30.0)?;
    wait_for("both IGMP memberships", Duration::from_secs(10), || {
        let rows = mgmd.groups()?;
        let excluded = rows
            .iter()
            .any(|r| r.group == GROUP && r.iface == "rcv1" && r.excluded == [IpAddr::V4(SOURCE)]);
        let other = rows
            .iter()
            .any(|r| r.group == GROUP && r.iface == "rcv2" && r.protocol == "igmp");
        Ok((excluded && other).then_some(()))
    })?;
    mgmd.send(Host::Source, GROUP, PACKETS, 0)?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(PACKETS.into()),
        "rcv2 gets the whole flow: {:?}",
        received.seqs
    );
    // mgmd sent every packet to rcv2 and rcv1 at once: a copy for rcv1 has arrived by now.
    let leaked = count_flow(&link)?;
    ensure!(
        leaked == 0,
        "{leaked} packets of the excluded source reached rcv1; mgmd counters {:?}",
        mgmd.stats()?
    );
    let oifs = mgmd.oifs(SOURCE, GROUP)?;
    ensure!(
        oifs == ["rcv2"],
        "the MGM's entry agrees with the data plane: {oifs:?}"
    );
    Ok(())
}
