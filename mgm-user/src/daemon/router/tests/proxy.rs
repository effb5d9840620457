//! The proxy's upstream memberships through the core: receivers IGMP and MLD find downstream
//! become host joins on the upstream interface through the I/O port (joins and leaves in order,
//! failures retried, interface flaps, joins shared with the API, recomputed only on a change),
//! and the API's host joins following their interface.
use super::*;
use crate::{
    daemon::router::{fake::HostOp, host_joins::HOST_JOIN_RETRIES},
    wire::{
        igmp::{self, GroupRecordRepr, RecordType},
        mld::{self, AddressRecordRepr},
    },
};
use std::net::{IpAddr, Ipv6Addr};

/// Outside the source-specific range, where IGMP takes any-source receivers too.
const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
const S1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const S2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Longer than IGMP's and MLD's last member query time: a receiver that left is gone.
const LEAVE_DONE: Duration = Duration::from_secs(5);

/// The proxy from up0 to rcv1 and rcv2 (IGMP and MLD there).
fn proxy_config() -> Config {
    let text = "[[interface]]\nname = \"up0\"\nigmp = false\n\n\
                [[interface]]\nname = \"rcv1\"\nmld = true\n\n\
                [[interface]]\nname = \"rcv2\"\nmld = true\n\n\
                [[interface]]\nname = \"eth9\"\nigmp = false\nmld = false\n\n\
                [proxy]\nupstream = \"up0\"\ndownstream = [\"rcv1\", \"rcv2\"]\n";
    Config::parse(text, "test").expect("valid configuration")
}

/// A core running the proxy at `t0`, with `io`'s addresses on the downstream interfaces.
fn proxy_core_on(mut io: FakeIo, t0: Instant) -> Core {
    for ifindex in [RCV1, RCV2] {
        io.addresses
            .insert(ifindex, (Ipv4Addr::new(10, 1, ifindex as u8, 1), 24));
        io.link_locals.insert(
            ifindex,
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, ifindex as u16),
        );
    }
    core_on(proxy_config(), FakeBackend::default(), io, t0)
}

fn proxy_core(t0: Instant) -> Core {
    proxy_core_on(FakeIo::default(), t0)
}

/// A host on `ifindex` reports `record_type` with `sources` for [`G`] (IGMPv3).
fn igmp_record(
    core: &mut Core,
    ifindex: u32,
    record_type: RecordType,
    sources: &[Ipv4Addr],
    now: Instant,
) {
    let records = vec![GroupRecordRepr {
        record_type,
        group: G,
        sources: sources.to_vec(),
    }];
    let host = Ipv4Addr::new(10, 1, ifindex as u8, 2);
    let datagram = igmp::Repr::ReportV3 { records }
        .to_datagram(host, igmp::ALL_V3_ROUTERS)
        .expect("report");
    core.igmp_datagram(ifindex, &datagram, now);
}

/// The host join on up0 for [`G`] and `source`.
fn upstream(source: Option<Ipv4Addr>) -> HostJoin {
    ("up0".into(), G.into(), source.map(IpAddr::from))
}

fn join(source: Option<Ipv4Addr>) -> HostOp {
    HostOp::Join(upstream(source))
}

fn leave(source: Option<Ipv4Addr>) -> HostOp {
    HostOp::Leave(upstream(source))
}

/// The host joins that failed, and those waiting for a retry.
fn failed_and_waiting(core: &Core) -> (u64, u64) {
    let counters = core.counters();
    (
        counters["host_join_failures"],
        counters["host_joins_waiting_now"],
    )
}

/// Ends the injected join failures and runs the retry that is due.
fn retry_without_failures(core: &mut Core) {
    core.io.join_fails.clear();
    let retry = core.next_timer().expect("a retry is scheduled");
    core.tick(retry);
}

/// The host joins and leaves since the last call.
fn ops(core: &mut Core) -> Vec<HostOp> {
    std::mem::take(&mut core.io.host_ops)
}

use super::super::ports::HostJoin;
use crate::daemon::links::Link;

#[test]
fn the_first_receiver_joins_upstream_and_the_last_one_leaving_leaves() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    igmp_record(&mut core, RCV1, RecordType::IsExclude, &[], t0);
    assert_eq!(ops(&mut core), [join(None)]);
    igmp_record(&mut core, RCV2, RecordType::IsExclude, &[], t0);
    igmp_record(&mut core, RCV1, RecordType::ToInclude, &[], t0);
    core.tick(t0 + LEAVE_DONE);
    assert_eq!(ops(&mut core), [], "a receiver is left on rcv2");
    igmp_record(&mut core, RCV2, RecordType::ToInclude, &[], t0 + LEAVE_DONE);
    core.tick(t0 + LEAVE_DONE * 2);
    assert_eq!(ops(&mut core), [leave(None)]);
    assert!(core.io.joins.is_empty());
}

