//! Loads the embedded XDP object (optionally pinned under a bpffs directory), attaches the
//! ingress program to interfaces (with the TC program that replicates jumbo frames beside it)
//! and reads the global counters.
use super::sys;
use aya::{
    maps::{Map, MapInfo, PerCpuArray},
    programs::{
        links::{FdLink, PinnedLink},
        xdp::XdpLink,
        ProgramFd, SchedClassifier, TcAttachType, Xdp, XdpMode,
    },
    Ebpf, EbpfLoader,
};
use aya_obj::generated::BPF_F_NO_PREALLOC;
use mgm_common::{limits, stat};
use std::{
    collections::BTreeMap,
    ops::RangeInclusive,
    path::{Path, PathBuf},
};
use tracing::{info, warn};

/// The XDP object built from `mgm-ebpf` by this crate's build script.
static XDP_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/mgm-xdp"));

/// Name of the ingress program in the object.
const INGRESS_PROGRAM: &str = "mgm_xdp";
/// Name of the devmap egress program in the object.
const EGRESS_PROGRAM: &str = "mgm_egress";
/// Name of the TC ingress program replicating jumbo frames in the object.
const JUMBO_PROGRAM: &str = "mgm_tc_jumbo";

/// Names of the object's maps; each is pinned under this name in the pin directory.
pub mod map_name {
    /// Global per-CPU counters (`mgm_common::stat`).
    pub const STATS: &str = "STATS";
    /// (S,G) → `MfeValue`.
    pub const MFES: &str = "MFES";
    /// IPv6 (S,G) → `MfeValue`.
    pub const MFES6: &str = "MFES6";
    /// Per-entry per-CPU counters.
    pub const MFE_STATS: &str = "MFE_STATS";
    /// Per-(entry, interface) per-CPU counters.
    pub const OIF_STATS: &str = "OIF_STATS";
    /// Per-interface settings.
    pub const IFACES: &str = "IFACES";
    /// Array of outgoing-interface devmaps.
    pub const OIF_SETS: &str = "OIF_SETS";
    /// Report ring buffer.
    pub const REPORTS: &str = "REPORTS";
    /// Report ring buffer of repeated misses' creation alerts (read first).
    pub const REPEAT_REPORTS: &str = "REPEAT_REPORTS";
    /// AF_XDP punt sockets.
    pub const PUNT_SOCKETS: &str = "PUNT_SOCKETS";
    /// Runtime settings.
    pub const CONFIG: &str = "CONFIG";
    /// Per-CPU report token buckets.
    pub const REPORT_RATE: &str = "REPORT_RATE";
    /// Per-CPU token bucket of mirrored entries' wrong-interface passes.
    pub const MIRROR_RATE: &str = "MIRROR_RATE";
    /// Hashed slots of (S,G)s that missed, with their last creation alert.
    pub const REPORTED_SGS: &str = "REPORTED_SGS";
    /// Frames punted to each punt socket slot (numbered, see `mgm_common::PuntMeta`).
    pub const PUNTED: &str = "PUNTED";
    /// Per punt socket slot, how far userspace has dealt with the frames punted there.
    pub const PUNTS_HANDLED: &str = "PUNTS_HANDLED";
    /// Per entry, its packets punted in hold mode (or taken over by the fast path for good).
    pub const HOLD_PUNTED: &str = "HOLD_PUNTED";
    /// Per entry, how far userspace has sent on its packets punted in hold mode.
    pub const HOLD_SENT: &str = "HOLD_SENT";
    /// Per entry, what mgmd sent on of the packets it held for it (for its counters after a
    /// restart).
    pub const HELD_STATS: &str = "HELD_STATS";
    /// The interfaces of each outgoing set, for the TC program replicating jumbo frames.
    pub const SET_MEMBERS: &str = "SET_MEMBERS";
    /// What the broadcast of each outgoing set needs: its bare member (its devmap entry runs
    /// no egress program) and the smallest MTU of its members (with and without the member
    /// that alone has it).
    pub const SET_BROADCASTS: &str = "SET_BROADCASTS";
    /// Maps an earlier version pinned that this one replaced (under another name, so that
    /// their pins are never misread): their pins are removed on load. A program of that
    /// version still attached holds its map until it is replaced.
    pub const REPLACED: [&str; 2] = ["SET_BARE_MEMBER", "SET_BROADCAST"];
    /// Interface → itself with the egress program, for entries' single copies to interfaces
    /// whose copies carry it.
    pub const OIF_DIRECT: &str = "OIF_DIRECT";
    /// Buckets of the inlined lookup in front of `MFES`.
    pub const MFE_PROBE: &str = "MFE_PROBE";
    /// Buckets of the inlined lookup in front of `MFES6`.
    pub const MFE_PROBE6: &str = "MFE_PROBE6";
    /// The maps sized by the capacity in forwarding entries of each family
    /// ([`super::DataPlane::load_sized`]; the build's `limits::MFES` by default): the entries of
    /// both families, their counter slots (shared, so one per entry of either) and their
    /// hold-mode marks and held packets' counters.
    pub const SIZED_BY_ENTRIES: [&str; 6] =
        [MFES, MFES6, MFE_STATS, HOLD_PUNTED, HOLD_SENT, HELD_STATS];
    /// Every map that is pinned.
    pub const ALL: [&str; 24] = [
        STATS,
        MFES,
        MFES6,
        MFE_PROBE,
        MFE_PROBE6,
        MFE_STATS,
        OIF_STATS,
        IFACES,
        OIF_SETS,
        REPORTS,
        PUNT_SOCKETS,
        CONFIG,
        REPORT_RATE,
        MIRROR_RATE,
        REPORTED_SGS,
        REPEAT_REPORTS,
        PUNTED,
        PUNTS_HANDLED,
        HOLD_PUNTED,
        HOLD_SENT,
        HELD_STATS,
        SET_MEMBERS,
        SET_BROADCASTS,
        OIF_DIRECT,
    ];
}

