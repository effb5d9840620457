//! veth interfaces in service. A veth takes XDP-redirected frames only while its peer has an
//! XDP program or GRO on (NAPI on the peer's receive queue); otherwise the kernel drops them and
//! counts them nowhere (not in `tx_dropped`, not in the veth's ethtool statistics): a devmap
//! broadcast skips the interface (its per-interface counter stays still), a direct redirect is
//! counted by mgm as forwarded and then dropped.
//!
//! [`VethWatch`] keeps, per veth in service, what the router core learns from the readings the
//! executor takes ([`kernel::read`], through the core's I/O port), when the veth comes into
//! service and at every statistics refresh:
//! * whether the kernel lets XDP redirect into it (`NETDEV_XDP_ACT_NDO_XMIT`, which a veth
//!   advertises only while its peer is ready); when an entry forwards to it while it is not
//!   ready, it warns once (again after it was ready in between), naming the interface;
//! * the copies the fast path redirected into it (its per-(entry, interface) counters) against
//!   the frames the veth reports as handed to its peer (ethtool `tx_queue_N_xdp_xmit` and
//!   `_xdp_xmit_errors`), from the first refresh on: the difference is copies lost without a
//!   trace (a lower bound: copies of entries deleted between two refreshes are not seen); it is
//!   reported when it persists over two refreshes (mgmd refreshes every 30 s and on `show mfe`).
//!
//! `show stats` lists, per veth in service, `veth_<name>_peer_ready` (1/0),
//! `veth_<name>_xdp_lost` and the veth's own `tx_dropped`/`rx_dropped`.
use std::collections::{BTreeMap, HashMap};
use tracing::{debug, info, warn};

pub mod kernel;
mod xdp_features;

/// What the kernel reports of one veth at one look; each part `None` when it could not be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VethReading {
    /// Whether XDP may redirect into it (its peer is ready).
    pub peer_ready: Option<bool>,
    /// Frames it handed to its peer by XDP or refused, since it was created.
    pub xdp_xmit: Option<u64>,
    /// Its own `tx_dropped`.
    pub tx_dropped: Option<u64>,
    /// Its own `rx_dropped`.
    pub rx_dropped: Option<u64>,
}

/// The veths in service, by name.
#[derive(Debug, Default)]
pub struct VethWatch {
    veths: BTreeMap<String, Watched>,
}

#[derive(Debug)]
struct Watched {
    ifindex: u32,
    /// Copies redirected into it and frames it reported handed on (or refused), as last read;
    /// `None` until the first refresh, which takes the baseline (entries adopted after a
    /// restart carry the copies of the previous run).
    last: Option<(u64, u64)>,
    /// Copies lost as of the previous refresh (a warning needs two in a row, so that a copy
    /// counted a moment before the veth reports it is not taken for a loss).
    previous_lost: u64,
    /// Copies redirected since it came into service (those seen).
    sent: u64,
    /// Frames it reported since it came into service.
    xmit: u64,
    /// Whether its peer took XDP frames at the last look.
    peer_ready: bool,
    /// Whether the peer not being ready was reported (since it was last ready).
    warned_not_ready: bool,
    /// Whether lost copies were reported.
    warned: bool,
}

impl VethWatch {
    /// The veth `name` (`ifindex`) came into service, as `reading` shows it.
    pub fn in_service(&mut self, name: &str, ifindex: u32, reading: VethReading) {
        info!(
            interface = %name,
            "veth: senders behind a veth need TX checksum offload off (ethtool -K IF tx off)"
        );
        let mut watched = Watched {
            ifindex,
            last: None,
            previous_lost: 0,
            sent: 0,
            xmit: 0,
            peer_ready: true,
            warned_not_ready: false,
            warned: false,
        };
        watched.look_at_peer(name, reading);
        self.veths.insert(name.to_owned(), watched);
    }

    /// `name` left service (nothing happens if it is not a watched veth).
    pub fn out_of_service(&mut self, name: &str) {
        self.veths.remove(name);
    }

