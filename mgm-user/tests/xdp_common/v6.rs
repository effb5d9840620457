//! IPv6 test frames: Ethernet (optionally tagged), the fixed IPv6 header, a chain of extension
//! headers and an upper-layer message (UDP by default).
use super::{fixture, Fixture, LO};
use mgm_common::Sg6Key;
use mgm_user::dataplane::ForwardingBackend as _;
use std::net::Ipv6Addr;

pub const SOURCE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// A global-scope group.
pub const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x8000, 1);

pub const HOP_BY_HOP: u8 = 0;
pub const ROUTING: u8 = 43;
pub const FRAGMENT: u8 = 44;
pub const DEST_OPTS: u8 = 60;
pub const ICMPV6: u8 = 58;
pub const UDP: u8 = 17;

/// One extension header: its type and its bytes (the first, its next header, is filled in).
#[derive(Clone, Debug)]
pub struct Ext {
    pub kind: u8,
    pub bytes: Vec<u8>,
}

/// A Hop-by-Hop header with a Router Alert option (MLD), padded to 8 bytes.
pub fn router_alert() -> Ext {
    Ext {
        kind: HOP_BY_HOP,
        bytes: vec![0, 0, 5, 2, 0, 0, 1, 0],
    }
}

/// A Destination Options header of `units` × 8 bytes (one PadN option).
pub fn dest_opts(units: usize) -> Ext {
    let mut bytes = vec![0, (units - 1) as u8, 1, (units * 8 - 4) as u8];
    bytes.resize(units * 8, 0);
    Ext {
        kind: DEST_OPTS,
        bytes,
    }
}

/// A Routing header (type 4, no segments left).
pub fn routing() -> Ext {
    Ext {
        kind: ROUTING,
        bytes: vec![0, 0, 4, 0, 0, 0, 0, 0],
    }
}

/// A Fragment header at `offset` (in 8-byte units) with the M flag `more`.
pub fn fragment(offset: u16, more: bool) -> Ext {
    let field = (offset << 3) | u16::from(more);
    let [hi, lo] = field.to_be_bytes();
    Ext {
        kind: FRAGMENT,
        bytes: vec![0, 0, hi, lo, 0, 0, 0x12, 0x34],
    }
}

/// A test frame.
#[derive(Clone, Debug)]
pub struct Frame6 {
    pub vlan: bool,
    pub hop_limit: u8,
    pub source: Ipv6Addr,
    pub group: Ipv6Addr,
    pub ext: Vec<Ext>,
    /// The upper-layer protocol and its bytes.
    pub protocol: u8,
    pub upper: Vec<u8>,
}

impl Default for Frame6 {
    fn default() -> Self {
        Self {
            vlan: false,
            hop_limit: 64,
            source: SOURCE6,
            group: GROUP6,
            ext: Vec::new(),
            protocol: UDP,
            upper: udp(18),
        }
    }
}

/// A UDP header and `payload` bytes of data (checksum left 0).
pub fn udp(payload: usize) -> Vec<u8> {
    let mut u = vec![0x13, 0x88, 0x13, 0x89];
    u.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend(std::iter::repeat_n(0xab, payload));
    u
}

/// An ICMPv6 message of `icmp_type` with 20 bytes of body (an MLD message's size).
pub fn icmpv6(icmp_type: u8) -> Vec<u8> {
    let mut m = vec![icmp_type, 0, 0, 0];
    m.resize(24, 0);
    m
}

impl Frame6 {
    /// A frame of `group` (otherwise the default).
    pub fn to(group: Ipv6Addr) -> Self {
        Self {
            group,
            ..Self::default()
        }
    }

    pub fn l3_offset(&self) -> usize {
        if self.vlan {
            18
        } else {
            14
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let g = self.group.octets();
        let mut f = vec![0x33, 0x33, g[12], g[13], g[14], g[15], 2, 0, 0, 0, 0, 1];
        if self.vlan {
            // A priority tag (VLAN ID 0, priority 7): the port's own LAN.
            f.extend_from_slice(&[0x81, 0x00, 0xe0, 0x00]);
        }
        f.extend_from_slice(&[0x86, 0xdd]);
        let mut payload = Vec::new();
        for (i, ext) in self.ext.iter().enumerate() {
            let mut bytes = ext.bytes.clone();
            bytes[0] = self.ext.get(i + 1).map_or(self.protocol, |next| next.kind);
            payload.extend_from_slice(&bytes);
        }
        payload.extend_from_slice(&self.upper);
        let first = self.ext.first().map_or(self.protocol, |e| e.kind);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        f.extend_from_slice(&[first, self.hop_limit]);
        f.extend_from_slice(&self.source.octets());
        f.extend_from_slice(&self.group.octets());
        f.extend_from_slice(&payload);
        f
    }
}

/// The test (S,G).
pub fn sg6() -> Sg6Key {
    Sg6Key::new(SOURCE6, GROUP6)
}

/// A fresh fixture with `sg6()` installed: from `lo` to the first veth.
pub fn forwarding_fixture6() -> Fixture {
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.install_mfe6(sg6(), LO, &oifs).expect("install");
    fx
}
