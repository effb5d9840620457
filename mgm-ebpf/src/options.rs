//! IPv4 options, checked as the kernel's `ip_options_compile` and `ip_rcv_options` check them
//! before ipmr forwards: EOL ends the list, NOP is one byte, every other option has a length
//! byte of at least 2 and lies entirely inside the header; record route (length at least 3) and
//! timestamp (at least 4) carry a pointer in range (from 4 and 5) that leaves room for what the
//! next hop writes, and a timestamp's flags byte fits its pointer; router alert has a length of
//! at least 4. Source routes (loose or strict; `accept_source_route` is off by default) and
//! CIPSO labels (no CIPSO domain configured) are dropped, as the kernel drops them. Other option
//! types are forwarded as they are.
//!
//! The walk is one bounded pass over the option bytes (40 at most) that keeps the state of the
//! option it is in; each byte is taken from the aligned 32-bit word holding it, read from the
//! packet with the same kind of bounds check as the header checksum (a 1-byte check would be
//! folded by LLVM into a form the verifier cannot use).
use core::mem::size_of;

use crate::packet::{ptr_at, Ipv4Hdr};

/// Most bytes of options an IPv4 header can carry (IHL 15).
const MAX_OPTIONS_LEN: usize = 40;
const IPOPT_END: u8 = 0;
const IPOPT_NOOP: u8 = 1;
const IPOPT_RR: u8 = 7;
const IPOPT_TIMESTAMP: u8 = 68;
const IPOPT_LSRR: u8 = 131;
const IPOPT_CIPSO: u8 = 134;
const IPOPT_SSRR: u8 = 137;
const IPOPT_RA: u8 = 148;
const IPOPT_TS_TSANDADDR: u8 = 1;
const IPOPT_TS_PRESPEC: u8 = 3;

/// Whether the options of the IPv4 header at `offset` (of `header_len` bytes, already known to
/// be inside the frame) are well-formed, and none is one the kernel drops (see the module).
#[inline(always)]
pub fn ipv4_options_ok(start: usize, end: usize, offset: usize, header_len: usize) -> bool {
    let options = offset + size_of::<Ipv4Hdr>();
    let len = header_len.saturating_sub(size_of::<Ipv4Hdr>());
    // Bytes of the current option still to skip, and whether the next byte is a length byte.
    let mut skip: usize = 0;
    let mut want_len = false;
    // The current option's type.
    let mut kind: u8 = 0;
    for i in 0..MAX_OPTIONS_LEN {
        if i >= len {
            break;
        }
        let Some(byte) = option_byte(start, end, options, i) else {
            return false;
        };
        if want_len {
            // The option began at i - 1 and must end inside the header.
            let option_len = usize::from(byte);
            if option_len < min_len(kind) || i - 1 + option_len > len {
                return false;
            }
            if (kind == IPOPT_RR || kind == IPOPT_TIMESTAMP)
                && !pointer_ok(start, end, options, i, kind, option_len)
            {
                return false;
            }
            skip = option_len - 2;
            want_len = false;
        } else if skip > 0 {
            skip -= 1;
        } else {
            match byte {
                IPOPT_END => return true,
                IPOPT_NOOP => {}
                IPOPT_LSRR | IPOPT_SSRR | IPOPT_CIPSO => return false,
                _ => {
                    kind = byte;
                    want_len = true;
                }
            }
        }
    }
    !want_len
}

/// The least length of an option of type `kind`.
#[inline(always)]
fn min_len(kind: u8) -> usize {
    match kind {
        IPOPT_RR => 3,
        IPOPT_TIMESTAMP | IPOPT_RA => 4,
        _ => 2,
    }
}

/// Byte `i` of the options at `options`, taken from the aligned 32-bit word holding it.
#[inline(always)]
fn option_byte(start: usize, end: usize, options: usize, i: usize) -> Option<u8> {
    let word = ptr_at::<u32>(start, end, options + (i & !3))?;
    // SAFETY: in bounds (checked by ptr_at); options may sit at odd addresses.
    let word = u32::from_be(unsafe { word.read_unaligned() });
    Some((word >> (24 - 8 * (i & 3))) as u8)
}

/// Whether the pointer of the record route or timestamp option (`kind`) whose length byte is
/// byte `i` (the option is inside the header) is in range and, while the option is not full,
/// leaves room for what the next hop writes: an address (record route), a stamp, or an address
/// and a stamp (timestamp with addresses); a full timestamp's overflow count must not be at its
/// end.
#[inline(always)]
fn pointer_ok(
    start: usize,
    end: usize,
    options: usize,
    i: usize,
    kind: u8,
    option_len: usize,
) -> bool {
    let Some(pointer) = option_byte(start, end, options, i + 1) else {
        return false;
    };
    let pointer = usize::from(pointer);
    if kind == IPOPT_RR {
        return pointer >= 4 && (pointer > option_len || pointer + 3 <= option_len);
    }
    let Some(flags) = option_byte(start, end, options, i + 2) else {
        return false;
    };
    let with_addresses = matches!(flags & 0x0f, IPOPT_TS_TSANDADDR | IPOPT_TS_PRESPEC);
    if pointer < 5 {
        false
    } else if pointer <= option_len {
        pointer + if with_addresses { 7 } else { 3 } <= option_len
    } else {
        flags & 0x0f == IPOPT_TS_PRESPEC || flags >> 4 != 15
    }
}
