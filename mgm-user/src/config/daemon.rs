//! The `[daemon]` table: pins, the API socket and who may use it, the stop behaviour.
use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use toml::Spanned;

/// Daemon-wide settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DaemonConfig {
    /// Directory under bpffs where maps and programs are pinned.
    pub bpffs: String,
    /// Run without pins (forwarding stops with mgmd) instead of refusing to start when no
    /// bpffs can hold them.
    pub unpinned: bool,
    /// Remove the pin directories of network namespaces that are gone (at start and every
    /// minute; see `dataplane::stale_pins`).
    pub collect_stale_pins: bool,
    /// Path of the API socket (`None`: [`crate::api::default_socket`], one per network
    /// namespace).
    pub api_socket: Option<String>,
    /// Group of the API socket (`None`: root's group).
    pub api_group: Option<u32>,
    /// Mode of the API socket.
    pub api_mode: u32,
    /// UIDs besides root with control access to the API.
    pub api_allow_uids: Vec<u32>,
    /// GIDs (primary or supplementary) with control access to the API.
    pub api_allow_gids: Vec<u32>,
    /// UIDs with read-only access to the API.
    pub api_read_uids: Vec<u32>,
    /// GIDs (primary or supplementary) with read-only access to the API.
    pub api_read_gids: Vec<u32>,
    /// Most API connections open at once; more are refused (and counted).
    pub api_max_connections: u32,
    /// What SIGINT/SIGTERM does to forwarding.
    pub on_stop: OnStop,
    /// Seconds adopted entries forward untouched after a restart (IGMP re-learns, protocols
    /// reconnect) before the MGM re-derives them.
    pub adopt_window_s: u32,
    /// Lifetime of a forwarding entry (MFE) and the default prune timeout, seconds (spec
    /// A-48; read at start).
    pub mfe_lifetime_s: u32,
    /// Forwarding entries of each family the data plane and the MGM hold at most (read at
    /// start): the size of the entry maps and of the per-CPU counter array, whose kernel memory
    /// is 56 B per entry per CPU.
    pub max_entries: u32,
    /// Most negative (drop) entries at once, out of the data plane's table; a new one beyond
    /// it replaces the oldest (see the MGM's `capacity` module).
    pub max_negative_entries: u32,
    /// `SCHED_FIFO` priority (1–99) of every mgmd thread, so that creating entries and
    /// forwarding held packets keep up under CPU load; `None`: the normal scheduler. A reload
    /// that changes it applies it to every thread.
    pub realtime_priority: Option<u8>,
    /// UMEM of each interface's punt sockets, in 2 KiB frames, shared by its receive queues
    /// (a power of two; read at start): resident memory per interface in service, and the
    /// frames a flow's first burst can fill before the creation thread reads them.
    pub punt_umem_frames: u32,
}

impl DaemonConfig {
    /// The API socket's path: the configured one, else this network namespace's default.
    pub fn api_socket_path(&self) -> std::path::PathBuf {
        match &self.api_socket {
            Some(path) => path.into(),
            None => crate::api::default_socket(),
        }
    }
}

/// What a clean stop of mgmd does to forwarding. (`kill -9` always leaves it in place.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStop {
    /// Detach the XDP program and remove the pinned state: forwarding stops.
    #[default]
    Detach,
    /// Leave the program attached and the maps pinned: forwarding goes on, and the next mgmd
    /// adopts it.
    Keep,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            bpffs: "/sys/fs/bpf/mgm".into(),
            unpinned: false,
            collect_stale_pins: true,
            api_socket: None,
            api_group: None,
            api_mode: 0o660,
            api_allow_uids: Vec::new(),
            api_allow_gids: Vec::new(),
            api_read_uids: Vec::new(),
            api_read_gids: Vec::new(),
            api_max_connections: 64,
            on_stop: OnStop::Detach,
            adopt_window_s: 12,
            mfe_lifetime_s: crate::mgm::DEFAULT_MFE_TIMEOUT_S,
            max_entries: mgm_common::limits::MFES,
            max_negative_entries: mgm_common::limits::MFES / 4,
            realtime_priority: None,
            punt_umem_frames: crate::dataplane::DEFAULT_UMEM_FRAMES,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    bpffs: Option<String>,
    #[serde(default)]
    unpinned: bool,
    collect_stale_pins: Option<bool>,
    api_socket: Option<Spanned<String>>,
    api_group: Option<Spanned<GroupName>>,
    api_mode: Option<Spanned<String>>,
    #[serde(default)]
    api_allow_uids: Vec<u32>,
    #[serde(default)]
    api_allow_gids: Vec<u32>,
    #[serde(default)]
    api_read_uids: Vec<u32>,
    #[serde(default)]
    api_read_gids: Vec<u32>,
    api_max_connections: Option<Spanned<u32>>,
    #[serde(default)]
    on_stop: OnStop,
    adopt_window_s: Option<u32>,
    mfe_lifetime_s: Option<Spanned<u32>>,
    max_entries: Option<Spanned<u32>>,
    max_negative_entries: Option<Spanned<u32>>,
    realtime_priority: Option<Spanned<i64>>,
    punt_umem_frames: Option<Spanned<u32>>,
}

