//! Root lab tests: on Linux IP_MULTICAST_LOOP (IPV6_MULTICAST_LOOP for IPv6) acts on the
//! sending socket. Winsock applies it on the receiving socket instead (docs/mgm-spec.md §8.2),
//! so a port has to move the option.
use mgm_user::lab::{Host, Lab, Stack};
use mgm_user::leaf::{Channel, Family, Iface, Payload, Receiver, Sender};
use socket2::Socket;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const PORT: u16 = 5007;
const SENDS: u64 = 5;

/// Sequence numbers received until `want` arrived (each wait bounded by 30 s), then any
/// further ones that come within a short wait.
fn receive(receiver: &Receiver, want: usize) -> Vec<u64> {
    let mut seqs = Vec::new();
    while seqs.len() < want {
        let Some(d) = receiver.recv(Duration::from_secs(30)).expect("recv") else {
            break;
        };
        seqs.extend(Payload::decode(&d.payload).map(|p| p.seq));
    }
    while let Some(d) = receiver.recv(Duration::from_millis(200)).expect("recv") {
        seqs.extend(Payload::decode(&d.payload).map(|p| p.seq));
    }
    seqs
}

/// Sets the receiving socket's loopback option of the group's family.
fn set_loop(socket: &Socket, group: IpAddr, on: bool) {
    match group {
        IpAddr::V4(_) => socket.set_multicast_loop_v4(on),
        IpAddr::V6(_) => socket.set_multicast_loop_v6(on),
    }
    .expect("loop option");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ip_multicast_loop_acts_on_the_sending_socket() {
    loop_acts_on_the_sending_socket(Stack::V4, Ipv4Addr::new(239, 7, 7, 7).into());
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_multicast_loop_acts_on_the_sending_socket() {
    loop_acts_on_the_sending_socket(
        Stack::Dual,
        Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 7, 7, 7).into(),
    );
}

fn loop_acts_on_the_sending_socket(stack: Stack, group: IpAddr) {
    let lab = Lab::star_with(1, stack).expect("lab");
    let family = Family::of(group);
    let channel = Channel {
        group,
        source: None,
    };
    // A listener across the link proves that datagrams not looped back still leave the host.
    let across = lab
        .in_ns(Host::Router, || {
            Receiver::join(channel, PORT, Iface::lookup("rcv1").expect("rcv1"))
        })
        .expect("enter router")
        .expect("join on the router");
    let (loop_on_sender, loop_off_sender) = lab
        .in_ns(Host::Receiver(1), || {
            let iface = Iface::lookup("eth0").expect("eth0");
            // "Winsock OFF" receiver: loop off on the receiving socket. Linux ignores that.
            let off = Receiver::join(channel, PORT, iface.clone()).expect("join off");
            set_loop(off.socket(), group, false);
            // "Winsock ON" receiver.
            let on = Receiver::join(channel, PORT, iface.clone()).expect("join on");
            set_loop(on.socket(), group, true);

            let sender = Sender::new(&iface, family, 1, true).expect("sender loop on");
            for seq in 0..SENDS {
                sender.send(group, PORT, seq).expect("send");
            }
            let loop_on = (receive(&off, SENDS as usize), receive(&on, SENDS as usize));

            let sender = Sender::new(&iface, family, 1, false).expect("sender loop off");
            for seq in 0..SENDS {
                sender.send(group, PORT, 100 + seq).expect("send");
            }
            // What was not looped back never comes: the datagrams' arrival across the link
            // (below) shows they were sent.
            let loop_off = (receive(&off, 0), receive(&on, 0));
            (loop_on, loop_off)
        })
        .expect("enter receiver host");
    let all: Vec<u64> = (0..SENDS).collect();
    // A looping sender reaches both local sockets, including the one with loop off.
    assert_eq!(loop_on_sender, (all.clone(), all), "sender with loop on");
    // A non-looping sender reaches neither, whatever the receivers set.
    assert_eq!(loop_off_sender, (vec![], vec![]), "sender with loop off");
    let mut both: Vec<u64> = (0..SENDS).chain(100..100 + SENDS).collect();
    both.sort_unstable();
    assert_eq!(
        receive(&across, both.len()),
        both,
        "both senders reach the wire"
    );
}
