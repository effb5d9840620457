//! The checks behind the cargo-fuzz targets of `fuzz_targets/`, one public function per target.
//!
//! Each takes arbitrary bytes, feeds them to one of mgmd's parsers of external data (`api` on to
//! its request handler), and panics only when a property of that code fails (a panic inside it
//! is a finding as well).
//! Run a target with `cargo +nightly fuzz run <target>` in `mgm-user/fuzz`; the seed corpora
//! are in `corpus/<target>/`.
use bytes::BytesMut;
use etherparse::{EtherType, Ethernet2Slice, Ipv4HeaderSlice, Ipv6HeaderSlice, SingleVlanSlice};
use mgm_user::{
    api::{
        self,
        proto::{Request, Response},
    },
    config::{Config, StaticRoute},
    daemon::{testkit::ApiHarness, Flow, Hold, Prepared},
    igmp::{self, IfaceConfig, Router},
    mgm::Sg,
    wire::{ethernet::Frame, igmp as igmp_wire, ipv4},
};
use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};
use tokio_util::codec::Decoder as _;

/// A frame from the AF_XDP punt path, checked against etherparse (an independent parser): the
/// flow it is held under, the Ethernet and IPv4 views' accessors, the IPv4 header's
/// parse/emit round trip, and the rewrite a held frame gets before it is sent (untagged,
/// TTL−1, checksum valid, every other byte as it came). IPv6 frames: [`punt_frame6`].
pub fn punt_frame(data: &[u8]) {
    if let Some(offset) = ip_offset(data, EtherType::IPV6) {
        return punt_frame6(data, offset);
    }
    let oracle = oracle_ipv4(data);
    // The flow does not look at the IP version (a frame of another version is refused when
    // it is prepared for sending), so it is compared with the frame read as version 4.
    let mut as_v4 = data.to_vec();
    if let Some(first) = ipv4_offset(data).and_then(|offset| as_v4.get_mut(offset)) {
        *first = 0x40 | (*first & 0x0f);
    }
    let expected_flow = match oracle_ipv4(&as_v4) {
        Ok(Some((_, ip))) => {
            let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
            dst.is_multicast().then(|| Flow::V4(Sg::new(src, dst)))
        }
        _ => None,
    };
    assert_eq!(Hold::flow_of(data), expected_flow);
    let eth = Ethernet2Slice::from_slice_without_fcs(data);
    let tag = eth.as_ref().ok().and_then(|eth| {
        (eth.ether_type() == EtherType::VLAN_TAGGED_FRAME)
            .then(|| SingleVlanSlice::from_slice(eth.payload_slice()).is_ok())
    });
    let Ok(frame) = Frame::new_checked(data) else {
        assert!(
            eth.is_err() || tag == Some(false),
            "etherparse reads a frame"
        );
        return;
    };
    assert_eq!(frame.is_tagged(), tag == Some(true));
    assert_eq!(frame.header_len(), if frame.is_tagged() { 18 } else { 14 });
    if let Ok(Some((offset, ip))) = &oracle {
        assert_eq!(frame.header_len(), *offset);
        let view = ipv4::Packet::new_checked(frame.payload()).expect("etherparse read IPv4");
        ipv4_views(&view, ip);
    }
    let mut sent = data.to_vec();
    let prepared = Hold::prepare(&mut sent);
    let valid = match &oracle {
        Ok(Some((offset, ip))) => (checksum(ip.header().slice()) == 0).then_some((*offset, ip)),
        _ => None,
    };
    match (prepared, valid) {
        (Prepared::Malformed, None) => {}
        (Prepared::TtlExpired { .. }, Some((_, ip))) => assert!(ip.header().ttl() <= 1),
        (Prepared::Ready { ttl, ip_len }, Some((offset, ip))) => {
            let header = ip.header();
            assert_eq!(
                (ttl, ip_len),
                (header.ttl() - 1, usize::from(header.total_len()))
            );
            // Untagged, TTL−1, a fresh checksum and the group's MAC; every other byte as it
            // came.
            let mut expected = data[..12].to_vec();
            expected.extend_from_slice(&EtherType::IPV4.0.to_be_bytes());
            expected.extend_from_slice(&data[offset..]);
            expected[14 + 8] -= 1;
            // Framed to the group's MAC (RFC 1112 §6.4: its last 23 bits behind 01:00:5e).
            let [_, g1, g2, g3] = header.destination();
            expected[..6].copy_from_slice(&[0x01, 0x00, 0x5e, g1 & 0x7f, g2, g3]);
            expected[14 + 10..14 + 12].fill(0);
            let sum = checksum(&expected[14..14 + header.slice().len()]);
            expected[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
            assert_eq!(sent, expected);
        }
        (prepared, valid) => panic!(
            "prepared {prepared:?}, but etherparse reads {}",
            if valid.is_some() {
                "a valid IPv4 header"
            } else {
                "no valid IPv4 header"
            }
        ),
    }
}

/// [`punt_frame`] for a frame carrying IPv6 at `offset` (behind at most one tag), checked
/// against etherparse's reading of the fixed header: the flow, and the rewrite a held frame
/// gets (untagged, hop limit−1, every other byte as it came).
fn punt_frame6(data: &[u8], offset: usize) {
    let frame = Frame::new_checked(data).expect("etherparse reads an Ethernet frame");
    assert_eq!(frame.header_len(), offset);
    let bytes = &data[offset..];
    // The lengths as a router checks them: the payload inside the frame, and a Hop-by-Hop
    // header (next header 0) inside the payload.
    let lengths_fit = |h: &Ipv6HeaderSlice<'_>| {
        let Some(payload) = bytes.get(40..40 + usize::from(h.payload_length())) else {
            return false;
        };
        h.next_header().0 != 0
            || payload
                .get(1)
                .is_some_and(|l| (usize::from(*l) + 1) * 8 <= payload.len())
    };
    // The flow does not look at the IP version (see `punt_frame`).
    let mut as_v6 = bytes.to_vec();
    if let Some(first) = as_v6.first_mut() {
        *first = 0x60 | (*first & 0x0f);
    }
    let expected_flow = Ipv6HeaderSlice::from_slice(&as_v6)
        .ok()
        .filter(lengths_fit)
        .map(|h| Sg::new(h.source_addr(), h.destination_addr()))
        .filter(|sg| sg.group.is_multicast())
        .map(Flow::V6);
    assert_eq!(Hold::flow_of(data), expected_flow);
    let valid = Ipv6HeaderSlice::from_slice(bytes).ok().filter(lengths_fit);
    let mut sent = data.to_vec();
    match (Hold::prepare(&mut sent), valid) {
        (Prepared::Malformed, None) => {}
        (Prepared::TtlExpired { .. }, Some(h)) => assert!(h.hop_limit() <= 1),
        (Prepared::Ready { ttl, ip_len }, Some(h)) => {
            assert_eq!(
                (ttl, ip_len),
                (h.hop_limit() - 1, 40 + usize::from(h.payload_length()))
            );
            let mut expected = data[..12].to_vec();
            expected.extend_from_slice(&EtherType::IPV6.0.to_be_bytes());
            expected.extend_from_slice(bytes);
            expected[14 + 7] -= 1;
            // Framed to the group's MAC (RFC 2464 §7: its last 32 bits behind 33:33).
            let [.., g12, g13, g14, g15] = h.destination();
            expected[..6].copy_from_slice(&[0x33, 0x33, g12, g13, g14, g15]);
            assert_eq!(sent, expected);
        }
        (prepared, valid) => panic!(
            "prepared {prepared:?}, but etherparse reads {}",
            if valid.is_some() {
                "a valid IPv6 header"
            } else {
                "no valid IPv6 header"
            }
        ),
    }
}

