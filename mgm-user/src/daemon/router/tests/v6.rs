//! IPv6 through the core: the IPv6 MGM beside the IPv4 one, its static routes, creation in hold
//! mode, the wrong-interface path, backend retries and interfaces leaving service.
use super::*;
use crate::{config::StaticRoute, daemon::router::family::Family};
use std::net::Ipv6Addr;

fn sg6() -> Sg<Ipv6Addr> {
    Sg::new("2001:db8::1".parse().unwrap(), "ff0e::7:1".parse().unwrap())
}

/// up0, rcv1 and rcv2 with an any-source IPv6 route from up0 for ff0e::7:0/112 to
/// `routes_to` beside the IPv4 route of [`config`].
fn config6(routes_to: &[&str]) -> Config {
    let to: Vec<String> = routes_to.iter().map(|n| format!("{n:?}")).collect();
    let route = format!(
        "[[route]]\nfrom = \"up0\"\ngroup = \"ff0e::7:0/112\"\nto = [{}]\n",
        to.join(", ")
    );
    config_with(&["rcv2"], "", &route)
}

fn report6(core: &mut Core, sg: Sg<Ipv6Addr>, ifindex: u32, miss: bool, now: Instant) {
    let (sg, header) = (Ipv6Addr::key(sg), vec![0x60; 40]);
    let report = match miss {
        true => DataPlaneReport::Miss6 {
            sg,
            ifindex,
            header,
        },
        false => DataPlaneReport::WrongIf6 {
            sg,
            ifindex,
            header,
        },
    };
    core.report(report, now);
}

/// The backend's IPv6 entry for `sg`.
fn entry6(core: &Core, sg: Sg<Ipv6Addr>) -> Option<FakeEntry> {
    core.backend.v6.entries.get(&Ipv6Addr::key(sg)).cloned()
}

fn words(text: &str) -> StaticRoute {
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    StaticRoute::parse_words(&words).expect("route")
}

#[test]
fn a_static_ipv6_route_creates_the_entry_in_hold_mode_from_any_source_without_a_rib() {
    let t0 = Instant::now();
    let mut core = core(config6(&["rcv1", "rcv2"]), t0);
    // No IPv6 RIB route to the source: the route's inbound interface decides (smcroute).
    report6(&mut core, sg6(), UP0, true, t0);
    let created = FakeEntry {
        iif: UP0,
        oifs: vec![RCV1, RCV2],
        hold: true,
    };
    assert_eq!(entry6(&core, sg6()), Some(created.clone()));
    assert!(core.backend.entries.is_empty(), "nothing in the IPv4 table");
    assert_eq!(differences(&core), Vec::<String>::new());
    // The hold mode ends once the punt path is quiet.
    core.tick(t0 + HOLD_QUIET);
    assert_eq!(
        entry6(&core, sg6()),
        Some(FakeEntry {
            hold: false,
            ..created
        })
    );
    // Another source of the group forwards as well; a group outside the route is dropped by
    // a negative entry, which never holds.
    let other = Sg::new("2001:db8:9::5".parse().unwrap(), sg6().group);
    report6(&mut core, other, UP0, true, t0);
    assert_eq!(entry6(&core, other).map(|e| e.oifs), Some(vec![RCV1, RCV2]));
    let unrouted = Sg::new(sg6().source, "ff0e::8:1".parse().unwrap());
    report6(&mut core, unrouted, UP0, true, t0);
    let negative = entry6(&core, unrouted).expect("negative entry");
    assert!(negative.oifs.is_empty() && !negative.hold);
    // The IPv4 route stays IPv4: an IPv4 flow gets its own entry in the IPv4 table.
    miss(&mut core, UP0, t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV2])));
    assert_eq!(core.backend.v6.entries.len(), 3);
}

#[test]
fn a_first_ipv6_packet_on_another_interface_still_creates_the_routes_entry_and_later_copies_are_wrong_if(
) {
    let t0 = Instant::now();
    let mut core = core(config6(&["rcv1"]), t0);
    report6(&mut core, sg6(), RCV2, true, t0);
    assert_eq!(
        entry6(&core, sg6()).map(|e| (e.iif, e.oifs)),
        Some((UP0, vec![RCV1]))
    );
    let writes = core.backend.v6.writes[&Ipv6Addr::key(sg6())];
    report6(&mut core, sg6(), RCV2, false, t0);
    assert_eq!(
        core.backend.v6.writes[&Ipv6Addr::key(sg6())],
        writes,
        "a wrong-interface copy changes nothing"
    );
    assert_eq!(entry6(&core, sg6()).map(|e| e.iif), Some(UP0));
}

