//! The byte-buffer API: the MGM enumeration and `MgmSetMfe` calls with the C calling
//! convention's buffers and status codes (§4.8–4.16, A-27), for fidelity tests and a
//! compatibility layer. `buffer_size` plays `*pdwBufferSize`: it is read as the capacity
//! (never more than `buffer.len()`) and written only on `ERROR_INSUFFICIENT_BUFFER`, with the
//! size of one record. Batch calls never return `NO_ERROR`. Both managers offer them:
//! the IPv4 one with the Windows records, the IPv6 one with the same records holding 16-byte
//! addresses (see [`super::mib`]).

use super::address::Address;
use super::error::{status_of, win32};
use super::mfe::Mfe;
use super::mib::{decode_mfe_key, encode_source_group, source_group_entry_size, Record};
use super::types::{EnumHandle, ProtocolHandle, Sg, StatsLevel, Timestamp};
use super::Mgm;

/// Packs whole records from `items` into `buffer` and returns the batch status.
fn pack<T>(
    items: impl Iterator<Item = T>,
    size: impl Fn(&T) -> usize,
    mut encode: impl FnMut(&T, &mut [u8]),
    buffer_size: &mut u32,
    buffer: &mut [u8],
    num_entries: &mut u32,
) -> u32 {
    let cap = buffer.len().min(*buffer_size as usize);
    let mut items = items.peekable();
    let mut at = 0;
    *num_entries = 0;
    while let Some(item) = items.peek() {
        let n = size(item);
        if at + n > cap {
            if *num_entries == 0 {
                *buffer_size = u32::try_from(n).unwrap_or(u32::MAX);
                return win32::ERROR_INSUFFICIENT_BUFFER;
            }
            return win32::ERROR_MORE_DATA;
        }
        encode(item, &mut buffer[at..at + n]);
        at += n;
        *num_entries += 1;
        items.next();
    }
    win32::ERROR_NO_MORE_ITEMS
}

impl<A: Address> Mgm<A> {
    /// Packs one MFE: `NO_ERROR`, `ERROR_NOT_FOUND` or `ERROR_INSUFFICIENT_BUFFER`.
    fn single_raw(
        &self,
        sg: Sg<A>,
        record: Record,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        now: Timestamp,
    ) -> u32 {
        let Some(m) = self.mfes.get(sg) else {
            return win32::ERROR_NOT_FOUND;
        };
        let mut n = 0;
        match pack(
            std::iter::once(m),
            |m| record.size(m),
            |m, out| record.encode(m, now, out),
            buffer_size,
            buffer,
            &mut n,
        ) {
            win32::ERROR_INSUFFICIENT_BUFFER => win32::ERROR_INSUFFICIENT_BUFFER,
            _ => win32::NO_ERROR,
        }
    }

    /// Packs MFEs in order, starting after `start` (or at the beginning).
    fn batch_raw(
        &self,
        start: Option<Sg<A>>,
        record: Record,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        num_entries: &mut u32,
        now: Timestamp,
    ) -> u32 {
        let items: Box<dyn Iterator<Item = &Mfe<A>>> = match start {
            Some(sg) => Box::new(self.mfes.after(sg)),
            None => Box::new(self.mfes.iter()),
        };
        pack(
            items,
            |m| record.size(m),
            |m, out| record.encode(m, now, out),
            buffer_size,
            buffer,
            num_entries,
        )
    }

    /// `MgmGetMfe`: one `MIB_IPMCAST_MFE` for the exact (S,G) `sg`.
    pub fn get_mfe_raw(
        &self,
        sg: Sg<A>,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        now: Timestamp,
    ) -> u32 {
        self.single_raw(sg, Record::Mfe, buffer_size, buffer, now)
    }

    /// `MgmGetFirstMfe`.
    pub fn get_first_mfe_raw(
        &self,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        num_entries: &mut u32,
        now: Timestamp,
    ) -> u32 {
        self.batch_raw(None, Record::Mfe, buffer_size, buffer, num_entries, now)
    }

    /// `MgmGetNextMfe`: MFEs strictly after `start`.
    pub fn get_next_mfe_raw(
        &self,
        start: Sg<A>,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        num_entries: &mut u32,
        now: Timestamp,
    ) -> u32 {
        self.batch_raw(
            Some(start),
            Record::Mfe,
            buffer_size,
            buffer,
            num_entries,
            now,
        )
    }

    /// `MgmGetMfeStats`; `flags`.
    pub fn get_mfe_stats_raw(
        &self,
        sg: Sg<A>,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        flags: u32,
        now: Timestamp,
    ) -> u32 {
        match StatsLevel::from_flags(flags) {
            Ok(level) => self.single_raw(sg, Record::Stats(level), buffer_size, buffer, now),
            Err(e) => e.win32_code(),
        }
    }

    /// `MgmGetFirstMfeStats`.
    pub fn get_first_mfe_stats_raw(
        &self,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        num_entries: &mut u32,
        flags: u32,
        now: Timestamp,
    ) -> u32 {
        self.batch_stats_raw(None, buffer_size, buffer, num_entries, flags, now)
    }

    /// `MgmGetNextMfeStats`.
    pub fn get_next_mfe_stats_raw(
        &self,
        start: Sg<A>,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        num_entries: &mut u32,
        flags: u32,
        now: Timestamp,
    ) -> u32 {
        self.batch_stats_raw(Some(start), buffer_size, buffer, num_entries, flags, now)
    }

    /// The stats batch calls after checking `flags`.
    fn batch_stats_raw(
        &self,
        start: Option<Sg<A>>,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        num_entries: &mut u32,
        flags: u32,
        now: Timestamp,
    ) -> u32 {
        match StatsLevel::from_flags(flags) {
            Ok(l) => {
                let rec = Record::Stats(l);
                self.batch_raw(start, rec, buffer_size, buffer, num_entries, now)
            }
            Err(e) => e.win32_code(),
        }
    }

    /// `MgmGroupEnumerationGetNext`: packed `SOURCE_GROUP_ENTRY`s; `ERROR_INVALID_PARAMETER`
    /// for a dead handle. `ERROR_INSUFFICIENT_BUFFER` does not advance the cursor.
    pub fn group_enumeration_get_next_raw(
        &mut self,
        eh: EnumHandle,
        buffer_size: &mut u32,
        buffer: &mut [u8],
        num_entries: &mut u32,
    ) -> u32 {
        let status = match self.group_enumeration_rest(eh) {
            Ok(rest) => pack(
                rest.iter(),
                |_| source_group_entry_size::<A>(),
                |sg, out| encode_source_group(**sg, out),
                buffer_size,
                buffer,
                num_entries,
            ),
            Err(e) => return e.win32_code(),
        };
        self.group_enumeration_advance(eh, *num_entries as usize);
        status
    }

    /// `MgmSetMfe`: reads (source, group) and `dwUpStrmNgbr` from a `MIB_IPMCAST_MFE` record.
    /// A record shorter than one without OIFs (60 bytes, IPv6 132) is
    /// `ERROR_INVALID_PARAMETER`.
    pub fn set_mfe_raw(&mut self, h: ProtocolHandle, record: &[u8]) -> u32 {
        match decode_mfe_key(record) {
            Some((sg, upstream)) => status_of(&self.set_mfe_upstream(h, sg, upstream)),
            None => win32::ERROR_INVALID_PARAMETER,
        }
    }
}
