//! The bounded MFE table: negative entries are evicted first (oldest first), then idle
//! forwarding entries, and an active flow's entry never; negative entries have their own cap.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use mgm_user::mgm::{
    Action, CallbackSet, CapacityCounters, Config, IfId, MemberFlags, MfeCounters, Mgm, MgmClient,
    ProtocolHandle, Sg, StaticRib, Timestamp,
};

const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
const G_NO_MEMBERS: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);
const RECEIVERS: u32 = 1;
const UPSTREAM: u32 = 2;

/// A protocol keeping every default answer.
struct Keep;
impl MgmClient for Keep {}

/// An MGM whose table holds `max` entries, `max_negative` of them negative; one protocol owns
/// both interfaces, 10/8 lies behind `UPSTREAM`, and (\*,G) has a member on `RECEIVERS`.
struct Table {
    mgm: Mgm,
    clients: HashMap<ProtocolHandle, Keep>,
    now: Timestamp,
    backend: Vec<Action>,
}

impl Table {
    fn new(max: usize, max_negative: usize) -> Self {
        let mut rib = StaticRib::new();
        rib.insert(
            Ipv4Addr::new(10, 0, 0, 0),
            8,
            IfId::index(UPSTREAM),
            Ipv4Addr::UNSPECIFIED,
        );
        let config = Config {
            max_mfes: max,
            max_negative_mfes: max_negative,
            ..Config::default()
        };
        let mut mgm = Mgm::new(config, Box::new(rib));
        let now = Timestamp::from_secs(1);
        let p = mgm.register(0x1234, 1, CallbackSet::all()).unwrap();
        for ifindex in [RECEIVERS, UPSTREAM] {
            mgm.take_interface_ownership(p, IfId::index(ifindex), now)
                .unwrap();
        }
        mgm.add_membership(
            p,
            Sg::star_g(G),
            IfId::index(RECEIVERS),
            MemberFlags::JOIN,
            now,
        )
        .unwrap();
        let mut table = Table {
            mgm,
            clients: HashMap::from([(p, Keep)]),
            now,
            backend: Vec::new(),
        };
        table.drive();
        table.backend.clear();
        table
    }

    fn drive(&mut self) {
        let backend = &mut self.backend;
        self.mgm
            .drive(self.now, &mut self.clients, &mut |a| backend.push(a));
    }

    /// The first packet of `source → group` arrives on `UPSTREAM`.
    fn packet(&mut self, source: Ipv4Addr, group: Ipv4Addr) {
        self.now = self.now + std::time::Duration::from_millis(1);
        self.mgm
            .packet_miss(source, group, UPSTREAM, &[], self.now)
            .unwrap();
        self.drive();
    }

    /// The backend reports `packets` so far for `(source, G)`.
    fn counted(&mut self, source: Ipv4Addr, packets: u64) {
        let counters = MfeCounters {
            in_pkts: packets,
            ..MfeCounters::default()
        };
        self.mgm
            .report_stats(Sg::new(source, G), counters, self.now)
            .unwrap();
    }

    fn has(&self, source: Ipv4Addr, group: Ipv4Addr) -> bool {
        self.mgm.mfe(Sg::new(source, group)).is_some()
    }

    /// The backend actions since the last call, as short strings.
    fn actions(&mut self) -> Vec<String> {
        self.backend
            .drain(..)
            .filter_map(|a| match a {
                Action::InstallMfe { sg, .. } => Some(format!("install {}", sg.source)),
                Action::DeleteMfe { sg } => Some(format!("delete {}", sg.source)),
                _ => None,
            })
            .collect()
    }
}

fn source(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

/// A source no route covers.
fn unroutable(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 0, n)
}

#[test]
fn a_full_table_evicts_negative_then_idle_entries_and_never_an_active_flow() {
    let mut t = Table::new(3, 3);
    t.packet(source(1), G); // will stay active
    t.packet(source(2), G); // will go idle
    t.packet(source(3), G_NO_MEMBERS); // negative
    t.counted(source(1), 5);
    t.counted(source(2), 5);
    t.counted(source(1), 10);
    t.counted(source(2), 5);
    assert_eq!(t.actions().len(), 3);
    assert_eq!(t.mgm.mfe_counts(), (3, 1));

    t.packet(source(4), G);
    assert_eq!(
        t.actions(),
        ["delete 10.0.0.3", "install 10.0.0.4"],
        "negative first"
    );
    t.packet(source(5), G);
    assert_eq!(
        t.actions(),
        ["delete 10.0.0.2", "install 10.0.0.5"],
        "then the idle one"
    );

    t.packet(source(6), G);
    assert!(
        t.actions().is_empty(),
        "every entry left forwards an active flow"
    );
    assert!(!t.has(source(6), G));
    assert!(t.has(source(1), G) && t.has(source(4), G) && t.has(source(5), G));
    assert_eq!(
        t.mgm.capacity_counters(),
        CapacityCounters {
            evicted_negative: 1,
            evicted_idle: 1,
            refused: 1,
        }
    );

    // The refused flow gets its entry once one of the others goes idle.
    t.counted(source(1), 10);
    t.packet(source(6), G);
    assert_eq!(t.actions(), ["delete 10.0.0.1", "install 10.0.0.6"]);
}

#[test]
fn an_idle_entry_that_counts_packets_again_is_no_longer_evicted() {
    let mut t = Table::new(2, 2);
    t.packet(source(1), G);
    t.packet(source(2), G);
    t.counted(source(1), 5);
    t.counted(source(1), 5); // idle
    t.counted(source(1), 6); // active again
    t.actions();
    t.packet(source(3), G);
    assert!(t.actions().is_empty());
    assert_eq!(t.mgm.capacity_counters().refused, 1);
}

#[test]
fn a_negative_entry_that_gains_a_receiver_is_no_longer_evicted_as_negative() {
    let mut t = Table::new(2, 2);
    t.packet(source(1), G_NO_MEMBERS);
    t.packet(source(2), G);
    let p = *t.clients.keys().next().unwrap();
    let now = t.now;
    t.mgm
        .add_membership(
            p,
            Sg::star_g(G_NO_MEMBERS),
            IfId::index(RECEIVERS),
            MemberFlags::JOIN,
            now,
        )
        .unwrap();
    t.drive();
    assert_eq!(t.mgm.mfe_counts(), (2, 0));
    t.actions();
    t.packet(source(3), G);
    assert!(
        t.actions().is_empty(),
        "both entries forward and are not idle"
    );
    assert!(t.has(source(1), G_NO_MEMBERS));
}

#[test]
fn unroutable_negatives_beyond_their_cap_recycle_the_oldest_and_leave_forwarding_alone() {
    let mut t = Table::new(10, 2);
    t.packet(source(1), G);
    t.counted(source(1), 1);
    t.counted(source(1), 1); // idle, yet a negative spray must not evict it
    for n in 1..=5 {
        t.packet(unroutable(n), G);
    }
    assert_eq!(t.mgm.mfe_counts(), (3, 2));
    assert!(t.has(unroutable(4), G) && t.has(unroutable(5), G));
    assert!(t.has(source(1), G));
    assert_eq!(
        t.mgm.capacity_counters(),
        CapacityCounters {
            evicted_negative: 3,
            evicted_idle: 0,
            refused: 0,
        }
    );
}

#[test]
fn a_table_without_room_for_negatives_refuses_them() {
    let mut t = Table::new(10, 0);
    t.packet(unroutable(1), G);
    assert!(!t.has(unroutable(1), G));
    assert_eq!(t.mgm.capacity_counters().refused, 1);
    assert!(t.actions().is_empty());
}
