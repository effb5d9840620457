//! Throughput of the MGM core: membership add+delete with 100 k groups × 64 interfaces and 4
//! protocols (with and without 100 k MFEs), packet-driven MFE creation, and enumeration of
//! 100 k MFEs through the byte-buffer API.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mgm_user::mgm::{
    protocol_id, sizeof_mib_mfe, win32, CallbackSet, Config, IfId, MemberFlags, Mgm, MgmClient,
    ProtocolHandle, Sg, StaticRib, Timestamp,
};

const GROUPS: u32 = 100_000;
const IFACES: u32 = 64;
const PROTOCOLS: u32 = 4;

struct Nop;
impl MgmClient for Nop {}

struct World {
    mgm: Mgm,
    clients: BTreeMap<ProtocolHandle, Nop>,
    handles: Vec<ProtocolHandle>,
    now: Timestamp,
}

fn group(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(232, 0, 0, 0)) + i % GROUPS)
}

fn source(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i)
}

impl World {
    /// 4 protocols owning 16 interfaces each; 10/8 reached through if1; one (\*,G) membership
    /// per group on interface `g % 64 + 1`.
    fn new() -> Self {
        let mut rib = StaticRib::new();
        rib.insert(
            Ipv4Addr::new(10, 0, 0, 0),
            8,
            IfId::index(1),
            Ipv4Addr::UNSPECIFIED,
        );
        let mut mgm = Mgm::new(Config::default(), Box::new(rib));
        let handles: Vec<ProtocolHandle> = (0..PROTOCOLS)
            .map(|p| {
                mgm.register(protocol_id(1, 0, p + 1), 1, CallbackSet::all())
                    .unwrap()
            })
            .collect();
        let now = Timestamp::from_secs(1);
        for i in 1..=IFACES {
            mgm.take_interface_ownership(handles[Self::owner_index(i)], IfId::index(i), now)
                .unwrap();
        }
        let clients = handles.iter().map(|h| (*h, Nop)).collect();
        let mut w = World {
            mgm,
            clients,
            handles,
            now,
        };
        for g in 0..GROUPS {
            w.join(g, g % IFACES + 1, true);
        }
        w.drain();
        w
    }

    fn owner_index(ifindex: u32) -> usize {
        ((ifindex - 1) / (IFACES / PROTOCOLS)) as usize
    }

    fn join(&mut self, g: u32, ifindex: u32, add: bool) {
        let h = self.handles[Self::owner_index(ifindex)];
        let (key, ifid) = (Sg::star_g(group(g)), IfId::index(ifindex));
        let r = if add {
            self.mgm
                .add_membership(h, key, ifid, MemberFlags::JOIN, self.now)
        } else {
            self.mgm
                .delete_membership(h, key, ifid, MemberFlags::JOIN, self.now)
        };
        black_box(r).ok();
    }

    fn drain(&mut self) {
        self.mgm.drive(self.now, &mut self.clients, &mut |a| {
            black_box(a);
        });
    }

    fn create(&mut self, i: u32) {
        let r = self
            .mgm
            .packet_miss(source(i / GROUPS), group(i), 1, &[], self.now);
        black_box(r).ok();
        self.drain();
    }

    fn with_mfes(mut self) -> Self {
        for g in 0..GROUPS {
            self.create(g);
        }
        self
    }
}

/// Membership add + delete pairs on (group, interface) pairs not yet joined.
fn churn(w: &mut World, iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        let i = i as u32;
        let (g, ifindex) = (i.wrapping_mul(7919) % GROUPS, (i % (IFACES - 1)) + 2);
        w.join(g, ifindex, true);
        w.join(g, ifindex, false);
        w.drain();
    }
    start.elapsed()
}

fn membership(c: &mut Criterion) {
    let mut bare = World::new();
    let mut loaded = World::new().with_mfes();
    let mut grp = c.benchmark_group("membership");
    grp.throughput(Throughput::Elements(2));
    grp.bench_function("add+delete, 100k groups", |b| {
        b.iter_custom(|n| churn(&mut bare, n))
    });
    grp.bench_function("add+delete, 100k groups and 100k MFEs", |b| {
        b.iter_custom(|n| churn(&mut loaded, n))
    });
    grp.finish();
}

fn creation(c: &mut Criterion) {
    let mut grp = c.benchmark_group("mfe");
    grp.throughput(Throughput::Elements(1));
    grp.sample_size(10);
    let mut w = World::new();
    let mut next = 0u32;
    grp.bench_function("creation (RPF + creation alerts answered)", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                w.create(next);
                next += 1;
            }
            start.elapsed()
        })
    });
    grp.finish();
}

/// The (source, group) of the last of `n` packed `MIB_IPMCAST_MFE` records.
fn last_key(buf: &[u8], n: u32) -> Sg {
    let addr = |at: usize| Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
    let mut at = 0;
    for _ in 1..n {
        let oifs = u32::from_ne_bytes(buf[at + 48..at + 52].try_into().unwrap_or_default());
        at += sizeof_mib_mfe(oifs as usize);
    }
    Sg::new(addr(at + 4), addr(at))
}

fn enumeration(c: &mut Criterion) {
    let w = World::new().with_mfes();
    let mut grp = c.benchmark_group("enumeration");
    grp.throughput(Throughput::Elements(u64::from(GROUPS)));
    grp.sample_size(10);
    grp.bench_function("100k MFEs, byte buffer 64 KiB", |b| {
        let mut buf = vec![0u8; 64 * 1024];
        b.iter(|| {
            let (mut size, mut n, mut total) = (buf.len() as u32, 0u32, 0u32);
            let mut st = w.mgm.get_first_mfe_raw(&mut size, &mut buf, &mut n, w.now);
            loop {
                total += n;
                if st == win32::ERROR_NO_MORE_ITEMS {
                    break;
                }
                let last = last_key(&buf, n);
                st = w
                    .mgm
                    .get_next_mfe_raw(last, &mut size, &mut buf, &mut n, w.now);
            }
            assert_eq!(total, GROUPS);
        })
    });
    grp.bench_function("100k MFEs, idiomatic", |b| {
        b.iter(|| w.mgm.mfes().map(|m| m.oifs().len()).sum::<usize>())
    });
    grp.finish();
}

criterion_group!(benches, membership, creation, enumeration);
criterion_main!(benches);
