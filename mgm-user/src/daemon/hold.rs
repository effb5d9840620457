//! No loss at creation: the packets of an (S,G) that has no entry yet are punted by the XDP
//! program to userspace (AF_XDP), held here in arrival order, and sent on exactly once to the
//! outgoing interfaces as soon as the entry exists — with the fast path's own treatment: TTL−1
//! with the checksum updated (IPv6: hop limit−1, no header checksum), the outgoing interface's
//! MAC as source, its TTL threshold, MTU and (IPv6) admin-scope boundary, the 802.1Q tag
//! removed. Flows of both families share the queues and their bounds ([`Flow`]).
//!
//! Each held packet remembers the interface it arrived on: the entry's incoming interface is
//! decided after the first packet (RPF), so packets of the same (S,G) that arrived elsewhere are
//! dropped at release as wrong-interface packets, as the fast path would have done.
//!
//! Holding is bounded per (S,G) and in total, and held packets age out; every packet that is
//! not delivered is counted by reason, never dropped silently. The copies sent from here, and
//! those an outgoing interface's rules drop, are also counted per (entry, outgoing interface),
//! for `show mfe` and the API's statistics (the fast path counts its own in BPF maps); those
//! tallies live as long as the entry, and their entry counts are kept with the entry in the
//! data plane ([`Hold::tallies_moved`]), so that a restarted mgmd adopts them with it and its
//! counters never go down.
//!
//! The queues also keep track of how far every punt socket's frames have been dealt with
//! ([`progress`]), and how far the packets each entry in hold mode had punted were sent on
//! ([`Hold::held_sent_moved`]): the data plane hands an entry over from them to the fast path
//! only once nothing punted before on its queue, or nothing of the entry, is left, so the
//! handover never reorders a flow.
//!
//! The queues do no I/O of their own: a released packet leaves through the [`FrameOut`] the
//! caller passes (the router core passes its I/O port, whose executor owns the packet socket).
use crate::{
    dataplane::{ForwardingBackend, IfaceSettings, MfeStats},
    mgm::Sg,
    rawio::PacketSocket,
    wire::{
        ethernet::{self, Frame, ETHERTYPE_IPV4, ETHERTYPE_IPV6},
        ipv4, ipv6,
    },
};
use mgm_common::{inside_scope_boundary, ipv6_scope, HeldCounters, NO_SCOPE};
pub use progress::PuntTag;
use progress::{Pending, PuntProgress};
use serde::Serialize;
use std::{
    collections::{HashMap, HashSet, VecDeque},
    io,
    net::{IpAddr, Ipv6Addr},
    time::{Duration, Instant},
};
use tally::{Tallies, Tally};

/// A flow of either family, as the queues key it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// An IPv4 (S,G).
    V4(Sg),
    /// An IPv6 (S,G).
    V6(Sg<Ipv6Addr>),
}

impl From<Sg> for Flow {
    fn from(sg: Sg) -> Self {
        Self::V4(sg)
    }
}

impl From<Sg<Ipv6Addr>> for Flow {
    fn from(sg: Sg<Ipv6Addr>) -> Self {
        Self::V6(sg)
    }
}

/// Limits of the hold queues.
#[derive(Clone, Copy, Debug)]
pub struct HoldLimits {
    /// Packets held for one (S,G).
    pub per_flow: usize,
    /// Packets held in all.
    pub total: usize,
    /// Bytes of frames held in all.
    pub total_bytes: usize,
    /// How long a packet may wait for its entry.
    pub max_age: Duration,
}

impl Default for HoldLimits {
    fn default() -> Self {
        Self {
            per_flow: 4096,
            total: 65_536,
            total_bytes: 16 << 20,
            max_age: Duration::from_secs(3),
        }
    }
}

/// What happened to punted packets, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HoldCounters {
    /// Punted packets received.
    pub punted: u64,
    /// Punted packets that are not IPv4 or IPv6 multicast data (dropped).
    pub malformed: u64,
    /// Packets delivered (once per packet, whatever the number of copies).
    pub delivered: u64,
    /// Copies sent.
    pub copies: u64,
    /// Copies not sent: TTL threshold, MTU, the interface not in service (these also count
    /// in the entry's drops on the interface), or a send error.
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
    /// Its place among its punt socket's frames.
    pending: Option<Pending>,
    /// Its number among its entry's packets punted in hold mode (0: a miss).
    held: u32,
}