#[test]
fn a_failed_ipv6_install_is_retried_until_the_backend_holds_the_entry() {
    let t0 = Instant::now();
    let mut core = core(config6(&["rcv1"]), t0);
    core.backend.failing.insert(Op::Install);
    report6(&mut core, sg6(), UP0, true, t0);
    assert_eq!(entry6(&core, sg6()), None);
    assert_eq!(core.counters()["backend_unsynced_now"], 1);
    assert_eq!(differences(&core), ["(2001:db8::1, ff0e::7:1) missing"]);
    core.backend.failing.clear();
    let retry = core.next_timer().expect("a retry is due");
    core.tick(retry);
    assert_eq!(entry6(&core, sg6()).map(|e| e.oifs), Some(vec![RCV1]));
    assert_eq!(core.counters()["backend_repaired"], 1);
    assert_eq!(differences(&core), Vec::<String>::new());
}

#[test]
fn ipv6_routes_added_and_removed_at_run_time_change_existing_entries_in_place() {
    let t0 = Instant::now();
    let mut core = core(config6(&["rcv1"]), t0);
    report6(&mut core, sg6(), UP0, true, t0);
    let added = words("up0 2001:db8::1 ff0e::7:1 rcv2");
    assert_eq!(core.add_route(added.clone()), Response::Ok);
    assert_eq!(entry6(&core, sg6()).map(|e| e.oifs), Some(vec![RCV1, RCV2]));
    assert!(core
        .routes()
        .iter()
        .any(|r| r == "up0 2001:db8::1/128 ff0e::7:1/128 rcv2"));
    assert_ne!(
        core.add_route(added.clone()),
        Response::Ok,
        "exists already"
    );
    assert_eq!(core.remove_route(&added), Response::Ok);
    assert_eq!(entry6(&core, sg6()).map(|e| e.oifs), Some(vec![RCV1]));
    assert_ne!(core.remove_route(&added), Response::Ok, "gone already");
    // An outgoing interface leaving service leaves the entry in place without it; the
    // incoming one takes the entry with it.
    core.link_removed("rcv1", t0);
    assert_eq!(entry6(&core, sg6()).map(|e| e.oifs), Some(vec![]));
    core.link_removed("up0", t0);
    assert_eq!(entry6(&core, sg6()), None);
    assert_eq!(differences(&core), Vec::<String>::new());
}

/// An Ethernet frame carrying an IPv6 UDP packet of [`sg6`] with hop limit `hops` and
/// `number` in its payload, to tell packets apart.
fn frame6(number: u16, hops: u8) -> Vec<u8> {
    let mut f = vec![0x33, 0x33, 0, 7, 0, 1, 2, 2, 2, 2, 2, 2, 0x86, 0xdd];
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 10, 17, hops]);
    f.extend_from_slice(&sg6().source.octets());
    f.extend_from_slice(&sg6().group.octets());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&number.to_be_bytes());
    f
}

