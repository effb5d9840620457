//! The core without root: interface flaps, backend failures, restart reconciliation, reload and
//! the hold handover, over the failure-injecting fake backend and I/O.
use super::{
    fake::{FakeBackend, FakeEntry, FakeIo, Op},
    family::Family,
    punts::DRAIN_MAX,
    RouterCore, HOLD_MAX, HOLD_QUIET,
};
use crate::{
    api::proto::{Event, Response},
    config::Config,
    daemon::{
        hold::{Hold, HoldLimits},
        links::Link,
        routes::{Route, RouteEvent},
    },
    dataplane::{DataPlaneReport, MfeStats, OifStats},
    mgm::{self, Sg},
    wire::ipv4,
};
use mgm_common::SgKey;
use std::{
    net::{IpAddr, Ipv4Addr},
    time::{Duration, Instant},
};

mod addresses;
mod api_connection;
mod backend_retries;
mod forwarding;
mod group_table;
mod handover;
mod hostile_clients;
mod links;
mod mfe_stats;
mod mirror;
mod proxy;
mod reload;
mod v6;

const UP0: u32 = 2;
const RCV1: u32 = 3;
const RCV2: u32 = 4;

type Core = RouterCore<FakeBackend, FakeIo>;

/// The backend key of `sg`.
fn key_of(sg: Sg) -> SgKey {
    Ipv4Addr::key(sg)
}

fn sg() -> Sg {
    Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 7, 0, 1))
}

/// up0, rcv1 and rcv2 without IGMP (`rcv2_keys` added to rcv2's table), and a route from up0
/// for 239.7.0.0/16 to `routes_to`, plus `more_routes` (TOML).
fn config_with(routes_to: &[&str], rcv2_keys: &str, more_routes: &str) -> Config {
    let to: Vec<String> = routes_to.iter().map(|n| format!("{n:?}")).collect();
    let text = format!(
        "[[interface]]\nname = \"up0\"\nigmp = false\n\n\
         [[interface]]\nname = \"rcv1\"\nigmp = false\n\n\
         [[interface]]\nname = \"rcv2\"\nigmp = false\n{rcv2_keys}\n\
         [[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [{}]\n\n{more_routes}",
        to.join(", ")
    );
    Config::parse(&text, "test").expect("valid configuration")
}

fn config(routes_to: &[&str]) -> Config {
    config_with(routes_to, "", "")
}

fn link(name: &str, ifindex: u32, up: bool) -> Link {
    Link {
        name: name.to_owned(),
        ifindex,
        up,
        mac: [2, 0, 0, 0, 0, ifindex as u8],
        mtu: 1500,
    }
}

/// A core over `backend` and `io` with up0, rcv1 and rcv2 in service at `t0`, the sources'
/// network behind up0.
fn core_on(config: Config, backend: FakeBackend, io: FakeIo, t0: Instant) -> Core {
    let hold = Hold::new(HoldLimits::default());
    let mut core = RouterCore::with_parts(config, backend, io, hold, t0).expect("core");
    core.routes_present(vec![source_route(UP0)]);
    for (name, ifindex) in [("up0", UP0), ("rcv1", RCV1), ("rcv2", RCV2)] {
        core.link_changed(link(name, ifindex, true), t0);
    }
    core
}

/// A core over `backend` with up0, rcv1 and rcv2 in service at `t0`.
fn core_with(config: Config, backend: FakeBackend, t0: Instant) -> Core {
    core_on(config, backend, FakeIo::default(), t0)
}

/// An external protocol's id in these tests (PIM-like).
const PIM: u32 = mgm::protocol_id(1, 0, 5);

/// up0 (and rcv2 too if `rcv2_external`) left to an external protocol, rcv1 and rcv2 without
/// IGMP unless left to the protocol, and `routes` (TOML).
fn external_config(rcv2_external: bool, routes: &str) -> Config {
    let rcv2 = if rcv2_external {
        "owner = \"external\"\n"
    } else {
        "igmp = false\n"
    };
    let text = format!(
        "[[interface]]\nname = \"up0\"\nigmp = false\nowner = \"external\"\n\n\
         [[interface]]\nname = \"rcv1\"\nigmp = false\n\n\
         [[interface]]\nname = \"rcv2\"\n{rcv2}\n{routes}"
    );
    Config::parse(&text, "test").expect("valid configuration")
}

