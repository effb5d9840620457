//! Failure injection for the core's tests: a forwarding backend and an I/O side that keep what
//! they are told in memory, record it for the tests to inspect, and fail the operations a test
//! names. Not a model of the XDP data plane: the real one is tested against the kernel.
use super::ports::{HostJoin, Punted, RouterIo};
use crate::{
    daemon::{
        hold::{Flow, FrameOut, Hold, PuntTag},
        veth::VethReading,
    },
    dataplane::{ForwardingBackend, IfaceSettings, InstalledMfe, MfeStats},
};
use mgm_common::{HeldCounters, Sg6Key, SgKey};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    hash::Hash,
    net::{Ipv4Addr, Ipv6Addr},
};

/// A backend operation a test can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Install,
    Update,
    Delete,
    Configure,
}

/// The fake backend's error.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("injected failure of {0:?}")]
    Injected(Op),
    #[error("no entry")]
    NoEntry,
}

/// One entry as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeEntry {
    pub iif: u32,
    pub oifs: Vec<u32>,
    /// In hold mode (packets still punted).
    pub hold: bool,
}

/// A forwarding backend in memory.
#[derive(Debug, Default)]
pub struct FakeBackend {
    pub entries: HashMap<SgKey, FakeEntry>,
    pub ifaces: BTreeMap<u32, IfaceSettings>,
    /// IPv6 admin-scope boundaries by ifindex (none: 0).
    pub scope_boundaries: BTreeMap<u32, u8>,
    pub punt_slots: BTreeMap<u32, (u32, u32)>,
    /// Operations that fail until removed.
    pub failing: BTreeSet<Op>,
    /// Successful writes (install, update, delete) per entry.
    pub writes: HashMap<SgKey, usize>,
    /// Counters the fast path reports for an entry it holds (default: nothing counted).
    pub stats: HashMap<SgKey, MfeStats>,
    /// Entries whose counters were read, in all.
    pub stats_reads: std::cell::Cell<usize>,
    hold_next: HashSet<SgKey>,
    /// Marks of held packets sent on ([`ForwardingBackend::held_sent`]) to entries in hold
    /// mode, in order.
    pub held_sent: Vec<(SgKey, u32)>,
    /// What [`ForwardingBackend::save_held`] kept per entry (gone with the entry).
    pub held: HashMap<SgKey, HeldCounters>,
    /// The IPv6 entries.
    pub v6: FakeTable6,
}

/// The IPv6 entries of the fake backend, as the IPv4 ones.
#[derive(Debug, Default)]
pub struct FakeTable6 {
    pub entries: HashMap<Sg6Key, FakeEntry>,
    /// Successful writes (install, update, delete) per entry.
    pub writes: HashMap<Sg6Key, usize>,
    hold_next: HashSet<Sg6Key>,
    /// Marks of held packets sent on to entries in hold mode, in order.
    pub held_sent: Vec<(Sg6Key, u32)>,
    /// What was kept of held packets per entry.
    pub held: HashMap<Sg6Key, HeldCounters>,
}

impl FakeBackend {
    fn check(&self, op: Op) -> Result<(), FakeError> {
        match self.failing.contains(&op) {
            true => Err(FakeError::Injected(op)),
            false => Ok(()),
        }
    }
}

fn sorted(oifs: &[u32]) -> Vec<u32> {
    let mut list = oifs.to_vec();
    list.sort_unstable();
    list.dedup();
    list
}

/// The entries of one family, with the operations both families share.
struct Table<'a, K> {
    entries: &'a mut HashMap<K, FakeEntry>,
    writes: &'a mut HashMap<K, usize>,
    hold_next: &'a mut HashSet<K>,
    held_sent: &'a mut Vec<(K, u32)>,
    held: &'a mut HashMap<K, HeldCounters>,
}