#[test]
fn held_ipv6_packets_leave_in_order_with_the_hop_limit_decremented_and_stray_or_expiring_ones_do_not(
) {
    let t0 = Instant::now();
    let mut core = core(config6(&["rcv1", "rcv2"]), t0);
    // Packets 1 to 6 of the flow arrive before its entry exists: 2 is a stray copy on rcv2,
    // 4 has hop limit 1.
    let arrivals = [
        (UP0, 1, 64),
        (RCV2, 2, 64),
        (UP0, 3, 64),
        (UP0, 4, 1),
        (UP0, 5, 2),
    ];
    core.io
        .punted
        .extend(arrivals.map(|(ifindex, n, hops)| (ifindex, frame6(n, hops))));
    core.drain_punts(t0);
    assert!(core.io.sent.is_empty(), "nothing leaves before the entry");
    report6(&mut core, sg6(), UP0, true, t0);
    // In hold mode, a packet punted after the install is sent on at once, after the others.
    core.io.punted.push((UP0, frame6(6, 64)));
    core.drain_punts(t0);
    let sent: Vec<(u32, u16, u8)> = core
        .io
        .sent
        .iter()
        .map(|(oif, f)| {
            assert_eq!(f[6..12], link("", *oif, true).mac, "the outgoing MAC");
            (*oif, u16::from_be_bytes([f[62], f[63]]), f[21])
        })
        .collect();
    let expected: Vec<(u32, u16, u8)> = [(1, 63), (3, 63), (5, 1), (6, 63)]
        .into_iter()
        .flat_map(|(n, hops)| [(RCV1, n, hops), (RCV2, n, hops)])
        .collect();
    assert_eq!(sent, expected);
    let counters = core.counters();
    assert_eq!(
        (counters["hold_wrong_if"], counters["hold_ttl_expired"]),
        (1, 1)
    );
    assert_eq!(core.counters()["hold_queued_now"], 0);
    // show mfe lists the IPv6 entry after the IPv4 ones, with its addresses; its counters
    // include what the hold queues did (the fake fast path counts nothing).
    miss(&mut core, UP0, t0);
    let rows = core.mfes();
    let shown: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.source.to_string(), r.group.to_string()))
        .collect();
    assert_eq!(
        shown,
        [("10.0.0.1", "239.7.0.1"), ("2001:db8::1", "ff0e::7:1")]
            .map(|(s, g)| (s.into(), g.into()))
    );
    let row = &rows[1];
    assert_eq!((row.iif.as_str(), row.origin.as_str()), ("up0", "static"));
    // The packet dropped for its hop limit counts for the entry too (as the fast path's), not
    // for its interfaces.
    assert_eq!((row.packets, row.wrong_if), (5, 1));
    let oifs: Vec<(&str, u64)> = row
        .oifs
        .iter()
        .map(|o| (o.iface.as_str(), o.packets))
        .collect();
    assert_eq!(oifs, [("rcv1", 4), ("rcv2", 4)]);
}

#[test]
fn adopted_ipv6_entries_forward_untouched_through_the_window_then_are_re_derived() {
    let t0 = Instant::now();
    let mut backend = FakeBackend::default();
    let stale = Sg::new(sg6().source, "ff0e::8:1".parse().unwrap());
    for (sg, oifs) in [(sg6(), vec![RCV2]), (stale, vec![RCV1])] {
        let entry = FakeEntry {
            iif: UP0,
            oifs,
            hold: true,
        };
        backend.v6.entries.insert(Ipv6Addr::key(sg), entry);
    }
    let mut core = core_with(config6(&["rcv1"]), backend, t0);
    assert!(
        differences(&core).is_empty(),
        "adopted entries are not extra"
    );
    let adopted = entry6(&core, sg6()).expect("adopted");
    assert_eq!(
        (adopted.oifs, adopted.hold),
        (vec![RCV2], false),
        "forwards by the fast path"
    );
    let window = core.next_timer().expect("reconciliation is due");
    assert_eq!(window, t0 + Duration::from_secs(12));
    core.tick(window);
    assert_eq!(
        entry6(&core, sg6()).map(|e| e.oifs),
        Some(vec![RCV1]),
        "re-derived from the routes"
    );
    assert_eq!(
        entry6(&core, stale).map(|e| e.oifs),
        Some(vec![]),
        "no route: negative until it expires"
    );
    assert!(differences(&core).is_empty());
}

#[test]
fn an_ipv6_entry_lost_from_the_data_plane_is_restored_on_its_next_miss_in_hold_mode() {
    let t0 = Instant::now();
    let mut core = core(config6(&["rcv1"]), t0);
    report6(&mut core, sg6(), UP0, true, t0);
    let t1 = t0 + HOLD_QUIET;
    core.tick(t1);
    assert!(!entry6(&core, sg6()).expect("entry").hold, "handed over");
    core.backend.v6.entries.remove(&Ipv6Addr::key(sg6()));
    report6(&mut core, sg6(), UP0, true, t1);
    let restored = entry6(&core, sg6()).expect("restored");
    assert_eq!((restored.iif, restored.oifs), (UP0, vec![RCV1]));
    assert!(restored.hold, "restored in hold mode");
    assert_eq!(core.counters()["backend_repaired"], 1);
    assert!(differences(&core).is_empty());
    core.tick(t1 + HOLD_QUIET);
    assert!(
        !entry6(&core, sg6()).expect("entry").hold,
        "handed over again"
    );
}