/// The static route from up0 for 239.7.0.0/16 to rcv1 (TOML).
const ROUTE_TO_RCV1: &str =
    "[[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [\"rcv1\"]\n";

/// Registers [`PIM`] with `callbacks` and `options` and lets it take up0: its handle and the
/// events it is sent.
fn register_taking_up0(
    core: &mut Core,
    callbacks: mgm::CallbackSet,
    options: mgm::ClientOptions,
) -> (mgm::ProtocolHandle, std::sync::mpsc::Receiver<Event>) {
    let (events, received) = std::sync::mpsc::channel();
    let h = core
        .register_external(PIM, 0, callbacks, options, events)
        .expect("registered");
    let up0 = mgm::IfId::index(UP0);
    let taken = core.external_call(h, |m, now| m.take_interface_ownership(h, up0, now));
    assert_eq!(taken, Response::Ok);
    (h, received)
}

/// The unicast route to the sources' network, behind `ifindex`.
fn source_route(ifindex: u32) -> Route {
    Route {
        network: Ipv4Addr::new(10, 0, 0, 0),
        prefix_len: 24,
        oif: ifindex,
        gateway: Ipv4Addr::UNSPECIFIED,
    }
}

fn core(config: Config, t0: Instant) -> Core {
    core_with(config, FakeBackend::default(), t0)
}

fn miss(core: &mut Core, ifindex: u32, now: Instant) {
    miss_of(core, sg(), ifindex, now);
}

fn miss_of(core: &mut Core, sg: Sg, ifindex: u32, now: Instant) {
    let report = DataPlaneReport::Miss {
        sg: key_of(sg),
        ifindex,
        header: Vec::new(),
    };
    core.report(report, now);
}

/// The backend's entry for [`sg`]: (iif, oifs).
fn entry(core: &Core) -> Option<(u32, Vec<u32>)> {
    core.backend
        .entries
        .get(&key_of(sg()))
        .map(|e| (e.iif, e.oifs.clone()))
}

fn differences(core: &Core) -> Vec<String> {
    core.check().expect("read back").differences
}

/// An Ethernet frame carrying an IPv4 packet of [`sg`] with a valid header checksum.
fn frame() -> Vec<u8> {
    numbered_frame(0)
}

/// [`frame`] with `number` as its IPv4 identification, to tell packets apart.
fn numbered_frame(number: u16) -> Vec<u8> {
    let mut f = vec![0x01, 0, 0x5e, 7, 0, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00];
    let [hi, lo] = number.to_be_bytes();
    let mut ip = vec![
        0x45, 0, 0, 28, hi, lo, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 239, 7, 0, 1,
    ];
    ip.extend_from_slice(&[0; 8]);
    ipv4::Packet::new_checked(ip.as_mut_slice())
        .expect("header")
        .fill_checksum();
    f.extend_from_slice(&ip);
    f
}

#[test]
fn a_failed_install_is_counted_reported_and_retried_until_the_backend_holds_the_entry() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    core.backend.failing.insert(Op::Install);
    miss(&mut core, UP0, t0);
    assert_eq!(entry(&core), None);
    assert_eq!(core.counters()["backend_failures"], 1);
    assert_eq!(core.counters()["backend_unsynced_now"], 1);
    assert_eq!(differences(&core), ["(10.0.0.1, 239.7.0.1) missing"]);
    let retry = core.next_timer().expect("a retry is due");
    assert!(retry <= t0 + Duration::from_millis(100));

    // Still failing: counted again, and the next retry backs off.
    core.tick(retry);
    assert_eq!(core.counters()["backend_failures"], 2);
    let later = core.next_timer().expect("another retry");
    assert!(later >= retry + Duration::from_millis(200));

    core.backend.failing.clear();
    core.tick(later);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])));
    assert_eq!(core.counters()["backend_repaired"], 1);
    assert_eq!(core.counters()["backend_unsynced_now"], 0);
    assert!(differences(&core).is_empty());
}

#[test]
fn a_failed_update_leaves_the_old_entry_known_and_is_retried() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    core.link_changed(link("rcv2", RCV2, false), t0);
    miss(&mut core, UP0, t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])));
    // The new entry's hold mode ends (nothing punted).
    core.tick(t0 + HOLD_QUIET);

    core.backend.failing.extend([Op::Update, Op::Install]);
    core.link_changed(link("rcv2", RCV2, true), t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])), "the old entry stays");
    assert_eq!(
        differences(&core),
        ["(10.0.0.1, 239.7.0.1) differs: MGM in up0 out [rcv1 rcv2] data plane in up0 out [rcv1]"]
    );
    core.backend.failing.clear();
    let retry = core.next_timer().expect("a retry is due");
    core.tick(retry);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, RCV2])));
    assert!(differences(&core).is_empty());
}

