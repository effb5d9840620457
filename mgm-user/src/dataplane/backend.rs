//! The forwarding-backend interface the daemon drives with the MGM core's actions
//! (InstallMfe / UpdateMfe / DeleteMfe), and the counters it reads back.
use mgm_common::{HeldCounters, Sg6Key, SgKey};

/// Per-interface settings of the forwarding path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceSettings {
    /// Source MAC address of every copy sent on the interface.
    pub mac: [u8; 6],
    /// Copies whose TTL or hop limit after the decrement is below this are not sent (0 or 1:
    /// no limit).
    pub ttl_threshold: u8,
    /// Largest IP packet (bytes) sent on the interface; 0 = no check.
    pub mtu: u32,
    /// The kernel routes multicast arriving here (mirrored): misses go to the kernel, and
    /// entries arriving here are mirrored entries (samples, fail-safe).
    pub mirrored: bool,
}

/// Counters of one outgoing interface of one entry, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OifStats {
    /// Copies sent.
    pub packets: u64,
    /// Bytes sent (IP packets).
    pub bytes: u64,
    /// Copies dropped by the interface's TTL threshold, MTU or (IPv6) scope boundary.
    pub drops: u64,
}

/// Counters of one entry, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MfeStats {
    /// Packets accepted from the incoming interface.
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// Packets that arrived on another interface (dropped).
    pub wrong_if: u64,
    /// Of `packets`, those dropped for TTL (IPv6: hop limit) ≤ 1.
    pub ttl_expired: u64,
    /// Mirrored entries: of `packets`, those handed to the kernel as samples.
    pub sampled: u64,
    /// Per outgoing interface (ifindex), in the entry's order.
    pub oifs: Vec<(u32, OifStats)>,
}

/// An entry as a backend holds it: (S,G) (an [`SgKey`], or an `Sg6Key` for IPv6 entries),
/// incoming and outgoing ifindexes (sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledMfe<K = SgKey> {
    /// The entry's (S,G).
    pub sg: K,
    /// Incoming ifindex.
    pub iif: u32,
    /// Outgoing ifindexes, sorted, without duplicates; empty for a negative entry.
    pub oifs: Vec<u32>,
}

/// A forwarding path the MGM core's entries are written to. Interfaces are ifindexes of the
/// router's network namespace; an empty outgoing list makes a negative entry (packets of the
/// (S,G) are dropped without a creation alert).
pub trait ForwardingBackend {
    /// The backend's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Installs the entry for `sg`, or replaces it if it exists.
    fn install_mfe(&mut self, sg: SgKey, iif: u32, oifs: &[u32]) -> Result<(), Self::Error>;

    /// Changes an existing entry, atomically from the packets' point of view: each packet is
    /// sent by the old entry or by the new one, never twice and never to nobody in between.
    fn update_mfe(&mut self, sg: SgKey, iif: u32, oifs: &[u32]) -> Result<(), Self::Error>;

    /// Removes the entry for `sg` (later packets are misses again).
    fn delete_mfe(&mut self, sg: SgKey) -> Result<(), Self::Error>;

    /// Reads the counters of the entry for `sg` without disturbing traffic.
    fn mfe_stats(&self, sg: SgKey) -> Result<MfeStats, Self::Error>;

    /// Sets (or replaces) the settings of interface `ifindex`.
    fn configure_interface(
        &mut self,
        ifindex: u32,
        settings: IfaceSettings,
    ) -> Result<(), Self::Error>;

    /// The IPv6 admin-scope boundary of interface `ifindex` (`IfaceConfig::scope_boundary`;
    /// 0: none, or no such interface), which the hold queues apply as the fast path does.
    fn scope_boundary(&self, ifindex: u32) -> u8;

    /// Forgets interface `ifindex` (copies to it are then dropped and counted).
    fn remove_interface(&mut self, ifindex: u32) -> Result<(), Self::Error>;

    /// Points misses arriving on `ifindex` at the punt sockets in slots
    /// `first..first + queues` (one per receive queue); `queues` 0 stops punting.
    fn set_punt_slots(&mut self, ifindex: u32, first: u32, queues: u32) -> Result<(), Self::Error>;

    /// Makes the next creation of `sg` start in hold mode: its packets keep going to the punt
    /// sockets (counted, without reports) until [`ForwardingBackend::release_hold`], so that
    /// packets userspace still holds for it leave first and in order. The next
    /// [`ForwardingBackend::install_mfe`] of `sg` consumes the mark, whether it succeeds or not,
    /// and puts the entry in hold mode even when it rewrites one the bookkeeping has (an entry
    /// lost from the data plane and written again).
    fn hold_on_create(&mut self, sg: SgKey);

