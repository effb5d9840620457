//! Root test of the XDP backend's bookkeeping when a change fails, against the real maps: a
//! change whose outgoing set cannot be filled (a devmap insert of an interface that does not
//! exist fails) leaves the entry as it was, in the map and in the bookkeeping alike, and a
//! later change succeeds. A full table refuses an install at once, without waiting for a grace
//! period (an IPv6 one too: both families share the counter slots). A set whose single-copy
//! programs cannot be written (`OIF_DIRECT` full) is not left in use. A bare member moved
//! while its interface is being deleted (its devmap entry cannot be written) leaves no set a
//! bare member it does not have.
use aya::maps::{DevMapHash, Map, MapData};
use mgm_common::{limits, Sg6Key, SgKey};
use mgm_user::{
    dataplane::{
        map_name, DataPlane, DataPlaneError, ForwardingBackend, IfaceSettings, InstalledMfe,
        XdpBackend,
    },
    lab::{Host, Lab},
};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd as _;

/// An ifindex no interface has.
const NO_SUCH_IFINDEX: u32 = 999_999;

/// Runs `test` in the router's namespace of a star of `N` - 1 receivers, with a data plane of
/// its own and the ifindexes of up0, rcv1, rcv2...
fn in_router<const N: usize>(test: impl FnOnce(&mut DataPlane, [u32; N]) + Send) {
    let lab = Lab::star(N as u8 - 1).expect("lab");
    let ifindex = |name: &str| lab.ifindex(Host::Router, name).expect("ifindex");
    let ifindexes: [u32; N] = std::array::from_fn(|i| match i {
        0 => ifindex("up0"),
        n => ifindex(&format!("rcv{n}")),
    });
    lab.in_ns(Host::Router, || {
        let mut plane = DataPlane::load().expect("data plane");
        test(&mut plane, ifindexes);
    })
    .expect("enter the router's namespace");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_failed_change_leaves_the_entry_and_its_bookkeeping_as_they_were() {
    let sg = SgKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 2, 3));
    in_router(|plane, [up0, rcv1, rcv2]| {
        let mut backend = XdpBackend::new(plane).expect("backend");
        backend.install_mfe(sg, up0, &[rcv1]).expect("install");
        let before = InstalledMfe {
            sg,
            iif: up0,
            oifs: vec![rcv1],
        };

        let failed = backend.update_mfe(sg, up0, &[rcv1, NO_SUCH_IFINDEX]);
        assert!(failed.is_err(), "the devmap refuses a missing interface");
        assert_eq!(backend.installed(sg), Some(before.clone()), "bookkeeping");
        assert_eq!(
            backend.read_back().expect("maps"),
            vec![before.clone()],
            "maps"
        );
        assert!(backend.mfe_stats(sg).is_ok(), "counters still readable");

        let failed = backend.install_mfe(sg, up0, &[NO_SUCH_IFINDEX, rcv2]);
        assert!(failed.is_err());
        assert_eq!(backend.installed(sg), Some(before.clone()));
        assert_eq!(backend.read_back().expect("maps"), vec![before]);

        backend
            .update_mfe(sg, up0, &[rcv1, rcv2])
            .expect("a good change");
        let after = InstalledMfe {
            sg,
            iif: up0,
            oifs: vec![rcv1, rcv2],
        };
        assert_eq!(backend.installed(sg), Some(after.clone()));
        assert_eq!(backend.read_back().expect("maps"), vec![after]);
    });
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_full_table_refuses_an_install_without_waiting_for_a_grace_period() {
    let lab = Lab::star(1).expect("lab");
    let up0 = lab.ifindex(Host::Router, "up0").expect("ifindex");
    let key = |n: u32| SgKey::new(Ipv4Addr::from(0x0a00_0000 | n), Ipv4Addr::new(239, 1, 2, 3));
    lab.in_ns(Host::Router, || {
        let mut plane = DataPlane::load().expect("data plane");
        let mut backend = XdpBackend::new(&mut plane).expect("backend");
        for n in 0..limits::MFES {
            backend
                .install_mfe(key(n), up0, &[])
                .expect("install within capacity");
        }
        let waited = backend.grace_periods();

        let refused = backend.install_mfe(key(limits::MFES), up0, &[]);
        assert!(refused.is_err(), "the table is full");
        assert_eq!(
            backend.grace_periods(),
            waited,
            "a refusal waits for nothing"
        );
        assert!(backend.installed(key(limits::MFES)).is_none());
        assert_eq!(backend.len(), limits::MFES as usize);
        // IPv6 entries draw on the same counter slots: refused too, and nothing left behind.
        let sg6 = Sg6Key::new(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, 1),
        );
        assert!(matches!(
            backend.install_mfe6(sg6, up0, &[]),
            Err(DataPlaneError::Full(_))
        ));
        assert!(backend.installed6(sg6).is_none());
        assert!(backend.read_back6().expect("MFES6").is_empty());

        backend.delete_mfe(key(0)).expect("delete");
        backend
            .install_mfe(key(limits::MFES), up0, &[])
            .expect("room again after a delete");
    })
    .expect("enter the router's namespace");
}

