//! mgmd's request handler without root (cargo feature `testkit`, off by default): the router
//! core over the in-memory backend and I/O of the core's own tests, answering API requests
//! through the same dispatch as mgmd. The `api` fuzz target drives it with arbitrary
//! connections, and `tests/fuzz_corpora.rs` replays its corpus through it.
//!
//! The router has up0 (ifindex 2, towards the sources 10.0.0.0/24), rcv1 (3, IGMP) and rcv2
//! (4, left to an external protocol), a static route from up0 for 239.1.0.0/16 to rcv1, and
//! the entries of two flows from up0, so that every call has something to work on.
pub use super::router::fake::{FakeBackend, FakeIo};
use super::{
    dispatch,
    hold::{Hold, HoldLimits},
    links::Link,
    mfe_rates::MfeRates,
    pins::Pins,
    router::RouterCore,
    routes::Route,
    server::ConnectionId,
};
use crate::{
    api::proto::{Event, Request, Response},
    config::Config,
    dataplane::DataPlaneReport,
    mgm::ProtocolHandle,
};
use mgm_common::SgKey;
use std::{
    collections::HashMap,
    net::Ipv4Addr,
    sync::mpsc::{self, Receiver, Sender},
    time::{Duration, Instant},
};

const CONFIG: &str = r#"
[[interface]]
name = "up0"
igmp = false

[[interface]]
name = "rcv1"

[[interface]]
name = "rcv2"
owner = "external"

[[route]]
from = "up0"
group = "239.1.0.0/16"
to = ["rcv1"]
"#;

/// The interfaces: (name, ifindex, address).
const INTERFACES: [(&str, u32, Ipv4Addr); 3] = [
    ("up0", 2, Ipv4Addr::new(10, 0, 0, 254)),
    ("rcv1", 3, Ipv4Addr::new(192, 168, 1, 1)),
    ("rcv2", 4, Ipv4Addr::new(192, 168, 2, 1)),
];

/// The flows whose first packet arrived on up0 before any request: (source, group).
const FLOWS: [([u8; 4], [u8; 4]); 2] = [
    ([10, 0, 0, 1], [239, 1, 1, 1]),
    ([10, 0, 0, 2], [239, 2, 0, 1]),
];

/// A connection's event channel: the sender the dispatch hands to a registration, and the
/// receiver drained after every request (what a protocol is sent is not kept).
type Events = (Sender<Event>, Receiver<Event>);

/// The router core over the fakes, with the API sessions mgmd keeps.
pub struct ApiHarness {
    core: RouterCore<FakeBackend, FakeIo>,
    reporting: dispatch::Reporting<'static>,
    sessions: HashMap<ConnectionId, ProtocolHandle>,
    events: HashMap<ConnectionId, Events>,
    now: Instant,
}

impl ApiHarness {
    /// The router described in the module documentation, at time `now`.
    pub fn new(now: Instant) -> Self {
        let config = Config::parse(CONFIG, "testkit").expect("the harness's configuration");
        let mut io = FakeIo::default();
        for (_, ifindex, address) in INTERFACES {
            io.existing.insert(ifindex);
            io.addresses.insert(ifindex, (address, 24));
        }
        let hold = Hold::new(HoldLimits::default());
        let mut core = RouterCore::with_parts(config, FakeBackend::default(), io, hold, now)
            .expect("a core over the fakes");
        core.routes_present(vec![Route {
            network: Ipv4Addr::new(10, 0, 0, 0),
            prefix_len: 24,
            oif: INTERFACES[0].1,
            gateway: Ipv4Addr::UNSPECIFIED,
        }]);
        for (name, ifindex, _) in INTERFACES {
            let link = Link {
                name: name.to_owned(),
                ifindex,
                up: true,
                mac: [2, 0, 0, 0, 0, ifindex as u8],
                mtu: 1500,
            };
            core.link_changed(link, now);
        }
        for (source, group) in FLOWS {
            let sg = SgKey {
                source: u32::from_be_bytes(source).to_be(),
                group: u32::from_be_bytes(group).to_be(),
            };
            let miss = DataPlaneReport::Miss {
                sg,
                ifindex: INTERFACES[0].1,
                header: Vec::new(),
            };
            core.report(miss, now);
        }
        Self {
            core,
            reporting: dispatch::Reporting {
                pins: Pins::unpinned(),
                rates: MfeRates::default(),
                config: Box::new(dispatch::NoConfigFile),
            },
            sessions: HashMap::new(),
            events: HashMap::new(),
            now,
        }
    }

    /// Answers one request frame of `connection` as mgmd does: a frame that is not a request
    /// is answered with code 87, a request by the dispatch. Exactly one answer either way.
    pub fn answer(&mut self, connection: ConnectionId, frame: &[u8]) -> Response {
        let request = match serde_json::from_slice::<Request>(frame) {
            Ok(request) => request,
            Err(e) => return Response::error(87, format!("malformed request: {e}")),
        };
        let (sender, _) = self.events.entry(connection).or_insert_with(mpsc::channel);
        let sender = sender.clone();
        let response = dispatch::handle(
            &mut self.core,
            &mut self.reporting,
            &mut self.sessions,
            connection,
            request,
            sender,
            self.now,
        );
        for (_, received) in self.events.values() {
            received.try_iter().for_each(drop);
        }
        response
    }

    /// `connection` closed: its protocol is deregistered, as mgmd does.
    pub fn close(&mut self, connection: ConnectionId) {
        dispatch::closed(&mut self.core, &mut self.sessions, connection);
        self.events.remove(&connection);
    }

    /// Moves the clock on by `by` and runs what is due: timers, housekeeping (open questions
    /// past their deadline are forgotten).
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.core.tick(self.now);
        self.core.housekeeping(self.now);
    }

    /// The core's consistency check: every difference between the MGM's entries and what the
    /// backend holds (none while the backend takes every write).
    pub fn differences(&self) -> Vec<String> {
        match self.core.check() {
            Ok(report) => report.differences,
            Err(e) => vec![format!("reading the backend: {e}")],
        }
    }
}
