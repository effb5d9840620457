//! Root lab test of the MGM API's statistics records (`MgmGetMfeStats`, protocol.md §6) against
//! `mgmctl show mfe`: real packets through the router, the counters of both read from mgmd.
mod support;

use anyhow::{bail, Context as _, Result};
use mgm_user::{
    api::proto::{ApiRecord, MfeRow, Request, Response},
    lab::{Host, Lab},
};
use std::{net::Ipv4Addr, time::Duration};
use support::{interfaces, wait_for, Mgmd, NO_IGMP, TTL};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 8, 9);
/// Packets the source sends.
const PACKETS: u32 = 60;

/// Per outgoing interface (ifindex): copies sent and copies dropped.
type OifCounts = Vec<(u32, u64, u64)>;

/// What `show mfe` counts for the entry per outgoing interface, `None` before it exists.
fn shown(mgmd: &Mgmd, ifindex_of: &dyn Fn(&str) -> Result<u32>) -> Result<Option<OifCounts>> {
    let Some(row): Option<MfeRow> = mgmd.mfe(SOURCE, GROUP)? else {
        return Ok(None);
    };
    let counts = row
        .oifs
        .iter()
        .map(|o| Ok((ifindex_of(&o.iface)?, o.packets, o.drops)))
        .collect::<Result<_>>()?;
    Ok(Some(counts))
}

/// What the `_EX` record of `MgmGetMfeStats` counts per outgoing interface, with its
/// `ulTotalOutPackets`.
fn reported(mgmd: &Mgmd) -> Result<(OifCounts, u32)> {
    let request = Request::GetMfeStats {
        source: SOURCE.into(),
        group: GROUP.into(),
        buffer_size: 4096,
        flags: 2,
        family: None,
    };
    let Response::Buffer { entries, .. } = mgmd.call(&request)? else {
        bail!("not a buffer answer");
    };
    let Some(ApiRecord::MfeStats(record)) = entries.first() else {
        bail!("no stats record: {entries:?}");
    };
    let total = record.extended.context("an _EX record")?.total_out_packets;
    let oifs = record
        .oifs
        .iter()
        .map(|o| {
            (
                o.ifindex,
                u64::from(o.out_packets),
                u64::from(o.out_discards),
            )
        })
        .collect();
    Ok((oifs, total))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_stats_records_out_discards_are_the_copies_show_mfe_counts_as_dropped() -> Result<()> {
    // rcv2's TTL threshold is above the copies' TTL: every copy for it is dropped there, those
    // of the held first packets included.
    let rcv2 = format!("{NO_IGMP}\nttl_threshold = {}", TTL + 10);
    let config = format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\", \"rcv2\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP), ("rcv2", &rcv2)])
    );
    let mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    let rows = mgmd.interfaces()?;
    let ifindex_of = |name: &str| -> Result<u32> {
        Ok(rows
            .iter()
            .find(|r| r.name == name)
            .with_context(|| format!("no interface {name}"))?
            .ifindex)
    };
    let (rcv1, rcv2) = (ifindex_of("rcv1")?, ifindex_of("rcv2")?);
    mgmd.send(Host::Source, GROUP, PACKETS, 2)?;

    // The stats calls' counters may be a second old: once every packet is counted, they come
    // to equal what `show mfe` reads.
    let mut last = None;
    let agreed = wait_for(
        "the API's counters to equal show mfe's, every packet counted",
        Duration::from_secs(30),
        || {
            let Some(shown) = shown(&mgmd, &ifindex_of)? else {
                return Ok(None);
            };
            let (oifs, total) = reported(&mgmd)?;
            let all_sent = shown
                .iter()
                .any(|&(i, packets, _)| i == rcv1 && packets == u64::from(PACKETS));
            let settled = all_sent && oifs == shown;
            last = Some((shown, oifs.clone(), total));
            Ok(settled.then_some((oifs, total)))
        },
    );
    let (oifs, total) = agreed.with_context(|| format!("(show mfe, API, total): {last:?}"))?;
    println!("per outgoing interface (ifindex, sent, dropped): {oifs:?}; total out {total}");
    let sent: u64 = oifs.iter().map(|&(_, packets, _)| packets).sum();
    assert_eq!(
        u64::from(total),
        sent,
        "ulTotalOutPackets counts sent copies"
    );
    // The flow's first packets were held while its entry was created: their copies for rcv2
    // count as its drops too, as the fast path's do.
    let held_dropped = mgmd.stats()?.get("hold_copies_dropped").copied();
    assert!(
        held_dropped.is_some_and(|n| n > 0),
        "the first packets were held and their copies for rcv2 dropped: {held_dropped:?}"
    );
    assert_eq!(
        oifs.iter().find(|&&(i, _, _)| i == rcv2),
        Some(&(rcv2, 0, u64::from(PACKETS))),
        "nothing goes out of rcv2, every copy for it counts as dropped: {oifs:?}"
    );
    Ok(())
}