#[test]
fn a_failed_delete_is_retried_so_that_nothing_forwards_that_the_mgm_does_not_know() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    miss(&mut core, UP0, t0);
    assert!(entry(&core).is_some());
    core.backend.failing.insert(Op::Delete);
    // The entry expires (no traffic counted): the MGM deletes it, the backend refuses.
    let expiry = core.mgm.next_timeout().expect("the entry expires");
    let at = t0 + Duration::from_millis(expiry.as_millis()) + Duration::from_secs(1);
    core.tick(at);
    assert!(core.mgm.mfe(sg()).is_none());
    assert!(entry(&core).is_some());
    assert_eq!(differences(&core), ["(10.0.0.1, 239.7.0.1) extra"]);
    core.backend.failing.clear();
    let retry = core.next_timer().expect("a retry is due");
    core.tick(retry);
    assert_eq!(entry(&core), None);
    assert!(differences(&core).is_empty());
}

#[test]
fn an_outgoing_interface_that_flaps_leaves_the_entry_and_comes_back_with_new_punt_sockets() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    miss(&mut core, UP0, t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, RCV2])));
    assert_eq!(core.io.punts_opened, 3);
    // The new entry's hold mode ends (nothing punted).
    let t0 = t0 + HOLD_QUIET;
    core.tick(t0);

    // An interface leaving service leaves the entries forwarding to it in place: its
    // static memberships go first, so the entry is updated once, never deleted.
    let writes = core.backend.writes[&key_of(sg())];
    core.link_changed(link("rcv1", RCV1, false), t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV2])));
    assert_eq!(
        core.backend.writes[&key_of(sg())],
        writes + 1,
        "updated in place"
    );
    assert!(!core.io.attached.contains_key("rcv1"));
    assert!(!core.io.punts.contains_key(&RCV1), "punt sockets closed");
    assert!(!core.backend.punt_slots.contains_key(&RCV1));

    // The kernel still releases the old sockets: the first attempt fails, a retry succeeds.
    core.io.punt_open_fails = 1;
    core.link_changed(link("rcv1", RCV1, true), t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, RCV2])));
    assert!(!core.io.punts.contains_key(&RCV1));
    assert_eq!(core.counters()["punt_open_failures"], 1);
    assert_eq!(core.counters()["punt_waiting_now"], 1);
    let retry = core.next_timer().expect("a retry is due");
    assert!(retry <= t0 + Duration::from_millis(20));
    core.tick(retry);
    assert!(core.io.punts.contains_key(&RCV1), "punt sockets reopened");
    assert_eq!(core.counters()["punt_waiting_now"], 0);
    assert_eq!(core.io.punts_opened, 4);
    assert_eq!(
        core.backend.punt_slots.get(&RCV1),
        core.io.punts.get(&RCV1),
        "misses point at the new sockets"
    );
    assert!(differences(&core).is_empty());
}

#[test]
fn an_interface_back_under_a_new_ifindex_is_served_anew_and_the_old_one_forgotten() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    miss(&mut core, UP0, t0);
    core.link_removed("rcv2", t0);
    assert_eq!(
        entry(&core),
        Some((UP0, vec![RCV1])),
        "rcv2 removed in place"
    );
    const NEW: u32 = 9;
    core.link_changed(link("rcv2", NEW, true), t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, NEW])));
    assert!(!core.io.punts.contains_key(&RCV2), "old sockets freed");
    assert!(core.io.punts.contains_key(&NEW));
    assert!(!core.backend.ifaces.contains_key(&RCV2));
    assert!(core.backend.ifaces.contains_key(&NEW));
    assert!(differences(&core).is_empty());
}

