//! External protocols in the core: per-protocol answer deadlines, the A-10 opt-in, the IGMP
//! bracket passed to the protocol whose call caused it, release-all on disconnect, the
//! monitor stream, and one protocol meeting both MGMs (IPv6 ownership, callbacks, answers).
use super::{
    core_on, entry, external_config, miss, numbered_frame, register_taking_up0 as register, sg,
    Core, PIM, RCV1, RCV2, ROUTE_TO_RCV1, UP0,
};
use crate::{
    api::proto::{ApiAnswer, ApiIfEntry, ApiIfId, Event, MonitorEvent, Response},
    daemon::router::fake::{FakeBackend, FakeIo},
    mgm::{self, CallbackSet, ClientOptions, IfId},
};
use std::{
    sync::{mpsc::Receiver, Arc},
    time::{Duration, Instant},
};
use tokio::sync::broadcast;

/// up0 and rcv2 (with IGMP) left to an external protocol, and a static route from up0 to rcv1.
fn core_for_externals(t0: Instant) -> Core {
    let mut io = FakeIo::default();
    io.addresses
        .insert(RCV2, (std::net::Ipv4Addr::new(192, 168, 2, 1), 24));
    core_on(
        external_config(true, ROUTE_TO_RCV1),
        FakeBackend::default(),
        io,
        t0,
    )
}

/// The query of the RPF question `events` holds.
fn rpf_query(events: &Receiver<Event>) -> u64 {
    events
        .try_iter()
        .find_map(|e| match e {
            Event::Rpf { query, .. } => Some(query),
            _ => None,
        })
        .expect("an RPF question")
}

/// A miss on up0 whose RPF question `h` answers with the RIB's proposal: the creation alert
/// that follows, (query, interfaces).
fn missed_and_routed(
    core: &mut Core,
    h: mgm::ProtocolHandle,
    events: &Receiver<Event>,
    t0: Instant,
) -> (u64, Vec<ApiIfEntry>) {
    miss(core, UP0, t0);
    let query = rpf_query(events);
    assert_eq!(
        core.external_answer(h, rpf_answer(query, false)),
        Response::Ok
    );
    events
        .try_iter()
        .find_map(|e| match e {
            Event::CreationAlert { query, entries, .. } => Some((query, entries)),
            _ => None,
        })
        .expect("a creation alert")
}

fn rpf_answer(query: u64, reject: bool) -> ApiAnswer {
    ApiAnswer::Rpf {
        query,
        iif: ApiIfId::index(UP0),
        upstream: std::net::Ipv4Addr::UNSPECIFIED.into(),
        route: None,
        reject,
    }
}

fn monitored(monitor: &mut broadcast::Receiver<Arc<MonitorEvent>>) -> Vec<MonitorEvent> {
    std::iter::from_fn(|| monitor.try_recv().ok())
        .map(Arc::unwrap_or_clone)
        .collect()
}

#[test]
fn a_missed_per_protocol_deadline_is_counted_shown_and_the_late_answer_refused() {
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let options = ClientOptions {
        answer_deadline: Some(Duration::from_millis(50)),
        ..ClientOptions::default()
    };
    let (h, events) = register(&mut core, CallbackSet::RPF, options);
    let mut monitor = core.monitor().subscribe();
    miss(&mut core, UP0, t0);
    let query = rpf_query(&events);

    // Within its own deadline nothing is missed...
    core.housekeeping(t0 + Duration::from_millis(50));
    let missed = |core: &Core| {
        core.protocols()
            .into_iter()
            .find(|r| r.protocol_id == PIM)
            .expect("PIM's row")
            .missed_answers
    };
    assert_eq!(missed(&core), 0);
    // ...after it, the question is forgotten, counted and shown.
    core.housekeeping(t0 + Duration::from_millis(51));
    assert_eq!(missed(&core), 1);
    let shown = monitored(&mut monitor);
    assert!(
        shown.iter().any(|e| matches!(
            e,
            MonitorEvent::Callback {
                event: Event::Rpf { .. },
                ..
            }
        )),
        "{shown:?}"
    );
    assert!(
        shown.contains(&MonitorEvent::DeadlineMissed {
            protocol: format!("external:{PIM:#x}"),
            component_id: 0,
            query,
            deadline_ms: 50,
        }),
        "{shown:?}"
    );
    match core.external_answer(h, rpf_answer(query, false)) {
        Response::Error { code, .. } => assert_eq!(code, 87),
        other => panic!("a late answer was taken: {other:?}"),
    }
}