#[test]
fn include_receivers_join_their_sources_and_a_mode_change_joins_before_it_leaves() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    igmp_record(&mut core, RCV1, RecordType::IsInclude, &[S1], t0);
    igmp_record(&mut core, RCV2, RecordType::IsInclude, &[S2], t0);
    assert_eq!(ops(&mut core), [join(Some(S1)), join(Some(S2))]);
    // One any-source receiver: the group is joined for any source, then the sources left.
    igmp_record(&mut core, RCV2, RecordType::ToExclude, &[], t0);
    core.tick(t0 + LEAVE_DONE);
    let changed = ops(&mut core);
    assert_eq!(changed[0], join(None), "joined first: {changed:?}");
    let mut left = changed[1..].to_vec();
    left.sort_by_key(|op| format!("{op:?}"));
    assert_eq!(left, [leave(Some(S1)), leave(Some(S2))]);
    // It leaves: back to the source rcv1 asks for, joined before any-source is left.
    igmp_record(&mut core, RCV2, RecordType::ToInclude, &[], t0 + LEAVE_DONE);
    core.tick(t0 + LEAVE_DONE * 2);
    assert_eq!(ops(&mut core), [join(Some(S1)), leave(None)]);
    assert_eq!(core.io.joins, [upstream(Some(S1))].into());
}

#[test]
fn a_failed_upstream_join_is_counted_retried_and_keeps_the_old_membership() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    igmp_record(&mut core, RCV1, RecordType::IsInclude, &[S1], t0);
    assert_eq!(ops(&mut core), [join(Some(S1))]);
    core.io.join_fails.insert(upstream(None));
    igmp_record(&mut core, RCV2, RecordType::IsExclude, &[], t0);
    assert_eq!(ops(&mut core), [], "the source-specific join stays");
    assert_eq!(failed_and_waiting(&core), (1, 1));
    let retry = core.next_timer().expect("a retry is scheduled");
    core.tick(retry);
    assert_eq!(ops(&mut core), []);
    assert_eq!(core.counters()["host_join_failures"], 2);
    retry_without_failures(&mut core);
    assert_eq!(ops(&mut core), [join(None), leave(Some(S1))]);
    assert_eq!(core.counters()["host_joins_waiting_now"], 0);
}

#[test]
fn an_upstream_join_the_full_retry_list_refuses_waits_for_its_interfaces_link() {
    let t0 = Instant::now();
    let sources: Vec<Ipv4Addr> = (0..=HOST_JOIN_RETRIES as u32)
        .map(|n| Ipv4Addr::from(0x0a64_0000 + n))
        .collect();
    let io = FakeIo {
        join_fails: sources.iter().map(|s| upstream(Some(*s))).collect(),
        ..FakeIo::default()
    };
    let mut core = proxy_core_on(io, t0);
    // One receiver of every source: one join more than the retry list holds, all failing.
    igmp_record(&mut core, RCV1, RecordType::IsInclude, &sources, t0);
    let refused = |core: &Core| core.counters()["host_join_retries_refused"];
    assert_eq!(
        failed_and_waiting(&core),
        (sources.len() as u64, HOST_JOIN_RETRIES as u64)
    );
    assert_eq!(refused(&core), 1);

    // Another interface's link changes: the refused join is not attempted again (before: at
    // every settling of the joins, each attempt failing, refused and logged once more).
    core.link_changed(link("rcv2", RCV2, true), t0);
    assert_eq!(failed_and_waiting(&core).0, sources.len() as u64);
    assert_eq!(refused(&core), 1);

    // The failures end and up0's link changes: every join is made, the refused one too.
    core.io.join_fails.clear();
    core.link_changed(link("up0", UP0, true), t0);
    assert_eq!(core.io.joins.len(), 1, "the refused join");
    let retry = core.next_timer().expect("the retries are due");
    core.tick(retry);
    assert_eq!(core.io.joins.len(), sources.len());
    assert_eq!(failed_and_waiting(&core).1, 0);
}

#[test]
fn the_upstream_joins_are_redone_when_the_upstream_interface_comes_back() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    igmp_record(&mut core, RCV1, RecordType::IsExclude, &[], t0);
    assert_eq!(ops(&mut core), [join(None)]);
    core.link_changed(link("up0", UP0, false), t0);
    assert_eq!(ops(&mut core), [leave(None)]);
    core.link_changed(link("up0", UP0, true), t0);
    assert_eq!(ops(&mut core), [join(None)]);
    // Back under another ifindex at once: left on the old one, joined on the new one.
    core.link_changed(link("up0", 9, true), t0);
    assert_eq!(ops(&mut core), [leave(None), join(None)]);
    core.link_removed("up0", t0);
    assert_eq!(ops(&mut core), [leave(None)]);
}

