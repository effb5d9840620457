//! cargo-fuzz target: see [`mgm_user_fuzz::punt_frame`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| mgm_user_fuzz::punt_frame(data));
