//! The router of IGMP and of MLD, one code for both: the interfaces by ifindex, their
//! configuration, routing inputs and timers to them, counting inputs for interfaces the
//! protocol does not run on, and collecting snapshots and memberships. A protocol supplies its
//! interface through [`RouterIface`]; `crate::igmp::Router` and `crate::mld::Router` are this
//! router over their interfaces, each with its own `add_interface`.
use super::membership::MembershipChange;
use std::collections::BTreeMap;
use std::time::Instant;

/// One interface of a protocol's router.
pub trait RouterIface: Sized {
    /// Group address type.
    type Addr;
    /// Interface configuration.
    type Config;
    /// A parsed message.
    type Message;
    /// Why an input was dropped.
    type DropReason;
    /// What the caller must do after an input.
    type Action: From<MembershipChange<Self::Addr>>;
    /// The operator's view of the interface.
    type Snapshot;
    /// The operator's view of the router.
    type RouterSnapshot;
    /// Errors of interface management.
    type Error;

    /// The error for an interface the protocol already runs on.
    fn interface_exists(ifindex: u32) -> Self::Error;
    /// The error for an interface the protocol does not run on.
    fn no_interface(ifindex: u32) -> Self::Error;
    /// Checks a configuration.
    fn validate(config: &Self::Config) -> Result<(), Self::Error>;
    /// The router's view from its interfaces' and the count of inputs for other interfaces.
    fn router_snapshot(
        interfaces: Vec<Self::Snapshot>,
        unknown_interface: u64,
    ) -> Self::RouterSnapshot;
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
    /// Joins for the current state of every group (for re-adds after the protocol is enabled).
    fn memberships(&self) -> Vec<MembershipChange<Self::Addr>>;
    /// Leaves for the current state of every group (the interface goes away).
    fn leave_all(&self) -> Vec<MembershipChange<Self::Addr>>;
}

/// A multicast listener protocol's router: all its interfaces.
#[derive(Debug, Clone)]
pub struct Router<I> {
    pub(crate) ifaces: BTreeMap<u32, I>,
    unknown_interface: u64,
}

impl<I> Default for Router<I> {
    fn default() -> Self {
        Router {
            ifaces: BTreeMap::new(),
            unknown_interface: 0,
        }
    }
}

impl<I: RouterIface> Router<I> {
    /// A router with no interfaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the interface `make` builds from a valid `config` on an `ifindex` the protocol
    /// does not run on yet, and returns what its first tick at `now` does: the first startup
    /// query.
    pub(crate) fn add(
        &mut self,
        ifindex: u32,
        config: I::Config,
        now: Instant,
        make: impl FnOnce(I::Config) -> I,
    ) -> Result<Vec<I::Action>, I::Error> {
        if self.ifaces.contains_key(&ifindex) {
            return Err(I::interface_exists(ifindex));
        }
        I::validate(&config)?;
        let mut iface = make(config);
        let mut out = Vec::new();
        iface.tick(now, &mut out);
        self.ifaces.insert(ifindex, iface);
        Ok(out)
    }

    /// Replaces an interface's configuration, keeping its groups and querier state. Running
    /// timers keep their deadlines, except that the next general query is brought forward to
    /// `now` + the new query interval when that is earlier; new bounds apply to new state.
    pub fn set_config(
        &mut self,
        ifindex: u32,
        config: I::Config,
        now: Instant,
    ) -> Result<(), I::Error> {
        I::validate(&config)?;
        self.ifaces
            .get_mut(&ifindex)
            .ok_or(I::no_interface(ifindex))?
            .set_config(config, now);
        Ok(())
    }

    /// Disables the protocol on an interface: the leaves for all its memberships.
    pub fn remove_interface(&mut self, ifindex: u32) -> Result<Vec<I::Action>, I::Error> {
        let iface = self
            .ifaces
            .remove(&ifindex)
            .ok_or(I::no_interface(ifindex))?;
        Ok(iface.leave_all().into_iter().map(I::Action::from).collect())
    }

    /// Handles a received IP packet carrying the protocol.
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

    /// Counts an input on `ifindex` dropped before parsing (by the receive path), e.g. a
    /// frame addressed to another station.
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

    /// Joins describing the current memberships on an interface, for the re-adds the
    /// protocol owes the MGM core after it is enabled there again (docs/mgm-spec.md §5.9).
    pub fn memberships(&self, ifindex: u32) -> Result<Vec<MembershipChange<I::Addr>>, I::Error> {
        let iface = self.ifaces.get(&ifindex).ok_or(I::no_interface(ifindex))?;
        Ok(iface.memberships())
    }

    /// The operator's view at `now`.
    pub fn snapshot(&self, now: Instant) -> I::RouterSnapshot {
        let interfaces = self.ifaces.values().map(|i| i.snapshot(now)).collect();
        I::router_snapshot(interfaces, self.unknown_interface)
    }
}
