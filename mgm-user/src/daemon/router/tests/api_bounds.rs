//! The API's bound on what external protocols may make mgmd hold: memberships.
use super::*;
use crate::{
    api::proto::{ApiIfId, ApiSg, Request},
    daemon::{api_calls, dispatch, mfe_rates::MfeRates, pins::Pins},
};
use std::collections::HashMap;

/// Calls of one connection through the API dispatch.
struct Connection {
    reporting: dispatch::Reporting<'static>,
    sessions: HashMap<u64, mgm::ProtocolHandle>,
    events: std::sync::mpsc::Sender<Event>,
    _received: std::sync::mpsc::Receiver<Event>,
}

impl Connection {
    fn new() -> Self {
        let (events, _received) = std::sync::mpsc::channel();
        Connection {
            reporting: dispatch::Reporting {
                pins: Pins::unpinned(),
                rates: MfeRates::default(),
                config: Box::new(dispatch::NoConfigFile),
            },
            sessions: HashMap::new(),
            events,
            _received,
        }
    }

    fn call(&mut self, core: &mut Core, request: Request, now: Instant) -> Response {
        dispatch::handle(
            core,
            &mut self.reporting,
            &mut self.sessions,
            1,
            request,
            self.events.clone(),
            now,
        )
    }
}

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

fn refused(core: &mut Core, api: &mut Connection) -> u64 {
    match api.call(core, Request::Stats, Instant::now()) {
        Response::Stats { counters } => counters["api_memberships_refused"],
        other => panic!("stats: {other:?}"),
    }
}

#[test]
fn external_protocols_hold_a_bounded_number_of_memberships() {
    let t0 = Instant::now();
    let mut io = FakeIo::default();
    io.existing.insert(RCV2);
    let mut core = core_on(
        external_config(true, ROUTE_TO_RCV1),
        FakeBackend::default(),
        io,
        t0,
    );
    let mut api = Connection::new();
    let registered = api.call(
        &mut core,
        Request::Register {
            protocol_id: PIM,
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
    let take = Request::TakeInterface {
        ifid: ApiIfId::index(RCV2),
    };
    assert_eq!(api.call(&mut core, take, t0), Response::Ok);
    let group = |i: usize| Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 8, 0, 0)) + i as u32);

    for i in 0..api_calls::MAX_API_MEMBERSHIPS {
        assert_eq!(api.call(&mut core, join(group(i)), t0), Response::Ok, "{i}");
    }
    let before = refused(&mut core, &mut api);
    let beyond = group(api_calls::MAX_API_MEMBERSHIPS);
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
