//! Pin directories nobody else controls: whoever can write in a directory mgm pins into can
//! remove its link pins (detaching XDP) or plant maps of their own for it to adopt. bpffs is
//! commonly mounted world-writable (mode 1777), so a directory found there is only used when
//! this process's user owns it and nobody else can write in it; mgm's own directories are
//! created with mode 0700 (a wider mode on one it owns is narrowed), and every object inside
//! must be this user's too. Anything else is refused with [`DataPlaneError::UnsafePinDir`].
use super::DataPlaneError;
use std::{
    fs::{DirBuilder, Metadata},
    io,
    os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _},
    path::Path,
};

/// Mode of the directories mgm creates.
const PRIVATE: u32 = 0o700;

fn unsafe_dir(path: &Path, reason: impl Into<String>) -> DataPlaneError {
    DataPlaneError::UnsafePinDir {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn sys(call: &'static str) -> impl FnOnce(io::Error) -> DataPlaneError {
    move |source| DataPlaneError::Sys { call, source }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no failure mode.
    unsafe { libc::geteuid() }
}

/// Creates `path` (mode 0700) unless it exists, without following a symlink in its place.
fn create(path: &Path) -> Result<(), DataPlaneError> {
    match DirBuilder::new().mode(PRIVATE).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(DataPlaneError::Sys {
            call: "creating the pin directory",
            source: e,
        }),
    }
}

/// The metadata of `path` itself (a symlink is not followed), which must be a directory this
/// user owns.
fn own_directory(path: &Path) -> Result<Metadata, DataPlaneError> {
    let meta = path
        .symlink_metadata()
        .map_err(sys("inspecting the pin directory"))?;
    if !meta.is_dir() {
        return Err(unsafe_dir(
            path,
            "it is not a directory (a symlink or a file)",
        ));
    }
    if meta.uid() != euid() {
        return Err(unsafe_dir(
            path,
            format!("it is owned by uid {}, not by uid {}", meta.uid(), euid()),
        ));
    }
    Ok(meta)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), DataPlaneError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(sys("restricting the pin directory"))
}

/// Prepares the configured bpffs directory that holds the per-namespace pin directories:
/// created if missing; else it must be this user's directory, and if others may write in it
/// without the sticky bit (which stops them removing what they do not own), that write
/// permission is taken away.
pub fn prepare_base(path: &Path) -> Result<(), DataPlaneError> {
    create(path)?;
    let mode = own_directory(path)?.mode() & 0o7777;
    if mode & 0o022 != 0 && mode & libc::S_ISVTX == 0 {
        set_mode(path, mode & !0o022)?;
    }
    Ok(())
}

/// Prepares a directory mgm pins objects into: created (0700) if missing; else it must be
/// this user's directory (its mode is narrowed to 0700) holding only this user's objects and
/// no symlinks.
pub fn prepare(path: &Path) -> Result<(), DataPlaneError> {
    create(path)?;
    if own_directory(path)?.mode() & 0o777 != PRIVATE {
        set_mode(path, PRIVATE)?;
    }
    let entries = std::fs::read_dir(path).map_err(sys("listing the pin directory"))?;
    for entry in entries {
        let entry = entry.map_err(sys("listing the pin directory"))?;
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(sys("inspecting a pinned object"))?;
        if meta.file_type().is_symlink() {
            return Err(unsafe_dir(
                path,
                format!("{} is a symlink", entry.file_name().to_string_lossy()),
            ));
        }
        if meta.uid() != euid() {
            return Err(unsafe_dir(
                path,
                format!(
                    "{} is owned by uid {}, not by uid {}",
                    entry.file_name().to_string_lossy(),
                    meta.uid(),
                    euid()
                ),
            ));
        }
    }
    Ok(())
}