/// The Internet checksum of `header` as it is: 0 when its checksum field is right. (Computed
/// over the raw bytes: etherparse's owned header drops the reserved flag bit.)
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 datagram as etherparse reads its header, with the lengths checked as a router does
/// (etherparse's `Ipv4Slice` would also parse IPsec headers behind it, which a router does not).
struct Datagram<'a> {
    header: Ipv4HeaderSlice<'a>,
    /// The payload within the declared total length.
    payload: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// `Err` when the version, the header length or the total length is wrong.
    fn parse(bytes: &'a [u8]) -> Result<Self, ()> {
        let header = Ipv4HeaderSlice::from_slice(bytes).map_err(drop)?;
        let (header_len, total) = (header.slice().len(), usize::from(header.total_len()));
        if total < header_len || total > bytes.len() {
            return Err(());
        }
        Ok(Self {
            header,
            payload: &bytes[header_len..total],
        })
    }

    fn header(&self) -> &Ipv4HeaderSlice<'a> {
        &self.header
    }
}

/// Where the IPv4 header of an IPv4 EtherType frame starts (behind at most one 802.1Q tag).
fn ipv4_offset(data: &[u8]) -> Option<usize> {
    ip_offset(data, EtherType::IPV4)
}

/// Where the packet of EtherType `ip` starts in the frame, if it carries one (behind at most
/// one tag).
fn ip_offset(data: &[u8], ip: EtherType) -> Option<usize> {
    let eth = Ethernet2Slice::from_slice_without_fcs(data).ok()?;
    match eth.ether_type() {
        t if t == ip => Some(14),
        EtherType::VLAN_TAGGED_FRAME => {
            let tag = SingleVlanSlice::from_slice(eth.payload_slice()).ok()?;
            (tag.ether_type() == ip).then_some(18)
        }
        _ => None,
    }
}

