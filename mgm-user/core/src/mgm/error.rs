//! The typed error of every MGM call and the Win32 status values it maps to.

use thiserror::Error;

/// Win32 status values used by the MGM API (spec preamble, `winerror.h`).
pub mod win32 {
    /// Success.
    pub const NO_ERROR: u32 = 0;
    /// Bad handle or parameter (MGM never uses `ERROR_INVALID_HANDLE`, A-01).
    pub const ERROR_INVALID_PARAMETER: u32 = 87;
    /// The buffer cannot hold even one record.
    pub const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
    /// Already registered / already owned.
    pub const ERROR_ALREADY_EXISTS: u32 = 183;
    /// A batch enumeration wrote entries and more remain.
    pub const ERROR_MORE_DATA: u32 = 234;
    /// A batch enumeration is finished.
    pub const ERROR_NO_MORE_ITEMS: u32 = 259;
    /// MGM could not do it.
    pub const ERROR_CAN_NOT_COMPLETE: u32 = 1003;
    /// No such interface, membership or MFE.
    pub const ERROR_NOT_FOUND: u32 = 1168;
}

/// Why an MGM call failed. A failed call changes no state. `ERROR_NOT_ENOUGH_MEMORY` has no
/// variant: allocation failure aborts a Rust process instead of being reported.
#[derive(Error, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MgmError {
    /// Bad handle, bad parameter, or an interface owned by someone else.
    #[error("invalid parameter (ERROR_INVALID_PARAMETER)")]
    InvalidParameter,
    /// The registration or ownership already exists.
    #[error("already exists (ERROR_ALREADY_EXISTS)")]
    AlreadyExists,
    /// The call cannot be carried out in the current state.
    #[error("cannot complete (ERROR_CAN_NOT_COMPLETE)")]
    CanNotComplete,
    /// The interface, membership, MFE or pending question is unknown.
    #[error("not found (ERROR_NOT_FOUND)")]
    NotFound,
    /// The caller's buffer cannot hold one record; `needed` bytes would.
    #[error("insufficient buffer, {needed} bytes needed (ERROR_INSUFFICIENT_BUFFER)")]
    InsufficientBuffer {
        /// Size of the next record.
        needed: u32,
    },
}

impl MgmError {
    /// The documented Win32 code of this error.
    pub fn win32_code(self) -> u32 {
        match self {
            MgmError::InvalidParameter => win32::ERROR_INVALID_PARAMETER,
            MgmError::AlreadyExists => win32::ERROR_ALREADY_EXISTS,
            MgmError::CanNotComplete => win32::ERROR_CAN_NOT_COMPLETE,
            MgmError::NotFound => win32::ERROR_NOT_FOUND,
            MgmError::InsufficientBuffer { .. } => win32::ERROR_INSUFFICIENT_BUFFER,
        }
    }
}

/// Maps a call result to its Win32 status (`NO_ERROR` on success).
pub fn status_of<T>(result: &Result<T, MgmError>) -> u32 {
    match result {
        Ok(_) => win32::NO_ERROR,
        Err(e) => e.win32_code(),
    }
}
