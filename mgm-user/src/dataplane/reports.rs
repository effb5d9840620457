//! Reports from the XDP program (creation alerts for misses, wrong-interface reports), read
//! from the `REPORTS` ring buffer, synchronously or as an async stream on tokio.
use super::{loader::map_name, DataPlane, DataPlaneError};
use aya::maps::{MapData, RingBuf};
use mgm_common::{report_kind, Report, SgKey};
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
}

impl DataPlaneReport {
    /// Decodes one ring-buffer record; `None` for a record of unexpected size or kind.
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
            _ => None,
        }
    }
}

/// Reader of the report ring.
pub struct ReportReader {
    ring: RingBuf<MapData>,
}

impl ReportReader {
    /// Takes the report ring of `plane`.
    pub fn new(plane: &mut DataPlane) -> Result<Self, DataPlaneError> {
        Ok(Self {
            ring: plane.take_map(map_name::REPORTS)?.try_into()?,
        })
    }

    /// The next report if one is waiting (records that do not decode are skipped).
    pub fn try_next(&mut self) -> Option<DataPlaneReport> {
        while let Some(record) = self.ring.next() {
            if let Some(report) = DataPlaneReport::parse(&record) {
                return Some(report);
            }
        }
        None
    }

    /// Turns the reader into an async one (needs a tokio runtime with I/O enabled).
    pub fn into_async(self) -> Result<AsyncReportReader, DataPlaneError> {
        // SAFETY: the ring owns its map descriptor, and the AsyncFd owns the ring, so the
        // descriptor stays open and the same for as long as it is registered.
        let ring = unsafe { AsyncFd::register_with_interest(self.ring, Interest::READABLE) }
            .map_err(|e| DataPlaneError::Sys {
                call: "registering the report ring with tokio",
                source: e.into_parts().1,
            })?;
        Ok(AsyncReportReader { ring })
    }
}

/// Async reader of the report ring.
pub struct AsyncReportReader {
    ring: AsyncFd<RingBuf<MapData>>,
}

impl AsyncReportReader {
    /// The next report if one is waiting, without waiting (records that do not decode are
    /// skipped).
    pub fn try_next(&mut self) -> Option<DataPlaneReport> {
        let ring = self.ring.get_mut();
        while let Some(record) = ring.next() {
            if let Some(report) = DataPlaneReport::parse(&record) {
                return Some(report);
            }
        }
        None
    }

    /// Waits for the next report.
    pub async fn next(&mut self) -> Result<DataPlaneReport, DataPlaneError> {
        loop {
            let mut guard =
                self.ring
                    .readable_mut()
                    .await
                    .map_err(|source| DataPlaneError::Sys {
                        call: "polling the report ring",
                        source,
                    })?;
            while let Some(record) = guard.get_inner_mut().next() {
                if let Some(report) = DataPlaneReport::parse(&record) {
                    return Ok(report);
                }
            }
            guard.clear_ready();
        }
    }
}
