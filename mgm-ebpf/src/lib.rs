//! Library target so that mgm-user can name this crate as a build dependency.
#![no_std]