#[test]
fn an_answer_of_another_callback_is_refused_and_leaves_the_question_open() {
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let (h, events) = register(&mut core, CallbackSet::RPF, ClientOptions::default());
    miss(&mut core, UP0, t0);
    let query = rpf_query(&events);
    for wrong in [
        ApiAnswer::CreationAlert {
            query,
            entries: Vec::new(),
        },
        ApiAnswer::PruneAlert {
            query,
            timeout_s: 5,
        },
    ] {
        match core.external_answer(h, wrong) {
            Response::Error { code, message } => {
                assert_eq!(code, 87);
                assert!(message.contains("question of `rpf`"), "{message}");
            }
            other => panic!("an answer of another callback was taken: {other:?}"),
        }
    }
    assert_eq!(
        core.external_answer(h, rpf_answer(query, false)),
        Response::Ok
    );
}

/// The refusal of `answer`: its code and message (panics if it was taken).
fn refusal(core: &mut Core, h: mgm::ProtocolHandle, answer: ApiAnswer) -> (u32, String) {
    match core.external_answer(h, answer) {
        Response::Error { code, message } => (code, message),
        other => panic!("the answer was taken: {other:?}"),
    }
}

#[test]
fn an_rpf_answer_naming_no_interface_is_refused_and_leaves_the_question_open() {
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let (h, events) = register(&mut core, CallbackSet::RPF, ClientOptions::default());
    miss(&mut core, UP0, t0);
    let query = rpf_query(&events);
    for reject in [false, true] {
        let answer = ApiAnswer::Rpf {
            query,
            iif: ApiIfId::index(999),
            upstream: std::net::Ipv4Addr::UNSPECIFIED.into(),
            route: None,
            reject,
        };
        let (code, message) = refusal(&mut core, h, answer);
        assert_eq!(code, 87);
        assert!(message.contains("ifindex 999"), "{message}");
    }
    assert_eq!(entry(&core), None, "nothing was created");
    assert_eq!(
        core.external_answer(h, rpf_answer(query, false)),
        Response::Ok
    );
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])));
}

#[test]
fn a_creation_alert_answer_naming_no_interface_is_refused_and_leaves_the_question_open() {
    use crate::mgm::{MemberFlags, Sg};
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let callbacks = CallbackSet::RPF | CallbackSet::CREATION_ALERT;
    let (h, events) = register(&mut core, callbacks, ClientOptions::default());
    let rcv2 = IfId::index(RCV2);
    let joined = core.external_call(h, |m, now| {
        m.take_interface_ownership(h, rcv2, now)?;
        m.add_membership(h, Sg::star_g(sg().group), rcv2, MemberFlags::JOIN, now)
    });
    assert_eq!(joined, Response::Ok);
    let nowhere = IfId::index(999);
    let joined = core.external_call(h, |m, now| {
        m.add_membership(h, Sg::star_g(sg().group), nowhere, MemberFlags::JOIN, now)
    });
    assert!(
        matches!(joined, Response::Error { code: 1168, .. }),
        "{joined:?}"
    );
    let (query, entries) = missed_and_routed(&mut core, h, &events, t0);
    let mut unknown = entries.clone();
    unknown.push(ApiIfEntry {
        ifid: ApiIfId::index(999),
        igmp: false,
        enabled: false,
    });
    let (code, message) = refusal(
        &mut core,
        h,
        ApiAnswer::CreationAlert {
            query,
            entries: unknown,
        },
    );
    assert_eq!(code, 87);
    assert!(message.contains("ifindex 999"), "{message}");
    assert_eq!(entry(&core), None, "nothing was created");
    assert_eq!(
        core.external_answer(h, ApiAnswer::CreationAlert { query, entries }),
        Response::Ok
    );
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, RCV2])));
}

