//! Root integration test of the kernel-ip6mr controller: in a dual-stack lab, an (S,G) entry made
//! with MRT6_ADD_MFC forwards real IPv6 packets from the source to the listed receivers only, and
//! the kernel counts them; dropping the controller frees IPv6 routing for another process.
use mgm_user::{
    ip6mr::Ip6mr,
    lab::{Host, Lab, Stack},
};
use std::{
    net::{Ipv6Addr, SocketAddrV6, UdpSocket},
    time::{Duration, Instant},
};

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x9, 0x9);
const PORT: u16 = 5009;
const PACKETS: u64 = 20;

fn ifindex(iface: &str) -> u32 {
    let name = std::ffi::CString::new(iface).expect("name");
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// A socket of receiver `n` that joined the group on its link.
fn listener(lab: &Lab, n: u8) -> UdpSocket {
    lab.in_ns(Host::Receiver(n), || {
        let socket = UdpSocket::bind(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, PORT, 0, 0))?;
        socket.join_multicast_v6(&GROUP, ifindex("eth0"))?;
        socket.set_nonblocking(true)?;
        Ok::<_, std::io::Error>(socket)
    })
    .expect("enter receiver")
    .expect("join")
}

/// Sends [`PACKETS`] datagrams from the source to the group, with hop limit 8 (the default of
/// 1 would not be forwarded).
fn send(lab: &Lab) {
    lab.in_ns(Host::Source, || {
        let source = Lab::address6_of(Host::Source).expect("dual-stack source");
        let socket = UdpSocket::bind(SocketAddrV6::new(source, 0, 0, 0))?;
        mgm_user::rawio::set_opt(
            &socket,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_HOPS,
            &8_i32,
        )?;
        mgm_user::rawio::set_opt(
            &socket,
            libc::IPPROTO_IPV6,
            libc::IPV6_MULTICAST_IF,
            &(ifindex("eth0") as i32),
        )?;
        for seq in 0..PACKETS {
            socket.send_to(&seq.to_be_bytes(), SocketAddrV6::new(GROUP, PORT, 0, 0))?;
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
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut count = drain(socket);
    while count < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        count += drain(socket);
    }
    count
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mfc6_entry_forwards_to_listed_receivers_and_counts() {
    let lab = Lab::star_with(2, Stack::Dual).expect("lab");
    let (listed, unlisted) = (listener(&lab, 1), listener(&lab, 2));
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

    send(&lab);
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
