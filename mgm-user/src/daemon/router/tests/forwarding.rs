//! fwd's forwarding behaviour in the core: held packets by arrival interface and their
//! counters, the FORWARD flag and filter mode of `show groups`, the veth watch, and `reject`
//! in both directions of an external protocol's RPF question.
use super::*;
use crate::api::proto::{ApiAnswer, ApiIfId};

#[test]
fn held_packets_are_released_only_if_they_arrived_on_the_incoming_interface_and_counted_in_show_mfe(
) {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    // The first packets of the flow arrive on up0 and on rcv1 (a stray copy) before the entry.
    core.io
        .punted
        .extend([(UP0, frame()), (RCV1, frame()), (UP0, frame())]);
    core.drain_punts(t0);
    assert_eq!(core.counters()["hold_queued_now"], 3);
    miss(&mut core, UP0, t0);
    let counters = core.counters();
    assert_eq!(
        (counters["hold_delivered"], counters["hold_wrong_if"]),
        (2, 1)
    );
    // A packet punted on rcv1 after the entry exists is refused as well.
    core.io.punted.push((RCV1, frame()));
    core.drain_punts(t0 + Duration::from_millis(1));
    assert_eq!(core.counters()["hold_wrong_if"], 2);
    // show mfe adds what the hold queues did to the fast path's counters.
    let rows = core.mfes();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].packets, rows[0].wrong_if), (2, 2));
    assert_eq!(rows[0].bytes, 2 * 28);
}

#[test]
fn the_io_hears_of_held_packets_once_all_have_left_and_not_for_an_entry_that_held_none() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    core.io.punted.extend([(UP0, frame()), (UP0, frame())]);
    core.drain_punts(t0);
    miss(&mut core, UP0, t0);
    assert_eq!(core.io.held_sent, [2], "once, after both held packets");
    // A flow whose miss comes before any of its packets was punted holds nothing.
    let other = Sg::new(Ipv4Addr::new(10, 0, 0, 2), sg().group);
    miss_of(&mut core, other, UP0, t0);
    assert_eq!(core.io.held_sent, [2]);
    assert_eq!(core.mfes().len(), 2, "both entries installed");
}

#[test]
fn held_packets_leave_through_the_io_port_in_arrival_order_and_stray_copies_do_not() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    // Packets 1 to 5 of the flow arrive before its entry exists; 2 and 4 are stray copies
    // that came in on rcv2.
    let arrivals = [(UP0, 1), (RCV2, 2), (UP0, 3), (RCV2, 4), (UP0, 5)];
    core.io
        .punted
        .extend(arrivals.map(|(ifindex, n)| (ifindex, numbered_frame(n))));
    core.drain_punts(t0);
    assert!(core.io.sent.is_empty(), "nothing leaves before the entry");
    let sent = |core: &mut Core| -> Vec<(u32, u16)> {
        let frames = std::mem::take(&mut core.io.sent);
        for (oif, f) in &frames {
            assert_eq!(
                f[6..12],
                link("", *oif, true).mac,
                "the outgoing interface's MAC"
            );
            let ip = ipv4::Packet::new_checked(&f[14..]).expect("IPv4");
            assert_eq!(ip.ttl(), 63, "TTL-1");
            assert!(ip.verify_checksum());
        }
        frames
            .iter()
            .map(|(oif, f)| (*oif, u16::from_be_bytes([f[18], f[19]])))
            .collect()
    };

    miss(&mut core, UP0, t0);
    assert_eq!(
        sent(&mut core),
        [
            (RCV1, 1),
            (RCV2, 1),
            (RCV1, 3),
            (RCV2, 3),
            (RCV1, 5),
            (RCV2, 5)
        ],
        "in arrival order, a copy per outgoing interface"
    );
    let counters = core.counters();
    let seen = [
        "hold_delivered",
        "hold_copies",
        "hold_wrong_if",
        "hold_queued_now",
    ]
    .map(|name| counters[name]);
    assert_eq!(seen, [3, 6, 2, 0]);

    // In flight when the entry came: one on up0 goes out at once, one on rcv2 is dropped.
    core.io
        .punted
        .extend([(RCV2, numbered_frame(6)), (UP0, numbered_frame(7))]);
    core.drain_punts(t0 + Duration::from_millis(1));
    assert_eq!(sent(&mut core), [(RCV1, 7), (RCV2, 7)]);
    assert_eq!(core.counters()["hold_wrong_if"], 3);
}

