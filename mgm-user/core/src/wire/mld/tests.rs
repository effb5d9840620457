use super::*;
use etherparse::{IpNumber, Ipv6Extensions, Ipv6Header};

fn a(x: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, x)
}
fn g(x: u16) -> Ipv6Addr {
    Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0, x)
}
const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

fn emit(repr: &Repr) -> Vec<u8> {
    let mut buf = vec![0; repr.buffer_len()];
    repr.emit(SRC, ALL_MLDV2_ROUTERS, &mut buf).unwrap();
    buf
}

fn samples() -> Vec<Repr> {
    vec![
        Repr::Query {
            max_resp_code: 10_000,
            group: Ipv6Addr::UNSPECIFIED,
            v2: None,
        },
        Repr::Query {
            max_resp_code: 1000,
            group: g(1),
            v2: None,
        },
        Repr::Query {
            max_resp_code: 0x8c00,
            group: g(2),
            v2: Some(QueryV2 {
                suppress: true,
                qrv: 2,
                qqic: 125,
                sources: vec![a(1), a(2), a(3)],
            }),
        },
        Repr::ReportV1 { group: g(3) },
        Repr::Done { group: g(4) },
        Repr::ReportV2 {
            records: vec![
                AddressRecordRepr {
                    record_type: RecordType::IsExclude,
                    group: g(6),
                    sources: vec![],
                },
                AddressRecordRepr {
                    record_type: RecordType::Allow,
                    group: g(7),
                    sources: vec![a(4), a(5)],
                },
                AddressRecordRepr {
                    record_type: RecordType::Other(9),
                    group: g(8),
                    sources: vec![a(6)],
                },
            ],
        },
    ]
}

#[test]
fn roundtrip_every_message() {
    for repr in samples() {
        let buf = emit(&repr);
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert!(packet.verify_checksum(SRC, ALL_MLDV2_ROUTERS));
        assert_eq!(Repr::parse(&packet, SRC, ALL_MLDV2_ROUTERS).unwrap(), repr);
    }
}

#[test]
fn packets_agree_with_etherparse() {
    for repr in samples() {
        let buf = repr.to_packet(SRC, ALL_MLDV2_ROUTERS).unwrap();
        let (ip, rest) = Ipv6Header::from_slice(&buf).unwrap();
        assert_eq!((ip.hop_limit, ip.source), (1, SRC.octets()));
        assert_eq!(ip.destination, ALL_MLDV2_ROUTERS.octets());
        let (exts, next, icmp) = Ipv6Extensions::from_slice(ip.next_header, rest).unwrap();
        assert_eq!(next, IpNumber::IPV6_ICMP);
        let hbh = exts.hop_by_hop_options.expect("a Hop-by-Hop header");
        assert_eq!(&hbh.payload()[..4], &[5, 2, 0, 0], "Router Alert MLD");
        let oracle = etherparse::Icmpv6Slice::from_slice(icmp).unwrap();
        assert!(oracle.is_checksum_valid(SRC.octets(), ALL_MLDV2_ROUTERS.octets()));
        assert_eq!(icmp, &emit(&repr)[..]);
    }
}

#[test]
fn every_truncation_is_rejected_or_reads_as_shorter_query() {
    for repr in samples() {
        let buf = emit(&repr);
        for len in 0..buf.len() {
            match Packet::new_checked(&buf[..len]) {
                Err(_) => {}
                // A 24-byte prefix of a v2 query is itself a valid v1-layout query, and a
                // report's 8-byte header with records cut off still declares them.
                Ok(p) => assert!(
                    p.msg_type() == msg_type::QUERY && len == 24,
                    "{repr:?} accepted at {len}"
                ),
            }
        }
    }
}

#[test]
fn query_lengths_25_to_27_are_malformed() {
    let buf = emit(&samples()[2]);
    for len in 25..28 {
        assert_eq!(
            Packet::new_checked(&buf[..len]).err(),
            Some(Error::Malformed)
        );
    }
}

