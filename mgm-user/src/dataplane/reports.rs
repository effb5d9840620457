//! Reports from the XDP program (creation alerts for misses, wrong-interface reports), read
//! from the `REPEAT_REPORTS` and `REPORTS` ring buffers, synchronously or as an async stream on
//! tokio. Both families share the rings and the record layout; an IPv6 record carries its
//! (S,G) in the IPv6 header it copies (see `mgm_common::Report`).
use super::{loader::map_name, DataPlane, DataPlaneError};
use aya::maps::{MapData, RingBuf};
use mgm_common::{report_kind, Report, Sg6Key, SgKey, IPV6_REPORT_GROUP, IPV6_REPORT_SOURCE};
use tokio::io::{unix::AsyncFd, Interest};

/// One report of the data plane, an input of the MGM core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataPlaneReport {
    /// A packet of `sg` matched no entry (creation alert).
    Miss {
        /// The packet's (S,G).
        sg: SgKey,
        /// Where it arrived.
        ifindex: u32,
        /// The first bytes of its IPv4 header.
        header: Vec<u8>,
    },
    /// A packet of the installed entry `sg` arrived on another interface than its incoming one.
    WrongIf {
        /// The packet's (S,G).
        sg: SgKey,
        /// Where it arrived.
        ifindex: u32,
        /// The first bytes of its IPv4 header.
        header: Vec<u8>,
    },
    /// An IPv6 packet of `sg` matched no entry of `MFES6` (creation alert).
    Miss6 {
        /// The packet's (S,G).
        sg: Sg6Key,
        /// Where it arrived.
        ifindex: u32,
        /// The first bytes of the packet from its IPv6 header on (the whole fixed header).
        header: Vec<u8>,
    },
    /// An IPv6 packet of the installed entry `sg` arrived on another interface than its
    /// incoming one.
    WrongIf6 {
        /// The packet's (S,G).
        sg: Sg6Key,
        /// Where it arrived.
        ifindex: u32,
        /// The first bytes of the packet from its IPv6 header on (the whole fixed header).
        header: Vec<u8>,
    },
}

impl DataPlaneReport {
    /// Decodes one ring-buffer record; `None` for a record of unexpected size or kind (or an
    /// IPv6 one without its fixed header).
    pub fn parse(record: &[u8]) -> Option<Self> {
        if record.len() < size_of::<Report>() {
            return None;
        }
        // SAFETY: the record holds at least one Report, a plain-old-data type; read unaligned.
        let report = unsafe { record.as_ptr().cast::<Report>().read_unaligned() };
        let header_len = (report.header_len as usize).min(report.header.len());
        let header = report.header[..header_len].to_vec();
        let (sg, ifindex) = (report.sg, report.ifindex);
        match report.kind {
            report_kind::MISS => Some(Self::Miss {
                sg,
                ifindex,
                header,
            }),
            report_kind::WRONG_IF => Some(Self::WrongIf {
                sg,
                ifindex,
                header,
            }),
            report_kind::MISS6 => Some(Self::Miss6 {
                sg: sg6_of(&header)?,
                ifindex,
                header,
            }),
            report_kind::WRONG_IF6 => Some(Self::WrongIf6 {
                sg: sg6_of(&header)?,
                ifindex,
                header,
            }),
            _ => None,
        }
    }
}

/// The (S,G) of the IPv6 header at the start of `header`; `None` if it is cut short.
fn sg6_of(header: &[u8]) -> Option<Sg6Key> {
    Some(Sg6Key {
        source: header.get(IPV6_REPORT_SOURCE)?.try_into().ok()?,
        group: header.get(IPV6_REPORT_GROUP)?.try_into().ok()?,
    })
}

/// The next record of `ring` that decodes (others are skipped).
fn next_report(ring: &mut RingBuf<MapData>) -> Option<DataPlaneReport> {
    while let Some(record) = ring.next() {
        if let Some(report) = DataPlaneReport::parse(&record) {
            return Some(report);
        }
    }
    None
}

/// Reader of the report rings: the creation alerts of repeated misses first, so that they
/// never wait behind a spray's (see `mgm-ebpf/src/report.rs`).
pub struct ReportReader {
    repeat: RingBuf<MapData>,
    first: RingBuf<MapData>,
}

impl ReportReader {
    /// Takes the report rings of `plane`.
    pub fn new(plane: &mut DataPlane) -> Result<Self, DataPlaneError> {
        Ok(Self {
            repeat: plane.take_map(map_name::REPEAT_REPORTS)?.try_into()?,
            first: plane.take_map(map_name::REPORTS)?.try_into()?,
        })
    }

