//! No loss at creation: the packets of an (S,G) that has no entry yet are punted by the XDP
//! program to userspace (AF_XDP), held here in arrival order, and sent on exactly once to the
//! outgoing interfaces as soon as the entry exists — with the fast path's own treatment: TTL−1
//! with the checksum updated, the outgoing interface's MAC as source, its TTL threshold and
//! MTU, the 802.1Q tag removed.
//!
//! Each held packet remembers the interface it arrived on: the entry's incoming interface is
//! decided after the first packet (RPF), so packets of the same (S,G) that arrived elsewhere are
//! dropped at release as wrong-interface packets, as the fast path would have done.
//!
//! Holding is bounded per (S,G) and in total, and held packets age out; every packet that is
//! not delivered is counted by reason, never dropped silently. The copies sent from here are
//! also counted per (entry, outgoing interface), for `show mfe` (the fast path counts its own
//! in BPF maps); those tallies live as long as the entry.
use crate::{
    dataplane::{IfaceSettings, MfeStats},
    mgm::Sg,
    wire::{
        ethernet::{self, Frame, ETHERTYPE_IPV4},
        ipv4,
    },
};
use serde::Serialize;
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    io,
    mem::{size_of, zeroed},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::{Duration, Instant},
};

/// Limits of the hold queues.
#[derive(Clone, Copy, Debug)]
pub struct HoldLimits {
    /// Packets held for one (S,G).
    pub per_flow: usize,
    /// Packets held in all.
    pub total: usize,
    /// How long a packet may wait for its entry.
    pub max_age: Duration,
}

impl Default for HoldLimits {
    fn default() -> Self {
        Self {
            per_flow: 4096,
            total: 65_536,
            max_age: Duration::from_secs(3),
        }
    }
}

/// What happened to punted packets, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HoldCounters {
    /// Punted packets received.
    pub punted: u64,
    /// Punted packets that are not IPv4 multicast data (dropped).
    pub malformed: u64,
    /// Packets delivered (once per packet, whatever the number of copies).
    pub delivered: u64,
    /// Copies sent.
    pub copies: u64,
    /// Copies not sent: TTL threshold, MTU, or a send error.
    pub copies_dropped: u64,
    /// Packets dropped because a queue was full.
    pub overflow: u64,
    /// Packets dropped because their entry came out negative or the creation was abandoned.
    pub no_route: u64,
    /// Packets dropped because their entry did not come in time.
    pub aged_out: u64,
    /// Packets dropped because their TTL was 1 or less.
    pub ttl_expired: u64,
    /// Packets dropped because they arrived on another interface than their entry's incoming
    /// one.
    pub wrong_if: u64,
}

/// A packet waiting for its entry.
struct HeldPacket {
    at: Instant,
    arrival: u32,
    frame: Vec<u8>,
}

/// What the hold queues delivered for one entry, to add to the fast path's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    packets: u64,
    bytes: u64,
    wrong_if: u64,
    /// Copies and bytes sent, by outgoing ifindex.
    oifs: BTreeMap<u32, (u64, u64)>,
}

/// Where held packets go: per outgoing interface, its settings.
pub trait Egress {
    /// The settings of `ifindex`, if it is in service.
    fn settings(&self, ifindex: u32) -> Option<IfaceSettings>;
}

impl Egress for HashMap<u32, IfaceSettings> {
    fn settings(&self, ifindex: u32) -> Option<IfaceSettings> {
        self.get(&ifindex).copied()
    }
}

/// The hold queues and the socket that sends released packets.
pub struct Hold {
    queues: HashMap<Sg, VecDeque<HeldPacket>>,
    held: usize,
    /// Per entry with something delivered or refused here; dropped with the entry.
    tallies: HashMap<Sg, Tally>,
    limits: HoldLimits,
    counters: HoldCounters,
    socket: OwnedFd,
}