#[test]
fn counts_past_the_payload() {
    let mut query = emit(&samples()[2]);
    query[27] = 4; // four sources, three present
    assert_eq!(
        Packet::new_checked(&query[..]).err(),
        Some(Error::Truncated)
    );
    let mut report = emit(&samples()[5]);
    report[7] = 4; // four records, three present
    assert_eq!(
        Packet::new_checked(&report[..]).err(),
        Some(Error::Truncated)
    );
    let mut sources = emit(&samples()[5]);
    sources[8 + 20 + 3] = 3; // second record: three sources, two present
    assert_eq!(
        Packet::new_checked(&sources[..]).err(),
        Some(Error::Truncated)
    );
    let mut aux = emit(&samples()[5]);
    aux[8 + 1] = 1; // first record claims a word of auxiliary data
    assert_eq!(Packet::new_checked(&aux[..]).err(), Some(Error::Truncated));
    let mut max = emit(&samples()[5]);
    max[6..8].copy_from_slice(&[0xff, 0xff]);
    max[8 + 2..8 + 4].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(Packet::new_checked(&max[..]).err(), Some(Error::Truncated));
}

#[test]
fn aux_data_is_skipped() {
    let mut buf = emit(&Repr::ReportV2 {
        records: vec![AddressRecordRepr {
            record_type: RecordType::IsInclude,
            group: g(1),
            sources: vec![a(1)],
        }],
    });
    buf[9] = 1;
    buf.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    Packet::new_unchecked(&mut buf[..]).fill_checksum(SRC, ALL_MLDV2_ROUTERS);
    let p = Packet::new_checked(&buf[..]).unwrap();
    let Repr::ReportV2 { records } = Repr::parse(&p, SRC, ALL_MLDV2_ROUTERS).unwrap() else {
        panic!("not a v2 report");
    };
    assert_eq!(records[0].sources, vec![a(1)]);
}

#[test]
fn checksum_covers_the_pseudo_header() {
    for repr in samples() {
        let mut buf = emit(&repr);
        let p = Packet::new_checked(&buf[..]).unwrap();
        // The same bytes from another source or to another destination do not verify.
        assert_eq!(
            Repr::parse(&p, a(1), ALL_MLDV2_ROUTERS),
            Err(Error::Checksum)
        );
        assert_eq!(Repr::parse(&p, SRC, ALL_NODES), Err(Error::Checksum));
        buf[5] ^= 0x40;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            Repr::parse(&p, SRC, ALL_MLDV2_ROUTERS),
            Err(Error::Checksum)
        );
    }
}

#[test]
fn other_icmpv6_types_are_unsupported() {
    let mut echo = [128, 0, 0, 0, 0, 1, 0, 1];
    Packet::new_unchecked(&mut echo[..]).fill_checksum(SRC, ALL_NODES);
    let p = Packet::new_checked(&echo[..]).unwrap();
    assert_eq!(Repr::parse(&p, SRC, ALL_NODES), Err(Error::Unsupported));
    assert_eq!(
        Packet::new_checked(&echo[..3]).err(),
        Some(Error::Truncated)
    );
}

#[test]
fn max_resp_codes() {
    assert_eq!(decode_max_resp(10_000), 10_000);
    assert_eq!(decode_max_resp(0x8000), 0x8000);
    assert_eq!(decode_max_resp(0xffff), MAX_RESP_LIMIT_MS);
    for ms in [
        0,
        1,
        0x7fff,
        0x8000,
        0x8001,
        100_000,
        MAX_RESP_LIMIT_MS,
        u32::MAX,
    ] {
        let back = decode_max_resp(encode_max_resp(ms));
        let want = ms.min(MAX_RESP_LIMIT_MS);
        assert!(back <= want, "{ms} -> {back}");
        assert!(want - back <= want / 4096, "{ms} -> {back}");
    }
    for code in [0u16, 1, 0x7fff, 0x8000, 0x8abc, 0xffff] {
        assert_eq!(encode_max_resp(decode_max_resp(code)), code);
    }
}
