//! veth interfaces in service: the kernel drops frames that XDP redirects into a veth whose
//! peer has neither an XDP program nor GRO enabled (no NAPI on the peer's receive queue), and
//! counts them only in the veth's own `tx_dropped`; mgm's counters show them as forwarded.
//! [`VethWatch`] recognises veths (ethtool driver name), exposes their drop counters for
//! `show stats` (`veth_<name>_tx_dropped`, `veth_<name>_rx_dropped`) and warns once, naming
//! the interface, as soon as its `tx_dropped` grows while it is in service.
use std::{collections::BTreeMap, io, mem::zeroed, os::fd::AsRawFd as _};
use tracing::{info, warn};

/// The veths in service, by name.
#[derive(Debug, Default)]
pub struct VethWatch {
    veths: BTreeMap<String, Watched>,
}

#[derive(Debug)]
struct Watched {
    /// `tx_dropped` when the interface came into service.
    baseline: u64,
    warned: bool,
}

impl VethWatch {
    /// `name` came into service: watched if it is a veth.
    pub fn in_service(&mut self, name: &str) {
        if !is_veth(name) {
            return;
        }
        info!(
            interface = %name,
            "veth: its peer needs an XDP program or GRO (ethtool -K PEER gro on) to receive \
             redirected copies, and senders behind a veth need TX checksum offload off"
        );
        let baseline = counter(name, "tx_dropped").unwrap_or(0);
        self.veths.insert(
            name.to_owned(),
            Watched {
                baseline,
                warned: false,
            },
        );
    }

    /// `name` left service.
    pub fn out_of_service(&mut self, name: &str) {
        self.veths.remove(name);
    }

    /// Warns once per veth whose `tx_dropped` grew since it came into service.
    pub fn check(&mut self) {
        for (name, watched) in &mut self.veths {
            let Some(dropped) = counter(name, "tx_dropped") else {
                continue;
            };
            if !watched.warned && dropped > watched.baseline {
                watched.warned = true;
                warn!(
                    interface = %name,
                    dropped = dropped - watched.baseline,
                    "the veth drops frames sent into it (tx_dropped grows): copies mgm counts as \
                     forwarded are lost; give its peer an XDP program or GRO (ethtool -K PEER gro on)"
                );
            }
        }
    }

    /// The drop counters of the veths in service, by name.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for name in self.veths.keys() {
            for which in ["tx_dropped", "rx_dropped"] {
                if let Some(value) = counter(name, which) {
                    out.insert(format!("veth_{name}_{which}"), value);
                }
            }
        }
        out
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

const ETHTOOL_GDRVINFO: u32 = 0x0000_0003;

/// Whether `name` is a veth (its ethtool driver is `veth`).
pub fn is_veth(name: &str) -> bool {
    driver(name).is_ok_and(|d| d == "veth")
}

/// The ethtool driver name of `name`.
fn driver(name: &str) -> io::Result<String> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    // SAFETY: plain data; all-zero is valid for both.
    let mut info: DrvInfo = unsafe { zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    // SAFETY: as above.
    let mut request: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_data = (&mut info as *mut DrvInfo).cast();
    // SAFETY: SIOCETHTOOL with a NUL-terminated name and a drvinfo buffer that outlives the
    // call.
    let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &mut request) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
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
