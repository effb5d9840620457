//! veth interfaces in service. A veth takes XDP-redirected frames only while its peer has an
//! XDP program or GRO on (NAPI on the peer's receive queue); otherwise the kernel drops them and
//! counts them nowhere (not in `tx_dropped`, not in the veth's ethtool statistics): a devmap
//! broadcast skips the interface (its per-interface counter stays still), a direct redirect is
//! counted by mgm as forwarded and then dropped.
//!
//! [`VethWatch`] recognises veths (ethtool driver `veth`) and, when one comes into service and
//! at every statistics refresh:
//! * reads whether the kernel lets XDP redirect into it (`NETDEV_XDP_ACT_NDO_XMIT`, which a veth
//!   advertises only while its peer is ready) and, when an entry forwards to it while it is not
//!   ready, warns once (again after it was ready in between), naming the interface;
//! * compares the copies the fast path redirected into it (its per-(entry, interface) counters)
//!   with the frames the veth reports as handed to its peer (ethtool `tx_queue_N_xdp_xmit` and
//!   `_xdp_xmit_errors`), from the first refresh on: the difference is copies lost without a
//!   trace (a lower bound: copies of entries deleted between two refreshes are not seen); it is
//!   reported when it persists over two refreshes (mgmd refreshes every 30 s and on `show mfe`).
//!
//! `show stats` lists, per veth in service, `veth_<name>_peer_ready` (1/0),
//! `veth_<name>_xdp_lost` and the veth's own `tx_dropped`/`rx_dropped`.
use std::{
    collections::{BTreeMap, HashMap},
    io,
    mem::{size_of, zeroed},
    os::fd::AsRawFd as _,
};
use tracing::{debug, info, warn};

mod xdp_features;

use xdp_features::{xdp_features, NDO_XMIT};

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
    /// `name` (`ifindex`) came into service: watched if it is a veth.
    pub fn in_service(&mut self, name: &str, ifindex: u32) {
        if !is_veth(name) {
            return;
        }
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
        watched.look_at_peer(name);
        self.veths.insert(name.to_owned(), watched);
    }

    /// `name` left service.
    pub fn out_of_service(&mut self, name: &str) {
        self.veths.remove(name);
    }

    /// Takes the copies redirected into each interface so far, summed over the entries that
    /// exist now (`sent`, by ifindex), and warns once per veth that lost some.
    pub fn refresh(&mut self, sent: &HashMap<u32, u64>) {
        for (name, w) in &mut self.veths {
            w.look_at_peer(name);
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
            let Ok(xmit_now) = xdp_xmit(name) else {
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

    /// Per veth in service: copies lost, and its own drop counters.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (name, w) in &self.veths {
            out.insert(format!("veth_{name}_peer_ready"), u64::from(w.peer_ready));
            out.insert(format!("veth_{name}_xdp_lost"), w.lost());
            for which in ["tx_dropped", "rx_dropped"] {
                if let Some(value) = counter(name, which) {
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

    /// Reads whether the peer takes XDP frames (unchanged when the kernel does not say).
    fn look_at_peer(&mut self, name: &str) {
        match xdp_features(self.ifindex) {
            Ok(features) => self.peer_ready = features & NDO_XMIT != 0,
            Err(e) => debug!(interface = %name, error = %e, "reading the veth's XDP features"),
        }
    }
}

/// One of the interface's own statistics (`/sys/class/net/NAME/statistics/WHICH`).
fn counter(name: &str, which: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/{which}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Frames the veth `name` handed to its peer by XDP or had refused: the sum of its ethtool
/// statistics `tx_queue_N_xdp_xmit` and `tx_queue_N_xdp_xmit_errors`.
fn xdp_xmit(name: &str) -> io::Result<u64> {
    Ok(ethtool_stats(name)?
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("tx_queue_")
                && (k.ends_with("_xdp_xmit") || k.ends_with("_xdp_xmit_errors"))
        })
        .map(|(_, v)| v)
        .sum())
}

/// `struct ethtool_drvinfo` of `<linux/ethtool.h>`.
#[repr(C)]
struct DrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

const ETHTOOL_GDRVINFO: u32 = 0x03;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSTATS: u32 = 0x1d;
const ETH_SS_STATS: u32 = 1;
const ETH_GSTRING_LEN: usize = 32;
/// More statistics than any veth has (one set per queue); a bound on what is read.
const MAX_STATS: usize = 4096;

/// Whether `name` is a veth (its ethtool driver is `veth`).
pub fn is_veth(name: &str) -> bool {
    drvinfo(name).is_ok_and(|d| d.driver.split(|&b| b == 0).next() == Some(b"veth"))
}

/// Runs the ethtool ioctl on `name` with `data` as its argument.
fn ethtool<T>(name: &str, data: &mut T) -> io::Result<()> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    // SAFETY: plain data; all-zero is valid.
    let mut request: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_data = (data as *mut T).cast();
    // SAFETY: SIOCETHTOOL with a NUL-terminated name and a buffer, sized for the command it
    // starts with, that outlives the call.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &mut request) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn drvinfo(name: &str) -> io::Result<DrvInfo> {
    // SAFETY: plain data; all-zero is valid.
    let mut info: DrvInfo = unsafe { zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    ethtool(name, &mut info)?;
    Ok(info)
}

/// The ethtool statistics of `name`, by name.
fn ethtool_stats(name: &str) -> io::Result<Vec<(String, u64)>> {
    let n = (drvinfo(name)?.n_stats as usize).min(MAX_STATS);
    // struct ethtool_gstrings: cmd, string_set, len, then the names.
    let mut strings = vec![0u32; 3 + n * ETH_GSTRING_LEN / size_of::<u32>()];
    strings[..3].copy_from_slice(&[ETHTOOL_GSTRINGS, ETH_SS_STATS, n as u32]);
    ethtool(name, &mut strings[0])?;
    // struct ethtool_stats: cmd, n_stats, then the values.
    let mut values = vec![0u64; 1 + n];
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&ETHTOOL_GSTATS.to_ne_bytes());
    header[4..].copy_from_slice(&(n as u32).to_ne_bytes());
    values[0] = u64::from_ne_bytes(header);
    ethtool(name, &mut values[0])?;
    let names: Vec<u8> = strings[3..].iter().flat_map(|w| w.to_ne_bytes()).collect();
    Ok(names
        .chunks(ETH_GSTRING_LEN)
        .zip(&values[1..])
        .map(|(raw, &v)| {
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            (String::from_utf8_lossy(&raw[..end]).into_owned(), v)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_not_a_veth_and_unknown_names_are_refused() {
        assert!(!is_veth("lo"));
        assert!(!is_veth("no-such-if0"));
        assert!(!is_veth("a-name-longer-than-ifnamsiz"));
        assert_eq!(counter("no-such-if0", "tx_dropped"), None);
        assert!(counter("lo", "tx_dropped").is_some());
    }
}
