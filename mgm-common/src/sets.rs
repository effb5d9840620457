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

/// What the ingress program needs of an outgoing set before its broadcast (`SET_BROADCAST`,
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
}
