//! The bounded MFE table: negative entries are evicted first (oldest first), then idle
//! forwarding entries, and an active flow's entry never; negative entries have their own cap.

use std::collections::HashMap;

use mgm_user::mgm::{
    Action, Address, CallbackSet, CapacityCounters, Config, IfId, MemberFlags, MfeCounters, Mgm,
    MgmClient, ProtocolHandle, Sg, StaticRib, Timestamp,
};

use super::support::{for_both_families, Family};

for_both_families!(
    a_full_table_evicts_negative_then_idle_entries_and_never_an_active_flow,
    an_idle_entry_that_counts_packets_again_is_no_longer_evicted,
    a_negative_entry_that_gains_a_receiver_is_no_longer_evicted_as_negative,
    unroutable_negatives_beyond_their_cap_recycle_the_oldest_and_leave_forwarding_alone,
    a_table_without_room_for_negatives_refuses_them,
    a_wildcard_membership_reaches_exactly_its_groups_entries_and_they_all_expire,
);

const RECEIVERS: u32 = 1;
const UPSTREAM: u32 = 2;

/// A protocol keeping every default answer.
struct Keep;
impl<A: Address> MgmClient<A> for Keep {}

/// An MGM whose table holds `max` entries, `max_negative` of them negative; one protocol owns
/// both interfaces, S's network lies behind `UPSTREAM`, and (\*,G) has a member on
/// `RECEIVERS`; G2 has none.
struct Table<A: Family> {
    mgm: Mgm<A>,
    clients: HashMap<ProtocolHandle, Keep>,
    now: Timestamp,
    backend: Vec<Action<A>>,
}