impl<K: Copy + Eq + Hash> Table<'_, K> {
    fn install(
        &mut self,
        sg: K,
        iif: u32,
        oifs: &[u32],
        fail: Result<(), FakeError>,
    ) -> Result<(), FakeError> {
        let hold = self.hold_next.remove(&sg);
        fail?;
        let hold = hold || self.entries.get(&sg).is_some_and(|e| e.hold);
        if !self.entries.contains_key(&sg) {
            // A new entry starts with nothing kept (as a fresh counter slot).
            self.held.remove(&sg);
        }
        let oifs = sorted(oifs);
        self.entries.insert(sg, FakeEntry { iif, oifs, hold });
        *self.writes.entry(sg).or_default() += 1;
        Ok(())
    }

    fn update(&mut self, sg: K, iif: u32, oifs: &[u32]) -> Result<(), FakeError> {
        let entry = self.entries.get_mut(&sg).ok_or(FakeError::NoEntry)?;
        entry.iif = iif;
        entry.oifs = sorted(oifs);
        *self.writes.entry(sg).or_default() += 1;
        Ok(())
    }

    fn delete(&mut self, sg: K) -> Result<(), FakeError> {
        self.entries.remove(&sg).ok_or(FakeError::NoEntry)?;
        self.held.remove(&sg);
        *self.writes.entry(sg).or_default() += 1;
        Ok(())
    }

    fn release(&mut self, sg: K) -> Result<(), FakeError> {
        let entry = self.entries.get_mut(&sg).ok_or(FakeError::NoEntry)?;
        entry.hold = false;
        Ok(())
    }

    fn sent(&mut self, sg: K, sent: u32) -> Result<(), FakeError> {
        let entry = self.entries.get(&sg).ok_or(FakeError::NoEntry)?;
        if entry.hold {
            self.held_sent.push((sg, sent));
        }
        Ok(())
    }

    fn save_held(&mut self, sg: K, held: HeldCounters) -> Result<(), FakeError> {
        self.entries.get(&sg).ok_or(FakeError::NoEntry)?;
        self.held.insert(sg, held);
        Ok(())
    }
}

/// What was kept of `sg`'s held packets in `held`, if `entries` has it.
fn saved_of<K: Copy + Eq + Hash>(
    entries: &HashMap<K, FakeEntry>,
    held: &HashMap<K, HeldCounters>,
    sg: K,
) -> Result<HeldCounters, FakeError> {
    entries.get(&sg).ok_or(FakeError::NoEntry)?;
    Ok(held.get(&sg).copied().unwrap_or_default())
}

/// The entry for `sg` of `entries` as the backend reports it.
fn installed_of<K: Copy + Eq + Hash>(
    entries: &HashMap<K, FakeEntry>,
    sg: K,
) -> Option<InstalledMfe<K>> {
    entries.get(&sg).map(|e| InstalledMfe {
        sg,
        iif: e.iif,
        oifs: e.oifs.clone(),
    })
}

/// Every entry of `entries`, sorted by `order`.
fn all_of<K: Copy + Eq + Hash, O: Ord>(
    entries: &HashMap<K, FakeEntry>,
    order: impl Fn(&K) -> O,
) -> Vec<InstalledMfe<K>> {
    let mut keys: Vec<K> = entries.keys().copied().collect();
    keys.sort_unstable_by_key(order);
    keys.into_iter()
        .filter_map(|sg| installed_of(entries, sg))
        .collect()
}

impl FakeBackend {
    fn v4(&mut self) -> Table<'_, SgKey> {
        Table {
            entries: &mut self.entries,
            writes: &mut self.writes,
            hold_next: &mut self.hold_next,
            held_sent: &mut self.held_sent,
            held: &mut self.held,
        }
    }

    fn v6(&mut self) -> Table<'_, Sg6Key> {
        Table {
            entries: &mut self.v6.entries,
            writes: &mut self.v6.writes,
            hold_next: &mut self.v6.hold_next,
            held_sent: &mut self.v6.held_sent,
            held: &mut self.v6.held,
        }
    }
}

impl ForwardingBackend for FakeBackend {
    type Error = FakeError;

    fn install_mfe(&mut self, sg: SgKey, iif: u32, oifs: &[u32]) -> Result<(), FakeError> {
        let fail = self.check(Op::Install);
        self.v4().install(sg, iif, oifs, fail)
    }

    fn update_mfe(&mut self, sg: SgKey, iif: u32, oifs: &[u32]) -> Result<(), FakeError> {
        self.check(Op::Update)?;
        self.v4().update(sg, iif, oifs)
    }

    fn delete_mfe(&mut self, sg: SgKey) -> Result<(), FakeError> {
        self.check(Op::Delete)?;
        self.v4().delete(sg)
    }

