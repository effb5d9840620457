//! The checks behind the cargo-fuzz targets of `fuzz_targets/`, one public function per target.
//!
//! Each takes arbitrary bytes, feeds them to one of mgmd's parsers of external data, and panics
//! only when a property of that parser fails (a panic inside the parser is a finding as well).
//! Run a target with `cargo +nightly fuzz run <target>` in `mgm-user/fuzz`; the seed corpora
//! are in `corpus/<target>/`.
use bytes::BytesMut;
use mgm_user::{
    api::{self, proto::Request},
    config::{Config, StaticRoute},
    daemon::{Hold, Prepared},
    igmp::{self, IfaceConfig, Router},
    wire::{
        ethernet::{Frame, ETHERTYPE_IPV4},
        igmp as igmp_wire, ipv4,
    },
};
use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};
use tokio_util::codec::Decoder as _;

/// A frame from the AF_XDP punt path: the flow it is held under, every accessor of the
/// Ethernet and IPv4 views, the IPv4 header's parse/emit round trip, and the rewrite a held
/// frame gets before it is sent (untagged, TTL−1, checksum valid, same datagram otherwise).
pub fn punt_frame(data: &[u8]) {
    let flow = Hold::flow_of(data);
    let Ok(frame) = Frame::new_checked(data) else {
        assert_eq!(flow, None);
        return;
    };
    let header_len = frame.header_len();
    assert_eq!(frame.payload().len(), data.len() - header_len);
    let ip = (frame.ethertype() == ETHERTYPE_IPV4)
        .then(|| ipv4::Packet::new_checked(frame.payload()).ok())
        .flatten();
    assert_eq!(
        flow.is_some(),
        ip.as_ref().is_some_and(|ip| ip.dst_addr().is_multicast())
    );
    if let Some(ip) = &ip {
        ipv4_views(ip);
    }
    let mut sent = data.to_vec();
    match Hold::prepare(&mut sent) {
        Prepared::Malformed => {
            assert!(ip.is_none_or(|ip| ip.version() != 4 || !ip.verify_checksum()));
        }
        Prepared::TtlExpired => assert!(ip.is_some_and(|ip| ip.ttl() <= 1)),
        Prepared::Ready { ttl, ip_len } => {
            let ip = ip.expect("only IPv4 is sent");
            assert_eq!((ttl, ip_len), (ip.ttl() - 1, usize::from(ip.total_len())));
            let out = Frame::new_checked(sent.as_slice()).expect("an Ethernet frame is sent");
            assert!(!out.is_tagged());
            let out_ip = ipv4::Packet::new_checked(out.payload()).expect("valid IPv4 is sent");
            assert!(out_ip.verify_checksum());
            assert_eq!(out_ip.ttl(), ttl);
            assert_eq!(out_ip.payload(), ip.payload());
            assert_eq!(
                (out_ip.src_addr(), out_ip.dst_addr()),
                (ip.src_addr(), ip.dst_addr())
            );
        }
    }
}

/// Every accessor of a checked IPv4 view, and the parse → emit → parse round trip.
fn ipv4_views(ip: &ipv4::Packet<&[u8]>) {
    let _ = (ip.tos(), ip.ident(), ip.is_fragment(), ip.checksum());
    assert!(ip.options().len() + 20 == ip.header_len());
    assert!(ip.payload().len() <= usize::from(ip.total_len()));
    let router_alert = ip.router_alert();
    let Ok(repr) = ipv4::Repr::parse(ip) else {
        return;
    };
    assert_eq!(Ok(repr.router_alert), router_alert);
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut buf).expect("a parsed header emits");
    let again = ipv4::Packet::new_checked(buf.as_slice()).expect("emitted headers check");
    assert_eq!(ipv4::Repr::parse(&again), Ok(repr));
}

/// The interface the IGMP target's router runs on, and its address.
const IFINDEX: u32 = 1;
const ROUTER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// IGMP as mgmd receives it: a sequence of datagrams for the router state machine on one
/// interface. The input is a list of records `[flags, len_hi, len_lo, datagram…]`; flag bit 0
/// fixes the IPv4 header checksum and bit 1 the IGMP checksum (so that mutations get past
/// them), the upper six bits advance the clock by that many seconds. Each datagram that
/// parses must survive the IGMP emit → parse round trip; timers run at the end.
pub fn igmp(data: &[u8]) {
    let start = Instant::now();
    let mut now = start;
    let mut router = Router::new();
    router
        .add_interface(IFINDEX, ROUTER_ADDR, 24, IfaceConfig::default(), now)
        .expect("a valid interface");
    let mut rest = data;
    while let [flags, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        let mut datagram = datagram.to_vec();
        fix_checksums(&mut datagram, *flags & 1 != 0, *flags & 2 != 0);
        now += Duration::from_secs(u64::from(flags >> 2));
        if let Ok(msg) = igmp::parse(&datagram) {
            igmp_round_trip(&msg.igmp);
        }
        router.handle_packet(IFINDEX, &datagram, now);
        router.tick(now);
    }
    if let Some(due) = router.next_timeout() {
        router.tick(due);
    }
    let _ = router.snapshot(now);
}

/// Recomputes the IPv4 and/or IGMP checksums of a datagram, where its lengths allow.
fn fix_checksums(datagram: &mut [u8], ip_sum: bool, igmp_sum: bool) {
    let Ok(mut ip) = ipv4::Packet::new_checked(&mut *datagram) else {
        return;
    };
    if igmp_sum {
        if let Ok(mut igmp) = igmp_wire::Packet::new_checked(ip.payload_mut()) {
            igmp.fill_checksum();
        }
    }
    if ip_sum {
        ip.fill_checksum();
    }
}

/// A parsed IGMP message emits and parses back to itself.
fn igmp_round_trip(repr: &igmp_wire::Repr) {
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(&mut buf).expect("a parsed message emits");
    let packet = igmp_wire::Packet::new_checked(buf.as_slice()).expect("emitted messages check");
    assert_eq!(igmp_wire::Repr::parse(&packet).as_ref(), Ok(repr));
}

/// The API's wire format: the bytes as one JSON request, and the bytes as a stream of
/// length-delimited frames (mgmd's own codec settings), each frame a JSON request. A request
/// that parses serializes back to an equal request.
pub fn api(data: &[u8]) {
    request(data);
    let mut codec = api::codec();
    let mut stream = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut stream) {
        assert!(frame.len() <= api::MAX_FRAME);
        request(&frame);
    }
}

/// Parses one request and checks its JSON round trip.
fn request(json: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<Request>(json) {
        let again = serde_json::to_vec(&request).expect("a request serializes");
        let back: Request = serde_json::from_slice(&again).expect("a serialized request parses");
        assert_eq!(back, request);
    }
}

/// The configuration file: every error names a line inside the text; and the words of a
/// static route as `mgmctl` and the API pass them.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::parse(text, "fuzz") {
        let lines = text.matches('\n').count() + 1;
        assert!(
            (1..=lines).contains(&e.line),
            "line {} of {lines}: {e}",
            e.line
        );
    }
    let words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if let Ok(route) = StaticRoute::parse_words(&words) {
        assert!(!route.to.is_empty());
        assert!(route.group.network().is_multicast());
    }
}