impl RawDaemon {
    /// The settings, checked; `at` makes an error about a span and key.
    pub(super) fn into_config(
        self,
        at: &impl Fn(Range<usize>, &str, String) -> ConfigError,
    ) -> Result<DaemonConfig, ConfigError> {
        let d = self;
        let default = DaemonConfig::default();
        let api_group = d
            .api_group
            .map(|g| {
                g.get_ref()
                    .gid()
                    .map_err(|m| at(g.span(), "daemon.api_group", m))
            })
            .transpose()?;
        let api_socket = d
            .api_socket
            .map(|p| {
                check_socket_path(p.get_ref())
                    .map(|()| p.get_ref().clone())
                    .map_err(|e| at(p.span(), "daemon.api_socket", e))
            })
            .transpose()?;
        let api_mode = match d.api_mode {
            None => default.api_mode,
            Some(m) => parse_mode(m.get_ref()).map_err(|e| at(m.span(), "daemon.api_mode", e))?,
        };
        let api_max_connections = match d.api_max_connections {
            None => default.api_max_connections,
            Some(n) if *n.get_ref() > 0 => *n.get_ref(),
            Some(n) => {
                return Err(at(
                    n.span(),
                    "daemon.api_max_connections",
                    "must be at least 1".into(),
                ))
            }
        };
        let mfe_lifetime_s = match d.mfe_lifetime_s {
            None => default.mfe_lifetime_s,
            Some(n) if *n.get_ref() > 0 => *n.get_ref(),
            Some(n) => {
                return Err(at(
                    n.span(),
                    "daemon.mfe_lifetime_s",
                    "must be at least 1".into(),
                ))
            }
        };
        let capacities = crate::dataplane::ENTRY_CAPACITIES;
        let max_entries = match d.max_entries {
            None => default.max_entries,
            Some(n) if capacities.contains(n.get_ref()) => *n.get_ref(),
            Some(n) => {
                return Err(at(
                    n.span(),
                    "daemon.max_entries",
                    format!(
                        "must be from {} to {} (this build's table)",
                        capacities.start(),
                        capacities.end()
                    ),
                ))
            }
        };
        let max_negative_entries = match d.max_negative_entries {
            None => max_entries / 4,
            Some(n) if *n.get_ref() <= max_entries => *n.get_ref(),
            Some(n) => {
                return Err(at(
                    n.span(),
                    "daemon.max_negative_entries",
                    format!("must be at most {max_entries} (daemon.max_entries, the table)"),
                ))
            }
        };
        let realtime_priority = match d.realtime_priority {
            None => None,
            Some(n) => match u8::try_from(*n.get_ref()) {
                Ok(p) if (1..=99).contains(&p) => Some(p),
                _ => {
                    return Err(at(
                        n.span(),
                        "daemon.realtime_priority",
                        "must be a SCHED_FIFO priority from 1 to 99".into(),
                    ))
                }
            },
        };
        let punt_umem_frames = match d.punt_umem_frames {
            None => default.punt_umem_frames,
            Some(n) => check_umem_frames(*n.get_ref())
                .map_err(|e| at(n.span(), "daemon.punt_umem_frames", e))?,
        };
        Ok(DaemonConfig {
            bpffs: d.bpffs.unwrap_or(default.bpffs),
            unpinned: d.unpinned,
            collect_stale_pins: d.collect_stale_pins.unwrap_or(default.collect_stale_pins),
            api_socket,
            api_group,
            api_mode,
            api_allow_uids: d.api_allow_uids,
            api_allow_gids: d.api_allow_gids,
            api_read_uids: d.api_read_uids,
            api_read_gids: d.api_read_gids,
            api_max_connections,
            on_stop: d.on_stop,
            adopt_window_s: d.adopt_window_s.unwrap_or(default.adopt_window_s),
            mfe_lifetime_s,
            max_entries,
            max_negative_entries,
            realtime_priority,
            punt_umem_frames,
        })
    }
}

/// Refuses a punt UMEM size the sockets cannot take: not a power of two, or out of
/// [`MIN_FRAMES_PER_QUEUE`]..=[`MAX_UMEM_FRAMES`].
fn check_umem_frames(frames: u32) -> Result<u32, String> {
    use crate::dataplane::{MAX_UMEM_FRAMES, MIN_FRAMES_PER_QUEUE};
    if frames.is_power_of_two() && (MIN_FRAMES_PER_QUEUE..=MAX_UMEM_FRAMES).contains(&frames) {
        Ok(frames)
    } else {
        Err(format!(
            "must be a power of two from {MIN_FRAMES_PER_QUEUE} to {MAX_UMEM_FRAMES}"
        ))
    }
}

