//! The built-in `kernel` protocol in the core: the kernel's routes on mirrored interfaces
//! become MGM entries in the backend, follow the kernel's changes, and leave with them.
use super::*;
use crate::daemon::mirror::mfc::{MfcEntry, MfcEvent};

/// up0, rcv1 and rcv2, all mirrored (IGMP left to the routes' owner).
fn mirror_core(t0: Instant) -> Core {
    let text = "[[interface]]\nname = \"up0\"\n\n[[interface]]\nname = \"rcv1\"\n\n\
                [[interface]]\nname = \"rcv2\"\n\n[mirror]\nenabled = true\n";
    core(Config::parse(text, "test").expect("valid"), t0)
}

fn kernel_route(sg: Sg, iif: u32, oifs: &[u32]) -> MfcEntry {
    MfcEntry {
        sg,
        table: 253,
        iif: Some(iif),
        oifs: oifs.iter().map(|&o| (o, 1)).collect(),
        unresolved: false,
    }
}

fn entry(core: &Core, sg: Sg) -> Option<(u32, Vec<u32>)> {
    core.backend
        .entries
        .get(&key_of(sg))
        .map(|e| (e.iif, e.oifs.clone()))
}

#[test]
fn a_kernel_route_becomes_an_entry_of_the_kernel_protocol() {
    let t0 = Instant::now();
    let mut core = mirror_core(t0);
    assert!(core.backend.ifaces.values().all(|i| i.mirrored));
    assert!(core.interfaces().iter().all(|i| i.owner == "kernel"));
    core.mirror_dumped(vec![kernel_route(sg(), UP0, &[RCV1, RCV2])], t0);
    assert_eq!(entry(&core, sg()), Some((UP0, vec![RCV1, RCV2])));
    let rows = core.mfes();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].iif.as_str(), rows[0].origin.as_str()),
        ("up0", "kernel")
    );
    let counters = core.counters();
    assert_eq!(
        (
            counters["mirror_entries_now"],
            counters["mirror_kernel_entries_now"]
        ),
        (1, 1)
    );
}

#[test]
fn list_and_incoming_interface_changes_follow_the_kernel_and_removals_leave_xdp() {
    let t0 = Instant::now();
    let mut core = mirror_core(t0);
    let other = Sg::new(sg().source, Ipv4Addr::new(239, 7, 0, 2));
    core.mirror_dumped(
        vec![
            kernel_route(sg(), UP0, &[RCV1, RCV2]),
            kernel_route(other, UP0, &[RCV1]),
        ],
        t0,
    );
    let writes = core.backend.writes[&key_of(other)];
    core.mirror_event(MfcEvent::Added(kernel_route(sg(), UP0, &[RCV2])), t0);
    assert_eq!(
        entry(&core, sg()),
        Some((UP0, vec![RCV2])),
        "pruned in place"
    );
    core.mirror_event(MfcEvent::Added(kernel_route(sg(), UP0, &[RCV1, RCV2])), t0);
    assert_eq!(entry(&core, sg()), Some((UP0, vec![RCV1, RCV2])), "grafted");
    assert_eq!(
        core.backend.writes[&key_of(other)],
        writes,
        "the other group of the source is untouched by list changes"
    );
    core.mirror_event(MfcEvent::Added(kernel_route(sg(), RCV1, &[UP0, RCV2])), t0);
    assert_eq!(
        entry(&core, sg()),
        Some((RCV1, vec![UP0, RCV2])),
        "new incoming interface"
    );
    assert_eq!(
        entry(&core, other),
        Some((UP0, vec![RCV1])),
        "made again at once"
    );
    core.mirror_event(MfcEvent::Removed(sg(), 253), t0);
    assert_eq!(entry(&core, sg()), None, "the kernel forwards it again");
    assert!(core.mgm.mfe(sg()).is_none());
    // A dump without the other entry removes it too.
    core.mirror_dumped(Vec::new(), t0);
    assert_eq!(entry(&core, other), None);
    assert_eq!(core.counters()["mirror_entries_now"], 0);
}

#[test]
fn what_xdp_cannot_forward_exactly_stays_with_the_kernel() {
    let t0 = Instant::now();
    let mut core = mirror_core(t0);
    const PIMREG: u32 = 9;
    let wildcard = Sg::new(Ipv4Addr::UNSPECIFIED, sg().group);
    let registering = Sg::new(Ipv4Addr::new(10, 0, 0, 2), sg().group);
    let mut threshold = kernel_route(Sg::new(Ipv4Addr::new(10, 0, 0, 3), sg().group), UP0, &[]);
    threshold.oifs = vec![(RCV1, 16)];
    core.mirror_dumped(
        vec![
            kernel_route(wildcard, UP0, &[RCV1]),
            kernel_route(registering, UP0, &[RCV1, PIMREG]),
            threshold,
            kernel_route(Sg::new(Ipv4Addr::new(10, 0, 0, 4), sg().group), UP0, &[UP0]),
        ],
        t0,
    );
    assert!(core.backend.entries.is_empty());
    assert_eq!(core.counters()["mirror_kernel_only_now"], 4);
}

