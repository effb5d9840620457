//! Reading a veth from the kernel, for [`super::VethWatch`]: whether it is a veth (ethtool
//! driver `veth`), whether XDP may redirect into it (its XDP features), the frames it handed to
//! its peer by XDP (ethtool statistics) and its own drop counters (sysfs).
use super::{
    xdp_features::{xdp_features, NDO_XMIT},
    VethReading,
};
use std::{
    io,
    mem::{size_of, zeroed},
    os::fd::AsRawFd as _,
};

/// What the kernel reports of veth `name` (`ifindex`) now; each part `None` when unreadable.
pub fn read(name: &str, ifindex: u32) -> VethReading {
    VethReading {
        peer_ready: takes_xdp_redirects(ifindex),
        xdp_xmit: xdp_xmit(name).ok(),
        tx_dropped: counter(name, "tx_dropped"),
        rx_dropped: counter(name, "rx_dropped"),
    }
}

/// Whether the kernel lets XDP redirect frames into interface `ifindex` (`NDO_XMIT`: a veth
/// while its peer is ready, a NIC whose driver has native XDP; never a bridge or a VLAN), `None`
/// when its features cannot be read.
pub fn takes_xdp_redirects(ifindex: u32) -> Option<bool> {
    xdp_features(ifindex)
        .map(|features| features & NDO_XMIT != 0)
        .ok()
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
