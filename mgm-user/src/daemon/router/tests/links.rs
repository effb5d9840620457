//! Links renamed under a running core: the old name is gone (out of service, `show interfaces`
//! without its ifindex), the new one followed. A routed flow keeps its entry across a flap of
//! an outgoing interface where IGMP runs. The MTU of a link in service: the data plane's
//! follows it, and a configured one never exceeds it.
use super::*;

/// `show interfaces` of `name`: ifindex, up, XDP mode.
fn shown(core: &Core, name: &str) -> (u32, bool, Option<String>) {
    let rows = core.interfaces();
    let row = rows
        .iter()
        .find(|r| r.name == name)
        .expect("a configured interface");
    (row.ifindex, row.up, row.xdp.clone())
}

#[test]
fn a_renamed_interface_is_gone_under_its_old_name_until_it_gets_it_back() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    miss(&mut core, UP0, t0);
    // As `ip link set rcv1 down; ip link set rcv1 name rcvx; ip link set rcvx up`.
    core.link_changed(link("rcv1", RCV1, false), t0);
    core.link_changed(link("rcvx", RCV1, false), t0);
    core.link_changed(link("rcvx", RCV1, true), t0);
    assert_eq!(
        shown(&core, "rcv1"),
        (0, false, None),
        "rcv1 no longer exists"
    );
    assert_eq!(entry(&core), Some((UP0, vec![RCV2])));
    // And back.
    core.link_changed(link("rcvx", RCV1, false), t0);
    core.link_changed(link("rcv1", RCV1, false), t0);
    core.link_changed(link("rcv1", RCV1, true), t0);
    assert_eq!(
        shown(&core, "rcv1"),
        (RCV1, true, Some("driver".to_owned()))
    );
    assert_eq!(entry(&core), Some((UP0, vec![RCV1, RCV2])));
    assert!(differences(&core).is_empty());
}

#[test]
fn an_interface_renamed_while_up_leaves_service_and_loses_its_program() {
    let t0 = Instant::now();
    let mut core = core(config(&["rcv1", "rcv2"]), t0);
    miss(&mut core, UP0, t0);
    // A live rename (devices with IFF_LIVE_RENAME_OK): no down before.
    core.link_changed(link("rcvx", RCV1, true), t0);
    assert_eq!(shown(&core, "rcv1"), (0, false, None));
    assert!(!core.io.attached.contains_key("rcv1"), "XDP detached");
    assert_eq!(entry(&core), Some((UP0, vec![RCV2])));
    assert!(differences(&core).is_empty());
}

/// The MTU the data plane applies to copies sent out of `ifindex`.
fn egress_mtu(core: &Core, ifindex: u32) -> u32 {
    core.backend.ifaces[&ifindex].mtu
}

#[test]
fn the_data_plane_mtu_follows_the_link_and_never_exceeds_it() {
    let t0 = Instant::now();
    let mut core = core(config_with(&["rcv1", "rcv2"], "mtu = 1400\n", ""), t0);
    let mut set_mtu = |name, ifindex, mtu| {
        let link = Link {
            mtu,
            ..link(name, ifindex, true)
        };
        core.link_changed(link, t0);
        egress_mtu(&core, ifindex)
    };
    assert_eq!(set_mtu("rcv1", RCV1, 1500), 1500, "rcv1: the link's own");
    assert_eq!(
        set_mtu("rcv2", RCV2, 1500),
        1400,
        "rcv2: the configured one"
    );
    assert_eq!(set_mtu("rcv1", RCV1, 1300), 1300);
    assert_eq!(
        set_mtu("rcv2", RCV2, 1300),
        1300,
        "the link's, below the configured one"
    );
    assert_eq!(
        set_mtu("rcv2", RCV2, 9000),
        1400,
        "the configured one again"
    );
    assert_eq!(set_mtu("rcv1", RCV1, 9000), 9000);
}

#[test]
fn a_routed_flow_keeps_its_entry_across_a_flap_of_an_outgoing_interface_with_igmp() {
    let t0 = Instant::now();
    let text = "[[interface]]\nname = \"up0\"\nigmp = false\n\n\
                [[interface]]\nname = \"rcv1\"\n\n\
                [[interface]]\nname = \"rcv2\"\nigmp = false\n\n\
                [[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [\"rcv1\", \"rcv2\"]\n";
    let config = Config::parse(text, "test").expect("valid configuration");
    let mut io = FakeIo::default();
    io.addresses
        .insert(RCV1, (Ipv4Addr::new(10, 1, 0, 254), 24));
    let mut core = core_on(config, FakeBackend::default(), io, t0);
    assert!(core.igmp.subnet(RCV1).is_some(), "IGMP runs on rcv1");
    miss(&mut core, UP0, t0);
    core.link_changed(link("rcv1", RCV1, false), t0);
    assert_eq!(entry(&core), Some((UP0, vec![RCV2])));
    core.link_changed(link("rcv1", RCV1, true), t0);
    assert_eq!(
        entry(&core),
        Some((UP0, vec![RCV1, RCV2])),
        "rcv1 back in place, the entry kept (no miss needed)"
    );
    assert!(differences(&core).is_empty());
}
