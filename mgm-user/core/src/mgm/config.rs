//! [`Config`]: the settings the spec leaves to the implementation, with their defaults.

use std::time::Duration;

use super::types::{DEFAULT_MFE_TIMEOUT_S, MS_IP_IGMP};

/// What happens to IGMP's memberships when a routing protocol takes an interface IGMP owns
/// (spec §6.7, A-56).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IgmpTakeover {
    /// Keep them without W/S churn; IGMP's re-adds after Enable-IGMP reach the new owner as
    /// LocalJoin (the default).
    Keep,
    /// Remove them through the delete path (with its alerts) and let IGMP's re-adds create them
    /// again.
    Literal,
}

/// MGM settings. `Config::default()` is the behaviour the spec names as default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Protocol id that marks a registration as IGMP.
    pub igmp_protocol_id: u32,
    /// Lifetime of a new MFE and the default prune-alert timeout, seconds (A-48, §5.3).
    pub mfe_timeout_s: u32,
    /// Lifetime of a no-route negative MFE, seconds.
    pub negative_timeout_s: u32,
    /// How long an RPF or creation-alert question waits for its answer before the core applies
    /// the documented default (keep the RIB values; forward on every offered interface).
    pub answer_deadline: Duration,
    /// A-10 opt-in: an RPF callback returning non-zero makes the MFE negative.
    pub rpf_reject_creates_negative: bool,
    /// Deviation from §6.4 (see the module documentation of `mgm`): when the RIB has no route
    /// to the source (or its interface has no owner), ask the owner of the *arrival* interface
    /// through its RPF callback, proposing the arrival interface with `reject` set; an answer
    /// that clears `reject` claims the flow, anything else makes the no-route negative entry.
    /// Off by default (the spec's behaviour); the daemon turns it on for static routes.
    pub rpf_ask_arrival_owner: bool,
    /// deliver wrong-interface reports to the arrival interface's owner.
    pub wrong_if_enabled: bool,
    /// at most one wrong-interface callback per MFE in this interval.
    pub wrong_if_interval: Duration,
    /// A-48 option: restart an MFE's lifetime when its packet count grew since the last report.
    pub refresh_on_activity: bool,
    /// A-29 option: only the owner of the MFE's IIF may call `set_mfe_upstream`.
    pub strict_set_mfe: bool,
    /// A-56 mode.
    pub igmp_takeover: IgmpTakeover,
    /// Most MFEs at once; set it to the forwarding backend's capacity. A new entry beyond it
    /// evicts a negative, then an idle one, or is refused (never evicting an active flow).
    pub max_mfes: usize,
    /// Most negative MFEs at once; a new one beyond it evicts the oldest negative one.
    pub max_negative_mfes: usize,
}

/// Default [`Config::max_mfes`]: the XDP data plane's entry table.
const DEFAULT_MAX_MFES: usize = 131_072;

impl Default for Config {
    fn default() -> Self {
        Config {
            igmp_protocol_id: MS_IP_IGMP,
            mfe_timeout_s: DEFAULT_MFE_TIMEOUT_S,
            negative_timeout_s: 60,
            answer_deadline: Duration::from_secs(1),
            rpf_reject_creates_negative: false,
            rpf_ask_arrival_owner: false,
            wrong_if_enabled: true,
            wrong_if_interval: Duration::from_secs(3),
            refresh_on_activity: false,
            strict_set_mfe: false,
            igmp_takeover: IgmpTakeover::Keep,
            max_mfes: DEFAULT_MAX_MFES,
            max_negative_mfes: DEFAULT_MAX_MFES / 4,
        }
    }
}
