//! What the router core needs from its surroundings besides the forwarding backend. The daemon's
//! executor implements it with XDP attachments, AF_XDP punt sockets, raw IGMP and MLD sockets, host
//! sockets (the API's and the proxy's host joins) and the kernel's reports on veths (ethtool,
//! netdev genetlink, sysfs: [`crate::daemon::veth::kernel`]) ([`super::executor`]); the core's
//! tests with a fake that records every call and fails on demand.
use crate::{
    api::proto::Event,
    daemon::{
        hold::{FrameOut, PuntTag},
        veth::VethReading,
    },
};
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

/// A group the router itself joins as a host on an interface: (interface, group, source), of
/// either family; for the API (`mgmctl join`) and for the proxy's upstream memberships (see
/// `host_joins.rs`).
pub type HostJoin = (String, IpAddr, Option<IpAddr>);

/// A frame the XDP program punted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Punted {
    /// The ifindex it arrived on.
    pub arrival: u32,
    /// Its socket slot and number there, if the data plane numbered it.
    pub tag: Option<PuntTag>,
    /// The whole Ethernet frame.
    pub frame: Vec<u8>,
}

/// The router's I/O other than the forwarding maps; as a [`FrameOut`] it sends the packets
/// the hold queues release.
pub trait RouterIo: FrameOut {
    /// Attaches the XDP program to interface `name` (`generic`: skb mode).
    fn attach(&mut self, name: &str, generic: bool) -> anyhow::Result<()>;

    /// Detaches the XDP program from interface `name`.
    fn detach(&mut self, name: &str) -> anyhow::Result<()>;

    /// Opens the punt sockets of interface `name` (`ifindex`), one per receive queue, and
    /// returns (first slot, queues) for the backend's interface settings.
    fn open_punt(&mut self, name: &str, ifindex: u32) -> anyhow::Result<(u32, u32)>;

    /// Closes the punt sockets of `ifindex` and frees their slots, memory and descriptors.
    fn close_punt(&mut self, ifindex: u32);

    /// Appends every frame punted since the last call to `frames`.
    fn recv_punted(&mut self, frames: &mut Vec<Punted>);

    /// Tells the data plane that every frame punted to socket slot `slot` up to number `mark`
    /// has been sent on or dropped (see [`crate::daemon::hold`]).
    fn set_punts_handled(&mut self, slot: u32, mark: u32);

    /// The first IPv4 address and prefix length of `ifindex`.
    fn ipv4_of(&self, ifindex: u32) -> Option<(Ipv4Addr, u8)>;

    /// The packets held for a new entry have just left; its install follows.
    fn held_sent(&mut self) {}

    /// Sends an IGMP datagram out of `ifindex` to `dst`.
    fn send_igmp(&mut self, ifindex: u32, dst: Ipv4Addr, datagram: &[u8]);

    /// The link-local IPv6 address of `ifindex`.
    fn link_local_of(&self, ifindex: u32) -> Option<Ipv6Addr>;

    /// Sends a complete MLD packet (IPv6 header on) out of `ifindex` to `dst`.
    fn send_mld(&mut self, ifindex: u32, dst: Ipv6Addr, packet: &[u8]);

    /// Joins a group as a host, on a socket of its own (the kernel merges the memberships of
    /// one interface and group into what it reports).
    fn host_join(&mut self, join: &HostJoin) -> anyhow::Result<()>;

    /// Leaves a group joined with [`RouterIo::host_join`].
    fn host_leave(&mut self, join: &HostJoin);

    /// Whether interface `name` is a veth.
    fn is_veth(&self, name: &str) -> bool;

    /// What the kernel reports now of the veth `name` (`ifindex`).
    fn read_veth(&self, name: &str, ifindex: u32) -> VethReading;

    /// Whether the kernel lets XDP redirect frames into interface `ifindex` (`None`: unknown).
    fn takes_xdp_redirects(&self, ifindex: u32) -> Option<bool>;

    /// Whether the kernel has an interface with this index.
    fn interface_exists(&self, ifindex: u32) -> bool;

    /// The interfaces the XDP program is attached to, for `status`.
    fn attached(&self) -> Vec<String>;

    /// The data plane's global packet counters by name, for `show stats`.
    fn global_stats(&self) -> anyhow::Result<BTreeMap<&'static str, u64>>;
}

/// Where the events of one external protocol go (its API connection).
pub trait EventSink: Send {
    /// Queues `event`; false when the protocol is gone, or its queue is full (its connection
    /// then closes).
    fn send(&self, event: Event) -> bool;
}

impl EventSink for std::sync::mpsc::Sender<Event> {
    fn send(&self, event: Event) -> bool {
        std::sync::mpsc::Sender::send(self, event).is_ok()
    }
}