    fn mfe_stats(&self, sg: SgKey) -> Result<MfeStats, FakeError> {
        self.stats_reads.set(self.stats_reads.get() + 1);
        self.entries
            .get(&sg)
            .map(|_| self.stats.get(&sg).cloned().unwrap_or_default())
            .ok_or(FakeError::NoEntry)
    }

    fn configure_interface(
        &mut self,
        ifindex: u32,
        settings: IfaceSettings,
    ) -> Result<(), FakeError> {
        self.check(Op::Configure)?;
        self.ifaces.insert(ifindex, settings);
        Ok(())
    }

    fn scope_boundary(&self, ifindex: u32) -> u8 {
        self.scope_boundaries.get(&ifindex).copied().unwrap_or(0)
    }

    fn remove_interface(&mut self, ifindex: u32) -> Result<(), FakeError> {
        self.ifaces.remove(&ifindex);
        self.punt_slots.remove(&ifindex);
        Ok(())
    }

    fn set_punt_slots(&mut self, ifindex: u32, first: u32, queues: u32) -> Result<(), FakeError> {
        self.punt_slots.insert(ifindex, (first, queues));
        Ok(())
    }

    fn hold_on_create(&mut self, sg: SgKey) {
        self.hold_next.insert(sg);
    }

    fn release_hold(&mut self, sg: SgKey) -> Result<(), FakeError> {
        self.v4().release(sg)
    }

    fn held_sent(&mut self, sg: SgKey, sent: u32) -> Result<(), FakeError> {
        self.v4().sent(sg, sent)
    }

    fn save_held(&mut self, sg: SgKey, held: HeldCounters) -> Result<(), FakeError> {
        self.v4().save_held(sg, held)
    }

    fn take_saved_held(&mut self, sg: SgKey) -> Result<HeldCounters, FakeError> {
        saved_of(&self.entries, &self.held, sg)
    }

    fn installed(&self, sg: SgKey) -> Option<InstalledMfe> {
        installed_of(&self.entries, sg)
    }

    fn installed_all(&self) -> Vec<InstalledMfe> {
        all_of(&self.entries, |k| (k.source, k.group))
    }

    fn holds(&self, sg: SgKey) -> Result<bool, FakeError> {
        Ok(self.entries.contains_key(&sg))
    }

    fn read_back(&self) -> Result<Vec<InstalledMfe>, FakeError> {
        Ok(self.installed_all())
    }

    fn install_mfe6(&mut self, sg: Sg6Key, iif: u32, oifs: &[u32]) -> Result<(), FakeError> {
        let fail = self.check(Op::Install);
        self.v6().install(sg, iif, oifs, fail)
    }

    fn update_mfe6(&mut self, sg: Sg6Key, iif: u32, oifs: &[u32]) -> Result<(), FakeError> {
        self.check(Op::Update)?;
        self.v6().update(sg, iif, oifs)
    }

    fn delete_mfe6(&mut self, sg: Sg6Key) -> Result<(), FakeError> {
        self.check(Op::Delete)?;
        self.v6().delete(sg)
    }

    /// Nothing counted for IPv6 entries.
    fn mfe6_stats(&self, sg: Sg6Key) -> Result<MfeStats, FakeError> {
        self.v6
            .entries
            .get(&sg)
            .map(|_| MfeStats::default())
            .ok_or(FakeError::NoEntry)
    }

    fn hold_on_create6(&mut self, sg: Sg6Key) {
        self.v6.hold_next.insert(sg);
    }

    fn release_hold6(&mut self, sg: Sg6Key) -> Result<(), FakeError> {
        self.v6().release(sg)
    }

    fn held_sent6(&mut self, sg: Sg6Key, sent: u32) -> Result<(), FakeError> {
        self.v6().sent(sg, sent)
    }

    fn save_held6(&mut self, sg: Sg6Key, held: HeldCounters) -> Result<(), FakeError> {
        self.v6().save_held(sg, held)
    }

    fn take_saved_held6(&mut self, sg: Sg6Key) -> Result<HeldCounters, FakeError> {
        saved_of(&self.v6.entries, &self.v6.held, sg)
    }

    fn installed6(&self, sg: Sg6Key) -> Option<InstalledMfe<Sg6Key>> {
        installed_of(&self.v6.entries, sg)
    }

    fn installed6_all(&self) -> Vec<InstalledMfe<Sg6Key>> {
        all_of(&self.v6.entries, |k| (k.source, k.group))
    }