/// The capacities in forwarding entries of each family the data plane can be loaded with
/// ([`DataPlane::load_sized`], `daemon.max_entries`): up to the build's `limits::MFES`, which
/// the probe arrays and the daemon's other bounds are sized for.
pub const ENTRY_CAPACITIES: RangeInclusive<u32> = 256..=limits::MFES;

/// The default bpffs directory of mgm's pinned maps, programs and links.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/mgm";

/// Errors of the data plane.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// The binary was built with `AYA_BUILD_SKIP=1` and carries no eBPF object.
    #[error("this binary was built without its XDP program (AYA_BUILD_SKIP was set); rebuild without it")]
    NoObject,
    /// The kernel refused the object or a map operation.
    #[error("loading the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program operation failed.
    #[error("XDP program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    /// A map operation failed.
    #[error("BPF map: {0}")]
    Map(#[from] aya::maps::MapError),
    /// An outgoing-set devmap refused an entry.
    #[error("devmap: {0}")]
    DevMap(#[from] aya::maps::xdp::XdpMapError),
    /// Pinning an object failed.
    #[error("pinning: {0}")]
    Pin(#[from] aya::pin::PinError),
    /// Opening or updating a pinned link failed.
    #[error("pinned link: {0}")]
    Link(#[from] aya::programs::links::LinkError),
    /// A system call made directly (not through aya) failed.
    #[error("{call}: {source}")]
    Sys {
        /// What was called.
        call: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The object lacks a program or map this code expects (or another part took it).
    #[error("the XDP object has no {0}")]
    Missing(&'static str),
    /// No interface of that name exists.
    #[error("no interface named {0:?}")]
    NoSuchInterface(String),
    /// The interface is not attached.
    #[error("interface {0:?} is not attached")]
    NotAttached(String),
    /// A map is full.
    #[error("{0} is full")]
    Full(&'static str),
    /// No entry for that key.
    #[error("no entry for {0}")]
    NoEntry(String),
    /// A value out of range was given.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// No bpffs that outlives mgmd holds the configured directory (see [`super::bpffs`]).
    #[error(
        "no bpffs to pin under {path} ({tried}), so forwarding would not survive a restart: \
         {remedies}"
    )]
    NoBpffs {
        /// The configured directory.
        path: PathBuf,
        /// Where it was looked for, and why each place failed.
        tried: String,
        /// What would give mgmd a bpffs, or let it run without one.
        remedies: String,
    },
    /// A pin directory that others control (see [`super::pin_dir`]).
    #[error(
        "refusing the pin directory {path}: {reason}; it must belong to mgmd's user alone: \
         remove it (as root) so that mgmd creates it afresh, or set another [daemon] bpffs"
    )]
    UnsafePinDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Global per-class packet counters, summed over CPUs, by name.
pub type GlobalStats = BTreeMap<&'static str, u64>;

/// One attachment of the ingress program.
enum Attachment {
    /// Owned by this process: detached when dropped.
    Owned(aya::programs::xdp::XdpLinkId),
    /// Pinned in bpffs: outlives this process until [`DataPlane::detach`] unpins it. The
    /// process holds the link too, so that while it runs a removed pin cannot detach it.
    Pinned {
        /// The pin.
        path: PathBuf,
        /// This process's reference.
        link: FdLink,
    },
}

/// The loaded XDP object and the interfaces its ingress program is attached to.
pub struct DataPlane {
    ebpf: Ebpf,
    pin_dir: Option<PathBuf>,
    attached: BTreeMap<String, Attachment>,
    /// The TC program's attachments (tcx links, never pinned: while no mgmd runs, jumbo frames
    /// of multi-interface entries go on into the stack). Dropping one detaches it (aya's own
    /// `detach` of a tcx link left it attached on this kernel).
    tc_attached: BTreeMap<String, FdLink>,
}

impl DataPlane {
    /// Loads the embedded object into the kernel, unpinned: maps, programs and attachments live
    /// as long as this process (tests, benchmarks).
    pub fn load() -> Result<Self, DataPlaneError> {
        Self::load_sized(limits::MFES)
    }

    /// [`DataPlane::load`] with room for `entries` forwarding entries of each family (see
    /// [`map_name::SIZED_BY_ENTRIES`]).
    pub fn load_sized(entries: u32) -> Result<Self, DataPlaneError> {
        let entries = check_entries(entries)?;
        let mut loader = EbpfLoader::new();
        size_by_entries(&mut loader, entries);
        Self::load_with(loader, None)
    }

    /// Loads the embedded object with its maps pinned under `dir` (a bpffs directory, created
    /// if missing): maps already pinned there are reused with their contents, so forwarding
    /// state survives a daemon restart; the others are created and pinned. Both programs are
    /// pinned as `dir/prog_ingress` and `dir/prog_egress`, and attachments as
    /// `dir/links/<interface>`. `dir` and `dir/links` must be this user's alone
    /// ([`DataPlaneError::UnsafePinDir`] otherwise, see [`super::pin_dir`]); their parent
    /// must exist.
    pub fn load_pinned(dir: &Path) -> Result<Self, DataPlaneError> {
        Self::load_pinned_sized(dir, limits::MFES)
    }

    /// [`DataPlane::load_pinned`] with room for `entries` forwarding entries of each family:
    /// maps pinned with another size are refused (the pin directory has to go first).
    pub fn load_pinned_sized(dir: &Path, entries: u32) -> Result<Self, DataPlaneError> {
        let entries = check_entries(entries)?;
        super::pin_dir::prepare(dir)?;
        super::pin_dir::prepare(&dir.join("links"))?;
        let paths: Vec<(&str, PathBuf)> = map_name::ALL
            .iter()
            .map(|name| (*name, dir.join(name)))
            .collect();
        let carried = super::grown_counters::take_shorter(&dir.join(map_name::STATS))?;
        check_pinned_layouts(&paths, entries)?;
        let mut loader = EbpfLoader::new();
        size_by_entries(&mut loader, entries);
        for (name, path) in &paths {
            loader.map_pin_path(name, path.as_path());
        }
        let mut plane = Self::load_with(loader, Some(dir.to_owned()))?;
        if let Some(carried) = carried {
            let stats = plane
                .ebpf
                .map_mut(map_name::STATS)
                .ok_or(DataPlaneError::Missing("STATS map"))?;
            carried.restore(stats)?;
        }
        for (program, file) in [
            (INGRESS_PROGRAM, "prog_ingress"),
            (EGRESS_PROGRAM, "prog_egress"),
        ] {
            let path = dir.join(file);
            // A program pinned by an earlier run is replaced by this one.
            let _ = std::fs::remove_file(&path);
            xdp(&mut plane.ebpf, program)?.pin(&path)?;
        }
        for name in map_name::REPLACED {
            // Absent is fine: pinned by this version, or a fresh directory.
            let _ = std::fs::remove_file(dir.join(name));
        }
        Ok(plane)
    }

    fn load_with(
        mut loader: EbpfLoader<'_>,
        pin_dir: Option<PathBuf>,
    ) -> Result<Self, DataPlaneError> {
        if XDP_OBJECT.is_empty() {
            return Err(DataPlaneError::NoObject);
        }
        let mut ebpf = loader.load(XDP_OBJECT)?;
        xdp(&mut ebpf, INGRESS_PROGRAM)?.load()?;
        xdp(&mut ebpf, EGRESS_PROGRAM)?.load()?;
        tc(&mut ebpf)?.load()?;
        Ok(Self {
            ebpf,
            pin_dir,
            attached: BTreeMap::new(),
            tc_attached: BTreeMap::new(),
        })
    }

    /// The pin directory, when loaded with [`DataPlane::load_pinned`].
    pub fn pin_dir(&self) -> Option<&Path> {
        self.pin_dir.as_deref()
    }

    /// The loaded object, for modules that own its maps.
    pub fn ebpf_mut(&mut self) -> &mut Ebpf {
        &mut self.ebpf
    }

    /// Takes one of the object's maps (each can be taken once).
    pub fn take_map(&mut self, name: &'static str) -> Result<Map, DataPlaneError> {
        self.ebpf
            .take_map(name)
            .ok_or(DataPlaneError::Missing(name))
    }

    /// A new descriptor of the devmap egress program, for devmap entries.
    pub fn egress_program(&mut self) -> Result<ProgramFd, DataPlaneError> {
        let fd = xdp(&mut self.ebpf, EGRESS_PROGRAM)?.fd()?;
        fd.try_clone().map_err(|source| DataPlaneError::Sys {
            call: "duplicating the egress program descriptor",
            source,
        })
    }

    /// A new descriptor of the ingress program (for BPF_PROG_TEST_RUN and tools).
    pub fn ingress_program(&mut self) -> Result<&mut Xdp, DataPlaneError> {
        xdp(&mut self.ebpf, INGRESS_PROGRAM)
    }

    /// Attaches the ingress program to `iface` in driver (native) mode, or in generic (skb)
    /// mode when `generic` is set (for NICs without native XDP, bridges and `lo`). When
    /// pinned, an attachment left by an earlier run is taken over atomically. The TC program
    /// replicating jumbo frames is attached first (tcx, kernel 6.6 or later); without it (an
    /// older kernel, logged) the interface is forwarded all the same, and the jumbo frames of
    /// its multi-interface entries go into the stack (`jumbo_passed` without
    /// `jumbo_replicated`).
    pub fn attach(&mut self, iface: &str, generic: bool) -> Result<(), DataPlaneError> {
        let fresh = !self.tc_attached.contains_key(iface);
        if fresh {
            match self.attach_tc(iface) {
                Ok(link) => {
                    self.tc_attached.insert(iface.to_owned(), link);
                }
                Err(e) => warn!(
                    interface = iface,
                    error = %e,
                    "TC program not attached: jumbo frames of entries with several outgoing \
                     interfaces arriving here go into the stack"
                ),
            }
        }
        let attached = self.attach_xdp(iface, generic);
        if attached.is_err() && fresh {
            self.tc_attached.remove(iface);
        }
        attached
    }

    fn attach_tc(&mut self, iface: &str) -> Result<FdLink, DataPlaneError> {
        let program = tc(&mut self.ebpf)?;
        let id = program.attach(iface, TcAttachType::Ingress)?;
        FdLink::try_from(program.take_link(id)?).map_err(|_| {
            DataPlaneError::Invalid(format!("{iface}: TC attachment is not a bpf_link"))
        })
    }

    fn attach_xdp(&mut self, iface: &str, generic: bool) -> Result<(), DataPlaneError> {
        let mode = if generic {
            XdpMode::Skb
        } else {
            XdpMode::Driver
        };
        let Some(dir) = self.pin_dir.clone() else {
            let link = xdp(&mut self.ebpf, INGRESS_PROGRAM)?.attach(iface, mode)?;
            self.attached
                .insert(iface.to_owned(), Attachment::Owned(link));
            return Ok(());
        };
        let path = dir.join("links").join(iface);
        unpin_if_elsewhere(iface, &path)?;
        let program = xdp(&mut self.ebpf, INGRESS_PROGRAM)?;
        let not_a_link =
            || DataPlaneError::Invalid(format!("{iface}: XDP attachment is not a bpf_link"));
        let link = match PinnedLink::from_pin(&path) {
            Ok(pinned) => {
                // The pin keeps the link alive throughout: the switch to this program is one
                // atomic link update, with no window without a program.
                let id = program.attach_to_link(XdpLink::try_from(FdLink::from(pinned))?)?;
                FdLink::try_from(program.take_link(id)?).map_err(|_| not_a_link())?
            }
            Err(_) => {
                let id = program.attach(iface, mode)?;
                let link = FdLink::try_from(program.take_link(id)?).map_err(|_| not_a_link())?;
                FdLink::from(link.pin(&path)?)
            }
        };
        self.attached
            .insert(iface.to_owned(), Attachment::Pinned { path, link });
        Ok(())
    }

    /// Detaches the ingress program from `iface` (and removes its pinned link), then the TC
    /// program.
    pub fn detach(&mut self, iface: &str) -> Result<(), DataPlaneError> {
        // First: a link that is gone fails the XDP detach, and the interface may come back
        // under the same name.
        self.tc_attached.remove(iface);
        self.detach_xdp(iface)
    }

    fn detach_xdp(&mut self, iface: &str) -> Result<(), DataPlaneError> {
        let attachment = self
            .attached
            .remove(iface)
            .ok_or_else(|| DataPlaneError::NotAttached(iface.to_owned()))?;
        match attachment {
            Attachment::Owned(link) => xdp(&mut self.ebpf, INGRESS_PROGRAM)?.detach(link)?,
            Attachment::Pinned { path, link } => {
                // Without the pin, dropping this process's reference (the last one) makes the
                // kernel detach the program. A pin already removed is fine.
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(DataPlaneError::Sys {
                            call: "unpinning the XDP link",
                            source: e,
                        })
                    }
                    _ => drop(link),
                }
            }
        }
        Ok(())
    }

    /// Names of the attached interfaces.
    pub fn attached(&self) -> impl Iterator<Item = &str> {
        self.attached.keys().map(String::as_str)
    }

    /// The global counters, summed over CPUs, with those the programs do not count derived
    /// from the others (`stat::derive`).
    pub fn global_stats(&self) -> Result<GlobalStats, DataPlaneError> {
        let map = self
            .ebpf
            .map(map_name::STATS)
            .ok_or(DataPlaneError::Missing("STATS map"))?;
        let stats: PerCpuArray<_, u64> = PerCpuArray::try_from(map)?;
        let mut counters = [0u64; stat::COUNT as usize];
        for (index, counter) in counters.iter_mut().enumerate() {
            let per_cpu = stats.get(&(index as u32), 0)?;
            *counter = per_cpu
                .iter()
                .fold(0, |sum, value| sum.wrapping_add(*value));
        }
        stat::derive(&mut counters);
        Ok(stat::NAMES.iter().copied().zip(counters).collect())
    }
}

/// Refuses pinned maps whose key, value or size differ from this build's (left by a version
/// with another layout): reusing them would misread every entry. Pinned maps whose
/// preallocation alone differs (an earlier version preallocated `OIF_STATS`) are adopted as
/// they are, logged: they hold the same elements, and a clean stop (`on_stop = "detach"`,
/// which removes the pins) lets the next start create them as this build does. Other flags are
/// not compared: the loader adds some of its own at creation (`BPF_F_RDONLY_PROG` to devmaps).
fn check_pinned_layouts(paths: &[(&str, PathBuf)], entries: u32) -> Result<(), DataPlaneError> {
    let object = aya_obj::Object::parse(XDP_OBJECT)
        .map_err(|e| DataPlaneError::Invalid(format!("the embedded XDP object: {e}")))?;
    for (name, path) in paths {
        // The ring buffers' sizes are set by the loader, not the object.
        let ring = [map_name::REPORTS, map_name::REPEAT_REPORTS].contains(name);
        if ring || !path.exists() {
            continue;
        }
        let (Some(wanted), Ok(pinned)) = (object.maps.get(*name), MapInfo::from_pin(path)) else {
            continue;
        };
        let sized = map_name::SIZED_BY_ENTRIES.contains(name);
        let (layout, found_entries) = (
            (pinned.key_size(), pinned.value_size()),
            pinned.max_entries(),
        );
        let expected_entries = if sized { entries } else { wanted.max_entries() };
        if sized && layout == (wanted.key_size(), wanted.value_size()) && found_entries != entries {
            return Err(DataPlaneError::Invalid(format!(
                "pinned map {} holds {found_entries} entries, and {entries} are configured \
                 (daemon.max_entries): stop mgmd with on_stop = \"detach\" or remove the pin \
                 directory before changing the capacity",
                path.display(),
            )));
        }
        let found = (layout.0, layout.1, found_entries);
        let expected = (wanted.key_size(), wanted.value_size(), expected_entries);
        if found != expected {
            return Err(DataPlaneError::Invalid(format!(
                "pinned map {} has (key, value, entries) {found:?}, this build needs \
                 {expected:?}: remove the pin directory to start afresh",
                path.display()
            )));
        }
        if (pinned.map_flags() ^ wanted.map_flags()) & BPF_F_NO_PREALLOC != 0 {
            warn!(
                map = %path.display(),
                preallocated = pinned.map_flags() & BPF_F_NO_PREALLOC == 0,
                "pinned map preallocated otherwise by an earlier version: adopted as it is \
                 (a clean stop with on_stop = \"detach\" lets the next start create it anew)"
            );
        }
    }
    Ok(())
}

/// Refuses a capacity outside [`ENTRY_CAPACITIES`].
fn check_entries(entries: u32) -> Result<u32, DataPlaneError> {
    match ENTRY_CAPACITIES.contains(&entries) {
        true => Ok(entries),
        false => Err(DataPlaneError::Invalid(format!(
            "{entries} forwarding entries: the data plane holds {} to {}",
            ENTRY_CAPACITIES.start(),
            ENTRY_CAPACITIES.end()
        ))),
    }
}

/// Sizes the maps of [`map_name::SIZED_BY_ENTRIES`] for `entries` entries.
fn size_by_entries(loader: &mut EbpfLoader<'_>, entries: u32) {
    for name in map_name::SIZED_BY_ENTRIES {
        loader.map_max_entries(name, entries);
    }
}

fn tc(ebpf: &mut Ebpf) -> Result<&mut SchedClassifier, DataPlaneError> {
    ebpf.program_mut(JUMBO_PROGRAM)
        .ok_or(DataPlaneError::Missing(JUMBO_PROGRAM))?
        .try_into()
        .map_err(DataPlaneError::Program)
}

fn xdp<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, DataPlaneError> {
    ebpf.program_mut(name)
        .ok_or(DataPlaneError::Missing(name))?
        .try_into()
        .map_err(DataPlaneError::Program)
}

/// Removes the XDP link pinned at `path` for `iface` when it is attached elsewhere: to an
/// interface of that name deleted (the link outlived it) or renamed while no mgmd ran. Taking
/// such a link over would fail (a deleted interface) or serve the renamed one; `iface` gets a
/// link of its own instead.
fn unpin_if_elsewhere(iface: &str, path: &Path) -> Result<(), DataPlaneError> {
    let Some(attached_to) = sys::pinned_xdp_link_ifindex(path)? else {
        return Ok(());
    };
    let ifindex = crate::rawio::ifindex(iface).map_err(|source| DataPlaneError::Sys {
        call: "if_nametoindex",
        source,
    })?;
    if attached_to == ifindex {
        return Ok(());
    }
    info!(
        interface = iface,
        ifindex,
        pinned_ifindex = attached_to,
        "the pinned XDP link of this name belongs to an interface deleted or renamed \
         meanwhile: replaced by a new one"
    );
    std::fs::remove_file(path).map_err(|source| DataPlaneError::Sys {
        call: "unpinning the XDP link of a deleted or renamed interface",
        source,
    })
}
