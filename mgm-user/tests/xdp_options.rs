//! BPF_PROG_TEST_RUN tests (root) of the ingress program's IPv4 options walk: well-formed
//! options are forwarded untouched, malformed ones are dropped and counted as the kernel's
//! `ip_options_compile` (and so ipmr) drops them. Loading the program in the fixture is also the
//! check that the verifier accepts the bounded walk.
mod xdp_common;

use mgm_user::dataplane::ForwardingBackend as _;
use xdp_common::*;

/// A fixture forwarding the test (S,G) from `lo` to its first veth.
fn forwarding() -> Fixture {
    let mut fx = Fixture::with_oifs(2);
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    fx
}

fn with_options(options: &[u8]) -> Vec<u8> {
    Frame {
        options: options.to_vec(),
        ..Frame::default()
    }
    .bytes()
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn well_formed_options_are_forwarded_as_they_are() {
    let mut fx = forwarding();
    let cases: [Vec<u8>; 6] = [
        vec![1, 1, 1, 1],
        vec![0x94, 4, 0, 0],
        // After EOL nothing is looked at.
        vec![0, 0xff, 0xff, 0xff],
        vec![0x94, 4, 0, 0, 0, 0x07, 0x33, 0x01],
        // Record route filling the whole 40 bytes but one EOL.
        [vec![0x07, 39, 4], vec![0; 37]].concat(),
        vec![1; 40],
    ];
    for options in &cases {
        let frame = with_options(options);
        let out = fx.forward(&frame);
        let header = &out[14..34 + options.len()];
        assert_eq!(
            &header[20..],
            options.as_slice(),
            "options forwarded untouched"
        );
        assert_eq!(checksum(header), 0);
    }
    let stats = fx.stats();
    assert_eq!((stats["ip_options"], stats["bad_options"]), (6, 0));
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn malformed_options_are_dropped_and_counted() {
    let mut fx = forwarding();
    let cases: [Vec<u8>; 6] = [
        // An option without its length byte at the end of the header.
        vec![1, 1, 1, 0x44],
        // Length 0 and 1.
        vec![0x94, 0, 0, 0],
        vec![0x94, 1, 0, 0],
        // Running past the header, also after a valid option and NOPs, and at the very end
        // of the longest header.
        vec![0x94, 5, 0, 0],
        vec![0x94, 4, 0, 0, 1, 1, 0x83, 3],
        [vec![1; 38], vec![0x44, 0xff]].concat(),
    ];
    for options in &cases {
        let (verdict, _) = fx.run(&with_options(options));
        assert_eq!(verdict, XDP_DROP, "options {options:02x?}");
    }
    let stats = fx.stats();
    assert_eq!(stats["bad_options"], 6);
    assert_eq!(stats["forwarded"], 0);
    let entry = fx.backend.mfe_stats(sg()).expect("entry stats");
    assert_eq!(entry.packets, 0, "dropped before the entry counts them");
    assert!(fx.drain_reports().is_empty(), "no creation alert either");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn options_the_kernel_refuses_are_dropped_and_the_ones_it_takes_forwarded() {
    let mut fx = forwarding();
    let refused: [Vec<u8>; 11] = [
        // Record route: pointer below 4; room for less than an address.
        vec![0x07, 7, 3, 0, 0, 0, 0, 0],
        vec![0x07, 7, 6, 0, 0, 0, 0, 0],
        // Timestamp: length 3; pointer below 5; addresses and stamps without room for a pair;
        // full with its overflow count at 15; unknown flags are taken (below).
        vec![0x44, 3, 5, 0],
        vec![0x44, 8, 4, 0, 0, 0, 0, 0],
        vec![0x44, 8, 5, 0x01, 0, 0, 0, 0],
        vec![0x44, 8, 9, 0xf0, 0, 0, 0, 0],
        // Router alert shorter than 4.
        vec![0x94, 2, 1, 1],
        // Loose and strict source routes, CIPSO.
        vec![0x83, 7, 4, 10, 0, 0, 1, 0],
        vec![0x89, 7, 4, 10, 0, 0, 1, 0],
        vec![0x86, 6, 0, 0, 0, 1, 0, 0],
        // A refused option behind a good one.
        vec![0x94, 4, 0, 0, 0x83, 3, 4, 0],
    ];
    for options in &refused {
        let (verdict, _) = fx.run(&with_options(options));
        assert_eq!(verdict, XDP_DROP, "options {options:02x?}");
    }
    assert_eq!(fx.stats()["bad_options"], refused.len() as u64);
    let taken: [Vec<u8>; 5] = [
        // Record route and timestamp full (pointer past the end), one more hop counted.
        vec![0x07, 7, 8, 0, 0, 0, 0, 0],
        vec![0x44, 8, 9, 0x10, 0, 0, 0, 0],
        // Timestamps only, room for one; addresses and stamps, room for one pair.
        vec![0x44, 8, 5, 0x00, 0, 0, 0, 0],
        vec![0x44, 12, 5, 0x01, 0, 0, 0, 0, 0, 0, 0, 0],
        // Router alert of another value.
        vec![0x94, 4, 0, 1],
    ];
    for options in &taken {
        let (verdict, _) = fx.run(&with_options(options));
        assert_eq!(verdict, XDP_REDIRECT, "options {options:02x?}");
    }
    assert_eq!(fx.stats()["bad_options"], refused.len() as u64);
}