#[test]
fn the_api_and_the_proxy_do_not_undo_each_others_joins() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    let (iface, group) = (String::from("up0"), IpAddr::from(G));
    igmp_record(&mut core, RCV1, RecordType::IsExclude, &[], t0);
    assert_eq!(core.host_join(iface.clone(), group, None), Response::Ok);
    assert_eq!(
        core.host_join(iface.clone(), group, None),
        Response::error(183, "already joined")
    );
    assert_eq!(core.host_leave(iface.clone(), group, None), Response::Ok);
    assert_eq!(ops(&mut core), [join(None)], "the proxy's join stays");
    // The API joins first: the proxy's receivers leaving keep it.
    assert_eq!(core.host_join(iface.clone(), group, None), Response::Ok);
    igmp_record(&mut core, RCV1, RecordType::ToInclude, &[], t0);
    core.tick(t0 + LEAVE_DONE);
    assert_eq!(ops(&mut core), []);
    assert_eq!(core.host_leave(iface.clone(), group, None), Response::Ok);
    assert_eq!(ops(&mut core), [leave(None)]);
    assert_eq!(
        core.host_leave(iface, group, None),
        Response::error(1168, "not joined")
    );
}

#[test]
fn a_refused_api_join_names_the_group_and_the_interface() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    let (iface, group, _) = upstream(None);
    core.io.join_fails.insert(upstream(None));
    assert_eq!(
        core.host_join(iface, group, None),
        Response::error(87, "joining 239.1.1.1 on up0: injected join failure")
    );
}

#[test]
fn mld_receivers_join_upstream_too() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    let group: Ipv6Addr = "ff0e::7:1".parse().unwrap();
    let source: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let report = |record_type, sources: &[Ipv6Addr]| {
        let records = vec![AddressRecordRepr {
            record_type,
            group,
            sources: sources.to_vec(),
        }];
        let host = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x99);
        mld::Repr::ReportV2 { records }
            .to_packet(host, mld::ALL_MLDV2_ROUTERS)
            .expect("report")
    };
    core.mld_packet(RCV1, &report(RecordType::IsInclude, &[source]), t0);
    let up = |source: Option<Ipv6Addr>| -> HostJoin {
        ("up0".into(), group.into(), source.map(IpAddr::from))
    };
    assert_eq!(ops(&mut core), [HostOp::Join(up(Some(source)))]);
    core.mld_packet(RCV2, &report(RecordType::IsExclude, &[]), t0);
    assert_eq!(
        ops(&mut core),
        [HostOp::Join(up(None)), HostOp::Leave(up(Some(source)))]
    );
}

#[test]
fn a_reload_without_the_proxy_leaves_its_upstream_joins() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    igmp_record(&mut core, RCV1, RecordType::IsExclude, &[], t0);
    assert_eq!(ops(&mut core), [join(None)]);
    let mut config = proxy_config();
    config.proxy = None;
    core.reload(config, t0);
    assert_eq!(ops(&mut core), [leave(None)]);
}

/// How many times the proxy's wanted joins were recomputed.
fn recomputes(core: &Core) -> u64 {
    core.counters()["proxy_join_recomputes"]
}