/// Packets held while an entry is created leave once per interface, however many of its next
/// hops joined, and never back out of the incoming one, though a next hop on it did;
/// `show mfe` shows each interface once, with the copies that left.
#[test]
fn held_packets_leave_once_per_interface_and_never_back_out_of_the_incoming_one() {
    use crate::mgm::{MemberFlags, Sg};
    use std::net::Ipv4Addr;
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let callbacks = CallbackSet::RPF | CallbackSet::CREATION_ALERT;
    let (h, events) = register(&mut core, callbacks, ClientOptions::default());
    let pairs = [
        IfId::index(RCV2),
        IfId::new(RCV2, Ipv4Addr::new(192, 168, 2, 9)),
        IfId::new(RCV2, Ipv4Addr::new(192, 168, 2, 10)),
        IfId::new(UP0, Ipv4Addr::new(10, 0, 0, 9)),
    ];
    for ifid in pairs {
        let joined = core.external_call(h, |m, now| {
            m.take_interface_ownership(h, ifid, now)?;
            m.add_membership(h, Sg::star_g(sg().group), ifid, MemberFlags::JOIN, now)
        });
        assert_eq!(joined, Response::Ok, "{ifid:?}");
    }
    core.io
        .punted
        .extend((0..3).map(|n| (UP0, numbered_frame(n))));
    core.drain_punts(t0);
    let (query, entries) = missed_and_routed(&mut core, h, &events, t0);
    assert_eq!(
        entries.len(),
        4,
        "three rcv2 pairs, up0's pair: {entries:?}"
    );
    assert_eq!(
        core.external_answer(h, ApiAnswer::CreationAlert { query, entries }),
        Response::Ok
    );
    let sent: Vec<u32> = core.io.sent.iter().map(|&(ifindex, _)| ifindex).collect();
    assert_eq!(
        sent,
        [RCV1, RCV2].repeat(3),
        "one copy per interface, none out of up0"
    );
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, RCV2])));
    assert_eq!(core.counters()["hold_copies"], 6);
    let shown: Vec<(String, u64)> = core.mfes()[0]
        .oifs
        .iter()
        .map(|o| (o.iface.clone(), o.packets))
        .collect();
    assert_eq!(shown, [("rcv1".into(), 3), ("rcv2".into(), 3)]);
}

#[test]
fn a_membership_of_an_interface_and_next_hop_pair_shows_its_next_hop() {
    use crate::mgm::{MemberFlags, Sg};
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let (h, _events) = register(&mut core, CallbackSet::empty(), ClientOptions::default());
    let pair = IfId::new(RCV2, std::net::Ipv4Addr::new(192, 168, 2, 9));
    let group = std::net::Ipv4Addr::new(239, 1, 1, 1);
    let joined = core.external_call(h, |m, now| {
        m.take_interface_ownership(h, pair, now)?;
        m.add_membership(h, Sg::star_g(group), pair, MemberFlags::JOIN, now)
    });
    assert_eq!(joined, Response::Ok);
    let rows = core.groups();
    assert!(
        rows.iter()
            .any(|r| r.group == group && r.iface == "rcv2/192.168.2.9"),
        "{rows:?}"
    );
}

#[test]
fn an_rpf_reject_counts_only_for_a_protocol_that_opted_in() {
    for opted_in in [false, true] {
        let t0 = Instant::now();
        let mut core = core_for_externals(t0);
        let options = ClientOptions {
            rpf_reject_creates_negative: opted_in,
            ..ClientOptions::default()
        };
        let (h, events) = register(&mut core, CallbackSet::RPF, options);
        miss(&mut core, UP0, t0);
        let query = rpf_query(&events);
        assert_eq!(
            core.external_answer(h, rpf_answer(query, true)),
            Response::Ok
        );
        let oifs = entry(&core).map(|(_, oifs)| oifs).unwrap_or_default();
        if opted_in {
            assert!(oifs.is_empty(), "rejected: a negative entry, not {oifs:?}");
        } else {
            assert_eq!(oifs, [RCV1], "the reject is ignored (A-10)");
        }
    }
}

/// A protocol that takes an interface it owns already is refused (183, as the MGM refuses
/// every second take), and told it is its own, not sent looking for another owner.
#[test]
fn a_second_take_by_the_owner_says_the_interface_is_already_its_own() {
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let (h, _events) = register(&mut core, CallbackSet::all(), ClientOptions::default());
    let Response::Error { code, message } = core.external_take(h, ApiIfId::index(UP0)) else {
        panic!("a second take of up0 was accepted");
    };
    assert_eq!(code, mgm::win32::ERROR_ALREADY_EXISTS);
    assert!(
        message.contains("already this protocol's"),
        "the refusal names the caller as another owner: {message}"
    );
}

