//! What the programs need of an outgoing set beside its devmap.

use crate::limits;

/// The interfaces of one outgoing set (`SET_MEMBERS`, keyed by set id), for the TC program
/// that replicates jumbo frames: devmaps cannot be read from TC.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetMembers {
    /// Interfaces listed in `ifindex`.
    pub count: u32,
    /// Their ifindexes, the first `count` of them.
    pub ifindex: [u32; limits::SET_IFACES as usize],
}

impl SetMembers {
    /// The member list of `oifs` (at most `limits::SET_IFACES`; more are left out).
    pub fn new(oifs: &[u32]) -> Self {
        let mut members = Self {
            count: 0,
            ifindex: [0; limits::SET_IFACES as usize],
        };
        for (slot, oif) in members.ifindex.iter_mut().zip(oifs) {
            *slot = *oif;
            members.count += 1;
        }
        members
    }
}

/// What the ingress program needs of an outgoing set before its broadcast (`SET_BROADCASTS`,
/// indexed by set id).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetBroadcast {
    /// The member whose devmap entry runs no egress program, whose rules and MAC the ingress
    /// program applies before the broadcast (0: none).
    pub bare_member: u32,
    /// The smallest MTU of the members (`IfaceConfig::mtu`, `u32::MAX` if none has one): a
    /// longer packet is not broadcast (the kernel would skip the members it exceeds, uncounted)
    /// but replicated by the TC program. 0 (a set never written) sends every packet there.
    pub mtu: u32,
    /// The one member whose MTU is `mtu` when no other's is that small (0: none, or several):
    /// the broadcast leaves out the interface a packet came in on, so a packet that came in on
    /// this member is limited by `mtu_without_member` instead.
    pub mtu_member: u32,
    /// The smallest MTU of the members but `mtu_member` (as `mtu`).
    pub mtu_without_member: u32,
}

impl SetBroadcast {
    /// Whether a packet of `len` bytes (layer 3) that came in on interface `ingress` is longer
    /// than the MTU of a member its broadcast reaches.
    #[inline(always)]
    pub fn over_mtu(&self, len: u32, ingress: u32) -> bool {
        len > self.mtu && (ingress != self.mtu_member || len > self.mtu_without_member)
    }
}
