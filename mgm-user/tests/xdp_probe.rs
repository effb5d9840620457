//! BPF_PROG_TEST_RUN tests of the inlined (S,G) lookup in front of the hash maps (`MFE_PROBE`,
//! `MFE_PROBE6`; `mgm-ebpf/src/probe.rs`): hits and misses answered by the probe, for IPv4 and
//! IPv6; torn and full buckets answered by the hash map; the backend's writes and removals
//! seen by the program; a pinned probe made to agree with the hash map by the next run.
mod xdp_common;

use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData, MapInfo};
use mgm_common::{config, MfeValue, ProbeBucket, Sg6Key, SgKey, PROBE_SPILLED, PROBE_WAYS};
use mgm_user::dataplane::{map_name, DataPlane, ForwardingBackend, XdpBackend};
use std::net::Ipv4Addr;
use xdp_common::{v6::*, *};

/// A map of the loaded ingress program, by name, opened behind the backend's back.
fn map(plane: &mut DataPlane, name: &str) -> MapData {
    let program = plane.ingress_program().expect("program");
    let ids = program
        .info()
        .expect("info")
        .map_ids()
        .expect("ids")
        .expect("map ids");
    let id = ids
        .into_iter()
        .find(|id| MapInfo::from_id(*id).expect("map info").name_as_str() == Some(name))
        .unwrap_or_else(|| panic!("no map {name}"));
    MapData::from_id(id).expect("map")
}

fn mfes(fx: &mut Fixture) -> BpfHashMap<MapData, SgKey, MfeValue> {
    Map::HashMap(map(&mut fx.plane, map_name::MFES))
        .try_into()
        .expect("MFES")
}

fn probe(fx: &mut Fixture) -> Array<MapData, ProbeBucket<SgKey>> {
    Map::Array(map(&mut fx.plane, map_name::MFE_PROBE))
        .try_into()
        .expect("MFE_PROBE")
}

/// A frame of (`source`, GROUP).
fn frame_from(source: Ipv4Addr) -> Vec<u8> {
    Frame {
        source,
        ..Frame::default()
    }
    .bytes()
}

