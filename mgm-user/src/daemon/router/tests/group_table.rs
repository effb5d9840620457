//! `show groups` at scale: the table asks IGMP for an interface's excluded sources once, not
//! once per row (which made 8192 groups take 50 s, mgmd answering nothing else meanwhile).
use super::*;
use crate::wire::igmp::{self, GroupRecordRepr, RecordType};
use std::{cell::Cell, collections::BTreeMap};

const GROUPS: u8 = 40;

fn group(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(239, 9, 0, i)
}

/// A source excluded from group `i`.
fn excluded(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, i)
}

/// A core whose rcv1 runs IGMP with a host reporting EXCLUDE {excluded(i)} for each group.
fn core_with_exclude_members(t0: Instant) -> Core {
    let text = "[[interface]]\nname = \"up0\"\nigmp = false\n\n\
                [[interface]]\nname = \"rcv1\"\n";
    let mut core = core(Config::parse(text, "test").expect("valid"), t0);
    core.io
        .addresses
        .insert(RCV1, (Ipv4Addr::new(10, 1, 0, 254), 24));
    core.ipv4_addresses_changed(RCV1, t0);
    let records = (1..=GROUPS)
        .map(|i| GroupRecordRepr {
            record_type: RecordType::IsExclude,
            group: group(i),
            sources: vec![excluded(i)],
        })
        .collect();
    let datagram = igmp::Repr::ReportV3 { records }
        .to_datagram(Ipv4Addr::new(10, 1, 0, 1), igmp::ALL_V3_ROUTERS)
        .expect("report");
    core.igmp_datagram(RCV1, &datagram, t0);
    core
}

#[test]
fn the_group_table_asks_for_an_interfaces_excluded_sources_once() {
    let core = core_with_exclude_members(Instant::now());
    let asked = Cell::new(0);
    let rows = core.group_rows::<Ipv4Addr>(
        core.builtins.igmp.0,
        |_| {
            asked.set(asked.get() + 1);
            BTreeMap::new()
        },
        |_| None,
    );
    assert_eq!(rows.len(), usize::from(GROUPS));
    assert_eq!(asked.get(), 1, "once for rcv1, not once per row");
}

#[test]
fn each_group_row_lists_its_own_excluded_source() {
    let core = core_with_exclude_members(Instant::now());
    let rows = core.groups();
    assert_eq!(rows.len(), usize::from(GROUPS));
    for row in rows {
        let IpAddr::V4(group) = row.group else {
            panic!("an IPv4 row: {row:?}");
        };
        let i = group.octets()[3];
        assert_eq!(
            (row.mode.as_str(), row.excluded),
            ("exclude", vec![IpAddr::V4(excluded(i))])
        );
    }
}
