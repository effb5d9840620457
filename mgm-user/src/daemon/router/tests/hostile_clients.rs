//! What a hostile or broken API client can make mgmd hold and log: an external protocol's
//! memberships and group enumerations, the API's host joins and static routes are bounded,
//! refusals and unanswered questions logged once per interval.
use super::api_connection::ApiConnection;
use super::*;
use crate::{
    api::proto::{ApiIfId, ApiSg, Request},
    daemon::router::api_bounds::MAX_API_MEMBERSHIPS,
};

fn join(group: Ipv4Addr) -> Request {
    Request::AddMembership {
        sg: ApiSg {
            source: Ipv4Addr::UNSPECIFIED.into(),
            group: group.into(),
        },
        ifid: ApiIfId::index(RCV2),
        flags: 1,
        masks: None,
    }
}

fn refused(core: &mut Core, api: &mut ApiConnection) -> u64 {
    match api.call(core, Request::Stats, Instant::now()) {
        Response::Stats { counters } => counters["api_memberships_refused"],
        other => panic!("stats: {other:?}"),
    }
}

/// Registers the external protocol `protocol_id` on a connection of its own.
fn register(core: &mut Core, protocol_id: u32, t0: Instant) -> ApiConnection {
    let mut api = ApiConnection::new();
    let registered = api.call(
        core,
        Request::Register {
            protocol_id,
            component_id: 0,
            callbacks: Vec::new(),
            answer_deadline_ms: None,
            rpf_reject: false,
        },
        t0,
    );
    assert!(
        matches!(registered, Response::Registered { .. }),
        "{registered:?}"
    );
    api
}

/// The `i`th group of the memberships the tests fill the bound with.
fn group(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 8, 0, 0)) + i as u32)
}

/// A core whose external protocol PIM (the connection returned) holds
/// [`MAX_API_MEMBERSHIPS`] memberships on rcv2: `group(0)` and on.
fn full_of_memberships(t0: Instant) -> (Core, ApiConnection) {
    let mut io = FakeIo::default();
    io.existing.insert(RCV2);
    let mut core = core_on(
        external_config(true, ROUTE_TO_RCV1),
        FakeBackend::default(),
        io,
        t0,
    );
    let mut api = register(&mut core, PIM, t0);
    let take = Request::TakeInterface {
        ifid: ApiIfId::index(RCV2),
    };
    assert_eq!(api.call(&mut core, take, t0), Response::Ok);
    for i in 0..MAX_API_MEMBERSHIPS {
        assert_eq!(api.call(&mut core, join(group(i)), t0), Response::Ok, "{i}");
    }
    (core, api)
}

#[test]
fn external_protocols_hold_a_bounded_number_of_memberships() {
    let t0 = Instant::now();
    let (mut core, mut api) = full_of_memberships(t0);
    let before = refused(&mut core, &mut api);
    let beyond = group(MAX_API_MEMBERSHIPS);
    match api.call(&mut core, join(beyond), t0) {
        Response::Error {
            code: 1003,
            message,
        } => {
            assert!(message.contains("65536 memberships"), "{message}")
        }
        other => panic!("one membership beyond the bound is refused: {other:?}"),
    }
    assert_eq!(refused(&mut core, &mut api), before + 1, "and counted");
    let mut other_router = core_on(
        external_config(true, ROUTE_TO_RCV1),
        FakeBackend::default(),
        FakeIo::default(),
        t0,
    );
    assert_eq!(
        refused(&mut other_router, &mut ApiConnection::new()),
        0,
        "counted by the router that refused, not by every router of the process"
    );
    assert_eq!(
        api.call(&mut core, join(group(0)), t0),
        Response::Ok,
        "one held already is no new one"
    );
    let leave = Request::DeleteMembership {
        sg: ApiSg {
            source: Ipv4Addr::UNSPECIFIED.into(),
            group: group(0).into(),
        },
        ifid: ApiIfId::index(RCV2),
        flags: 1,
        masks: None,
    };
    assert_eq!(api.call(&mut core, leave, t0), Response::Ok);
    assert_eq!(
        api.call(&mut core, join(beyond), t0),
        Response::Ok,
        "room again once one is deleted"
    );
}

#[test]
fn open_group_enumerations_hold_a_bounded_number_of_keys_across_protocols() {
    use crate::daemon::router::api_bounds::{MAX_ENUMERATED_KEYS, MAX_OPEN_ENUMERATIONS};
    let (log, subscriber) = Captured::subscriber();
    let t0 = Instant::now();
    let (mut core, mut pim) = full_of_memberships(t0);
    let mut other = register(&mut core, PIM + 1, t0);
    let start = Request::GroupEnumerationStart {
        enum_type: 1,
        family: None,
    };
    // Each snapshot holds every key: the bound leaves room for this many, fewer than one
    // protocol may open, taken by two.
    let room = MAX_ENUMERATED_KEYS / MAX_API_MEMBERSHIPS;
    assert!(room < MAX_OPEN_ENUMERATIONS);
    let mut open = Vec::new();
    for i in 0..room {
        let api = if i % 2 == 0 { &mut pim } else { &mut other };
        match api.call(&mut core, start.clone(), t0) {
            Response::EnumHandle { handle } => open.push(handle),
            other => panic!("enumeration {i} within the bound: {other:?}"),
        }
    }
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..3 {
            let api = if i % 2 == 0 { &mut pim } else { &mut other };
            match api.call(&mut core, start.clone(), t0) {
                Response::Error {
                    code: 1003,
                    message,
                } => assert!(message.contains("all protocols"), "{message}"),
                other => panic!("an enumeration beyond the keys' bound: {other:?}"),
            }
        }
    });
    let counters = core.counters();
    assert_eq!(counters["api_enumerated_keys_refused"], 3, "counted");
    assert_eq!(counters["api_enumerated_keys6_refused"], 0);
    assert_eq!(counters["api_enumerations_refused"], 0);
    assert_eq!(
        log.lines_with("group enumeration refused"),
        1,
        "logged once"
    );
    let end = Request::GroupEnumerationEnd { handle: open[0] };
    assert_eq!(pim.call(&mut core, end, t0), Response::Ok);
    assert!(
        matches!(
            other.call(&mut core, start, t0),
            Response::EnumHandle { .. }
        ),
        "room again once one ends"
    );
}