    fn holds6(&self, sg: Sg6Key) -> Result<bool, FakeError> {
        Ok(self.v6.entries.contains_key(&sg))
    }

    fn read_back6(&self) -> Result<Vec<InstalledMfe<Sg6Key>>, FakeError> {
        Ok(self.installed6_all())
    }
}

/// A host join or leave the core asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostOp {
    Join(HostJoin),
    Leave(HostJoin),
}

/// The I/O side in memory.
#[derive(Debug, Default)]
pub struct FakeIo {
    /// Interfaces with the XDP program: name → generic mode.
    pub attached: BTreeMap<String, bool>,
    /// Attachments made in all.
    pub attaches: usize,
    /// Interfaces whose attachment fails.
    pub attach_fails: BTreeSet<String>,
    /// Interfaces XDP cannot redirect into (bridges, VLANs).
    pub no_xdp_redirects: BTreeSet<u32>,
    /// Open punt sockets: ifindex → (first slot, queues).
    pub punts: BTreeMap<u32, (u32, u32)>,
    /// How many of the next punt-socket openings fail (as while the kernel still releases
    /// the sockets of an interface that left service).
    pub punt_open_fails: usize,
    /// Punt sockets opened in all.
    pub punts_opened: usize,
    /// Frames the next [`RouterIo::recv_punted`] hands over: (arrival ifindex, frame).
    pub punted: Vec<(u32, Vec<u8>)>,
    /// The last frame number handed out per punt socket slot.
    pub punt_numbers: BTreeMap<u32, u32>,
    /// Flows whose frames are numbered as punted in hold mode, with the last number handed out
    /// (the data plane's `HOLD_PUNTED`).
    pub held_flows: HashMap<Flow, u32>,
    /// The data plane's handover mark per punt socket slot ([`RouterIo::set_punts_handled`]).
    pub punts_handled: BTreeMap<u32, u32>,
    /// Addresses of the interfaces.
    pub addresses: BTreeMap<u32, (Ipv4Addr, u8)>,
    /// IGMP datagrams sent: (ifindex, destination).
    pub igmp_sent: Vec<(u32, Ipv4Addr)>,
    /// Link-local IPv6 addresses of the interfaces.
    pub link_locals: BTreeMap<u32, Ipv6Addr>,
    /// MLD packets sent: (ifindex, destination).
    pub mld_sent: Vec<(u32, Ipv6Addr)>,
    /// Host joins in force.
    pub joins: BTreeSet<HostJoin>,
    /// Every host join and leave, in order.
    pub host_ops: Vec<HostOp>,
    /// Host joins that fail while listed.
    pub join_fails: BTreeSet<HostJoin>,
    /// The interfaces that are veths, with what the kernel reports of them.
    pub veths: BTreeMap<String, VethReading>,
    /// Frames the hold queues released, in the order sent: (outgoing ifindex, frame).
    pub sent: Vec<(u32, Vec<u8>)>,
    /// The ifindexes of the interfaces that exist.
    pub existing: BTreeSet<u32>,
    /// How many frames had been sent at each [`RouterIo::held_sent`].
    pub held_sent: Vec<usize>,
    /// Frames that arrive while frames are sent, [`FakeIo::arrivals_per_send`] per send, into
    /// [`FakeIo::punted`]: a flow faster than the punt path.
    pub arriving: VecDeque<(u32, Vec<u8>)>,
    /// How many of [`FakeIo::arriving`] arrive during each send.
    pub arrivals_per_send: usize,
    /// Frames [`FakeIo::punted`] holds at most, as a punt ring (0: no bound); one arriving
    /// beyond is dropped and counted in [`FakeIo::ring_dropped`].
    pub ring: usize,
    /// Frames that arrived with the ring full.
    pub ring_dropped: usize,
}

impl FrameOut for FakeIo {
    fn send_frame(&mut self, ifindex: u32, frame: &[u8]) -> std::io::Result<()> {
        self.sent.push((ifindex, frame.to_vec()));
        for _ in 0..self.arrivals_per_send {
            let Some(arrived) = self.arriving.pop_front() else {
                break;
            };
            if self.ring == 0 || self.punted.len() < self.ring {
                self.punted.push(arrived);
            } else {
                self.ring_dropped += 1;
            }
        }
        Ok(())
    }
}

