//! The XDP data plane seen from userspace: the embedded eBPF object, loading, attaching, and
//! reading its counters.
mod loader;

pub use loader::{DataPlane, DataPlaneError, GlobalStats};