#[test]
fn static_routes_added_at_run_time_are_bounded_counted_and_their_refusals_logged_once() {
    use crate::config::{StaticRoute, MAX_STATIC_ROUTES};
    let (log, subscriber) = Captured::subscriber();
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    let route = |group: String| {
        let words: Vec<String> = ["up0", &group, "rcv2"].map(str::to_owned).into();
        StaticRoute::parse_words(&words).expect("route")
    };
    let v4 = |i: usize| {
        route(Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 20, 0, 0)) + i as u32).to_string())
    };
    // The configuration holds one IPv4 route already.
    for i in 1..MAX_STATIC_ROUTES {
        assert_eq!(core.add_route(v4(i)), Response::Ok, "{i}");
    }
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..3 {
            match core.add_route(v4(MAX_STATIC_ROUTES + i)) {
                Response::Error {
                    code: 1003,
                    message,
                } => {
                    assert!(message.contains("4096 static routes of ipv4"), "{message}")
                }
                other => panic!("a route beyond the bound: {other:?}"),
            }
        }
    });
    let counters = core.counters();
    assert_eq!(counters["static_routes_refused"], 3, "counted");
    assert_eq!(counters["static_routes6_refused"], 0);
    assert_eq!(log.lines_with("static route refused"), 1, "logged once");
    assert!(
        matches!(core.add_route(v4(1)), Response::Error { code: 183, .. }),
        "one that exists is no new one"
    );
    assert_eq!(
        core.add_route(route("ff0e::1".into())),
        Response::Ok,
        "each family has its own"
    );
    assert_eq!(core.remove_route(&v4(1)), Response::Ok);
    assert_eq!(
        core.add_route(v4(MAX_STATIC_ROUTES)),
        Response::Ok,
        "room again once one is removed"
    );
}

/// A log writer the tests read back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// A log to read back, and the subscriber that writes into it.
    fn subscriber() -> (Self, impl tracing::Subscriber + Send + Sync) {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (log, subscriber)
    }

    fn lines_with(&self, words: &str) -> usize {
        let text = String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned();
        text.lines().filter(|l| l.contains(words)).count()
    }
}

#[test]
fn the_apis_host_joins_are_bounded_counted_and_their_refusals_logged_once() {
    use crate::daemon::router::host_joins::MAX_API_HOST_JOINS;
    let (log, subscriber) = Captured::subscriber();
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    let group = |i: usize| {
        IpAddr::V4(Ipv4Addr::from(
            u32::from(Ipv4Addr::new(239, 30, 0, 0)) + i as u32,
        ))
    };
    for i in 0..MAX_API_HOST_JOINS {
        assert_eq!(core.host_join("rcv1".into(), group(i), None), Response::Ok);
    }
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..3 {
            match core.host_join("rcv1".into(), group(MAX_API_HOST_JOINS + i), None) {
                Response::Error { code: 1003, .. } => {}
                other => panic!("a join beyond the bound: {other:?}"),
            }
        }
    });
    assert_eq!(core.io.joins.len(), MAX_API_HOST_JOINS, "no socket beyond");
    assert_eq!(core.counters()["host_joins_refused"], 3);
    assert_eq!(log.lines_with("host join refused"), 1);
    assert_eq!(core.host_leave("rcv1".into(), group(0), None), Response::Ok);
    assert_eq!(
        core.host_join("rcv1".into(), group(MAX_API_HOST_JOINS), None),
        Response::Ok,
        "room again once one is left"
    );
}

#[test]
fn a_protocol_that_answers_nothing_is_logged_once_per_interval_not_per_question() {
    const FLOWS: u8 = 200;
    let (log, subscriber) = Captured::subscriber();
    let t0 = Instant::now();
    let core = tracing::subscriber::with_default(subscriber, || {
        let mut core = core(external_config(false, ROUTE_TO_RCV1), t0);
        let (_h, _events) =
            register_taking_up0(&mut core, mgm::CallbackSet::RPF, Default::default());
        for i in 0..FLOWS {
            miss_of(
                &mut core,
                Sg::new(sg().source, Ipv4Addr::new(239, 9, 0, i)),
                UP0,
                t0,
            );
        }
        core.housekeeping(t0 + Duration::from_secs(2));
        core
    });
    let missed = core
        .protocols()
        .into_iter()
        .find(|r| r.protocol_id == PIM)
        .expect("PIM's row")
        .missed_answers;
    assert_eq!(missed, u64::from(FLOWS), "every miss counted");
    let lines = log.lines_with("missed its answer deadline");
    assert_eq!(lines, 1, "one line for {FLOWS} misses");
}