/// An interface the configuration gives the built-in protocols stays theirs while out of
/// service: a take of it (with or without next hop) is refused (183, A-58), and static owns it
/// again once it is up.
#[test]
fn a_built_in_interface_out_of_service_cannot_be_taken() {
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let (h, _events) = register(&mut core, CallbackSet::all(), ClientOptions::default());
    core.link_changed(super::link("rcv1", RCV1, false), t0);
    let pair = ApiIfId {
        ifindex: RCV1,
        next_hop: std::net::Ipv4Addr::new(10, 0, 0, 9).into(),
    };
    for ifid in [ApiIfId::index(RCV1), pair] {
        let Response::Error { code, message } = core.external_take(h, ifid) else {
            panic!("the take of {ifid:?} on rcv1, down, was accepted");
        };
        assert_eq!(code, mgm::win32::ERROR_ALREADY_EXISTS);
        assert!(
            message.contains("(rcv1) is configured for mgmd's built-in"),
            "{message}"
        );
    }
    core.link_changed(super::link("rcv1", RCV1, true), t0);
    let owner = core.mgm.protocol_on_interface(IfId::index(RCV1));
    assert_eq!(
        owner.map(|(id, _)| id),
        Ok(crate::daemon::router::STATIC_PROTOCOL_ID)
    );
}

#[test]
fn the_igmp_bracket_of_a_take_reaches_the_protocol_that_asked_and_disconnect_releases_all() {
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    let callbacks = CallbackSet::RPF | CallbackSet::DISABLE_IGMP | CallbackSet::ENABLE_IGMP;
    let (h, events) = register(&mut core, callbacks, ClientOptions::default());
    let mut monitor = core.monitor().subscribe();
    let rcv2 = IfId::index(RCV2);
    let taken = core.external_call(h, |m, now| m.take_interface_ownership(h, rcv2, now));
    assert_eq!(taken, Response::Ok);
    let bracket: Vec<Event> = events.try_iter().collect();
    assert!(
        matches!(
            bracket[..],
            [Event::DisableIgmp { ifid: a }, Event::EnableIgmp { ifid: b }]
                if a.ifindex == RCV2 && b.ifindex == RCV2
        ),
        "{bracket:?}"
    );
    let shown = monitored(&mut monitor);
    let igmp_callbacks = shown
        .iter()
        .filter(|e| matches!(e, MonitorEvent::Callback { protocol, .. } if protocol == "igmp"))
        .count();
    assert_eq!(igmp_callbacks, 2, "{shown:?}");

    // The connection goes: every interface it owns is released before it is deregistered.
    core.deregister_external(h);
    let owner = |ifindex| core.mgm().protocol_on_interface(IfId::index(ifindex)).ok();
    assert_eq!(owner(UP0), None);
    assert_eq!(
        owner(RCV2),
        Some((mgm::MS_IP_IGMP, 0)),
        "IGMP alone is left"
    );
}

