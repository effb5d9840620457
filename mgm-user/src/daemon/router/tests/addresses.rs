//! IGMP follows the IPv4 addresses of an interface in service: it starts when the first one is
//! added (also after the interface came into service), starts over from another one, and stops
//! when none is left.
use super::*;
use crate::wire::igmp::{self, GroupRecordRepr, RecordType};

/// up0 and rcv2 without IGMP, rcv1 with it; no routes: IGMP's receivers decide.
fn igmp_on_rcv1() -> Config {
    let text = "[[interface]]\nname = \"up0\"\nigmp = false\n\n\
                [[interface]]\nname = \"rcv1\"\n\n\
                [[interface]]\nname = \"rcv2\"\nigmp = false\n";
    Config::parse(text, "test").expect("valid configuration")
}

/// `host` on rcv1 reports an any-source membership of [`sg`]'s group (IGMPv3).
fn receiver_joins(core: &mut Core, host: Ipv4Addr, now: Instant) {
    let records = vec![GroupRecordRepr {
        record_type: RecordType::IsExclude,
        group: sg().group,
        sources: Vec::new(),
    }];
    let datagram = igmp::Repr::ReportV3 { records }
        .to_datagram(host, igmp::ALL_V3_ROUTERS)
        .expect("report");
    core.igmp_datagram(RCV1, &datagram, now);
}

/// Whether [`sg`]'s entry forwards to rcv1.
fn forwards_to_rcv1(core: &Core) -> bool {
    entry(core).is_some_and(|(_, oifs)| oifs.contains(&RCV1))
}

/// Whether `show interfaces` says IGMP runs on rcv1.
fn igmp_shown_on_rcv1(core: &Core) -> bool {
    core.interfaces().iter().any(|r| r.name == "rcv1" && r.igmp)
}

/// Sets rcv1's address (`None`: it has none left) and tells the core.
fn address_rcv1(core: &mut Core, address: Option<(Ipv4Addr, u8)>, now: Instant) {
    match address {
        Some(a) => core.io.addresses.insert(RCV1, a),
        None => core.io.addresses.remove(&RCV1),
    };
    core.ipv4_addresses_changed(RCV1, now);
}

#[test]
fn igmp_starts_with_the_first_ipv4_address_follows_a_new_one_and_stops_without_one() {
    let t0 = Instant::now();
    // rcv1 comes into service without an address: no IGMP yet.
    let mut core = core(igmp_on_rcv1(), t0);
    assert_eq!(core.igmp.subnet(RCV1), None);
    assert!(core.io.igmp_sent.is_empty());
    assert!(!igmp_shown_on_rcv1(&core));

    let first = (Ipv4Addr::new(10, 1, 0, 254), 24);
    address_rcv1(&mut core, Some(first), t0);
    assert_eq!(core.igmp.subnet(RCV1), Some(first));
    assert!(igmp_shown_on_rcv1(&core));
    assert!(
        core.io.igmp_sent.iter().any(|&(i, _)| i == RCV1),
        "a startup query goes out of rcv1"
    );
    receiver_joins(&mut core, Ipv4Addr::new(10, 1, 0, 1), t0);
    miss(&mut core, UP0, t0);
    assert!(forwards_to_rcv1(&core), "{:?}", entry(&core));

    // The same address told again (another address of the interface changed): nothing moves.
    let sent = core.io.igmp_sent.len();
    address_rcv1(&mut core, Some(first), t0);
    assert_eq!(core.io.igmp_sent.len(), sent);
    assert!(forwards_to_rcv1(&core));

    // Another address: IGMP starts over from it, memberships from its startup queries.
    let second = (Ipv4Addr::new(10, 1, 1, 254), 24);
    address_rcv1(&mut core, Some(second), t0);
    assert_eq!(core.igmp.subnet(RCV1), Some(second));
    assert!(!forwards_to_rcv1(&core), "{:?}", entry(&core));
    receiver_joins(&mut core, Ipv4Addr::new(10, 1, 1, 1), t0);
    assert!(forwards_to_rcv1(&core), "{:?}", entry(&core));

    // No address left: IGMP stops there, its receivers' memberships end.
    address_rcv1(&mut core, None, t0);
    assert_eq!(core.igmp.subnet(RCV1), None);
    assert!(!igmp_shown_on_rcv1(&core));
    assert!(!forwards_to_rcv1(&core), "{:?}", entry(&core));
}