/// Where held packets go: per outgoing interface, its settings and IPv6 admin-scope boundary.
pub trait Egress {
    /// The settings of `ifindex`, if it is in service.
    fn settings(&self, ifindex: u32) -> Option<IfaceSettings>;
    /// The IPv6 admin-scope boundary of `ifindex` (0: none).
    fn scope_boundary(&self, ifindex: u32) -> u8;
}

/// The settings the router keeps beside the backend's boundaries.
pub struct EgressRules<'a, B: ForwardingBackend> {
    /// The settings of the interfaces in service.
    pub settings: &'a HashMap<u32, IfaceSettings>,
    /// The backend holding the boundaries.
    pub backend: &'a B,
}

impl<B: ForwardingBackend> Egress for EgressRules<'_, B> {
    fn settings(&self, ifindex: u32) -> Option<IfaceSettings> {
        self.settings.get(&ifindex).copied()
    }
    fn scope_boundary(&self, ifindex: u32) -> u8 {
        self.backend.scope_boundary(ifindex)
    }
}

/// Where released packets leave: one whole Ethernet frame out of one interface.
pub trait FrameOut {
    /// Sends `frame` out of `ifindex`.
    fn send_frame(&mut self, ifindex: u32, frame: &[u8]) -> io::Result<()>;
}

impl FrameOut for PacketSocket {
    fn send_frame(&mut self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        // A whole frame: the destination is in it (the address is only for cooked sockets).
        self.send_to(ifindex, [0; 6], frame)
    }
}

/// The hold queues.
pub struct Hold {
    queues: HashMap<Flow, VecDeque<HeldPacket>>,
    held: usize,
    held_bytes: usize,
    /// Per entry with something delivered or refused here; dropped with the entry.
    tallies: Tallies,
    limits: HoldLimits,
    counters: HoldCounters,
    progress: PuntProgress,
    /// Per flow whose entry is in hold mode, the number of its last packet punted in hold mode
    /// that was sent on, since the last [`Hold::held_sent_moved`].
    held_sent: HashMap<Flow, u32>,
    /// The flows whose tally's entry counts changed since the last [`Hold::tallies_moved`].
    tallies_changed: HashSet<Flow>,
}

impl Hold {
    /// Empty hold queues bounded by `limits`.
    pub fn new(limits: HoldLimits) -> Self {
        Self {
            queues: HashMap::new(),
            held: 0,
            held_bytes: 0,
            tallies: Tallies::default(),
            limits,
            counters: HoldCounters::default(),
            progress: PuntProgress::default(),
            held_sent: HashMap::new(),
            tallies_changed: HashSet::new(),
        }
    }

    /// The punt socket slots whose mark moved since the last call, with their new mark (for
    /// the data plane's `PUNTS_HANDLED`).
    pub fn punts_moved(&mut self) -> Vec<(u32, u32)> {
        self.progress.moved()
    }

    /// The flows whose packets punted in hold mode were sent on since the last call, with the
    /// number of the last one (for the data plane's `HOLD_SENT`): every packet of the flow
    /// before it was dealt with too, as a flow's packets are sent in the order they came.
    pub fn held_sent_moved(&mut self) -> Vec<(Flow, u32)> {
        self.held_sent.drain().collect()
    }

    /// The flows whose entry counts (packets sent on, wrong-interface refusals) changed since
    /// the last call, with their counts now (for the backend to keep with the entry, so that a
    /// later run adds them to its counters: [`Hold::restore_tally`]).
    pub fn tallies_moved(&mut self) -> Vec<(Flow, HeldCounters)> {
        let tallies = &self.tallies;
        self.tallies_changed
            .drain()
            .filter_map(|flow| tallies.get(flow).map(|tally| (flow, tally.held())))
            .collect()
    }

    /// The counts [`Hold::tallies_moved`] gave for `flow` could not be kept: the next call
    /// gives them again (if the flow still has a tally).
    pub fn tally_unsaved(&mut self, flow: Flow) {
        self.tallies_changed.insert(flow);
    }

    /// Adopts what an earlier run kept of the held packets of `flow`'s entry (outgoing
    /// interfaces `oifs`), so that its counters go on from where they were.
    pub fn restore_tally(&mut self, flow: impl Into<Flow>, held: HeldCounters, oifs: &[u32]) {
        if held != HeldCounters::default() {
            self.tallies
                .insert(flow.into(), Tally::restored(held, oifs));
        }
    }

