//! The hold queues' bounds, ageing, release rules and counters.
use super::tally::{OifTally, Tally};
use super::*;
use crate::daemon::router::fake::FakeBackend;
use crate::rawio::{Framing, PacketSocket};
use std::net::Ipv4Addr;

fn frame(ttl: u8, group: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x01, 0, 0x5e, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00];
    let mut ip = [
        0x45, 0, 0, 28, 0, 0, 0, 0, ttl, 17, 0, 0, 10, 0, 0, 1, group[0], group[1], group[2],
        group[3],
    ]
    .to_vec();
    ip.extend_from_slice(&[0; 8]);
    let mut view = ipv4::Packet::new_checked(ip.as_mut_slice()).unwrap();
    view.fill_checksum();
    f.extend_from_slice(&ip);
    f
}

fn hold(limits: HoldLimits) -> Hold {
    Hold::new(limits)
}

/// Frames sent, in order: (outgoing ifindex, frame).
#[derive(Default)]
struct Sent(Vec<(u32, Vec<u8>)>);

impl FrameOut for Sent {
    fn send_frame(&mut self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        self.0.push((ifindex, frame.to_vec()));
        Ok(())
    }
}

#[test]
fn punted_frames_are_queued_per_flow_within_bounds() {
    let mut h = hold(HoldLimits {
        per_flow: 2,
        total: 3,
        max_age: Duration::from_secs(1),
        ..HoldLimits::default()
    });
    let now = Instant::now();
    let sg = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
    assert_eq!(
        h.punted(&frame(64, [239, 1, 1, 1]), 2, None, now),
        Some(sg.into())
    );
    assert_eq!(
        h.punted(&frame(64, [239, 1, 1, 1]), 2, None, now),
        Some(sg.into())
    );
    assert_eq!(
        h.punted(&frame(64, [239, 1, 1, 1]), 2, None, now),
        None,
        "per-flow bound"
    );
    assert!(h.punted(&frame(64, [239, 1, 1, 2]), 2, None, now).is_some());
    assert_eq!(
        h.punted(&frame(64, [239, 1, 1, 3]), 2, None, now),
        None,
        "total bound"
    );
    assert_eq!(h.punted(&[1, 2, 3], 2, None, now), None);
    let c = h.counters();
    assert_eq!((c.punted, c.overflow, c.malformed, h.held()), (6, 2, 1, 3));
    h.discard(sg);
    assert_eq!((h.held(), h.counters().no_route), (1, 2));
}

#[test]
fn a_refused_packet_leaves_no_queue_and_a_spray_gives_its_room_back() {
    let mut h = hold(HoldLimits {
        per_flow: 4,
        total: 1,
        ..HoldLimits::default()
    });
    let now = Instant::now();
    assert!(h.punted(&frame(64, [239, 1, 1, 1]), 2, None, now).is_some());
    for n in 0..=255u8 {
        assert_eq!(h.punted(&frame(64, [239, 2, 1, n]), 2, None, now), None);
    }
    let refused = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 2, 1, 7));
    assert!(!h.is_waiting(refused), "a refused packet is not waiting");
    assert_eq!((h.queues.len(), h.counters().overflow), (1, 256));

    // A spray of one packet per (S,G) grows the map; once they age out, its room goes.
    let mut h = hold(HoldLimits {
        per_flow: 4,
        total: 100_000,
        max_age: Duration::from_secs(1),
        ..HoldLimits::default()
    });
    for n in 0..20_000u32 {
        let [_, _, a, b] = n.to_be_bytes();
        h.punted(&frame(64, [239, 3, a, b]), 2, None, now);
    }
    let grown = h.queues.capacity();
    h.expire(now + Duration::from_secs(2));
    assert_eq!((h.held(), h.counters().aged_out), (0, 20_000));
    assert!(
        h.queues.capacity() < grown / 4,
        "{} of {grown}",
        h.queues.capacity()
    );
}