    /// The next report if one is waiting.
    pub fn try_next(&mut self) -> Option<DataPlaneReport> {
        next_report(&mut self.repeat).or_else(|| next_report(&mut self.first))
    }

    /// The rings' descriptors, readable while a record waits, for a poll of one's own.
    pub fn fds(&self) -> [std::os::fd::RawFd; 2] {
        use std::os::fd::AsRawFd as _;
        [self.repeat.as_raw_fd(), self.first.as_raw_fd()]
    }

    /// Turns the reader into an async one (needs a tokio runtime with I/O enabled).
    pub fn into_async(self) -> Result<AsyncReportReader, DataPlaneError> {
        let register = |ring: RingBuf<MapData>| {
            // SAFETY: the ring owns its map descriptor, and the AsyncFd owns the ring, so the
            // descriptor stays open and the same for as long as it is registered.
            unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }.map_err(|e| {
                DataPlaneError::Sys {
                    call: "registering a report ring with tokio",
                    source: e.into_parts().1,
                }
            })
        };
        Ok(AsyncReportReader {
            repeat: register(self.repeat)?,
            first: register(self.first)?,
        })
    }
}

/// Async reader of the report rings (repeated misses' creation alerts first).
pub struct AsyncReportReader {
    repeat: AsyncFd<RingBuf<MapData>>,
    first: AsyncFd<RingBuf<MapData>>,
}

impl AsyncReportReader {
    /// The next report if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<DataPlaneReport> {
        next_report(self.repeat.get_mut()).or_else(|| next_report(self.first.get_mut()))
    }

    /// Waits for the next report.
    pub async fn next(&mut self) -> Result<DataPlaneReport, DataPlaneError> {
        loop {
            if let Some(report) = self.try_next() {
                return Ok(report);
            }
            let ready = tokio::select! {
                biased;
                guard = self.repeat.readable_mut() => guard,
                guard = self.first.readable_mut() => guard,
            };
            let mut guard = ready.map_err(|source| DataPlaneError::Sys {
                call: "polling the report rings",
                source,
            })?;
            // Readiness is cleared only by a guard taken before the ring was found empty, so
            // that a record arriving meanwhile wakes the next wait.
            match next_report(guard.get_inner_mut()) {
                Some(report) => return Ok(report),
                None => guard.clear_ready(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mgm_common::REPORT_HEADER_BYTES;
    use std::net::Ipv6Addr;

    /// A record as the XDP program writes it, for an IPv6 packet of (`source`, `group`) cut to
    /// `header_len` bytes.
    fn record(kind: u32, source: Ipv6Addr, group: Ipv6Addr, header_len: usize) -> Vec<u8> {
        let mut header = [0u8; REPORT_HEADER_BYTES];
        header[0] = 0x60;
        header[IPV6_REPORT_SOURCE].copy_from_slice(&source.octets());
        header[IPV6_REPORT_GROUP].copy_from_slice(&group.octets());
        let report = Report {
            kind,
            ifindex: 7,
            sg: Sg6Key::new(source, group).digest(),
            header_len: header_len as u32,
            reserved: 0,
            header,
        };
        // SAFETY: Report is plain old data without padding.
        unsafe {
            std::slice::from_raw_parts((&report as *const Report).cast::<u8>(), size_of::<Report>())
        }
        .to_vec()
    }

    #[test]
    fn ipv6_reports_carry_their_addresses_in_the_header_copy() {
        let (source, group): (Ipv6Addr, Ipv6Addr) =
            ("2001:db8::7".parse().unwrap(), "ff3e::1".parse().unwrap());
        let sg = Sg6Key::new(source, group);
        let miss = DataPlaneReport::parse(&record(report_kind::MISS6, source, group, 60));
        match miss {
            Some(DataPlaneReport::Miss6 {
                sg: got,
                ifindex: 7,
                header,
            }) => {
                assert_eq!(got, sg);
                assert_eq!(header.len(), 60);
            }
            other => panic!("not a Miss6: {other:?}"),
        }
        let wrong_if = DataPlaneReport::parse(&record(report_kind::WRONG_IF6, source, group, 40));
        assert!(matches!(wrong_if, Some(DataPlaneReport::WrongIf6 { sg: got, .. }) if got == sg));
        assert_eq!(
            DataPlaneReport::parse(&record(report_kind::MISS6, source, group, 39)),
            None,
            "a record without the whole fixed header"
        );
    }
}
