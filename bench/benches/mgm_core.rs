//! Criterion benchmark of the MGM core (`mgm_user::mgm`): one membership change that rewrites
//! many entries at once, a (\*,G) member added and removed while N (S,G) entries of the group
//! exist (entries created by packet misses, RPF and creation alerts answered in-process, as
//! the built-in protocols do). The core's own benchmarks (`cargo bench -p mgm-user`) cover
//! membership churn, creation and enumeration; run this one with `cargo bench -p bench`.
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mgm_user::mgm::{
    Action, CallbackSet, Config, IfId, MemberFlags, Mgm, MgmClient, ProtocolHandle, Sg, StaticRib,
    Timestamp, MS_IP_IGMP,
};
use std::{collections::BTreeMap, hint::black_box, net::Ipv4Addr, time::Duration};

/// The interface sources are reached through.
const UPSTREAM: u32 = 1;
/// Downstream interfaces with IGMP members: 2 ..= 1 + DOWNSTREAM.
const DOWNSTREAM: u32 = 8;
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
/// A protocol id for the upstream owner (PROTO_IP_NETMGMT, static routes).
const STATIC: u32 = 3;

/// A protocol that takes every default answer.
struct Quiet;
impl MgmClient for Quiet {}

/// An MGM core with a static protocol on the upstream interface and IGMP on the downstream
/// ones, every downstream interface a member of (\*,GROUP).
struct Router {
    mgm: Mgm,
    clients: BTreeMap<ProtocolHandle, Quiet>,
    igmp: ProtocolHandle,
    now: Timestamp,
}

impl Router {
    fn new() -> Self {
        let mut rib = StaticRib::new();
        rib.insert(
            Ipv4Addr::new(10, 0, 0, 0),
            8,
            IfId::index(UPSTREAM),
            Ipv4Addr::UNSPECIFIED,
        );
        let mut mgm = Mgm::new(Config::default(), Box::new(rib));
        let now = Timestamp::from_secs(1);
        let owner = mgm
            .register(STATIC, 1, CallbackSet::all())
            .expect("register");
        let igmp = mgm
            .register(MS_IP_IGMP, 1, CallbackSet::all())
            .expect("register IGMP");
        mgm.take_interface_ownership(owner, IfId::index(UPSTREAM), now)
            .expect("own upstream");
        let mut router = Self {
            mgm,
            clients: [(owner, Quiet), (igmp, Quiet)].into_iter().collect(),
            igmp,
            now,
        };
        for i in 2..2 + DOWNSTREAM {
            router
                .mgm
                .take_interface_ownership(igmp, IfId::index(i), now)
                .expect("own downstream");
            router.join(Sg::star_g(GROUP), i);
        }
        router.drive();
        router
    }

    /// Delivers queued callbacks; returns how many backend actions came out.
    fn drive(&mut self) -> usize {
        let mut actions = 0;
        self.mgm
            .drive(self.now, &mut self.clients, &mut |action: Action| {
                black_box(action);
                actions += 1;
            });
        actions
    }

    fn join(&mut self, key: Sg, ifindex: u32) {
        self.mgm
            .add_membership(
                self.igmp,
                key,
                IfId::index(ifindex),
                MemberFlags::JOIN,
                self.now,
            )
            .expect("join");
    }

    fn leave(&mut self, key: Sg, ifindex: u32) {
        self.mgm
            .delete_membership(
                self.igmp,
                key,
                IfId::index(ifindex),
                MemberFlags::JOIN,
                self.now,
            )
            .expect("leave");
    }

    /// A packet of a new (S,GROUP) misses: RPF, creation alert, entry installed.
    fn miss(&mut self, n: u32) -> usize {
        let source = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + n);
        self.mgm
            .packet_miss(source, GROUP, UPSTREAM, &[0x45, 0, 0, 20], self.now)
            .expect("packet miss");
        self.drive()
    }
}

fn membership(c: &mut Criterion) {
    let mut group = c.benchmark_group("membership");
    for entries in [100u32, 1_000] {
        group.throughput(Throughput::Elements(u64::from(entries)));
        group.bench_function(
            format!("(*,G) member added and removed, {entries} entries rewritten"),
            |b| {
                b.iter_batched_ref(
                    || {
                        let mut router = Router::new();
                        for n in 0..entries {
                            router.miss(n);
                        }
                        router
                    },
                    |router| {
                        let extra = 2 + DOWNSTREAM;
                        router
                            .mgm
                            .take_interface_ownership(router.igmp, IfId::index(extra), router.now)
                            .expect("own");
                        router.join(Sg::star_g(GROUP), extra);
                        let added = router.drive();
                        router.leave(Sg::star_g(GROUP), extra);
                        router.now = router.now + Duration::from_millis(1);
                        black_box(added + router.drive())
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group!(benches, membership);
criterion_main!(benches);
