//! BPF_PROG_TEST_RUN tests (root) of hold mode: a packet of an entry in hold mode goes to
//! mgmd's punt socket, behind the packets mgmd holds, until mgmd has dealt with every frame
//! punted before on its receive queue (`PUNTS_HANDLED` equals `PUNTED`): then the fast path
//! takes over, for good (the entry's own count, `HOLD_PUNTED`, which needs a punt socket to
//! move, is tested in the lab: `flood.rs`). When no socket serves its interface (mgmd was
//! killed, or its sockets are not open yet), nobody holds packets before it, so the fast path
//! forwards it instead of handing it to the kernel, which would drop it.
mod xdp_common;

use mgm_user::dataplane::ForwardingBackend;
use xdp_common::*;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_hold_mode_packet_no_punt_socket_serves_is_forwarded() {
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.hold_on_create(sg());
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    let out = fx.forward(&Frame::default().bytes());
    assert_eq!(out[14 + 8], 63, "TTL decremented");
    let stats = fx.stats();
    assert_eq!(stats["hold_no_punt_socket"], 1);
    assert_eq!(stats["hold_punted_xdp"], 0);
    assert_eq!((stats["forwarded"], stats["miss"]), (1, 0));
    let entry = fx.backend.mfe_stats(sg()).expect("entry");
    assert_eq!(entry.packets, 1, "counted for the entry");
}

/// Points `LO`'s misses at punt socket slot 0 (none is open there) and sets how far userspace
/// has dealt with the frames punted to it; nothing has been punted there yet.
fn punt_slot_handled_up_to(fx: &mut Fixture, mark: u32) {
    let mut punt = mgm_user::dataplane::PuntSockets::new(
        &mut fx.plane,
        mgm_user::dataplane::XskConfig::default(),
    )
    .expect("punt maps");
    punt.set_handled(0, mark).expect("mark");
    fx.backend.set_punt_slots(LO, 0, 1).expect("punt slot");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_hold_mode_packet_is_forwarded_once_userspace_has_dealt_with_every_earlier_punt() {
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.hold_on_create(sg());
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    punt_slot_handled_up_to(&mut fx, 0);
    let out = fx.forward(&Frame::default().bytes());
    assert_eq!(out[14 + 8], 63, "TTL decremented");
    let stats = fx.stats();
    assert_eq!(stats["hold_handed_over"], 1);
    assert_eq!(
        (stats["hold_punted_xdp"], stats["hold_no_punt_socket"]),
        (0, 0)
    );
    assert_eq!(fx.backend.mfe_stats(sg()).expect("entry").packets, 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_hold_mode_packet_behind_a_punt_userspace_has_not_dealt_with_goes_to_the_punt_socket() {
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.hold_on_create(sg());
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    // The mark lags the slot's count: a punted frame is still unaccounted for.
    punt_slot_handled_up_to(&mut fx, u32::MAX);
    let (_, _) = fx.run(&Frame::default().bytes());
    let stats = fx.stats();
    assert_eq!(stats["hold_handed_over"], 0, "not taken over");
    // No socket in the slot here: the punt fails and the fast path forwards it, as nobody
    // holds packets before it.
    assert_eq!(stats["hold_no_punt_socket"], 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_entry_written_again_after_a_hold_mark_is_in_hold_mode() {
    // mgmd writes an entry the data plane lost (the bookkeeping still has it) again in hold
    // mode, so that the packets punted meanwhile leave before the fast path takes over.
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    fx.backend.hold_on_create(sg());
    fx.backend
        .install_mfe(sg(), LO, &oifs)
        .expect("write again");
    punt_slot_handled_up_to(&mut fx, u32::MAX);
    let (_, _) = fx.run(&Frame::default().bytes());
    let stats = fx.stats();
    assert_eq!(stats["hold_handed_over"], 0, "not taken over");
    assert_eq!(stats["hold_no_punt_socket"], 1, "took the hold path");
    fx.backend.release_hold(sg()).expect("release");
    let (_, _) = fx.run(&Frame::default().bytes());
    assert_eq!(
        fx.stats()["hold_no_punt_socket"],
        1,
        "fast path after release"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_entry_taken_over_stays_with_the_fast_path_while_later_punts_wait() {
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.hold_on_create(sg());
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    let mut punt = mgm_user::dataplane::PuntSockets::new(
        &mut fx.plane,
        mgm_user::dataplane::XskConfig::default(),
    )
    .expect("punt maps");
    fx.backend.set_punt_slots(LO, 0, 1).expect("punt slot");
    punt.set_handled(0, 0).expect("mark");
    fx.forward(&Frame::default().bytes());
    // Other frames punted on the queue now wait in userspace: the entry stays taken over.
    punt.set_handled(0, u32::MAX).expect("mark");
    fx.forward(&Frame::default().bytes());
    let stats = fx.stats();
    assert_eq!(
        stats["hold_handed_over"], 2,
        "both forwarded by the fast path"
    );
    assert_eq!(stats["hold_no_punt_socket"], 0, "no punt tried");
    // Written again in hold mode (lost from the data plane), it starts over: held.
    fx.backend.hold_on_create(sg());
    fx.backend
        .install_mfe(sg(), LO, &oifs)
        .expect("write again");
    let (_, _) = fx.run(&Frame::default().bytes());
    let stats = fx.stats();
    assert_eq!(stats["hold_handed_over"], 2, "not taken over again");
    assert_eq!(stats["hold_no_punt_socket"], 1, "took the hold path");
}