/// A second handle of the data plane's `OIF_DIRECT`, for the test to write beside the backend.
fn oif_direct(plane: &mut DataPlane) -> DevMapHash<MapData> {
    let map = plane
        .ebpf_mut()
        .map(map_name::OIF_DIRECT)
        .expect("OIF_DIRECT");
    let Map::DevMapHash(data) = map else {
        panic!("OIF_DIRECT is not a DEVMAP_HASH");
    };
    let fd = data.fd().as_fd().try_clone_to_owned().expect("dup");
    Map::DevMapHash(MapData::from_fd(fd).expect("map from fd"))
        .try_into()
        .expect("DevMapHash")
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_set_whose_single_copy_programs_cannot_be_written_is_not_left_in_use() {
    let sg = SgKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 2, 4));
    in_router(|plane, [up0, rcv1, rcv2]| {
        let mut direct = oif_direct(plane);
        let mut backend = XdpBackend::new(plane).expect("backend");
        // OIF_DIRECT filled with keys no interface has (beyond IFACES, so without flags).
        let junk: Vec<u32> = (limits::IFACES..)
            .take_while(|&key| direct.insert(key, up0, None, 0).is_ok())
            .collect();
        assert_eq!(junk.len(), limits::IFACES as usize, "OIF_DIRECT full");

        let failed = backend.install_mfe(sg, up0, &[rcv1, rcv2]);
        assert!(
            failed.is_err(),
            "no room for the members' single-copy programs"
        );
        assert!(backend.installed(sg).is_none());
        assert_eq!(
            backend.sets_in_use(),
            0,
            "the set the install filled has no user"
        );
        for oif in [rcv1, rcv2] {
            assert_eq!(backend.direct_program(oif).expect("read"), (false, false));
        }

        for key in junk {
            direct.remove(key).expect("remove");
        }
        backend
            .install_mfe(sg, up0, &[rcv1, rcv2])
            .expect("an install with room");
        assert_eq!(backend.sets_in_use(), 1);
        backend.delete_mfe(sg).expect("delete");
        assert_eq!(backend.sets_in_use(), 0, "its one user released it");
    });
}