    /// A packet of `flow` numbered `held` among those punted in hold mode (0: a miss) was
    /// dealt with.
    fn sent_held(&mut self, flow: Flow, held: u32) {
        if held != 0 {
            self.held_sent.insert(flow, held);
        }
    }

    fn read(&mut self, tag: Option<PuntTag>) -> Option<Pending> {
        tag.map(|tag| self.progress.read(tag))
    }

    fn done(&mut self, pending: Option<Pending>) {
        if let Some(pending) = pending {
            self.progress.done(pending);
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
    pub fn is_waiting(&self, flow: impl Into<Flow>) -> bool {
        self.queues.contains_key(&flow.into())
    }

    /// The (S,G) of a punted frame, if it is IPv4 or IPv6 multicast.
    pub fn flow_of(frame: &[u8]) -> Option<Flow> {
        let frame = Frame::new_checked(frame).ok()?;
        match frame.ethertype() {
            ETHERTYPE_IPV4 => {
                let ip = ipv4::Packet::new_checked(frame.payload()).ok()?;
                let sg = Sg::new(ip.src_addr(), ip.dst_addr());
                sg.group.is_multicast().then_some(Flow::V4(sg))
            }
            ETHERTYPE_IPV6 => {
                let ip = ipv6::Packet::new_checked(frame.payload()).ok()?;
                let sg = Sg::new(ip.src_addr(), ip.dst_addr());
                sg.group.is_multicast().then_some(Flow::V6(sg))
            }
            _ => None,
        }
    }

    /// Gives a punted frame the fast path's treatment before it is sent: the 802.1Q tag removed,
    /// the TTL decremented and the header checksum recomputed (IPv6: the hop limit
    /// decremented; it has no header checksum). IPv4 frames whose header does not verify are
    /// refused rather than sent with a fresh checksum.
    pub fn prepare(frame: &mut Vec<u8>) -> Prepared {
        // IP behind at most one tag, as the fast path parses it (so no tag is left after
        // stripping one).
        let ethertype = Frame::new_checked(frame.as_slice()).map(|f| f.ethertype());
        if !matches!(ethertype, Ok(ETHERTYPE_IPV4 | ETHERTYPE_IPV6)) {
            return Prepared::Malformed;
        }
        ethernet::strip_vlan(frame);
        let Ok(mut view) = Frame::new_checked(frame.as_mut_slice()) else {
            return Prepared::Malformed;
        };
        let (prepared, group) = if ethertype == Ok(ETHERTYPE_IPV6) {
            prepare6(view.payload_mut())
        } else {
            prepare4(view.payload_mut())
        };
        // Framed to the group's MAC, as the fast path sends its copies.
        if let (Prepared::Ready { .. }, Some(group)) = (&prepared, group) {
            view.set_destination(ethernet::multicast_mac(group));
        }
        prepared
    }

    /// Takes a frame punted on `arrival` (numbered `tag` by the data plane): `Some(sg)` if it
    /// was queued for `sg` (whose entry is pending), `None` if it was dropped and counted.
    pub fn punted(
        &mut self,
        frame: &[u8],
        arrival: u32,
        tag: Option<PuntTag>,
        now: Instant,
    ) -> Option<Flow> {
        self.counters.punted += 1;
        let pending = self.read(tag);
        let Some(sg) = Self::flow_of(frame) else {
            self.counters.malformed += 1;
            self.done(pending);
            return None;
        };
        // A refused packet leaves no empty queue behind (a spray of new (S,G)s would grow
        // the map by one per packet).
        let queued = self.queues.get(&sg).map_or(0, VecDeque::len);
        if queued >= self.limits.per_flow
            || self.held >= self.limits.total
            || self.held_bytes + frame.len() > self.limits.total_bytes
        {
            self.counters.overflow += 1;
            self.done(pending);
            return None;
        }
        // Most (S,G)s never hold more than their first packet: room for one to start with.
        let queue = self
            .queues
            .entry(sg)
            .or_insert_with(|| VecDeque::with_capacity(1));
        queue.push_back(HeldPacket {
            at: now,
            arrival,
            frame: frame.to_vec(),
            pending,
            held: tag.map_or(0, |tag| tag.held),
        });
        self.held += 1;
        self.held_bytes += frame.len();
        Some(sg)
    }

    /// Sends a frame of `sg` punted on `arrival` (numbered `tag`) whose entry (incoming `iif`,
    /// outgoing `oifs`) already exists (it was in flight when the entry was installed, or the
    /// entry is in hold mode), through `out`.
    pub fn forward_now(
        &mut self,
        sg: impl Into<Flow>,
        frame: &[u8],
        (arrival, tag): (u32, Option<PuntTag>),
        route: Route<'_>,
        out: &mut dyn FrameOut,
    ) {
        self.counters.punted += 1;
        let pending = self.read(tag);
        let flow = sg.into();
        self.deliver(flow, frame.to_vec(), arrival, route, out);
        self.done(pending);
        self.sent_held(flow, tag.map_or(0, |tag| tag.held));
    }

    /// The entry of `sg` now forwards: sends everything held for it that arrived on its
    /// incoming interface through `out`, in order; the rest are wrong-interface drops.
    pub fn release(&mut self, sg: impl Into<Flow>, route: Route<'_>, out: &mut dyn FrameOut) {
        let sg = sg.into();
        let Some(queue) = self.queues.remove(&sg) else {
            return;
        };
        self.held -= queue.len();
        self.held_bytes -= queue.iter().map(|p| p.frame.len()).sum::<usize>();
        for held in queue {
            self.deliver(sg, held.frame, held.arrival, route, out);
            self.done(held.pending);
            self.sent_held(sg, held.held);
        }
    }

    /// The entry of `sg` will not forward (negative, deleted, or its creation abandoned):
    /// drops what is held for it and its tally.
    pub fn discard(&mut self, sg: impl Into<Flow>) {
        let sg = sg.into();
        self.tallies.remove(sg);
        self.tallies_changed.remove(&sg);
        if let Some(queue) = self.queues.remove(&sg) {
            self.held -= queue.len();
            self.held_bytes -= queue.iter().map(|p| p.frame.len()).sum::<usize>();
            self.counters.no_route += queue.len() as u64;
            for held in queue {
                self.done(held.pending);
            }
        }
    }

    /// Adds what the hold queues delivered (and refused as wrong-interface) for `sg` to the
    /// fast path's counters of its entry.
    pub fn add_to_stats(&self, sg: impl Into<Flow>, stats: &mut MfeStats) {
        if let Some(tally) = self.tallies.get(sg.into()) {
            tally.add_to(stats);
        }
    }

    /// One packet of `sg` for an entry that exists: a wrong-interface drop unless it arrived on
    /// the entry's incoming interface, a no-route drop when the entry has no outgoing ones.
    fn deliver(
        &mut self,
        sg: Flow,
        frame: Vec<u8>,
        arrival: u32,
        route: Route<'_>,
        out: &mut dyn FrameOut,
    ) {
        if arrival != route.iif {
            self.counters.wrong_if += 1;
            self.tallies.of(sg).wrong_if();
            self.tallies_changed.insert(sg);
            return;
        }
        if route.oifs.is_empty() {
            self.counters.no_route += 1;
            return;
        }
        self.send(sg, frame, route, out);
    }

    /// Drops packets that waited longer than the limit.
    pub fn expire(&mut self, now: Instant) {
        let max_age = self.limits.max_age;
        let (mut aged, mut aged_bytes) = (0, 0);
        let progress = &mut self.progress;
        self.queues.retain(|_, queue| {
            while let Some(p) = queue.front().filter(|p| now.duration_since(p.at) > max_age) {
                aged += 1;
                aged_bytes += p.frame.len();
                if let Some(pending) = p.pending {
                    progress.done(pending);
                }
                queue.pop_front();
            }
            !queue.is_empty()
        });
        self.held -= aged;
        self.held_bytes -= aged_bytes;
        self.counters.aged_out += aged as u64;
        // The map keeps the room a spray made it grow to: given back once it is mostly empty.
        if self.queues.capacity() > 4 * self.queues.len() + 1024 {
            self.queues.shrink_to_fit();
        }
    }

    fn send(&mut self, sg: Flow, mut frame: Vec<u8>, route: Route<'_>, out: &mut dyn FrameOut) {
        let (ttl, ip_len) = match Self::prepare(&mut frame) {
            Prepared::Malformed => {
                self.counters.malformed += 1;
                return;
            }
            Prepared::TtlExpired { ip_len } => {
                // The entry counts it, as the fast path's counters do.
                self.counters.ttl_expired += 1;
                self.tallies_changed.insert(sg);
                self.tallies.of(sg).taken(ip_len);
                return;
            }
            Prepared::Ready { ttl, ip_len } => (ttl, ip_len),
        };
        self.counters.delivered += 1;
        self.tallies_changed.insert(sg);
        let tally = self.tallies.of(sg);
        tally.taken(ip_len);
        let scope = match sg {
            Flow::V4(_) => NO_SCOPE,
            Flow::V6(sg) => ipv6_scope(&sg.group.octets()),
        };
        for &ifindex in route.oifs {
            // The interface's rules, as the fast path applies them: a copy they drop counts
            // for the (entry, interface) too.
            let admitted = route.egress.settings(ifindex).filter(|settings| {
                let over_mtu = settings.mtu != 0 && ip_len > settings.mtu as usize;
                ttl >= settings.ttl_threshold
                    && !over_mtu
                    && !inside_scope_boundary(scope, route.egress.scope_boundary(ifindex))
            });
            let Some(settings) = admitted else {
                self.counters.copies_dropped += 1;
                tally.copy_dropped(ifindex);
                continue;
            };
            if let Ok(mut f) = Frame::new_checked(frame.as_mut_slice()) {
                f.set_source(settings.mac);
            }
            match out.send_frame(ifindex, &frame) {
                Ok(()) => {
                    self.counters.copies += 1;
                    tally.copy_sent(ifindex, ip_len);
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
    /// Outgoing ifindexes, each once and never `iif` (one copy per interface, whatever the
    /// next hops on it, and none back out of the incoming one): each gets a copy.
    pub oifs: &'a [u32],
    /// Their settings.
    pub egress: &'a dyn Egress,
}

/// [`Hold::prepare`] of the IPv6 packet `ip`: the hop limit decremented.
/// [`Hold::prepare`] for the IPv4 packet `ip`, and its group.
fn prepare4(ip: &mut [u8]) -> (Prepared, Option<IpAddr>) {
    let Ok(mut ip) = ipv4::Packet::new_checked(ip) else {
        return (Prepared::Malformed, None);
    };
    if ip.version() != 4 || !ip.verify_checksum() {
        return (Prepared::Malformed, None);
    }
    let ttl = ip.ttl();
    if ttl <= 1 {
        let ip_len = usize::from(ip.total_len());
        return (Prepared::TtlExpired { ip_len }, None);
    }
    ip.set_ttl(ttl - 1);
    ip.fill_checksum();
    let ready = Prepared::Ready {
        ttl: ttl - 1,
        ip_len: usize::from(ip.total_len()),
    };
    (ready, Some(ip.dst_addr().into()))
}

/// [`Hold::prepare`] for the IPv6 packet `ip`, and its group.
fn prepare6(ip: &mut [u8]) -> (Prepared, Option<IpAddr>) {
    let Ok(mut ip) = ipv6::Packet::new_checked(ip) else {
        return (Prepared::Malformed, None);
    };
    if ip.version() != 6 {
        return (Prepared::Malformed, None);
    }
    let hop_limit = ip.hop_limit();
    if hop_limit <= 1 {
        let ip_len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
        return (Prepared::TtlExpired { ip_len }, None);
    }
    ip.set_hop_limit(hop_limit - 1);
    let ready = Prepared::Ready {
        ttl: hop_limit - 1,
        ip_len: ipv6::HEADER_LEN + usize::from(ip.payload_len()),
    };
    (ready, Some(ip.dst_addr().into()))
}

/// What [`Hold::prepare`] made of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Not an Ethernet frame carrying an IPv4 header with a valid checksum or a whole IPv6
    /// header: not to be sent.
    Malformed,
    /// TTL (hop limit) 1 or 0: not to be sent; the IP packet's declared length, which its entry
    /// counts.
    TtlExpired {
        /// As in [`Prepared::Ready`].
        ip_len: usize,
    },
    /// Ready to send: the TTL (hop limit) it now carries and the IP packet's length.
    Ready {
        /// The decremented TTL or hop limit.
        ttl: u8,
        /// The IP packet's declared length (IPv6: header and payload), for the MTU check.
        ip_len: usize,
    },
}

mod progress;
mod tally;
#[cfg(test)]
mod tests;