/// One take owns an interface in both MGMs (MLD's bracket follows IGMP's, with next hop `::`);
/// the IPv6 MGM's callbacks reach the registered protocols with IPv6 addresses and its
/// questions are answered through the same connection.
#[test]
fn one_take_owns_both_families_and_ipv6_callbacks_reach_the_protocol() {
    use crate::{
        api::proto::ApiSg,
        daemon::router::family::Family,
        dataplane::DataPlaneReport,
        mgm::{MemberFlags, Sg},
    };
    use std::net::Ipv6Addr;
    let t0 = Instant::now();
    let mut io = FakeIo::default();
    io.addresses
        .insert(RCV2, (std::net::Ipv4Addr::new(192, 168, 2, 1), 24));
    io.link_locals.insert(RCV2, "fe80::2".parse().unwrap());
    let mut core = core_on(external_config(true, ""), FakeBackend::default(), io, t0);
    let (tx, events) = std::sync::mpsc::channel();
    let options = ClientOptions::default();
    let h = core
        .register_external(PIM, 0, CallbackSet::all(), options, tx)
        .expect("registered");
    let (tx, other) = std::sync::mpsc::channel();
    core.register_external(PIM, 1, CallbackSet::JOIN_ALERT, options, tx)
        .expect("registered");
    for ifindex in [UP0, RCV2] {
        assert_eq!(core.external_take(h, ApiIfId::index(ifindex)), Response::Ok);
    }
    let any6 = Ipv6Addr::UNSPECIFIED;
    let taken: Vec<Event> = events.try_iter().collect();
    let (v4, v6) = (ApiIfId::index(RCV2), ApiIfId::new(RCV2, any6));
    let at = |e: Event| taken.iter().position(|t| *t == e);
    let order = [
        at(Event::DisableIgmp { ifid: v4 }),
        at(Event::EnableIgmp { ifid: v4 }),
        at(Event::DisableIgmp { ifid: v6 }),
        at(Event::EnableIgmp { ifid: v6 }),
    ];
    assert!(
        order.iter().all(Option::is_some) && order.is_sorted(),
        "{taken:?}"
    );
    let owner = Response::Owner {
        protocol_id: PIM,
        component_id: 0,
    };
    assert_eq!(core.external_protocol_on_interface(v6), owner);
    assert_eq!(core.external_protocol_on_interface(v4), owner);

    // An IPv6 membership: the other protocol hears the join alert.
    let (s, g): (Ipv6Addr, Ipv6Addr) =
        ("2001:db8::1".parse().unwrap(), "ff0e::7:1".parse().unwrap());
    let joined = core.external_call_in::<Ipv6Addr>(h, |m, h6, now| {
        m.add_membership(h6, Sg::star_g(g), IfId::index(RCV2), MemberFlags::JOIN, now)
    });
    assert_eq!(joined, Response::Ok);
    let alerts: Vec<Event> = other.try_iter().collect();
    assert_eq!(
        alerts,
        [Event::JoinAlert {
            sg: ApiSg::new(any6, g),
            member_update: true
        }]
    );

    // A new IPv6 flow on up0, which the RIB does not know: the owner is offered it, claims it
    // and keeps the creation alert's interface.
    let sg = Sg::new(s, g);
    let miss = DataPlaneReport::Miss6 {
        sg: Ipv6Addr::key(sg),
        ifindex: UP0,
        header: vec![0x60; 40],
    };
    core.report(miss, t0);
    let asked: Vec<Event> = events.try_iter().collect();
    let Some(Event::Rpf { query, iif, .. }) = asked
        .iter()
        .find(|e| matches!(e, Event::Rpf { .. }))
        .cloned()
    else {
        panic!("no RPF question: {asked:?}");
    };
    assert!(
        query & crate::daemon::api_family::IPV6_ID != 0,
        "an IPv6 id: {query}"
    );
    assert_eq!(iif, ApiIfId::new(UP0, any6));
    let answer = ApiAnswer::Rpf {
        query,
        iif,
        upstream: any6.into(),
        route: None,
        reject: false,
    };
    assert_eq!(core.external_answer(h, answer), Response::Ok);
    let asked: Vec<Event> = events.try_iter().collect();
    let Some(Event::CreationAlert { query, entries, .. }) = asked
        .iter()
        .find(|e| matches!(e, Event::CreationAlert { .. }))
        .cloned()
    else {
        panic!("no creation alert: {asked:?}");
    };
    assert_eq!(entries.iter().map(|e| e.ifid).collect::<Vec<_>>(), [v6]);
    let answer = ApiAnswer::CreationAlert { query, entries };
    assert_eq!(core.external_answer(h, answer), Response::Ok);
    let entry = core.backend.v6.entries.get(&Ipv6Addr::key(sg)).cloned();
    assert_eq!(entry.map(|e| (e.iif, e.oifs)), Some((UP0, vec![RCV2])));
    // The question is closed: a second answer is refused.
    let stale = ApiAnswer::CreationAlert {
        query,
        entries: Vec::new(),
    };
    assert!(matches!(
        core.external_answer(h, stale),
        Response::Error { code: 87, .. }
    ));

    // A packet of the flow on rcv2: the wrong-interface callback, with IPv6 addresses.
    let wrong = DataPlaneReport::WrongIf6 {
        sg: Ipv6Addr::key(sg),
        ifindex: RCV2,
        header: vec![0x60; 40],
    };
    core.report(wrong, t0);
    let seen: Vec<Event> = events.try_iter().collect();
    assert!(
        seen.iter()
            .any(|e| matches!(e, Event::WrongIf { sg: w, ifid, .. }
            if *w == ApiSg::new(s, g) && *ifid == v6)),
        "{seen:?}"
    );

    // The membership goes: the entry is pruned, and its FALSE prune alert (an IPv6 (S,G) on
    // the incoming interface) is answered with another lifetime.
    let left = core.external_call_in::<Ipv6Addr>(h, |m, h6, now| {
        m.delete_membership(h6, Sg::star_g(g), IfId::index(RCV2), MemberFlags::JOIN, now)
    });
    assert_eq!(left, Response::Ok);
    let seen: Vec<Event> = events.try_iter().collect();
    let Some(Event::PruneAlert {
        query: Some(query),
        sg: pruned,
        ifid,
        member_delete: false,
        ..
    }) = seen
        .iter()
        .find(|e| matches!(e, Event::PruneAlert { query: Some(_), .. }))
        .cloned()
    else {
        panic!("no FALSE prune alert: {seen:?}");
    };
    assert_eq!((pruned, ifid), (ApiSg::new(s, g), ApiIfId::new(UP0, any6)));
    let answer = ApiAnswer::PruneAlert {
        query,
        timeout_s: 30,
    };
    assert_eq!(core.external_answer(h, answer), Response::Ok);
    let timeout = core.v6.mgm.mfe(sg).map(|m| m.timeout_s());
    assert_eq!(timeout, Some(30), "the answered lifetime");

    // Disconnecting releases both families' interfaces: MLD alone is left on rcv2.
    core.deregister_external(h);
    assert!(matches!(
        core.external_protocol_on_interface(ApiIfId::new(UP0, any6)),
        Response::Error { code: 1168, .. }
    ));
    assert_eq!(
        core.external_protocol_on_interface(v6),
        Response::Owner {
            protocol_id: mgm::MS_IP_IGMP,
            component_id: 0
        }
    );
}

