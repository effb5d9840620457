//! The XDP features the kernel advertises for an interface (`NETDEV_A_DEV_XDP_FEATURES` of the
//! `netdev` generic netlink family): whether frames may be redirected into it by XDP
//! (`NETDEV_XDP_ACT_NDO_XMIT`). A veth advertises it only while its peer can take XDP frames (the
//! peer has an XDP program or GRO on); without it the kernel drops redirected frames.
use std::{io, os::fd::AsRawFd as _};

/// `NETDEV_XDP_ACT_NDO_XMIT`.
pub const NDO_XMIT: u64 = 4;

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const HEADER_LEN: usize = 16 + 4;

/// The XDP feature bits of `ifindex` in the caller's network namespace.
pub fn xdp_features(ifindex: u32) -> io::Result<u64> {
    let socket = GenlSocket::open()?;
    let family = socket.request(
        GENL_ID_CTRL,
        CTRL_CMD_GETFAMILY,
        &attribute(CTRL_ATTR_FAMILY_NAME, b"netdev\0"),
    )?;
    let family = find(&family, CTRL_ATTR_FAMILY_ID)
        .and_then(|v| Some(u16::from_ne_bytes(v.get(..2)?.try_into().ok()?)))
        .ok_or_else(|| io::Error::other("no netdev family id"))?;
    let reply = socket.request(
        family,
        NETDEV_CMD_DEV_GET,
        &attribute(NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes()),
    )?;
    find(&reply, NETDEV_A_DEV_XDP_FEATURES)
        .and_then(|v| Some(u64::from_ne_bytes(v.get(..8)?.try_into().ok()?)))
        .ok_or_else(|| io::Error::other("no XDP features in the reply"))
}

/// One netlink attribute, padded to 4 bytes.
fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity(len.next_multiple_of(4));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(len.next_multiple_of(4), 0);
    out
}

/// The value of attribute `kind` among `attributes`.
fn find(mut attributes: &[u8], kind: u16) -> Option<&[u8]> {
    while attributes.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attributes[0], attributes[1]]));
        let this = u16::from_ne_bytes([attributes[2], attributes[3]]) & 0x3fff;
        if len < 4 || len > attributes.len() {
            return None;
        }
        if this == kind {
            return Some(&attributes[4..len]);
        }
        attributes = attributes
            .get(len.next_multiple_of(4)..)
            .unwrap_or_default();
    }
    None
}

struct GenlSocket(std::os::fd::OwnedFd);

impl GenlSocket {
    fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_GENERIC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(Self(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
    }

    /// Sends one request and returns the attributes of its (single) answer.
    fn request(&self, family: u16, cmd: u8, attributes: &[u8]) -> io::Result<Vec<u8>> {
        let len = HEADER_LEN + attributes.len();
        let mut message = Vec::with_capacity(len);
        message.extend_from_slice(&(len as u32).to_ne_bytes());
        message.extend_from_slice(&family.to_ne_bytes());
        message.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
        message.extend_from_slice(&[0; 8]); // sequence, port id
        message.extend_from_slice(&[cmd, 1, 0, 0]); // command, version
        message.extend_from_slice(attributes);
        // SAFETY: the buffer is valid for its length; the kernel is the default destination.
        if unsafe { libc::send(self.0.as_raw_fd(), message.as_ptr().cast(), len, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut reply = vec![0u8; 8192];
        // SAFETY: the buffer is valid for its length.
        let got = unsafe {
            libc::recv(
                self.0.as_raw_fd(),
                reply.as_mut_ptr().cast(),
                reply.len(),
                0,
            )
        };
        let got = usize::try_from(got).map_err(|_| io::Error::last_os_error())?;
        reply.truncate(got);
        let kind = reply
            .get(4..6)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
            .ok_or_else(|| io::Error::other("short netlink reply"))?;
        if kind == NLMSG_ERROR {
            let errno = reply
                .get(16..20)
                .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            return Err(io::Error::from_raw_os_error(-errno));
        }
        let end = reply
            .get(..4)
            .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .min(reply.len());
        Ok(reply.get(HEADER_LEN..end).unwrap_or_default().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_and_malformed_lists_are_refused() {
        let list = [attribute(1, &7u32.to_ne_bytes()), attribute(3, b"abc")].concat();
        assert_eq!(find(&list, 3), Some(&b"abc"[..]));
        assert_eq!(find(&list, 1), Some(&7u32.to_ne_bytes()[..]));
        assert_eq!(find(&list, 2), None);
        assert_eq!(find(&[0xff, 0, 1, 0], 1), None, "length past the end");
    }

    #[test]
    fn loopback_cannot_take_redirected_frames_and_unknown_interfaces_are_errors() {
        assert_eq!(xdp_features(1).expect("lo") & NDO_XMIT, 0);
        assert!(xdp_features(u32::MAX).is_err());
    }
}