impl RouterIo for FakeIo {
    fn held_sent(&mut self) {
        self.held_sent.push(self.sent.len());
    }

    fn attach(&mut self, name: &str, generic: bool) -> anyhow::Result<()> {
        anyhow::ensure!(!self.attach_fails.contains(name), "injected attach failure");
        self.attached.insert(name.to_owned(), generic);
        self.attaches += 1;
        Ok(())
    }

    fn detach(&mut self, name: &str) -> anyhow::Result<()> {
        self.attached
            .remove(name)
            .map(drop)
            .ok_or_else(|| anyhow::anyhow!("{name} not attached"))
    }

    fn open_punt(&mut self, _name: &str, ifindex: u32) -> anyhow::Result<(u32, u32)> {
        if self.punt_open_fails > 0 {
            self.punt_open_fails -= 1;
            anyhow::bail!("injected: device or resource busy");
        }
        anyhow::ensure!(
            !self.punts.contains_key(&ifindex),
            "interface {ifindex} already has punt sockets"
        );
        let first = self.punts.values().map(|(f, q)| f + q).max().unwrap_or(0);
        self.punts.insert(ifindex, (first, 1));
        self.punts_opened += 1;
        Ok((first, 1))
    }

    fn close_punt(&mut self, ifindex: u32) {
        self.punts.remove(&ifindex);
    }

    /// Numbers each frame in the slot of its interface's punt socket, and those of the held
    /// flows among their entry's, as the XDP program does.
    fn recv_punted(&mut self, frames: &mut Vec<Punted>) {
        for (arrival, frame) in std::mem::take(&mut self.punted) {
            let tag = self.punts.get(&arrival).map(|&(slot, _)| {
                let seq = self.punt_numbers.entry(slot).or_default();
                *seq = seq.wrapping_add(1);
                let held = Hold::flow_of(&frame)
                    .and_then(|flow| self.held_flows.get_mut(&flow))
                    .map_or(0, |held| {
                        *held += 1;
                        *held
                    });
                PuntTag {
                    slot,
                    seq: *seq,
                    held,
                }
            });
            frames.push(Punted {
                arrival,
                tag,
                frame,
            });
        }
    }

    fn set_punts_handled(&mut self, slot: u32, mark: u32) {
        self.punts_handled.insert(slot, mark);
    }

    fn ipv4_of(&self, ifindex: u32) -> Option<(Ipv4Addr, u8)> {
        self.addresses.get(&ifindex).copied()
    }

    fn send_igmp(&mut self, ifindex: u32, dst: Ipv4Addr, _datagram: &[u8]) {
        self.igmp_sent.push((ifindex, dst));
    }

    fn link_local_of(&self, ifindex: u32) -> Option<Ipv6Addr> {
        self.link_locals.get(&ifindex).copied()
    }

    fn send_mld(&mut self, ifindex: u32, dst: Ipv6Addr, _packet: &[u8]) {
        self.mld_sent.push((ifindex, dst));
    }

    fn host_join(&mut self, join: &HostJoin) -> anyhow::Result<()> {
        anyhow::ensure!(!self.join_fails.contains(join), "injected join failure");
        anyhow::ensure!(self.joins.insert(join.clone()), "joined twice");
        self.host_ops.push(HostOp::Join(join.clone()));
        Ok(())
    }

    fn host_leave(&mut self, join: &HostJoin) {
        assert!(self.joins.remove(join), "left a join not made: {join:?}");
        self.host_ops.push(HostOp::Leave(join.clone()));
    }

    fn is_veth(&self, name: &str) -> bool {
        self.veths.contains_key(name)
    }

    fn read_veth(&self, name: &str, _ifindex: u32) -> VethReading {
        self.veths.get(name).copied().unwrap_or_default()
    }

    fn takes_xdp_redirects(&self, ifindex: u32) -> Option<bool> {
        Some(!self.no_xdp_redirects.contains(&ifindex))
    }

    fn interface_exists(&self, ifindex: u32) -> bool {
        self.existing.contains(&ifindex)
    }

    fn attached(&self) -> Vec<String> {
        self.attached.keys().cloned().collect()
    }

    /// The fake has no fast path: nothing counted.
    fn global_stats(&self) -> anyhow::Result<BTreeMap<&'static str, u64>> {
        Ok(BTreeMap::new())
    }
}
