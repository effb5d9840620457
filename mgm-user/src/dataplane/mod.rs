//! The XDP data plane seen from userspace: loading and pinning the eBPF object, the forwarding
//! backend that keeps its maps in step with the MGM core's entries, and its reports.
mod backend;
mod bench_object;
mod ids;
mod loader;
mod oif_sets;
mod punt;
mod reports;
mod sys;
mod xdp_backend;
mod xsk;

pub use backend::{ForwardingBackend, IfaceSettings, MfeStats, OifStats};
pub use bench_object::BENCH_OBJECT;
pub use loader::{map_name, DataPlane, DataPlaneError, GlobalStats, DEFAULT_PIN_DIR};
pub use punt::PuntSockets;
pub use reports::{AsyncReportReader, DataPlaneReport, ReportReader};
pub use xdp_backend::XdpBackend;
pub use xsk::{XskConfig, XskSocket};
