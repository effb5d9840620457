//! Root lab test of a burst of IGMP reports, as many hosts of one LAN send after a switch comes
//! back: every report is either read by mgmd or counted as dropped by the kernel for want of
//! receive buffer (`igmp_receive_overflow` in `show stats`, logged). The kernel's default
//! buffer lost about 40 % of such a burst without a trace.
mod support;

use anyhow::Result;
use mgm_user::api::proto::{Request, Response};
use mgm_user::igmp::{MessageKind, Snapshot};
use mgm_user::lab::{Host, Lab};
use mgm_user::rawio::{Framing, PacketSocket};
use mgm_user::wire::igmp::{GroupRecordRepr, RecordType, Repr, ALL_V3_ROUTERS};
use std::net::Ipv4Addr;
use std::time::Duration;
use support::{interfaces, wait_for, Mgmd};

/// Reports in the burst.
const REPORTS: u64 = 3000;
/// Group records per report (an any-source join each: a report of nearly a full frame).
const RECORDS: u16 = 150;

/// Report `n` of the burst: joins of groups 239.40.x.y, new ones in each report.
fn report(host: Ipv4Addr, n: u64) -> Vec<u8> {
    let records = (0..RECORDS)
        .map(|r| {
            let g = (n as u32 * u32::from(RECORDS) + u32::from(r)) & 0xffff;
            GroupRecordRepr {
                record_type: RecordType::IsExclude,
                group: Ipv4Addr::new(239, 40, (g >> 8) as u8, g as u8),
                sources: Vec::new(),
            }
        })
        .collect();
    Repr::ReportV3 { records }
        .to_datagram(host, ALL_V3_ROUTERS)
        .expect("report")
}

/// The reports mgmd read on the receiver's interface.
fn read_reports(mgmd: &Mgmd) -> Result<u64> {
    let Response::Igmp { snapshot } = mgmd.call(&Request::ShowIgmp)? else {
        anyhow::bail!("unexpected answer");
    };
    let snapshot: Snapshot = serde_json::from_value(snapshot)?;
    Ok(snapshot.interfaces[0]
        .counters
        .received
        .get(&MessageKind::ReportV3)
        .copied()
        .unwrap_or(0))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn every_report_of_a_burst_is_read_or_counted_as_dropped() -> Result<()> {
    let lab = Lab::star(1)?;
    let mgmd = Mgmd::start_logged(lab, &interfaces(&[("rcv1", "")]))?;
    let host = Lab::address_of(Host::Receiver(1));
    let host_if = mgmd.lab.ifindex(Host::Receiver(1), "eth0")?;
    let frames: Vec<Vec<u8>> = (0..REPORTS).map(|n| report(host, n)).collect();
    mgmd.lab
        .in_ns(Host::Receiver(1), || -> std::io::Result<()> {
            let socket = PacketSocket::open(Framing::Cooked, libc::ETH_P_IP as u16)?;
            for frame in &frames {
                socket.send_to(host_if, [0x01, 0x00, 0x5e, 0, 0, 0x16], frame)?;
                // Paced so that the veth's ring toward the router takes every one.
                std::thread::sleep(Duration::from_micros(50));
            }
            Ok(())
        })??;

    let accounted = |mgmd: &Mgmd| -> Result<(u64, u64)> {
        let dropped = mgmd.stats()?.get("igmp_receive_overflow").copied();
        Ok((read_reports(mgmd)?, dropped.unwrap_or(0)))
    };
    let result = wait_for(
        "every report accounted for",
        Duration::from_secs(60),
        || {
            let (read, dropped) = accounted(&mgmd)?;
            Ok((read + dropped >= REPORTS).then_some((read, dropped)))
        },
    );
    let (read, dropped) = match result {
        Ok(counts) => counts,
        Err(e) => anyhow::bail!("{e}: read and dropped {:?} of {REPORTS}", accounted(&mgmd)?),
    };
    assert_eq!(read + dropped, REPORTS, "read {read}, dropped {dropped}");
    println!("reports read {read}, dropped for want of buffer {dropped}");
    if dropped > 0 {
        assert!(mgmd.log_lines("igmp_receive_overflow")? >= 1, "logged");
    }
    Ok(())
}