    /// Takes the copies redirected into each interface so far, summed over the entries that
    /// exist now (`sent`, by ifindex), and each veth's fresh reading (`read`, by name and
    /// ifindex); warns once per veth whose peer is not ready while it is forwarded to, and
    /// once per veth that lost copies.
    pub fn refresh(
        &mut self,
        sent: &HashMap<u32, u64>,
        mut read: impl FnMut(&str, u32) -> VethReading,
    ) {
        for (name, w) in &mut self.veths {
            let reading = read(name, w.ifindex);
            w.look_at_peer(name, reading);
            let outgoing = sent.contains_key(&w.ifindex);
            if w.peer_ready {
                w.warned_not_ready = false;
            } else if outgoing && !w.warned_not_ready {
                w.warned_not_ready = true;
                warn!(
                    interface = %name,
                    "the veth's peer has neither an XDP program nor GRO: the kernel drops every \
                     copy XDP sends into it; turn GRO on at the peer (ethtool -K PEER gro on)"
                );
            }
            let sent_now = sent.get(&w.ifindex).copied().unwrap_or(0);
            let Some(xmit_now) = reading.xdp_xmit else {
                continue;
            };
            if let Some((last_sent, last_xmit)) = w.last {
                // A deleted entry takes its counts along: then only a new baseline is taken.
                w.sent += sent_now.saturating_sub(last_sent);
                w.xmit += xmit_now.saturating_sub(last_xmit);
            }
            w.last = Some((sent_now, xmit_now));
            let lost = w.lost();
            let persists = lost > 0 && w.previous_lost > 0;
            w.previous_lost = lost;
            if persists && !w.warned {
                w.warned = true;
                warn!(
                    interface = %name,
                    lost,
                    "the veth drops the copies XDP redirects into it (counted as forwarded): \
                     give its peer an XDP program or GRO (ethtool -K PEER gro on)"
                );
            }
        }
    }

    /// Per veth in service: whether its peer is ready, copies lost, and its own drop counters
    /// from `read` (by name and ifindex).
    pub fn counters(
        &self,
        mut read: impl FnMut(&str, u32) -> VethReading,
    ) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (name, w) in &self.veths {
            out.insert(format!("veth_{name}_peer_ready"), u64::from(w.peer_ready));
            out.insert(format!("veth_{name}_xdp_lost"), w.lost());
            let reading = read(name, w.ifindex);
            for (which, value) in [
                ("tx_dropped", reading.tx_dropped),
                ("rx_dropped", reading.rx_dropped),
            ] {
                if let Some(value) = value {
                    out.insert(format!("veth_{name}_{which}"), value);
                }
            }
        }
        out
    }
}

impl Watched {
    fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.xmit)
    }

    /// Takes whether the peer takes XDP frames (unchanged when the kernel did not say).
    fn look_at_peer(&mut self, name: &str, reading: VethReading) {
        match reading.peer_ready {
            Some(ready) => self.peer_ready = ready,
            None => debug!(interface = %name, "the veth's XDP features could not be read"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(peer_ready: bool, xdp_xmit: u64) -> VethReading {
        VethReading {
            peer_ready: Some(peer_ready),
            xdp_xmit: Some(xdp_xmit),
            tx_dropped: Some(0),
            rx_dropped: None,
        }
    }

    #[test]
    fn copies_the_veth_does_not_report_count_as_lost_from_the_baseline_on() {
        let mut watch = VethWatch::default();
        watch.in_service("v0", 7, reading(true, 0));
        // The baseline: 50 copies of an adopted entry and 40 frames reported are not counted.
        watch.refresh(&[(7, 50)].into(), |_, _| reading(true, 40));
        let lost = |w: &VethWatch| w.counters(|_, _| reading(true, 0))["veth_v0_xdp_lost"];
        assert_eq!(lost(&watch), 0);
        // 30 more copies, 20 more frames handed on: 10 lost.
        watch.refresh(&[(7, 80)].into(), |_, _| reading(true, 60));
        assert_eq!(lost(&watch), 10);
        // The entry was deleted (its counts went with it): only a new baseline is taken.
        watch.refresh(&HashMap::new(), |_, _| reading(true, 60));
        assert_eq!(lost(&watch), 10);
        // An unreadable xmit counter changes nothing.
        watch.refresh(&[(7, 500)].into(), |_, _| VethReading::default());
        assert_eq!(lost(&watch), 10);
    }

    #[test]
    fn the_peer_state_follows_the_readings_and_counters_list_the_drops() {
        let mut watch = VethWatch::default();
        watch.in_service("v0", 7, reading(false, 0));
        let counters = watch.counters(|_, _| reading(false, 0));
        assert_eq!(counters["veth_v0_peer_ready"], 0);
        assert_eq!(counters["veth_v0_tx_dropped"], 0);
        assert!(!counters.contains_key("veth_v0_rx_dropped"), "unreadable");
        watch.refresh(&[(7, 1)].into(), |_, _| reading(true, 0));
        assert_eq!(
            watch.counters(|_, _| reading(true, 0))["veth_v0_peer_ready"],
            1
        );
        // Not saying keeps the last state.
        watch.refresh(&HashMap::new(), |_, _| VethReading::default());
        assert_eq!(
            watch.counters(|_, _| reading(true, 0))["veth_v0_peer_ready"],
            1
        );
        watch.out_of_service("v0");
        assert!(watch.counters(|_, _| reading(true, 0)).is_empty());
    }
}
