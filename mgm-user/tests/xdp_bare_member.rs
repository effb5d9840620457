//! Root lab test of the outgoing sets' bare members (design.md, "Bare members"): the member
//! whose devmap entry runs no egress program gets its own MAC and counts, moves when a rule is
//! set on it, and sets sharing interfaces keep at most one each, an interface bare in every
//! set listing it or in none.
mod xdp_common;

use mgm_common::SgKey;
use mgm_user::{dataplane::ForwardingBackend, lab::Host};
use std::{collections::BTreeMap, net::Ipv4Addr, time::Duration};
use xdp_common::rig::{histogram, send, sg, Rig, SEND_TTL, SOURCE};

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_sets_bare_member_gets_its_mac_and_counts_and_moves_when_a_rule_is_set_on_it() {
    let mut rig = Rig::new();
    let listed = [1u8, 2, 3];
    rig.set_list(&listed);
    const N: u64 = 200;
    let mut sent = 0;
    // Sends N packets; checks that exactly `getting` got each once, with TTL - 1 and their
    // own MAC, and every listed interface's counters (copies derived: entry packets less
    // drops; `dropping` counts every packet as a drop).
    let mut round = |rig: &mut Rig, getting: &[u8], drops: &BTreeMap<u8, u64>| {
        send(
            &rig.sender,
            sent..sent + N,
            Some(Duration::from_micros(500)),
        );
        sent += N;
        let (copies, _) = rig.captured();
        for n in listed {
            let got = &copies[&n];
            if !getting.contains(&n) {
                assert!(got.is_empty(), "receiver {n} got {}", got.len());
                continue;
            }
            let seen = histogram(got);
            assert_eq!(seen.len() as u64, N, "receiver {n}: every packet");
            assert!(seen.values().all(|&c| c == 1), "receiver {n}: once");
            assert!(
                got.iter()
                    .all(|c| c.source_mac == rig.ports[&n].mac && c.ttl as u32 == SEND_TTL - 1),
                "receiver {n}: its interface's MAC as source, TTL - 1"
            );
        }
        let stats = rig.router().backend.mfe_stats(sg()).expect("stats");
        assert_eq!(stats.packets, sent);
        for (ifindex, oif) in &stats.oifs {
            let n = rig.receiver_of(*ifindex);
            let dropped = drops.get(&n).copied().unwrap_or(0);
            assert_eq!(
                (oif.packets, oif.drops),
                (sent - dropped, dropped),
                "receiver {n}"
            );
        }
    };

    // Every interface's rules drop nothing: one member goes without the program.
    let (bare, unprogrammed) = rig.bare(sg());
    assert_ne!(bare, 0, "a bare member");
    assert_eq!(unprogrammed, vec![bare], "only it without the program");
    let first = rig.receiver_of(bare);
    round(&mut rig, &listed, &BTreeMap::new());
    let global = rig.router().plane.global_stats().expect("stats");
    assert_eq!(global["egress_tx"], 3 * N, "its copies counted as sent too");
    assert_eq!(global["bare_member_refused"], 0);

    // A TTL threshold on it (the copies leave with TTL 7): another member becomes bare.
    rig.configure(first, SEND_TTL as u8, 1500);
    let (bare, unprogrammed) = rig.bare(sg());
    assert!(bare != 0 && rig.receiver_of(bare) != first, "moved");
    assert_eq!(unprogrammed, vec![bare]);
    let second = rig.receiver_of(bare);
    let third = listed.into_iter().find(|n| ![first, second].contains(n));
    let third = third.expect("a third member");
    let mut drops = BTreeMap::from([(first, N)]);
    round(&mut rig, &[second, third], &drops);

    // An MTU below 1500 on the new one (which lets these packets out): it moves again.
    rig.configure(second, 0, 1400);
    let (bare, unprogrammed) = rig.bare(sg());
    assert_eq!((rig.receiver_of(bare), unprogrammed), (third, vec![bare]));
    *drops.entry(first).or_default() += N;
    round(&mut rig, &[second, third], &drops);

    // A threshold on the last one too: no member can be bare, every copy runs the program.
    rig.configure(third, SEND_TTL as u8, 1500);
    assert_eq!(rig.bare(sg()), (0, vec![]));
    *drops.entry(first).or_default() += N;
    *drops.entry(third).or_default() += N;
    round(&mut rig, &[second], &drops);

    // The first one's threshold removed: it is bare again.
    rig.configure(first, 0, 1500);
    let (bare, unprogrammed) = rig.bare(sg());
    assert_eq!((rig.receiver_of(bare), unprogrammed), (first, vec![bare]));
    *drops.entry(third).or_default() += N;
    round(&mut rig, &[first, second], &drops);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn sets_sharing_interfaces_keep_one_bare_member_each_and_an_interface_bare_in_all_or_none() {
    let mut rig = Rig::new();
    let group = |last: u8| SgKey::new(SOURCE, Ipv4Addr::new(239, 1, 2, last));
    // sg() and the second entry share a set; the others overlap it and each other.
    let entries: [(SgKey, &[u8]); 4] = [
        (sg(), &[1, 2]),
        (group(4), &[1, 2]),
        (group(5), &[2, 3]),
        (group(6), &[3, 4, 5]),
    ];
    for (sg, receivers) in entries {
        let oifs = rig.oifs(receivers);
        let iif = rig.iif;
        let backend = &mut rig.router.as_mut().expect("the router runs").backend;
        rig.lab
            .in_ns(Host::Router, || backend.install_mfe(sg, iif, &oifs))
            .expect("enter router")
            .expect("install");
    }
    let check = |rig: &mut Rig| -> Vec<u32> {
        let mut without_program = BTreeMap::new();
        let mut bares = Vec::new();
        for (sg, receivers) in entries {
            let (bare, unprogrammed) = rig.bare(sg);
            assert!(unprogrammed.len() <= 1, "{sg:?}: at most one bare member");
            assert_eq!(
                unprogrammed,
                (bare != 0).then_some(bare).into_iter().collect::<Vec<_>>()
            );
            for ifindex in rig.oifs(receivers) {
                let bare_here = unprogrammed.contains(&ifindex);
                let before = *without_program.entry(ifindex).or_insert(bare_here);
                assert_eq!(
                    before, bare_here,
                    "interface {ifindex}: bare in all sets or none"
                );
            }
            bares.push(bare);
        }
        assert_eq!(bares[0], bares[1], "the shared set");
        bares
    };
    let bares = check(&mut rig);
    assert_ne!(bares[0], 0);

    // A TTL threshold on the shared set's bare member: both entries see the change.
    let n = rig.receiver_of(bares[0]);
    rig.configure(n, SEND_TTL as u8, 1500);
    let moved = check(&mut rig);
    assert_ne!(moved[0], bares[0]);
    const N: u64 = 200;
    send(&rig.sender, 0..N, Some(Duration::from_micros(500)));
    let (copies, _) = rig.captured();
    let other = if n == 1 { 2 } else { 1 };
    assert!(copies[&n].is_empty());
    let got = &copies[&other];
    assert_eq!(histogram(got).len() as u64, N);
    assert!(got.iter().all(|c| c.source_mac == rig.ports[&other].mac));
    let stats = rig.router().backend.mfe_stats(sg()).expect("stats");
    for (ifindex, oif) in &stats.oifs {
        let drops = if rig.receiver_of(*ifindex) == n { N } else { 0 };
        assert_eq!((oif.packets, oif.drops), (N - drops, drops));
    }
}
