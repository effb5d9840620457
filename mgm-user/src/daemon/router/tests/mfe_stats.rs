//! The `MgmGetMfeStats` calls through the API dispatch: a call reads the counters of the entries
//! its buffer can hold, never the whole table; the records carry the fast path's counters; and
//! the periodic walk's slices.
use super::api_connection::ApiConnection;
use super::*;
use crate::{
    api::proto::{ApiRecord, Request},
    daemon::api_calls::MAX_API_BUFFER,
};

#[test]
fn a_stats_call_reads_the_counters_its_buffer_can_hold_and_never_the_whole_table() {
    const FLOWS: u8 = 40;
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    let groups: Vec<Ipv4Addr> = (0..FLOWS).map(|i| Ipv4Addr::new(239, 7, 1, i)).collect();
    for group in &groups {
        miss_of(&mut core, Sg::new(sg().source, *group), UP0, t0);
    }
    let mut api = ApiConnection::new();
    let mut call = |core: &mut Core, request, now| match api.call(core, request, now) {
        Response::Buffer {
            status,
            buffer_size,
            num_entries,
            ..
        } => (status, buffer_size, num_entries),
        other => panic!("not a buffer answer: {other:?}"),
    };
    let reads = |core: &Core| core.backend.stats_reads.get();

    // One record at a time: the first call says how much room a record needs.
    let first = |buffer_size| Request::GetFirstMfeStats {
        buffer_size,
        flags: 0,
        family: None,
    };
    let before = reads(&core);
    let (status, record, _) = call(&mut core, first(1), t0);
    assert_eq!(status, mgm::win32::ERROR_INSUFFICIENT_BUFFER);
    assert_eq!(
        reads(&core) - before,
        1,
        "a buffer without room reads one entry"
    );
    let before = reads(&core);
    let (mut status, _, mut walked) = call(&mut core, first(record), t0);
    // A record without outgoing interfaces is the smallest: one record's room reads two.
    assert_eq!(reads(&core) - before, 2);
    // Ordered by group: the call after group i continues from it.
    for group in &groups {
        if status == mgm::win32::ERROR_NO_MORE_ITEMS {
            break;
        }
        assert_eq!(status, mgm::win32::ERROR_MORE_DATA);
        let next = Request::GetNextMfeStats {
            source: sg().source.into(),
            group: (*group).into(),
            buffer_size: record,
            flags: 0,
            family: None,
        };
        let before = reads(&core);
        let (s, _, n) = call(&mut core, next, t0);
        assert!(
            reads(&core) - before <= 2,
            "one record's room reads at most two"
        );
        (status, walked) = (s, walked + n);
    }
    assert_eq!(
        (status, walked),
        (mgm::win32::ERROR_NO_MORE_ITEMS, u32::from(FLOWS))
    );
    // The largest buffer holds every entry here: each is read once.
    let before = reads(&core);
    let (_, _, n) = call(&mut core, first(MAX_API_BUFFER), t0);
    assert_eq!(n, u32::from(FLOWS));
    assert_eq!(reads(&core) - before, usize::from(FLOWS));
}

#[test]
fn the_periodic_walk_reads_at_most_its_budget_per_step_and_every_entry_once() {
    const FLOWS: u8 = 40;
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    for i in 0..FLOWS {
        miss_of(
            &mut core,
            Sg::new(sg().source, Ipv4Addr::new(239, 7, 1, i)),
            UP0,
            t0,
        );
    }
    let refreshes = core.counters()["stats_refreshes"];
    let reads_before = core.backend.stats_reads.get();
    let mut walk = crate::daemon::router::StatsWalk::default();
    let mut reads_per_step = Vec::new();
    loop {
        let before = core.backend.stats_reads.get();
        let done = core.stats_walk_step(&mut walk, t0, 16);
        reads_per_step.push(core.backend.stats_reads.get() - before);
        assert_eq!(
            core.counters()["stats_refreshes"],
            refreshes + u64::from(done),
            "a walk counts as a refresh once it is done"
        );
        if done || reads_per_step.len() > 4 {
            break;
        }
    }
    assert_eq!(reads_per_step, [16, 16, 8]);
    assert_eq!(
        core.backend.stats_reads.get() - reads_before,
        usize::from(FLOWS),
        "each entry's counters read once by the walk"
    );
}