#[test]
fn the_proxy_joins_are_recomputed_only_when_its_receivers_or_its_upstream_interface_change() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    igmp_record(&mut core, RCV1, RecordType::IsExclude, &[], t0);
    igmp_record(&mut core, RCV2, RecordType::IsInclude, &[S1], t0);
    assert_eq!(ops(&mut core), [join(None)]);
    let before = recomputes(&core);
    // Nothing the proxy's joins depend on: timers, a receiver repeating its report, another
    // interface's link changing (MTU), a flow arriving.
    core.tick(t0 + Duration::from_millis(100));
    igmp_record(&mut core, RCV1, RecordType::IsExclude, &[], t0);
    let mut rcv1 = link("rcv1", RCV1, true);
    rcv1.mtu = 9000;
    core.link_changed(rcv1, t0);
    let miss = DataPlaneReport::Miss {
        sg: key_of(Sg::new(S1, G)),
        ifindex: UP0,
        header: vec![],
    };
    core.report(miss, t0);
    assert_eq!(recomputes(&core), before, "nothing changed");
    assert_eq!(ops(&mut core), []);
    // Each of the proxy's receivers, its upstream interface's service and its ifindex.
    let other = Ipv4Addr::new(239, 1, 1, 2);
    let records = vec![GroupRecordRepr {
        record_type: RecordType::IsExclude,
        group: other,
        sources: vec![],
    }];
    let datagram = igmp::Repr::ReportV3 { records }
        .to_datagram(Ipv4Addr::new(10, 1, RCV1 as u8, 2), igmp::ALL_V3_ROUTERS)
        .expect("report");
    core.igmp_datagram(RCV1, &datagram, t0);
    let other_join: HostJoin = ("up0".into(), other.into(), None);
    assert_eq!(ops(&mut core), [HostOp::Join(other_join.clone())]);
    assert_eq!(recomputes(&core), before + 1, "a receiver came");
    core.link_changed(link("up0", UP0, false), t0);
    assert_eq!(recomputes(&core), before + 2, "upstream out of service");
    assert_eq!(core.io.joins, [].into());
    core.link_changed(link("up0", UP0, true), t0);
    assert_eq!(recomputes(&core), before + 3, "upstream back");
    let all = [upstream(None), other_join];
    assert_eq!(core.io.joins, all.clone().into(), "every join made again");
    core.link_changed(link("up0", 9, true), t0);
    // Out of service under the old ifindex, then into service under the new one.
    assert_eq!(
        recomputes(&core),
        before + 5,
        "upstream under a new ifindex"
    );
    assert_eq!(core.io.joins, all.into());
}

/// Interface eth9, configured without IGMP, MLD or the proxy, where the API joins [`G`].
fn eth9(ifindex: u32) -> Link {
    link("eth9", ifindex, true)
}

fn on_eth9() -> HostJoin {
    ("eth9".into(), G.into(), None)
}

#[test]
fn an_api_join_is_made_again_when_its_interface_is_created_anew_and_kept_across_down_and_up() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    core.link_changed(eth9(20), t0);
    assert_eq!(core.host_join("eth9".into(), G.into(), None), Response::Ok);
    assert_eq!(ops(&mut core), [HostOp::Join(on_eth9())]);
    // Down and up: the kernel keeps the membership.
    let mut down = eth9(20);
    down.up = false;
    core.link_changed(down, t0);
    core.link_changed(eth9(20), t0);
    assert_eq!(ops(&mut core), []);
    // Deleted and created anew: left with it, made again on the new one.
    core.link_removed("eth9", t0);
    assert_eq!(ops(&mut core), [HostOp::Leave(on_eth9())]);
    core.link_changed(eth9(21), t0);
    assert_eq!(ops(&mut core), [HostOp::Join(on_eth9())]);
    // Created anew without a removal seen in between (a new ifindex at once).
    core.link_changed(eth9(22), t0);
    let redone = [HostOp::Leave(on_eth9()), HostOp::Join(on_eth9())];
    assert_eq!(ops(&mut core), redone);
    // Left while its interface is away: nothing is made when it comes back.
    core.link_removed("eth9", t0);
    assert_eq!(core.host_leave("eth9".into(), G.into(), None), Response::Ok);
    core.link_changed(eth9(23), t0);
    assert_eq!(ops(&mut core), [HostOp::Leave(on_eth9())]);
    assert!(core.io.joins.is_empty());
}

#[test]
fn an_api_join_that_fails_to_follow_its_interface_is_counted_and_retried() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    core.link_changed(eth9(20), t0);
    assert_eq!(core.host_join("eth9".into(), G.into(), None), Response::Ok);
    core.io.join_fails.insert(on_eth9());
    core.link_changed(eth9(21), t0);
    assert_eq!(
        ops(&mut core),
        [HostOp::Join(on_eth9()), HostOp::Leave(on_eth9())]
    );
    assert_eq!(failed_and_waiting(&core), (1, 1));
    retry_without_failures(&mut core);
    assert_eq!(ops(&mut core), [HostOp::Join(on_eth9())]);
    assert_eq!(core.counters()["host_joins_waiting_now"], 0);
}

#[test]
fn a_join_the_api_and_the_proxy_share_follows_the_upstream_interface_created_anew() {
    let t0 = Instant::now();
    let mut core = proxy_core(t0);
    igmp_record(&mut core, RCV1, RecordType::IsExclude, &[], t0);
    assert_eq!(core.host_join("up0".into(), G.into(), None), Response::Ok);
    assert_eq!(ops(&mut core), [join(None)]);
    // The proxy lets it go with its interface; the API's stays wanted and is made again.
    core.link_removed("up0", t0);
    assert_eq!(ops(&mut core), [leave(None)]);
    core.link_changed(link("up0", 9, true), t0);
    assert_eq!(ops(&mut core), [join(None)]);
    assert_eq!(core.io.joins, [upstream(None)].into());
}
