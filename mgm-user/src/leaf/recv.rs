//! Receiving on a leaf socket of either family, with the received TTL (IP_TTL) or hop limit
//! (IPV6_HOPLIMIT).
use crate::rawio;
use socket2::Socket;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// One received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Sender.
    pub from: SocketAddr,
    /// TTL (IPv4) or hop limit (IPv6) in the IP header as received, if asked for.
    pub ttl: Option<u8>,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Receives one datagram (up to 64 KiB), waiting up to `timeout`; `None` on timeout.
pub fn recv(socket: &Socket, timeout: Duration) -> io::Result<Option<Datagram>> {
    Ok(rawio::recv(socket, timeout)?.map(|r| Datagram {
        from: r.from,
        ttl: r.ttl,
        payload: r.data,
    }))
}
