//! The API server: accepts connections on the Unix socket and answers requests.
use super::Daemon;
use crate::api::{
    framed,
    proto::{Request, Response},
    recv, send, WireError,
};
use anyhow::{Context as _, Result};
use std::{os::unix::fs::PermissionsExt as _, path::Path, sync::Arc};
use tokio::{net::UnixListener, task::JoinHandle};
use tracing::{debug, warn};

/// Binds the API socket (mode 0660) and serves it on a background task.
pub fn serve(daemon: Arc<Daemon>, path: &Path) -> Result<JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let daemon = daemon.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(daemon, stream).await {
                            debug!(error = %e, "API connection ended");
                        }
                    });
                }
                Err(e) => warn!(error = %e, "API accept failed"),
            }
        }
    }))
}

async fn connection(daemon: Arc<Daemon>, stream: tokio::net::UnixStream) -> Result<(), WireError> {
    let mut conn = framed(stream);
    loop {
        let response = match recv::<Request>(&mut conn).await {
            Ok(request) => answer(&daemon, request).await,
            Err(WireError::Json(e)) => Response::Error {
                code: 87,
                message: format!("malformed request: {e}"),
            },
            Err(e) => return Err(e),
        };
        send(&mut conn, &response).await?;
    }
}

async fn answer(daemon: &Daemon, request: Request) -> Response {
    match request {
        Request::Status => Response::Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            interfaces: daemon
                .dataplane
                .lock()
                .await
                .attached()
                .map(str::to_owned)
                .collect(),
        },
        Request::Stats => match daemon.dataplane.lock().await.global_stats() {
            Ok(stats) => Response::Stats {
                counters: stats.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            },
            Err(e) => Response::Error {
                code: 1003,
                message: e.to_string(),
            },
        },
    }
}