/// The longest path a Unix socket address holds (`sun_path`, less its terminating NUL; an
/// abstract name, less its leading NUL, is as long).
pub const SOCKET_PATH_MAX: usize = 107;

/// Refuses an API socket path the kernel cannot bind: empty, or longer than `sun_path`.
fn check_socket_path(path: &str) -> Result<(), String> {
    match path.len() {
        0 => Err("must be a path, not empty".into()),
        n if n > SOCKET_PATH_MAX => Err(format!(
            "{n} bytes long: a Unix socket path has at most {SOCKET_PATH_MAX}"
        )),
        _ => Ok(()),
    }
}

/// A group named in the configuration: a name from the group database or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum GroupName {
    Id(u32),
    Name(String),
}

impl GroupName {
    fn gid(&self) -> Result<u32, String> {
        match self {
            GroupName::Id(gid) => Ok(*gid),
            GroupName::Name(name) => group_id(name)
                .ok_or_else(|| format!("no group named {name:?} in the group database")),
        }
    }
}

/// The gid of group `name` (getgrnam_r).
fn group_id(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `group` is plain data; all-zero is a valid value.
    let mut group: libc::group = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buffer` outlives the use of `group`.
    let rc = unsafe {
        libc::getgrnam_r(
            name.as_ptr(),
            &mut group,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    (rc == 0 && !found.is_null()).then_some(group.gr_gid)
}

/// An octal file mode such as `"0660"`, permission bits only.
fn parse_mode(text: &str) -> Result<u32, String> {
    match u32::from_str_radix(text.trim_start_matches("0o"), 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "{text:?} is not an octal mode from \"0000\" to \"0777\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        tests::{error_of, refused_at},
        Config,
    };

    #[test]
    fn api_access_keys_are_read_and_checked() {
        let c = Config::parse(
            "[daemon]\napi_group = 0\napi_mode = \"0666\"\napi_allow_gids = [7]\napi_read_uids = [8]\napi_max_connections = 3\n",
            "t",
        )
        .expect("valid");
        let d = &c.daemon;
        assert_eq!(
            (d.api_group, d.api_mode, d.api_max_connections),
            (Some(0), 0o666, 3)
        );
        assert_eq!(
            (d.api_allow_gids.as_slice(), d.api_read_uids.as_slice()),
            (&[7][..], &[8][..])
        );
        assert_eq!(
            Config::parse("[daemon]\napi_group = \"root\"\n", "t")
                .unwrap()
                .daemon
                .api_group,
            Some(0)
        );
        let d = Config::default().daemon;
        assert_eq!(
            (d.api_group, d.api_mode, d.api_max_connections),
            (None, 0o660, 64)
        );
        refused_at(
            "[daemon]\napi_group = \"no-such-group-here\"\n",
            2,
            "daemon.api_group",
        );
        refused_at("[daemon]\n\napi_mode = \"0999\"\n", 3, "daemon.api_mode");
        refused_at(
            "[daemon]\napi_max_connections = 0\n",
            2,
            "daemon.api_max_connections",
        );
    }

    #[test]
    fn unpinned_and_the_api_socket_default_to_pinned_and_per_namespace() {
        let d = Config::default().daemon;
        assert!(!d.unpinned);
        assert_eq!(d.api_socket, None);
        assert_eq!(d.api_socket_path(), crate::api::default_socket());
        let c = Config::parse(
            "[daemon]\nunpinned = true\napi_socket = \"/tmp/a.sock\"\n",
            "t",
        )
        .expect("valid");
        assert!(c.daemon.unpinned);
        assert_eq!(
            c.daemon.api_socket_path(),
            std::path::Path::new("/tmp/a.sock")
        );
        let e = error_of("[daemon]\n\nunpinned = \"yes\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "daemon.unpinned"));
        // A path the kernel cannot bind is refused here, not after the data plane started.
        refused_at("[daemon]\napi_socket = \"\"\n", 2, "daemon.api_socket");
        let long = format!("/run/{}.sock", "m".repeat(100));
        refused_at(
            &format!("[daemon]\n\napi_socket = \"{long}\"\n"),
            3,
            "daemon.api_socket",
        );
    }

    #[test]
    fn mfe_lifetime_is_read_and_checked() {
        assert_eq!(Config::default().daemon.mfe_lifetime_s, 900);
        let c = Config::parse("[daemon]\nmfe_lifetime_s = 60\n", "t").expect("valid");
        assert_eq!(c.daemon.mfe_lifetime_s, 60);
        refused_at(
            "[daemon]\n\nmfe_lifetime_s = 0\n",
            3,
            "daemon.mfe_lifetime_s",
        );
        refused_at(
            "[daemon]\nmfe_lifetime_s = -5\n",
            2,
            "daemon.mfe_lifetime_s",
        );
    }
}
