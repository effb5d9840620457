//! Root integration test of the kernel-ipmr controller: an (S,G) entry made with MRT_ADD_MFC
//! forwards real packets from the source to the listed receivers only, the kernel counts them,
//! deleting the entry stops forwarding and brings a NOCACHE upcall, adding it again releases
//! the packets the kernel held, and closing the socket frees routing for another process.
mod kernel_mr;

use kernel_mr::{drain, ifindex, listener, receive, send, PACKETS};
use mgm_user::{
    ipmr::{Ipmr, UpcallKind},
    lab::{Host, Lab},
};
use std::{net::Ipv4Addr, time::Duration};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mfc_entry_forwards_to_listed_receivers_and_counts() {
    let lab = Lab::star(2).expect("lab");
    let (listed, unlisted) = (
        listener(&lab, 1, GROUP.into()),
        listener(&lab, 2, GROUP.into()),
    );
    let source = Lab::address_of(Host::Source);
    let (ipmr, upstream) = lab
        .in_ns(Host::Router, || {
            let mut ipmr = Ipmr::open()?;
            let (up, rcv1, rcv2) = (ifindex("up0"), ifindex("rcv1"), ifindex("rcv2"));
            ipmr.add_vif(up, 1)?;
            ipmr.add_vif(rcv1, 1)?;
            ipmr.add_vif(rcv2, 1)?;
            assert!(Ipmr::open().is_err(), "one routing socket per namespace");
            ipmr.add_mfc(source, GROUP, up, &[(rcv1, 1)])?;
            Ok::<_, mgm_user::ipmr::IpmrError>((ipmr, up))
        })
        .expect("enter router")
        .expect("routing socket, VIFs and entry");

    send(&lab, GROUP.into());
    assert_eq!(
        receive(&listed, PACKETS),
        PACKETS,
        "the listed receiver gets every packet"
    );
    // A copy for the other receiver would have come with the listed receiver's.
    assert_eq!(drain(&unlisted), 0, "the other receiver gets none");
    let counters = ipmr.counters(source, GROUP).expect("SIOCGETSGCNT");
    assert_eq!(counters.packets, PACKETS);
    assert_eq!(counters.wrong_if, 0);

    ipmr.del_mfc(source, GROUP, upstream).expect("MRT_DEL_MFC");
    send(&lab, GROUP.into());
    let upcall = ipmr
        .next_upcall(Duration::from_secs(10))
        .expect("read the routing socket")
        .expect("a NOCACHE upcall");
    assert_eq!(upcall.kind, UpcallKind::NoCache);
    assert_eq!((upcall.source, upcall.group), (source, GROUP));
    assert_eq!(ipmr.ifindex_of(upcall.vif), Some(upstream));
    // The upcall came after the kernel had the packets in hand: none was forwarded.
    assert_eq!(drain(&listed), 0, "no entry, no forwarding");
    let rcv1 = lab.ifindex(Host::Router, "rcv1").expect("rcv1");
    ipmr.add_mfc(source, GROUP, upstream, &[(rcv1, 1)])
        .expect("MRT_ADD_MFC again");
    assert!(
        receive(&listed, 1) > 0,
        "the held packets go out once resolved"
    );
    drop(ipmr);
    lab.in_ns(Host::Router, || Ipmr::open().map(drop))
        .expect("enter router")
        .expect("the socket is free again once the controller is dropped");
}
