//! External protocols in the core: per-protocol answer deadlines, the A-10 opt-in, the IGMP
//! bracket passed to the protocol whose call caused it, release-all on disconnect, and the
//! monitor stream.
use super::{
    core_on, entry, external_config, miss, register_taking_up0 as register, Core, PIM, RCV1, RCV2,
    ROUTE_TO_RCV1, UP0,
};
use crate::{
    api::proto::{ApiAnswer, ApiIfId, Event, MonitorEvent, Response},
    daemon::router::fake::{FakeBackend, FakeIo},
    mgm::{self, CallbackSet, ClientOptions, IfId},
};
use std::{
    sync::mpsc::Receiver,
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

fn rpf_answer(query: u64, reject: bool) -> ApiAnswer {
    ApiAnswer::Rpf {
        query,
        iif: ApiIfId::index(UP0),
        upstream: std::net::Ipv4Addr::UNSPECIFIED.into(),
        route: None,
        reject,
    }
}

fn monitored(monitor: &mut broadcast::Receiver<MonitorEvent>) -> Vec<MonitorEvent> {
    std::iter::from_fn(|| monitor.try_recv().ok()).collect()
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
