//! Deterministic tests of the MGM core (`mgm_user::mgm`), named after the spec rule each checks.

mod mgm_core {
    pub mod support;

    mod arrival_rpf;
    mod buffer_api;
    mod capacity;
    mod client_options;
    mod decisions;
    mod ipv6;
    mod misuse;
    mod model;
    mod rules;
    mod scenarios;
}
