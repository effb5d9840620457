//! mgmd: one process owning the data plane and serving the API.
mod server;

use crate::dataplane::DataPlane;
use anyhow::{Context as _, Result};
use std::{path::PathBuf, sync::Arc};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::Mutex,
};
use tracing::{info, warn};

/// How mgmd was started.
#[derive(Clone, Debug)]
pub struct Options {
    /// Interfaces to attach the XDP program to.
    pub interfaces: Vec<String>,
    /// Attach in generic (skb) mode instead of driver mode.
    pub generic: bool,
    /// Path of the API socket.
    pub api_socket: PathBuf,
}

/// State shared by the daemon's tasks.
pub struct Daemon {
    dataplane: Mutex<DataPlane>,
}

/// Runs mgmd until SIGINT or SIGTERM, then detaches from every interface.
pub async fn run(options: Options) -> Result<()> {
    let mut dataplane = DataPlane::load().context("loading the XDP program")?;
    forward_ebpf_logs(&mut dataplane);
    for iface in &options.interfaces {
        dataplane
            .attach(iface, options.generic)
            .with_context(|| format!("attaching to {iface}"))?;
        let mode = if options.generic { "generic" } else { "driver" };
        info!(interface = %iface, mode, "XDP program attached");
    }
    let daemon = Arc::new(Daemon {
        dataplane: Mutex::new(dataplane),
    });
    let server = server::serve(daemon.clone(), &options.api_socket)?;
    info!(socket = %options.api_socket.display(), "API listening");
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = sigterm.recv() => info!("SIGTERM: stopping"),
        _ = sigint.recv() => info!("SIGINT: stopping"),
    }
    server.abort();
    let _ = std::fs::remove_file(&options.api_socket);
    let mut dataplane = daemon.dataplane.lock().await;
    for iface in options.interfaces.iter() {
        match dataplane.detach(iface) {
            Ok(()) => info!(interface = %iface, "XDP program detached"),
            Err(e) => warn!(interface = %iface, error = %e, "detach failed"),
        }
    }
    Ok(())
}

/// Forwards aya-log records of the XDP program into this process's log.
fn forward_ebpf_logs(dataplane: &mut DataPlane) {
    match aya_log::EbpfLogger::init(dataplane.ebpf_mut()) {
        Ok(logger) => {
            // SAFETY: the logger owns the ring's fd, and the AsyncFd owns the logger, so the
            // fd stays open for as long as it is registered.
            let registered = unsafe {
                tokio::io::unix::AsyncFd::register_with_interest(
                    logger,
                    tokio::io::Interest::READABLE,
                )
            };
            let Ok(mut fd) = registered else {
                warn!("cannot poll the eBPF log ring");
                return;
            };
            tokio::spawn(async move {
                loop {
                    let Ok(mut guard) = fd.readable_mut().await else {
                        return;
                    };
                    guard.get_inner_mut().flush();
                    guard.clear_ready();
                }
            });
        }
        Err(e) => tracing::debug!(error = %e, "the XDP program has no log ring"),
    }
}