/// Five sources whose (S,G)s to GROUP share one probe bucket: one more than it holds.
fn colliding_sources() -> Vec<Ipv4Addr> {
    let key = |n: u32| SgKey::new(Ipv4Addr::from_bits(0x0a00_0000 + n), GROUP);
    let bucket = key(1).probe_bucket();
    (1..)
        .filter(|n| key(*n).probe_bucket() == bucket)
        .take(PROBE_WAYS + 1)
        .map(|n| Ipv4Addr::from_bits(0x0a00_0000 + n))
        .collect()
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_probe_answers_hits_and_misses_without_the_hash_map() {
    let mut fx = forwarding_fixture();
    let mut hash = mfes(&mut fx);
    // Gone from the hash map behind the backend's back: the probe still has it.
    hash.remove(&sg()).expect("remove");
    assert_eq!(
        fx.run(&Frame::default().bytes()).0,
        XDP_REDIRECT,
        "hit in the probe"
    );
    // In the hash map alone: the probe does not have it, and its bucket is not full.
    let other = Ipv4Addr::new(10, 0, 0, 9);
    let value = MfeValue {
        iif: LO,
        oif: fx.oifs[0],
        oif_set: mgm_common::NO_OIF_SET,
        ..MfeValue::default()
    };
    hash.insert(SgKey::new(other, GROUP), value, 0)
        .expect("insert");
    assert_eq!(
        fx.run(&frame_from(other)).0,
        XDP_PASS,
        "a miss in the probe"
    );
    let stats = fx.stats();
    assert_eq!((stats["forwarded"], stats["miss"]), (1, 1));
    assert_eq!((stats["probe_torn"], stats["probe_spilled"]), (0, 0));
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn without_the_probe_setting_the_hash_map_alone_answers() {
    let mut fx = forwarding_fixture();
    let mut config: Array<MapData, u64> = Map::Array(map(&mut fx.plane, map_name::CONFIG))
        .try_into()
        .expect("CONFIG");
    assert_eq!(
        config.get(&config::PROBE, 0).expect("setting"),
        1,
        "on at load"
    );
    config.set(config::PROBE, 0, 0).expect("off");
    mfes(&mut fx).remove(&sg()).expect("remove");
    assert_eq!(fx.run(&Frame::default().bytes()).0, XDP_PASS, "a miss");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_torn_bucket_is_looked_up_in_the_hash_map() {
    let mut fx = forwarding_fixture();
    let mut buckets = probe(&mut fx);
    let index = sg().probe_bucket();
    let mut bucket = buckets.get(&index, 0).expect("bucket");
    assert_eq!(bucket.seq % 2, 0, "written whole");
    bucket.seq += 1;
    buckets.set(index, bucket, 0).expect("torn");
    assert_eq!(
        fx.run(&Frame::default().bytes()).0,
        XDP_REDIRECT,
        "hit in the map"
    );
    assert_eq!(fx.stats()["probe_torn"], 1);
    mfes(&mut fx).remove(&sg()).expect("remove");
    assert_eq!(
        fx.run(&Frame::default().bytes()).0,
        XDP_PASS,
        "the map's miss"
    );
    assert_eq!(fx.stats()["probe_torn"], 2);
    // The backend's next write of the bucket makes it whole again.
    let oifs = fx.oifs.clone();
    fx.backend.update_mfe(sg(), LO, &oifs).expect("rewrite");
    assert_eq!(buckets.get(&index, 0).expect("bucket").seq % 2, 0);
    assert_eq!(fx.run(&Frame::default().bytes()).0, XDP_REDIRECT);
    assert_eq!(fx.stats()["probe_torn"], 2, "whole again");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_entry_that_finds_its_bucket_full_is_looked_up_in_the_hash_map() {
    let mut fx = forwarding_fixture();
    fx.backend.delete_mfe(sg()).expect("delete");
    let oifs = fx.oifs.clone();
    let sources = colliding_sources();
    for source in &sources {
        fx.backend
            .install_mfe(SgKey::new(*source, GROUP), LO, &oifs)
            .expect("install");
    }
    for source in &sources {
        assert_eq!(fx.run(&frame_from(*source)).0, XDP_REDIRECT, "{source}");
    }
    assert_eq!(
        fx.stats()["probe_spilled"],
        1,
        "the fifth, from the hash map"
    );
    let index = SgKey::new(sources[0], GROUP).probe_bucket();
    let buckets = probe(&mut fx);
    assert_ne!(
        buckets.get(&index, 0).expect("bucket").used & PROBE_SPILLED,
        0
    );
    // A way frees up; the next write of the fifth moves it there.
    fx.backend
        .delete_mfe(SgKey::new(sources[0], GROUP))
        .expect("delete");
    assert_eq!(fx.run(&frame_from(sources[0])).0, XDP_PASS, "deleted");
    assert_eq!(
        fx.stats()["probe_spilled"],
        2,
        "not known yet: still spilled"
    );
    let fifth = SgKey::new(sources[PROBE_WAYS], GROUP);
    fx.backend
        .update_mfe(fifth, LO, &oifs[..1])
        .expect("rewrite");
    assert_eq!(
        buckets.get(&index, 0).expect("bucket").used & PROBE_SPILLED,
        0
    );
    assert_eq!(fx.run(&frame_from(sources[PROBE_WAYS])).0, XDP_REDIRECT);
    assert_eq!(
        fx.run(&frame_from(sources[0])).0,
        XDP_PASS,
        "a definite miss"
    );
    assert_eq!(fx.stats()["probe_spilled"], 2);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_spilled_entry_deleted_clears_the_mark_with_the_last_one() {
    let mut fx = forwarding_fixture();
    let oifs = fx.oifs.clone();
    let sources = colliding_sources();
    for source in &sources {
        fx.backend
            .install_mfe(SgKey::new(*source, GROUP), LO, &oifs)
            .expect("install");
    }
    fx.backend
        .delete_mfe(SgKey::new(sources[PROBE_WAYS], GROUP))
        .expect("delete the spilled one");
    let index = SgKey::new(sources[0], GROUP).probe_bucket();
    assert_eq!(
        probe(&mut fx).get(&index, 0).expect("bucket").used & PROBE_SPILLED,
        0
    );
    assert_eq!(fx.run(&frame_from(sources[PROBE_WAYS])).0, XDP_PASS);
    assert_eq!(fx.stats()["probe_spilled"], 0, "a definite miss");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn deletes_and_changes_are_seen_through_the_probe() {
    let mut fx = forwarding_fixture();
    let frame = Frame::default().bytes();
    assert_eq!(fx.run(&frame).0, XDP_REDIRECT);
    fx.backend.update_mfe(sg(), LO, &[]).expect("negative");
    assert_eq!(fx.run(&frame).0, XDP_DROP, "negative now");
    fx.backend.delete_mfe(sg()).expect("delete");
    assert_eq!(fx.run(&frame).0, XDP_PASS, "a miss");
    let stats = fx.stats();
    assert_eq!((stats["negative"], stats["miss"]), (1, 1));
    assert_eq!((stats["probe_torn"], stats["probe_spilled"]), (0, 0));
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_ipv6_probe_answers_hits_and_misses_and_falls_back_when_torn() {
    let mut fx = forwarding_fixture();
    let oifs = fx.oifs.clone();
    let key = Sg6Key::new(SOURCE6, GROUP6);
    fx.backend
        .install_mfe6(key, LO, &oifs[..1])
        .expect("install");
    let frame = Frame6::default().bytes();
    let mut hash: BpfHashMap<MapData, Sg6Key, MfeValue> =
        Map::HashMap(map(&mut fx.plane, map_name::MFES6))
            .try_into()
            .expect("MFES6");
    let value = hash.get(&key, 0).expect("entry");
    hash.remove(&key).expect("remove");
    assert_eq!(fx.run(&frame).0, XDP_REDIRECT, "hit in the probe");
    let mut buckets: Array<MapData, ProbeBucket<Sg6Key>> =
        Map::Array(map(&mut fx.plane, map_name::MFE_PROBE6))
            .try_into()
            .expect("probe");
    let index = key.probe_bucket();
    let mut bucket = buckets.get(&index, 0).expect("bucket");
    bucket.seq += 1;
    buckets.set(index, bucket, 0).expect("torn");
    assert_eq!(fx.run(&frame).0, XDP_PASS, "the hash map's miss");
    hash.insert(key, value, 0).expect("insert");
    assert_eq!(fx.run(&frame).0, XDP_REDIRECT, "the hash map's hit");
    assert_eq!(fx.stats()["probe_torn"], 2);
    // Another group: not in the bucket, a miss without the hash map.
    let other = Frame6 {
        group: "ff0e::8000:2".parse().expect("group"),
        ..Frame6::default()
    };
    hash.insert(Sg6Key::new(SOURCE6, other.group), value, 0)
        .expect("insert");
    assert_eq!(fx.run(&other.bytes()).0, XDP_PASS, "a miss in the probe");
    assert_eq!(fx.stats()["ipv6_miss"], 2);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_pinned_probe_is_made_to_agree_with_the_hash_map_by_the_next_run() {
    let dir = std::path::PathBuf::from(format!("/sys/fs/bpf/mgm-probe-{}", std::process::id()));
    let result = std::panic::catch_unwind(|| adopt_in(&dir));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn adopt_in(dir: &std::path::Path) {
    let kept = SgKey::new(Ipv4Addr::new(10, 0, 0, 1), GROUP);
    let stale = SgKey::new(Ipv4Addr::new(10, 0, 0, 2), GROUP);
    let lost = SgKey::new(Ipv4Addr::new(10, 0, 0, 3), GROUP);
    {
        let mut plane = DataPlane::load_pinned(dir).expect("load");
        let mut backend = XdpBackend::new(&mut plane).expect("backend");
        for key in [kept, stale, lost] {
            // Negative entries: no interface needed.
            backend.install_mfe(key, LO, &[]).expect("install");
        }
    }
    let open = |name: &str| MapData::from_pin(dir.join(name)).expect("pinned map");
    let mut hash: BpfHashMap<MapData, SgKey, MfeValue> =
        Map::HashMap(open(map_name::MFES)).try_into().expect("MFES");
    let mut buckets: Array<MapData, ProbeBucket<SgKey>> = Map::Array(open(map_name::MFE_PROBE))
        .try_into()
        .expect("probe");
    // Between the runs: one entry gone from the hash map, another from its bucket.
    hash.remove(&stale).expect("remove");
    let index = lost.probe_bucket();
    buckets.set(index, ProbeBucket::default(), 0).expect("lose");
    let mut plane = DataPlane::load_pinned(dir).expect("load again");
    let _backend = XdpBackend::new(&mut plane).expect("backend adopts");
    let program = plane.ingress_program().expect("program");
    for (key, verdict) in [(kept, XDP_DROP), (lost, XDP_DROP), (stale, XDP_PASS)] {
        let frame = frame_from(key.source_addr());
        let ctx = xdp_md(0, frame.len() as u32, LO);
        let run = test_run(program, &frame, &ctx, 1).expect("run");
        assert_eq!(run.verdict, verdict, "{key}");
    }
    let stats = plane.global_stats().expect("stats");
    assert_eq!((stats["negative"], stats["miss"]), (2, 1));
    assert_eq!((stats["probe_torn"], stats["probe_spilled"]), (0, 0));
}