#[test]
fn an_interface_leaving_service_takes_its_routes_out_of_xdp_and_back_on_return() {
    let t0 = Instant::now();
    let mut core = mirror_core(t0);
    core.mirror_dumped(vec![kernel_route(sg(), UP0, &[RCV1, RCV2])], t0);
    core.link_changed(link("rcv2", RCV2, false), t0);
    assert_eq!(
        entry(&core, sg()),
        None,
        "the kernel's route uses an interface out of service"
    );
    core.link_changed(link("rcv2", RCV2, true), t0);
    assert_eq!(entry(&core, sg()), Some((UP0, vec![RCV1, RCV2])));
}

#[test]
fn after_a_restart_the_first_dump_keeps_the_kernels_routes_and_drops_the_others() {
    let t0 = Instant::now();
    let text = "[[interface]]\nname = \"up0\"\n\n[[interface]]\nname = \"rcv1\"\n\n\
                [[interface]]\nname = \"rcv2\"\n\n[mirror]\nenabled = true\n";
    let mut backend = FakeBackend::default();
    let gone = Sg::new(Ipv4Addr::new(10, 0, 0, 2), sg().group);
    for key in [sg(), gone] {
        let entry = FakeEntry {
            iif: UP0,
            oifs: vec![RCV1, RCV2],
            hold: false,
        };
        backend.entries.insert(key_of(key), entry);
    }
    let mut core = core_with(Config::parse(text, "test").expect("valid"), backend, t0);
    assert_eq!(
        core.backend.entries.len(),
        2,
        "untouched until the first dump"
    );
    let writes = core.backend.writes.get(&key_of(sg())).copied().unwrap_or(0);
    core.mirror_dumped(vec![kernel_route(sg(), UP0, &[RCV1, RCV2])], t0);
    assert_eq!(entry(&core, sg()), Some((UP0, vec![RCV1, RCV2])));
    assert_eq!(entry(&core, gone), None, "no kernel route any more");
    assert_eq!(
        core.mfes()[0].origin,
        "kernel",
        "the MGM knows the kept one"
    );
    assert!(
        core.backend.writes[&key_of(sg())] <= writes + 1,
        "at most rewritten in place"
    );
}

#[test]
fn an_ipv6_kernel_route_of_table6_becomes_an_entry_of_the_ipv6_kernel_protocol() {
    use crate::daemon::router::family::Family;
    use std::net::Ipv6Addr;
    let t0 = Instant::now();
    let mut core = mirror_core(t0);
    let sg6 = Sg::new(
        "2001:db8::1".parse::<Ipv6Addr>().unwrap(),
        "ff0e::1".parse().unwrap(),
    );
    let route = |table| MfcEntry {
        sg: sg6,
        table,
        iif: Some(UP0),
        oifs: vec![(RCV1, 1)],
        unresolved: false,
    };
    // ipmr's table is not ip6mr's: an entry of table 253 stays with the kernel.
    core.mirror_dumped6(vec![route(253)], t0);
    assert!(core.backend.v6.entries.is_empty());
    core.mirror_event6(MfcEvent::Added(route(254)), t0);
    let entry = core.backend.v6.entries.get(&Ipv6Addr::key(sg6)).cloned();
    assert_eq!(entry.map(|e| (e.iif, e.oifs)), Some((UP0, vec![RCV1])));
    let rows = core.mfes();
    assert_eq!(
        (rows.len(), rows[0].iif.as_str(), rows[0].origin.as_str()),
        (1, "up0", "kernel")
    );
    let counters = core.counters();
    assert_eq!(
        (
            counters["mirror6_entries_now"],
            counters["mirror_entries_now"]
        ),
        (1, 0)
    );
    core.mirror_event6(MfcEvent::Removed(sg6, 254), t0);
    assert!(core.backend.v6.entries.is_empty(), "removed with the route");
}

#[test]
fn a_kernel_route_removed_takes_its_entry_alone_out_of_xdp() {
    const ROUTES: u16 = 1500;
    let t0 = Instant::now();
    let mut core = mirror_core(t0);
    // Many groups of one source, as smcroute makes them from a (*,G) route.
    let sgs: Vec<Sg> = (0..ROUTES)
        .map(|i| {
            let [hi, lo] = i.to_be_bytes();
            Sg::new(sg().source, Ipv4Addr::new(239, 7, hi, lo))
        })
        .collect();
    let routes = sgs.iter().map(|&sg| kernel_route(sg, UP0, &[RCV1]));
    core.mirror_dumped(routes.collect(), t0);
    let writes =
        |core: &Core| -> usize { sgs.iter().map(|sg| core.backend.writes[&key_of(*sg)]).sum() };
    let before = writes(&core);
    // The kernel removes them route by route (smcroute's flush), all but the last.
    let (removed, [kept]) = sgs.split_at(sgs.len() - 1) else {
        unreachable!()
    };
    for &sg in removed {
        core.mirror_event(MfcEvent::Removed(sg, 253), t0);
    }
    assert_eq!(
        writes(&core) - before,
        removed.len(),
        "one delete per removed route: the source's other entries are not made again"
    );
    assert_eq!(entry(&core, *kept), Some((UP0, vec![RCV1])));
    assert!(removed.iter().all(|&sg| entry(&core, sg).is_none()));
}
