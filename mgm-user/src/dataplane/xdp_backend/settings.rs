//! Interface configuration (`IFACES`: MAC, TTL threshold, MTU, also each outgoing set's
//! broadcast limit; mirrored, punt slots) and the
//! data plane's settings in `CONFIG` (report rate and repeat, punt frame size).
use super::XdpBackend;
use crate::dataplane::{backend::IfaceSettings, oif_sets::drops_nothing, DataPlaneError};
use mgm_common::{
    config, limits, IfaceConfig, IFACE_FLAG_CONFIGURED, IFACE_FLAG_EGRESS_PROGRAM,
    IFACE_FLAG_MIRRORED,
};
use std::time::Duration;

impl XdpBackend {
    /// Limits reports (creation alerts and wrong-interface reports, counted separately) to
    /// `per_second` per CPU after a burst of `burst`; 0 per second = unlimited.
    pub fn set_report_limit(&mut self, per_second: u64, burst: u64) -> Result<(), DataPlaneError> {
        let interval = if per_second == 0 {
            0
        } else {
            1_000_000_000 / per_second.max(1)
        };
        self.config.set(config::REPORT_INTERVAL_NS, interval, 0)?;
        self.config.set(config::REPORT_BURST, burst.max(1), 0)?;
        Ok(())
    }

    /// Tells the data plane the punt sockets' frame size (`XskConfig::frame_size`): frames
    /// longer than such a frame holds behind the kernel's headroom are not punted (the kernel
    /// would drop them at the socket) but passed, counted (`too_long_to_punt`).
    pub fn set_punt_frame_size(&mut self, frame_size: u32) -> Result<(), DataPlaneError> {
        // The kernel keeps XDP_PACKET_HEADROOM (256) in front; the metadata (at most 32 bytes)
        // may be copied along.
        let max = frame_size.saturating_sub(256 + 32);
        self.config.set(config::PUNT_FRAME_MAX, u64::from(max), 0)?;
        Ok(())
    }

    /// An (S,G) that raised a creation alert raises no other for `interval` (zero: one per
    /// miss the rate limit lets through). An (S,G) whose misses were refused by the rate limit
    /// draws on a bucket of its own for its next miss (same rate), which a spray of one packet
    /// per (S,G) never empties. The data plane remembers (S,G)s in
    /// `mgm_common::limits::REPORTED_SGS` slots chosen by hash, the last one to miss in each.
    pub fn set_report_repeat(&mut self, interval: Duration) -> Result<(), DataPlaneError> {
        let ns = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        self.config.set(config::REPORT_REPEAT_NS, ns, 0)?;
        Ok(())
    }

    /// The `IFACES` element of `ifindex` (zeros if never configured); an ifindex past the
    /// array is refused.
    pub(super) fn iface(&self, ifindex: u32) -> Result<IfaceConfig, DataPlaneError> {
        if ifindex >= limits::IFACES {
            return Err(DataPlaneError::Invalid(format!(
                "interface {ifindex}: the data plane holds interfaces with an ifindex below {}",
                limits::IFACES
            )));
        }
        Ok(self.ifaces.get(&ifindex, 0)?)
    }

    /// [`ForwardingBackend::configure_interface`](super::ForwardingBackend::configure_interface).
    pub(super) fn configure_iface(
        &mut self,
        ifindex: u32,
        settings: IfaceSettings,
    ) -> Result<(), DataPlaneError> {
        let mut iface = self.iface(ifindex)?;
        iface.mac = settings.mac;
        iface.ttl_threshold = settings.ttl_threshold;
        iface.mtu = settings.mtu;
        // The program flag belongs to the outgoing sets (see `OifSets`).
        iface.flags = (iface.flags & IFACE_FLAG_EGRESS_PROGRAM)
            | IFACE_FLAG_CONFIGURED
            | if settings.mirrored {
                IFACE_FLAG_MIRRORED
            } else {
                0
            };
        self.ifaces.set(ifindex, iface, 0)?;
        self.sets.set_mtu(ifindex, iface.mtu)?;
        self.sets.set_rule_free(ifindex, drops_nothing(&iface))?;
        self.set_mirrored(ifindex, settings.mirrored)
    }

    /// [`ForwardingBackend::remove_interface`](super::ForwardingBackend::remove_interface).
    pub(super) fn remove_iface(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
        self.sets.forget_interface(ifindex)?;
        self.mirrored.remove(&ifindex);
        if ifindex < limits::IFACES {
            self.ifaces.set(ifindex, IfaceConfig::default(), 0)?;
        }
        Ok(())
    }

    /// [`ForwardingBackend::set_punt_slots`](super::ForwardingBackend::set_punt_slots).
    pub(super) fn set_iface_punt_slots(
        &mut self,
        ifindex: u32,
        first: u32,
        queues: u32,
    ) -> Result<(), DataPlaneError> {
        let mut iface = self.iface(ifindex)?;
        iface.punt_slot = first;
        iface.punt_queues = queues;
        self.ifaces.set(ifindex, iface, 0)?;
        Ok(())
    }
}