#[test]
fn held_bytes_are_bounded_in_total() {
    let one = frame(64, [239, 1, 1, 1]).len();
    let mut h = hold(HoldLimits {
        total_bytes: 2 * one,
        ..HoldLimits::default()
    });
    let now = Instant::now();
    assert!(h.punted(&frame(64, [239, 1, 1, 1]), 2, None, now).is_some());
    assert!(h.punted(&frame(64, [239, 1, 1, 2]), 2, None, now).is_some());
    assert_eq!(h.punted(&frame(64, [239, 1, 1, 3]), 2, None, now), None);
    assert_eq!((h.held(), h.counters().overflow), (2, 1));
    // Room comes back as packets leave.
    h.discard(Sg::new(
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(239, 1, 1, 1),
    ));
    assert!(h.punted(&frame(64, [239, 1, 1, 3]), 2, None, now).is_some());
    h.expire(now + Duration::from_secs(10));
    assert_eq!((h.held(), h.held_bytes), (0, 0));
}

#[test]
fn only_valid_ipv4_behind_at_most_one_tag_is_prepared() {
    let mut untagged = frame(64, [239, 1, 1, 1]);
    let original = untagged.clone();
    assert_eq!(
        Hold::prepare(&mut untagged),
        Prepared::Ready {
            ttl: 63,
            ip_len: 28
        }
    );
    assert_eq!(untagged[22], 63);
    let mut tagged = original.clone();
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
    assert!(matches!(Hold::prepare(&mut tagged), Prepared::Ready { .. }));
    assert_eq!(tagged, untagged, "the tag is removed");
    let mut double = original.clone();
    double.splice(12..12, [0x81, 0x00, 0x00, 0x07, 0x81, 0x00, 0x00, 0x08]);
    assert_eq!(Hold::prepare(&mut double), Prepared::Malformed);
    let mut bad_sum = original.clone();
    bad_sum[24] ^= 1;
    assert_eq!(Hold::prepare(&mut bad_sum), Prepared::Malformed);
    let mut expired = frame(1, [239, 1, 1, 1]);
    assert_eq!(
        Hold::prepare(&mut expired),
        Prepared::TtlExpired { ip_len: 28 }
    );
}

#[test]
fn a_held_packet_leaves_framed_to_its_groups_mac_whoever_it_was_sent_to() {
    // The sender framed it to the router's own MAC (a unicast address): receivers would drop
    // it if it left so.
    let mut to_router = frame(64, [239, 129, 2, 3]);
    to_router[..6].copy_from_slice(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    assert!(matches!(
        Hold::prepare(&mut to_router),
        Prepared::Ready { .. }
    ));
    assert_eq!(to_router[..6], [0x01, 0, 0x5e, 0x01, 2, 3]);
}

#[test]
fn held_frames_age_out_and_are_counted() {
    let mut h = hold(HoldLimits::default());
    let t0 = Instant::now();
    h.punted(&frame(64, [239, 1, 1, 1]), 2, None, t0);
    h.expire(t0 + Duration::from_secs(1));
    assert_eq!(h.held(), 1);
    h.expire(t0 + Duration::from_secs(4));
    assert_eq!((h.held(), h.counters().aged_out), (0, 1));
}

/// Runs `test` on a thread of its own in a new network namespace holding the veth pairs
/// `pairs` (each up), which go away with the thread.
fn in_namespace_with_veths(pairs: &[(&str, &str)], test: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: moves only this thread into a new network namespace.
                assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
                for (a, b) in pairs {
                    for args in [
                        vec!["link", "add", a, "type", "veth", "peer", "name", b],
                        vec!["link", "set", a, "up"],
                        vec!["link", "set", b, "up"],
                    ] {
                        let status = std::process::Command::new("ip")
                            .args(&args)
                            .status()
                            .expect("run ip");
                        assert!(status.success(), "ip {args:?}");
                    }
                }
                test();
            })
            .join()
            .expect("test thread");
    });
}