impl Hold {
    /// Opens the sending socket (AF_PACKET, needs CAP_NET_RAW).
    pub fn new(limits: HoldLimits) -> io::Result<Self> {
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            queues: HashMap::new(),
            held: 0,
            tallies: HashMap::new(),
            limits,
            counters: HoldCounters::default(),
            // SAFETY: a fresh descriptor nobody else owns.
            socket: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Hold queues that send released packets through `socket` (any socket will do for tests
    /// that do not look at the sent packets: sends that fail count as dropped copies).
    pub fn with_socket(limits: HoldLimits, socket: OwnedFd) -> Self {
        Self {
            queues: HashMap::new(),
            held: 0,
            tallies: HashMap::new(),
            limits,
            counters: HoldCounters::default(),
            socket,
        }
    }

    /// The counters.
    pub fn counters(&self) -> HoldCounters {
        self.counters
    }

    /// Packets held now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Whether packets of `sg` are waiting for its entry.
    pub fn is_waiting(&self, sg: Sg) -> bool {
        self.queues.contains_key(&sg)
    }

    /// The (S,G) of a punted frame, if it is IPv4 multicast.
    pub fn flow_of(frame: &[u8]) -> Option<Sg> {
        let frame = Frame::new_checked(frame).ok()?;
        if frame.ethertype() != ETHERTYPE_IPV4 {
            return None;
        }
        let ip = ipv4::Packet::new_checked(frame.payload()).ok()?;
        ip.dst_addr()
            .is_multicast()
            .then(|| Sg::new(ip.src_addr(), ip.dst_addr()))
    }

    /// Gives a punted frame the fast path's treatment before it is sent: the 802.1Q tag removed,
    /// the TTL decremented and the header checksum recomputed. Frames whose header does not
    /// verify are refused rather than sent with a fresh checksum.
    pub fn prepare(frame: &mut Vec<u8>) -> Prepared {
        // IPv4 behind at most one tag, as the fast path parses it (so no tag is left after
        // stripping one).
        if !Frame::new_checked(frame.as_slice()).is_ok_and(|f| f.ethertype() == ETHERTYPE_IPV4) {
            return Prepared::Malformed;
        }
        ethernet::strip_vlan(frame);
        let Ok(mut view) = Frame::new_checked(frame.as_mut_slice()) else {
            return Prepared::Malformed;
        };
        let Ok(mut ip) = ipv4::Packet::new_checked(view.payload_mut()) else {
            return Prepared::Malformed;
        };
        if ip.version() != 4 || !ip.verify_checksum() {
            return Prepared::Malformed;
        }
        let ttl = ip.ttl();
        if ttl <= 1 {
            return Prepared::TtlExpired;
        }
        ip.set_ttl(ttl - 1);
        ip.fill_checksum();
        Prepared::Ready {
            ttl: ttl - 1,
            ip_len: usize::from(ip.total_len()),
        }
    }

    /// Takes a frame punted on `arrival`: `Some(sg)` if it was queued for `sg` (whose entry is
    /// pending), `None` if it was dropped and counted.
    pub fn punted(&mut self, frame: &[u8], arrival: u32, now: Instant) -> Option<Sg> {
        self.counters.punted += 1;
        let Some(sg) = Self::flow_of(frame) else {
            self.counters.malformed += 1;
            return None;
        };
        let queue = self.queues.entry(sg).or_default();
        if queue.len() >= self.limits.per_flow || self.held >= self.limits.total {
            self.counters.overflow += 1;
            return None;
        }
        queue.push_back(HeldPacket {
            at: now,
            arrival,
            frame: frame.to_vec(),
        });
        self.held += 1;
        Some(sg)
    }

    /// Sends a frame of `sg` punted on `arrival` whose entry (incoming `iif`, outgoing `oifs`)
    /// already exists (it was in flight when the entry was installed, or the entry is in hold
    /// mode).
    pub fn forward_now(&mut self, sg: Sg, frame: &[u8], arrival: u32, route: Route<'_>) {
        self.counters.punted += 1;
        self.deliver(sg, frame.to_vec(), arrival, route);
    }

    /// The entry of `sg` now forwards: sends everything held for it that arrived on its
    /// incoming interface, in order; the rest are wrong-interface drops.
    pub fn release(&mut self, sg: Sg, route: Route<'_>) {
        let Some(queue) = self.queues.remove(&sg) else {
            return;
        };
        self.held -= queue.len();
        for held in queue {
            self.deliver(sg, held.frame, held.arrival, route);
        }
    }

    /// The entry of `sg` will not forward (negative, deleted, or its creation abandoned):
    /// drops what is held for it and its tally.
    pub fn discard(&mut self, sg: Sg) {
        self.tallies.remove(&sg);
        if let Some(queue) = self.queues.remove(&sg) {
            self.held -= queue.len();
            self.counters.no_route += queue.len() as u64;
        }
    }

    /// Adds what the hold queues delivered (and refused as wrong-interface) for `sg` to the
    /// fast path's counters of its entry.
    pub fn add_to_stats(&self, sg: Sg, stats: &mut MfeStats) {
        let Some(tally) = self.tallies.get(&sg) else {
            return;
        };
        stats.packets += tally.packets;
        stats.bytes += tally.bytes;
        stats.wrong_if += tally.wrong_if;
        for (&ifindex, &(packets, bytes)) in &tally.oifs {
            match stats.oifs.iter_mut().find(|(i, _)| *i == ifindex) {
                Some((_, s)) => {
                    s.packets += packets;
                    s.bytes += bytes;
                }
                None => stats.oifs.push((
                    ifindex,
                    crate::dataplane::OifStats {
                        packets,
                        bytes,
                        drops: 0,
                    },
                )),
            }
        }
    }

    /// One packet of `sg` for an entry that exists: a wrong-interface drop unless it arrived on
    /// the entry's incoming interface, a no-route drop when the entry has no outgoing ones.
    fn deliver(&mut self, sg: Sg, frame: Vec<u8>, arrival: u32, route: Route<'_>) {
        if arrival != route.iif {
            self.counters.wrong_if += 1;
            self.tallies.entry(sg).or_default().wrong_if += 1;
            return;
        }
        if route.oifs.is_empty() {
            self.counters.no_route += 1;
            return;
        }
        self.send(sg, frame, route.oifs, route.egress);
    }

    /// Drops packets that waited longer than the limit.
    pub fn expire(&mut self, now: Instant) {
        let max_age = self.limits.max_age;
        let mut aged = 0;
        self.queues.retain(|_, queue| {
            while queue
                .front()
                .is_some_and(|p| now.duration_since(p.at) > max_age)
            {
                queue.pop_front();
                aged += 1;
            }
            !queue.is_empty()
        });
        self.held -= aged;
        self.counters.aged_out += aged as u64;
    }

    fn send(&mut self, sg: Sg, mut frame: Vec<u8>, oifs: &[u32], egress: &dyn Egress) {
        let (ttl, ip_len) = match Self::prepare(&mut frame) {
            Prepared::Malformed => {
                self.counters.malformed += 1;
                return;
            }
            Prepared::TtlExpired => {
                self.counters.ttl_expired += 1;
                return;
            }
            Prepared::Ready { ttl, ip_len } => (ttl, ip_len),
        };
        self.counters.delivered += 1;
        let tally = self.tallies.entry(sg).or_default();
        tally.packets += 1;
        tally.bytes += ip_len as u64;
        for &ifindex in oifs {
            let Some(settings) = egress.settings(ifindex) else {
                self.counters.copies_dropped += 1;
                continue;
            };
            let over_mtu = settings.mtu != 0 && ip_len > settings.mtu as usize;
            if ttl < settings.ttl_threshold || over_mtu {
                self.counters.copies_dropped += 1;
                continue;
            }
            if let Ok(mut f) = Frame::new_checked(frame.as_mut_slice()) {
                f.set_source(settings.mac);
            }
            match send_to(&self.socket, ifindex, &frame) {
                Ok(()) => {
                    self.counters.copies += 1;
                    let sent = tally.oifs.entry(ifindex).or_default();
                    sent.0 += 1;
                    sent.1 += ip_len as u64;
                }
                Err(_) => self.counters.copies_dropped += 1,
            }
        }
    }
}

/// Where an entry's packets go: its incoming interface, outgoing interfaces and their settings.
#[derive(Clone, Copy)]
pub struct Route<'a> {
    /// The entry's incoming ifindex; packets that arrived elsewhere are not sent.
    pub iif: u32,
    /// Outgoing ifindexes.
    pub oifs: &'a [u32],
    /// Their settings.
    pub egress: &'a dyn Egress,
}

/// What [`Hold::prepare`] made of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Not an Ethernet frame carrying an IPv4 header with a valid checksum: not to be sent.
    Malformed,
    /// TTL 1 or 0: not to be sent.
    TtlExpired,
    /// Ready to send: the TTL it now carries and the IPv4 total length.
    Ready {
        /// The decremented TTL.
        ttl: u8,
        /// The IPv4 datagram's declared length, for the MTU check.
        ip_len: usize,
    },
}

