//! The mirror: mgmd follows the kernel's multicast forwarding caches (MFC) of both families,
//! which a routing daemon programs through its MRT or MRT6 socket (FRR's pimd, smcroute,
//! igmpproxy, mrouted, a pim6d...), and forwards their resolved (S,G) entries in XDP, while the
//! daemon keeps running its protocol unmodified (`[mirror]` in the configuration, off by
//! default). Each family has its table (`table`, `table6`), its view and its `kernel` protocol
//! in its MGM; what follows holds for both.
//!
//! # Following the kernel
//! [`socket::MfcWatch`] subscribes to RTNLGRP_IPV4_MROUTE and RTNLGRP_IPV6_MROUTE (every
//! addition, change and deletion of an entry, families RTNL_FAMILY_IPMR and RTNL_FAMILY_IP6MR)
//! and to the two netconf groups before the first dumps ([`socket::dump`], RTM_GETROUTE with
//! NLM_F_DUMP), so that no change falls between the two. A family's table is dumped again on
//! every netconf change of the family (MRT_DEL_VIF and MRT6_DEL_MIF remove an interface from
//! every entry with no route message, only RTM_NEWNETCONF MC_FORWARDING tells), both when the
//! socket overflows (ENOBUFS) and every [`RESYNC_INTERVAL`]. [`mfc`] decodes the messages and
//! [`select`] decides, both without I/O.
//!
//! # What is mirrored
//! A resolved (S,G) of the configured table whose incoming and outgoing interfaces are all
//! mirrored mgm interfaces in service, each outgoing interface's TTL threshold being the one
//! mgm applies there; an outgoing interface equal to the incoming one is dropped. Everything
//! else stays with the kernel, which forwards it as before: (\*,G) entries, unresolved ones,
//! entries through pimreg (the REGISTER VIF), tunnels or lo, entries without outgoing
//! interfaces, and entries beyond the data plane's table ([`select::MAX_KERNEL_ENTRIES`]).
//!
//! # How mirrored entries meet the MGM
//! The mirrored interfaces belong to a built-in protocol `kernel` (protocol id
//! `KERNEL_PROTOCOL_ID`), which is the built-in `static` protocol's machinery with other routes:
//! each mirrored (S,G) is a host route `from IIF source S group G to OIFS`. A new one is created
//! at once, as a packet miss would create it (its memberships, then the MGM's creation path, in
//! which the RPF callback names the route's incoming interface), so it is an ordinary MFE: it
//! shows in `mgmctl show mfe` (origin `kernel`), the MFE enumeration and the monitor, and its
//! list changes are ordinary membership changes, applied in place. A removed route, or one
//! with another incoming interface, is a RIB change for its source: the MFEs of that
//! source are deleted, and the mirrored ones among them created again at once.
//!
//! The data plane marks every entry arriving on a mirrored interface (`mgm-ebpf/src/mirror.rs`):
//! misses there go to the kernel (its NOCACHE upcall reaches the owner), one packet per entry
//! every `sample_interval_s` goes to the kernel so that the owner's keep-alive sees the flow
//! (the kernel forwards it on the same interfaces: one copy), packets on the wrong interface go
//! to the kernel (rate limited; PIM asserts, SPT switch-over), and when mgmd's heartbeat,
//! written every [`HEARTBEAT_INTERVAL`], is older than `heartbeat_timeout_s` (mgmd was killed),
//! every packet of a mirrored entry goes to the kernel, whose routes then forward.
pub mod mfc;
pub mod select;
pub mod socket;

use std::time::Duration;

/// How often mgmd writes its heartbeat for the data plane.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// How often the kernel's table is dumped again, besides overflows and netconf changes.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(30);