#[test]
fn an_incoming_interface_that_flaps_stops_its_entries_and_new_packets_create_them_again() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    miss(&mut core, UP0, t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])));
    core.link_changed(link("up0", UP0, false), t0);
    assert_eq!(entry(&core), None, "its entries are gone");
    assert!(!core.io.punts.contains_key(&UP0));
    assert!(differences(&core).is_empty());

    const NEW: u32 = 11;
    core.route_event(RouteEvent::Removed(source_route(UP0)), t0);
    core.link_changed(link("up0", NEW, true), t0);
    core.route_event(RouteEvent::Added(source_route(NEW)), t0);
    assert!(core.io.punts.contains_key(&NEW));
    let t1 = t0 + Duration::from_secs(1);
    miss(&mut core, NEW, t1);
    assert_eq!(entry(&core), Some((NEW, vec![RCV1])));
    assert!(differences(&core).is_empty());
}

#[test]
fn adopted_entries_forward_untouched_through_the_window_then_are_re_derived() {
    let t0 = Instant::now();
    let mut backend = FakeBackend::default();
    let stale = Sg::new(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(239, 8, 0, 1));
    backend.entries.insert(
        key_of(sg()),
        FakeEntry {
            iif: UP0,
            oifs: vec![RCV1, RCV2],
            hold: false,
        },
    );
    backend.entries.insert(
        key_of(stale),
        FakeEntry {
            iif: UP0,
            oifs: vec![RCV2],
            hold: false,
        },
    );
    // An entry from an interface that is not in service any more.
    let orphan = Sg::new(Ipv4Addr::new(10, 9, 0, 1), Ipv4Addr::new(239, 7, 0, 9));
    backend.entries.insert(
        key_of(orphan),
        FakeEntry {
            iif: 77,
            oifs: vec![RCV1],
            hold: false,
        },
    );
    let mut core = core_with(config(&["rcv1"]), backend, t0);
    assert!(
        differences(&core).is_empty(),
        "adopted entries are not extra"
    );
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, RCV2])));
    // Through the window, `show mfe` lists them as the data plane holds them.
    let shown = |core: &mut Core| -> Vec<(IpAddr, String, String, Vec<String>)> {
        let rows = core.mfes();
        rows.into_iter()
            .filter(|r| r.group == IpAddr::from(sg().group))
            .map(|r| {
                let oifs = r.oifs.into_iter().map(|o| o.iface).collect();
                (r.source, r.iif, r.origin, oifs)
            })
            .collect()
    };
    core.backend.stats.insert(
        key_of(sg()),
        MfeStats {
            oifs: vec![(RCV1, OifStats::default()), (RCV2, OifStats::default())],
            ..MfeStats::default()
        },
    );
    let source = IpAddr::from(sg().source);
    let adopted = (
        source,
        "up0".into(),
        "adopted".into(),
        vec!["rcv1".into(), "rcv2".into()],
    );
    assert_eq!(shown(&mut core), [adopted]);
    let window = core.next_timer().expect("reconciliation is due");
    assert_eq!(window, t0 + Duration::from_secs(12));
    core.tick(window);
    let derived = (source, "up0".into(), "static".into(), vec!["rcv1".into()]);
    assert_eq!(shown(&mut core), [derived], "the MGM's entry replaces it");
    assert_eq!(
        entry(&core),
        Some((UP0, vec![RCV1])),
        "re-derived from the routes"
    );
    let stale_now = core
        .backend
        .entries
        .get(&key_of(stale))
        .map(|e| e.oifs.clone());
    assert_eq!(
        stale_now,
        Some(vec![]),
        "no route: negative until it expires"
    );
    let orphan_now = core
        .backend
        .entries
        .get(&key_of(orphan))
        .map(|e| e.oifs.clone());
    assert!(
        orphan_now.is_none_or(|oifs| oifs.is_empty()),
        "an entry from an interface out of service stops forwarding: {:?}",
        core.backend.entries.get(&key_of(orphan))
    );
    assert!(differences(&core).is_empty());
}

