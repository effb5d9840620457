//! IPv4 options, checked as the kernel's `ip_options_compile` checks them before ipmr forwards:
//! EOL ends the list, NOP is one byte, every other option has a length byte of at least 2 and
//! lies entirely inside the header.
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

/// Whether the options of the IPv4 header at `offset` (of `header_len` bytes, already known to
/// be inside the frame) are well-formed.
#[inline(always)]
pub fn ipv4_options_ok(start: usize, end: usize, offset: usize, header_len: usize) -> bool {
    let options = offset + size_of::<Ipv4Hdr>();
    let len = header_len.saturating_sub(size_of::<Ipv4Hdr>());
    // Bytes of the current option still to skip, and whether the next byte is a length byte.
    let mut skip: usize = 0;
    let mut want_len = false;
    for i in 0..MAX_OPTIONS_LEN {
        if i >= len {
            break;
        }
        let Some(word) = ptr_at::<u32>(start, end, options + (i & !3)) else {
            return false;
        };
        // SAFETY: in bounds (checked by ptr_at); options may sit at odd addresses.
        let word = u32::from_be(unsafe { word.read_unaligned() });
        let byte = (word >> (24 - 8 * (i & 3))) as u8;
        if want_len {
            // The option began at i - 1 and must end inside the header.
            let option_len = usize::from(byte);
            if option_len < 2 || i - 1 + option_len > len {
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
                _ => want_len = true,
            }
        }
    }
    !want_len
}
