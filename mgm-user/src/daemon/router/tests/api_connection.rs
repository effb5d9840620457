//! One API connection to a core, served as mgmd's dispatch serves it: the router tests' client.
use super::*;
use crate::{
    api::proto::Request,
    daemon::{dispatch, mfe_rates::MfeRates, pins::Pins},
};
use std::collections::HashMap;

/// Calls of one connection through the API dispatch.
pub(super) struct ApiConnection {
    sessions: HashMap<u64, mgm::ProtocolHandle>,
    reporting: dispatch::Reporting<'static>,
    events: std::sync::mpsc::Sender<Event>,
    /// Kept open, so that the connection counts as alive.
    _received: std::sync::mpsc::Receiver<Event>,
}

impl ApiConnection {
    pub(super) fn new() -> Self {
        let (events, _received) = std::sync::mpsc::channel();
        ApiConnection {
            sessions: HashMap::new(),
            reporting: dispatch::Reporting {
                pins: Pins::unpinned(),
                rates: MfeRates::default(),
                config: Box::new(dispatch::NoConfigFile),
            },
            events,
            _received,
        }
    }

    pub(super) fn call(&mut self, core: &mut Core, request: Request, now: Instant) -> Response {
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
