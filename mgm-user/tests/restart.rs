//! Root lab tests (restarts): `kill -9` of mgmd under a continuous stream loses and duplicates
//! nothing, for IPv4 and IPv6 flows alike — forwarding goes on from the pinned maps, program
//! and links, and the next mgmd adopts the entries, then re-derives them through the MGM. A
//! young flow, whose entry is still in hold mode (mgmd sends its packets behind the held ones),
//! stays in order through a `kill -9` and through a TERM with `on_stop = "detach"` followed by
//! a new mgmd; what it loses meanwhile is reported.
mod support;

use aya::maps::{HashMap as BpfHashMap, Map, MapData, MapError};
use mgm_common::{MfeValue, SgKey, MFE_FLAG_HOLD};
use mgm_user::{
    dataplane::map_name,
    lab::{Host, Lab, Stack},
};
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};
use support::{interfaces, pinned_map, signal_pid, wait_exited, wait_for, Mgmd, NO_IGMP};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 4, 4, 4);
/// A global-scope IPv6 group.
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 4, 4);
const PACKETS: u32 = 3000;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn kill_9_of_mgmd_loses_and_duplicates_nothing_on_established_flows() -> anyhow::Result<()> {
    established_flow_through_kill_9(Lab::star(2)?, SOURCE, GROUP)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn kill_9_of_mgmd_loses_and_duplicates_nothing_on_established_ipv6_flows() -> anyhow::Result<()> {
    let source = Lab::address6_of(Host::Source).expect("the source's IPv6 address");
    established_flow_through_kill_9(Lab::star_with(2, Stack::Dual)?, source, GROUP6)
}

/// A 3-second stream from `source` to `group` (a static route to both receivers of `lab`)
/// through a `kill -9` of mgmd once XDP forwards it, and a new mgmd: both receivers get every
/// packet once and in order, and the new mgmd re-derives the adopted entry, whose counters
/// count every packet once.
fn established_flow_through_kill_9(
    lab: Lab,
    source: impl Into<IpAddr>,
    group: impl Into<IpAddr>,
) -> anyhow::Result<()> {
    let (source, group) = (source.into(), group.into());
    let config = format!(
        "adopt_window_s = 1\n\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{group}\"\nto = [\"rcv1\", \"rcv2\"]\n",
        interfaces(&[("up0", ""), ("rcv1", ""), ("rcv2", "")])
    );
    let mut mgmd = Mgmd::start(lab, &config)?;
    mgmd.stream_through_kill_9(source, group, PACKETS)?;
    // After the adoption window the new mgmd knows the entry as its own (before, `show mfe`
    // lists it as `adopted`).
    let oifs = wait_for(
        "the adopted entry re-derived",
        Duration::from_secs(30),
        || {
            let derived = mgmd.mfe(source, group)?.filter(|m| m.origin == "static");
            Ok(derived.map(|m| m.oifs.into_iter().map(|o| o.iface).collect::<Vec<_>>()))
        },
    )?;
    assert_eq!(oifs, ["rcv1", "rcv2"]);
    // Its counters went on through the restart, the first packets (held and sent on by the
    // first mgmd) included.
    let entry = mgmd.mfe(source, group)?.expect("the entry");
    let counted: Vec<u64> = entry.oifs.iter().map(|o| o.packets).collect();
    assert_eq!(
        (entry.packets, counted),
        (u64::from(PACKETS), vec![u64::from(PACKETS); 2]),
        "every packet of the stream counted once, for the entry and each interface"
    );
    Ok(())
}

/// The entry of (`source`, `group`) in mgmd's pinned MFE map, read behind its back.
fn pinned_entry(
    mgmd: &Mgmd,
    source: Ipv4Addr,
    group: Ipv4Addr,
) -> anyhow::Result<Option<MfeValue>> {
    let data = MapData::from_pin(pinned_map(&mgmd.lab, map_name::MFES)?)?;
    let mfes: BpfHashMap<MapData, SgKey, MfeValue> = Map::HashMap(data).try_into()?;
    match mfes.get(&SgKey::new(source, group), 0) {
        Ok(value) => Ok(Some(value)),
        Err(MapError::KeyNotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Waits until the new flow to `group` has its entry in the maps in hold mode (its first
/// second, while it sends at least every 10 ms), polling every millisecond.
fn wait_for_hold_mode(mgmd: &Mgmd, group: Ipv4Addr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entry = pinned_entry(mgmd, SOURCE, group)?;
        if entry.is_some_and(|e| e.flags & MFE_FLAG_HOLD != 0) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the young flow's entry never seen in hold mode (now {entry:?})"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs a young flow of `packets` to `group` (one a millisecond) through a restart
/// of mgmd made by `restart` once the flow's entry is in hold mode; returns the sequence
/// numbers the receiver got, after checking that they are in order and each arrived once.
fn young_flow_through(
    group: Ipv4Addr,
    packets: u32,
    on_stop: &str,
    restart: impl FnOnce(&mut Mgmd) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u64>> {
    let config = format!(
        "adopt_window_s = 1\non_stop = \"{on_stop}\"\n\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{group}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    );
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    let listener = mgmd.listen(Host::Receiver(1), group, packets, 30.0)?;
    mgmd.send_in_background(Host::Source, group, packets, 1)?;
    wait_for_hold_mode(&mgmd, group)?;
    restart(&mut mgmd)?;
    let seqs = listener.finish()?.seqs;
    let lost = u64::from(packets) - seqs.len() as u64;
    eprintln!(
        "young flow through a restart ({on_stop}): {} of {packets} delivered, {lost} lost",
        seqs.len()
    );
    let misplaced: Vec<(u64, u64)> = seqs
        .windows(2)
        .filter(|w| w[1] <= w[0])
        .map(|w| (w[0], w[1]))
        .collect();
    anyhow::ensure!(
        misplaced.is_empty(),
        "{} packets out of order or repeated (previous, next): {:?}",
        misplaced.len(),
        &misplaced[..misplaced.len().min(10)]
    );
    // Forwarding went on after the restart.
    anyhow::ensure!(
        seqs.last() == Some(&u64::from(packets - 1)),
        "the flow's last packet never arrived (last: {:?})",
        seqs.last()
    );
    Ok(seqs)
}

/// A young flow's length (3 s) when mgmd's data plane stays in place through the restart.
const YOUNG_PACKETS: u32 = 3000;
/// A young flow's length (10 s) through a restart that detaches the data plane: nothing is
/// forwarded until the new mgmd has created its maps and loaded its programs, which took
/// 1.4–3 s on 2 busy vCPUs, so that a 3 s flow could end before forwarding resumed.
const YOUNG_PACKETS_THROUGH_DETACH: u32 = 10_000;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn kill_9_of_mgmd_while_a_young_flow_is_in_hold_mode_keeps_it_in_order() -> anyhow::Result<()> {
    young_flow_through(Ipv4Addr::new(239, 4, 4, 5), YOUNG_PACKETS, "keep", |mgmd| {
        signal_pid(mgmd.pid(), libc::SIGKILL)?;
        wait_exited(mgmd.pid())?;
        mgmd.spawn_daemon()
    })?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn term_with_detach_and_a_new_mgmd_under_a_young_flow_keeps_it_in_order() -> anyhow::Result<()> {
    young_flow_through(
        Ipv4Addr::new(239, 4, 4, 6),
        YOUNG_PACKETS_THROUGH_DETACH,
        "detach",
        |mgmd| {
            signal_pid(mgmd.pid(), libc::SIGTERM)?;
            wait_exited(mgmd.pid())?;
            mgmd.spawn_daemon()
        },
    )?;
    Ok(())
}