/// Settings whose rules drop nothing: an interface with them may be a set's bare member.
fn rule_free(n: u8) -> IfaceSettings {
    IfaceSettings {
        mac: [2, 0, 0, 0, 0, n],
        ttl_threshold: 0,
        mtu: 0,
        mirrored: false,
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_set_that_cannot_be_filled_leaves_the_other_sets_their_bare_members() {
    let sg = |n: u8| SgKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 3, n));
    in_router(|plane, [up0, rcv1, rcv2, rcv3]| {
        let mut backend = XdpBackend::new(plane).expect("backend");
        for (n, oif) in [(1, rcv1), (2, rcv2), (3, rcv3)] {
            backend
                .configure_interface(oif, rule_free(n))
                .expect("configure");
        }
        // rcv1 is the bare member of one set, rcv2 of another (up0 has rules: not configured).
        backend
            .install_mfe(sg(1), up0, &[rcv1, rcv3])
            .expect("set 1");
        backend
            .install_mfe(sg(2), rcv3, &[up0, rcv2])
            .expect("set 2");
        let bare = |backend: &XdpBackend, n| backend.bare_member(sg(n)).expect("read");
        assert_eq!(bare(&backend, 1), Some((rcv1, vec![rcv1])));
        assert_eq!(bare(&backend, 2), Some((rcv2, vec![rcv2])));

        // A list with both would keep rcv1 bare and give rcv2 its program back, but the set
        // cannot be filled: rcv2 is set 2's bare member again.
        let failed = backend.install_mfe(sg(3), up0, &[rcv1, rcv2, NO_SUCH_IFINDEX]);
        assert!(failed.is_err());
        assert_eq!(backend.sets_in_use(), 2);
        assert_eq!(bare(&backend, 1), Some((rcv1, vec![rcv1])));
        assert_eq!(
            bare(&backend, 2),
            Some((rcv2, vec![rcv2])),
            "set 2 keeps one"
        );
    });
}

/// Settings whose TTL threshold drops copies: an interface with them is no bare member.
fn with_rules(n: u8) -> IfaceSettings {
    IfaceSettings {
        ttl_threshold: 5,
        ..rule_free(n)
    }
}

/// Deletes interface `name` of the namespace the calling thread is in (the kernel removes it
/// from every devmap: a write of it fails from then on).
fn delete_link(name: &str) {
    let status = std::process::Command::new("ip")
        .args(["link", "del", name])
        .status()
        .expect("ip");
    assert!(status.success(), "ip link del {name}");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_member_that_cannot_be_made_bare_is_no_sets_bare_member() {
    let sg = SgKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 4, 1));
    in_router(|plane, [up0, rcv1, rcv2]| {
        let mut backend = XdpBackend::new(plane).expect("backend");
        for (n, oif) in [(1, rcv1), (2, rcv2)] {
            backend
                .configure_interface(oif, with_rules(n))
                .expect("configure");
        }
        backend.install_mfe(sg, up0, &[rcv1, rcv2]).expect("set");
        assert_eq!(backend.bare_member(sg).expect("read"), Some((0, vec![])));

        // rcv1 may become bare, but its devmap entry cannot be written any more.
        delete_link("rcv1");
        let failed = backend.configure_interface(rcv1, rule_free(1));
        assert!(failed.is_err(), "the devmap refuses a deleted interface");
        assert_eq!(
            backend.bare_member(sg).expect("read"),
            Some((0, vec![])),
            "no bare member written for the set"
        );
    });
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_bare_member_that_cannot_get_its_program_back_is_replaced_when_it_goes() {
    let sg = SgKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 4, 2));
    in_router(|plane, [up0, rcv1, rcv2]| {
        let mut backend = XdpBackend::new(plane).expect("backend");
        backend
            .configure_interface(rcv1, rule_free(1))
            .expect("configure");
        backend
            .configure_interface(rcv2, with_rules(2))
            .expect("configure");
        backend.install_mfe(sg, up0, &[rcv1, rcv2]).expect("set");
        // rcv2 may be bare too, but the set has one.
        backend
            .configure_interface(rcv2, rule_free(2))
            .expect("configure");
        assert_eq!(
            backend.bare_member(sg).expect("read"),
            Some((rcv1, vec![rcv1]))
        );

        // rcv1 gets rules while it is being deleted: its program cannot be written back.
        delete_link("rcv1");
        let failed = backend.configure_interface(rcv1, with_rules(1));
        assert!(failed.is_err(), "the devmap refuses a deleted interface");
        backend.remove_interface(rcv1).expect("remove");
        assert_eq!(
            backend.bare_member(sg).expect("read"),
            Some((rcv2, vec![rcv2])),
            "the set's other member is bare in its place"
        );
    });
}
