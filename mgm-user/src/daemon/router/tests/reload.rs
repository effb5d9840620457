//! Reloads through the API dispatch (`mgmctl reload`): answered from what the configuration
//! source gives, the running configuration kept when it refuses.
use super::*;
use crate::{
    api::proto::Request,
    daemon::{dispatch, mfe_rates::MfeRates, pins::Pins},
};
use std::collections::HashMap;

/// A configuration source handing out the configurations of `next` in turn (`None`: refused).
struct Queued(Vec<Option<Config>>);

impl dispatch::ConfigSource for Queued {
    fn reread(&mut self) -> anyhow::Result<Config> {
        self.0
            .remove(0)
            .ok_or_else(|| anyhow::anyhow!("line 3: route.group: not multicast"))
    }
}

#[test]
fn the_dispatch_answers_a_reload_from_its_configuration_source() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    let source = Queued(vec![None, Some(config(&["rcv2"]))]);
    let mut reporting = dispatch::Reporting {
        pins: Pins::unpinned(),
        rates: MfeRates::default(),
        config: Box::new(source),
    };
    let mut sessions = HashMap::new();
    let (events, _received) = std::sync::mpsc::channel();
    let mut reload = |core: &mut Core| {
        dispatch::handle(
            core,
            &mut reporting,
            &mut sessions,
            1,
            Request::Reload,
            events.clone(),
            t0,
        )
    };

    match reload(&mut core) {
        Response::Error { code, message } => {
            assert_eq!(code, 87);
            assert!(message.contains("route.group"), "{message}");
        }
        other => panic!("a refused file is an error: {other:?}"),
    }
    assert_eq!(core.routes(), ["up0 * 239.7.0.0/16 rcv1"], "kept");

    assert!(matches!(reload(&mut core), Response::Ok));
    assert_eq!(core.routes(), ["up0 * 239.7.0.0/16 rcv2"], "applied");

    // The fakes' harness has no file: refused, not left unanswered.
    let mut none = dispatch::Reporting {
        pins: Pins::unpinned(),
        rates: MfeRates::default(),
        config: Box::new(dispatch::NoConfigFile),
    };
    let refused = dispatch::handle(
        &mut core,
        &mut none,
        &mut HashMap::new(),
        2,
        Request::Reload,
        events.clone(),
        t0,
    );
    assert!(matches!(refused, Response::Error { code: 87, .. }));
}
