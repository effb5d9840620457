//! Root integration test of the kernel-ip6mr controller: in a dual-stack lab, an (S,G) entry made
//! with MRT6_ADD_MFC forwards real IPv6 packets from the source to the listed receivers only, and
//! the kernel counts them; dropping the controller frees IPv6 routing for another process.
mod kernel_mr;

use kernel_mr::{drain, ifindex, listener, receive, send, PACKETS};
use mgm_user::{
    ip6mr::Ip6mr,
    lab::{Host, Lab, Stack},
};
use std::net::Ipv6Addr;

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x9, 0x9);

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mfc6_entry_forwards_to_listed_receivers_and_counts() {
    let lab = Lab::star_with(2, Stack::Dual).expect("lab");
    let (listed, unlisted) = (
        listener(&lab, 1, GROUP.into()),
        listener(&lab, 2, GROUP.into()),
    );
    let source = Lab::address6_of(Host::Source).expect("dual-stack source");
    let ip6mr = lab
        .in_ns(Host::Router, || {
            let mut ip6mr = Ip6mr::open()?;
            let (up, rcv1, rcv2) = (ifindex("up0"), ifindex("rcv1"), ifindex("rcv2"));
            ip6mr.add_mif(up)?;
            ip6mr.add_mif(rcv1)?;
            ip6mr.add_mif(rcv2)?;
            assert!(Ip6mr::open().is_err(), "one routing socket per namespace");
            ip6mr.add_mfc(source, GROUP, up, &[rcv1])?;
            Ok::<_, mgm_user::ipmr::IpmrError>(ip6mr)
        })
        .expect("enter router")
        .expect("routing socket, MIFs and entry");

    send(&lab, GROUP.into());
    assert_eq!(
        receive(&listed, PACKETS),
        PACKETS,
        "the listed receiver gets every packet"
    );
    // A copy for the other receiver would have come with the listed receiver's.
    assert_eq!(drain(&unlisted), 0, "the other receiver gets none");
    let counters = ip6mr.counters(source, GROUP).expect("SIOCGETSGCNT_IN6");
    assert_eq!(counters.packets, PACKETS);
    assert_eq!(counters.wrong_if, 0);

    drop(ip6mr);
    lab.in_ns(Host::Router, || Ip6mr::open().map(drop))
        .expect("enter router")
        .expect("the socket is free again once the controller is dropped");
}