#[test]
fn reload_touches_only_what_changed() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    miss(&mut core, UP0, t0);
    let writes = core.backend.writes.clone();
    let attaches = core.io.attaches;

    // The same configuration: nothing touched.
    core.reload(config(&["rcv1"]), t0);
    assert_eq!(core.backend.writes, writes);
    assert_eq!(core.io.attaches, attaches);

    // rcv2's TTL threshold changes and a route for other groups appears: the threshold is
    // written in place (rcv2 stays in service), and the flow on rcv1 is not touched.
    let more = "[[route]]\nfrom = \"up0\"\ngroup = \"239.9.0.0/16\"\nto = [\"rcv2\"]\n";
    core.reload(config_with(&["rcv1"], "ttl_threshold = 4", more), t0);
    assert_eq!(core.io.attaches, attaches);
    assert_eq!(core.backend.ifaces[&RCV2].ttl_threshold, 4);
    assert_eq!(core.backend.writes, writes, "the flow on rcv1 untouched");
    let other = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 9, 0, 1));
    miss_of(&mut core, other, UP0, t0);
    let other_entry = core
        .backend
        .entries
        .get(&key_of(other))
        .map(|e| e.oifs.clone());
    assert_eq!(other_entry, Some(vec![RCV2]), "the new route applies");

    // rcv2's threshold and MTU change again while a flow goes there: it keeps rcv2, untouched.
    let writes = core.backend.writes.clone();
    core.reload(
        config_with(&["rcv1"], "ttl_threshold = 6\nmtu = 1400", more),
        t0,
    );
    assert_eq!(core.backend.writes, writes, "the flows untouched");
    assert_eq!(core.io.attaches, attaches);
    let rcv2 = &core.backend.ifaces[&RCV2];
    assert_eq!((rcv2.ttl_threshold, rcv2.mtu), (6, 1400));

    // The route of the flow moves from rcv1 to rcv2: the flow follows, without a gap (added
    // first, then removed).
    core.reload(config_with(&["rcv2"], "ttl_threshold = 4", more), t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV2])));
    assert!(differences(&core).is_empty());
}

#[test]
fn an_adopted_entry_whose_re_creation_is_abandoned_stops_forwarding() {
    let t0 = Instant::now();
    let mut backend = FakeBackend::default();
    backend.entries.insert(
        key_of(sg()),
        FakeEntry {
            iif: UP0,
            oifs: vec![RCV1],
            hold: false,
        },
    );
    let mut core = core_with(external_config(false, ""), backend, t0);
    let (pim, questions) =
        register_taking_up0(&mut core, mgm::CallbackSet::RPF, Default::default());

    // After the window the MGM asks the protocol for the flow's RPF; it leaves before answering.
    core.tick(t0 + Duration::from_secs(12));
    assert!(matches!(questions.try_recv(), Ok(Event::Rpf { .. })));
    assert!(
        entry(&core).is_some(),
        "forwards while the question is open"
    );
    core.deregister_external(pim);
    assert_eq!(
        entry(&core),
        None,
        "abandoned: the adopted entry is removed"
    );
    assert!(differences(&core).is_empty());
}

#[test]
fn an_entry_adopted_in_hold_mode_forwards_by_the_fast_path_at_once() {
    let t0 = Instant::now();
    let mut backend = FakeBackend::default();
    backend.entries.insert(
        key_of(sg()),
        FakeEntry {
            iif: UP0,
            oifs: vec![RCV1],
            hold: true,
        },
    );
    let core = core_with(config(&["rcv1"]), backend, t0);
    let adopted = &core.backend.entries[&key_of(sg())];
    assert_eq!((adopted.iif, adopted.oifs.as_slice()), (UP0, &[RCV1][..]));
    assert!(
        !adopted.hold,
        "no longer punted to a previous run's sockets"
    );
}

#[test]
fn an_entry_lost_from_the_data_plane_is_restored_on_its_next_miss_in_hold_mode() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    miss(&mut core, UP0, t0);
    let t1 = t0 + HOLD_QUIET;
    core.tick(t1);
    assert!(!core.backend.entries[&key_of(sg())].hold, "handed over");
    core.backend.entries.remove(&key_of(sg()));
    assert_eq!(differences(&core), ["(10.0.0.1, 239.7.0.1) missing"]);
    miss(&mut core, UP0, t1);
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])));
    // Packets punted while the entry was gone leave before the fast path forwards again.
    assert!(
        core.backend.entries[&key_of(sg())].hold,
        "restored in hold mode"
    );
    assert_eq!(core.counters()["backend_repaired"], 1);
    assert!(differences(&core).is_empty());
    // A miss reported before the entry was installed finds it in place: nothing is written.
    let writes = core.backend.writes.clone();
    miss(&mut core, UP0, t1 + Duration::from_millis(2));
    assert_eq!(core.backend.writes, writes);
    assert_eq!(core.counters()["backend_repaired"], 1);
    // The handover ends hold mode once the punt path is quiet.
    core.tick(t1 + Duration::from_millis(2) + HOLD_QUIET);
    assert!(
        !core.backend.entries[&key_of(sg())].hold,
        "handed over again"
    );
}

mod externals;
