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

/// up0 and rcv2 without IGMP and MLD, rcv1 running IGMP `igmp` and MLD `mld`, and the route
/// of 239.7.0.0/16 from up0 to rcv1.
fn versions_config(igmp: u8, mld: u8) -> Config {
    let text = format!(
        "[[interface]]\nname = \"up0\"\nigmp = false\nmld = false\n\n\
         [[interface]]\nname = \"rcv1\"\nigmp_version = {igmp}\nmld_version = {mld}\n\n\
         [[interface]]\nname = \"rcv2\"\nigmp = false\nmld = false\n\n\
         [[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [\"rcv1\"]\n"
    );
    Config::parse(&text, "test").expect("valid configuration")
}

#[test]
fn a_reload_changing_the_igmp_and_mld_versions_keeps_the_interface_in_service() {
    let t0 = Instant::now();
    let mut io = FakeIo::default();
    io.addresses.insert(RCV1, (Ipv4Addr::new(10, 0, 1, 1), 24));
    io.link_locals
        .insert(RCV1, "fe80::1".parse().expect("an address"));
    let mut core = core_on(versions_config(3, 2), FakeBackend::default(), io, t0);
    miss(&mut core, UP0, t0);
    let (writes, attaches) = (core.backend.writes.clone(), core.io.attaches);
    let (igmp_sent, mld_sent) = (core.io.igmp_sent.len(), core.io.mld_sent.len());

    let t1 = t0 + Duration::from_secs(60);
    core.reload(versions_config(2, 1), t1);
    core.tick(t1);
    assert_eq!(core.io.attaches, attaches, "rcv1 stays in service");
    assert_eq!(
        core.backend.writes, writes,
        "the flow through rcv1 untouched"
    );
    assert_eq!(entry(&core), Some((UP0, vec![RCV1])));
    let igmp = core.igmp.snapshot(t1).interfaces.remove(0);
    assert_eq!(igmp.querier.version, crate::igmp::Version::V2);
    let mld = core.v6.mld.snapshot(t1).interfaces.remove(0);
    assert_eq!(mld.querier.version, crate::mld::Version::V1);
    assert_eq!(
        (core.io.igmp_sent.len(), core.io.mld_sent.len()),
        (igmp_sent + 1, mld_sent + 1),
        "a general query in each new version at once"
    );
}

#[test]
fn a_reload_leaving_an_interface_to_external_protocols_releases_it_in_both_mgms() {
    let t0 = Instant::now();
    let mut core = core(external_config(false, ROUTE_TO_RCV1), t0);
    let rcv2 = crate::api::proto::ApiIfId::index(RCV2);
    assert!(
        matches!(
            core.external_protocol_on_interface(rcv2),
            Response::Owner { .. }
        ),
        "rcv2 is the static protocol's"
    );

    core.reload(external_config(true, ROUTE_TO_RCV1), t0);
    assert!(
        matches!(
            core.external_protocol_on_interface(rcv2),
            Response::Error { code: 1168, .. }
        ),
        "nobody owns rcv2 in the IPv4 MGM: {:?}",
        core.external_protocol_on_interface(rcv2)
    );
    let (events, _received) = std::sync::mpsc::channel();
    let h = core
        .register_external(
            PIM,
            0,
            mgm::CallbackSet::RPF,
            mgm::ClientOptions::default(),
            events,
        )
        .expect("registered");
    assert_eq!(
        core.external_take(h, rcv2),
        Response::Ok,
        "a protocol takes rcv2 in both MGMs"
    );
}

#[test]
fn a_reload_keeps_what_mgmd_reads_only_at_start() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1"]), t0);
    let running = core.config.clone();
    let mut changed = config(&["rcv2"]);
    changed.daemon.mfe_lifetime_s = 60;
    changed.daemon.max_negative_entries = 10;
    changed.daemon.punt_umem_frames = 256;
    changed.daemon.bpffs = "/sys/fs/bpf/elsewhere".into();
    changed.daemon.unpinned = !running.daemon.unpinned;
    changed.daemon.collect_stale_pins = !running.daemon.collect_stale_pins;
    changed.metrics = Some(Default::default());
    changed.daemon.adopt_window_s = 30;
    core.reload(changed, t0);
    let d = &core.config.daemon;
    assert_eq!(
        (
            d.mfe_lifetime_s,
            d.max_negative_entries,
            d.punt_umem_frames,
            d.bpffs.as_str(),
            d.unpinned,
            d.collect_stale_pins
        ),
        (
            running.daemon.mfe_lifetime_s,
            running.daemon.max_negative_entries,
            running.daemon.punt_umem_frames,
            running.daemon.bpffs.as_str(),
            running.daemon.unpinned,
            running.daemon.collect_stale_pins
        ),
        "start-only settings keep their running values"
    );
    assert_eq!(
        core.config.metrics, None,
        "the metrics listener is not moved"
    );
    assert_eq!(d.adopt_window_s, 30, "the rest of the file applies");
    assert_eq!(core.routes(), ["up0 * 239.7.0.0/16 rcv2"], "routes too");
}