/// `show protocols` and `show interfaces` read the owners of both MGMs: up0, left to an
/// external protocol with IGMP off, has MLD alone until one takes it, which puts it in IGMP's
/// row (MLD owns under IGMP's id); the external protocol's take then shows in its row.
#[test]
fn the_protocols_and_interfaces_tables_show_owners_in_either_family() {
    let t0 = Instant::now();
    let mut io = FakeIo::default();
    io.link_locals.insert(UP0, "fe80::1".parse().unwrap());
    let mut core = core_on(external_config(false, ""), FakeBackend::default(), io, t0);
    let interfaces_of = |core: &Core, protocol_id: u32| {
        core.protocols()
            .into_iter()
            .find(|r| r.protocol_id == protocol_id)
            .map(|r| r.interfaces)
    };
    let owner = |core: &Core, name: &str| {
        core.interfaces()
            .into_iter()
            .find(|r| r.name == name)
            .map(|r| r.owner)
    };
    assert_eq!(
        interfaces_of(&core, mgm::MS_IP_IGMP),
        Some(vec!["up0".into()])
    );
    assert_eq!(owner(&core, "up0").as_deref(), Some("igmp"));

    let (tx, _events) = std::sync::mpsc::channel();
    let h = core
        .register_external(PIM, 0, CallbackSet::RPF, ClientOptions::default(), tx)
        .expect("registered");
    assert_eq!(core.external_take(h, ApiIfId::index(UP0)), Response::Ok);
    assert_eq!(interfaces_of(&core, PIM), Some(vec!["up0".into()]));
    let name = format!("external:{PIM:#x}");
    assert_eq!(owner(&core, "up0"), Some(name));
    assert_eq!(interfaces_of(&core, mgm::MS_IP_IGMP), Some(Vec::new()));
}