/// The first IPv4 frame to `group` that arrives on `socket` within 10 s.
fn next_frame_to(socket: &PacketSocket, group: [u8; 4]) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = vec![0u8; 2048];
    while Instant::now() < deadline {
        let (len, arrival) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => panic!("receive: {e}"),
        };
        let frame = &buffer[..len];
        if !arrival.outgoing && len >= 34 && frame[12..14] == [8, 0] && frame[30..34] == group {
            return frame.to_vec();
        }
    }
    panic!("no frame to {group:?} within 10 s");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn release_sends_through_the_packet_socket_with_the_interface_rules() {
    in_namespace_with_veths(&[("out0", "peer0"), ("out1", "peer1")], || {
        let ifindex = |name| crate::rawio::ifindex(name).expect("ifindex");
        let (out0, out1) = (ifindex("out0"), ifindex("out1"));
        let capture =
            PacketSocket::open(Framing::Frames, libc::ETH_P_ALL as u16).expect("capture socket");
        capture.bind(ifindex("peer0")).expect("bind");
        capture
            .socket()
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let mut h = Hold::new(HoldLimits::default());
        let mut socket = PacketSocket::open(Framing::Frames, 0).expect("AF_PACKET socket");
        let now = Instant::now();
        let sg = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
        let sent = frame(5, [239, 1, 1, 1]);
        h.punted(&frame(1, [239, 1, 1, 1]), 2, None, now);
        h.punted(&sent, 2, None, now);
        let mac = [2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
        let egress: HashMap<u32, IfaceSettings> = [
            (
                out0,
                IfaceSettings {
                    mac,
                    ttl_threshold: 1,
                    mtu: 0,
                    mirrored: false,
                },
            ),
            (
                out1,
                IfaceSettings {
                    mac: [2; 6],
                    ttl_threshold: 10,
                    mtu: 0,
                    mirrored: false,
                },
            ),
        ]
        .into();
        // out0 takes the copy, out1's threshold stops it, and interface 9999 is not in
        // service.
        h.release(
            sg,
            Route {
                iif: 2,
                oifs: &[out0, out1, 9999],
                egress: &EgressRules {
                    settings: &egress,
                    backend: &FakeBackend::default(),
                },
            },
            &mut socket,
        );
        let c = h.counters();
        assert_eq!(
            (
                c.ttl_expired,
                c.delivered,
                c.copies,
                c.copies_dropped,
                h.held()
            ),
            (1, 1, 1, 2, 0)
        );
        let received = next_frame_to(&capture, [239, 1, 1, 1]);
        let mut expected = sent.clone();
        expected[6..12].copy_from_slice(&mac);
        expected[22] = 4;
        ipv4::Packet::new_checked(&mut expected[14..])
            .expect("ipv4")
            .fill_checksum();
        assert_eq!(
            received, expected,
            "TTL-1, checksum and source MAC rewritten"
        );
    });
}

#[test]
fn only_packets_that_arrived_on_the_entrys_incoming_interface_are_released() {
    let mut h = hold(HoldLimits::default());
    let now = Instant::now();
    let sg = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
    for arrival in [2, 5, 2, 5, 5] {
        assert_eq!(
            h.punted(&frame(64, [239, 1, 1, 1]), arrival, None, now),
            Some(sg.into())
        );
    }
    // Interface 7 is not in service: the copies count as dropped, but the packets that
    // arrived on the incoming interface 2 are delivered and the rest refused.
    let mut sent = Sent::default();
    to_unserved_oif(|route| {
        h.release(sg, route, &mut sent);
        h.forward_now(sg, &frame(64, [239, 1, 1, 1]), (5, None), route, &mut sent);
    });
    let c = h.counters();
    assert_eq!((c.delivered, c.wrong_if, h.held()), (2, 4, 0));
    assert!(sent.0.is_empty());
    let mut stats = MfeStats::default();
    h.add_to_stats(sg, &mut stats);
    assert_eq!((stats.packets, stats.bytes, stats.wrong_if), (2, 56, 4));
    let dropped = crate::dataplane::OifStats {
        drops: 2,
        ..Default::default()
    };
    assert_eq!(
        stats.oifs,
        [(7, dropped)],
        "the dropped copies count on their interface, as the fast path's do"
    );
    h.discard(sg);
    let mut after = MfeStats::default();
    h.add_to_stats(sg, &mut after);
    assert_eq!(after, MfeStats::default(), "the tally goes with the entry");
}

#[test]
fn copies_sent_are_added_to_the_entrys_per_interface_counters() {
    let mut h = hold(HoldLimits::default());
    let sg = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
    *h.tallies.of(sg.into()) =
        Tally::new(3, 84, &[OifTally::new(7, 3, 84), OifTally::new(8, 1, 28)]);
    let mut stats = MfeStats {
        packets: 10,
        oifs: vec![(
            7,
            crate::dataplane::OifStats {
                packets: 10,
                bytes: 280,
                drops: 1,
            },
        )],
        ..MfeStats::default()
    };
    h.add_to_stats(sg, &mut stats);
    assert_eq!(stats.packets, 13);
    assert_eq!((stats.oifs[0].1.packets, stats.oifs[0].1.bytes), (13, 364));
    assert_eq!(
        stats.oifs[1].0, 8,
        "an interface only the hold queue served"
    );
}

#[test]
fn held_ipv6_packets_stop_at_an_interfaces_scope_boundary_as_the_fast_paths_do() {
    let mut h = hold(HoldLimits::default());
    let now = Instant::now();
    let source: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let (site, global): (Ipv6Addr, Ipv6Addr) =
        ("ff05::1:3".parse().unwrap(), "ff0e::1:3".parse().unwrap());
    let frame6 = |group: Ipv6Addr| {
        let mut f = vec![0x33, 0x33, 0, 1, 0, 3, 2, 2, 2, 2, 2, 2, 0x86, 0xdd];
        f.extend([0x60, 0, 0, 0, 0, 8, 17, 64]);
        f.extend(source.octets());
        f.extend(group.octets());
        f.extend([0; 8]);
        f
    };
    for group in [site, global] {
        assert_eq!(
            h.punted(&frame6(group), 2, None, now),
            Some(Sg::new(source, group).into())
        );
    }
    // Interface 7 has a site boundary (5), interface 8 none.
    let settings: HashMap<u32, IfaceSettings> =
        [7, 8].map(|i| (i, IfaceSettings::default())).into();
    let mut backend = FakeBackend::default();
    backend.scope_boundaries.insert(7, 5);
    let egress = EgressRules {
        settings: &settings,
        backend: &backend,
    };
    let route = Route {
        iif: 2,
        oifs: &[7, 8],
        egress: &egress,
    };
    let mut sent = Sent::default();
    for group in [site, global] {
        h.release(Sg::new(source, group), route, &mut sent);
    }
    let to = |i: u32| sent.0.iter().filter(|(o, _)| *o == i).count();
    assert_eq!(
        (to(7), to(8)),
        (1, 2),
        "the site group stays inside interface 7"
    );
    assert_eq!(
        h.counters().copies_dropped,
        1,
        "counted as the fast path's drop"
    );
}

#[test]
fn packets_punted_in_hold_mode_report_how_far_their_entry_was_sent_on() {
    let mut h = hold(HoldLimits::default());
    let now = Instant::now();
    let (a, b) = (
        Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1)),
        Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 2)),
    );
    let tag = |seq, held| Some(PuntTag { slot: 0, seq, held });
    // `a`'s miss, then two of its packets punted in hold mode, queued behind it.
    for (seq, held) in [(1, 0), (2, 1), (3, 2)] {
        h.punted(&frame(64, [239, 1, 1, 1]), 2, tag(seq, held), now);
    }
    let mut sent = Sent::default();
    assert_eq!(h.held_sent_moved(), [], "nothing sent on yet");
    to_unserved_oif(|route| {
        h.release(a, route, &mut sent);
        assert_eq!(
            h.held_sent_moved(),
            [(a.into(), 2)],
            "the last one released"
        );
        assert_eq!(h.held_sent_moved(), [], "reported once");
        // A miss sent on moves no mark; a packet in hold mode does.
        h.forward_now(
            b,
            &frame(64, [239, 1, 1, 2]),
            (2, tag(4, 0)),
            route,
            &mut sent,
        );
        assert_eq!(h.held_sent_moved(), []);
        h.forward_now(
            b,
            &frame(64, [239, 1, 1, 2]),
            (2, tag(5, 1)),
            route,
            &mut sent,
        );
        assert_eq!(h.held_sent_moved(), [(b.into(), 1)]);
    });
}

/// Runs `f` with the route of packets from interface 2 to interface 7, which is not in
/// service (their copies are dropped).
fn to_unserved_oif(f: impl FnOnce(Route<'_>)) {
    let (settings, backend) = (HashMap::new(), FakeBackend::default());
    let egress = EgressRules {
        settings: &settings,
        backend: &backend,
    };
    f(Route {
        iif: 2,
        oifs: &[7],
        egress: &egress,
    });
}
