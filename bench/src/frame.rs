//! The test traffic: one UDP datagram from the lab's source host to the benchmark group.
use std::net::{Ipv4Addr, Ipv6Addr};

/// The multicast group every benchmark sends to.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
/// The UDP destination port of the benchmark traffic.
pub const PORT: u16 = 5001;
/// The TTL the line-rate frames leave the source with.
pub const TTL: u8 = 64;
/// Bytes of the Ethernet, IPv4 and UDP headers.
pub const HEADERS_LEN: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
/// The smallest frame (without FCS) the benchmarks send.
pub const MIN_LEN: usize = 60;

/// The IPv6 group of the per-packet cases (global scope).
pub const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x8000, 1);
/// The IPv6 source of the per-packet cases.
pub const SOURCE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

const ETH_LEN: usize = 14;
const IPV6_LEN: usize = 40;
const IPV4_LEN: usize = 20;
const UDP_LEN: usize = 8;
const IPPROTO_UDP: u8 = 17;

/// Builds an Ethernet frame of `len` bytes (without FCS, at least [`MIN_LEN`]) carrying a UDP
/// datagram from `source` (MAC `source_mac`) to `group` with time to live `ttl`, and a valid
/// IPv4 header checksum. The destination MAC is the group's.
pub fn multicast_udp(
    len: usize,
    source_mac: [u8; 6],
    source: Ipv4Addr,
    group: Ipv4Addr,
    ttl: u8,
) -> Vec<u8> {
    let len = len.max(MIN_LEN);
    let mut frame = vec![0u8; len];
    let g = group.octets();
    frame[0..6].copy_from_slice(&[0x01, 0x00, 0x5e, g[1] & 0x7f, g[2], g[3]]);
    frame[6..12].copy_from_slice(&source_mac);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (len - ETH_LEN) as u16;
    let ip = &mut frame[ETH_LEN..ETH_LEN + IPV4_LEN];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[8] = ttl;
    ip[9] = IPPROTO_UDP;
    ip[12..16].copy_from_slice(&source.octets());
    ip[16..20].copy_from_slice(&g);
    let checksum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    let udp = &mut frame[ETH_LEN + IPV4_LEN..HEADERS_LEN];
    udp[0..2].copy_from_slice(&4000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_len - IPV4_LEN as u16).to_be_bytes());
    for (i, byte) in frame[HEADERS_LEN..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    frame
}

/// The Internet checksum of an IPv4 header whose checksum field is zero.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The IPv6 counterpart of [`multicast_udp`]: a frame of `len` bytes (at least the headers)
/// carrying UDP from `source` to `group` with hop limit `hop_limit` (UDP checksum left 0: the
/// forwarder does not read it).
pub fn multicast_udp6(
    len: usize,
    source_mac: [u8; 6],
    source: Ipv6Addr,
    group: Ipv6Addr,
    hop_limit: u8,
) -> Vec<u8> {
    let len = len.max(ETH_LEN + IPV6_LEN + UDP_LEN);
    let mut frame = vec![0u8; len];
    let g = group.octets();
    frame[0..6].copy_from_slice(&[0x33, 0x33, g[12], g[13], g[14], g[15]]);
    frame[6..12].copy_from_slice(&source_mac);
    frame[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let payload_len = (len - ETH_LEN - IPV6_LEN) as u16;
    let ip = &mut frame[ETH_LEN..ETH_LEN + IPV6_LEN];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&payload_len.to_be_bytes());
    ip[6] = IPPROTO_UDP;
    ip[7] = hop_limit;
    ip[8..24].copy_from_slice(&source.octets());
    ip[24..40].copy_from_slice(&g);
    let udp = &mut frame[ETH_LEN + IPV6_LEN..ETH_LEN + IPV6_LEN + UDP_LEN];
    udp[0..2].copy_from_slice(&4000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&payload_len.to_be_bytes());
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_is_valid() {
        let frame = multicast_udp(
            64,
            [2, 0, 0, 0, 0, 1],
            Ipv4Addr::new(10, 0, 0, 1),
            GROUP,
            TTL,
        );
        assert_eq!(frame.len(), 64);
        assert_eq!(&frame[0..6], &[0x01, 0x00, 0x5e, 1, 1, 1]);
        // A header with its checksum in place sums to 0xffff, whose complement is 0.
        assert_eq!(ipv4_checksum(&frame[14..34]), 0);
        assert_eq!(u16::from_be_bytes([frame[16], frame[17]]), 50);
        assert_eq!(u16::from_be_bytes([frame[38], frame[39]]), 30);
        assert_eq!(
            multicast_udp(10, [0; 6], Ipv4Addr::LOCALHOST, GROUP, 1).len(),
            MIN_LEN
        );
    }
}