/// An IPv6 callback finds its protocol by the protocol's IPv6 handle, also after other
/// protocols registered and went: each join alert reaches the other live protocol only.
#[test]
fn ipv6_callbacks_find_their_protocol_after_registrations_come_and_go() {
    use crate::mgm::{MemberFlags, Sg};
    use std::net::Ipv6Addr;
    let t0 = Instant::now();
    let mut core = core_on(
        external_config(true, ""),
        FakeBackend::default(),
        FakeIo::default(),
        t0,
    );
    let register = |core: &mut Core, component_id| {
        let (tx, events) = std::sync::mpsc::channel();
        let options = ClientOptions::default();
        let h = core
            .register_external(PIM, component_id, CallbackSet::JOIN_ALERT, options, tx)
            .expect("registered");
        (h, events)
    };
    let (gone, gone_events) = register(&mut core, 0);
    let (b, b_events) = register(&mut core, 1);
    core.deregister_external(gone);
    let (c, c_events) = register(&mut core, 2);
    assert_eq!(core.external_take(b, ApiIfId::index(RCV2)), Response::Ok);
    assert_eq!(core.external_take(c, ApiIfId::index(UP0)), Response::Ok);
    let join = |core: &mut Core, h, n: u16, ifindex| {
        let g = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 7, n);
        let joined = core.external_call_in::<Ipv6Addr>(h, |m, h6, now| {
            m.add_membership(
                h6,
                Sg::star_g(g),
                IfId::index(ifindex),
                MemberFlags::JOIN,
                now,
            )
        });
        assert_eq!(joined, Response::Ok);
        g
    };
    let alerted = |events: &Receiver<Event>| -> Vec<Ipv6Addr> {
        events
            .try_iter()
            .filter_map(|e| match e {
                Event::JoinAlert { sg, .. } => match sg.group {
                    std::net::IpAddr::V6(g) => Some(g),
                    std::net::IpAddr::V4(_) => None,
                },
                _ => None,
            })
            .collect()
    };
    let g1 = join(&mut core, b, 1, RCV2);
    assert_eq!(alerted(&c_events), [g1]);
    let g2 = join(&mut core, c, 2, UP0);
    assert_eq!(alerted(&b_events), [g2]);
    assert!(alerted(&gone_events).is_empty());
}

/// Only the interfaces the configuration marks `owner = "external"` are an external protocol's
/// to take: `lo` and a link the configuration does not have are refused (87) naming the
/// interface, with or without next hop, so no membership can make copies there.
#[test]
fn an_interface_the_configuration_does_not_have_cannot_be_taken() {
    use std::net::Ipv4Addr;
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    core.link_changed(super::link("lo", 1, true), t0);
    core.link_changed(super::link("veth9", 9, true), t0);
    let (h, _events) = register(&mut core, CallbackSet::empty(), ClientOptions::default());
    for (ifid, name) in [
        (ApiIfId::index(1), "lo"),
        (ApiIfId::index(9), "veth9"),
        (ApiIfId::new(9, Ipv4Addr::new(192, 168, 9, 2)), "veth9"),
        (ApiIfId::index(77), "77"),
    ] {
        let Response::Error { code, message } = core.external_take(h, ifid) else {
            panic!("{ifid:?} was taken");
        };
        assert_eq!(code, mgm::win32::ERROR_INVALID_PARAMETER, "{message}");
        assert!(
            message.contains(name) && message.contains("owner = \"external\""),
            "{message}"
        );
        let owner = core.mgm().protocol_on_interface(IfId::index(ifid.ifindex));
        assert!(owner.is_err(), "{ifid:?}: {owner:?}");
    }
    assert_eq!(core.external_take(h, ApiIfId::index(RCV2)), Response::Ok);
}

/// An external protocol cannot register under the id of one of mgmd's built-in routing
/// protocols (87, naming it): it would pass for it.
#[test]
fn the_ids_of_the_built_in_protocols_are_not_for_external_protocols() {
    use crate::daemon::router::{KERNEL_PROTOCOL_ID, PROXY_PROTOCOL_ID, STATIC_PROTOCOL_ID};
    let t0 = Instant::now();
    let mut core = core_for_externals(t0);
    for (id, name) in [
        (STATIC_PROTOCOL_ID, "static"),
        (PROXY_PROTOCOL_ID, "proxy"),
        (KERNEL_PROTOCOL_ID, "kernel"),
    ] {
        for component_id in [0, 1] {
            let (tx, _events) = std::sync::mpsc::channel();
            let registered =
                core.register_external(id, component_id, CallbackSet::RPF, Default::default(), tx);
            let Err(Response::Error { code, message }) = registered else {
                panic!("{name}'s id registered: {registered:?}");
            };
            assert_eq!(code, mgm::win32::ERROR_INVALID_PARAMETER);
            assert!(message.contains(name), "{message}");
        }
    }
    let names: Vec<String> = core.protocols().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["igmp", "static"]);
}
