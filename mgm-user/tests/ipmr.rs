//! Root integration test of the kernel-ipmr controller: an (S,G) entry made with MRT_ADD_MFC
//! forwards real packets from the source to the listed receivers only, the kernel counts them,
//! deleting the entry stops forwarding and brings a NOCACHE upcall, adding it again releases
//! the packets the kernel held, and closing the socket frees routing for another process.
use mgm_user::{
    ipmr::{Ipmr, UpcallKind},
    lab::{Host, Lab},
};
use std::{
    net::{Ipv4Addr, SocketAddrV4, UdpSocket},
    time::Duration,
};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 9, 9);
const PORT: u16 = 5009;
const PACKETS: u64 = 20;

fn ifindex(iface: &str) -> u32 {
    let name = std::ffi::CString::new(iface).expect("name");
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// A socket of receiver `n` that joined the group.
fn listener(lab: &Lab, n: u8) -> UdpSocket {
    lab.in_ns(Host::Receiver(n), || {
        let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT))?;
        socket.join_multicast_v4(&GROUP, &Lab::address_of(Host::Receiver(n)))?;
        socket.set_nonblocking(true)?;
        Ok::<_, std::io::Error>(socket)
    })
    .expect("enter receiver")
    .expect("join")
}

fn send(lab: &Lab) {
    lab.in_ns(Host::Source, || {
        let socket = UdpSocket::bind(SocketAddrV4::new(Lab::address_of(Host::Source), 0))?;
        socket.set_multicast_ttl_v4(8)?;
        for seq in 0..PACKETS {
            socket.send_to(&seq.to_be_bytes(), SocketAddrV4::new(GROUP, PORT))?;
        }
        Ok::<_, std::io::Error>(())
    })
    .expect("enter source")
    .expect("send");
}

/// Reads what is queued on the (non-blocking) `socket` now.
fn drain(socket: &UdpSocket) -> u64 {
    let mut buffer = [0u8; 64];
    let mut count = 0;
    while socket.recv(&mut buffer).is_ok() {
        count += 1;
    }
    count
}

/// Reads from `socket` until `want` datagrams arrived (polling, for at most 10 s); returns
/// how many did.
fn receive(socket: &UdpSocket, want: u64) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut count = drain(socket);
    while count < want && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        count += drain(socket);
    }
    count
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mfc_entry_forwards_to_listed_receivers_and_counts() {
    let lab = Lab::star(2).expect("lab");
    let (listed, unlisted) = (listener(&lab, 1), listener(&lab, 2));
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

    send(&lab);
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
    send(&lab);
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