#[test]
fn the_records_give_each_outgoing_interfaces_dropped_copies_as_its_out_discards() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    miss(&mut core, UP0, t0);
    let oif = |packets, drops| OifStats {
        packets,
        bytes: packets * 100,
        drops,
    };
    // rcv2's rules (a TTL threshold, its MTU) dropped 6 of the 10 copies.
    let stats = MfeStats {
        packets: 10,
        bytes: 1000,
        oifs: vec![(RCV1, oif(10, 0)), (RCV2, oif(4, 6))],
        ..MfeStats::default()
    };
    core.backend.stats.insert(key_of(sg()), stats);
    let shown: Vec<(String, u64)> = core.mfes()[0]
        .oifs
        .iter()
        .map(|o| (o.iface.clone(), o.drops))
        .collect();
    assert_eq!(shown, [("rcv1".to_owned(), 0), ("rcv2".to_owned(), 6)]);

    let mut api = ApiConnection::new();
    for flags in [0, 2] {
        let request = Request::GetMfeStats {
            source: sg().source.into(),
            group: sg().group.into(),
            buffer_size: MAX_API_BUFFER,
            flags,
            family: None,
        };
        let Response::Buffer { entries, .. } = api.call(&mut core, request, t0) else {
            panic!("not a buffer answer");
        };
        let [ApiRecord::MfeStats(record)] = entries.as_slice() else {
            panic!("one stats record: {entries:?}");
        };
        let discards: Vec<(u32, u32)> = record
            .oifs
            .iter()
            .map(|o| (o.ifindex, o.out_discards))
            .collect();
        assert_eq!(discards, [(RCV1, 0), (RCV2, 6)], "flags {flags}");
        // Sent copies only: the dropped ones are not in the total.
        let total = record.extended.map(|e| e.total_out_packets);
        assert_eq!(total, (flags == 2).then_some(14), "{record:?}");
    }
}

#[test]
fn the_packets_mgmd_held_and_sent_on_still_count_after_a_restart() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    // Three packets held for the entry, sent on when it came; the fast path counted 10 more.
    core.io
        .punted
        .extend([(UP0, frame()), (UP0, frame()), (UP0, frame())]);
    core.drain_punts(t0);
    miss(&mut core, UP0, t0);
    let oif = |packets| OifStats {
        packets,
        bytes: packets * 28,
        drops: 0,
    };
    let fast = MfeStats {
        packets: 10,
        bytes: 280,
        oifs: vec![(RCV1, oif(10)), (RCV2, oif(10))],
        ..MfeStats::default()
    };
    core.backend.stats.insert(key_of(sg()), fast);
    let counts = |core: &mut Core| {
        let row = core.mfes().remove(0);
        let oifs: Vec<(String, u64, u64)> = row
            .oifs
            .iter()
            .map(|o| (o.iface.clone(), o.packets, o.bytes))
            .collect();
        (row.packets, row.bytes, oifs)
    };
    let before = counts(&mut core);
    assert_eq!((before.0, before.1), (13, 13 * 28));

    // mgmd is killed; the next one adopts the entry from the data plane.
    let backend = std::mem::take(&mut core.backend);
    let t1 = t0 + Duration::from_secs(1);
    let mut restarted = core_with(config(&["rcv1", "rcv2"]), backend, t1);
    assert_eq!(counts(&mut restarted), before, "no counter went down");
    // Nor once the adopted entry is the MGM's again.
    restarted.tick(t1 + Duration::from_secs(12));
    assert_eq!(restarted.mfes()[0].origin, "static");
    assert_eq!(counts(&mut restarted), before);
}

#[test]
fn a_packet_sent_on_before_its_entry_is_installed_is_kept_once_it_is() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    // The creation alert is read before the punted packet: the packet is read, and sent on,
    // after the MGM's decision and before the install.
    core.io.punted.push((UP0, frame()));
    miss(&mut core, UP0, t0);
    assert_eq!(core.counters()["hold_delivered"], 1);
    let kept = core.backend.held.get(&key_of(sg())).copied();
    assert_eq!(kept.map(|held| held.packets), Some(1));
}