#[test]
fn show_groups_marks_forwarding_memberships_and_their_filter_mode() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    miss(&mut core, UP0, t0);
    let mut rows = core.groups();
    rows.sort_by(|a, b| a.iface.cmp(&b.iface));
    let seen: Vec<(&str, u32, &str, usize)> = rows
        .iter()
        .map(|r| (r.iface.as_str(), r.flags, r.mode.as_str(), r.excluded.len()))
        .collect();
    let join_forward = (mgm::MemberFlags::JOIN | mgm::MemberFlags::FORWARD).bits();
    assert_eq!(
        seen,
        [
            ("rcv1", join_forward, "include", 0),
            ("rcv2", join_forward, "include", 0)
        ]
    );
}

#[test]
fn a_veth_that_does_not_hand_on_the_redirected_copies_shows_them_as_lost() {
    use crate::{
        daemon::veth::VethReading,
        dataplane::{MfeStats, OifStats},
    };
    let t0 = Instant::now();
    let mut io = FakeIo::default();
    let reading = |xdp_xmit| VethReading {
        peer_ready: Some(false),
        xdp_xmit: Some(xdp_xmit),
        tx_dropped: Some(3),
        rx_dropped: Some(0),
    };
    io.veths.insert("rcv1".into(), reading(0));
    let mut core = core_on(config(&["rcv1"]), FakeBackend::default(), io, t0);
    miss(&mut core, UP0, t0);
    let copies = |packets| MfeStats {
        packets,
        oifs: vec![(
            RCV1,
            OifStats {
                packets,
                ..OifStats::default()
            },
        )],
        ..MfeStats::default()
    };
    // The baseline, then 100 more copies redirected into rcv1 of which it handed on 60.
    core.backend.stats.insert(key_of(sg()), copies(10));
    core.refresh_stats(t0);
    core.backend.stats.insert(key_of(sg()), copies(110));
    core.io.veths.insert("rcv1".into(), reading(60));
    core.refresh_stats(t0 + Duration::from_secs(30));
    let counters = core.veth_counters();
    assert_eq!(counters["veth_rcv1_xdp_lost"], 40);
    assert_eq!(counters["veth_rcv1_peer_ready"], 0);
    assert_eq!(counters["veth_rcv1_tx_dropped"], 3);
    assert!(
        !counters.keys().any(|k| k.starts_with("veth_rcv2")),
        "not a veth"
    );
    // Out of service, it is no longer watched.
    core.link_removed("rcv1", t0 + Duration::from_secs(31));
    assert!(core.veth_counters().is_empty());
}

#[test]
fn an_external_protocols_rpf_question_and_answer_carry_reject() {
    let t0 = Instant::now();
    let mut core = core(external_config(false, ROUTE_TO_RCV1), t0);
    let (pim, questions) =
        register_taking_up0(&mut core, mgm::CallbackSet::RPF, Default::default());
    // No unicast route to this source: the RIB's offer is a rejection, and the protocol is
    // told so; it confirms the rejection (naming up0, where the packet came in), and the MGM
    // installs the negative entry although a static route names rcv1 for the group.
    let stray = Sg::new(Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(239, 7, 0, 1));
    miss_of(&mut core, stray, UP0, t0);
    let Ok(Event::Rpf {
        query,
        upstream,
        reject,
        ..
    }) = questions.try_recv()
    else {
        panic!("an RPF question");
    };
    assert!(reject, "the no-route offer is marked");
    let answer = ApiAnswer::Rpf {
        query,
        iif: ApiIfId::index(UP0),
        upstream,
        route: None,
        reject: true,
    };
    assert_eq!(core.external_answer(pim, answer), Response::Ok);
    let installed = core
        .backend
        .entries
        .get(&key_of(stray))
        .map(|e| e.oifs.clone());
    assert_eq!(installed, Some(Vec::new()), "negative entry");
}

#[test]
fn the_configured_capacity_bounds_the_entries_the_core_installs() {
    let t0 = Instant::now();
    let mut config = config(&["rcv1"]);
    config.daemon.max_entries = 256;
    let mut core = core(config, t0);
    for n in 0..300u32 {
        let group = Ipv4Addr::new(239, 7, (n >> 8) as u8, n as u8);
        miss_of(
            &mut core,
            Sg::new(Ipv4Addr::new(10, 0, 0, 1), group),
            UP0,
            t0,
        );
    }
    let counters = core.counters();
    assert_eq!(counters["mfes_now"], 256, "{counters:?}");
    assert_eq!(counters["mfes_capacity_now"], 256, "shown in show stats");
    assert_eq!(core.backend.entries.len(), 256, "the backend holds as many");
    assert_eq!(
        counters["mfe_evicted_idle"] + counters["mfe_refused"],
        44,
        "each creation beyond the bound counted: {counters:?}"
    );
}
