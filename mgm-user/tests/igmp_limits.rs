//! Root lab test of the bounds on IGMP state in mgmd: a host floods reports beyond the
//! configured `igmp_max_groups` and `igmp_max_sources`; the state stays within them, every
//! refusal is counted, the log says so once per bound, and SIGHUP changes the query interval of
//! the running interface without losing its memberships.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::api::proto::{Request, Response};
use mgm_user::igmp::{IgnoreReason, MessageKind, Snapshot};
use mgm_user::lab::{Host, Lab};
use mgm_user::rawio::{Framing, PacketSocket};
use mgm_user::wire::igmp::{GroupRecordRepr, RecordType, Repr, ALL_V3_ROUTERS};
use std::net::Ipv4Addr;
use std::time::Duration;
use support::{interfaces, wait_for, Mgmd};

const MAX_GROUPS: usize = 3;
const MAX_SOURCES: usize = 40;
/// Sources per report: the first two reports fill `MAX_SOURCES`.
const PER_REPORT: u8 = 20;

fn group(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(239, 30, 0, i)
}

fn config(query_interval_s: u32, response_ms: u32) -> String {
    interfaces(&[(
        "rcv1",
        &format!(
            "igmp_max_groups = {MAX_GROUPS}\nigmp_max_sources = {MAX_SOURCES}\n\
             igmp_query_interval_s = {query_interval_s}\nigmp_query_response_ms = {response_ms}"
        ),
    )])
}

fn igmp(mgmd: &Mgmd) -> Result<Snapshot> {
    match mgmd.call(&Request::ShowIgmp)? {
        Response::Igmp { snapshot } => Ok(serde_json::from_value(snapshot)?),
        other => anyhow::bail!("unexpected answer {other:?}"),
    }
}

/// The reports of the flood, as IPv4 datagrams from the host: six IGMPv3 reports of
/// `PER_REPORT` new sources each for groups 1 to 6, then IGMPv2 reports for groups 7 to 9.
fn flood(host: Ipv4Addr) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 1..=6u8 {
        let sources = (1..=PER_REPORT)
            .map(|s| Ipv4Addr::new(192, 0, 2 + i, s))
            .collect();
        let records = vec![GroupRecordRepr {
            record_type: RecordType::IsInclude,
            group: group(i),
            sources,
        }];
        let report = Repr::ReportV3 { records };
        out.push(report.to_datagram(host, ALL_V3_ROUTERS).expect("report"));
    }
    for i in 7..=9u8 {
        let report = Repr::ReportV2 { group: group(i) };
        out.push(report.to_datagram(host, group(i)).expect("report"));
    }
    out
}

fn count<K: Ord>(map: &std::collections::BTreeMap<K, u64>, key: K) -> u64 {
    map.get(&key).copied().unwrap_or(0)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn bounds_hold_are_counted_and_sighup_retunes_the_queries() -> Result<()> {
    let lab = Lab::star(1)?;
    let mgmd = Mgmd::start_logged(lab, &config(60, 10_000))?;
    let host = Lab::address_of(Host::Receiver(1));
    let host_if = mgmd.lab.ifindex(Host::Receiver(1), "eth0")?;
    let frames = flood(host);
    mgmd.lab
        .in_ns(Host::Receiver(1), || -> std::io::Result<()> {
            let socket = PacketSocket::open(Framing::Cooked, libc::ETH_P_IP as u16)?;
            frames
                .iter()
                .try_for_each(|f| socket.send_to(host_if, [0xff; 6], f))
        })??;

    // mgmd reads the reports in order: once all nine are counted, all were handled.
    let snap = wait_for("the nine reports", Duration::from_secs(30), || {
        let snap = igmp(&mgmd)?;
        let received = &snap.interfaces[0].counters.received;
        let done = count(received, MessageKind::ReportV3) == 6
            && count(received, MessageKind::ReportV2) == 3;
        Ok(done.then_some(snap))
    })?;
    let iface = &snap.interfaces[0];
    let held: Vec<Ipv4Addr> = iface.groups.iter().map(|g| g.group).collect();
    assert_eq!(held, vec![group(1), group(2), group(7)], "groups held");
    let sources: usize = iface.groups.iter().map(|g| g.sources.len()).sum();
    assert_eq!(sources, MAX_SOURCES);
    let ignored = &iface.counters.ignored;
    // Groups 3 to 6 brought 4 × 20 sources beyond the bound; groups 8 and 9 one group each.
    assert_eq!(count(ignored, IgnoreReason::SourceLimit), 80, "{ignored:?}");
    assert_eq!(count(ignored, IgnoreReason::GroupLimit), 2, "{ignored:?}");
    let table = mgmd.mgmctl_ok(&["show", "igmp"])?;
    ensure!(
        table.contains("state: 3 of 3 groups, 40 of 40 sources")
            && table.contains("GroupLimit 2, SourceLimit 80"),
        "mgmctl show igmp:\n{table}"
    );
    let members = |mgmd: &Mgmd| -> Result<usize> {
        let rows = mgmd.groups()?;
        Ok(rows.iter().filter(|r| r.protocol == "igmp").count())
    };
    assert_eq!(
        members(&mgmd)?,
        MAX_SOURCES + 1,
        "(S,G) joins and one (*,G)"
    );

    // One log line per bound (the query interval has not passed since the first refusal).
    let log = mgmd.log_path().context("log")?.to_owned();
    let notices = wait_for("the refusal notices", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&log)?;
        let lines: Vec<String> = text
            .lines()
            .filter(|l| l.contains("IGMP state bound reached"))
            .map(str::to_owned)
            .collect();
        Ok((lines.len() >= 2).then_some(lines))
    })?;
    assert_eq!(notices.len(), 2, "{notices:?}");
    ensure!(
        notices.iter().all(|l| l.contains("interface=rcv1")),
        "the notices name the interface: {notices:?}"
    );

    // SIGHUP: a 2 s query interval applies to the running interface; nothing is forgotten.
    let sent = |s: &Snapshot| count(&s.interfaces[0].counters.sent, MessageKind::GeneralQuery);
    let before = sent(&igmp(&mgmd)?);
    mgmd.reload(&config(2, 1_000))?;
    wait_for(
        "three general queries at the new interval",
        Duration::from_secs(30),
        || {
            let snap = igmp(&mgmd)?;
            Ok((sent(&snap) >= before + 3).then_some(()))
        },
    )?;
    let snap = igmp(&mgmd)?;
    let iface = &snap.interfaces[0];
    assert_eq!(iface.config.query_interval, Duration::from_secs(2));
    let held_after: Vec<Ipv4Addr> = iface.groups.iter().map(|g| g.group).collect();
    assert_eq!(held_after, held, "memberships kept across the reload");
    ensure!(
        members(&mgmd)? == MAX_SOURCES + 1,
        "MGM memberships kept across the reload"
    );
    Ok(())
}