    /// Ends hold mode: from now on the fast path forwards `sg` itself (an entry not in hold mode
    /// is left as it is).
    fn release_hold(&mut self, sg: SgKey) -> Result<(), Self::Error>;

    /// Userspace has sent on the first `sent` packets of `sg` the data plane punted in hold
    /// mode (`PuntMeta::held` numbers them) and every packet of `sg` before them: once no later
    /// one is punted, the fast path may take the entry over for good, before hold mode ends.
    /// Nothing to do for an entry not in hold mode.
    fn held_sent(&mut self, sg: SgKey, sent: u32) -> Result<(), Self::Error>;

    /// Keeps `held`, what userspace sent on of the packets it held for `sg` (and refused as
    /// arriving on another interface) so far, with the entry in the data plane, so that a
    /// later run reads it back ([`ForwardingBackend::take_saved_held`]). An entry starts with none.
    fn save_held(&mut self, sg: SgKey, held: HeldCounters) -> Result<(), Self::Error>;

    /// What an earlier run kept with [`ForwardingBackend::save_held`] for the entry of `sg`
    /// (read when the backend adopted the data plane), handed over once, to the router's
    /// adoption: the backend need not keep it afterwards.
    fn take_saved_held(&mut self, sg: SgKey) -> Result<HeldCounters, Self::Error>;

    /// The entry for `sg` as the backend's bookkeeping has it.
    fn installed(&self, sg: SgKey) -> Option<InstalledMfe>;

    /// Every entry of the backend's bookkeeping (after a restart: those adopted from the
    /// previous run).
    fn installed_all(&self) -> Vec<InstalledMfe>;

    /// Whether the forwarding path itself holds an entry for `sg` (read from the data plane,
    /// not from the bookkeeping).
    fn holds(&self, sg: SgKey) -> Result<bool, Self::Error>;

    /// Every entry as the forwarding path itself holds it (read back from the data plane, not
    /// from the bookkeeping), for consistency checks.
    fn read_back(&self) -> Result<Vec<InstalledMfe>, Self::Error>;

    /// [`ForwardingBackend::install_mfe`] for an IPv6 entry.
    fn install_mfe6(&mut self, sg: Sg6Key, iif: u32, oifs: &[u32]) -> Result<(), Self::Error>;

    /// [`ForwardingBackend::update_mfe`] for an IPv6 entry.
    fn update_mfe6(&mut self, sg: Sg6Key, iif: u32, oifs: &[u32]) -> Result<(), Self::Error>;

    /// [`ForwardingBackend::delete_mfe`] for an IPv6 entry.
    fn delete_mfe6(&mut self, sg: Sg6Key) -> Result<(), Self::Error>;

    /// [`ForwardingBackend::mfe_stats`] for an IPv6 entry (`ttl_expired`: hop limit ≤ 1).
    fn mfe6_stats(&self, sg: Sg6Key) -> Result<MfeStats, Self::Error>;

    /// [`ForwardingBackend::hold_on_create`] for an IPv6 entry.
    fn hold_on_create6(&mut self, sg: Sg6Key);

    /// [`ForwardingBackend::release_hold`] for an IPv6 entry.
    fn release_hold6(&mut self, sg: Sg6Key) -> Result<(), Self::Error>;

    /// [`ForwardingBackend::held_sent`] for an IPv6 entry.
    fn held_sent6(&mut self, sg: Sg6Key, sent: u32) -> Result<(), Self::Error>;

    /// [`ForwardingBackend::save_held`] for an IPv6 entry.
    fn save_held6(&mut self, sg: Sg6Key, held: HeldCounters) -> Result<(), Self::Error>;

    /// [`ForwardingBackend::take_saved_held`] for an IPv6 entry.
    fn take_saved_held6(&mut self, sg: Sg6Key) -> Result<HeldCounters, Self::Error>;

    /// [`ForwardingBackend::installed`] for an IPv6 entry.
    fn installed6(&self, sg: Sg6Key) -> Option<InstalledMfe<Sg6Key>>;

    /// [`ForwardingBackend::installed_all`] for the IPv6 entries.
    fn installed6_all(&self) -> Vec<InstalledMfe<Sg6Key>>;

    /// [`ForwardingBackend::holds`] for an IPv6 entry.
    fn holds6(&self, sg: Sg6Key) -> Result<bool, Self::Error>;

    /// [`ForwardingBackend::read_back`] for the IPv6 entries.
    fn read_back6(&self) -> Result<Vec<InstalledMfe<Sg6Key>>, Self::Error>;
}