/// etherparse's reading of the frame: `Ok(None)` if it does not carry IPv4, `Err` if it
/// claims to and the datagram does not parse (lengths, version).
fn oracle_ipv4(data: &[u8]) -> Result<Option<(usize, Datagram<'_>)>, ()> {
    let Some(offset) = ipv4_offset(data) else {
        return Ok(None);
    };
    let ip = Datagram::parse(&data[offset..]).map_err(drop)?;
    Ok(Some((offset, ip)))
}

/// Every accessor of a checked IPv4 view against etherparse's reading of the same header, and
/// the parse → emit → parse round trip.
fn ipv4_views(ip: &ipv4::Packet<&[u8]>, oracle: &Datagram<'_>) {
    let header = oracle.header();
    assert_eq!(ip.version(), header.version());
    assert_eq!(ip.header_len(), usize::from(header.ihl()) * 4);
    assert_eq!(ip.total_len(), header.total_len());
    assert_eq!(ip.tos(), header.slice()[1]);
    assert_eq!(ip.ident(), header.identification());
    assert_eq!(
        ip.is_fragment(),
        header.more_fragments() || header.fragments_offset().value() != 0
    );
    assert_eq!(ip.ttl(), header.ttl());
    assert_eq!(ip.protocol(), header.protocol().0);
    assert_eq!(ip.checksum(), header.header_checksum());
    assert_eq!(
        (ip.src_addr(), ip.dst_addr()),
        (header.source_addr(), header.destination_addr())
    );
    assert_eq!(ip.options(), header.options());
    assert_eq!(ip.payload(), oracle.payload);
    assert_eq!(ip.verify_checksum(), checksum(header.slice()) == 0);
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

/// The API as mgmd serves it: the bytes as one request, and the bytes as a connection's
/// stream (mgmd's framing and request limit), each frame a request. Every frame that parses
/// survives its JSON round trip; every frame, request or not, reaches the request handler of a
/// router core over the in-memory backend and I/O ([`ApiHarness`]) and gets exactly one
/// answer, with a status code `docs/protocol.md` §2 documents; after each answer and after the
/// connections close, the core's consistency check finds the MGM and the backend agreeing.
pub fn api(data: &[u8]) {
    let mut harness = ApiHarness::new(Instant::now());
    request(data);
    answered(&mut harness, 1, data);
    let mut codec = api::codec_up_to(api::MAX_REQUEST);
    let mut stream = BytesMut::from(data);
    // An unframable length ends the stream (mgmd answers it and closes the connection).
    while let Ok(Some(frame)) = codec.decode(&mut stream) {
        assert!(frame.len() <= api::MAX_REQUEST);
        request(&frame);
        answered(&mut harness, 2, &frame);
        harness.advance(Duration::from_millis(10));
    }
    for connection in [1, 2] {
        harness.close(connection);
        consistent(&harness);
    }
    harness.advance(Duration::from_secs(2));
    consistent(&harness);
}

/// The status codes of `docs/protocol.md` §2 (5, access denied, comes from the socket's access
/// check, which the handler is behind).
const DOCUMENTED_CODES: [u32; 9] = [0, 5, 87, 122, 183, 234, 259, 1003, 1168];

/// Hands `frame` to the handler as a request of `connection`: its one answer carries a
/// documented code, and the core stays consistent.
fn answered(harness: &mut ApiHarness, connection: u64, frame: &[u8]) {
    let code = match harness.answer(connection, frame) {
        Response::Error { code, .. } => Some(code),
        Response::Buffer { status, .. } => Some(status),
        _ => None,
    };
    if let Some(code) = code {
        assert!(DOCUMENTED_CODES.contains(&code), "undocumented code {code}");
    }
    consistent(harness);
}

/// The core's own consistency check holds.
fn consistent(harness: &ApiHarness) {
    let differences = harness.differences();
    assert!(
        differences.is_empty(),
        "MGM and backend differ: {differences:?}"
    );
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
