//! The forwarding-backend interface the daemon drives with the MGM core's actions
//! (InstallMfe / UpdateMfe / DeleteMfe), and the counters it reads back.
use mgm_common::SgKey;

/// Per-interface settings of the forwarding path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceSettings {
    /// Source MAC address of every copy sent on the interface.
    pub mac: [u8; 6],
    /// Copies whose TTL after the decrement is below this are not sent (0 or 1: no limit).
    pub ttl_threshold: u8,
    /// Largest IPv4 packet (bytes) sent on the interface; 0 = no check.
    pub mtu: u32,
}

/// Counters of one outgoing interface of one entry, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OifStats {
    /// Copies sent.
    pub packets: u64,
    /// Bytes sent (IPv4 packets).
    pub bytes: u64,
    /// Copies dropped by the interface's TTL threshold or MTU.
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
    /// Packets dropped for TTL ≤ 1.
    pub ttl_expired: u64,
    /// Per outgoing interface (ifindex), in the entry's order.
    pub oifs: Vec<(u32, OifStats)>,
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

    /// Forgets interface `ifindex` (copies to it are then dropped and counted).
    fn remove_interface(&mut self, ifindex: u32) -> Result<(), Self::Error>;
}
