//! The interfaces of a router, shared by IGMP and MLD: the per-interface map, routing inputs and
//! timers to the interfaces, counting inputs for interfaces the protocol does not run on, and
//! collecting snapshots and memberships. A protocol supplies its interface through
//! [`RouterIface`].
use super::membership::MembershipChange;
use super::table::{GroupAddr, GroupTable};
use std::collections::BTreeMap;
use std::time::Instant;

/// One interface of a protocol's router.
pub(crate) trait RouterIface {
    /// Group address type.
    type Addr: GroupAddr;
    /// Interface configuration.
    type Config;
    /// A parsed message.
    type Message;
    /// Why an input was dropped.
    type DropReason;
    /// What the caller must do after an input.
    type Action;
    /// The operator's view of the interface.
    type Snapshot;

    /// Parses a received IP packet carrying the protocol.
    fn parse(packet: &[u8]) -> Result<Self::Message, Self::DropReason>;
    /// Checks that a message is acceptable on this interface.
    fn check(&self, msg: &Self::Message) -> Result<(), Self::DropReason>;
    /// Handles a message that passed [`Self::check`].
    fn handle(&mut self, msg: &Self::Message, now: Instant, out: &mut Vec<Self::Action>);
    /// Runs the timers due at `now`.
    fn tick(&mut self, now: Instant, out: &mut Vec<Self::Action>);
    /// When [`Self::tick`] must next be called.
    fn next_timeout(&self) -> Option<Instant>;
    /// Replaces the configuration, keeping groups and querier state.
    fn set_config(&mut self, config: Self::Config, now: Instant);
    /// Counts a dropped input.
    fn count_drop(&mut self, reason: Self::DropReason);
    /// The operator's view at `now`.
    fn snapshot(&self, now: Instant) -> Self::Snapshot;
    /// The interface's groups.
    fn groups(&self) -> &GroupTable<Self::Addr>;
}

/// The interfaces of a router by ifindex, and the inputs for interfaces not among them.
#[derive(Debug, Clone)]
pub(crate) struct Ifaces<I> {
    ifaces: BTreeMap<u32, I>,
    unknown_interface: u64,
}

impl<I> Default for Ifaces<I> {
    fn default() -> Self {
        Ifaces {
            ifaces: BTreeMap::new(),
            unknown_interface: 0,
        }
    }
}

impl<I: RouterIface> Ifaces<I> {
    /// Whether the protocol runs on `ifindex`.
    pub fn contains(&self, ifindex: u32) -> bool {
        self.ifaces.contains_key(&ifindex)
    }

    /// Adds an interface (not yet present) and returns what its first tick at `now` does: the
    /// first startup query.
    pub fn insert(&mut self, ifindex: u32, mut iface: I, now: Instant) -> Vec<I::Action> {
        let mut out = Vec::new();
        iface.tick(now, &mut out);
        self.ifaces.insert(ifindex, iface);
        out
    }

    /// The interface, if the protocol runs there.
    pub fn get_mut(&mut self, ifindex: u32) -> Option<&mut I> {
        self.ifaces.get_mut(&ifindex)
    }

    /// Removes an interface and returns the leaves for all its memberships.
    pub fn remove(&mut self, ifindex: u32) -> Option<Vec<MembershipChange<I::Addr>>> {
        let iface = self.ifaces.remove(&ifindex)?;
        Some(iface.groups().leave_all())
    }

    /// Joins describing the current memberships on an interface.
    pub fn memberships(&self, ifindex: u32) -> Option<Vec<MembershipChange<I::Addr>>> {
        Some(self.ifaces.get(&ifindex)?.groups().memberships())
    }

    /// Handles a received IP packet.
    pub fn handle_packet(&mut self, ifindex: u32, packet: &[u8], now: Instant) -> Vec<I::Action> {
        let Some(iface) = self.ifaces.get_mut(&ifindex) else {
            self.unknown_interface += 1;
            return Vec::new();
        };
        match I::parse(packet) {
            Ok(msg) => self.handle_message(ifindex, &msg, now),
            Err(reason) => {
                iface.count_drop(reason);
                Vec::new()
            }
        }
    }

    /// Counts an input on `ifindex` dropped before parsing.
    pub fn count_drop(&mut self, ifindex: u32, reason: I::DropReason) {
        match self.ifaces.get_mut(&ifindex) {
            Some(iface) => iface.count_drop(reason),
            None => self.unknown_interface += 1,
        }
    }

    /// Handles an already parsed message; it is validated like a received packet.
    pub fn handle_message(
        &mut self,
        ifindex: u32,
        msg: &I::Message,
        now: Instant,
    ) -> Vec<I::Action> {
        let Some(iface) = self.ifaces.get_mut(&ifindex) else {
            self.unknown_interface += 1;
            return Vec::new();
        };
        let mut out = Vec::new();
        match iface.check(msg) {
            Ok(()) => iface.handle(msg, now, &mut out),
            Err(reason) => iface.count_drop(reason),
        }
        out
    }

    /// Runs every timer due at `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<I::Action> {
        let mut out = Vec::new();
        for iface in self.ifaces.values_mut() {
            iface.tick(now, &mut out);
        }
        out
    }

    /// When [`Self::tick`] must next be called.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.ifaces.values().filter_map(I::next_timeout).min()
    }

    /// Every interface's snapshot by ifindex, and the count of inputs for other interfaces.
    pub fn snapshots(&self, now: Instant) -> (Vec<I::Snapshot>, u64) {
        let interfaces = self.ifaces.values().map(|i| i.snapshot(now)).collect();
        (interfaces, self.unknown_interface)
    }
}

/// Tests look interfaces up as `router.ifaces[&ifindex]`.
#[cfg(test)]
impl<I> std::ops::Index<&u32> for Ifaces<I> {
    type Output = I;
    fn index(&self, ifindex: &u32) -> &I {
        &self.ifaces[ifindex]
    }
}
