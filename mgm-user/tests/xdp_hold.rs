//! BPF_PROG_TEST_RUN test (root) of hold mode without a punt socket: a packet of an entry in
//! hold mode goes to mgmd's punt socket, behind the packets mgmd holds; when no socket serves
//! its interface (mgmd was killed, or its sockets are not open yet), nobody holds packets
//! before it, so the fast path forwards it instead of handing it to the kernel, which would
//! drop it.
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