/// Sends one whole Ethernet frame out of `ifindex`.
fn send_to(socket: &OwnedFd, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut to: libc::sockaddr_ll = unsafe { zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_ifindex = ifindex as i32;
    to.sll_halen = 6;
    // SAFETY: the frame and the address are valid for the lengths passed.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&to as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        Hold {
            queues: HashMap::new(),
            held: 0,
            tallies: HashMap::new(),
            limits,
            counters: HoldCounters::default(),
            socket: socket.into(),
        }
    }

    #[test]
    fn punted_frames_are_queued_per_flow_within_bounds() {
        let mut h = hold(HoldLimits {
            per_flow: 2,
            total: 3,
            max_age: Duration::from_secs(1),
        });
        let now = Instant::now();
        let sg = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
        assert_eq!(h.punted(&frame(64, [239, 1, 1, 1]), 2, now), Some(sg));
        assert_eq!(h.punted(&frame(64, [239, 1, 1, 1]), 2, now), Some(sg));
        assert_eq!(
            h.punted(&frame(64, [239, 1, 1, 1]), 2, now),
            None,
            "per-flow bound"
        );
        assert!(h.punted(&frame(64, [239, 1, 1, 2]), 2, now).is_some());
        assert_eq!(
            h.punted(&frame(64, [239, 1, 1, 3]), 2, now),
            None,
            "total bound"
        );
        assert_eq!(h.punted(&[1, 2, 3], 2, now), None);
        let c = h.counters();
        assert_eq!((c.punted, c.overflow, c.malformed, h.held()), (6, 2, 1, 3));
        h.discard(sg);
        assert_eq!((h.held(), h.counters().no_route), (1, 2));
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
        assert_eq!(Hold::prepare(&mut expired), Prepared::TtlExpired);
    }

    #[test]
    fn held_frames_age_out_and_are_counted() {
        let mut h = hold(HoldLimits::default());
        let t0 = Instant::now();
        h.punted(&frame(64, [239, 1, 1, 1]), 2, t0);
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
            let capture = PacketSocket::open(Framing::Frames, libc::ETH_P_ALL as u16)
                .expect("capture socket");
            capture.bind(ifindex("peer0")).expect("bind");
            capture
                .socket()
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            let mut h = Hold::new(HoldLimits::default()).expect("AF_PACKET socket");
            let now = Instant::now();
            let sg = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
            let sent = frame(5, [239, 1, 1, 1]);
            h.punted(&frame(1, [239, 1, 1, 1]), 2, now);
            h.punted(&sent, 2, now);
            let mac = [2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
            let egress: HashMap<u32, IfaceSettings> = [
                (
                    out0,
                    IfaceSettings {
                        mac,
                        ttl_threshold: 1,
                        mtu: 0,
                    },
                ),
                (
                    out1,
                    IfaceSettings {
                        mac: [2; 6],
                        ttl_threshold: 10,
                        mtu: 0,
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
                    egress: &egress,
                },
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
            assert_eq!(h.punted(&frame(64, [239, 1, 1, 1]), arrival, now), Some(sg));
        }
        // The loopback socket cannot send to ifindex 7: the copies count as dropped, but the
        // packets that arrived on the incoming interface 2 are delivered and the rest refused.
        let egress: HashMap<u32, IfaceSettings> = HashMap::new();
        let route = Route {
            iif: 2,
            oifs: &[7],
            egress: &egress,
        };
        h.release(sg, route);
        h.forward_now(sg, &frame(64, [239, 1, 1, 1]), 5, route);
        let c = h.counters();
        assert_eq!((c.delivered, c.wrong_if, h.held()), (2, 4, 0));
        let mut stats = MfeStats::default();
        h.add_to_stats(sg, &mut stats);
        assert_eq!((stats.packets, stats.bytes, stats.wrong_if), (2, 56, 4));
        h.discard(sg);
        let mut after = MfeStats::default();
        h.add_to_stats(sg, &mut after);
        assert_eq!(after, MfeStats::default(), "the tally goes with the entry");
    }

    #[test]
    fn copies_sent_are_added_to_the_entrys_per_interface_counters() {
        let mut h = hold(HoldLimits::default());
        let sg = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1));
        h.tallies.insert(
            sg,
            Tally {
                packets: 3,
                bytes: 84,
                wrong_if: 0,
                oifs: [(7, (3, 84)), (8, (1, 28))].into(),
            },
        );
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
}