impl<A: Family> Table<A> {
    fn new(max: usize, max_negative: usize) -> Self {
        let mut rib = StaticRib::new();
        rib.insert(A::NET.0, A::NET.1, IfId::index(UPSTREAM), A::UNSPECIFIED);
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
            Sg::star_g(A::G),
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
    fn packet(&mut self, source: A, group: A) {
        self.now = self.now + std::time::Duration::from_millis(1);
        self.mgm
            .packet_miss(source, group, UPSTREAM, &[], self.now)
            .unwrap();
        self.drive();
    }

    /// The backend reports `packets` so far for `(source, G)`.
    fn counted(&mut self, source: A, packets: u64) {
        let counters = MfeCounters {
            in_pkts: packets,
            ..MfeCounters::default()
        };
        self.mgm
            .report_stats(Sg::new(source, A::G), counters, self.now)
            .unwrap();
    }

    fn has(&self, source: A, group: A) -> bool {
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

fn a_full_table_evicts_negative_then_idle_entries_and_never_an_active_flow<A: Family>() {
    let mut t = Table::<A>::new(3, 3);
    t.packet(A::source(1), A::G); // will stay active
    t.packet(A::source(2), A::G); // will go idle
    t.packet(A::source(3), A::G2); // negative
    t.counted(A::source(1), 5);
    t.counted(A::source(2), 5);
    t.counted(A::source(1), 10);
    t.counted(A::source(2), 5);
    assert_eq!(t.actions().len(), 3);
    assert_eq!(t.mgm.mfe_counts(), (3, 1));

    t.packet(A::source(4), A::G);
    assert_eq!(
        t.actions(),
        [
            format!("delete {}", A::source(3)),
            format!("install {}", A::source(4))
        ],
        "negative first"
    );
    t.packet(A::source(5), A::G);
    assert_eq!(
        t.actions(),
        [
            format!("delete {}", A::source(2)),
            format!("install {}", A::source(5))
        ],
        "then the idle one"
    );

    t.packet(A::source(6), A::G);
    assert!(
        t.actions().is_empty(),
        "every entry left forwards an active flow"
    );
    assert!(!t.has(A::source(6), A::G));
    assert!(t.has(A::source(1), A::G) && t.has(A::source(4), A::G) && t.has(A::source(5), A::G));
    assert_eq!(
        t.mgm.capacity_counters(),
        CapacityCounters {
            evicted_negative: 1,
            evicted_idle: 1,
            refused: 1,
        }
    );

    // The refused flow gets its entry once one of the others goes idle.
    t.counted(A::source(1), 10);
    t.packet(A::source(6), A::G);
    assert_eq!(
        t.actions(),
        [
            format!("delete {}", A::source(1)),
            format!("install {}", A::source(6))
        ]
    );
}

fn an_idle_entry_that_counts_packets_again_is_no_longer_evicted<A: Family>() {
    let mut t = Table::<A>::new(2, 2);
    t.packet(A::source(1), A::G);
    t.packet(A::source(2), A::G);
    t.counted(A::source(1), 5);
    t.counted(A::source(1), 5); // idle
    t.counted(A::source(1), 6); // active again
    t.actions();
    t.packet(A::source(3), A::G);
    assert!(t.actions().is_empty());
    assert_eq!(t.mgm.capacity_counters().refused, 1);
}

fn a_negative_entry_that_gains_a_receiver_is_no_longer_evicted_as_negative<A: Family>() {
    let mut t = Table::<A>::new(2, 2);
    t.packet(A::source(1), A::G2);
    t.packet(A::source(2), A::G);
    let p = *t.clients.keys().next().unwrap();
    let now = t.now;
    t.mgm
        .add_membership(
            p,
            Sg::star_g(A::G2),
            IfId::index(RECEIVERS),
            MemberFlags::JOIN,
            now,
        )
        .unwrap();
    t.drive();
    assert_eq!(t.mgm.mfe_counts(), (2, 0));
    t.actions();
    t.packet(A::source(3), A::G);
    assert!(
        t.actions().is_empty(),
        "both entries forward and are not idle"
    );
    assert!(t.has(A::source(1), A::G2));
}

fn unroutable_negatives_beyond_their_cap_recycle_the_oldest_and_leave_forwarding_alone<
    A: Family,
>() {
    let mut t = Table::<A>::new(10, 2);
    t.packet(A::source(1), A::G);
    t.counted(A::source(1), 1);
    t.counted(A::source(1), 1); // idle, yet a negative spray must not evict it
    for n in 1..=5 {
        t.packet(A::unroutable(n), A::G);
    }
    assert_eq!(t.mgm.mfe_counts(), (3, 2));
    assert!(t.has(A::unroutable(4), A::G) && t.has(A::unroutable(5), A::G));
    assert!(t.has(A::source(1), A::G));
    assert_eq!(
        t.mgm.capacity_counters(),
        CapacityCounters {
            evicted_negative: 3,
            evicted_idle: 0,
            refused: 0,
        }
    );
}

fn a_table_without_room_for_negatives_refuses_them<A: Family>() {
    let mut t = Table::<A>::new(10, 0);
    t.packet(A::unroutable(1), A::G);
    assert!(!t.has(A::unroutable(1), A::G));
    assert_eq!(t.mgm.capacity_counters().refused, 1);
    assert!(t.actions().is_empty());
}

/// The table finds a group's entries in its (group, source) order: a (\*,G2) join reaches
/// every source of G2 and none of G next to it, and all of them expire together (a table of
/// 100 000 sources of one group once took minutes to expire, a list per group searched per
/// deletion).
fn a_wildcard_membership_reaches_exactly_its_groups_entries_and_they_all_expire<A: Family>() {
    let mut t = Table::<A>::new(1000, 1000);
    for n in 1..=200 {
        t.packet(A::source(n), A::G);
        t.packet(A::source(n), A::G2);
    }
    assert_eq!(t.mgm.mfe_counts(), (400, 200));
    t.backend.clear();
    let p = *t.clients.keys().next().expect("the protocol");
    let receivers = IfId::index(RECEIVERS);
    let now = t.now;
    t.mgm
        .add_membership(p, Sg::star_g(A::G2), receivers, MemberFlags::JOIN, now)
        .unwrap();
    t.drive();
    let mut updated: Vec<Sg<A>> = t
        .backend
        .drain(..)
        .filter_map(|a| match a {
            Action::UpdateMfe { sg, oifs, .. } if oifs.contains(receivers) => Some(sg),
            _ => None,
        })
        .collect();
    updated.sort();
    let expected: Vec<Sg<A>> = (1..=200).map(|n| Sg::new(A::source(n), A::G2)).collect();
    assert_eq!(updated, expected);
    assert_eq!(t.mgm.mfe_counts(), (400, 0));

    t.now = t.now + std::time::Duration::from_secs(24 * 3600);
    t.mgm.tick(t.now);
    t.drive();
    let deleted = t
        .actions()
        .iter()
        .filter(|a| a.starts_with("delete"))
        .count();
    assert_eq!((deleted, t.mgm.mfe_counts()), (400, (0, 0)));
}
